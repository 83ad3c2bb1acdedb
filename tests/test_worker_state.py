"""The pure worker state machine: events in, instructions out.

No event loop, threads or sockets: each test feeds events to a ``WorkerState``
and compares the instructions with partial matchers (``I(Cls, field=value)``).
The ``ws`` fixture validates the state after every ``handle`` and at teardown.
"""

import ast
import pathlib
import random

import pytest

from shoal.core.machine import read_cgroup_memory_limit
from shoal.distributed.worker import InvalidTransition, WorkerState, WorkerTask
from shoal.distributed.worker import memory as mem
from shoal.distributed.worker.messages import (
    AcquireReplicas, AddKeysMsg, ComputeTask, Execute, ExecuteFailure, ExecuteReschedule,
    ExecuteSuccess, FindMissing, FreeKeys, GatherDep, GatherDepBusy, GatherDepFailure,
    GatherDepNetworkFailure, GatherDepSuccess, MissingDataMsg, Pause, RefreshWhoHas,
    ReleaseWorkerDataMsg, RemoveReplicas, RequestWhoHas, RescheduleMsg, RetryBusyWorker,
    RetryBusyWorkerLater, Secede, LongRunningMsg, StealRequest, WorkerStatusMsg, StealResponseMsg, TaskErredMsg, TaskFinishedMsg,
    Unpause, UpdateData,
)  # fmt: skip
from shoal.distributed.worker.transitions import TRANSITIONS, transition

A, B, C = "tcp://a:1", "tcp://b:1", "tcp://c:1"


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        self.t += 0.001
        return self.t


class I:
    """Partial matcher: equal to an instruction of class ``cls`` whose listed fields match."""

    def __init__(self, cls, **fields):
        self.cls, self.fields = cls, fields

    def __eq__(self, other):
        fields = self.fields.items()
        return type(other) is self.cls and all(getattr(other, k) == v for k, v in fields)

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"I({self.cls.__name__}, {inner})"


def make_ws(**kwargs):
    kwargs.setdefault("address", "tcp://me:1")
    return WorkerState(validate=True, clock=FakeClock(), **kwargs)


@pytest.fixture
def ws():
    state = make_ws()
    yield state
    state.validate_state()


def compute(key, deps=None, *, priority=(0,), run_id=1, nbytes=None, resources=None, sid=None,
            duration=None):  # fmt: skip
    """compute-task for ``key``; ``deps`` maps dependency -> holders."""
    deps = deps or {}
    return ComputeTask(
        key=key, run_id=run_id, priority=priority, who_has=deps, duration=duration,
        nbytes=nbytes or {d: 100 for d in deps}, resource_restrictions=resources or {},
        stimulus_id=sid or f"compute-{key}",
    )  # fmt: skip


def success(key, value=None, nbytes=8, run_id=1):
    return ExecuteSuccess(
        key=key, run_id=run_id, value=value if value is not None else f"<{key}>",
        value_nbytes=nbytes, type="str", start=1.0, stop=2.0, thread=7, stimulus_id=f"done-{key}",
    )  # fmt: skip


def failure(key, run_id=1):
    return ExecuteFailure(
        key=key, run_id=run_id, exception="ZeroDivisionError()", traceback="tb",
        exception_text="ZeroDivisionError: division by zero", traceback_text="...",
        start=1.0, stop=2.0, stimulus_id=f"fail-{key}",
    )  # fmt: skip


def fetched(worker, **nbytes):
    return GatherDepSuccess(
        worker=worker, data={k: f"<{k}>" for k in nbytes}, data_nbytes=nbytes,
        total_nbytes=sum(nbytes.values()), stimulus_id=f"got-{worker}",
    )  # fmt: skip


def states(ws):
    return {k: ts.state for k, ts in ws.tasks.items()}


# --------------------------------------------------------------------------
# Computing
# --------------------------------------------------------------------------


def test_compute_without_dependencies(ws):
    assert ws.handle(compute("x")) == [I(Execute, key="x", run_id=1, stimulus_id="compute-x")]
    assert ws.tasks["x"].state == "executing"
    assert ws.handle(success("x", value=42, nbytes=28)) == [
        I(TaskFinishedMsg, key="x", run_id=1, nbytes=28, type="str", thread=7, stimulus_id="done-x")
    ]
    assert ws.data == {"x": 42} and ws.nbytes_in_memory == 28
    msg = ws.handle(compute("x", run_id=2))[0].to_msg()  # asked again: answer again
    assert msg["op"] == "task-finished" and msg["run_id"] == 2
    assert msg["startstops"] == [{"action": "compute", "start": 1.0, "stop": 2.0}]


def test_failure_goes_to_error(ws):
    ws.handle(compute("x"))
    [msg] = ws.handle(failure("x"))
    assert msg == I(TaskErredMsg, key="x", exception_text="ZeroDivisionError: division by zero")
    assert msg.to_msg()["op"] == "task-erred" and msg.traceback == "tb"
    assert ws.tasks["x"].state == "error" and "x" not in ws.data
    # the scheduler retries: the key is computed again
    assert ws.handle(compute("x", run_id=2)) == [I(Execute, key="x", run_id=2)]


def test_nthreads_bounds_execution_and_priority_orders_it():
    ws = make_ws(nthreads=2)
    assert ws.handle(compute("a", priority=(5,)), compute("b", priority=(5,))) == [
        I(Execute, key="a"), I(Execute, key="b"),
    ]  # fmt: skip
    assert ws.handle(*(compute(k, priority=(p,)) for k, p in [("c", 3), ("d", 1), ("e", 2)])) == []
    assert ws.handle(success("a")) == [I(TaskFinishedMsg, key="a"), I(Execute, key="d")]
    assert ws.handle(success("b")) == [I(TaskFinishedMsg, key="b"), I(Execute, key="e")]
    assert ws.handle(success("d")) == [I(TaskFinishedMsg, key="d"), I(Execute, key="c")]
    ws.validate_state()


