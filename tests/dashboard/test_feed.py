"""The ``subscribe_events`` stream, the dashboard's ``EventFeed``, and ``Dashboard()``.

A real in-process scheduler and workers compute something; a raw stream and
the feed must see the records (as plain dicts), a late subscriber must get a
snapshot, and the feed must end when the scheduler goes.  The local
``Dashboard()`` must show a threads compute (over HTTP, from its own process).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import urllib.parse
import urllib.request

import pytest

pytest.importorskip("msgpack")
psutil = pytest.importorskip("psutil")

from shoal import config  # noqa: E402
from shoal.dashboard.feed import EventFeed  # noqa: E402
from shoal.dashboard.profiles import profile_items  # noqa: E402
from shoal.diagnostics import Dashboard  # noqa: E402
from shoal.distributed.client import Client  # noqa: E402
from shoal.distributed.comm import connect  # noqa: E402
from shoal.distributed.eventstream import (  # noqa: E402
    BusServer, coalesce_tasks, decode_batch, encode_batch, record_to_msg, scheduler_snapshot,
)  # fmt: skip
from shoal.bus import Buffer, Bus, default_bus  # noqa: E402
from shoal.events import (  # noqa: E402
    TASK_STATES, GraphSubmitted, TaskRows, TaskTransition, WorkerAdded, graph_shape, row_of,
    shape_pairs,
)  # fmt: skip
from shoal.testing.aio import run  # noqa: E402
from shoal.testing.cluster import gen_cluster  # noqa: E402


def inc(x):
    return x + 1


async def read_until(comm, predicate, timeout=10):
    """Read record batches until ``predicate(records so far)``; all records."""
    records = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate(records):
        msg = await asyncio.wait_for(comm.read(), max(deadline - loop.time(), 0.01))
        assert isinstance(msg, list), msg
        records += decode_batch(msg)
    return records


def get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def base(link: str) -> str:
    return link[: -len("/status")]


def test_record_to_msg_is_plain_data_and_comes_back():
    from shoal.distributed.eventstream import msg_to_record_fields
    from shoal.distributed.protocol import dumps, loads

    rec = TaskTransition("r1", ("x", 0), "x", "processing", "memory", "w", 1, (("compute", 1.0, 2.0),))
    msg = record_to_msg(rec)
    assert set(msg) == {"kind", *TaskTransition.__dataclass_fields__}
    # tuples travel as lists (cheap for msgpack); keys and startstops come back as tuples
    assert msg["kind"] == "task" and msg["key"] == ["x", 0]
    back = msg_to_record_fields(loads(dumps([msg]))[0])
    assert TaskTransition(**{k: v for k, v in back.items() if k != "kind"}) == rec
    shape = graph_shape([(("x", 0), ()), ("y", [("x", 0)])])
    graph = record_to_msg(GraphSubmitted("r1", "s", 2, {"x": 2}, (("x", 0), "y"), 1.0, shape))
    # the graph's shape travels as three flat lists, not two containers per task
    assert graph["dependencies"] == {"keys": [["x", 0], "y"], "counts": [0, 1], "deps": [["x", 0]]}
    back = msg_to_record_fields(loads(dumps([graph]))[0])
    assert back["keys"] == (("x", 0), "y") and back["dependencies"] == shape
    assert shape_pairs(back["dependencies"]) == [(("x", 0), ()), ("y", (("x", 0),))]


def test_batches_carry_task_transitions_as_columns_and_come_back_as_records():
    from shoal.distributed.protocol import dumps, loads

    tasks = [TaskTransition("r1", ("x", i), "x", "processing", "memory", "w", 1,
                            (("compute", 1.0, 2.0 + i),), 8, "int") for i in range(3)]  # fmt: skip
    added = WorkerAdded("tcp://w:1", 2)
    batch = encode_batch([tasks[0], added, *tasks[1:]])
    # runs of task records share one entry; other records travel as they are
    assert [e["kind"] for e in batch] == ["task-columns", "worker-added", "task-columns"]
    assert [len(e["columns"]["key"]) for e in batch if e["kind"] == "task-columns"] == [1, 2]
    back = decode_batch(loads(dumps(batch)))
    assert [r["kind"] for r in back] == ["task", "worker-added", "task", "task"]
    assert [TaskTransition(**{k: v for k, v in r.items() if k != "kind"})
            for r in back if r["kind"] == "task"] == tasks  # fmt: skip
    assert encode_batch([]) == [] and decode_batch([]) == []


def test_task_rows_records_travel_as_columns_and_decode_like_transitions():
    from dataclasses import fields

    from shoal.distributed.protocol import dumps, loads
    from shoal.distributed.scheduler.records import SchedTask, SchedWorker
    from shoal.distributed.scheduler.transitions import forgotten_row, task_row
    from shoal.bus import Buffer
    from shoal.events import TASK_FIELDS, TaskRows

    assert TASK_FIELDS == tuple(f.name for f in fields(TaskTransition))  # the columns
    ts, ws = SchedTask(("x", 0), None, graph="r1"), SchedWorker("tcp://w:1")
    ts.nbytes, ts.type = 8, "int"
    y = SchedTask("y", None, graph="r1")
    rows = TaskRows.from_rows([
        task_row(ts, "processing", "memory", {"ws": ws, "thread": 1, "startstops": (
            ("transfer", 0.5, 0.9), ("compute", 1.0, 2.0))}),
        forgotten_row(y, "memory"),
        task_row(SchedTask("z", None, graph="r1"), "processing", "erred",
                 {"ws": ws, "startstops": (("compute", 3.0, 4.0),)}),
    ])  # fmt: skip
    assert rows.weight == 3
    assert forgotten_row(y, "memory") == task_row(y, "memory", "forgotten", {})
    assert rows.columns["key"] == [["x", 0], "y", "z"]  # ready for the wire
    assert rows.columns["startstops"] == [2, 0, 1] and len(rows.columns["startstops-values"]) == 9
    batch = encode_batch([WorkerAdded("tcp://w:1", 2), rows])
    assert [e["kind"] for e in batch] == ["worker-added", "task-columns"]
    # sent as it is, but a column of one value repeated goes once with its count
    wire = batch[1]["columns"]
    assert wire["run_id"] == {"same": "r1", "n": 3} and wire["key"] is rows.columns["key"]
    assert {k: v for k, v in wire.items() if type(v) is not dict} == {
        k: v for k, v in rows.columns.items() if k in wire and type(wire[k]) is not dict}
    back = decode_batch(loads(dumps(batch)))
    assert TaskTransition(**{k: v for k, v in back[1].items() if k != "kind"}) == TaskTransition(
        "r1", ("x", 0), "x", "processing", "memory", "tcp://w:1", 1,
        (("transfer", 0.5, 0.9), ("compute", 1.0, 2.0)), 8, "int")  # fmt: skip
    assert (back[2]["key"], back[2]["finish"], back[2]["startstops"], back[2]["nbytes"]) == (
        "y", "forgotten", (), 0)  # fmt: skip
    assert (back[3]["key"], back[3]["startstops"]) == ("z", (("compute", 3.0, 4.0),))
    # a reader that takes objects gets the same transitions without a dict each
    objects = decode_batch(loads(dumps(batch)), task_objects=True)
    assert objects[0]["kind"] == "worker-added"  # other records stay dicts
    assert objects[1:] == [TaskTransition(**{k: v for k, v in r.items() if k != "kind"})
                           for r in back[1:]]  # fmt: skip
    # a bounded buffer counts a batch as its transitions: the oldest go, never the newest
    buf = Buffer(maxlen=4)
    buf.append(WorkerAdded("a", 1))
    buf.append(rows)
    assert len(buf) == 2  # 1 + 3
    big = TaskRows.from_rows([task_row(ts, "waiting", "processing", {})] * 3)
    buf.append(big)
    assert buf.since(0)[0] == 3 and len(buf) == 1
    # keys counted, not named: a count per run, prefix and worker, after the rows
    from shoal.dashboard.state import DashboardState
    from shoal.events import TasksProcessing

    counted = TaskRows.from_rows([], (), [("r1", "t", "tcp://w:1", 40)])
    assert counted.weight == 1
    wire = loads(dumps(encode_batch([counted])))
    assert decode_batch(wire) == [{"kind": "tasks-processing", "run_id": "r1", "prefix": "t",
                                   "worker": "tcp://w:1", "n": 40}]  # fmt: skip
    assert decode_batch(wire, task_objects=True) == [TasksProcessing("r1", "t", "tcp://w:1", 40)]
    reader = DashboardState()  # a reader of dicts gets the same
    reader.ingest(GraphSubmitted("r1", "scheduler", 50, {"t": 50}, (), 0.0))
    reader.ingest(decode_batch(wire)[0])
    assert reader.progress()["t"]["processing"] == 40
    # a local run's count travels as a record of its own, to the same reader
    local = decode_batch(loads(dumps(encode_batch([TasksProcessing("r1", "t", "threads", 5)]))))
    assert local == [{"kind": "tasks-processing", "run_id": "r1", "prefix": "t",
                      "worker": "threads", "n": 5}]  # fmt: skip
    reader.ingest(local[0])
    assert reader.progress()["t"]["processing"] == 45
    assert buf.drain() == (3, [big]) and len(buf) == 0 and buf.drain() == (3, [])


def test_columns_of_one_repeated_value_travel_once():
    from shoal.distributed.protocol import dumps, loads

    tasks = [TaskTransition("Client-0123456789abcdef0123456789abcdef-graph-1", f"inc-{i:032x}",
                            "inc", "processing", "memory", f"tcp://w:{i % 2}", 1,
                            (("compute", float(i), i + 0.5),), 28, "int")
             for i in range(500)]  # fmt: skip
    [entry] = encode_batch(tasks)
    columns = entry["columns"]
    same = {k for k, v in columns.items() if type(v) is dict}
    assert same == {"run_id", "prefix", "start", "finish", "thread", "startstops", "nbytes",
                    "type", "exception"}  # fmt: skip
    assert columns["run_id"] == {"same": tasks[0].run_id, "n": 500}
    assert type(columns["worker"]) is list and type(columns["key"]) is list  # they vary
    assert decode_batch(loads(dumps([entry])), task_objects=True) == tasks
    plain = sum(map(len, dumps([{**entry, "columns": {k: ([v["same"]] * v["n"] if k in same else v)
                                                      for k, v in columns.items()}}])))
    assert sum(map(len, dumps([entry]))) < 0.7 * plain


def test_task_rows_are_flat_so_the_collector_drops_them_at_its_first_look():
    """A row that held a tuple of startstops triples stayed tracked through one young
    collection per level of nesting, and rows waiting for the flush were promoted."""
    import gc

    from shoal.distributed.scheduler import messages as m
    from shoal.distributed.scheduler.records import SchedTask, SchedWorker
    from shoal.distributed.scheduler.transitions import task_row, transition_record
    from shoal.events import record_of, row_of

    ts, ws = SchedTask("x", None, graph="r1"), SchedWorker("tcp://w:1")
    for raw in ([{"action": "compute", "start": 1.0, "stop": 2.0}],  # as a worker sends it
                [["transfer", 0.5, 0.9], ["compute", 1.0, 2.0]], []):
        ev = m.TaskFinished("tcp://w:1", "x", 1, 8, "int", raw, thread=3)
        row = task_row(ts, "processing", "memory", {"ws": ws, "startstops": ev.startstops,
                                                    "thread": ev.thread})  # fmt: skip
        rec = transition_record(ts, "processing", "memory", {"ws": ws, "startstops": ev.startstops,
                                                             "thread": ev.thread})  # fmt: skip
        assert rec.startstops == ev.startstops and rec.thread == 3 and rec.worker == "tcp://w:1"
        assert row_of(rec) == row and record_of(row) == rec
        gc.collect(0)
        assert not gc.is_tracked(row)


def test_coalescing_keeps_timings_errors_and_each_keys_last_state():
    def t(key, start, finish, *startstops, exception=""):
        return TaskTransition("r1", key, "x", start, finish, startstops=startstops,
                              exception=exception)  # fmt: skip

    life = [t("a", "released", "waiting"), t("b", "released", "waiting"),
            t("a", "waiting", "processing"), t("b", "waiting", "processing"),
            t("a", "processing", "memory", ("compute", 1.0, 2.0)),
            t("b", "processing", "erred", ("compute", 1.0, 2.0), exception="boom"),
            t("a", "memory", "released"), t("c", "released", "waiting")]  # fmt: skip
    added = WorkerAdded("tcp://w:1", 2)
    kept = coalesce_tasks([life[0], added, *life[1:]])
    assert kept == [added, life[4], life[5], life[6], life[7]]
    # a reader folding the kept records sees every key in its final state
    from shoal.dashboard.state import DashboardState

    state = DashboardState()
    state.ingest(GraphSubmitted("r1", "s", 3, {"x": 3}, ("a", "b", "c"), 1.0))
    for r in kept:
        state.ingest(r)
    full = DashboardState()
    full.ingest(GraphSubmitted("r1", "s", 3, {"x": 3}, ("a", "b", "c"), 1.0))
    for r in [added, *life]:
        full.ingest(r)
    assert state.progress() == full.progress() and state.task_counts() == full.task_counts()
    assert [(r["prefix"], r["count"]) for r in state.exceptions()] == [("x", 1)]
    assert state.compute_time() == full.compute_time()
    # nothing to drop: the same list back
    one_each = [life[0], life[1], added]
    assert coalesce_tasks(one_each) is one_each


@gen_cluster(nworkers=2)
async def test_subscribe_events_streams_records_of_a_computation(s, a, b):
    comm = await connect(s.address)
    await comm.write({"op": "subscribe_events"})
    hello = await comm.read()
    assert hello["op"] == "stream-start" and hello["source"] == s.id
    snapshot = await read_until(comm, lambda rs: len(rs) >= 2)
    assert {r["worker"] for r in snapshot if r["kind"] == "worker-added"} == {a.address, b.address}
    # the subscription makes the state publish task records, coalesced per key:
    # TASK_STATES, not one "task" record per transition (that is for plugins)
    assert s.bus.wants(TASK_STATES) and not s.bus.wants("task")
    async with Client(s.address, asynchronous=True) as c:
        futures = c.map(inc, range(10))
        assert await c.gather(futures) == list(range(1, 11))

        def timed(records):  # the records of tasks that ran, with their timings
            return [r for r in records if r["kind"] == "task" and r["startstops"]]

        records = await read_until(comm, lambda rs: len(timed(rs)) >= 10)
    kinds = {r["kind"] for r in records}
    assert {"graph-submitted", "task"} <= kinds
    ran = timed(records)
    assert len({r["key"] for r in ran}) == 10 and {r["finish"] for r in ran} == {"memory"}
    assert {r["worker"] for r in ran} <= {a.address, b.address}
    assert all(r["startstops"][0][0] == "compute" for r in ran)
    # once released, every key's last record says so (a state record, after the timing one)
    del futures
    records += await read_until(comm, lambda rs: sum(r["kind"] == "task" and r["finish"] in (
        "released", "forgotten") for r in rs) >= 10)  # fmt: skip
    last = {r["key"]: r["finish"] for r in records if r["kind"] == "task"}
    assert len(last) == 10 and set(last.values()) <= {"released", "forgotten"}
    assert len(s.event_streams) == 1
    await comm.close()
    for _ in range(200):  # the scheduler notices and unsubscribes
        if not len(s.event_streams):
            break
        await asyncio.sleep(0.01)
    assert not len(s.event_streams) and not s.bus.active


@gen_cluster(nworkers=0)
async def test_a_worker_that_joins_shows_its_memory_before_its_first_heartbeat(s):
    """The metrics a worker registers with go out as its first metrics record: a
    dashboard showed it at 0 B until its first heartbeat."""
    from shoal.distributed.worker.server import Worker

    comm = await connect(s.address)
    await comm.write({"op": "subscribe_events"})
    assert (await comm.read())["op"] == "stream-start"
    async with Worker(s.address, nthreads=1, heartbeat_interval="60s") as w:
        records = await read_until(comm, lambda rs: any(
            r["kind"] == "worker-metrics" and r["worker"] == w.address for r in rs))  # fmt: skip
        (first,) = [r for r in records if r["kind"] == "worker-metrics"]
        assert first["unmanaged"] + first["managed"] > 10 * 2**20  # (a process: tens of MiB)
    await comm.close()


@gen_cluster(nworkers=1)
async def test_a_reader_that_lost_records_starts_over_from_a_fresh_snapshot(s, a):
    """Records lost for a slow reader are made up for: what was still held, a
    ``resync`` entry, then the scheduler's state as it is; a DashboardState folding
    the stream ends with the scheduler's picture, not with what it last heard."""
    from shoal.dashboard.state import DashboardState

    state = DashboardState()
    with config.set({"distributed.dashboard.events.buffer-length": 100,
                     "distributed.dashboard.events.interval": "100ms"}):  # fmt: skip
        comm = await connect(s.address)
        await comm.write({"op": "subscribe_events"})
        assert (await comm.read())["op"] == "stream-start"
        async with Client(s.address, asynchronous=True) as c:
            futures = c.map(inc, range(20))
            assert await c.gather(futures) == list(range(1, 21))
            for i in range(300):  # between two ticks: 200 of them are lost for this reader
                s.bus.publish(WorkerAdded(f"tcp://gone:{i}", 1))
            records = await read_until(comm, lambda rs: sum(
                r["count"] for r in rs if r["kind"] == "resync") >= 200)  # fmt: skip
            assert records[-1]["kind"] == "snapshot-end" or await read_until(
                comm, lambda rs: rs and rs[-1]["kind"] == "snapshot-end")  # fmt: skip
            state.ingest_many(records)
            del futures  # released: the scheduler forgets them
            for _ in range(500):
                if not s.state.tasks:
                    break
                await asyncio.sleep(0.01)
            assert not s.state.tasks
            records = await read_until(comm, lambda rs: any(
                r["kind"] == "task" and r["finish"] == "forgotten" for r in rs))  # fmt: skip
            await asyncio.sleep(0.3)  # (the rest of the forgetting, a tick or two)
            state.ingest_many(records + await read_all(comm))
    assert state.resyncs >= 1
    assert [w["address"] for w in state.workers()] == [a.address]  # the lost ones are gone
    assert state.task_counts()["memory"] == 0 and state.memory_by_prefix() == {}
    await comm.close()


