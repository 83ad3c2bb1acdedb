"""What the scheduler answers for diagnostics: the task stream and merged profiles.

::

    SchedulerState --TaskRows, workers' PackedTaskRows (TASK_STATES)--> Scheduler.bus
                                                  '--> TaskStreamLog._record: (time published, rows)
                                                        --> Buffer (bounded, in finished tasks)
    get_task_stream(start, stop, count, since) <-- the Buffer, the batches walked read
                                            when asked: processing -> memory | erred rows
                                            picked, sent packed (taskstream.py)
    task_stream_cursor() --> the Buffer's count: a ``since`` for later

    get_profile(start, stop, key, workers) --"profile" rpc, all workers at once-->
        {worker: call tree} --calltree.merge--> one tree

The task stream is Dask's ``TaskStreamPlugin``, fed by the rows a dashboard gets
(the workers' own rows of the tasks they finished, passed on packed): keeping them
costs the scheduler one append per flush, and reading them is left to a request,
which reads only the states and times of the batches it walks and sends them as
they were packed, with the rows it picked: the client makes Dask's dicts of them
(:mod:`shoal.distributed.taskstream`), not the scheduler's event loop.
A scheduler that serves a dashboard keeps them from its start, so
``client.get_task_stream()`` shows what ran before it was first asked, as with
Dask's dashboard; otherwise nothing is subscribed until a client first asks
(``Client.get_task_stream``, ``performance_report``), so a scheduler nobody asked
publishes no task rows at all (the bus's ``wants``).  Once subscribed it stays,
bounded by ``distributed.scheduler.task-stream-length`` finished tasks (batches
without one are not kept).  A task's time is when it finished (the end of its last
``startstops`` step, else when its row was published), so ``start`` / ``stop`` are
wall-clock seconds; rows are published at most an events interval after, and a
request publishes those pending first.  A request reads the newest batches first
and stops at ``count`` or at batches published before ``start``.  ``with
get_task_stream()`` and ``performance_report`` take a cursor on entry and ask for
what came after it, as Dask's do with an index: a time from the client's clock
would lose the tasks of a worker whose clock is behind.

Profiles are not kept here: each worker's sampler keeps its own history
(:mod:`shoal.diagnostics.sampler`), and a request fans out to the
workers and merges their trees (:func:`shoal.diagnostics.calltree.merge`).  A
worker that fails to answer (it left meanwhile) is left out and logged.
"""

from __future__ import annotations

import asyncio
import logging
import time

from shoal import config
from shoal.diagnostics.calltree import merge
from shoal.distributed import taskcolumns, taskstream
from shoal.distributed.scheduler.introspection import AnswersIntrospection
from shoal.distributed.taskcolumns import expanded, key_from_wire
from shoal.bus import Buffer
from shoal.events import TASK_STATES, PackedTaskRows

__all__ = ["AnswersDiagnostics", "TaskStreamLog", "gather_profile"]

logger = logging.getLogger(__name__)

class _Received:
    """Rows as published, when, and how many finished tasks they hold (the Buffer's
    weight: ``task-stream-length`` counts finished tasks)."""

    __slots__ = ("time", "rows", "weight")

    def __init__(self, when: float, rows, finished: int):
        self.time, self.rows, self.weight = when, rows, finished

    def packed(self) -> bytes:
        """The rows as a packed ``task-columns`` entry: a worker's as they came."""
        rows = self.rows
        if type(rows) is PackedTaskRows:
            return rows.data
        return taskcolumns.pack_entry(taskcolumns.task_entry(rows), lenient=True)


def _finished_count(rows) -> int:
    """Tasks that finished: a worker's rows are all finished tasks; the scheduler's,
    those from ``processing`` to ``memory`` or ``erred`` (a task that erred, or ran
    before its worker was asked for rows)."""
    if type(rows) is PackedTaskRows:
        return rows.n
    columns = rows.columns
    ends = taskstream.ENDS
    return sum(1 for start, finish in zip(columns.get("start") or (), columns.get("finish") or ())
               if start == "processing" and finish in ends)  # fmt: skip


class TaskStreamLog:
    """Finished and erred task records of one bus, bounded; see the module docstring."""

    def __init__(self, bus, maxlen: int | None = None, clock=time.time, tasks=None):
        maxlen = config.checked(config.count, "distributed.scheduler.task-stream-length",
                                maxlen, "maxlen")  # fmt: skip
        self.buffer = Buffer(maxlen=maxlen)
        self.clock = clock
        self.bus, self.tasks = bus, tasks  # tasks: key -> the scheduler's TaskState
        self.asked = False  # a client read it (collect)
        self.finished = 0  # tasks ever recorded (the buffer holds the last maxlen of them)
        self.token = bus.subscribe(self._record, (TASK_STATES,))

    def _record(self, rows) -> None:
        finished = _finished_count(rows)
        if finished:
            self.finished += finished
            self.buffer.append(_Received(self.clock(), rows, finished))

    def cursor(self) -> int:
        """Where the records end now: ``collect(since=cursor)`` later gives the tasks
        this scheduler heard of finishing in between, whatever the workers' clocks
        say (a worker's clock behind the client's loses no task, as with times)."""
        self.asked = True
        return self.buffer.count

    def collect(self, start=None, stop=None, count=None, since=None) -> dict:
        """The tasks that finished in [start, stop] (wall-clock seconds), oldest first,
        as :mod:`shoal.distributed.taskstream` sends them (``task_dicts`` makes Dask's
        entries of them); which, as Dask's: with ``start`` alone, the first ``count``
        since then, else the last ``count`` (before ``stop``); ``count`` is ignored when
        both bounds are given.  ``since``: only those received after that :meth:`cursor`.
        A batch that cannot be read is left out (logged)."""
        self.asked = True
        _, items = self.buffer.since(since or 0)
        readers = [_Reader(item) for item in items]
        picked = taskstream.pick([(r, r.item.time, r) for r in readers], start, stop, count)
        tracebacks = []
        for batch, indices in picked:
            columns = batch.columns  # (None: a worker's batch, not read; no erred task in it)
            for i in indices if columns is not None else ():
                if columns["finish"][i] == "erred":
                    ts = self.tasks.get(key_from_wire(columns["key"][i])) if self.tasks else None
                    text = getattr(ts, "traceback_text", "") or ""  # (rows carry none)
                    if text:
                        tracebacks.append([columns["key"][i], text])
        batches = [[batch.item.packed(), None if len(indices) == batch.n else list(indices)]
                   for batch, indices in picked]  # fmt: skip
        return {"batches": batches, "tracebacks": tracebacks}

    def close(self) -> None:
        self.bus.unsubscribe(self.token)


