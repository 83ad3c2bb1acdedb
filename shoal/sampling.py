"""Where the local schedulers find the profiler that samples their tasks, if any.

::

    shoal.diagnostics.Dashboard  set_profiler(Sampler)   while it is open (profiling on)
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

__all__ = ["profiler", "set_profiler"]

#: the Sampler the local batches register with; None: no sampling
profiler = None


def set_profiler(sampler) -> object:
    """Sample the local schedulers' tasks with *sampler* (None: stop); the one before."""
    global profiler
    before, profiler = profiler, sampler
    return before
