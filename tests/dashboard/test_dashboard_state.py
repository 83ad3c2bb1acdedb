"""DashboardState: synthetic records in, exact views out (no Bokeh, no server)."""

import threading

import pytest

from shoal.dashboard.profiles import merge_trees, normalize_tree, profile_items
from shoal.dashboard.state import DashboardState, Limits
from shoal.events import (
    SystemMetrics,
    graph_shape,
    ComputationFinished,
    GraphSubmitted,
    TaskTransition,
    WorkerAdded,
    WorkerMetrics,
    WorkerRemoved,
)

T0 = 1_700_000_000.0
W1, W2 = "tcp://127.0.0.1:1001", "tcp://127.0.0.1:1002"


def tt(run, key, start, finish, worker="", prefix=None, t=None, dur=1.0, nbytes=0, exc="",
       thread=1):  # fmt: skip
    ss = (("compute", t, t + dur),) if t is not None else ()
    return TaskTransition(run, key, prefix or key.split("-")[0], start, finish, worker, thread, ss,
                          nbytes, "int" if finish == "memory" else "", exc)  # fmt: skip


def distributed_run(state, run="c-graph-1"):
    """inc-1, inc-2 -> sum-1 on two workers, the way the scheduler reports it."""
    state.ingest(WorkerAdded(W1, 2, 1000, "w1", T0))
    state.ingest(WorkerAdded(W2, 1, 1000, "w2", T0))
    state.ingest(GraphSubmitted(run, "scheduler", 3, {"inc": 2, "sum": 1}, ("sum-1",), T0))
    for key in ("inc-1", "inc-2", "sum-1"):
        state.ingest(tt(run, key, "released", "waiting"))
    state.ingest(tt(run, "inc-1", "waiting", "processing", W1))
    state.ingest(tt(run, "inc-2", "waiting", "processing", W2))


def finished_run(state):
    """:func:`distributed_run` to its end, the results held (10 + 10 + 1 bytes)."""
    distributed_run(state)
    for key, w in (("inc-1", W1), ("inc-2", W2)):
        state.ingest(tt("c-graph-1", key, "processing", "memory", w, t=T0, nbytes=10))
    state.ingest(tt("c-graph-1", "sum-1", "waiting", "processing", W1))
    state.ingest(tt("c-graph-1", "sum-1", "processing", "memory", W1, t=T0, nbytes=1))
    state.ingest(ComputationFinished("c-graph-1", "finished", T0 + 5))


def test_progress_counts_follow_each_key():
    s = DashboardState()
    s.ingest(GraphSubmitted("r", "scheduler", 3, {"inc": 2, "sum": 1}, ("sum-1",), T0))
    assert s.progress() == {
        "inc": {"memory": 0, "erred": 0, "processing": 0, "queued": 0, "waiting": 2, "released": 0, "total": 2},
        "sum": {"memory": 0, "erred": 0, "processing": 0, "queued": 0, "waiting": 1, "released": 0, "total": 1},
    }
    distributed_run(s, "r")
    assert s.progress()["inc"] == {"memory": 0, "erred": 0, "processing": 2, "queued": 0, "waiting": 0,
                                   "released": 0, "total": 2}  # fmt: skip
    s.ingest(tt("r", "inc-1", "processing", "memory", W1, t=T0, nbytes=100))
    s.ingest(tt("r", "inc-2", "processing", "memory", W2, t=T0, dur=3.0, nbytes=50))
    s.ingest(tt("r", "sum-1", "waiting", "processing", W1))
    s.ingest(tt("r", "inc-1", "memory", "released"))
    assert s.progress() == {
        "inc": {"memory": 1, "erred": 0, "processing": 0, "queued": 0, "waiting": 0, "released": 1, "total": 2},
        "sum": {"memory": 0, "erred": 0, "processing": 1, "queued": 0, "waiting": 0, "released": 0, "total": 1},
    }
    assert s.memory_by_prefix() == {"inc": 50}
    assert s.compute_time() == {"inc": (4.0, 2)}
    assert s.task_counts() == {"memory": 1, "released": 1, "processing": 1}


def test_processing_and_occupancy_per_worker():
    s = DashboardState()
    distributed_run(s)
    rows = {w["address"]: w for w in s.workers()}
    assert rows[W1]["processing"] == rows[W2]["processing"] == 1
    assert rows[W1]["occupancy"] == 0.5  # unknown prefix: 0.5 s
    s.ingest(tt("c-graph-1", "inc-2", "processing", "memory", W2, t=T0, dur=2.0, nbytes=8))
    s.ingest(tt("c-graph-1", "inc-1", "processing", "processing", W2))  # stolen
    rows = {w["address"]: w for w in s.workers()}
    assert (rows[W1]["processing"], rows[W2]["processing"]) == (0, 1)
    assert rows[W2]["occupancy"] == 2.0  # the mean compute time of "inc"


def test_occupancy_expects_what_the_scheduler_expects():
    """The scheduler expects a prefix's next task to take halfway between its last
    estimate and the task that finished, and ``unknown-task-duration`` before the
    first: the pane shows the scheduler's occupancy, not the all-time mean."""
    from shoal import config

    with config.set({"distributed.scheduler.unknown-task-duration": "5s"}):
        s = DashboardState()
    distributed_run(s)
    assert [w["occupancy"] for w in s.workers()] == [5.0, 5.0]
    s.ingest(GraphSubmitted("more", "scheduler", 3, {"inc": 3}, (), T0))
    for i, (dur, erred) in enumerate(((2.0, False), (4.0, False), (1.0, False), (60.0, True))):
        s.ingest(tt("more", f"inc-{10 + i}", "waiting", "processing", W2))
        s.ingest(tt("more", f"inc-{10 + i}", "processing", "erred" if erred else "memory", W2,
                    t=T0, dur=dur))  # fmt: skip
    occupancy = {w["address"]: w["occupancy"] for w in s.workers()}
    assert occupancy == {W1: 2.0, W2: 2.0}  # (2 + 4) / 2, then (3 + 1) / 2; no erred one
    assert s.compute_time()["inc"] == (67.0, 4)  # (the bars still add every compute)


def test_distributed_run_dropped_once_forgotten():
    s = DashboardState()
    finished_run(s)
    assert s.progress()["sum"]["memory"] == 1  # results held: still shown
    assert s.computations()[-1]["status"] == "finished"
    for key in ("inc-1", "inc-2", "sum-1"):
        s.ingest(tt("c-graph-1", key, "memory", "released"))
        s.ingest(tt("c-graph-1", key, "released", "forgotten"))
    assert s.progress() == {}
    assert s.memory_by_prefix() == {}
    assert s.graph_nodes() == []


