"""The scheduler state machine, driven by events alone: no event loop, no sockets.

Tests feed :mod:`shoal.distributed.scheduler.messages` events to a
``SchedulerState`` and compare the instructions it returns with partial
matchers (:class:`M`).  The ``state`` fixture checks every invariant at
teardown; :class:`Sim` plays the workers, answering each ``compute-task`` with a
``task-finished``.
"""

from __future__ import annotations

import ast
import itertools
import math
import pathlib
import re
from collections import deque
from types import SimpleNamespace

import pytest

from shoal.distributed.scheduler import (
    InvalidTransition,
    KilledWorker,
    Note,
    SchedulerState,
    Transition,
)
from shoal.distributed.scheduler import messages as m
from shoal.distributed.scheduler.policies import TaskQueue, decide_worker, steal_candidates
from shoal.distributed.scheduler.records import SchedTask
from shoal.distributed.scheduler.replicas import DropReplicas
from shoal.distributed.scheduler.transitions import TRANSITIONS
from shoal.events import (
    shape_pairs,
    ComputationFinished,
    GraphSubmitted,
    TaskTransition,
    WorkerAdded,
    WorkerMetrics,
    WorkerRemoved,
)

# --- helpers -------------------------------------------------------------------------


class Clock:
    """A fake clock: time moves only when a test says so."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class M:
    """Partial matcher: ``M(m.FreeKeys, worker="w1") == FreeKeys("w1", ["x"])``."""

    def __init__(self, cls, **fields):
        self.cls, self.fields = cls, fields

    def __eq__(self, other) -> bool:
        return isinstance(other, self.cls) and other.match(**self.fields)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"M({self.cls.__name__}, {args})"


def sent(instructions, cls=None, **fields) -> list:
    """The instructions (``Publish`` left out unless asked for) matching ``cls``/``fields``."""
    out = [i for i in instructions if cls is not None or not isinstance(i, m.Publish)]
    return [i for i in out if cls is None or M(cls, **fields) == i]


def records(instructions, kind) -> list:
    published = (i.record for i in instructions if isinstance(i, m.Publish))
    return [r for r in published if isinstance(r, kind)]


def graph(deps: dict, keys, client="c1", **kw) -> m.UpdateGraph:
    """An update-graph whose run_specs are just the key names."""
    return m.UpdateGraph(tasks={k: f"spec-{k}" for k in deps}, dependencies=deps, keys=list(keys),
                         client=client, **kw)  # fmt: skip


def finished(ct: m.ComputeTask, nbytes=8, took=0.01, **kw) -> m.TaskFinished:
    return m.TaskFinished(ct.worker, ct.key, ct.run_id, nbytes, "int",
                          (("compute", 1.0, 1.0 + took),), **kw)  # fmt: skip


def erred(ct: m.ComputeTask, exc=None) -> m.TaskErred:
    exc = exc or ZeroDivisionError("division by zero")
    return m.TaskErred(ct.worker, ct.key, ct.run_id, exc, None, repr(exc), "")


def compute(instructions, key=None) -> m.ComputeTask:
    (ct,) = sent(instructions, m.ComputeTask, **({} if key is None else {"key": key}))
    return ct


def states(state) -> dict:
    return {k: ts.state for k, ts in state.tasks.items()}


def transitions_of(state, key) -> list:
    story = state.story(key)
    return [(e.start, e.finish) for e in story if isinstance(e, Transition) and e.key == key]


class Sim:
    """Simulated workers: every ``compute-task`` is answered, in order, by a
    ``task-finished``; a ``free-keys`` cancels a compute not yet answered."""

    def __init__(self, state, validate_every: int = 1, nbytes=lambda key: 8):
        self.state, self.validate_every, self.nbytes = state, validate_every, nbytes
        self.todo: deque = deque()
        self.out: list = []
        self.steps = 0

    def feed(self, *events) -> list:
        instructions = self.state.handle(*events)
        self.out.extend(instructions)
        for i in instructions:
            if isinstance(i, m.ComputeTask):
                self.todo.append(i)
            elif isinstance(i, m.FreeKeys):
                drop = {(i.worker, k) for k in i.keys}
                self.todo = deque(c for c in self.todo if (c.worker, c.key) not in drop)
        self.steps += 1
        if self.validate_every and self.steps % self.validate_every == 0:
            self.state.validate_state()
        return instructions

    def run(self, limit: int = 100_000) -> list:
        while self.todo and limit:
            limit -= 1
            ct = self.todo.popleft()
            self.feed(finished(ct, nbytes=self.nbytes(ct.key)))
        return self.out


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def state(clock):
    s = SchedulerState(clock=clock, allowed_failures=3, worker_saturation=1.1, bandwidth="100MB",
                       unknown_task_duration="500ms", transition_log_length=100_000,
                       work_stealing=True)  # fmt: skip
    yield s
    s.validate_state()


def add_workers(state, *specs) -> list:
    """``add_workers(state, ("w1", 1), ("w2", 2, {"GPU": 1}))``."""
    return state.handle(*(m.AddWorker(a, n, resources=(r or [{}])[0]) for a, n, *r in specs))


DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


# --- whole graphs --------------------------------------------------------------------


def test_diamond_runs_to_completion(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    sim = Sim(state)
    sim.feed(graph(DIAMOND, ["d"]))
    out = sim.run()
    assert sent(out, m.KeyInMemory) == [M(m.KeyInMemory, client="c1", key="d", type="int")]
    assert states(state) == {"a": "released", "b": "released", "c": "released", "d": "memory"}
    freed = {k for i in sent(out, m.FreeKeys) for k in i.keys}
    assert freed == {"a", "b", "c"}  # intermediates let go once d has them
    (done,) = records(out, ComputationFinished)
    assert done.status == "finished" and done.run_id == records(out, GraphSubmitted)[0].run_id
    sim.feed(m.ClientReleasesKeys(["d"], "c1"))
    assert state.tasks == {}


def test_thousand_task_graph(state):
    """A 1000-leaf tree reduction (about 2000 tasks) on 3 workers."""
    add_workers(state, ("w1", 2), ("w2", 2), ("w3", 4))
    deps = {("leaf", i): [] for i in range(1000)}
    level, names = 0, [("leaf", i) for i in range(1000)]
    while len(names) > 1:
        level += 1
        nxt = []
        for j in range(0, len(names), 2):
            key = (f"sum-{level}", j // 2)
            deps[key] = names[j : j + 2]
            nxt.append(key)
        names = nxt
    sim = Sim(state, validate_every=97)
    sim.feed(graph(deps, names, priority={k: i for i, k in enumerate(deps)}))
    out = sim.run()
    assert sent(out, m.KeyInMemory) == [M(m.KeyInMemory, key=names[0])]
    assert states(state)[names[0]] == "memory"
    assert all(s == "released" for k, s in states(state).items() if k != names[0])
    held = [ts.key for ws in state.workers.values() for ts in ws.has_what]
    assert held == [names[0]]
    assert len(sent(out, m.ComputeTask)) == len(deps)  # nothing ran twice
    (done,) = records(out, ComputationFinished)
    assert done.status == "finished"
    assert max(len(ws.processing) for ws in state.workers.values()) == 0


def test_validate_after_every_step_on_wide_graph(state):
    add_workers(state, ("w1", 2), ("w2", 1))
    deps = {f"x-{i}": [] for i in range(30)}
    deps.update({f"y-{i}": [f"x-{i}", f"x-{(i + 1) % 30}"] for i in range(30)})
    deps["total"] = [f"y-{i}" for i in range(30)]
    sim = Sim(state, validate_every=1)
    sim.feed(graph(deps, ["total"]))
    sim.run()
    assert state.tasks["total"].state == "memory"


# --- placement ------------------------------------------------------------------------


def _hold(state, key, worker, nbytes) -> None:
    """Make ``worker`` compute ``key`` (pinned there) and report ``nbytes``."""
    out = state.handle(graph({key: []}, [key], restrictions={key: [worker]}))
    state.handle(finished(compute(out), nbytes=nbytes))


def test_task_goes_to_worker_holding_most_input_bytes(state):
    add_workers(state, ("w1", 1), ("w2", 1), ("w3", 1))
    _hold(state, "x", "w1", 1000)
    _hold(state, "y", "w2", 50_000_000)
    out = state.handle(m.UpdateGraph({"z": "f"}, {"z": ["x", "y"]}, ["z"], "c1"))
    ct = compute(out, "z")
    assert ct.worker == "w2"
    assert ct.who_has == {"x": ["w1"], "y": ["w2"]} and ct.nbytes == {"x": 1000, "y": 50_000_000}


def test_tie_on_bytes_goes_to_least_occupied(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    _hold(state, "x", "w1", 1000)
    _hold(state, "y", "w2", 1000)
    state.handle(graph({"busy": []}, ["busy"], restrictions={"busy": ["w1"]}))
    assert state.workers["w1"].occupancy > state.workers["w2"].occupancy
    out = state.handle(m.UpdateGraph({"z": "f"}, {"z": ["x", "y"]}, ["z"], "c1"))
    assert compute(out, "z").worker == "w2"


def test_strict_restrictions_wait_for_worker(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"x": []}, ["x"], restrictions={"x": ["w9"]}))
    assert sent(out) == [] and state.tasks["x"].state == "no-worker"
    out = state.handle(m.AddWorker("tcp://10.0.0.9:1", 1, name="w9"))
    assert compute(out).worker == "tcp://10.0.0.9:1"  # restrictions may name the worker


def test_loose_restrictions_fall_back(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"x": []}, ["x"], restrictions={"x": ["w9"]},
                             loose_restrictions=["x"]))  # fmt: skip
    assert compute(out).worker == "w1"


def test_resource_restrictions(state):
    add_workers(state, ("w1", 4))
    out = state.handle(graph({"x": []}, ["x"], resources={"x": {"GPU": 1}}))
    assert state.tasks["x"].state == "no-worker" and not sent(out)
    out = add_workers(state, ("gpu", 1, {"GPU": 2}))
    ct = compute(out)
    assert ct.worker == "gpu" and ct.resource_restrictions == {"GPU": 1}
    assert state.workers["gpu"].used_resources == {"GPU": 1}
    state.handle(finished(ct))
    assert state.workers["gpu"].used_resources == {"GPU": 0}


def test_decide_worker_prefers_idle_worker_over_long_wait(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    _hold(state, "x", "w1", 10)
    w1 = state.workers["w1"]
    w1.occupancy = 100.0  # pretend a long queue (restored below for the invariants)
    ts = type("T", (), {})()
    ts.dependencies, ts.worker_restrictions = {state.tasks["x"]}, None
    ts.loose_restrictions, ts.resource_restrictions = False, None
    assert decide_worker(ts, state.workers.values(), bandwidth=state.bandwidth).address == "w2"
    w1.occupancy = 0.0
    assert decide_worker(ts, state.workers.values(), bandwidth=state.bandwidth).address == "w1"


# --- root-task queuing ----------------------------------------------------------------


def test_root_tasks_are_queued(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    keys = [f"t-{i}" for i in range(100)]
    priority = {k: i for i, k in enumerate(keys)}
    out = state.handle(graph({k: [] for k in keys}, keys, priority=priority))
    cts = sent(out, m.ComputeTask)
    assert sorted(c.key for c in cts) == ["t-0", "t-1", "t-2", "t-3"]  # ceil(1 * 1.1) == 2 each
    assert {w: len(ws.processing) for w, ws in state.workers.items()} == {"w1": 2, "w2": 2}
    assert len(state.queued) == 96
    assert sum(ts.state == "queued" for ts in state.tasks.values()) == 96
    order = []
    todo = deque(cts)
    while todo:
        out = state.handle(finished(todo.popleft()))
        new = sent(out, m.ComputeTask)
        assert len(new) <= 1
        order += [c.key for c in new]
        todo.extend(new)
        assert all(len(ws.processing) <= 2 for ws in state.workers.values())
    assert order == keys[4:]  # released in priority order


def test_a_long_running_task_frees_its_slot_and_teaches_its_duration(state):
    """A task whose thread seceded (to wait on other tasks) takes no root-task slot, costs
    its worker nothing more, and its prefix's duration is what it ran before seceding."""
    add_workers(state, ("w1", 1))
    keys = [f"t-{i}" for i in range(6)]
    out = state.handle(graph({k: [] for k in keys}, keys, priority={k: i for i, k in enumerate(keys)}))
    first, second = sent(out, m.ComputeTask)  # ceil(1 * 1.1) == 2 slots
    ws = state.workers["w1"]
    out = state.handle(m.LongRunning("w1", first.key, first.run_id, 0.25))
    assert [c.key for c in sent(out, m.ComputeTask)] == ["t-2"]  # the freed slot is taken
    assert ws.long_running == {state.tasks[first.key]} and ws.processing[state.tasks[first.key]] == 0
    assert state.durations["t"] == 0.25
    assert math.isclose(ws.occupancy, sum(ws.processing.values()))
    assert "long-running" in [e.what for e in state.story(first.key) if isinstance(e, Note)]
    state.validate_state()
    # it finishes after a long wait: the estimate is not taught that wait
    out = state.handle(finished(first, took=30.0))
    assert not ws.long_running and state.durations["t"] == 0.25
    assert sent(out, m.ComputeTask) == []  # (it took no slot)
    # a stale report (another run) changes nothing
    assert sent(state.handle(m.LongRunning("w1", second.key, second.run_id + 99, 1.0))) == []
    assert not ws.long_running


