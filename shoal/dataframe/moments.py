"""Higher moments and the exact median: ``sem``, ``skew``, ``kurtosis``/``kurt``, ``median``.

Attached to ``DataFrame`` and ``Series`` when this module is imported (the package
``__init__`` does).  ``sem``, ``skew`` and ``kurtosis`` are one tree reduction
(``reductions.reduction``) of per-column *central* power sums::

    chunk:     (n, mean, M2, M3, M4)      M_k = sum((x - mean) ** k), non-null values
    combine:   merged pairwise            (Pebay's update of the central sums)
    aggregate: the statistic              pandas' estimators on the whole data

Raw power sums (``sum(x**k)``) cancel catastrophically when the mean is large
next to the spread; central sums merged with the mean difference do not.  Each
chunk subtracts its first value before averaging, so constant data gives sums
that are exactly zero, and the statistics that divide by ``M2`` come out NaN as
pandas' do (pandas 3; 0 under pandas 2).  The estimators are pandas' unbiased
ones (``skew``: adjusted Fisher-Pearson G1, needs 3 values; ``kurtosis``: excess
G2, needs 4); ``bias=True`` gives the biased ones (``fisher=False``: Pearson's
kurtosis, without the -3), which is what Dask's scipy-based versions default to.
Result dtypes are pandas' on the metadata (Float64 when a column is nullable),
a Series' a ``numpy.float64``.

``median`` is exact, unlike Dask's (which refuses more than one partition and
offers an approximate one): the non-null values are gathered into one task
(memory: the data of the columns reduced) and pandas' ``median`` runs there.
``median_approximate`` is kept as an alias, exact too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoal.dataframe._meta import check_unique_columns, nonempty
from shoal.dataframe.core import DataFrame, Series
from shoal.dataframe.reductions import _PANDAS_MAJOR, _broadcastable, reduction

__all__ = ["median", "power_moments"]


# -- kernels (module level: they pickle by reference) ----------------------------------

def chunk_power(part, columns, skipna):
    """``(n, shift, mean - shift, M2, M3, M4)`` arrays (one entry per column) of one
    partition; the shift is a value of the column (its first non-null)."""
    if len(part) == 0:
        return None
    x = part if columns is None else part[columns]
    values = x.to_numpy(dtype="float64", na_value=np.nan)
    if values.ndim == 1:
        values = values[:, None]
    valid = ~np.isnan(values)
    if skipna:
        n = valid.sum(axis=0).astype("float64")
        # shift by a value of the column (the first non-null): constant data -> exactly 0
        first = np.where(n > 0, values[valid.argmax(axis=0), np.arange(values.shape[1])], 0.0)
        d = np.where(valid, values - first, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_d = d.sum(axis=0) / n
        c = np.where(valid, d - mean_d, 0.0)
    else:
        n = np.full(values.shape[1], float(len(values)))
        first = values[0]
        d = values - first
        mean_d = d.sum(axis=0) / n
        c = d - mean_d
    c2 = c * c
    return n, first, mean_d, c2.sum(axis=0), (c2 * c).sum(axis=0), (c2 * c2).sum(axis=0)


def merge_power(parts):
    """Merge ``(n, shift, mean - shift, M2, M3, M4)`` pieces (Pebay's pairwise update);
    None: no rows.  The mean stays split from its shift (a value of the data): their sum
    rounds to the spacing of floats near the data (1e12 + noise lost its last digits),
    and the difference of two rounded means went into M2..M4."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    na, sa, ma, m2a, m3a, m4a = parts[0]
    for nb, sb, mb, m2b, m3b, m4b in parts[1:]:
        n = na + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = np.where((na == 0) | (nb == 0), 0.0, (sb - sa) + (mb - ma))
            delta = np.where(nb == 0, 0.0, np.where(na == 0, 0.0, gap))
            d_n = np.where(n > 0, delta / n, 0.0)
            mean = np.where(na == 0, mb, np.where(nb == 0, ma, ma + d_n * nb))
            sa = np.where(na == 0, sb, sa)  # (the merged mean is relative to this shift)
            ab = na * nb
            m2 = m2a + m2b + delta * d_n * ab
            m3 = (m3a + m3b + delta * d_n * d_n * ab * (na - nb)
                  + 3.0 * d_n * (na * m2b - nb * m2a))
            m4 = (m4a + m4b + delta * d_n ** 3 * ab * (na * na - ab + nb * nb)
                  + 6.0 * d_n * d_n * (na * na * m2b + nb * nb * m2a)
                  + 4.0 * d_n * (na * m3b - nb * m3a))
        na, ma, m2a, m3a, m4a = n, mean, m2, m3, m4
    return na, sa, ma, m2a, m3a, m4a


def _statistic(how, n, m2, m3, m4, ddof, bias, fisher):
    zero = np.nan if _PANDAS_MAJOR >= 3 else 0.0  # constant data
    with np.errstate(invalid="ignore", divide="ignore"):
        if how == "sem":
            return np.where(n - ddof > 0, np.sqrt(m2 / (n - ddof)) / np.sqrt(n), np.nan)
        if how == "skew":
            g1 = np.sqrt(n) * m3 / m2 ** 1.5
            out = g1 if bias else g1 * np.sqrt(n * (n - 1)) / (n - 2)
            return np.where(n < (1 if bias else 3), np.nan, np.where(m2 == 0, zero, out))
        g2 = n * m4 / (m2 * m2)  # Pearson's, biased
        if bias:
            out = g2 - 3.0 if fisher else g2
        else:
            out = ((n + 1) * g2 - 3.0 * (n - 1)) * (n - 1) / ((n - 2) * (n - 3))
            out = out if fisher else out + 3.0
        return np.where(n < (1 if bias else 4), np.nan, np.where(m2 == 0, zero, out))


def agg_power(parts, how, columns, dtype, ddof, bias, fisher, empty, kwargs):
    merged = merge_power(parts)
    if merged is None:  # no rows at all: as pandas says
        return getattr(empty, how)(**kwargs)
    n, _, _, m2, m3, m4 = merged
    result = _statistic(how, n, m2, m3, m4, ddof, bias, fisher)
    if columns is None:
        return np.float64(result[0])
    return pd.Series(result, index=pd.Index(columns), dtype=dtype)


# -- builders ------------------------------------------------------------------------

def _pandas_kwargs(how, skipna, numeric_only, ddof):
    kwargs = {"skipna": skipna, "numeric_only": numeric_only}
    if how == "sem":
        kwargs["ddof"] = ddof
    return kwargs


def power_moments(frame, how, skipna=True, numeric_only=False, ddof=1, bias=False, fisher=True,
                  split_every=None):
    """``sem`` / ``skew`` / ``kurt`` of *frame* by column (a Series' as a Scalar)."""
    check_unique_columns(frame._meta, how)
    for arg, value in (("skipna", skipna), ("numeric_only", numeric_only), ("bias", bias),
                       ("fisher", fisher)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{how}({arg}=...) must be True or False, got {value!r}")
    if not isinstance(ddof, (int, np.integer)) or isinstance(ddof, bool):
        raise TypeError(f"{how}(ddof=...) must be an integer, got {ddof!r}")
    kwargs = _pandas_kwargs(how, skipna, numeric_only, ddof)
    meta = getattr(nonempty(frame._meta), how)(**kwargs)  # pandas checks the dtypes
    is_frame = isinstance(frame._meta, pd.DataFrame)
    columns = list(meta.index) if is_frame else None
    dtypes = frame._meta[columns].dtypes if is_frame else [frame._meta.dtype]
    if any(getattr(dt, "kind", "O") in "mM" for dt in dtypes):
        raise NotImplementedError(f"{how} of datetime/timedelta values is not supported; "
                                  "use numeric_only=True or convert the column first")
    if is_frame:
        meta = meta.astype("Float64" if str(meta.dtype) == "Float64" else "float64")
    else:
        meta = np.float64(0.0)  # (pandas': a numpy float, also for nullable data)
    out = reduction(frame, chunk_power, agg_power, merge_power, token=how, meta=meta,
                    split_every=split_every,
                    chunk_kwargs={"columns": columns, "skipna": skipna},
                    aggregate_kwargs={"how": how, "columns": columns,
                                      "dtype": meta.dtype if is_frame else None, "ddof": ddof,
                                      "bias": bias, "fisher": fisher, "empty": frame._meta,
                                      "kwargs": kwargs})
    return _broadcastable(out, meta.index) if is_frame else out


def _gather_part(part, columns, skipna):
    if columns is not None:
        return part[columns]
    return part.dropna() if skipna else part


def _concat(parts):
    return pd.concat(parts)


def _agg_median(parts, kwargs):
    return pd.concat(parts).median(**kwargs)


def median(frame, skipna=True, numeric_only=False, split_every=None):
    """The exact median by column (a Series': a Scalar); see the module docstring."""
    check_unique_columns(frame._meta, "median")
    kwargs = {"skipna": skipna, "numeric_only": numeric_only}
    meta = nonempty(frame._meta).median(**kwargs)  # pandas checks the dtypes
    is_frame = isinstance(frame._meta, pd.DataFrame)
    columns = list(meta.index) if is_frame else None
    out = reduction(frame, _gather_part, _agg_median, _concat, token="median", meta=meta,
                    split_every=split_every,
                    chunk_kwargs={"columns": columns, "skipna": skipna},
                    aggregate_kwargs={"kwargs": kwargs})
    return _broadcastable(out, meta.index) if is_frame else out


# -- methods ---------------------------------------------------------------------------

def _rowwise(self, how, **kwargs):
    return self._call(how, axis=1, **kwargs)


def _check_axis(how, axis):
    if axis not in (None, 0, "index", 1, "columns"):
        raise ValueError(f"{how}: no axis {axis!r} (0 or 'index', 1 or 'columns')")
    return axis in (1, "columns")


def sem(self, axis=None, skipna=True, ddof=1, split_every=None, numeric_only=False):
    """Standard error of the mean, ``std(ddof) / sqrt(count)``, by column."""
    if _check_axis("sem", axis):
        return _rowwise(self, "sem", skipna=skipna, ddof=ddof, numeric_only=numeric_only)
    return power_moments(self, "sem", skipna, numeric_only, ddof=ddof, split_every=split_every)


def skew(self, axis=None, skipna=True, numeric_only=False, bias=False, split_every=None):
    """Sample skewness by column: pandas' unbiased G1 (``bias=True``: the biased g1)."""
    if _check_axis("skew", axis):
        return _rowwise(self, "skew", skipna=skipna, numeric_only=numeric_only)
    return power_moments(self, "skew", skipna, numeric_only, bias=bias, split_every=split_every)


def kurtosis(self, axis=None, skipna=True, numeric_only=False, bias=False, fisher=True,
             split_every=None):  # fmt: skip
    """Excess kurtosis by column: pandas' unbiased G2 (``bias=True``: biased;
    ``fisher=False``: Pearson's, 3 more)."""
    if _check_axis("kurtosis", axis):
        return _rowwise(self, "kurt", skipna=skipna, numeric_only=numeric_only)
    return power_moments(self, "kurt", skipna, numeric_only, bias=bias, fisher=fisher,
                         split_every=split_every)


def _median(self, axis=None, skipna=True, numeric_only=False, split_every=None):
    """The exact median by column (each column's values gathered into one task)."""
    if _check_axis("median", axis):
        return _rowwise(self, "median", skipna=skipna, numeric_only=numeric_only)
    return median(self, skipna=skipna, numeric_only=numeric_only, split_every=split_every)


_median.__name__ = "median"
for _cls in (DataFrame, Series):
    _cls.sem = sem
    _cls.skew = skew
    _cls.kurtosis = kurtosis
    _cls.kurt = kurtosis
    _cls.median = _median
    _cls.median_approximate = _median
