r"""Operations that move rows between partitions: shuffles, merges, sorting.

A *shuffle* sends every row to the output partition its key chooses.  It is
three layers of plain tasks (here 3 partitions in, 2 out)::

    input          p0                 p1                 p2
                   |                  |                  |
    1. split       s0                 s1                 s2           n_in tasks
                   |  \               |  \               |  \
    2. getitem     s0[0]  s0[1]       s1[0]  s1[1]       s2[0]  s2[1]  n_in * n_out tasks
                   |      |           |      |           |      |
    3. concat      out0 = concat(s0[0], s1[0], s2[0])                 n_out tasks
                   out1 = concat(s0[1], s1[1], s2[1])

``split`` computes a target partition number for every row and cuts the
partition into ``n_out`` pieces (a stable sort, so each piece keeps the input
order); ``getitem`` takes piece ``j`` of split ``i``; output ``j`` concatenates
its pieces in input order.  Two ways to choose the target:

- **hash**: ``hash_pandas_object(keys, index=False) % n_out``.  pandas' hash is
  the same in every process.  Numbers are hashed as float64 and datetimes as
  nanoseconds first, so equal keys of different dtypes (``1`` and ``1.0``) meet
  in the same partition, as a merge needs.
- **range**: ``searchsorted(boundaries, value, side="right") - 1``, clipped;
  missing values go to the last partition (the first with ``na_position="first"``).

The ``n_in * n_out`` getitem tasks are the price of plain tasks: fine for
hundreds of partitions a side, too many for thousands (a staged shuffle, which
splits into groups of groups, would be needed then; it is not implemented).

Built on it:

- ``merge`` / ``join``: broadcast a one-partition (or pandas) side to every
  partition of the other when ``how`` allows it, else hash-shuffle both sides on
  their keys to the same number of partitions and merge partition by partition.
  Row order and the index of column merges differ from pandas (as in Dask).
- ``set_index`` / ``sort_values``: boundaries from approximate quantiles (a tree
  reduction of weighted samples, computed **eagerly** when called, like Dask),
  then a range shuffle and a sort inside every partition.  ``set_index`` gives
  known divisions: ``(min, b1, ..., max)``.
- ``drop_duplicates``: a tree reduction to one partition (``split_out=k`` or
  ``keep=False`` hash-shuffle instead, since equal rows then meet in one partition).
"""

from __future__ import annotations

import inspect
import operator

import numpy as np
import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe import methods
from shoal.dataframe._dtypes import boundary_positions, check_sorted_divisions
from shoal.dataframe.core import _Frame, from_pandas, map_partitions, new_collection
from shoal.dataframe.partitioning import new_partitioning
from shoal.dataframe.reductions import reduction

__all__ = ["drop_duplicates", "join", "merge", "set_index", "shuffle", "sort_values"]

SAMPLES = 100  # quantile samples per partition (at least 10 per output partition)
# A key is ("col", label): a column, ("index", None): the index, or
# ("values", None): a Series' own values.
INDEX = ("index", None)
VALUES = ("values", None)


# -- kernels (module level: pickled by reference) ---------------------------------

def _key_values(df, key):
    kind, label = key
    if kind == "index":
        if isinstance(df.index, pd.MultiIndex):
            raise NotImplementedError("shuffling on a MultiIndex is not supported")
        return df.index
    return df if kind == "values" else df[label]