def test_a_long_running_task_is_never_stolen(state):
    out = _backlog(state)
    assert steal_candidates(state)
    for ct in sent(out, m.ComputeTask):
        state.handle(m.LongRunning("w1", ct.key, ct.run_id, 0.0))
    assert steal_candidates(state) == []  # w1's tasks run: they take none of its threads


def test_queuing_off_sends_everything(clock):
    state = SchedulerState(clock=clock, worker_saturation=math.inf)
    add_workers(state, ("w1", 1), ("w2", 1))
    keys = [f"t-{i}" for i in range(100)]
    out = state.handle(graph({k: [] for k in keys}, keys))
    assert len(sent(out, m.ComputeTask)) == 100 and not state.queued
    state.validate_state()


def test_worker_saturation_from_config_and_bad_values(clock):
    from shoal import config

    for spelled in ("inf", float("inf"), "2"):  # Dask's environment spelling, YAML's, a string
        with config.set({"distributed.scheduler.worker-saturation": spelled}):
            assert SchedulerState(clock=clock).saturation == float(spelled)
    for bad in (0, -1, "lots", None, float("nan")):
        with config.set({"distributed.scheduler.worker-saturation": bad}):
            with pytest.raises(ValueError, match=r"worker-saturation must be a number > 0.*"
                                                 + re.escape(repr(bad))):
                SchedulerState(clock=clock)


def test_root_tasks_queue_until_a_worker_joins(state):
    out = state.handle(graph({"a": [], "b": []}, ["a", "b"]))
    assert not sent(out) and len(state.queued) == 2
    out = add_workers(state, ("w1", 1))
    assert sorted(c.key for c in sent(out, m.ComputeTask)) == ["a", "b"]


def test_task_queue_orders_by_priority():
    class T:
        def __init__(self, key, priority):
            self.key, self.priority, self.graph, self.prefix = key, priority, "g", "t"

    q, ts = TaskQueue(), [T(i, (0, 1, -i)) for i in range(200)]
    for t in ts:
        q.add(t)
    for t in ts[:150]:
        q.discard(t)  # compaction kicks in
    assert q.counts == {("g", "t"): 50}
    assert [q.pop().key for _ in range(len(q))] == list(range(199, 149, -1))
    with pytest.raises(IndexError):
        q.pop()
    assert q.counts == {}


def test_the_queue_counts_its_tasks_per_graph_and_prefix_and_says_which_changed():
    """What a dashboard is told of queued tasks (never reported one by one): the counts
    per graph and prefix that changed since it was last told, all of them when it
    starts watching, 0 for a group whose tasks all left."""
    q = TaskQueue()
    a = [SchedTask(f"a-{i}", None, (0, i), graph="g1") for i in range(3)]
    b = [SchedTask(f"b-{i}", None, (0, i), graph="g2") for i in range(2)]
    for t in a + b:
        q.add(t)
    q.add(a[0])  # (again: counted once)
    assert q.counts == {("g1", "a"): 3, ("g2", "b"): 2}
    assert q.take_changes() == []  # nobody watches: nothing noted
    q.track(True)
    assert sorted(q.take_changes()) == [("g1", "a", 3), ("g2", "b", 2)]
    assert q.take_changes() == []
    q.discard(a[0])
    q.discard(a[0])  # (gone already: no change)
    for t in b:
        q.discard(t)
    assert sorted(q.take_changes()) == [("g1", "a", 2), ("g2", "b", 0)]
    q.track(False)
    q.discard(a[1])
    assert q.take_changes() == [] and q.counts == {("g1", "a"): 1}


# --- memory and reference counts ------------------------------------------------------


def test_key_wanted_by_two_clients_stays_until_both_release(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"x": []}, ["x"], client="c1"), graph({"x": []}, ["x"], client="c2"))
    out = state.handle(finished(compute(out)))
    assert sorted(i.client for i in sent(out, m.KeyInMemory)) == ["c1", "c2"]
    assert len(sent(out)) == 2
    assert sent(state.handle(m.ClientReleasesKeys(["x"], "c1"))) == []
    assert state.tasks["x"].state == "memory"
    out = state.handle(m.ClientReleasesKeys(["x"], "c2"))
    assert sent(out) == [M(m.FreeKeys, worker="w1", keys=["x"])]
    assert "x" not in state.tasks
    assert transitions_of(state, "x")[-2:] == [("memory", "released"), ("released", "forgotten")]


def test_releasing_many_results_tells_each_worker_once(state):
    """A client that lets go of 200 results held on two workers: one ``FreeKeys`` per
    worker with all its keys, not one message per key."""
    add_workers(state, ("w1", 2), ("w2", 2))
    keys = [f"x-{i}" for i in range(200)]
    sim = Sim(state, validate_every=0)
    sim.feed(graph({k: [] for k in keys}, keys))
    sim.run()
    held = {w: {ts.key for ts in ws.has_what} for w, ws in state.workers.items()}
    assert all(held.values()) and set().union(*held.values()) == set(keys)
    out = state.handle(m.ClientReleasesKeys(keys, "c1"))
    frees = sent(out, m.FreeKeys)
    assert sorted(f.worker for f in frees) == ["w1", "w2"]
    assert {f.worker: set(f.keys) for f in frees} == held
    assert state.tasks == {}
    # what one worker is told keeps its order; different stimuli stay apart
    free = lambda w, k, sid="s1": m.FreeKeys(w, [k], stimulus_id=sid)  # noqa: E731
    compute_y = m.ComputeTask("w1", "y", 1, (0,), 1.0, None, {}, {}, stimulus_id="s1")
    merged = m.merge_free_keys([free("w1", "a"), free("w2", "b"), free("w1", "c"), compute_y,
                                free("w1", "y"), free("w1", "z", "s2")])  # fmt: skip
    assert [(i.worker, getattr(i, "keys", "compute")) for i in merged] == [
        ("w1", ["a", "c"]), ("w2", ["b"]), ("w1", "compute"), ("w1", ["y"]), ("w1", ["z"])]


