"""The ``subscribe_events`` stream: a bus's records, as plain data, to a remote reader.

::

    publisher thread(s)                          event loop (one task per subscriber)
    -------------------                          -------------------------------------
    bus.publish(record) --> Buffer.append        every `interval`: buffer.drain()
       (one bounded deque append, nothing else)     -> [{"kind": ..., field: value}, ...]
                                                    -> comm.write(list)   (one write per tick)

    reader (the dashboard process)               comm.read() -> list of record dicts

The scheduler (``Scheduler.subscribe_events``) and the local schedulers' bus
(:class:`BusServer`, for ``shoal.diagnostics.Dashboard``) serve the same stream,
so one reader (``shoal.dashboard.feed.EventFeed``) handles both.

The wire: the first message is ``{"op": "stream-start", "source": name, ...}``;
then every message is a *list* of entries (:func:`encode_batch`): a record
``{"kind": record.kind, **fields}`` (records are slotted dataclasses of plain
data), or, for task transitions -- nearly all of the traffic -- columns,
``{"kind": "task-columns", "columns": {field: [value, ...]}}`` (``startstops``
ragged: a count per transition, the values in ``"startstops-values"``; a column of
one value repeated as ``{"same": value, "n": count}``), which spares the field
names and a container per transition.  A distributed scheduler
publishes its transitions as such columns already (``shoal.events.TaskRows``,
coalesced per key at the source), sent as they are, and passes its workers' rows on
packed (``shoal.events.PackedTaskRows``: ``{"kind": "task-columns-packed", "data":
bytes}``, the same entry in msgpack); runs of ``TaskTransition`` records (the local
schedulers' bus) are turned into the same form (:mod:`.taskcolumns`).
:func:`decode_batch` turns a message back into record dicts.  Tuples travel as
lists -- msgpack's tuple extension costs some 30 us a record, lists under 1 us --
and the reading side turns keys (``key``, ``keys``) and ``startstops`` back into
tuples.

Before a batch goes out, :func:`coalesce_tasks` drops the task transitions
that a reader needs no more: of one key's transitions in the batch it keeps
those with timings or an error, and the last (a key submitted, run and
released within one interval needs two records, not six); a reader's view of
every key's state stays exact.  A snapshot of what the source
already knows (current workers, tasks) comes first, so a reader that joins
late still shows the right picture.
When records were dropped because the reader fell behind, a ``{"kind":
"resync", "count": n}`` entry says how many, and a fresh snapshot follows it: the
reader starts over from that (where its source can make one: a scheduler; a
local bus sends ``{"kind": "dropped", "count": n}`` alone).  The source says goodbye with
``{"op": "close", "reason": ...}`` before it closes on purpose; a stream that
ends without it was lost.

Why a buffer and a timer rather than a write per record: the publisher pays one
deque append per record (rule 3 of :mod:`shoal.bus`); a slow reader loses
old records instead of growing a queue in the scheduler (the buffer is bounded,
where a ``BatchedSend``'s queue is not); and the scheduler makes at most one
write per subscriber per ``interval``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import numbers
import operator
import time
from collections import Counter

from shoal import config
from shoal.distributed.comm import CommClosedError
from shoal.distributed.rpc import NO_REPLY, Server
from shoal.distributed import taskcolumns
from shoal.bus import Buffer
from shoal.events import (IN_PROCESS_KINDS, TASK_FIELDS, ComputationFinished, GraphSubmitted,
                          PackedTaskRows, TaskRows, TasksQueued, TaskTransition,
                          WorkerAdded, as_lists, keys_for_wire, row_of)  # fmt: skip

__all__ = [
    "BusServer", "EventStreams", "coalesce_tasks", "decode_batch", "encode_batch",
    "msg_to_record_fields", "record_to_msg", "scheduler_snapshot", "stream_events",
]  # fmt: skip

logger = logging.getLogger(__name__)

_FIELDS: dict = {}  # record type -> (kind, field names, attrgetter, fields that may hold tuples)


def _layout(cls):
    names = tuple(f.name for f in dataclasses.fields(cls))
    tuples = tuple(n for n in names if n in ("key", "keys", "startstops", "profile", "dependencies"))
    get = operator.attrgetter(*names)
    if len(names) == 1:  # attrgetter of one name returns the value, not a 1-tuple
        get = lambda record, _one=get: (_one(record),)  # noqa: E731
    layout = _FIELDS[cls] = (cls.kind, names, get, tuples)
    return layout


def record_to_msg(record) -> dict:
    """``{"kind": ..., field: value, ...}`` for one event record (tuples as lists).

    >>> record_to_msg(WorkerAdded("tcp://w:1", 2))["nthreads"]
    2
    """
    kind, names, values, tuples = _FIELDS.get(type(record)) or _layout(type(record))
    msg = dict(zip(names, values(record)))
    msg["kind"] = kind
    for name in tuples:
        if name == "dependencies":
            msg[name] = _shape_to_wire(msg[name])
        elif type(msg[name]) is tuple:
            msg[name] = as_lists(msg[name])
    return msg


def _shape_to_wire(shape) -> dict:
    """``GraphSubmitted.dependencies`` (three flat sequences, ``events.graph_shape``)
    as three lists: keys, how many dependencies each has, and those one after the
    other (tuple keys as lists)."""
    if not shape:
        return {"keys": [], "counts": [], "deps": []}
    keys, counts, deps = shape
    return {"keys": keys_for_wire(keys), "counts": list(counts), "deps": keys_for_wire(deps)}


def _shape_from_wire(wire) -> tuple:
    """The ``GraphSubmitted.dependencies`` of :func:`_shape_to_wire`'s lists."""
    return (tuple(taskcolumns.key_from_wire(k) for k in wire.get("keys") or ()),
            tuple(wire.get("counts") or ()),
            tuple(taskcolumns.key_from_wire(d) for d in wire.get("deps") or ()))  # fmt: skip


