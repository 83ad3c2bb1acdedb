"""What the scheduler answers for diagnostics: the task stream and merged profiles.

::

    SchedulerState --TaskRows, workers' PackedTaskRows (TASK_STATES)--> Scheduler.bus
                                                  '--> TaskStreamLog._record: (time published, rows)
                                                        --> Buffer (bounded, in finished tasks)
    get_task_stream(start, stop, count, since) <-- the Buffer, unpacked when asked:
                                            processing -> memory | erred, as plain dicts
                                            (Dask's shape)
    task_stream_cursor() --> the Buffer's count: a ``since`` for later

    get_profile(start, stop, key, workers) --"profile" rpc, all workers at once-->
        {worker: call tree} --calltree.merge--> one tree

The task stream is Dask's ``TaskStreamPlugin``, fed by the rows a dashboard gets
(the workers' own rows of the tasks they finished, passed on packed): keeping them
costs the scheduler one append per flush, and unpacking them is left to a request.
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
from shoal.distributed import taskcolumns
from shoal.bus import Buffer
from shoal.events import TASK_STATES, PackedTaskRows, TaskTransition

__all__ = ["AnswersDiagnostics", "TaskStreamLog", "gather_profile", "task_dict"]

logger = logging.getLogger(__name__)

_ENDS = frozenset({"memory", "erred"})


def task_dict(record, tasks=None) -> dict:
    """One task record in the shape of Dask's task stream entries (plain data); an
    erred task's traceback comes from *tasks* (the scheduler's, while it has it)."""
    erred = record.finish == "erred"
    ts = tasks.get(record.key) if erred and tasks is not None else None
    return {
        "key": record.key, "prefix": record.prefix, "status": "error" if erred else "OK",
        "worker": record.worker, "thread": record.thread,
        "startstops": tuple({"action": a, "start": b, "stop": e} for a, b, e in record.startstops),
        "nbytes": record.nbytes, "type": record.type, "typename": record.type,
        "exception": record.exception, "exception_text": record.exception,
        "traceback_text": getattr(ts, "traceback_text", "") or "",  # (rows carry none)
        "metadata": {},
    }  # fmt: skip


class _Received:
    """Rows as published, when, and how many finished tasks they hold (the Buffer's
    weight: ``task-stream-length`` counts finished tasks)."""

    __slots__ = ("time", "rows", "weight")

    def __init__(self, when: float, rows, finished: int):
        self.time, self.rows, self.weight = when, rows, finished


def _finished_count(rows) -> int:
    """Tasks that finished: a worker's rows are all finished tasks; the scheduler's,
    those from ``processing`` to ``memory`` or ``erred`` (a task that erred, or ran
    before its worker was asked for rows)."""
    if type(rows) is PackedTaskRows:
        return rows.n
    columns = rows.columns
    return sum(1 for start, finish in zip(columns.get("start") or (), columns.get("finish") or ())
               if start == "processing" and finish in _ENDS)  # fmt: skip


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

    def collect(self, start=None, stop=None, count=None, since=None) -> list:
        """Tasks that finished in [start, stop] (wall-clock seconds), oldest first; as
        Dask's: with ``start`` alone, the first ``count`` since then, else the last
        ``count`` (before ``stop``); ``count`` is ignored when both bounds are given.
        ``since``: only those received after that :meth:`cursor`."""
        self.asked = True
        want = None if count is None or (start is not None and stop is not None) else int(count)
        if want is not None and want <= 0:
            return []
        lo = float("-inf") if start is None else float(start)
        hi = float("inf") if stop is None else float(stop)
        _, items = self.buffer.since(since or 0)
        first = start is not None and want is not None  # the first `want` since start
        picked: list = []  # each batch's tasks oldest first, in the order walked
        found = 0
        for item in (items if first else reversed(items)):
            if item.time < lo:  # published before start: nothing in it finished after
                if first:
                    continue
                break
            records = [r for r in _finished(item.rows) if lo <= _when(r, item.time) <= hi]
            picked.append(records)
            found += len(records)
            if want is not None and found >= want:
                break
        if first:
            records = [r for batch in picked for r in batch][:want]
        else:
            records = [r for batch in reversed(picked) for r in batch]
            if want is not None:
                records = records[-want:]
        return [task_dict(r, self.tasks) for r in records]

    def close(self) -> None:
        self.bus.unsubscribe(self.token)


def _when(record, published: float) -> float:
    """When a task finished: the end of its last step, else when its row was published."""
    steps = record.startstops
    return steps[-1][2] if steps else published


def _finished(rows) -> list:
    """The ``processing -> memory | erred`` records of a ``TaskRows`` or a worker's
    ``PackedTaskRows``; none (logged) if they cannot be read."""
    try:
        if type(rows) is PackedTaskRows:
            columns = taskcolumns.unpacked_entry(rows.data)["columns"]
        else:
            columns = rows.columns
        records = taskcolumns.task_objects(columns)
    except Exception:
        logger.exception("task stream: could not read %r", type(rows).__name__)
        return []
    return [r for r in records
            if type(r) is TaskTransition and r.start == "processing" and r.finish in _ENDS]  # fmt: skip


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


class AnswersDiagnostics:
    """The scheduler's diagnostics requests (a mixin of :class:`~.server.Scheduler`,
    using its ``bus``, ``state``, ``pool``, ``task_stream`` and
    ``_publish_task_states``): ``get_task_stream``, ``task_stream_cursor`` and
    ``get_profile``."""

    def get_task_stream(self, comm=None, start=None, stop=None, count=None, since=None,
                        finished=False):  # fmt: skip
        """Finished tasks as dicts (see :mod:`.diagnostics`); records are kept from the
        first call, or from the start when this scheduler serves a dashboard.  With
        ``finished``: ``{"tasks": ..., "finished": how many the log recorded ever}``,
        read together (it holds the last ``task-stream-length``: a report says what it
        could not show)."""
        stream = self._task_stream()
        tasks = stream.collect(start, stop, count, since)
        return {"tasks": tasks, "finished": stream.finished} if finished else tasks

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
