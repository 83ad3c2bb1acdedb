"""Client parts that need no cluster: key naming, run_spec pickling, future states, errors."""

from __future__ import annotations

import asyncio
import functools
import operator
import pickle

import cloudpickle
import pytest

from shoal.core.keys import key_split
from shoal.core.spec import Data, Ref, Task
from shoal.distributed.client.futures import FutureCancelledError, FutureState, unpack_error
from shoal.distributed.client.graphs import (
    call_tasks, prepare_graph, replace_futures, update_graph_msg,
)  # fmt: skip
from shoal.distributed.client.table import KeyTable
from shoal.distributed.client.naming import call_key, funcname, map_keys, scatter_key
from shoal.distributed.client.serialize import _FUNCS, dumps_payload, dumps_task
from shoal.distributed.protocol import deserialize, dumps, loads
from shoal.local.remote_errors import RemoteTaskError, pack_exception
from shoal.testing.aio import run


def inc(x):
    return x + 1


class Adder:
    def __call__(self, x):
        return x


# --- key naming -------------------------------------------------------------------------


def test_funcname():
    assert funcname(inc) == "inc"
    assert funcname(lambda x: x) == "lambda"
    assert funcname(functools.partial(functools.partial(inc), 1)) == "inc"
    assert funcname(Adder()) == "Adder"
    assert funcname(operator.methodcaller("upper")) == "methodcaller-upper"
    assert funcname(len) == "len"


def test_pure_keys_are_deterministic_and_named_after_the_function():
    k1 = call_key(inc, (1,), {})
    assert k1 == call_key(inc, (1,), {}) and k1 != call_key(inc, (2,), {})
    assert k1 != call_key(inc, (1,), {"y": 2})
    assert key_split(k1) == "inc"


def test_impure_keys_are_unique():
    keys = {call_key(inc, (1,), {}, pure=False) for _ in range(100)}
    assert len(keys) == 100 and {key_split(k) for k in keys} == {"inc"}


def test_map_keys():
    calls = [(1,), (2,), (1,)]
    keys = map_keys(inc, calls, {})
    assert keys[0] == keys[2] != keys[1] and key_split(keys[0]) == "inc"
    assert map_keys(inc, calls, {}) == keys
    assert map_keys(inc, calls, {"k": 1}) != keys
    assert all(k.startswith("step-") for k in map_keys(inc, calls, {}, key="step"))
    assert map_keys(inc, calls, {}, key=["a", "b", "c"]) == ["a", "b", "c"]
    impure = map_keys(inc, calls, {}, pure=False)
    assert len(set(impure)) == 3
    with pytest.raises(ValueError, match="2 keys for 3 calls"):
        map_keys(inc, calls, {}, key=["a", "b"])


def test_scatter_keys():
    assert scatter_key(42) == scatter_key(42) != scatter_key(43)
    assert key_split(scatter_key([1, 2])) == "list"
    assert scatter_key(42, hash=False) != scatter_key(42, hash=False)


# --- run_spec pickling ------------------------------------------------------------------------


def roundtrip(ser):
    """Through the wire format, as a worker receives it."""
    frames = dumps({"spec": ser})
    return deserialize(loads(frames)["spec"])


def test_importable_tasks_use_plain_pickle():
    task = Task("k", operator.add, Ref("x"), 1)
    ser = dumps_task(task)
    assert ser.frames[0] == pickle.dumps(task, protocol=5)
    assert roundtrip(ser)({"x": 41}) == 42


def test_main_functions_travel_by_value_once(monkeypatch):
    namespace = {"__name__": "__main__"}
    exec("def double(x):\n    return 2 * x\n", namespace)
    double = namespace["double"]
    double.__module__ = "__main__"
    tasks = [Task(("d", i), double, i) for i in range(3)]
    sers = [dumps_task(t) for t in tasks]
    _FUNCS.clear()
    out = [roundtrip(s) for s in sers]
    assert [t() for t in out] == [0, 2, 4]
    assert out[0].func is out[1].func, "one blob, unpickled once"
    assert len(_FUNCS) == 1


def test_lambdas_and_closures():
    offset = 10
    task = Task("k", lambda x: x + offset, 1)
    assert roundtrip(dumps_task(task))() == 11


def test_main_objects_in_arguments_fall_back_to_cloudpickle():
    namespace = {"__name__": "__main__"}
    exec("class Point:\n    def __init__(self, x):\n        self.x = x\n", namespace)
    point = namespace["Point"](3)
    type(point).__module__ = "__main__"
    ser = dumps_task(Task("k", operator.attrgetter("x"), point))
    assert b"__main__" in ser.frames[0]  # by value (cloudpickle), not a dangling reference
    assert cloudpickle.loads(ser.frames[0])() == 3