def test_a_reader_that_keeps_falling_behind_gets_a_snapshot_at_most_every_second():
    """A snapshot blocks the source's loop while it is made: one reader that keeps
    losing records gets one at most every RESYNC_MIN_INTERVAL (more apart when it
    took long), and the one it is owed still comes once the losses stop."""
    from shoal.distributed import eventstream
    from shoal.distributed.rpc import Server

    async def main():
        bus, made = Bus("test"), []

        def resync():
            made.append(time.monotonic())
            return [WorkerAdded("tcp://w:now", 1)]

        streams = eventstream.EventStreams()

        async def subscribe(comm, **_):
            return await streams.serve(comm, bus, source="test", resync=resync)

        server = Server({"subscribe_events": subscribe})
        await server.listen("tcp://127.0.0.1:0")
        comm = await connect(server.address)
        await comm.write({"op": "subscribe_events"})
        hello = await comm.read()
        assert hello["op"] == "stream-start" and "snapshot" not in hello  # (not full)
        loop = asyncio.get_running_loop()
        end = loop.time() + 2.5
        while loop.time() < end:  # records lost on every tick
            for i in range(30):
                bus.publish(WorkerAdded(f"tcp://w:{i}", 1))
            await asyncio.sleep(0.02)
        lost_until = time.monotonic()
        records = await read_until(comm, lambda rs: made and made[-1] > lost_until - 0.1 and any(
            r["kind"] == "snapshot-end" for r in rs[-3:]), timeout=10)  # fmt: skip
        gaps = [b - a for a, b in zip(made, made[1:])]
        assert 2 <= len(made) <= 5 and min(gaps) >= eventstream.RESYNC_MIN_INTERVAL * 0.99, made
        markers = [r for r in records if r["kind"] in ("resync", "dropped")]
        assert {r["kind"] for r in markers} == {"resync"} and len(markers) == len(made)
        assert sum(r["count"] for r in markers) > 1000  # every loss is owned up to
        await comm.close()
        await streams.close()
        await server.close()

    with config.set({"distributed.dashboard.events.buffer-length": 10,
                     "distributed.dashboard.events.interval": "50ms"}):  # fmt: skip
        run(main(), 30)


