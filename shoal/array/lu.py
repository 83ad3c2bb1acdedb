"""``lu`` (``p, l, u`` with ``a = p @ l @ u``, SciPy's ``scipy.linalg.lu``) and
``solve_triangular``, without SciPy.

Both follow ``solvers.py``'s first version: the square matrix is gathered into ONE
block (refused over ``SINGLE_BLOCK_LIMIT`` bytes) and factored in one task::

    a -> rechunk to one block -> lu task: (p, l, u) -+-> p  (each rechunked back
                                                     +-> l   to a's chunks)
                                                     +-> u

The factorization is Doolittle's with partial pivoting, column by column: the
largest magnitude in the column (the first one on ties, as LAPACK's) becomes the
pivot row, and one rank-1 NumPy update clears the column below it.  So ``l`` is
unit lower triangular with ``|l| <= 1``, ``u`` upper triangular and ``p`` a
permutation matrix.  ``solve_triangular(a, b, lower)`` solves with the triangle
of ``a`` that ``lower`` names (the other is ignored): ``solvers.solve`` of
``tril(a)`` / ``triu(a)``.
"""

from __future__ import annotations

import numpy as np

from shoal.array.core import Array, asarray
from shoal.array.solvers import _square, solve
from shoal.array.triangles import tril, triu
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["lu", "solve_triangular"]


def lu_dtype(dtype) -> np.dtype:
    """SciPy's: floats and complexes keep their type, the rest become float64."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def lu_block(a):
    """``(p, l, u)`` of one square block (see the module docstring)."""
    n = a.shape[0]
    w = np.array(a, dtype=lu_dtype(a.dtype))
    perm = np.arange(n)
    for k in range(n - 1):
        pivot = k + int(np.argmax(np.abs(w[k:, k])))
        if pivot != k:
            w[[k, pivot]] = w[[pivot, k]]
            perm[[k, pivot]] = perm[[pivot, k]]
        if w[k, k] != 0:
            w[k + 1:, k] /= w[k, k]
            w[k + 1:, k + 1:] -= np.multiply.outer(w[k + 1:, k], w[k, k + 1:])
    p = np.zeros((n, n), dtype=np.dtype(w.dtype).type(0).real.dtype)
    p[perm, np.arange(n)] = 1
    return p, np.tril(w, -1) + np.eye(n, dtype=w.dtype), np.triu(w)


def lu(a):
    """``p, l, u`` with ``a = p @ l @ u`` for a square *a* (``scipy.linalg.lu``); each has
    *a*'s chunks.  One block, one task: see the module docstring."""
    chunks = a.chunks if isinstance(a, Array) else None
    one = _square(a, "lu")
    token = tokenize(one)
    name = f"lu-{token}"
    whole = Task((name, 0, 0), lu_block, Ref(one._key((0, 0))))
    dtype = lu_dtype(one.dtype)
    out = []
    for n, (part, kind) in enumerate((("p", dtype.type(0).real.dtype), ("l", dtype),
                                      ("u", dtype))):
        pname = f"lu-{part}-{token}"
        layer = {whole.key: whole, (pname, 0, 0): Task((pname, 0, 0), _item, Ref(whole.key), n)}
        arr = Array(merge_layers(one, name=pname, layer=layer), pname, one.chunks, kind)
        out.append(arr.rechunk(chunks) if chunks and arr.chunks != chunks else arr)
    return tuple(out)


def _item(parts, n):
    return parts[n]


def solve_triangular(a, b, lower=False):
    """The ``x`` with ``a @ x = b`` for triangular *a* (``scipy.linalg.solve_triangular``):
    only the triangle ``lower`` names is read; *b* is ``(n,)`` or ``(n, k)``."""
    a = a if isinstance(a, Array) else asarray(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"solve_triangular: a must be a square 2-d matrix, got shape {a.shape}")
    if not isinstance(lower, (bool, np.bool_)):
        raise TypeError(f"solve_triangular: lower must be True or False, got {lower!r}")
    return solve(tril(a) if lower else triu(a), b)
