"""Block kernels for masked blocks (``numpy.ma.MaskedArray``), used by ``chunk.py``.

A shoal array's blocks may be masked arrays (``shoal.array.ma``).  The graph does
not know a block's type, so the generic kernels ask at run time
(:func:`is_masked`) and hand masked blocks here:

- partials of ``sum``/``prod``/``min``/``max``/``any``/``all`` merge with the
  ``numpy.ma`` version of the merging ufunc, whose ``reduce`` skips masked
  entries (a slice masked in one block takes the other block's value; masked in
  all, it stays masked) -- ``np.add(masked, 5)`` would give a masked result;
- ``mean`` counts the unmasked entries by element, as ``nanmean`` counts the
  values that are not NaN, and masks the slices that had none;
- ``var``/``std`` reuse the NaN-skipping moment merge with the mask as validity;
- assembling a block from pieces starts from a masked empty array so the pieces'
  masks survive.
"""

from __future__ import annotations

import functools
import sys

import numpy as np

__all__ = ["any_masked", "empty_for", "is_masked", "masked_mean_aggregate", "masked_mean_chunk",
           "masked_merge", "masked_moment_chunk"]


@functools.cache
def _ma_ops() -> dict:
    """The mask-aware version of each merging ufunc (``numpy.ma`` is imported on first
    use: it costs 10 ms, at every ``import shoal.array``)."""
    return {np.add: np.ma.add, np.multiply: np.ma.multiply, np.minimum: np.ma.minimum,
            np.maximum: np.ma.maximum, np.logical_or: np.ma.logical_or,
            np.logical_and: np.ma.logical_and, np.fmin: np.ma.minimum, np.fmax: np.ma.maximum}


def is_masked(x) -> bool:
    ma = sys.modules.get("numpy.ma")  # (never imported: nothing is masked)
    return ma is not None and isinstance(x, ma.MaskedArray)


def any_masked(parts) -> bool:
    return any(is_masked(p) for p in parts)


def masked_merge(merge, parts):
    """*parts* (same shape) merged element by element, masked entries left out."""
    op = _ma_ops().get(merge)
    if op is None:
        raise TypeError(f"no mask-aware merge for {getattr(merge, '__name__', merge)!r}")
    return op.reduce(np.ma.stack([np.ma.asanyarray(p) for p in parts]), axis=0)


def empty_for(blocks, shape, dtype):
    """An empty array to assemble *blocks* into: masked if any of them is."""
    if not any_masked(blocks):
        return np.empty(shape, dtype=dtype)
    out = np.ma.masked_array(np.empty(shape, dtype=dtype), mask=np.zeros(shape, dtype=bool))
    first = next(b for b in blocks if is_masked(b))
    try:
        out.fill_value = first.fill_value
    except (TypeError, ValueError):  # (one the result's dtype cannot hold: NumPy's default)
        pass
    return out


def masked_mean_chunk(block, axis, acc):
    """``(count, sum)`` of the unmasked entries, both arrays by element of the result."""
    n = np.ma.count(block, axis=axis, keepdims=True)
    total = np.ma.sum(block, axis=axis, keepdims=True, dtype=acc)
    # (the sum stays a MaskedArray, without masks: it tells the aggregate to mask)
    return np.asarray(n), np.ma.masked_array(np.ma.filled(total, 0), mask=False)


def masked_mean_aggregate(n, total):
    """``total / n`` masked where no entry counted."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.asarray(total) / np.maximum(n, 1)
    return np.ma.masked_array(out, mask=np.asarray(n) == 0)


def masked_moment_chunk(block, axis, acc):
    """``(count, mean, m2)`` of the unmasked entries (counts by element)."""
    valid = ~np.ma.getmaskarray(block)
    x = np.ma.getdata(block).astype(acc, copy=False)
    n = np.sum(valid, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.sum(np.where(valid, x, 0), axis=axis, keepdims=True) / n, 0)
    dev = np.where(valid, x - mean, 0)
    sq = (dev * dev.conj()).real if np.iscomplexobj(dev) else dev * dev
    return n, mean, np.sum(sq, axis=axis, keepdims=True)
