"""Rearranging arrays: broadcasting, new and moved axes, joining, flipping, rolling,
taking, tiling and repeating.

Most of these are operations shoal already has, put together, so they add no graph
code of their own and every result equals NumPy's by construction::

    expand_dims, atleast_1d/2d/3d     x[:, None, ...]              (slicing.py)
    moveaxis, swapaxes, rollaxis      transpose                    (rechunk.py)
    flip, flipud, fliplr              x[::-1]: the blocks in reverse order
    rot90                             flips and a transpose, as NumPy's
    roll                              two slices of an axis joined the other way round
    hstack, vstack, dstack, block     concatenate of the promoted arrays (aliases, no copy)
    tile                              concatenate of the same blocks again
    take                              x[..., indices]; n-d indices split that axis
    outer                             a.ravel()[:, None] * b.ravel()[None, :]

Two build a layer of their own:

- ``broadcast_to`` points every output block at the one input block it repeats and
  calls ``numpy.broadcast_to`` on it (a view: a broadcast block costs no memory
  until something computes with it).  New leading dimensions and dimensions
  stretched from length 1 are one block unless ``chunks=`` says otherwise, as in Dask.
- ``repeat`` cuts the output of each input block every *m* elements (*m*: the
  input's largest block along the axis), so the output is split as finely as the
  input whatever the repeat counts; each output block repeats a slice of one input
  block (its end elements possibly fewer times than asked, the rest going to the
  next output block).

Where NumPy and Dask differ, shoal follows Dask's spelling (``take``'s ``axis=0``,
``broadcast_to``'s ``chunks=``) and NumPy's results; multi-valued results are
tuples, as both give them now.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from shoal.array.blockwise import broadcast_shapes, elemwise, unify_chunks
from shoal.array.core import Array, asarray, normalize_chunks, offsets
from shoal.array.creation import _shape, concatenate, zeros
from shoal.array.reductions import normalize_axis
from shoal.array.rechunk import reshape, transpose
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["atleast_1d", "atleast_2d", "atleast_3d", "block", "broadcast_arrays",
           "broadcast_to", "dstack", "expand_dims", "flip", "fliplr", "flipud", "hstack",
           "moveaxis", "outer", "repeat", "roll", "rollaxis", "rot90", "swapaxes", "take",
           "tile", "vstack"]


# -- axes ----------------------------------------------------------------------------

def axis_index(axis, ndim: int) -> int:
    """One axis as a non-negative int (``numpy.exceptions.AxisError`` out of range)."""
    return normalize_axis(operator.index(axis), ndim)[0]


def axis_tuple(axis, ndim: int, argname: str) -> tuple:
    """Axes in the order given (``normalize_axis`` sorts them), non-negative."""
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    out = tuple(axis_index(a, ndim) for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in `{argname}` argument")
    return out


def _along(axis: int, index) -> tuple:
    """An index that applies *index* on *axis* and takes everything on the axes before."""
    return (slice(None),) * axis + (index,)


# -- broadcasting ----------------------------------------------------------------------

def broadcast_to(x, shape, chunks=None):
    """*x* repeated to *shape* (NumPy's rules); see the module docstring for the chunks.

    >>> broadcast_to(asarray([1, 2, 3]), (2, 3)).compute()
    array([[1, 2, 3],
           [1, 2, 3]])
    """
    x = asarray(x)
    shape = _shape(shape)
    extra = len(shape) - x.ndim
    if any(s < 0 for s in shape):
        raise ValueError("all elements of broadcast shape must be non-negative")
    if extra < 0 or any(old not in (1, new) for old, new in zip(x.shape, shape[extra:])):
        raise ValueError(f"cannot broadcast an array of shape {x.shape} to shape {shape}")
    stretched = {d for d in range(x.ndim) if x.shape[d] != shape[extra + d]}
    natural = tuple((s,) for s in shape[:extra]) + tuple(
        (shape[extra + d],) if d in stretched else x.chunks[d] for d in range(x.ndim))
    out = natural if chunks is None else normalize_chunks(chunks, shape, x.dtype, previous=natural)
    want = {d: out[extra + d] for d in range(x.ndim)
            if d not in stretched and out[extra + d] != x.chunks[d]}
    if want:
        x = x.rechunk(want)
    if x.shape == shape:
        return x
    name = f"broadcast_to-{tokenize(x, shape, out)}"
    layer = {}
    for idx in np.ndindex(*[len(c) for c in out]):
        src = tuple(0 if d in stretched else idx[extra + d] for d in range(x.ndim))
        key = (name, *idx)
        layer[key] = Task(key, np.broadcast_to, Ref(x._key(src)),
                          tuple(c[i] for c, i in zip(out, idx)))
    return Array(merge_layers(x, name=name, layer=layer), name, out, x.dtype)


def broadcast_arrays(*args, subok=False):
    """The arrays broadcast to one shape and split alike (a tuple, as NumPy's)."""
    arrays = [asarray(a) for a in args]
    shape = broadcast_shapes(*[a.shape for a in arrays])
    chunks, _ = unify_chunks(arrays, shape)
    return tuple(broadcast_to(a, shape, chunks=chunks) for a in arrays)


# -- adding and moving axes ---------------------------------------------------------

def expand_dims(a, axis):
    """*a* with length-1 axes inserted at the positions *axis* of the result."""
    a = asarray(a)
    count = 1 if isinstance(axis, numbers.Integral) else len(tuple(axis))
    axes = set(axis_tuple(axis, a.ndim + count, "axis"))
    return a[tuple(None if d in axes else slice(None) for d in range(a.ndim + count))]


def _atleast(arys, ndim):
    out = []
    for x in map(asarray, arys):
        if x.ndim < ndim:
            # NumPy's placement: (N,) -> (1, N) and (1, N, 1); (M, N) -> (M, N, 1)
            index = {0: (None,) * ndim, 1: (None, slice(None), None)[:ndim],
                     2: (slice(None), slice(None), None)}[x.ndim]
            x = x[index]
        out.append(x)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*arys):
    return _atleast(arys, 1)


def atleast_2d(*arys):
    return _atleast(arys, 2)


def atleast_3d(*arys):
    return _atleast(arys, 3)


def moveaxis(a, source, destination):
    """Axes *source* moved to positions *destination*, the others kept in order."""
    a = asarray(a)
    source = axis_tuple(source, a.ndim, "source")
    destination = axis_tuple(destination, a.ndim, "destination")
    if len(source) != len(destination):
        raise ValueError("`source` and `destination` arguments must have the same number "
                         "of elements")
    order = [d for d in range(a.ndim) if d not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(a, order)


def swapaxes(a, axis1, axis2):
    a = asarray(a)
    order = list(range(a.ndim))
    i, j = axis_index(axis1, a.ndim), axis_index(axis2, a.ndim)
    order[i], order[j] = j, i
    return transpose(a, order)


def rollaxis(a, axis, start=0):
    """NumPy's ``rollaxis`` (``moveaxis`` says the same more plainly)."""
    a = asarray(a)
    n = a.ndim
    axis = axis_index(axis, n)
    start = operator.index(start)
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise np.exceptions.AxisError(f"'start' arg requires {-n} <= start < {n + 1}, but "
                                      f"{start - n if start < 0 else start} was passed in")
    if axis < start:
        start -= 1
    order = [d for d in range(n) if d != axis]
    order.insert(start, axis)
    return transpose(a, order)


# -- joining ---------------------------------------------------------------------------

def hstack(tup):
    """Join along the second axis (the first for 1-d arrays), as ``numpy.hstack``."""
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, axis=0 if arrays and arrays[0].ndim == 1 else 1)


def vstack(tup):
    arrays = [atleast_2d(a) for a in tup]
    return concatenate(arrays, axis=0)


def dstack(tup):
    arrays = [atleast_3d(a) for a in tup]
    return concatenate(arrays, axis=2)


def _block_depth(obj, where: list) -> tuple:
    """``(list depth, largest ndim)`` of a nested list, checked as ``numpy.block`` does."""
    if type(obj) is tuple:
        raise TypeError(f"arrays{''.join(f'[{i}]' for i in where)} is a tuple. Only lists can "
                        "be used to arrange blocks, and block does not allow implicit "
                        "conversion from tuple to ndarray.")
    if type(obj) is not list:
        return 0, asarray(obj).ndim
    if not obj:
        raise ValueError(f"List at arrays{''.join(f'[{i}]' for i in where)} cannot be empty")
    parts = [_block_depth(o, where + [i]) for i, o in enumerate(obj)]
    if len({p[0] for p in parts}) > 1:
        raise ValueError(f"List depths are mismatched at arrays{''.join(f'[{i}]' for i in where)}"
                         f": its elements are lists nested {sorted({p[0] for p in parts})} deep")
    return parts[0][0] + 1, max(p[1] for p in parts)


def _assemble(obj, depth: int, lists: int, ndim: int):
    if type(obj) is list:
        parts = [_assemble(o, depth + 1, lists, ndim) for o in obj]
        return concatenate(parts, axis=-(lists - depth))
    x = asarray(obj)
    return x[(None,) * (ndim - x.ndim)] if x.ndim < ndim else x


def block(arrays):
    """An array from nested lists of blocks, as ``numpy.block``: the innermost lists
    join along the last axis, the next along the one before, and so on.

    >>> x = asarray([[1, 2], [3, 4]])
    >>> block([[x, x[:, :1]], [x[:1], x[:1, :1]]]).compute()
    array([[1, 2, 1],
           [3, 4, 3],
           [1, 2, 1]])
    """
    lists, ndim = _block_depth(arrays, [])
    return _assemble(arrays, 0, lists, max(lists, ndim))


# -- reordering ---------------------------------------------------------------------

def flip(m, axis=None):
    """The elements in reverse order along *axis* (every axis with None)."""
    m = asarray(m)
    axes = normalize_axis(axis, m.ndim)
    return m[tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(m.ndim))]