def msg_to_record_fields(msg: dict) -> dict:
    """Undo the tuple -> list of :func:`record_to_msg` where it matters (in place).

    >>> msg_to_record_fields(record_to_msg(TaskTransition("r", ("x", 1), "x", "a", "b")))["key"]
    ('x', 1)
    """
    if "key" in msg:
        msg["key"] = taskcolumns.key_from_wire(msg["key"])
    if "keys" in msg:
        msg["keys"] = tuple(taskcolumns.key_from_wire(k) for k in msg["keys"])
    if msg.get("startstops"):
        msg["startstops"] = tuple(map(tuple, msg["startstops"]))
    if msg.get("dependencies"):
        msg["dependencies"] = _shape_from_wire(msg["dependencies"])
    return msg


_TASK_VALUES = operator.attrgetter(*TASK_FIELDS)


def coalesce_tasks(records: list) -> list:
    """*records* without the task transitions a reader no longer needs.

    Of each key's ``TaskTransition`` s in *records*, those with ``startstops``
    (the task stream, compute times) or an error are kept, and so is the last
    (the key's state now); the other records are kept as they are, in order.

    >>> t = lambda start, finish, *ss: TaskTransition("r", "x", "x", start, finish, startstops=ss)
    >>> [(r.start, r.finish) for r in coalesce_tasks([t("released", "waiting"),
    ...     t("waiting", "processing"), t("processing", "memory", ("compute", 1.0, 2.0)),
    ...     t("memory", "released"), t("released", "forgotten")])]
    [('processing', 'memory'), ('released', 'forgotten')]
    """
    last: dict = {}
    tasks = 0
    for i, r in enumerate(records):
        if type(r) is TaskTransition:
            last[r.key] = i
            tasks += 1
    if len(last) == tasks:  # one record per key: nothing to drop
        return records
    return [r for i, r in enumerate(records)
            if type(r) is not TaskTransition or r.startstops or r.finish == "erred"
            or last[r.key] == i]  # fmt: skip


def encode_batch(records) -> list:
    """Wire entries for *records*: a :class:`~shoal.events.TaskRows` and each run of
    ``TaskTransition`` s as one ``task-columns`` entry, every other record as
    :func:`record_to_msg`."""
    out: list = []
    run: list = []  # rows of the run of TaskTransitions going on
    for r in records:
        if type(r) is TaskTransition:
            run.append(row_of(r))
            continue
        if run:
            out.append(taskcolumns.task_entry(TaskRows.from_rows(run)))
            run = []
        if type(r) is TaskRows:
            out.append(taskcolumns.task_entry(r))
        elif type(r) is PackedTaskRows:  # a worker's, packed already: sent as it is
            out.append({"kind": "task-columns-packed", "data": r.data})
        else:
            out.append(record_to_msg(r))
    if run:
        out.append(taskcolumns.task_entry(TaskRows.from_rows(run)))
    return out


