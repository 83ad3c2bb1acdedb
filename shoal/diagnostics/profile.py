"""Profilers for local computations: per-task timings, resource samples, results held.

Event flow::

    scheduler thread                           observer
    ----------------                           --------
    TaskTransition(startstops) --bus--> Profiler._record --> results (TaskData)
    ResultsCached(stored, freed) --bus--> CacheProfiler --> results (CacheData)

    GraphSubmitted ----------+
                             +--bus--> Buffer + wake --> sampler thread --psutil-->
    ComputationFinished -----+                           results (ResourceData)

All three are pure event consumers: they subscribe to
:data:`shoal.bus.default_bus` and never look at scheduler state.

:class:`Profiler` turns each finished task record into one small namedtuple
right in the publisher's thread.  That is as cheap as the usual Buffer append
(one tuple and one ``list.append``), needs no thread, and unlike a bounded
buffer never drops a record: a profile with holes would be wrong.

:class:`ResourceProfiler` needs a thread anyway (psutil samples take time).
Its bus subscriber appends the record to a Buffer and sets an event, so the
sampler wakes the moment a computation starts and samples every ``dt`` while
one runs, and once more as the last one ends if at least ``dt / 2`` passed
since the sample before (CPU time moves in clock ticks of 10 ms: a CPU share
read over a few milliseconds could say 400% on two cores).  Used as a context
manager it samples for the whole block; after :meth:`register` it samples only
while computations run.  Memory and CPU are summed over this process and the
process pool's workers (what a local ``Dashboard()`` counts as this process).
Times are wall-clock (``time.time``), like the task records.
"""

from __future__ import annotations

import threading
import time
from collections import namedtuple

from shoal import config
from shoal.diagnostics._observer import Observer as _Observer
from shoal.bus import Buffer, default_bus

__all__ = ["CacheData", "CacheProfiler", "Profiler", "ResourceData", "ResourceProfiler", "TaskData"]

TaskData = namedtuple("TaskData", "key task_prefix start_time end_time worker_id")
TaskData.__doc__ = """One executed task: wall-clock start/end; ``worker_id`` is the
thread ident (threads, sync) or the worker's pid (processes)."""

ResourceData = namedtuple("ResourceData", "time mem cpu")
ResourceData.__doc__ = """One sample (Dask's fields): wall-clock ``time``, resident memory
``mem`` in MB and ``cpu`` percent (100 = one full core) since the sample before,
summed over this process and the process pool's workers."""


class _Recorder(_Observer):
    """What :class:`Profiler` and :class:`CacheProfiler` share: ``results``, a bus
    subscription to :attr:`kinds` calling ``_record`` in the publisher's thread while
    observing, ``start_time`` / ``end_time``, :meth:`clear` and :meth:`visualize`."""

    kinds: tuple = ()

    def __init__(self, bus=None):
        self.bus = default_bus if bus is None else bus
        self.results: list = []
        self._token = None
        self.start_time = self.end_time = None

    def __enter__(self):
        if self._token is None:  # a block records its own computations only, as Dask's
            self.clear()         # profilers do (but one observing already keeps its own)
        return super().__enter__()

    def _start(self) -> None:
        if self._token is None:
            self._token = self.bus.subscribe(self._record, self.kinds)
            self.start_time, self.end_time = time.time(), None

    def _stop(self) -> None:
        if self._token is not None:
            self.bus.unsubscribe(self._token)
            self._token = None
            self.end_time = time.time()

    def _record(self, rec) -> None:
        raise NotImplementedError

    def visualize(self, **kwargs):
        """Plot the results; see :func:`shoal.diagnostics.visualize`."""
        from shoal.diagnostics.visualize import visualize

        return visualize(self, **kwargs)

    def clear(self) -> None:
        """Forget the recorded results (and when observing started and ended)."""
        self.results = []
        self.start_time = self.end_time = None


class Profiler(_Recorder):
    """Record the start and end time of every task that runs while active.

    ``results`` is a list of :class:`TaskData` in the order tasks finished (one
    that raised too, unlike Dask's, which leaves it out: its row shows when it failed);
    ``pandas.DataFrame(prof.results)`` gives a table, :meth:`visualize` a plot.
    (Dask's ``TaskData`` has the task itself where this has its ``task_prefix``:
    the local schedulers' records do not carry tasks.)  ``start_time`` and
    ``end_time``: when it started and stopped observing (None while it runs).
    """

    kinds = ("task",)

    def _record(self, rec) -> None:
        if rec.finish not in ("memory", "erred"):
            return
        start = end = None
        for action, begin, stop in rec.startstops:
            if action == "compute":
                start, end = begin, stop
        if start is None:
            return
        self.results.append(TaskData(rec.key, rec.prefix, start, end, rec.thread))


