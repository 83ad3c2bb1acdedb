"""benchmarks/bag_workloads.py: the cases build, run with shoal, and give the
expected results (sizes from ``quick=True``; no timing is asserted)."""

import pytest

from benchmarks.bag_workloads import make_bag_cases
from benchmarks.workloads import Lib, _shoal_cold_start


def test_bag_cases_run_with_shoal():
    import shoal

    lib = Lib("shoal", shoal.delayed, shoal.compute, _shoal_cold_start)
    cases = make_bag_cases(quick=True)
    assert [c.workload for c in cases] == ["bag-letters", "bag-json"]
    for case in cases:
        out = case.measure(lib)
        assert sorted(out) == sorted(case.variants)
        for samples in out.values():
            for s in samples:
                assert s.seconds > 0
                assert s.result == case.expected
        assert case.value(out, "warm") > 0


def test_bag_cases_agree_with_dask():
    pytest.importorskip("dask.bag")
    import dask

    lib = Lib("dask", dask.delayed, dask.compute, lambda: None)
    case = make_bag_cases(quick=True)[1]
    out = case.measure(lib)
    assert out["warm"][0].result == case.expected
