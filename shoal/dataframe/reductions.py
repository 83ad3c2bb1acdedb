"""Tree reductions: per partition, combine a few at a time, aggregate.

::

    partitions:   p0   p1   p2   p3   p4   p5   p6   p7   p8
    chunk:        c0   c1   c2   c3   c4   c5   c6   c7   c8      one task each
    combine:      [c0 c1 c2 c3 c4 c5 c6 c7]  [c8]                split_every at a time
    aggregate:            the final value                        one task

Each reduction is three pure functions: ``chunk(partition) -> piece``,
``combine([pieces]) -> piece`` and ``aggregate([pieces]) -> result``.  Pieces are
small (a number, a Series indexed by column, arrays of moments, the distinct
values), and no task ever holds more than ``split_every`` of them, so memory
stays bounded however many partitions there are.  ``split_every`` defaults to 8
(``False``: a single aggregate over all chunks).

Result dtypes follow pandas on the whole data: the built-in chunk functions
return ``None`` for an empty partition (an empty int column's ``min`` is a
float NaN, which would otherwise upcast the answer), and when every partition
is empty the aggregate runs the pandas method on the empty metadata.  Means
and variances combine ``(count, mean, M2)`` moments per column with Chan's
parallel formula, which stays accurate where a sum of squares would cancel.
``describe`` computes its quantiles exactly, by gathering a column's non-null
values into one task (memory: one column of data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe._dtypes import numpy_time_dtype
from shoal.dataframe._meta import check_unique_columns, make_meta, meta_from_value, nonempty
from shoal.dataframe.core import map_partitions, new_collection, no_default
from shoal.dataframe.methods import unify_categoricals

__all__ = ["arg_extreme", "describe", "length", "moments", "nunique", "quantile", "reduction",
           "simple", "top", "unique", "value_counts"]

SPLIT_EVERY = 8
_PANDAS_MAJOR = int(pd.__version__.split(".")[0])


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
    split_every = fan_in(split_every, frame.npartitions)
    if meta is no_default:
        meta = aggregate([chunk(frame._meta, **ck)], **ak)
    tok = tokenize(frame, chunk, combine, aggregate, ck, cbk, ak, split_every)
    name = f"{token}-{tok}"
    layer = {}
    # each phase a name of its own before the token, so the dashboard and progress
    # show it apart (prefixes "sum-chunk", "sum-combine", "sum"), as shoal.array's
    level = [(f"{token}-chunk-{tok}", i) for i in range(frame.npartitions)]
    for i, key in enumerate(level):
        layer[key] = Task(key, _apply_one, chunk, Ref((frame._name, i)), ck)
    level = combine_tree(layer, level, combine, cbk, f"{token}-combine-{tok}", split_every)
    layer[(name, 0)] = Task((name, 0), _apply_list, aggregate, [Ref(k) for k in level], ak)
    meta = meta_from_value(meta) if isinstance(meta, str) else make_meta(meta)  # "ab": a value
    return new_collection(merge_layers(frame, name=name, layer=layer), name, meta, (None, None))


def fan_in(split_every, npartitions: int) -> int:
    """How many parts one combine takes: ``split_every``, all (False) or the default."""
    if split_every is False:
        split_every = max(2, npartitions)
    split_every = split_every or SPLIT_EVERY
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    return split_every


def combine_tree(layer, level: list, combine, kwargs, prefix: str, split_every: int,
                 lead: tuple = ()) -> list:
    """Add to *layer* the tasks that combine the keys of *level*, ``split_every`` at a
    time, until at most ``split_every`` are left; returns those.  Keys are
    ``(f"{prefix}-{depth}", *lead, index)``."""
    depth = 0
    while len(level) > split_every:
        depth += 1
        nxt = []
        for j in range(0, len(level), split_every):
            key = (f"{prefix}-{depth}", *lead, j // split_every)
            layer[key] = Task(key, _apply_list, combine, [Ref(k) for k in level[j: j + split_every]],
                              kwargs)
            nxt.append(key)
        level = nxt
    return level


def _broadcastable(result, labels):
    """Mark a frame's per-column result so ``df - df.mean()`` broadcasts it."""
    result._broadcast = pd.Index(labels)
    return result


