"""Reductions and the group-by shuffle of ``shoal.bag``.

Tree reductions::

    partitions:  p0  p1  p2  ...  p17
    chunk:       c0  c1  c2  ...  c17            one task each (fused with p_i's chain)
    combine:     [c0..c7] [c8..c15] [c16 c17]    split_every (default 8) at a time
    aggregate:   the root: an Item, or a one-partition Bag

Each reduction is a triple of ``chunk.py`` kernels written as ``(func, *args)``;
the data (a partition, or a list of pieces) is the last argument.  No task holds
more than ``split_every`` pieces, so memory stays bounded however many
partitions there are.  ``split_every=False`` means a single level.

Start values meant to enter the combine *once* (``fold``'s ``initial``, which
also starts every partition's fold, as in Dask; ``foldby``'s
``combine_initial``) are applied at the root only, so results do not depend on
the shape of the tree (as long as ``combine`` is associative).

``groupby`` is a hash shuffle in one stage::

    split:   p_i -> nout buckets by stable_hash(key(x)) % nout      nin tasks
    group:   output j <- bucket j of every split, grouped           nout tasks

Groups keep their elements in the original order.  With the process
scheduler every output task is sent *all* the splits (the engine ships whole
values, and a task has one value), so the bytes moved grow as
``nout x data``; to keep that cheap each bucket is pickled once, in the worker
that split it, and travels afterwards as an opaque ``bytes`` blob
(``chunk.Packed``), unpickled only by the one output task that reads it.
Separate "select bucket j of split i" tasks would not move fewer bytes (each
would still be sent its whole split) and would cost ``nin x nout`` tasks.
"""

from __future__ import annotations

import inspect

from shoal.bag import chunk
from shoal.bag.core import Bag, Item, _getter, funcname
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["distinct", "fold", "foldby", "frequencies", "groupby", "moments", "simple", "topk",
           "tree", "user_reduction"]

SPLIT_EVERY = 8
NOTHING = chunk.NOTHING


def _split_every(split_every, n):
    if split_every is None:
        return SPLIT_EVERY
    if split_every is False:
        return max(n, 2)
    if not isinstance(split_every, int) or split_every < 2:
        raise ValueError(f"split_every must be an int of at least 2 (or False), got {split_every!r}")
    return split_every


