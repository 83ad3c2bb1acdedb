"""More group-by methods, attached to ``groupby.GroupBy`` and its subclasses from here.

Each method takes the cheapest route that still gives pandas' result on the whole data:

**Filters: the rows stay where they are.**  ``get_group(key)`` keeps, per partition,
the rows whose keys equal *key* (no shuffle, no carry).  ``head(n)`` / ``tail(n)`` keep
the rows whose position in their group (``cumcount``, from the start or from the end)
is below *n* (at least ``-n`` for a negative *n*); the positions come from the carry
of ``groupby_scan.cumcount`` (per group, the rows seen so far), so the output keeps the
frame's partitions and row order, exactly as pandas lists them::

    head(2):   p0 [a a b]      p1 [a b b]       position of each row in its group
               0 1 0           2 1 2            (carry from p0: a -> 2, b -> 1)
               keep <2         keep <2

**Fills: a carry along the partitions** (as ``groupby_scan.shift``).  ``ffill()``
carries, per group, the last non-null value of each column seen so far (one stand-in
row per group); ``ffill(limit=n)`` carries each group's last ``n + 1`` raw rows, which
hold every value that can still reach the next partition.  The stand-ins are
prepended to the partition, pandas' own ``ffill`` runs on both, and they are dropped
again.  ``bfill`` is the same chain run backwards (stand-ins appended).

**Tree reduction.**  ``value_counts`` counts the ``(keys, value)`` pairs per partition
(in order of first appearance), merges the counts, and applies pandas' final sorts.

**Whole groups, one partition out.**  ``unique``, ``idxmax``,
``idxmin``, ``corr`` and ``cov`` (DataFrame group-by) shuffle the rows by the keys
(hash partitions; a group's rows then share a partition, in their original order),
run pandas' method there, and stack the disjoint per-partition results in a tree of
concats.  The last step orders the groups as pandas does: by the keys (stable, so the
rows inside a group keep pandas' order, e.g. value_counts' counts descending) with
``sort=True``, else by each group's first row in the frame (an order column added
before the shuffle, ``partition << 40 | row``).  Memory: the largest partition after
the shuffle, and the result (a few rows per group).

**Rolling windows: whole groups, row-aligned.**  ``groupby(...).rolling(window, ...)``
returns a :class:`RollingGroupBy`; each of its methods shuffles the rows by the keys and
runs pandas' ``groupby(...).rolling(...).<method>()`` per partition.  The result has
pandas' index (the keys, then the frame's index); with ``sort=True`` (the default) the
shuffle is by ranges of the keys (quantile boundaries), so the partitions list the
groups sorted by the keys, as pandas does (``groupby_order.py``); else by their hash,
one partition per shuffle output, in the shuffle's order.

Not supported (clear errors): ``SeriesGroupBy.corr`` / ``cov`` (they pair with another
Series), ``DataFrameGroupBy.value_counts``, ``observed=False`` with categorical keys on
the whole-group paths, ``rolling(...).apply`` / ``aggregate``.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from shoal.dataframe._meta import make_meta
from shoal.dataframe.core import map_partitions
from shoal.dataframe.groupby import _VALUE, DataFrameGroupBy, GroupBy, SeriesGroupBy, _grouped
from shoal.dataframe.groupby_order import whole_groups
from shoal.dataframe.groupby_scan import (_ORDER, _agg_concat, _conform, _count_finish,
                                          _count_step, _keyed, _numbered, _setup)
from shoal.dataframe.neighbours import scan
from shoal.dataframe.reductions import reduction

__all__ = ["RollingGroupBy"]


def _projection(part, recipe, selection):
    """The rows of *part* as the user's group-by sees them (pandas' ``obj``): the
    Series, or the frame without the temporary key columns, then the selection."""
    _, temps, is_series, value_name, _, _ = recipe
    if is_series:
        return part[_VALUE].rename(value_name)
    obj = part.drop(columns=list(temps)) if temps else part
    return obj if selection is None else obj[selection]


def _check_observed(gb, method):
    spec = gb._spec
    if not spec.gkw["observed"] and any(
            isinstance(spec.frame._meta[k].dtype, pd.CategoricalDtype) for k in spec.keys):
        raise NotImplementedError(f"groupby(observed=False).{method} with categorical keys is "
                                  "not supported; use observed=True")


def _shuffled(frame, keys):
    from shoal.dataframe.shuffle import shuffle

    return shuffle(frame, on=keys if len(keys) > 1 else keys[0])


# -- filters -------------------------------------------------------------------------


def _key_mask(part, recipe, key):
    exprs = recipe[0]
    mask = np.ones(len(part), dtype=bool)
    for e, k in zip(exprs, key):
        col = part[e[1]]
        mask &= np.asarray(col.isna() if _isnan(k) else (col == k), dtype=bool)
    return mask


def _isnan(k):
    try:
        return bool(pd.isna(k))
    except (TypeError, ValueError):
        return False


def _get_group_part(part, recipe, selection, key):
    return _projection(part[_key_mask(part, recipe, key)], recipe, selection)


def get_group(self, key):
    """The rows of the group *key* (a tuple for several keys), a filter of each
    partition: no shuffle; partitions and row order are the frame's.  A key that no
    row has gives an empty result (pandas raises ``KeyError``)."""
    spec = self._spec
    nkeys = len(spec.keys)
    if nkeys > 1 or (spec.by_is_list and isinstance(key, tuple)):
        if not isinstance(key, tuple) or len(key) != nkeys:
            raise ValueError(f"get_group needs a tuple of {nkeys} key value(s), got {key!r}")
        key = tuple(key)
    else:
        key = (key,)
    if spec.gkw["dropna"] and any(_isnan(k) for k in key):
        raise KeyError(f"{key if nkeys > 1 else key[0]!r}: rows with missing keys are "
                       "dropped (dropna=True)")
    selection = self._user_selection()
    meta = make_meta(_projection(spec.frame._meta, spec.recipe, selection))
    return map_partitions(_get_group_part, spec.frame, spec.recipe, selection, key, meta=meta,
                          token="groupby-get_group")


def _head_tail_finish(part, carry, keys, dropna, ascending, n, recipe, selection):
    pos = _count_finish(part, carry, keys, dropna, ascending).to_numpy(dtype="float64")
    keep = pos < n if n >= 0 else pos >= -n  # (NaN: a dropped NaN key, never kept)
    return _projection(part[keep], recipe, selection)


def _head_tail(gb, n, head):
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"groupby(...).{'head' if head else 'tail'}: n must be an integer, "
                        f"got {n!r}")
    n = int(n)
    spec, selection = gb._spec, gb._user_selection()
    ascending = head == (n >= 0)  # head(n): count from the start; head(-n): from the end
    meta = make_meta(_projection(spec.frame._meta, spec.recipe, selection))
    return scan(spec.frame, f"groupby-{'head' if head else 'tail'}", _count_step,
                _head_tail_finish, meta=meta, reverse=not ascending,
                args=(list(spec.keys), spec.gkw["dropna"], ascending, n, spec.recipe,
                      selection))


def head(self, n=5):
    """The first *n* rows of each group (all but the last ``-n`` for a negative *n*),
    in the frame's order, as pandas."""
    return _head_tail(self, n, True)