def length(frame, split_every=None):
    """A Scalar with the number of rows."""
    return reduction(frame, len, sum, token="len", meta=0, split_every=split_every)


# -- sum, prod, min, max, count, any, all -------------------------------------------------

def _chunk_simple(part, how, kwargs, min_count):
    if len(part) == 0:
        return None
    value = getattr(part, how)(**kwargs)
    if min_count:
        return value, part.count() if isinstance(part, pd.Series) else part.count()[value.index]
    return value


def _fold(values, how, skipna, dtype):
    """``how`` of one column's partial results (scalars)."""
    keep = (how in ("min", "max") and isinstance(dtype, pd.CategoricalDtype) and dtype.ordered
            and len(dtype.categories))  # (a count is an int whatever the column holds)
    s = pd.Series(values, dtype=dtype if keep else None)
    if how == "count":
        return s.sum()
    return getattr(s, how)(skipna=skipna)


def _combine_simple(parts, how, skipna, min_count, dtype, empty=None, kwargs=None):
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    counts = None
    if min_count:
        parts, counts = [p[0] for p in parts], [p[1] for p in parts]
    if isinstance(parts[0], pd.Series):  # one entry per column
        index = parts[0].index
        values = [_fold([p.iloc[j] for p in parts], how, skipna, None) for j in range(len(index))]
        out = pd.Series(values, index=index, dtype=object if not values else None)
        if dtype is not None and dtype != object and out.dtype != dtype:
            try:
                out = out.astype(dtype)
            except (TypeError, ValueError):
                pass
        if counts is not None:
            counts = sum(counts[1:], counts[0])
    else:
        out = _fold(parts, how, skipna, dtype)
        if counts is not None:
            counts = sum(counts)
    return (out, counts) if min_count else out


def _agg_simple(parts, how, skipna, min_count, dtype, empty, kwargs):
    out = _combine_simple(parts, how, skipna, min_count, dtype)
    if out is None:  # every partition was empty: pandas on the empty metadata
        return getattr(empty, how)(**kwargs)
    if min_count:
        out, counts = out
        if isinstance(out, pd.Series):
            out = out.where(counts >= min_count) if (counts < min_count).any() else out
        elif counts < min_count:
            out = np.float64(np.nan)
    return out


def simple(frame, how, split_every=None, **kwargs):
    """``sum``/``prod``/``min``/``max``/``count``/``any``/``all`` as a tree reduction."""
    # on a two-row stand-in (an empty int column's max would be NaN, a float);
    # an unsupported reduction raises here, with pandas' own message
    meta = getattr(nonempty(frame._meta), how)(**kwargs)
    min_count = kwargs.pop("min_count", 0) if how in ("sum", "prod") else 0
    skipna = kwargs.get("skipna", True)
    chunk_kw = dict(kwargs, min_count=0) if min_count else kwargs
    is_frame = isinstance(frame._meta, pd.DataFrame)
    dtype = meta.dtype if is_frame else frame._meta.dtype
    opts = {"how": how, "skipna": skipna, "min_count": min_count, "dtype": dtype}
    agg_kw = dict(kwargs, min_count=min_count) if min_count else kwargs
    out = reduction(frame, _chunk_simple, _agg_simple, _combine_simple, token=how, meta=meta,
                    split_every=split_every,
                    chunk_kwargs={"how": how, "kwargs": chunk_kw, "min_count": min_count},
                    combine_kwargs=opts,
                    aggregate_kwargs=dict(opts, empty=frame._meta, kwargs=agg_kw))
    return _broadcastable(out, meta.index) if is_frame else out


# -- mean, var, std ------------------------------------------------------------------

def _chunk_moments(part, columns, skipna):
    if len(part) == 0:
        return None
    x = part if columns is None else part[columns]
    values = x.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if skipna:
            n = (~np.isnan(values)).sum(axis=0).astype("float64")
            mean = np.nansum(values, axis=0) / n
            m2 = np.nansum((values - mean) ** 2, axis=0)
        else:
            n = np.full(values.shape[1:], float(len(values)))
            mean = values.sum(axis=0) / n
            m2 = ((values - mean) ** 2).sum(axis=0)
    return n, mean, m2


