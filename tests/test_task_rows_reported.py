"""Workers' task-stream rows: made by the worker, passed on by the scheduler unpacked.

The worker side (``worker/taskrows.py``), the wire (``eventstream.pack_task_rows``),
the scheduler's side (``scheduler/publish.py``: staging, order, stale reports) and a
real cluster whose dashboard stream carries them.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from shoal.distributed.eventstream import decode_batch, encode_batch
from shoal.distributed.taskcolumns import pack_task_rows, unpack_task_rows, without_keys
from shoal.distributed.scheduler import messages as m
from shoal.distributed.scheduler.state import SchedulerState
from shoal.distributed.worker.state import WorkerTask
from shoal.distributed.worker.taskrows import ROWS_OP, TaskRowReporter
from shoal.events import (TASK_STATES, ComputationFinished, PackedTaskRows, TaskRows,
                          TaskTransition, row_of)  # fmt: skip
from shoal.distributed.client import Client
from shoal.distributed.comm import connect
from shoal.testing.cluster import gen_cluster
from tests.test_scheduler_state import Clock, _rows, add_workers, compute, finished, graph


def inc(x):
    return x + 1

pytestmark = pytest.mark.timeout(60)


def finished_msg(key, nbytes=8, thread=7, start=1.0, stop=1.5, type="int") -> dict:
    """A worker's task-finished message as ``TaskFinishedMsg.to_msg`` makes it."""
    return {"op": "task-finished", "key": key, "run_id": 1, "nbytes": nbytes, "type": type,
            "startstops": [{"action": "compute", "start": start, "stop": stop}],
            "thread": thread, "stimulus_id": "s"}  # fmt: skip


# --- the worker's side ---------------------------------------------------------------


def test_reporter_marks_each_report_and_puts_one_packed_message_first():
    reporter = TaskRowReporter("tcp://w:1")
    a, b = finished_msg("inc-1", nbytes=28), finished_msg(("x", 0), nbytes=0, thread=9)
    reporter.add(a, WorkerTask("inc-1", prefix="inc", graph="g1"))
    reporter.add(b, WorkerTask(("x", 0), prefix="x", graph="g1"))
    assert a["reported"] is True and b["reported"] is True
    batch = [{"op": "heartbeat"}, a, b]
    reporter.attach(batch)
    head, *rest = batch
    assert rest == [{"op": "heartbeat"}, a, b]  # the reports follow their rows
    assert (head["op"], head["n"]) == (ROWS_OP, 2) and isinstance(head["data"], bytes)
    rows = _rows([unpack_task_rows(PackedTaskRows(head["data"], head["n"]))])
    assert [(r["run_id"], r["key"], r["prefix"], r["start"], r["finish"], r["worker"],
             r["thread"], r["nbytes"], r["type"]) for r in rows] == [
        ("g1", "inc-1", "inc", "processing", "memory", "tcp://w:1", 7, 28, "int"),
        ("g1", ["x", 0], "x", "processing", "memory", "tcp://w:1", 9, 0, "int")]  # fmt: skip
    empty = [{"op": "heartbeat"}]
    reporter.attach(empty)  # nothing new: nothing added
    assert empty == [{"op": "heartbeat"}]


def test_a_task_sent_before_the_scheduler_was_watched_is_not_reported():
    """It does not know its graph: the scheduler makes that row itself."""
    reporter = TaskRowReporter("tcp://w:1")
    msg = finished_msg("inc-1")
    reporter.add(msg, WorkerTask("inc-1", prefix="inc"))
    assert "reported" not in msg
    batch = [msg]
    reporter.attach(batch)
    assert batch == [msg]


def test_packed_rows_decode_like_the_same_rows_sent_as_columns():
    records = [
        TaskTransition("g1", "inc-1", "inc", "processing", "memory", "w", 3,
                       (("compute", 1.0, 2.0),), 28, "int"),
        TaskTransition("g1", ("x", 1), "x", "processing", "memory", "w", 4,
                       (("transfer", 0.5, 0.7), ("compute", 1.0, 2.0)), 8, "int"),
    ]  # fmt: skip
    rows = [row_of(r) for r in records]
    packed = pack_task_rows(rows)
    assert packed.kind == TASK_STATES and packed.weight == 2
    assert decode_batch(encode_batch([packed])) == decode_batch(encode_batch([TaskRows.from_rows(rows)]))
    got = decode_batch(encode_batch([packed]), task_objects=True)
    assert [(r.key, r.startstops) for r in got] == [(r.key, r.startstops) for r in records]
    with pytest.raises(ValueError, match="not a packed task-columns entry"):
        decode_batch([{"kind": "task-columns-packed", "data": b"\x91\x01"}])


