"""Masked shoal arrays: ``shoal.array.ma``, spelled like ``dask.array.ma``.

::

    x = da.ma.masked_greater(da.arange(10, chunks=4), 6)   # blocks are numpy.ma arrays
    x.sum().compute()                                       # 21, the masked entries left out
    da.ma.filled(x, -1).compute()                           # a plain ndarray again

A masked shoal array is an ordinary :class:`~shoal.array.Array` whose blocks are
``numpy.ma.MaskedArray``; each function here applies its ``numpy.ma`` namesake
block by block (element-wise, so no data moves between blocks).  The rest of
shoal keeps the masks: operators and ufuncs act on the masked blocks, reductions
merge their partials mask-aware (``ma_chunk.py``), and computing assembles a
``MaskedArray``.  ``set_fill_value`` changes its argument in place, as Dask's does.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array import reductions
from shoal.array.blockwise import elemwise
from shoal.array.core import Array, asarray, from_array

__all__ = [
    "asanyarray", "average", "count", "empty_like", "filled", "fix_invalid", "getdata",
    "getmaskarray", "masked_array", "masked_equal", "masked_greater", "masked_greater_equal",
    "masked_inside", "masked_invalid", "masked_less", "masked_less_equal", "masked_not_equal",
    "masked_outside", "masked_values", "masked_where", "nonzero", "ones_like", "set_fill_value",
    "where", "zeros_like",
]


def asanyarray(a):
    """A shoal array whose blocks keep *a*'s type (a ``MaskedArray`` stays masked)."""
    if isinstance(a, Array):
        return a
    if isinstance(a, np.ma.MaskedArray):
        return from_array(a)
    return asarray(a)


def _scalar(value, name: str, func: str):
    if np.ndim(value) != 0 or isinstance(value, Array):
        raise ValueError(f"ma.{func}: {name} must be a scalar, got {type(value).__name__}")
    return value


def _blockwise(func, *args, **kwargs):
    return elemwise(func, *args, op_kwargs=kwargs, token=func.__name__)


def masked_array(data, mask=np.ma.nomask, fill_value=None, **kwargs):
    """``numpy.ma.masked_array`` block by block; *mask* aligned with *data*."""
    data = asanyarray(data)
    if fill_value is not None:
        kwargs["fill_value"] = _scalar(fill_value, "fill_value", "masked_array")
    if mask is np.ma.nomask:
        return _blockwise(np.ma.masked_array, data, **kwargs)
    mask = asanyarray(mask)
    if mask.shape != data.shape:
        raise ValueError(f"ma.masked_array: mask shape {mask.shape} does not match the "
                         f"data's {data.shape}")
    return _blockwise(_with_mask, data, mask.astype(bool), **kwargs)


def _with_mask(data, mask, **kwargs):
    return np.ma.masked_array(data, mask=mask, **kwargs)


def _compare(func):
    def masked(x, value):
        return _blockwise(func, asanyarray(x), _scalar(value, "value", func.__name__))

    masked.__name__ = masked.__qualname__ = func.__name__
    masked.__doc__ = f"``numpy.{func.__name__}`` block by block (*value* a scalar)."
    return masked


masked_equal = _compare(np.ma.masked_equal)
masked_greater = _compare(np.ma.masked_greater)
masked_greater_equal = _compare(np.ma.masked_greater_equal)
masked_less = _compare(np.ma.masked_less)
masked_less_equal = _compare(np.ma.masked_less_equal)
masked_not_equal = _compare(np.ma.masked_not_equal)


def masked_inside(x, v1, v2):
    """Mask the entries between *v1* and *v2* (both included)."""
    return _blockwise(np.ma.masked_inside, asanyarray(x), _scalar(v1, "v1", "masked_inside"),
                      _scalar(v2, "v2", "masked_inside"))


def masked_outside(x, v1, v2):
    """Mask the entries outside ``[v1, v2]``."""
    return _blockwise(np.ma.masked_outside, asanyarray(x), _scalar(v1, "v1", "masked_outside"),
                      _scalar(v2, "v2", "masked_outside"))


def masked_invalid(a):
    """Mask NaN and infinities."""
    return _blockwise(np.ma.masked_invalid, asanyarray(a))


def masked_values(x, value, rtol=1e-05, atol=1e-08, shrink=True):
    """Mask the entries close to *value* (floats) or equal to it."""
    return _blockwise(np.ma.masked_values, asanyarray(x), _scalar(value, "value", "masked_values"),
                      rtol=rtol, atol=atol, shrink=shrink)