def tail(self, n=5):
    """The last *n* rows of each group (all but the first ``-n`` for a negative *n*),
    in the frame's order, as pandas."""
    return _head_tail(self, n, False)


# -- fills: a carry along the partitions ------------------------------------------------------


def _fill_step(carry, part, keys, values, dropna, limit, backward, *_):
    if not len(part):
        return carry
    rows = part[keys + values]
    if carry is not None and len(carry):
        rows = pd.concat([rows, carry] if backward else [carry, rows])
    g = _keyed(rows, keys, dropna)
    if limit is None:  # one row per group: its last (first) non-null value of each column
        return (g.first() if backward else g.last()).reset_index()
    return g.head(limit + 1) if backward else g.tail(limit + 1)


def _fill_finish(part, carry, keys, values, dropna, limit, backward, recipe, selection,
                 method, kwargs, meta):
    n = len(part)
    if carry is None or not len(carry) or not n:
        return _conform(getattr(_grouped(part, recipe, selection), method)(**kwargs), meta)
    rows = carry.reindex(columns=part.columns)
    rows.index = part.index.take(np.zeros(len(rows), dtype="int64"))
    both = pd.concat([part, rows] if backward else [rows, part])
    out = getattr(_grouped(both, recipe, selection), method)(**kwargs)
    return _conform(out.iloc[:n] if backward else out.iloc[len(rows):], meta)


