"""Tall-and-skinny factorizations: ``tsqr``, ``qr``, ``svd``, ``svd_compressed``, ``lstsq``.

A tall-and-skinny matrix is split into blocks of rows and holds its columns in
one block.  TSQR factors every row block on its own, then factors the stacked
small ``R`` factors, ``split_every`` at a time, up a tree; ``Q`` comes back down
the tree as a product of the slices of the small ``Q`` factors::

    A0  A1  A2  A3           leaves:  (q_i, r_i) = qr(A_i)          one task per block
     \\  /    \\  /
     n01     n23             combine: (q, r) = qr(stack(r of children))
        \\   /
        root  -> R           the root's r is R  (k x n, k = min(m, n))
        /   \\
     m01     m23             down:    m_child = q_parent[rows of child] @ m_parent
     / \\     / \\
    Q0 Q1   Q2 Q3            Q_i = q_i @ m_i                        one task per block

Every small factor is at most ``(split_every * n) x n``, so ``n`` must be small
enough for such a matrix to fit in one task.  All sizes are known when the graph
is built (``k_i = min(rows_i, n)``), so ``Q`` keeps ``A``'s row chunks and has
one column block.  ``qr`` refuses other shapes (several column blocks) with a
message to rechunk; a matrix in a single block is always accepted.

``svd`` factors ``R`` (small) with NumPy and multiplies ``Q`` by its left
factor; a short-and-fat matrix (one row block) goes through its transpose.
``svd_compressed`` is the randomized SVD of Halko, Martinsson and Tropp: a
Gaussian sketch ``A @ Omega``, power iterations each re-orthonormalized by TSQR,
then an exact SVD of the small ``Q^H A``.  ``lstsq`` solves ``R x = Q^H b``.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.core import Array, asarray
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["lstsq", "qr", "svd", "svd_compressed", "tsqr"]

TSQR_SPLIT_EVERY = 16
"""Default fan-in of a TSQR combine task (how many small R factors one QR stacks)."""


# -- per-block kernels (module level: they pickle by reference) ------------------------

def qr_pair(block):
    """``(q, r)`` of one block (reduced mode)."""
    q, r = np.linalg.qr(block)
    return q, r


def qr_stacked(pairs):
    """``(q, r)`` of the children's ``r`` factors stacked by rows."""
    q, r = np.linalg.qr(np.concatenate([p[1] for p in pairs], axis=0))
    return q, r


def factor_r(pair):
    return pair[1]


def factor_q(pair):
    return pair[0]


def down_factor(parent, parent_m, start, stop):
    """The rows ``start:stop`` of the parent's ``q`` times the parent's own factor."""
    q = parent[0][start:stop]
    return q if parent_m is None else q @ parent_m


def leaf_q(pair, m):
    return pair[0] if m is None else pair[0] @ m


def small_svd(r, coerce_signs):
    """``(u, s, vh)`` of a small matrix, signs made deterministic when asked."""
    u, s, vh = np.linalg.svd(r, full_matrices=False)
    if coerce_signs:
        # each vh row's largest entry (by magnitude) is made real and positive
        pick = np.abs(vh).argmax(axis=1)
        big = vh[np.arange(vh.shape[0]), pick]
        phase = np.where(big == 0, 1, big / np.where(big == 0, 1, np.abs(big)))
        vh = vh / phase[:, None]
        u = u * phase[None, :]
    return u, s, vh


def column_peaks(block):
    """Per column of *block*: the entry of largest magnitude (the first such)."""
    if block.shape[0] == 0:
        return np.zeros(block.shape[1], dtype=block.dtype)
    return block[np.abs(block).argmax(axis=0), np.arange(block.shape[1])]


def peak_phases(peaks):
    """The phase of each column's largest entry over all the blocks' *peaks*."""
    stacked = np.stack(peaks)
    big = stacked[np.abs(stacked).argmax(axis=0), np.arange(stacked.shape[1])]
    return np.where(big == 0, 1, big / np.where(big == 0, 1, np.abs(big)))


def _coerce_columns(u, v):
    """``u`` (tall, chunked) and the small ``v`` rephased so that each column of ``u`` has
    its largest entry real and positive (``small_svd``'s rule for the transposed matrix)."""
    from shoal.array.blockwise import elemwise

    name = f"svd-phases-{tokenize(u)}"
    peaks = f"{name}-peaks"
    layer = {(peaks, i): Task((peaks, i), column_peaks, Ref(u._key((i, 0))))
             for i in range(u.numblocks[0])}  # fmt: skip
    layer[(name, 0)] = Task((name, 0), peak_phases, [Ref((peaks, i)) for i in range(u.numblocks[0])])
    phase = Array(merge_layers(u, name=name, layer=layer), name, ((u.shape[1],),), u.dtype)
    u = elemwise(np.true_divide, u, phase, dtype=u.dtype, token="svd-phase")
    v = elemwise(np.multiply, v, phase[:, None], dtype=v.dtype, token="svd-phase")
    return u, v


