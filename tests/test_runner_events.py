"""What the local runner tells the bus beyond a task's own outcome: a batch marked
processing before the sync backend runs it, tasks lost without raising themselves
(a dead worker process, an input that cannot pickle) as erred, and the runs in
progress kept in ``bus.runs`` for a reader who subscribes while one runs."""

import asyncio
import os
import threading

import pytest

import shoal
from shoal import delayed
from shoal.distributed.comm import connect
from shoal.distributed.eventstream import BusServer, decode_batch
from shoal.bus import Bus, default_bus
from shoal.local.pool import WorkerProcessDied
from shoal.testing.aio import run

pytestmark = pytest.mark.timeout(60)


class Recorder:
    def __init__(self, bus=default_bus):
        self.records, self.bus = [], bus

    def __enter__(self):
        self.token = self.bus.subscribe(self.records.append)
        return self

    def __exit__(self, *exc):
        self.bus.unsubscribe(self.token)

    def steps(self, key):
        return [(r.start, r.finish) for r in self.records if r.kind == "task" and r.key == key]


SEEN_BEFORE_RUNNING: list = []


def _looks_at_the_bus(x):
    SEEN_BEFORE_RUNNING.append(list(RECORDER.steps("look")))
    return x


RECORDER = Recorder()


def test_a_sync_task_is_processing_while_it_runs():
    SEEN_BEFORE_RUNNING.clear()
    with RECORDER:
        RECORDER.records.clear()
        assert shoal.compute(delayed(_looks_at_the_bus)(1, dask_key_name="look"),
                             scheduler="sync") == (1,)  # fmt: skip
    assert SEEN_BEFORE_RUNNING == [[("waiting", "processing")]]
    assert RECORDER.steps("look")[-1] == ("processing", "memory")


def _dies(x):
    if x == 2:
        os._exit(3)
    return x


def test_a_task_whose_worker_process_died_is_erred_with_the_reason():
    parts = [delayed(_dies)(i, dask_key_name=f"dies-{i}") for i in range(4)]
    with Recorder() as rec:
        with pytest.raises(WorkerProcessDied) as info:
            shoal.compute(delayed(sum)(parts), scheduler="processes", num_workers=2)
    erred = [r for r in rec.records if r.kind == "task" and r.finish == "erred"]
    assert [r.key for r in erred] == info.value.keys and "dies-2" in info.value.keys
    assert all(r.exception.startswith("WorkerProcessDied: A worker process") for r in erred)
    finished = [r for r in rec.records if r.kind == "computation-finished"]
    assert finished[-1].status == "error" and not default_bus.runs


def _takes(x, lock):
    return x


def test_a_task_that_cannot_be_sent_is_erred_with_the_reason():
    with Recorder() as rec:
        with pytest.raises(TypeError, match="pickle"):
            shoal.compute(delayed(_takes)(1, threading.Lock(), dask_key_name="locked"),
                          scheduler="processes")  # fmt: skip
    assert rec.steps("locked") == [("waiting", "processing"), ("processing", "erred")]
    erred = [r for r in rec.records if r.kind == "task" and r.finish == "erred"]
    assert "cannot pickle" in erred[0].exception


class UnprintableError(Exception):
    def __str__(self):
        raise RuntimeError("no text for you")


def _unprintable():
    raise UnprintableError()


def _long_message():
    raise ValueError("y" * 1_000_000)


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_an_error_whose_text_fails_or_runs_long_is_the_tasks_own_and_told_clipped(scheduler):
    """With a reader on the bus (a local Dashboard), an exception whose ``__str__`` raised
    was replaced by that error (no key named); a 1 MB message went whole into every
    record and the dashboard's pages (3 MB after three runs)."""
    with Recorder() as rec:
        with pytest.raises(UnprintableError) as info:
            shoal.compute(delayed(_unprintable)(dask_key_name="unprintable"), scheduler=scheduler)
        assert any("unprintable" in note for note in info.value.__notes__)
        with pytest.raises(ValueError):
            shoal.compute(delayed(_long_message)(dask_key_name="long"), scheduler=scheduler)
    erred = {r.key: r.exception for r in rec.records if r.kind == "task" and r.finish == "erred"}
    assert erred["unprintable"] == "UnprintableError: <unprintable exception>"
    assert erred["long"].startswith("ValueError: yyy") and "characters clipped" in erred["long"]
    assert len(erred["long"]) < 11_000
    ends = [r.exception for r in rec.records if r.kind == "computation-finished"]
    assert ends == ["UnprintableError: <unprintable exception>", erred["long"]], ends


def _tiny(x):
    return x


