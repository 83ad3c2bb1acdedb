"""The DataFrame, Series and Index collections (the shared base is ``core._Frame``).

Kept apart from ``core.py`` for size only: every method here is a thin layer over
``core.map_partitions`` (pandas methods through ``methods.call_method``), the
reductions in ``reductions.py`` or the families of other modules (``groupby``,
``shuffle``, ``indexing``, imported when first used).  ``core`` re-exports the
classes, so ``from shoal.dataframe.core import DataFrame`` keeps working; import
them from there (this module needs ``core`` to be loaded first).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoal.collection import Collection
from shoal.dataframe import methods
from shoal.dataframe.core import _Frame, map_partitions, no_default
from shoal.delayed import Delayed

__all__ = ["DataFrame", "Index", "Series"]


class _Statistics:
    """Reductions that DataFrame and Series share beyond ``core._Frame``'s."""

    def quantile(self, q=0.5, split_every=None, numeric_only=False):
        """Exact quantiles (each column's non-null values gathered into one task);
        ``numeric_only=True``: of the numeric (and bool) columns only, as in pandas."""
        from shoal.dataframe import reductions

        if numeric_only and isinstance(self._meta, pd.DataFrame):
            self = self[list(self._meta._get_numeric_data().columns)]
        out = reductions.quantile(self, q, split_every=split_every)
        if isinstance(self._meta, pd.DataFrame) and np.ndim(q) == 0:
            return reductions._broadcastable(out, self._meta.columns)
        return out

    def idxmax(self, axis=None, skipna=True, split_every=None):
        """The label of the (first) maximum, by column for a DataFrame."""
        return self._arg_extreme("idxmax", axis, skipna, split_every)

    def idxmin(self, axis=None, skipna=True, split_every=None):
        """The label of the (first) minimum, by column for a DataFrame."""
        return self._arg_extreme("idxmin", axis, skipna, split_every)

    def _arg_extreme(self, how, axis, skipna, split_every):
        from shoal.dataframe import reductions

        if axis in (1, "columns"):
            return self._call(how, axis=1, skipna=skipna)
        return reductions.arg_extreme(self, how, skipna=skipna, split_every=split_every)

    @property
    def shape(self):
        """``(rows, columns)``: the rows a Scalar to compute, as Dask's."""
        from shoal.dataframe.reductions import length

        rows = length(self)
        return (rows,) if self._meta.ndim == 1 else (rows, len(self._meta.columns))