async def read_all(comm, wait: float = 0.3) -> list:
    """The record batches that arrive within *wait* seconds of each other."""
    records = []
    while True:
        try:
            msg = await asyncio.wait_for(comm.read(), wait)
        except asyncio.TimeoutError:
            return records
        records += decode_batch(msg)


@gen_cluster(nworkers=1)
async def test_dashboard_and_a_plugin_both_see_every_task(s, a):
    from shoal.distributed.scheduler.plugins import SchedulerPlugin

    class Recorder(SchedulerPlugin):
        def __init__(self):
            self.seen = []

        def transition(self, key, start, finish, **details):
            self.seen.append((key, start, finish))

    plugin = Recorder()
    await s.add_plugin(plugin, name="rec")  # wants every transition ("task")
    records = []
    feed = await EventFeed(s.address, records).start()  # wants TASK_STATES
    async with Client(s.address, asynchronous=True) as c:
        assert await c.gather(c.map(inc, range(5))) == [1, 2, 3, 4, 5]
        for _ in range(300):
            if len({r["key"] for r in records if r["kind"] == "task" and r["startstops"]}) == 5:
                break
            await asyncio.sleep(0.01)
    await feed.close()
    timed = {r["key"] for r in records if r["kind"] == "task" and r["startstops"]}
    assert len(timed) == 5
    assert len({k for k, _, finish in plugin.seen if finish == "memory"}) == 5
    await s.remove_plugin("rec")


