"""Group-by aggregations as tree reductions (``df.groupby(by).agg(...)``).

::

    df.groupby("k").v.mean()

    partitions:  p0        p1        p2   ...  p8
    chunk:       stats0    stats1    stats2    stats8    one row per group seen in the partition
    combine:     [stats0..stats7] -> merged  [stats8]   split_every pieces at a time
    aggregate:   merge, final formulas, sort_index     one pandas object, one partition

The output is a one-partition shoal Series/DataFrame (unknown divisions) whose
``compute()`` equals pandas' result on the whole data: same index (names and,
with ``sort=True``, order), columns and dtypes.  Memory is bounded by the
number of groups (times ``split_every``), never by the number of rows.  There
is no shuffle: with ``split_out=N`` (``True``: one per input partition) the
partial statistics are routed by a hash of the keys to N outputs, each its own
tree reduction (``split_out.py``), for very many groups (millions).  As in Dask,
``sort=None`` (the default) sorts a one-partition result and leaves N > 1
partitions in hash order (each sorted inside); an explicit ``sort=True`` keeps
one partition.

Per aggregation, the partial statistics a chunk computes (pandas' own
``groupby`` on the partition), how ``combine`` merges them (concat, then a
``groupby(level=keys)``) and the final formula (kernels in
``_groupby_stats.py``)::

    size            size                  sum                 size
    count           count                 sum                 count
    sum / prod      sum / prod            sum / prod          as is
    min / max       min / max             min / max           as is
    first / last    first / last non-null first / last        as is (partition order)
    mean            n, mean, M2           Chan's formula      mean
    var / std       n, mean, M2           Chan's formula      M2 / (n - ddof), sqrt
    nunique         distinct (keys, v)    drop_duplicates     groupby(keys).v.nunique()

Metadata: every aggregation is first run by pandas on a two-row stand-in of the
data (``_meta.nonempty``), which gives the output's column names, index names
and dtypes, and raises pandas' own errors when the expression is written (mean
of a string column: ``TypeError``); the plan of partial statistics follows the
stand-in's column layout.  ``numeric_only`` therefore behaves as in pandas.

Keys: column labels, or shoal Series aligned with the frame (same partitions,
e.g. ``df.a % 3``); the latter are attached partition-wise as temporary
columns, and the result's index takes the Series' names back.  ``sort``,
``dropna`` and ``observed`` are passed to pandas at every step.

``nunique`` carries distinct ``(keys, value)`` pairs rather than one row per
group, so its memory is bounded by the number of such pairs.  Partial sums skip
all-null groups (``min_count=1``) and the final step fills pandas' empty sum
back (0, ``''``), so object columns of strings concatenate as in pandas.

``median`` (also inside ``agg``) and the row-aligned ``cumsum``, ``cumprod``,
``cummax``, ``cummin``, ``cumcount`` and ``shift`` are built in ``groupby_scan.py``.

``apply`` and ``transform`` need each group whole: the rows are first shuffled by
the keys (``shuffle.shuffle``, hash partitions), then pandas' own method runs per
partition; pandas' row order is then kept or restored (``groupby_order.py``: for
``apply`` sorted by the keys, the shuffle is by ranges of the keys instead, so the
partitions list the groups in order; ``transform`` goes back to the frame's partitions).

Custom ``dd.Aggregation`` objects in ``agg`` (alone or mixed with names) are built in
``aggregation.py``.

``level=0`` (or a key naming the index) groups by the index; ``value_counts``, ``unique``,
``idxmax``, ``get_group``, ``head``, ``ffill``, ``rolling``, ... are in ``groupby_more.py``.

Not supported (clear errors): plain callables in ``agg``, ``as_index=False``,
``mean``/``var``/``std`` of datetime or timedelta columns,
keyword arguments other than ``numeric_only``, ``ddof`` and ``dropna``
(``nunique``).  ``group_keys`` goes to pandas (it only affects ``apply``).
"""

from __future__ import annotations

from functools import partial
from importlib import import_module

import pandas as pd

