"""Dtype-aware ordering helpers for the dtypes whose order is not their values' own.

- A categorical sorts by its categories' order (pandas sorts ordered and unordered ones
  by their codes), not by the text of its values: partition boundaries of a
  categorical are compared through codes (:func:`sort_codes`).
- A pyarrow timestamp/duration column is compared and averaged like its numpy-backed
  equivalent (:func:`numpy_time_dtype`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["boundary_positions", "check_sorted_divisions", "numpy_time_dtype", "sort_codes"]


def numpy_time_dtype(dtype):
    """The numpy-backed dtype of a pyarrow timestamp/duration *dtype* (same unit and zone);
    any other dtype as it is."""
    if not isinstance(dtype, pd.ArrowDtype):
        return dtype
    import pyarrow as pa

    patype = dtype.pyarrow_dtype
    if pa.types.is_timestamp(patype) and patype.tz:
        return pd.DatetimeTZDtype(patype.unit, patype.tz)
    if pa.types.is_timestamp(patype) or pa.types.is_duration(patype):
        return dtype.numpy_dtype
    return dtype


def sort_codes(values, dtype, what="values"):
    """Category codes of *values* (a list of scalars) under the categorical *dtype*: the
    positions they sort by.  A value that is not a category raises, naming *what*."""
    codes = dtype.categories.get_indexer(pd.Index(list(values), dtype=dtype.categories.dtype))
    if (codes < 0).any():
        missing = [v for v, c in zip(values, codes) if c < 0]
        raise ValueError(f"{what}: {missing} are not categories of the column "
                         f"(categories: {list(dtype.categories)})")
    return codes


def boundary_positions(boundaries, values):
    """For each non-null value in *values* (an array), the index of the last boundary at
    or below it, in the order of *values*' dtype (-1 when below the first)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        bounds = sort_codes(boundaries, dtype, "partition boundaries")
        return np.searchsorted(bounds, np.asarray(values.codes), side="right") - 1
    if isinstance(dtype, pd.ArrowDtype):
        plain = numpy_time_dtype(dtype)
        values = values.astype(plain)
        dtype = plain
    try:
        index = pd.Index(list(boundaries), dtype=dtype)
    except (TypeError, ValueError):  # boundaries of another type (given by the user)
        index = pd.Index(list(boundaries))
    return index.searchsorted(values, side="right") - 1


def check_sorted_divisions(divisions, dtype, column):
    """Raise unless *divisions* are at least two boundaries sorted in *dtype*'s order."""
    keys = list(divisions)
    if isinstance(dtype, pd.CategoricalDtype) and not len(dtype.categories) and len(keys) >= 2:
        return  # unknown categories: their order is the partitions' own (checked there)
    if isinstance(dtype, pd.CategoricalDtype) and len(keys) >= 2:
        keys = list(sort_codes(keys, dtype, f"set_index({column!r}) divisions"))
    if len(keys) < 2 or keys != sorted(keys):
        raise ValueError(f"set_index({column!r}): divisions must be at least two sorted "
                         f"boundaries, got {tuple(divisions)}")
