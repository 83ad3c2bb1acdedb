"""The synchronous scheduler: every task runs in the caller's thread, in order.

Useful for debugging (``pdb`` and profilers see the task's own frames) and as
the lowest-overhead scheduler for small graphs.  It is the engine loop with a
backend that runs each batch immediately, inline.
"""

from __future__ import annotations

from shoal.local.batch import execute_batch
from shoal.local.runner import run

__all__ = ["get"]


class SyncBackend:
    nworkers = 1
    capacity = 1
    ordered = True  # batches follow the static order exactly (see runner.py)
    label = "sync"
    hooks = None  # a compute's Callback hooks (runner.py), called in this thread

    def __init__(self):
        self._done = []

    def submit(self, keys, state):
        self._done.append(execute_batch(keys, state.graph, state.data, None, self.hooks))

    def wait(self):
        done, self._done = self._done, []
        return done

    def cancel(self):
        self._done = []


def get(graph, keys, *, cache=None, **kwargs):
    """Compute *keys* of *graph* in this thread; see ``shoal.local.runner.run``."""
    kwargs.pop("num_workers", None)
    return run(SyncBackend(), graph, keys, cache=cache, label="sync", target=0.002, **kwargs)
