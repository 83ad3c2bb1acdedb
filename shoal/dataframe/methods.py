"""Per-partition kernels: plain pandas functions the tasks call.

Nothing here knows about graphs, keys or schedulers; each function takes pandas
objects (and plain arguments) and returns pandas objects, so each is tested and
pickled (to worker processes) on its own.  Module-level functions are pickled by
reference, which keeps process-pool messages small.

:func:`concat` is also the postcompute of every frame: it puts the partitions
back together in order and reconciles categoricals whose partitions learned
different categories (``astype("category")`` per partition), which a plain
``pd.concat`` would silently turn into ``object``.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "accessor_call", "apply_rows", "assign", "astype", "call_method", "concat", "filter_rows", "first",
    "get_index", "head_of", "identity", "mask", "reflected", "series_apply", "size", "split_part",
    "tail_of", "unify_categoricals", "where", "wrap_scalar",
]


def identity(x):
    return x


def first(results):
    """Postcompute of a Scalar: the single result."""
    return results[0]


# -- concatenation ---------------------------------------------------------------------

def _union_categories(dtypes):
    cats = pd.Index([])
    for dt in dtypes:
        cats = cats.append(dt.categories)
    cats = cats.unique()
    if all(dt.categories.is_monotonic_increasing for dt in dtypes):
        try:
            cats = cats.sort_values()
        except TypeError:
            pass
    return pd.CategoricalDtype(cats, ordered=dtypes[0].ordered)


def unify_categoricals(parts, index=False):
    """Give categorical columns (or, with *index*, indexes) the same categories in every part."""
    if index:
        dtypes = [p.index.dtype for p in parts]
        if isinstance(dtypes[0], pd.CategoricalDtype) and any(d != dtypes[0] for d in dtypes):
            if all(isinstance(d, pd.CategoricalDtype) for d in dtypes):
                common = _union_categories(dtypes)
                parts = [p.set_axis(p.index.astype(common)) for p in parts]
        return parts
    first_part = parts[0]
    if isinstance(first_part, pd.Series):
        dtypes = [p.dtype for p in parts]
        if isinstance(dtypes[0], pd.CategoricalDtype) and any(d != dtypes[0] for d in dtypes):
            if all(isinstance(d, pd.CategoricalDtype) for d in dtypes):
                common = _union_categories(dtypes)
                return [p.astype(common) for p in parts]
        return parts
    if not isinstance(first_part, pd.DataFrame):
        return parts
    fix = {}
    for i, (col, dt) in enumerate(first_part.dtypes.items()):
        if isinstance(dt, pd.CategoricalDtype):
            dts = [p.dtypes.iloc[i] for p in parts]
            if any(d != dt for d in dts) and all(isinstance(d, pd.CategoricalDtype) for d in dts):
                fix[col] = _union_categories(dts)
    if fix:
        parts = [p.astype(fix) for p in parts]
    return parts


def concat(parts, meta=None):
    """Concatenate partitions in order (the postcompute of a frame).

    Empty partitions are left out (their dtypes may be less precise); when all
    are empty the first one comes back, and *meta* when there are none.
    """
    parts = [p for p in parts if p is not None]
    if not parts:
        return meta
    if not isinstance(parts[0], (pd.DataFrame, pd.Series, pd.Index)):
        return parts
    nonempty = [p for p in parts if len(p)] or parts[:1]
    if len(nonempty) == 1:
        return nonempty[0]
    if isinstance(nonempty[0], pd.Index):
        return nonempty[0].append(nonempty[1:])
    return pd.concat(unify_categoricals(nonempty))


# -- elementwise -----------------------------------------------------------------------

def call_method(obj, method, *args, **kwargs):
    """``obj.method(*args, **kwargs)``: one kernel for the many pass-through methods."""
    return getattr(obj, method)(*args, **kwargs)


def accessor_call(obj, accessor, attr, args=None, kwargs=None):
    """``obj.<accessor>.<attr>`` (a property when *args* is None) or a call of it."""
    value = getattr(getattr(obj, accessor), attr)
    if args is None:
        return value
    return value(*args, **(kwargs or {}))


def reflected(a, b, op):
    """``op(b, a)``: the reflected operator with the partition first."""
    return op(b, a)


def filter_rows(df, mask):
    if (isinstance(mask, pd.Series) and len(mask) == len(df) and not mask.index.equals(df.index)
            and mask.index.is_unique and mask.index.isin(df.index).all()):
        mask = mask.reindex(df.index)  # the same labels in another order (as realigned frames
    return df[mask]                    # may hold them): pandas' own alignment, without its warning


def astype(df, dtype):
    return df.astype(dtype)


def where(df, cond, other):
    return df.where(cond, other)


def mask(df, cond, other):
    return df.mask(cond, other)


def assign(df, *pairs):
    """Set columns ``pairs[0] = pairs[1]`` ... on a shallow copy (any label type)."""
    df = df.copy(deep=False)
    for key, value in zip(pairs[::2], pairs[1::2]):
        df[key] = value
    return df


def apply_rows(df, func, args, kwargs):
    return df.apply(func, axis=1, args=args, **kwargs)


def series_apply(s, func, args, kwargs):
    return s.apply(func, args=args, **kwargs)


def get_index(df):
    return df.index


def wrap_scalar(func, args, kwargs):
    """Call *func* and wrap a scalar result as a one-row Series (per-partition values)."""
    return pd.Series([func(*args, **kwargs)])


def split_part(df, k, j):
    """The j-th of k near-equal row slices of *df*."""
    n = len(df)
    return df.iloc[j * n // k: (j + 1) * n // k]


# -- head, tail, size ---------------------------------------------------------------------

def head_of(parts, n):
    """The first *n* rows across the given leading partitions."""
    out = []
    need = n
    for p in parts:
        if need <= 0:
            break
        out.append(p.head(need))
        need -= len(out[-1])
    return concat(out) if len(out) > 1 else out[0] if out else parts[0].iloc[:0]


def tail_of(parts, n):
    """The last *n* rows across the given trailing partitions (in order)."""
    out = []
    need = n
    for p in reversed(parts):
        if need <= 0:
            break
        out.append(p.tail(need))
        need -= len(out[-1])
    out.reverse()
    return concat(out) if len(out) > 1 else out[0] if out else parts[-1].iloc[:0]


def size(df):
    return df.size


KERNELS = frozenset([accessor_call, assign, astype, call_method, filter_rows, get_index, mask,
                     reflected, where])
"""Kernels that only call pandas: a failure on metadata is pandas' error about the arguments."""


