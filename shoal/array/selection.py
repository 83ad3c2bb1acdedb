"""Selections whose length depends on the data: ``x[mask]``, ``nonzero``,
``flatnonzero``, ``argwhere``, and indexing by a shoal integer array.

::

    x:     chunks ((3, 3),)          mask: [T F T] [F F F]
    counts (computed now):           2       0
    x[mask]: chunks ((2, 0),)        block i = x block i [mask block i]   (lazy)

Dask gives these results unknown (NaN) chunk lengths.  A shoal array always knows
its chunks, so, as ``unique`` does (``setops.py``), the per-block counts of the
mask (or of the nonzero elements) are computed when the function is called, on
the scheduler ``shoal.compute`` would choose; the selection itself stays lazy, one
task per block.  The mask's graph therefore runs twice: once for the counts now,
once more when the result is computed.

``x[mask]`` with a boolean shoal ``mask`` of shape ``x.shape[:k]`` returns NumPy's
result, shape ``(count, *x.shape[k:])`` in C order: the mask is rechunked to x's
chunks, then both have their first *k* dimensions merged into one (dimensions
``1..k-1`` made whole first, so merged blocks follow C order) and each block
takes ``block[mask_block]``.  ``nonzero`` / ``argwhere`` / ``flatnonzero`` do the
same over the flattened array, each block turning its local positions into
global ones.

Any other shoal array inside an index (integers, a boolean array elsewhere in the
index) is an index: it is computed on call and the NumPy index path of
``slicing.py`` is used.
"""

from __future__ import annotations

import math

import numpy as np

from shoal.array import chunk
from shoal.array.core import Array, asarray, from_array, offsets
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["argwhere", "flatnonzero", "getitem_with_arrays", "masked_select", "nonzero"]


# -- per-block kernels -----------------------------------------------------------------

def _count(block) -> int:
    return int(np.count_nonzero(block))


def _gather(parts) -> list:
    return list(parts)


def _select(block, mask):
    return block[np.asarray(mask, dtype=bool)]


def _flat_positions(block, start):
    return (np.flatnonzero(block) + start).astype(np.intp, copy=False)


def _unravel(flat, shape, axis):
    return np.unravel_index(flat, shape)[axis].astype(np.intp, copy=False)


def _argwhere(flat, shape):
    if not len(shape):
        return np.zeros((len(flat), 0), dtype=np.intp)
    return np.stack(np.unravel_index(flat, shape), axis=1).astype(np.intp, copy=False)


# -- helpers ---------------------------------------------------------------------------

def _block_counts(x: Array) -> list:
    """``count_nonzero`` of every block of the 1-D *x*, computed now."""
    from shoal.base import compute
    from shoal.delayed import Delayed

    name = f"block-counts-{tokenize(x)}"
    layer = {}
    keys = []
    for i in range(x.numblocks[0]):
        key = (name, i)
        layer[key] = Task(key, _count, Ref(x._key((i,))))
        keys.append(key)
    final = (name, "all")
    layer[final] = Task(final, _gather, [Ref(k) for k in keys])
    graph = {k: v for lay in merge_layers(x, name=name, layer=layer).values()
             for k, v in lay.items()}  # fmt: skip
    counts, = compute(Delayed(final, graph[final], (), layer=graph))
    return [int(c) for c in counts]


def _merge_leading(x: Array, k: int) -> Array:
    """*x* with its first *k* dimensions merged into one (C order), blocks kept along
    the first and the trailing ones: dimensions ``1..k-1`` are made whole first."""
    if k <= 1:
        return x
    target = (x.chunks[0], *[(n,) for n in x.shape[1:k]], *x.chunks[k:])
    y = x.rechunk(target)
    inner = math.prod(x.shape[1:k])
    chunks = (tuple(c * inner for c in y.chunks[0]), *y.chunks[k:])
    name = f"merge-leading-{tokenize(y, k)}"
    layer = {}
    for idx in np.ndindex(*y.numblocks):
        out = (idx[0], *idx[k:])
        shape = tuple(c[i] for c, i in zip(chunks, out))
        key = (name, *out)
        layer[key] = Task(key, chunk.reshape, Ref(y._key(idx)), shape)
    return Array(merge_layers(y, name=name, layer=layer), name, chunks, y.dtype)


def _flat(x: Array) -> Array:
    return x.reshape(-1) if x.ndim != 1 else x


# -- x[mask] -----------------------------------------------------------------------------

