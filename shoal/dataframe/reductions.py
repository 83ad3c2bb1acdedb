"""Tree reductions: per partition, combine a few at a time, aggregate.

::

    partitions:   p0   p1   p2   p3   p4   p5   p6   p7   p8
    chunk:        c0   c1   c2   c3   c4   c5   c6   c7   c8      one task each
    combine:      [c0 c1 c2 c3]  [c4 c5 c6 c7]  [c8]             split_every at a time
    aggregate:            the final value                        one task

Each reduction is three pure functions: ``chunk(partition) -> piece``,
``combine([pieces]) -> piece`` and ``aggregate([pieces]) -> result``.  Pieces are
small (a number, a Series indexed by column, a tuple of moments), and no task
ever holds more than ``split_every`` of them, so memory stays bounded however
many partitions there are.  ``split_every`` defaults to 8.

Means and variances combine ``(count, mean, M2)`` moments with Chan's parallel
formula, which stays accurate where a sum of squares would cancel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe._meta import make_meta, nonempty
from shoal.dataframe.core import map_partitions, new_collection, no_default

__all__ = ["describe", "length", "moments", "nunique", "reduction", "simple", "top",
           "unique", "value_counts"]

SPLIT_EVERY = 8


def _apply_list(func, parts, kwargs):
    return func(parts, **kwargs)


def _apply_one(func, part, kwargs):
    return func(part, **kwargs)


def reduction(frame, chunk, aggregate, combine=None, *, token, meta=no_default,
              split_every=None, chunk_kwargs=None, combine_kwargs=None, aggregate_kwargs=None):
    """Build the tree reduction of *frame*; see the module docstring."""
    ck, cbk, ak = chunk_kwargs or {}, combine_kwargs or {}, aggregate_kwargs or {}
    if combine is None:  # the aggregate doubles as the combine (e.g. a sum of sums)
        combine, cbk = aggregate, ak
    split_every = split_every or SPLIT_EVERY
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    if meta is no_default:
        meta = aggregate([chunk(frame._meta, **ck)], **ak)
    name = f"{token}-{tokenize(frame, chunk, combine, aggregate, ck, cbk, ak, split_every)}"
    layer = {}
    level = [(f"{name}-chunk", i) for i in range(frame.npartitions)]
    for i, key in enumerate(level):
        layer[key] = Task(key, _apply_one, chunk, Ref((frame._name, i)), ck)
    depth = 0
    while len(level) > split_every:
        depth += 1
        nxt = []
        for j in range(0, len(level), split_every):
            key = (f"{name}-combine-{depth}", j // split_every)
            layer[key] = Task(key, _apply_list, combine, [Ref(k) for k in level[j: j + split_every]], cbk)
            nxt.append(key)
        level = nxt
    layer[(name, 0)] = Task((name, 0), _apply_list, aggregate, [Ref(k) for k in level], ak)
    return new_collection(merge_layers(frame, name=name, layer=layer), name, make_meta(meta),
                          (None, None))


def length(frame):
    """A Scalar with the number of rows."""
    return reduction(frame, len, sum, token="len", meta=0)


# -- sum, min, max, count, prod, any, all ------------------------------------------

def _chunk_simple(part, how, kwargs):
    return getattr(part, how)(**kwargs)


def _agg_simple(parts, how, frame_kind):
    if frame_kind == "series":
        s = pd.Series(parts)
        return s.sum() if how == "count" else getattr(s, how)()
    stacked = pd.DataFrame(parts)
    return stacked.sum() if how == "count" else getattr(stacked, how)()


def simple(frame, how, split_every=None, **kwargs):
    # on a two-row stand-in (an empty int column's max would be NaN, a float);
    # an unsupported reduction raises here, with pandas' own message
    meta = getattr(nonempty(frame._meta), how)(**kwargs)
    kind = "series" if isinstance(frame._meta, pd.Series) else "frame"
    return reduction(
        frame, _chunk_simple, _agg_simple, token=how, meta=meta, split_every=split_every,
        chunk_kwargs={"how": how, "kwargs": kwargs}, aggregate_kwargs={"how": how, "frame_kind": kind},
    )


# -- mean, var, std ------------------------------------------------------------------

def _chunk_moments(part, columns):
    x = part if columns is None else part[columns]
    x = x.astype("float64")
    n = x.count()
    if columns is None:
        mean = x.sum() / n if n else np.nan
    else:
        mean = x.sum() / n.where(n > 0)
    m2 = ((x - mean) ** 2).sum()
    return n, mean, m2


def _merge_moments(parts):
    n, mean, m2 = parts[0]
    for nb, meanb, m2b in parts[1:]:
        total = n + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = meanb - mean
            w = nb / total
            if isinstance(total, pd.Series):
                new_mean = (mean.fillna(0) + (delta.fillna(0) * w.fillna(0))).where(total > 0)
                new_mean = new_mean.where(n > 0, meanb).where(nb > 0, mean)
                new_m2 = (m2 + m2b + delta.fillna(0) ** 2 * n * nb / total.where(total > 0)).fillna(0)
            elif nb == 0:
                new_mean, new_m2 = mean, m2
            elif n == 0:
                new_mean, new_m2 = meanb, m2b
            else:
                new_mean = mean + delta * w
                new_m2 = m2 + m2b + delta * delta * n * nb / total
        n, mean, m2 = total, new_mean, new_m2
    return n, mean, m2


def _agg_moments(parts, how, ddof):
    n, mean, m2 = _merge_moments(parts)
    if how == "mean":
        return mean
    with np.errstate(invalid="ignore", divide="ignore"):
        var = m2 / (n - ddof)
    if isinstance(var, pd.Series):
        var = var.where(n - ddof > 0)
    elif n - ddof <= 0:
        var = np.nan
    return np.sqrt(var) if how == "std" else var


def moments(frame, how, ddof=1, split_every=None, **kwargs):
    meta = getattr(frame._meta, how)(**kwargs)
    columns = list(meta.index) if isinstance(frame._meta, pd.DataFrame) else None
    if isinstance(meta, pd.Series):
        meta = meta.astype("float64")
    return reduction(
        frame, _chunk_moments, _agg_moments, _merge_moments, token=how, meta=meta,
        split_every=split_every, chunk_kwargs={"columns": columns},
        aggregate_kwargs={"how": how, "ddof": ddof},
    )


# -- distinct values -------------------------------------------------------------------

def _distinct(part, dropna):
    if isinstance(part, pd.DataFrame):
        return {c: _distinct(part[c], dropna) for c in part.columns}
    return (part.dropna() if dropna else part).drop_duplicates()


def _combine_distinct(parts):
    if isinstance(parts[0], dict):
        return {c: _combine_distinct([p[c] for p in parts]) for c in parts[0]}
    return pd.concat(parts).drop_duplicates()


def _agg_nunique(parts):
    merged = _combine_distinct(parts)
    if isinstance(merged, dict):
        return pd.Series({c: len(v) for c, v in merged.items()}, dtype="int64")
    return len(merged)


def nunique(frame, split_every=None, dropna=True):
    meta = frame._meta.nunique(dropna=dropna)
    return reduction(frame, _distinct, _agg_nunique, _combine_distinct, token="nunique",
                     meta=meta, split_every=split_every, chunk_kwargs={"dropna": dropna})


def _agg_unique(parts, name):
    out = _combine_distinct(parts).reset_index(drop=True)
    out.name = name
    return out


def unique(series, split_every=None):
    meta = series._meta.iloc[:0].reset_index(drop=True)
    return reduction(series, _distinct, _agg_unique, _combine_distinct, token="unique",
                     meta=meta, split_every=split_every, chunk_kwargs={"dropna": False},
                     aggregate_kwargs={"name": series._meta.name})


def _chunk_counts(part, dropna):
    return part.value_counts(dropna=dropna, sort=False)


def _combine_counts(parts):
    merged = pd.concat(parts)
    return merged.groupby(level=0, dropna=False, sort=False).sum()


def _agg_counts(parts, sort, ascending, normalize, name):
    out = _combine_counts(parts)
    out.index.name = name
    if normalize:
        out = out / out.sum()
        out.name = "proportion"
    else:
        out.name = "count"
    if sort:
        out = out.sort_values(ascending=ascending, kind="stable")
    return out


def value_counts(series, sort=True, ascending=False, dropna=True, normalize=False, split_every=None):
    meta = series._meta.value_counts(dropna=dropna, normalize=normalize)
    return reduction(series, _chunk_counts, _agg_counts, _combine_counts, token="value-counts",
                     meta=meta, split_every=split_every, chunk_kwargs={"dropna": dropna},
                     aggregate_kwargs={"sort": sort, "ascending": ascending, "normalize": normalize,
                                       "name": series._meta.name})


def _chunk_top(part, how, n, args, kwargs):
    return getattr(part, how)(n, *args, **kwargs)


def _agg_top(parts, how, n, args, kwargs):
    return getattr(pd.concat(parts), how)(n, *args, **kwargs)


def top(frame, how, n, args, kwargs, split_every=None):
    meta = getattr(frame._meta, how)(n, *args, **kwargs)
    opts = {"how": how, "n": n, "args": args, "kwargs": kwargs}
    return reduction(frame, _chunk_top, _agg_top, token=how, meta=meta, split_every=split_every,
                     chunk_kwargs=opts, combine_kwargs=opts, aggregate_kwargs=opts)


# -- describe ----------------------------------------------------------------------------

def _values(part):
    return part.dropna()


def _agg_quantiles(parts, qs):
    return pd.concat(parts).quantile(qs)


def _assemble(count, mean, std, mn, qs, mx, name, labels):
    values = [count, mean, std, mn, *list(qs), mx]
    return pd.Series(values, index=["count", "mean", "std", "min", *labels, "max"], name=name,
                     dtype="float64")


def _series_describe(s, percentiles):
    qs = list(percentiles)
    labels = [f"{q * 100:g}%" for q in qs]
    quant = reduction(s, _values, _agg_quantiles, pd.concat, token="quantiles",
                      meta=pd.Series([0.0] * len(qs), index=qs),
                      aggregate_kwargs={"qs": qs})
    parts = [s.count(), s.mean(), s.std(), s.min(), quant, s.max()]
    meta = pd.Series([], dtype="float64", name=s.name)
    return map_partitions(_assemble, *parts, s.name, labels, meta=meta, token="describe")


def _stack_describe(*series):
    return pd.concat(series, axis=1)


def describe(frame, percentiles=None):
    """count, mean, std, min, quantiles (exact) and max of numeric columns."""
    percentiles = sorted(percentiles) if percentiles is not None else [0.25, 0.5, 0.75]
    if isinstance(frame._meta, pd.Series):
        return _series_describe(frame, percentiles)
    cols = list(frame._meta.select_dtypes("number").columns)
    if not cols:
        raise NotImplementedError("describe() of a frame without numeric columns is not supported")
    parts = [_series_describe(frame[c], percentiles) for c in cols]
    meta = pd.DataFrame({c: pd.Series([], dtype="float64") for c in cols})
    return map_partitions(_stack_describe, *parts, meta=meta, token="describe")
