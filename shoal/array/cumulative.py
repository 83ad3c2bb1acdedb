"""Cumulative sums and products along an axis: a scan over the blocks.

::

    block j along the axis:  cum_j   = np.cumsum(block_j, axis)          (in parallel)
                             total_j = block_j.sum(axis, keepdims=True)
                             carry_j = carry_{j-1} + total_{j-1}          (carry_0: none)
                             out_j   = cum_j + carry_j                    (broadcast along the axis)

(products the same with ``*``).  The carries form a chain per row of blocks, of
arrays one element thick along the axis; ``axis=None`` scans the array flattened,
as NumPy does.
"""

from __future__ import annotations

import numpy as np

from shoal.array.core import Array, asarray
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["cumprod", "cumsum"]

_HOW = {"cumsum": (np.cumsum, np.sum, np.add), "cumprod": (np.cumprod, np.prod, np.multiply)}


def _scan(block, func, axis, dtype):
    return func(block, axis=axis, dtype=dtype)


def _total(block, agg, axis, dtype):
    return agg(block, axis=axis, keepdims=True, dtype=dtype)


def _carried(cum, carry, merge):
    return cum if carry is None else merge(cum, carry)


def cumulative(x, how: str, axis=None, dtype=None) -> Array:
    func, agg, merge = _HOW[how]
    x = asarray(x)
    if axis is None:
        from shoal.array.rechunk import reshape

        x, axis = reshape(x, (-1,)), 0
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{how}: axis {axis} is out of bounds for an array of {x.ndim} dimensions")
    axis %= x.ndim
    out_dtype = func(np.ones((1,) * x.ndim, dtype=x.dtype), axis=axis, dtype=dtype).dtype
    # NumPy refuses a unit-carrying dtype= (timedelta64[D]); sums keep the unit anyway
    task_dtype = None if out_dtype.kind in "mM" else out_dtype
    token = tokenize(x, how, axis, out_dtype)
    name, scans, totals, carries = (f"{how}-{token}", f"{how}-scan-{token}",
                                    f"{how}-total-{token}", f"{how}-carry-{token}")  # fmt: skip
    layer: dict = {}
    last = x.numblocks[axis] - 1
    for idx in np.ndindex(*x.numblocks):
        j = idx[axis]
        block = Ref(x._key(idx))
        layer[(scans, *idx)] = Task((scans, *idx), _scan, block, func, axis, task_dtype)
        if j < last:
            layer[(totals, *idx)] = Task((totals, *idx), _total, block, agg, axis, task_dtype)
        carry = None
        if j:
            before = idx[:axis] + (j - 1,) + idx[axis + 1:]
            earlier = Ref((carries, *before)) if j > 1 else None
            layer[(carries, *idx)] = Task((carries, *idx), _carried, Ref((totals, *before)),
                                          earlier, merge)  # fmt: skip
            carry = Ref((carries, *idx))
        layer[(name, *idx)] = Task((name, *idx), _carried, Ref((scans, *idx)), carry, merge)
    return Array(merge_layers(x, name=name, layer=layer), name, x.chunks, out_dtype)


def cumsum(x, axis=None, dtype=None) -> Array:
    """The running sums along ``axis`` (of the flattened array with ``axis=None``)."""
    return cumulative(x, "cumsum", axis, dtype)


def cumprod(x, axis=None, dtype=None) -> Array:
    """The running products along ``axis`` (of the flattened array with ``axis=None``)."""
    return cumulative(x, "cumprod", axis, dtype)
