"""``median``, ``quantile`` and their NaN-skipping forms along given axes.

::

    x: 2 x 3 blocks, median(x, axis=0)

    rechunk:   [b00 b01 b02]        the reduced axes become one block each
               [b10 b11 b12]   ->   [B0  B1  B2]     (rechunk.py; as Dask does)
    apply:                          np.median(B_j, axis=0)   one task per block

Exact order statistics along an axis need the whole axis, so, as Dask does, the
reduced axes are first rechunked into one block and NumPy's own function runs
on each block: the result equals NumPy's, and a task holds a whole slice along
the reduced axes (the other axes keep their chunks).  With ``axis=None`` (every
axis reduced) of an array with more than one block, ``median`` / ``quantile`` /
``percentile`` (not the NaN ones) use ``percentile.py``'s exact 1-D algorithm on
the flattened array, so no task holds the whole array; the NaN-skipping forms
then need one block holding everything (it is allowed: the rechunk says so).
``q`` may have any shape; its dimensions come first in the result, as in NumPy.
"""

from __future__ import annotations

import warnings

import numpy as np

from shoal.array.core import Array, asarray
from shoal.array.percentile import METHODS, percentile
from shoal.array.reductions import normalize_axis
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["median", "nanmedian", "nanpercentile", "nanquantile", "quantile"]

_FUNCS = {"median": np.median, "nanmedian": np.nanmedian, "quantile": np.quantile,
          "nanquantile": np.nanquantile, "percentile": np.percentile,
          "nanpercentile": np.nanpercentile}


def _apply(block, how, q, axis, keepdims, method):
    func = _FUNCS[how]
    if q is None:
        return np.asarray(func(block, axis=axis, keepdims=keepdims))
    return np.asarray(func(block, q, axis=axis, keepdims=keepdims, method=method))


def _along(a, how, q, axis, keepdims, method):
    a = asarray(a)
    axes = normalize_axis(axis, a.ndim)
    func = _FUNCS[how]
    if q is not None:
        q = np.asarray(q)
        if q.ndim == 0:  # (a Python float: weak in NumPy's promotion, float32 stays float32)
            q = q.item()
            if not isinstance(q, (int, float)):
                raise TypeError(f"{how}: q must be real numbers, got {q!r}")
            q = np.asarray(q, dtype=np.float64) if isinstance(q, bool) else q
        if np.asarray(q).dtype.kind not in "biuf":
            raise TypeError(f"{how}: q must be real numbers, got dtype {q.dtype}")
        hi = 100 if "percentile" in how else 1
        if np.any(np.isnan(q)) or np.any((np.asarray(q) < 0) | (np.asarray(q) > hi)):
            raise ValueError(f"{how}: q must be in the range [0, {hi}]")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trial_q = () if q is None else (q,)
        kw = {} if q is None else {"method": method}
        dtype = np.asarray(func(np.zeros(2, dtype=a.dtype), *trial_q, **kw)).dtype
    q_shape = () if q is None else np.shape(q)
    if (len(axes) == a.ndim and a.npartitions > 1 and not how.startswith("nan")
            and method in METHODS and a.dtype.kind in "iuf" and a.size and len(q_shape) <= 1):
        return _exact(a, how, q, keepdims, method)
    if any(a.numblocks[d] > 1 for d in axes):
        a = a.rechunk({d: -1 for d in axes})
    token = tokenize(a, how, q, axes, keepdims, method)
    name = f"{how}-{token}"
    kept = [d for d in range(a.ndim) if d not in axes or keepdims]
    layer = {}
    for idx in np.ndindex(*a.numblocks):
        out_idx = (0,) * len(q_shape) + tuple(0 if d in axes else idx[d] for d in kept)
        key = (name, *out_idx)
        layer[key] = Task(key, _apply, Ref(a._key(idx)), how, q, axes, keepdims, method)
    chunks = tuple((s,) for s in q_shape) + tuple((1,) if d in axes else a.chunks[d] for d in kept)
    return Array(merge_layers(a, name=name, layer=layer), name, chunks, dtype)


def _exact(a, how, q, keepdims, method):
    """The flattened array through percentile.py's exact 1-D algorithm.  A median is the
    mean of the two middle values (NumPy's: the infinities of both signs give NaN only
    when they are the two in the middle), not an interpolation between them."""
    flat = a.reshape((-1,))
    if how == "median":
        from shoal.array.blockwise import elemwise

        low, high = (percentile(flat, 50.0, method=m) for m in ("lower", "higher"))
        out = elemwise(_middle, low, high, dtype=np.result_type(a.dtype, np.float64),
                       token="median-middle")  # fmt: skip
        return out.reshape((1,) * a.ndim) if keepdims else out
    scale = 1 if how == "percentile" else 100
    qs = float(q) * scale if np.ndim(q) == 0 else np.asarray(q, dtype=np.float64) * scale
    out = percentile(flat, qs, method=method)
    if keepdims:
        out = out.reshape(out.shape + (1,) * a.ndim)
    return out


def _middle(low, high):
    """NumPy's median of the two middle values: their mean, or one of them when equal
    (``inf`` and ``inf`` give ``inf``, where ``inf + (inf - inf) / 2`` is NaN)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(low == high, low, (low + high) / 2)


def median(a, axis=None, keepdims=False):
    """``numpy.median`` along ``axis`` (see the module docstring)."""
    return _along(a, "median", None, axis, keepdims, "linear")


def nanmedian(a, axis=None, keepdims=False):
    """``numpy.nanmedian`` along ``axis``: NaNs skipped, an all-NaN slice gives NaN."""
    return _along(a, "nanmedian", None, axis, keepdims, "linear")


def quantile(a, q, axis=None, method="linear", keepdims=False):
    """``numpy.quantile`` along ``axis``, ``q`` in [0, 1]."""
    return _along(a, "quantile", q, axis, keepdims, method)


def nanquantile(a, q, axis=None, method="linear", keepdims=False):
    """``numpy.nanquantile`` along ``axis``, ``q`` in [0, 1], NaNs skipped."""
    return _along(a, "nanquantile", q, axis, keepdims, method)


def nanpercentile(a, q, axis=None, method="linear", keepdims=False):
    """``numpy.nanpercentile`` along ``axis``, ``q`` in [0, 100], NaNs skipped."""
    return _along(a, "nanpercentile", q, axis, keepdims, method)
