"""Tree reductions whose result spreads over several partitions (``split_out=N``).

::

    partitions:  p0          p1          p2   ...
    chunk:       c0          c1          c2            one piece per partition
    split:       c0/0 c0/1   c1/0 c1/1   c2/0 c2/1     rows routed by a hash of the keys
    per output j: tree-combine [c0/j, c1/j, c2/j, ...] (split_every at a time), aggregate

A group-by's partial statistics are indexed by the group keys; hashing those keys
(``pd.util.hash_pandas_object``, which hashes categoricals by value) sends every
partial of one group to the same output partition, so each output partition is
an ordinary tree reduction over its share of the groups.  No output partition
holds more than about ``1/N`` of the groups, which is the point: a group-by of
millions of groups does not end in one task.

The piece layout is the one of ``_groupby_stats``: ``(stats, distinct)``, where
``distinct`` maps positions to frames of distinct ``(k0, ..., v)`` rows; their key
columns hash to the same values as the stats index (same values, same dtypes).

Series pieces (``value_counts``: indexed by the values; ``unique``: the values)
are cut by :func:`split_values` instead.

Output divisions are unknown, as in Dask; the order of the groups over the
partitions is the hash's.  Everything but :func:`split_reduction` is a pure
pandas kernel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe._meta import make_meta
from shoal.dataframe.core import new_collection
from shoal.dataframe.partitioning import record_partitioning
from shoal.dataframe.reductions import _apply_list, _apply_one, combine_tree, fan_in

__all__ = ["normalize_split_out", "split_piece", "split_reduction", "split_values"]


def normalize_split_out(split_out, npartitions):
    """``split_out`` as a number of output partitions (``True``: one per input one)."""
    if split_out is None or split_out is False:
        return 1
    if split_out is True:
        return max(1, npartitions)
    if isinstance(split_out, (int, np.integer)) and not isinstance(split_out, bool) and split_out >= 1:
        return int(split_out)
    raise ValueError(f"split_out must be a positive integer or True, got {split_out!r}")


def _hashable_numbers(column: pd.Series) -> pd.Series:
    """Real numbers as float64 (``-0.0`` as ``0.0``): a key that is an int in one partition
    and a float in another (equal in a group-by) hashes the same.  Others as they are."""
    dtype = column.dtype
    if (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            and not pd.api.types.is_complex_dtype(dtype)
            and not isinstance(dtype, pd.CategoricalDtype)):
        return column.astype("float64") + 0.0
    return column


def _buckets(keys: pd.DataFrame, n: int) -> np.ndarray:
    """Output partition of every row of *keys* (a frame of key columns)."""
    if not len(keys):
        return np.zeros(0, dtype="int64")
    keys = keys.apply(_hashable_numbers)
    hashed = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    return (hashed % np.uint64(n)).astype("int64")


def split_piece(piece, n):
    """A group-by piece cut into *n* pieces by the hash of its group keys."""
    stats, distinct = piece
    where = _buckets(stats.index.to_frame(index=False), n)
    nkeys = stats.index.nlevels
    shards = {p: (d, _buckets(d.iloc[:, :nkeys], n)) for p, d in distinct.items()}
    return [(stats.iloc[where == j], {p: d.iloc[w == j] for p, (d, w) in shards.items()})
            for j in range(n)]


def split_values(piece, n, by_index):
    """A Series piece (or an Index) cut into *n* by the hash of its index or values."""
    keys = piece.to_frame(index=False) if isinstance(piece, pd.Index) else \
        (piece.index.to_frame(index=False) if by_index else piece.to_frame())
    where = _buckets(keys, n)
    return [piece[where == j] for j in range(n)]


def _pick(pieces, j):
    return pieces[j]


def split_reduction(frame, chunk, aggregate, combine, *, split_out, token, meta, split_every,
                    chunk_kwargs, combine_kwargs, aggregate_kwargs, splitter=split_piece,
                    splitter_args=()):
    """The tree reduction of *frame* with ``split_out`` output partitions (see above)."""
    split_every = fan_in(split_every, frame.npartitions)
    tok = tokenize(frame, chunk, combine, aggregate, chunk_kwargs, combine_kwargs,
                   aggregate_kwargs, split_every, split_out)
    name = f"{token}-{tok}"
    layer = {}
    splits = []
    for i in range(frame.npartitions):
        ck, sk = (f"{token}-chunk-{tok}", i), (f"{token}-split-{tok}", i)
        layer[ck] = Task(ck, _apply_one, chunk, Ref((frame._name, i)), chunk_kwargs)
        layer[sk] = Task(sk, splitter, Ref(ck), split_out, *splitter_args)
        splits.append(sk)
    for j in range(split_out):
        level = []
        for i, sk in enumerate(splits):
            key = (f"{token}-shard-{tok}", i, j)
            layer[key] = Task(key, _pick, Ref(sk), j)
            level.append(key)
        level = combine_tree(layer, level, combine, combine_kwargs, f"{token}-combine-{tok}",
                             split_every, lead=(j,))
        layer[(name, j)] = Task((name, j), _apply_list, aggregate, [Ref(k) for k in level],
                                aggregate_kwargs)
    out = new_collection(merge_layers(frame, name=name, layer=layer), name, make_meta(meta),
                         (None,) * (split_out + 1))
    if splitter is split_piece or splitter is split_values and splitter_args == (True,):
        # cut by a hash of the result's index: alike for every such result (partitioning.py)
        record_partitioning(name, f"split-out-index-{split_out}")
    return out


# -- Series.value_counts / unique with split_out ----------------------------------------

def _proportion(part, total):
    return (part / total).rename("proportion") if total else part.astype("float64").rename(
        "proportion")


def series_value_counts(series, nout, sort, ascending, dropna, normalize, split_every):
    """``value_counts`` over *nout* partitions (each sorted inside, as Dask's)."""
    from shoal.dataframe import reductions as r

    meta = series._meta.value_counts(dropna=dropna)
    counts = split_reduction(
        series, r._chunk_counts, r._agg_counts, r._combine_counts, split_out=nout,
        token="value-counts", meta=meta, split_every=split_every,
        chunk_kwargs={"dropna": dropna}, combine_kwargs={"observed": True},
        aggregate_kwargs={"sort": sort, "ascending": ascending, "normalize": False,
                          "name": series._meta.name, "observed": True},  # (chunks list all
        # categories, each hashed to one output: observed=False would repeat them in all)
        splitter=split_values, splitter_args=(True,))
    if not normalize:
        return counts
    meta = series._meta.value_counts(dropna=dropna, normalize=True)
    return counts.map_partitions(_proportion, counts.sum(), meta=meta, token="proportion")


def series_unique(series, nout, split_every):
    """``unique`` over *nout* partitions (first-appearance order inside each)."""
    from shoal.dataframe import reductions as r

    meta = series._meta[:0].reset_index(drop=True)
    return split_reduction(
        series, r._distinct, r._agg_unique, r._combine_distinct, split_out=nout, token="unique",
        meta=meta, split_every=split_every, chunk_kwargs={"dropna": False}, combine_kwargs={},
        aggregate_kwargs={"name": series._meta.name}, splitter=split_values,
        splitter_args=(False,))
