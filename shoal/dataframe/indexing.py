"""``.loc``: label-based selection on a partitioned frame.

::

    divisions     d0        d1        d2        d3        d4
    partitions    |---p0----|---p1----|---p2----|---p3----|
    loc[a:b]                   a=====================b
    tasks                     p1.loc[a:b]  p2.loc[a:b]  p3.loc[a:b]    (p0 not in the graph)

With known divisions a selection builds tasks only for the partitions whose
range ``[d_i, d_{i+1}]`` can hold its labels (the search uses pandas' own
``Index.slice_locs`` on the divisions, so partial date strings such as
``"2020-01"`` work on a DatetimeIndex).  Both ends count: a label equal to a
division is looked up on both sides of it, since a partition may end with the
label the next one starts with.  With unknown divisions the selection runs in
every partition.

Differences from pandas, as in Dask:

- ``loc[label]`` returns a frame of the matching rows (``pdf.loc[[label]]``),
  not a row Series or a scalar;
- missing labels select nothing instead of raising ``KeyError``;
- a list of labels comes back in the list's order as in pandas (Dask sorts it),
  repeated labels repeating their rows, but unless the list is sorted and the
  divisions known, its rows are gathered into one partition to be put in order;
- boolean masks must be shoal Series partitioned like the frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe import methods
from shoal.dataframe.core import _Frame, map_partitions, new_collection

__all__ = ["LocIndexer"]

_ALL = slice(None)


def _is_all(cols) -> bool:
    return isinstance(cols, slice) and cols == _ALL


def _unsorted_slice(part, arg):
    """The rows of *part* whose labels a ``.loc`` slice takes, its index unsorted: the
    bounds are placed in the sorted labels (as pandas places them, a partial date string
    "2020-03" meaning all of March), then every row between them is kept."""
    index = part.index
    labels = index.dropna().sort_values()
    lo, hi = labels.slice_locs(arg.start, arg.stop)
    if lo >= hi:
        return part.iloc[:0]
    return part[np.asarray((index >= labels[lo]) & (index <= labels[hi - 1]))]


def _select(part, mode, arg, cols):
    """The rows (and columns) of one partition that a ``.loc`` key picks."""
    if mode == "slice":
        try:
            part = part.loc[arg]
        except KeyError:  # (a partition whose index is not sorted: NaN labels last, after
            part = _unsorted_slice(part, arg)  # a set_index: a missing bound has no place)
    elif mode == "labels":
        index = part.index
        found = [label for label in arg if label in index]
        part = part.loc[found] if found else part.iloc[:0]
    elif mode == "mask":
        part = part.loc[arg]
    if not _is_all(cols):
        part = part.loc[:, cols]
    return part


def _same(part):
    return part


def _in_order(parts, labels, meta):
    """The concatenated rows of distinct *labels*, taken in *labels*' order (repeats too)."""
    out = methods.concat(parts, meta)
    found = [label for label in labels if label in out.index]
    return out.loc[found] if found else out.iloc[:0]


def _is_label(x) -> bool:
    return pd.api.types.is_scalar(x) or isinstance(x, tuple)


