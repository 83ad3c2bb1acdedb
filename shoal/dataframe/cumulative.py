"""Cumulative sums, products, maxima and minima across partitions: a prefix scan.

::

    partition i:  total_i  = agg(part_i)                       (sum, prod, max or min;
                                                                None for an empty one)
                  carry_i  = agg([carry_{i-1}, total_{i-1}])    (carry_0: none)
                  result_i = part_i.cumX() combined with carry_i, element by element

Each partition's running values start from what the partitions before it add up to:
the carry, an aggregate (not the last cumulative row: that row is NaN where the
partition ends in a NaN, while the running value goes on).  pandas computes the
partition's own cumulative values, so their dtype and index are its own; the carry is
then added (``cumsum``), multiplied (``cumprod``) or taken where it is more extreme
(``cummax``, ``cummin``), leaving NaN where pandas leaves NaN: at a NaN's place with
``skipna``, from the first NaN on without it (a NaN carry then).  With ``skipna`` a NaN
carry of a maximum or minimum means nothing came before, and is ignored.

The carries form a chain (each waits for the one before), but a chain of small
aggregates; the partitions themselves are scanned in parallel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import new_collection
from shoal.dataframe.partitioning import keep_partitioning

__all__ = ["cumulative"]

#: cumulative method -> the aggregate its running value is
AGGREGATES = {"cumsum": "sum", "cumprod": "prod", "cummax": "max", "cummin": "min"}


def cumulative(frame, method: str, skipna: bool = True):
    """*frame*'s ``method`` (``"cumsum"``, ...) over all its partitions, in order."""
    agg = AGGREGATES[method]
    meta = getattr(frame._meta, method)(skipna=skipna)
    token = tokenize(frame, method, skipna)
    name, totals, carries = (f"{method}-{token}", f"{method}-total-{token}",
                             f"{method}-carry-{token}")  # fmt: skip
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
    out = new_collection(merge_layers(frame, name=name, layer=layer), name, meta, frame.divisions)
    return keep_partitioning(out, [frame])


def _total(part, agg: str, skipna: bool):
    """The partition's aggregate: a row (a Series by column) or, for a Series, a value;
    None for an empty partition (its NaN maximum had ended every later running value)."""
    if len(part) == 0:
        return None
    if isinstance(part, pd.DataFrame):  # (column by column: a frame's row of totals would
        return pd.Series([getattr(part.iloc[:, i], agg)(skipna=skipna)  # make an int
                          for i in range(part.shape[1])], index=part.columns, dtype=object)
    return getattr(part, agg)(skipna=skipna)  # column's total a float beside a float one)


def _carry(before, total, agg: str, skipna: bool):
    """The aggregate of everything before the next partition (None: nothing yet)."""
    if before is None or total is None:
        return total if before is None else before
    if isinstance(total, pd.Series):  # (column by column, by position: each pair keeps its
        return pd.Series([_carry(before.iloc[i], total.iloc[i], agg, skipna)  # own dtype)
                          for i in range(len(total))], index=total.index, dtype=object)
    return getattr(pd.Series([before, total]), agg)(skipna=skipna)


def _scan(part, carry, method: str, skipna: bool):
    out = getattr(part, method)(skipna=skipna)
    if carry is None or len(part) == 0:
        return out
    if method == "cumsum":  # (the carry first: text adds up in order)
        combine = lambda col, c: c + col  # noqa: E731
    elif method == "cumprod":
        combine = lambda col, c: c * col  # noqa: E731
    else:
        combine = lambda col, c: _extreme(col, c, method, skipna)  # noqa: E731
    return _columns(out, combine, carry) if isinstance(out, pd.DataFrame) else combine(out, carry)


def _extreme(cum, carry, method: str, skipna: bool):
    """*cum* (a column's running maxima or minima) with *carry* where it is more extreme;
    NaN kept where *cum* is NaN, and a NaN *carry* ignored with *skipna* (nothing before)."""
    if pd.isna(carry):  # (without skipna: a NaN before made every later value NaN)
        return cum if skipna else cum.where(np.zeros(len(cum), dtype=bool), carry)
    beyond = cum >= carry if method == "cummax" else cum <= carry
    return cum.where(cum.isna() | beyond.fillna(False).astype(bool), carry)


def _columns(frame, combine, carry):
    """*frame* with ``combine(column, its carry)`` applied to each column, by position."""
    out = frame.copy()
    for i in range(frame.shape[1]):
        out.isetitem(i, combine(frame.iloc[:, i], carry.iloc[i]))
    return out
