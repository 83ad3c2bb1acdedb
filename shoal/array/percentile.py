"""``percentile`` of a 1-D array, exact: order statistics found by bracketing.

::

    blocks:   b0      b1      b2           (K blocks, N elements)
    sort:     s0      s1      s2           np.sort, one task per block
    sample:   m0      m1      m2           every m-th sorted value (m ~ sqrt(N / 2K))
                \\      |      /
    bracket:      (lo, hi) per rank         from the samples alone: values with
                /      |      \\            surely fewer / surely more elements below
    window:   w0      w1      w2           per block: count <= lo, and the values in (lo, hi]
                \\      |      /            (distinct values with their counts)
    select:      x[r] for every rank r     sort the few windowed values, pick, interpolate

Sample ``t`` of a sorted block of length ``L`` is its element ``t*m - 1``, so a
value ``v`` with ``t`` samples of the block at or below it has between ``t*m``
and ``min((t+1)*m - 1, L)`` of the block's elements at or below it.  Summing
those bounds over the blocks gives, for rank ``r``, the largest sample ``lo``
with surely at most ``r`` elements at or below it and the smallest ``hi`` with
surely more than ``r``: so ``lo < x[r] <= hi``, and about ``2 K m`` elements fall
in ``(lo, hi]``.  No task holds more than one block, the ~``N/m`` samples or the
windows, yet the result is NumPy's exactly (not an estimate from per-block
percentiles, as Dask's default is).  Any NaN makes every percentile NaN, as in
NumPy.  Methods: ``linear`` (default), ``lower``, ``higher``, ``nearest``,
``midpoint``.
"""

from __future__ import annotations

import math

import numpy as np

from shoal.array.core import Array, asarray
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["percentile"]

METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def _sort(block):
    return np.sort(np.asarray(block).ravel())


def _valid(s):
    """The sorted block without its NaNs (sorted last), and how many there were."""
    if s.dtype.kind in "fc" and len(s) and np.isnan(s[-1]):
        keep = len(s) - int(np.count_nonzero(np.isnan(s)))
        return s[:keep], len(s) - keep
    return s, 0


def _sample(s, m):
    valid, nans = _valid(s)
    return valid[m - 1::m], len(valid), nans


def _brackets(samples, ranks, m):
    """Per rank ``(lo or None, hi or None)``; None if the data hold a NaN.

    For a candidate ``v`` with ``T`` samples at or below it, ``T m`` elements surely are;
    at most ``(t + 1) m - 1`` of a block whose ``t`` samples are, until ``v`` passes its
    last sample (then all its ``L``): summed, ``T m + (m - 1) (K - D) + sum of L - m S``
    over the ``D`` blocks passed.  One sort of the candidates and of the blocks' last
    samples, not a search per block (that grew as K^1.5 sqrt(N))."""
    if any(nans for _, _, nans in samples):
        return None
    cands = np.sort(np.concatenate([s for s, _, _ in samples]))
    low = np.searchsorted(cands, cands, side="right").astype(np.int64) * m
    lasts = np.array([s[-1] for s, _, _ in samples if len(s)], dtype=cands.dtype)
    rest = np.array([length - m * len(s) for s, length, _ in samples if len(s)], dtype=np.int64)
    order = np.argsort(lasts, kind="stable")
    lasts, rest = lasts[order], np.concatenate([[0], np.cumsum(rest[order])])
    empty = sum(length for s, length, _ in samples if not len(s))  # (no sample: always all)
    passed = np.searchsorted(lasts, cands, side="right")
    high = low + (m - 1) * (len(lasts) - passed) + rest[passed] + empty
    out = []
    for r in ranks:
        i = int(np.searchsorted(high, r, side="right")) - 1  # last with high <= r
        j = int(np.searchsorted(low, r + 1, side="left"))    # first with low >= r + 1
        out.append((cands[i] if i >= 0 else None, cands[j] if j < len(cands) else None))
    return out


def _window(s, brackets):
    """Per rank: how many of the block's values are ``<= lo``, and those in ``(lo, hi]``
    as distinct values and their counts (a value repeated a million times is one)."""
    if brackets is None:
        return None
    valid, _ = _valid(s)
    out = []
    for lo, hi in brackets:
        start = 0 if lo is None else int(np.searchsorted(valid, lo, side="right"))
        stop = len(valid) if hi is None else int(np.searchsorted(valid, hi, side="right"))
        values = valid[start:stop]
        if len(values):
            edges = np.flatnonzero(values[1:] != values[:-1]) + 1
            counts = np.diff(np.concatenate([[0], edges, [len(values)]]))
            values = values[np.concatenate([[0], edges])]
        else:
            counts = np.zeros(0, dtype=np.int64)
        out.append((start, values, counts))
    return out


