"""Per-block kernels: the plain NumPy functions that array tasks call.

Nothing here knows about graphs, keys or chunks: every function takes NumPy
blocks (and small literals) and returns a NumPy value, so tasks stay cheap to
pickle for the process scheduler and easy to test on their own.

Reduction partials
------------------
Tree reductions (``reductions.py``) pass *partials* between levels.  A partial
always keeps the reduced axes with length 1 (``keepdims=True``), so all the
partials a combine task receives have the same shape and merge element by
element:

==============  ==========================================  ======================
reduction       partial                                     merge
==============  ==========================================  ======================
sum/prod/...    an array                                    ``np.add`` etc.
mean            ``(n, total)``: count (int), sum (array)    add both
var/std         ``(n, mean, m2)``                           Chan et al. (below)
argmin/argmax   ``(index, value)`` arrays, global indices   better value, then lower index
==============  ==========================================  ======================

Chan, Golub and LeVeque's pairwise update merges two ``(n, mean, m2)``
summaries exactly (``m2`` is the sum of squared deviations)::

    delta = mean_b - mean_a
    n     = n_a + n_b
    mean  = mean_a + delta * n_b / n
    m2    = m2_a + m2_b + |delta|^2 * n_a * n_b / n

which never subtracts two large sums of squares, so it stays accurate for
data far from zero.
"""

from __future__ import annotations

import builtins
import functools

import numpy as np

from shoal.array import ma_chunk

__all__ = [
    "arg_aggregate", "arg_chunk", "arg_combine", "assemble", "expand_dims", "getitem",
    "getter", "matmul_sum", "mean_aggregate", "mean_chunk", "mean_combine", "moment_aggregate",
    "moment_chunk", "moment_combine", "reduce_aggregate", "reduce_chunk", "reduce_combine",
    "reshape", "store_block", "take_pieces", "tensordot_sum", "transpose",
]


# -- reading and rearranging blocks ------------------------------------------------

def getter(source, index, lock=None):
    """``source[index]`` as a NumPy array (h5py datasets, memmaps, array-likes)."""
    if lock is not None:
        with lock:
            out = source[index]
    else:
        out = source[index]
    return out if ma_chunk.is_masked(out) else np.asarray(out)


def getitem(block, index):
    return block[index]


def transpose(block, axes):
    return np.transpose(block, axes)


def reshape(block, shape):
    return np.reshape(block, shape)


def expand_dims(block, axis):
    return np.expand_dims(block, axis)


def astype(block, dtype, casting):
    return block.astype(dtype, casting=casting, copy=False)


def take_pieces(blocks, positions, axis, restore):
    """Integer-array indexing along *axis* over several blocks.

    ``positions[i]`` are the local indices taken from ``blocks[i]``; the pieces
    are concatenated and, when the requested order was not sorted by block,
    reordered by ``restore``.
    """
    parts = [np.take(b, p, axis=axis) for b, p in zip(blocks, positions)]
    out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)
    if restore is not None:
        out = np.take(out, restore, axis=axis)
    return out


def assemble(blocks, sources, targets, shape):
    """One block built from pieces: ``out[targets[i]] = blocks[i][sources[i]]``."""
    if len(blocks) == 1:
        piece = blocks[0][sources[0]]
        if piece.shape == tuple(shape):
            return piece
    dtype = np.result_type(*blocks) if len(blocks) > 1 else blocks[0].dtype
    out = ma_chunk.empty_for(blocks, shape, dtype)
    for block, src, dst in zip(blocks, sources, targets):
        out[dst] = block[src]
    return out


def store_block(block, target, region, lock):
    """Write one block into ``target[region]``; returns nothing useful."""
    if lock is not None:
        with lock:
            target[region] = block
    else:
        target[region] = block
    return None


def tensordot_sum(pairs_a, pairs_b, axes):
    """``sum_k tensordot(a_k, b_k, axes)``, accumulated in place."""
    return _product_sum(pairs_a, pairs_b, np.tensordot, {"axes": axes})


def matmul_sum(pairs_a, pairs_b):
    """``sum_k a_k @ b_k``, accumulated in place."""
    return _product_sum(pairs_a, pairs_b, np.matmul, {})


def _product_sum(pairs_a, pairs_b, func, kwargs):
    out = None
    for a, b in zip(pairs_a, pairs_b):
        part = np.asarray(func(a, b, **kwargs))
        if out is None:
            out = part
        elif np.can_cast(part.dtype, out.dtype, "same_kind") and part.shape == out.shape:
            out += part
        else:
            out = out + part
    return out