# --- the scheduler's side ------------------------------------------------------------


@pytest.fixture
def clock():
    return Clock()


def watched(clock) -> SchedulerState:
    return SchedulerState(clock=clock, wants=lambda kind: kind != "task", validate=True)


def worker_batch(state, cts: list, graph_id: str) -> tuple:
    """What a worker that reports its rows sends for the finished *cts*: the packed rows,
    then each report marked ``reported``."""
    rows = [(graph_id, ct.key, ct.key.split("-")[0], "processing", "memory", ct.worker, 5, 1, 8,
             "int", "", "compute", 1.0, 1.5) for ct in cts]  # fmt: skip
    packed = pack_task_rows(rows)
    return (m.TaskRowsReported(cts[0].worker, packed.data, packed.n),
            *(finished(ct, reported=True) for ct in cts))


def published(out) -> list:
    return [i.record for i in out if isinstance(i, m.Publish)]


def test_workers_are_asked_for_rows_while_a_dashboard_listens():
    listening = {"on": False}
    state = SchedulerState(clock=Clock(), validate=True,
                           wants=lambda kind: listening["on"] and kind != "task")  # fmt: skip
    out = add_workers(state, ("w1", 1))
    assert not [i for i in out if isinstance(i, m.ReportTaskRows)]
    out = state.handle(graph({"x": []}, ["x"]))
    assert compute(out, "x").graph == ""  # nobody listens: the graph id is not sent
    listening["on"] = True
    out = add_workers(state, ("w2", 1))  # the first call that sees the dashboard asks all
    assert [(i.worker, i.on) for i in out if isinstance(i, m.ReportTaskRows)] == [
        ("w1", True), ("w2", True)]
    out = state.handle(graph({"y": []}, ["y"]))
    assert compute(out, "y").graph == state.tasks["y"].graph != ""
    assert not [i for i in out if isinstance(i, m.ReportTaskRows)]  # asked once
    out = add_workers(state, ("w3", 1))
    assert [(i.worker, i.on) for i in out if isinstance(i, m.ReportTaskRows)] == [("w3", True)]
    listening["on"] = False
    out = state.handle(m.Balance())
    assert sorted((i.worker, i.on) for i in out if isinstance(i, m.ReportTaskRows)) == [
        ("w1", False), ("w2", False), ("w3", False)]


def test_reported_rows_are_passed_on_as_they_came_and_the_scheduler_adds_none(clock):
    state = watched(clock)
    add_workers(state, ("w1", 2))
    out = state.handle(graph({"a-1": [], "a-2": [], "b-1": []}, ["a-1", "a-2", "b-1"]))
    gid = state.tasks["a-1"].graph
    state.task_state_records()  # (the processing rows so far)
    batch = worker_batch(state, [compute(out, "a-1")], gid)
    state.handle(*batch)
    records = state.task_state_records()
    assert records == [PackedTaskRows(batch[0].data, 1)]  # no row of its own for a-1
    # a report not marked reported (its worker did not know the graph) gets its own row
    state.handle(finished(compute(out, "a-2")))
    assert [(r["key"], r["finish"]) for r in _rows(state.task_state_records())] == [("a-2", "memory")]
    # nobody listens: a worker's rows are dropped
    state.wants = state.publisher.wants = lambda kind: False
    state.handle(*worker_batch(state, [compute(out, "b-1")], gid))
    assert state.task_state_records() == [] and state.tasks["b-1"].state == "memory"