def masked_where(condition, a):
    """Mask *a* where *condition* holds (the two of one shape, as NumPy requires)."""
    condition, a = asanyarray(condition), asanyarray(a)
    if condition.shape != a.shape:
        raise IndexError(f"ma.masked_where: condition shape {condition.shape} does not match "
                         f"the array's {a.shape}")
    return _blockwise(np.ma.masked_where, condition, a)


def filled(a, fill_value=None):
    """A plain array: the masked entries replaced by *fill_value* (the fill value if None)."""
    return _blockwise(np.ma.filled, asanyarray(a), fill_value)


def getdata(a):
    """The data under the mask, as a plain array."""
    return _blockwise(np.ma.getdata, asanyarray(a))


def getmaskarray(a):
    """The mask as a full boolean array (all False for an unmasked array)."""
    return _blockwise(np.ma.getmaskarray, asanyarray(a))


def fix_invalid(a, fill_value=None):
    """Mask NaN and infinities and replace their data by *fill_value*."""
    return _blockwise(np.ma.fix_invalid, asanyarray(a), fill_value=fill_value)


def _set_fill_value(block, fill_value):
    block = np.ma.masked_array(block, copy=True)
    block.fill_value = fill_value
    return block


def set_fill_value(a, fill_value):
    """Set the fill value of every block of *a*, in place (returns None, as NumPy's)."""
    if not isinstance(a, Array):
        raise TypeError(f"ma.set_fill_value: a must be a shoal array, got {type(a).__name__}")
    if np.ndim(fill_value) != 0:
        raise ValueError("ma.set_fill_value: fill_value must be a scalar")
    np.ma.masked_array([], dtype=a.dtype, fill_value=fill_value)  # (NumPy's error for a bad one)
    out = _blockwise(_set_fill_value, a, fill_value)
    a.__dict__.update(out.__dict__)


def count(a, axis=None, keepdims=False, split_every=None):
    """The number of unmasked entries along *axis*."""
    valid = _blockwise(np.logical_not, getmaskarray(a))
    return reductions.sum(valid, axis=axis, keepdims=keepdims, split_every=split_every,
                          dtype=np.intp)


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """``numpy.ma.average``: the (weighted) mean of the unmasked entries."""
    a = asanyarray(a)
    if weights is None:
        total = reductions.sum(a, axis=axis, keepdims=keepdims)
        weight = count(a, axis=axis, keepdims=keepdims)
    else:
        w = asanyarray(weights)
        if w.shape != a.shape:
            if axis is None or not isinstance(axis, numbers.Integral) or w.ndim != 1 \
                    or w.shape[0] != a.shape[axis]:
                raise ValueError("ma.average: weights must have the shape of a, or be 1-D with "
                                 "the length of a along an integer axis")
            w = w.reshape((-1,) + (1,) * (a.ndim - 1 - axis % a.ndim))
        w = _blockwise(_weights_of, a, w)
        total = reductions.sum(a * w, axis=axis, keepdims=keepdims)
        weight = reductions.sum(w, axis=axis, keepdims=keepdims)
    avg = _blockwise(np.ma.divide, total, weight)  # (masked, without a warning, where 0)
    if returned:
        return avg, (weight * 1.0 if weights is None else weight)
    return avg


def _weights_of(block, w):
    """*w* broadcast to *block*, masked where *block* is (those weights do not count)."""
    w = np.broadcast_to(np.ma.getdata(w), np.shape(block))
    return np.ma.masked_array(w, mask=np.ma.getmaskarray(block))


def _like(func):
    def like(a, **kwargs):
        return asanyarray(a).map_blocks(func, **kwargs)

    like.__name__ = like.__qualname__ = func.__name__
    like.__doc__ = f"``numpy.ma.{func.__name__}`` of every block (the masks kept)."
    return like


ones_like = _like(np.ma.ones_like)
zeros_like = _like(np.ma.zeros_like)
empty_like = _like(np.ma.empty_like)


def nonzero(a):
    """The indices of the unmasked entries that are not zero (lazy arrays, one per axis)."""
    from shoal.array.selection import nonzero as _nonzero

    return _nonzero(filled(a, 0))


def where(condition, x=None, y=None):
    """``numpy.ma.where``: *x* where *condition*, else *y* (the masks carried)."""
    if x is None and y is None:
        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("ma.where: give both x and y, or neither")
    return _blockwise(np.ma.where, condition, x, y)