def test_large_buffers_travel_out_of_band():
    np = pytest.importorskip("numpy")
    x = np.arange(100_000)
    ser = dumps_payload(x)
    assert len(ser.frames) == 2 and ser.frames[1].nbytes == x.nbytes
    assert (roundtrip(ser) == x).all()


def test_foreign_and_data_nodes():
    assert roundtrip(dumps_task(Data("d", {"a": [1, 2]})))() == {"a": [1, 2]}
    assert roundtrip(dumps_payload({"x": (1, 2)})) == {"x": (1, 2)}


# --- future states --------------------------------------------------------------------------


def test_state_waiters_and_wait():
    async def main():
        state = FutureState("k")
        seen = []
        state.add_waiter(lambda s: seen.append(s.status))
        waiter = asyncio.ensure_future(state.wait())
        await asyncio.sleep(0)
        assert not waiter.done() and not state.done()
        state.finish("int")
        await asyncio.wait_for(waiter, 1)
        assert seen == ["finished"] and state.done() and state.type == "int"
        state.lose()
        assert not state.done() and state.status == "lost"
        later = []
        state.add_waiter(lambda s: later.append(s.status))
        assert later == []
        state.set_error(ValueError("x"), "tb")
        assert later == ["error"] and seen == ["finished", "error"]
        state.reset()
        assert state.status == "pending" and state.exception is None

    run(main())


def test_no_event_is_made_until_someone_waits():
    state = FutureState("k")
    state.finish()
    assert state._event is None


def test_cancel_names_the_key():
    state = FutureState(("x", 1))
    state.cancel("because")
    assert isinstance(state.exception, FutureCancelledError)
    assert "('x', 1)" in str(state.exception) and "because" in str(state.exception)


# --- errors from workers -----------------------------------------------------------------------


def fail():
    raise ZeroDivisionError("deep")  # the failing line


def packed_error():
    try:
        fail()
    except ZeroDivisionError as exc:
        return pack_exception(exc, "run")


def test_unpack_error_keeps_type_message_traceback_and_key():
    exc, text = unpack_error(dumps_payload(packed_error()), None, ("x", 1))
    assert type(exc) is ZeroDivisionError and str(exc) == "deep"
    assert "the failing line" in text and "the failing line" in str(exc.__cause__)
    assert any("('x', 1)" in n for n in exc.__notes__)


def test_unpack_error_keeps_an_existing_note():
    exc = ZeroDivisionError("deep")
    exc.add_note("shoal: raised by the task computing key inner")
    packed = pack_exception(exc, "run")
    out, _ = unpack_error(packed, None, "outer")
    assert out.__notes__ == ["shoal: raised by the task computing key inner"]


def test_unpack_error_when_the_exception_cannot_travel():
    blob, type_name, message, tb, stage = packed_error()
    out, _ = unpack_error((b"not a pickle", "Weird", "odd", tb, stage), None, "k")
    assert type(out) is RemoteTaskError and "Weird" in str(out) and "odd" in str(out)


def test_unpack_error_of_scheduler_made_exceptions():
    from shoal.distributed.scheduler.messages import KilledWorker

    out, text = unpack_error(dumps_payload(KilledWorker("k", "tcp://w:1", 3)), None, "k")
    assert type(out) is KilledWorker and text is None


# --- futures inside arguments --------------------------------------------------------------


def test_replace_futures_returns_the_same_object_when_there_is_none():
    args = (1, [2, {"a": "b"}], "x")
    found: dict = {}
    assert replace_futures(args, found) is args and found == {}


def test_call_tasks():
    tasks, deps, prio, found = call_tasks(operator.add, ["a", "b", "a"], [(1, 2), (3, 4), (1, 2)],
                                          {})  # fmt: skip
    assert list(tasks) == ["a", "b"] and prio == {"a": 0, "b": 1}
    assert deps == {} and found == {}
    assert tasks["b"]() == 7


def test_update_graph_msg_options():
    tasks = {"a": Task("a", inc, 1), "b": Task("b", inc, Ref("a"))}
    msg = update_graph_msg("c1", tasks, {"b": ["a"]}, ["b"], {"a": 0, "b": 1},
                           workers="tcp://w:1", allow_other_workers=True, resources={"GPU": 1},
                           retries=2, user_priority=5)  # fmt: skip
    assert msg["op"] == "update-graph" and msg["client"] == "c1" and msg["keys"] == ["b"]
    assert msg["restrictions"] == {"a": ["tcp://w:1"], "b": ["tcp://w:1"]}
    assert msg["loose_restrictions"] == ["a", "b"]
    assert msg["resources"] == {"a": {"GPU": 1}, "b": {"GPU": 1}}
    assert msg["retries"] == {"a": 2, "b": 2} and msg["user_priority"] == 5
    assert roundtrip(msg["tasks"]["b"])({"a": 1}) == 2
    bare = update_graph_msg("c1", tasks, {}, ["a"], {})
    assert set(bare) == {"op", "tasks", "dependencies", "keys", "client"}


