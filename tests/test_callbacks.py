"""Dask-style local-scheduler callbacks (shoal.callbacks, shoal.local.hooks)."""

from __future__ import annotations

import os
import threading
import time
from operator import add

import pytest

import shoal
from shoal.callbacks import Callback
from shoal.local import processes, sync, threads

pytestmark = pytest.mark.timeout(10)

GRAPH = {"a": 1, "b": (add, "a", 1), "c": (add, "b", 10)}


class Recorder(Callback):
    """Every hook call, with the thread it ran in."""

    def __init__(self):
        self.calls = []

    def _start(self, dsk):
        self.calls.append(("start", sorted(dsk)))

    def _start_state(self, dsk, state):
        self.calls.append(("start_state", sorted(state)))

    def _pretask(self, key, dsk, state):
        assert key in dsk and key in state["running"]
        self.calls.append(("pre", key, threading.get_ident()))

    def _posttask(self, key, result, dsk, state, worker_id):
        assert key in state["finished"] and key not in state["running"]
        self.calls.append(("post", key, result, worker_id, threading.get_ident()))

    def _finish(self, dsk, state, errored):
        self.calls.append(("finish", errored))

    def names(self):
        return [c[0] if c[0].startswith("start") else (c[0], c[1]) for c in self.calls]


EXPECTED = ["start", "start_state", ("pre", "b"), ("post", "b"), ("pre", "c"), ("post", "c"),
            ("finish", False)]  # fmt: skip


def test_sync_order_keys_results():
    with Recorder() as rec:
        assert sync.get(GRAPH, "c", fuse=False) == 12
    assert rec.names()[:2] == ["start", "start_state"]
    assert rec.calls[0] == ("start", ["a", "b", "c"])
    assert rec.names()[2:] == EXPECTED[2:]  # no pre/post for the literal "a", as in Dask
    posts = {c[1]: c[2] for c in rec.calls if c[0] == "post"}
    assert posts == {"b": 2, "c": 12}
    main = threading.get_ident()
    assert all(c[-1] == main for c in rec.calls if c[0] in ("pre", "post"))
    assert all(c[3] == main for c in rec.calls if c[0] == "post")  # worker_id: the thread


def test_start_state_shape():
    seen = {}

    def start_state(dsk, state):
        seen.update(ready=list(state["ready"]), waiting=dict(state["waiting"]),
                    deps=state["dependencies"]["c"], dependents=state["dependents"]["a"])

    with Callback(start_state=start_state):
        sync.get(GRAPH, "c", fuse=False)
    assert seen == {"ready": ["a"], "waiting": {"b": 1, "c": 1}, "deps": {"b"},
                    "dependents": {"b"}}  # fmt: skip


def test_threads_hooks_run_in_the_task_thread():
    main = threading.get_ident()
    ran = {}

    def work(x):
        ran[x] = threading.get_ident()
        return x * 2

    graph = {f"x-{i}": (work, i) for i in range(8)}
    with Recorder() as rec:
        out = threads.get(graph, list(graph), num_workers=2, fuse=False)
    assert out == [i * 2 for i in range(8)]
    pre = {c[1]: c[2] for c in rec.calls if c[0] == "pre"}
    post = {c[1]: c[4] for c in rec.calls if c[0] == "post"}
    ids = {c[1]: c[3] for c in rec.calls if c[0] == "post"}
    assert set(pre) == set(post) == set(graph)
    for i in range(8):
        key = f"x-{i}"
        assert pre[key] == post[key] == ids[key] == ran[i] != main
    assert rec.calls[-1] == ("finish", False)


def test_processes_hooks_in_parent_with_results():
    with Recorder() as rec:
        assert processes.get(GRAPH, "c", num_workers=1, fuse=False) == 12
    assert rec.names() == EXPECTED
    main = threading.get_ident()
    posts = [c for c in rec.calls if c[0] == "post"]
    assert [c[2] for c in posts] == [2, 12]
    assert all(c[4] == main and c[3] != os.getpid() for c in posts)  # worker_id: its pid


def _fail(x):
    raise ValueError("boom")


