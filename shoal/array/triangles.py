"""Triangles and diagonals: ``tril``, ``triu``, ``diag``, ``diagonal``, ``trace``.

Where a block lies against diagonal *k* is known from its offsets alone, so each
block of ``tril``/``triu`` is one of three tasks::

    tril(x, k), block at rows r0.., columns c0..      d = k + r0 - c0
      wholly below or on the diagonal (d >= width - 1)     the input block itself (an alias)
      wholly above it (d < 1 - height)                     zeros (no input read)
      crossed by it                                        numpy.tril(block, d)

``diag`` of a 1-d array puts ``numpy.diag(block)`` on the blocks the diagonal
crosses (square: the output is split like the input along both axes, plus one
band of zero blocks |k| wide) and zeros elsewhere.  ``diagonal`` cuts the diagonal
where it crosses a block boundary of either axis; each piece is read from the one
block it lies in.  ``trace`` sums ``diagonal``.
"""

from __future__ import annotations

import numpy as np

from shoal.array.core import Array, asarray, normalize_chunks, offsets
from shoal.array.manipulation import axis_index, broadcast_to
from shoal.array.reductions import sum as _sum
from shoal.collection import merge_layers
from shoal.core.spec import Alias, Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["diag", "diagonal", "trace", "tril", "triu"]


def _triangle(m, k: int, lower: bool) -> Array:
    m = asarray(m)
    if m.ndim == 0:
        raise ValueError("tril/triu need an array of at least one dimension")
    if m.ndim == 1:  # NumPy's: every row is the vector, then masked
        m = broadcast_to(m, (m.shape[0],) * 2, chunks=(m.chunks[0],) * 2)
    k = int(k)
    rows, cols = offsets(m.chunks[-2]), offsets(m.chunks[-1])
    func = np.tril if lower else np.triu
    name = f"{func.__name__}-{tokenize(m, k)}"
    layer = {}
    for idx in np.ndindex(*m.numblocks):
        i, j = idx[-2:]
        d = k + rows[i] - cols[j]
        height, width = rows[i + 1] - rows[i], cols[j + 1] - cols[j]
        keep_all = d >= width - 1 if lower else d <= 1 - height
        keep_none = d < 1 - height if lower else d > width - 1
        key = (name, *idx)
        if keep_all or not height or not width:
            layer[key] = Alias(key, m._key(idx))
        elif keep_none:
            shape = tuple(c[n] for c, n in zip(m.chunks, idx))
            layer[key] = Task(key, np.zeros, shape, m.dtype)
        else:
            layer[key] = Task(key, func, Ref(m._key(idx)), d)
    return Array(merge_layers(m, name=name, layer=layer), name, m.chunks, m.dtype)


def tril(m, k=0):
    """Zeros above diagonal *k* of the last two axes (a 1-d array is made square first)."""
    return _triangle(m, k, lower=True)


def triu(m, k=0):
    """Zeros below diagonal *k* of the last two axes."""
    return _triangle(m, k, lower=False)


def diag(v, k=0):
    """The diagonal *k* of a 2-d array, or a square 2-d array with the 1-d *v* on it.

    >>> diag(asarray([1, 2]), 1).compute()
    array([[0, 1, 0],
           [0, 0, 2],
           [0, 0, 0]])
    """
    v = asarray(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError("Input must be 1- or 2-d.")
    k = int(k)
    own = v.chunks[0] if v.shape[0] else ()
    band = normalize_chunks(max(max(v.chunks[0]), 1), (abs(k),))[0] if k else ()
    rows, cols = (own + band, band + own) if k >= 0 else (band + own, own + band)
    rows, cols = rows or (0,), cols or (0,)
    shift = (0, len(band)) if k >= 0 else (len(band), 0)
    crossed = {(b + shift[0], b + shift[1]): b for b in range(len(own))}
    name = f"diag-{tokenize(v, k)}"
    layer = {}
    for i, j in np.ndindex(len(rows), len(cols)):
        key = (name, i, j)
        if (i, j) in crossed:
            layer[key] = Task(key, np.diag, Ref(v._key((crossed[i, j],))))
        else:
            layer[key] = Task(key, np.zeros, (rows[i], cols[j]), v.dtype)
    return Array(merge_layers(v, name=name, layer=layer), name, (rows, cols), v.dtype)


def _diagonal_piece(block, offset, axis1, axis2, lo, hi):
    return np.diagonal(block, offset, axis1, axis2)[..., lo:hi].copy()


def _diagonal_pieces(rows, cols, offset):
    """``[(row block, column block, local offset, lo, hi), ...]`` along the diagonal."""
    r0, c0 = max(0, -offset), max(0, offset)  # where the diagonal starts
    length = max(0, min(rows[-1] - r0, cols[-1] - c0))
    cuts = {0, length} | {b - r0 for b in rows if 0 < b - r0 < length} \
        | {b - c0 for b in cols if 0 < b - c0 < length}
    cuts = sorted(cuts)
    pieces = []
    for t0, t1 in zip(cuts[:-1], cuts[1:]):
        i = int(np.searchsorted(rows, t0 + r0, side="right")) - 1
        j = int(np.searchsorted(cols, t0 + c0, side="right")) - 1
        row, col = t0 + r0 - rows[i], t0 + c0 - cols[j]  # the piece's start in the block
        local = col - row
        lo = row - max(0, -local)
        pieces.append((i, j, local, lo, lo + t1 - t0))
    return pieces or [(0, 0, 0, 0, 0)]


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal *offset* of the planes spanned by *axis1* and *axis2*; as in NumPy,
    those axes are removed and the diagonal is the result's last axis."""
    a = asarray(a)
    if a.ndim < 2:
        raise ValueError("diag requires an array of at least two dimensions")
    axis1, axis2 = axis_index(axis1, a.ndim), axis_index(axis2, a.ndim)
    if axis1 == axis2:
        raise ValueError("axis1 and axis2 cannot be the same")
    offset = int(offset)
    pieces = _diagonal_pieces(offsets(a.chunks[axis1]), offsets(a.chunks[axis2]), offset)
    rest = [d for d in range(a.ndim) if d not in (axis1, axis2)]
    chunks = tuple(a.chunks[d] for d in rest) + (tuple(p[4] - p[3] for p in pieces),)
    name = f"diagonal-{tokenize(a, offset, axis1, axis2)}"
    layer = {}
    for idx in np.ndindex(*[len(c) for c in chunks]):
        i, j, local, lo, hi = pieces[idx[-1]]
        src = [0] * a.ndim
        for d, n in zip(rest, idx):
            src[d] = n
        src[axis1], src[axis2] = i, j
        key = (name, *idx)
        layer[key] = Task(key, _diagonal_piece, Ref(a._key(tuple(src))), local, axis1, axis2,
                          lo, hi)
    return Array(merge_layers(a, name=name, layer=layer), name, chunks, a.dtype)


def trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    """The sum along ``diagonal(a, offset, axis1, axis2)``."""
    return _sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)
