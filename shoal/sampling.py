"""Where the local schedulers find the profiler that samples their tasks, if any.

::

    shoal.diagnostics.Dashboard  acquire(make) / release()   while it is open (profiling
                                                         on): one Sampler, shared
    shoal.local.batch            profiler                read once per batch: when set,
                                                         each task's thread registers
                                                         with it while the task runs

A local ``Dashboard()`` shows a profile of the sync and threads schedulers' tasks:
the threads that run them are sampled like a distributed worker's
(:class:`shoal.diagnostics.sampler.Sampler`).  The local engine and the dashboard
are siblings that must not know each other (docs/architecture.md, layers), so the
one that samples is handed over here, one layer below both.  Nothing is sampled,
and a batch pays one attribute read, while no dashboard is open.  A process pool's
workers are other processes: their tasks are not sampled.
"""

from __future__ import annotations

import threading

__all__ = ["acquire", "profiler", "release", "set_profiler"]

#: the Sampler the local batches register with; None: no sampling
profiler = None
_users = 0  # open dashboards sharing it (acquire / release)
#: dashboards open and close from any thread: the check-and-make of acquire() and the
#: count of release() happen under it (two at once made two samplers, one left running)
_lock = threading.Lock()


def set_profiler(sampler) -> object:
    """Sample the local schedulers' tasks with *sampler* (None: stop); the one before."""
    global profiler
    before, profiler = profiler, sampler
    return before


def acquire(make):
    """The shared profiler, made by ``make()`` (a started sampler) for the first user."""
    global _users
    with _lock:
        if profiler is None:
            set_profiler(make())
            _users = 0
        _users += 1
        return profiler


def release():
    """One user less; the profiler to stop when that was the last (else None)."""
    global _users
    with _lock:
        _users -= 1
        if _users > 0:
            return None
        _users = 0
        return set_profiler(None)
