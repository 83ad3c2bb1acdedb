"""Group-by methods a tree of per-group statistics cannot give: the exact ``median``
and the row-aligned scans ``cumsum``, ``cumprod``, ``cummax``, ``cummin``,
``cumcount`` and ``shift`` (methods of ``groupby.GroupBy``).

**Median: each group whole.**  A median is no merge of partial medians, so the rows
are first hash-shuffled by the keys (as for ``apply``): a group's rows then share one
partition, pandas' own aggregation is exact there, and the per-partition results
(disjoint groups) are stacked into one partition (``split_out=N``: the shuffle makes
N partitions and each is aggregated where it is, N partitions out, as Dask)::

    partitions:   p0   p1   p2   p3      (sort=False: an order column, partition << 40 | row)
    shuffle:      s0   s1   s2   s3      rows of equal keys in one of them
    chunk:        a0   a1   a2   a3      pandas' agg of each partition, + first order per group
    combine:      concat (split_every at a time)
    aggregate:    concat, sort_index (sort=True) or first-appearance order, meta's dtypes

Any ``agg`` that names ``median`` takes this path whole (``agg({"v": "median",
"w": "sum"})``), so memory is bounded by the largest partition after the shuffle.
``observed=False`` with categorical keys is refused (each partition would add every
unobserved category).

**Scans: a carry along the partitions.**  The rows stay where they are; what a
partition needs from the ones before it is small, per group, and handed down a
chain (``neighbours.scan``)::

    carry_1 = step(None, p0)           cumsum: each group's sum so far; cumprod: product;
    carry_i = step(carry_{i-1}, p_i-1)  cummax / cummin: max / min; cumcount: row count;
    out_i   = finish(p_i, carry_i)      shift(n): each group's last n rows (first n, from
                                        the end, for n < 0: the chain runs backwards)

``finish`` prepends the carry as *stand-in rows* (one per group, the keys and the
carried values, or the carried rows themselves for ``shift``), runs pandas' own
method on them and the partition together, and drops the stand-ins again: the sum
so far followed by the partition's values gives exactly the running sums, NaN
where pandas puts NaN (``skipna``, NaN keys with ``dropna``), in pandas' layout.
``cumcount`` carries counts and runs a running sum of ones (reversed for
``ascending=False``).  The carries are one row per group seen so far (``shift``:
``n`` rows), so memory is bounded by the number of groups.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe._meta import make_meta
from shoal.dataframe.core import map_partitions, new_collection
from shoal.dataframe.groupby import _VALUE, _grouped
from shoal.dataframe.neighbours import scan
from shoal.dataframe.reductions import reduction

__all__ = ["cumcount", "cumulative", "shift", "whole_group_agg"]

_ORDER = "__shoal_order__"
_ONES = "__shoal_ones__"
#: cumulative method -> the per-group aggregate its carry is
AGGREGATES = {"cumsum": "sum", "cumprod": "prod", "cummax": "max", "cummin": "min"}


def _check_bool(value, what, method):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"groupby(...).{method}: {what} must be True or False, got {value!r}")


# -- median: whole groups ------------------------------------------------------------


def _number(part, i):
    """*part* with an order column: partition *i*, row position (first appearance)."""
    out = part.copy()
    out[_ORDER] = (np.int64(i) << np.int64(40)) + np.arange(len(part), dtype="int64")
    return out


def _numbered(frame):
    tok = tokenize(frame, "groupby-order")
    name = f"groupby-order-{tok}"
    layer = {(name, i): Task((name, i), _number, Ref((frame._name, i)), i)
             for i in range(frame.npartitions)}
    meta = _number(frame._meta, 0)
    return new_collection(merge_layers(frame, name=name, layer=layer), name, meta,
                          frame.divisions)


def _agg_chunk(part, recipe, selection, op, ordered):
    """pandas' aggregation of a partition of whole groups (+ each group's first order)."""
    data = part.drop(columns=[_ORDER]) if ordered else part
    out = getattr(_grouped(data, recipe, selection), op[0])(*op[1], **op[2])
    if not ordered:
        return out, None
    if recipe[2]:  # a Series' group-by: the order column in the value's place
        order = part.drop(columns=[_VALUE]).rename(columns={_ORDER: _VALUE})
        return out, _grouped(order, recipe, None).min().to_numpy()
    return out, _grouped(part, recipe, _ORDER).min().to_numpy()


def _agg_concat(pieces):
    full = [p for p in pieces if len(p[0])]
    if len(full) <= 1:
        return full[0] if full else pieces[0]  # (an empty piece: its groups none)
    pieces = full
    first = None if pieces[0][1] is None else np.concatenate([p[1] for p in pieces])
    return pd.concat([p[0] for p in pieces]), first


def _agg_final(pieces, sort, meta):
    out, first = _agg_concat(pieces)
    if not len(out):
        return meta.copy()
    if sort:
        out = out.sort_index()
    elif first is not None:
        out = out.iloc[np.argsort(first, kind="stable")]
    if isinstance(meta, pd.Series):
        return out.astype(meta.dtype) if out.dtype != meta.dtype else out
    for i, dtype in enumerate(meta.dtypes):
        if out.dtypes.iloc[i] != dtype:
            try:
                out.isetitem(i, out.iloc[:, i].astype(dtype))
            except (TypeError, ValueError):
                pass
    return out


def _agg_whole(part, recipe, selection, op, ordered, sort, meta):
    """One shuffled partition (whole groups) aggregated on its own (``split_out``)."""
    return _agg_final([_agg_chunk(part, recipe, selection, op, ordered)], sort, meta)


def whole_group_agg(gb, op, plan, meta, funcs, split_every, token, nout=1):
    """``op = (method, args, kwargs)`` (an aggregation that names ``median``) run by
    pandas on whole groups after a shuffle; *nout* partitions out."""
    from shoal.dataframe.shuffle import shuffle

    bad = sorted({f for f, _, _ in plan if f not in funcs and f != "median"})
    if bad:
        raise NotImplementedError(f"groupby aggregation(s) {bad} not supported; supported: "
                                  f"{', '.join(funcs)}, median")
    spec = gb._spec
    if not spec.gkw["observed"] and any(
            isinstance(spec.frame._meta[k].dtype, pd.CategoricalDtype) for k in spec.keys):
        raise NotImplementedError("groupby(observed=False) median of categorical keys is not "
                                  "supported; use observed=True")
    sort = spec.gkw["sort"]
    frame = spec.frame if sort else _numbered(spec.frame)
    moved = shuffle(frame, on=spec.keys if len(spec.keys) > 1 else spec.keys[0],
                    npartitions_out=nout if nout > 1 else None)
    meta = make_meta(meta)
    ck = {"recipe": spec.recipe, "selection": gb._user_selection(), "op": op,
          "ordered": not sort}
    if nout > 1:
        return map_partitions(_agg_whole, moved, *ck.values(), sort, meta, meta=meta,
                              token=token)
    return reduction(moved, _agg_chunk, _agg_final, _agg_concat, token=token, meta=meta,
                     split_every=split_every, chunk_kwargs=ck,
                     aggregate_kwargs={"sort": sort, "meta": meta})


# -- scans: a carry along the partitions ------------------------------------------------


def _setup(gb, method, call):
    """(frame, meta, keys, values, recipe, selection) of a row-aligned method."""
    spec, selection = gb._spec, gb._user_selection()
    meta = make_meta(call(gb._sample()))
    values = [gb._selection] if isinstance(meta, pd.Series) else list(meta.columns)
    if method != "cumcount":
        clash = [v for v in values if v in spec.keys]
        if clash:
            raise NotImplementedError(f"groupby(...).{method} of the key column(s) {clash} is "
                                      "not supported")
    return spec.frame, meta, list(spec.keys), values, spec.recipe, selection


def _keyed(frame, keys, dropna):
    return frame.groupby(keys, sort=False, dropna=dropna, observed=True)


def _stand_ins(carry, keys, part):
    """The carry (indexed by the keys) as rows laid out as *part*, index of its type."""
    kf = carry.index.to_frame(index=False).set_axis(keys, axis=1)
    rows = pd.concat([kf, carry.reset_index(drop=True)], axis=1)
    rows = rows.reindex(columns=part.columns)
    rows.index = part.index.take(np.zeros(len(rows), dtype="int64"))
    return rows


def _conform(out, meta):
    """Cast columns that went through object (stand-ins) or int (no NaN here) back to
    *meta*'s dtype; NaN pandas would also give (NaN keys) keeps a float."""
    cols = [out] if isinstance(out, pd.Series) else [out.iloc[:, i] for i in range(out.shape[1])]
    mtypes = [meta.dtype] if isinstance(meta, pd.Series) else list(meta.dtypes)
    fixed = []
    for col, dtype in zip(cols, mtypes):
        if col.dtype != dtype and (col.dtype == object or
                                   (col.dtype.kind in "iu" and dtype.kind == "f")):
            try:
                col = col.astype(dtype)
            except (TypeError, ValueError):
                pass
        fixed.append(col)
    if isinstance(out, pd.Series):
        return fixed[0]
    out = out.copy()
    for i, col in enumerate(fixed):
        out.isetitem(i, col)
    return out