def _merge_moments(parts):
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    n, mean, m2 = parts[0]
    for nb, meanb, m2b in parts[1:]:
        total = n + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = meanb - mean
            new_mean = np.where(nb == 0, mean, np.where(n == 0, meanb, mean + delta * nb / total))
            new_m2 = np.where(nb == 0, m2, np.where(n == 0, m2b, m2 + m2b + delta * delta * n * nb / total))
        n, mean, m2 = total, new_mean, new_m2
    return n, mean, m2


def _agg_moments(parts, how, ddof, columns, empty=None, kwargs=None):
    merged = _merge_moments(parts)
    if merged is None and columns is None:  # no rows at all: as pandas says
        return getattr(empty, how)(**kwargs)
    shape = () if columns is None else (len(columns),)
    if merged is None:
        result = np.full(shape, np.nan)
    else:
        n, mean, m2 = merged
        with np.errstate(invalid="ignore", divide="ignore"):
            if how == "mean":
                result = np.where(n > 0, mean, np.nan)
            else:
                result = np.where(n - ddof > 0, m2 / (n - ddof), np.nan)
                if how == "std":
                    result = np.sqrt(result)
    if columns is None:
        return np.float64(result)
    return pd.Series(result, index=pd.Index(columns), dtype="float64")


def moments(frame, how, ddof=1, split_every=None, skipna=True, numeric_only=False):
    """``mean``/``var``/``std`` (with ``ddof``) from merged per-partition moments."""
    check_unique_columns(frame._meta, how)
    kwargs = {"skipna": skipna, "numeric_only": numeric_only}
    if how != "mean":
        kwargs["ddof"] = ddof
    meta = getattr(nonempty(frame._meta), how)(**kwargs)  # pandas checks the dtypes
    is_frame = isinstance(frame._meta, pd.DataFrame)
    columns = list(meta.index) if is_frame else None
    dtypes = frame._meta[columns].dtypes if is_frame else [frame._meta.dtype]
    if any(getattr(dt, "kind", "O") in "mM" for dt in dtypes):
        if how == "mean" and not is_frame:
            return _time_mean(frame, skipna, split_every)
        raise NotImplementedError(f"{how} of datetime/timedelta values is not supported here; "
                                  "use numeric_only=True or convert the column first")
    meta = meta.astype("float64") if is_frame else np.float64(meta)
    aggregate_kwargs = {"how": how, "ddof": ddof, "columns": columns}
    if not is_frame:
        aggregate_kwargs.update(empty=frame._meta, kwargs=kwargs)
    out = reduction(frame, _chunk_moments, _agg_moments, _merge_moments, token=how, meta=meta,
                    split_every=split_every, chunk_kwargs={"columns": columns, "skipna": skipna},
                    aggregate_kwargs=aggregate_kwargs)
    return _broadcastable(out, meta.index) if is_frame else out


def _chunk_time(part, skipna):
    missing = part.isna().to_numpy()
    valid = part.array.asi8[~missing]  # ticks of the column's unit
    return float(valid.sum(dtype="float64")), len(valid), bool(missing.any()) and not skipna


def _combine_time(parts):
    return (sum(p[0] for p in parts), sum(p[1] for p in parts), any(p[2] for p in parts))


def _agg_time(parts, empty):
    total, count, missing = _combine_time(parts)
    if missing or not count:
        return empty.mean()  # NaT of the column's type
    tick = int(np.int64(total / count))  # truncated, as pandas does
    dtype = empty.dtype
    unit = dtype.unit if isinstance(dtype, pd.DatetimeTZDtype) else np.datetime_data(dtype)[0]
    if dtype.kind == "m":
        return pd.Timedelta(np.timedelta64(tick, unit))
    stamp = pd.Timestamp(np.datetime64(tick, unit))
    return stamp.tz_localize("UTC").tz_convert(dtype.tz) if isinstance(dtype, pd.DatetimeTZDtype) else stamp


def _time_mean(series, skipna, split_every):
    """The mean of datetimes/timedeltas: a float sum of ticks over a count, as pandas does."""
    meta = nonempty(series._meta).mean()
    series = series.astype(numpy_time_dtype(series._meta.dtype))  # pyarrow times: as numpy's
    return reduction(series, _chunk_time, _agg_time, _combine_time, token="mean", meta=meta,
                     split_every=split_every, chunk_kwargs={"skipna": skipna},
                     aggregate_kwargs={"empty": series._meta})


