"""Dask's top-level spellings: ``shoal.get`` (the synchronous scheduler, as
``dask.get``), ``shoal.threaded.get``, ``shoal.multiprocessing.get`` and
``shoal.optimize``."""

from __future__ import annotations

import threading
from operator import add

import pytest

import shoal

GRAPH = {"x": 1, "y": (add, "x", 1)}


def test_get_is_synchronous_and_runs_dask_specs():
    def thread_name():
        return threading.current_thread().name

    assert shoal.get(GRAPH, "y") == 2
    assert shoal.get({"t": (thread_name,)}, "t") == threading.current_thread().name
    assert shoal.compute(shoal.delayed(add)(1, 2), scheduler=shoal.get) == (3,)


@pytest.mark.timeout(60)
def test_threaded_and_multiprocessing_get():
    import shoal.multiprocessing
    import shoal.threaded

    assert shoal.threaded.get(GRAPH, ["y", "x"]) == [2, 1]
    assert shoal.multiprocessing.get(GRAPH, ["y"]) == [2]
    assert shoal.threaded.get.__module__ == "shoal.base"  # (takes shoal's nodes as they are)


def test_optimize_returns_args_shaped_like_dask():
    a = shoal.delayed(sum)([1, 2])
    out = shoal.optimize(a, 5, [a])
    assert out[1] == 5 and out[0] is a and out[2][0] is a
    assert shoal.optimize(5) == (5,)
    assert shoal.compute(*shoal.optimize(a)) == (3,)
    assert shoal.optimize([a], traverse=False)[0] == [a]