def test_short_tasks_queue_behind_busy_threads_within_bounds():
    from shoal.distributed.worker.state import QUEUED_PER_THREAD, QUEUED_WORK, SHORT_TASK

    ws = make_ws(nthreads=1)
    tiny = SHORT_TASK / 100
    out = ws.handle(*(compute(f"t{i}", priority=(i,), duration=tiny) for i in range(40)))
    # one running, QUEUED_PER_THREAD queued for the thread, in priority order
    assert out == [I(Execute, key=f"t{i}") for i in range(1 + QUEUED_PER_THREAD)]
    assert len(ws.executing) == 1 + QUEUED_PER_THREAD and len(ws.ready) == 40 - len(out)
    # each result frees one place: the next task in priority order takes it
    assert ws.handle(success("t0")) == [I(TaskFinishedMsg, key="t0"),
                                        I(Execute, key=f"t{1 + QUEUED_PER_THREAD}")]  # fmt: skip
    # the queued work is bounded too: tasks near SHORT_TASK fill QUEUED_WORK sooner
    ws2 = make_ws(nthreads=2)
    out = ws2.handle(*(compute(f"s{i}", duration=SHORT_TASK) for i in range(10)))
    assert len(out) == int(QUEUED_WORK * 2 / SHORT_TASK) == 5


def test_only_short_known_unconstrained_tasks_queue_behind_busy_threads():
    from shoal.distributed.worker.state import SHORT_TASK

    ws = make_ws(nthreads=1, resources={"GPU": 4})
    assert ws.handle(compute("unknown", priority=(0,))) == [I(Execute, key="unknown")]
    assert ws.handle(compute("short", priority=(1,), duration=SHORT_TASK / 10)) == []  # behind a task of unknown length
    assert ws.handle(success("unknown"))[1:] == [I(Execute, key="short")]
    assert ws.handle(compute("long", priority=(2,), duration=SHORT_TASK * 10)) == []
    assert ws.handle(compute("gpu", priority=(3,), duration=SHORT_TASK / 10, resources={"GPU": 1})) == []
    assert ws.handle(compute("short2", priority=(4,), duration=SHORT_TASK / 10)) == []  # "long" is next
    assert [i.key for i in ws.handle(success("short"))[1:]] == ["long"]
    # a short task may queue behind a short constrained one (its resources are held)
    assert [i.key for i in ws.handle(success("long"))[1:]] == ["gpu", "short2"]
    ws.validate_state()


def test_reschedule(ws):
    ws.handle(compute("x"))
    assert ws.handle(ExecuteReschedule(key="x", stimulus_id="r")) == [I(RescheduleMsg, key="x")]
    assert "x" not in ws.tasks


def test_data_mapping_that_refuses_a_value_errs_the_task():
    class Refusing(dict):
        def __setitem__(self, key, value):
            raise TypeError("cannot pickle 'lock'")

    ws = make_ws(data=Refusing())
    ws.handle(compute("x"))
    [msg] = ws.handle(success("x"))
    assert msg == I(TaskErredMsg, key="x")
    assert "could not store 'x'" in msg.exception_text and "cannot pickle" in msg.exception_text
    assert ws.tasks["x"].state == "error"
    assert ws.handle(compute("y")) == [I(Execute, key="y")]  # the worker carries on
    ws.validate_state()


# --------------------------------------------------------------------------
# Dependencies from peers
# --------------------------------------------------------------------------


def test_fetch_dependency_then_compute(ws):
    instr = ws.handle(compute("y", {"x": [A]}))
    assert instr == [I(GatherDep, worker=A, keys=["x"], total_nbytes=100)]
    assert states(ws) == {"x": "flight", "y": "waiting"}
    assert ws.transfer_incoming_bytes == 100
    assert ws.handle(fetched(A, x=90)) == [I(AddKeysMsg, keys=["x"]), I(Execute, key="y")]
    assert ws.data == {"x": "<x>"} and ws.transfer_incoming_bytes == 0
    ws.handle(success("y"))
    assert ws.handle(FreeKeys(keys=["y"], stimulus_id="f")) == [I(ReleaseWorkerDataMsg, key="y")]
    assert states(ws) == {"x": "memory"}  # the replica stays until the scheduler drops it


def test_dependency_already_in_memory():
    ws = make_ws()
    ws.handle(compute("x"), success("x"))
    assert ws.handle(compute("y", {"x": [A]})) == [I(Execute, key="y")]
    ws.validate_state()


def test_batches_by_peer_within_message_limit():
    ws = make_ws(transfer_message_bytes_limit=100)
    deps = {"a": [A], "b": [A], "c": [A], "d": [B]}
    ev = compute("z", deps, nbytes={"a": 40, "b": 40, "c": 40, "d": 40})
    instr = ws.handle(ev)
    gathers = {i.worker: i for i in instr}
    assert set(gathers) == {A, B}
    assert len(gathers[A].keys) == 2 and gathers[A].total_nbytes == 80
    assert gathers[B].keys == ["d"]
    got = dict.fromkeys(gathers[A].keys, 40)
    [(left,)] = [{"a", "b", "c"} - set(got)]
    instr = ws.handle(fetched(A, **got))
    assert instr == [I(AddKeysMsg), I(AddKeysMsg), I(GatherDep, worker=A, keys=[left])]
    assert ws.handle(fetched(B, d=40)) == [I(AddKeysMsg, keys=["d"])]
    assert ws.handle(fetched(A, **{left: 40})) == [I(AddKeysMsg, keys=[left]), I(Execute, key="z")]
    ws.validate_state()


def test_batch_takes_most_urgent_keys_first():
    ws = make_ws(transfer_message_bytes_limit=100)
    ws.handle(compute("low", {"l": [A]}, priority=(9,), nbytes={"l": 60}))  # in flight
    ws.handle(compute("p2", {"k2": [A]}, priority=(2,), nbytes={"k2": 60}))
    ws.handle(compute("p1", {"k1": [A]}, priority=(1,), nbytes={"k1": 60}))
    instr = ws.handle(fetched(A, l=60))
    assert instr == [I(AddKeysMsg), I(GatherDep, keys=["k1"]), I(Execute, key="low")]
    ws.validate_state()