from shoal.dataframe import _groupby_stats as stats
from shoal.dataframe._meta import check_unique_columns, make_meta, nonempty
from shoal.dataframe.core import DataFrame, Series, _Frame, map_partitions
from shoal.dataframe.reductions import reduction
from shoal.dataframe.split_out import normalize_split_out, split_reduction

__all__ = ["DataFrameGroupBy", "GroupBy", "SeriesGroupBy"]

FUNCS = ("count", "first", "last", "max", "mean", "min", "nunique", "prod", "size", "std",
         "sum", "var")
_KWARGS = {"numeric_only": FUNCS, "ddof": ("var", "std"), "dropna": ("nunique",)}
_VALUE = "__shoal_value__"


def _attach(part, *args):
    """*part* with the Series in ``args[:-1]`` as columns named ``args[-1]``."""
    *series, names = args
    part = part.to_frame(_VALUE) if isinstance(part, pd.Series) else part.copy()
    for name, s in zip(names, series):
        part[name] = s  # same index: taken as is (duplicates too); else aligned as in pandas
    return part


def _names_index(frame, b, columns):
    name = frame._meta.index.name
    if name is None or isinstance(b, (_Frame, pd.Series, pd.Index)) or callable(b):
        return False
    try:
        return b not in columns and b == name
    except TypeError:  # unhashable
        return False


def _missing(labels, columns):
    missing = [c for c in labels if c not in columns]
    if missing:
        raise KeyError(f"Column(s) {missing} not found; the columns are {list(columns)}")


class _Spec:
    """What a group-by and its column selections share."""

    def __init__(self, frame, by, sort, dropna, observed, group_keys=True):
        self.is_series = isinstance(frame, Series)
        if by is None:
            raise ValueError("groupby needs by= (a column label, a list of them or an aligned "
                             "shoal Series); level= is not supported")
        self.by_is_list = isinstance(by, list)
        by_list = by if self.by_is_list else [by]
        if not by_list:
            raise ValueError("groupby needs at least one key")
        columns = frame._meta.columns if not self.is_series else pd.Index([])
        self.keys, self.exprs, attach, names = [], [], [], []
        for i, b in enumerate(by_list):
            if _names_index(frame, b, columns):  # the index's name: group by the index
                b = frame.index.to_series()
            if isinstance(b, Series):
                if (not self.is_series and b.name in columns
                        and frame[b.name]._name == b._name):  # df.groupby(df.col)
                    self.keys.append(b.name)
                    self.exprs.append(("column", b.name))
                    continue
                tmp = f"__shoal_by{i}__"
                while tmp in columns:
                    tmp = f"_{tmp}_"
                attach.append(b)
                names.append(tmp)
                self.keys.append(tmp)
                self.exprs.append(("series", tmp, b.name))
            elif isinstance(b, _Frame):
                raise TypeError("groupby keys must be column labels or shoal Series, "
                                f"not a {type(b).__name__}")
            elif isinstance(b, (pd.Series, pd.Index, pd.DataFrame, dict)) or callable(b):
                raise NotImplementedError(
                    "groupby by a pandas object, a function or a mapping is not supported; "
                    "compute the key as a shoal Series aligned with the frame "
                    "(e.g. df.a.map(mapping) or df.map_partitions(...))")
            elif self.is_series:
                raise NotImplementedError("Series.groupby needs shoal Series keys (level= is "
                                          "not supported)")
            else:
                _missing([b], columns)
                self.keys.append(b)
                self.exprs.append(("column", b))
        self.temps = names
        if attach or self.is_series:
            self.frame = map_partitions(_attach, frame, *attach, tuple(names), token="groupby-keys")
        else:
            self.frame = frame
        self.value_name = frame._meta.name if self.is_series else None
        self.sort = sort  # None (the default): sorted, unless split_out spreads the result
        self.gkw = {"sort": sort is not False, "dropna": dropna, "observed": observed,
                    "group_keys": group_keys}

    @property
    def columns(self):
        """Columns a selection may name."""
        return [c for c in self.frame._meta.columns if c not in self.temps]

    @property
    def recipe(self) -> tuple:
        """What :func:`_grouped` needs to group a partition as the user wrote it (plain
        data: it travels with each task)."""
        return (self.exprs, tuple(self.temps), self.is_series, self.value_name,
                self.by_is_list, self.gkw)  # fmt: skip

    def sample(self, selection):
        """pandas' group-by of the two-row stand-in, as the user wrote it."""
        return _grouped(nonempty(self.frame._meta), self.recipe, selection)