def decode_batch(entries: list, task_objects: bool = False) -> list:
    """Record dicts (``{"kind": ..., field: value}``, tuples restored) from one
    stream message made by :func:`encode_batch`; with *task_objects*, task
    transitions come as ``TaskTransition`` s instead, which spares a reader that
    wants objects a dict per task."""
    out: list = []
    for entry in entries:
        kind = entry.get("kind")
        if kind == "task-columns-packed":  # a worker's rows (pack_task_rows)
            entry, kind = taskcolumns.unpacked_entry(entry["data"]), "task-columns"
        if kind == "task-columns":
            columns = entry.get("columns") or {}
            out += taskcolumns.task_objects(columns) if task_objects else _from_columns(columns)
        else:
            out.append(msg_to_record_fields(entry))
    return out


def _from_columns(columns: dict) -> list:
    """Record dicts from a ``task-columns`` entry (:class:`~shoal.events.TaskRows`)."""
    out = []
    for record in taskcolumns.task_objects(columns):
        if type(record) is not TaskTransition:  # a count: TasksProcessing, TasksQueued
            out.append(record_to_msg(record))
            continue
        msg = dict(zip(TASK_FIELDS, _TASK_VALUES(record)))
        msg["kind"] = "task"
        out.append(msg)
    return out


class EventStreams:
    """The live ``subscribe_events`` streams of one server, so it can end them all."""

    def __init__(self):
        self._live: dict = {}  # comm -> (stop event, finished event)

    def __len__(self) -> int:
        return len(self._live)

    async def serve(self, comm, bus, *, source: str, snapshot=(), interval=None, maxlen=None,
                    exclude=(), resync=None, full=False, **hello):  # fmt: skip
        """Stream ``bus`` to ``comm`` until it closes or :meth:`close` is called; ``NO_REPLY``."""
        stop, finished = asyncio.Event(), asyncio.Event()
        self._live[comm] = (stop, finished)
        try:
            await stream_events(comm, bus, source=source, snapshot=snapshot, interval=interval,
                                maxlen=maxlen, stop=stop, exclude=exclude, resync=resync,
                                full=full, **hello)  # fmt: skip
        finally:
            self._live.pop(comm, None)
            finished.set()
        return NO_REPLY

    async def close(self, timeout: float = 2.0) -> None:
        """Say goodbye on every stream (each flushes what it holds first) and wait for them."""
        live = list(self._live.values())
        for stop, _ in live:
            stop.set()
        if live:
            waits = [asyncio.ensure_future(finished.wait()) for _, finished in live]
            _, pending = await asyncio.wait(waits, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)