def test_a_key_of_a_dropped_run_that_runs_again_leaves_with_it():
    """A scheduler names a key's rows by the computation that made it.  ``x-1`` is
    released (``y-1``, of another computation, needs it) and its finished run is
    dropped; then ``x-1`` runs again (resubmitted, or recomputed for a lost worker)
    under that run.  The run comes back finished (no scheduler says so twice), so
    once both keys are let go nothing is left: the bar of ``x`` stayed for good."""
    s = DashboardState()
    for run, key, deps in (("c-graph-1", "x-1", 0), ("c-graph-2", "y-1", 1)):
        s.ingest(GraphSubmitted(run, "scheduler", 1, {key[0]: 1}, (key,), T0))
        for start, finish in (("released", "waiting"), ("waiting", "processing"),
                              ("processing", "memory")):  # fmt: skip
            s.ingest(tt(run, key, start, finish, W1, t=T0 if finish == "memory" else None))
        s.ingest(ComputationFinished(run, "finished", T0 + 1))
    s.ingest(tt("c-graph-1", "x-1", "memory", "released"))
    assert set(s.progress()) == {"y"}  # x's run: finished, nothing live, dropped
    for start, finish in (("released", "waiting"), ("waiting", "processing"),
                          ("processing", "memory")):  # fmt: skip
        s.ingest(tt("c-graph-1", "x-1", start, finish, W2, t=T0 + 5 if finish == "memory" else None))
    assert s.progress()["x"]["memory"] == 1  # running again: shown again
    for run, key in (("c-graph-1", "x-1"), ("c-graph-2", "y-1")):
        s.ingest(tt(run, key, "memory", "released"))
        s.ingest(tt(run, key, "released", "forgotten"))
    assert s.progress() == {} and s.memory_by_prefix() == {}
    assert [c["status"] for c in s.computations()] in ([], ["finished"] * 2)


def test_a_dropped_run_back_for_a_key_is_not_dropped_again_by_the_runs_bound():
    """The run brought back is finished: past ``limits.runs`` (many computations still
    running), the bound chose it, the only finished one, and dropped it before its key
    was counted, so the key ran under a run the book no longer had."""
    s = DashboardState(runs=3)
    s.ingest(GraphSubmitted("c-graph-1", "scheduler", 1, {"x": 1}, ("x-1",), T0))
    s.ingest(tt("c-graph-1", "x-1", "processing", "memory", W1, t=T0, nbytes=8))
    s.ingest(ComputationFinished("c-graph-1", "finished", T0 + 1))
    s.ingest(tt("c-graph-1", "x-1", "memory", "released"))
    for i in range(2, 5):  # running, none finished
        s.ingest(GraphSubmitted(f"c-graph-{i}", "scheduler", 1, {"y": 1}, (f"y-{i}",), T0))
    s.ingest(tt("c-graph-1", "x-1", "released", "waiting"))
    s.ingest(tt("c-graph-1", "x-1", "waiting", "processing", W1))
    s.ingest(tt("c-graph-1", "x-1", "processing", "memory", W1, t=T0 + 5, nbytes=8))
    assert s.progress()["x"]["memory"] == 1 and s.memory_by_prefix()["x"] == 8
    s.ingest(tt("c-graph-1", "x-1", "memory", "released"))
    s.ingest(tt("c-graph-1", "x-1", "released", "forgotten"))
    assert "x" not in s.progress() and "x" not in s.memory_by_prefix()


def test_a_local_run_met_halfway_that_finished_counts_every_task_done():
    """A ``Dashboard()`` opened while a local run goes on learns of it (the bus's runs
    in progress) but not of the tasks that ended before; at its successful end those
    count in memory, not released (it read 9 in memory, 32 released, of 41 done)."""
    s = DashboardState()
    s.ingest(GraphSubmitted("threads-1", "threads", 41, {"slow": 40, "sum": 1}, (), T0))
    for i in range(30, 40):
        s.ingest(tt("threads-1", f"slow-{i}", "processing", "memory", "threads", t=T0 + 1))
    s.ingest(tt("threads-1", "sum-1", "waiting", "processing", "threads"))
    s.ingest(tt("threads-1", "sum-1", "processing", "memory", "threads", t=T0 + 2))
    s.ingest(ComputationFinished("threads-1", "finished", T0 + 3))
    assert s.progress()["slow"]["memory"] == 40 and s.progress()["sum"]["memory"] == 1
    assert s.task_counts()["memory"] == 41 and not s.task_counts()["released"]
    s.ingest(GraphSubmitted("threads-2", "threads", 3, {"slow": 3}, (), T0 + 4))
    s.ingest(tt("threads-2", "slow-x", "processing", "erred", "threads", t=T0 + 5, exc="E: x"))
    s.ingest(ComputationFinished("threads-2", "error", T0 + 6, "E: x"))
    assert s.progress()["slow"] == {"memory": 0, "erred": 1, "processing": 0, "queued": 0,
                                    "waiting": 0, "released": 2, "total": 3}  # fmt: skip


def test_keys_forgotten_by_key_alone_leave_their_run():
    """A scheduler sends a key it reported before, once forgotten, as its key alone
    (``run_id`` None): the book finds its run; a key it never followed (a reader
    that joined late) leaves the oldest run still counting one of its prefix."""
    s = DashboardState()
    finished_run(s)
    s.ingest(TaskTransition(None, "inc-1", "", "", "forgotten"))
    assert s.progress()["inc"] == {"memory": 1, "erred": 0, "processing": 0, "queued": 0, "waiting": 0,
                                   "released": 1, "total": 2}  # fmt: skip
    assert s.memory_by_prefix() == {"inc": 10, "sum": 1}
    for key in ("inc-2", "sum-1", "never-seen"):
        s.ingest(TaskTransition(None, key, "", "", "forgotten"))
    assert s.progress() == {} and s.memory_by_prefix() == {}  # the run is done and dropped
    # joined late: the graph's tasks are counted, not followed one by one
    s.ingest(GraphSubmitted("c-graph-2", "scheduler", 2, {"inc": 2}, (), T0))
    s.ingest(TaskTransition(None, "inc-9", "", "", "forgotten"))
    assert s.progress()["inc"] == {"memory": 0, "erred": 0, "processing": 0, "queued": 0, "waiting": 1,
                                   "released": 1, "total": 2}  # fmt: skip


def test_local_run_kept_until_next_graph():
    s = DashboardState()
    s.ingest(GraphSubmitted("threads-1", "threads", 2, {"a": 2}, ("a-2",), T0))
    s.ingest(tt("threads-1", "a-1", "processing", "memory", "threads", t=T0, nbytes=5))
    s.ingest(tt("threads-1", "a-2", "processing", "memory", "threads", t=T0, nbytes=7))
    s.ingest(ComputationFinished("threads-1", "finished", T0 + 1))
    assert s.progress()["a"] == {"memory": 2, "erred": 0, "processing": 0, "queued": 0, "waiting": 0,
                                 "released": 0, "total": 2}  # fmt: skip
    assert s.memory_by_prefix() == {"a": 12}
    s.ingest(GraphSubmitted("threads-2", "threads", 1, {"b": 1}, ("b-1",), T0 + 2))
    assert list(s.progress()) == ["b"]
    assert s.memory_by_prefix() == {}
    assert s.tasks.count == 2  # the task stream keeps its history