class DataFrame(_Statistics, _Frame):
    """A pandas DataFrame split into partitions along the index."""

    @property
    def columns(self):
        return self._meta.columns

    @columns.setter
    def columns(self, names):
        renamed = self._call("set_axis", list(names), axis=1)
        self._layers, self._name, self._meta = renamed._layers, renamed._name, renamed._meta

    @property
    def dtypes(self):
        return self._meta.dtypes

    def __dir__(self):
        cols = {c for c in self.columns if isinstance(c, str) and c.isidentifier()}
        return sorted(set(dir(type(self))) | cols)

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            meta = object.__getattribute__(self, "_meta")
        except AttributeError:
            raise AttributeError(key) from None
        if key in meta.columns:
            return self[key]
        raise AttributeError(f"'DataFrame' object has no attribute {key!r} (and no column named so;"
                             f" the columns are {list(meta.columns)})")

    def _check_columns(self, keys):
        missing = [k for k in keys if k not in self._meta.columns]
        if missing:
            raise KeyError(f"Column(s) {missing} not found; the columns are {list(self._meta.columns)}")

    def __getitem__(self, key):
        if isinstance(key, _Frame):  # a boolean filter (or a frame-shaped where)
            meta = self._meta if isinstance(key, Series) else None
            return map_partitions(methods.filter_rows, self, key, token="getitem",
                                  meta=meta if meta is not None else no_default)
        if isinstance(key, slice):
            return self.loc[key]
        if isinstance(key, (list, pd.Index, np.ndarray, pd.Series)):
            key = list(key)
            self._check_columns(key)
        else:
            self._check_columns([key])
        return map_partitions(methods.call_method, self, "__getitem__", key, token="getitem",
                              meta=self._meta[key])

    def __setitem__(self, key, value):
        if isinstance(key, list) and isinstance(value, DataFrame):
            value = list(zip(key, [value[c] for c in value.columns]))
            new = self._assign(value)
        else:
            new = self._assign([(key, value)])
        self._layers, self._name, self._meta, self.divisions = (
            new._layers, new._name, new._meta, new.divisions)

    def __delitem__(self, key):
        new = self.drop(columns=[key])
        self._layers, self._name, self._meta = new._layers, new._name, new._meta

    def __iter__(self):
        return iter(self._meta.columns)

    def __contains__(self, key):
        return key in self._meta.columns

    def keys(self):
        return self._meta.columns

    def _assign(self, pairs):
        # in order, as pandas: a callable sees the columns assigned before it (those
        # pending are added first, so one layer per run of non-callables)
        frame, args = self, []
        for k, v in pairs:
            if callable(v) and not isinstance(v, (Collection, Delayed)):
                if args:
                    frame, args = map_partitions(methods.assign, frame, *args, token="assign"), []
                v = v(frame)
            if isinstance(v, DataFrame):
                raise TypeError(f"cannot assign a DataFrame to the single column {k!r}")
            args.extend([k, v])
        return map_partitions(methods.assign, frame, *args, token="assign") if args else frame

    def assign(self, **kwargs):
        """New columns from Series, Scalars, callables (called with this frame) or constants."""
        return self._assign(list(kwargs.items()))

    def select_dtypes(self, include=None, exclude=None):
        cols = list(self._meta.select_dtypes(include=include, exclude=exclude).columns)
        return self[cols]

    def rename(self, mapper=None, columns=None, axis=None, **kwargs):
        if mapper is not None and axis in (1, "columns"):
            columns = mapper
        elif mapper is not None or kwargs.get("index") is not None:
            raise NotImplementedError("only rename(columns=...) is supported on a shoal DataFrame")
        return self._call("rename", columns=columns, **kwargs)

    def drop(self, labels=None, axis=0, columns=None, errors="raise"):
        """Drop columns (``columns=`` or ``axis=1``); dropping rows is not supported."""
        if columns is None and axis in (1, "columns"):
            columns = labels
        if columns is None:
            raise NotImplementedError("drop() only drops columns: pass columns= or axis=1")
        return self._call("drop", columns=columns, errors=errors)

    def apply(self, func, axis=0, meta=no_default, args=(), **kwargs):
        """Row-wise ``apply(func, axis=1)`` in every partition (``meta=`` avoids inference)."""
        if axis not in (1, "columns"):
            raise NotImplementedError("a shoal DataFrame only supports apply(func, axis=1)")
        return map_partitions(methods.apply_rows, self, func, args, kwargs, meta=meta, token="apply")

    # families built in other modules
    def groupby(self, by=None, **kwargs):
        from shoal.dataframe.groupby import GroupBy

        return GroupBy(self, by, **kwargs)

    def merge(self, right, **kwargs):
        from shoal.dataframe.shuffle import merge

        return merge(self, right, **kwargs)

    def join(self, other, on=None, how="left", lsuffix="", rsuffix="", **kwargs):
        from shoal.dataframe.shuffle import join

        return join(self, other, on=on, how=how, lsuffix=lsuffix, rsuffix=rsuffix, **kwargs)

    def shuffle(self, on=None, ignore_index=False, npartitions=None, shuffle_method=None,
                on_index=False):  # fmt: skip
        """Hash-partition the rows so that those with equal *on* (a column or a list of
        columns; the index with ``on_index=True``) share a partition, into *npartitions*
        (default: as many as now).  Dask's spelling and argument order; ``ignore_index``
        and ``shuffle_method`` are taken for its sake (the index is kept; one method)."""
        from shoal.dataframe.shuffle import shuffle

        if (on is None) == (not on_index):
            raise TypeError("shuffle: give the column(s) to shuffle on, or on_index=True, "
                            f"not {'both' if on_index else 'neither'}")
        return shuffle(self, on, npartitions)

    def set_index(self, other, **kwargs):
        from shoal.dataframe.shuffle import set_index

        return set_index(self, other, **kwargs)

    def sort_values(self, by, **kwargs):
        from shoal.dataframe.shuffle import sort_values

        return sort_values(self, by, **kwargs)

    def drop_duplicates(self, subset=None, **kwargs):
        from shoal.dataframe.shuffle import drop_duplicates

        return drop_duplicates(self, subset=subset, **kwargs)

    def to_csv(self, filename, **kwargs):
        """Write CSV files (see ``shoal.dataframe.io.to_csv``)."""
        from shoal.dataframe.io import to_csv

        return to_csv(self, filename, **kwargs)

    def to_parquet(self, path, **kwargs):
        """Write one Parquet file per partition (see ``shoal.dataframe.io.to_parquet``)."""
        from shoal.dataframe.io import to_parquet

        return to_parquet(self, path, **kwargs)

    def to_json(self, url_path, **kwargs):
        """Write JSON-lines files (see ``shoal.dataframe.io.to_json``)."""
        from shoal.dataframe.io import to_json

        return to_json(self, url_path, **kwargs)

    @property
    def loc(self):
        from shoal.dataframe.indexing import LocIndexer

        return LocIndexer(self)

    @property
    def iloc(self):
        """``df.iloc[:, positions]``: columns by position (rows cannot be: use ``loc``)."""
        return _ColumnPositions(self)

    def cov(self, min_periods=None, ddof=1, numeric_only=False, split_every=None):
        """The columns' covariances, each pair over the rows where both are present."""
        from shoal.dataframe.pairwise import pairwise

        frame = self.select_dtypes(["number", "bool"]) if numeric_only else self
        return pairwise(frame, "cov", ddof=ddof, min_periods=min_periods, split_every=split_every)

    def corr(self, method="pearson", min_periods=None, numeric_only=False, split_every=None):
        """The columns' Pearson correlations, each pair over the rows where both are present."""
        from shoal.dataframe.pairwise import pairwise

        if method != "pearson":
            raise NotImplementedError(f"corr(method={method!r}): only 'pearson' is supported")
        frame = self.select_dtypes(["number", "bool"]) if numeric_only else self
        return pairwise(frame, "corr", min_periods=min_periods, split_every=split_every)

    def explode(self, column, ignore_index=False):
        """Each list-like in ``column`` as rows of its own (per partition, index kept)."""
        return methods.exploded(self, column, ignore_index)

    def melt(self, id_vars=None, value_vars=None, var_name=None, value_name="value",
             col_level=None):  # fmt: skip
        """pandas' ``melt`` per partition (wide to long; the index is renumbered, so the
        divisions are unknown)."""
        kwargs = {"id_vars": id_vars, "value_vars": value_vars, "var_name": var_name,
                  "value_name": value_name, "col_level": col_level}  # fmt: skip
        return map_partitions(methods.call_method, self, "melt", meta=self._meta.melt(**kwargs),
                              token="melt", clear_divisions=True, **kwargs)  # fmt: skip

    def categorize(self, columns=None, index=None, split_every=None):
        """Text columns (or *columns*) as categoricals with known categories (reshape.py)."""
        from shoal.dataframe.reshape import categorize

        return categorize(self, columns=columns, index=index, split_every=split_every)

    def query(self, expr, **kwargs):
        """The rows for which ``expr`` holds (pandas' ``DataFrame.query``, per partition)."""
        return self._call("query", expr, **kwargs)

    def eval(self, expr, **kwargs):
        """pandas' ``DataFrame.eval``, per partition (an assignment gives a new frame)."""
        if kwargs.get("inplace"):
            raise NotImplementedError("eval(inplace=True) is not supported; assign the result")
        return self._call("eval", expr, **kwargs)