@gen_cluster(nworkers=1)
async def test_late_subscriber_gets_a_snapshot_of_tasks(s, a):
    async with Client(s.address, asynchronous=True) as c:
        before = time.time()
        futures = c.map(inc, range(5))
        await c.gather(futures)
        await asyncio.sleep(0.2)
        snap = scheduler_snapshot(s.state)
        # each computation with its own times, not the snapshot's: a late reader's
        # computations table shows how long they took
        (submitted,) = [r for r in snap if isinstance(r, GraphSubmitted)]
        (finished,) = [r for r in snap if type(r).__name__ == "ComputationFinished"]
        assert before <= submitted.time <= finished.time <= time.time() - 0.1
        memory = [r for r in snap if isinstance(r, TaskTransition) and r.finish == "memory"]
        assert len(memory) == 5 and all(r.worker == a.address for r in memory)
        assert isinstance(snap[0], WorkerAdded)
        assert len(scheduler_snapshot(s.state, limit=2)) == len(snap) - 3
        records = []
        feed = await EventFeed(s.address, records).start()
        for _ in range(200):
            if sum(r["kind"] == "task" for r in records) >= 5:
                break
            await asyncio.sleep(0.01)
        await feed.close()
    assert [r["kind"] for r in records[:2]] == ["worker-added", "graph-submitted"]
    assert sum(r["kind"] == "task" and r["finish"] == "memory" for r in records) == 5