def _hashable(values):
    """Values whose hash agrees across dtypes that compare equal."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # hash the values, not the codes
        values = pd.Series(np.asarray(values))
        dtype = values.dtype
    kind = getattr(dtype, "kind", "O")
    if kind in "iufb":
        return values.to_numpy(dtype="float64", na_value=np.nan)
    if kind in "mM" and isinstance(dtype, np.dtype):
        return values.to_numpy().astype(f"{'datetime64' if kind == 'M' else 'timedelta64'}[ns]")
    return values.array


def _hash_targets(df, n, keys):
    cols = {i: _hashable(_key_values(df, k)) for i, k in enumerate(keys)}
    hashed = pd.util.hash_pandas_object(pd.DataFrame(cols), index=False).to_numpy()
    return (hashed % np.uint64(n)).astype(np.intp)


def _range_targets(df, n, key, boundaries, ascending, na_last):
    values = _key_values(df, key)
    null = np.asarray(pd.isna(values))
    out = np.empty(len(values), dtype=np.intp)
    pos = boundary_positions(boundaries, values[~null].array)
    pos = np.clip(pos, 0, n - 1)
    out[~null] = pos if ascending else n - 1 - pos
    out[null] = n - 1 if na_last else 0
    return out


def split_partition(df, n, how, args):
    """``{j: rows of df that go to output j}`` for j in range(n), input order kept."""
    if n == 1:
        return {0: df}
    targets = _hash_targets(df, n, *args) if how == "hash" else _range_targets(df, n, *args)
    order = np.argsort(targets, kind="stable")
    bounds = np.searchsorted(targets[order], np.arange(n + 1), side="left")
    moved = df.iloc[order]
    return {j: moved.iloc[bounds[j]: bounds[j + 1]] for j in range(n)}


def _merge_chunk(left, right, kwargs):
    return pd.merge(left, right, **kwargs)


def _join_chunk(left, right, kwargs):
    return left.join(right, **kwargs)


def _set_index_part(df, column, drop):
    return df.set_index(column, drop=drop).sort_index(kind="stable", na_position="last")


def _sort_part(df, by, ascending, na_position):
    return df.sort_values(by, ascending=ascending, na_position=na_position, kind="stable")


def _dedupe(part, opts):
    return part.drop_duplicates(**opts)


def _dedupe_concat(parts, opts, meta, ignore_index=False):
    out = methods.concat(parts, meta).drop_duplicates(**opts)
    return out.reset_index(drop=True) if ignore_index else out


# -- the shuffle ---------------------------------------------------------------------

def _shuffle(frame, n_out, how, args, token="shuffle"):
    """Layers 1-3 of the module docstring; output has unknown divisions."""
    tok = tokenize(frame, n_out, how, args)
    split, get, out = f"{token}-split-{tok}", f"{token}-getitem-{tok}", f"{token}-{tok}"
    n_in = frame.npartitions
    layers = merge_layers(frame)
    layers[split] = {(split, i): Task((split, i), split_partition, Ref((frame._name, i)), n_out, how, args)
                     for i in range(n_in)}
    layers[get] = {(get, i, j): Task((get, i, j), operator.getitem, Ref((split, i)), j)
                   for i in range(n_in) for j in range(n_out)}
    layers[out] = {(out, j): Task((out, j), methods.concat, [Ref((get, i, j)) for i in range(n_in)],
                                  frame._meta)
                   for j in range(n_out)}
    return new_collection(layers, out, frame._meta, (None,) * (n_out + 1))


def _key_of(meta, label):
    if isinstance(meta, pd.DataFrame) and label in meta.columns:
        return ("col", label)
    if label is not None and label == meta.index.name:
        return INDEX
    raise KeyError(f"{label!r} is neither a column nor the index name; columns: {list(meta.columns)}")


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple, pd.Index)) else [x]


def shuffle(frame, on=None, npartitions_out=None):
    """Hash-partition *frame* so that rows with equal *on* (a column label, a list
    of them, or ``None``: the index) share one of ``npartitions_out`` partitions
    (default: as many as *frame*); divisions unknown."""
    keys = [INDEX] if on is None else [_key_of(frame._meta, c) for c in _as_list(on)]
    return _shuffle(frame, npartitions_out or frame.npartitions, "hash", (keys,))


# -- merge and join ---------------------------------------------------------------------

_HOWS = ("inner", "left", "right", "outer")


def _pandas_meta(x):
    return x._meta if isinstance(x, _Frame) else x.iloc[:0]


def _as_frame_collection(x):
    if isinstance(x, (pd.DataFrame, pd.Series)):
        x = from_pandas(x, npartitions=1, sort=False)
    if isinstance(x._meta, pd.Series):
        x = x.to_frame()
    return x


def _pairwise(func, left, right, kwargs, meta, divisions, token):
    """``func(left_i, right_j, kwargs)`` for aligned (or broadcast) partitions."""
    n = max(left.npartitions, right.npartitions)
    name = f"{token}-{tokenize(func, left, right, kwargs)}"
    layer = {}
    for i in range(n):
        lk = (left._name, i if left.npartitions > 1 else 0)
        rk = (right._name, i if right.npartitions > 1 else 0)
        layer[(name, i)] = Task((name, i), func, Ref(lk), Ref(rk), kwargs)
    divisions = divisions or (None,) * (n + 1)
    return new_collection(merge_layers(left, right, name=name, layer=layer), name, meta, divisions)


def _combine(left, right, how, lkeys, rkeys, func, kwargs, meta, npartitions, broadcast, token):
    """Broadcast a small side when *how* allows it, else hash-shuffle both sides."""
    left, right = _as_frame_collection(left), _as_frame_collection(right)
    nl, nr = left.npartitions, right.npartitions
    # the result keeps the left index (and its divisions) only when left's rows pass through
    keeps_left_index = kwargs.get("left_index") and kwargs.get("right_index") or func is _join_chunk
    if nl == 1 and nr == 1:
        return _pairwise(func, left, right, kwargs, meta, None, token)
    if broadcast is not False and nr == 1 and how in ("inner", "left"):
        divisions = left.divisions if keeps_left_index else None
        return _pairwise(func, left, right, kwargs, meta, divisions, token)
    if broadcast is not False and nl == 1 and how in ("inner", "right"):
        return _pairwise(func, left, right, kwargs, meta, None, token)
    n = npartitions or max(nl, nr)
    left = _shuffle(left, n, "hash", (lkeys,))  # a self-merge shares one shuffle
    right = _shuffle(right, n, "hash", (rkeys,))
    return _pairwise(func, left, right, kwargs, meta, None, token)


def merge(left, right, how="inner", on=None, left_on=None, right_on=None, left_index=False,
          right_index=False, suffixes=("_x", "_y"), indicator=False, npartitions=None,
          broadcast=None):
    """:func:`pandas.merge` of two frames (either may be pandas).

    A one-partition side goes whole to every partition of the other for
    ``how="inner"``, and for ``"left"`` / ``"right"`` when it is the right / left
    side (``broadcast=False`` forbids it); else both sides are hash-shuffled into
    ``npartitions`` (default: the larger count).  Rows come back grouped by
    partition; a merge on columns numbers each partition's rows from 0.
    """
    kwargs = dict(how=how, on=on, left_on=left_on, right_on=right_on, left_index=left_index,
                  right_index=right_index, suffixes=suffixes, indicator=indicator)
    if not isinstance(left, _Frame) and not isinstance(right, _Frame):
        return pd.merge(left, right, **kwargs)
    if how not in _HOWS:
        raise NotImplementedError(f"merge(how={how!r}) is not supported; use one of {_HOWS}")
    lmeta, rmeta = _pandas_meta(left), _pandas_meta(right)
    meta = pd.merge(lmeta, rmeta, **kwargs)  # pandas checks the arguments
    lmeta = lmeta.to_frame() if isinstance(lmeta, pd.Series) else lmeta
    rmeta = rmeta.to_frame() if isinstance(rmeta, pd.Series) else rmeta
    if on is not None:
        lkeys = [_key_of(lmeta, c) for c in _as_list(on)]
        rkeys = [_key_of(rmeta, c) for c in _as_list(on)]
    elif left_on is None and right_on is None and not left_index and not right_index:
        common = [c for c in lmeta.columns if c in rmeta.columns]
        lkeys = rkeys = [("col", c) for c in common]
    else:
        lkeys = [INDEX] if left_index else [_key_of(lmeta, c) for c in _as_list(left_on)]
        rkeys = [INDEX] if right_index else [_key_of(rmeta, c) for c in _as_list(right_on)]
    if len(lkeys) != len(rkeys):
        raise NotImplementedError("merging a MultiIndex with several columns is not supported")
    return _combine(left, right, how, lkeys, rkeys, _merge_chunk, kwargs, meta, npartitions,
                    broadcast, "merge")


_JOIN_HAS_SUFFIXES = "suffixes" in inspect.signature(pd.DataFrame.join).parameters


def join(left, other, on=None, how="left", lsuffix="", rsuffix="", suffixes=None, npartitions=None,
         broadcast=None):
    """``left.join(other)``: match *on* (columns of left, default its index) to other's index.

    ``suffixes=(l, r)`` and ``lsuffix`` / ``rsuffix`` are both accepted; pandas
    gets whichever spelling it supports (pandas 3.1 deprecates the latter).
    """
    if how not in _HOWS:
        raise NotImplementedError(f"join(how={how!r}) is not supported; use one of {_HOWS}")
    if isinstance(other, (list, tuple)):
        raise NotImplementedError("joining a list of frames is not supported; join them one by one")
    suffixes = tuple(suffixes) if suffixes is not None else (lsuffix, rsuffix)
    kwargs = dict(on=on, how=how, **({"suffixes": suffixes} if _JOIN_HAS_SUFFIXES else
                                     {"lsuffix": suffixes[0], "rsuffix": suffixes[1]}))
    lmeta, rmeta = _pandas_meta(left), _pandas_meta(other)
    meta = lmeta.join(rmeta, **kwargs)  # pandas checks the arguments
    lkeys = [INDEX] if on is None else [_key_of(lmeta, c) for c in _as_list(on)]
    if len(lkeys) != 1:
        raise NotImplementedError("join on several columns (a MultiIndex on the right) is not supported")
    return _combine(left, other, how, lkeys, [INDEX], _join_chunk, kwargs, meta, npartitions,
                    broadcast, "join")


# -- boundaries from approximate quantiles ------------------------------------------------

def _thin(values, weights, k, force=False):
    """At most *k* weighted samples of sorted *values*, first and last kept."""
    if len(values) <= k and not force:
        return values, weights
    cum, last = np.cumsum(weights), len(values) - 1
    pos = np.unique(np.r_[0, np.searchsorted(cum, np.linspace(0, cum[-1], k)).clip(0, last), last])
    return values[pos], np.full(len(pos), cum[-1] / len(pos))


def _sample(series, k):
    """Chunk: evenly spaced order statistics of the non-null values, weighted."""
    values = series.dropna().sort_values(kind="stable").array
    if not len(values):
        return []
    pos = np.unique(np.round(np.linspace(0, len(values) - 1, min(k, len(values)))).astype(np.intp))
    return [(values[pos], np.full(len(pos), len(values) / len(pos)))]


def _merge_samples(parts, k):
    """Combine: pool the weighted samples, sort, thin back to *k*."""
    pieces = [p for part in parts for p in part]
    if not pieces:
        return []
    values = pd.concat([pd.Series(v) for v, _ in pieces], ignore_index=True)
    weights = np.concatenate([w for _, w in pieces])
    order = values.argsort(kind="stable").to_numpy()
    return [_thin(values.array[order], weights[order], k)]


def _boundaries(parts, k, npartitions):
    """Aggregate: ``npartitions + 1`` distinct boundaries, from the min to the max."""
    merged = _merge_samples(parts, k)
    return list(pd.Index(_thin(*merged[0], npartitions + 1, force=True)[0]).unique()) if merged else []


def _min_max(series):
    values = series.dropna()
    return [(values.min(), values.max(), len(values))] if len(values) else [None]


def _concat_lists(parts):
    return [x for p in parts for x in p]


def quantile_divisions(series, npartitions, split_every=None):
    """Approximate quantile boundaries of *series* (eager: runs a reduction)."""
    k = max(SAMPLES, 10 * npartitions)
    return reduction(series, _sample, _boundaries, _merge_samples, token="quantile-divisions",
                     meta=0, split_every=split_every, chunk_kwargs={"k": k},
                     combine_kwargs={"k": k}, aggregate_kwargs={"k": k, "npartitions": npartitions}
                     ).compute()


def _sorted_divisions(series):
    """Divisions of a column already sorted across partitions (eager); None if
    there are no values, False if a value repeats across a partition boundary."""
    stats = reduction(series, _min_max, _concat_lists, token="partition-min-max", meta=0).compute()
    present = [s for s in stats if s is not None]
    if not present:
        return None
    for (_, hi, _), (lo, _, _) in zip(present, present[1:]):
        if hi > lo:
            raise ValueError("set_index(sorted=True): the partitions' values overlap, so the column "
                             "is not sorted; call set_index without sorted=True to sort it")
        if hi == lo:
            return False
    divisions, nxt = [], present[-1][1]
    for s in reversed(stats):  # an empty partition borrows the next partition's minimum
        nxt = s[0] if s is not None else nxt
        divisions.append(nxt)
    return divisions[::-1] + [present[-1][1]]


# -- set_index, sort_values, drop_duplicates --------------------------------------------

def _range_shuffle(frame, column, boundaries, ascending=True, na_last=True, token="sort"):
    args = (("col", column), tuple(boundaries), ascending, na_last)
    return _shuffle(frame, len(boundaries) - 1, "range", args, token=f"{token}-shuffle")


def set_index(frame, other, drop=True, sorted=False, npartitions=None, divisions=None,  # noqa: A002
              split_every=None):
    """Index *frame* by column *other*, sorted, with known divisions.

    Boundaries come from ``divisions=`` if given, from per-partition min/max with
    ``sorted=True`` (no data moves; a value repeated across a partition boundary
    falls back to sorting), or else from approximate quantiles; the last two
    compute when called.  Repeated values may leave fewer partitions than asked
    for.  Missing values go to the end of the last partition.
    """
    if isinstance(other, list) and len(other) == 1:
        other = other[0]
    if isinstance(other, _Frame) and isinstance(other._meta, pd.Series):
        return _set_index_series(frame, other, sorted, npartitions, divisions, split_every)
    if isinstance(other, (list, _Frame, pd.Series, pd.Index)):
        raise NotImplementedError("set_index takes the label of one column or a shoal Series "
                                  "aligned with the frame")
    if other not in frame._meta.columns:
        raise KeyError(f"{other!r} is not a column; columns: {list(frame._meta.columns)}")
    meta = frame._meta.set_index(other, drop=drop)
    if sorted and divisions is None:
        found = _sorted_divisions(frame[other])
        if found is not False:
            out = map_partitions(_set_index_part, frame, other, drop, meta=meta, token="set-index",
                                 divisions=tuple(found or (None,) * (frame.npartitions + 1)))
            return new_partitioning(out)  # (same rows, new labels)
    if divisions is None:
        divisions = quantile_divisions(frame[other], npartitions or frame.npartitions, split_every)
        if not divisions:  # no values at all: one partition, divisions unknown
            return map_partitions(_set_index_part, frame.repartition(1), other, drop, meta=meta,
                                  token="set-index")
        divisions = divisions * 2 if len(divisions) == 1 else divisions
    divisions = tuple(divisions)
    check_sorted_divisions(divisions, frame._meta[other].dtype, other)
    shuffled = _range_shuffle(frame, other, divisions, token="set-index")
    return map_partitions(_set_index_part, shuffled, other, drop, meta=meta, token="set-index",
                          divisions=divisions)


def _with_column(part, values, name):
    out = part.copy()
    out[name] = values  # same index: taken as is; else aligned as in pandas
    return out


def _named_index(part, name):
    return part.rename_axis(index=name)


def _set_index_series(frame, series, sorted, npartitions, divisions, split_every):  # noqa: A002
    """``set_index(series)``: *series* (aligned: same partitions) becomes a temporary
    column, the frame is indexed by it, and the index takes the series' name."""
    if series.npartitions != frame.npartitions:
        raise ValueError(f"set_index(other): the Series has {series.npartitions} partitions and "
                         f"the frame {frame.npartitions}; they must be aligned (same partitions)")
    tmp = "__shoal_index__"
    while tmp in frame._meta.columns:
        tmp = f"_{tmp}_"
    meta = frame._meta.assign(**{tmp: series._meta})
    joined = map_partitions(_with_column, frame, series, tmp, meta=meta, token="set-index-attach")
    out = set_index(joined, tmp, True, sorted, npartitions, divisions, split_every)
    name = series._meta.name
    return map_partitions(_named_index, out, name, meta=out._meta.rename_axis(index=name),
                          token="set-index-name")


