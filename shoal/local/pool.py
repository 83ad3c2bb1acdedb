"""A reusable pool of worker processes that tells you how a worker died.

::

    parent (engine thread)                       worker process (python -m shoal.local._worker)
    ---------------------                        -----------------------------------------------
    submit(keys, blob) --- task pipe ----------> recv -> loads -> run batch -> dumps outcomes
    wait()  <------------- result pipe --------- send ("done", outcomes)
      EOF on the result pipe  ==  the worker died: exit code / signal from Popen

Why not ``multiprocessing`` or ``ProcessPoolExecutor``: workers here are plain
``subprocess`` children running a module of ours, so

- nothing re-imports the user's ``__main__`` (scripts without an
  ``if __name__ == "__main__"`` guard and notebooks work; functions defined in
  ``__main__`` travel by value through cloudpickle),
- a dead worker is noticed exactly (its result pipe hits EOF) and reported with
  its exit code or signal, naming the keys it was running, and only that worker
  is replaced -- the pool, and the next compute, carry on (a worker killed while
  idle is replaced quietly before the next batch: no task was lost),
- workers live in their own session, so Ctrl-C in the terminal reaches only the
  parent, which then terminates the workers busy with the interrupted compute.

Workers start with the parent's ``sys.path``, working directory and live shoal
config (``SHOAL_INTERNAL_INHERIT_CONFIG``); later changes to any of them (a
notebook that adds a source folder to ``sys.path`` or changes directory after
the first compute) are sent before the next batch.  ``PYTHONHASHSEED`` is fixed
so ``hash()`` of strings agrees across workers.  One computation uses a pool at
a time (``run_lock``).
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
from multiprocessing.connection import Connection, wait

from shoal import config, processes
from shoal.core.keys import key_str
from shoal.local.remote_errors import describe_exit
from shoal.local import blas

__all__ = ["ProcessPool", "WorkerProcessDied", "get_pool", "live_config", "where_now"]

HASH_SEED = "2718"


def where_now() -> tuple:
    """``(sys.path, working directory)`` of this process, as workers receive them."""
    return list(sys.path), os.getcwd()


def live_config() -> str:
    """The live config as workers receive it: serialized, JSON-safe values only.

    Values JSON cannot carry (a ``get`` function or an Executor set as
    ``scheduler``, any custom object) are left out rather than failing the compute.
    """
    return config.config_for_child()["SHOAL_INTERNAL_INHERIT_CONFIG"]


class WorkerProcessDied(RuntimeError):
    """A worker process ended while it was running tasks."""

    def __init__(self, pid, returncode, keys):
        self.pid = pid
        self.returncode = returncode
        self.keys = self.lost_keys = list(keys)  # (lost_keys: what the runner reports erred)
        super().__init__(
            f"A worker process (pid {pid}) died {describe_exit(returncode)} while "
            f"running {_keys_text(self.keys)}. The pool has replaced it; "
            "the next compute can run."
        )


def _keys_text(keys) -> str:
    shown = ", ".join(key_str(k) for k in keys[:5])
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    return f"key{'s' if len(keys) > 1 else ''} {shown}{more}"


class _Worker:
    __slots__ = ("proc", "tasks", "results", "keys", "config_blob", "where")

    def __init__(self, config_blob: str, nworkers: int):
        task_r, task_w = os.pipe()
        res_r, res_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONHASHSEED"] = HASH_SEED
        env.update(config.config_for_child())
        env.update(blas.child_environ(nworkers))  # BLAS threads: cores // workers
        cmd = [sys.executable, "-m", "shoal.local._worker", str(task_r), str(res_w),
               str(os.getpid())]  # (its parent: it ends when this process is gone)
        try:
            self.proc = subprocess.Popen(
                cmd, pass_fds=(task_r, res_w), env=env, start_new_session=True,
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(task_r)
            os.close(res_w)
        self.tasks = Connection(task_w, readable=False)
        self.results = Connection(res_r, writable=False)
        self.keys = None  # keys of the batch in flight, None when idle
        self.config_blob = config_blob
        self.where = where_now()
        self.tasks.send_bytes(pickle.dumps(("init", *self.where)))

    def send(self, msg: bytes) -> None:
        self.tasks.send_bytes(msg)

    def kill(self) -> None:
        for conn in (self.tasks, self.results):
            try:
                conn.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - kill cannot be ignored
            pass

    def returncode(self):
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class ProcessPool:
    """*n* worker processes, started on first use, replaced when they die."""

    def __init__(self, n: int):
        self.n = n
        self.workers: list[_Worker] = []
        self.run_lock = threading.Lock()
        self.closed = False

    def start(self) -> None:
        """Top the pool up to *n* workers, replacing any that died while idle."""
        for w in [w for w in self.workers if w.keys is None and w.proc.poll() is not None]:
            w.kill()  # killed from outside between batches: no task was lost
            self.workers.remove(w)
        blob = live_config()
        while len(self.workers) < self.n:
            self.workers.append(_Worker(blob, self.n))

    @property
    def pids(self) -> list:
        return [w.proc.pid for w in self.workers]

    def idle(self) -> _Worker | None:
        for w in self.workers:
            if w.keys is None:
                return w
        return None

    def submit(self, worker: _Worker, keys, blob: bytes, config_blob: str, where=None) -> None:
        """Send a batch to an idle *worker*; a dead pipe counts as a death.

        ``config_blob`` (see :func:`live_config`) and ``where`` (see
        :func:`where_now`) are sent first when the worker has older ones.
        """
        worker.keys = keys
        try:
            if where is not None and worker.where != where:
                worker.send(pickle.dumps(("init", *where)))
                worker.where = where
            if worker.config_blob != config_blob:
                worker.send(pickle.dumps(("config", config_blob)))
                worker.config_blob = config_blob
            worker.send(pickle.dumps(("run", keys, blob), protocol=5))
        except OSError:
            self._died(worker)

    def wait(self) -> list:
        """Block until busy workers answer; return their decoded messages."""
        busy = {w.results: w for w in self.workers if w.keys is not None}
        if not busy:
            return []
        while True:
            ready = wait(list(busy), timeout=0.1)
            if ready:
                break
        out = []
        for conn in ready:
            worker = busy[conn]
            try:
                msg = conn.recv_bytes()
            except (EOFError, OSError):
                self._died(worker)
            worker.keys = None
            out.append(pickle.loads(msg))
        return out

    def _died(self, worker: _Worker):
        keys = worker.keys or []
        code = worker.returncode()
        worker.kill()
        self.workers.remove(worker)
        raise WorkerProcessDied(worker.proc.pid, code, keys)

    def kill_busy(self) -> None:
        """Terminate workers running a batch (after an error or an interrupt)."""
        for w in [w for w in self.workers if w.keys is not None]:
            w.kill()
            self.workers.remove(w)

    def close(self) -> None:
        self.closed = True
        for w in self.workers:
            try:
                w.tasks.close()  # EOF: the worker exits by itself
            except OSError:
                pass
        try:
            for w in self.workers:
                try:
                    w.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
        finally:  # (also after a Ctrl-C in the waits above: none outlives the pool)
            for w in self.workers:
                w.kill()
            self.workers.clear()


_pools: dict = {}
_pools_lock = threading.Lock()


def get_pool(n: int) -> ProcessPool:
    """The shared pool of *n* workers."""
    with _pools_lock:
        pool = _pools.get(n)
        if pool is None or pool.closed:
            pool = _pools[n] = ProcessPool(n)
    return pool


def worker_pids() -> list:
    """The PIDs of every open shared pool's worker processes (``shoal.processes``: what
    a local Dashboard counts with this process)."""
    with _pools_lock:
        pools = [p for p in _pools.values() if not p.closed]
    return [pid for p in pools for pid in p.pids]


def close_pools() -> None:
    """Shut down every shared pool (also run at interpreter exit)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for p in pools:
        p.close()


atexit.register(close_pools)
processes.register(worker_pids)