def _cum_step(carry, part, keys, values, dropna, agg, skipna, *_):
    if not len(part):
        return carry
    total = getattr(_keyed(part, keys, dropna)[values], agg)(skipna=skipna)
    if carry is None or not len(carry):
        return total
    both = pd.concat([carry, total])
    level = list(range(len(keys))) if len(keys) > 1 else 0
    return getattr(both.groupby(level=level, sort=False, dropna=False), agg)(skipna=skipna)


def _cum_finish(part, carry, keys, values, dropna, agg, skipna, recipe, selection, method,
                kwargs, meta):
    if carry is None or not len(carry) or not len(part):
        return _conform(getattr(_grouped(part, recipe, selection), method)(**kwargs), meta)
    if agg in ("sum", "prod"):  # bools sum to ints: the stand-ins hold ints, and a column
        part = _as_result_dtype(part, values, meta)  # of bools and ints becomes object
    rows = _stand_ins(carry, keys, part)
    both = pd.concat([rows, part])
    out = getattr(_grouped(both, recipe, selection), method)(**kwargs).iloc[len(rows):]
    return _conform(out, meta)


def _as_result_dtype(part, values, meta):
    """*part* with its boolean value columns cast to the result's dtype (Int64 for the
    nullable boolean, int64[pyarrow] for bool[pyarrow], int64 for bool)."""
    dtypes = {values[0]: meta.dtype} if isinstance(meta, pd.Series) else dict(meta.dtypes)
    cast = {v: dtypes[v] for v in values
            if v in dtypes and v in part and pd.api.types.is_bool_dtype(part[v].dtype)}
    return part.astype(cast) if cast else part


