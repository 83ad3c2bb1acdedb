"""``nunique_approx``: the number of distinct values (rows of a frame) by HyperLogLog.

Each partition's rows are hashed to 64 bits (``pandas.util.hash_pandas_object``, index
left out, so equal rows hash equal wherever they are).  The top ``B`` bits of a hash
choose one of ``2**B`` registers; the register keeps the largest *rank* it has seen,
the position of the first set bit in the remaining bits.  A partition's piece is its
register array (64 KiB at ``B = 16``); pieces combine by an element-wise maximum, which
is what makes the sketch a tree reduction; the aggregate turns the registers into the
estimate (the harmonic mean formula, with linear counting while many registers are
still empty).  The standard error is about ``1.04 / sqrt(2**B)``, 0.4 % at ``B = 16``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["nunique_approx"]

B = 16
M = 1 << B
_REST = 64 - B  # bits left after the register index


def _bit_length(values):
    """The bit length of each uint64 (0 for 0), by a binary search over the shifts."""
    out = np.zeros(values.shape, dtype=np.uint64)
    v = values.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = v >= (np.uint64(1) << np.uint64(shift))
        v[big] >>= np.uint64(shift)
        out[big] += np.uint64(shift)
    return (out + (v > 0)).astype(np.int64)


def registers(part):
    """The HyperLogLog registers of one partition's rows."""
    regs = np.zeros(M, dtype=np.uint8)
    if len(part) == 0:
        return regs
    hashes = pd.util.hash_pandas_object(part, index=False).to_numpy(dtype=np.uint64)
    index = (hashes >> np.uint64(_REST)).astype(np.int64)
    rest = hashes & np.uint64((1 << _REST) - 1)
    rank = _REST - _bit_length(rest) + 1  # leading zeros in the rest, plus one
    np.maximum.at(regs, index, rank.astype(np.uint8))
    return regs


def merge_registers(pieces):
    return np.maximum.reduce(list(pieces))


def estimate(pieces):
    """The distinct count the (merged) registers estimate (a float, as Dask's)."""
    regs = merge_registers(pieces).astype(np.float64)
    alpha = 0.7213 / (1 + 1.079 / M)
    raw = alpha * M * M / np.sum(np.exp2(-regs))
    empty = int(np.count_nonzero(regs == 0))
    if raw <= 2.5 * M and empty:
        return float(M * np.log(M / empty))
    return float(raw)


def nunique_approx(self, split_every=None):
    """About how many distinct values (distinct rows of a frame) there are: a lazy
    Scalar float by HyperLogLog (error well under 1 %; see the module docstring)."""
    from shoal.dataframe.reductions import reduction

    return reduction(self, registers, estimate, merge_registers, token="nunique-approx",
                     meta=0.0, split_every=split_every)


def _attach():
    from shoal.dataframe.core import DataFrame, Series

    DataFrame.nunique_approx = nunique_approx
    Series.nunique_approx = nunique_approx


_attach()