# -- distinct values -------------------------------------------------------------------

def _distinct(part, dropna):
    if isinstance(part, pd.DataFrame):
        return [_distinct(part.iloc[:, j], dropna) for j in range(part.shape[1])]
    return (part.dropna() if dropna else part).drop_duplicates()


def _combine_distinct(parts):
    if isinstance(parts[0], list):
        return [_combine_distinct([p[j] for p in parts]) for j in range(len(parts[0]))]
    if isinstance(parts[0], pd.Index):  # (pd.concat takes no Index)
        return parts[0].append(list(parts[1:])).drop_duplicates()
    return pd.concat(parts).drop_duplicates()


def _agg_nunique(parts, columns):
    merged = _combine_distinct(parts)
    if columns is not None:
        return pd.Series([len(v) for v in merged], index=columns, dtype="int64")
    return len(merged)


def nunique(frame, split_every=None, dropna=True):
    meta = frame._meta.nunique(dropna=dropna)
    columns = frame._meta.columns if isinstance(frame._meta, pd.DataFrame) else None
    out = reduction(frame, _distinct, _agg_nunique, _combine_distinct, token="nunique",
                    meta=meta, split_every=split_every, chunk_kwargs={"dropna": dropna},
                    aggregate_kwargs={"columns": columns})
    return _broadcastable(out, columns) if columns is not None else out


def _agg_unique(parts, name):
    out = _combine_distinct(parts)
    if not isinstance(out, pd.Index):
        out = out.reset_index(drop=True)
    out.name = name
    return out


def unique(series, split_every=None):
    """The distinct values in order of appearance: a Series (an Index of an Index)."""
    meta = series._meta[:0]
    if not isinstance(meta, pd.Index):
        meta = meta.reset_index(drop=True)
    return reduction(series, _distinct, _agg_unique, _combine_distinct, token="unique",
                     meta=meta, split_every=split_every, chunk_kwargs={"dropna": False},
                     aggregate_kwargs={"name": series._meta.name})


def _chunk_counts(part, dropna):
    return part.value_counts(dropna=dropna, sort=False)


def _combine_counts(parts, observed=False):
    merged = pd.concat(unify_categoricals(parts, index=True))
    return merged.groupby(level=0, dropna=False, sort=False, observed=observed).sum()


def _agg_counts(parts, sort, ascending, normalize, name, observed=False):
    out = _combine_counts(parts, observed)
    out.index.name = name
    if normalize:
        out = out / out.sum()
    out.name = "proportion" if normalize else "count"
    if sort:  # pandas sorts the first-appearance order stably: ties keep that order
        out = out.sort_values(ascending=ascending, kind="stable")
    return out


def value_counts(series, sort=True, ascending=False, dropna=True, normalize=False, split_every=None):
    """Counts of distinct values, in the order pandas gives them."""
    meta = series._meta.value_counts(dropna=dropna, normalize=normalize)
    return reduction(series, _chunk_counts, _agg_counts, _combine_counts, token="value-counts",
                     meta=meta, split_every=split_every, chunk_kwargs={"dropna": dropna},
                     aggregate_kwargs={"sort": sort, "ascending": ascending, "normalize": normalize,
                                       "name": series._meta.name})


# -- nlargest / nsmallest ----------------------------------------------------------------------

def _chunk_top(part, how, n, args, kwargs):
    return getattr(part, how)(n, *args, **kwargs)


def _agg_top(parts, how, n, args, kwargs):
    return getattr(pd.concat(parts), how)(n, *args, **kwargs)


def top(frame, how, n, args, kwargs, split_every=None):
    meta = getattr(frame._meta, how)(n, *args, **kwargs)  # pandas checks the arguments
    opts = {"how": how, "n": n, "args": args, "kwargs": kwargs}
    return reduction(frame, _chunk_top, _agg_top, token=how, meta=meta, split_every=split_every,
                     chunk_kwargs=opts, combine_kwargs=opts, aggregate_kwargs=opts)


# -- describe ----------------------------------------------------------------------------

def _labels(percentiles):
    try:
        from pandas.io.formats.format import format_percentiles

        return list(format_percentiles(percentiles))
    except ImportError:  # pragma: no cover - pandas internals moved
        return [f"{q * 100:g}%" for q in percentiles]


