"""``benchmarks.profile_overhead`` and its statistics run end to end (small sizes);
speed is never asserted."""

import math
import re

import pytest

from benchmarks.profile_overhead import verdict
from benchmarks.stats import median_ci

from tests.conftest import run_benchmark


def test_the_median_interval_comes_from_order_statistics():
    # the ranks of the usual tables: n = 10 -> 2nd and 9th, n = 41 -> 14th and 28th
    assert median_ci(list(range(1, 11))) == (2, 9)
    assert median_ci(list(range(41, 0, -1))) == (14, 28)  # (sorted first)
    assert median_ci([5.0, 1.0, 3.0]) == (1.0, 5.0)  # too few for 95%: the range
    assert all(math.isnan(v) for v in median_ci([]))
    assert median_ci(list(range(2000))) == (955, 1044)  # (2.0**n overflowed past 1023 values)
    # the coverage it promises: at least 95% of the binomial mass lies inside
    n, (low, high) = 30, median_ci(list(range(30)))
    inside = sum(math.comb(n, k) for k in range(low + 1, high + 1)) / 2**n
    assert inside >= 0.95 and sum(math.comb(n, k) for k in range(low + 2, high)) / 2**n < 0.95


def test_the_target_is_judged_on_the_intervals_upper_bound():
    assert verdict({"overhead_ci": (-0.5, 2.9)}).startswith("target (at most 3%): met")
    assert "not shown" in verdict({"overhead_ci": (0.1, 3.2)})


@pytest.mark.timeout(120)
def test_profile_overhead_reports_the_overhead_its_interval_and_a_null_arm():
    proc = run_benchmark("profile_overhead", "--repeat", "9", "--slice", "0.01", timeout=100)
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.strip().splitlines()[-2:]
    number = r"[+-][\d.]+"
    assert re.search(rf"wall {number}% \(95% CI {number} \.\. {number}\), CPU {number}%", first)
    assert re.search(rf"null arm {number}% \(95% CI {number} \.\. {number}\); medians of 9 "
                     r"triples", first), first  # fmt: skip
    assert second.startswith("target (at most 3%): ")
