"""Cumulative sums, products, maxima and minima across partitions: a prefix scan.

::

    partition i:  total_i  = agg(part_i)                       (sum, prod, max or min)
                  carry_i  = agg([carry_{i-1}, total_{i-1}])    (carry_0: none)
                  result_i = cum(carry_i prepended to part_i), that row dropped

Each partition's running values start from what the partitions before it add up to:
the carry, prepended as one row, so pandas' own cumulative method applies its rules
(``skipna``: a NaN stays NaN at its place and is skipped after it, or without
``skipna`` everything after it is NaN) across the partition boundary exactly as in one
frame.  The carry is an aggregate, not the last cumulative row: that row is NaN where
the partition ends in a NaN, while the running value goes on.

The carries form a chain (each waits for the one before), but a chain of small
aggregates; the partitions themselves are scanned in parallel.
"""

from __future__ import annotations

import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import new_collection

__all__ = ["cumulative"]

#: cumulative method -> the aggregate its running value is
AGGREGATES = {"cumsum": "sum", "cumprod": "prod", "cummax": "max", "cummin": "min"}


def cumulative(frame, method: str, skipna: bool = True):
    """*frame*'s ``method`` (``"cumsum"``, ...) over all its partitions, in order."""
    agg = AGGREGATES[method]
    meta = getattr(frame._meta, method)(skipna=skipna)
    token = tokenize(frame, method, skipna)
    name, totals, carries = f"{method}-{token}", f"{method}-total-{token}", f"{method}-carry-{token}"
    layer = {}
    for i in range(frame.npartitions):
        part = Ref((frame._name, i))
        if i + 1 < frame.npartitions:  # (the last one's total carries into nothing)
            layer[(totals, i)] = Task((totals, i), _total, part, agg, skipna)
        if i == 0:
            layer[(name, i)] = Task((name, i), _scan, part, None, method, skipna)
            continue
        before = Ref((carries, i - 1)) if i > 1 else None
        layer[(carries, i)] = Task((carries, i), _carry, before, Ref((totals, i - 1)), agg, skipna)
        layer[(name, i)] = Task((name, i), _scan, part, Ref((carries, i)), method, skipna)
    return new_collection(merge_layers(frame, name=name, layer=layer), name, meta, frame.divisions)


def _total(part, agg: str, skipna: bool):
    """The partition's aggregate: a row (a Series by column) or, for a Series, a value."""
    return getattr(part, agg)(skipna=skipna)


def _carry(before, total, agg: str, skipna: bool):
    """The aggregate of everything before the next partition."""
    if before is None:
        return total
    if isinstance(total, pd.Series):
        return getattr(pd.DataFrame([before, total]), agg)(skipna=skipna)
    return getattr(pd.Series([before, total]), agg)(skipna=skipna)


def _scan(part, carry, method: str, skipna: bool):
    if carry is None:
        return getattr(part, method)(skipna=skipna)
    if isinstance(part, pd.DataFrame):
        head = pd.DataFrame([carry], columns=part.columns).astype(part.dtypes, errors="ignore")
    else:
        head = pd.Series([carry], name=part.name)
    joined = pd.concat([head, part])
    return getattr(joined, method)(skipna=skipna).iloc[1:]
