"""Index arithmetic and selection: ``tri``, ``tril_indices`` / ``triu_indices`` (and
their ``_from``), ``unravel_index``, ``ravel_multi_index``, ``compress``, ``extract``,
``choose``.

::

    tri(4, 5, k=0)          block (i, j) compares its row and column ranges: 1 where
                            column <= row + k (no data read, a broadcast of two aranges)
    tril_indices(4)         nonzero(tri(4, dtype=bool)): the lower triangle's positions
    unravel_index(ix, sh)   one array per dimension of *sh*, each split like *ix*
    compress(c, a, axis)    c is a concrete 1-d mask (a shoal mask is computed first,
                            as NumPy's length rules need it): a[..., c, ...]

Every result equals NumPy's; ``tril_indices`` lengths are counted when called (as
``nonzero`` does), so their chunks are known.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.core import Array, asarray

__all__ = ["choose", "compress", "extract", "ravel_multi_index", "tri", "tril_indices",
           "tril_indices_from", "triu_indices", "triu_indices_from", "unravel_index"]


def _size(n, what) -> int:
    if not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"{what} must be a non-negative int, got {n!r}")
    return int(n)


def tri(N, M=None, k=0, dtype=float, chunks="auto", *, like=None):
    """Ones at and below the *k*-th diagonal of an ``N x M`` array, zeros elsewhere."""
    from shoal.array.chunking import normalize_chunks
    from shoal.array.creation import arange

    N = _size(N, "tri: N")
    M = N if M is None else _size(M, "tri: M")
    chunks = normalize_chunks(chunks, (N, M), dtype=np.dtype(dtype))
    rows = arange(N, chunks=(chunks[0],))[:, None]
    cols = arange(M, chunks=(chunks[1],))[None, :]
    return (cols <= rows + int(k)).astype(dtype)


def tril_indices(n, k=0, m=None, chunks="auto"):
    """The row and column indices of the lower triangle, as ``numpy.tril_indices``."""
    from shoal.array.selection import nonzero

    return nonzero(tri(n, m, k=k, dtype=bool, chunks=chunks))


def triu_indices(n, k=0, m=None, chunks="auto"):
    """The row and column indices of the upper triangle, as ``numpy.triu_indices``."""
    from shoal.array.selection import nonzero

    return nonzero(~tri(n, m, k=k - 1, dtype=bool, chunks=chunks))


def _two_d(arr, what):
    if np.ndim(arr) != 2:
        raise ValueError(f"{what}: arr must be 2-d, got {np.ndim(arr)} dimensions")
    return arr.chunks if isinstance(arr, Array) else "auto"


def tril_indices_from(arr, k=0):
    chunks = _two_d(arr, "tril_indices_from")
    return tril_indices(np.shape(arr)[-2], k=k, m=np.shape(arr)[-1], chunks=chunks)


def triu_indices_from(arr, k=0):
    chunks = _two_d(arr, "triu_indices_from")
    return triu_indices(np.shape(arr)[-2], k=k, m=np.shape(arr)[-1], chunks=chunks)


# -- flat <-> multi-dimensional indices ------------------------------------------------------

def _unravel_one(block, *, dims, order, axis):
    return np.unravel_index(block, dims, order=order)[axis]


def unravel_index(indices, shape, order="C"):
    """One array per dimension of *shape*, each split like *indices*."""
    from shoal.array.blockwise import map_blocks

    indices = asarray(indices)
    dims = tuple(int(d) for d in ((shape,) if isinstance(shape, numbers.Integral) else shape))
    if order not in ("C", "F"):
        raise ValueError(f"unravel_index: order must be 'C' or 'F', got {order!r}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"unravel_index: indices must be integers, got dtype {indices.dtype}")
    return tuple(map_blocks(_unravel_one, indices, dtype=np.intp, dims=dims, order=order,
                            axis=d) for d in range(len(dims)))


def _ravel_block(block, *, dims, mode, order):
    return np.ravel_multi_index(tuple(block), dims, mode=mode, order=order)


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """Flat indices from a sequence (or stacked array) of per-dimension indices."""
    from shoal.array.blockwise import map_blocks
    from shoal.array.creation import stack
    from shoal.array.manipulation import broadcast_arrays

    if isinstance(multi_index, Array):
        stacked = multi_index
    else:  # (NumPy broadcasts the index arrays against each other)
        stacked = stack(broadcast_arrays(*[asarray(i) for i in multi_index]))
    dims = tuple(int(d) for d in dims)
    if stacked.shape[0] != len(dims):
        raise ValueError(f"ravel_multi_index: multi_index has {stacked.shape[0]} index arrays "
                         f"for {len(dims)} dims")
    if len(stacked.chunks[0]) > 1:
        stacked = stacked.rechunk((stacked.shape[0],) + stacked.chunks[1:])
    return map_blocks(_ravel_block, stacked, dtype=np.intp, drop_axis=0, dims=dims, mode=mode,
                      order=order)


# -- selection -----------------------------------------------------------------------------

def _mask(condition, length) -> np.ndarray:
    cond = np.asarray(condition.compute() if isinstance(condition, Array) else condition)
    cond = cond.astype(bool)
    if cond.ndim != 1:
        raise ValueError(f"compress: condition must be 1-d, got {cond.ndim} dimensions")
    if len(cond) > length:
        if cond[length:].any():
            raise IndexError(f"compress: condition has True beyond the axis length {length}")
        return cond[:length]
    return np.concatenate([cond, np.zeros(length - len(cond), dtype=bool)])


def compress(condition, a, axis=None):
    """The slices of *a* along *axis* where *condition* is true (*a* flattened when
    *axis* is None)."""
    from shoal.array.reductions import normalize_axis

    a = asarray(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    (axis,) = normalize_axis(axis, a.ndim)
    mask = _mask(condition, a.shape[axis])
    return a[(slice(None),) * axis + (mask,)]


def extract(condition, arr):
    """The elements of *arr* where *condition* (same size) is true, flattened."""
    arr = asarray(arr)
    cond = asarray(condition)
    if cond.size != arr.size:
        raise ValueError(f"extract: condition has {cond.size} elements, arr {arr.size}")
    return compress(cond.reshape(-1), arr.reshape(-1))


def _choose(a, *choices, mode="raise"):
    return np.choose(a, choices, mode=mode)


def choose(a, choices, out=None, mode="raise"):
    """``numpy.choose`` block by block: element ``i`` is ``choices[a[i]][i]``."""
    from shoal.array.blockwise import elemwise

    if out is not None:
        raise NotImplementedError("choose of a shoal array: out= not supported")
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"choose: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    if isinstance(choices, Array):
        choices = [choices[i] for i in range(choices.shape[0])]
    return elemwise(_choose, a, *choices, op_kwargs={"mode": mode}, token="choose")
