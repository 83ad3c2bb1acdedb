"""``diff``: n-th discrete differences along an axis, one pass of tasks per order.

::

    x along the axis: [a b c] [d e] [f]          one pass (n=1):

    head:    -        [d]    [f]                  first element of each block (thin task)
    diff:  np.diff([a b c d])  np.diff([d e f])  np.diff([f])
           -> [b-a c-b d-c]    [e-d f-e]          []            chunks (3, 2, 0)

Every block borrows the head of the next non-empty block, so no block is read
twice and nothing is rechunked; the last non-empty block loses one element.
``n`` passes give the n-th differences (``n`` is small in practice).
``prepend`` / ``append`` are joined first, as NumPy does (a scalar becomes a
slab one element thick along the axis).
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.core import Array, asarray
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["diff"]


def _head(block, axis):
    return block[(slice(None),) * axis + (slice(0, 1),)]


def _diff_block(block, head, axis):
    if head is not None:
        block = np.concatenate([block, head], axis=axis)
    return np.diff(block, axis=axis)


def _one_pass(x: Array, axis: int, dtype) -> Array:
    chunks = x.chunks[axis]
    if sum(chunks) == 0:
        return x.astype(dtype)
    token = tokenize(x, axis, "diff")
    name, heads = f"diff-{token}", f"diff-head-{token}"
    # the next non-empty block after each block along the axis
    following, nxt = [None] * len(chunks), None
    for j in range(len(chunks) - 1, -1, -1):
        following[j] = nxt
        if chunks[j]:
            nxt = j
    out_chunks = list(chunks)
    for j, c in enumerate(chunks):
        if c and following[j] is None:
            out_chunks[j] = c - 1
    layer = {}
    for idx in np.ndindex(*x.numblocks):
        j = idx[axis]
        key = (name, *idx)
        if not chunks[j]:
            layer[key] = Task(key, _diff_block, Ref(x._key(idx)), None, axis)
            continue
        head = None
        if following[j] is not None:
            src = idx[:axis] + (following[j],) + idx[axis + 1:]
            hkey = (heads, *src)
            layer.setdefault(hkey, Task(hkey, _head, Ref(x._key(src)), axis))
            head = Ref(hkey)
        layer[key] = Task(key, _diff_block, Ref(x._key(idx)), head, axis)
    new = x.chunks[:axis] + (tuple(out_chunks),) + x.chunks[axis + 1:]
    return Array(merge_layers(x, name=name, layer=layer), name, new, dtype)


def _slab(value, like: Array, axis: int) -> Array:
    """*value* joined to *like* along *axis*: a scalar is broadcast to one element thick."""
    if isinstance(value, Array) or np.ndim(value) == like.ndim:
        return asarray(value)
    if np.ndim(value) != 0:
        raise ValueError(f"diff: prepend/append must be a scalar or have {like.ndim} dimensions, "
                         f"got {np.ndim(value)}")
    shape = like.shape[:axis] + (1,) + like.shape[axis + 1:]
    chunks = like.chunks[:axis] + ((1,),) + like.chunks[axis + 1:]
    from shoal.array.core import from_array

    return from_array(np.broadcast_to(np.asarray(value), shape), chunks=chunks)


def diff(a, n=1, axis=-1, prepend=None, append=None) -> Array:
    """``numpy.diff``: the n-th differences along ``axis`` (see the module docstring)."""
    from shoal.array.creation import concatenate
    from shoal.array.reductions import normalize_axis

    a = asarray(a)
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"diff: n must be an integer, got {n!r}")
    if n < 0:
        raise ValueError(f"diff: order n must be non-negative, got n={n}")
    if a.ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional (a is 0-d)")
    (axis,) = normalize_axis(axis, a.ndim)
    if n == 0:
        return a
    parts = [a]
    if prepend is not None:
        parts.insert(0, _slab(prepend, a, axis))
    if append is not None:
        parts.append(_slab(append, a, axis))
    if len(parts) > 1:
        a = concatenate(parts, axis=axis)
    dtype = np.diff(np.zeros(2, dtype=a.dtype)).dtype
    for _ in range(n):
        a = _one_pass(a, axis, dtype)
    return a
