"""Arrays made from nothing or from other arrays' blocks.

Constant arrays (``ones``, ``zeros``, ``full``), ranges (``arange``, ``linspace``)
and ``eye`` are one task per block computing that block from its position, so no
block exists before it is needed and none is shared.  Each range block is
computed with the same arithmetic NumPy uses for the whole array
(``start + i * delta`` with NumPy's ``delta``; ``linspace`` sets the endpoint
exactly), so results are equal element for element, not just close.

``concatenate`` reuses the input blocks under new keys (aliases, no copy);
``stack`` adds a length-1 axis to every block.  Both first give the inputs equal
chunks along the other axes.  ``from_delayed`` wraps one Delayed value as a
one-block array of a declared shape and dtype.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from shoal.array import chunk
from shoal.array.blockwise import common_refinement
from shoal.array.core import Array, asarray, normalize_chunks, offsets
from shoal.collection import merge_layers
from shoal.core.spec import Alias, Ref, Task
from shoal.core.tokenize import tokenize
from shoal.delayed import Delayed, collect_delayed

__all__ = ["arange", "concatenate", "empty", "eye", "from_delayed", "full", "full_like",
           "linspace", "ones", "ones_like", "stack", "zeros", "zeros_like"]


def _shape(shape) -> tuple:
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _from_blocks(prefix, shape, chunks, dtype, make, token):
    """One task per block: ``make(idx, block_shape, block_offsets) -> (func, *args)``."""
    name = f"{prefix}-{token}"
    starts = [offsets(c) for c in chunks]
    layer = {}
    for idx in np.ndindex(*[len(c) for c in chunks]):
        bshape = tuple(c[i] for c, i in zip(chunks, idx))
        boff = tuple(s[i] for s, i in zip(starts, idx))
        func, *args = make(idx, bshape, boff)
        key = (name, *idx)
        layer[key] = Task(key, func, *args)
    return Array({name: layer}, name, chunks, dtype)


def _full(prefix, shape, fill_value, chunks, dtype):
    shape = _shape(shape)
    if np.ndim(fill_value) != 0:
        raise ValueError(f"fill_value must be a scalar, got an array of shape {np.shape(fill_value)}")
    dtype = np.dtype(dtype) if dtype is not None else np.asarray(fill_value).dtype
    chunks = normalize_chunks(chunks, shape, dtype)
    token = tokenize(shape, fill_value, chunks, dtype)
    return _from_blocks(prefix, shape, chunks, dtype,
                        lambda idx, bs, off: (np.full, bs, fill_value, dtype), token)


def full(shape, fill_value, chunks="auto", dtype=None):
    """An array of *shape* filled with *fill_value*."""
    return _full("full", shape, fill_value, chunks, dtype)


def ones(shape, chunks="auto", dtype=float):
    return _full("ones", shape, 1, chunks, dtype)


def zeros(shape, chunks="auto", dtype=float):
    return _full("zeros", shape, 0, chunks, dtype)


empty = zeros


def _like(a, chunks, dtype):
    return (a.shape, chunks if chunks is not None else getattr(a, "chunks", "auto"),
            dtype if dtype is not None else a.dtype)


def ones_like(a, dtype=None, chunks=None):
    shape, chunks, dtype = _like(a, chunks, dtype)
    return ones(shape, chunks=chunks, dtype=dtype)


def zeros_like(a, dtype=None, chunks=None):
    shape, chunks, dtype = _like(a, chunks, dtype)
    return zeros(shape, chunks=chunks, dtype=dtype)


def full_like(a, fill_value, dtype=None, chunks=None):
    shape, chunks, dtype = _like(a, chunks, dtype)
    return full(shape, fill_value, chunks=chunks, dtype=dtype)


# -- ranges ------------------------------------------------------------------------

def _arange_block(start, step, delta, lo, hi, dtype):
    if np.dtype(dtype).kind in "iu":  # NumPy's: the first two values in the dtype, then
        first = int(np.array(start, dtype=dtype))  # their difference (a float step of 1.5
        delta = int(np.array(start + step, dtype=dtype)) - first  # in ints is 1): not per
        values = first + np.arange(lo, hi, dtype=np.int64) * delta  # block (and a start the
        return values.astype(dtype)  # dtype cannot hold is NumPy's OverflowError; the rest wraps)
    if np.dtype(dtype).kind == "b":
        return np.arange(start + lo * delta, start + hi * delta, delta, dtype=dtype)
    y = start + np.arange(lo, hi, dtype=np.float64) * delta
    if lo <= 1 < hi:  # NumPy stores start + step there, then fills from its delta
        y[1 - lo] = start + step
    return y.astype(dtype, copy=False)


def arange(*args, chunks="auto", dtype=None, like=None):
    """``numpy.arange([start,] stop[, step])`` in blocks."""
    if len(args) == 1:
        start, stop, step = 0, args[0], 1
    elif len(args) == 2:
        (start, stop), step = args, 1
    elif len(args) == 3:
        start, stop, step = args
    else:
        raise TypeError(f"arange takes 1 to 3 positional arguments, got {len(args)}")
    if step == 0:
        raise ZeroDivisionError("arange: step must not be zero")
    n = max(int(math.ceil((stop - start) / step)), 0)
    natural = np.asarray(np.array([start, stop, step]).sum()).dtype
    dtype = np.dtype(dtype) if dtype is not None else natural
    delta = step if natural.kind in "iub" else (start + step) - start
    chunks = normalize_chunks(chunks, (n,), dtype)
    token = tokenize(start, stop, step, chunks, dtype)
    return _from_blocks("arange", (n,), chunks, dtype,
                        lambda idx, bs, off: (_arange_block, start, step, delta, off[0], off[0] + bs[0],
                                              dtype),
                        token)


def _linspace_block(start, stop, step, div, lo, hi, last, endpoint, dtype):
    y = np.arange(lo, hi, dtype=np.float64)
    delta = stop - start
    if div > 0 and step == 0:
        y = y / div * delta
    elif div > 0:
        y = y * step
    else:
        y = y * delta
    y += start
    if endpoint and last and hi > lo:
        y[-1] = stop
    if np.dtype(dtype).kind in "iu":
        np.floor(y, out=y)
    return y.astype(dtype, copy=False)


def linspace(start, stop, num=50, endpoint=True, retstep=False, chunks="auto", dtype=None):
    """``numpy.linspace`` in blocks (same values as NumPy)."""
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = (num - 1) if endpoint else num
    delta = stop - start
    step = delta / div if div > 0 else np.nan
    dtype = np.dtype(dtype) if dtype is not None else np.result_type(start, stop, float(num))
    chunks = normalize_chunks(chunks, (num,), dtype)
    token = tokenize(start, stop, num, endpoint, chunks, dtype)
    nblocks = len(chunks[0])
    out = _from_blocks(
        "linspace", (num,), chunks, dtype,
        lambda idx, bs, off: (_linspace_block, start, stop, step, div, off[0], off[0] + bs[0],
                              idx[0] == nblocks - 1, endpoint and num > 1, dtype), token)
    return (out, step) if retstep else out


def eye(N, M=None, k=0, chunks="auto", dtype=float):
    """``numpy.eye``: ones on diagonal *k*, zeros elsewhere."""
    M = N if M is None else M
    dtype = np.dtype(dtype)
    chunks = normalize_chunks(chunks, (N, M), dtype)
    token = tokenize(N, M, k, chunks, dtype)
    return _from_blocks("eye", (N, M), chunks, dtype,
                        lambda idx, bs, off: (np.eye, bs[0], bs[1], k + off[0] - off[1], dtype), token)


# -- from other things -------------------------------------------------------------

def _check_block(value, shape, dtype):
    value = np.asarray(value)
    if value.shape != shape:
        raise ValueError(f"from_delayed: the value has shape {value.shape}, but shape={shape} "
                         "was declared")
    return value.astype(dtype, copy=False)


def from_delayed(value, shape, dtype=None, name=None, meta=None):
    """A one-block array computed by the Delayed *value* (checked against *shape*)."""
    if not isinstance(value, Delayed):
        raise TypeError(f"from_delayed expects a shoal Delayed, got {type(value).__name__}")
    shape = _shape(shape)
    if dtype is None:
        dtype = getattr(meta, "dtype", None)
    if dtype is None:
        raise ValueError("from_delayed needs dtype= (the value is not known before computing)")
    dtype = np.dtype(dtype)
    name = name or f"from-value-{tokenize(value.key, shape, dtype)}"
    key = (name, *(0,) * len(shape))
    layers = {value.key: collect_delayed([value], {}),
              name: {key: Task(key, _check_block, Ref(value.key), shape, dtype)}}
    return Array(layers, name, tuple((s,) for s in shape), dtype)


def _unify_except(arrays, axis):
    """Rechunk *arrays* (same ndim) to common chunks on every axis but *axis*."""
    ndim = arrays[0].ndim
    want = {}
    for d in range(ndim):
        if d != axis:
            want[d] = common_refinement([a.chunks[d] for a in arrays])
    return [a.rechunk({d: c for d, c in want.items()}) for a in arrays]


def concatenate(seq, axis=0):
    """Join arrays along an existing *axis* (other lengths must be equal).

    ``axis=None`` joins the arrays flattened, as NumPy does.
    """
    arrays = [asarray(a) for a in seq]
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    if axis is None:
        arrays, axis = [a.reshape(-1) for a in arrays], 0
    ndim = arrays[0].ndim
    if ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    axis %= ndim
    for a in arrays[1:]:
        if a.ndim != ndim:
            raise ValueError(f"all the input arrays must have same number of dimensions, but the "
                             f"arrays have shapes {arrays[0].shape} and {a.shape}")
        if any(a.shape[d] != arrays[0].shape[d] for d in range(ndim) if d != axis):
            raise ValueError(f"all the input array dimensions except for the concatenation axis "
                             f"must match exactly: shapes {arrays[0].shape} and {a.shape}")
    dtype = np.result_type(*[a.dtype for a in arrays])
    arrays = [a.astype(dtype) for a in arrays]
    if len(arrays) == 1:
        return arrays[0]
    arrays = _unify_except(arrays, axis)
    name = f"concatenate-{tokenize(arrays, axis)}"
    layer = {}
    shift = 0
    for a in arrays:
        for idx in np.ndindex(*a.numblocks):
            out = idx[:axis] + (idx[axis] + shift,) + idx[axis + 1:]
            key = (name, *out)
            layer[key] = Alias(key, a._key(idx))
        shift += a.numblocks[axis]
    chunks = list(arrays[0].chunks)
    chunks[axis] = tuple(c for a in arrays for c in a.chunks[axis])
    return Array(merge_layers(*arrays, name=name, layer=layer), name, chunks, dtype)


def stack(seq, axis=0):
    """Join arrays of one shape along a new *axis*."""
    arrays = [asarray(a) for a in seq]
    if not arrays:
        raise ValueError("need at least one array to stack")
    shape = arrays[0].shape
    for a in arrays[1:]:
        if a.shape != shape:
            raise ValueError(f"all input arrays must have the same shape: {shape} and {a.shape}")
    ndim = len(shape) + 1
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    axis %= ndim
    dtype = np.result_type(*[a.dtype for a in arrays])
    arrays = [a.astype(dtype) for a in arrays]
    if len(arrays) > 1:
        arrays = _unify_except(arrays, None)
    name = f"stack-{tokenize(arrays, axis)}"
    layer = {}
    for n, a in enumerate(arrays):
        for idx in np.ndindex(*a.numblocks):
            key = (name, *idx[:axis], n, *idx[axis:])
            layer[key] = Task(key, chunk.expand_dims, Ref(a._key(idx)), axis)
    chunks = list(arrays[0].chunks)
    chunks.insert(axis, (1,) * len(arrays))
    return Array(merge_layers(*arrays, name=name, layer=layer), name, chunks, dtype)