def test_exceptions_grouped_by_prefix_and_text():
    s = DashboardState()
    s.ingest(GraphSubmitted("r", "threads", 3, {"div": 3}, (), T0))
    for i, w in enumerate(("a", "b", "a")):
        s.ingest(tt("r", f"div-{i}", "processing", "erred", w, t=T0, exc="ZeroDivisionError: x"))
    s.ingest(tt("r", "dep-1", "waiting", "erred", exc="ZeroDivisionError: x"))  # a dependent
    rows = s.exceptions()
    assert rows == [{"key": "div-0", "prefix": "div", "exception": "ZeroDivisionError: x",
                     "workers": ["a", "b"], "count": 3, "time": rows[0]["time"]}]  # fmt: skip
    assert s.progress()["div"]["erred"] == 3


def test_the_erred_counter_outlives_the_bounded_exceptions_table():
    """``shoal_erred_tasks_total`` is a Prometheus counter: it counts every task that
    raised, though the table keeps only its newest rows (a counter that falls reads as
    a restart, and rate() lies)."""
    from shoal.dashboard.http import prometheus_text

    s = DashboardState(exceptions=2)
    s.ingest(GraphSubmitted("r", "threads", 5, {"div": 5}, (), T0))
    seen = []
    for i in range(5):
        s.ingest(tt("r", f"div-{i}", "processing", "erred", "w", t=T0, exc=f"E: {i}"))
        seen.append(s.erred)
    assert seen == [1, 2, 3, 4, 5] and len(s.exceptions()) == 2
    assert "shoal_erred_tasks_total 5\n" in prometheus_text(s)


def test_a_retried_failure_counts_each_time_a_snapshots_once():
    s = DashboardState()
    s.ingest(GraphSubmitted("r", "scheduler", 1, {"boom": 1}, (), T0))
    for _ in range(3):  # retried: the publisher coalesces erred -> ... -> processing away
        s.ingest(tt("r", "boom-1", "processing", "erred", "w", t=T0, exc="ValueError: b"))
    assert [row["count"] for row in s.exceptions()] == [3]
    # a reconnected stream's snapshot says it erred again (no timings): not a new error
    s.ingest(GraphSubmitted("r", "scheduler", 1, {"boom": 1}, (), T0 + 9))
    s.ingest(tt("r", "boom-1", "processing", "erred", exc="ValueError: b"))
    assert [row["count"] for row in s.exceptions()] == [3]


def test_a_finished_computation_keeps_its_row_and_times_when_named_again():
    s = DashboardState()
    finished_run(s)
    s.ingest(GraphSubmitted("c-graph-1", "scheduler", 3, {"inc": 2, "sum": 1}, (), T0 + 60))
    s.ingest(ComputationFinished("c-graph-1", "finished", T0 + 60))  # (a snapshot's)
    (row,) = s.computations()
    assert (row["start"], row["stop"], row["status"]) == (T0, T0 + 5, "finished")


def test_workers_metrics_and_series():
    s = DashboardState(timeseries=3)
    s.ingest(WorkerAdded(W1, 4, 2000, "w1", T0))
    for i in range(5):
        s.ingest(WorkerMetrics(W1, T0 + i, managed=100 + i, unmanaged=50, spilled=1, cpu=12.5,
                               executing=2, ready=3))  # fmt: skip
    (row,) = s.workers()
    assert row["managed"] == 104 and row["memory_limit"] == 2000 and row["nthreads"] == 4
    assert row["name"] == "w1" and row["cpu"] == 12.5 and row["ready"] == 3
    assert [p[0] for p in s.worker_series()[W1]] == [T0 + 2, T0 + 3, T0 + 4]
    s.ingest(WorkerMetrics(W2, T0, managed=1, memory_limit=10))  # unknown worker: added
    assert {w["address"] for w in s.workers()} == {W1, W2}
    s.ingest(WorkerRemoved(W1, "closed", T0 + 9))
    assert [w["address"] for w in s.workers()] == [W2]
    assert s.removed_workers() == [{"address": W1, "reason": "closed", "time": T0 + 9}]


def test_key_info_names_the_worker_a_key_runs_is_held_or_failed_on():
    s = DashboardState()
    finished_run(s)
    assert s.key_info("inc-2") == {"run_id": "c-graph-1", "prefix": "inc", "state": "memory",
                                   "nbytes": 10, "worker": W2}  # fmt: skip
    s.ingest(tt("r2", "bad-1", "released", "waiting"))
    assert s.key_info("bad-1")["worker"] == ""
    s.ingest(tt("r2", "bad-1", "waiting", "processing", W1))
    assert s.key_info("bad-1")["worker"] == W1
    s.ingest(tt("r2", "bad-1", "processing", "erred", W1, exc="ZeroDivisionError"))
    assert s.key_info("bad-1")["worker"] == W1
    s.ingest(tt("c-graph-1", "inc-2", "memory", "released"))  # no longer held anywhere
    assert s.key_info("inc-2")["worker"] == ""


def test_a_resync_starts_the_picture_over_and_keeps_the_history():
    pytest.importorskip("tornado")
    from shoal.dashboard.http import prometheus_text

    s = DashboardState()
    s.ingest(GraphSubmitted("c-graph-1", "scheduler", 3, {"inc": 2, "sum": 1}, ("sum-1",), T0,
                            graph_shape([("inc-1", ()), ("inc-2", ()),
                                         ("sum-1", ("inc-1", "inc-2"))])))  # fmt: skip
    finished_run(s)  # inc-1, inc-2, sum-1 in memory on W1 and W2
    s.ingest(WorkerMetrics(W1, T0 + 1, managed=30))
    s.ingest(GraphSubmitted("r2", "scheduler", 1, {"bad": 1}, (), T0))
    s.ingest(tt("r2", "bad-1", "processing", "erred", W2, t=T0, exc="ZeroDivisionError"))
    s.ingest(GraphSubmitted("r3", "scheduler", 1, {"gone": 1}, (), T0))  # ends unseen
    streamed = s.tasks.count
    # the source lost records: W2 left, inc-1 and inc-2 were forgotten and r3 ran and
    # was forgotten meanwhile
    s.ingest({"kind": "resync", "count": 40, "time": T0 + 9})
    s.ingest(WorkerAdded(W1, 2, 1000, "w1", T0))  # the snapshot: what is, now
    s.ingest(GraphSubmitted("c-graph-1", "scheduler", 1, {"sum": 1}, (), T0))
    s.ingest(GraphSubmitted("r2", "scheduler", 1, {"bad": 1}, (), T0))
    s.ingest(tt("c-graph-1", "sum-1", "released", "memory", W1, nbytes=1))
    s.ingest(tt("r2", "bad-1", "processing", "erred", W2, exc="ZeroDivisionError"))  # again
    s.ingest({"kind": "snapshot-end", "time": T0 + 10})
    assert s.resyncs == 1 and [w["address"] for w in s.workers()] == [W1]
    assert s.exceptions()[0]["count"] == 1  # the snapshot's erred key was counted before
    ends = {c["run_id"]: (c["status"], c["stop"]) for c in s.computations()}
    assert ends["r3"] == ("unknown", T0 + 10) and ends["c-graph-1"][0] == "finished"
    assert ends["r2"] == ("running", None)  # (named by the snapshot: its end will come)
    states = {key: state for key, _, state in s.graph_nodes()}
    assert states["sum-1"] == "memory" and states["inc-1"] == "forgotten"
    assert "shoal_resyncs_total 1\n" in prometheus_text(s)
    assert s.memory_by_prefix() == {"sum": 1} and s.key_info("inc-1") is None
    assert s.progress()["sum"]["memory"] == 1 and "inc" not in s.progress()
    assert [row[1] for row in s.worker_series()[W1]] == [30]  # its memory history stays
    assert W2 not in s.worker_series()
    assert s.tasks.count == streamed  # the history stays
    s.ingest({"kind": "snapshot-end", "time": T0 + 11})  # a first connection's: no resync
    assert {c["run_id"]: c["status"] for c in s.computations()}["r2"] == "running"


