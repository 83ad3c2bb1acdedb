"""Summaries of repeated, noisy measurements (the machines are shared and noisy).

``quartiles`` describes the spread; ``median_ci`` says how well the median is known:
the distribution-free interval from order statistics (the count of samples below the
true median is Binomial(n, 1/2)), so a target is judged on the interval's bound, not
on a median that the noise may have moved.
"""

from __future__ import annotations

import math
import statistics
from fractions import Fraction

__all__ = ["median_ci", "quartiles"]


def quartiles(values: list) -> tuple:
    """(first quartile, median, third quartile)."""
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return v, v, v
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return q1, statistics.median(values), q3


def median_ci(values: list, level: float = 0.95) -> tuple:
    """``(low, high)``: an interval that holds the true median with probability at
    least *level*, from the sorted values alone; the whole range where there are too
    few values for that level (fewer than 6 for 95%).

    >>> median_ci(list(range(1, 42)))
    (14, 28)
    >>> median_ci([3.0, 1.0])
    (1.0, 3.0)
    """
    xs = sorted(values)
    n = len(xs)
    if not n:
        return float("nan"), float("nan")
    # the largest j with P(count below the median < j) <= the tail, in whole numbers of
    # the 2**n equally likely outcomes (exact: 2.0**n overflows past 1023 values)
    tail, below, j = Fraction((1.0 - level) / 2) * 2**n, 0, 0
    while j < n // 2:
        count = math.comb(n, j)
        if below + count > tail:
            break
        below += count
        j += 1
    if j == 0:
        return xs[0], xs[-1]
    return xs[j - 1], xs[n - j]