def _interrupts(x):
    raise KeyboardInterrupt("the task's own")


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_a_task_raising_keyboard_interrupt_in_a_pool_is_its_own_error(scheduler):
    """On a pool's thread (or in a pool's process, which ignores SIGINT) a
    ``KeyboardInterrupt`` can only be the task's: it is that task's error, with its
    times, after the batch's tasks that finished.  It was the batch's first key's,
    at time 0 (a 1970 rectangle that stretched the task stream's axis over 56 years)
    and the finished ones were lost; in a process it killed the worker."""
    parts = [delayed(_tiny)(i, dask_key_name=f"tiny-{i}") for i in range(3)]
    parts.append(delayed(_interrupts)(0, dask_key_name="zstop-0"))
    with Recorder() as rec:
        with pytest.raises(KeyboardInterrupt, match="the task's own") as info:
            shoal.compute(delayed(list)(parts), scheduler=scheduler, num_workers=1,
                          batch_size=8)  # fmt: skip
    assert "zstop-0" in " ".join(getattr(info.value, "__notes__", []))
    done = {r.key: r for r in rec.records if r.kind == "task" and r.finish in ("memory", "erred")}
    assert {k: r.finish for k, r in done.items()} == {
        "tiny-0": "memory", "tiny-1": "memory", "tiny-2": "memory", "zstop-0": "erred"}
    (_, begin, end), = done["zstop-0"].startstops
    assert 0 < end - begin < 60 and begin > 1.6e9  # real times, not the epoch
    assert done["zstop-0"].exception.startswith("KeyboardInterrupt")


class _Unpicklable:
    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    raise RuntimeError("cannot be rebuilt here")


def test_a_batch_that_cannot_be_unpickled_in_the_worker_has_real_times():
    with Recorder() as rec:
        with pytest.raises(RuntimeError, match="cannot be rebuilt"):
            shoal.compute(delayed(_takes)(1, _Unpicklable(), dask_key_name="use-0"),
                          scheduler="processes")  # fmt: skip
    (erred,) = [r for r in rec.records if r.kind == "task" and r.finish == "erred"]
    (_, begin, end), = erred.startstops
    assert begin > 1.6e9 and 0 <= end - begin < 60


GATE = threading.Event()


def _gated(x):
    assert GATE.wait(20)
    return x


async def _read_to_the_end(comm, records: list) -> list:
    """*records* and what the stream sends after them, up to a run's end."""
    while not any(r["kind"] == "computation-finished" for r in records):
        records += decode_batch(await asyncio.wait_for(comm.read(), 10))
    return records


def test_a_reader_who_subscribes_mid_run_is_told_of_the_run_first():
    bus = Bus("test")
    keep = bus.subscribe(lambda r: None)  # someone listens from the start: the run is published
    GATE.clear()
    graph = {"g-0": (_gated, 0), "g-1": (_gated, 1)}
    done = []
    from shoal.local import threads

    worker = threading.Thread(target=lambda: done.append(threads.get(graph, ["g-0", "g-1"], bus=bus)))
    worker.start()

    async def main():
        server = await BusServer(bus).start()
        try:
            for _ in range(500):
                if bus.runs:
                    break
                await asyncio.sleep(0.01)
            (run_id,) = bus.runs
            comm = await connect(server.address)
            await comm.write({"op": "subscribe_events"})
            assert (await comm.read())["op"] == "stream-start"
            GATE.set()
            records = await _read_to_the_end(comm, [])
            assert records[0]["kind"] == "graph-submitted" and records[0]["run_id"] == run_id
            assert records[0]["ntasks"] == 2 and records[0]["scheduler"] == "threads"
            await comm.close()
        finally:
            await server.close()

    try:
        run(main(), 30)
    finally:
        GATE.set()
        worker.join(20)
        bus.unsubscribe(keep)
    assert done == [[0, 1]] and bus.runs == {}


def test_a_local_run_names_one_of_the_labels_the_dashboard_reads():
    """The dashboard ends a local run with its computation by its scheduler label
    (``shoal.events.LOCAL_SCHEDULERS``): a backend with another label is refused."""
    from shoal.events import LOCAL_SCHEDULERS
    from shoal.local.runner import run
    from shoal.local.sync import SyncBackend

    with pytest.raises(ValueError, match=r"label='synchronous' is not one of the local "):
        run(SyncBackend(), {"a": 1}, "a", label="synchronous")
    assert run(SyncBackend(), {"a": 1}, "a", label="sync") == 1
    assert {"sync", "threads", "processes", "executor", "local"} == LOCAL_SCHEDULERS


def _decoded(got: list) -> list:
    """What a dashboard's stream reader makes of *got*: ``TaskRows`` as their records."""
    from shoal.distributed.taskcolumns import task_objects
    from shoal.events import TaskRows

    return [x for r in got for x in (task_objects(r.columns) if type(r) is TaskRows else [r])]


def _fails(x):
    raise ValueError(f"bad {x}")