def test_dict_records_are_accepted():
    s = DashboardState()
    s.ingest({"kind": "worker-added", "worker": W1, "nthreads": 1, "from_the_future": 1})
    s.ingest({"kind": "task", "run_id": "r", "key": "x-1", "prefix": "x", "start": "processing",
              "finish": "memory", "startstops": [["compute", T0, T0 + 1]], "nbytes": 3})
    s.ingest({"kind": "task", "run_id": "r", "key": ["y", 1], "prefix": "y", "start": "released",
              "finish": "waiting"})  # fmt: skip
    assert s.key_info(("y", 1))["state"] == "waiting"
    s.ingest({"kind": "no-such-kind"})
    assert s.workers()[0]["address"] == W1
    assert s.memory_by_prefix() == {"x": 3}
    assert s.tasks.count == 1


def test_ingest_many_folds_a_batch_and_skips_what_it_cannot(caplog):
    one, many = DashboardState(), DashboardState()
    batch = [GraphSubmitted("r", "scheduler", 2, {"inc": 2}, (), T0),
             tt("r", "inc-1", "processing", "memory", W1, t=T0, nbytes=10),
             tt("r", "inc-2", "processing", "memory", W1, t=T0, dur=2.0, nbytes=5),
             tt("r", "inc-2", "memory", "released")]  # fmt: skip
    for record in batch:
        one.ingest(record)
    bad = {"kind": "task", "run_id": "r"}  # no key, no states: cannot be a TaskTransition
    before = many.generation
    assert many.ingest_many([*batch[:2], bad, {"kind": "no-such-kind"}, *batch[2:]]) == 4
    assert many.generation == before + 1  # one update for the whole batch
    assert "could not ingest" in caplog.text
    for view in ("progress", "memory_by_prefix", "compute_time", "task_counts"):
        assert getattr(many, view)() == getattr(one, view)(), view
    assert many.tasks.count == one.tasks.count == 2
    assert many.ingest_many([]) == 0 and many.generation == before + 1


def test_graph_shows_submitted_keys_waiting_then_their_states_with_edges():
    s = DashboardState()
    shape = graph_shape([("a", ()), ("b", ("a",)), ("c", ("a",)), (("d", 0), ("b", "c"))])
    s.ingest(GraphSubmitted("r", "scheduler", 4, {"a": 1, "b": 1, "c": 1, "d": 1}, (("d", 0),),
                            T0, shape))  # fmt: skip
    nodes, edges = s.graph()
    assert nodes == [("a", "a", "waiting"), ("b", "b", "waiting"), ("c", "c", "waiting"),
                     ("('d', 0)", "d", "waiting")]  # fmt: skip
    assert sorted(edges) == [(0, 1), (0, 2), (1, 3), (2, 3)]
    s.ingest(tt("r", "a", "processing", "memory"))
    s.ingest(tt("r", "b", "waiting", "processing"))
    s.ingest(tt("r", "x", "processing", "memory"))  # not in the shape: shown after, no edges
    nodes, edges = s.graph()
    assert [n[2] for n in nodes] == ["memory", "processing", "waiting", "waiting", "memory"]
    assert nodes[-1][0] == "x" and len(edges) == 4
    assert s.graph_nodes() == nodes
    # the run's keys go once it is dropped (finished, everything released)
    s.ingest(ComputationFinished("r", "finished", "", T0 + 1))
    for key in ("a", "b", "c", ("d", 0), "x"):
        s.ingest(tt("r", key, "memory", "forgotten", prefix="d" if isinstance(key, tuple) else None))
    assert s.graph() == ([], [])


def test_the_graph_of_a_local_run_that_ended_in_an_error_shows_nothing_still_running():
    s = DashboardState()
    shape = graph_shape([("a", ()), ("b", ()), ("c", ("a", "b"))])
    s.ingest(GraphSubmitted("threads-3", "threads", 3, {"a": 1, "b": 1, "c": 1}, ("c",), T0, shape))
    s.ingest(tt("threads-3", "a", "processing", "erred", "threads", t=T0))
    s.ingest(tt("threads-3", "b", "waiting", "processing", "threads"))
    s.ingest(ComputationFinished("threads-3", "error", T0 + 1))
    assert [n[2] for n in s.graph()[0]] == ["erred", "released", "released"]
    # a distributed run's graph is its scheduler's to end (it says what it releases)
    s.ingest(GraphSubmitted("g", "scheduler", 1, {"d": 1}, ("d",), T0, graph_shape([("d", ())])))
    s.ingest(tt("g", "d", "waiting", "processing", "w"))
    s.ingest(ComputationFinished("g", "error", T0 + 2))
    assert ("d", "d", "processing") in s.graph()[0]


def test_the_newest_graph_shows_when_older_ones_fill_the_bound():
    s = DashboardState(Limits(graph_nodes=4))
    old = graph_shape([(f"old-{i}", ()) for i in range(6)])  # more than the bound
    s.ingest(GraphSubmitted("r1", "scheduler", 6, {"old": 6}, (), T0, old))
    assert [n[0] for n in s.graph_nodes()] == ["old-0", "old-1", "old-2", "old-3"]
    for i in range(6):  # its results held: the run stays
        s.ingest(tt("r1", f"old-{i}", "processing", "memory"))
    new = graph_shape([("new-0", ()), ("new-1", ("new-0",))])
    s.ingest(GraphSubmitted("r2", "scheduler", 2, {"new": 2}, (), T0 + 1, new))
    nodes, edges = s.graph()
    assert [n[0] for n in nodes] == ["old-2", "old-3", "new-0", "new-1"]  # older ones made room
    assert edges == [(2, 3)]


