"""Module-level builders and helpers: ``from_array``, ``from_dict``, ``from_map``,
``isna``, ``to_timedelta``, ``read_table`` and ``repartition(df, divisions)``.

- ``from_array(x, chunksize=50000, columns=None, meta=None)``: a NumPy array (1-D: a
  Series, 2-D: a DataFrame, structured: a DataFrame of its fields) cut every
  *chunksize* rows, or a ``shoal.array.Array`` one partition per block of rows
  (the columns first joined into one block).  The index counts rows from 0 across
  partitions, so the divisions are known.
- ``from_dict(data, npartitions, ...)``: ``pandas.DataFrame.from_dict`` then
  ``from_pandas``.
- ``from_map(func, *iterables, args=None, meta=..., divisions=None, label=None,
  enforce_metadata=False, **kwargs)``: partition ``i`` is ``func(a[i], b[i], ...,
  *args, **kwargs)``.  Without ``meta=`` the schema comes from calling *func* on the
  first elements now (once; as Dask does), so pass ``meta=`` where that is costly.
  ``enforce_metadata=True`` gives every partition the schema's columns.
- ``isna``: a shoal frame's ``isna()``, else ``pandas.isna``.
- ``to_timedelta``: ``pandas.to_timedelta`` per partition (``creation._convert``).
- ``read_table``: ``read_csv`` with ``sep="\\t"``.
- ``repartition(df, divisions, force=False)``: the method; a pandas object is first
  made a one-partition frame.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from shoal.collection import Collection
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe import methods
from shoal.dataframe._meta import make_meta
from shoal.dataframe.core import _Frame, _funcname, new_collection, no_default

__all__ = ["from_array", "from_dict", "from_map", "isna", "read_table", "repartition",
           "to_timedelta"]


# -- kernels -----------------------------------------------------------------------

def frame_from_block(block, start, columns, series_name):
    index = pd.RangeIndex(start, start + len(block))
    if block.dtype.names:  # structured: one column per field
        return pd.DataFrame({f: block[f] for f in block.dtype.names}, index=index)
    if block.ndim == 1:
        return pd.Series(block, index=index, name=series_name)
    return pd.DataFrame(block, index=index, columns=columns)


def call_func(func, elems, args, kwargs):
    return func(*elems, *args, **kwargs)


def call_conformed(func, elems, args, kwargs, meta):
    return methods.conform(func(*elems, *args, **kwargs), meta)


# -- from arrays ------------------------------------------------------------------------

def _array_meta(x, columns):
    if x.ndim not in (1, 2):
        raise ValueError(f"from_array needs a 1-D or 2-D array, got {x.ndim} dimensions")
    if x.dtype.names:
        if x.ndim != 1:
            raise ValueError("from_array: a structured array must be 1-D")
        return frame_from_block(np.empty(0, dtype=x.dtype), 0, None, None), None, None
    if x.ndim == 1:
        if columns is not None and not isinstance(columns, (str, numbers.Number)):
            raise ValueError(f"from_array: a 1-D array makes a Series; columns= must be its "
                             f"name, got {columns!r}")
        return frame_from_block(np.empty(0, dtype=x.dtype), 0, None, columns), None, columns
    ncols = x.shape[1]
    columns = pd.RangeIndex(ncols) if columns is None else pd.Index(columns)
    if len(columns) != ncols:
        raise ValueError(f"from_array: columns= has {len(columns)} names for {ncols} columns")
    return frame_from_block(np.empty((0, ncols), dtype=x.dtype), 0, columns, None), columns, None


def _divisions(lengths):
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(int).tolist()
    if not lengths or any(n == 0 for n in lengths):
        return (None,) * (len(lengths) + 1)
    return tuple(starts[:-1]) + (starts[-1] - 1,)


def from_array(x, chunksize=50000, columns=None, meta=None):
    """A Series or DataFrame from a NumPy or shoal array (see the module docstring)."""
    from shoal.array import Array

    if not isinstance(x, Array):
        x = np.asarray(x)
    if isinstance(chunksize, bool) or not isinstance(chunksize, numbers.Integral) or chunksize < 1:
        raise ValueError(f"from_array(chunksize=...) must be a positive integer, got {chunksize!r}")
    empty, cols, series_name = _array_meta(x, columns)
    if meta is not None:
        empty = make_meta(meta)
    layers: dict = {}
    if isinstance(x, Array):
        if x.ndim == 2 and len(x.chunks[1]) > 1:
            x = x.rechunk({0: x.chunks[0], 1: -1})
        lengths = list(x.chunks[0])
        name = f"from-array-{tokenize(x, cols, series_name)}"
        keys = [(x.name, i, 0) if x.ndim == 2 else (x.name, i) for i in range(len(lengths))]
        blocks = [Ref(k) for k in keys]
        layers.update(x._layers)
    else:
        n = len(x)
        lengths = [min(chunksize, n - s) for s in range(0, n, chunksize)] or [0]
        name = f"from-array-{tokenize(x, chunksize, cols, series_name)}"
        blocks = [x[s: s + k] for s, k in zip(range(0, max(n, 1), chunksize), lengths)]
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(int).tolist()
    layer = {(name, i): Task((name, i), frame_from_block, b, starts[i], cols, series_name)
             for i, b in enumerate(blocks)}
    layers[name] = layer
    return new_collection(layers, name, empty, _divisions(lengths))


def from_dict(data, npartitions, orient="columns", dtype=None, columns=None,
              constructor=pd.DataFrame):  # fmt: skip
    """``from_pandas(constructor.from_dict(data, ...), npartitions)``."""
    from shoal.dataframe.creation import from_pandas

    if not isinstance(data, dict):
        raise TypeError(f"from_dict(data=...) needs a dict, got {type(data).__name__}")
    frame = constructor.from_dict(data, orient=orient, dtype=dtype, columns=columns)
    return from_pandas(frame, npartitions=npartitions)


def from_map(func, *iterables, args=None, meta=no_default, divisions=None, label=None,
             token=None, enforce_metadata=False, **kwargs):  # fmt: skip
    """One partition per element of *iterables*: ``func(elem, ..., *args, **kwargs)``."""
    if not callable(func):
        raise TypeError(f"from_map(func=...) needs a callable, got {type(func).__name__}")
    if not iterables:
        raise ValueError("from_map needs at least one iterable of inputs")
    seqs = []
    for j, it in enumerate(iterables):
        if isinstance(it, (str, bytes, Collection)) or not hasattr(it, "__iter__"):
            raise TypeError(f"from_map: iterables[{j}] must be a list-like of inputs, "
                            f"got {type(it).__name__}")
        seqs.append(list(it))
    n = len(seqs[0])
    if n == 0 or any(len(s) != n for s in seqs):
        raise ValueError(f"from_map: the iterables must be non-empty and of one length, "
                         f"got lengths {[len(s) for s in seqs]}")
    args = tuple(args or ())
    if meta is no_default or meta is None:
        meta = func(*[s[0] for s in seqs], *args, **kwargs)  # (the first partition, once)
    meta = make_meta(meta)
    if not isinstance(meta, (pd.DataFrame, pd.Series)):
        raise TypeError(f"from_map: func must return a pandas DataFrame or Series, "
                        f"got {type(meta).__name__}")
    if divisions is None:
        divisions = (None,) * (n + 1)
    elif len(divisions) != n + 1:
        raise ValueError(f"from_map(divisions=...) needs {n + 1} boundaries for {n} partitions, "
                         f"got {len(divisions)}")
    prefix = label or _funcname(func)
    name = f"{prefix}-{token or tokenize(func, seqs, args, kwargs, enforce_metadata)}"
    layer = {}
    for i in range(n):
        elems = [s[i] for s in seqs]
        if enforce_metadata:
            layer[(name, i)] = Task((name, i), call_conformed, func, elems, args, kwargs, meta)
        else:
            layer[(name, i)] = Task((name, i), call_func, func, elems, args, kwargs)
    return new_collection({name: layer}, name, meta, tuple(divisions))


# -- small helpers -------------------------------------------------------------------------

def isna(obj):
    """Missing-value mask: a shoal frame's ``isna()``, else ``pandas.isna(obj)``."""
    if isinstance(obj, _Frame):
        return obj.isna()
    return pd.isna(obj)


