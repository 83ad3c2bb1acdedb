"""Row-preserving methods and a few small reductions, attached to the frame classes.

- ``replace``, ``DataFrame.map`` (elementwise, pandas 2.1's name for ``applymap``):
  one task per partition (``core.map_partitions``); the output schema is pandas'
  on the metadata stand-ins, or ``meta=`` where the values decide it.
- ``pipe(func, *args, **kwargs)``: ``func(frame, ...)``, or with ``(func, "kw")``
  the frame passed as that keyword, as pandas'.  Nothing is built here.
- ``combine_first(other)``: partition by partition when both frames are split the
  same way; known but different divisions are first moved onto the union of both
  (``realign.repartition_divisions``), as ``concat(axis=1)`` does; unknown
  divisions need the same number of partitions (assumed to line up, as Dask's).
- ``Series.is_monotonic_increasing`` / ``_decreasing``: a tree reduction of
  ``(monotonic, first, last)`` per non-empty partition -- monotonic inside every
  one and each last value ordered with the next first one.  A lazy Scalar.
- ``Series.to_csv`` / ``Series.to_json``: the DataFrame writers (``io``), which
  write a Series' partitions as pandas does.
"""

from __future__ import annotations

import pandas as pd

from shoal.dataframe import methods
from shoal.dataframe.core import DataFrame, Series, map_partitions, no_default
from shoal.dataframe.reductions import reduction

__all__ = ["combine_first", "pipe", "replace"]


# -- kernels -----------------------------------------------------------------------

def map_elements(part, func, na_action, kwargs):
    return part.map(func, na_action=na_action, **kwargs)


def combine_parts(part, other, meta):
    """``part.combine_first(other)`` in *meta*'s columns and dtypes (every partition alike;
    pandas refuses an empty *other* holding an int column the part lacks)."""
    if not len(other):
        out = part.reindex(columns=meta.columns) if isinstance(part, pd.DataFrame) else part
    elif not len(part):
        out = other.reindex(columns=meta.columns) if isinstance(other, pd.DataFrame) else other
    else:
        out = part.combine_first(other)
    if isinstance(out, pd.Series):
        return out.astype(meta.dtype) if out.dtype != meta.dtype else out
    cast = {c: t for c, t in meta.dtypes.items() if c in out and out[c].dtype != t}
    for column, dtype in cast.items():
        try:
            out[column] = out[column].astype(dtype)
        except (TypeError, ValueError):
            pass
    return out


def combined_meta(left, right):
    """The schema of ``combine_first``: pandas' on one stand-in row of each side under
    different labels, so that a column only one side has takes the dtype its missing
    values give (int64 -> float64, bool -> object), as it may in any partition."""
    from shoal.dataframe._meta import make_meta, nonempty

    return make_meta(nonempty(left).iloc[:1].combine_first(nonempty(right).iloc[1:2]))


def monotonic_chunk(part, how):
    if len(part) == 0:
        return None
    values = part.array  # (a Series' or an Index's)
    return bool(getattr(part, how)), values[0], values[-1]


def monotonic_combine(parts, how):
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    ok = all(p[0] for p in parts)
    for (_, _, last), (_, first, _) in zip(parts, parts[1:]):
        if not ok:
            break
        try:
            ok = bool(last <= first) if how == "is_monotonic_increasing" else bool(last >= first)
        except TypeError:
            ok = False
    return ok, parts[0][1], parts[-1][2]


def monotonic_aggregate(parts, how):
    out = monotonic_combine(parts, how)
    return True if out is None else out[0]  # (no rows: monotonic, as pandas says)


# -- methods ---------------------------------------------------------------------------

def replace(self, to_replace=None, value=no_default, regex=False, meta=no_default):
    """pandas' ``replace`` per partition (``meta=``: the schema, where the new values
    change a dtype in a way sample data cannot show)."""
    kwargs = {"regex": regex}
    if value is not no_default:
        kwargs["value"] = value
    return map_partitions(methods.call_method, self, "replace", to_replace, meta=meta,
                          token="replace", **kwargs)