CacheData = namedtuple("CacheData", "key task_prefix metric cache_time free_time")
CacheData.__doc__ = """One result's stay in a local computation's memory (Dask's fields, with the
task's prefix for its task): ``metric`` of the value, wall-clock ``cache_time`` when it
was stored and ``free_time`` when no task needed it any more (or its computation ended)."""


class CacheProfiler(_Recorder):
    """Record how long each result of a local computation stays in memory, and what
    it weighs there.

    ``metric`` measures a result (default: every result counts 1, ``metric_name``
    "count"); ``CacheProfiler(metric=shoal.sizeof.sizeof, metric_name="bytes")``
    weighs them.  ``results`` is a list of :class:`CacheData` in the order results
    were freed; :meth:`visualize` plots what memory held over time, per task prefix.

    The local schedulers tell it each step's stored results and freed keys
    (``ResultsCached``, made only while one watches); ``metric`` runs in the
    scheduler's thread as the results arrive, as Dask's does, so it should be
    quick, and the profiler keeps no value.  A ``metric`` that raises leaves its
    result out and, once the block ends (or at ``unregister()``), raises a
    ``RuntimeError`` naming the key (the computation is not disturbed: an observer
    never fails one).  Results still held when a computation ends (the ones it
    returns) are freed at its end.  Distributed computations are not followed
    (their results stay on the workers).
    """

    def __init__(self, metric=None, metric_name: str | None = None, bus=None):
        if metric is not None and not callable(metric):
            raise TypeError(f"CacheProfiler: metric must be a function of a result, not {metric!r}")
        super().__init__(bus)
        self._metric = metric
        self.metric_name = metric_name or (getattr(metric, "__name__", "metric") if metric else "count")
        self._held: dict = {}  # run_id -> {key: (prefix, metric, cache time)}
        self._failure = None  # the metric's first error: (key, exception)
        # two computations may publish at once (threads, or one inside a task of another)
        self._lock = threading.Lock()

    kinds = ("cache", "computation-finished")

    def _start(self) -> None:
        if self._token is None:
            self._failure = None  # (one a block ended by an exception left unreported)
        super()._start()

    def _stop(self) -> None:
        if self._token is not None:
            super()._stop()
            with self._lock:  # what any run still holds is freed now
                runs, self._held = self._held, {}
                for held in runs.values():
                    self._free(held, self.end_time)

    def __exit__(self, exc_type, *exc):
        super().__exit__(exc_type, *exc)
        if exc_type is None and self._token is None:  # (stopped: its last use ended)
            self._raise_failure()

    def unregister(self) -> None:
        super().unregister()
        if self._token is None:
            self._raise_failure()

    def close(self) -> None:
        super().close()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            (key, exc), self._failure = self._failure, None
            raise RuntimeError(f"CacheProfiler: metric {self.metric_name!r} failed on the result "
                               f"of {key!r} ({type(exc).__name__}: {exc}); that result and any "
                               "others it failed on are left out") from exc  # fmt: skip

    def _record(self, rec) -> None:  # the scheduler's thread
        if rec.kind == "computation-finished":
            with self._lock:
                self._free(self._held.pop(rec.run_id, {}), rec.time)
            return
        measure, weighed = self._metric, []
        for key, prefix, value in rec.stored:  # (the metric runs outside the lock)
            if measure is None:
                weighed.append((key, (prefix, 1, rec.time)))
                continue
            try:
                weighed.append((key, (prefix, measure(value), rec.time)))
            except Exception as exc:
                if self._failure is None:
                    self._failure = (key, exc)
        with self._lock:
            if self._token is None:  # (delivered as the block ended: not this block's)
                return
            held = self._held.setdefault(rec.run_id, {})
            held.update(weighed)
            for key in rec.freed:
                entry = held.pop(key, None)
                if entry is not None:
                    self.results.append(CacheData(key, entry[0], entry[1], entry[2], rec.time))

    def _free(self, held: dict, when: float) -> None:
        """The results a run still *held* freed at *when* (under the lock)."""
        for key, (prefix, weight, since) in held.items():
            self.results.append(CacheData(key, prefix, weight, since, when))