def test_intermediates_freed_and_forgotten(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"a": [], "b": ["a"], "c": ["b"]}, ["c"]))
    out = state.handle(finished(compute(out, "a")))
    out = state.handle(finished(compute(out, "b")))
    assert sent(out, m.FreeKeys) == [M(m.FreeKeys, keys=["a"])]  # b computed: a no longer needed
    out = state.handle(finished(compute(out, "c")))
    assert sent(out, m.FreeKeys) == [M(m.FreeKeys, keys=["b"])]
    assert states(state) == {"a": "released", "b": "released", "c": "memory"}
    state.handle(m.RemoveClient("c1"))
    assert state.tasks == {} and state.clients == {}


def test_client_desires_existing_key(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"x": []}, ["x"], client="c1"))
    state.handle(finished(compute(out)))
    out = state.handle(m.ClientDesiresKeys(["x", "nope"], "c2"))
    assert sent(out) == [
        M(m.CancelledKeys, client="c2", keys=["nope"]),
        M(m.KeyInMemory, client="c2", key="x"),
    ]
    assert {c.name for c in state.tasks["x"].who_wants} == {"c1", "c2"}


def test_lost_dependencies_are_refused(state):
    add_workers(state, ("w1", 1))
    out = state.handle(m.UpdateGraph({"y": "f", "z": "g", "ok": "h"}, {"y": ["gone"], "z": ["y"]},
                                     ["z", "ok"], "c1"))  # fmt: skip
    assert sent(out, m.CancelledKeys) == [
        M(m.CancelledKeys, keys=["z"], reason="lost dependencies")
    ]
    assert set(state.tasks) == {"ok"}
    assert [type(e) for e in state.story("z")] == [Note]


# --- errors and retries ---------------------------------------------------------------


def test_error_propagates_to_dependents_and_clients(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"a": [], "b": ["a"], "c": ["b"]}, ["c"]))
    exc = ZeroDivisionError("boom")
    out = state.handle(erred(compute(out, "a"), exc))
    assert sent(out) == [M(m.ClientTaskErred, client="c1", key="c", exception=exc)]
    assert states(state) == {"a": "erred", "b": "erred", "c": "erred"}
    assert state.tasks["c"].exception_blame is state.tasks["a"]
    (done,) = records(out, ComputationFinished)
    assert done.status == "error" and "boom" in done.exception
    erred_events = [r for r in records(out, TaskTransition) if r.finish == "erred"]
    assert {r.key for r in erred_events} == {"a", "b", "c"}
    assert all("boom" in r.exception for r in erred_events)
    state.handle(m.ClientReleasesKeys(["c"], "c1"))
    assert state.tasks == {}


def test_new_graph_on_erred_input_errs_at_once(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"a": []}, ["a"]))
    state.handle(erred(compute(out)))
    out = state.handle(m.UpdateGraph({"b": "f"}, {"b": ["a"]}, ["b"], "c2"))
    assert sent(out) == [M(m.ClientTaskErred, client="c2", key="b")]


def test_retries_resubmit_then_err(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"x": []}, ["x"], retries={"x": 2}))
    run_ids = []
    for _ in range(2):
        ct = compute(out)
        run_ids.append(ct.run_id)
        out = state.handle(erred(ct))
        assert not sent(out, m.ClientTaskErred) and state.tasks["x"].state == "processing"
    out = state.handle(erred(compute(out)))
    assert sent(out, m.ClientTaskErred) == [M(m.ClientTaskErred, key="x")]
    assert len(set(run_ids)) == 2
    assert [e.what for e in state.story("x") if isinstance(e, Note)] == ["retry", "retry"]


def test_retries_can_succeed(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"x": []}, ["x"], retries={"x": 1}))
    out = state.handle(erred(compute(out)))
    out = state.handle(finished(compute(out)))
    assert sent(out) == [M(m.KeyInMemory, key="x")]


def test_retry_op_reruns_erred_chain(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"a": [], "b": ["a"]}, ["b"]))
    state.handle(erred(compute(out, "a")))
    out = state.handle(m.RetryKeys(["b"], "c1"))
    # the worker "a" raised on lets go of its error first, then computes it again
    assert sent(out) == [M(m.TaskRetried, key="b"), M(m.FreeKeys, worker="w1", keys=["a"]),
                         M(m.ComputeTask, key="a")]  # fmt: skip
    assert state.tasks["b"].state == "waiting"
    out = state.handle(finished(compute(out, "a")))
    out = state.handle(finished(compute(out, "b")))
    assert sent(out, m.KeyInMemory) == [M(m.KeyInMemory, key="b")]
    assert transitions_of(state, "a").count(("erred", "released")) == 1


def test_a_released_error_is_freed_on_the_worker_it_raised_on(state):
    """The worker kept every erred task (its error, traceback and their frames) after
    the client let go of it: a loop of failing tasks grew the worker without end."""
    add_workers(state, ("w1", 1), ("w2", 1))
    out = state.handle(graph({"a": [], "b": ["a"]}, ["b"]))
    worker = compute(out, "a").worker
    out = state.handle(erred(compute(out, "a")))
    assert state.tasks["a"].erred_on.address == worker and state.tasks["b"].erred_on is None
    out = state.handle(m.ClientReleasesKeys(["b"], "c1"))
    assert sent(out, m.FreeKeys) == [M(m.FreeKeys, worker=worker, keys=["a"])]  # ("b" never ran)
    assert "a" not in state.tasks and "b" not in state.tasks


def test_a_value_scattered_over_an_error_is_not_freed_on_its_worker(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"a": []}, ["a"]))
    state.handle(erred(compute(out, "a")))
    out = state.handle(m.UpdateData({"a": ["w1"]}, {"a": 8}, "c1", {}))  # (w1 holds 42 now)
    assert sent(out, m.FreeKeys) == [] and state.tasks["a"].state == "memory"


def test_an_error_is_not_freed_on_a_new_worker_at_the_same_address(state):
    add_workers(state, ("w1", 1))
    state.handle(graph({"a": []}, ["a"]))
    for _ in range(4):  # KilledWorker: the last one dies too
        state.handle(m.RemoveWorker("w1", reason="died", safe=False))
        add_workers(state, ("w1", 1))
    assert state.tasks["a"].state == "erred"
    out = state.handle(m.ClientReleasesKeys(["a"], "c1"))
    assert sent(out, m.FreeKeys) == []


def test_an_error_on_a_worker_that_left_is_not_freed_there(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"a": []}, ["a"]))
    state.handle(erred(compute(out, "a")))
    state.handle(m.RemoveWorker("w1", reason="gone", safe=True))
    out = state.handle(m.ClientReleasesKeys(["a"], "c1"))
    assert sent(out, m.FreeKeys) == [] and "a" not in state.tasks


# --- worker loss ---------------------------------------------------------------------


