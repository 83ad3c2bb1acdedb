"""Any ``concurrent.futures.Executor`` as a scheduler: ``compute(scheduler=pool)``.

A ``ThreadPoolExecutor`` goes to the threads scheduler (batches read the engine's
data directly).  Any other executor (``ProcessPoolExecutor``, loky, an
ipyparallel view...) may run work elsewhere, so each batch travels as
cloudpickled bytes with only the inputs it needs, and comes back as plain
outcomes; errors keep their type, message and remote traceback as in the
process pool.
"""

from __future__ import annotations

import functools
import os
import queue
from concurrent.futures import ThreadPoolExecutor

import cloudpickle

from shoal.local.processes import ProcessBackend
from shoal.local.remote_errors import add_note
from shoal.local.runner import run

__all__ = ["getter"]


def _run_pickled(keys, blob):
    """Runs on the executor's worker: unpickle, run, pickle outcomes."""
    from shoal.local._worker import _run

    return _run(keys, blob, os.getpid())


class ExecutorBackend:
    label = "executor"

    def __init__(self, executor, nworkers):
        self.executor = executor
        self.nworkers = nworkers
        self.capacity = 2 * nworkers
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.futures: dict = {}  # future -> keys of its batch

    def submit(self, keys, state):
        graph, data = state.graph, state.data
        nodes = [graph[k] for k in keys]
        inputs = {d: data[d] for n in nodes for d in n.dependencies}
        blob = cloudpickle.dumps((nodes, inputs), protocol=5)
        fut = self.executor.submit(_run_pickled, keys, blob)
        self.futures[fut] = keys
        fut.add_done_callback(self.done.put)

    def wait(self):
        out = []
        while True:
            try:
                fut = self.done.get(timeout=0.1 if not out else 0)
            except queue.Empty:
                if out:
                    return out
                continue
            keys = self.futures.pop(fut)
            try:
                outcomes = fut.result()
            except BaseException as exc:  # the executor itself failed (e.g. BrokenProcessPool)
                raise add_note(exc, keys[0] if len(keys) == 1 else keys, "executor") from None
            out.append(self._decode(outcomes))

    # same outcomes as the process pool's: a result that fails to unpickle here
    # becomes that key's error, noted with the key and the stage
    _decode = staticmethod(ProcessBackend._decode)

    def cancel(self):
        for fut in self.futures:
            fut.cancel()


def _executor_get(graph, keys, *, executor, num_workers=None, cache=None, **kwargs):
    n = num_workers or getattr(executor, "_max_workers", None) or os.cpu_count() or 1
    backend = ExecutorBackend(executor, n)
    return run(backend, graph, keys, cache=cache, label="executor", target=0.02, **kwargs)


def getter(executor):
    """A ``get(graph, keys)`` running on *executor*."""
    if isinstance(executor, ThreadPoolExecutor):
        from shoal.local.threads import get as threads_get

        return functools.partial(threads_get, pool=executor)
    return functools.partial(_executor_get, executor=executor)