def test_one_big_key_still_goes():
    ws = make_ws(transfer_message_bytes_limit=10, transfer_max_bytes=10)
    assert ws.handle(compute("y", {"x": [A]}, nbytes={"x": 10_000})) == [I(GatherDep, keys=["x"])]
    ws.validate_state()


def test_connection_limit():
    ws = make_ws(outgoing_connections=1)
    assert ws.handle(compute("y", {"a": [A], "b": [B]})) == [I(GatherDep, worker=A, keys=["a"])]
    assert ws.handle(fetched(A, a=1)) == [I(AddKeysMsg), I(GatherDep, worker=B, keys=["b"])]
    ws.validate_state()


def test_in_flight_byte_budget():
    ws = make_ws(transfer_max_bytes=100)
    instr = ws.handle(compute("y", {"a": [A], "b": [B]}, nbytes={"a": 120, "b": 10}))
    assert instr == [I(GatherDep, worker=A, keys=["a"])]
    assert ws.handle(fetched(A, a=120)) == [I(AddKeysMsg), I(GatherDep, worker=B)]
    ws.validate_state()


def test_peer_gone_try_another_holder(ws):
    assert ws.handle(compute("y", {"x": [A, B], "w": [A]})) == [I(GatherDep, worker=A)]
    instr = ws.handle(GatherDepNetworkFailure(worker=A, stimulus_id="down"))
    assert instr == [I(GatherDep, worker=B, keys=["x"])]
    assert ws.tasks["w"].state == "missing" and A not in ws.has_what
    assert ws.handle(FindMissing(stimulus_id="tick")) == [I(RequestWhoHas, keys=["w"])]
    instr = ws.handle(RefreshWhoHas(who_has={"w": [C]}, stimulus_id="who"))
    assert instr == [I(GatherDep, worker=C)]


def test_peer_without_the_key(ws):
    ws.handle(compute("y", {"x": [A, B]}))
    instr = ws.handle(fetched(A))  # answered, but without x
    assert instr == [
        I(MissingDataMsg, key="x", errant_worker=A), I(GatherDep, worker=B, keys=["x"]),
    ]  # fmt: skip
    instr = ws.handle(fetched(B))
    assert instr == [I(MissingDataMsg, key="x", errant_worker=B)]
    assert ws.tasks["x"].state == "missing"
    assert ws.handle(FindMissing(stimulus_id="tick")) == [I(RequestWhoHas, keys=["x"])]
    assert ws.handle(FindMissing(stimulus_id="tick")) != []  # asks until someone answers


def test_busy_peer_is_retried_later(ws):
    ws.handle(compute("y", {"x": [A]}))
    instr = ws.handle(GatherDepBusy(worker=A, stimulus_id="busy"))
    assert instr == [I(RetryBusyWorkerLater, worker=A)]
    assert ws.tasks["x"].state == "fetch"
    assert ws.handle(RetryBusyWorker(worker=A, stimulus_id="retry")) == [I(GatherDep, worker=A)]


def test_busy_peer_is_skipped_for_another_holder(ws):
    ws.handle(compute("y", {"x": [A, B]}))
    instr = ws.handle(GatherDepBusy(worker=A, stimulus_id="busy"))
    assert instr == [I(RetryBusyWorkerLater, worker=A), I(GatherDep, worker=B)]


def test_one_input_of_a_transfer_that_cannot_move_spoils_only_the_tasks_that_need_it(ws):
    """Inputs from one peer travel together: a failure for one of them failed them all,
    and the tasks that needed only the others erred, blaming an input they never used."""
    ws.handle(compute("y", {"x1": [A], "x2": [A]}), compute("z", {"x2": [A]}, sid="z"))
    packed = (None, "RuntimeError", "failed to pickle x1", "tb", "pickle-result")
    ev = GatherDepSuccess(worker=A, data={"x2": 2}, data_nbytes={"x2": 28},
                          errors={"x1": packed}, stimulus_id="some")  # fmt: skip
    instr = ws.handle(ev)
    assert [i.key for i in instr if isinstance(i, TaskErredMsg)] == ["y"]
    [erred] = [i for i in instr if isinstance(i, TaskErredMsg)]
    assert erred.exception == packed
    assert erred.exception_text == "its input x1 could not be fetched: RuntimeError: failed to pickle x1"
    assert states(ws)["x2"] == "memory" and states(ws)["z"] != "error"
    assert states(ws)["y"] == "error" and states(ws)["x1"] == "released"
    # the story keeps it: the event that erred x1, rebuilt from the log with its errors
    [told] = [e for e in ws.stimulus_story("x1") if isinstance(e, GatherDepSuccess)]
    assert told.errors == {"x1": packed}


def test_an_input_that_arrives_unusable_errs_the_tasks_waiting_for_it(ws):
    """The input itself was reported erred, which the scheduler (holding it in memory
    elsewhere) dropped as stale, and the task waiting for it waited for good."""
    ws.handle(compute("y", {"x": [A]}), compute("z", {"x": [A]}, sid="z"))
    ev = GatherDepFailure(
        worker=A, exception="E", exception_text="cannot unpickle", stimulus_id="bad"
    )
    text = "its input x could not be fetched: cannot unpickle"
    instr = ws.handle(ev)
    assert sorted(instr, key=lambda i: i.key) == [
        I(TaskErredMsg, key="y", exception="E", exception_text=text),
        I(TaskErredMsg, key="z", exception="E", exception_text=text)]  # fmt: skip
    assert states(ws) == {"x": "released", "y": "error", "z": "error"}
    ws.handle(FreeKeys(keys=["y", "z"], stimulus_id="free"))  # the scheduler lets them go
    assert states(ws) == {}  # (and the input with them)


