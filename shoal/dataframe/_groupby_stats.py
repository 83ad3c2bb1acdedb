"""Pure pandas kernels of the group-by tree reduction (see ``groupby.py``).

A *piece* is what one task hands to the next: ``(stats, distinct)`` where

- ``stats`` is a DataFrame with one row per group seen so far, indexed by the
  group keys (one level per key, in order), with columns named
  ``"<stat>:<position>"`` (``position`` indexes the list of value columns) plus
  ``"size"``;
- ``distinct`` maps a position to a DataFrame of distinct ``(k0, ..., v)`` rows
  (only for ``nunique``).

How each partial statistic merges::

    size, count:<p>, sum:<p>     sum of the partials
    prod:<p>                     product
    min:<p>, max:<p>             min / max
    first:<p>, last:<p>          first / last non-null, in partition order
    n:<p>, mean:<p>, M2:<p>      Chan's parallel formula (see combine_moments)
    distinct[p]                  concat + drop_duplicates

Nothing here knows about graphs; every function is module level so that
process pools pickle it by reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["aggregate", "chunk", "combine"]

SIMPLE_MERGE = {"size": "sum", "count": "sum", "sum": "sum", "prod": "prod", "min": "min",
                "max": "max", "first": "first", "last": "last"}


def _key_names(nkeys):
    return [f"k{i}" for i in range(nkeys)]


def _level(nkeys):
    return list(range(nkeys)) if nkeys > 1 else 0


def chunk(part, keys, columns, stats, distinct, dropna, observed):
    """Partial statistics of one partition.

    *keys*: the key columns of *part*; *columns*: the value columns (a
    position in this list names a column in the output); *stats*: pairs
    ``(stat, positions)`` with stat one of SIMPLE_MERGE's or ``"moments"``;
    *distinct*: positions that need distinct values (``nunique``).
    """
    g = part.groupby(list(keys), sort=False, dropna=dropna, observed=observed)
    out = {"size": g.size()}
    for stat, positions in stats:
        for p in positions:
            col = g[columns[p]]
            if stat == "moments":
                n = col.count()
                out[f"n:{p}"] = n.astype("float64")
                out[f"mean:{p}"] = col.mean().astype("float64")
                out[f"M2:{p}"] = (col.var(ddof=0) * n).astype("float64")
            elif stat == "sum":
                # all-null groups give NaN (min_count=1): an object column's empty sum is 0,
                # which would not concatenate with strings; _final fills the empty sum back
                out[f"sum:{p}"] = col.sum(min_count=1)
            else:
                out[f"{stat}:{p}"] = getattr(col, stat)()
    frame = pd.DataFrame(out)
    uniq = {}
    if distinct:
        knames = _key_names(len(keys))
        idx = pd.RangeIndex(len(part))  # positional: no alignment, duplicate labels are fine
        data = {k: part[c].set_axis(idx) for k, c in zip(knames, keys)}
        for p in distinct:
            d = pd.DataFrame({**data, "v": part[columns[p]].set_axis(idx)})
            if dropna:
                d = d.dropna(subset=knames)
            uniq[p] = d.drop_duplicates()
    return frame, uniq


def _concat(frames):
    nonempty = [f for f in frames if len(f)]
    if not nonempty:
        return frames[0]
    return nonempty[0] if len(nonempty) == 1 else pd.concat(nonempty)


def combine_moments(stacked, positions, ids, ngroups):
    """Merge ``(n, mean, M2)`` rows of the same group (Chan et al., all at once).

    *ids* numbers each row's group (``ngroup``).  With ``N = sum n_i`` and
    ``mean = sum n_i mean_i / N``: ``M2 = sum M2_i + sum n_i (mean_i - mean)**2``,
    so no sum of squares cancels.
    """
    cols = {}
    for p in positions:
        n = stacked[f"n:{p}"].to_numpy("float64")
        has = n > 0
        m = np.where(has, stacked[f"mean:{p}"].to_numpy("float64"), 0.0)
        total = np.bincount(ids, n, ngroups)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(ids, n * m, ngroups) / total
            mean[total == 0] = np.nan
            dev = np.where(has, n * (m - mean[ids]) ** 2, 0.0)
        dev += np.nan_to_num(stacked[f"M2:{p}"].to_numpy("float64"), nan=0.0)
        cols[f"n:{p}"], cols[f"mean:{p}"] = total, mean
        cols[f"M2:{p}"] = np.bincount(ids, dev, ngroups)
    return cols


def combine(pieces, nkeys, observed):
    """Merge pieces into one piece (same layout)."""
    stacked = _concat([p[0] for p in pieces])
    g = stacked.groupby(level=_level(nkeys), sort=False, dropna=False, observed=observed)
    by_stat: dict = {}
    moments = []
    for c in stacked.columns:
        stat = c.split(":")[0]
        if stat in SIMPLE_MERGE:
            by_stat.setdefault(stat, []).append(c)
        elif stat == "n":
            moments.append(int(c.split(":")[1]))
    out = [getattr(g[cols], SIMPLE_MERGE[stat])(**({"min_count": 1} if stat == "sum" else {}))
           for stat, cols in by_stat.items()]  # "size" comes first: never empty
    if moments:
        # observed groups are numbered in result order, unobserved ones (zero rows) after
        index = out[0].index
        cols = combine_moments(stacked, moments, g.ngroup().to_numpy(), len(index))
        out.append(pd.DataFrame(cols, index=index))
    frame = out[0] if len(out) == 1 else pd.concat(out, axis=1)
    distinct = {p: _concat([piece[1][p] for piece in pieces]).drop_duplicates()
                for p in pieces[0][1]}
    return frame, distinct


def _final(stats, distinct, func, p, kwargs, nkeys, observed):
    if func == "size":
        return stats["size"]
    if func in ("var", "std"):
        n = stats[f"n:{p}"]
        d = n - kwargs.get("ddof", 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (stats[f"M2:{p}"] / d).where(d > 0)
        return np.sqrt(var) if func == "std" else var
    if func == "sum":
        out = stats[f"sum:{p}"]
        return out.fillna(kwargs["empty"]) if out.hasnans else out
    if func == "nunique":
        d = distinct[p]
        knames = _key_names(nkeys)
        counts = d.groupby(knames, sort=False, dropna=False, observed=True)["v"].nunique(
            dropna=kwargs.get("dropna", True)).rename("v").reset_index()
        # a merge, not a reindex: it matches NaN keys inside a MultiIndex too
        groups = stats.index.to_frame(index=False).set_axis(knames, axis=1)
        merged = groups.merge(counts, how="left", on=knames, sort=False)["v"]
        return pd.Series(merged.fillna(0).astype("int64").to_numpy(), index=stats.index)
    return stats[f"{func}:{p}"]


def _stringish(dtype):
    return dtype == object or isinstance(dtype, pd.StringDtype)


def _conforms(func, dtype, meta_dtype):
    """Whether a result of *dtype* takes *meta_dtype*, the dtype pandas gives.

    Floats of moments (``Float64`` for nullable input), sums of ints whose
    partial sums went through NaN (unobserved categories), nullable ``size``,
    and object vs ``str``, which pandas infers differently per call path.
    """
    if func in ("mean", "var", "std", "size"):
        return True
    if func == "sum" and pd.api.types.is_numeric_dtype(meta_dtype):
        return True
    return _stringish(dtype) and _stringish(meta_dtype)


def aggregate(pieces, nkeys, observed, plan, sort, meta):
    """The final result: merge, apply the final formulas, lay out as *meta*.

    *plan*: one ``(func, position, kwargs)`` per output column, in *meta*'s order.
    """
    stats, distinct = combine(pieces, nkeys, observed)
    if not len(stats):
        return meta.copy()
    cols = [_final(stats, distinct, func, p, kw, nkeys, observed) for func, p, kw in plan]
    out = pd.DataFrame({i: c for i, c in enumerate(cols)}, index=stats.index)
    out.index.names = list(meta.index.names)
    if sort:
        out = out.sort_index()
    mtypes = [meta.dtype] if isinstance(meta, pd.Series) else list(meta.dtypes)
    for i, (func, _, _) in enumerate(plan):
        if out[i].dtype != mtypes[i] and _conforms(func, out[i].dtype, mtypes[i]):
            out[i] = out[i].astype(mtypes[i])
    if isinstance(meta, pd.Series):
        return out[0].rename(meta.name)
    out.columns = meta.columns
    return out