def _grouped(part, recipe, selection):
    """pandas' group-by of *part* (a partition with the keys attached), as the user wrote it."""
    exprs, temps, is_series, value_name, by_is_list, gkw = recipe
    obj = part[_VALUE].rename(value_name) if is_series else part.drop(columns=list(temps))
    by = [e[1] if e[0] == "column" else part[e[1]].rename(e[2]).copy() for e in exprs]
    g = obj.groupby(by if by_is_list else by[0], **gkw)
    return g if selection is None else g[selection]


def _apply_groups(part, recipe, selection, how, func, args, kwargs, series):
    out = getattr(_grouped(part, recipe, selection), how)(func, *args, **kwargs)
    if series[0] and isinstance(out, pd.DataFrame):
        # pandas lays Series results out as rows when every group's has the same index,
        # which one group alone always has: a partition holding one group would give a
        # frame where the others give the Series (stacked back, as on the whole data)
        out = out.stack()
        if not recipe[5]["group_keys"]:
            out = out.droplevel(list(range(out.index.nlevels - 1)))
        names = list(out.index.names)
        names[-1] = part.index.name  # (stack named it after the frame's columns)
        out.index = out.index.set_names(names)
        out.name = series[1]
    return out


class GroupBy:
    """``frame.groupby(by, sort=True, dropna=True, observed=True)``.

    Builds a :class:`DataFrameGroupBy` for a DataFrame, a :class:`SeriesGroupBy`
    for a Series; select columns with ``g["v"]``, ``g[["v", "w"]]`` or ``g.v``.
    """

    def __new__(cls, frame=None, by=None, **kwargs):
        if cls is GroupBy:
            cls = SeriesGroupBy if isinstance(frame, Series) else DataFrameGroupBy
        return object.__new__(cls)

    def __init__(self, frame, by=None, level=None, as_index=True, sort=None, group_keys=True,
                 observed=True, dropna=True):
        if level is not None:  # the index (shoal frames have one level)
            if by is not None or level not in (0, -1, frame._meta.index.name, [0], [-1]):
                raise NotImplementedError("groupby(level=...) takes only the index (level=0 "
                                          "or its name), and no by=")
            by = [frame.index.to_series()] if isinstance(level, list) else frame.index.to_series()
        if not as_index:
            raise NotImplementedError("groupby(as_index=False) is not supported; call "
                                      "reset_index() on the computed result")
        if not isinstance(frame, (DataFrame, Series)):
            raise TypeError("groupby needs a shoal DataFrame or Series, "
                            f"got {type(frame).__name__}")
        check_unique_columns(frame._meta, "groupby")
        self._spec = _Spec(frame, by, sort, dropna, observed, group_keys)
        self._selection = _VALUE if isinstance(frame, Series) else None

    @classmethod
    def _select(cls, spec, selection):
        self = object.__new__(cls)
        self._spec, self._selection = spec, selection
        return self

    # -- building ---------------------------------------------------------------
    def _user_selection(self):
        return None if self._selection == _VALUE else self._selection

    def _sample(self):
        return self._spec.sample(self._user_selection())

    def _reduce(self, op, plan_of, split_every=None, split_out=None, token="groupby"):
        """Run ``op = (method, args, kwargs)`` on the stand-in for metadata, then build the
        tree reduction (or, for a median, the whole-group reduction of ``groupby_scan``)."""
        nout = normalize_split_out(split_out, self._spec.frame.npartitions)
        if self._spec.sort is True:  # as Dask: an explicit sort=True keeps one partition
            nout = 1
        meta = getattr(self._sample(), op[0])(*op[1], **op[2])
        plan = plan_of(meta)
        width = 1 if isinstance(meta, pd.Series) else len(meta.columns)
        if len(plan) != width:
            raise NotImplementedError("this aggregation layout is not supported by shoal")
        if any(func == "median" for func, _, _ in plan):  # exact: each group whole
            from shoal.dataframe.groupby_scan import whole_group_agg

            return whole_group_agg(self, op, plan, meta, FUNCS, split_every, token, nout)
        spec = self._spec
        dtypes = spec.frame._meta.dtypes
        columns, positions, stat_pos, distinct = [], [], {}, []
        for func, col, kwargs in plan:
            if func not in FUNCS:
                raise NotImplementedError(f"groupby aggregation {func!r} is not supported; "
                                          f"supported: {', '.join(FUNCS)}")
            for k in kwargs:
                if func not in _KWARGS.get(k, ()):
                    raise NotImplementedError(f"keyword {k!r} of groupby {func} is not supported")
            if col is None:  # size
                positions.append(None)
                continue
            if col not in columns:
                columns.append(col)
            p = columns.index(col)
            positions.append(p)
            stat = "moments" if func in ("mean", "var", "std") else func
            if stat == "moments" and dtypes[col].kind in "mM":
                raise NotImplementedError(f"groupby {func} of datetime/timedelta column {col!r} "
                                          "is not supported")
            if stat == "nunique":
                distinct.append(p)
            elif stat != "size":
                stat_pos.setdefault(stat, []).append(p)
        kstats = tuple((s, tuple(dict.fromkeys(ps))) for s, ps in stat_pos.items())
        nkeys = len(spec.keys)
        final = tuple((func, p, {**kwargs, "empty": spec.frame._meta[col].sum()}
                       if func == "sum" else dict(kwargs))
                      for (func, col, kwargs), p in zip(plan, positions))
        meta = make_meta(meta)
        build = reduction if nout == 1 else partial(split_reduction, split_out=nout)
        # split: each chunk already lists the unobserved categories, hashed to one output;
        # combining with observed=False would add them again to every output partition
        merge_observed = spec.gkw["observed"] or nout > 1
        return build(
            spec.frame, stats.chunk, stats.aggregate, stats.combine, token=token, meta=meta,
            split_every=split_every,
            chunk_kwargs={"keys": list(spec.keys), "columns": columns, "stats": kstats,
                          "distinct": tuple(dict.fromkeys(distinct)),
                          "dropna": spec.gkw["dropna"], "observed": spec.gkw["observed"]},
            combine_kwargs={"nkeys": nkeys, "observed": merge_observed},
            aggregate_kwargs={"nkeys": nkeys, "observed": merge_observed, "plan": final,
                              "sort": spec.gkw["sort"], "meta": meta},
        )

    def _method(self, func, split_every=None, split_out=None, **kwargs):
        def plan_of(meta):
            if func == "size":
                return [("size", None, {})]
            if isinstance(meta, pd.Series):
                return [(func, self._selection, kwargs)]
            return [(func, c, kwargs) for c in meta.columns]

        return self._reduce((func, (), kwargs), plan_of, split_every, split_out,
                            token=f"groupby-{func}")

    # -- aggregations -------------------------------------------------------------
    def count(self, split_every=None, split_out=None):
        return self._method("count", split_every, split_out)

    def size(self, split_every=None, split_out=None):
        return self._method("size", split_every, split_out)

    def sum(self, numeric_only=False, split_every=None, split_out=None):
        return self._method("sum", split_every, split_out, numeric_only=numeric_only)

    def prod(self, numeric_only=False, split_every=None, split_out=None):
        return self._method("prod", split_every, split_out, numeric_only=numeric_only)

    def min(self, numeric_only=False, split_every=None, split_out=None):
        return self._method("min", split_every, split_out, numeric_only=numeric_only)

    def max(self, numeric_only=False, split_every=None, split_out=None):
        return self._method("max", split_every, split_out, numeric_only=numeric_only)

    def first(self, numeric_only=False, split_every=None, split_out=None):
        """First non-null value of each column per group, in partition order."""
        return self._method("first", split_every, split_out, numeric_only=numeric_only)

    def last(self, numeric_only=False, split_every=None, split_out=None):
        """Last non-null value of each column per group, in partition order."""
        return self._method("last", split_every, split_out, numeric_only=numeric_only)

    def mean(self, numeric_only=False, split_every=None, split_out=None):
        return self._method("mean", split_every, split_out, numeric_only=numeric_only)

    def var(self, ddof=1, numeric_only=False, split_every=None, split_out=None):
        return self._method("var", split_every, split_out, ddof=ddof, numeric_only=numeric_only)

    def std(self, ddof=1, numeric_only=False, split_every=None, split_out=None):
        return self._method("std", split_every, split_out, ddof=ddof, numeric_only=numeric_only)

    def nunique(self, dropna=True, split_every=None, split_out=None):
        return self._method("nunique", split_every, split_out, dropna=dropna)

    def median(self, numeric_only=False, split_every=None, split_out=None, shuffle_method=None):
        """Exact median per group: the rows are shuffled by the keys first, each group
        whole in one partition (``groupby_scan``); ``shuffle_method`` is ignored."""
        return self._method("median", split_every, split_out, numeric_only=numeric_only)

    # -- row-aligned: a carry of each group's state along the partitions (groupby_scan) --
    def cumsum(self, numeric_only=False, skipna=True):
        return _scan.cumulative(self, "cumsum", numeric_only, skipna)

    def cumprod(self, numeric_only=False, skipna=True):
        return _scan.cumulative(self, "cumprod", numeric_only, skipna)

    def cummax(self, numeric_only=False, skipna=True):
        return _scan.cumulative(self, "cummax", numeric_only, skipna)

    def cummin(self, numeric_only=False, skipna=True):
        return _scan.cumulative(self, "cummin", numeric_only, skipna)

    def cumcount(self, ascending=True):
        """Position of each row in its group (from the end without *ascending*)."""
        return _scan.cumcount(self, ascending)

    def shift(self, periods=1, freq=None, fill_value=None, meta=None):
        """Each group's rows moved down by *periods* (up when negative), rows in place."""
        return _scan.shift(self, periods, freq, fill_value, meta)

    def agg(self, arg=None, *args, split_every=None, split_out=None, **kwargs):
        """``agg('mean')``, ``agg(['mean', 'max'])``, ``agg({'a': 'sum', 'b': ['min', 'max']})``
        or named ``agg(total=('a', 'sum'))`` (``total='sum'`` on a column)."""
        if args:
            raise NotImplementedError("positional arguments to agg are not supported")
        from shoal.dataframe import aggregation  # (it imports this module)

        if aggregation.has_custom(arg, kwargs):  # dd.Aggregation: aggregation.py
            return aggregation.custom_agg(self, arg, kwargs, split_every, split_out)
        if isinstance(arg, str):
            return self._method(arg, split_every, split_out, **kwargs)
        series = self._selection is not None and not isinstance(self._selection, list)
        if arg is None:  # named aggregation
            if not kwargs:
                raise TypeError("agg needs a function name, a list, a dict or name=(column, func)")
            if series:
                plan = [(f, self._selection, {}) for f in kwargs.values()]
            else:
                plan = [(tuple(v)[1], tuple(v)[0], {}) for v in kwargs.values()]
            return self._reduce(("agg", (), kwargs), lambda meta: plan, split_every,
                                split_out, token="groupby-agg")
        if kwargs:
            raise NotImplementedError("keyword arguments with a list or dict agg are not supported")
        if isinstance(arg, (list, tuple)):
            def plan_of(meta):
                if series:
                    return [(f, self._selection, {}) for f in arg]
                return [(f, c, {}) for c, f in meta.columns]
        elif isinstance(arg, dict):
            if not series:
                _missing(list(arg), self._spec.columns)

            def plan_of(meta):
                return [(f, c, {}) for c, fs in arg.items()
                        for f in (fs if isinstance(fs, (list, tuple)) else [fs])]
        else:
            raise NotImplementedError(f"agg with {type(arg).__name__} is not supported; pass "
                                      "aggregation names ('mean', 'sum', ...)")
        for f in (arg.values() if isinstance(arg, dict) else [arg]):
            for name in (f if isinstance(f, (list, tuple)) else [f]):
                if not isinstance(name, str):
                    raise NotImplementedError("agg takes aggregation names ('mean', 'sum', ...), "
                                              f"not {name!r}")
        return self._reduce(("agg", (arg,), {}), plan_of, split_every, split_out,
                            token="groupby-agg")

    aggregate = agg

    # -- whole groups: after a shuffle ----------------------------------------------
    def apply(self, func, *args, meta=None, **kwargs):
        """pandas' ``groupby(...).apply(func)``, each group whole: the rows are shuffled so
        that a group's rows share a partition; the groups are then put in pandas' order
        where it is known (``groupby_order.py``)."""
        return self._whole_groups("apply", func, args, kwargs, meta)

    def transform(self, func, *args, meta=None, **kwargs):
        """pandas' ``groupby(...).transform(func)`` (a function or a name such as
        ``"mean"``), each group whole, after a shuffle as for :meth:`apply`."""
        return self._whole_groups("transform", func, args, kwargs, meta)

    def _whole_groups(self, how, func, args, kwargs, meta):
        spec, selection = self._spec, self._user_selection()
        if how == "apply" and not spec.gkw["observed"]:  # (each partition would add every
            raise NotImplementedError(  # category's empty group: repeated in the result)
                "groupby(observed=False).apply is not supported; use observed=True")
        if meta is None:
            try:
                meta = getattr(self._sample(), how)(func, *args, **kwargs).iloc[:0]
            except Exception as exc:
                raise ValueError(
                    f"shoal could not infer the output of groupby(...).{how} by running it on "
                    f"sample data ({type(exc).__name__}: {exc}); pass meta= describing it") from exc
        order = import_module("shoal.dataframe.groupby_order")  # (pandas' order: see there)
        if how == "transform":
            return order.transform_in_order(spec, selection, func, args, kwargs, meta,
                                            _apply_groups)
        by_key = spec.gkw["sort"] and order.keys_lead_index(meta, spec.recipe)
        moved = order.whole_groups(spec.frame, spec.keys, by_key, f"groupby-{how}")
        return map_partitions(_apply_groups, moved, spec.recipe, selection, how, func, args,
                              kwargs, (isinstance(meta, pd.Series), getattr(meta, "name", None)),
                              meta=meta, token=f"groupby-{how}", clear_divisions=True)

    def __repr__(self):
        keys = [e[1] if e[0] == "column" else e[2] for e in self._spec.exprs]
        return f"<shoal {type(self).__name__} by {keys}>"


from shoal.dataframe import groupby_scan as _scan  # noqa: E402  (it imports this module)


class DataFrameGroupBy(GroupBy):
    """Group-by of a DataFrame (or a list of its columns)."""

    def __getitem__(self, key):
        if isinstance(key, list):
            _missing(key, self._spec.columns)
            return DataFrameGroupBy._select(self._spec, list(key))
        _missing([key], self._spec.columns)
        return SeriesGroupBy._select(self._spec, key)

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        if key in self._spec.columns:
            return self[key]
        raise AttributeError(f"'DataFrameGroupBy' object has no attribute {key!r}")

    def __dir__(self):
        extra = {c for c in self._spec.columns if isinstance(c, str) and c.isidentifier()}
        return sorted(set(dir(type(self))) | extra)


class SeriesGroupBy(GroupBy):
    """Group-by of one column (``df.groupby(k).v``) or of a Series."""


import_module("shoal.dataframe.groupby_more")  # attaches value_counts, head, rolling, ...