def test_missing_dependency_reported_by_compute(ws):
    assert ws.handle(compute("y", {"x": []})) == []
    assert ws.tasks["x"].state == "missing"
    instr = ws.handle(compute("y", {"x": [B]}, sid="again"))
    assert instr == [I(GatherDep, worker=B, stimulus_id="again")]


def test_stale_gather_result_is_ignored(ws):
    assert ws.handle(fetched(C, x=1)) == []
    assert ws.story(C) == [(C, "gather-dep-success", [], "got-" + C, pytest.approx(1000, abs=1))]


# --------------------------------------------------------------------------
# Releasing, cancelling, resuming
# --------------------------------------------------------------------------


def test_free_keys_forgets_waiting_task_and_its_fetches():
    ws = make_ws(outgoing_connections=1)
    assert ws.handle(compute("y", {"x": [A], "w": [B]})) == [I(GatherDep, worker=A, keys=["x"])]
    ws.handle(FreeKeys(keys=["y"], stimulus_id="free"))
    # w was only queued: gone; x is in flight: cancelled until its transfer lands
    assert states(ws) == {"x": "cancelled"} and not ws.data_needed
    assert ws.handle(fetched(A, x=1)) == []
    assert ws.tasks == {} and ws.data == {} and ws.transfer_incoming_bytes == 0
    ws.validate_state()


def secede(key, seconds=0.5):
    return Secede(key=key, run_id=1, compute_duration=seconds, stimulus_id=f"secede-{key}")


def test_a_seceded_task_frees_its_thread_and_is_reported_long_running():
    ws = make_ws(nthreads=1)
    ws.handle(compute("x"), compute("y"), compute("z"))
    assert [ts.key for ts in ws.executing] == ["x"]
    # x waits on other tasks: its slot goes to the next task
    assert ws.handle(secede("x", 0.25)) == [
        I(LongRunningMsg, key="x", run_id=1, compute_duration=0.25), I(Execute, key="y"),
    ]  # fmt: skip
    assert ws.long_running == {ws.tasks["x"]} and ws.executing == {ws.tasks["y"]}
    assert ws.handle(secede("x")) == []  # (once)
    assert ws.handle(success("y")) == [I(TaskFinishedMsg, key="y"), I(Execute, key="z")]
    assert ws.handle(success("x", value=3)) == [I(TaskFinishedMsg, key="x")]
    assert not ws.long_running and ws.data["x"] == 3
    assert ("x", "secede", "executing", "secede-x") in [e[:4] for e in ws.story("x")]
    ws.validate_state()


def test_a_secede_after_the_result_or_for_a_task_not_running_is_ignored(ws):
    ws.handle(compute("x"), success("x"))
    assert ws.handle(secede("x"), secede("never")) == []
    assert not ws.long_running and ws.tasks["x"].state == "memory"


def test_a_seceded_task_freed_meanwhile_is_dropped_without_a_report():
    ws = make_ws(nthreads=1)
    ws.handle(compute("x"), secede("x"), FreeKeys(keys=["x"], stimulus_id="free"))
    assert ws.tasks["x"].state == "cancelled" and ws.long_running == {ws.tasks["x"]}
    ws.validate_state()
    assert ws.handle(compute("y")) == [I(Execute, key="y")]  # x holds no thread
    assert ws.handle(success("x")) == [] and "x" not in ws.tasks and not ws.long_running
    ws.validate_state()


def test_a_cancelled_task_that_secedes_tells_the_scheduler_nothing():
    ws = make_ws(nthreads=1)
    ws.handle(compute("x"), FreeKeys(keys=["x"], stimulus_id="free"))
    assert ws.handle(secede("x")) == [] and ws.long_running == {ws.tasks["x"]}
    ws.validate_state()
    # asked for again while the seceded run goes on: the new run is long-running too
    assert ws.handle(compute("x", run_id=2)) == [I(LongRunningMsg, key="x", run_id=2)]
    assert ws.tasks["x"].state == "executing" and ws.long_running == {ws.tasks["x"]}
    ws.validate_state()


def test_a_seceded_task_keeps_its_resources_until_it_ends():
    ws = make_ws(nthreads=2, resources={"GPU": 1})
    ws.handle(compute("x", resources={"GPU": 1}), compute("y", resources={"GPU": 1}))
    assert [ts.key for ts in ws.executing] == ["x"]
    assert ws.handle(secede("x"))[1:] == []  # the thread is free, the GPU is not
    ws.validate_state()
    assert ws.handle(success("x"))[1:] == [I(Execute, key="y")]
    ws.validate_state()


def test_cancelled_execution_result_is_dropped(ws):
    ws.handle(compute("x"))
    assert ws.handle(FreeKeys(keys=["x"], stimulus_id="free")) == []
    assert ws.tasks["x"].state == "cancelled" and len(ws.executing) == 1
    assert ws.handle(compute("z")) == []  # the thread is still busy
    assert ws.handle(success("x")) == [I(Execute, key="z")]
    assert "x" not in ws.tasks and "x" not in ws.data


def test_cancelled_execution_requested_again_finishes(ws):
    ws.handle(compute("x"), FreeKeys(keys=["x"], stimulus_id="free"))
    assert ws.handle(compute("x", run_id=2)) == []  # still running: no second Execute
    assert ws.tasks["x"].state == "executing"
    assert ws.handle(success("x")) == [I(TaskFinishedMsg, key="x", run_id=2)]


def test_cancelled_execution_failure_is_dropped(ws):
    ws.handle(compute("x"), FreeKeys(keys=["x"], stimulus_id="free"))
    assert ws.handle(failure("x")) == [] and ws.tasks == {}


def test_cancelled_transfer_dropped_then_needed_again(ws):
    ws.handle(compute("y", {"x": [A]}), FreeKeys(keys=["y"], stimulus_id="free"))
    assert states(ws) == {"x": "cancelled"}
    assert ws.handle(compute("y2", {"x": [A]})) == []  # the transfer is still running
    assert ws.tasks["x"].state == "flight"
    assert ws.handle(fetched(A, x=5)) == [I(AddKeysMsg, keys=["x"]), I(Execute, key="y2")]


