"""Binning and searching: ``bincount``, ``digitize``, ``searchsorted``.

::

    bincount(x, weights):   x0 x1 x2        np.bincount(block, w_block, minlength=L)
                             \\ | /           one task per block, all of length L
                             add, split_every at a time, up to one block of length L

    searchsorted(a, v):     a0  a1  a2       (a a sorted 1-D shoal array)
                    v_i:    s0  s1  s2       np.searchsorted(a_j, v_i), one task per pair
                             \\ | /
                             add                       -> block i of the result

Counting: in a sorted array the elements below ``v`` (or at most ``v`` with
``side="right"``) are the sum over its blocks of those below ``v`` in each
block, since each block is sorted too.  So ``searchsorted`` against a shoal
``a`` adds per-block answers; an in-memory ``a`` is simply passed to every
block of ``v``.  ``digitize`` takes in-memory ``bins`` (as Dask).

``bincount``'s length is ``max(x) + 1`` unless ``minlength`` is larger: shoal
arrays have no unknown chunk sizes (Dask's ``nan``), so without a large enough
``minlength`` the maximum is computed when ``bincount`` is called (one reduction
over ``x``), as ``unique`` computes on call.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array import chunk
from shoal.array.core import Array, asarray
from shoal.array.reductions import SPLIT_EVERY
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["bincount", "digitize", "searchsorted"]


def _sum_tree(layer, keys, name, out_idx, split_every):
    """Add the partials *keys* ``split_every`` at a time into ``(name, *out_idx)``."""
    depth = 0
    while True:
        if len(keys) <= split_every:
            key = (name, *out_idx)
            layer[key] = Task(key, chunk.add_all, [Ref(k) for k in keys])
            return key
        depth += 1
        nxt = []
        for g in range(0, len(keys), split_every):
            key = (f"{name}-add-{depth}", *out_idx, g // split_every)
            layer[key] = Task(key, chunk.add_all, [Ref(k) for k in keys[g:g + split_every]])
            nxt.append(key)
        keys = nxt


def _split_every(split_every):
    split_every = SPLIT_EVERY if split_every is None else int(split_every)
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    return split_every


def _bincount_block(block, weights, minlength):
    return np.bincount(block, weights, minlength=minlength)


def bincount(x, weights=None, minlength=0, split_every=None):
    """``numpy.bincount`` of a 1-D array of non-negative integers (see the module
    docstring for the length); ``weights`` a shoal or NumPy array shaped like ``x``."""
    x = asarray(x)
    if x.ndim != 1:
        raise ValueError(f"bincount: x must be 1-D, got {x.ndim} dimensions")
    if x.dtype.kind not in "biu":
        raise TypeError(f"bincount: x must hold integers, got dtype {x.dtype}")
    if not isinstance(minlength, numbers.Integral) or minlength < 0:
        raise ValueError(f"bincount: minlength must be a non-negative integer, got {minlength!r}")
    split_every = _split_every(split_every)
    if weights is not None:
        weights = asarray(weights)
        if weights.shape != x.shape:
            raise ValueError(f"bincount: weights shaped {weights.shape} do not match x's "
                             f"{x.shape}")
        weights = weights.rechunk(x.chunks)
    length = int(minlength)
    if x.size:
        length = max(length, int(x.max().compute()) + 1)
    dtype = np.bincount(np.zeros(1, np.intp), None if weights is None
                        else np.ones(1, weights.dtype)).dtype
    token = tokenize(x, weights, length, split_every)
    name, parts = f"bincount-{token}", f"bincount-chunk-{token}"
    layer = {}
    keys = []
    for i in range(x.numblocks[0]):
        key = (parts, i)
        w = None if weights is None else Ref(weights._key((i,)))
        layer[key] = Task(key, _bincount_block, Ref(x._key((i,))), w, length)
        keys.append(key)
    _sum_tree(layer, keys, name, (0,), split_every)
    return Array(merge_layers(x, weights, name=name, layer=layer), name, ((length,),), dtype)


def digitize(a, bins, right=False):
    """``numpy.digitize`` block by block; ``bins`` a monotonic 1-D NumPy array."""
    if isinstance(bins, Array):
        raise TypeError("digitize: bins must be in memory (a NumPy array or a sequence), "
                        "not a shoal array")
    bins = np.asarray(bins)
    if bins.ndim != 1:
        raise ValueError(f"digitize: bins must be 1-D, got {bins.ndim} dimensions")
    return _against(asarray(a), bins, _digitize_block, bool(right), "digitize")


def _against(x, table, func, option, token):
    """``func(block, table, option)`` for every block of *x*, the in-memory *table* held
    once in the graph (a Data node every task refers to: as an argument it was pickled
    into each task, 100 blocks x an 800 KB table = 80 MB)."""
    from shoal.array.core import from_array

    held = from_array(table, chunks=-1)
    name = f"{token}-{tokenize(x, held, option)}"
    layer = {(name, *idx): Task((name, *idx), func, Ref(x._key(idx)), Ref(held._key((0,))), option)
             for idx in np.ndindex(*x.numblocks)}  # fmt: skip
    return Array(merge_layers(x, held, name=name, layer=layer), name, x.chunks, np.dtype(np.intp))


def _digitize_block(block, bins, right):
    return np.digitize(block, bins, right=right)


def _search_block(values, sorted_a, side):
    return np.searchsorted(sorted_a, values, side=side).astype(np.intp, copy=False)


def searchsorted(a, v, side="left", sorter=None, split_every=None):
    """``numpy.searchsorted(a, v, side, sorter)``: ``a`` sorted and 1-D, in memory or a
    shoal array; ``v`` is split like a shoal array and the result is chunked like it.
    ``sorter`` is taken for an in-memory ``a`` only."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    v = asarray(v)
    if not isinstance(a, Array):
        a = np.asarray(a)
        if a.ndim != 1:
            raise ValueError(f"searchsorted: a must be 1-D, got {a.ndim} dimensions")
        if sorter is not None:
            a = a[np.asarray(sorter)]
        return _against(v, a, _search_block, side, "searchsorted")
    if a.ndim != 1:
        raise ValueError(f"searchsorted: a must be 1-D, got {a.ndim} dimensions")
    if sorter is not None:
        raise NotImplementedError("searchsorted: sorter is supported for an in-memory a only")
    split_every = _split_every(split_every)
    token = tokenize(a, v, side, split_every)
    name, parts = f"searchsorted-{token}", f"searchsorted-part-{token}"
    layer = {}
    for idx in np.ndindex(*v.numblocks):
        keys = []
        for j in range(a.numblocks[0]):
            key = (parts, *idx, j)
            layer[key] = Task(key, _search_block, Ref(v._key(idx)), Ref(a._key((j,))), side)
            keys.append(key)
        _sum_tree(layer, keys, name, idx, split_every)
    return Array(merge_layers(a, v, name=name, layer=layer), name, v.chunks, np.dtype(np.intp))
