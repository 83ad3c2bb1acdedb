"""TaskThreads: the worker's task threads, made for bursts of short tasks.

::

    event loop thread                              task threads (nthreads)
    -----------------                              -----------------------
    submit(Job) ──> SimpleQueue ─────────────────> run it, time it (profiler registered)
                                                   append an Outcome to `done`
    on_done([Outcome, ...]) <── call_soon_threadsafe, only when no delivery is pending

``loop.run_in_executor`` costs a concurrent future, an asyncio future, a task
and a loop wake-up per task.  Here a finished task is appended to a deque and
the loop is woken only if no delivery is already on its way, so whatever
finished meanwhile reaches the worker's state machine together: one step, one
write to the scheduler.  When the state machine queues short tasks beyond the
number of threads (see ``WorkerState._ensure_computing``), a thread that
finishes one takes the next from the queue without waiting for the loop.

Task code never runs on the loop thread, and the loop never waits for a task.
The hand-over is race-free under the GIL: a thread appends its outcome before
it reads the ``_pending`` flag, and the loop clears the flag before it empties
the deque, so an outcome is either taken by the delivery in progress or
schedules the next one.

A task may *secede* (:meth:`TaskThreads.secede`, from ``secede()`` or a client
call that waits, see :mod:`.context`): its thread leaves the pool and a new
thread takes its place, so a task that waits on other tasks does not hold one of
the ``nthreads`` slots.  The seceded thread ends with its task, or *rejoins*:
it queues a ticket, and the pool thread that takes the ticket ends, handing its
slot over, so that never more than ``nthreads`` pool threads run tasks.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Job", "Outcome", "TaskThreads", "Reschedule", "current"]

#: per task thread: ``pool`` (its TaskThreads) and ``job`` (the Job it runs; None between)
_local = threading.local()


class Reschedule(Exception):
    """Raise inside a task to hand it back to the scheduler (it is placed again)."""


@dataclass(slots=True)
class Job:
    key: Any
    run_id: int
    spec: Callable  # called with the dict of input values
    values: dict
    began: float = 0.0  # perf_counter() when it started (for a secede's compute time)


@dataclass(slots=True)
class Outcome:
    """How a job ended: ``kind`` is "ok" (``value``), "failed" (``exc``) or "reschedule"."""

    key: Any
    run_id: int
    kind: str
    start: float | None = None
    stop: float | None = None
    thread: int | None = None
    value: Any = None
    exc: BaseException | None = None


class _Rejoin:
    """A ticket in the job queue: the pool thread that takes it hands its slot to a
    seceded thread (``event``) and ends."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()


