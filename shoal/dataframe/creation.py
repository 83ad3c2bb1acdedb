"""Collections from pandas objects and from other collections.

- :func:`from_pandas` splits a pandas object into partitions (sorted by index
  first, so divisions are known and ``loc`` can skip partitions);
- :func:`concat` stacks collections, partitions one after the other;
- :func:`to_datetime` and :func:`to_numeric` convert a Series (pandas' functions,
  partition by partition).
"""

from __future__ import annotations

import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Data, Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe import methods
from shoal.dataframe._meta import make_meta
from shoal.dataframe.core import _Frame, new_collection

__all__ = ["concat", "from_pandas", "to_datetime", "to_numeric"]


def _starts(index, nrows, npartitions):
    """Row positions where partitions start; equal index values never straddle two."""
    wanted = [i * nrows // npartitions for i in range(npartitions)]
    if index is None:
        return sorted(set(wanted))
    starts = [0]
    for w in wanted[1:]:
        w = max(w, starts[-1] + 1)
        if w >= nrows:
            break
        pos = int(index.searchsorted(index[w], side="left"))
        if pos <= starts[-1]:
            pos = int(index.searchsorted(index[w], side="right"))
        if pos >= nrows:
            break
        if pos > starts[-1]:
            starts.append(pos)
    return starts


def from_pandas(data, npartitions=None, chunksize=None, sort=True):
    """Split a pandas object into a collection of *npartitions* partitions.

    With ``sort=True`` the data is sorted by index first and the divisions are
    known (rows with equal index values stay in one partition), so ``loc`` can
    skip partitions.  With ``chunksize=`` partitions hold that many rows.
    """
    if not isinstance(data, (pd.DataFrame, pd.Series)):
        raise TypeError(f"from_pandas expects a pandas DataFrame or Series, got {type(data).__name__}")
    if isinstance(data.index, pd.MultiIndex):  # (as Dask: no divisions over tuples)
        raise NotImplementedError("from_pandas(data=...): a MultiIndex is not supported; "
                                  "call data.reset_index() first")
    if (npartitions is None) == (chunksize is None):
        raise ValueError("from_pandas needs exactly one of npartitions= or chunksize=")
    if sort and not data.index.is_monotonic_increasing:
        data = data.sort_index()
    nrows = len(data)
    if chunksize is not None:
        npartitions = max(1, -(-nrows // chunksize))
    npartitions = max(1, min(int(npartitions), nrows))
    starts = _starts(data.index if sort else None, nrows, npartitions) if nrows else [0]
    name = f"from-pandas-{tokenize(data, npartitions, sort)}"
    ends = starts[1:] + [nrows]
    layer = {(name, i): Data((name, i), data.iloc[s:e]) for i, (s, e) in enumerate(zip(starts, ends))}
    if sort and nrows and not data.index.hasnans:  # (NaN labels sort last: no division)
        divisions = [data.index[s] for s in starts] + [data.index[-1]]
    else:
        divisions = [None] * (len(starts) + 1)
    return new_collection({name: layer}, name, make_meta(data), divisions)




def concat(dfs, axis=0, join="outer", interleave_partitions=False, ignore_unknown_divisions=False):
    """Stack collections (or pandas objects) vertically, partitions in order.

    The result's partitions are the inputs' partitions one after the other;
    divisions stay known when every input's are known and they do not overlap.
    Columns are unified like ``pandas.concat`` (missing ones become NaN; with
    ``join="inner"`` only the shared ones are kept).  ``axis=1`` puts frames side by
    side, aligned on their divisions (``realign.concat_columns``).
    """
    frames = dfs
    if not frames:
        raise ValueError("concat needs at least one frame")
    if axis in (1, "columns"):
        from shoal.dataframe.realign import concat_columns

        return concat_columns(frames, join, ignore_unknown_divisions)
    if axis not in (0, "index"):
        raise ValueError(f"concat: no axis {axis!r} (0 or 'index', 1 or 'columns')")
    if join not in ("outer", "inner"):
        raise ValueError(f"concat(join=...) must be 'outer' or 'inner', got {join!r}")
    frames = [from_pandas(f, npartitions=1) if isinstance(f, (pd.DataFrame, pd.Series)) else f
              for f in frames]
    for f in frames:
        if not isinstance(f, _Frame):
            raise TypeError(f"concat expects shoal or pandas frames, got {type(f).__name__}")
    meta = pd.concat([f._meta for f in frames], join=join)
    name = f"concat-{tokenize(*frames, join)}"
    layer = {}
    i = 0
    for f in frames:
        for j in range(f.npartitions):
            layer[(name, i)] = Task((name, i), methods.conform, Ref((f._name, j)), meta)
            i += 1
    known = all(f.known_divisions for f in frames)
    ordered = known and all(a.divisions[-1] < b.divisions[0] for a, b in zip(frames, frames[1:]))
    if ordered:
        divisions = [d for f in frames for d in f.divisions[:-1]] + [frames[-1].divisions[-1]]
    else:
        divisions = [None] * (i + 1)
    return new_collection(merge_layers(*frames, name=name, layer=layer), name, meta, divisions)


def _convert(func, arg, meta, kwargs):
    """``func`` per partition of *arg*, each result cast to *meta*'s dtype: pandas picks
    one from the values (a time unit from the text, int or float from the digits), and the
    partitions must agree with each other and with the declared dtype."""
    from shoal.dataframe.core import map_partitions

    if not isinstance(arg, _Frame):
        return func(arg, **kwargs)  # (pandas data: pandas' answer)
    meta = make_meta(meta, index=arg._meta.index)
    return map_partitions(_converted, func, arg, getattr(meta, "dtype", None), kwargs, meta=meta,
                          token=func.__name__.replace("_", "-"))  # fmt: skip


def _converted(func, part, dtype, kwargs):
    out = func(part, **kwargs)
    if dtype is not None and getattr(out, "dtype", dtype) != dtype:
        out = out.astype(dtype)
    return out


def to_datetime(arg, meta=None, **kwargs):
    """``pd.to_datetime`` of a Series (or of a frame of year/month/day columns), per
    partition.  Times keep their unit; text gets pandas' unit for a Timestamp (UTC with
    ``utc=True``), as Dask's, unless ``meta=`` says another."""
    if meta is None and isinstance(arg, _Frame):
        if isinstance(arg._meta, pd.Series) and arg._meta.dtype.kind == "M":
            meta = pd.to_datetime(arg._meta, **kwargs)
        else:
            stamp = pd.Timestamp("2000", tz="UTC" if kwargs.get("utc") else None)
            name = getattr(arg._meta, "name", None)
            meta = pd.Series([stamp], name=name).iloc[:0].set_axis(arg._meta.index[:0])
    return _convert(pd.to_datetime, arg, meta, kwargs)


def to_numeric(arg, errors="raise", meta=None, **kwargs):
    """``pd.to_numeric`` of a Series, per partition (``errors="coerce"``: NaN where a value
    is no number).  Numbers keep their dtype; text becomes float64 (an int column then, as
    no other dtype holds every partition's values), unless ``meta=`` says another, which
    ``downcast=`` needs (its dtype would depend on each partition's values)."""
    if meta is None and isinstance(arg, _Frame):
        if kwargs.get("downcast") is not None:
            raise ValueError("to_numeric(downcast=...) of a shoal Series: pass meta= with the "
                             "dtype wanted (each partition's values would pick their own)")
        numeric = pd.api.types.is_numeric_dtype(arg._meta.dtype)
        meta = arg._meta if numeric else arg._meta.astype("float64")
    return _convert(pd.to_numeric, arg, meta, {"errors": errors, **kwargs})
