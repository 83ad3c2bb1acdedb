"""``Rolling.cov`` / ``Rolling.corr`` and ``Resampler.quantile`` / ``Resampler.sem``.

``Rolling.cov`` of a Series (or of a frame with ``pairwise=False``) keeps one output row
per input row, so it is an ordinary overlap (``neighbours.map_overlap``).  A frame's
pairwise covariance has ``k`` rows per input row (a ``(row, column)`` MultiIndex over
``k`` columns), which the overlap's trimming by rows cannot cut; so inside the overlap
each row's ``k x k`` block is laid out flat as one row of ``k * k`` values, and a second,
per-partition step lays it back out as pandas' long form.  ``corr`` is laid out the
same way; with ``other`` (another collection) both go to ``rolling_binary.py``.

The resampler's bins never straddle partitions (``Resampler._build`` moves the rows),
so ``quantile`` and ``sem`` are pandas' own per bin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoal.dataframe._meta import nonempty
from shoal.dataframe.core import map_partitions
from shoal.dataframe.neighbours import Rolling, map_overlap
from shoal.dataframe.resample import Resampler


def _flat_cov(rows, window, options, ddof, method="cov"):
    out = getattr(rows.rolling(window, **options), method)(ddof=ddof)
    k = rows.shape[1]
    flat = out.to_numpy().reshape(len(rows), k * k)
    return pd.DataFrame(flat, index=rows.index, columns=range(k * k))


def _long_cov(part, columns):
    k = len(columns)
    values = part.to_numpy().reshape(len(part) * k, k)
    index = pd.MultiIndex.from_arrays([np.repeat(part.index.to_numpy(), k),
                                       np.tile(columns.to_numpy(), len(part))],
                                      names=[part.index.name, None])
    return pd.DataFrame(values, index=index, columns=columns)


def rolling_cov(self, other=None, pairwise=None, ddof=1, **kwargs):
    """The window's covariance, row by row (pandas' ``Rolling.cov``; ``other``: another
    shoal Series or DataFrame, see ``rolling_binary.py``)."""
    return _moment(self, "cov", other, pairwise, ddof, kwargs)


def rolling_corr(self, other=None, pairwise=None, ddof=1, **kwargs):
    """The window's correlation, row by row (pandas' ``Rolling.corr``)."""
    return _moment(self, "corr", other, pairwise, ddof, kwargs)


def _moment(self, method, other, pairwise, ddof, kwargs):
    if kwargs:
        raise TypeError(f"rolling(...).{method} got unexpected arguments: {', '.join(kwargs)}")
    if other is not None:
        from shoal.dataframe.rolling_binary import rolling_binary

        return rolling_binary(self, method, other, pairwise, ddof)
    frame = self.frame
    if frame._meta.ndim == 1 or pairwise is False:
        return self._agg(method, pairwise=pairwise, ddof=ddof)
    columns = frame._meta.columns
    k = len(columns)
    flat_meta = pd.DataFrame({i: pd.Series([], dtype="f8") for i in range(k * k)},
                             index=frame._meta.index)
    flat = map_overlap(_flat_cov, frame, self._before, self._after, self.window,
                       self.options, ddof, method, meta=flat_meta, token=f"rolling-{method}")
    meta = getattr(nonempty(frame._meta).rolling(self.window, **self.options),
                   method)(ddof=ddof).iloc[:0]
    return map_partitions(_long_cov, flat, columns, meta=meta, token=f"rolling-{method}-long")


def resample_quantile(self, q=0.5, **kwargs):
    """The *q* quantile of each bin (pandas' ``Resampler.quantile``; one *q*)."""
    if np.ndim(q) != 0:
        raise NotImplementedError(f"resample(...).quantile(q=...) takes one quantile, got {q!r}; "
                                  "call it once per quantile")
    return self._build("quantile", (q,), kwargs)


def resample_sem(self, ddof=1, numeric_only=False):
    """The standard error of the mean of each bin (pandas' ``Resampler.sem``)."""
    return self._build("sem", (), {"ddof": ddof, "numeric_only": numeric_only})


Rolling.cov = rolling_cov
Rolling.corr = rolling_corr
Resampler.quantile = resample_quantile
Resampler.sem = resample_sem