def test_worker_loss_reschedules_and_recomputes(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    pin = {"restrictions": {"x": ["w1"]}, "loose_restrictions": ["x"]}
    out = state.handle(graph({"x": []}, ["x"], **pin))
    state.handle(finished(compute(out)))
    out = state.handle(m.UpdateGraph({"y": "f", "z": "g"}, {"y": ["x"], "z": []}, ["y", "z"], "c1",
                                     restrictions={"y": ["w1"], "z": ["w1"]},
                                     loose_restrictions=["y", "z"]))  # fmt: skip
    assert {c.key: c.worker for c in sent(out, m.ComputeTask)} == {"y": "w1", "z": "w1"}
    out = state.handle(m.RemoveWorker("w1", reason="crash", safe=False))
    assert sent(out, m.LostData) == [M(m.LostData, key="x")]  # c1 holds x
    assert {c.key: c.worker for c in sent(out, m.ComputeTask)} == {"x": "w2", "z": "w2"}
    assert not sent(out, m.FreeKeys)  # nothing is sent to the dead worker
    assert transitions_of(state, "x")[-3:] == [("memory", "released"), ("released", "waiting"),
                                               ("waiting", "processing")]  # fmt: skip
    assert state.tasks["y"].state == "waiting" and state.tasks["y"].suspicious == 1
    assert state.tasks["x"].suspicious == 0
    assert records(out, WorkerRemoved)[0].reason == "crash"
    sim = Sim(state)
    sim.todo.extend(sent(out, m.ComputeTask))
    out = sim.run()
    assert {i.key for i in sent(out, m.KeyInMemory)} == {"x", "y", "z"}


def test_lost_intermediate_is_recomputed_only_if_needed(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    out = state.handle(graph({"a": [], "b": ["a"]}, ["b"], restrictions={"a": ["w1"], "b": ["w2"]}))
    out = state.handle(finished(compute(out)))
    assert compute(out).key == "b"  # b now processing on w2, needing a from w1
    out = state.handle(m.MissingData("a", "w1"))  # w2 could not fetch it after all
    assert [c.key for c in sent(out, m.ComputeTask)] == ["a"]
    assert ("processing", "released") in transitions_of(state, "b")
    assert sent(out, m.FreeKeys) == [M(m.FreeKeys, worker="w2", keys=["b"])]


def test_killed_worker_after_allowed_failures(state):
    sim_out = []
    for i in range(4):
        out = add_workers(state, (f"w{i}", 1))
        if i == 0:
            out = state.handle(graph({"bad": [], "dep": ["bad"]}, ["dep"]))
        ct = compute(out, "bad")
        assert ct.worker == f"w{i}"
        sim_out = state.handle(m.RemoveWorker(f"w{i}", reason="died", safe=False))
    (err,) = sent(sim_out, m.ClientTaskErred)
    assert err.key == "dep" and isinstance(err.exception, KilledWorker)
    assert err.exception.key == "bad" and err.exception.last_worker == "w3"
    assert "bad" in str(err.exception) and "w3" in str(err.exception)
    assert state.tasks["bad"].suspicious == 4 and state.tasks["bad"].state == "erred"


def test_clean_close_is_not_suspicious(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    out = state.handle(graph({"x": []}, ["x"]))
    w = compute(out).worker
    out = state.handle(m.RemoveWorker(w, safe=True))
    assert state.tasks["x"].suspicious == 0 and compute(out).worker != w


def test_allowed_failures_zero(clock):
    state = SchedulerState(clock=clock, allowed_failures=0)
    add_workers(state, ("w1", 1))
    state.handle(graph({"x": []}, ["x"]))
    out = state.handle(m.RemoveWorker("w1"))
    assert isinstance(sent(out, m.ClientTaskErred)[0].exception, KilledWorker)
    state.validate_state()


def test_reschedule_is_not_suspicious(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    ct = compute(state.handle(graph({"x": []}, ["x"])))
    out = state.handle(m.Reschedule(ct.worker, "x"))
    new = compute(out)
    assert new.run_id != ct.run_id and state.tasks["x"].suspicious == 0


# --- work stealing --------------------------------------------------------------------


def _backlog(state, n=4):
    """n tasks processing on w1 (one thread), then an idle w2 joins."""
    add_workers(state, ("w1", 1))
    _hold(state, "x", "w1", 100)
    deps = {f"t-{i}": ["x"] for i in range(n)}
    out = state.handle(m.UpdateGraph({k: "f" for k in deps}, deps, list(deps), "c1",
                                     priority={k: i for i, k in enumerate(deps)}))  # fmt: skip
    assert len(sent(out, m.ComputeTask)) == n
    add_workers(state, ("w2", 1))
    return out


def test_steal_moves_unstarted_task(state):
    _backlog(state)
    out = state.handle(m.Balance())
    requests = sent(out, m.StealRequest)
    assert requests and all(r.worker == "w1" for r in requests)
    assert requests[0].key == "t-3"  # lowest priority first
    old = state.tasks["t-3"].run_id
    out = state.handle(m.StealResponse("w1", "t-3", "ready"))
    ct = compute(out)
    assert ct.worker == "w2" and ct.run_id != old and ct.who_has == {"x": ["w1"]}
    assert ("processing", "processing") in transitions_of(state, "t-3")
    late = state.handle(m.TaskFinished("w1", "t-3", old, 8, "int"))  # the victim ran it anyway
    assert sent(late) == [M(m.FreeKeys, worker="w1", keys=["t-3"])]
    assert state.tasks["t-3"].processing_on.address == "w2"


def test_steal_cancelled_when_victim_started(state):
    _backlog(state)
    state.handle(m.Balance())
    out = state.handle(m.StealResponse("w1", "t-3", "executing"))
    assert sent(out) == [] and state.tasks["t-3"].processing_on.address == "w1"
    assert "steal-cancelled" in [e.what for e in state.story("t-3") if isinstance(e, Note)]
    assert not state.in_flight_steals or "t-3" not in state.in_flight_steals


def test_stealing_disabled(clock):
    state = SchedulerState(clock=clock, work_stealing=False)
    _backlog(state)
    assert state.handle(m.Balance()) == []
    state.validate_state()


def test_a_paused_worker_gets_no_tasks_and_gives_back_those_it_has_not_started(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    _hold(state, "x", "w1", 100)
    deps = {f"t-{i}": ["x"] for i in range(4)}
    out = state.handle(m.UpdateGraph({k: "f" for k in deps}, deps, list(deps), "c1"))
    on_w1 = {c.key for c in sent(out, m.ComputeTask) if c.worker == "w1"}
    assert on_w1  # (x is there)
    out = state.handle(m.WorkerStatusChange("w1", "paused"))
    assert {r.key for r in sent(out, m.StealRequest, worker="w1")} == on_w1
    assert "w1" not in state.running and state.workers["w1"].status == "paused"
    started, *waiting = sorted(on_w1)
    state.handle(m.StealResponse("w1", started, "executing"))  # it runs on there
    for key in waiting:  # not started: placed again, on w2
        assert compute(state.handle(m.StealResponse("w1", key, "released"))).worker == "w2"
    # a new root task waits for a slot on w2, though the paused w1 has one free
    assert sent(state.handle(graph({"r": []}, ["r"])), m.ComputeTask) == []
    assert states(state)["r"] == "queued"
    state.validate_state()
    state.handle(m.WorkerStatusChange("w1", "running"))
    assert state.running.keys() == {"w1", "w2"} and state.workers["w1"].status == "running"


def test_tasks_wait_while_every_worker_is_paused_and_go_when_one_runs_again(state):
    add_workers(state, ("w1", 1))
    assert sent(state.handle(m.WorkerStatusChange("w1", "paused"))) == []  # nowhere to send
    out = state.handle(graph({"a": [], "b": ["a"]}, ["b"]))
    assert sent(out, m.ComputeTask) == [] and states(state)["a"] == "queued"
    out = state.handle(m.WorkerStatusChange("w1", "running"))
    assert compute(out).key == "a"
    sim = Sim(state)
    sim.todo.append(compute(out))
    assert sent(sim.run(), m.KeyInMemory, key="b")
    # a status from an unknown worker is noted, nothing more
    assert sent(state.handle(m.WorkerStatusChange("nobody", "paused"))) == []


def test_a_retiring_worker_stays_so_and_its_unique_results_are_planned_elsewhere(state):
    from shoal.distributed.scheduler.retiring import copies_to_make

    add_workers(state, ("w1", 1), ("w2", 1), ("w3", 1))
    _hold(state, "a", "w1", 100)
    _hold(state, "b", "w1", 50)
    _hold(state, "c", "w2", 10)
    state.tasks["a"].who_has.add(state.workers["w3"])  # (a replica elsewhere: no copy needed)
    state.workers["w3"].has_what[state.tasks["a"]] = None
    state.workers["w3"].nbytes += 100
    w1, w2, w3 = (state.workers[w] for w in ("w1", "w2", "w3"))
    assert copies_to_make([w1], [w2, w3]) == {w2: {"b": ["w1"]}}  # the one holding least
    assert copies_to_make([w1, w2], [w3]) == {w3: {"b": ["w1"], "c": ["w2"]}}
    assert copies_to_make([w1], []) == {}
    state.handle(m.WorkerStatusChange("w1", "closing_gracefully"))
    assert "w1" not in state.running and w1.status == "closing_gracefully"
    state.handle(m.WorkerStatusChange("w1", "running"))  # (a pause's end): it stays retiring
    assert "w1" not in state.running and w1.status == "closing_gracefully"
    state.handle(m.WorkerStatusChange("w2", "resting"))  # an unknown status is only noted
    assert w2.status == "running"


def test_a_paused_worker_is_no_thief(state):
    _backlog(state)
    state.handle(m.WorkerStatusChange("w2", "paused"))
    assert steal_candidates(state) == []


def test_steal_candidates_skip_expensive_transfers(state):
    _backlog(state)
    assert steal_candidates(state)
    state.tasks["x"].nbytes = 10**12  # 10 000 s to copy x: never worth it
    state.workers["w1"].nbytes = 10**12
    assert steal_candidates(state) == []


def test_steal_candidates_need_idle_thief(state):
    add_workers(state, ("w1", 1))
    state.handle(graph({"a": [], "b": []}, ["a", "b"]))
    assert steal_candidates(state) == []


# --- stale and odd messages ------------------------------------------------------------


def test_stale_task_finished_is_ignored(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    ct = compute(state.handle(graph({"x": []}, ["x"])))
    other = "w2" if ct.worker == "w1" else "w1"
    assert sent(state.handle(m.TaskFinished(ct.worker, "x", ct.run_id + 100))) == []
    out = state.handle(m.TaskFinished(other, "x", ct.run_id))
    assert sent(out) == [M(m.FreeKeys, worker=other, keys=["x"])]
    assert sent(state.handle(m.TaskFinished("w-gone", "x", ct.run_id))) == []
    assert sent(state.handle(m.TaskErred("w1", "unknown", 1))) == [M(m.FreeKeys, keys=["unknown"])]
    assert state.tasks["x"].state == "processing"
    notes = [e for e in state.story("x") if isinstance(e, Note)]
    assert [n.what for n in notes] == ["stale-task-finished"] * 3
    out = state.handle(finished(ct))
    assert sent(out) == [M(m.KeyInMemory, key="x")]
    assert sent(state.handle(finished(ct))) == []  # a duplicate report


def test_odd_worker_messages_are_harmless(state):
    add_workers(state, ("w1", 1))
    assert state.handle(m.RemoveWorker("nobody")) == []
    assert state.handle(m.Heartbeat("nobody", {})) == []
    assert state.handle(m.MissingData("nokey", "w1")) == []
    assert state.handle(m.ReleaseWorkerData("w1", "nokey")) == []
    assert state.handle(m.Reschedule("w1", "nokey")) == []
    assert state.handle(m.StealResponse("w1", "nokey", "ready")) == []
    assert state.handle(m.AddWorker("w1", 4)) == []
    assert state.workers["w1"].nthreads == 1


def test_release_worker_data_drops_replica(state):
    add_workers(state, ("w1", 1))
    ct = compute(state.handle(graph({"x": []}, ["x"])))
    state.handle(finished(ct))
    out = state.handle(m.ReleaseWorkerData("w1", "x"))  # its only copy: computed again
    assert compute(out).key == "x" and sent(out, m.LostData)


def test_heartbeat_publishes_metrics(state, clock):
    add_workers(state, ("w1", 1))
    clock.now += 5
    out = state.handle(m.Heartbeat("w1", {"managed": 10, "cpu": 50.0, "extra": 1}))
    (rec,) = records(out, WorkerMetrics)
    assert rec.worker == "w1" and rec.managed == 10 and rec.cpu == 50.0 and rec.time == clock.now
    assert state.workers["w1"].last_seen == clock.now
    assert rec.paused is False
    (rec,) = records(state.handle(m.Heartbeat("w1", {"managed": 10, "paused": True})), WorkerMetrics)
    assert rec.paused is True  # (a dashboard shows it: see tests/dashboard)


# --- cancellation -----------------------------------------------------------------------


def test_cancel_releases_keys_and_dependents(state):
    add_workers(state, ("w1", 1), ("w2", 1))
    out = state.handle(graph({"a": [], "b": ["a"], "c": ["b"]}, ["a", "c"]))
    ct = compute(out, "a")
    out = state.handle(m.CancelKeys(["a"], "c1"))
    (told,) = sent(out, m.CancelledKeys)
    assert told.client == "c1" and set(told.keys) == {"a", "b", "c"} - {"b"}  # b: nobody's
    assert sent(out, m.FreeKeys) == [M(m.FreeKeys, worker=ct.worker, keys=["a"])]
    assert state.tasks == {}
    (done,) = records(out, ComputationFinished)
    assert done.status == "cancelled"


def test_cancel_keeps_what_others_want(state):
    add_workers(state, ("w1", 1))
    state.handle(graph({"a": [], "b": ["a"]}, ["a"], client="c1"))
    state.handle(m.UpdateGraph({"b": "f"}, {"b": ["a"]}, ["b"], "c2"))
    out = state.handle(m.CancelKeys(["a"], "c1"))
    assert sent(out) == [M(m.CancelledKeys, client="c1", keys=["a"])]
    assert state.tasks["a"].state == "processing"  # b (wanted by c2) still needs it
    out = state.handle(m.CancelKeys(["a"], "c1", force=True))
    assert sent(out, m.CancelledKeys) == [M(m.CancelledKeys, client="c2", keys=["b"])]
    assert state.tasks == {}


# --- the log, events and the table ------------------------------------------------------


def test_story_has_ordered_transitions_with_stimulus_ids(state, clock):
    add_workers(state, ("w1", 1))
    state.handle(graph({"x": []}, ["x"], stimulus_id="graph-1"))
    clock.now += 1
    ts = state.tasks["x"]
    out = state.handle(m.TaskFinished("w1", "x", ts.run_id, 8, "int", stimulus_id="done-1"))
    assert sent(out) == [M(m.KeyInMemory, key="x")]
    story = [(e.start, e.finish, e.stimulus_id) for e in state.story("x")]
    assert story == [
        ("released", "waiting", "graph-1"),
        ("waiting", "processing", "graph-1"),
        ("processing", "memory", "done-1"),
    ]
    assert state.story("x")[-1].time == clock.now


def test_log_is_bounded(clock):
    state = SchedulerState(clock=clock, transition_log_length=5)
    add_workers(state, ("w1", 1))
    Sim(state).feed(graph(DIAMOND, ["d"]))
    assert len(state.log) == 5


def test_story_reads_the_packed_part_of_the_log(clock):
    state = SchedulerState(clock=clock, transition_log_length=20)  # packed 20 at a time
    add_workers(state, ("w1", 1))
    sim = Sim(state)
    sim.feed(graph({"x0": []}, ["x0"], stimulus_id="graph-x0"))
    sim.feed(graph(DIAMOND, ["d"], stimulus_id="graph-1"))
    sim.run()
    assert not state.log._packed and len(state.log) == 18  # nothing packed yet
    sim.feed(graph({"y": []}, ["y"], stimulus_id="graph-y"))
    sim.run()
    assert state.log._packed and len(state.log) == 20  # 21 written, 20 of them packed
    story = state.story("x0")
    assert all(type(e) is Transition for e in story) and story
    # its first transition (released -> waiting) was the oldest entry, now dropped
    assert [e[1:3] for e in story if e.key == "x0"][:2] == [("waiting", "processing"),
                                                             ("processing", "memory")]  # fmt: skip
    assert story[0].stimulus_id == "graph-x0" and story[-1].time == clock.now


def test_invalid_transition_carries_story(state):
    add_workers(state, ("w1", 1))
    state.handle(graph({"x": []}, ["x"], stimulus_id="s-1"))
    with pytest.raises(InvalidTransition) as info:
        state._transition(state.tasks["x"], "waiting", "s-2", forced=True)
    assert info.value.key == "x" and info.value.story and "processing" in str(info.value)
    assert ("processing", "waiting") not in TRANSITIONS


def test_every_transition_is_published_with_details(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"x": []}, ["x"]))
    assert records(out, GraphSubmitted)[0].ntasks == 1
    out += state.handle(finished(compute(out), nbytes=123, thread=7))
    recs = records(out, TaskTransition)
    assert [(r.start, r.finish) for r in recs] == [
        ("released", "waiting"), ("waiting", "processing"), ("processing", "memory")
    ]  # fmt: skip
    done = recs[-1]
    assert (done.worker, done.nbytes, done.type, done.thread) == ("w1", 123, "int", 7)
    assert done.startstops == (("compute", 1.0, 1.01),) and done.prefix == "x"
    assert records(add_workers(state, ("w2", 3)), WorkerAdded)[0].nthreads == 3


def test_graph_submitted_carries_the_graphs_shape(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph(DIAMOND, ["d"]))
    [submitted] = records(out, GraphSubmitted)
    shape = shape_pairs(submitted.dependencies)
    assert {k: set(v) for k, v in shape} == {k: set(v) for k, v in DIAMOND.items()}


def test_a_large_graphs_shape_holds_its_wanted_keys_with_what_they_need(state):
    """Past GRAPH_SHAPE_LIMIT, the shape is each wanted key then its dependencies (a
    dashboard draws them with their edges), not the first keys as submitted: those
    were 5,000 leaves, drawn without one edge."""
    from shoal.events import GRAPH_SHAPE_LIMIT

    add_workers(state, ("w1", 1))
    n = GRAPH_SHAPE_LIMIT  # leaves first, as a client may order them, then a pair per leaf
    deps = {f"leaf-{i}": [] for i in range(n)} | {f"pair-{i}": [f"leaf-{i}"] for i in range(n)}
    [submitted] = records(state.handle(graph(deps, [f"pair-{i}" for i in range(n)])), GraphSubmitted)
    shape = dict(shape_pairs(submitted.dependencies))
    assert len(shape) == GRAPH_SHAPE_LIMIT
    pairs = [k for k in shape if k.startswith("pair-")]
    assert len(pairs) == GRAPH_SHAPE_LIMIT // 2
    assert all(shape[k] == (k.replace("pair", "leaf"),) and k.replace("pair", "leaf") in shape
               for k in pairs)  # fmt: skip


def test_an_ordered_large_graphs_shape_is_what_runs_first_with_its_edges(state):
    """With the client's order (a collection's graph), the shape holds the tasks that run
    first, each after what it needs: a tree reduction drew the branch that runs last."""
    from shoal.events import GRAPH_SHAPE_LIMIT

    add_workers(state, ("w1", 1))
    n = GRAPH_SHAPE_LIMIT  # a leaf then its pair, for each leaf: the order a client gives
    deps = {f"leaf-{i}": [] for i in range(n)} | {f"pair-{i}": [f"leaf-{i}"] for i in range(n)}
    deps["total"] = [f"pair-{i}" for i in range(n)]
    order = {}
    for i in range(n):
        order[f"leaf-{i}"], order[f"pair-{i}"] = 2 * i, 2 * i + 1
    order["total"] = 2 * n
    deps["late"] = []  # an input the order puts last, needed by the first pair
    deps["pair-0"] = ["leaf-0", "late"]
    order["late"] = 2 * n + 1
    [submitted] = records(state.handle(graph(deps, ["total"], priority=order)), GraphSubmitted)
    pairs = shape_pairs(submitted.dependencies)
    shape = dict(pairs)
    assert len(shape) == GRAPH_SHAPE_LIMIT
    half = GRAPH_SHAPE_LIMIT // 2  # the first pairs to run, each with its leaves and edges
    assert "late" in shape and set(shape["pair-0"]) == {"leaf-0", "late"}
    assert {f"pair-{i}" for i in range(half - 1)} <= set(shape)
    assert all(set(shape[f"pair-{i}"]) == {f"leaf-{i}"} for i in range(1, half - 1))
    placed = {}
    for position, (key, needs) in enumerate(pairs):  # each after what it needs
        assert all(placed[dep] < position for dep in needs), key
        placed[key] = position


def _rows(records) -> list:
    from shoal.events import TASK_FIELDS, TaskRows

    return [dict(zip(TASK_FIELDS, values)) for r in records if isinstance(r, TaskRows)
            for values in zip(*(r.columns[f] for f in TASK_FIELDS))]  # fmt: skip


def test_task_states_readers_get_rows_per_flush_timings_first_then_each_keys_state(clock):
    from shoal.events import TASK_STATES, TaskRows

    state = SchedulerState(clock=clock, wants=lambda kind: kind == TASK_STATES, validate=True)
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"x": [], "y": []}, ["x", "y"]))
    out += state.handle(finished(compute(out, "x"), nbytes=123))
    assert not [i for i in out if isinstance(i, m.Publish)]  # nothing at once: a dict write each
    state.handle(graph({"y": [], "z": ["y"]}, ["z"]))
    assert state.tasks["z"].state == "waiting"
    [batch] = state.task_state_records()
    assert isinstance(batch, TaskRows) and batch.kind == TASK_STATES and batch.weight == 2
    timed, now = _rows([batch])
    # "x" ran: its row carries the timings and where its result is
    assert (timed["key"], timed["start"], timed["finish"], timed["worker"], timed["nbytes"]) == (
        "x", "processing", "memory", "w1", 123)
    assert timed["startstops"] == 1 and batch.columns["startstops-values"][0] == "compute"  # ragged
    # then one row per changed key, from its state before to its state now; a key that
    # never ran and waits ("z") is not reported, nor were y's steps before it ran
    assert (now["key"], now["start"], now["finish"], now["worker"]) == ("y", "waiting", "processing", "w1")
    assert state.task_state_records() == []  # nothing changed since
    state.handle(m.ClientReleasesKeys(keys=["x"], client="c1"))
    # a key the reader was told of, forgotten: its key alone, after the rows before it
    [batch] = state.task_state_records()
    assert _rows([batch]) == [] and batch.weight == 1
    assert (batch.columns["forgotten"], batch.columns["forgotten-at"]) == (["x"], [0])
    from shoal.distributed.eventstream import decode_batch, encode_batch

    [gone] = decode_batch(encode_batch([batch]), task_objects=True)
    assert (gone.run_id, gone.key, gone.finish) == (None, "x", "forgotten")
    # one that never ran (counted as waiting from its graph) still comes as a whole row
    state.handle(m.ClientReleasesKeys(keys=["z"], client="c1"))
    rows = _rows(state.task_state_records())
    assert [(r["key"], r["start"], r["finish"], r["run_id"]) for r in rows] == [
        ("z", "released", "forgotten", "c1-graph-2")]


def test_task_rows_go_out_before_the_computation_finished_record(clock):
    from shoal.events import TASK_STATES, TaskRows

    state = SchedulerState(clock=clock, wants=lambda kind: kind != "task", validate=True)
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"x": []}, ["x"]))
    out = state.handle(finished(compute(out, "x")))
    published = [i.record for i in out if isinstance(i, m.Publish)]
    assert [type(r) for r in published] == [TaskRows, ComputationFinished]
    assert [(r["key"], r["finish"]) for r in _rows(published)] == [("x", "memory")]
    assert state.task_state_records() == []  # flushed with it
    assert TASK_STATES == TaskRows.kind


