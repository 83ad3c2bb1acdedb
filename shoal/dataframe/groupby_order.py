"""pandas' row order for the whole-group paths (``apply``, ``rolling``, ``transform``).

These methods move the rows so that each group is whole in one partition, and run
pandas per partition.  pandas' order is kept or restored here, at a stated cost:

**Sorted by the keys** (``apply`` and ``rolling`` with ``sort=True``, the default, when
the keys lead the result's index -- always for ``rolling``, and for ``apply`` unless
``group_keys=False`` or the function's results hide them): the rows are partitioned by
*ranges* of the first key (:func:`whole_groups`), with boundaries at approximate
quantiles of it, as ``sort_values`` does (``shuffle.quantile_divisions``: one eager
pass over the key when the method is called, then ``shuffle._range_shuffle``).  Equal
first keys share a partition, so every group (equal full keys) is whole, and each
partition holds smaller first keys than the next; pandas sorts the groups inside each
partition (by the whole key tuple: with several keys, rows of one first key are ordered
by the others there), so the partitions, concatenated, list the groups in pandas'
order.  Missing first keys go to the last partition (pandas lists them last with
``dropna=False``); a first key with no values at all passes the ranges to the next key.
The result keeps several partitions (fewer than the input when few distinct first keys
exist: one huge group is one partition).  Keys whose values do not compare (e.g. an
object column mixing numbers and strings: pandas still orders those) fall back to the
hash shuffle: whole groups in as many partitions, listed in hash order, not pandas'.
Without the keys in the index (or with ``sort=False``: pandas' order is that of each
group's first row) the rows are hash-shuffled and the result keeps the shuffle's order.

**Back to the frame's rows** (``transform``): pandas returns the rows in the frame's
order.  An order column (``partition << 40 | row``) is attached before the shuffle and
kept beside each partition's result; a second shuffle (by range of that column: its
partition number) sends every row back to its own partition, where the rows are sorted
by it and the column dropped.  The result has the frame's partitions and divisions, so
it aligns with the frame without a further shuffle.  Cost: a second shuffle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoal.dataframe.core import map_partitions
from shoal.dataframe.partitioning import keep_partitioning
from shoal.dataframe.groupby_scan import _ORDER as _ORDER_COL
from shoal.dataframe.groupby_scan import _numbered

__all__ = ["keys_lead_index", "transform_in_order", "whole_groups"]

_RESULT = "__shoal_result__"


def keys_lead_index(meta, recipe):
    """Whether the first levels of *meta*'s index are the group keys (by name)."""
    names = [e[1] if e[0] == "column" else e[2] for e in recipe[0]]
    return meta.index.nlevels >= len(names) and list(meta.index.names[:len(names)]) == names


def _ranged(frame, keys, token):
    """*frame* range-shuffled on the first of *keys* that has values (quantile
    boundaries, computed now); None when none has any, or their values do not compare."""
    from shoal.dataframe.shuffle import _range_shuffle, quantile_divisions

    for key in keys:  # (a key passes on only when all of its values are missing)
        try:
            bounds = quantile_divisions(frame[key], frame.npartitions)
        except TypeError:  # values that do not compare: no ranges
            return None
        if bounds:
            bounds = bounds * 2 if len(bounds) == 1 else bounds
            return _range_shuffle(frame, key, bounds, token=token)
    return None


def whole_groups(frame, keys, by_key, token):
    """*frame*'s rows moved so that each group (equal *keys*) is whole in one partition:
    by ranges of the keys when *by_key* (pandas' sorted order, see the module
    docstring) and the keys allow it, else by a hash of the keys."""
    from shoal.dataframe.shuffle import shuffle

    ranged = _ranged(frame, keys, token) if by_key and frame.npartitions > 1 else None
    return ranged if ranged is not None else shuffle(frame, on=keys if len(keys) > 1 else keys[0])


def _transform_part(part, recipe, selection, func, args, kwargs, series, apply_groups, empty):
    if not len(part):  # (no groups: pandas' transform of a function may raise on none)
        return empty
    order = part[_ORDER_COL].to_numpy()
    out = apply_groups(part.drop(columns=[_ORDER_COL]), recipe, selection, "transform", func,
                       args, kwargs, series)
    if isinstance(out, pd.Series):
        out = out.to_frame(_RESULT)
    out = out.copy()
    out[_ORDER_COL] = order  # (transform keeps the rows and their order)
    return out


def _restore(part, series, name):
    out = part.sort_values(_ORDER_COL, kind="stable").drop(columns=[_ORDER_COL])
    return out[_RESULT].rename(name) if series else out


def transform_in_order(spec, selection, func, args, kwargs, meta, apply_groups):
    """``groupby(...).transform`` whose rows come back in the frame's partitions and order."""
    from shoal.dataframe.shuffle import _range_shuffle, shuffle

    frame = spec.frame
    n = frame.npartitions
    moved = shuffle(_numbered(frame), on=spec.keys if len(spec.keys) > 1 else spec.keys[0])
    series = isinstance(meta, pd.Series)
    carried = meta.to_frame(_RESULT) if series else meta.copy()
    carried[_ORDER_COL] = np.array([], dtype="int64")
    done = map_partitions(_transform_part, moved, spec.recipe, selection, func, args, kwargs,
                          (series, getattr(meta, "name", None)), apply_groups, carried,
                          meta=carried,
                          token="groupby-transform", clear_divisions=True)
    bounds = [np.int64(i) << np.int64(40) for i in range(n + 1)]
    back = _range_shuffle(done, _ORDER_COL, bounds, token="groupby-transform-back")
    out = map_partitions(_restore, back, series, getattr(meta, "name", None), meta=meta,
                         token="groupby-transform-restore", divisions=frame.divisions)
    return keep_partitioning(out, [frame])  # (each row back in its own partition)
