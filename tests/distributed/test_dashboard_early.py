"""A dashboard that subscribes after work began gets what it missed.

``Client()`` returns before its dashboard process has subscribed; the scheduler holds
the records published meanwhile (``ServesDashboard._hold_early``) and gives them to
the dashboard process, which shows its ticket; another reader, first or later, gets
a snapshot of the state: finished computations as finished, errors with their text.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("bokeh")

from shoal.dashboard.feed import EventFeed  # noqa: E402
from shoal.dashboard.state import DashboardState  # noqa: E402
from shoal.distributed.client import Client  # noqa: E402
from shoal.testing.cluster import gen_cluster  # noqa: E402


def inc(x):
    return x + 1


def boom(x):
    raise ValueError(f"boom {x}")


async def _settled(dash: DashboardState, check, timeout: float = 10.0):
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the dashboard did not settle: {dash.progress()} {dash.computations()}")


@gen_cluster(nworkers=2)
async def test_the_dashboard_gets_the_records_held_since_it_was_spawned(s, a, b):
    s._hold_early("ticket")  # (what Scheduler.start does when it spawns its dashboard)
    async with Client(s.address, asynchronous=True) as c:
        held = c.map(inc, range(200))
        assert await c.gather(held) == list(range(1, 201))
        await asyncio.sleep(0.3)  # (the rows published at the next events interval)
        other = DashboardState()  # another reader, first: a snapshot, the records stay held
        first = await EventFeed(s.address, other, ticket="not it").start()
        await _settled(other, lambda: other.progress().get("inc", {}).get("memory") == 200)
        assert other.tasks.count == 0 and s._early is not None
        dash = DashboardState()
        feed = await EventFeed(s.address, dash, ticket="ticket").start()
        assert s._early is None  # handed over: holding stopped
        await _settled(dash, lambda: dash.progress().get("inc", {}).get("memory") == 200)
        assert dash.tasks.count == 200  # every task's timings: the task stream is whole
        assert [c["status"] for c in dash.computations()] == ["finished"]
        assert {w["address"] for w in dash.workers()} == {a.address, b.address}
        await feed.close()
        await first.close()


@gen_cluster(nworkers=1)
async def test_a_late_reader_sees_finished_computations_and_errors(s, a):
    async with Client(s.address, asynchronous=True) as c:
        held = c.map(inc, range(50))
        bad = c.submit(boom, 1)
        await c.gather(held)
        with pytest.raises(ValueError):
            await bad
        dash = DashboardState()
        feed = await EventFeed(s.address, dash).start()  # nothing held: a snapshot
        await _settled(dash, lambda: dash.progress().get("boom", {}).get("erred") == 1)
        assert dash.progress()["inc"]["memory"] == 50
        assert all(c["status"] in ("finished", "error") for c in dash.computations())
        assert [(r["prefix"], r["count"]) for r in dash.exceptions()] == [("boom", 1)]
        assert "boom 1" in dash.exceptions()[0]["exception"]
        await feed.close()
        del held, bad


@gen_cluster(nworkers=1)
async def test_held_records_that_overflowed_give_way_to_a_snapshot(s, a):
    from shoal import config

    with config.set({"distributed.dashboard.events.buffer-length": 20}):
        s._hold_early("ticket")
    async with Client(s.address, asynchronous=True) as c:
        held = c.map(inc, range(100))
        await c.gather(held)
        await asyncio.sleep(0.3)
        assert s._early[0].count > len(s._early[0])  # some were dropped
        dash = DashboardState()
        feed = await EventFeed(s.address, dash, ticket="ticket").start()
        assert s._early is None
        await _settled(dash, lambda: dash.progress().get("inc", {}).get("memory") == 100)
        assert [c["status"] for c in dash.computations()] == ["finished"]
        assert dash.tasks.count == 0  # (a snapshot has no timings)
        await feed.close()
        del held


def add(a, b):
    return a + b


@gen_cluster(nworkers=1)
async def test_a_late_readers_counts_match_a_live_readers_and_a_second_snapshot_adds_nothing(s, a):
    """A finished graph's freed intermediates count as released, not waiting; a
    reconnected stream's snapshot (folded into the same state) counts no error twice."""
    from shoal.delayed import delayed

    x = delayed(inc)(1, dask_key_name="x-1")
    left, right = delayed(inc)(x, dask_key_name="left-1"), delayed(inc)(x, dask_key_name="right-1")
    top = delayed(add)(left, right, dask_key_name="top-1")
    async with Client(s.address, asynchronous=True) as c:
        total = c.compute(top)  # one graph: its intermediates are freed once top is in
        assert await total == 6
        bad = c.submit(boom, total, key="boom-1")
        with pytest.raises(ValueError):
            await bad
        for _ in range(100):
            if all(s.state.tasks[k].state == "released" for k in ("x-1", "left-1", "right-1")):
                break
            await asyncio.sleep(0.02)
        assert all(s.state.tasks[k].state == "released" for k in ("x-1", "left-1", "right-1"))
        dash = DashboardState()
        for _ in range(2):  # (the second: as a reconnected stream's snapshot)
            feed = await EventFeed(s.address, dash).start()
            await _settled(dash, lambda: dash.progress().get("boom", {}).get("erred") == 1)
            await feed.close()
        progress = dash.progress()
        assert all(row["waiting"] == 0 and row["processing"] == 0 for row in progress.values())
        assert progress["top"]["memory"] == 1  # (what c.compute holds: the Delayed's own key)
        assert {p: progress[p]["released"] for p in ("x", "left", "right")} == {
            "x": 1, "left": 1, "right": 1}
        assert [(r["prefix"], r["count"]) for r in dash.exceptions()] == [("boom", 1)]
        runs = [c["run_id"] for c in dash.computations()]
        assert len(runs) == 2 == len(set(runs))  # one row a computation, snapshot or two
        del total, bad


@gen_cluster(nworkers=1, scheduler_options={"dashboard_address": ":0"})
async def test_a_scheduler_with_a_dashboard_keeps_its_task_stream_from_the_start(s, a):
    """As with Dask's dashboard: client.get_task_stream() shows what ran before anyone
    asked for it (the rows the dashboard gets anyway)."""
    import time

    assert s.task_stream is not None
    async with Client(s.address, asynchronous=True) as c:
        t0 = time.time()
        futures = c.map(inc, range(20))
        await c.gather(futures)
        t1 = time.time()
        data = await c.get_task_stream()
        assert sorted(d["key"] for d in data) == sorted(f.key for f in futures)
        assert all(d["status"] == "OK" and d["worker"] == a.address for d in data)
        # windows on when the tasks finished, not when their rows were published
        assert len(await c.get_task_stream(start=t0, stop=t1)) == 20
        assert await c.get_task_stream(start=t1) == []
        del futures
    await s.dashboard_started()