def test_resumed_execution_becomes_a_replica(ws):
    ws.handle(compute("x"), FreeKeys(keys=["x"], stimulus_id="free"))
    # the scheduler recomputed x elsewhere; now y here needs it
    assert ws.handle(compute("y", {"x": [A]})) == []
    assert ws.tasks["x"].state == "resumed"
    assert ws.handle(success("x")) == [I(AddKeysMsg, keys=["x"]), I(Execute, key="y")]


def test_resumed_execution_failure_fetches_instead(ws):
    ws.handle(compute("x"), FreeKeys(keys=["x"], stimulus_id="free"), compute("y", {"x": [A]}))
    assert ws.handle(failure("x")) == [I(GatherDep, worker=A, keys=["x"])]
    assert ws.tasks["x"].state == "flight"


def test_resumed_transfer_finishes_the_task(ws):
    ws.handle(compute("y", {"x": [A]}), FreeKeys(keys=["y"], stimulus_id="free"))
    assert ws.handle(compute("x", run_id=3)) == []  # now asked to compute x itself
    assert ws.tasks["x"].state == "resumed"
    assert ws.handle(fetched(A, x=5)) == [I(TaskFinishedMsg, key="x", run_id=3, nbytes=5)]


def test_resumed_transfer_failure_computes_instead(ws):
    ws.handle(compute("y", {"x": [A]}), FreeKeys(keys=["y"], stimulus_id="free"), compute("x"))
    assert ws.handle(GatherDepNetworkFailure(worker=A, stimulus_id="down")) == [I(Execute, key="x")]


def test_resumed_then_freed_again_is_cancelled(ws):
    ws.handle(compute("x"), FreeKeys(keys=["x"], stimulus_id="f1"), compute("y", {"x": [A]}))
    ws.handle(FreeKeys(keys=["y"], stimulus_id="f2"))
    assert states(ws) == {"x": "cancelled"}
    assert ws.handle(success("x")) == [] and ws.tasks == {}


def test_memory_released_sends_release_worker_data(ws):
    ws.handle(compute("x"), success("x"))
    assert ws.handle(FreeKeys(keys=["x"], stimulus_id="free")) == [I(ReleaseWorkerDataMsg, key="x")]
    assert ws.tasks == {} and ws.data == {} and ws.nbytes_in_memory == 0


def test_freeing_unknown_keys_is_harmless(ws):
    assert ws.handle(FreeKeys(keys=["nope", ("x", 1)], stimulus_id="free")) == []


# --------------------------------------------------------------------------
# Stealing, replicas, scattered data
# --------------------------------------------------------------------------


def test_steal_ready_task():
    ws = make_ws(nthreads=1)
    ws.handle(compute("a"), compute("b"))
    assert ws.handle(StealRequest(key="b", stimulus_id="steal")) == [
        I(StealResponseMsg, key="b", state="released")
    ]
    assert "b" not in ws.tasks
    assert ws.handle(StealRequest(key="a", stimulus_id="steal")) == [
        I(StealResponseMsg, key="a", state="executing")
    ]
    assert ws.tasks["a"].state == "executing"
    assert ws.handle(StealRequest(key="zzz", stimulus_id="steal"))[0].to_msg() == {
        "op": "steal-response", "key": "zzz", "state": None, "stimulus_id": "steal",
    }  # fmt: skip
    ws.validate_state()


def test_steal_waiting_task_drops_its_fetches(ws):
    ws.handle(compute("y", {"x": [A], "w": [A]}, nbytes={"x": 10**9, "w": 10**9}))
    assert ws.handle(StealRequest(key="y", stimulus_id="s"))[0].state == "released"
    assert all(ts.state == "cancelled" for ts in ws.tasks.values())


def test_acquire_and_remove_replicas(ws):
    assert ws.handle(AcquireReplicas(who_has={"r": [A]}, nbytes={"r": 10}, stimulus_id="amm")) == [
        I(GatherDep, worker=A, keys=["r"])
    ]
    assert ws.handle(fetched(A, r=10)) == [I(AddKeysMsg, keys=["r"])]
    ws.handle(compute("y", {"r": [A]}))  # y, running, needs r
    assert ws.handle(RemoveReplicas(keys=["r"], stimulus_id="amm2")) == [I(AddKeysMsg, keys=["r"])]
    ws.handle(success("y"))
    ws.handle(FreeKeys(keys=["y"], stimulus_id="f"))
    instr = ws.handle(RemoveReplicas(keys=["r"], stimulus_id="amm3"))
    assert instr == [I(ReleaseWorkerDataMsg, key="r")]


def test_update_data_feeds_dependents(ws):
    ws.handle(compute("y", {"x": []}))
    instr = ws.handle(UpdateData(data={"x": 1}, data_nbytes={"x": 28}, stimulus_id="scatter"))
    assert instr == [I(AddKeysMsg, keys=["x"]), I(Execute, key="y")]
    assert ws.data == {"x": 1}
    ws.handle(UpdateData(data={"x": 2}, report=False, stimulus_id="again"))
    assert ws.data == {"x": 2} and ws.tasks["x"].nbytes > 0


# --------------------------------------------------------------------------
# Resources and pausing
# --------------------------------------------------------------------------


def test_resources_constrain_execution():
    ws = make_ws(nthreads=3, resources={"GPU": 1})
    instr = ws.handle(
        compute("g1", resources={"GPU": 1}, priority=(0,)),
        compute("g2", resources={"GPU": 1}, priority=(1,)),
        compute("cpu", priority=(2,)),
    )
    assert instr == [I(Execute, key="g1"), I(Execute, key="cpu")]
    assert ws.tasks["g2"].state == "constrained" and ws.available_resources == {"GPU": 0}
    assert ws.handle(success("g1")) == [I(TaskFinishedMsg, key="g1"), I(Execute, key="g2")]
    ws.handle(FreeKeys(keys=["g2"], stimulus_id="f"), success("g2"))
    assert ws.available_resources == {"GPU": 1}
    ws.validate_state()


