"""What a process uses: CPU, memory and open files, read with psutil, as event records.

::

    ProcessProbe().sample()                 -> {"time", "cpu", "memory", "num_fds"} | None
    ProcessProbe(helpers=f).sample()        -> the same, the process and those f() names
    Monitor(bus, interval).start() / .stop()   a thread publishing, every interval:
        SystemMetrics  (kind "system"): this process        -> the dashboard's /system
        WorkerMetrics  for LOCAL_WORKER: this process and its helpers (a process
                                         pool's workers: ``shoal.processes``; not the
                                         dashboard's process, nor any other child)
                                         -> the memory and CPU panes

A distributed scheduler publishes ``SystemMetrics`` of its own process (see
``Scheduler``); the local schedulers have no workers that report, so while a
``shoal.diagnostics.Dashboard`` is open, a :class:`Monitor` reports the user's
process as the one "worker" of the local schedulers: its memory bars and CPU
then show what a computation takes, as they do for a cluster's workers.  The
dashboard process never samples itself in their place: its own CPU is not the
scheduler's.

CPU is in percent of one core since the previous sample: for this process from its
own CPU clock (``time.process_time``, nanoseconds), for others psutil's
``cpu_percent(None)`` (CPU time in 10 ms ticks: over a 100 ms window a reading is
off by up to 20 points either way; its first reading is 0).  A helper that exits
between two samples is dropped; one that appears is counted from its second sample on.
"""

from __future__ import annotations

import os
import threading
import time

from shoal.events import SystemMetrics, WorkerAdded, WorkerMetrics
from shoal.processes import helper_pids

__all__ = ["LOCAL_WORKER", "CpuClock", "Monitor", "ProcessProbe"]

#: The address the local schedulers' process is reported under (``WorkerMetrics.worker``).
LOCAL_WORKER = "local"


class CpuClock:
    """This process's CPU share (percent of one core) since the previous reading, from
    its own CPU clock (``time.process_time``, nanoseconds, not psutil's 10 ms ticks);
    0 for a window under a millisecond (a clock just made: as psutil's first reading)."""

    __slots__ = ("_last",)

    def __init__(self):
        self._last = (time.process_time(), time.monotonic())

    def percent(self) -> float:
        (cpu0, wall0), (cpu1, wall1) = self._last, (time.process_time(), time.monotonic())
        if wall1 - wall0 < 1e-3:
            return 0.0
        self._last = (cpu1, wall1)
        return 100.0 * (cpu1 - cpu0) / (wall1 - wall0)


class ProcessProbe:
    """Samples one process (this one by default), with the processes *helpers()*
    names at each sample (PIDs) if given."""

    def __init__(self, pid: int | None = None, helpers=None):
        import psutil

        self._psutil = psutil
        self.process = psutil.Process(pid)
        self.helpers = helpers
        self._known: dict = {}  # pid -> psutil.Process of a helper (its CPU needs two samples)
        # this process: its own clock; another: psutil's, whose first reading is 0
        self._clock = CpuClock() if pid is None or pid == os.getpid() else None
        if self._clock is None:
            self.process.cpu_percent(None)  # start that clock now

    def sample(self) -> dict | None:
        """``{"time", "cpu", "memory", "num_fds"}``; None once the process is gone."""
        psutil = self._psutil
        try:
            with self.process.oneshot():
                cpu = (self._clock.percent() if self._clock is not None
                       else self.process.cpu_percent(None))  # fmt: skip
                memory = self.process.memory_info().rss
                fds = self.process.num_fds() if hasattr(self.process, "num_fds") else 0
        except psutil.Error:
            return None
        known, self._known = self._known, {}
        for pid in self.helpers() if self.helpers is not None else ():
            try:
                kid = known.get(pid) or psutil.Process(pid)
                with kid.oneshot():
                    cpu += kid.cpu_percent(None)
                    memory += kid.memory_info().rss
            except psutil.Error:
                continue
            self._known[kid.pid] = kid
        return {"time": time.time(), "cpu": cpu, "memory": memory, "num_fds": fds}


class Monitor:
    """A thread that publishes this process's metrics on *bus* every *interval* s
    (see the module docstring); ``start()`` / ``stop()`` (joins the thread)."""

    def __init__(self, bus, interval: float = 0.5, helpers=helper_pids, profiler=None):
        self.bus, self.interval, self.helpers = bus, interval, helpers
        self.profiler = profiler  # a Sampler whose recent trees go with each WorkerMetrics
        self.memory_limit = 0  # the machine's memory, read at start()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Monitor:
        import psutil

        self.memory_limit = psutil.virtual_memory().total
        self.bus.publish(WorkerAdded(LOCAL_WORKER, os.cpu_count() or 1, self.memory_limit,
                                     "this process", time.time()))  # fmt: skip
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="shoal-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        own, family = ProcessProbe(), ProcessProbe(helpers=self.helpers)
        bus = self.bus
        while not self._stop.wait(self.interval):
            if not (bus.wants(SystemMetrics.kind) or bus.wants(WorkerMetrics.kind)):
                continue  # nobody listens (yet): no sampling
            system, total = own.sample(), family.sample()
            if system is not None:
                bus.publish(SystemMetrics(**system))
            if total is not None:  # (the trees wait for a sample that goes out)
                profile = self.profiler.take_recent() if self.profiler is not None else ()
                bus.publish(WorkerMetrics(LOCAL_WORKER, total["time"], unmanaged=total["memory"],
                                          memory_limit=self.memory_limit, cpu=total["cpu"],
                                          profile=profile))  # fmt: skip
