"""The process-pool scheduler: batches of tasks run in reused worker processes.

The engine loop is the same as for threads (``runner.py``); this backend only
moves batches across process boundaries:

- it ships each batch's nodes and *only the inputs those tasks need*, pickled
  once per batch with cloudpickle (lambdas, closures and ``__main__`` functions
  travel by value),
- each result comes back once, pickled in the worker, and is unpickled here one
  key at a time so a failure names its key,
- errors keep their type, message and the worker's traceback
  (``remote_errors.py``), a dead worker raises
  :class:`~shoal.local.pool.WorkerProcessDied` with its exit code or signal
  (``pool.py``), and either way the workers still busy with the failed compute
  are terminated, so nothing keeps running for a computation nobody waits on.

The pool itself lives across computes (``pool.get_pool``): the first compute
starts the workers, later ones reuse them.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Mapping

import cloudpickle

from shoal.core.keys import check_portable_keys
from shoal import config
from shoal.local import _worker
from shoal.local.pool import get_pool, live_config, where_now
from shoal.local.remote_errors import add_note, unpack_exception
from shoal.local.runner import run

__all__ = ["get"]


_local = threading.local()  # running: this thread is in a processes run (see get)


def _dumps_batch(keys, nodes, inputs) -> bytes:
    try:
        return cloudpickle.dumps((nodes, inputs), protocol=5)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        key = _culprit(keys, nodes, inputs)
        raise add_note(exc, key, "pickle-task")


def _culprit(keys, nodes, inputs):
    """Find which task (or input) of a batch fails to pickle."""
    for key, node in zip(keys, nodes):
        for dep in node.dependencies:
            try:
                cloudpickle.dumps(inputs[dep])
            except BaseException:  # noqa: BLE001
                return dep
        try:
            cloudpickle.dumps(node)
        except BaseException:  # noqa: BLE001
            return key
    return keys[0]


class ProcessBackend:
    label = "processes"

    def __init__(self, pool):
        self.pool = pool
        self.nworkers = pool.n
        self.capacity = pool.n
        self.config_blob = live_config()
        self.where = where_now()

    def submit(self, keys, state):
        graph, data = state.graph, state.data
        nodes = [graph[k] for k in keys]
        inputs = {}
        for node in nodes:
            for d in node.dependencies:
                inputs[d] = data[d]
        blob = _dumps_batch(keys, nodes, inputs)
        self.pool.start()
        worker = self.pool.idle()
        self.pool.submit(worker, keys, blob, self.config_blob, self.where)

    def wait(self):
        return [self._decode(outcomes) for outcomes in self.pool.wait()]

    @staticmethod
    def _decode(outcomes) -> list:
        out = []
        for key, ok, payload, start, stop, pid in outcomes:
            if ok:
                try:
                    value = pickle.loads(payload)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - reported for this key
                    ok, value = False, add_note(exc, key, "unpickle-result")
            else:
                value = unpack_exception(payload, key)
            out.append((key, ok, value, start, stop, pid))
        return out

    def cancel(self):
        self.pool.kill_busy()


def get(graph, keys, *, num_workers=None, cache=None, **kwargs):
    """Compute *keys* of *graph* on the shared process pool; see ``runner.run``.

    A compute started by a task in a pool worker runs on threads there (a pool of
    processes in every worker multiplied them at each level), and one started in the
    middle of this thread's own run (an inline ``getitem`` whose ``__getitem__``
    computes: the pool is this run's) runs synchronously; it waited for the pool's lock
    it held, for good."""
    if _worker.IN_WORKER:
        from shoal.local.threads import get as threads_get

        return threads_get(graph, keys, num_workers=num_workers, cache=cache, **kwargs)
    if getattr(_local, "running", False):
        from shoal.local.sync import get as sync_get

        return sync_get(graph, keys, cache=cache, **kwargs)
    n = num_workers or config.checked(config.count, "num-workers", none=True, minimum=0) or (
        os.cpu_count() or 1)  # (a bad num-workers: a ValueError naming it)
    pool = get_pool(n)
    kwargs.setdefault("batch_size", config.get("local.processes.batch-size", "auto"))
    if isinstance(graph, Mapping):  # (an object with __dask_graph__: the runner reads it)
        check_portable_keys(graph, "processes", wire=False)  # (a NaN named no task there)
    with pool.run_lock:
        pool.kill_busy()  # (left busy by a run whose cleanup a second Ctrl-C cut short)
        backend = ProcessBackend(pool)
        _local.running = True
        try:
            return run(backend, graph, keys, cache=cache, label="processes", target=0.02,
                       **kwargs)  # fmt: skip
        finally:
            _local.running = False

