"""Per-partition kernels: plain pandas functions the tasks call.

Nothing here knows about graphs, keys or schedulers; each function takes pandas
objects (and plain arguments) and returns pandas objects, so each is tested and
pickled (to worker processes) on its own.  Module-level functions are pickled by
reference, which keeps process-pool messages small.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "apply_rows", "assign", "astype", "call_method", "concat", "filter_rows", "first",
    "head_of", "identity", "mask", "series_apply", "size", "tail_of", "where",
]


def identity(x):
    return x


def first(results):
    """Postcompute of a Scalar: the single result."""
    return results[0]


def concat(parts, meta=None):
    """Concatenate partitions in order (the postcompute of a frame).

    Empty input gives *meta* itself (an empty frame with the right schema).
    """
    parts = [p for p in parts if p is not None]
    if not parts:
        return meta
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], (pd.DataFrame, pd.Series, pd.Index)):
        nonempty = [p for p in parts if len(p)]
        if not nonempty:
            return parts[0]
        if isinstance(parts[0], pd.Index):
            return nonempty[0].append(nonempty[1:])
        return pd.concat(nonempty)
    return parts


def astype(df, dtype):
    return df.astype(dtype)


def call_method(obj, method, *args, **kwargs):
    """``obj.method(*args, **kwargs)``: one kernel for the many pass-through methods."""
    return getattr(obj, method)(*args, **kwargs)


def filter_rows(df, mask):
    return df[mask]


def where(df, cond, other):
    return df.where(cond, other)


def mask(df, cond, other):
    return df.mask(cond, other)


def assign(df, *pairs):
    kwargs = dict(zip(pairs[::2], pairs[1::2]))
    return df.assign(**kwargs)


def apply_rows(df, func, args, kwargs):
    return df.apply(func, axis=1, args=args, **kwargs)


def series_apply(s, func, args, kwargs):
    return s.apply(func, args=args, **kwargs)


def head_of(parts, n):
    """The first *n* rows across the given leading partitions."""
    out = []
    need = n
    for p in parts:
        if need <= 0:
            break
        out.append(p.head(need))
        need -= len(out[-1])
    return pd.concat(out) if len(out) > 1 else out[0]


def tail_of(part, n):
    return part.tail(n)


def size(df):
    return df.size
