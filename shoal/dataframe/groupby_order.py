"""pandas' row order for the whole-group paths (``apply``, ``rolling``, ``transform``).

These methods shuffle the rows by a hash of the keys so that each group is whole in one
partition, and run pandas per partition; the partitions' concatenation then lists the
groups in hash order.  pandas' order is restored here, at a stated cost:

**Sorted by the keys** (``apply`` and ``rolling`` with ``sort=True``, the default, when
the keys lead the result's index -- always for ``rolling``, and for ``apply`` unless
``group_keys=False`` or the function's results hide them): the per-partition results
are concatenated in a tree of concats into **one partition** and stably sorted by the
key levels (inside a group, rows keep pandas' order).  Memory: the whole result in one
partition, as pandas holds it.  Without the keys in the index (or with ``sort=False``:
pandas' order is that of each group's first row) the result keeps the shuffle's
partitions and order.

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

from shoal.dataframe import methods
from shoal.dataframe.core import map_partitions
from shoal.dataframe.partitioning import keep_partitioning
from shoal.dataframe.groupby_scan import _ORDER as _ORDER_COL
from shoal.dataframe.groupby_scan import _numbered
from shoal.dataframe.reductions import reduction

__all__ = ["keys_lead_index", "sort_by_keys", "transform_in_order"]

_RESULT = "__shoal_result__"


def keys_lead_index(meta, recipe):
    """Whether the first levels of *meta*'s index are the group keys (by name)."""
    names = [e[1] if e[0] == "column" else e[2] for e in recipe[0]]
    return meta.index.nlevels >= len(names) and list(meta.index.names[:len(names)]) == names


def _whole(part):
    return part


def _concat(parts):
    return methods.concat(parts)


def _sorted(parts, nkeys, meta):
    out = methods.concat(parts, meta)
    if out is None or not len(out):
        return meta.copy() if out is None else out
    return out.sort_index(level=list(range(nkeys)), sort_remaining=False, kind="stable")


def sort_by_keys(result, nkeys, meta, token):
    """*result* (hash-ordered groups, whole per partition) in one partition, sorted by
    its first *nkeys* index levels (stable)."""
    return reduction(result, _whole, _sorted, _concat, token=f"{token}-sorted", meta=meta,
                     aggregate_kwargs={"nkeys": nkeys, "meta": meta})


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
