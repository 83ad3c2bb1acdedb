"""``unique``: per-block uniques merged by a tree, computed when it is called.

::

    blocks:   b0        b1        b2        b3
    chunk:    u0        u1        u2        u3       np.unique of the block (+ first flat
                \\      /          \\      /           index, + counts), one task each
    combine:    u01                 u23               merge split_every partials: unique of
                    \\             /                  the values, min of the indices, sum
    aggregate:         u0123                          of the counts
                         |
    eager:  computed now -> one-block Array          inverse: searchsorted per block (lazy)

The length of the result depends on the data.  Dask gives such an array unknown
(NaN) chunk lengths; shoal's arrays always know their chunks (``Array`` stores
them as ints and every operation relies on them), so ``unique`` computes the tree
when it is called (on the scheduler ``shoal.compute`` would choose) and returns
arrays built from the values.  Only ``return_inverse`` stays lazy: once the
unique values are known, each block's positions in them are a ``searchsorted``
per block, shaped like the input (as NumPy 2 shapes it).  NaNs collapse into one,
as with NumPy's default ``equal_nan=True``.
"""

from __future__ import annotations

import numpy as np

from shoal.array.core import Array, asarray, from_array, offsets
from shoal.array.reductions import SPLIT_EVERY
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["unique"]


def _chunk(block, starts, shape):
    """``(values, first flat index in the whole array, counts)`` of one block."""
    flat = np.asarray(block).ravel()
    values, first, counts = np.unique(flat, return_index=True, return_counts=True)
    if len(shape):
        local = np.unravel_index(first, np.shape(block))
        first = np.ravel_multi_index(tuple(i + s for i, s in zip(local, starts)), shape)
    return values, np.asarray(first, dtype=np.intp), counts.astype(np.intp)


def _merge(parts):
    values = np.concatenate([p[0] for p in parts])
    first = np.concatenate([p[1] for p in parts])
    counts = np.concatenate([p[2] for p in parts])
    merged, where = np.unique(values, return_inverse=True)
    where = where.ravel()
    out_first = np.full(len(merged), np.iinfo(np.intp).max, dtype=np.intp)
    np.minimum.at(out_first, where, first)
    out_counts = np.zeros(len(merged), dtype=np.intp)
    np.add.at(out_counts, where, counts)
    return merged, out_first, out_counts


def _inverse(block, values):
    """Each element's position in the sorted unique *values*; every NaN at the one NaN
    they collapsed into, last (complex NaNs of other payloads sort apart, past it)."""
    block = np.asarray(block)
    out = np.searchsorted(values, block).astype(np.intp)
    if values.dtype.kind in "fc" and len(values) and np.isnan(values[-1]):
        out[np.isnan(block)] = len(values) - 1
    return out


def _tree(x: Array):
    """The lazy tree of partials; returns ``(layers, key of the final partial)``."""
    token = tokenize(x, "unique")
    name = f"unique-{token}"
    starts = [offsets(c) for c in x.chunks]
    layer = {}
    level = []
    for n, idx in enumerate(np.ndindex(*x.numblocks)):
        key = (f"{name}-chunk", n)
        where = tuple(s[i] for s, i in zip(starts, idx))
        layer[key] = Task(key, _chunk, Ref(x._key(idx)), where, x.shape)
        level.append(key)
    depth = 0
    while len(level) > 1 or depth == 0:
        depth += 1
        nxt = []
        for k in range(0, len(level), SPLIT_EVERY):
            key = (f"{name}-combine-{depth}", k // SPLIT_EVERY)
            layer[key] = Task(key, _merge, [Ref(r) for r in level[k:k + SPLIT_EVERY]])
            nxt.append(key)
        level = nxt
    return merge_layers(x, name=name, layer=layer), level[0]


def unique(ar, return_index=False, return_inverse=False, return_counts=False):
    """``numpy.unique`` of the flattened array (see the module docstring: computed now,
    except the lazy inverse); returns what NumPy returns for the same flags."""
    from shoal.base import compute
    from shoal.delayed import Delayed

    x = asarray(ar)
    for label, flag in (("return_index", return_index), ("return_inverse", return_inverse),
                        ("return_counts", return_counts)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"unique: {label} must be True or False, got {flag!r}")
    if x.ndim == 0:
        x = x.reshape(1)
    layers, final = _tree(x)
    graph = {k: v for layer in layers.values() for k, v in layer.items()}
    (values, first, counts), = compute(Delayed(final, graph[final], (), layer=graph))
    values = values.astype(x.dtype, copy=False)
    out = [from_array(values, chunks=(max(len(values), 1),))]
    if return_index:
        out.append(from_array(first, chunks=(max(len(first), 1),)))
    if return_inverse:
        name = f"unique-inverse-{tokenize(x, values)}"
        layer = {(name, *idx): Task((name, *idx), _inverse, Ref(x._key(idx)), values)
                 for idx in np.ndindex(*x.numblocks)}  # fmt: skip
        shape = np.shape(ar) if not isinstance(ar, Array) else ar.shape
        inv = Array(merge_layers(x, name=name, layer=layer), name, x.chunks, np.intp)
        out.append(inv.reshape(shape) if inv.shape != tuple(shape) else inv)
    if return_counts:
        out.append(from_array(counts, chunks=(max(len(counts), 1),)))
    return out[0] if len(out) == 1 else tuple(out)