def _fill(gb, method, limit):
    if limit is not None and (not isinstance(limit, numbers.Integral) or isinstance(limit, bool)
                              or limit <= 0):
        raise ValueError(f"groupby(...).{method}: limit must be a positive integer, "
                         f"got {limit!r}")
    limit = None if limit is None else int(limit)
    kwargs = {} if limit is None else {"limit": limit}
    frame, meta, keys, values, recipe, selection = _setup(
        gb, method, lambda g: getattr(g, method)(**kwargs))
    backward = method == "bfill"
    return scan(frame, f"groupby-{method}", _fill_step, _fill_finish, meta=meta,
                reverse=backward,
                args=(keys, values, recipe[5]["dropna"], limit, backward, recipe, selection,
                      method, kwargs, meta))


def ffill(self, limit=None):
    """Each group's missing values filled from its previous rows, rows in place."""
    return _fill(self, "ffill", limit)


def bfill(self, limit=None):
    """Each group's missing values filled from its next rows, rows in place."""
    return _fill(self, "bfill", limit)


# -- whole groups, one partition out ---------------------------------------------------------


def _whole_chunk(part, recipe, selection, method, args, kwargs, nkeys, ordered):
    data = part.drop(columns=[_ORDER]) if ordered else part
    out = getattr(_grouped(data, recipe, selection), method)(*args, **kwargs)
    if not ordered or not len(out):
        return out, (np.zeros(len(out), dtype="int64") if ordered else None)
    if recipe[2]:  # a Series' group-by: the order column in the value's place
        order = part.drop(columns=[_VALUE]).rename(columns={_ORDER: _VALUE})
        firsts = _grouped(order, recipe, None).min()
    else:
        firsts = _grouped(part, recipe, _ORDER).min()
    index = out.index
    if index.nlevels > nkeys:
        index = index.droplevel(list(range(nkeys, index.nlevels)))
    return out, firsts.to_numpy()[firsts.index.get_indexer(index)]


def _whole_final(pieces, sort, nkeys, meta):
    out, first = _agg_concat(pieces)
    if not len(out):
        return meta.copy()
    if sort:
        if out.index.nlevels > nkeys:
            out = out.sort_index(level=list(range(nkeys)), sort_remaining=False)
        else:
            out = out.sort_index(kind="stable")
    elif first is not None:
        out = out.iloc[np.argsort(first, kind="stable")]
    return _conform(out, meta)


def _whole_agg(gb, method, args=(), kwargs=None, split_every=None):
    """pandas' ``groupby(...).<method>(*args, **kwargs)`` on whole groups after a shuffle,
    the per-partition results stacked into one partition in pandas' group order."""
    kwargs = kwargs or {}
    _check_observed(gb, method)
    spec = gb._spec
    meta = make_meta(getattr(gb._sample(), method)(*args, **kwargs))
    sort = spec.gkw["sort"]
    frame = spec.frame if sort else _numbered(spec.frame)
    nkeys = len(spec.keys)
    ck = {"recipe": spec.recipe, "selection": gb._user_selection(), "method": method,
          "args": tuple(args), "kwargs": dict(kwargs), "nkeys": nkeys, "ordered": not sort}
    return reduction(_shuffled(frame, list(spec.keys)), _whole_chunk, _whole_final,
                     _agg_concat, token=f"groupby-{method}", meta=meta,
                     split_every=split_every, chunk_kwargs=ck,
                     aggregate_kwargs={"sort": sort, "nkeys": nkeys, "meta": meta})


