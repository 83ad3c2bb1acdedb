"""``DataFrame.cov`` and ``DataFrame.corr`` (Pearson) as one tree reduction of sums.

Each pair of columns uses the rows where both are present, as pandas does.  Per
partition, with ``X`` the numeric columns less a shift (NaN -> 0) and ``V`` their
presence (1 / 0), five matrices are summed::

    n    = V'V           rows where both i and j are present
    sx   = X'V           sum of x_i over those rows
    sxy  = X'X           sum of x_i * x_j
    sxx  = (X*X)'V       sum of x_i ** 2 over them (for corr)

and the aggregate gives ``cov = (sxy - sx * sx' / n) / (n - ddof)`` and ``corr = cov /
sqrt(var_i|j * var_j|i)``.  Sums of squares cancel when a column's values sit far from 0
(1e9 + noise); every partition subtracts the same shift first, the first partition's
column means, which changes neither result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe._meta import nonempty

__all__ = ["pairwise"]


def _shift(part) -> np.ndarray:
    means = part.mean().to_numpy(dtype=float) if len(part) else np.zeros(part.shape[1])
    return np.nan_to_num(means)


def _sums(part, shift):
    x = part.to_numpy(dtype=float) - shift
    present = ~np.isnan(x)
    v = present.astype(float)
    x = np.where(present, x, 0.0)
    return v.T @ v, x.T @ v, x.T @ x, (x * x).T @ v


def _add(parts):
    return tuple(sum(p[i] for p in parts) for i in range(4))


def _result(parts, how, ddof, min_periods, columns):
    n, sx, sxy, sxx = _add(parts)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (sxy - sx * sx.T / n) / (n - ddof)
        if how == "corr":
            var_i = (sxx - sx * sx / n) / (n - 1)  # x_i's variance over the rows of pair (i, j)
            out = np.clip(cov * (n - ddof) / (n - 1) / np.sqrt(var_i * var_i.T), -1.0, 1.0)
            ones = np.diag(n) >= 2
            out[np.diag_indices_from(out)] = np.where(ones & (np.diag(var_i) > 0), 1.0, np.nan)
        else:
            out = cov
    out[n < max(min_periods or 0, 1 + (ddof if how == "cov" else 1))] = np.nan
    return pd.DataFrame(out, index=columns, columns=columns)


def pairwise(frame, how: str, ddof: int = 1, min_periods=None, split_every=None):
    """``frame.cov()`` / ``frame.corr()``: a one-partition frame, columns by columns."""
    from shoal.dataframe.core import new_collection
    from shoal.dataframe.reductions import reduction

    meta = getattr(nonempty(frame._meta), how)()  # (pandas' error for non-numeric columns)
    columns = frame._meta.columns
    token = tokenize(frame, how)
    shift = f"{how}-shift-{token}"
    shifted = {(shift, 0): Task((shift, 0), _shift, Ref((frame._name, 0)))}
    base = new_collection(merge_layers(frame, name=shift, layer=shifted), frame._name,
                          frame._meta, frame.divisions)  # fmt: skip
    return reduction(base, _sums, _result, _add, token=how, meta=meta.iloc[:0],
                     split_every=split_every, chunk_kwargs={"shift": Ref((shift, 0))},
                     aggregate_kwargs={"how": how, "ddof": ddof, "min_periods": min_periods,
                                       "columns": columns})  # fmt: skip
