"""Diagnostics of the distributed runtime: the profiler wiring, the task stream,
``Client.profile``, ``performance_report`` and ``progress``.

Real in-process clusters (``shoal.testing.cluster``); the report file is
checked for being self-contained (no script fetched from the web) and for
holding the figures' data.  The notebook form of ``progress`` is driven with
``notebook=True``: ipywidgets work without a kernel (their comms are dummies).
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import os
import re
import threading
import time

import pytest

from shoal import config
from shoal.core.keys import key_split
from shoal.distributed import Client, get_task_stream, performance_report, progress
from shoal.distributed.client.progress import MultiProgressWidget, ProgressWidget
from shoal.distributed.scheduler.diagnostics import TaskStreamLog
from shoal.bus import Bus
from shoal.events import PackedTaskRows, TaskTransition
from shoal.testing.aio import run
from shoal.testing.cluster import cluster, gen_cluster, on_loop, sync_cluster, wait_until


def spin(x, seconds=0.05):
    """CPU-bound for ``seconds``: the profiler sees this function."""
    end = time.time() + seconds
    total = 0
    while time.time() < end:
        for i in range(500):
            total += i
    return x + 1


def add(x, y):
    return x + y


def fail(x):
    raise ValueError(f"bad {x}")


@pytest.fixture
def servers():
    with sync_cluster(nworkers=2, nthreads=2) as sw:
        yield sw


def _tree_names(tree) -> set:
    names, todo = set(), [tree]
    while todo:
        node = todo.pop()
        names.add(node["name"])
        todo.extend(node["children"].values())
    return names


# --- the profiler, wired ------------------------------------------------------------------


@gen_cluster(nworkers=1, nthreads=1, worker_options={"heartbeat_interval": "50ms"})
async def test_heartbeats_carry_profiles_to_the_bus_not_the_worker_dict(s, a):
    got = []
    token = s.bus.subscribe(got.append, ("worker-metrics",))
    try:
        assert a.profiler is not None and a.profiler.running
        async with Client(s.address, asynchronous=True) as client:
            await client.gather(client.map(spin, range(6), seconds=0.05))
            deadline = time.monotonic() + 10
            while not any(r.profile for r in got):
                assert time.monotonic() < deadline, "no profile in the worker metrics"
                await asyncio.sleep(0.05)
    finally:
        s.bus.unsubscribe(token)
    record = next(r for r in got if r.profile)
    when, tree, per_prefix = record.profile
    assert tree["count"] > 0 and "spin" in per_prefix
    assert "profile" not in s.state.workers[a.address].metrics  # trees go to the bus only
    # the dashboard's state takes the record as it is: its /profile fills
    from shoal.dashboard.state import DashboardState

    state = DashboardState()
    state.ingest(record)
    assert state.profile(prefix="spin")["count"] > 0


def test_the_dashboard_profile_fills_over_the_event_stream():
    pytest.importorskip("bokeh")
    from shoal.dashboard.feed import EventFeed
    from shoal.dashboard.state import DashboardState

    async def main():
        async with cluster(nworkers=2, worker_options={"heartbeat_interval": "50ms"}) as (s, _):
            state = DashboardState()
            feed = await EventFeed(s.address, state).start()
            try:
                async with Client(s.address, asynchronous=True) as c:
                    await c.gather(c.map(spin, range(6), seconds=0.1))
                    deadline = time.monotonic() + 10
                    while state.profile(prefix="spin")["count"] == 0:
                        assert time.monotonic() < deadline, "the dashboard got no profile"
                        await asyncio.sleep(0.05)
            finally:
                await feed.close()
        assert any(name.startswith("spin ") for name in _tree_names(state.profile()))

    run(main())


def test_profiler_off_starts_no_thread_and_sends_no_profile():
    async def main():
        with config.set({"distributed.worker.profile.enabled": False}):
            async with cluster(nworkers=1, worker_options={"heartbeat_interval": "20ms"}) as (s, [a]):
                assert a.profiler is None
                assert not [t for t in threading.enumerate() if t.name == "shoal-profile"]
                got = []
                s.bus.subscribe(got.append, ("worker-metrics",))
                while len(got) < 3:
                    await asyncio.sleep(0.02)
                assert all(r.profile == () for r in got)
                assert a.get_profile() == {}
                assert await s.get_profile() == {"identifier": "root", "name": "root", "filename": "",
                                                 "line": 0, "count": 0, "children": {}}  # fmt: skip

    run(main())


def test_worker_close_joins_its_sampler():
    async def main():
        async with cluster(nworkers=1) as (s, [a]):
            sampler = a.profiler
            assert sampler.running
        assert not sampler.running

    run(main())


# --- the task stream ----------------------------------------------------------------------


def test_task_stream_keeps_finished_tasks_of_the_published_rows_and_is_bounded():
    from shoal.distributed.taskcolumns import pack_task_rows
    from shoal.distributed.taskstream import task_dicts
    from shoal.events import TASK_STATES, TaskRows, row_of

    bus = Bus("test")
    assert not bus.wants(TASK_STATES)
    # bounded in finished tasks; kept batches published at 20, 21, 22 (after their tasks)
    stream = TaskStreamLog(bus, maxlen=3, clock=iter(range(20, 100)).__next__)
    assert bus.wants(TASK_STATES)

    def done(i):  # finished at 11 + i
        return TaskTransition("g", f"x-{i}", "x", "processing", "memory", worker="w", thread=1,
                              startstops=(("compute", 10.0 + i, 11.0 + i),), nbytes=8, type="int")

    def collect(*args, **kwargs):  # as the client reads the reply
        return task_dicts(stream.collect(*args, **kwargs))

    started = TaskTransition("g", "x-9", "x", "waiting", "processing", worker="w")  # not an end
    bus.publish(TaskRows.from_rows([row_of(started)]))  # nothing finished: not kept
    bus.publish(TaskRows.from_rows([row_of(started), row_of(done(0))]))  # published at 20
    bus.publish(pack_task_rows([row_of(done(1)), row_of(done(2))]))  # a worker's, packed: 21
    bus.publish(TaskRows.from_rows([row_of(TaskTransition(  # no timings (a KilledWorker): 22
        "g", ("y", 0), "y", "processing", "erred", exception="ValueError: bad"))]))
    data = collect()
    assert [d["key"] for d in data] == ["x-1", "x-2", ("y", 0)]  # x-0's batch fell out
    assert data[0]["startstops"] == [{"action": "compute", "start": 11.0, "stop": 12.0}]
    assert data[0]["worker"] == "w" and data[0]["type"] == "int" and data[0]["nbytes"] == 8
    assert data[-1]["status"] == "error" and data[-1]["exception"] == "ValueError: bad"
    assert data[-1]["exception_text"] == "ValueError: bad"  # (Dask's field name too)
    assert [d["key"] for d in collect(count=1)] == [("y", 0)]
    assert [d["key"] for d in collect(count=2)] == ["x-2", ("y", 0)]
    assert collect(count=0) == []
    # windows on when each task finished (its last step's end; else when published)
    assert [d["key"] for d in collect(start=12.5, stop=13)] == ["x-2"]
    assert [d["key"] for d in collect(stop=12)] == ["x-1"]
    assert [d["key"] for d in collect(start=21.5)] == [("y", 0)]
    # with count, as Dask's: the first since start, the last before stop (or of all);
    # both bounds given: count is ignored
    assert [d["key"] for d in collect(start=11.5, count=1)] == ["x-1"]
    assert [d["key"] for d in collect(start=0, count=2)] == ["x-1", "x-2"]
    assert [d["key"] for d in collect(stop=13, count=1)] == ["x-2"]
    assert [d["key"] for d in collect(start=0, stop=13, count=1)] == ["x-1", "x-2"]
    bus.publish(PackedTaskRows(b"not msgpack", 1))  # unreadable: left out, logged
    assert [d["key"] for d in collect()] == [("y", 0)]  # (it pushed x-1, x-2 out)
    stream.close()
    assert not bus.wants(TASK_STATES)


@gen_cluster(nworkers=1)
async def test_the_scheduler_builds_no_task_records_until_asked(s, a):
    from shoal.events import TASK_STATES

    assert s.task_stream is None and not s.bus.wants(TASK_STATES)
    async with Client(s.address, asynchronous=True) as c:
        await c.gather(c.map(spin, range(3), seconds=0))
        assert await c.get_task_stream() == []  # nothing kept before the first request
        assert s.bus.wants(TASK_STATES) and not s.bus.wants("task")
        futures = c.map(spin, range(10, 13), seconds=0)
        await c.gather(futures)
        data = await c.get_task_stream()
        assert sorted(d["key"] for d in data) == sorted(f.key for f in futures)
    assert {d["prefix"] for d in data} == {"spin"}


def test_client_get_task_stream_and_context_manager(c, servers):
    x = c.submit(spin, 1, seconds=0.01, workers=[servers[1][0].address])
    y = c.submit(spin, 2, seconds=0.01, workers=[servers[1][1].address])
    with get_task_stream() as ts:
        z = c.submit(add, x, y, workers=[servers[1][0].address])
        assert z.result() == 5
        bad = c.submit(fail, 1)
        with pytest.raises(ValueError):
            bad.result()
    by_key = {d["key"]: d for d in ts.data}
    assert set(by_key) >= {z.key, bad.key}
    rec = by_key[z.key]
    assert rec["worker"] == servers[1][0].address and rec["thread"] and rec["type"] == "int"
    assert "compute" in [ss["action"] for ss in rec["startstops"]]
    assert by_key[bad.key]["status"] == "error" and "bad 1" in by_key[bad.key]["exception"]
    text = by_key[bad.key]["traceback_text"]
    assert 'raise ValueError(f"bad {x}")' in text  # as Dask's: from the task's own code on
    assert "threads.py" not in text and "spec.py" not in text, text
    assert not {"exception", "exception_text", "traceback_text"} & set(by_key[z.key])  # as Dask's
    assert c.get_task_stream(count=1)[0]["key"] == bad.key
    assert c.get_task_stream(start=time.time() + 60) == []
    assert len(c.get_task_stream(start="1h")) >= 2  # a duration string: that long ago


def test_transfers_show_in_the_dependent_task(c, servers):
    a, b = (w.address for w in servers[1])
    x = c.submit(spin, 1, seconds=0, workers=[b])
    x.result()
    with get_task_stream() as ts:
        assert c.submit(add, x, 1, workers=[a]).result() == 3
    actions = [ss["action"] for d in ts.data for ss in d["startstops"]]
    assert "transfer" in actions


def test_task_stream_plot(c, tmp_path):
    with get_task_stream(plot="save", filename=str(tmp_path / "ts.html")) as ts:
        c.gather(c.map(spin, range(4), seconds=0.01))
    assert len(ts.data) == 4 and ts.figure is not None
    assert "spin" in (tmp_path / "ts.html").read_text()
    data, fig = c.get_task_stream(plot=True)
    assert fig.renderers and len(data) >= 4
    inlined = (tmp_path / "ts.html").stat().st_size
    from bokeh.resources import CDN

    c.get_task_stream(plot="save", filename=str(tmp_path / "cdn.html"), bokeh_resources=CDN)
    text = (tmp_path / "cdn.html").read_text()  # (Dask's argument: BokehJS from the web)
    assert "spin" in text and len(text) < inlined / 4 and '<script src="http' in text
    with pytest.raises(ValueError, match="bokeh_resources|mode='bogus'"):
        c.get_task_stream(plot="save", filename=str(tmp_path / "x.html"), bokeh_resources="bogus")
    assert not (tmp_path / "x.html").exists()


def test_async_get_task_stream_context_manager():
    async def main():
        async with cluster(nworkers=1) as (s, _):
            async with Client(s.address, asynchronous=True) as c:
                async with get_task_stream(client=c) as ts:
                    await c.gather(c.map(spin, range(3), seconds=0))
                assert len(ts.data) == 3

    run(main())


def _clock_behind(seconds):
    """In a worker process: its wall clock *seconds* behind (a host without NTP)."""
    real = time.time
    time.time = lambda: real() - seconds


def test_blocks_keep_the_tasks_of_a_worker_whose_clock_is_behind(tmp_path):
    """``with get_task_stream()`` and ``performance_report`` take the scheduler's
    cursor, not the client's time: a worker's late clock loses no task.  (Its clock
    goes back after it registered: the tasks' stamps are skewed until its next
    heartbeat's echo corrects them, see ``test_clock.py``; found either way.)"""
    with Client(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        c.run(_clock_behind, 60)
        with get_task_stream() as ts:
            futures = c.map(spin, range(5), seconds=0)
            c.gather(futures)
        assert sorted(d["key"] for d in ts.data) == sorted(f.key for f in futures)
        with performance_report(filename=str(tmp_path / "r.html")):
            later = c.map(spin, range(10, 14), seconds=0)
            c.gather(later)
        page = (tmp_path / "r.html").read_text()
        data = _report_data(page)  # (tiny tasks of a thread share a rectangle: its first key)
        assert any(f.key in data for f in later) and not any(f.key in data for f in futures)
        assert "<td>Tasks</td><td>4</td>" in html.unescape(page)  # the block's, all of them


# --- Client.profile -----------------------------------------------------------------------


def test_client_profile(c, servers, tmp_path):
    start = time.time()
    c.gather(c.map(spin, range(8), seconds=0.1))
    tree = c.profile(start=start)
    assert tree["count"] > 0
    assert any(name.startswith("spin ") for name in _tree_names(tree))
    described, todo = [], [tree]  # Dask's description of each node too
    while todo:
        node = todo.pop()
        described.append(node["description"])
        todo.extend(node["children"].values())
    assert {"name": "spin", "line_number": spin.__code__.co_firstlineno,
            "line": "def spin(x, seconds=0.05):"}.items() <= next(
        d for d in described if d["name"] == "spin").items()  # fmt: skip
    assert c.profile(key="spin", start=start)["count"] > 0
    assert c.profile(key=("nothing-like-it", 0))["count"] == 0
    one = c.profile(workers=[servers[1][0].address], start=start)
    assert 0 < one["count"] <= tree["count"] + 50
    with pytest.raises(ValueError, match="unknown workers"):
        c.profile(workers=["tcp://127.0.0.1:1"])
    path = tmp_path / "profile.html"
    again, fig = c.profile(start=start, filename=str(path))  # a file: (tree, figure), as Dask's
    assert again["count"] >= tree["count"] and fig.renderers
    assert "spin" in path.read_text()
    _, fig = c.profile(start=start, plot=True)
    assert fig.renderers
    # one tree per worker, each that worker's (their counts add up to the merged tree's)
    per = c.profile(start=start, merge_workers=False)
    assert sorted(per) == sorted(w.address for w in servers[1])
    assert all(t["description"]["name"] == "" for t in per.values())  # (Dask's root)
    assert all(t["count"] > 0 for t in per.values())
    assert sum(t["count"] for t in per.values()) >= tree["count"]
    with pytest.MonkeyPatch.context() as mp:  # plot="save": Dask's file name, in the cwd
        mp.chdir(tmp_path)
        per2, fig = c.profile(start=start, merge_workers=False, plot="save")
        assert sorted(per2) == sorted(per) and fig.renderers
        assert "spin" in (tmp_path / "dask-profile.html").read_text()
    for flag in ("server", "scheduler"):  # Dask's event-loop profiles: not sampled here
        with pytest.raises(ValueError, match=f"{flag}=True.*only the threads that run tasks"):
            c.profile(**{flag: True})


# --- performance_report -------------------------------------------------------------------


def _report_data(page: str) -> str:
    """The Bokeh document JSON embedded in a report."""
    docs = re.findall(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', page, re.S)
    assert docs, "no Bokeh document in the report"
    return json.dumps(json.loads(docs[0]))


def test_performance_report_is_one_offline_file_with_the_data(c, servers, tmp_path):
    path = tmp_path / "report.html"
    x = c.submit(spin, 1, seconds=0.01, workers=[servers[1][0].address])
    with performance_report(filename=str(path)):
        futures = c.map(spin, range(6), seconds=0.1)
        total = c.submit(sum, futures, workers=[servers[1][1].address])
        assert total.result() == sum(range(1, 7))
        assert c.submit(add, x, 1, workers=[servers[1][1].address]).result() == 3
        with pytest.raises(ValueError):
            c.submit(fail, 0).result()
    page = path.read_text()
    assert re.search(r"<script[^>]+src=", page) is None  # BokehJS inlined: opens offline
    assert re.search(r"<link[^>]+href=[\"']https?:", page) is None
    data = _report_data(page)
    for future in (*futures, total):
        assert future.key in data  # the task stream's rectangles
    assert "spin (test_diagnostics_distributed.py" in data  # the profile's frames
    for text in ("Summary", "Task Stream", "Worker Profile", "Progress", "Tasks per prefix",
                 "Calling code", "performance_report(filename=str(path))", "Transfers"):  # fmt: skip
        assert text in data, text
    assert "fail" in data and "erred" in data


def test_performance_report_async(tmp_path):
    async def main():
        async with cluster(nworkers=1) as (s, _):
            async with Client(s.address, asynchronous=True) as c:
                async with performance_report(filename=str(tmp_path / "r.html"), mode="cdn"):
                    await c.gather(c.map(spin, range(3), seconds=0))

    run(main())
    page = (tmp_path / "r.html").read_text()
    assert "cdn.bokeh.org" in page and len(page) < 500_000  # cdn: small, loads BokehJS from the web
    assert "spin" in _report_data(page)


def test_performance_report_takes_dasks_defaults_and_storage_options(c, tmp_path):
    path = tmp_path / "made" / "for" / "it.html"  # a folder fsspec makes (auto_mkdir)
    with performance_report(filename=str(path), mode=None, storage_options={"auto_mkdir": True}):
        c.gather(c.map(spin, range(3), seconds=0))
    page = path.read_text()
    assert re.search(r"<script[^>]+src=", page) is None  # mode=None: inlined, as by default
    assert "spin" in _report_data(page)
    with pytest.raises(ValueError, match="mode='web': expected one of 'inline', 'cdn', 'server'"):
        performance_report(mode="web")


def test_performance_report_files_as_dasks_are_written(c, tmp_path):
    """Through fsspec, as Dask's: folders made, ``.gz`` compressed, any URL; Bokeh's
    other modes; a stacklevel under 1 still shows the caller's code."""
    import gzip

    import fsspec

    targets = {"plain": tmp_path / "new" / "dir" / "r.html", "gz": tmp_path / "r.html.gz",
               "url": "memory://reports/r.html", "relative": tmp_path / "rel.html"}  # fmt: skip
    for name, target in targets.items():
        mode = "relative" if name == "relative" else None
        with performance_report(filename=str(target), stacklevel=0, mode=mode):
            c.gather(c.map(spin, range(20, 22), seconds=0))  # here: the calling code
    code = _report_data(targets["plain"].read_text())
    assert "performance_report(filename=str(target), stacklevel=0" in code
    assert "self." + "_begin()" not in code  # (spelled apart: this source is the code shown)
    with gzip.open(targets["gz"], "rt", encoding="utf-8") as f:
        assert "spin" in _report_data(f.read())
    with fsspec.open(targets["url"], "r", encoding="utf-8") as f:
        assert "spin" in _report_data(f.read())
    page = targets["relative"].read_text()
    assert re.search(r'<script[^>]+src="[^"]*bokeh[^"]*\.js"', page)  # BokehJS from the package
    with pytest.raises(TypeError, match="stacklevel='2': expected a number of frames"):
        performance_report(stacklevel="2")


def test_a_report_that_cannot_be_written_is_kept_elsewhere(c, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    target = tmp_path / "a-file" / "r.html"
    with pytest.raises(OSError, match=r"report could not be written to .*a-file/r\.html.*it is in") as e:
        with performance_report(filename=str(target)):
            assert c.submit(spin, 30, seconds=0).result() == 31
    kept = str(e.value).rsplit("it is in ", 1)[1]
    try:
        with open(kept, encoding="utf-8") as f:
            assert "spin" in _report_data(f.read())
    finally:
        os.remove(kept)
    # a block that raised keeps its own exception (the report's error is a note on it)
    with pytest.raises(KeyError, match="from the block") as e:
        with performance_report(filename=str(target)):
            c.submit(spin, 31, seconds=0).result()
            raise KeyError("from the block")
    (note,) = e.value.__notes__
    kept = note.rsplit("it is in ", 1)[1]
    try:
        with open(kept, encoding="utf-8") as f:
            assert "spin" in _report_data(f.read())
    finally:
        os.remove(kept)


def test_a_task_stream_or_profile_file_is_checked_first_and_a_failed_one_loses_nothing(c, tmp_path):
    """A file descriptor for ``filename`` took the page into whatever file it was and closed
    it; a file that could not be written lost the block's records."""
    from shoal.distributed import get_task_stream

    for call in (lambda: c.profile(filename=1), lambda: c.get_task_stream(plot="save", filename=1),
                 lambda: get_task_stream(plot="save", filename=None)):
        with pytest.raises(TypeError, match=r"filename=(1|None): expected the path of the HTML file"):
            call()
    (tmp_path / "a-file").write_text("not a folder")
    target = tmp_path / "a-file" / "ts.html"
    with pytest.raises(OSError, match=r"shoal task stream could not be written to .*ts\.html") as e:
        with get_task_stream(plot="save", filename=str(target)) as ts:
            c.gather(c.map(spin, range(4), seconds=0))
    assert len(ts.data) == 4  # (it was empty)
    kept = str(e.value).rsplit("it is in ", 1)[1]
    try:
        assert os.path.getsize(kept) > 1000
    finally:
        os.remove(kept)
    with pytest.raises(KeyError, match="from the block") as e:  # (the block's own, kept)
        with get_task_stream(plot="save", filename=str(target)) as ts:
            c.gather(c.map(spin, range(10, 12), seconds=0))
            raise KeyError("from the block")
    assert len(ts.data) == 2
    (note,) = e.value.__notes__
    os.remove(note.rsplit("it is in ", 1)[1])
    assert isinstance(c.profile(filename=""), dict)  # ("" is no file, as in Dask)
    nested = tmp_path / "new" / "folder" / "ts.html"  # (missing folders are made, as for reports)
    data, _ = c.get_task_stream(plot="save", filename=str(nested))
    assert data and nested.stat().st_size > 1000


def test_performance_report_without_a_client_raises(tmp_path):
    with pytest.raises(ValueError, match="No running Client"):
        with performance_report(filename=str(tmp_path / "r.html")):
            pass


# --- progress -----------------------------------------------------------------------------


def test_text_progress_blocks_until_done(c):
    out = io.StringIO()
    futures = c.map(spin, range(6), seconds=0.05)
    progress(futures, out=out)  # not in a kernel: the text bar
    assert all(f.done() for f in futures)
    text = out.getvalue()
    assert text.endswith("| 100% Completed | " + text.rsplit("| ", 1)[-1])
    assert "[########################################] | 100% Completed" in text
    assert text.endswith("\n")


def test_text_progress_with_errors_and_collections(c):
    out = io.StringIO()
    good, bad = c.submit(spin, 1, seconds=0), c.submit(fail, 2)
    progress({"a": [good], "b": (bad,)}, out=out, notebook=False)
    assert bad.status == "error"
    last = out.getvalue().rsplit("\r", 1)[-1]  # the final line says what failed, not "100%"
    assert last.startswith("[" + "#" * 40 + "] | 1 of 2 erred (") and "Completed" not in last
    assert f"{type(bad.exception()).__name__}: {bad.exception()}" in last
    out = io.StringIO()
    progress(good, out=out, notebook=False, complete=False)  # nothing left to wait for
    assert "100% Completed" in out.getvalue()
    with pytest.raises(ValueError, match="no futures"):
        progress([1, 2], notebook=False)


def test_progress_says_what_failed():
    from shoal.distributed.client.progress import _Tracker

    class State:  # (what the tracker reads of a future's state)
        def __init__(self, key):
            self.key, self.status, self.exception = key, "pending", None

        def done(self):
            return False

    a, b, c = State("f-1"), State("f-2"), State("g-1")
    tracker = _Tracker([a, b, c])
    b.status = "cancelled"
    tracker._on_done(b)
    assert tracker.outcome_text() == "1 of 3 cancelled"  # (no error text without an error)
    a.status, a.exception = "error", ValueError("bad\n  thing")
    tracker._on_done(a)
    c.status = "finished"
    tracker._on_done(c)
    assert not tracker.finished  # (the run ends at the next refresh: its last poll)
    asyncio.run(tracker.refresh(scheduler=None))  # (no watch: nothing asked)
    assert tracker.finished and tracker.failed
    assert tracker.outcome_text() == "1 of 3 erred (ValueError: bad thing), 1 of 3 cancelled"


GATE = threading.Event()  # the workers run in this process: a task can wait for the test


def gated(x):
    assert GATE.wait(20)
    return x


def test_text_progress_with_an_asynchronous_client_is_awaited():
    async def main():
        async with cluster(nworkers=1) as (s, _):
            async with Client(s.address, asynchronous=True) as c:
                futures = c.map(spin, range(3), seconds=0.02)
                out = io.StringIO()
                await progress(futures, out=out, notebook=False)
                assert all(f.done() for f in futures) and "100% Completed" in out.getvalue()

    run(main())


def _drawn(bar) -> bool:
    """The notebook bar's run ended and its last draw is done (its tracker says
    finished a moment before that draw, on the client's loop)."""
    task = getattr(bar, "_task", None)
    return task is not None and task.done()


def test_progress_counts_the_tasks_a_persisted_collection_needs(c, servers):
    from shoal import delayed

    GATE.clear()
    parts = [delayed(spin)(i, seconds=0, dask_key_name=f"quick-{i}") for i in range(3)]
    parts += [delayed(gated)(i, dask_key_name=f"gated-{i}") for i in range(3)]
    total = c.persist(delayed(sum)(parts, dask_key_name="total"))
    try:
        bar = progress(total, notebook=True, interval="20ms")  # one future, seven tasks
        wait_until(lambda: set(bar.rows) == {"quick", "gated", "total"})
        wait_until(lambda: bar.rows["quick"].children[2].value == "3 / 3")  # before the end
        assert bar.rows["gated"].children[2].value == "0 / 3"
        assert bar.rows["total"].children[2].value == "0 / 1" and not bar.tracker.finished
    finally:
        GATE.set()
    wait_until(lambda: _drawn(bar))
    assert bar.tracker.finished
    assert [bar.rows[g].children[2].value for g in ("quick", "gated", "total")] == [
        "3 / 3", "3 / 3", "1 / 1"]
    watches = servers[0].progress_watches
    wait_until(lambda: len(watches) == 0)  # the scheduler let the watch go
    out = io.StringIO()
    again = c.persist(delayed(sum)([delayed(gated)(i) for i in range(4)]))
    progress(again, out=out, notebook=False)  # the text bar: the same counts
    assert "100% Completed" in out.getvalue() and on_loop(lambda: len(watches)) == 0


def test_the_bars_of_a_failed_run_end_red_even_where_tasks_never_ran(c):
    from shoal import delayed

    GATE.clear()
    parts = [delayed(gated)(i, dask_key_name=f"held-{i}") for i in range(3)]
    parts.append(delayed(fail)(9, dask_key_name="boom-9"))
    total = c.persist(delayed(sum)(parts, dask_key_name="all-of-it"))
    try:
        bar = progress(total, notebook=True, interval="20ms")
        wait_until(lambda: _drawn(bar), timeout=20)
        held = bar.rows["held"].children
        assert held[2].value == "0 / 3" and held[1].bar_style == "danger"  # not left blue
        assert bar.rows["boom"].children[1].bar_style == "danger"
    finally:
        GATE.set()


def test_progress_of_two_clients_futures_of_one_key_ends(c, servers):
    with Client(servers[0].address) as other:
        mine, theirs = c.submit(add, 1, 1), other.submit(add, 1, 1)
        assert mine.key == theirs.key and mine.result() == theirs.result() == 2
        out = io.StringIO()
        progress(mine, theirs, out=out, notebook=False)  # (it never ended: counted by key)
        assert "100% Completed" in out.getvalue()


def test_an_interrupted_progress_lets_its_watch_go():
    async def main():
        async with cluster(nworkers=1) as (s, _):
            async with Client(s.address, asynchronous=True) as c:
                GATE.clear()
                futures = c.map(gated, range(3))
                out = io.StringIO()
                try:
                    bar = asyncio.ensure_future(progress(futures, out=out, notebook=False,
                                                         interval="20ms"))  # fmt: skip
                    for _ in range(500):
                        if len(s.progress_watches):
                            break
                        await asyncio.sleep(0.01)
                    assert len(s.progress_watches) == 1
                    bar.cancel()  # (a Ctrl-C in a terminal)
                    for _ in range(500):
                        if not len(s.progress_watches):
                            break
                        await asyncio.sleep(0.01)
                    assert len(s.progress_watches) == 0
                    assert out.getvalue().endswith("\n")  # (its line ended: what follows
                finally:                                    # starts on its own)
                    GATE.set()
                await c.gather(futures)
                t0 = time.monotonic()  # a cancelled future: no wait for a key that went
                doomed = c.submit(gated, 9)
                await c.cancel([doomed])
                await progress([doomed], out=io.StringIO(), notebook=False)
                assert time.monotonic() - t0 < 3

    run(main())


def test_a_progress_watch_waits_for_its_graph_to_arrive(c):
    """The graph travels on the client's batched stream, the watch on an rpc of its own:
    a watch that comes first waits for the keys, and then lists what they need."""
    got = []
    asker = threading.Thread(target=lambda: got.append(
        c.sync(c.scheduler.progress_watch, keys=["late-y"])))  # fmt: skip
    asker.start()
    time.sleep(0.3)
    x = c.submit(add, 1, 1, key="late-x")
    y = c.submit(add, x, 1, key="late-y")
    asker.join(10)
    assert sorted(got[0]["keys"]) == ["late-x", "late-y"]
    assert y.result() == 3


def test_text_progress_goes_to_stdout(c, capsys):
    """As Dask's, and as the local ``ProgressBar``."""
    futures = c.map(add, range(5), [1] * 5)
    progress(futures, notebook=False)
    out, err = capsys.readouterr()
    assert "100% Completed" in out and "Completed" not in err
    assert [f.result() for f in futures] == [1, 2, 3, 4, 5]


def test_progress_of_a_cancelled_future_says_so(c):
    GATE.clear()
    a, b = c.submit(gated, 1, key="gated-a"), c.submit(gated, 2, key="gated-b")
    out = io.StringIO()
    try:
        done = threading.Thread(target=progress, args=([a, b],),
                                kwargs={"out": out, "notebook": False, "interval": "20ms"})
        done.start()
        time.sleep(0.2)
        c.cancel([b])
    finally:
        GATE.set()
    done.join(20)
    assert a.result() == 1 and b.status == "cancelled"
    last = out.getvalue().rsplit("\r", 1)[-1]
    assert "1 of 2 cancelled" in last and "Completed" not in last


def test_notebook_progress_returns_at_once_and_fills_the_bars(c):
    GATE.clear()
    futures = c.map(gated, range(4), key="spin") + [c.submit(fail, 5)]
    try:
        bar = progress(futures, notebook=True, interval="20ms")
        assert isinstance(bar, MultiProgressWidget)
        assert not any(f.done() for f in futures[:4])  # it did not block
        wait_until(lambda: "0 / 4" in bar.rows["spin"].children[2].value)
    finally:
        GATE.set()
    wait_until(lambda: _drawn(bar))
    rows = {r.children[0].value: r.children for r in bar.widget.children[1:]}
    assert set(rows) == {"<code>spin</code>", "<code>fail</code>"}
    _, spin_bar, spin_text = rows["<code>spin</code>"]
    assert spin_bar.value == 1.0 and spin_text.value == "4 / 4" and spin_bar.bar_style == "success"
    fail_bar = rows["<code>fail</code>"][1]
    assert fail_bar.bar_style == "danger" and fail_bar.style.bar_color is None  # (red shows)
    assert spin_bar.style.bar_color is None  # (the green shows)
    title = bar.widget.children[0].value
    assert "Failed:" in title and "1 of 5 erred" in title and "Finished" not in title
    assert not on_loop(lambda: any(f._state._waiters for f in futures))  # waiters removed

    single = progress(futures, notebook=True, multi=False)
    assert type(single) is ProgressWidget
    wait_until(lambda: _drawn(single))
    assert single.rows[""].children[2].value == "5 / 5"


def test_notebook_progress_of_futures_nobody_keeps_ends_then_lets_them_go(c):
    """``progress(client.map(...))`` as a notebook cell's value: the widget keeps the
    futures until their run ends (else the client released them at once and the bar
    waited forever, polling), then lets them go."""
    import gc

    GATE.clear()
    try:
        bar = progress(c.map(gated, range(20)), notebook=True, interval="20ms")
        gc.collect()
        time.sleep(0.3)  # (a release would have reached the scheduler)
    finally:
        GATE.set()
    wait_until(lambda: _drawn(bar))
    assert bar.rows["gated"].children[2].value == "20 / 20"
    assert bar.rows["gated"].children[1].bar_style == "success"
    assert "Finished" in bar.widget.children[0].value
    gc.collect()
    wait_until(lambda: not any(key_split(k) == "gated" for k in c.futures))  # the keys went


def test_a_progress_widget_still_following_at_close_opens_no_new_socket():
    """Closing the client ends a widget's run; its watch's goodbye then finds the rpc
    closed instead of opening a comm that nobody closes (a socket left in CLOSE_WAIT)."""
    import psutil

    me = psutil.Process()
    before = {c.laddr for c in me.net_connections(kind="inet")}
    with sync_cluster(nworkers=1, nthreads=1) as (s, _), Client(s.address) as client:
        GATE.clear()
        try:
            futures = client.map(gated, range(3))
            bar = progress(futures, notebook=True, interval="20ms")
            wait_until(lambda: bar.tracker.token is not None)
            client.close()
        finally:
            GATE.set()
        wait_until(lambda: bar._task.done())
        time.sleep(0.2)  # (a goodbye in a task of its own)
    deadline = time.monotonic() + 10  # (the shared loop has stopped: no wait_until)
    while {c.laddr for c in me.net_connections(kind="inet")} - before:
        assert time.monotonic() < deadline, me.net_connections(kind="inet")
        time.sleep(0.05)


# --- the report's pure parts --------------------------------------------------------------


def test_a_reports_figures_tell_two_phases_apart_in_one_colour_each():
    """The tutorial groupby's chunk and combine phases hash to one colour: in a report
    they get two, the same in the task stream and the progress tab."""
    from shoal.diagnostics.colors import PrefixColors
    from shoal.diagnostics.report import prefix_figure, summarize, task_stream_figure

    chunk, combine = "groupby-mean-chunk", "groupby-mean-combine"
    records = [{"key": f"{p}-1", "prefix": p, "status": "OK", "worker": "w", "thread": 1,
                "startstops": [("compute", t, t + 1.0)]} for t, p in ((0.0, chunk), (1.0, combine))]
    colors = PrefixColors()
    stream = task_stream_figure(records, colors=colors).select_one({"name": "task-stream"}).data
    bars = prefix_figure(summarize(records), colors=colors).select_one({"name": "prefixes"}).data
    by_stream = dict(zip(stream["name"], stream["color"]))
    assert by_stream[chunk] != by_stream[combine]
    assert dict(zip(bars["prefix"], bars["color"])) == by_stream
    alone = task_stream_figure(records).select_one({"name": "task-stream"}).data  # its own
    assert len(set(alone["color"])) == 2
    alone = prefix_figure(summarize(records)).select_one({"name": "prefixes"}).data
    assert len(set(alone["color"])) == 2


def test_summarize_counts_prefixes_transfers_and_errors():
    from shoal.diagnostics.report import summarize

    records = [
        {"key": "a-1", "prefix": "a", "status": "OK", "worker": "w1", "thread": 1, "nbytes": 8,
         "startstops": ({"action": "transfer", "start": 0.5, "stop": 1.0},
                        {"action": "compute", "start": 1.0, "stop": 3.0})},
        {"key": ("b", 0), "status": "error", "worker": "w2", "thread": 0, "nbytes": 0,
         "startstops": [("compute", 2.0, 2.5)]},
    ]  # fmt: skip
    s = summarize(records)
    assert (s["tasks"], s["erred"], s["compute"], s["transfers"], s["transfer"]) == (2, 1, 2.5, 1, 0.5)
    assert s["duration"] == 2.5 and s["workers"] == 2 and s["threads"] == 1
    assert s["prefixes"]["b"]["erred"] == 1 and list(s["prefixes"]) == ["a", "b"]
    assert summarize(records, start=10.0, stop=14.0)["duration"] == 4.0
    assert summarize([])["tasks"] == 0
    # a task lost with its worker (KilledWorker: no thread, nothing ran) used no worker
    lost = {"key": "c-1", "status": "error", "worker": "w3", "thread": 0, "startstops": ()}
    assert summarize([*records, lost])["workers"] == 2


def test_a_displayed_notebook_progress_ends_as_plain_bars(c, monkeypatch):
    """Where the widget was displayed, the finished run replaces it with plain output
    (HTML and the text bar) that a saved notebook keeps: a widget is "model not
    found" once the notebook is opened again."""
    import types

    import IPython.display

    from shoal.diagnostics.colors import FAILED, SUCCEEDED

    shown = []  # (what was displayed, the updates of its handle)

    def display(obj, display_id=None):
        assert display_id is True
        shown.append((obj, []))
        return types.SimpleNamespace(update=shown[-1][1].append)

    monkeypatch.setattr(IPython.display, "display", display)
    GATE.clear()
    try:
        bar = progress(c.map(gated, range(3)) + [c.submit(fail, 5)], notebook=True,
                       interval="20ms")  # fmt: skip
        bar._ipython_display_()
        assert shown[0][0] is bar.widget and shown[0][1] == []  # a live widget meanwhile
    finally:
        GATE.set()
    wait_until(lambda: _drawn(bar))
    (final,) = shown[0][1]
    bundle = final._repr_mimebundle_()
    assert bundle["text/plain"].startswith("[" + "#" * 40 + "] | 1 of 4 erred (ValueError: bad 5)")
    page = bundle["text/html"]
    assert "<b>Failed:</b> 1 of 4 erred (ValueError: bad 5) | " in page
    assert sorted(final.rows) == [("fail", 1.0, True, "1 / 1"), ("gated", 1.0, False, "3 / 3")]
    assert ">gated</span>" in page and page.count(FAILED) == 1
    assert page.count(SUCCEEDED) == 1
    bar._ipython_display_()  # displayed again after the end: the plain bars at once
    assert shown[1][0] is final and shown[1][1] == []


def test_a_report_of_more_tasks_than_the_task_stream_keeps_says_so(tmp_path):
    """The scheduler's task stream keeps the last ``task-stream-length`` tasks; a report
    of more counted only those and said nothing (300,000 tasks read "100000")."""
    path = tmp_path / "report.html"
    with config.set({"distributed.scheduler.task-stream-length": 10}), \
            sync_cluster(nworkers=1, nthreads=1) as (s, _), Client(s.address) as client:  # fmt: skip
        for i in range(3):  # (a few batches, of which the oldest go)
            with performance_report(filename=str(path)):
                client.gather(client.map(add, range(i * 100, i * 100 + 40), range(40)))
            page = html.unescape(path.read_text())  # (in the document's JSON)
            [(finished, kept)] = re.findall(
                r"<td>Tasks</td><td>([\d,]+): the task stream kept the last ([\d,]+) ", page)
            assert finished == "40" and 0 < int(kept) < 40, (finished, kept)
        with performance_report(filename=str(path)):  # within the bound: just the count
            client.gather(client.map(add, range(1000, 1005), range(5)))
        assert "<td>Tasks</td><td>5</td>" in html.unescape(path.read_text())
    with sync_cluster(nworkers=2, nthreads=2) as (s, _), Client(s.address) as client:
        for i in range(2):  # tasks still finishing as the block ends: counted with the records
            with performance_report(filename=str(path)):  # (read apart, they were "dropped")
                futures = client.map(spin, range(1500 * i, 1500 * i + 1500), seconds=0.0005)
                time.sleep(0.3)
            [tasks] = re.findall(r"<td>Tasks</td><td>([^<]*)</td>", html.unescape(path.read_text()))
            assert "kept" not in tasks, tasks  # (the calling code, in the report too, says it)
            client.gather(futures)


def test_an_interrupted_text_progress_ends_its_line(c):
    """Ctrl-C during ``progress()`` in a terminal: the traceback began on the bar's line."""
    import signal

    futures = c.map(time.sleep, [1.5] * 2, pure=False)
    out = io.StringIO()
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))  # (a Ctrl-C)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            progress(futures, out=out, notebook=False, interval="20ms")
    finally:
        timer.cancel()
    c.gather(futures)
    text = out.getvalue()
    assert "|" in text and text.endswith("\n") and "100%" not in text, repr(text)