def flipud(m):
    m = asarray(m)
    if m.ndim < 1:
        raise ValueError("Input must be >= 1-d.")
    return flip(m, 0)


def fliplr(m):
    m = asarray(m)
    if m.ndim < 2:
        raise ValueError("Input must be >= 2-d.")
    return flip(m, 1)


def roll(array, shift, axis=None):
    """Elements shifted by *shift* along *axis*, those past the end coming in at the
    start (the flattened array with ``axis=None``); *shift* and *axis* broadcast, as
    NumPy's.

    >>> roll(asarray([0, 1, 2, 3, 4]), 2).compute()
    array([3, 4, 0, 1, 2])
    """
    x = asarray(array)
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), x.shape)
    pairs = np.broadcast(shift, axis)
    if pairs.nd > 1:
        raise ValueError("'shift' and 'axis' should be scalars or 1D sequences")
    total = {}
    for s, a in pairs:
        a = axis_index(a, x.ndim)
        total[a] = total.get(a, 0) + operator.index(s)
    for a, s in total.items():
        n = x.shape[a]
        if n and s % n:
            cut = n - s % n
            head, tail = x[_along(a, slice(cut, None))], x[_along(a, slice(None, cut))]
            x = concatenate([head, tail], axis=a)
    return x


def rot90(m, k=1, axes=(0, 1)):
    """Rotated by 90 degrees *k* times, from the first axis of *axes* towards the second."""
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    m = asarray(m)
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == m.ndim:
        raise ValueError("Axes must be different.")
    if not all(-m.ndim <= a < m.ndim for a in axes):
        raise ValueError(f"Axes={axes} out of range for array of ndim={m.ndim}.")
    k = operator.index(k) % 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    order = list(range(m.ndim))
    order[axes[0]], order[axes[1]] = order[axes[1]], order[axes[0]]
    return transpose(flip(m, axes[1]), order) if k == 1 else flip(transpose(m, order), axes[1])