def test_feed_ingests_into_dashboard_state_and_ends_with_the_scheduler():
    state_mod = pytest.importorskip("shoal.dashboard.state")
    from shoal.testing.cluster import cluster

    async def main():
        state = state_mod.DashboardState()
        async with cluster(nworkers=2) as (s, workers):
            feed = await EventFeed(s.address, state).start()
            async with Client(s.address, asynchronous=True) as c:
                futures = c.map(inc, range(20))  # held: the keys stay in memory
                assert await c.gather(futures) == list(range(1, 21))
                for _ in range(300):
                    if state.progress().get("inc", {}).get("memory") == 20:
                        break
                    await asyncio.sleep(0.01)
                assert state.progress()["inc"]["memory"] == 20
            assert len(state.tasks) >= 20  # task-stream records (with startstops)
            assert {w["address"] for w in state.workers()} == {w.address for w in workers}
            identity = await feed.info_source.identity()
            assert identity["id"] == s.id
            assert feed.running
        # the scheduler closed: it said goodbye, the feed is over
        reason = await asyncio.wait_for(feed.finished(), 5)
        assert "closing" in reason and not feed.running
        await feed.close()

    run(main(), 30)


@gen_cluster(nworkers=1)
async def test_a_reconnected_feed_starts_over_from_the_new_snapshot(s, a):
    """What came and went while the feed was away is not in the new stream: the
    state starts over from its snapshot instead of keeping what it last heard."""
    from shoal.dashboard.state import DashboardState

    state = DashboardState()
    feed = await EventFeed(s.address, state, reconnect=5).start()
    try:
        s.bus.publish(WorkerAdded("tcp://gone:1", 1))  # (a worker that leaves unheard)
        for _ in range(500):
            if len(state.workers()) == 2:
                break
            await asyncio.sleep(0.01)
        assert {w["address"] for w in state.workers()} == {a.address, "tcp://gone:1"}
        for comm in list(s.event_streams._live):  # the connection is lost, no goodbye
            comm.abort()
        for _ in range(500):
            if state.resyncs and [w["address"] for w in state.workers()] == [a.address]:
                break
            await asyncio.sleep(0.01)
        assert state.resyncs == 1 and [w["address"] for w in state.workers()] == [a.address]
        assert feed.running
    finally:
        await feed.close()