def _lerp(a, b, t):
    """``a + (b - a) t``, evaluated from the nearer end (as NumPy does)."""
    d = b - a
    return np.where(t >= 0.5, b - d * (1 - t), a + d * t)


def _select(windows, ranks, n, virtual, method, dtype, scalar):
    if any(w is None for w in windows):
        out = np.full(len(virtual), np.nan, dtype=dtype)
    else:
        stats = {}
        for k, r in enumerate(ranks):
            below = sum(w[k][0] for w in windows)
            values = np.concatenate([w[k][1] for w in windows])
            counts = np.concatenate([w[k][2] for w in windows])
            order = np.argsort(values, kind="stable")
            ends = np.cumsum(counts[order])
            stats[r] = values[order][int(np.searchsorted(ends, r - below, side="right"))]
        lo = np.floor(virtual).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        a = np.array([stats[int(i)] for i in lo])
        b = np.array([stats[int(i)] for i in hi])
        frac = virtual - lo
        if method == "lower":
            out = a
        elif method == "higher":
            out = np.where(frac > 0, b, a)
        elif method == "nearest":
            out = np.where(np.around(virtual) > lo, b, a)
        else:
            t = np.where(frac > 0, 0.5, 0.0) if method == "midpoint" else frac
            out = _lerp(a.astype(np.float64), b.astype(np.float64), t)
        out = np.asarray(out).astype(dtype)
    return out[0] if scalar else out


def percentile(a, q, method="linear", internal_method="default", **kwargs):
    """``numpy.percentile(a, q, method=method)`` of a 1-D array, exact (see the module
    docstring).  ``q``: a number or a 1-D sequence in [0, 100]; the result is a 0-d
    or 1-D array.  ``internal_method`` is accepted for Dask's spelling and ignored."""
    a = asarray(a)
    if kwargs:
        raise TypeError(f"percentile: unexpected keyword {', '.join(sorted(kwargs))}")
    if a.ndim != 1:
        raise NotImplementedError(f"percentile: a must be 1-D, got {a.ndim} dimensions")
    if method not in METHODS:
        raise ValueError(f"percentile: method={method!r} is not one of {', '.join(METHODS)}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"percentile: a has dtype {a.dtype}, not a real number type")
    qs = np.asarray(q, dtype=np.float64)
    if qs.ndim > 1:
        raise ValueError(f"percentile: q must be a number or 1-D, got {qs.ndim} dimensions")
    if np.any(np.isnan(qs)) or np.any((qs < 0) | (qs > 100)):
        raise ValueError("percentile: q must be in the range [0, 100]")
    n = a.shape[0]
    if n == 0:
        raise ValueError("percentile: a is empty (NumPy raises IndexError here)")
    trial = q if isinstance(q, (int, float)) else qs  # (Python scalars are weak, as in NumPy)
    dtype = np.percentile(np.zeros(2, dtype=a.dtype), trial, method=method).dtype
    virtual = (n - 1) * (qs.ravel() / 100)
    lo = np.floor(virtual).astype(np.int64)
    ranks = sorted({int(r) for r in lo} | {int(min(r + 1, n - 1)) for r in lo})
    k = a.numblocks[0]
    m = max(1, math.isqrt(n // (2 * k)))
    token = tokenize(a, qs, method, dtype)
    name = f"percentile-{token}"
    sort, sample, bracket, window = (f"{name}-{s}" for s in ("sort", "sample", "bracket", "window"))
    layer = {}
    for j in range(k):
        layer[(sort, j)] = Task((sort, j), _sort, Ref(a._key((j,))))
        layer[(sample, j)] = Task((sample, j), _sample, Ref((sort, j)), m)
    layer[bracket] = Task(bracket, _brackets, [Ref((sample, j)) for j in range(k)], ranks, m)
    for j in range(k):
        layer[(window, j)] = Task((window, j), _window, Ref((sort, j)), Ref(bracket))
    key = (name,) if qs.ndim == 0 else (name, 0)
    layer[key] = Task(key, _select, [Ref((window, j)) for j in range(k)], ranks, n, virtual, method,
                      dtype, qs.ndim == 0)  # fmt: skip
    chunks = () if qs.ndim == 0 else ((len(qs),),)
    return Array(merge_layers(a, name=name, layer=layer), name, chunks, dtype)