class LocIndexer:
    """``frame.loc[rows]`` and ``frame.loc[rows, columns]``; see the module docstring."""

    def __init__(self, obj):
        self.obj = obj

    def __getitem__(self, key):
        frame = self.obj
        is_series = isinstance(frame._meta, pd.Series)
        if isinstance(key, tuple) and not is_series:
            if len(key) != 2:
                raise pd.errors.IndexingError(f"too many indexers: {key!r}")
            rows, cols = key
        else:
            rows, cols = key, _ALL
        if callable(rows) and not isinstance(rows, _Frame):
            rows = rows(frame)
        meta = frame._meta if _is_all(cols) else frame._meta.loc[:, cols]  # checks the columns
        if isinstance(rows, _Frame):
            if not isinstance(rows._meta, pd.Series) or rows._meta.dtype != bool:
                raise KeyError("a shoal collection in .loc must be a boolean Series")
            return map_partitions(_select, frame, "mask", rows, cols, meta=meta, token="loc")
        if isinstance(rows, slice):
            if rows.step is not None:
                raise NotImplementedError("label slices with a step are not supported in .loc")
            if rows == _ALL:
                return frame if _is_all(cols) else map_partitions(
                    _select, frame, "all", None, cols, meta=meta, token="loc")
            return self._slice(rows, cols, meta)
        if _is_label(rows):
            if frame.known_divisions:  # loc[x:x]: also right for partial date strings
                return self._slice(slice(rows, rows), cols, meta)
            return self._labels([rows], cols, meta)
        if isinstance(rows, (list, np.ndarray, pd.Index, pd.Series)):
            values = list(rows)
            if values and all(isinstance(v, (bool, np.bool_)) for v in values):
                raise NotImplementedError(
                    "a boolean list or array cannot be aligned with partitions; "
                    "use a boolean shoal Series (e.g. df.loc[df.x > 0])")
            return self._labels(values, cols, meta)
        raise NotImplementedError(f"unsupported .loc key of type {type(rows).__name__}")

    # -- building the graph ------------------------------------------------------
    def _partitions_for(self, start, stop):
        """Partitions whose division range meets ``[start, stop]`` (None: open)."""
        frame = self.obj
        bounds = pd.Index(list(frame.divisions))
        try:
            lo, hi = bounds.slice_locs(start, stop)
        except KeyError:  # (divisions out of order: each partition looks for itself)
            return range(frame.npartitions)
        except TypeError:  # (as pandas: a silent empty result hid a wrong bound)
            raise TypeError(f".loc: the bounds {start!r}, {stop!r} cannot be compared with the "
                            f"index's labels ({frame.divisions[0]!r}, ...)") from None
        except ValueError:
            return range(0)
        return range(max(lo - 1, 0), min(hi, frame.npartitions))

    def _build(self, parts, mode, args, cols, meta):
        """One task per selected partition ``i``, running ``_select`` with ``args[i]``."""
        frame = self.obj
        if not parts:  # nothing can match: one empty partition keeps the schema
            parts, mode, args = [0], "labels", {0: []}
        name = f"loc-{tokenize(frame, mode, [(i, args[i]) for i in parts], cols)}"
        layer = {(name, j): Task((name, j), _select, Ref((frame._name, i)), mode, args[i], cols)
                 for j, i in enumerate(parts)}
        if frame.known_divisions:
            divisions = tuple(frame.divisions[i] for i in parts) + (frame.divisions[parts[-1] + 1],)
        else:
            divisions = (None,) * (len(parts) + 1)
        return new_collection(merge_layers(frame, name=name, layer=layer), name, meta, divisions)

    def _slice(self, rows, cols, meta):
        frame = self.obj
        if not frame.known_divisions:
            return map_partitions(_select, frame, "slice", rows, cols, meta=meta, token="loc")
        parts = list(self._partitions_for(rows.start, rows.stop))
        return self._build(parts, "slice", {i: rows for i in parts}, cols, meta)

    def _labels(self, labels, cols, meta):
        frame = self.obj
        try:
            ordered = sorted(labels)
        except TypeError:
            ordered = labels
        if len(labels) > 1 and (not frame.known_divisions or list(ordered) != list(labels)):
            # pandas' order (the list's, repeats repeated): the rows of the distinct labels,
            # gathered into one partition and taken in the list's order
            from shoal.dataframe.reductions import reduction

            distinct = list(dict.fromkeys(ordered))
            picked = (self._labels(distinct, cols, meta) if frame.known_divisions else
                      map_partitions(_select, frame, "labels", distinct, cols, meta=meta, token="loc"))
            return reduction(picked, _same, _in_order, methods.concat, token="loc-order",
                             meta=meta, aggregate_kwargs={"labels": labels, "meta": meta})
        if not frame.known_divisions:
            return map_partitions(_select, frame, "labels", labels, cols, meta=meta, token="loc")
        labels = ordered
        per_part: dict = {}
        for label in labels:
            for i in self._partitions_for(label, label):
                per_part.setdefault(i, []).append(label)
        parts = sorted(per_part)
        return self._build(parts, "labels", per_part, cols, meta)