def test_pause_stops_execution_and_unpause_resumes_and_the_scheduler_is_told(ws):
    assert ws.handle(Pause(stimulus_id="pause")) == [I(WorkerStatusMsg, status="paused")]
    assert ws.handle(Pause(stimulus_id="again")) == []  # (only changes are told)
    assert ws.handle(compute("x")) == []
    assert ws.tasks["x"].state == "ready"
    assert ws.handle(Unpause(stimulus_id="unpause")) == [
        I(WorkerStatusMsg, status="running"), I(Execute, key="x"),
    ]  # fmt: skip
    assert WorkerStatusMsg(status="paused", stimulus_id="s").to_msg() == {
        "op": "worker-status-change", "status": "paused", "stimulus_id": "s",
    }  # fmt: skip


def test_pause_lets_only_a_trickle_of_transfers():
    ws = make_ws(transfer_message_bytes_limit=10**6)
    ws.handle(Pause(stimulus_id="pause"))
    [gather] = ws.handle(compute("y", {"a": [A], "b": [A], "c": [B]}))
    assert len(gather.keys) == 1
    instr = ws.handle(fetched(gather.worker, **{gather.keys[0]: 1}))
    [again] = [i for i in instr if isinstance(i, GatherDep)]
    assert len(again.keys) == 1
    assert ws.handle(Unpause(stimulus_id="unpause"))  # the rest goes at full speed
    ws.validate_state()


# --------------------------------------------------------------------------
# Story, invariants, invalid transitions, messages
# --------------------------------------------------------------------------


def test_story(ws):
    ws.handle(compute("y", {"x": [A]}), fetched(A, x=1), success("y"))
    story = [(e[1], e[2]) for e in ws.story("y") if e[0] == "y"]
    assert story == [
        ("compute-task", "released"), ("released", "waiting"), ("waiting", "ready"),
        ("ready", "executing"), ("executing", "memory"),
    ]  # fmt: skip
    flight = [e for e in ws.story("x") if e[0] == A]
    assert flight[0][1] == "gather-dep" and flight[0][2] == ["x"]
    assert [e[4] for e in ws.story("x") if e[0] == "x"][:1] == ["compute-y"]  # stimulus ids
    assert ws.stimulus_story("x")[0].key == "y"  # the compute-task that listed x


def test_story_is_bounded():
    ws = make_ws(log_length=5)
    for i in range(10):
        ws.handle(compute(f"t{i}"), success(f"t{i}"))
    assert len(ws.log) == 5 and len(ws.stimulus_log) == 5


def test_invalid_transition_carries_the_story(ws):
    ws.handle(compute("x"), success("x"))
    with pytest.raises(InvalidTransition) as info:
        transition(ws, ws.tasks["x"], "executing", stimulus_id="bad")
    assert info.value.key == "x" and info.value.story == ws.story("x")
    assert "memory -> executing" in str(info.value) and "compute-x" in str(info.value)


def test_validate_state_catches_corruption(ws):
    ws.handle(compute("x"), success("x"))
    ws.data["ghost"] = 1
    with pytest.raises(AssertionError, match="ghost"):
        ws.validate_state()
    del ws.data["ghost"]
    ws.tasks["x"].state = "ready"
    with pytest.raises(AssertionError, match="ready"):
        ws.validate_state()
    ws.tasks["x"].state = "memory"


def test_table_covers_every_state():
    starts = {s for s, _ in TRANSITIONS}
    assert starts >= {"released", "waiting", "fetch", "flight", "missing", "ready", "constrained",
                      "executing", "memory", "error", "cancelled", "resumed"}  # fmt: skip
    assert all(callable(f) for f in TRANSITIONS.values())


def test_messages_round_trip():
    ev = ComputeTask.from_msg({
        "op": "compute-task", "key": ["x", 1], "run_id": 4, "priority": [0, 1],
        "who_has": {"d": ["tcp://a:1"]}, "nbytes": {"d": 5}, "extra": "ignored",
        "stimulus_id": "s1",
    })  # fmt: skip
    assert ev.key == ("x", 1) and ev.priority == (0, 1) and ev.stimulus_id == "s1"
    assert FreeKeys.from_msg({"op": "free-keys", "keys": [["y", 0]]}).keys == [("y", 0)]
    assert FreeKeys.from_msg({"keys": []}).stimulus_id.startswith("free-keys-")
    with pytest.raises(TypeError, match="internal"):
        ExecuteSuccess.from_msg({"key": "x"})
    dumped = success("x", value=b"secret").to_dict()
    assert dumped["cls"] == "ExecuteSuccess" and "value" not in dumped
    assert "secret" not in repr(success("x", value=b"secret"))
    msg = MissingDataMsg(key="x", errant_worker=A, stimulus_id="s").to_msg()
    assert msg == {"op": "missing-data", "key": "x", "errant_worker": A, "stimulus_id": "s"}


def test_task_record():
    ts = WorkerTask(("inc-8f1e2d3c4b5a", 0))
    assert ts.prefix == "inc" and ts.state == "released"
    assert ts.sort_priority > (10**9,) and "inc-8f1e2d3c4b5a" in repr(ts)


def test_state_modules_are_pure():
    banned = {"asyncio", "socket", "threading", "tornado", "psutil"}
    folder = pathlib.Path(__file__).resolve().parents[1] / "shoal" / "distributed" / "worker"
    pure = ("state", "transitions", "handlers", "messages", "validate", "memory")
    for path in (folder / f"{name}.py" for name in pure):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            bad = {n.split(".")[0] for n in names} & banned
            assert not bad, f"{path.name} imports {bad}"
        assert len(path.read_text().splitlines()) < 600, path.name


# --------------------------------------------------------------------------
# A random walk: a fake server answers instructions at random
# --------------------------------------------------------------------------