def test_a_graph_over_the_bound_shows_what_runs_until_its_end():
    """The shape of a large graph is its first tasks to run: once they were done, the
    pane showed them (white) for the rest of the run and nothing of what ran."""
    s = DashboardState(Limits(graph_nodes=10))
    shape = graph_shape([(f"a-{i}", ()) for i in range(10)])  # the first 10 of 30
    s.ingest(GraphSubmitted("r", "scheduler", 30, {"a": 30}, (), T0, shape))
    for i in range(10):
        s.ingest(tt("r", f"a-{i}", "processing", "memory"))
    assert [n[0] for n in s.graph_nodes()] == [f"a-{i}" for i in range(10)]
    for i in range(10, 14):  # beyond the shape: known from their records
        s.ingest(tt("r", f"a-{i}", "waiting", "processing"))
    nodes = s.graph_nodes()  # the newest, in a fifth of the bound
    assert len(nodes) == 10 and [n[0] for n in nodes[-2:]] == ["a-13", "a-12"]
    assert all(n[2] == "processing" for n in nodes[-2:])
    assert [n[0] for n in nodes[:8]] == [f"a-{i}" for i in range(2, 10)]  # the first gave way
    # a fifth of the bound at most: the shape's keys stay while still to run
    # record-only keys get their fifth even when the newest keys followed are the shape's
    s3 = DashboardState(Limits(graph_nodes=10))
    s3.ingest(GraphSubmitted("b", "scheduler", 5, {"b": 5}, (), T0))
    for i in range(5):
        s3.ingest(tt("b", f"b-{i}", "waiting", "processing"))
    s3.ingest(GraphSubmitted("r", "scheduler", 30, {"a": 30}, (), T0, shape))
    for i in range(2):
        s3.ingest(tt("r", f"a-{i}", "processing", "memory"))
    assert [n[0] for n in s3.graph_nodes()[-2:]] == ["b-4", "b-3"]
    s2 = DashboardState(Limits(graph_nodes=10))
    s2.ingest(GraphSubmitted("r", "scheduler", 30, {"a": 30}, (), T0, shape))
    for i in range(10, 20):
        s2.ingest(tt("r", f"a-{i}", "waiting", "processing"))
    nodes = s2.graph_nodes()
    assert [n[0] for n in nodes] == [f"a-{i}" for i in range(10)]  # none done: none go


def test_limits_bound_every_view():
    s = DashboardState(Limits(task_stream=5, keys=3, exceptions=2, graph_nodes=2, runs=2))
    s.ingest(GraphSubmitted("r", "threads", 10, {"t": 10}, (), T0))
    for i in range(10):
        s.ingest(tt("r", f"t-{i}", "processing", "erred", t=T0, exc=f"E{i}"))
    assert len(s.tasks) == 5 and s.tasks.count == 10
    assert len(s.exceptions()) == 2
    assert len(s.graph_nodes()) == 2
    assert len(s._book.keys) == 3
    assert s.progress()["t"]["erred"] == 10  # untracked keys are still counted
    for i in range(5):
        s.ingest(GraphSubmitted(f"q{i}", "scheduler", 1, {"q": 1}, (), T0))
    assert len(s._book.runs) == 2


def test_a_session_of_ever_new_prefixes_keeps_a_bounded_number_of_them():
    """One prefix per uniquely named key: compute times, the progress bars' order and
    ``/metrics`` lines grew by one entry per prefix ever seen, and each refresh of
    ``workers()`` walked them all."""
    s = DashboardState(prefixes=50, runs=3)
    s.ingest(WorkerAdded(W1, 1, 2**30, "a", T0))
    for i in range(400):  # a run of one task, its own prefix, finished and released
        run, key = f"r{i}", f"p{i}-x"
        s.ingest(GraphSubmitted(run, "scheduler", 1, {f"p{i}": 1}, (), T0))
        s.ingest(tt(run, key, "processing", "memory", W1, t=T0, dur=1.0 + (i == 7) * 100))
        s.ingest(tt(run, key, "memory", "forgotten", W1))
        s.ingest(ComputationFinished(run, "finished", T0 + 1))
    times = s.compute_time()
    assert len(times) <= 50 and times["p7"] == (101.0, 1)  # the heaviest is kept
    assert "p399" in times  # and the latest
    assert len(s._book.prefix_order) <= 2 * 50 + 1
    s.ingest(GraphSubmitted("live", "scheduler", 2, {"live": 2}, (), T0))
    s.ingest(tt("live", "live-1", "waiting", "processing", W1))
    assert s.workers()[0]["processing"] == 1 and list(s.progress()) == ["live"]


def test_the_prefix_bound_keeps_what_a_kept_run_still_counts():
    """A light, recurring prefix of a run still going (its tasks processing) lost its
    compute times to heavier one-off prefixes: the workers' occupancy fell back to the
    default duration."""
    s = DashboardState(prefixes=50, runs=3)
    s.ingest(WorkerAdded(W1, 4, 2**30, "a", T0))
    s.ingest(GraphSubmitted("live", "scheduler", 204, {"inc": 204}, (), T0))
    for i in range(200):
        s.ingest(tt("live", f"inc-{i}", "processing", "memory", W1, t=T0, dur=0.001))
    for i in range(200, 204):
        s.ingest(tt("live", f"inc-{i}", "waiting", "processing", W1))
    before = s.workers()[0]["occupancy"]
    for i in range(60):  # heavier one-off prefixes
        run, key = f"r{i}", f"p{i}-x"
        s.ingest(GraphSubmitted(run, "scheduler", 1, {f"p{i}": 1}, (), T0))
        s.ingest(tt(run, key, "processing", "memory", W1, t=T0, dur=1.0))
        s.ingest(tt(run, key, "memory", "forgotten", W1))
        s.ingest(ComputationFinished(run, "finished", T0 + 1))
    assert s.compute_time()["inc"][1] == 200 and len(s.compute_time()) <= 50
    assert s.workers()[0]["occupancy"] == before == pytest.approx(4 * 0.001, rel=1e-3)
    assert list(s.progress())[0] == "inc"


