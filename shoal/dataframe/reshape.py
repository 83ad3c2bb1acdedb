"""Reshaping whose output columns come from the data: dummies, pivot tables, categories.

A frame's schema must be known before anything runs, so ``get_dummies`` and
``pivot_table`` -- whose columns are the *values* of a column -- take that
column as a categorical whose categories the schema knows (as Dask does); they
refuse other columns with an error saying how to get there:

- :func:`categorize` (``DataFrame.categorize``) computes, in one tree reduction,
  the distinct values of the chosen text / unknown-categorical columns (and of
  the index), and casts each partition to categoricals with those categories,
  sorted as ``astype("category")`` of the whole data sorts them;
- :func:`as_known` (``Series.cat.as_known()``) does the same for one Series, and
  :func:`as_unknown` forgets the categories again (the schema only).

``get_dummies`` then runs pandas' ``get_dummies`` per partition: every category
becomes a column in every partition, present or not, so the partitions agree.

``pivot_table`` is a tree reduction: each partition groups its rows by
``(index, columns)`` and aggregates ``values`` (sum, count, first, last; mean as
sum and count), partials are combined by the same rule, and the last step
spreads the categories out as columns (all of them, in the categorical's order,
as Dask) -- one output partition with unknown divisions; numeric values only (text
is refused).  Cells are pandas' (``observed=False``): a sum or count of ints is int64
(0 where no row); first and last keep an int column's dtype where no cell is missing
(the schema says float64: the categories with no rows are missing cells).
"""

from __future__ import annotations

import pandas as pd

from shoal.dataframe._meta import nonempty
from shoal.dataframe.core import _Frame, map_partitions, new_collection

__all__ = ["as_known", "as_unknown", "categorize", "get_dummies", "pivot_table"]


def _texty(dtype) -> bool:
    return dtype == object or isinstance(dtype, pd.StringDtype)


def _unknown_categorical(dtype) -> bool:
    return isinstance(dtype, pd.CategoricalDtype) and len(dtype.categories) == 0


# -- categories ---------------------------------------------------------------------------