@pytest.mark.parametrize("get", [sync.get, threads.get])
def test_errored_flag(get):
    graph = {"a": 1, "b": (add, "a", 1), "c": (_fail, "b")}
    with Recorder() as rec, pytest.raises(ValueError, match="boom"):
        get(graph, "c", fuse=False)
    assert rec.calls[-1] == ("finish", True)
    assert ("pre", "c") in rec.names() and ("post", "c") not in rec.names()
    assert ("post", "b") in rec.names()


def test_a_raising_hook_fails_the_compute_and_finishes():
    finished = []

    def pretask(key, dsk, state):
        raise RuntimeError("hook")

    with Callback(pretask=pretask, finish=lambda d, s, e: finished.append(e)):
        with pytest.raises(RuntimeError, match="hook"):
            sync.get(GRAPH, "c", fuse=False)
    assert finished == [True]


def test_several_callbacks_and_function_style():
    seen = []
    with Recorder() as one, Callback(posttask=lambda k, r, d, s, w: seen.append((k, r))):
        with Recorder() as two:
            sync.get(GRAPH, "c", fuse=False)
    assert one.names() == two.names() == EXPECTED
    assert seen == [("b", 2), ("c", 12)]


def test_register_unregister():
    rec = Recorder()
    rec.register()
    try:
        sync.get(GRAPH, "c", fuse=False)
        threads.get(GRAPH, "c", fuse=False)
    finally:
        rec.unregister()
    assert rec.names() == EXPECTED * 2
    sync.get(GRAPH, "c", fuse=False)
    assert len(rec.calls) == 2 * len(EXPECTED)
    assert not Callback.active


def test_nothing_called_after_the_block():
    with Recorder() as rec:
        sync.get(GRAPH, "c", fuse=False)
    n = len(rec.calls)
    sync.get(GRAPH, "c")
    threads.get(GRAPH, "c")
    assert len(rec.calls) == n and not Callback.active


def test_nothing_called_after_finish_of_a_failed_threads_compute():
    release = threading.Event()

    def slow(x):
        release.wait(5)
        return x

    graph = {"s": (slow, 1), "f": (_fail, 2), "out": (add, "s", "f")}
    with Recorder() as rec, pytest.raises(ValueError):
        threads.get(graph, "out", num_workers=2, fuse=False)
    assert rec.calls[-1] == ("finish", True)
    n = len(rec.calls)
    release.set()  # the slow task ends now, after the compute failed
    time.sleep(0.2)
    assert len(rec.calls) == n


def test_callbacks_keyword_and_collections():
    rec = Recorder()
    assert sync.get(GRAPH, "c", fuse=False, callbacks=[rec]) == 12
    assert rec.names() == EXPECTED and not Callback.active
    total = shoal.delayed(add)(shoal.delayed(add)(1, 2), 3)
    with Recorder() as rec2:
        assert total.compute(scheduler="threads") == 6
    assert rec2.calls[0][0] == "start" and rec2.calls[-1] == ("finish", False)
    assert [c[2] for c in rec2.calls if c[0] == "post"][-1] == 6


def test_diagnostics_exports_callback():
    from shoal.diagnostics import Callback as diag_callback

    assert diag_callback is Callback


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_a_compute_inside_a_hook_or_task_skips_the_active_callbacks(scheduler):
    # as Dask (which empties Callback.active while a compute runs): a hook that
    # computes must not call itself again without end, nor a task's compute _start
    starts, pres, inner = [], [], []

    def pretask(key, dsk, state):
        pres.append(key)
        assert shoal.delayed(add)(1, 1).compute(scheduler=scheduler) == 2

    def task(i):
        extra = Callback(pretask=lambda k, d, s: inner.append(k))  # (callbacks= still called)
        return shoal.delayed(add)(i, 1).compute(scheduler=scheduler, callbacks=[extra])

    xs = [shoal.delayed(task)(i) for i in range(3)]
    with Callback(start=lambda dsk: starts.append(1), pretask=pretask):
        assert shoal.compute(*xs, scheduler=scheduler) == (1, 2, 3)
    assert len(starts) == 1 and len(pres) == 3 and len(inner) == 3
