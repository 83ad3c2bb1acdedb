"""Frames to other collections: ``values`` / ``to_dask_array``, ``to_records``, ``to_bag``.

Partition ``i`` of the frame becomes block ``i`` along the rows of a
``shoal.array.Array`` (all the columns in one block), or partition ``i`` of a
``shoal.bag.Bag``.  Tasks only convert: no data moves.

Lengths.  A shoal array knows every block's length (it has no unknown chunk
sizes, where Dask's arrays may be ``nan`` long), so a frame's partition lengths
are needed to build one.  ``lengths=True`` -- or, unlike Dask, no ``lengths``
at all, including the ``values`` property -- computes them first (one pass that
computes the partitions, keeping only their lengths; once per frame object, so
``df.values`` twice computes them once); ``lengths=[...]`` gives them, and each
task checks its partition against the number given.

dtypes.  The array's dtype is what pandas' ``to_numpy`` gives for the schema
(``object`` for mixed columns), except that nullable integer columns become
``float64`` (NaN where a value is missing; pandas would need ``object`` there) and
nullable booleans ``object``.  ``to_records`` gives NumPy records, pandas' field
dtypes, the index as a field with ``index=True``.

``to_bag(index=False, format="tuple")``: one tuple per row (``itertuples``, the
index first with ``index=True``), or with ``format="dict"`` one ``{column: value}``
per row (the index under its name, ``"index"`` when it has none).  A Series gives
its values, or ``(label, value)`` pairs with ``index=True``.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import DataFrame, Series
from shoal.dataframe.reductions import reduction

__all__ = ["frame_to_bag", "frame_to_records", "partition_lengths", "to_bag", "to_dask_array",
           "to_records"]


# -- kernels -----------------------------------------------------------------------

def part_length(part):
    return [len(part)]


def concat_lists(parts):
    return [v for p in parts for v in p]


def _check_length(part, expected, i):
    if expected is not None and len(part) != expected:
        raise ValueError(f"to_dask_array(lengths=...): partition {i} has {len(part)} rows, "
                         f"but lengths[{i}] says {expected}")


def block_values(part, dtype, expected, i):
    _check_length(part, expected, i)
    return unmasked(part).to_numpy(dtype=dtype)


def unmasked(part):
    """*part* with nullable numbers as float64 (NaN where missing), nullable bools as objects."""
    if isinstance(part, pd.Index):
        part = part.to_series()
    if isinstance(part, pd.Series):
        return unmasked(part.to_frame()).iloc[:, 0]
    new = {}
    for c, t in part.dtypes.items():
        if isinstance(t, pd.api.extensions.ExtensionDtype) and t.kind in "iuf":
            new[c] = part[c].to_numpy(dtype="float64", na_value=np.nan)
        elif isinstance(t, pd.api.extensions.ExtensionDtype) and t.kind == "b":
            new[c] = part[c].to_numpy(dtype=object)
    if not new:
        return part
    part = part.copy()
    for c, v in new.items():
        part[c] = v
    return part


def block_records(part, index, dtype, expected, i):
    _check_length(part, expected, i)
    return unmasked(part).to_records(index=index).astype(dtype, copy=False)


def bag_rows(part, index, format):
    if format == "frame":  # (the partition itself, as Dask's: iterating it gives its columns)
        return part
    if isinstance(part, pd.Series):
        if format == "dict":
            part = part.to_frame()
        elif index:
            return list(zip(part.index, part.tolist()))
        else:
            return part.tolist()
    if format == "dict":
        return (part.reset_index() if index else part).to_dict(orient="records")
    return list(part.itertuples(index=index, name=None))


# -- builders --------------------------------------------------------------------------

def partition_lengths(frame):
    """The number of rows of every partition (computed now)."""
    return list(reduction(frame, part_length, concat_lists, token="partition-lengths",
                          meta=[0]).compute())


def _lengths(frame, lengths, what):
    if lengths is None or lengths is True:  # computed once per frame object (``values``)
        known = getattr(frame, "_partition_lengths", None)
        if known is None:
            known = frame._partition_lengths = partition_lengths(frame)
        return list(known), False
    if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__len__"):
        raise TypeError(f"{what}(lengths=...) must be None, True or a list of partition lengths, "
                        f"got {lengths!r}")
    lengths = list(lengths)
    if len(lengths) != frame.npartitions:
        raise ValueError(f"{what}(lengths=...) has {len(lengths)} entries for "
                         f"{frame.npartitions} partitions")
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 0 for n in lengths):
        raise ValueError(f"{what}(lengths=...) must hold non-negative integers, got {lengths}")
    return [int(n) for n in lengths], True


def _array(frame, lengths, checked, kernel, args, dtype, token):
    from shoal.array import Array

    name = f"{token}-{tokenize(frame, lengths, checked, args)}"
    two_d = isinstance(frame._meta, pd.DataFrame) and token == "values"
    layer = {}
    for i, n in enumerate(lengths):
        key = (name, i, 0) if two_d else (name, i)
        layer[key] = Task(key, kernel, Ref((frame._name, i)), *args, n if checked else None, i)
    chunks = (tuple(lengths), (len(frame._meta.columns),)) if two_d else (tuple(lengths),)
    return Array(merge_layers(frame, name=name, layer=layer), name, chunks, dtype)


def to_dask_array(self, lengths=None, meta=None, optimize=True, **optimize_kwargs):
    """The data as a ``shoal.array.Array`` (see ``shoal.dataframe.conversion``: without
    ``lengths=[...]`` the partition lengths are computed first)."""
    if meta is not None:
        raise NotImplementedError("to_dask_array(meta=...) is not supported: the blocks are "
                                  "NumPy arrays of the dtype the schema gives")
    lengths, checked = _lengths(self, lengths, "to_dask_array")
    dtype = unmasked(self._meta).to_numpy().dtype
    return _array(self, lengths, checked, block_values, (dtype,), dtype, "values")


def values(self):
    """The data as a ``shoal.array.Array`` (computes the partition lengths now)."""
    return to_dask_array(self)


def to_records(self, index=False, lengths=None):
    """NumPy records (one per row) in a ``shoal.array.Array``; lengths as ``to_dask_array``."""
    if not isinstance(index, (bool, np.bool_)):
        raise TypeError(f"to_records(index=...) must be True or False, got {index!r}")
    lengths, checked = _lengths(self, lengths, "to_records")
    dtype = unmasked(self._meta).to_records(index=bool(index)).dtype
    return _array(self, lengths, checked, block_records, (bool(index), dtype), dtype, "to-records")


def to_bag(self, index=False, format="tuple"):
    """A ``shoal.bag.Bag`` of the rows: tuples, or dicts with ``format="dict"``."""
    from shoal.bag import Bag

    if format not in ("tuple", "dict", "frame"):
        raise ValueError(f"to_bag(format=...) must be 'tuple', 'dict' or 'frame', got {format!r}")
    if not isinstance(index, (bool, np.bool_)):
        raise TypeError(f"to_bag(index=...) must be True or False, got {index!r}")
    name = f"to-bag-{tokenize(self, bool(index), format)}"
    layer = {(name, i): Task((name, i), bag_rows, Ref((self._name, i)), bool(index), format)
             for i in range(self.npartitions)}
    return Bag(merge_layers(self, name=name, layer=layer), name, self.npartitions)


for _cls in (DataFrame, Series):
    _cls.to_dask_array = to_dask_array
    _cls.values = property(values)
    _cls.to_bag = to_bag
DataFrame.to_records = to_records


def frame_to_bag(df, index=False, format="tuple"):
    """``dd.to_bag(df, ...)``: :meth:`DataFrame.to_bag` as a function."""
    if not isinstance(df, (DataFrame, Series)):
        raise TypeError(f"to_bag: df must be a shoal DataFrame or Series, got {type(df).__name__}")
    return to_bag(df, index=index, format=format)


def frame_to_records(df):
    """``dd.to_records(df)``: the records with the index first, as Dask's function gives."""
    if not isinstance(df, DataFrame):
        raise TypeError(f"to_records: df must be a shoal DataFrame, got {type(df).__name__}")
    return to_records(df, index=True)