def masked_select(x: Array, mask: Array) -> Array:
    """``x[mask]`` for a boolean shoal *mask* of shape ``x.shape[:mask.ndim]``: NumPy's
    result (C order).  The mask's per-block counts are computed now (they are the
    result's chunks); the selection is lazy, one ``block[mask_block]`` task per block."""
    if mask.dtype != bool:
        raise TypeError(f"masked_select: the mask must be boolean, not {mask.dtype}")
    if mask.ndim == 0:  # NumPy: x[True] is x[None] (x[False]: empty along the new axis)
        return masked_select(x[None], mask.reshape(1))
    k = mask.ndim
    if k > x.ndim:
        raise IndexError(f"too many indices for array: array is {x.ndim}-dimensional, but "
                         f"{k} were indexed")
    for d in range(k):
        if mask.shape[d] != x.shape[d]:
            raise IndexError(f"boolean index did not match indexed array along axis {d}; size "
                             f"of axis is {x.shape[d]} but size of corresponding boolean axis "
                             f"is {mask.shape[d]}")
    mask = mask.rechunk(x.chunks[:k])
    xm, mm = _merge_leading(x, k), _merge_leading(mask, k)
    assert xm.chunks[0] == mm.chunks[0], (xm.chunks, mm.chunks)
    counts = _block_counts(mm)
    name = f"getitem-mask-{tokenize(x, mask)}"
    layer = {}
    for idx in np.ndindex(*xm.numblocks):
        key = (name, *idx)
        layer[key] = Task(key, _select, Ref(xm._key(idx)), Ref(mm._key((idx[0],))))
    chunks = (tuple(counts), *xm.chunks[1:])
    return Array(merge_layers(xm, mm, name=name, layer=layer), name, chunks, x.dtype)


def getitem_with_arrays(x: Array, index) -> Array:
    """``x[index]`` where *index* holds shoal arrays (see the module docstring)."""
    from shoal.array.slicing import getitem
    from shoal.base import compute

    items = index if isinstance(index, tuple) else (index,)
    first = items[0] if items else None
    rest_trivial = all(i is Ellipsis or (isinstance(i, slice) and i == slice(None))
                       for i in items[1:])  # fmt: skip
    if (isinstance(first, Array) and first.dtype == bool and rest_trivial
            and sum(i is Ellipsis for i in items) <= 1):
        used = first.ndim + sum(1 for i in items[1:] if i is not Ellipsis)
        if used > x.ndim:
            raise IndexError(f"too many indices for array: array is {x.ndim}-dimensional, "
                             f"but {used} were indexed")
        return masked_select(x, first)
    at = [k for k, i in enumerate(items) if isinstance(i, Array)]
    values = compute(*[items[k] for k in at])
    new = list(items)
    for k, v in zip(at, values):
        new[k] = np.asarray(v)
    return getitem(x, tuple(new))


# -- nonzero and friends ---------------------------------------------------------------

def flatnonzero(a) -> Array:
    """``numpy.flatnonzero``: the counts per block are computed now, the positions lazily."""
    x = _flat(asarray(a))
    counts = _block_counts(x)
    starts = offsets(x.chunks[0])
    name = f"flatnonzero-{tokenize(x)}"
    layer = {(name, i): Task((name, i), _flat_positions, Ref(x._key((i,))), starts[i])
             for i in range(x.numblocks[0])}  # fmt: skip
    return Array(merge_layers(x, name=name, layer=layer), name, (tuple(counts),), np.intp)


def nonzero(a) -> tuple:
    """``numpy.nonzero``: one index array per dimension (counts computed now, see
    :func:`flatnonzero`; each block unravels its flat positions)."""
    x = asarray(a)
    if x.ndim == 0:
        raise ValueError("Calling nonzero on 0d arrays is not allowed. Use "
                         "np.atleast_1d(scalar).nonzero() instead.")
    flat = flatnonzero(x)
    if x.ndim == 1:
        return (flat,)
    out = []
    for d in range(x.ndim):
        name = f"nonzero-{tokenize(flat, x.shape, d)}"
        layer = {(name, i): Task((name, i), _unravel, Ref(flat._key((i,))), x.shape, d)
                 for i in range(flat.numblocks[0])}  # fmt: skip
        out.append(Array(merge_layers(flat, name=name, layer=layer), name, flat.chunks, np.intp))
    return tuple(out)


def argwhere(a) -> Array:
    """``numpy.argwhere``: shape ``(count, ndim)``, one block of rows per flat block."""
    x = asarray(a)
    if x.ndim == 0:
        return from_array(np.argwhere(np.asarray(x.compute())))
    flat = flatnonzero(x)
    name = f"argwhere-{tokenize(flat, x.shape)}"
    layer = {(name, i, 0): Task((name, i, 0), _argwhere, Ref(flat._key((i,))), x.shape)
             for i in range(flat.numblocks[0])}  # fmt: skip
    chunks = (flat.chunks[0], (x.ndim,))
    return Array(merge_layers(flat, name=name, layer=layer), name, chunks, np.intp)
