"""What the scheduler answers for diagnostics: the task stream and merged profiles.

::

    SchedulerState --Publish(TaskTransition)--> Scheduler.bus
                                                  '--(after the first get_task_stream)--> TaskStream._record
                                                        processing -> memory | erred only
                                                        (time received, record) --> Buffer (bounded)
    get_task_stream(start, stop, count) <-- the Buffer, as plain dicts (Dask's shape)

    get_profile(start, stop, key, workers) --"profile" rpc, all workers at once-->
        {worker: call tree} --calltree.merge--> one tree

The task stream is Dask's ``TaskStreamPlugin``: nothing is subscribed until a
client first asks (``Client.get_task_stream``, ``performance_report``), so a
scheduler nobody asked builds no task records at all (the bus's ``wants``).
Once subscribed it stays, like Dask's plugin, bounded by
``distributed.scheduler.task-stream-length``; the subscriber is one comparison
and one deque append in the scheduler's thread.  Times are the scheduler's
``time.time()`` when the result arrived, so ``start`` / ``stop`` are
wall-clock seconds.

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
from shoal.events import Buffer

__all__ = ["TaskStream", "gather_profile", "task_dict"]

logger = logging.getLogger(__name__)

_ENDS = frozenset({"memory", "erred"})


def task_dict(record) -> dict:
    """One task record in the shape of Dask's task stream entries (plain data)."""
    erred = record.finish == "erred"
    return {
        "key": record.key, "prefix": record.prefix, "status": "error" if erred else "OK",
        "worker": record.worker, "thread": record.thread,
        "startstops": tuple({"action": a, "start": b, "stop": e} for a, b, e in record.startstops),
        "nbytes": record.nbytes, "type": record.type, "typename": record.type,
        "exception": record.exception, "metadata": {},
    }  # fmt: skip


class TaskStream:
    """Finished and erred task records of one bus, bounded; see the module docstring."""

    def __init__(self, bus, maxlen: int | None = None, clock=time.time):
        if maxlen is None:
            maxlen = int(config.get("distributed.scheduler.task-stream-length", 100_000))
        self.buffer = Buffer(maxlen=maxlen)
        self.clock = clock
        self.bus = bus
        self.token = bus.subscribe(self._record, ("task",))

    def _record(self, record) -> None:
        if record.start == "processing" and record.finish in _ENDS:
            self.buffer.append((self.clock(), record))

    def collect(self, start=None, stop=None, count=None) -> list:
        """Records received in [start, stop] (wall-clock seconds), the last ``count`` of them."""
        if count is not None and int(count) <= 0:
            return []
        _, items = self.buffer.since(0)
        if start is not None or stop is not None:
            lo = float("-inf") if start is None else float(start)
            hi = float("inf") if stop is None else float(stop)
            items = [item for item in items if lo <= item[0] <= hi]
        if count is not None:
            items = items[-int(count):]
        return [task_dict(record) for _, record in items]

    def close(self) -> None:
        self.bus.unsubscribe(self.token)


async def gather_profile(pool, workers, start=None, stop=None, key=None) -> dict:
    """One call tree: the ``profile`` of each worker address in ``workers``, merged."""
    workers = list(workers)
    replies = await asyncio.gather(
        *(pool(w).profile(start=start, stop=stop, key=key) for w in workers), return_exceptions=True)
    trees = []
    for worker, reply in zip(workers, replies):
        if isinstance(reply, BaseException):
            logger.info("no profile from %s: %s: %s", worker, type(reply).__name__, reply)
        elif reply:
            trees.append(reply)
    return merge(*trees)