def add_all(parts):
    out = parts[0].copy() if len(parts) > 1 else parts[0]
    for p in parts[1:]:
        out += p
    return out


# -- simple reductions: sum, prod, min, max, any, all ------------------------------

def nanmin(block, axis=None, keepdims=False, **kwargs):
    """``np.nanmin`` without its all-NaN warning: NaN is skipped (``fmin``), an all-NaN
    slice is NaN."""
    return np.fmin.reduce(block, axis=axis, keepdims=keepdims, **kwargs)


def nanmax(block, axis=None, keepdims=False, **kwargs):
    return np.fmax.reduce(block, axis=axis, keepdims=keepdims, **kwargs)


def reduce_chunk(block, func, axis, kwargs):
    if func in (np.min, np.max, nanmin, nanmax) and builtins.any(block.shape[a] == 0 for a in axis):
        return None  # (a zero-length chunk: nothing to take part; see _present)
    return np.asanyarray(func(block, axis=axis, keepdims=True, **kwargs))


def _present(merge, parts):
    """*parts* merged, leaving out those of zero-length chunks (None when all are)."""
    parts = [p for p in parts if p is not None]
    if len(parts) > 1 and ma_chunk.any_masked(parts):
        return ma_chunk.masked_merge(merge, parts)
    return functools.reduce(merge, parts) if parts else None


def reduce_combine(parts, merge):
    return _present(merge, parts)


def _finish(out, axis, keepdims, dtype):
    out = np.asanyarray(out)
    if not keepdims:
        out = out.reshape([n for i, n in enumerate(out.shape) if i not in axis])
    if dtype is not None and out.dtype != dtype:
        out = out.astype(dtype)
    return out


def reduce_aggregate(parts, merge, axis, keepdims, dtype):
    return _finish(_present(merge, parts), axis, keepdims, dtype)


# -- mean ----------------------------------------------------------------------------

def _count(block, axis) -> int:
    n = 1
    for a in axis:
        n *= block.shape[a]
    return n


def mean_chunk(block, axis, acc):
    if ma_chunk.is_masked(block):
        return ma_chunk.masked_mean_chunk(block, axis, acc)
    return _count(block, axis), np.sum(block, axis=axis, keepdims=True, dtype=acc)


def mean_combine(parts):
    n = sum(p[0] for p in parts)
    total = parts[0][1]
    for p in parts[1:]:
        total = total + p[1]
    return n, total


def mean_aggregate(parts, axis, keepdims, dtype):
    n, total = mean_combine(parts)
    if ma_chunk.is_masked(total):
        return _finish(ma_chunk.masked_mean_aggregate(n, total), axis, keepdims, dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / n
    return _finish(out, axis, keepdims, dtype)


def nanmean_chunk(block, axis, acc):
    """``(count, sum)`` of the non-NaN values, both by element of the result."""
    return (np.sum(~np.isnan(block), axis=axis, keepdims=True),
            np.nansum(block, axis=axis, keepdims=True, dtype=acc))  # fmt: skip


# -- var / std (Chan's pairwise moments) --------------------------------------------

def moment_chunk(block, axis, acc):
    if ma_chunk.is_masked(block):
        return ma_chunk.masked_moment_chunk(block, axis, acc)
    n = _count(block, axis)
    x = block.astype(acc, copy=False)
    if n == 0:
        shape = [1 if i in axis else s for i, s in enumerate(block.shape)]
        zero = np.zeros(shape, dtype=acc)
        return 0, zero, zero.real.copy()
    mean = np.sum(x, axis=axis, keepdims=True) / n
    dev = x - mean
    if np.iscomplexobj(dev):
        m2 = np.sum((dev * dev.conj()).real, axis=axis, keepdims=True)
    else:
        np.multiply(dev, dev, out=dev)
        m2 = np.sum(dev, axis=axis, keepdims=True)
    return n, mean, m2


def _merge_two(a, b):
    na, ma, m2a = a
    nb, mb, m2b = b
    if nb == 0:
        return a
    if na == 0:
        return b
    n = na + nb
    delta = mb - ma
    mean = ma + delta * (nb / n)
    sq = (delta * delta.conj()).real if np.iscomplexobj(delta) else delta * delta
    return n, mean, m2a + m2b + sq * (na * nb / n)


def moment_combine(parts):
    if builtins.any(isinstance(p[0], np.ndarray) for p in parts):  # (masked blocks' counts)
        return functools.reduce(_nan_merge_two, parts)
    return functools.reduce(_merge_two, parts)


def nanmoment_chunk(block, axis, acc):
    """Moments of the non-NaN values: counts by element (they differ from one to another)."""
    x = block.astype(acc, copy=False)
    valid = ~np.isnan(x)
    n = np.sum(valid, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(x, axis=axis, keepdims=True) / n, 0)
    dev = np.where(valid, x - mean, 0)
    m2 = np.sum((dev * dev.conj()).real if np.iscomplexobj(dev) else dev * dev, axis=axis,
                keepdims=True)  # fmt: skip
    return n, mean, m2


def _nan_merge_two(a, b):
    na, ma, m2a = a
    nb, mb, m2b = b
    n = na + nb
    delta = mb - ma
    sq = (delta * delta.conj()).real if np.iscomplexobj(delta) else delta * delta
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = ma + delta * np.where(n > 0, nb / n, 0)
        m2 = m2a + m2b + sq * np.where(n > 0, na * nb / n, 0)
    return n, mean, m2


def nanmoment_combine(parts):
    return functools.reduce(_nan_merge_two, parts)


def nanmoment_aggregate(parts, axis, keepdims, dtype, ddof, how):
    n, mean, m2 = nanmoment_combine(parts)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n - ddof > 0, m2 / np.maximum(n - ddof, 1), np.nan)
    if how.endswith("std"):
        out = np.sqrt(out)
    return _finish(out, axis, keepdims, dtype)


