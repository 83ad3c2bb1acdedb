"""``topk`` / ``argtopk``: the ``k`` largest (``k > 0``) or smallest (``k < 0``)
elements along one axis, as a tree reduction (reductions.py's tree); ``k = 0``
selects nothing (an empty axis, as Dask).

::

    blocks along the axis:   b0      b1      b2      b3
    chunk:                   top0    top1    top2    top3    np.partition: |k| of each block
    combine:                 [top0 top1] [top2 top3]         concatenate, keep the |k| best
    aggregate:               [.. ..] -> sorted |k|           largest first (k > 0) or
                                                             smallest first (k < 0)

No task holds more than ``split_every`` partials of ``|k|`` elements along the
axis (the other axes keep their chunks).  ``argtopk`` carries ``(values, global
indices)`` pairs the same way and returns the indices.  Among equal values the
order is not specified (neither is it in Dask).
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.core import Array, asarray, offsets
from shoal.array.reductions import reduction

__all__ = ["argtopk", "topk"]


def _best(values, k, axis):
    """Positions along *axis* of the |k| best values (unordered)."""
    n = values.shape[axis]
    if n <= abs(k):
        return np.broadcast_to(np.arange(n).reshape([-1 if d == axis else 1
                                                     for d in range(values.ndim)]), values.shape)
    if k > 0:
        return np.argpartition(values, n - k, axis=axis).take(np.arange(n - k, n), axis=axis)
    return np.argpartition(values, -k - 1, axis=axis).take(np.arange(-k), axis=axis)


def _ordered(values, k, axis):
    order = np.argsort(values, axis=axis, kind="stable")
    return np.flip(order, axis=axis) if k > 0 else order


# -- topk: partials are arrays of values -------------------------------------------------

def topk_chunk(block, k, axis):
    return np.take_along_axis(block, _best(block, k, axis), axis=axis)


def topk_combine(parts, k, axis):
    return topk_chunk(np.concatenate(parts, axis=axis), k, axis)


def topk_aggregate(parts, k, axis):
    best = topk_combine(parts, k, axis)
    return np.take_along_axis(best, _ordered(best, k, axis), axis=axis)


# -- argtopk: partials are (values, indices) ----------------------------------------------

def argtopk_chunk(block, k, axis, offset):
    shape = [1] * block.ndim
    shape[axis] = -1
    index = np.broadcast_to((np.arange(block.shape[axis]) + offset).reshape(shape), block.shape)
    pick = _best(block, k, axis)
    return np.take_along_axis(block, pick, axis=axis), np.take_along_axis(index, pick, axis=axis)


def argtopk_combine(parts, k, axis):
    values = np.concatenate([p[0] for p in parts], axis=axis)
    index = np.concatenate([p[1] for p in parts], axis=axis)
    pick = _best(values, k, axis)
    return np.take_along_axis(values, pick, axis=axis), np.take_along_axis(index, pick, axis=axis)


def argtopk_aggregate(parts, k, axis):
    values, index = argtopk_combine(parts, k, axis)
    return np.take_along_axis(index, _ordered(values, k, axis), axis=axis)


def _check(a, k, axis, how):
    a = a if isinstance(a, Array) else asarray(a)
    if not isinstance(k, numbers.Integral) or isinstance(k, bool):
        raise ValueError(f"{how}: k must be an integer, got {k!r}")
    if not isinstance(axis, numbers.Integral) or not -a.ndim <= axis < a.ndim:
        raise np.exceptions.AxisError(f"{how}: axis {axis!r} is out of bounds for an array of "
                                      f"{a.ndim} dimensions")
    return a, int(k), int(axis) % a.ndim


def _resized(out, a, k, axis, dtype):
    chunks = list(a.chunks)
    chunks[axis] = (min(abs(k), a.shape[axis]),)
    return Array(out._layers, out.name, chunks, dtype)


def topk(a, k, axis=-1, split_every=None):
    """The ``k`` largest elements along ``axis``, largest first (``k < 0``: the ``-k``
    smallest, smallest first)."""
    a, k, axis = _check(a, k, axis, "topk")
    if k == 0:
        return _none(a, axis)
    out = reduction(a, (axis,), True, a.dtype, topk_chunk, topk_combine, topk_aggregate,
                    prefix="topk", split_every=split_every,
                    chunk_kwargs={"k": k, "axis": axis}, block_kwargs=_no_position,
                    combine_kwargs={"k": k, "axis": axis},
                    aggregate_kwargs={"k": k, "axis": axis})
    return _resized(out, a, k, axis, a.dtype)


def _none(a, axis):
    """``k=0``: nothing selected, the axis empty (as Dask's ``topk``)."""
    return a[(slice(None),) * axis + (slice(0, 0),)]


def _no_position(idx):
    return {}


def argtopk(a, k, axis=-1, split_every=None):
    """The indices along ``axis`` of :func:`topk`'s elements, in its order."""
    a, k, axis = _check(a, k, axis, "argtopk")
    if k == 0:
        return _none(a, axis).astype(np.intp)
    starts = offsets(a.chunks[axis])
    out = reduction(a, (axis,), True, np.dtype(np.intp), argtopk_chunk, argtopk_combine,
                    argtopk_aggregate, prefix="argtopk", split_every=split_every,
                    chunk_kwargs={"k": k, "axis": axis},
                    block_kwargs=lambda idx: {"offset": int(starts[idx[axis]])},
                    combine_kwargs={"k": k, "axis": axis},
                    aggregate_kwargs={"k": k, "axis": axis})
    return _resized(out, a, k, axis, np.dtype(np.intp))