def test_rows_stay_in_order_with_what_the_scheduler_says_around_them(clock):
    """What was pending goes first; a key released in the same batch (a tree's
    intermediate, freed when its dependent finished) after its row; the computation's
    end after the rows of its last tasks."""
    state = watched(clock)
    add_workers(state, ("w1", 4))
    out = state.handle(graph({"x-1": [], "y-1": ["x-1"], "old-1": []}, ["y-1", "old-1"]))
    gid = state.tasks["x-1"].graph
    state.handle(finished(compute(out, "old-1")))
    state.task_state_records()
    state.handle(m.ClientReleasesKeys(["old-1"], "c1"))  # pending: old-1 forgotten
    out = state.handle(*worker_batch(state, [compute(out, "x-1")], gid))
    out = state.handle(*worker_batch(state, [compute(out, "y-1")], gid))
    kinds = [type(r).__name__ for r in published(out)]
    assert kinds == ["TaskRows", "PackedTaskRows", "PackedTaskRows", "TaskRows",
                     "ComputationFinished"]  # fmt: skip
    records = published(out)
    assert records[0].columns["forgotten"] == ["old-1"]
    got = [(r.key, r.finish) for r in decode_batch(encode_batch(records[:4]), task_objects=True)]
    assert got == [("old-1", "forgotten"), ("x-1", "memory"), ("y-1", "memory"),
                   ("x-1", "released")]  # fmt: skip
    assert isinstance(records[4], ComputationFinished) and state.task_state_records() == []


def test_the_row_of_a_report_not_taken_does_not_go_out(clock):
    """A stale report (the key let go while it ran, or given to another run) makes no
    row, as before workers made them: its row is taken out of its worker's rows."""
    state = watched(clock)
    add_workers(state, ("w1", 3))
    out = state.handle(graph({"s-1": [], "s-2": [], "s-3": []}, ["s-1", "s-2", "s-3"]))
    gid = state.tasks["s-1"].graph
    cts = {key: compute(out, key) for key in ("s-1", "s-2", "s-3")}
    state.task_state_records()
    state.handle(m.ClientReleasesKeys(["s-1"], "c1"))  # let go while it runs
    state.tasks["s-3"].run_id += 1  # (as if it was given to another run meanwhile)
    state.handle(*worker_batch(state, [cts["s-1"], cts["s-2"], cts["s-3"]], gid))
    assert "s-1" not in state.tasks and state.tasks["s-2"].state == "memory"
    records = state.task_state_records()
    got = [(r.key, r.finish) for r in decode_batch(encode_batch(records), task_objects=True)]
    assert got == [("s-1", "forgotten"), ("s-2", "memory")]
    assert [type(r) for r in records] == [TaskRows, PackedTaskRows] and records[1].n == 1
    # a batch whose every report is stale leaves no rows at all
    state.handle(*worker_batch(state, [cts["s-3"]], gid))
    assert state.task_state_records() == []


def test_without_keys_keeps_the_other_rows_as_they_were():
    rows = [row_of(TaskTransition("g1", key, "x", "processing", "memory", "w", 3,
                                  (("compute", 1.0, 2.0),), 8, "int"))
            for key in ("x-1", ("x", 2), "x-3")]  # fmt: skip
    kept = without_keys(pack_task_rows(rows), {("x", 2)})
    assert _rows([unpack_task_rows(kept)]) == _rows([TaskRows.from_rows([rows[0], rows[2]])])
    assert without_keys(pack_task_rows(rows[:1]), {"x-1"}) is None


def test_a_report_without_timings_or_a_failed_packing_leaves_the_row_to_the_scheduler(caplog):
    reporter = TaskRowReporter("tcp://w:1")
    fetched = finished_msg("f-1")
    fetched["startstops"] = []  # a result fetched from a peer, not run here
    reporter.add(fetched, WorkerTask("f-1", prefix="f", graph="g1"))
    assert "reported" not in fetched
    odd = finished_msg("o-1", type=object())  # (msgpack cannot pack it)
    reporter.add(odd, WorkerTask("o-1", prefix="o", graph="g1"))
    assert odd["reported"]
    batch = [odd]
    reporter.attach(batch)
    assert batch == [odd] and "reported" not in odd  # the scheduler makes its row
    assert "packing 1 task rows failed" in caplog.text


# --- a real cluster --------------------------------------------------------------------