def test_runs_past_the_bound_are_counted_with_the_older_ones_not_lost():
    from shoal.dashboard.runs import OLDER

    s = DashboardState(runs=3)
    s.ingest(WorkerAdded(W1, 1, 2**30, "a", T0))
    s.ingest(GraphSubmitted("long", "scheduler", 2, {"long": 2}, (), T0))  # still running
    for i in range(2):
        s.ingest(tt("long", f"long-{i}", "waiting", "processing", W1))
    for i in range(10):  # a burst of one-task submits, all finished, results held
        s.ingest(GraphSubmitted(f"s{i}", "scheduler", 1, {"inc": 1}, (), T0))
        s.ingest(tt(f"s{i}", f"inc-{i}", "processing", "memory", W1, t=T0, nbytes=8))
        s.ingest(ComputationFinished(f"s{i}", "finished", T0 + 1))
    assert len(s._book.runs) <= 3 and OLDER in s._book.runs
    assert s.progress()["long"]["processing"] == 2  # the running one is still shown
    assert s.progress()["inc"]["memory"] == 10  # every held result still counted
    assert s.workers()[0]["processing"] == 2
    assert "long" in s._book.runs  # (finished ones made room first)
    s.ingest(tt("s0", "inc-0", "memory", "released"))  # a merged run's record: counted there
    assert s.progress()["inc"] == {"memory": 9, "erred": 0, "processing": 0, "queued": 0, "waiting": 0,
                                   "released": 1, "total": 10}  # fmt: skip
    for i in range(10):  # released: the older computations go once nothing in them is live
        s.ingest(tt(f"s{i}", f"inc-{i}", "released", "forgotten"))
    assert OLDER not in s._book.runs and "inc" not in s.progress()
    assert s.progress()["long"]["processing"] == 2
    # none finished yet: the oldest running ones are merged, still running, still counted
    s = DashboardState(runs=2)
    for i in range(6):
        s.ingest(GraphSubmitted(f"r{i}", "scheduler", 1, {"job": 1}, (), T0))
        s.ingest(tt(f"r{i}", f"job-{i}", "waiting", "processing", W1))
    s.ingest(tt("r0", "job-0", "processing", "memory", W1, t=T0))
    assert len(s._book.runs) == 2
    assert s.progress()["job"] == {"memory": 1, "erred": 0, "processing": 5, "queued": 0, "waiting": 0,
                                   "released": 0, "total": 6}  # fmt: skip


def test_untracked_keys_never_go_negative():
    s = DashboardState(keys=0)
    s.ingest(GraphSubmitted("r", "scheduler", 1, {"a": 1}, (), T0))
    s.ingest(tt("r", "a-1", "released", "waiting"))
    s.ingest(tt("r", "a-1", "waiting", "processing", W1))
    s.ingest(tt("r", "a-1", "processing", "memory", W1, t=T0))
    assert s.progress()["a"] == {"memory": 1, "erred": 0, "processing": 0, "queued": 0, "waiting": 0,
                                 "released": 0, "total": 1}  # fmt: skip


def test_profile_trees_merge_by_summing_counts():
    a = {"name": "root", "count": 3, "children": [
        {"name": "f", "count": 2, "children": [{"name": "g", "count": 2}]},
        {"name": "h", "count": 1}]}  # fmt: skip
    b = {"name": "root", "count": 2, "children": {"f": {"name": "f", "count": 2, "children": {}}}}
    merged = merge_trees(normalize_tree(a), b)
    assert merged["count"] == 5
    assert merged["children"]["f"]["count"] == 4
    assert merged["children"]["f"]["children"]["g"]["count"] == 2
    assert merged["children"]["h"]["count"] == 1
    assert [p for p, _ in profile_items(a)] == [""]
    assert [p for p, _ in profile_items([("inc", a), ("sum", b)])] == ["inc", "sum"]
    assert profile_items(()) == []

    s = DashboardState()
    s.ingest(WorkerMetrics(W1, T0, profile=(("inc", a),)))
    s.ingest(WorkerMetrics(W1, T0 + 10, profile=(("sum", b),)))
    assert s.profile()["count"] == 5
    assert s.profile(prefix="inc")["count"] == 3
    assert s.profile(start=T0 + 5)["children"]["f"]["count"] == 2
    assert s.profile_activity() == [(T0, 3, "inc"), (T0 + 10, 2, "sum")]


def test_only_records_feed_the_system_pane():
    # the dashboard's own process is not the scheduler's: it never samples itself
    s = DashboardState()
    assert s.system() == []
    s.ingest(SystemMetrics(T0, cpu=12.5, memory=2**20, num_fds=9))
    s.ingest({"kind": "system", "time": T0 + 1, "cpu": 50.0, "memory": 20, "num_fds": 7})
    assert s.system() == [{"time": T0, "cpu": 12.5, "memory": 2**20, "num_fds": 9},
                          {"time": T0 + 1, "cpu": 50.0, "memory": 20, "num_fds": 7}]


def test_ingest_from_another_thread_while_reading():
    s = DashboardState()
    s.ingest(GraphSubmitted("r", "threads", 2000, {"x": 2000}, (), T0))

    def feed():
        for i in range(2000):
            s.ingest(tt("r", f"x-{i}", "processing", "memory", "threads", t=T0, nbytes=1))

    thread = threading.Thread(target=feed)
    thread.start()
    while thread.is_alive():
        s.progress(), s.workers(), s.graph_nodes(), s.memory_by_prefix(), s.tasks.since(0)
    thread.join()
    assert s.progress()["x"]["memory"] == 2000
    assert s.memory_by_prefix() == {"x": 2000}


def test_profile_window_keeps_running_totals_exact():
    tree = {"identifier": "root", "count": 2, "children": [
        {"identifier": "f;a.py;1", "count": 2,
         "children": [{"identifier": "g;a.py;2", "count": 1}]}]}  # fmt: skip
    other = {"identifier": "root", "count": 1, "children": [{"identifier": "h;b.py;1", "count": 1}]}
    s = DashboardState(profile_cycles=2)
    s.ingest(WorkerMetrics(W1, T0, profile=(("a", tree),)))
    s.ingest(WorkerMetrics(W1, T0 + 1, profile=(("a", other),)))
    s.ingest(WorkerMetrics(W1, T0 + 2, profile=(("b", other),)))  # the first cycle leaves
    assert s.profile_count == 3
    total = s.profile()
    assert total["count"] == 2 and list(total["children"]) == ["h;b.py;1"]
    assert total["children"]["h;b.py;1"]["count"] == 2
    assert s.profile(prefix="a")["count"] == 1
    assert s.profile() == s.profile(start=T0 - 1)  # the totals match a walk over the cycles


def test_profile_cycles_of_one_second_and_prefix_are_kept_as_one():
    """Every worker sends a tree per prefix each heartbeat: kept apart, the bound of
    kept trees was 20 s of two workers running 25 prefixes, and the profile pane had
    lost a prefix that Client.profile() still had.  Trees of one second and prefix are
    merged (the timeline and its selection count whole seconds)."""
    tree = {"identifier": "root", "count": 1, "children": [{"identifier": "f;a.py;1", "count": 1}]}
    s = DashboardState(profile_cycles=3)
    for i in range(8):  # two workers, four heartbeats each, in second 100
        s.ingest(WorkerMetrics(f"tcp://w{i % 2}:1", 100 + i / 8, profile=(("early", tree),)))
    for t in (101.1, 101.6, 102.2, 102.7):  # two more seconds of another prefix
        s.ingest(WorkerMetrics(W1, t, profile=(("late", tree),)))
    assert len(s._profile) == 3 and s.profile_count == 12
    assert s.profile(prefix="early")["count"] == 8  # kept, whole
    assert s.profile_activity() == [(100.0, 8, "early"), (101.1, 2, "late"), (102.2, 2, "late")]
    assert s.profile(start=101.0, stop=102.0)["count"] == 2
    s.ingest(WorkerMetrics(W1, 103.5, profile=(("late", tree),)))  # the oldest second leaves
    assert s.profile(prefix="early")["count"] == 0 and s.profile()["count"] == 5
    assert s.profile() == s.profile(start=0)  # the totals match a walk over the kept trees