class _ColumnPositions:
    def __init__(self, frame):
        self.frame = frame

    def __getitem__(self, key):
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None)):
            raise NotImplementedError("iloc selects columns only, as df.iloc[:, positions]; "
                                      "rows by position are not supported (use loc)")
        columns = self.frame._meta.columns[key[1]]
        if not isinstance(columns, pd.Index):  # one position: a Series
            return self.frame[columns]
        return self.frame[list(columns)]


class Series(_Statistics, _Frame):
    """A pandas Series split into partitions along the index."""

    @property
    def name(self):
        return self._meta.name

    @name.setter
    def name(self, value):
        new = self.rename(value)
        self._layers, self._name, self._meta = new._layers, new._name, new._meta

    @property
    def dtype(self):
        return self._meta.dtype

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        if key in ("dt", "str", "cat"):  # the property raised: repeat its informative error
            from shoal.dataframe import accessors

            cls = {"dt": accessors.DatetimeAccessor, "str": accessors.StringAccessor,
                   "cat": accessors.CategoricalAccessor}[key]
            cls(self)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {key!r}")

    def __getitem__(self, key):
        if isinstance(key, _Frame):
            return map_partitions(methods.filter_rows, self, key, token="getitem", meta=self._meta)
        return self.loc[key]

    def between(self, left, right, inclusive="both"):
        return self._call("between", left, right, inclusive=inclusive)

    def map(self, arg, na_action=None, meta=no_default):
        """Map values through a dict, Series or function (``meta=`` avoids inference).
        A dict's or Series' values give the dtype, as values a key missing from it makes
        NaN: an int mapping gives floats (it said int64), a bool one objects."""
        if meta is no_default and isinstance(arg, (dict, pd.Series)) and len(arg):
            values = pd.Series(arg) if isinstance(arg, dict) else arg
            with_missing = values.iloc[:1].reset_index(drop=True).reindex([0, 1])  # (a miss)
            meta = pd.Series([], dtype=with_missing.dtype, name=self.name, index=self._meta.index)
        return map_partitions(methods.call_method, self, "map", arg, na_action=na_action,
                              meta=meta, token="map")

    def apply(self, func, meta=no_default, args=(), **kwargs):
        return map_partitions(methods.series_apply, self, func, args, kwargs, meta=meta, token="apply")

    def to_frame(self, name=no_default):
        return self._call("to_frame", *(() if name is no_default else (name,)))

    def sort_values(self, ascending=True, na_position="last", npartitions=None,
                    split_every=None):  # fmt: skip
        """The values in order (``pandas.Series.sort_values``, stable): a frame's sort of
        its one column (``DataFrame.sort_values``)."""
        from shoal.dataframe.shuffle import sort_values

        column = "__shoal_sort__"  # (a Series may have no name, or a name like a number)
        frame = sort_values(self.to_frame(column), column, ascending=ascending,
                            npartitions=npartitions, na_position=na_position,
                            split_every=split_every)  # fmt: skip
        return frame[column].rename(self.name)

    def rename(self, index=None, sorted_index=False):
        """A new name (scalar *index*), or new index labels (a function/dict/Series)."""
        if index is None or pd.api.types.is_scalar(index) or isinstance(index, tuple):
            return self._call("rename", index)
        from shoal.dataframe.partitioning import new_partitioning

        out = self._call("rename", index)  # (new labels: no longer split like self)
        return new_partitioning(out if sorted_index else out.clear_divisions())

    def value_counts(self, sort=True, ascending=False, dropna=True, normalize=False, split_every=None,
                     split_out=None):
        from shoal.dataframe import reductions, split_out as so

        nout = so.normalize_split_out(split_out, self.npartitions)
        if nout > 1:  # spread over nout partitions by a hash of the values
            return so.series_value_counts(self, nout, sort, ascending, dropna, normalize,
                                          split_every)
        return reductions.value_counts(self, sort=sort, ascending=ascending, dropna=dropna,
                                       normalize=normalize, split_every=split_every)

    def explode(self, ignore_index=False):
        """Each list-like as values of its own (per partition, index kept)."""
        return methods.exploded(self, None, ignore_index)

    def mode(self, dropna=True, split_every=None):
        """The most frequent values, sorted (pandas' ``Series.mode``)."""
        from shoal.dataframe.methods import modes

        counts = self.value_counts(dropna=dropna, sort=False, split_every=split_every)
        return counts.map_partitions(modes, self.name, self._meta.dtype, meta=self._meta.mode(),
                                     token="mode")  # fmt: skip

    def unique(self, split_every=None, split_out=None):
        """The distinct values in order of appearance, as a Series."""
        from shoal.dataframe import reductions, split_out as so

        nout = so.normalize_split_out(split_out, self.npartitions)
        if nout > 1:  # spread over nout partitions by a hash of the values
            return so.series_unique(self, nout, split_every)
        return reductions.unique(self, split_every=split_every)

    def drop_duplicates(self, **kwargs):
        from shoal.dataframe.shuffle import drop_duplicates

        return drop_duplicates(self, **kwargs)

    def groupby(self, by=None, **kwargs):
        from shoal.dataframe.groupby import GroupBy

        return GroupBy(self, by, **kwargs)

    @property
    def dt(self):
        from shoal.dataframe.accessors import DatetimeAccessor

        return DatetimeAccessor(self)

    @property
    def str(self):
        from shoal.dataframe.accessors import StringAccessor

        return StringAccessor(self)

    @property
    def cat(self):
        from shoal.dataframe.accessors import CategoricalAccessor

        return CategoricalAccessor(self)

    @property
    def loc(self):
        from shoal.dataframe.indexing import LocIndexer

        return LocIndexer(self)

    def _footer(self):
        return f"Name: {self.name}, dtype: {self.dtype}\n{self._tasks_text()}"