# -- taking, tiling, repeating ---------------------------------------------------------

def _split_axis(x: Array, axis: int, shape: tuple) -> Array:
    """*x* with *axis* split into *shape* (C order): each block is reshaped on its own
    once its chunks along *axis* hold whole rows of ``prod(shape[1:])``."""
    row = int(np.prod(shape[1:]))
    ends = {min(-(-b // row) * row, x.shape[axis]) for b in offsets(x.chunks[axis])[1:]}
    x = x.rechunk({axis: tuple(np.diff([0, *sorted(ends - {0})]).tolist())})
    chunks = (*x.chunks[:axis], tuple(c // row for c in x.chunks[axis]),
              *((n,) for n in shape[1:]), *x.chunks[axis + 1:])
    name = f"split-axis-{tokenize(x, axis, shape)}"
    layer = {}
    extra = (0,) * (len(shape) - 1)
    for idx in np.ndindex(*x.numblocks):
        out = (*idx[:axis + 1], *extra, *idx[axis + 1:])
        key = (name, *out)
        layer[key] = Task(key, np.reshape, Ref(x._key(idx)),
                          tuple(c[i] for c, i in zip(chunks, out)))
    return Array(merge_layers(x, name=name, layer=layer), name, chunks, x.dtype)


def take(a, indices, axis=0):
    """Elements at *indices* along *axis* (``axis=None``: of the flattened array), as
    ``numpy.take``; *axis* defaults to 0, as in Dask.  The axis is replaced by the
    shape of *indices* (none for a single index)."""
    a = asarray(a)
    if isinstance(indices, Array):
        raise NotImplementedError("take with a shoal array of indices is not supported: its "
                                  "values are unknown until computed; compute them first")
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    axis = axis_index(axis, a.ndim)
    idx = np.asarray(indices)
    if idx.size == 0 or idx.dtype == bool:
        idx = idx.astype(np.intp)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, not {idx.dtype}")
    if idx.ndim == 0:
        return a[_along(axis, int(idx))]
    out = a[_along(axis, idx.reshape(-1))]
    if idx.ndim == 1:
        return out
    if idx.size == 0:
        shape = a.shape[:axis] + idx.shape + a.shape[axis + 1:]
        return zeros(shape, chunks=a.chunks[:axis] + tuple((n,) for n in idx.shape)
                     + a.chunks[axis + 1:], dtype=a.dtype)
    return _split_axis(out, axis, idx.shape)


def tile(A, reps):
    """*A* repeated *reps* times along each axis, as ``numpy.tile`` (a scalar or
    short *reps* applies to the last axes; a longer one adds leading axes)."""
    reps = (reps,) if isinstance(reps, numbers.Integral) else tuple(reps)
    reps = tuple(operator.index(r) for r in reps)
    if any(r < 0 for r in reps):
        raise ValueError("Negative `reps` are not allowed.")
    x = asarray(A)
    reps = (1,) * (x.ndim - len(reps)) + reps
    x = x[(None,) * (len(reps) - x.ndim)] if len(reps) > x.ndim else x
    for axis, r in enumerate(reps):
        if r == 0:
            x = x[_along(axis, slice(0, 0))]
        elif r > 1:
            x = concatenate([x] * r, axis=axis)
    return x


def _repeat_block(block, lo, hi, counts, axis):
    return np.repeat(block[_along(axis, slice(lo, hi))], counts, axis)


def _repeat_plan(counts, dim_chunks, size):
    """``[(input block, lo, hi, counts), ...]``: one entry per output block."""
    starts = offsets(dim_chunks)
    plan = []
    for b in range(len(dim_chunks)):
        r = counts[starts[b]:starts[b + 1]]
        ends = np.cumsum(r)
        total = int(ends[-1]) if len(r) else 0
        for p in range(0, total, size):
            q = min(p + size, total)
            lo = int(np.searchsorted(ends, p, side="right"))
            hi = int(np.searchsorted(ends, q - 1, side="right")) + 1
            part = r[lo:hi].copy()
            part[0] -= p - (ends[lo] - r[lo])
            part[-1] -= ends[hi - 1] - q
            plan.append((b, lo, hi, int(part[0]) if (part == part[0]).all() else part))
    return plan or [(0, 0, 0, 0)]


def _repeat_block_length(a, axis, counts) -> int:
    """Output blocks along *axis*: an input block's length times the largest count (each
    input block one output block, as Dask), but at most about AUTO_CHUNK_BYTES each, and
    never shorter than the input's blocks.  (Cut at the input's block length, 100 blocks
    of 4 repeated 1000 times made 100,000 tasks.)"""
    from shoal.array.core import AUTO_CHUNK_BYTES

    longest = max(max(a.chunks[axis]), 1)
    across = int(np.prod([max(c) if c else 1 for d, c in enumerate(a.chunks) if d != axis]))
    cap = AUTO_CHUNK_BYTES // max(a.dtype.itemsize * max(across, 1), 1)
    return int(max(longest, min(longest * int(counts.max(initial=1)), cap)))


def repeat(a, repeats, axis=None):
    """Each element repeated *repeats* times (one count, or one per element along
    *axis*), as ``numpy.repeat``; ``axis=None`` repeats the flattened array."""
    a = asarray(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    axis = axis_index(axis, a.ndim)
    n = a.shape[axis]
    counts = np.asarray(repeats)
    if counts.dtype == bool or counts.size == 0:
        counts = counts.astype(np.intp)
    if counts.dtype.kind not in "iu" or counts.ndim > 1:
        raise TypeError(f"repeats must be an integer or a 1-d sequence of integers, "
                        f"got {repeats!r}")
    if counts.size not in (1, n):
        raise ValueError(f"operands could not be broadcast together with shape ({n},) "
                         f"({counts.size},)")
    if (counts < 0).any():
        raise ValueError("repeats may not contain negative values.")
    counts = np.broadcast_to(counts.reshape(-1).astype(np.int64), (n,))
    if (counts == 1).all():
        return a
    plan = _repeat_plan(counts, a.chunks[axis], _repeat_block_length(a, axis, counts))
    chunks = list(a.chunks)
    chunks[axis] = tuple(int(np.sum(np.broadcast_to(c, (hi - lo,)))) for _, lo, hi, c in plan)
    name = f"repeat-{tokenize(a, counts, axis)}"
    layer = {}
    for idx in np.ndindex(*[len(c) for c in chunks]):
        b, lo, hi, c = plan[idx[axis]]
        key = (name, *idx)
        src = (*idx[:axis], b, *idx[axis + 1:])
        layer[key] = Task(key, _repeat_block, Ref(a._key(src)), lo, hi, c, axis)
    return Array(merge_layers(a, name=name, layer=layer), name, chunks, a.dtype)


def outer(a, b):
    """``numpy.outer``: every element of the flattened *a* times every one of *b*."""
    a, b = reshape(asarray(a), (-1,)), reshape(asarray(b), (-1,))
    return elemwise(np.multiply, a[:, None], b[None, :], token="outer")