@gen_cluster(nworkers=2)
async def test_a_watched_cluster_gets_every_row_from_its_workers(s, a, b):
    """Each worker is asked for its rows while a reader listens and told to stop when it
    goes; the rows carry the worker's thread, size and type, and the scheduler makes
    none of its own for the tasks they report."""
    from shoal.distributed.scheduler import publish

    built = []  # the rows of tasks into memory that the scheduler made itself
    real_row = publish.T.task_row

    def counting_row(ts, start, finish, details):
        if finish == "memory":
            built.append(ts.key)
        return real_row(ts, start, finish, details)

    publish.T.task_row = counting_row
    try:
        comm = await connect(s.address)
        await comm.write({"op": "subscribe_events"})
        assert (await comm.read())["op"] == "stream-start"
        async with Client(s.address, asynchronous=True) as c:
            futures = c.map(inc, range(200))
            assert await c.gather(futures) == list(range(1, 201))
            assert a.task_rows.on and b.task_rows.on

            def memory(records):
                return [r for r in records if r["kind"] == "task" and r["finish"] == "memory"]

            records = []
            while len(memory(records)) < 200:
                records += decode_batch(await asyncio.wait_for(comm.read(), 10))
            await comm.close()
            for _ in range(200):  # the reader went: the next handle() tells the workers
                await c.submit(inc, 0, pure=False)
                if not (a.task_rows.on or b.task_rows.on):
                    break
                await asyncio.sleep(0.02)
            assert not (a.task_rows.on or b.task_rows.on)
    finally:
        publish.T.task_row = real_row
    ran = memory(records)
    assert len({r["key"] for r in ran}) == 200 and {r["worker"] for r in ran} == {a.address, b.address}
    assert all(r["thread"] and r["type"] == "int" and r["nbytes"] > 0 for r in ran)
    assert all(r["startstops"][0][0] == "compute" for r in ran)
    assert not set(built) & {r["key"] for r in ran}


def test_the_dashboards_counts_end_as_the_schedulers_through_trees_cancels_and_errors():
    """A dashboard's state fed by a real cluster (workers' rows and the scheduler's own)
    ends where the scheduler is: a tree's intermediates freed as their dependents finish
    (in the same batches as their rows), tasks let go while they run (stale reports),
    errors, and a map held in memory."""
    import time

    from shoal.dashboard.feed import EventFeed
    from shoal.dashboard.state import DashboardState
    from shoal.testing.aio import run
    from shoal.testing.cluster import cluster

    def nap(x):
        time.sleep(0.002)
        return x

    def boom(x):
        raise ValueError(f"boom {x}")

    async def main():
        dash = DashboardState()
        async with cluster(nworkers=2) as (s, workers):
            feed = await EventFeed(s.address, dash).start()
            async with Client(s.address, asynchronous=True) as c:
                for _ in range(300):  # until the workers were asked for their rows
                    if all(w.task_rows.on for w in workers):
                        break
                    await asyncio.sleep(0.01)
                held = c.map(inc, range(300))
                level = c.map(inc, range(1000, 1064))
                while len(level) > 1:
                    level = [c.submit(add, x, y) for x, y in zip(level[0::2], level[1::2])]
                assert await level[0] == sum(range(1001, 1065))
                dropped = c.map(nap, range(400))
                await asyncio.sleep(0.1)
                del dropped  # let go while running: some reports come stale
                bad = c.map(boom, range(3))
                await c.gather(bad, errors="skip")
                assert await c.gather(held) == list(range(1, 301))
                st = s.state

                def truth():
                    out = {}
                    for ts in st.tasks.values():
                        out.setdefault(ts.prefix, Counter())[ts.state] += 1
                    return out

                want = {p: (n["memory"], n["erred"]) for p, n in truth().items()}
                for _ in range(500):
                    seen = dash.progress()
                    got = {p: (r["memory"], r["erred"]) for p, r in seen.items()
                           if r["memory"] or r["erred"]}  # fmt: skip
                    busy = sum(r["processing"] + r["waiting"] for r in seen.values())
                    if got == want and not busy:
                        break
                    await asyncio.sleep(0.02)
                assert got == want and busy == 0, (got, want, seen)
                assert all(w["processing"] == 0 for w in dash.workers())
                assert st.publisher._asked  # (the rows came from the workers)
                # all let go: every run ends, none comes back from a stale report's row
                del held, level, bad
                for _ in range(500):
                    if not st.tasks and not dash.progress():
                        break
                    await asyncio.sleep(0.02)
                assert not st.tasks and dash.progress() == {}
            await feed.close()

    run(main(), 60)


def add(x, y):
    return x + y
