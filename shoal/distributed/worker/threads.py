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
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Job", "Outcome", "TaskThreads", "Reschedule"]


class Reschedule(Exception):
    """Raise inside a task to hand it back to the scheduler (it is placed again)."""


@dataclass(slots=True)
class Job:
    key: Any
    run_id: int
    spec: Callable  # called with the dict of input values
    values: dict


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


class TaskThreads:
    """``nthreads`` threads running :class:`Job` s; outcomes go to ``on_done`` on the loop."""

    def __init__(self, nthreads: int, on_done: Callable[[list], None], name: str = "shoal-worker",
                 profiler=None, clock=time.time) -> None:  # fmt: skip
        self.nthreads = nthreads
        self.clock = clock  # stamps the tasks' start and stop (the scheduler's, on a worker)
        self.on_done = on_done
        self.profiler = profiler
        self.name = name
        self.threads: list[threading.Thread] = []
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._done: collections.deque = collections.deque()
        self._pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    def start(self) -> None:
        """Start the threads; deliveries go to the running loop (call from it)."""
        self._loop = asyncio.get_running_loop()
        for i in range(self.nthreads):
            t = threading.Thread(target=self._work, name=f"{self.name}_{i}", daemon=True)
            t.start()
            self.threads.append(t)

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
        ident = threading.get_ident()
        while True:
            job = jobs.get()
            if job is None or self._stopped:
                return
            done.append(_run(job, ident, profiler, clock))
            if not self._pending:
                self._pending = True
                try:
                    self._loop.call_soon_threadsafe(self._deliver)
                except RuntimeError:  # the loop has closed: nobody is waiting any more
                    return

    # --- loop thread ----------------------------------------------------------------

    def _deliver(self) -> None:
        self._pending = False
        done = self._done
        outcomes = [done.popleft() for _ in range(len(done))]
        if outcomes:
            self.on_done(outcomes)


def _run(job: Job, thread: int, profiler, clock=time.time) -> Outcome:
    """Run one job on this task thread.

    With a profiler, the thread is sampled while the task runs; stacks stop at
    this frame (see :mod:`shoal.diagnostics.sampler`).
    """
    if profiler is not None:
        profiler.task_started(thread, job.key)
    start, began = clock(), time.perf_counter()  # (the duration on a local clock: clock.py)
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