class FakeServer:
    """Carries out instructions the way a server would, answering when told to."""

    def __init__(self, ws):
        self.ws, self.running, self.gathers, self.busy = ws, set(), {}, set()

    def feed(self, *events):
        for instr in self.ws.handle(*events):
            if isinstance(instr, Execute):
                assert instr.key not in self.running, "executed twice at once"
                self.running.add(instr.key)
            elif isinstance(instr, GatherDep):
                assert instr.worker not in self.gathers, "two GatherDeps to one peer"
                self.gathers[instr.worker] = list(instr.keys)
            elif isinstance(instr, RetryBusyWorkerLater):
                self.busy.add(instr.worker)


@pytest.mark.parametrize("seed", range(40))
def test_random_walk_keeps_invariants(seed):
    rng = random.Random(seed)
    ws = make_ws(nthreads=rng.randint(1, 3), resources={"R": 1},
                 transfer_message_bytes_limit=250, outgoing_connections=2)  # fmt: skip
    server = FakeServer(ws)
    peers = [A, B, C]
    keys = [f"k{i}" for i in range(12)]
    graph = {k: rng.sample(keys[:i], min(i, rng.randint(0, 2))) for i, k in enumerate(keys)}

    for n in range(400):
        sid = f"s{n}"
        roll = rng.random()
        key = rng.choice(keys)
        if roll < 0.25:
            deps = {d: rng.sample(peers, rng.randint(0, 2)) for d in graph[key]}
            res = {"R": 1} if rng.random() < 0.2 else {}
            prio = (rng.randint(0, 5),)
            # short, long or unknown: short ones may queue behind busy threads
            duration = rng.choice([None, 1e-5, 1e-3, 1.0])
            server.feed(compute(key, deps, priority=prio, run_id=n, resources=res, sid=sid,
                                duration=duration))  # fmt: skip
        elif roll < 0.45 and server.running:
            k = rng.choice(sorted(server.running))
            server.running.discard(k)
            ev = rng.choice([success(k), failure(k), ExecuteReschedule(key=k, stimulus_id=sid)])
            server.feed(ev)
        elif roll < 0.65 and server.gathers:
            w = rng.choice(sorted(server.gathers))
            ks = server.gathers.pop(w)
            kind = rng.random()
            if kind < 0.6:
                server.feed(fetched(w, **{k: 10 for k in ks if rng.random() < 0.8}))
            elif kind < 0.75:
                server.feed(GatherDepNetworkFailure(worker=w, stimulus_id=sid))
            elif kind < 0.9:
                server.feed(GatherDepBusy(worker=w, stimulus_id=sid))
            else:
                server.feed(GatherDepFailure(worker=w, exception_text="bad", stimulus_id=sid))
        elif roll < 0.7 and server.busy:
            server.feed(RetryBusyWorker(worker=server.busy.pop(), stimulus_id=sid))
        elif roll < 0.78:
            server.feed(FreeKeys(keys=rng.sample(keys, rng.randint(1, 3)), stimulus_id=sid))
        elif roll < 0.82:
            server.feed(StealRequest(key=key, stimulus_id=sid))
        elif roll < 0.86:
            server.feed(rng.choice([Pause, Unpause])(stimulus_id=sid))
        elif roll < 0.9:
            holders = rng.sample(peers, rng.randint(0, 2))
            server.feed(RefreshWhoHas(who_has={key: holders}, stimulus_id=sid))
        elif roll < 0.93:
            server.feed(AcquireReplicas(who_has={key: [rng.choice(peers)]}, stimulus_id=sid))
        elif roll < 0.95:
            server.feed(UpdateData(data={key: n}, data_nbytes={key: 28}, stimulus_id=sid))
        else:
            server.feed(RemoveReplicas(keys=[key], stimulus_id=sid), FindMissing(stimulus_id=sid))

    # drain: every answer is a success from now on; nothing may stay in between
    server.feed(Unpause(stimulus_id="drain"))
    for n in range(1000):
        sid = f"drain-{n}"
        if server.running:
            server.feed(success(server.running.pop()))
        elif server.gathers:
            w, ks = server.gathers.popitem()
            server.feed(fetched(w, **{k: 10 for k in ks}))
        elif server.busy:
            server.feed(RetryBusyWorker(worker=server.busy.pop(), stimulus_id=sid))
        elif ws.missing:
            server.feed(RefreshWhoHas(who_has={ts.key: [A] for ts in ws.missing}, stimulus_id=sid))
        else:
            break
    stuck = {k: ts.state for k, ts in ws.tasks.items()
             if ts.state not in ("memory", "error", "waiting", "released")}  # fmt: skip
    assert not stuck
    for ts in ws.tasks.values():  # waiting only on keys the (random) scheduler dropped
        if ts.state == "waiting":
            assert all(d.state in ("error", "released", "waiting") for d in ts.waiting_for_data), ts


# --------------------------------------------------------------------------
# Memory policy
# --------------------------------------------------------------------------

T = mem.MemoryThresholds()


@pytest.mark.parametrize(
    "process, managed, paused, spill, pause, terminate",
    [
        (500, 500, False, 0, False, False),  # all quiet
        (650, 650, False, 50, False, False),  # managed over target 600
        (750, 750, False, 150, False, False),  # managed down to target
        (720, 300, False, 120, False, False),  # RSS over spill: spill until RSS at target
        (850, 500, False, 250, True, False),  # RSS over pause
        (850, 100, False, 100, True, False),  # cannot spill more than is managed
        (960, 500, False, 360, True, True),  # RSS over terminate
        (780, 0, True, 0, True, False),  # paused, under pause but above pause - margin
        (740, 0, True, 0, False, False),  # clearly under: unpause
        (780, 0, False, 0, False, False),  # not paused: no reason to pause
    ],
)
def test_memory_decisions(process, managed, paused, spill, pause, terminate):
    d = mem.decide(mem.MemoryReading(process=process, managed=managed), 1000, T, paused=paused)
    assert (d.spill_bytes, d.pause, d.terminate) == (spill, pause, terminate)