def test_a_kept_profile_tree_being_read_is_not_changed_under_its_reader():
    """``profile(start, stop)`` walks the kept trees outside the lock while heartbeats
    of the same second are merged into them (dictionary changed size during
    iteration); an empty tree evicting its prefix's last one left the totals wrong."""
    big = {"identifier": "root", "count": 3000, "children": [
        {"identifier": f"f{i}", "count": 1} for i in range(3000)]}  # fmt: skip
    s = DashboardState()
    s.ingest(WorkerMetrics(W1, 100.0, profile=(("inc", big),)))
    errors, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                s.profile(0, 1e9, "inc")
            except Exception as exc:  # noqa: BLE001 - what the test looks for
                errors.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(300):
            one = {"identifier": "root", "count": 1, "children": [{"identifier": f"g{n}", "count": 1}]}
            s.ingest(WorkerMetrics(W1, 100.5, profile=(("inc", one),)))
    finally:
        stop.set()
        reader.join(10)
    assert not errors, errors[0]
    assert s.profile(0, 1e9)["count"] == s.profile()["count"] == 3300
    # eviction before the new tree is counted: an empty tree never loses a total
    empty = DashboardState(profile_cycles=1)
    empty.ingest(WorkerMetrics(W1, 100.0, profile=(("p", {"count": 5, "children": [
        {"identifier": "f", "count": 5}]}),)))  # fmt: skip
    empty.ingest(WorkerMetrics(W1, 101.0, profile=(("p", {"count": 0, "children": []}),)))
    empty.ingest(WorkerMetrics(W1, 102.0, profile=(("q", {"count": 3, "children": []}),)))
    assert empty.profile()["count"] == empty.profile(start=0)["count"] == 3


def test_records_of_a_real_threads_compute():
    from shoal.bus import Bus
    from shoal.local.threads import get

    def boom(x):
        raise ValueError(f"boom {x}")

    bus, s = Bus("test"), DashboardState()
    bus.subscribe(s.ingest)
    graph = {f"inc-{i}": (lambda x: x + 1, i) for i in range(8)}
    graph["total"] = (sum, [f"inc-{i}" for i in range(8)])
    assert get(graph, "total", bus=bus, fuse=False) == 36
    progress = s.progress()
    assert progress["inc"] == {"memory": 8, "erred": 0, "processing": 0, "queued": 0, "waiting": 0,
                               "released": 0, "total": 8}  # fmt: skip
    assert progress["total"]["memory"] == 1
    assert s.tasks.count == 9 and s.compute_time()["inc"][1] == 8
    assert s.computations()[-1]["status"] == "finished"
    with pytest.raises(ValueError):
        get({"boom-1": (boom, 1)}, "boom-1", bus=bus)
    assert list(s.progress()) == ["boom"]  # the finished local run made way
    assert s.exceptions()[0]["exception"] == "ValueError: boom 1"


def _check_run_keys(book):
    """Each key followed is indexed under its run, and only there."""
    indexed = {k: run for run, keys in book.run_keys.items() for k in keys}
    assert indexed == {k: info[0] for k, info in book.keys.items()}


def test_one_held_future_keeps_the_older_runs_bounded_and_runs_touch_their_own_keys():
    """A client.submit loop makes a run per call; past the bound they are merged into
    the older computations, which one held future keeps.  Every merged run's prefixes
    stayed there (a prefix per unique name, past the bound on prefixes), and each run
    that ended scanned every key followed."""
    from shoal.dashboard.runs import OLDER

    s = DashboardState(Limits(runs=3, prefixes=10))
    book = s._book
    s.ingest(GraphSubmitted("held", "scheduler", 1, {"held": 1}, (), T0))
    s.ingest(tt("held", "held-1", "processing", "memory", W1, t=T0))  # never released
    def start(i):
        s.ingest(GraphSubmitted(f"r{i}", "scheduler", 1, {f"job{i}": 1}, (), T0))
        s.ingest(tt(f"r{i}", f"job{i}-1", "waiting", "processing", W1))

    def end(i):  # (the run may have been merged with the older ones meanwhile)
        run, key = f"r{i}", f"job{i}-1"
        s.ingest(tt(run, key, "processing", "memory", W1, t=T0))
        s.ingest(ComputationFinished(run, "finished", "", T0))
        s.ingest(tt(run, key, "memory", "released"))
        s.ingest(tt(run, key, "released", "forgotten"))

    for i in range(60):  # five at a time: past the bound of three runs
        start(i)
        if i >= 4:
            end(i - 4)
        _check_run_keys(book)
    assert OLDER in book.runs and book.keys["held-1"][0] == OLDER  # merged, held
    for i in range(56, 60):
        end(i)
        _check_run_keys(book)
    assert set(book.runs[OLDER].counts) == {"held"}, book.runs[OLDER].counts
    assert book.counted_prefixes() == {"held"} and list(s.progress()) == ["held"]
    assert set(book.keys) == {"held-1"} and book.run_keys == {OLDER: {"held-1": None}}


def test_a_followed_key_whose_prefix_the_older_runs_forgot_takes_nothing_unseen():
    """The older runs forget a prefix with nothing live while one of its released keys
    stays followed; that key's next row (forgotten) took an unseen task of the same
    prefix from a later run merged with them: a pending task vanished from progress."""
    from shoal.dashboard.runs import OLDER

    s = DashboardState(Limits(runs=3))

    def run(run_id, key, *steps):
        s.ingest(GraphSubmitted(run_id, "scheduler", 1, {key.split("-")[0]: 1}, (), T0))
        for start, finish in steps:
            s.ingest(tt(run_id, key, start, finish, W1))

    ran = (("released", "waiting"), ("waiting", "processing"), ("processing", "memory"))
    run("held", "held-1", *ran)
    run("a", "inc-1", *ran)
    run("b", "x-1")
    run("c", "y-1")  # held and a merged with the older runs
    assert s._book.keys["inc-1"][0] == OLDER
    s.ingest(tt("a", "inc-1", "memory", "released"))  # inc: nothing live, forgotten
    run("d", "inc-2")  # a new computation of inc, not started...
    run("e", "z-1")
    run("f", "w-1")  # ...merged with the older ones too
    assert s.progress()["inc"]["waiting"] == 1
    s.ingest(tt("a", "inc-1", "released", "forgotten"))
    assert s.progress()["inc"]["waiting"] == 1  # still pending
    s.ingest(tt("held", "held-1", "memory", "released"))
    assert OLDER in s._book.runs and s.progress()["inc"]["waiting"] == 1


