"""Changing how an array is split or laid out: ``rechunk``, ``reshape``, ``transpose``.

Rechunk builds every new block from the pieces of the old blocks it overlaps,
one task per new block (``chunk.assemble`` copies each piece into place; a new
block equal to one old block is a view).  It is done in one stage: a rechunk
between very different layouts (rows to columns) gives tasks with many inputs.

Reshape in C order is only block-local when blocks are whole along the trailing
dimensions being merged or split.  For ``x.reshape(shape)``:

::

    leading dimensions equal in both shapes      keep their chunks
    the rest ("tail"), in:  (a, b, c)   out: (m, n)
      P = b * c, Q = n, unit = lcm(P, Q) / P
      input:  rechunk so b, c are whole and each chunk of a is a multiple of unit
      output: a chunk of length r along a becomes one of length r * P / Q along m,
              and every block is reshaped on its own

The rechunk is done first when needed; if it would make blocks larger than both
128 MiB and the current largest block, ``NotImplementedError`` asks the caller to
choose the chunks instead.  Transpose permutes block indices and transposes each
block.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from shoal.array import chunk
from shoal.array.core import AUTO_CHUNK_BYTES, Array, normalize_chunks, offsets
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["rechunk", "reshape", "squeeze", "transpose"]


def _pieces(old, new):
    """For each new chunk: ``[(old block, source slice, target slice), ...]``."""
    old_starts = offsets(old)
    out = []
    b = 0
    pos = 0
    for n in new:
        end = pos + n
        parts = []
        if n == 0:
            parts.append((min(b, len(old) - 1), slice(0, 0), slice(0, 0)))
        while pos < end:
            while old_starts[b + 1] <= pos:
                b += 1
            lo = old_starts[b]
            stop = min(end, old_starts[b + 1])
            parts.append((b, slice(pos - lo, stop - lo), slice(pos - (end - n), stop - (end - n))))
            pos = stop
        out.append(parts)
    return out


def rechunk(x: Array, chunks="auto") -> Array:
    """*x* split into new *chunks* (any form :func:`normalize_chunks` reads).

    As in Dask, a ``None`` entry (in a tuple or a dict) keeps that dimension's
    current chunks; ``-1`` makes it one block.
    """
    if isinstance(chunks, dict):
        chunks = {a: x.chunks[a] if c is None and isinstance(a, int) and -x.ndim <= a < x.ndim
                  else c for a, c in chunks.items()}
    elif isinstance(chunks, (tuple, list)) and len(chunks) == x.ndim:
        chunks = tuple(old if c is None else c for c, old in zip(chunks, x.chunks))
    chunks = normalize_chunks(chunks, x.shape, x.dtype, previous=x.chunks)
    if chunks == x.chunks:
        return x
    per_dim = [_pieces(o, n) for o, n in zip(x.chunks, chunks)]
    name = f"rechunk-{tokenize(x, chunks)}"
    layer = {}
    for idx in np.ndindex(*[len(c) for c in chunks]):
        combos = itertools.product(*[per_dim[d][i] for d, i in enumerate(idx)])
        refs, sources, targets = [], [], []
        for combo in combos:
            refs.append(Ref(x._key(tuple(p[0] for p in combo))))
            sources.append(tuple(p[1] for p in combo))
            targets.append(tuple(p[2] for p in combo))
        shape = tuple(c[i] for c, i in zip(chunks, idx))
        key = (name, *idx)
        layer[key] = Task(key, chunk.assemble, refs, sources, targets, shape)
    return Array(merge_layers(x, name=name, layer=layer), name, chunks, x.dtype)


def transpose(x: Array, axes=None) -> Array:
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(int(a) % x.ndim if x.ndim else int(a) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"axes {axes} don't match an array of {x.ndim} dimensions")
    if axes == tuple(range(x.ndim)):
        return x
    name = f"transpose-{tokenize(x, axes)}"
    layer = {}
    chunks = tuple(x.chunks[a] for a in axes)
    for idx in np.ndindex(*[len(c) for c in chunks]):
        src = [0] * x.ndim
        for k, a in enumerate(axes):
            src[a] = idx[k]
        key = (name, *idx)
        layer[key] = Task(key, chunk.transpose, Ref(x._key(tuple(src))), axes)
    return Array(merge_layers(x, name=name, layer=layer), name, chunks, x.dtype)


def squeeze(x: Array, axis=None) -> Array:
    if axis is None:
        axis = tuple(d for d, n in enumerate(x.shape) if n == 1)
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    axis = {a % x.ndim for a in axis}
    for a in axis:
        if x.shape[a] != 1:
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return x[tuple(0 if d in axis else slice(None) for d in range(x.ndim))]


def _normalize_shape(shape, size):
    shape = tuple(int(s) for s in shape)
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise ValueError("can only specify one unknown dimension")
    if unknown:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if math.prod(shape) != size or any(s < 0 for s in shape):
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    return shape


def _blockwise_reshape(y: Array, out_chunks, out_index) -> Array:
    name = f"reshape-{tokenize(y, out_chunks)}"
    layer = {}
    for idx in np.ndindex(*y.numblocks):
        oidx = out_index(idx)
        shape = tuple(c[i] for c, i in zip(out_chunks, oidx))
        key = (name, *oidx)
        layer[key] = Task(key, chunk.reshape, Ref(y._key(idx)), shape)
    return Array(merge_layers(y, name=name, layer=layer), name, out_chunks, y.dtype)


def _multiples(dim_chunks, unit, n):
    """Chunks near *dim_chunks* whose lengths are multiples of *unit*."""
    if unit == 1:
        return tuple(dim_chunks)
    bounds = {n}
    for b in offsets(dim_chunks)[1:]:
        r = int(round(b / unit)) * unit
        if 0 < r <= n:
            bounds.add(r)
    out, prev = [], 0
    for b in sorted(bounds):
        out.append(b - prev)
        prev = b
    return tuple(out)


def reshape(x: Array, shape) -> Array:
    """``numpy.reshape`` (C order); see the module docstring for how blocks map."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = _normalize_shape(shape, x.size)
    if shape == x.shape:
        return x
    if x.ndim == 0 or len(shape) == 0 or x.size == 0:
        y = x.rechunk(tuple(-1 for _ in x.shape))
        out_chunks = tuple((s,) for s in shape)
        return _blockwise_reshape(y, out_chunks, lambda idx: (0,) * len(shape))
    k = 0
    while k < min(len(shape), x.ndim) - 1 and shape[k] == x.shape[k]:
        k += 1
    in_tail, out_tail = x.shape[k:], shape[k:]
    p, q = math.prod(in_tail[1:]), math.prod(out_tail[1:])
    unit = math.lcm(p, q) // p
    dim_k = _multiples(x.chunks[k], unit, x.shape[k])
    target = x.chunks[:k] + (dim_k,) + tuple((n,) for n in in_tail[1:])
    if target != x.chunks:
        itemsize = x.dtype.itemsize or 8
        new_bytes = math.prod(max(c) for c in target) * itemsize
        old_bytes = math.prod(max(c) for c in x.chunks) * itemsize
        if new_bytes > max(AUTO_CHUNK_BYTES, old_bytes):
            raise NotImplementedError(
                f"reshape from {x.shape} to {shape} with chunks {x.chunksize} would need blocks "
                f"of {new_bytes / 2**20:.0f} MiB (whole along dimensions {k + 1}..{x.ndim - 1}); "
                "rechunk the array first (or reshape in smaller steps)")
    y = x.rechunk(target)
    out_chunks = x.chunks[:k] + (tuple(c * p // q for c in dim_k),) + tuple((n,) for n in out_tail[1:])
    rest = (0,) * (len(out_tail) - 1)
    return _blockwise_reshape(y, out_chunks, lambda idx: idx[:k + 1] + rest)