def test_nothing_published_when_nobody_listens(clock):
    state = SchedulerState(clock=clock, wants=lambda kind: False)
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"x": []}, ["x"]))
    assert not [i for i in out if isinstance(i, m.Publish)]


def test_computation_finished_counts_keys_already_done(state):
    add_workers(state, ("w1", 1))
    state.handle(finished(compute(state.handle(graph({"x": []}, ["x"])))))
    out = state.handle(graph({"x": []}, ["x"], client="c2"))  # nothing left to do
    (done,) = records(out, ComputationFinished)
    assert done.status == "finished" and records(out, GraphSubmitted)[0].ntasks == 0
    out = state.handle(m.UpdateGraph({"y": "f"}, {"y": []}, ["x", "y"], "c3"))
    assert not records(out, ComputationFinished)
    out = state.handle(finished(compute(out)))
    assert [r.status for r in records(out, ComputationFinished)] == ["finished"]
    out = state.handle(m.UpdateGraph({}, {}, [], "c3"))
    assert [r.status for r in records(out, ComputationFinished)] == ["finished"]


def test_unneeded_tasks_of_a_graph_are_not_kept(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"a": [], "b": ["a"], "unused": ["a"]}, ["b"]))
    assert set(state.tasks) == {"a", "b"} and records(out, GraphSubmitted)[0].ntasks == 2


