"""benchmarks/array_workloads.py builds its cases and runs them (small sizes; no speed asserted)."""

import pytest

pytest.importorskip("dask")

from benchmarks import array_workloads as aw  # noqa: E402  (the repo root is on sys.path)
from benchmarks.workloads import Lib  # noqa: E402


def _lib(name):
    return Lib(name, None, None, lambda: None)


def test_cases_cover_the_three_workloads():
    cases = aw.make_array_cases(quick=True)
    assert {c.workload for c in cases} == set(aw.WORKLOADS)
    assert len(cases) == 5 * len(aw.WORKLOADS)
    labels = {(c.workload, c.scheduler) for c in cases}
    for w in aw.WORKLOADS:
        for s in ("threads", "threads, peak RSS", "threads, peak bytes held (tracemalloc)",
                  "NumPy, 1 thread", "NumPy, 1 thread, peak RSS"):
            assert (w, s) in labels
    assert all(c.targets == {"": 1.0} for c in cases if c.scheduler.startswith("threads"))


def test_measures_agree_between_libraries():
    s = {"n": 200, "chunk": 50, "m": 100, "mchunk": 25}
    for w in aw.WORKLOADS:
        a = aw.time_threads(_lib("shoal"), w, s)[""][0]
        b = aw.time_threads(_lib("dask"), w, s)[""][0]
        assert a.result == b.result and a.result[1] == 1.0
        assert a.seconds > 0
    # the NumPy baseline is measured once, in the shoal column; Dask's stays n/a
    assert aw.numpy_time(_lib("dask"), "array-mean", True) == {}


def test_child_reports_time_and_memory():
    out = aw._child("shoal", "array-mean", quick=True)
    assert out["seconds"] > 0 and out["peak_mb"] >= 0 and list(out["summary"]) == [(), 1.0]