def to_timedelta(arg, unit=None, errors="raise", meta=None):
    """``pandas.to_timedelta`` of a Series, per partition."""
    from shoal.dataframe.creation import _convert

    kwargs = {"errors": errors} if unit is None else {"unit": unit, "errors": errors}
    if meta is None and isinstance(arg, _Frame):
        try:
            meta = pd.to_timedelta(arg._meta, **kwargs)
        except (TypeError, ValueError):
            meta = pd.Series([], dtype="timedelta64[ns]", name=getattr(arg._meta, "name", None))
    return _convert(pd.to_timedelta, arg, meta, kwargs)


def read_table(urlpath, blocksize="64MiB", **kwargs):
    """``read_csv`` of tab-separated files (``sep=`` / ``delimiter=`` still override)."""
    from shoal.dataframe.io import read_csv

    if "sep" not in kwargs and "delimiter" not in kwargs:
        kwargs["sep"] = "\t"
    return read_csv(urlpath, blocksize=blocksize, **kwargs)


def repartition(df, divisions, force=False):
    """*df* with its rows moved to partitions bounded by *divisions* (a pandas object is
    first made a one-partition frame sorted by index)."""
    from shoal.dataframe.creation import from_pandas
    from shoal.dataframe.realign import repartition_divisions

    if isinstance(df, (pd.DataFrame, pd.Series)):
        df = from_pandas(df, npartitions=1)
    if not isinstance(df, _Frame):
        raise TypeError(f"repartition(df=...) needs a shoal or pandas DataFrame or Series, "
                        f"got {type(df).__name__}")
    return repartition_divisions(df, divisions, force=force)

