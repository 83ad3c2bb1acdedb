"""One compute's Dask-style callbacks (:class:`shoal.callbacks.Callback`): the driver.

::

    runner.run
      Callback.active / callbacks=  --> RunHooks (only when some are: else None)
      RunHooks.start()              --> _start(dsk), then _start_state(dsk, state)
      sync / threads:  batch.execute_batch(..., hooks) --> pre(key) / post(key, value, thread)
                       in the thread that runs the task
      processes, executor: runner --> pre_many(keys) at hand-off,
                           post_outcomes(outcomes) as results arrive
      RunHooks.finish(errored)      --> _finish(dsk, state, errored); later calls do nothing

``state`` is a dict in Dask's shape made once per compute: the engine's live
``data`` and ``waiting`` dicts, a read-only view of its ready heap, and
``running`` / ``finished`` sets kept here.  Every hook call holds this run's
lock, so user hooks never run two at once (Dask calls them from one thread),
and ``closed`` (set under it by :meth:`RunHooks.finish`) keeps a pool thread
still finishing a task of a failed compute from calling anything afterwards.
Literals (``Data`` nodes) get no pre/post calls, as in Dask.
"""

from __future__ import annotations

import threading

from shoal.callbacks import inside
from shoal.core.spec import Data

__all__ = ["RunHooks"]


class ReadyKeys:
    """A read-only view of the engine's ready heap of ``(priority, key)``: the keys."""

    __slots__ = ("_heap",)

    def __init__(self, heap: list):
        self._heap = heap

    def __len__(self) -> int:
        return len(self._heap)

    def __iter__(self):
        return iter([key for _, key in sorted(self._heap)])

    def __contains__(self, key) -> bool:
        return any(k == key for _, k in list(self._heap))

    def __repr__(self) -> str:
        return f"ReadyKeys({list(self)!r})"


def dask_state(engine) -> dict:
    """The ``state`` dict the hooks receive, built from a ``LocalState``."""
    graph = engine.graph
    return {
        "cache": engine.data,
        "waiting": engine.waiting,
        "ready": ReadyKeys(engine.ready),
        "running": set(),
        "finished": set(),
        "dependencies": {k: set(node.dependencies) for k, node in graph.items()},
        "dependents": {k: set(v) for k, v in engine.dependents.items()},
    }


class RunHooks:
    """The hooks of one compute; see the module docstring."""

    __slots__ = ("callbacks", "dsk", "state", "started", "closed", "_lock", "_pre", "_post")

    def __init__(self, callbacks: list, engine):
        self.callbacks = callbacks
        self.dsk = engine.graph
        self.state = dask_state(engine)
        self.started: list = []
        self.closed = False
        self._lock = threading.Lock()
        self._pre = [cb[2] for cb in callbacks if cb[2] is not None]
        self._post = [cb[3] for cb in callbacks if cb[3] is not None]

    def start(self) -> None:
        """``_start`` of each callback, then each ``_start_state``."""
        with self._lock, inside:
            for cb in self.callbacks:
                if cb[0] is not None:
                    cb[0](self.dsk)
                self.started.append(cb)
            for cb in self.callbacks:
                if cb[1] is not None:
                    cb[1](self.dsk, self.state)

    def pre(self, key) -> None:
        if type(self.dsk.get(key)) is Data:
            return
        with self._lock, inside:
            if self.closed:
                return
            self.state["running"].add(key)
            for f in self._pre:
                f(key, self.dsk, self.state)

    def post(self, key, value, worker_id) -> None:
        if type(self.dsk.get(key)) is Data:
            return
        with self._lock, inside:
            if self.closed:
                return
            state = self.state
            state["running"].discard(key)
            state["finished"].add(key)
            for f in self._post:
                f(key, value, self.dsk, state, worker_id)

    def run(self, key, node, data, worker_id):
        """*node* run between :meth:`pre` and :meth:`post` (a compute it starts: ``inside``)."""
        self.pre(key)
        with inside:
            value = node(data)
        self.post(key, value, worker_id)
        return value

    def pre_many(self, keys) -> None:
        for key in keys:
            self.pre(key)

    def post_outcomes(self, outcomes) -> None:
        for key, ok, value, _, _, worker_id in outcomes:
            if ok:
                self.post(key, value, worker_id)

    def finish(self, errored: bool) -> None:
        """``_finish`` of each started callback, once; nothing is called afterwards."""
        with self._lock, inside:
            if self.closed:
                return
            self.closed = True
            for cb in self.started:
                if cb[4] is not None:
                    cb[4](self.dsk, self.state, errored)