def take(parts, i):
    return parts[i]


def matmul_small(a, b):
    return a @ b


def transpose_block(a):
    return a.T


def _cutoff(r, rows):
    """NumPy's default cutoff for an ``rows`` x n matrix (R is n x n: its own default was
    rows / n times too small, and a nearly rank-deficient A solved as if full rank)."""
    return np.finfo(r.dtype).eps * max(rows, r.shape[1])


def solve_r(r, qtb, rows):
    """``x`` from ``R x = Q^H b`` (least squares, so a singular ``R`` still answers)."""
    return np.linalg.lstsq(r, qtb, rcond=_cutoff(r, rows))[0]


def matrix_rank(r, rows):
    s = np.linalg.svd(r, compute_uv=False)
    return np.asarray(int(np.count_nonzero(s > s.max(initial=0) * _cutoff(r, rows))))


def singular_values(r):
    return np.linalg.svd(r, compute_uv=False)


# -- TSQR ------------------------------------------------------------------------------

def _check_tall(data, func):
    if not isinstance(data, Array):
        data = asarray(data)
    if data.ndim != 2:
        raise ValueError(f"{func}: a must be 2-dimensional, got shape {data.shape}")
    if data.numblocks[1] != 1:
        raise ValueError(
            f"{func}: a must be tall-and-skinny, split into blocks of rows with all of its "
            f"{data.shape[1]} columns in one block; it has column chunks {data.chunks[1]}. "
            f"Use a.rechunk({{1: -1}}) (or a.rechunk({{0: -1}}) and the transpose for a "
            "short-and-fat matrix)")
    return data