def moment_aggregate(parts, axis, keepdims, dtype, ddof, how):
    n, mean, m2 = moment_combine(parts)
    if isinstance(n, np.ndarray):  # masked blocks: masked where too few values counted
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.ma.masked_array(m2 / np.maximum(n - ddof, 1), mask=n - ddof <= 0)
        return _finish(np.ma.sqrt(out) if how.endswith("std") else out, axis, keepdims, dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = m2 / max(n - ddof, 0)
    if how.endswith("std"):
        out = np.sqrt(out)
    return _finish(out, axis, keepdims, dtype)


# -- argmin / argmax -------------------------------------------------------------------

def arg_chunk(block, axis, how, offset, shape):
    """Partial ``(global index, value)`` with the reduced axes kept as length 1.

    ``axis`` is ``None`` (flat indices into ``shape``, C order) or a 1-tuple.
    """
    func = np.argmin if how == "min" else np.argmax
    if block.size == 0 and (axis is None or block.shape[axis[0]] == 0):
        return None  # (a zero-length chunk: see _present)
    if axis is None:
        local = int(func(block))
        value = block.reshape(-1)[local]
        where = np.unravel_index(local, block.shape)
        index = np.ravel_multi_index(tuple(int(w) + o for w, o in zip(where, offset)), shape)
        ones = (1,) * block.ndim
        return np.full(ones, index, dtype=np.intp), np.full(ones, value, dtype=block.dtype)
    (ax,) = axis
    local = func(block, axis=ax, keepdims=True)
    value = np.take_along_axis(block, local, axis=ax)
    return local + offset[ax], value


def _arg_merge(a, b, how):
    ia, va = a
    ib, vb = b
    better = (vb < va) if how == "min" else (vb > va)
    if va.dtype.kind in "fcmM":  # (a NaN or NaT is the answer, as in NumPy: the first one)
        isna = np.isnat if va.dtype.kind in "mM" else np.isnan
        na, nb = isna(va), isna(vb)
        better = (better & ~na) | (nb & ~na)
        tie = (vb == va) | (na & nb)
    else:
        tie = vb == va
    take_b = better | (tie & (ib < ia))
    return np.where(take_b, ib, ia), np.where(take_b, vb, va)


def arg_combine(parts, how):
    return _present(functools.partial(_arg_merge, how=how), parts)


def arg_aggregate(parts, axis, keepdims, how):
    index, _ = arg_combine(parts, how)
    if axis is None:
        return np.asarray(index).reshape(() if not keepdims else index.shape)
    return _finish(index, axis, keepdims, np.intp)


def histogram_chunk(block, edges):
    return np.histogram(block, bins=edges)[0]
