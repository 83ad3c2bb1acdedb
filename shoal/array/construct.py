"""More ways to make an array: ``array``, ``empty_like`` and coordinate grids
(``indices``, ``meshgrid``, ``fromfunction``).

``array`` copies a NumPy input, as Dask's ``from_array`` does, so changing that
input afterwards does not change the result (``asarray`` and ``from_array`` wrap
it without a copy).  ``indices`` and ``fromfunction`` are one task per block that
computes its coordinates from the block's offsets, so no coordinate array exists
before it is needed; ``meshgrid`` broadcasts 1-d arrays (``broadcast_to``: views).
"""

from __future__ import annotations

import warnings

import numpy as np

from shoal.array.core import Array, asarray, from_array, normalize_chunks
from shoal.array.creation import _from_blocks, _shape, arange, empty
from shoal.array.manipulation import broadcast_arrays
from shoal.array.rechunk import reshape
from shoal.core.tokenize import tokenize

__all__ = ["array", "empty_like", "fromfunction", "indices", "meshgrid"]


def array(x, dtype=None, ndmin=None):
    """*x* as an :class:`Array`, as ``dask.array.array``: a NumPy array or a list is
    copied first (read from files, h5py datasets and the like stay lazy); a shoal
    Array is returned as it is.  ``dtype`` casts, ``ndmin`` adds leading axes."""
    if isinstance(x, (np.ndarray, np.generic)) or not (hasattr(x, "shape") and hasattr(x, "dtype")):
        x = from_array(np.array(x, dtype=dtype))
    elif not isinstance(x, Array):
        x = from_array(x)
    if ndmin is not None and x.ndim < ndmin:
        x = x[(None,) * (ndmin - x.ndim)]
    return x if dtype is None else x.astype(dtype)


def empty_like(a, dtype=None, chunks=None, shape=None):
    """An array like *a* (its shape, dtype and chunks unless given).  Its values are
    zeros, as ``empty``'s in shoal (NumPy's are undefined)."""
    if not (hasattr(a, "shape") and hasattr(a, "dtype")):
        a = np.asarray(a)
    shape = tuple(a.shape) if shape is None else _shape(shape)
    if chunks is None:
        chunks = a.chunks if isinstance(a, Array) and shape == a.shape else "auto"
    return empty(shape, chunks=chunks, dtype=a.dtype if dtype is None else dtype)


def _coordinates(shape, starts, dtype) -> list:
    """The block's index grids: ``numpy.indices(shape) + starts`` per axis."""
    grids = np.indices(shape, dtype=dtype)
    return [grid + np.asarray(start, dtype=dtype) for grid, start in zip(grids, starts)]


def _indices_block(axis, shape, starts, dtype):
    out = np.empty((1, *shape), dtype=dtype)
    line = np.arange(starts[axis], starts[axis] + shape[axis], dtype=dtype)
    out[0] = line.reshape([-1 if d == axis else 1 for d in range(len(shape))])
    return out


def indices(dimensions, dtype=int, chunks="auto", sparse=False):
    """The grid of indices of an array of shape *dimensions*, as ``numpy.indices``: an
    array of shape ``(len(dimensions), *dimensions)`` split one grid per block along
    the first axis and by *chunks* along the others (``sparse=True``: a tuple of
    broadcastable ``arange`` s)."""
    dimensions = _shape(dimensions)
    dtype = np.dtype(dtype)
    chunks = normalize_chunks(chunks, dimensions, dtype)
    if sparse:
        return tuple(
            arange(n, chunks=(c,), dtype=dtype)[tuple(slice(None) if d == axis else None
                                                      for d in range(len(dimensions)))]
            for axis, (n, c) in enumerate(zip(dimensions, chunks)))
    if not dimensions:
        return from_array(np.indices((), dtype=dtype))
    shape = (len(dimensions), *dimensions)
    out_chunks = ((1,) * len(dimensions), *chunks)
    return _from_blocks("indices", shape, out_chunks, dtype,
                        lambda idx, bs, off: (_indices_block, idx[0], bs[1:], off[1:], dtype),
                        tokenize(dimensions, chunks, dtype))


def meshgrid(*xi, sparse=False, indexing="xy", copy=True):
    """Coordinate arrays from 1-d coordinate vectors, as ``numpy.meshgrid`` (a tuple;
    ``copy`` is accepted for NumPy's spelling: the arrays are immutable)."""
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    xi = [reshape(asarray(x), (-1,)) for x in xi]
    ndim = len(xi)
    place = list(range(ndim))
    if indexing == "xy" and ndim > 1:  # the first vector varies along columns, the second rows
        place[0], place[1] = 1, 0
    grids = [x[tuple(slice(None) if d == place[axis] else None for d in range(ndim))]
             for axis, x in enumerate(xi)]
    return tuple(grids) if sparse else broadcast_arrays(*grids)


def _fromfunction_block(func, shape, starts, dtype, kwargs):
    out = np.asarray(func(*_coordinates(shape, starts, dtype), **kwargs))
    return out if out.shape == shape else np.broadcast_to(out, shape).copy()


def fromfunction(func, chunks="auto", shape=None, dtype=float, **kwargs):
    """``func(*coordinates, **kwargs)`` evaluated block by block over an array of
    *shape* (coordinates of *dtype*), as ``numpy.fromfunction``.  The result's dtype
    is what *func* returns.  Dask's order puts ``chunks`` second; given no ``shape=``,
    that second argument is read as the shape, as NumPy writes it
    (``fromfunction(f, (3, 4))``).

    >>> fromfunction(lambda i, j: i * 10 + j, shape=(2, 3), chunks=2, dtype=int).compute()
    array([[ 0,  1,  2],
           [10, 11, 12]])
    """
    if shape is None:
        shape, chunks = chunks, "auto"
    shape = _shape(shape)
    dtype = np.dtype(dtype)
    chunks = normalize_chunks(chunks, shape, dtype)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trial = func(*_coordinates((1,) * len(shape), (0,) * len(shape), dtype), **kwargs)
    out_dtype = np.asarray(trial).dtype
    return _from_blocks("fromfunction", shape, chunks, out_dtype,
                        lambda idx, bs, off: (_fromfunction_block, func, bs, off, dtype, kwargs),
                        tokenize(func, shape, chunks, dtype, kwargs))
