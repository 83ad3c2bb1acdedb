"""Square solvers (``solve``, ``inv``, ``cholesky``) and ``norm``.

First version, stated plainly: ``solve``, ``inv`` and ``cholesky`` gather the
square matrix into ONE block (a rechunk) and call NumPy on it in one task; a
matrix over :data:`SINGLE_BLOCK_LIMIT` bytes is refused with an error rather than
gathered.  ``solve`` then makes one task per column block of ``b``::

    a (any chunks) -> rechunk to one block A ---+---> solve(A, b[:, j0])
    b: one block of rows, column blocks j ------+---> solve(A, b[:, j1])   ...

    inv / cholesky:  A -> one task -> rechunked back to a's chunks

``norm`` follows ``numpy.linalg.norm``.  Vector norms and the matrix norms made of
sums (``'fro'``, 1, -1, inf, -inf) are element-wise steps plus reductions over
any chunking; the norms that need singular values (2, -2, ``'nuc'``) gather the
two matrix axes into one block (other axes stay split), except a tall-and-skinny
2-d matrix, whose singular values are those of its TSQR ``R`` factor.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.chunking import AUTO_CHUNK_BYTES
from shoal.array.core import Array, asarray
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["SINGLE_BLOCK_LIMIT", "cholesky", "inv", "norm", "solve"]

SINGLE_BLOCK_LIMIT = AUTO_CHUNK_BYTES
"""The largest matrix (in bytes) ``solve`` / ``inv`` / ``cholesky`` gather into one block."""


# -- per-block kernels ------------------------------------------------------------------

def solve_block(a, b):
    return np.linalg.solve(a, b)


def inv_block(a):
    return np.linalg.inv(a)


def cholesky_block(a, lower):
    low = np.linalg.cholesky(a)
    return low if lower else low.conj().T


def norm_block(x, ord, axis, keepdims):
    return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


# -- helpers ----------------------------------------------------------------------------

def _square(a, func):
    a = a if isinstance(a, Array) else asarray(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{func}: a must be a square 2-d matrix, got shape {a.shape}")
    if a.nbytes > SINGLE_BLOCK_LIMIT:
        raise NotImplementedError(
            f"{func}: a ({a.shape[0]} x {a.shape[1]}, {a.nbytes} bytes) is larger than "
            f"SINGLE_BLOCK_LIMIT ({SINGLE_BLOCK_LIMIT} bytes): this first version gathers the "
            "matrix into one block and has no blocked algorithm yet")
    return a.rechunk(-1) if a.numblocks != (1, 1) else a


def _one_task(prefix, func, a, args, dtype):
    name = f"{prefix}-{tokenize(a, args)}"
    key = (name, 0, 0)
    layer = {key: Task(key, func, Ref(a._key((0, 0))), *args)}
    return Array(merge_layers(a, name=name, layer=layer), name, ((a.shape[0],), (a.shape[1],)),
                 dtype)


def _trial(func, dtype, *args):
    return np.asarray(func(np.eye(2, dtype=dtype) * 2, *args)).dtype


# -- solvers ----------------------------------------------------------------------------

def solve(a, b, sym_pos=None, assume_a="gen"):
    """``numpy.linalg.solve(a, b)``: *a* square (gathered into one block, see the module
    docstring), *b* of shape ``(n,)`` or ``(n, k)``; one task per column block of *b*.

    ``sym_pos`` / ``assume_a`` (``'gen'`` or ``'pos'``) are accepted for Dask's
    signature; both use NumPy's LU solve.
    """
    if assume_a not in ("gen", "pos") or sym_pos not in (None, True, False):
        raise ValueError(f"solve: assume_a must be 'gen' or 'pos' (got {assume_a!r}) and sym_pos "
                         f"None, True or False (got {sym_pos!r})")
    a = _square(a, "solve")
    b = b if isinstance(b, Array) else asarray(b)
    if b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ValueError(f"solve: b must be 1- or 2-dimensional with {a.shape[0]} rows (a's), "
                         f"got shape {b.shape}")
    if b.numblocks[0] != 1:
        b = b.rechunk({0: -1})
    dtype = np.asarray(np.linalg.solve(np.eye(2, dtype=a.dtype), np.ones(2, b.dtype))).dtype
    name = f"solve-{tokenize(a, b)}"
    layer = {}
    for j in range(b.numblocks[1] if b.ndim == 2 else 1):
        key = (name, 0, j) if b.ndim == 2 else (name, 0)
        layer[key] = Task(key, solve_block, Ref(a._key((0, 0))), Ref(b._key(key[1:])))
    return Array(merge_layers(a, b, name=name, layer=layer), name, b.chunks, dtype)


def inv(a):
    """``numpy.linalg.inv(a)`` in one task (see the module docstring); the result has
    *a*'s chunks."""
    chunks = a.chunks if isinstance(a, Array) else None
    one = _square(a, "inv")
    out = _one_task("inv", inv_block, one, (), _trial(inv_block, one.dtype))
    return out.rechunk(chunks) if chunks and out.chunks != chunks else out