def test_a_feed_reconnected_to_a_local_bus_keeps_what_it_knows():
    """A local bus's stream has no full snapshot (only the runs in progress): a
    feed that reconnects to it keeps its picture instead of starting over."""
    from shoal.dashboard.state import DashboardState

    async def main():
        bus = Bus("test")
        server = await BusServer(bus).start()
        state = DashboardState()
        feed = await EventFeed(server.address, state, reconnect=5).start()
        try:
            bus.publish(GraphSubmitted("threads-1", "threads", 2, {"inc": 2}, (), time.time()))
            bus.publish(TaskRows.from_rows([row_of(TaskTransition(  # as a local run publishes
                "threads-1", key, "inc", "processing", "memory", "threads", 1,
                (("compute", 1.0, 2.0),))) for key in ("inc-1", "inc-2")]))  # fmt: skip
            for _ in range(500):
                if state.task_counts()["memory"] == 2:
                    break
                await asyncio.sleep(0.01)
            assert state.task_counts()["memory"] == 2
            for comm in list(server.server._comms):  # lost, no goodbye: it reconnects
                comm.abort()
            for _ in range(500):
                if feed.records > 3 or not feed.running:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            assert feed.running and feed.hello.get("snapshot") is None
            assert state.resyncs == 0 and state.task_counts()["memory"] == 2
        finally:
            await feed.close()
            await server.close()

    run(main(), 20)


def test_feed_reconnect_gives_up_after_its_window():
    async def main():
        bus = Bus("test")
        server = await BusServer(bus).start()
        records = []
        feed = await EventFeed(server.address, records, reconnect=0.3).start()
        bus.publish(WorkerAdded("tcp://w:1", 2))
        for _ in range(200):
            if records:
                break
            await asyncio.sleep(0.01)
        assert records[0]["worker"] == "tcp://w:1"
        # the connection is lost (no goodbye): the feed retries, then gives up
        for comm in list(server.server._comms):
            comm.abort()
        await server.server.close()
        reason = await asyncio.wait_for(feed.finished(), 5)
        assert "no reconnection within 0.3 s" in reason
        await feed.close()
        await server.close()

    run(main(), 20)


async def subscribed(bus):
    """A ``BusServer`` of *bus* and a comm subscribed to its events (past the start)."""
    server = await BusServer(bus).start()
    comm = await connect(server.address)
    await comm.write({"op": "subscribe_events"})
    assert (await comm.read())["op"] == "stream-start"
    return server, comm


def test_bus_server_drops_old_records_for_a_slow_reader():
    async def main():
        bus = Bus("test")
        server, comm = await subscribed(bus)
        for i in range(50):  # all between two ticks: only the newest 10 are held
            bus.publish(WorkerAdded(f"tcp://w:{i}", 1))
        got = await read_until(comm, lambda rs: any(r["kind"] == "worker-added" for r in rs))
        assert got[0] == {"kind": "dropped", "count": 40, "time": got[0]["time"]}
        assert [r["worker"] for r in got[1:]] == [f"tcp://w:{i}" for i in range(40, 50)]
        await comm.close()
        await server.close()

    with config.set({"distributed.dashboard.events.buffer-length": 10,
                     "distributed.dashboard.events.interval": "200ms"}):
        run(main(), 20)


def test_an_event_stream_never_asks_for_a_computations_results():
    """A ``CacheProfiler``'s records carry a local computation's values: a dashboard's
    stream must not make the engine publish them, nor send them."""
    from shoal.events import ResultsCached

    async def main():
        bus = Bus("test")
        server, comm = await subscribed(bus)
        assert bus.wants(TASK_STATES) and bus.wants("worker-added") and not bus.wants("cache")
        assert not bus.wants("task")  # a local run's rows, not a record per step
        bus.publish(ResultsCached("r", [("k", "k", object())], [], 0.0))  # (nothing to encode)
        bus.publish(WorkerAdded("tcp://w:1", 1))
        got = await read_until(comm, lambda rs: any(r["kind"] == "worker-added" for r in rs))
        assert [r["kind"] for r in got] == ["worker-added"]
        await comm.close()
        await server.close()

    run(main(), 20)


# --- the local schedulers' Dashboard ------------------------------------------------