def conform(part, meta):
    """Give a partition the columns (and order) of *meta*, adding missing ones as NaN."""
    if isinstance(meta, pd.DataFrame) and list(part.columns) != list(meta.columns):
        part = part.reindex(columns=meta.columns)
        return part.astype({c: t for c, t in meta.dtypes.items() if part[c].dtype != t}, errors="ignore")
    return _decategorized(part, meta)


def _decategorized(part, meta):
    """*part* with its categorical columns cast to *meta*'s dtype where *meta*'s is not
    categorical (``pandas.concat`` of different categories gives plain values)."""
    def plain(have, want):
        return isinstance(have, pd.CategoricalDtype) and not isinstance(want, pd.CategoricalDtype)

    if isinstance(meta, pd.DataFrame) and isinstance(part, pd.DataFrame):
        cast = {c: t for c, t, h in zip(meta.columns, meta.dtypes, part.dtypes) if plain(h, t)}
        return part.astype(cast) if cast else part
    if isinstance(meta, pd.Series) and isinstance(part, pd.Series) and plain(part.dtype, meta.dtype):
        return part.astype(meta.dtype)
    return part


def modes(counts, name, dtype):
    """The values of *counts* (a value_counts) that are most frequent, sorted, as
    ``Series.mode`` gives them."""
    counts = counts[counts > 0]  # (a categorical's unseen categories count 0)
    if not len(counts):
        return pd.Series([], dtype=dtype, name=name)
    values = pd.Series(counts.index[counts.to_numpy() == counts.max()], dtype=dtype, name=name)
    try:
        return values.sort_values(ignore_index=True)
    except TypeError:  # values of several types: unsorted, as pandas gives them
        return values.reset_index(drop=True)


def exploded(frame, column, ignore_index):
    """``frame.explode(column)`` per partition.  pandas picks the exploded values' dtype
    from them (lists of text: str, of numbers: object); every partition here has the
    declared one, the empty frame's (object)."""
    from shoal.dataframe.core import map_partitions

    args = () if column is None else (column,)
    meta = frame._meta.explode(*args)
    dtype = (meta if column is None else meta[column]).dtype
    return map_partitions(_explode, frame, column, ignore_index, dtype, meta=meta,
                          token="explode", clear_divisions=ignore_index)  # fmt: skip


def _explode(part, column, ignore_index, dtype):
    if column is None:
        return part.explode(ignore_index=ignore_index).astype(dtype)
    out = part.explode(column, ignore_index=ignore_index)
    out[column] = out[column].astype(dtype)
    return out