@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes"])
def test_a_dashboard_is_told_in_rows_what_step_records_tell_a_progress_bar(scheduler):
    """A dashboard's stream (everything but ``"task"``) gets the run's rows, held and
    published in bulk; a ``"task"`` reader gets a record per step.  Both say the same of
    every result (state, worker, thread, timings, size, type, error), and the rows'
    counts of keys started come before the results that name those keys."""
    from shoal.events import IN_PROCESS_KINDS, TASK_STATES, TaskRows, TasksProcessing, TaskTransition
    from shoal.local import processes, sync, threads

    get = {"sync": sync.get, "threads": threads.get, "processes": processes.get}[scheduler]
    bus = Bus("test")
    steps, rows = [], []
    bus.subscribe(steps.append, kinds=("task",))
    bus.subscribe(rows.append, exclude=("task", *IN_PROCESS_KINDS))  # as the event stream
    assert bus.wants(TASK_STATES)
    graph = {f"inc-{i}": (_tiny, i) for i in range(200)}
    assert get(graph, list(graph), bus=bus) == list(range(200))
    with pytest.raises(ValueError, match="bad 1"):
        get({"fails-1": (_fails, 1)}, ["fails-1"], bus=bus)
    assert any(type(r) is TaskRows for r in rows) and not any(
        type(r) is TaskTransition for r in rows)  # fmt: skip
    told = _decoded(rows)

    def results(records):
        return {r.key: (r.run_id, r.prefix, r.start, r.finish, r.worker, r.thread, r.startstops,
                        r.nbytes, r.type, r.exception)
                for r in records if type(r) is TaskTransition and r.start == "processing"}  # fmt: skip

    assert len(results(steps)) == 201 and results(told) == results(steps)
    assert results(told)["fails-1"][3:4] == ("erred",)
    assert results(told)["fails-1"][-1] == "ValueError: bad 1"
    started, counted = set(), {}
    for r in told:  # each result after its key's start: a row, or a count it claims
        if type(r) is TasksProcessing:
            counted[r.prefix] = counted.get(r.prefix, 0) + r.n
        elif type(r) is TaskTransition and r.finish == "processing":
            started.add(r.key)
        elif type(r) is TaskTransition and r.start == "processing" and r.key not in started:
            assert counted.get(r.prefix, 0) > 0, r.key
            counted[r.prefix] -= 1
    kinds = [r.kind for r in told if type(r) not in (TaskTransition, TasksProcessing)]
    assert kinds == ["graph-submitted", "computation-finished"] * 2
    ends = {r.run_id: i for i, r in enumerate(told) if r.kind == "computation-finished"}
    assert all(i < ends[r.run_id] for i, r in enumerate(told) if type(r) is TaskTransition)


def test_a_long_sync_task_is_seen_processing_by_a_stream_reader_while_it_runs():
    """A local run holds its rows between batches; the event stream asks for them
    (``bus.flush()``) before each read, so a reader sees a task that runs for long
    in the caller's thread (sync) as processing while it runs, not after."""
    bus = Bus("test")
    GATE.clear()
    done = []
    from shoal.local import sync

    async def main():
        server = await BusServer(bus).start()
        try:
            comm = await connect(server.address)
            await comm.write({"op": "subscribe_events"})
            assert (await comm.read())["op"] == "stream-start"
            worker = threading.Thread(target=lambda: done.append(
                sync.get({"long-0": (_gated, 0)}, "long-0", bus=bus)))  # fmt: skip
            worker.start()
            records = []
            while not any(r.get("key") == "long-0" and r.get("finish") == "processing"
                          for r in records):  # fmt: skip
                records += decode_batch(await asyncio.wait_for(comm.read(), 10))
            assert not done  # still running
            GATE.set()
            await _read_to_the_end(comm, records)
            worker.join(10)
            await comm.close()
        finally:
            await server.close()

    try:
        run(main(), 30)
    finally:
        GATE.set()
    assert done == [0] and not bus._holders  # the run let go of the bus


def test_a_dashboard_opened_while_a_watched_run_goes_on_gets_the_rest_of_its_tasks():
    """A run that a progress bar watches (``"task"``) asks per batch who listens: a
    dashboard's stream that subscribes meanwhile gets the rows of what follows."""
    from shoal.events import TASK_STATES
    from shoal.local import sync

    bus = Bus("test")
    steps, rows = [], []
    bus.subscribe(steps.append, kinds=("task",))
    GATE.clear()
    done = []
    worker = threading.Thread(target=lambda: done.append(sync.get(
        {"a-0": (_gated, 0), "b-0": (_tiny, "a-0")}, "b-0", bus=bus, fuse=False)))  # fmt: skip
    worker.start()
    try:
        for _ in range(500):
            if any(r.key == "a-0" for r in steps):
                break
            threading.Event().wait(0.01)
        assert any(r.key == "a-0" for r in steps), "a-0 never started"
        bus.subscribe(rows.append, kinds=(TASK_STATES,))
    finally:
        GATE.set()
        worker.join(20)
    assert done == [0]
    told = [(r.key, r.start, r.finish) for r in _decoded(rows)]
    assert ("a-0", "processing", "memory") in told and ("b-0", "processing", "memory") in told
    assert not bus._holders