def tree(bag, chunk_k, combine_k, final_k, token, split_every=None, out_type=Item):
    """Build a tree reduction of *bag*; the kernels are ``(func, *args)`` tuples."""
    split_every = _split_every(split_every, bag.npartitions)
    tok = tokenize(bag, chunk_k, combine_k, final_k, split_every)
    name = f"{token}-{tok}"
    layer = {}
    level = []
    for i in range(bag.npartitions):
        key = (f"{token}-chunk-{tok}", i)
        layer[key] = Task(key, *chunk_k, Ref((bag._name, i)))
        level.append(key)
    depth = 0
    while len(level) > split_every:
        depth += 1
        nxt = []
        for j in range(0, len(level), split_every):
            key = (f"{token}-combine-{tok}", depth, j // split_every)
            layer[key] = Task(key, *combine_k, [Ref(k) for k in level[j: j + split_every]])
            nxt.append(key)
        level = nxt
    layer[(name, 0)] = Task((name, 0), *final_k, [Ref(k) for k in level])
    layers = merge_layers(bag, name=name, layer=layer)
    return Bag(layers, name, 1) if out_type is Bag else Item(layers, name)


_SIMPLE = {
    "count": ((chunk.count_chunk,), (chunk.sum_pieces,), (chunk.sum_pieces,)),
    "sum": ((sum,), (chunk.sum_pieces,), (chunk.sum_pieces,)),
    "min": ((chunk.min_chunk,), (chunk.min_pieces,), (chunk.finish_extreme, "min")),
    "max": ((chunk.max_chunk,), (chunk.max_pieces,), (chunk.finish_extreme, "max")),
    "any": ((any,), (chunk.any_pieces,), (chunk.any_pieces,)),
    "all": ((all,), (chunk.all_pieces,), (chunk.all_pieces,)),
}


def simple(bag, how, split_every=None):
    """count / sum / min / max / any / all as an Item."""
    c, m, f = _SIMPLE[how]
    return tree(bag, c, m, f, how, split_every)


def moments(bag, how, ddof, split_every=None):
    """mean / var / std from ``(count, mean, M2)`` pieces (Chan's merge)."""
    return tree(bag, (chunk.moments_chunk,), (chunk.merge_moments,),
                (chunk.finish_moments, how, ddof), how, split_every)


def user_reduction(bag, perpartition, aggregate, split_every, out_type, name):
    final = (chunk.aggregate_as_list, aggregate) if out_type is Bag else (aggregate,)
    token = name or f"reduction-{funcname(aggregate)}"
    return tree(bag, (perpartition,), (aggregate,), final, token, split_every, out_type)


def fold(bag, binop, combine, initial, split_every=None, out_type=None):
    combine = binop if combine is None else combine
    if out_type not in (None, Item, Bag):
        raise TypeError(f"fold: out_type must be Item or Bag, got {out_type!r}")
    final = chunk.finish_fold_list if out_type is Bag else chunk.finish_fold
    # ``initial`` starts each partition's fold, not the combine's (as in Dask: an initial
    # that is not the identity counts once per partition)
    return tree(bag, (chunk.fold_chunk, binop, initial), (chunk.fold_pieces, combine, NOTHING),
                (final, combine, NOTHING), f"fold-{funcname(binop)}", split_every,
                Bag if out_type is Bag else Item)  # fmt: skip


def frequencies(bag, sort=False, split_every=None):
    return tree(bag, (chunk.frequencies_chunk,), (chunk.merge_frequencies,),
                (chunk.finish_frequencies, bool(sort)), "frequencies", split_every, Bag)


def _key_function(key):
    """Callable key; one taking several required arguments is applied to tuples."""
    if key is None:
        return None
    key = _getter(key)
    try:
        params = inspect.signature(key).parameters.values()
    except (TypeError, ValueError):
        return key
    required = [p for p in params if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(required) > 1:
        from functools import partial

        return partial(chunk.call_star, key)
    return key


def topk(bag, k, key=None, split_every=None):
    key = _key_function(key)
    kernel = (chunk.topk_pieces, k, key)
    return tree(bag, (chunk.topk_chunk, k, key), kernel, kernel, "topk", split_every, Bag)


def distinct(bag, key=None, split_every=None):
    key = None if key is None else _getter(key)
    return tree(bag, (chunk.distinct_chunk, key), (chunk.merge_distinct,),
                (chunk.finish_distinct, key is not None), "distinct", split_every, Bag)


def foldby(bag, key, binop, initial=NOTHING, combine=None, combine_initial=NOTHING,
           split_every=None):
    key = _getter(key)
    combine = binop if combine is None else combine
    return tree(bag, (chunk.foldby_chunk, key, binop, initial),
                (chunk.merge_foldby, combine, NOTHING),
                (chunk.finish_foldby, combine, combine_initial),
                f"foldby-{funcname(binop)}", split_every, Bag)


def groupby(bag, grouper, npartitions=None):
    """``(key, [elements])`` pairs in *npartitions* partitions (see the docstring)."""
    grouper = _getter(grouper)
    nin = bag.npartitions
    nout = nin if npartitions is None else npartitions
    if not isinstance(nout, int) or nout < 1:
        raise ValueError(f"npartitions must be a positive int, got {nout!r}")
    tok = tokenize(bag, grouper, nout)
    name = f"groupby-{tok}"
    layer = {}
    if nout == 1:
        layer[(name, 0)] = Task((name, 0), chunk.group_buckets, grouper,
                                [Ref((bag._name, i)) for i in range(nin)])
        return Bag(merge_layers(bag, name=name, layer=layer), name, 1)
    split = f"groupby-split-{tok}"
    for i in range(nin):
        layer[(split, i)] = Task((split, i), chunk.hash_split, grouper, nout, Ref((bag._name, i)))
    splits = [Ref((split, i)) for i in range(nin)]
    for j in range(nout):
        layer[(name, j)] = Task((name, j), chunk.group_split, grouper, j, splits)
    return Bag(merge_layers(bag, name=name, layer=layer), name, nout)
