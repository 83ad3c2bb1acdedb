"""The threaded scheduler: batches of tasks run on a shared, reused thread pool.

One ``ThreadPoolExecutor`` per worker count lives for the whole process, so a
compute pays no thread start-up.  Worker threads read inputs straight from the
engine's ``data`` dict (no copies) and put finished batches on a queue that the
calling thread drains.

Interruption: the caller waits on that queue in short slices, so Ctrl-C reaches
it at once; it then sets the run's ``cancelled`` event, which every batch checks
before each task, so pool threads stop taking this run's work right away (a
task already running finishes; Python cannot stop a thread mid-call) and no
thread is left working for a computation nobody waits on.

A compute started *from inside* a pool thread (a task that calls ``compute``)
runs synchronously in that thread instead, so nested computes cannot deadlock
the pool (a user's ``ThreadPoolExecutor`` given as the scheduler included).  One
started from any other thread than the main one gets a pool of its own for that
compute (as Dask gives each calling thread one): a thread that a task started, and then
waited for, found every thread of the shared pool busy with tasks waiting for it.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from shoal import config
from shoal.local import blas
from shoal.local.batch import execute_batch
from shoal.local.runner import run

__all__ = ["get", "default_pool"]

_pools: dict = {}
_pools_lock = threading.Lock()
_local = threading.local()


def _mark_pool_thread():
    _local.in_pool = True


def _pool_size(num_workers) -> int:
    return (num_workers or config.checked(config.count, "num-workers", none=True, minimum=0)
            or os.cpu_count() or 1)  # (the setting is read only when the call names none)


def _new_pool(n: int, name: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(n, thread_name_prefix=name, initializer=_mark_pool_thread)


def default_pool(num_workers: int | None = None) -> ThreadPoolExecutor:
    """The shared pool with *num_workers* threads (created on first use)."""
    n = _pool_size(num_workers)
    with _pools_lock:
        pool = _pools.get(n)
        if pool is None:
            pool = _pools[n] = _new_pool(n, f"shoal-threads-{n}")
    return pool


class ThreadBackend:
    label = "threads"
    hooks = None  # a compute's Callback hooks (runner.py), called in the pool's threads

    def __init__(self, pool: ThreadPoolExecutor, nworkers: int):
        self.pool = pool
        self.nworkers = nworkers
        self.capacity = nworkers
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.cancelled = threading.Event()

    def limits(self, ntasks: int):
        """BLAS held at one thread per core while the compute runs (``blas.py``)."""
        return blas.limited(self.nworkers, ntasks)

    def submit(self, keys, state):
        self.pool.submit(self._work, keys, state.graph, state.data)

    def _work(self, keys, graph, data):
        outer = getattr(_local, "in_pool", False)
        _local.in_pool = True  # also on a user's pool: a nested compute runs inline
        try:
            out = execute_batch(keys, graph, data, self.cancelled, self.hooks)
        except BaseException as exc:  # pragma: no cover - execute_batch catches task errors
            now = time.time()
            out = [(keys[0], False, exc, now, now, threading.get_ident())]
        finally:
            _local.in_pool = outer
        self.done.put(out)

    def wait(self):
        done = self.done
        while True:
            try:
                first = done.get(timeout=0.1)
                break
            except queue.Empty:
                continue
        out = [first]
        while True:
            try:
                out.append(done.get_nowait())
            except queue.Empty:
                return out

    def cancel(self):
        self.cancelled.set()


def get(graph, keys, *, num_workers=None, pool=None, cache=None, **kwargs):
    """Compute *keys* of *graph* on a thread pool; see ``runner.run``.

    ``pool`` may be any ``ThreadPoolExecutor`` (``num_workers`` then defaults to
    its size); by default the shared pool for ``num_workers`` threads is used.
    """
    if getattr(_local, "in_pool", False):
        from shoal.local.sync import get as sync_get

        return sync_get(graph, keys, cache=cache, **kwargs)
    own = None
    if pool is None and threading.current_thread() is not threading.main_thread():
        n = _pool_size(num_workers)  # (a pool of its own: see the module docstring)
        pool = own = _new_pool(n, f"shoal-threads-{n}-own")
    elif pool is None:
        pool = default_pool(num_workers)
    n = num_workers or getattr(pool, "_max_workers", None) or os.cpu_count() or 1
    backend = ThreadBackend(pool, n)
    kwargs.setdefault("batch_size", config.get("local.threads.batch-size", "auto"))
    try:
        return run(backend, graph, keys, cache=cache, label="threads", **kwargs)
    finally:
        if own is not None:
            own.shutdown(wait=False, cancel_futures=True)  # (its running batches see
                                                           # the run cancelled and end)
