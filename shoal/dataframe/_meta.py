"""Metadata: the empty pandas object that stands for a collection's schema.

Every shoal DataFrame/Series carries ``_meta``: a zero-row pandas object with the
right columns, dtypes, name and index type (a Scalar carries a sample value of
its type instead).  Operations learn their output schema by running the same
pandas code on metadata instead of on data:

- :func:`make_meta` turns a pandas object (or a ``{column: dtype}`` /
  ``[(column, dtype), ...]`` / ``(name, dtype)`` / dtype description, as users
  pass to ``meta=``) into metadata;
- :func:`nonempty` builds a tiny two-row stand-in with the same schema and
  *distinct* values (so an index built from it is unique), for functions whose
  output type depends on seeing data (``apply``, ``map``, string methods...);
- :func:`infer` runs a function on the stand-ins (their result has the dtypes
  real data gives); a user function that fails there raises a ``ValueError``
  asking for ``meta=``, while shoal's own kernels also try the empty metadata
  and then re-raise pandas' own error.  Warnings raised while inferring are
  silenced: the stand-in data is not the user's.
- :func:`scalar_dtype` is the dtype a Scalar reports for its sample value.
"""

from __future__ import annotations

import datetime
import decimal
import warnings

import numpy as np
import pandas as pd

__all__ = ["check_unique_columns", "infer", "is_meta_like", "labelled", "make_meta",
           "meta_from_value", "nonempty", "scalar_dtype", "scalar_meta"]


def is_meta_like(x) -> bool:
    return isinstance(x, (pd.DataFrame, pd.Series, pd.Index))


def make_meta(x, index=None):
    """Zero-row metadata for *x*.

    >>> make_meta({"a": "i8", "b": "f8"}).dtypes.to_dict()
    {'a': dtype('int64'), 'b': dtype('float64')}
    >>> make_meta(("x", "f8"))
    Series([], Name: x, dtype: float64)
    """
    if isinstance(x, (pd.DataFrame, pd.Series)):
        return x.iloc[:0]
    if isinstance(x, pd.Index):
        return x[:0]
    idx = index[:0] if index is not None else pd.RangeIndex(0)
    if isinstance(x, dict):
        return pd.DataFrame({c: pd.Series([], dtype=d, index=idx) for c, d in x.items()},
                            index=idx, columns=list(x))
    if isinstance(x, list) and x and all(isinstance(i, tuple) and len(i) == 2 for i in x):
        return make_meta(dict(x), index)
    if isinstance(x, tuple) and len(x) == 2:
        return pd.Series([], dtype=x[1], name=x[0], index=idx)
    if isinstance(x, (str, np.dtype, pd.api.extensions.ExtensionDtype)) or (
            isinstance(x, type) and issubclass(x, (np.generic, int, float, bool, complex, str))):
        return scalar_meta(x)
    return x  # a scalar sample value


def scalar_meta(dtype):
    """A sample scalar of *dtype* standing for a Scalar's schema."""
    dtype = pd.api.types.pandas_dtype(dtype)
    if isinstance(dtype, np.dtype) and dtype.kind not in "OSUV":
        return np.zeros(1, dtype=dtype)[0]
    return _nonempty_values(dtype, 1)[0]