def _distinct(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(values.cat.categories.dtype)
    return values.dropna().drop_duplicates()


def _distinct_chunk(part, columns, index):
    out = {c: _distinct(part[c]) for c in columns}
    if index:
        out[None] = _distinct(part.index.to_series())
    return out


def _distinct_combine(chunks):
    return {k: pd.concat([c[k] for c in chunks], ignore_index=True).drop_duplicates()
            for k in chunks[0]}


def _category_dtype(values: pd.Series, ordered=False) -> pd.CategoricalDtype:
    """Categories as ``astype("category")`` of the whole data gives (sorted when it can)."""
    cats = pd.Index(values.to_numpy() if values.dtype == object else values.array)
    try:
        cats = cats.sort_values()
    except TypeError:
        pass
    return pd.CategoricalDtype(cats, ordered=ordered)


def _distinct_values(frame, columns, index, split_every=None) -> dict:
    from shoal.dataframe.reductions import reduction

    if isinstance(frame._meta, pd.Series):
        frame = frame.to_frame(name="__values__")
        columns = ["__values__"]
    out = reduction(frame, _distinct_chunk, _distinct_combine, token="categorize",
                    meta=pd.DataFrame(), split_every=split_every,
                    chunk_kwargs={"columns": list(columns), "index": index})
    return _first_value(out)


def _first_value(collection):
    from shoal.base import compute

    (parts,) = compute(collection.to_delayed()[0])
    return parts


def _named_columns(meta, columns, what: str) -> list:
    """*columns* (one label or a list) as a list, each a column of *meta*, else a KeyError."""
    columns = [columns] if not isinstance(columns, (list, tuple, pd.Index)) else list(columns)
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        raise KeyError(f"{what}(columns=...): no columns {missing} in the frame "
                       f"(columns: {list(meta.columns)})")
    return columns


def categorize(df, columns=None, index=None, split_every=None):
    """*df* with the chosen columns (default: text columns and categoricals whose categories
    are unknown) and, with ``index=True`` (default: when it holds text), its index made
    categoricals with known categories.  Computes the distinct values now (as Dask)."""
    meta = df._meta
    if not isinstance(meta, pd.DataFrame):
        raise TypeError("categorize is a DataFrame method; for a Series use s.cat.as_known() "
                        "or s.astype('category').cat.as_known()")
    if columns is None:
        columns = [c for c, dt in meta.dtypes.items() if _texty(dt) or _unknown_categorical(dt)]
    else:
        columns = [c for c in _named_columns(meta, columns, "categorize")
                   if not isinstance(meta[c].dtype, pd.CategoricalDtype) or _unknown_categorical(meta[c].dtype)]
    if index is None:
        index = _texty(meta.index.dtype) or _unknown_categorical(meta.index.dtype)
    if not columns and not index:
        return df
    found = _distinct_values(df, columns, bool(index), split_every)
    dtypes = {c: _category_dtype(found[c], getattr(meta[c].dtype, "ordered", False) or False)
              for c in columns}
    out = df.astype(dtypes) if dtypes else df
    if index:
        dtype = _category_dtype(found[None])
        idx_meta = out._meta.set_axis(out._meta.index.astype(dtype))
        out = map_partitions(_index_as, out, dtype, meta=idx_meta, token="categorize-index")
    return out


def _index_as(part, dtype):
    return part.set_axis(part.index.astype(dtype))


def as_known(series, **kwargs):
    """``s.cat.as_known()``: the categories computed from the data (now, as Dask)."""
    dtype = series._meta.dtype
    if not isinstance(dtype, pd.CategoricalDtype):
        raise TypeError(f"cat.as_known() needs a categorical Series, got dtype {dtype}")
    if len(dtype.categories):
        return series
    found = _distinct_values(series, None, False, kwargs.get("split_every"))
    return series.astype(_category_dtype(found["__values__"], dtype.ordered))


def as_unknown(series):
    """``s.cat.as_unknown()``: the same data, the schema no longer lists the categories."""
    meta = series._meta
    if _unknown_categorical(meta.dtype):
        return series
    unknown = meta.cat.set_categories([])
    return new_collection(series._layers, series._name, unknown, series.divisions)


# -- get_dummies ----------------------------------------------------------------------------

_NOT_CATEGORICAL = ("get_dummies needs categorical columns with known categories (the output "
                    "columns are the categories, and every partition must make the same ones)")


def _dummies(part, kwargs):
    return pd.get_dummies(part, **kwargs)


def get_dummies(data, prefix=None, prefix_sep="_", dummy_na=False, columns=None, sparse=False,
                drop_first=False, dtype=bool, **kwargs):  # fmt: skip
    """pandas' ``get_dummies`` of categorical columns with known categories, per partition.

    Text and unknown-categorical columns are refused (``df.categorize()`` or
    ``s.cat.as_known()`` first); pandas objects get pandas' answer.
    """
    options = {"prefix": prefix, "prefix_sep": prefix_sep, "dummy_na": dummy_na,
               "columns": columns, "sparse": sparse, "drop_first": drop_first, "dtype": dtype,
               **kwargs}  # fmt: skip
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return pd.get_dummies(data, **options)
    if not isinstance(data, _Frame) or isinstance(data._meta, pd.Index):
        raise TypeError(f"get_dummies(data=...) takes a shoal DataFrame or Series, got "
                        f"{type(data).__name__}")
    meta = data._meta
    if isinstance(meta, pd.Series):
        if columns is not None:
            raise ValueError("get_dummies(columns=...) applies to a DataFrame, not a Series")
        checked = {meta.name: meta.dtype}
        what = f"the Series {meta.name!r}"
    else:
        if columns is None:
            chosen = [c for c, dt in meta.dtypes.items()
                      if _texty(dt) or isinstance(dt, pd.CategoricalDtype)]
        else:
            chosen = _named_columns(meta, columns, "get_dummies")
        checked = {c: meta[c].dtype for c in chosen}
        what = "columns"
    plain = [c for c, dt in checked.items() if not isinstance(dt, pd.CategoricalDtype)]
    if plain:
        raise NotImplementedError(
            f"{_NOT_CATEGORICAL}; {what} {plain} have dtypes "
            f"{[str(checked[c]) for c in plain]}: use df.categorize(columns={plain}) "
            "(or .astype(pd.CategoricalDtype([...]))) first")
    unknown = [c for c, dt in checked.items() if _unknown_categorical(dt)]
    if unknown:
        raise NotImplementedError(
            f"{_NOT_CATEGORICAL}; {what} {unknown} have unknown categories: use "
            "column.cat.as_known() or df.categorize() first")
    out_meta = pd.get_dummies(meta, **options)
    return map_partitions(_dummies, data, options, meta=out_meta, token="get-dummies")


# -- pivot_table -------------------------------------------------------------------------------

_AGGFUNCS = ("mean", "sum", "count", "first", "last")


def _grouped(part, index, columns, values, how):
    grouped = part.groupby([index, columns], observed=True, sort=False, dropna=True)[values]
    return getattr(grouped, how)()


def _pivot_chunk(part, index, columns, values, aggfunc):
    if aggfunc == "mean":
        return (_grouped(part, index, columns, values, "sum"),
                _grouped(part, index, columns, values, "count"))
    return (_grouped(part, index, columns, values, aggfunc),)


def _merge_partials(partials, how):
    both = pd.concat(partials)
    return getattr(both.groupby(level=[0, 1], sort=False, observed=True), how)()


def _pivot_combine(chunks, aggfunc):
    hows = ("sum", "sum") if aggfunc == "mean" else ("sum" if aggfunc == "count" else aggfunc,)
    return tuple(_merge_partials([c[k] for c in chunks], how) for k, how in enumerate(hows))


def _spread(partial, meta):
    if not len(partial):
        return meta
    out = partial.unstack(level=1)
    if isinstance(out.columns, pd.MultiIndex):  # (value, category) pairs, as the schema's
        out.columns = pd.MultiIndex.from_tuples(list(out.columns))
    out = out.reindex(columns=meta.columns)  # (ints stay ints unless a cell is missing)
    out.columns = meta.columns
    out = out.sort_index()
    out.index = out.index.astype(meta.index.dtype) if len(out) else out.index
    if isinstance(meta.index.dtype, pd.CategoricalDtype) and len(meta.index.dtype.categories):
        out = out.reindex(pd.CategoricalIndex(meta.index.dtype.categories, dtype=meta.index.dtype))
    out.index.name = meta.index.name
    return out


def _pivot_aggregate(chunks, aggfunc, meta):
    combined = _pivot_combine(chunks, aggfunc)
    if aggfunc == "mean":
        total, count = (_spread(p, meta) for p in combined)
        return total / count
    out = _spread(combined[0], meta)
    if aggfunc in ("sum", "count"):  # (0 where no row, in the schema's dtype: int stays int)
        out = out.fillna(0)
        for k, dtype in enumerate(meta.dtypes):
            out.isetitem(k, out.iloc[:, k].astype(dtype))
    return out


def _pivot_meta(meta, index, columns, values, aggfunc):
    """The schema: a column per category (per value and category for a list of values);
    float64 but for sum and count, pandas' dtypes of them (int64 for int values)."""
    cats = pd.CategoricalIndex(meta[columns].cat.categories, dtype=meta[columns].dtype, name=columns)
    if isinstance(values, list):  # (the value level sorted, as pandas' is)
        values = sorted(values, key=str)
        cols = pd.MultiIndex.from_arrays(
            [pd.Index([v for v in values for _ in cats]), pd.CategoricalIndex(
                list(cats) * len(values), dtype=cats.dtype, name=columns)], names=[None, columns])
    else:
        cols = cats
    empty_index = pd.Index(meta[index].iloc[:0], name=index)
    out = pd.DataFrame(pd.DataFrame(index=empty_index, columns=cols), dtype="float64")
    if aggfunc in ("sum", "count"):
        sample = nonempty(meta).groupby(index)[values]
        dtypes = getattr(sample, aggfunc)().dtypes  # (a Series' one dtype, or one per value)
        for k, column in enumerate(cols):
            dtype = dtypes[column[0]] if isinstance(values, list) else dtypes
            out.isetitem(k, out.iloc[:, k].astype(dtype))
    return out


def pivot_table(df, index=None, columns=None, values=None, aggfunc="mean"):
    """pandas' ``pivot_table`` for one ``index`` column, one categorical ``columns`` column
    with known categories and ``values`` one column or a list, aggfunc mean, sum, count,
    first or last: one output partition with a column per category (all of them)."""
    if not isinstance(df, _Frame) or not isinstance(df._meta, pd.DataFrame):
        raise TypeError(f"pivot_table(df=...) takes a shoal DataFrame, got {type(df).__name__}")
    meta = df._meta
    if not isinstance(index, (str, int, float)) or index not in meta.columns:
        raise ValueError(f"pivot_table: index must be the name of one existing column, got {index!r}")
    if not isinstance(columns, (str, int, float)) or columns not in meta.columns:
        raise ValueError(f"pivot_table: columns must be the name of one existing column, got "
                         f"{columns!r}")
    dtype = meta[columns].dtype
    if not isinstance(dtype, pd.CategoricalDtype):
        raise ValueError(f"pivot_table: columns={columns!r} must be a categorical column (its "
                         f"categories become the output columns), got dtype {dtype}; use "
                         f"df.categorize(columns=[{columns!r}]) first")
    if _unknown_categorical(dtype):
        raise ValueError(f"pivot_table: columns={columns!r} has unknown categories; use "
                         f"df.categorize(columns=[{columns!r}]) or .cat.as_known() first")
    if isinstance(values, (list, tuple, pd.Index)):
        values = list(values)
        bad = [v for v in values if v not in meta.columns]
    else:
        bad = [] if values in meta.columns else [values]
    if values is None or bad or (isinstance(values, list) and not values):
        raise ValueError(f"pivot_table: values must be an existing column or a list of them; "
                         f"not found: {bad or values!r}")
    numeric = [v for v in (values if isinstance(values, list) else [values])
               if pd.api.types.is_numeric_dtype(meta[v].dtype)]
    if len(numeric) < (len(values) if isinstance(values, list) else 1):
        other = [v for v in (values if isinstance(values, list) else [values]) if v not in numeric]
        raise ValueError(f"pivot_table: values must be numeric columns (the table is float64); "
                         f"{other} are {[str(meta[v].dtype) for v in other]}")
    if not isinstance(aggfunc, str) or aggfunc not in _AGGFUNCS:
        raise ValueError(f"pivot_table: aggfunc must be one of {list(_AGGFUNCS)}, got {aggfunc!r}")
    from shoal.dataframe.reductions import reduction

    out_meta = _pivot_meta(meta, index, columns, values, aggfunc)
    kw = {"index": index, "columns": columns, "values": values, "aggfunc": aggfunc}
    return reduction(df, _pivot_chunk, _pivot_aggregate, _pivot_combine, token="pivot-table",
                     meta=out_meta, chunk_kwargs=kw, combine_kwargs={"aggfunc": aggfunc},
                     aggregate_kwargs={"aggfunc": aggfunc, "meta": out_meta})

