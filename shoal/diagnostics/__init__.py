"""Diagnostics for the local schedulers: progress bar, task and resource profiles.

The tools a user opens here (``ProgressBar``, the profilers, ``Dashboard``) are
consumers of the event bus (:mod:`shoal.events`): the schedulers publish
``GraphSubmitted`` / ``TaskTransition`` / ``ComputationFinished`` records and
these tools subscribe, so an observer can never reach into, or slow down, a
scheduler's state.  For Dask users' own tools, :class:`Callback` (also
``shoal.callbacks.Callback``) keeps Dask's five local-scheduler hooks
(``_start``, ``_start_state``, ``_pretask``, ``_posttask``, ``_finish``); the
engine calls them only while one is active (see :mod:`shoal.callbacks`).  Each tool works as a context manager, or
globally with ``.register()`` / ``.unregister()``::

    from shoal.diagnostics import CacheProfiler, ProgressBar, Profiler, ResourceProfiler

    with ProgressBar(), Profiler() as prof, ResourceProfiler(dt=0.25) as rprof, \
            CacheProfiler() as cprof:
        threads.get(graph, keys)
    prof.results      # [TaskData(key, task_prefix, start_time, end_time, worker_id), ...]
    rprof.results     # [ResourceData(time, mem, cpu), ...]  (MB, % of a core)
    cprof.results     # [CacheData(key, task_prefix, metric, cache_time, free_time), ...]
    visualize([prof, rprof, cprof])   # Bokeh plots on one time axis (profile.html outside a notebook)

``Dashboard()`` serves the live Bokeh dashboard (task stream, progress,
memory, ...) of the computations inside it, from a process of its own; see
:mod:`shoal.diagnostics.dashboard`.

The package also holds what those tools and the distributed ones share: the
worker profiler (``sampler``, ``calltree``), colours, links and HTTPS settings,
the process probe, ``performance_report``'s figures (``report``) and notebook
output (``notebook``).
"""

from shoal.callbacks import Callback
from shoal.diagnostics.dashboard import Dashboard
from shoal.diagnostics.profile import (CacheData, CacheProfiler, Profiler, ResourceData,
                                      ResourceProfiler, TaskData)  # fmt: skip
from shoal.diagnostics.progress import ProgressBar
from shoal.diagnostics.visualize import visualize

__all__ = ["CacheData", "CacheProfiler", "Callback", "Dashboard", "ProgressBar", "Profiler", "ResourceData",
           "ResourceProfiler", "TaskData", "visualize"]  # fmt: skip
