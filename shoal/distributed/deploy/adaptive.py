"""Adaptive scaling: grow a cluster while work waits, shrink it when idle.

::

    every `interval` (Adaptive, on the cluster's loop)
        snapshot = cluster.load()            -> Load(tasks, workers, threads_per_worker, ...)
        rec = core.recommend(snapshot)       pure: AdaptiveCore, unit tested without a cluster
        if rec.n != len(workers): await cluster.scale(rec.n)   (closing rec.close first)

The rule (:meth:`AdaptiveCore.recommend`): the work a cluster can start now is
the tasks processing on workers plus those queued or without a worker on the
scheduler; it wants ``ceil(tasks / threads_per_worker)`` workers, kept within
``[minimum, maximum]``.  Growing happens at once.  Shrinking waits until
``wait_count`` looks in a row asked for fewer workers, so a short lull between
two graphs does not throw workers (and the results they hold) away; it then
closes the workers with the least work and data (:func:`workers_to_close`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field

from shoal import config

__all__ = ["Adaptive", "AdaptiveCore", "Load", "Recommendation", "workers_to_close"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Load:
    """What the scheduler says about the cluster at one moment.

    ``workers`` maps a worker's name to ``(tasks processing, bytes held)``.
    """

    tasks: int
    workers: dict = field(default_factory=dict)
    threads_per_worker: int = 1


@dataclass(frozen=True)
class Recommendation:
    """Scale to ``n`` workers; when shrinking, ``close`` names the ones to close."""

    n: int
    close: tuple = ()
    reason: str = ""


def workers_to_close(workers: dict, n: int) -> list:
    """The ``n`` workers whose loss costs least: fewest tasks processing, then least data,
    then the newest (later in ``workers``), so the first workers stay.

    >>> workers_to_close({"a": (2, 0), "b": (0, 100), "c": (0, 10)}, 2)
    ['c', 'b']
    >>> workers_to_close({0: (0, 0), 1: (0, 0), 2: (0, 0)}, 2)
    [2, 1]
    """
    if n <= 0:
        return []
    position = {name: i for i, name in enumerate(workers)}
    order = sorted(workers, key=lambda name: (workers[name][0], workers[name][1], -position[name]))
    return order[:n]


class AdaptiveCore:
    """The decisions of adaptive scaling, free of clocks and I/O.

    >>> core = AdaptiveCore(minimum=1, maximum=4, wait_count=2)
    >>> core.recommend(Load(tasks=10, workers={"0": (1, 0)}, threads_per_worker=2)).n
    4
    >>> idle = {str(i): (0, 0) for i in range(4)}
    >>> core.recommend(Load(0, idle, 2)).n, core.recommend(Load(0, idle, 2)).n
    (4, 1)
    """

    def __init__(self, minimum: int = 0, maximum: float = math.inf, wait_count: int = 3):
        if minimum < 0:
            raise ValueError(f"adapt: minimum must be >= 0, got {minimum}")
        if maximum < minimum:
            raise ValueError(f"adapt: maximum ({maximum}) is below minimum ({minimum})")
        if wait_count < 1:
            raise ValueError(f"adapt: wait_count must be >= 1, got {wait_count}")
        self.minimum, self.maximum, self.wait_count = int(minimum), maximum, int(wait_count)
        self.close_counts: dict = {}  # worker name -> looks in a row it could have closed

    def target(self, load: Load) -> int:
        """Workers wanted for ``load``, within ``[minimum, maximum]``."""
        wanted = math.ceil(load.tasks / max(int(load.threads_per_worker), 1))
        return int(min(max(wanted, self.minimum), self.maximum))

    def recommend(self, load: Load) -> Recommendation:
        current = len(load.workers)
        target = self.target(load)
        if target > current:
            self.close_counts.clear()
            return Recommendation(target, (), f"{load.tasks} tasks need {target} workers")
        if target == current:
            self.close_counts.clear()
            return Recommendation(current)
        # count, per worker, how many looks in a row it was a closing candidate
        candidates = workers_to_close(load.workers, current - target)
        self.close_counts = {name: self.close_counts.get(name, 0) + 1 for name in candidates}
        ready = [name for name in candidates if self.close_counts[name] >= self.wait_count]
        if not ready:
            return Recommendation(current)
        for name in ready:
            del self.close_counts[name]
        return Recommendation(current - len(ready), tuple(ready),
                              f"{load.tasks} tasks need {target} workers")  # fmt: skip


class Adaptive:
    """Runs :class:`AdaptiveCore` against a cluster every ``interval`` on the cluster's loop.

    The cluster provides ``load() -> Load`` and ``async _scale(n, close=())``.
    Made by ``cluster.adapt(...)``; ``stop()`` ends it (closing the cluster, or
    another ``adapt()``, does too).
    """

    def __init__(self, cluster, minimum: int = 0, maximum: float = math.inf, interval=None,
                 wait_count: int | None = None):  # fmt: skip
        self.cluster = cluster
        if wait_count is None:
            wait_count = config.get("distributed.adaptive.wait-count", default=3)
        self.core = AdaptiveCore(minimum, maximum, int(wait_count))
        self.interval = (config.parse_timedelta(interval) if interval is not None
                         else config.checked(config.duration, "distributed.adaptive.interval"))
        self.log: list = []  # (n before, Recommendation) for each change made
        self._task: asyncio.Task | None = None

    @property
    def minimum(self) -> int:
        return self.core.minimum

    @property
    def maximum(self) -> float:
        return self.core.maximum

    def start(self) -> None:
        """Start looking (call on the cluster's loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.adapt()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad look must not end adaptivity
                logger.exception("adaptive scaling step failed")
            await asyncio.sleep(self.interval)

    async def adapt(self) -> Recommendation:
        """One look: ask the core, scale if it says so."""
        load = self.cluster.load()
        rec = self.core.recommend(load)
        if rec.n != len(load.workers):
            logger.info("adaptive: %d -> %d workers (%s)", len(load.workers), rec.n, rec.reason)
            self.log.append((len(load.workers), rec))
            await self.cluster._scale(rec.n, close=rec.close)
        return rec

    def stop(self) -> None:
        """Stop looking (from any thread; the cluster keeps its current size)."""
        task, self._task = self._task, None
        if task is None:
            return
        loop = task.get_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task.cancel()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)

    async def _stop(self) -> None:
        """Stop and wait until the current look (maybe a scaling) has ended."""
        task = self._task
        self.stop()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def __repr__(self):
        state = "running" if self._task is not None else "stopped"
        return f"<Adaptive minimum={self.minimum} maximum={self.maximum} {state}>"
