"""Blocked products: ``tensordot``, ``dot``, ``matmul`` (``@``).

An output block is a sum over the contracted block index::

    (x @ y)[i, j] = sum over k of  x[i, k] @ y[k, j]

Both operands are first rechunked along the contracted axes to common
boundaries.  The products of one output block are grouped into "partial" tasks
(each product is added in place into the running sum, so a task holds one
partial result, not all the products).  A group is bounded twice: at most
``split_every`` pairs, and at most ``array.chunk-size`` (128 MiB by default) of
input blocks, but never less than one pair; small blocks thus still share few
tasks, while big ones (tall-skinny ``X.T @ X`` with 64 MB blocks) get a task or
two each instead of a gigabyte of inputs in one task.  The partial results are
then added up in a tree whose fan-in is ``split_every``, lowered (to at least 2)
where that many output blocks would pass the same byte budget.  Every product
thus runs in a task that holds a bounded set of inputs and one accumulator, and
the static order finishes an output block before the next.

``matmul`` broadcasts leading "batch" dimensions like NumPy (inputs of length 1
there reuse their one block).  A 1-d operand of ``matmul`` with an operand of
more than two dimensions is not supported.

This module is also the ``shoal.array.linalg`` namespace (as ``dask.array.linalg``):
the factorizations ``tsqr`` / ``qr`` / ``svd`` / ``svd_compressed`` / ``lstsq`` live
in ``decompositions.py``; ``solve`` / ``inv`` / ``cholesky`` / ``norm`` in ``solvers.py``.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array import chunk
from shoal.array.blockwise import broadcast_shapes, common_refinement, elemwise
from shoal.array.chunking import auto_chunk_bytes
from shoal.array.core import Array, asarray
from shoal.array.reductions import SPLIT_EVERY
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

from shoal.array.decompositions import lstsq, qr, svd, svd_compressed, tsqr
from shoal.array.solvers import cholesky, inv, norm, solve
from shoal.array.lu import lu, solve_triangular

__all__ = ["cholesky", "dot", "inv", "lstsq", "lu", "matmul", "norm", "qr", "solve",
           "solve_triangular", "svd", "svd_compressed", "tensordot", "tsqr"]


def __dir__():
    """The public API only (the helpers this module imports stay importable, unlisted)."""
    return sorted(__all__)


def _as(x):
    return x if isinstance(x, Array) else asarray(x)


def _trial_dtype(func, a, b):
    return np.asarray(func(np.ones((1,) * max(a.ndim, 1), a.dtype),
                           np.ones((1,) * max(b.ndim, 1), b.dtype))).dtype


def _unify_pairs(a, b, pairs):
    """Rechunk *a* and *b* so each (axis of a, axis of b) pair has equal chunks."""
    want_a, want_b = {}, {}
    for i, j in pairs:
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"shape mismatch for sum: {a.shape} and {b.shape} "
                             f"(axis {i}: {a.shape[i]} vs axis {j}: {b.shape[j]})")
        common = common_refinement([a.chunks[i], b.chunks[j]])
        want_a[i], want_b[j] = common, common
    return a.rechunk(want_a) if want_a else a, b.rechunk(want_b) if want_b else b


def block_nbytes(chunks, idx, itemsize):
    """Bytes of block *idx* of an array with *chunks* (0 where a length is unknown)."""
    n = itemsize
    for c, i in zip(chunks, idx):
        n *= c[i]
    return int(n) if n == n else 0


def sum_fan_in(block_bytes, split_every, budget):
    """How many blocks of *block_bytes* one tree-sum task adds: ``split_every`` at most,
    fewer when they would pass *budget* bytes, never less than 2."""
    return max(2, min(split_every, budget // max(block_bytes, 1)))


def _largest_block(x):
    """Bytes of a block made of the longest chunk of every axis of *x*."""
    return block_nbytes([(max(c, default=0),) for c in x.chunks], [0] * x.ndim, x.dtype.itemsize)


def _group_pairs(pairs, nbytes, split_every, budget):
    """Consecutive runs of *pairs*: at most ``split_every`` of them and *budget* bytes
    of inputs (``nbytes(pair)``) each, at least one pair each."""
    groups, size = [[]], 0
    for pair in pairs:
        n = nbytes(pair)
        if groups[-1] and (len(groups[-1]) == split_every or size + n > budget):
            groups.append([])
            size = 0
        groups[-1].append(pair)
        size += n
    return groups


def _contract(prefix, a, b, out_chunks, plans, func, kwargs, dtype, split_every):
    """One output block per plan: ``sum(func(pairs_a, pairs_b, **kwargs))`` over its pairs."""
    split_every = split_every or SPLIT_EVERY
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    budget = auto_chunk_bytes()
    token = tokenize(prefix, a, b, out_chunks, func, kwargs, split_every, budget)
    name = f"{prefix}-{token}"
    layer = {}

    def nbytes(pair):
        return (block_nbytes(a.chunks, pair[0][1:], a.dtype.itemsize)
                + block_nbytes(b.chunks, pair[1][1:], b.dtype.itemsize))

    # blocks small enough that split_every pairs of the largest fit: group by count alone
    by_count = (_largest_block(a) + _largest_block(b)) * split_every <= budget
    for out_idx, pairs in plans:
        groups = ([pairs[g:g + split_every] for g in range(0, len(pairs), split_every)] if by_count
                  else _group_pairs(pairs, nbytes, split_every, budget))
        fan = sum_fan_in(block_nbytes(out_chunks, out_idx, dtype.itemsize), split_every, budget)
        level = []
        for n, group in enumerate(groups):
            key = (name, *out_idx) if len(groups) == 1 else (f"{prefix}-partial-{token}", *out_idx, n)
            layer[key] = Task(key, func, [Ref(p) for p, _ in group], [Ref(q) for _, q in group], **kwargs)
            level.append(key)
        depth = 0
        while len(level) > 1:
            depth += 1
            nxt = []
            for g in range(0, len(level), fan):
                key = ((name, *out_idx) if len(level) <= fan
                       else (f"{prefix}-sum-{token}-{depth}", *out_idx, g // fan))
                layer[key] = Task(key, chunk.add_all, [Ref(k) for k in level[g:g + fan]])
                nxt.append(key)
            level = nxt
    return Array(merge_layers(a, b, name=name, layer=layer), name, out_chunks, dtype)


def tensordot(a, b, axes=2, split_every=None):
    """``numpy.tensordot`` over blocks; see the module docstring."""
    a, b = _as(a), _as(b)
    if isinstance(axes, numbers.Integral):
        n = int(axes)
        a_axes, b_axes = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        a_axes, b_axes = axes
        a_axes = [a_axes] if isinstance(a_axes, numbers.Integral) else list(a_axes)
        b_axes = [b_axes] if isinstance(b_axes, numbers.Integral) else list(b_axes)
    if len(a_axes) != len(b_axes):
        raise ValueError("shape-mismatch for sum: axes of different lengths")
    a_axes = [i % a.ndim for i in a_axes]
    b_axes = [j % b.ndim for j in b_axes]
    a, b = _unify_pairs(a, b, list(zip(a_axes, b_axes)))
    free_a = [d for d in range(a.ndim) if d not in a_axes]
    free_b = [d for d in range(b.ndim) if d not in b_axes]
    out_chunks = tuple(a.chunks[d] for d in free_a) + tuple(b.chunks[d] for d in free_b)
    k_blocks = [a.numblocks[i] for i in a_axes]
    dtype = _trial_dtype(lambda p, q: np.tensordot(p, q, axes=(a_axes, b_axes)),
                         _Fake(a.ndim, a.dtype), _Fake(b.ndim, b.dtype))
    plans = []
    for idx in np.ndindex(*[len(c) for c in out_chunks]):
        ia, ib = idx[:len(free_a)], idx[len(free_a):]
        pairs = []
        for kk in np.ndindex(*k_blocks):
            ka, kb = [0] * a.ndim, [0] * b.ndim
            for d, i in zip(free_a, ia):
                ka[d] = i
            for d, i in zip(free_b, ib):
                kb[d] = i
            for i, j, k in zip(a_axes, b_axes, kk):
                ka[i], kb[j] = k, k
            pairs.append((a._key(tuple(ka)), b._key(tuple(kb))))
        plans.append((idx, pairs))
    return _contract("tensordot", a, b, out_chunks, plans, chunk.tensordot_sum,
                     {"axes": (tuple(a_axes), tuple(b_axes))}, dtype, split_every)


class _Fake:
    """Stands for an operand in dtype trials (only ``ndim`` and ``dtype`` are read)."""

    def __init__(self, ndim, dtype):
        self.ndim, self.dtype = ndim, dtype


def dot(a, b, split_every=None):
    """``numpy.dot``: the last axis of *a* with the second-to-last of *b*."""
    a, b = _as(a), _as(b)
    if a.ndim == 0 or b.ndim == 0:
        return elemwise(np.multiply, a, b)
    axis_b = b.ndim - 2 if b.ndim >= 2 else 0
    return tensordot(a, b, axes=((a.ndim - 1,), (axis_b,)), split_every=split_every)


def matmul(a, b, split_every=None):
    """``a @ b`` with NumPy's rules (batch dimensions broadcast)."""
    a, b = _as(a), _as(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions "
                         f"(shapes {a.shape} and {b.shape})")
    if a.ndim <= 2 and b.ndim <= 2:
        if a.shape[-1] != b.shape[-2 if b.ndim >= 2 else 0]:
            raise ValueError(f"matmul: mismatch in the core dimension: shapes {a.shape} and {b.shape}")
        return dot(a, b, split_every=split_every)
    if a.ndim < 2 or b.ndim < 2:
        raise NotImplementedError("matmul of a 1-d operand with one of more than two dimensions "
                                  "is not supported; add the missing axis with x[..., None]")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: mismatch in the core dimension: shapes {a.shape} and {b.shape}")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    nb = len(batch)
    # batch dimensions: equal lengths get equal chunks, length 1 broadcasts
    want_a, want_b = {}, {}
    chunks_batch = []
    for d in range(nb):
        ia, ib = d - (nb - (a.ndim - 2)), d - (nb - (b.ndim - 2))
        cands = [x.chunks[i] for x, i in ((a, ia), (b, ib)) if i >= 0 and x.shape[i] == batch[d]]
        common = common_refinement(cands) if cands else (batch[d],)
        chunks_batch.append(common)
        if ia >= 0 and a.shape[ia] == batch[d]:
            want_a[ia] = common
        if ib >= 0 and b.shape[ib] == batch[d]:
            want_b[ib] = common
    common_k = common_refinement([a.chunks[-1], b.chunks[-2]])
    want_a[a.ndim - 1], want_b[b.ndim - 2] = common_k, common_k
    a, b = a.rechunk(want_a), b.rechunk(want_b)
    out_chunks = tuple(chunks_batch) + (a.chunks[-2], b.chunks[-1])
    plans = []
    for idx in np.ndindex(*[len(c) for c in out_chunks]):
        bidx, i, j = idx[:nb], idx[nb], idx[nb + 1]
        pa = [bidx[d + nb - (a.ndim - 2)] if a.numblocks[d] > 1 else 0 for d in range(a.ndim - 2)]
        pb = [bidx[d + nb - (b.ndim - 2)] if b.numblocks[d] > 1 else 0 for d in range(b.ndim - 2)]
        pairs = [(a._key((*pa, i, k)), b._key((*pb, k, j))) for k in range(len(common_k))]
        plans.append((idx, pairs))
    dtype = _trial_dtype(np.matmul, _Fake(2, a.dtype), _Fake(2, b.dtype))
    return _contract("matmul", a, b, out_chunks, plans, chunk.matmul_sum, {}, dtype, split_every)