def test_a_pause_and_its_end_say_why():
    """The worker logs "paused: <reason>" and "resumed: <reason>" (the latter was empty)."""
    still = mem.decide(mem.MemoryReading(process=780, managed=0), 1000, T, paused=True)
    assert still.pause and still.reason == "process 780 >= resume 750"
    over = mem.decide(mem.MemoryReading(process=740, managed=0), 1000, T, paused=True)
    assert not over.pause and over.reason == "process 740 < resume 750"
    # past the terminate line too: the pause is logged with the pause rule, not the worst one
    worst = mem.decide(mem.MemoryReading(process=960, managed=0), 1000, T)
    assert worst.reason == "process 960 > terminate 950"
    assert worst.pause_reason == "process 960 > pause 800"


def test_memory_rules_can_be_switched_off():
    off = mem.MemoryThresholds(target=None, spill=None, pause=None, terminate=None)
    d = mem.decide(mem.MemoryReading(process=990, managed=990), 1000, off, paused=True)
    assert d == mem.MemoryDecision(0, False, False, "")
    assert mem.decide(mem.MemoryReading(10**12, 10**12), None) == mem.MemoryDecision()
    only_spill = mem.MemoryThresholds(target=None, spill=0.7, pause=None, terminate=None)
    assert mem.decide(mem.MemoryReading(800, 800), 1000, only_spill).spill_bytes == 100


def test_memory_thresholds_from_config():
    from shoal import config

    assert mem.MemoryThresholds.from_config() == T
    with config.set({"distributed.worker.memory.pause": False}):
        assert mem.MemoryThresholds.from_config().pause is None


def test_spill_order_is_least_recently_used():
    nbytes = {"a": 100, "b": 100, "c": 100, "d": 100}
    access = {"a": 4.0, "b": 1.0, "c": 3.0, "d": 2.0}
    assert mem.spill_order(nbytes, access, 150) == ["b", "d"]
    assert mem.spill_order(nbytes, access, 150, exclude=["b"]) == ["d", "c"]
    assert mem.spill_order(nbytes, {"a": 1.0}, 100) == ["b"]  # never used counts as oldest
    assert mem.spill_order(nbytes, access, 0) == []
    assert mem.spill_order(nbytes, access, 10**9) == ["b", "d", "c", "a"]


def test_parse_memory_limit(tmp_path, caplog):
    GiB = 2**30
    assert mem.parse_memory_limit("auto", total_memory=16 * GiB, n_workers=4) == 4 * GiB
    limit = mem.parse_memory_limit("auto", total_memory=16 * GiB, n_workers=4, cgroup_limit=8 * GiB)
    assert limit == 2 * GiB
    assert mem.parse_memory_limit("2 GiB", total_memory=16 * GiB) == 2 * GiB
    with caplog.at_level("WARNING", logger="shoal.distributed.worker.memory"):
        assert mem.parse_memory_limit("64 GiB", total_memory=16 * GiB) == 16 * GiB  # capped
    assert "64 GiB is more than this machine's" in caplog.text
    assert mem.parse_memory_limit(0.25, total_memory=16 * GiB) == 4 * GiB
    assert mem.parse_memory_limit(None, total_memory=16) is None
    assert mem.parse_memory_limit(0, total_memory=16) is None
    # Dask's reading: any number up to 1 is a fraction, also in a string (it was 1 byte,
    # and "0.5" no limit at all)
    for value, expected in [("0.5", 8 * GiB), (1, 16 * GiB), ("1", 16 * GiB), (" 0.25 ", 4 * GiB),
                            ("0", None), (0.0, None), ("2e9", 2 * 10**9), (3 * GiB, 3 * GiB)]:
        assert mem.parse_memory_limit(value, total_memory=16 * GiB) == expected, value
    # a lone worker's "auto" is its share of the machine: 2 of 8 cores
    assert mem.parse_memory_limit("auto", total_memory=16 * GiB, n_workers=8 / 2) == 4 * GiB
    assert mem.parse_memory_limit("auto", total_memory=16 * GiB, n_workers=8 / 16) == 16 * GiB
    for bad, error in [(-1, ValueError), ("-0.5", ValueError), ("lots", ValueError),
                       (True, TypeError), ([1], TypeError)]:  # fmt: skip
        with pytest.raises(error, match="memory_limit|lots"):
            mem.parse_memory_limit(bad, total_memory=16 * GiB)
    v2 = tmp_path / "memory.max"
    v2.write_text("max\n")
    assert read_cgroup_memory_limit([str(v2)]) is None
    v2.write_text("4294967296\n")
    assert read_cgroup_memory_limit([str(tmp_path / "absent"), str(v2)]) == 4 * GiB
    v2.write_text(str(2**63 - 4096))  # cgroup v1 spells "unlimited" as a huge number
    assert read_cgroup_memory_limit([str(v2)]) is None


def test_stimulus_log_keeps_events_without_their_payloads():
    ws = make_ws()
    ev_compute, ev_done = compute("x"), success("x", value="the result")
    ev_compute.run_spec = b"the task"
    ws.handle(ev_compute, ev_done)
    logged = ws.stimuli()
    assert [type(e) for e in logged] == [ComputeTask, ExecuteSuccess]
    assert logged[0].run_spec is None and logged[1].value is None
    assert logged[0].key == "x" and logged[1].value_nbytes == 8 and logged[1].stimulus_id == "done-x"
    assert ev_compute.run_spec == b"the task" and ev_done.value == "the result"  # untouched
    assert ws.data["x"] == "the result"
    assert ws.stimulus_story("x") == logged


def test_stimulus_log_packs_events_as_plain_data():
    import marshal

    ws = make_ws(log_length=4)  # packed 4 at a time
    events = []
    for key in ("a", "b", "c"):
        events += [compute(key), success(key)]
        ws.handle(*events[-2:])
    assert [loads for loads, _, _ in ws.stimulus_log._packed] == [marshal.loads]
    assert ws.stimuli() == events[2:]  # the newest four, equal but for the payloads
    assert [e.value for e in ws.stimuli() if isinstance(e, ExecuteSuccess)] == [None, None]