class Index(Series):
    """The index of a partitioned frame (one pandas Index per partition)."""

    def __getattr__(self, key):
        # a time index's fields (year, hour, day_of_week, ...), element by element; not
        # its other properties (nbytes, is_monotonic_increasing: per partition they lie)
        if key in _TIME_FIELDS and isinstance(self._meta, (pd.DatetimeIndex, pd.TimedeltaIndex,
                                                           pd.PeriodIndex)):  # fmt: skip
            import operator

            return map_partitions(operator.attrgetter(key), self, token=f"index-{key}")
        return super().__getattr__(key)

    def to_series(self):
        return self._call("to_series")

    def to_frame(self, name=no_default):
        return self._call("to_frame", *(() if name is no_default else (name,)))


#: the element-wise fields of a time index that ``Index.__getattr__`` gives per partition
_TIME_FIELDS = frozenset({
    "year", "month", "day", "hour", "minute", "second", "microsecond", "nanosecond",
    "day_of_week", "dayofweek", "weekday", "day_of_year", "dayofyear", "quarter",
    "days_in_month", "daysinmonth", "is_month_start", "is_month_end", "is_quarter_start",
    "is_quarter_end", "is_year_start", "is_year_end", "is_leap_year", "date", "time",
    "days", "seconds", "microseconds", "nanoseconds", "start_time", "end_time",
})  # fmt: skip