def cholesky(a, lower=False):
    """The Cholesky factor of a Hermitian positive-definite *a*: upper triangular ``U``
    with ``a = U^H U`` by default (as Dask and SciPy), NumPy's lower ``L`` with
    ``lower=True``.  One task (see the module docstring); the result has *a*'s chunks.
    A matrix that is not positive definite raises NumPy's ``LinAlgError`` on compute.
    """
    chunks = a.chunks if isinstance(a, Array) else None
    one = _square(a, "cholesky")
    lower = bool(lower)
    out = _one_task("cholesky", cholesky_block, one, (lower,),
                    _trial(cholesky_block, one.dtype, lower))
    return out.rechunk(chunks) if chunks and out.chunks != chunks else out


# -- norm -------------------------------------------------------------------------------

def _axes(axis, ndim):
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    if not all(isinstance(d, numbers.Integral) for d in axes):
        raise TypeError(f"norm: axis must be None, an integer or a tuple of integers, got {axis!r}")
    out = []
    for d in axes:
        if not -ndim <= d < ndim:
            raise np.exceptions.AxisError(f"norm: axis {d} is out of bounds for an array of "
                                          f"dimension {ndim}")
        out.append(int(d) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"norm: duplicate axes given: {axis!r}")
    return tuple(out)


def _restore(out, axes, ndim, keepdims):
    """Put back the reduced axes with length 1 (a reduction that dropped them)."""
    if not keepdims:
        return out
    index = tuple(None if d in axes else slice(None) for d in range(ndim))
    return out[index]


def norm(x, ord=None, axis=None, keepdims=False):
    """``numpy.linalg.norm``: vector norms over one axis, matrix norms over two (see the
    module docstring).  ``ord`` and ``axis`` as NumPy; the result dtype is real."""
    x = x if isinstance(x, Array) else asarray(x)
    if x.dtype.kind in "biu":
        x = x.astype(float)
    axes = _axes(axis, x.ndim)
    if axes is None:
        if ord is None or (ord in ("f", "fro") and x.ndim == 2):
            out = _sqrt_sum_sq(x, tuple(range(x.ndim)))
            return _restore(out, tuple(range(x.ndim)), x.ndim, keepdims)
        if x.ndim not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} without axis needs a 1-d or 2-d array, got "
                             f"{x.ndim} dimensions")
        axes = tuple(range(x.ndim))
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"norm: axis must name one or two axes, got {axis!r}")


def _abs(x):
    return abs(x)


def _sqrt_sum_sq(x, axes, keepdims=False):
    a = _abs(x)
    return ((a * a).sum(axis=axes, keepdims=keepdims)) ** 0.5


def _vector_norm(x, ord, axis, keepdims):
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid ord={ord!r} for a vector norm (one axis)")
    a = _abs(x)
    if ord is None or ord == 2:
        return _sqrt_sum_sq(x, axis, keepdims)
    if ord == np.inf:
        return a.max(axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return a.min(axis=axis, keepdims=keepdims)
    if ord == 0:
        return (x != 0).astype(a.dtype).sum(axis=axis, keepdims=keepdims)
    if ord == 1:
        return a.sum(axis=axis, keepdims=keepdims)
    if not isinstance(ord, numbers.Number):
        raise ValueError(f"norm: invalid ord={ord!r} for a vector norm")
    return ((a ** ord).sum(axis=axis, keepdims=keepdims)) ** (1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    row, col = axes
    if ord is None or ord in ("fro", "f"):
        return _sqrt_sum_sq(x, axes, keepdims)
    if ord in (1, -1, np.inf, -np.inf) and not isinstance(ord, bool):
        a = _abs(x)
        inner, outer = (row, col) if ord in (1, -1) else (col, row)
        sums = a.sum(axis=inner, keepdims=True)
        out = sums.max(axis=outer, keepdims=True) if ord > 0 else sums.min(axis=outer, keepdims=True)
        return out if keepdims else out.squeeze(axis=axes)
    if ord not in (2, -2, "nuc"):
        raise ValueError(f"norm: invalid ord={ord!r} for a matrix norm (two axes)")
    if x.ndim == 2 and axes == (0, 1) and x.numblocks[0] > 1 and x.numblocks[1] == 1 \
            and x.shape[0] >= x.shape[1]:
        from shoal.array.decompositions import tsqr

        r = tsqr(x)[1]  # same singular values as x
        out = r.map_blocks(norm_block, ord=ord, axis=None, keepdims=True, dtype=r.dtype,
                           chunks=((1,), (1,)), token="norm")
        out = out.astype(np.abs(np.ones(1, x.dtype)).dtype)
        return out if keepdims else out.squeeze(axis=axes)
    one = x.rechunk({row: -1, col: -1})
    dtype = np.abs(np.ones(1, x.dtype)).dtype
    chunks = tuple((1,) if d in axes else c for d, c in enumerate(one.chunks))
    out = one.map_blocks(norm_block, ord=ord, axis=axes, keepdims=True, dtype=dtype,
                         chunks=chunks, token="norm")
    return out if keepdims else out.squeeze(axis=axes)