def _psutil():
    try:
        import psutil
    except ImportError as exc:
        raise ImportError(
            "ResourceProfiler needs psutil: pip install psutil (or conda install psutil)"
        ) from exc
    return psutil


class ResourceProfiler(_Recorder):
    """Sample memory and CPU every ``dt`` seconds while computations run.

    ``results`` is a list of :class:`ResourceData`; :meth:`visualize` plots them;
    :meth:`close` (Dask's spelling of ``unregister()`` for it) stops the sampler.
    """

    def __init__(self, dt: float = 1.0, bus=None):
        _psutil()  # (a clear error now, not in the thread)
        super().__init__(bus)
        self.dt = config.period(dt, "dt")
        self._thread = None

    def __enter__(self):
        super().__enter__()
        self._wake.set()  # a registered, idle sampler starts at once
        return self

    def _start(self) -> None:
        if self._thread is not None:
            return
        self.start_time, self.end_time = time.time(), None
        self._buffer = Buffer(maxlen=10_000)
        self._wake = threading.Event()
        self._stopping = False
        self._probe = None
        self._token = self.bus.subscribe(
            self._on_event, ("graph-submitted", "computation-finished")
        )
        self._thread = threading.Thread(target=self._loop, name="shoal-resources", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        if self._thread is None:
            return
        self.bus.unsubscribe(self._token)
        self._token = None
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._thread = None
        self._probe = None
        self.end_time = time.time()

    def _on_event(self, rec) -> None:  # publisher's thread: keep it tiny
        self._buffer.append(rec)
        self._wake.set()

    def _loop(self) -> None:
        cursor = 0
        running: set = set()
        sampling = False
        last = ended = 0.0  # monotonic times the last sample began and ended
        while not self._stopping:
            cursor, records = self._buffer.since(cursor)
            for rec in records:
                if rec.kind == "graph-submitted":
                    running.add(rec.run_id)
                else:
                    running.discard(rec.run_id)
            active = self._blocks > 0 or bool(running)  # (inside a with block: always)
            now = time.monotonic()
            if active and not sampling:  # a start: a fresh probe, CPU counted from now
                last, ended = self._sample(start=True), time.monotonic()
            elif now - last >= (self.dt if active else self.dt / 2) and (active or sampling):
                last, ended = self._sample(), time.monotonic()  # every dt, and at the end
            sampling = active  # (unless the last was just now)
            # every dt from each sample's start, but never back to back (a sample beside a
            # task holding the GIL can take most of dt): a quarter of dt after one ended
            now = time.monotonic()
            self._wake.wait(max(self.dt - (now - last), self.dt / 4 - (now - ended), 0.0)
                            if sampling else None)  # fmt: skip
            self._wake.clear()
        if self._block_ending and time.monotonic() - last >= self.dt / 2:
            self._sample()  # a last sample as the block ends

    def _sample(self, start: bool = False) -> float:
        """Append one sample; returns when it began (``time.monotonic``): the next comes
        ``dt`` after this one began, not after it ended (beside a busy task a sample
        takes tens of ms, which the spacing gained each time), and each is stamped
        with the time it began, so the spacing of the stamps is ``dt``.  This
        process and the process pool's workers, as a local ``Dashboard()`` counts them
        (:class:`~shoal.diagnostics.probe.ProcessProbe`), not every child: listing
        them reads every process's ``/proc`` entry, each read giving the GIL away, which
        a busy task thread keeps for up to 5 ms at a time (a sample took ~0.5 s beside
        a CPU-bound task); nor is every child ours to count.  A *start* has no CPU
        share yet (0)."""
        if start or self._probe is None:
            from shoal.diagnostics.probe import ProcessProbe
            from shoal.processes import helper_pids

            self._probe = ProcessProbe(helpers=helper_pids)
            start = True
        begun, stamp = time.monotonic(), time.time()
        reading = self._probe.sample() or {"memory": 0, "cpu": 0.0}
        self.results.append(ResourceData(stamp, reading["memory"] / 1e6,
                                         0.0 if start else reading["cpu"]))  # fmt: skip
        return begun