@pytest.mark.parametrize("keys", [1000, 3])  # followed one by one, or mostly by counts
def test_live_count_kept_per_record_matches_a_recount(keys):
    import random

    from shoal.dashboard.runs import _DONE

    rng = random.Random(keys)
    s = DashboardState(keys=keys)
    s.ingest(GraphSubmitted("r", "scheduler", 20, {"a": 12, "b": 8}, (), T0))
    where = {f"{p}-{i}": "released" for p, n in (("a", 12), ("b", 8)) for i in range(n)}
    steps = {"released": ["waiting"], "waiting": ["processing"], "processing": ["memory", "erred"],
             "memory": ["released"], "erred": ["released"]}  # fmt: skip
    for _ in range(200):
        key = rng.choice(sorted(where))
        start = where[key]
        finish = rng.choice(steps[start])
        s.ingest(tt("r", key, start, finish, W1, t=T0 if finish == "memory" else None))
        where[key] = finish
        for run in s._book.runs.values():
            expected = sum(run.new.values()) + sum(
                n for c in run.counts.values() for st, n in c.items() if st not in _DONE)
            assert run.live() == expected
    s.ingest(GraphSubmitted("r", "scheduler", 20, {"a": 12, "b": 8}, (), T0))  # a repeat recounts
    run = s._book.runs["r"]
    assert run.live() == sum(run.new.values()) + sum(
        n for c in run.counts.values() for st, n in c.items() if st not in _DONE)


def test_local_schedulers_tasks_processing_count_on_the_local_worker():
    """The local monitor reports "this process" as worker ``local``; the local
    schedulers' records name the scheduler: its processing tasks count there."""
    from shoal.diagnostics.probe import LOCAL_WORKER

    s = DashboardState()
    s.ingest(WorkerAdded(LOCAL_WORKER, 2, 2**30, "this process", T0))
    s.ingest(GraphSubmitted("threads-1", "threads", 3, {"a": 3}, (), T0))
    for key in ("a-1", "a-2", "a-3"):
        s.ingest(tt("threads-1", key, "waiting", "processing", "threads", t=T0))
    s.ingest(tt("threads-1", "a-1", "processing", "memory", "threads", t=T0, nbytes=5))
    (row,) = s.workers()
    assert row["address"] == LOCAL_WORKER and row["processing"] == 2
    assert s.progress()["a"]["processing"] == 2 and s.progress()["a"]["memory"] == 1
    s.ingest(ComputationFinished("threads-1", "error", T0 + 1))  # two never came back
    assert s.workers()[0]["processing"] == 0
    assert s.progress()["a"] == {"memory": 1, "erred": 0, "processing": 0, "queued": 0, "waiting": 0,
                                 "released": 2, "total": 3}  # fmt: skip
    s.ingest(GraphSubmitted("sync-2", "sync", 1, {"b": 1}, (), T0))
    s.ingest(tt("sync-2", "b-1", "waiting", "processing", "sync", t=T0))
    assert s.workers()[0]["processing"] == 1 and list(s.progress()) == ["b"]


def test_unnamed_processing_counts_are_claimed_by_later_rows_and_leave_with_their_run():
    """``TasksProcessing``: n keys to processing, unnamed; each later row from
    processing names one.  A key followed in another state (a task run again) was
    counted from the new pool by mistake: it goes back there.  A run dropped takes
    its unnamed ones off the workers."""
    from shoal.events import TasksProcessing

    s = DashboardState()
    s.ingest(WorkerAdded(W1, 4, 1000, "w1", T0))
    s.ingest(WorkerAdded(W2, 4, 1000, "w2", T0))
    s.ingest(GraphSubmitted("r", "scheduler", 5, {"t": 5}, (), T0))
    s.ingest(tt("r", "t-0", "processing", "waiting", W1))  # t-0 followed (ran, back to waiting)
    s.ingest(TasksProcessing("r", "t", W1, 2))  # t-0 (by mistake), t-1
    s.ingest(TasksProcessing("r", "t", W2, 2))  # t-2, t-3
    procs = lambda: {w["address"]: w["processing"] for w in s.workers()}  # noqa: E731
    assert procs() == {W1: 2, W2: 2}
    assert s.progress()["t"] == {"memory": 0, "erred": 0, "processing": 4, "queued": 0, "waiting": 1,
                                 "released": 0, "total": 5}  # fmt: skip
    s.ingest(tt("r", "t-1", "processing", "memory", W1, t=T0, nbytes=8))
    assert procs() == {W1: 1, W2: 2}
    s.ingest(tt("r", "t-0", "processing", "memory", W1, t=T0, nbytes=8))  # the known one
    assert procs() == {W1: 0, W2: 2}
    assert s.progress()["t"] == {"memory": 2, "erred": 0, "processing": 2, "queued": 0, "waiting": 1,
                                 "released": 0, "total": 5}  # fmt: skip
    s.ingest(tt("r", "t-3", "processing", "memory", W1, t=T0, nbytes=8))  # stolen: ran on w1
    assert procs() == {W1: 0, W2: 1}  # none unnamed left on w1: one of w2's
    assert s.progress()["t"] == {"memory": 3, "erred": 0, "processing": 1, "queued": 0, "waiting": 1,
                                 "released": 0, "total": 5}  # fmt: skip
    # the run ends with t-2 unnamed still counted: gone with its run
    s.ingest(ComputationFinished("r", "cancelled", T0 + 1))
    for key in ("t-0", "t-1", "t-3"):
        s.ingest(TaskTransition(None, key, "", "", "forgotten"))
    s.ingest(GraphSubmitted("r2", "scheduler", 1, {"u": 1}, (), T0 + 2))
    assert "t" in s.progress()  # still live: t-2 and t-4 were never released
    s._book._drop_run("r")
    assert procs() == {W1: 0, W2: 0} and "t" not in s.progress()


def test_a_local_run_ending_in_an_error_leaves_no_unnamed_task_processing():
    from shoal.diagnostics.probe import LOCAL_WORKER
    from shoal.events import TasksProcessing

    s = DashboardState()
    s.ingest(WorkerAdded(LOCAL_WORKER, 2, 2**30, "this process", T0))
    s.ingest(GraphSubmitted("threads-7", "threads", 40, {"a": 40}, (), T0))
    s.ingest(TasksProcessing("threads-7", "a", "threads", 20))
    for i in range(5):
        s.ingest(tt("threads-7", f"a-{i}", "processing", "memory", "threads", t=T0, nbytes=1))
    assert s.workers()[0]["processing"] == 15
    s.ingest(tt("threads-7", "a-9", "released", "waiting"))  # named, waiting for an input
    s.ingest(ComputationFinished("threads-7", "error", T0 + 1))
    assert s.workers()[0]["processing"] == 0
    # nothing left waiting for good: what never started will not (the run is over)
    assert s.progress()["a"] == {"memory": 5, "erred": 0, "processing": 0, "queued": 0, "waiting": 0,
                                 "released": 35, "total": 40}  # fmt: skip