def _pairs_chunk(part, keys, value, gdropna, dropna):
    cols = part[keys + [value]]
    if gdropna:
        cols = cols.dropna(subset=keys)
    if dropna:
        cols = cols.dropna(subset=[value])
    return cols.groupby(keys + [value], sort=False, dropna=False, observed=True).size()


def _pairs_combine(pieces):
    out = pd.concat(pieces)
    return out.groupby(level=list(range(out.index.nlevels)), sort=False, dropna=False).sum()


def _pairs_final(pieces, nkeys, names, normalize, sort, ascending, gsort, gdropna, meta):
    out = _pairs_combine(pieces)  # (key..., value) pairs in order of first appearance
    if not len(out):
        return meta.copy()
    out.index = out.index.set_names(range(nkeys + 1))
    if sort:
        out = out.sort_values(ascending=ascending, kind="stable")
    if gsort:
        out = out.sort_index(level=list(range(nkeys)), sort_remaining=False)
    if normalize:
        total = out.groupby(out.index.droplevel(nkeys), sort=False, dropna=False).transform("sum")
        out = out / total
    out.index = out.index.set_names(names)
    return out.rename(meta.name).astype(meta.dtype)


def value_counts(self, normalize=False, sort=True, ascending=False, bins=None, dropna=True,
                 split_every=None):
    """Counts of each value per group (pandas' layout: the keys, then the value): a tree
    reduction of the (keys, value) pair counts, pandas' final sorts on the result.  Ties
    in the counts come in order of first appearance (pandas' own tie order is an
    artifact of its hashing); with ``sort=False`` on the group-by, as pandas, the
    groups are not kept together."""
    if bins is not None:
        raise NotImplementedError("groupby(...).value_counts(bins=...) is not supported")
    _check_observed(self, "value_counts")
    spec = self._spec
    meta = make_meta(self._sample().value_counts(normalize=normalize, sort=sort,
                                                 ascending=ascending, dropna=dropna))
    keys, nkeys = list(spec.keys), len(spec.keys)
    return reduction(spec.frame, _pairs_chunk, _pairs_final, _pairs_combine,
                     token="groupby-value_counts", meta=meta, split_every=split_every,
                     chunk_kwargs={"keys": keys, "value": self._selection,
                                   "gdropna": spec.gkw["dropna"], "dropna": dropna},
                     aggregate_kwargs={"nkeys": nkeys, "names": list(meta.index.names),
                                       "normalize": normalize, "sort": sort,
                                       "ascending": ascending, "gsort": spec.gkw["sort"],
                                       "gdropna": spec.gkw["dropna"], "meta": meta})


def unique(self, split_every=None):
    """The distinct values of each group, in order of appearance (arrays)."""
    return _whole_agg(self, "unique", split_every=split_every)


def idxmax(self, skipna=True, numeric_only=False, split_every=None):
    """Index label of each group's (first) maximum."""
    kw = {"skipna": skipna} if isinstance(self, SeriesGroupBy) else \
        {"skipna": skipna, "numeric_only": numeric_only}
    return _whole_agg(self, "idxmax", (), kw, split_every)


def idxmin(self, skipna=True, numeric_only=False, split_every=None):
    """Index label of each group's (first) minimum."""
    kw = {"skipna": skipna} if isinstance(self, SeriesGroupBy) else \
        {"skipna": skipna, "numeric_only": numeric_only}
    return _whole_agg(self, "idxmin", (), kw, split_every)


def corr(self, method="pearson", min_periods=1, numeric_only=False, split_every=None):
    """Pairwise correlation of the columns within each group (keys, then column)."""
    return _whole_agg(self, "corr", (), {"method": method, "min_periods": min_periods,
                                        "numeric_only": numeric_only}, split_every)