async def stream_events(comm, bus, *, source: str, snapshot=(), interval=None, maxlen=None,
                        stop: asyncio.Event | None = None, exclude=(), resync=None,
                        full: bool = False, **hello) -> None:  # fmt: skip
    """Send ``snapshot`` and then every record ``bus`` publishes, until ``comm`` closes.

    ``interval`` (seconds between writes) and ``maxlen`` (records held for a
    slow reader) default to ``distributed.dashboard.events.interval`` and
    ``.buffer-length``; records of the kinds in ``exclude`` are not sent, nor those of
    ``IN_PROCESS_KINDS`` (a local computation's results, for a ``CacheProfiler``).  When
    ``stop`` is set the stream flushes, says goodbye and returns.  ``resync``: a
    function (called on the loop, so nothing changes while it runs) that gives a
    fresh snapshot; when the reader fell behind and records were lost, it gets
    what was still held, a ``{"kind": "resync"}`` entry, then that snapshot and a
    ``{"kind": "snapshot-end"}``, instead of a view that stays wrong (without
    ``resync``: a ``"dropped"`` entry).  A snapshot blocks the loop while it is
    made (most of a second for 200,000 tasks), so a reader that keeps falling
    behind gets one at most every ``RESYNC_SHARE`` of the time the last one took
    (``RESYNC_MIN_INTERVAL`` at least), the records between applied to its
    wrong view until then.  ``full``: ``snapshot`` is the whole state (a
    scheduler's), so the hello says ``"snapshot": "full"`` (a reader that
    reconnects starts over from it) and it ends with a ``snapshot-end`` too.
    """
    interval = config.checked(config.period, "distributed.dashboard.events.interval", interval)
    maxlen = config.checked(config.count, "distributed.dashboard.events.buffer-length", maxlen,
                            "maxlen")  # fmt: skip
    stop = stop or asyncio.Event()
    buffer = Buffer(maxlen=maxlen)
    # subscribed before the snapshot is sent: nothing falls in between
    token = bus.subscribe(buffer.append, exclude=(*exclude, *IN_PROCESS_KINDS))
    cursor = 0
    loop = asyncio.get_running_loop()
    reader = loop.create_task(_until_closed(comm))
    stopper = loop.create_task(stop.wait())
    owed = 0  # records lost since the last snapshot this reader got (resync)
    next_resync = 0.0  # loop time before which no snapshot is made for it
    try:
        if full:
            hello["snapshot"] = "full"
        await comm.write({"op": "stream-start", "source": source, "time": time.time(), **hello})
        await _send_snapshot(comm, list(snapshot), end=full)
        while not reader.done():
            stopping = stop.is_set()
            bus.flush()  # (what a publisher holds: a local run's rows)
            count, records = buffer.drain()
            lost = count - cursor - len(records)
            if lost > 0 and resync is not None:
                owed += lost
            fresh = None
            if owed and loop.time() >= next_resync:
                began = loop.time()
                fresh = list(resync())  # (it may publish; what it did is in it)
                count, more = buffer.drain()
                records += more
                took = loop.time() - began
                next_resync = loop.time() + max(RESYNC_MIN_INTERVAL, took / RESYNC_SHARE)
            if records or count > cursor or fresh is not None:
                batch = encode_batch(coalesce_tasks(records))
                if lost > 0 and resync is None:
                    batch.insert(0, {"kind": "dropped", "count": lost, "time": time.time()})
                if fresh is not None:  # what was still held, then the snapshot, after it
                    batch.append({"kind": "resync", "count": owed, "time": time.time()})
                    owed = 0
                cursor = count
                await _write(comm, batch)
                if fresh is not None:
                    await _send_snapshot(comm, fresh, end=True)
            if stopping:
                await comm.write({"op": "close", "reason": "source closing"})
                break
            await asyncio.wait({reader, stopper}, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
    except CommClosedError:
        pass
    finally:
        bus.unsubscribe(token)
        for task in (reader, stopper):
            task.cancel()
        await asyncio.gather(reader, stopper, return_exceptions=True)
        await comm.close()


async def _write(comm, batch: list) -> None:
    """Write *batch*; one whose records hold a value a message cannot carry (a local
    run's key of another type: ``1j``, an object) goes with that value as its text.  The
    encoding error had ended the stream, and the dashboard process with it, for good."""
    try:
        await comm.write(batch)
    except (TypeError, OverflowError, ValueError):  # (raised as it encodes: nothing sent)
        await comm.write(_as_plain(batch))


def _as_plain(value):
    """*value* with what msgpack has no type for made plain: numbers as int or float,
    the rest as text (tuples stay tuples: keys are)."""
    t = type(value)
    if value is None or t in (str, bytes, bool, float) or (t is int and -2**63 <= value < 2**64):
        return value
    if t is dict:
        return {_as_plain(k): _as_plain(v) for k, v in value.items()}
    if t in (list, tuple):
        return t(_as_plain(v) for v in value)
    if isinstance(value, numbers.Integral):  # (past 64 bits: as text, as the key is shown)
        return int(value) if -2**63 <= int(value) < 2**64 else str(int(value))
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - (a __str__ of user code)
        return f"<{type(value).__name__}>"


async def _send_snapshot(comm, snapshot: list, end: bool = False) -> None:
    for at in range(0, len(snapshot), SNAPSHOT_CHUNK):  # (the loop runs between chunks)
        batch = encode_batch(snapshot[at:at + SNAPSHOT_CHUNK])
        if batch:
            await _write(comm, batch)
    if end:  # (a reader closes what the snapshot no longer names)
        await comm.write([{"kind": "snapshot-end", "time": time.time()}])


async def _until_closed(comm) -> None:
    """Read (and ignore) whatever the reader sends, until it closes or says ``close``."""
    try:
        while True:
            msg = await comm.read()
            if isinstance(msg, dict) and msg.get("op") == "close":
                return
    except CommClosedError:
        return


#: records of a snapshot encoded and written at a time (a late reader of a big graph)
SNAPSHOT_CHUNK = 10_000
#: a reader that keeps falling behind costs the loop at most this share in snapshots
RESYNC_SHARE = 0.05
RESYNC_MIN_INTERVAL = 1.0  # seconds between two snapshots for one reader, at least


def scheduler_snapshot(state, *, limit: int = 100_000, clock=time.time) -> list:
    """Records that bring a late reader up to date with a :class:`SchedulerState`.

    Every worker as ``WorkerAdded``; per graph still known a ``GraphSubmitted``
    with its task count by prefix, and a ``ComputationFinished`` when the graph
    is no longer computing ("error" with the first error's text when one of its
    tasks erred); a ``TasksQueued`` per graph and prefix with tasks in the queue;
    then ``released -> <state>`` transitions for at most ``limit`` tasks (those
    processing, erred or in memory first, released last: a finished graph's
    intermediates, counted done; not the tasks that never ran and wait, as the live
    stream leaves them out: their graph's counts stand for them), so progress bars
    start from the right counts.  A task that raised comes as ``processing -> erred`` with its exception,
    as it did live (but without timings), so the reader's exceptions table counts it.  (When and where tasks ran is not kept by the
    state: a reader that was not listening has no task stream of them.)
    """
    now = clock()
    out: list = [WorkerAdded(ws.address, ws.nthreads, ws.memory_limit or 0, str(ws.name), now)
                 for ws in state.workers.values()]  # fmt: skip
    graphs: dict = {}
    errors: dict = {}  # graph -> the first exception text of its tasks
    for ts in state.tasks.values():
        graphs.setdefault(ts.graph, Counter())[ts.prefix] += 1
        if ts.state == "erred" and ts.graph not in errors:
            blame = ts.exception_blame or ts
            errors[ts.graph] = blame.exception_text or "error"
    times = getattr(state, "graph_times", {})  # [submitted, finished], when still kept
    for graph, prefixes in graphs.items():
        start = (times.get(graph) or (now,))[0]
        out.append(GraphSubmitted(graph, state.name, sum(prefixes.values()), dict(prefixes), (), start))
    for graph in graphs:
        if graph not in state.computations:
            failed = errors.get(graph)
            stop = (times.get(graph) or (None, None))[1] or now
            out.append(ComputationFinished(graph, "error" if failed else "finished", stop, failed or ""))
    queue = getattr(state, "queued", None)
    for (graph, prefix), n in getattr(queue, "counts", {}).items():
        out.append(TasksQueued(graph, prefix, n))
    from shoal.distributed.scheduler.publish import NOT_RUN_YET  # (that package imports this one)

    order = {"processing": 0, "erred": 1, "memory": 2, "released": 4}
    tasks = sorted((ts for ts in state.tasks.values()
                    if not (ts.run_id == 0 and ts.state in NOT_RUN_YET)),
                   key=lambda ts: order.get(ts.state, 3))  # fmt: skip
    for ts in tasks[:limit]:
        ws = ts.processing_on or next(iter(ts.who_has), None) or ts.erred_on
        raised = ts.state == "erred" and ts.exception_blame in (None, ts)
        out.append(TaskTransition(
            run_id=ts.graph, key=ts.key, prefix=ts.prefix,
            start="processing" if raised else "released", finish=ts.state,
            worker=ws.address if ws is not None else "",
            nbytes=max(ts.nbytes, 0) if ts.state == "memory" else 0,
            type=ts.type if ts.state == "memory" else "",
            exception=(ts.exception_text or "error") if raised else "",
        ))  # fmt: skip
    return out


class _RunsInProgress:
    """The ``GraphSubmitted`` records in ``bus.runs``, listed when iterated."""

    def __init__(self, bus):
        self.bus = bus

    def __iter__(self):
        return iter(list(self.bus.runs.values()))  # (one C call: safe beside other threads)


class BusServer:
    """A tiny rpc server that streams one in-process bus (``shoal.bus.default_bus``).

    It lets the dashboard process watch the local schedulers (sync, threads,
    processes) through the same ``subscribe_events`` stream a distributed
    scheduler serves.  Listens on loopback; it serves events only, never runs code.
    """

    def __init__(self, bus=None, name: str = "local", security=None):
        if bus is None:
            from shoal.bus import default_bus as bus
        self.bus, self.name = bus, name
        self.streams = EventStreams()
        self.started = time.time()
        self.server = Server({"subscribe_events": self.subscribe_events, "identity": self.identity},
                             security=security, role="scheduler")  # fmt: skip

    @property
    def address(self) -> str | None:
        return self.server.address

    async def start(self, address: str = "tcp://127.0.0.1:0") -> BusServer:
        await self.server.listen(address)
        return self

    async def subscribe_events(self, comm, **_):
        # the computations running now first (read once subscribed: a run that starts in
        # between comes twice, which a reader takes as a repeat), else their task records
        # would be of runs the reader was never told of
        # task records as the runs' rows (TASK_STATES), not a record per step ("task")
        return await self.streams.serve(comm, self.bus, source=self.name, exclude=("task",),
                                        snapshot=_RunsInProgress(self.bus))  # fmt: skip

    def identity(self, comm=None) -> dict:
        return {"type": "BusServer", "id": self.server.id, "address": self.address,
                "name": self.name, "started": self.started, "workers": {}}  # fmt: skip

    async def close(self) -> None:
        await self.streams.close()
        await self.server.close()