def cumulative(gb, method, numeric_only, skipna):
    """``cumsum`` / ``cumprod`` / ``cummax`` / ``cummin`` per group, rows in place."""
    _check_bool(numeric_only, "numeric_only", method)
    _check_bool(skipna, "skipna", method)
    kwargs = {"numeric_only": numeric_only, "skipna": skipna}
    frame, meta, keys, values, recipe, selection = _setup(
        gb, method, lambda g: getattr(g, method)(**kwargs))
    dropna, agg = recipe[5]["dropna"], AGGREGATES[method]
    return scan(frame, f"groupby-{method}", _cum_step, _cum_finish, meta=meta,
                args=(keys, values, dropna, agg, skipna, recipe, selection, method, kwargs,
                      meta))


def _count_step(carry, part, keys, dropna, *_):
    if not len(part):
        return carry
    sizes = _keyed(part, keys, dropna).size().rename(_ONES).to_frame()
    if carry is None or not len(carry):
        return sizes
    level = list(range(len(keys))) if len(keys) > 1 else 0
    return pd.concat([carry, sizes]).groupby(level=level, sort=False, dropna=False).sum()


def _count_finish(part, carry, keys, dropna, ascending):
    work = part[keys].copy()
    work[_ONES] = np.ones(len(part), dtype="int64")
    rows = None
    if carry is not None and len(carry) and len(part):
        rows = _stand_ins(carry, keys, work)
        work = pd.concat([rows, work] if ascending else [work, rows])
    if not ascending:
        work = work.iloc[::-1]
    out = _keyed(work, keys, dropna)[_ONES].cumsum() - 1
    if not ascending:
        out = out.iloc[::-1]
    out = out.iloc[len(rows):] if rows is not None and ascending else out.iloc[:len(part)]
    return out.rename(None)


def cumcount(gb, ascending):
    """Each row's position in its group over the whole data (``ascending=False``: from
    the end; the carry then runs backwards)."""
    _check_bool(ascending, "ascending", "cumcount")
    frame, meta, keys, _, recipe, _ = _setup(gb, "cumcount",
                                               lambda g: g.cumcount(ascending=ascending))
    meta = meta.rename(None)
    return scan(frame, "groupby-cumcount", _count_step, _count_finish, meta=meta,
                reverse=not ascending, args=(keys, recipe[5]["dropna"], ascending))


def _shift_step(carry, part, keys, values, dropna, periods, *_):
    if not len(part):
        return carry
    rows = part[keys + values]
    if periods > 0:
        both = rows if carry is None else pd.concat([carry, rows])
        return _keyed(both, keys, dropna).tail(periods)
    both = rows if carry is None else pd.concat([rows, carry])
    return _keyed(both, keys, dropna).head(-periods)


def _shift_finish(part, carry, keys, values, dropna, periods, recipe, selection, kwargs, meta):
    n = len(part)
    if carry is None or not len(carry) or not n:
        return _conform(_grouped(part, recipe, selection).shift(periods, **kwargs), meta)
    rows = carry.reindex(columns=part.columns)
    rows.index = part.index.take(np.zeros(len(rows), dtype="int64"))
    both = pd.concat([rows, part] if periods > 0 else [part, rows])
    out = _grouped(both, recipe, selection).shift(periods, **kwargs)
    return _conform(out.iloc[len(rows):] if periods > 0 else out.iloc[:n], meta)


def shift(gb, periods, freq, fill_value, meta):
    """``shift(periods)`` per group, rows in place: the carry is each group's last
    *periods* rows before the partition (first ``-periods`` after it, backwards)."""
    if not isinstance(periods, numbers.Integral) or isinstance(periods, bool):
        raise TypeError(f"groupby(...).shift: periods must be an integer, got {periods!r}")
    if freq is not None:
        raise NotImplementedError("groupby(...).shift(freq=...) is not supported")
    periods = int(periods)
    kwargs = {} if fill_value is None else {"fill_value": fill_value}
    frame, pmeta, keys, values, recipe, selection = _setup(
        gb, "shift", lambda g: g.shift(periods, **kwargs))
    meta = pmeta if meta is None else make_meta(meta, index=frame._meta.index)
    return scan(frame, "groupby-shift", _shift_step, _shift_finish, meta=meta,
                reverse=periods < 0,
                args=(keys, values, recipe[5]["dropna"], periods, recipe, selection, kwargs,
                      meta))
