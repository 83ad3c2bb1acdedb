"""Metadata: the empty pandas object that stands for a collection's schema.

Every shoal DataFrame/Series carries ``_meta``: a zero-row pandas object with the
right columns, dtypes, name and index type.  Operations learn their output
schema by running the same pandas code on metadata instead of on data:

- :func:`make_meta` turns a pandas object (or a ``{column: dtype}`` /
  ``(name, dtype)`` description, as users pass to ``meta=``) into metadata;
- :func:`nonempty` builds a tiny two-row stand-in with the same schema, for
  functions that fail on empty input (``apply(axis=1)``, string indexing...);
- :func:`infer` runs a function on metadata, then on the stand-in, and
  raises a clear error asking for ``meta=`` when both fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["infer", "make_meta", "nonempty", "scalar_meta"]


def make_meta(x, index=None):
    """Zero-row metadata for *x*.

    >>> make_meta({"a": "i8", "b": "f8"}).dtypes.to_dict()
    {'a': dtype('int64'), 'b': dtype('float64')}
    >>> make_meta(("x", "f8"))
    Series([], Name: x, dtype: float64)
    """
    if isinstance(x, (pd.DataFrame, pd.Series, pd.Index)):
        return x.iloc[:0] if not isinstance(x, pd.Index) else x[:0]
    idx = index if index is not None else pd.RangeIndex(0)
    if isinstance(x, dict):
        return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in x.items()}, index=idx)
    if isinstance(x, (list,)) and all(isinstance(i, tuple) and len(i) == 2 for i in x):
        return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in x}, index=idx)
    if isinstance(x, tuple) and len(x) == 2:
        return pd.Series([], dtype=x[1], name=x[0], index=idx)
    if isinstance(x, (str, np.dtype, type)) and not isinstance(x, type(pd.DataFrame)):
        return scalar_meta(np.dtype(x) if not isinstance(x, str) or x != "object" else np.dtype("O"))
    return x  # a scalar sample value


def scalar_meta(dtype):
    """A sample scalar of *dtype* standing for a Scalar's schema."""
    dtype = np.dtype(dtype)
    if dtype.kind in "O":
        return "a"
    return np.zeros(1, dtype=dtype)[0]


def _nonempty_values(dtype, n=2):
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        value = cats[0] if len(cats) else "a"
        return pd.Categorical([value] * n, categories=cats if len(cats) else ["a"])
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pd.array([pd.Timestamp("2000-01-01", tz=dtype.tz)] * n, dtype=dtype)
    kind = getattr(dtype, "kind", "O")
    if kind == "M":
        return pd.array([pd.Timestamp("2000-01-01")] * n).astype(dtype)
    if kind == "m":
        return pd.array([pd.Timedelta("1s")] * n).astype(dtype)
    if kind == "b":
        return pd.array([True, False][:n] + [True] * max(0, n - 2), dtype=dtype)
    if kind in "iu":
        return pd.array(list(range(1, n + 1)), dtype=dtype)
    if kind in "fc":
        return pd.array([1.0 + i for i in range(n)], dtype=dtype)
    return pd.array(["a", "b"][:n] + ["a"] * max(0, n - 2), dtype=dtype)


def _nonempty_index(index, n=2):
    if isinstance(index, pd.RangeIndex):
        return pd.RangeIndex(n, name=index.name)
    return pd.Index(_nonempty_values(index.dtype, n), name=index.name)


def nonempty(meta):
    """A two-row object with the schema of *meta* (for inferring outputs)."""
    if isinstance(meta, pd.DataFrame):
        idx = _nonempty_index(meta.index)
        data = {i: _nonempty_values(dt) for i, dt in enumerate(meta.dtypes)}
        out = pd.DataFrame(data, index=idx)
        out.columns = meta.columns
        return out
    if isinstance(meta, pd.Series):
        return pd.Series(_nonempty_values(meta.dtype), index=_nonempty_index(meta.index), name=meta.name)
    if isinstance(meta, pd.Index):
        return _nonempty_index(meta)
    return meta


def infer(func, args, kwargs, what: str):
    """Metadata of ``func(*args, **kwargs)`` where frames in args are metadata."""
    try:
        return make_meta(func(*args, **kwargs))
    except Exception:
        pass
    try:
        sample = func(*[nonempty(a) for a in args], **kwargs)
    except Exception as exc:
        raise ValueError(
            f"shoal could not infer the output of {what} by running it on an empty "
            f"sample ({type(exc).__name__}: {exc}). Pass meta= describing the output, "
            "e.g. meta=('name', 'f8') for a Series or meta={'col': 'i8'} for a DataFrame."
        ) from exc
    return make_meta(sample)