def _non_null(part):
    return part.dropna()


def _identity(part):
    return part


def _concat(parts):
    return pd.concat(parts)


def _agg_quantiles(parts, qs):
    values = pd.concat(parts)
    if isinstance(values, pd.DataFrame) or len(values):
        return values.quantile(qs)
    return pd.Series(np.nan, index=qs)


def _quantiles(x, qs, split_every):
    """Exact quantiles: every non-null value gathered into one task."""
    is_frame = isinstance(x._meta, pd.DataFrame)
    return reduction(x, _identity if is_frame else _non_null, _agg_quantiles, _concat,
                     token="quantiles", meta=nonempty(x._meta).quantile(qs),
                     split_every=split_every, aggregate_kwargs={"qs": qs})


def _agg_quantile(parts, q):
    values = pd.concat(parts)
    if isinstance(values, pd.Series) and not len(values):
        return np.nan if np.ndim(q) == 0 else pd.Series(np.nan, index=list(q), name=values.name)
    return values.quantile(q)


def quantile(x, q=0.5, split_every=None):
    """Exact quantiles (every non-null value of a column gathered into one task): a value
    for one ``q`` and a Series for several, of a Series; a frame's are by column."""
    qs = [q] if np.ndim(q) == 0 else list(q)
    if not all(isinstance(v, (int, float, np.number)) and 0 <= v <= 1 for v in qs):
        raise ValueError(f"quantile: q must be numbers between 0 and 1, got {q!r}")
    is_frame = isinstance(x._meta, pd.DataFrame)
    return reduction(x, _identity if is_frame else _non_null, _agg_quantile, _concat,
                     token="quantile", meta=nonempty(x._meta).quantile(q),
                     split_every=split_every, aggregate_kwargs={"q": q})


def _extreme_rows(part, how, skipna=True):
    """The row holding the column's maximum (``how="idxmax"``) or minimum: a one-row
    Series (none for an empty or all-NaN one); a frame's, column by column."""
    if isinstance(part, pd.DataFrame):
        return [_extreme_rows(part.iloc[:, j], how) for j in range(part.shape[1])]
    valid = part.dropna()
    if not len(valid):
        return valid
    return valid.iloc[[getattr(valid.reset_index(drop=True), how)()]]


def _combine_extremes(parts, how):
    if isinstance(parts[0], list):
        return [_combine_extremes([p[j] for p in parts], how) for j in range(len(parts[0]))]
    return _extreme_rows(pd.concat(parts), how)


def _agg_extremes(parts, how, columns):
    best = _combine_extremes(parts, how)
    if columns is None:
        return getattr(best, how)()
    return pd.Series([getattr(b, how)() for b in best], index=columns)


def arg_extreme(frame, how, skipna=True, split_every=None):
    """The label of each column's first maximum (``idxmax``) or minimum (``idxmin``)."""
    if not skipna:
        raise NotImplementedError(f"{how}(skipna=False) is not supported")
    meta = getattr(nonempty(frame._meta), how)()
    columns = frame._meta.columns if isinstance(frame._meta, pd.DataFrame) else None
    out = reduction(frame, _extreme_rows, _agg_extremes, _combine_extremes, token=how, meta=meta,
                    split_every=split_every, chunk_kwargs={"how": how},
                    combine_kwargs={"how": how}, aggregate_kwargs={"how": how, "columns": columns})
    return _broadcastable(out, columns) if columns is not None else out


def _assemble_numeric(count, mean, std, mn, quantiles, mx, labels, name):
    index = ["count", "mean", "std", "min", *labels, "max"]
    if isinstance(count, pd.Series):
        rows = [count, mean, std, mn, *[quantiles.iloc[i] for i in range(len(labels))], mx]
        return pd.DataFrame([r.astype("float64") for r in rows], index=index)
    values = [count, mean, std, mn, *list(quantiles), mx]
    return pd.Series(values, index=index, name=name, dtype="float64")


def _assemble_time(count, mean, mn, quantiles, mx, labels, name):
    values = [count, mean, mn, *quantiles.tolist(), mx]
    return pd.Series(values, index=["count", "mean", "min", *labels, "max"], name=name)