def frame_map(self, func, na_action=None, meta=no_default, **kwargs):
    """Apply *func* to every element (``pandas.DataFrame.map``); ``meta=`` avoids inference."""
    if not callable(func):
        raise TypeError(f"DataFrame.map(func=...) needs a callable, got {type(func).__name__}")
    if na_action not in (None, "ignore"):
        raise ValueError(f"DataFrame.map(na_action=...) must be None or 'ignore', got {na_action!r}")
    if meta is None:  # (Dask's default spelling for "infer")
        meta = no_default
    return map_partitions(map_elements, self, func, na_action, kwargs, meta=meta, token="map")


def pipe(self, func, *args, **kwargs):
    """``func(self, *args, **kwargs)``; with ``func=(callable, "keyword")`` the frame
    goes in as that keyword argument."""
    if isinstance(func, tuple):
        if len(func) != 2 or not callable(func[0]) or not isinstance(func[1], str):
            raise TypeError("pipe(func=...) as a tuple must be (callable, 'keyword')")
        func, keyword = func
        if keyword in kwargs:
            raise ValueError(f"pipe: {keyword!r} is both the frame's keyword and in kwargs")
        kwargs[keyword] = self
        return func(*args, **kwargs)
    if not callable(func):
        raise TypeError(f"pipe(func=...) needs a callable, got {type(func).__name__}")
    return func(self, *args, **kwargs)


def combine_first(self, other):
    """Fill the missing values of this frame from *other* (the union of labels), as pandas'."""
    from shoal.dataframe.creation import from_pandas
    from shoal.dataframe.partitioning import align_on_index, co_partitioned
    from shoal.dataframe.realign import repartition_divisions

    if isinstance(other, (pd.DataFrame, pd.Series)):
        other = from_pandas(other, npartitions=1)
    if not isinstance(other, (DataFrame, Series)):
        raise TypeError(f"combine_first(other=...) needs a shoal or pandas DataFrame or Series, "
                        f"got {type(other).__name__}")
    left, right = self, other
    if left.known_divisions and right.known_divisions:
        if tuple(left.divisions) != tuple(right.divisions):
            bounds = sorted(set(left.divisions) | set(right.divisions))
            if len(bounds) == 1:
                bounds = bounds * 2
            left = repartition_divisions(left, bounds, force=True)
            right = repartition_divisions(right, bounds, force=True)
    elif not co_partitioned([left, right]):  # split differently: equal labels must meet
        left, right = align_on_index([left, right], "combine_first")
    meta = combined_meta(left._meta, right._meta)
    out = map_partitions(combine_parts, left, right, meta, meta=meta, token="combine-first")
    if not (left.known_divisions and right.known_divisions):
        out = out.clear_divisions()
    return out


def _monotonic(how):
    def prop(self):  # (of a Series or an Index, as Dask's)
        opts = {"how": how}
        return reduction(self, monotonic_chunk, monotonic_aggregate, monotonic_combine,
                         token=how.replace("_", "-"), meta=True, chunk_kwargs=opts,
                         combine_kwargs=opts, aggregate_kwargs=opts)

    prop.__name__ = how
    prop.__doc__ = f"Whether the values are {how.rsplit('_', 1)[1]} (a lazy Scalar of bool)."
    return property(prop)


def series_to_csv(self, filename, **kwargs):
    """Write CSV files (see ``shoal.dataframe.io.to_csv``)."""
    from shoal.dataframe.io import to_csv

    return to_csv(self, filename, **kwargs)


def series_to_json(self, url_path, **kwargs):
    """Write JSON-lines files (see ``shoal.dataframe.io.to_json``)."""
    from shoal.dataframe.io import to_json

    return to_json(self, url_path, **kwargs)


frame_map.__name__ = "map"
for _cls in (DataFrame, Series):
    _cls.replace = replace
    _cls.pipe = pipe
    _cls.combine_first = combine_first
DataFrame.map = frame_map
Series.is_monotonic_increasing = _monotonic("is_monotonic_increasing")
Series.is_monotonic_decreasing = _monotonic("is_monotonic_decreasing")
Series.to_csv = series_to_csv
Series.to_json = series_to_json