def sort_values(frame, by, ascending=True, npartitions=None, na_position="last", split_every=None):
    """Sort rows by *by* (a column or list), as ``pandas`` with ``kind="stable"``.

    Partitions split at approximate quantiles of the first column (computed
    when called); equal values meet in one partition.  Divisions unknown.
    """
    cols = _as_list(by)
    first_asc = ascending[0] if isinstance(ascending, (list, tuple)) else ascending
    meta = frame._meta.sort_values(by, ascending=ascending, na_position=na_position)
    kwargs = dict(by=by, ascending=ascending, na_position=na_position)
    n = npartitions or frame.npartitions
    if n == 1 and frame.npartitions == 1:
        return map_partitions(_sort_part, frame, meta=meta, token="sort-values", **kwargs)
    boundaries = quantile_divisions(frame[cols[0]], n, split_every)
    if boundaries:  # else no values at all: any order will do
        boundaries = boundaries * 2 if len(boundaries) == 1 else boundaries
        frame = _range_shuffle(frame, cols[0], boundaries, bool(first_asc), na_position == "last")
    return map_partitions(_sort_part, frame, meta=meta, token="sort-values",
                          divisions=(None,) * (frame.npartitions + 1), **kwargs)


def drop_duplicates(frame, subset=None, keep="first", split_every=None, split_out=None,
                    ignore_index=False):
    """Rows (values) without repeats, as in pandas.

    A tree reduction to one partition: each level deduplicates its inputs
    concatenated in order, so "first" / "last" mean what they do in pandas.
    ``split_out=k`` or ``keep=False`` (every copy must meet) hash-shuffle on the
    subset instead; rows then come back grouped by partition.
    """
    opts = {"keep": keep}
    if isinstance(frame._meta, pd.DataFrame):
        opts["subset"] = subset
    elif subset is not None:
        raise TypeError("Series.drop_duplicates takes no subset")
    if subset is not None and any(c not in frame._meta for c in _as_list(subset)):
        raise KeyError(f"drop_duplicates: subset {subset!r} names missing columns")
    meta = frame._meta.drop_duplicates(**opts)
    if keep is False or (split_out or 1) > 1:
        cols = getattr(frame._meta, "columns", []) if subset is None else _as_list(subset)
        keys = [VALUES] if isinstance(frame._meta, pd.Series) else [("col", c) for c in cols]
        shuffled = _shuffle(frame, split_out or frame.npartitions, "hash", (keys,),
                            token="drop-duplicates-shuffle")
        # ignore_index numbers the rows of each partition from 0
        return map_partitions(_dedupe, shuffled, {**opts, "ignore_index": ignore_index}, meta=meta,
                              token="drop-duplicates")
    out = reduction(frame, _dedupe, _dedupe_concat, _dedupe_concat, token="drop-duplicates", meta=meta,
                    split_every=split_every, chunk_kwargs={"opts": opts},
                    combine_kwargs={"opts": opts, "meta": meta},
                    aggregate_kwargs={"opts": opts, "meta": meta, "ignore_index": ignore_index})
    if frame.known_divisions and not ignore_index:
        out.divisions = (frame.divisions[0], frame.divisions[-1])
    return out