def cov(self, min_periods=None, ddof=1, numeric_only=False, split_every=None):
    """Pairwise covariance of the columns within each group (keys, then column)."""
    return _whole_agg(self, "cov", (), {"min_periods": min_periods, "ddof": ddof,
                                       "numeric_only": numeric_only}, split_every)


def _series_pairwise(self, *args, **kwargs):
    raise NotImplementedError("SeriesGroupBy.corr / cov (with another Series) are not "
                              "supported; use df.groupby(keys)[[a, b]].corr() / .cov()")


# -- rolling windows: whole groups, row-aligned --------------------------------------------------


def _rolling_part(part, recipe, selection, rkw, method, args, kwargs):
    rolled = _grouped(part, recipe, selection).rolling(**rkw)
    return getattr(rolled, method)(*args, **kwargs)


class RollingGroupBy:
    """``groupby(...).rolling(window, ...)``: pandas' rolling windows within each
    group, after a shuffle by the keys (see the module docstring)."""

    def __init__(self, gb, rkw):
        _check_observed(gb, "rolling")
        self._gb, self._rkw = gb, rkw
        self._sample()  # pandas' errors for bad windows, now

    def _sample(self):
        return self._gb._sample().rolling(**self._rkw)

    def _run(self, method, *args, **kwargs):
        gb = self._gb
        spec = gb._spec
        meta = make_meta(getattr(self._sample(), method)(*args, **kwargs).iloc[:0])
        moved = whole_groups(spec.frame, list(spec.keys), spec.gkw["sort"],
                             f"groupby-rolling-{method}")  # (by key ranges: pandas' order)
        return map_partitions(_rolling_part, moved, spec.recipe, gb._user_selection(),
                              self._rkw, method, args, kwargs, meta=meta,
                              token=f"groupby-rolling-{method}", clear_divisions=True)

    def count(self, numeric_only=False):
        return self._run("count", numeric_only=numeric_only)

    def sum(self, numeric_only=False):
        return self._run("sum", numeric_only=numeric_only)

    def mean(self, numeric_only=False):
        return self._run("mean", numeric_only=numeric_only)

    def min(self, numeric_only=False):
        return self._run("min", numeric_only=numeric_only)

    def max(self, numeric_only=False):
        return self._run("max", numeric_only=numeric_only)

    def median(self, numeric_only=False):
        return self._run("median", numeric_only=numeric_only)

    def std(self, ddof=1, numeric_only=False):
        return self._run("std", ddof=ddof, numeric_only=numeric_only)

    def var(self, ddof=1, numeric_only=False):
        return self._run("var", ddof=ddof, numeric_only=numeric_only)

    def quantile(self, q, interpolation="linear", numeric_only=False):
        return self._run("quantile", q, interpolation=interpolation, numeric_only=numeric_only)

    def __repr__(self):
        return f"<shoal RollingGroupBy {self._rkw} of {self._gb!r}>"


def rolling(self, window, min_periods=None, center=False, win_type=None, on=None,
            closed=None, step=None):
    """Rolling windows within each group (a :class:`RollingGroupBy`)."""
    rkw = {"window": window, "min_periods": min_periods, "center": center,
           "win_type": win_type, "on": on, "closed": closed, "step": step}
    return RollingGroupBy(self, {k: v for k, v in rkw.items() if v is not None or k == "window"})


# -- attach ---------------------------------------------------------------------------------

for _f in (get_group, head, tail, ffill, bfill, idxmax, idxmin, rolling):
    setattr(GroupBy, _f.__name__, _f)
for _f in (value_counts, unique):
    setattr(SeriesGroupBy, _f.__name__, _f)
for _f in (corr, cov):
    setattr(DataFrameGroupBy, _f.__name__, _f)
SeriesGroupBy.corr = SeriesGroupBy.cov = _series_pairwise