def test_local_dashboard_shows_a_threads_compute(capsys):
    pytest.importorskip("bokeh")
    from shoal.delayed import delayed

    def inc(x):
        return x + 1

    with Dashboard(":0") as dash:
        link = dash.link
        assert link.startswith("http://127.0.0.1:") and f"Dashboard: {link}" in capsys.readouterr().out
        total = delayed(sum)([delayed(inc)(i) for i in range(10)])
        assert total.compute(scheduler="threads") == 55
        status, body = get(base(link) + "/panes.json")
        assert status == 200 and json.loads(body)
        for _ in range(100):  # records reach the dashboard within a few stream ticks
            status, metrics = get(base(link) + "/metrics")
            if b"inc" in metrics:
                break
            time.sleep(0.05)
        assert b"inc" in metrics
        # a task's page: which "worker" ran it, and that a local scheduler keeps no story
        key = next(k for k in total.__dask_graph__() if str(k).startswith("inc"))
        status, page = get(base(link) + "/info/task/" + urllib.parse.quote(str(key), safe="")
                           + ".html")  # fmt: skip
        assert status == 200 and b"<td>worker</td><td>threads</td>" in page, page
        assert b"keeps no story of its tasks (a local scheduler)" in page
        # this process is the local schedulers' one worker: its memory and CPU are shown
        local = rb'shoal_worker_memory_bytes{worker="local",type="unmanaged"} (\d+)'
        for _ in range(100):
            found = re.search(local, get(base(link) + "/metrics")[1])
            if found and int(found.group(1)):  # (added at 0 bytes, sampled twice a second)
                break
            time.sleep(0.05)
        assert found and int(found.group(1)) >= psutil.Process().memory_info().rss // 2
        # tasks running on the threads scheduler count as processing on that worker
        gate = threading.Event()
        blocked = delayed(sum)([delayed(gate.wait, pure=False)(30) for _ in range(3)])
        runner = threading.Thread(target=blocked.compute, kwargs={"scheduler": "threads",
                                                                  "num_workers": 3})
        runner.start()
        try:
            busy = rb'shoal_worker_processing_tasks{worker="local"} (\d+)'
            for _ in range(200):
                found = re.search(busy, get(base(link) + "/metrics")[1])
                if found and int(found.group(1)) == 3:
                    break
                time.sleep(0.05)
            assert found and int(found.group(1)) == 3
        finally:
            gate.set()
            runner.join(30)
        for _ in range(200):  # and none once they are done
            found = re.search(busy, get(base(link) + "/metrics")[1])
            if found and int(found.group(1)) == 0:
                break
            time.sleep(0.05)
        assert found and int(found.group(1)) == 0
        proc = dash.process.proc
        server = dash._server
        port = dash.process.port
        capsys.readouterr()
    assert proc.poll() == 0 and dash.link is None  # SIGTERM: a clean exit
    # its lab panes go blank at the block's end: the user is told, and how to keep one
    assert capsys.readouterr().out == (f"Dashboard closed (port {port}); register() keeps one "
                                       "open across cells\n")
    # registered: no advice to register at its end; a process that died: said so
    dash.register()
    port = dash.process.port
    dash.unregister()
    assert capsys.readouterr().out.splitlines()[-1] == f"Dashboard closed (port {port})"
    with Dashboard(":0") as dash:
        port = dash.process.port
        dash.process.proc.kill()
        dash.process.proc.wait()
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"Dashboard closed (port {port}; its process had exited with code -9); register() keeps "
        "one open across cells")  # fmt: skip
    assert server.server.status == "closed" and not default_bus.active
    assert not [t for t in threading.enumerate() if t.name == "shoal-monitor"]