def scalar_dtype(value):
    """The dtype a Scalar with sample *value* reports."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        return dtype
    if isinstance(value, pd.Timestamp):
        unit = value.unit
        return pd.DatetimeTZDtype(unit, value.tz) if value.tz else np.dtype(f"M8[{unit}]")
    if isinstance(value, pd.Timedelta):
        return np.dtype(f"m8[{value.unit}]")
    if isinstance(value, (bool, int, float, complex)):
        return np.dtype(type(value))
    return np.dtype("O")


def _nonempty_values(dtype, n=2):
    if isinstance(dtype, pd.IntervalDtype):
        closed = dtype.closed or "right"
        breaks = _nonempty_values(pd.api.types.pandas_dtype(dtype.subtype or "int64"), n + 1)
        return pd.arrays.IntervalArray.from_breaks(breaks, closed=closed).astype(dtype)
    if isinstance(dtype, pd.ArrowDtype) and (values := _arrow_values(dtype.pyarrow_dtype, n)):
        return pd.array(values, dtype=dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        if len(cats):
            codes = [i % len(cats) for i in range(n)]
            return pd.Categorical.from_codes(codes, dtype=dtype)
        return pd.Categorical([UNKNOWN_CATEGORY] * n, ordered=dtype.ordered)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pd.array(pd.date_range("2000-01-01", periods=n, tz=dtype.tz)).astype(dtype)
    kind = getattr(dtype, "kind", "O")
    if kind == "M":
        return pd.array(pd.date_range("2000-01-01", periods=n)).astype(dtype)
    if kind == "m":
        return pd.array(pd.timedelta_range("1s", periods=n)).astype(dtype)
    if kind == "b":
        return pd.array(([True, False] * n)[:n], dtype=dtype)
    if kind in "iu":
        return pd.array(list(range(1, n + 1)), dtype=dtype)
    if kind in "fc":
        return pd.array([1.0 + i for i in range(n)], dtype=dtype)
    if isinstance(dtype, pd.PeriodDtype):
        return pd.array(pd.period_range("2000-01-01", periods=n, freq=dtype.freq))
    try:
        return pd.array([f"{chr(ord('a') + i % 26)}" for i in range(n)], dtype=dtype)
    except (TypeError, ValueError):
        return pd.array([None] * n, dtype=dtype)


def _arrow_values(patype, n):
    """*n* distinct Python values of the pyarrow type *patype* that pandas' generic
    stand-ins cannot make (they would be all missing), or None."""
    import pyarrow as pa

    types = pa.types
    if types.is_decimal(patype):
        return [decimal.Decimal(i + 1) for i in range(n)]
    if types.is_time(patype):
        return [datetime.time(i % 24, i // 24 % 60) for i in range(n)]
    if types.is_list(patype) or types.is_large_list(patype) or types.is_fixed_size_list(patype):
        size = patype.list_size if types.is_fixed_size_list(patype) else 1
        inner = list(_nonempty_values(pd.ArrowDtype(patype.value_type), n))
        return [[v] * size for v in inner]
    if types.is_struct(patype):
        fields = [patype.field(i) for i in range(patype.num_fields)]
        columns = {f.name: list(_nonempty_values(pd.ArrowDtype(f.type), n)) for f in fields}
        return [{name: vals[i] for name, vals in columns.items()} for i in range(n)]
    return None


#: The one category of an unknown categorical's stand-in values: what a function makes
#: of them is known to be unknown again afterwards (:func:`forget_stand_in_categories`),
#: so no stand-in passes as a real category (get_dummies would make columns of it).
UNKNOWN_CATEGORY = "__UNKNOWN_CATEGORIES__"


def forget_stand_in_categories(meta):
    """*meta* with every categorical of the stand-in category unknown again (no categories)."""
    def unknown(dtype):
        return isinstance(dtype, pd.CategoricalDtype) and UNKNOWN_CATEGORY in dtype.categories

    def forget(dtype):
        return pd.CategoricalDtype([], ordered=dtype.ordered)

    if isinstance(meta, pd.DataFrame):
        columns = [i for i, dt in enumerate(meta.dtypes) if unknown(dt)]
        if columns:
            meta = meta.copy()
            for i in columns:
                meta.isetitem(i, meta.iloc[:, i].astype(forget(meta.dtypes.iloc[i])))
    elif isinstance(meta, pd.Series) and unknown(meta.dtype):
        meta = meta.astype(forget(meta.dtype))
    if isinstance(meta, (pd.DataFrame, pd.Series)) and unknown(meta.index.dtype):
        meta = meta.copy()
        meta.index = meta.index.astype(forget(meta.index.dtype))
    elif isinstance(meta, pd.Index) and unknown(meta.dtype):
        meta = meta.astype(forget(meta.dtype))
    return meta


def _stand_in(dtype, n, **kwargs):
    """A Series of *n* stand-in values of *dtype* (unknown categories: :data:`UNKNOWN_CATEGORY`)."""
    unknown = isinstance(dtype, pd.CategoricalDtype) and not len(dtype.categories)
    return pd.Series(_nonempty_values(dtype, n), dtype=None if unknown else dtype, **kwargs)


def _nonempty_index(index, n=2):
    if isinstance(index, pd.RangeIndex):
        return pd.RangeIndex(n, name=index.name)
    if isinstance(index, pd.MultiIndex):
        levels = [_nonempty_index(lvl, n) for lvl in index.levels]
        return pd.MultiIndex.from_arrays(levels, names=index.names)
    return pd.Index(_nonempty_values(index.dtype, n), name=index.name)


def nonempty(meta):
    """A two-row object with the schema of *meta* (for inferring outputs).

    Metadata that already has rows (a reduction result's labels) comes back as it is.
    """
    if is_meta_like(meta) and len(meta):
        return meta
    if isinstance(meta, pd.DataFrame):
        idx = _nonempty_index(meta.index)
        data = {i: _stand_in(dt, 2, index=idx) for i, dt in enumerate(meta.dtypes)}
        out = pd.DataFrame(data, index=idx)
        out.columns = meta.columns
        out.attrs = meta.attrs
        return out
    if isinstance(meta, pd.Series):
        return _stand_in(meta.dtype, 2, index=_nonempty_index(meta.index), name=meta.name)
    if isinstance(meta, pd.Index):
        return _nonempty_index(meta)
    return meta


def labelled(meta, labels):
    """A stand-in Series with the schema of *meta* and the index *labels*."""
    return _stand_in(meta.dtype, len(labels), index=labels, name=meta.name)


def _call_quietly(func, args, kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _swap(obj, convert):
    """Apply *convert* to metadata inside *obj* (one level of lists/tuples/dicts)."""
    if is_meta_like(obj):
        return convert(obj)
    t = type(obj)
    if t is list or t is tuple:
        return t(_swap(o, convert) for o in obj)
    if t is dict:
        return {k: _swap(v, convert) for k, v in obj.items()}
    return obj


def meta_from_value(value):
    """Metadata for a computed sample: pandas objects emptied (a stand-in category unknown
    again), anything else as it is."""
    return forget_stand_in_categories(make_meta(value)) if is_meta_like(value) else value


def _check(result, what):
    if hasattr(result, "__dask_graph__") or hasattr(result, "__shoal_graph__"):
        raise TypeError(f"{what} returned a lazy collection, not a pandas object or a value")
    return meta_from_value(result)


def infer(func, args, kwargs, what: str, udf=True):
    """Metadata of ``func(*args, **kwargs)`` where frames in args/kwargs are metadata.

    A user function (*udf*) runs on the stand-ins only: on empty frames many
    never run at all (``apply``), so their output would say nothing.  shoal's
    own kernels (pandas methods, operators) also try the empty metadata, and
    when both fail re-raise pandas' error (a bad argument, an unknown column).
    """
    try:
        sample = _call_quietly(func, _swap(list(args), nonempty), _swap(kwargs, nonempty))
        return _check(sample, what)
    except Exception as exc:
        first = exc
    if not udf:
        try:
            return _check(_call_quietly(func, list(args), kwargs), what)
        except Exception:
            pass
        raise first
    raise ValueError(
        f"shoal could not infer the output of {what} by running it on sample data "
        f"({type(first).__name__}: {first}). Pass meta= describing the output, e.g. "
        "meta=('name', 'f8') for a Series, meta={'col': 'i8'} for a DataFrame, or an "
        "empty pandas object."
    ) from first


def check_unique_columns(meta, what: str) -> None:
    """Raise ValueError naming the repeated labels when *meta*'s columns repeat one: the
    reductions and group-bys that select columns by label would take each twice (a bare
    "Length of values (4) does not match length of index (2)" from deep inside)."""
    columns = getattr(meta, "columns", None)
    if columns is not None and not columns.is_unique:
        repeated = list(dict.fromkeys(columns[columns.duplicated()]))
        raise ValueError(f"{what}: the column names {repeated} appear more than once; give "
                         "each column its own name first (df.columns = [...])")