def test_prepare_graph_checks_orders_and_fuses():
    g = {"a": 1, "b": (inc, "a"), "c": (inc, "b"), "unused": (inc, "a")}
    p = prepare_graph(g, ["c"], held={}, fuse=True)
    assert list(p.tasks) == ["c"] and p.dependencies == {} and p.futures == {}
    assert p.tasks["c"]({}) == 3
    p = prepare_graph(g, ["c"], held={}, fuse=False)
    assert set(p.tasks) == {"a", "b", "c"} and p.dependencies == {"b": ["a"], "c": ["b"]}
    assert p.priority["a"] < p.priority["b"] < p.priority["c"]
    p = prepare_graph({"x": Task("x", inc, Ref("held"))}, ["x"], held={"held": None}, fuse=True)
    assert list(p.tasks) == ["x"] and p.dependencies == {"x": ["held"]}
    p = prepare_graph({"x": Task("x", inc, Ref("m"))}, ["x"], held={}, cache={"m": 1})
    assert p.tasks["x"]({}) == 2


# --- the key table --------------------------------------------------------------------------


def test_key_table_counts_references():
    table = KeyTable()
    s1, created = table.ref("k")
    s2, again = table.ref("k")
    assert s1 is s2 and created and not again and s1.refs == 2
    assert not table.unref("k", s1)
    assert table.unref("k", s1) and "k" not in table.states
    assert table.take_releases() == ["k"] and table.take_releases() == []


def test_a_key_used_again_keeps_its_result_unless_it_failed():
    table = KeyTable()
    ok, _ = table.ref("ok")
    ok.finish("int")
    bad, _ = table.ref("bad")
    bad.set_error(ValueError("x"))
    table.unref("ok", ok)
    table.unref("bad", bad)
    table.ref("ok")
    table.ref("bad")  # both used again before the releases went out
    assert table.take_releases() == ["bad"]


def test_key_table_ignores_states_it_dropped():
    table = KeyTable()
    old, _ = table.ref("k")
    [dropped] = table.pop(["k"])
    assert dropped is old
    new, created = table.ref("k")
    assert created and new is not old
    assert not table.unref("k", old), "the old Future dying must not release the new one"
    assert table.states["k"] is new and table.take_releases() == []


def test_key_table_applies_reports():
    table = KeyTable()
    states, created = table.new_states(["a", "b", "c", "a"])
    assert created == ["a", "b", "c"] and states["a"].refs == 1
    table.apply("key-in-memory", {"op": "key-in-memory", "key": "a", "type": "int"})
    table.apply("task-erred", {"key": "b", "exception": dumps_payload(packed_error()),
                               "traceback": None})  # fmt: skip
    table.apply("cancelled-keys", {"keys": ["c", "unknown"], "reason": "why"})
    assert [states[k].status for k in "abc"] == ["finished", "error", "cancelled"]
    assert type(states["b"].exception) is ZeroDivisionError
    table.apply("lost-data", {"key": "a"})
    assert states["a"].status == "lost"
    table.apply("task-retried", {"key": "b"})
    assert states["b"].status == "pending"
    table.apply("something-new", {})  # ignored
    table.cancel_pending("gone")
    assert states["a"].status == "cancelled" and "gone" in str(states["a"].exception)


def test_the_clients_html_lists_workers_by_name_in_number_order():
    """A LocalCluster's workers are named 0, 1, ... 10 on random ports: the repr's table
    lists them by name (numbers by value), not by address."""
    from shoal.distributed.client.display import _by_name

    workers = {f"tcp://127.0.0.1:{port}": {"name": name} for port, name in (
        (4003, 0), (4001, 10), (4002, 2), (4000, "gpu"), (4004, "1"), (4005, None))}  # fmt: skip
    ordered = [w["name"] for _, w in sorted(workers.items(), key=_by_name)]
    assert ordered == [0, "1", 2, 10, None, "gpu"]


def test_a_future_unpickled_where_no_client_runs_says_why_without_noise():
    """A Future inside data that reaches a process with no Client (a Dask-optimized graph
    fusing a persisted collection's Futures in): one clear error, and no "Exception
    ignored in __del__" of the Future that failed to build."""
    import subprocess
    import sys

    code = ("import pickle\n"
            "from shoal.distributed.client.futures import _future_in_this_process\n"
            "try:\n"
            "    _future_in_this_process(('x', 1))\n"
            "except ValueError as e:\n"
            "    print('ERROR:', e)\n"
            "import gc; gc.collect()\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ERROR: a Future of \"('x', 1)\" was unpickled in a process with no running Client" \
        in done.stdout and "client.compute(...)" in done.stdout  # fmt: skip
    assert "Exception ignored" not in done.stderr and "_released" not in done.stderr, done.stderr