def test_learns_durations(state):
    add_workers(state, ("w1", 1))
    out = state.handle(graph({"inc-1": []}, ["inc-1"]))
    state.handle(finished(compute(out), took=2.0))
    assert state.durations["inc"] == pytest.approx(2.0)
    out = state.handle(graph({"inc-2": []}, ["inc-2"]))
    assert compute(out).duration == pytest.approx(2.0)


# --- messages ----------------------------------------------------------------------------

WIRE_EXAMPLES = [  # events that arrive as messages (the others the scheduler makes itself)
    m.UpdateGraph({"x": 1}, {"x": []}, ["x"], "c1", retries={"x": 1}),
    m.ClientDesiresKeys(["x"], "c1"), m.ClientReleasesKeys(["x"], "c1"),
    m.CancelKeys(["x"], "c1", True), m.RetryKeys(["x"], "c1"), m.AddClient("c1"),
    m.RemoveClient("c1"), m.AddWorker("w", 2, 10, {"GPU": 1}, "n", "nanny"),
    m.RemoveWorker("w", "bye", True), m.TaskFinished("w", "x", 1, 8, "int", (), 3),
    m.TaskErred("w", "x", 1, ValueError("e"), None, "e", "tb"), m.MissingData("x", "w"),
    m.ReleaseWorkerData("w", "x"), m.Reschedule("w", "x"), m.LongRunning("w", "x", 1, 0.25),
    m.WorkerStatusChange("w", "paused"),
    m.Heartbeat("w", {"cpu": 1.0}),
    m.StealResponse("w", "x", "ready"), m.Balance(), m.UpdateData({"x": ["w"]}, {"x": 8}, "c1"),
    m.AddKeys("w", ["x"]), m.TaskRowsReported("w", b"\x80", 0),
]  # fmt: skip
EXAMPLES = [*WIRE_EXAMPLES, DropReplicas("w", ["x"])]
INSTRUCTIONS = [
    m.ComputeTask("w", "x", 1, (0, 1, 2), 0.5, "spec", {"y": ["w2"]}, {"y": 8}),
    m.FreeKeys("w", ["x"]), m.StealRequest("w", "x"), m.KeyInMemory("c", "x", "int"),
    m.ClientTaskErred("c", "x", ValueError("e"), None), m.TaskRetried("c", "x"),
    m.CancelledKeys("c", ["x"], "why"), m.LostData("c", "x"), m.Publish(WorkerRemoved("w")),
    m.ReportTaskRows("w", True),
]  # fmt: skip


@pytest.mark.parametrize("event", WIRE_EXAMPLES, ids=lambda e: e.op)
def test_event_round_trip(event):
    msg = event.to_msg()
    assert msg["op"] == event.op and msg["stimulus_id"] == event.stimulus_id
    back = m.parse_event({**msg, "from-the-future": 1})
    assert type(back) is type(event) and back.to_msg() == msg


@pytest.mark.parametrize("instruction", INSTRUCTIONS, ids=lambda i: i.op)
def test_instruction_round_trip(instruction):
    msg = instruction.to_msg()
    assert m.parse_instruction(msg).to_msg() == msg


def test_task_erred_means_different_things_each_way():
    report = {"op": "task-erred", "worker": "w", "key": "x", "run_id": 1}
    notice = {"op": "task-erred", "client": "c", "key": "x"}
    assert type(m.parse_event(report)) is m.TaskErred
    assert type(m.parse_instruction(notice)) is m.ClientTaskErred


def test_malformed_messages():
    with pytest.raises(ValueError, match="unknown op 'nope'"):
        m.parse_event({"op": "nope"})
    with pytest.raises(ValueError):
        m.parse_event(["not", "a", "dict"])
    with pytest.raises(TypeError, match="'task-finished'"):
        m.parse_event({"op": "task-finished", "key": "x"})
    assert m.parse_event({"op": "balance"}).stimulus_id.startswith("balance-")


def test_all_events_have_handlers():
    from shoal.distributed.scheduler.messages import HANDLERS
    from shoal.distributed.scheduler.state import SchedulerState

    assert set(HANDLERS) == {type(e) for e in EXAMPLES}
    # each handler is a method of the state (defined there or in one of its mixins)
    assert all(getattr(SchedulerState, fn.__name__) is fn for fn in HANDLERS.values())


