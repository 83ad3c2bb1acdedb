"""What a worker answers about itself for ``Client.call_stack`` and
``Client.dump_cluster_state``: a mixin of
:class:`~shoal.distributed.worker.server.Worker`.

``call_stack(keys)``: the stack of each task running here (of ``keys`` only,
unless None), outermost frame first, each frame as the two lines a traceback
shows (``  File "f.py", line 3, in g`` and the source line), as Dask's.  The
frames come from the worker's sampler (:meth:`shoal.diagnostics.sampler.Sampler.stacks`),
which reads another thread's frames without ``sys._current_frames()`` and its
Python 3.11 deadlock, and cuts each stack at the worker's own frames.  With
``distributed.worker.profile.enabled: false`` the task threads still register with
a sampler that never samples (``TaskThreads.profiler``), so the stacks are answered.

``dump_state(exclude)``: this worker's state as plain data
(:mod:`shoal.distributed.clusterdump`): identity, its tasks' records, what it
holds, runs and fetches, its transition log and its versions.
"""

from __future__ import annotations

import linecache

from shoal.distributed import clusterdump, versions
from shoal.distributed.taskcolumns import key_from_wire

__all__ = ["AnswersIntrospection", "format_stack"]


class AnswersIntrospection:
    """A worker's introspection rpc handlers; see the module docstring."""

    def introspection_handlers(self) -> dict:
        return {"call_stack": self.call_stack, "dump_state": self.dump_state}

    def call_stack(self, comm=None, keys=None) -> dict:
        if self.threads is None or self.state is None:
            return {}
        running = {ts.key for ts in (*self.state.executing, *self.state.long_running)}
        if keys is not None:
            running &= {key_from_wire(k) for k in keys}
        if not running:
            return {}
        stacks = self.threads.profiler.stacks(running)  # (a sampler even with profiling off)
        return {key: format_stack(rows) for key, rows in stacks.items()}

    def dump_state(self, comm=None, exclude=clusterdump.DEFAULT_EXCLUDE) -> dict:
        exclude, state = tuple(exclude or ()), self.state
        plain, record = clusterdump.plain, clusterdump.record
        out = {"type": "Worker", "id": self.id, "address": self.address, "name": self.name,
               "status": self.status, "nthreads": self.nthreads,
               "memory_limit": self.memory_limit, "scheduler": self.scheduler_address,
               "versions": versions.versions()}  # fmt: skip
        if state is None:  # (not started)
            return plain(out, exclude)
        return plain(out, exclude) | {
            "tasks": {clusterdump.label(k): record(ts, exclude) for k, ts in state.tasks.items()},
            "data": plain(list(self.data or ())), "executing": plain(state.executing),
            "long_running": plain(state.long_running), "ready": plain(list(state.ready)),
            "in_flight_tasks": plain(state.in_flight_tasks), "missing": plain(state.missing),
            "nbytes_in_memory": state.nbytes_in_memory, "paused": state.paused,
            "log": plain(list(state.log), exclude),
        }  # fmt: skip


def format_stack(rows) -> list:
    """``[(filename, line number, function), ...]`` as traceback lines, one per frame."""
    return [f'  File "{filename}", line {lineno}, in {name}\n\t'
            f"{linecache.getline(filename, lineno or 0).strip()}"
            for filename, lineno, name in rows]  # fmt: skip