def spin_for_profile(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


@pytest.mark.parametrize("scheduler", ["threads", "sync"])
def test_local_dashboard_profiles_sync_and_threads_tasks(scheduler):
    """The /profile of a local Dashboard: the threads that run a sync or threads
    compute's tasks are sampled while it is open; the trees go out with the
    metrics of this process, named by the task's function."""
    pytest.importorskip("bokeh")
    pytest.importorskip("psutil")
    from shoal import sampling
    from shoal.delayed import delayed
    from shoal.events import WorkerMetrics

    seen = Buffer(1000)
    token = default_bus.subscribe(seen.append, (WorkerMetrics.kind,))
    try:
        with Dashboard(":0", show=False) as dash:
            assert sampling.profiler is dash._profiler and dash._profiler.running
            parts = [delayed(spin_for_profile)(300_000 + i) for i in range(8)]
            delayed(sum)(parts).compute(scheduler=scheduler)
            for _ in range(100):  # published with the next metrics (every 0.5 s)
                _, records = seen.since(0)
                names = {name for r in records for prefix, tree in profile_items(r.profile)
                         for name in _frame_names(tree)}  # fmt: skip
                if any("spin_for_profile" in n for n in names):
                    break
                time.sleep(0.05)
            assert any("spin_for_profile" in n for n in names), names
            prefixes = {prefix for r in records for prefix, _ in profile_items(r.profile)}
            assert "spin_for_profile" in prefixes
            sampler = dash._profiler
        assert sampling.profiler is None and not sampler.running  # stopped with it
        assert not [t for t in threading.enumerate() if t.name == "shoal-profile"]
    finally:
        default_bus.unsubscribe(token)
    with config.set({"distributed.worker.profile.enabled": False}):
        with Dashboard(":0", show=False) as dash:
            assert dash._profiler is None and sampling.profiler is None


def test_two_local_dashboards_share_one_sampler_until_the_last_closes():
    pytest.importorskip("bokeh")
    pytest.importorskip("psutil")
    from shoal import sampling

    first = Dashboard(":0", show=False)
    first.register()
    try:
        with Dashboard(":0", show=False) as second:
            sampler = sampling.profiler
            assert sampler is first._profiler is second._profiler and sampler.running
        assert sampling.profiler is sampler and sampler.running  # the first still shows it
        with Dashboard(":0", show=False) as third:
            assert third._profiler is sampler
            first.close()
            assert sampling.profiler is sampler and sampler.running  # the third still does
    finally:
        first.close()
    assert sampling.profiler is None and not sampler.running


def _frame_names(tree):
    yield tree.get("name", "")
    for child in tree.get("children", {}).values():
        yield from _frame_names(child)


def test_local_dashboard_can_be_switched_off():
    with config.set({"diagnostics.dashboard.enabled": False}):
        with Dashboard(":0") as dash:
            assert dash.link is None and dash.process is None


def test_a_local_dashboards_bad_arguments_and_settings_are_named_before_anything_starts():
    """``prefix=123`` failed inside ``subprocess``, ``bus="x"`` in the child, and a wrong
    ``allow-websocket-origin`` killed the child with a traceback naming no setting."""
    import psutil

    with pytest.raises(TypeError, match=r"Dashboard: prefix=123: expected a URL path"):
        Dashboard(":0", prefix=123)
    with pytest.raises(TypeError, match=r"Dashboard: bus='x': expected an event bus"):
        Dashboard(":0", bus="x")
    key = "distributed.dashboard.allow-websocket-origin"
    for bad in (5, [5], [""], {"a": 1}):
        with config.set({key: bad}):
            with pytest.raises(ValueError, match=rf"allow_websocket_origin=.* \({key}\): expected"):
                with Dashboard(":0", show=False):
                    pass
    assert [p for p in psutil.Process().children() if "shoal.dashboard" in " ".join(p.cmdline())] == []
    with config.set({key: "tunnel.example:8000"}):  # (one string: a list of it)
        with Dashboard(":0", show=False) as dash:
            assert dash.link is not None


def test_a_local_dashboard_whose_process_died_has_no_link_and_starts_again_when_used():
    """Killed (its memory, a crash): its link goes rather than point at nothing, its
    repr says so, the next ``with`` or ``register()`` starts it again on its port (it
    used to stay dead until close()), and closing it still cleans up."""
    import signal

    with Dashboard(":0", show=False) as dash:
        link = dash.link
        assert link is not None and link in repr(dash)
        dash.process.proc.send_signal(signal.SIGKILL)
        dash.process.proc.wait(10)
        assert dash.link is None and "its process exited (code -9)" in repr(dash)
        assert dash.process.address_link() == link
        with config.set({"distributed.dashboard.tls.cert": "/nonexistent.pem"}):
            with pytest.raises(ValueError, match="no such file"):  # a new one cannot start...
                dash.register()
        assert "its process exited (code -9)" in repr(dash)  # ...and the next use tries again
        with dash:  # used again: a new process, the same link
            assert dash.link == link and get(link.replace("/status", "/health"))[0] == 200
            assert b"# TYPE shoal_tasks gauge" in get(link.replace("/status", "/metrics"))[1]
        assert dash.link == link  # (the outer block still holds it)
    assert dash.process is None and dash.link is None


def test_a_ctrl_c_while_a_dashboard_spawns_leaves_no_process(monkeypatch):
    """A KeyboardInterrupt after the child started but before ``spawn()`` returned left
    that child running, unowned, until it gave up on its source with an error line."""
    import psutil

    from shoal.diagnostics import announce

    def interrupted():
        raise KeyboardInterrupt

    before = {p.pid for p in psutil.Process().children()}
    monkeypatch.setattr(announce, "registry_dir", interrupted)
    dash = Dashboard(":0", show=False)
    with pytest.raises(KeyboardInterrupt):
        dash.register()
    assert dash.process is None and not dash._started
    assert {p.pid for p in psutil.Process().children()} == before


def test_a_registered_dashboard_outlives_a_with_block_that_also_uses_it():
    """Stopped by the end of its last use: a cell's ``with dash:`` on a registered
    dashboard (or a ``with`` inside another) used to close it for every cell after."""
    dash = Dashboard(":0", show=False)
    dash.register()
    try:
        link = dash.link
        with dash:
            with dash:
                pass
            assert dash.link == link
        assert dash.link == link and dash.process.proc.poll() is None
        dash.unregister()
        assert dash.link is None
        with dash:  # a plain with block: closed at its end
            assert dash.link is not None
        assert dash.link is None
        dash.register()
        with dash:
            dash.close()  # close() ends it, however it was opened
            assert dash.link is None
        assert dash.link is None
    finally:
        dash.close()


def test_a_backlog_of_messages_lets_the_dashboards_pages_run_between_them():
    """The feed shares its loop with the Bokeh server: a backlog already in the socket's
    buffer (the process was stopped, then continued) was read without ever yielding, and
    held the pages' callbacks off for tens of seconds."""
    from shoal.dashboard.state import DashboardState

    class Backlog:  # a comm whose messages have all arrived already
        def __init__(self, n):
            self.left = n

        async def read(self):
            if not self.left:
                return {"op": "close", "reason": "done"}
            self.left -= 1
            return []  # (an empty batch)

        def abort(self):
            pass

    async def main():
        comm, seen = Backlog(50), []

        async def page():
            while True:
                seen.append(comm.left)
                await asyncio.sleep(0)

        other = asyncio.ensure_future(page())
        await asyncio.sleep(0)
        assert await EventFeed("tcp://127.0.0.1:1", DashboardState())._follow(comm) is True
        other.cancel()
        assert len(set(seen)) > 40  # it ran between the messages, not only at the end

    run(main(), 10)


def test_a_local_key_a_message_cannot_carry_does_not_end_the_dashboard():
    """A sync run's key of another type (``1j``, an object, an int past 64 bits): its record
    failed to encode, which ended the stream, and the dashboard process with it, for good."""
    pytest.importorskip("bokeh")
    from shoal.local.sync import get as sync_get

    with Dashboard(":0", show=False) as dash:
        graph = {1j: 1, 2**70: 2, 10**400: 3, "odd-after": (abs, -5)}
        assert sync_get(graph, [1j, 2**70, 10**400, "odd-after"]) == [1, 2, 3, 5]
        for _ in range(200):  # the records reached it: its prefixes are counted
            status, metrics = get(base(dash.link) + "/metrics")
            if b'prefix="odd-after"' in metrics:
                break
            time.sleep(0.05)
        assert status == 200 and b'prefix="odd-after"' in metrics, metrics[-2000:]
        assert b'prefix="Other"' in metrics  # (its prefix: key_split of a key of another type)
        assert dash.process.proc.poll() is None