class TaskThreads:
    """``nthreads`` threads running :class:`Job` s; outcomes go to ``on_done`` on the loop.

    ``on_secede(key, run_id, seconds)`` is called on the loop when a task's thread
    secedes; ``owner`` (the worker) is what ``get_worker()`` returns in its tasks.
    """

    def __init__(self, nthreads: int, on_done: Callable[[list], None], name: str = "shoal-worker",
                 profiler=None, clock=time.time, on_secede=None, owner=None) -> None:  # fmt: skip
        self.nthreads = nthreads
        self.clock = clock  # stamps the tasks' start and stop (the scheduler's, on a worker)
        self.on_done = on_done
        self.on_secede = on_secede
        self.owner = owner
        self.profiler = profiler
        self.name = name
        self.threads: list[threading.Thread] = []  # pool threads, seceded ones, and ended ones
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._done: collections.deque = collections.deque()
        self._pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False
        self._seceded: set[int] = set()  # idents of the threads out of the pool
        self._numbers = itertools.count()
        self._lock = threading.Lock()  # (threads are added from task threads too)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The worker's loop (None before :meth:`start`)."""
        return self._loop

    def start(self) -> None:
        """Start the threads; deliveries go to the running loop (call from it)."""
        self._loop = asyncio.get_running_loop()
        for _ in range(self.nthreads):
            self._add_thread()

    def _add_thread(self) -> None:
        with self._lock:
            self.threads = [t for t in self.threads if t.is_alive()]
            t = threading.Thread(target=self._work, name=f"{self.name}_{next(self._numbers)}",
                                 daemon=True)  # fmt: skip
            t.start()
            self.threads.append(t)

    def secede(self) -> bool:
        """On a task thread: leave the pool (a new thread takes this one's place) until
        :meth:`rejoin` or the task's end.  False when it had left already."""
        ident = threading.get_ident()
        if ident in self._seceded or self._stopped:
            return False
        job = _local.job
        self._seceded.add(ident)
        self._add_thread()
        took = time.perf_counter() - job.began
        if self.on_secede is not None:
            try:
                self._loop.call_soon_threadsafe(self.on_secede, job.key, job.run_id, took)
            except RuntimeError:  # the loop has closed
                pass
        return True

    def rejoin(self) -> None:
        """On a seceded task thread: wait for a pool thread's slot and take it.  While
        the threads stop, it returns at once, and the thread ends with its task."""
        ident = threading.get_ident()
        if ident not in self._seceded:
            return
        ticket = _Rejoin()
        self._jobs.put(ticket)
        while not ticket.event.wait(0.1):
            if self._stopped:
                return
        self._seceded.discard(ident)

    def submit(self, job: Job) -> None:
        if self._stopped:
            raise RuntimeError("the worker's task threads have stopped")
        self._jobs.put(job)

    def stop(self) -> None:
        """Let each thread finish the task it runs, then end; queued jobs are dropped."""
        self._stopped = True
        for _ in self.threads:
            self._jobs.put(None)

    # --- task threads ---------------------------------------------------------------

    def _work(self) -> None:
        jobs, done, profiler, clock = self._jobs, self._done, self.profiler, self.clock
        seceded, local = self._seceded, _local
        ident = threading.get_ident()
        local.pool = self
        while True:
            job = jobs.get()
            if type(job) is not Job or self._stopped:
                if type(job) is _Rejoin:  # a seceded thread takes this one's place
                    job.event.set()
                return
            local.job = job
            done.append(_run(job, ident, profiler, clock))
            local.job = job = None  # (an idle thread held the last task's inputs alive)
            if not self._pending:
                self._pending = True
                try:
                    self._loop.call_soon_threadsafe(self._deliver)
                except RuntimeError:  # the loop has closed: nobody is waiting any more
                    return
            if seceded and ident in seceded:  # it left the pool while the task ran: it ends
                seceded.discard(ident)
                return

    # --- loop thread ----------------------------------------------------------------

    def _deliver(self) -> None:
        self._pending = False
        done = self._done
        outcomes = [done.popleft() for _ in range(len(done))]
        if outcomes:
            self.on_done(outcomes)


def current() -> tuple[TaskThreads, Job] | None:
    """``(pool, job)`` on a thread while it runs a worker's task, else None."""
    job = getattr(_local, "job", None)
    if job is None:
        return None
    return _local.pool, job


def _run(job: Job, thread: int, profiler, clock=time.time) -> Outcome:
    """Run one job on this task thread.

    With a profiler, the thread is sampled while the task runs; stacks stop at
    this frame (see :mod:`shoal.diagnostics.sampler`).
    """
    if profiler is not None:
        profiler.task_started(thread, job.key)
    start, began = clock(), time.perf_counter()  # (the duration on a local clock: clock.py)
    job.began = began
    try:
        value = job.spec(job.values)
    except Reschedule:
        return Outcome(job.key, job.run_id, "reschedule")
    except BaseException as exc:  # noqa: BLE001 - every failure is the task's result
        stop = start + (time.perf_counter() - began)
        return Outcome(job.key, job.run_id, "failed", start, stop, thread, exc=exc)
    finally:
        if profiler is not None:
            profiler.task_finished(thread)
    return Outcome(job.key, job.run_id, "ok", start, start + (time.perf_counter() - began), thread,
                   value=value)  # fmt: skip