def _assemble_other(count, counts, name):
    unique = int((counts != 0).sum())
    top_value, freq = (counts.index[0], counts.iloc[0]) if len(counts) else (np.nan, np.nan)
    return pd.Series([count, unique, top_value, freq], index=["count", "unique", "top", "freq"],
                     name=name, dtype=object)


def _describe_1d(x, qs, split_every):
    """Numeric columns (or a numeric frame), datetimes, or anything else."""
    labels, meta = _labels(qs), x._meta
    name = None if isinstance(meta, pd.DataFrame) else meta.name
    dtype = None if isinstance(meta, pd.DataFrame) else meta.dtype
    stats = {how: (lambda how: getattr(x, how)(split_every=split_every)) for how in
             ("count", "mean", "std", "min", "max")}
    if dtype is None or (pd.api.types.is_numeric_dtype(dtype) and dtype.kind not in "bm"):
        parts = [stats[h](h) for h in ("count", "mean", "std", "min")]
        parts += [_quantiles(x, qs, split_every), stats["max"]("max")]
        sample = nonempty(meta)
        samples = [getattr(sample, how)() for how in ("count", "mean", "std", "min")]
        meta = _assemble_numeric(*samples, sample.quantile(qs), sample.max(), labels, name)
        return map_partitions(_assemble_numeric, *parts, labels, name, meta=meta, token="describe")
    if dtype.kind == "m":
        raise NotImplementedError("describe() of timedelta values is not supported")
    if dtype.kind == "M":
        parts = [stats[h](h) for h in ("count", "mean", "min")]
        parts += [_quantiles(x, qs, split_every), stats["max"]("max")]
        return map_partitions(_assemble_time, *parts, labels, name, token="describe",
                              meta=pd.Series([], dtype=object, name=name))
    parts = [x.count(split_every=split_every), x.value_counts(split_every=split_every)]
    return map_partitions(_assemble_other, *parts, name, meta=pd.Series([], dtype=object, name=name),
                          token="describe")


def _stack_describes(columns, numeric, *others):
    """Put per-column descriptions together as pandas does (rows: union, shortest first)."""
    others = iter(others)
    ldesc = [numeric[c] if is_num else next(others) for c, is_num in columns]
    names: list = []
    for index in sorted((d.index for d in ldesc), key=len):
        names.extend(n for n in index if n not in names)
    out = pd.concat([d.reindex(names) for d in ldesc], axis=1, sort=False)
    out.columns = pd.Index([c for c, _ in columns])
    return out


def describe(frame, percentiles=None, split_every=None):
    """Summary statistics as pandas' ``describe`` (exact quantiles; see the module docstring).

    Numeric data: count, mean, std, min, quantiles, max; datetimes: count, mean,
    min, quantiles, max; other (and bool) data: count, unique, top, freq.  A
    frame describes its numeric and datetime columns, or all when it has none.
    """
    check_unique_columns(frame._meta, "describe")
    if percentiles is None:
        qs = [0.25, 0.5, 0.75]
    else:  # pandas 3 takes them as given; earlier versions always add the median
        qs = sorted(set(percentiles) | ({0.5} if _PANDAS_MAJOR < 3 else set()))
    if any(not 0 <= q <= 1 for q in qs):
        raise ValueError("percentiles should all be in the interval [0, 1]")
    meta = frame._meta
    if isinstance(meta, pd.Series):
        return _describe_1d(frame, qs, split_every)
    chosen = meta.select_dtypes(include=[np.number, np.datetime64])
    chosen = meta if chosen.shape[1] == 0 else chosen
    numeric = [pd.api.types.is_numeric_dtype(dt) and dt.kind not in "bm" for dt in chosen.dtypes]
    num_cols = [c for c, is_num in zip(chosen.columns, numeric) if is_num]
    described = _describe_1d(frame[num_cols], qs, split_every) if num_cols else None
    if all(numeric):
        return described
    others = [_describe_1d(frame[c], qs, split_every)
              for c, is_num in zip(chosen.columns, numeric) if not is_num]
    columns = tuple(zip(chosen.columns, numeric))
    out_meta = pd.DataFrame({i: pd.Series([], dtype="float64" if is_num else object)
                             for i, is_num in enumerate(numeric)})
    out_meta.columns = chosen.columns
    return map_partitions(_stack_describes, columns, described, *others, meta=out_meta,
                          token="describe")