class _Reader:
    """A batch's finished rows, read when a request walks it (``taskstream.pick``);
    its columns (expanded) and number of rows stay here for the request's reply, not
    on the batch: the log keeps no object per task."""

    __slots__ = ("item", "columns", "n")

    def __init__(self, item):
        self.item, self.columns, self.n = item, None, 0

    def __call__(self, timed: bool) -> tuple:
        item = self.item
        rows = item.rows
        if type(rows) is PackedTaskRows and not timed:  # a worker's: all finished tasks
            self.n = rows.n
            return range(rows.n), None
        try:
            if type(rows) is PackedTaskRows:
                columns = expanded(taskcolumns.unpacked_entry(rows.data)["columns"])
            else:
                columns = expanded(rows.columns)
            indices, ends = taskstream.finished_rows(columns, item.time)
        except Exception:
            logger.exception("task stream: could not read %r", type(rows).__name__)
            return [], []
        if type(rows) is not PackedTaskRows:
            self.columns = columns  # (its erred tasks' tracebacks)
        self.n = len(columns.get("key") or ())
        return indices, ends


async def gather_profile(pool, workers, start=None, stop=None, key=None, merged=True) -> dict:
    """One call tree: the ``profile`` of each worker address in ``workers``, merged, or
    ``{address: tree}`` (a worker that did not answer: an empty tree) with ``merged=False``."""
    workers = list(workers)
    replies = await asyncio.gather(
        *(pool(w).profile(start=start, stop=stop, key=key) for w in workers), return_exceptions=True)
    trees = {}
    for worker, reply in zip(workers, replies):
        if isinstance(reply, BaseException):
            logger.info("no profile from %s: %s: %s", worker, type(reply).__name__, reply)
            reply = None
        trees[worker] = reply or merge()  # (merge(): an empty tree)
    if not merged:
        return trees
    return merge(*trees.values())


class AnswersDiagnostics(AnswersIntrospection):  # (processing, call_stack...: introspection.py)
    """The scheduler's diagnostics requests (a mixin of :class:`~.server.Scheduler`,
    using its ``bus``, ``state``, ``pool``, ``task_stream`` and
    ``_publish_task_states``): ``get_task_stream``, ``task_stream_cursor`` and
    ``get_profile``.  ``tasks``, ``workers`` and ``clients``: the state's records by key,
    address and id, as Dask's scheduler names them (for ``run_on_scheduler``; read only)."""

    tasks = property(lambda self: self.state.tasks, doc="key -> the task's record")
    workers = property(lambda self: self.state.workers, doc="address -> the worker's record")
    clients = property(lambda self: self.state.clients, doc="client id -> the client's record")

    def get_task_stream(self, comm=None, start=None, stop=None, count=None, since=None) -> dict:
        """The finished tasks picked, packed (``TaskStreamLog.collect``; the client makes
        Dask's dicts of them), and ``"finished"``: how many the log recorded ever, read
        with them (it holds the last ``task-stream-length``: a report says what it could
        not show).  Records are kept from the first call, or from the start when this
        scheduler serves a dashboard."""
        stream = self._task_stream()
        return {**stream.collect(start, stop, count, since), "finished": stream.finished}

    def task_stream_cursor(self, comm=None, finished=False):
        """A ``since`` for ``get_task_stream``: the tasks that finish after this call;
        with ``finished``, ``[cursor, how many the log recorded ever]``, read together."""
        stream = self._task_stream()
        cursor = stream.cursor()
        return [cursor, stream.finished] if finished else cursor

    def _task_stream(self) -> TaskStreamLog:
        """The task stream, with the rows pending since the last interval in it."""
        stream = self._keep_task_stream()
        self._publish_task_states()
        return stream

    def _keep_task_stream(self) -> TaskStreamLog:
        """The task stream, kept from now on if it was not."""
        if self.task_stream is None:
            self.task_stream = TaskStreamLog(self.bus, tasks=self.state.tasks)
        return self.task_stream

    async def get_profile(self, comm=None, start=None, stop=None, key=None, workers=None,
                          merge_workers=True) -> dict:  # fmt: skip
        """The workers' call trees over [start, stop] (of ``key``'s prefix), merged, or
        ``{worker: tree}`` with ``merge_workers=False``."""
        unknown = [w for w in workers or () if w not in self.state.workers]
        if unknown:
            raise ValueError(f"unknown workers {unknown}")
        return await gather_profile(self.pool, workers or list(self.state.workers), start, stop, key,
                                    merge_workers)  # fmt: skip
