"""``push``: forward fill of NaNs along one axis (Dask's ``da.push``).

::

    blocks along the axis:   b0 ------> b1 ------> b2
    carry (per lane):        (last value seen, its age) passed block to block

Each block is filled on its own (the last valid value up to every position,
found with a running maximum of valid positions), and its leading gap takes the
carry from the block before.  The carry is a small array (the block without the
axis), so the chain along the axis moves little data; blocks in different lanes
run in parallel.  ``n`` limits the fill to gaps of at most ``n`` positions: the
age (distance to the value used) is tracked with the value, and an entry older
than ``n`` stays NaN, as ``pandas.DataFrame.ffill(limit=n)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.core import Array, asarray
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["push"]


def _fill(block, carry):
    """``(filled, age)`` of *block* (axis last) continuing from ``carry = (value, age)``."""
    m = block.shape[-1]
    pos = np.arange(m)
    last = np.maximum.accumulate(np.where(~np.isnan(block), pos, -1), axis=-1)
    filled = np.take_along_axis(block, np.maximum(last, 0), axis=-1)
    value, age = carry
    none = last < 0
    filled = np.where(none, value[..., None], filled)
    ages = np.where(none, age[..., None] + pos + 1, pos - last)
    return filled, ages.astype(float)


def _start(block):
    lane = block.shape[:-1]
    return np.full(lane, np.nan, dtype=block.dtype), np.full(lane, np.inf)


def push_carry(block, carry, axis):
    """The carry after *block* (None before the first block)."""
    block = np.moveaxis(block, axis, -1)
    filled, ages = _fill(block, _start(block) if carry is None else carry)
    if block.shape[-1] == 0:
        return carry if carry is not None else _start(block)
    return filled[..., -1], ages[..., -1]


def push_block(block, carry, axis, n):
    """*block* forward filled along *axis*, continuing from *carry*."""
    moved = np.moveaxis(block, axis, -1)
    filled, ages = _fill(moved, _start(moved) if carry is None else carry)
    if n is not None:
        filled = np.where(ages > n, np.nan, filled)
    return np.moveaxis(filled, -1, axis)


def push(array, n=None, axis=-1):
    """Fill each NaN with the last value before it along *axis* (at most *n* in a row)."""
    x = asarray(array)
    if not isinstance(axis, numbers.Integral) or not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"push: axis must be an int within the array's {x.ndim} dimensions, "
                         f"got {axis!r}")
    if n is not None and (not isinstance(n, numbers.Integral) or n < 1):
        raise ValueError(f"push: n must be a positive int or None, got {n!r}")
    if x.dtype.kind not in "fc":
        return x  # (no NaN to fill)
    axis = int(axis) % x.ndim
    token = tokenize(x, n, axis)
    name, carry_name = f"push-{token}", f"push-carry-{token}"
    layer = {}
    for idx in np.ndindex(*x.numblocks):
        prev = None
        if idx[axis] > 0:
            prev = Ref((carry_name, *idx[:axis], idx[axis] - 1, *idx[axis + 1:]))
        ck = (carry_name, *idx)
        layer[ck] = Task(ck, push_carry, Ref(x._key(idx)), prev, axis)
        key = (name, *idx)
        layer[key] = Task(key, push_block, Ref(x._key(idx)), prev, axis, n)
    return Array(merge_layers(x, name=name, layer=layer), name, x.chunks, x.dtype)