def test_killed_worker_pickles():
    import pickle

    exc = pickle.loads(pickle.dumps(KilledWorker(("x", 1), "tcp://a:1", 2)))
    assert exc.key == ("x", 1) and exc.last_worker == "tcp://a:1" and "3 workers" in str(exc)


# --- purity ---------------------------------------------------------------------------------

PURE = ["state.py", "transitions.py", "policies.py", "messages.py", "computations.py", "replicas.py",
        "__init__.py"]
BANNED = {"asyncio", "socket", "threading", "tornado", "bokeh", "selectors", "concurrent"}


@pytest.mark.parametrize("name", PURE)
def test_state_machine_modules_are_pure(name):
    import shoal.distributed.scheduler as pkg

    path = pathlib.Path(pkg.__file__).parent / name
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & BANNED
    assert len(path.read_text().splitlines()) < 650


def test_ids_are_unique_per_event():
    assert len({m.Balance().stimulus_id for _ in range(10)}) == 10


# --- chaos: random events, invariants after every step -------------------------------------


class Chaos(Sim):
    """Workers that also die, join, lose data, get stolen from and fail."""

    def __init__(self, state, rng):
        super().__init__(state)
        self.rng = rng
        self.names = (f"w{i}" for i in itertools.count(10))

    def feed(self, *events) -> list:
        out = super().feed(*events)
        for req in sent(out, m.StealRequest):
            mine = [c for c in self.todo if (c.worker, c.key) == (req.worker, req.key)]
            if mine and self.rng.random() < 0.7:
                self.todo = deque(c for c in self.todo if c not in mine)
                self.feed(m.StealResponse(req.worker, req.key, "ready"))
            else:
                self.feed(m.StealResponse(req.worker, req.key, "executing" if mine else None))
        self.todo = deque(c for c in self.todo if c.worker in self.state.workers)  # the dead
        return out

    def step(self) -> None:
        rng, st = self.rng, self.state
        roll = rng.random()
        if self.todo and roll < 0.55:
            ct = self.todo[rng.randrange(len(self.todo))]
            self.todo.remove(ct)
            fail = rng.random() < 0.05
            self.feed(erred(ct) if fail else finished(ct, nbytes=rng.randrange(1, 10**6)))
        elif roll < 0.62 and len(st.workers) > 1:
            self.feed(m.RemoveWorker(rng.choice(sorted(st.workers)), safe=rng.random() < 0.5))
        elif roll < 0.70:
            gpus = {"GPU": 1} if rng.random() < 0.3 else {}
            self.feed(m.AddWorker(next(self.names), rng.randrange(1, 4), resources=gpus))
        elif roll < 0.78:
            self.feed(m.Balance())
        elif roll < 0.83:
            held = [ts for ts in st.tasks.values() if ts.who_has]
            if held:
                ts = rng.choice(held)
                self.feed(m.MissingData(ts.key, rng.choice(sorted(w.address for w in ts.who_has))))
        elif roll < 0.87 and self.todo:
            ct = self.todo[rng.randrange(len(self.todo))]
            self.todo.remove(ct)
            self.feed(m.Reschedule(ct.worker, ct.key))
        elif roll < 0.92:
            keys = rng.sample(sorted(st.tasks, key=str), min(3, len(st.tasks)))
            op = rng.choice([m.CancelKeys, m.ClientReleasesKeys, m.RetryKeys, m.ClientDesiresKeys])
            self.feed(op(keys, rng.choice(["c1", "c2"])))
        else:
            self.feed(random_graph(rng, rng.choice(["c1", "c2"])))


def random_graph(rng, client):
    n = rng.randrange(5, 40)
    base = rng.randrange(10**6)
    keys = [f"k{rng.randrange(3)}-{base + i}" for i in range(n)]
    deps = {k: rng.sample(keys[:i], min(i, rng.randrange(0, 4))) for i, k in enumerate(keys)}
    wanted = rng.sample(keys, rng.randrange(1, 4))
    pinned = {k: [rng.choice(["w1", "w2", "w10", "late"])] for k in keys if rng.random() < 0.1}
    return m.UpdateGraph(
        {k: "f" for k in keys}, deps, wanted, client,
        retries={k: 1 for k in keys if rng.random() < 0.2},
        priority={k: i for i, k in enumerate(keys)},
        restrictions=pinned,
        loose_restrictions=[k for k in pinned if rng.random() < 0.5],
        resources={k: {"GPU": 1} for k in keys if rng.random() < 0.05},
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(12))
def test_chaos_keeps_invariants(seed, clock):
    import random

    rng = random.Random(seed)
    state = SchedulerState(clock=clock, allowed_failures=rng.choice([1, 1000]),
                           worker_saturation=rng.choice([1.1, math.inf]))  # fmt: skip
    chaos = Chaos(state, rng)
    chaos.feed(m.AddWorker("w1", 2), m.AddWorker("w2", 1, resources={"GPU": 1}))
    chaos.feed(random_graph(rng, "c1"), random_graph(rng, "c2"))
    for _ in range(600):
        chaos.step()
    # calm: the worker that restrictions wait for joins, everything wanted finishes
    for name in ("w1", "w2", "w10", "late"):
        if name not in state.workers:
            chaos.feed(m.AddWorker(name, 1, resources={"GPU": 2}))
    chaos.run()
    for ts in state.tasks.values():
        assert ts.state in ("memory", "erred", "released"), ts
        if ts.who_wants:
            assert ts.state in ("memory", "erred"), ts
    for name in ("c1", "c2"):
        chaos.feed(m.RemoveClient(name))
    assert state.tasks == {} and not state.computations
    assert all(not ws.processing and not ws.has_what for ws in state.workers.values())


# --- scatter (update-data) and replicas (add-keys) ------------------------------------


def test_scattered_data_is_in_memory_and_feeds_tasks(state):
    add_workers(state, ("a", 1), ("b", 1))
    out = state.handle(m.UpdateData({"s": ["a", "b"]}, {"s": 80}, "c1", {"s": "int"}))
    assert sent(out, m.KeyInMemory, key="s", client="c1")
    ts = state.tasks["s"]
    assert ts.state == "memory" and {w.address for w in ts.who_has} == {"a", "b"}
    assert state.workers["a"].nbytes == 80
    ct = compute(state.handle(graph({"y": ["s"]}, ["y"])), "y")
    assert sorted(ct.who_has["s"]) == ["a", "b"]
    state.handle(finished(ct))
    assert state.tasks["y"].state == "memory"


def test_scatter_replaces_a_waiting_task(state):
    state.handle(graph({"x": [], "y": ["x"]}, ["y"]))  # no workers: x waits for one
    add_workers(state, ("a", 1))
    out = state.handle(m.UpdateData({"y": ["a"]}, {"y": 8}, "c1"))
    assert state.tasks["y"].state == "memory"
    assert sent(out, m.KeyInMemory, key="y")


def test_lost_scattered_data_errs_with_a_clear_exception(state):
    add_workers(state, ("a", 1))
    state.handle(m.UpdateData({"s": ["a"]}, {"s": 8}, "c1"))
    out = state.handle(m.RemoveWorker("a", "died"))
    (err,) = sent(out, m.ClientTaskErred, key="s")
    assert "scattered data 's' was lost" in str(err.exception)
    assert state.tasks["s"].state == "erred"


def test_add_keys_records_replicas_and_frees_unknown_ones(state):
    add_workers(state, ("a", 1), ("b", 1))
    ct = compute(state.handle(graph({"x": []}, ["x"])), "x")
    state.handle(finished(ct, nbytes=16))
    other = "b" if ct.worker == "a" else "a"
    out = state.handle(m.AddKeys(other, ["x", "ghost"]))
    assert {w.address for w in state.tasks["x"].who_has} == {"a", "b"}
    assert state.workers[other].nbytes == 16
    assert sent(out, m.FreeKeys, worker=other, keys=["ghost"])


class _Dashboard:
    """A dashboard's state fed with what *state* publishes, through the event
    stream's encoding, as the dashboard process gets it."""

    def __init__(self, state):
        from shoal.dashboard.state import DashboardState

        self.state, self.reader = state, DashboardState()
        self.delivered: list = []
        for address, ws in state.workers.items():
            self.reader.ingest(WorkerAdded(address, ws.nthreads, 0, address, 0.0))

    def deliver(self, records) -> list:
        from shoal.distributed.eventstream import decode_batch, encode_batch
        from shoal.distributed.protocol import dumps, loads

        got = decode_batch(loads(dumps(encode_batch(records))), task_objects=True)
        for record in got:
            self.reader.ingest(record)
        self.delivered += got
        return got

    def handle(self, *events) -> list:
        """Handle *events*; what they published, and then the task rows, delivered."""
        out = self.state.handle(*events)
        self.deliver([i.record for i in out if isinstance(i, m.Publish)])
        self.deliver(self.state.task_state_records())
        return out

    def agrees(self, prefix: str, total: int) -> None:
        """The reader's counts are the scheduler's: per worker and per state."""
        truth = {w: len(ws.processing) for w, ws in self.state.workers.items()}
        assert {w["address"]: w["processing"] for w in self.reader.workers()} == truth
        progress = self.reader.progress()[prefix]
        memory = sum(ts.state == "memory" for ts in self.state.tasks.values())
        assert (progress["processing"], progress["memory"], progress["total"]) == (
            sum(truth.values()), memory, total)