def _tree(layer, name, data, split_every):
    """Leaves and combine levels of the TSQR tree; returns (levels, root key).

    ``levels[L]`` is a list of ``(key, k, children)``: the node's key, the number of
    rows of its ``r`` and the indices of its children in level ``L - 1``.
    """
    n = data.shape[1]
    level = []
    for i, rows in enumerate(data.chunks[0]):
        key = (f"{name}-leaf", i)
        layer[key] = Task(key, qr_pair, Ref(data._key((i, 0))))
        level.append((key, min(rows, n), ()))
    levels = [level]
    depth = 0
    while len(level) > 1:
        depth += 1
        nxt = []
        for g in range(0, len(level), split_every):
            kids = tuple(range(g, min(g + split_every, len(level))))
            key = (f"{name}-combine-{depth}", g // split_every)
            layer[key] = Task(key, qr_stacked, [Ref(level[c][0]) for c in kids])
            nxt.append((key, min(sum(level[c][1] for c in kids), n), kids))
        levels.append(nxt)
        level = nxt
    return levels, level[0][0]


def _down(layer, name, levels):
    """The ``m`` factor of every leaf (None where the leaf is the root)."""
    factors = {0: None}  # index in the current level -> key of its m factor (None: identity)
    for depth in range(len(levels) - 1, 0, -1):
        parents, children = levels[depth], levels[depth - 1]
        nxt = {}
        for p, (pkey, _, kids) in enumerate(parents):
            start = 0
            for c in kids:
                k = children[c][1]
                key = (f"{name}-down-{depth}", c)
                pm = factors[p]
                layer[key] = Task(key, down_factor, Ref(pkey), None if pm is None else Ref(pm),
                                  start, start + k)
                nxt[c] = key
                start += k
        factors = nxt
    return factors


def tsqr(data, compute_svd=False, coerce_signs=True, split_every=None):
    """QR (or SVD) of a tall-and-skinny matrix; see the module docstring.

    Returns ``(q, r)``, or ``(u, s, v)`` with ``compute_svd=True`` (``v`` is NumPy's
    ``vh``).  ``q`` / ``u`` keep *data*'s row chunks.  ``split_every`` is the fan-in
    of the tree (default :data:`TSQR_SPLIT_EVERY`).
    """
    data = _check_tall(data, "tsqr")
    split_every = TSQR_SPLIT_EVERY if split_every is None else split_every
    if not isinstance(split_every, numbers.Integral) or split_every < 2:
        raise ValueError(f"tsqr: split_every must be an integer of at least 2, got {split_every!r}")
    m, n = data.shape
    k = min(m, n)
    token = tokenize("tsqr", data, split_every)
    name = f"tsqr-{token}"
    layer: dict = {}
    levels, root = _tree(layer, name, data, split_every)
    factors = _down(layer, name, levels)
    dtype = np.linalg.qr(np.ones((1, 1), dtype=data.dtype))[0].dtype
    q_name, r_name = f"tsqr-q-{token}", f"tsqr-r-{token}"
    q_layer = {}
    for i, (lkey, _, _) in enumerate(levels[0]):
        key = (q_name, i, 0)
        mk = factors[i]
        q_layer[key] = Task(key, leaf_q, Ref(lkey), None if mk is None else Ref(mk))
    r_layer = {(r_name, 0, 0): Task((r_name, 0, 0), factor_r, Ref(root))}
    layers = merge_layers(data, name=name, layer=layer)
    q = Array(dict(layers, **{q_name: q_layer}), q_name, (data.chunks[0], (k,)), dtype)
    r = Array(dict(layers, **{r_name: r_layer}), r_name, ((k,), (n,)), dtype)
    if not compute_svd:
        return q, r
    return _svd_from_qr(q, r, coerce_signs, token)


def _svd_from_qr(q, r, coerce_signs, token):
    """``u, s, v`` of ``q @ r`` from an SVD of the small ``r``."""
    k, n = r.shape
    name = f"svd-small-{tokenize(token, coerce_signs)}"
    parts = {name: Task(name, small_svd, Ref(r._key((0, 0))), coerce_signs)}
    base = merge_layers(r, name=name, layer=parts)
    sname, vname, uname = (f"{p}-{tokenize(name)}" for p in ("svd-s", "svd-v", "svd-us"))
    s = Array(dict(base, **{sname: {(sname, 0): Task((sname, 0), take, Ref(name), 1)}}),
              sname, ((k,),), np.linalg.svd(np.ones((1, 1), q.dtype))[1].dtype)
    v = Array(dict(base, **{vname: {(vname, 0, 0): Task((vname, 0, 0), take, Ref(name), 2)}}),
              vname, ((k,), (n,)), q.dtype)
    small_u = Array(dict(base, **{uname: {(uname, 0, 0): Task((uname, 0, 0), take, Ref(name), 0)}}),
                    uname, ((k,), (k,)), q.dtype)
    u_name = f"svd-u-{tokenize(q, small_u)}"
    u_layer = {(u_name, i, 0): Task((u_name, i, 0), matmul_small, Ref(q._key((i, 0))),
                                    Ref(small_u._key((0, 0))))
               for i in range(q.numblocks[0])}
    u = Array(merge_layers(q, small_u, name=u_name, layer=u_layer), u_name,
              (q.chunks[0], (k,)), q.dtype)
    return u, s, v


def qr(a):
    """``numpy.linalg.qr`` (reduced) of a tall-and-skinny matrix by TSQR.

    *a* must have one column block (see the module docstring); a matrix held in a
    single block is accepted whatever its shape.
    """
    return tsqr(_check_tall(a, "qr"))


def svd(a, coerce_signs=True):
    """``numpy.linalg.svd(a, full_matrices=False)`` of a tall-and-skinny matrix (one
    column block) or a short-and-fat one (one row block, through its transpose).

    Returns ``(u, s, v)`` with ``v`` NumPy's ``vh``.  ``coerce_signs`` makes the
    largest entry of each row of ``v`` real and positive, so the result does not
    depend on the chunking (NumPy leaves the signs to LAPACK).
    """
    a = a if isinstance(a, Array) else asarray(a)
    if a.ndim != 2:
        raise ValueError(f"svd: a must be 2-dimensional, got shape {a.shape}")
    if a.numblocks[1] == 1:
        return tsqr(a, compute_svd=True, coerce_signs=coerce_signs)
    if a.numblocks[0] == 1:  # (the signs are ruled on the final v: u of the transpose)
        u, s, v = tsqr(a.T, compute_svd=True, coerce_signs=False)
        if coerce_signs:
            u, v = _coerce_columns(u, v)
        return v.T, s, u.T
    raise ValueError(f"svd: a must have one block of columns (tall-and-skinny) or one block of "
                     f"rows (short-and-fat); it has chunks {a.chunks}. Rechunk it, e.g. "
                     f"a.rechunk({{1: -1}}), or use svd_compressed for an approximation")


def svd_compressed(a, k, iterator="power", n_power_iter=0, n_oversamples=10, seed=None,
                   compute=False, coerce_signs=True):
    """Approximate rank-``k`` SVD of a 2-d array of any chunking (randomized SVD).

    ``n_power_iter`` power iterations sharpen the sketch (each one orthonormalized by
    TSQR).  ``compute`` is accepted for Dask's signature; intermediate results are
    not persisted.  Returns ``(u, s, v)`` with ``k`` components.
    """
    from shoal.array import random
    from shoal.array.linalg import matmul

    a = a if isinstance(a, Array) else asarray(a)
    if a.ndim != 2:
        raise ValueError(f"svd_compressed: a must be 2-dimensional, got shape {a.shape}")
    if not isinstance(k, numbers.Integral) or not 0 < k <= min(a.shape):
        raise ValueError(f"svd_compressed: k must be an integer in 1..{min(a.shape)}, got {k!r}")
    if iterator != "power":
        raise ValueError(f"svd_compressed: iterator must be 'power', got {iterator!r}")
    width = min(k + int(n_oversamples), min(a.shape))
    omega = random.standard_normal(size=(a.shape[1], width), chunks=(a.chunks[1], (width,)),
                                   seed=seed)
    real = np.finfo(a.dtype).dtype if a.dtype.kind == "c" else np.result_type(a.dtype, np.float32)
    omega = omega.astype(real)  # (float64 made a complex64 matrix's factors complex128)
    q, _ = tsqr(matmul(a, omega).rechunk({1: -1}))
    for _ in range(int(n_power_iter)):
        q, _ = tsqr(matmul(a.conj().T, q).rechunk({1: -1}))
        q, _ = tsqr(matmul(a, q).rechunk({1: -1}))
    b = matmul(q.conj().T, a).rechunk({0: -1, 1: -1})  # width x n: small
    name = f"svd-small-{tokenize(b, coerce_signs)}"
    # the SVD of the small b, cut to k components, then u = q @ u_b
    u_b, s, v = _svd_parts(b, coerce_signs, name)
    u = matmul(q, u_b)
    return u[:, :k], s[:k], v[:k]


def _svd_parts(b, coerce_signs, name):
    width, n = b.shape
    r = min(width, n)
    base = merge_layers(b, name=name,
                        layer={name: Task(name, small_svd, Ref(b._key((0, 0))), coerce_signs)})
    sdtype = np.linalg.svd(np.ones((1, 1), b.dtype))[1].dtype
    out = []
    for i, (shape, dtype) in enumerate((((width, r), b.dtype), ((r,), sdtype), ((r, n), b.dtype))):
        pname = f"{name}-{i}"
        key = (pname,) + (0,) * len(shape)
        out.append(Array(dict(base, **{pname: {key: Task(key, take, Ref(name), i)}}), pname,
                         tuple((s,) for s in shape), dtype))
    return out


# -- least squares ---------------------------------------------------------------------

def lstsq(a, b):
    """``numpy.linalg.lstsq(a, b)`` for a tall-and-skinny *a* (one column block) by TSQR.

    Returns ``(x, residuals, rank, s)``.  Unlike NumPy, ``residuals`` is always the
    squared norm of each column of ``b - a @ x`` (shape ``(k,)``, or ``(1,)`` for a
    1-d *b*), also where NumPy returns an empty array (rank-deficient or square *a*).
    """
    from shoal.array.linalg import matmul

    a = _check_tall(a, "lstsq")
    b = b if isinstance(b, Array) else asarray(b)
    if b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ValueError(f"lstsq: b must be 1- or 2-dimensional with {a.shape[0]} rows "
                         f"(a's), got shape {b.shape}")
    q, r = tsqr(a)
    b2 = b if b.ndim == 2 else b[:, None]
    b2 = b2.rechunk({0: q.chunks[0]})
    qtb = matmul(q.conj().T, b2).rechunk({1: -1})
    name = f"lstsq-x-{tokenize(r, qtb)}"
    xl = {(name, 0, 0): Task((name, 0, 0), solve_r, Ref(r._key((0, 0))), Ref(qtb._key((0, 0))),
                             a.shape[0])}  # fmt: skip
    dtype = np.result_type(r.dtype, qtb.dtype)
    x = Array(merge_layers(r, qtb, name=name, layer=xl), name, ((a.shape[1],), (b2.shape[1],)),
              dtype)
    res = matmul(a, x) - b2
    sq = res.rechunk({1: -1}).map_blocks(np.abs, dtype=np.abs(np.ones(1, dtype)).dtype) ** 2
    resid = sq.sum(axis=0)
    rank_name, s_name = f"lstsq-rank-{tokenize(r)}", f"lstsq-s-{tokenize(r)}"
    rank = Array(merge_layers(r, name=rank_name, layer={(rank_name,): Task(
        (rank_name,), matrix_rank, Ref(r._key((0, 0))), a.shape[0])}), rank_name, (),
        np.dtype(int))  # fmt: skip
    s = Array(merge_layers(r, name=s_name, layer={(s_name, 0): Task(
        (s_name, 0), singular_values, Ref(r._key((0, 0))))}), s_name, ((r.shape[0],),),
        np.linalg.svd(np.ones((1, 1), dtype), compute_uv=False).dtype)
    if b.ndim == 1:
        x = x[:, 0]
        resid = resid.reshape((1,))
    return x, resid, rank, s