def test_many_keys_starting_on_one_worker_go_as_a_count_and_a_reader_keeps_them_exact(clock):
    """Keys new to the reader that went to processing on one worker since the last
    flush travel as one count per run, prefix and worker from ``COUNT_FROM`` on
    (short tasks: a worker holds hundreds); fewer go as rows.  Their later rows
    name them, from processing, and the dashboard's counts stay exact."""
    from shoal.events import PROCESSING_COUNT_FROM as COUNT_FROM
    from shoal.events import TaskRows, TasksProcessing

    state = SchedulerState(clock=clock, wants=lambda kind: kind != "task", validate=True)
    add_workers(state, ("w1", 20), ("w2", 1))
    dash = _Dashboard(state)
    keys = [f"t-{i}" for i in range(24)]
    sent = state.handle(graph({k: [] for k in keys}, keys))
    dash.deliver([i.record for i in sent if isinstance(i, m.Publish)])  # GraphSubmitted
    on = {w: sorted(ts.key for ts in state.workers[w].processing) for w in ("w1", "w2")}
    assert len(on["w1"]) >= COUNT_FROM and 0 < len(on["w2"]) < COUNT_FROM, on
    [batch] = state.task_state_records()
    assert isinstance(batch, TaskRows)
    assert batch.columns["processing-counts"] == [["c1-graph-1", "t", "w1", len(on["w1"])]]
    assert sorted(r["key"] for r in _rows([batch])) == on["w2"]  # rows: too few to count
    got = dash.deliver([batch])
    assert [r for r in got if isinstance(r, TasksProcessing)] == [
        TasksProcessing("c1-graph-1", "t", "w1", len(on["w1"]))]
    dash.agrees("t", 24)
    # counted keys finish: each row names its key, from processing; new ones start
    for key in on["w1"][:3] + on["w2"][:1]:
        dash.handle(finished(compute(sent, key), nbytes=10))
        dash.agrees("t", 24)
    assert dash.reader.key_info(on["w1"][0])["state"] == "memory"


def _queued_run(clock):
    """Ten root tasks on one worker of two threads, watched: eight wait in the queue.
    Returns the state, its dashboard and what the graph's submission sent."""
    state = SchedulerState(clock=clock, wants=lambda kind: kind != "task", validate=True,
                           worker_saturation=1.0)  # fmt: skip
    add_workers(state, ("w1", 2))
    dash = _Dashboard(state)
    keys = [f"t-{i}" for i in range(10)]
    return state, dash, dash.handle(graph({k: [] for k in keys}, keys))


def test_a_dashboard_tells_queued_tasks_from_waiting_ones(clock):
    """Root tasks past the workers' room wait in the scheduler's queue, unreported one
    by one: each flush where a run and prefix's count in the queue changed carries it
    (``queued-counts``), and the reader's progress shows them queued, not waiting,
    down to 0 as they run."""
    from shoal.events import TasksQueued

    state, dash, sent = _queued_run(clock)
    told = {i.key: i for i in sent if isinstance(i, m.ComputeTask)}  # key -> its ComputeTask
    assert len(state.queued) == 8
    row = dash.reader.progress()["t"]
    assert (row["processing"], row["queued"], row["waiting"], row["total"]) == (2, 8, 0, 10)
    assert dash.reader.task_counts()["queued"] == 8
    seen = []
    while len(state.queued) or any(ws.processing for ws in state.workers.values()):
        running = [ts.key for ws in state.workers.values() for ts in ws.processing]
        sent = dash.handle(finished(told[running[0]], nbytes=10))
        told.update((i.key, i) for i in sent if isinstance(i, m.ComputeTask))
        seen.append(dash.reader.progress()["t"]["queued"])
        assert seen[-1] == len(state.queued)
    assert seen[-1] == 0 and dash.reader.progress()["t"]["memory"] == 10
    assert TasksQueued("c1-graph-1", "t", 0) in dash.delivered


def test_a_reader_that_joins_late_is_told_the_queue_as_it_is(clock):
    """A reader that subscribes while others watch (a second page's process, a
    restarted dashboard, a resync) gets the queue's counts in its snapshot, which
    leaves out the tasks that never ran (as the live stream does): it showed graph 1's
    queued tasks from their named keys only, hidden behind graph 2's count, and
    counted keys that ran as queued."""
    from shoal.distributed.eventstream import scheduler_snapshot

    state, first, sent = _queued_run(clock)
    late = _Dashboard(state)
    late.deliver(scheduler_snapshot(state))
    late.reader.ingest({"kind": "snapshot-end", "time": 0.0})
    more = [f"t-{i}" for i in range(10, 20)] + [f"u-{i}" for i in range(5)]
    out = state.handle(graph({k: [] for k in more}, more, priority={}, user_priority=10))
    records = [i.record for i in out if isinstance(i, m.Publish)] + state.task_state_records()
    for reader in (first, late):
        reader.deliver(records)
    truth = {"t": sum(ts.prefix == "t" for ts in state.queued), "u": 5}
    assert truth == {"t": 18, "u": 5}
    for reader in (first, late):
        progress = reader.reader.progress()
        assert {p: row["queued"] for p, row in progress.items()} == truth
        assert reader.reader.task_counts()["queued"] == 23
        assert progress["t"]["processing"] == 2 and progress["t"]["total"] == 20
    running = [ts.key for ws in state.workers.values() for ts in ws.processing]
    ct = next(i for i in sent if isinstance(i, m.ComputeTask) and i.key == running[0])
    out = state.handle(finished(ct))
    records = [i.record for i in out if isinstance(i, m.Publish)] + state.task_state_records()
    for reader in (first, late):
        reader.deliver(records)
        assert reader.reader.progress()["u"]["queued"] == len(state.queued) - 18


def test_counted_keys_that_move_are_named_where_they_were_first(clock):
    """A key a reader knows only from a count that leaves its worker without finishing
    there (stolen, its worker gone, released) is named processing there first: the
    reader took a stolen task off whichever worker had tasks of its prefix counted,
    and kept a dead worker's, and its per-worker counts stayed wrong for the run."""
    from shoal.events import TasksProcessing

    state = SchedulerState(clock=clock, wants=lambda kind: kind != "task", validate=True,
                           worker_saturation=math.inf)  # fmt: skip
    add_workers(state, ("w1", 2), ("w2", 2))
    dash = _Dashboard(state)
    keys = [f"t-{i}" for i in range(40)]
    sent = state.handle(graph({k: [] for k in keys}, keys))
    dash.deliver([i.record for i in sent if isinstance(i, m.Publish)])
    counts = [r for r in dash.deliver(state.task_state_records()) if isinstance(r, TasksProcessing)]
    assert sorted((r.worker, r.n) for r in counts) == [("w1", 20), ("w2", 20)]
    dash.handle(m.AddWorker("w3", 2))
    steals = [i for i in dash.handle(m.Balance()) if isinstance(i, m.StealRequest)]
    assert steals and {i.worker for i in steals} <= {"w1", "w2"}
    for request in steals:  # the victims had not started them: they move to w3
        dash.handle(m.StealResponse(request.worker, request.key, "ready"))
    assert len(state.workers["w3"].processing) == len(steals)
    dash.agrees("t", 40)
    dash.handle(m.RemoveWorker("w2", "died"))  # its tasks go to the others
    dash.agrees("t", 40)
    assert "w2" not in dash.reader._book.processing  # nothing left of it
    dash.handle(m.ClientReleasesKeys(keys[:5], "c1"))  # released while processing
    dash.agrees("t", 40)
    while any(ws.processing for ws in state.workers.values()):
        for ws in list(state.workers.values()):
            for ts in list(ws.processing):
                dash.handle(finished(SimpleNamespace(worker=ws.address, key=ts.key,
                                                     run_id=ts.run_id)))  # fmt: skip
        dash.agrees("t", 40)


def test_a_failing_publisher_never_stops_the_state_machine(clock, monkeypatch, caplog):
    """A bug on the listener's side (here: making a row raises) is logged and the
    pending rows dropped; the transition, and the handle() call, go on."""
    from shoal.distributed.scheduler import publish
    from shoal.events import TASK_STATES

    state = SchedulerState(clock=clock, wants=lambda kind: kind == TASK_STATES, validate=True)
    add_workers(state, ("w1", 1))
    good = publish.T.task_row

    def broken(ts, *args):
        if ts.key == "x":
            raise RuntimeError("a broken row")
        return good(ts, *args)

    monkeypatch.setattr(publish.T, "task_row", broken)
    sent = state.handle(graph({"x": [], "y": []}, ["x", "y"]))
    with caplog.at_level("ERROR", logger="shoal.distributed.scheduler.publish"):
        out = state.handle(finished(compute(sent, "x")))  # the hook raises for x's row
        assert state.tasks["x"].state == "memory" and state.tasks["y"].state == "processing"
        assert [i.key for i in out if isinstance(i, m.KeyInMemory)] == ["x"]
        assert state.task_state_records() == []  # dropped
        state.handle(graph({"z": ["y"]}, ["z"]))
        state.publisher._changed["x"] = "processing"  # a flush that raises too
        assert state.task_state_records() == []
    assert [r.message.split(";")[0] for r in caplog.records] == [
        "publishing task states failed in the processing -> memory step of 'x'",
        "publishing task states failed in a flush"]
    state.handle(finished(compute(sent, "y")))  # and publishing goes on
    assert [(r["key"], r["finish"]) for r in _rows(state.task_state_records())] == [
        ("y", "memory"), ("z", "processing")]
