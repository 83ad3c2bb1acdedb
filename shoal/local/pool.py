"""A reusable pool of worker processes that tells you how a worker died.

::

    parent (engine thread)                       worker process (shoal.local._worker, see shoal.spawn)
    ---------------------                        -----------------------------------------------
                           <-- result pipe ----- send READY (imported: it started)
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
  idle is replaced quietly before the next batch: no task was lost); one that
  ends before READY could not start, and its error is quoted (``WorkerStartFailed``),
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
import threading
from multiprocessing.connection import Connection, wait

from shoal import config, processes, spawn
from shoal.core.keys import key_str
from shoal.local.remote_errors import describe_exit
from shoal.local import blas

__all__ = ["ProcessPool", "WorkerProcessDied", "WorkerStartFailed", "get_pool", "live_config",
           "where_now"]  # fmt: skip

HASH_SEED = "2718"
#: A worker's first message: it imported what it runs with (see ``_worker.main``).
READY = b"ready"


def where_now() -> tuple:
    """``(sys.path, working directory)`` of this process, as workers receive them
    (the directory None when it was deleted: see :mod:`shoal.spawn`)."""
    cwd = spawn.working_directory()
    return spawn.search_path(cwd), cwd


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


class WorkerStartFailed(WorkerProcessDied):
    """A worker process ended before it was ready: it never ran a task, and a new
    one would most likely fail the same way (an import error), so nothing is promised."""

    def __init__(self, pid, returncode, keys, report: str):
        super().__init__(pid, returncode, keys)
        self.args = (
            f"A worker process (pid {pid}) could not start: it exited "
            f"{describe_exit(returncode)} before it was ready, so "
            f"{_keys_text(self.keys)} did not run. Its error:\n"
            f"{report or '(none reported; see its stderr)'}",
        )


def _keys_text(keys) -> str:
    shown = ", ".join(key_str(k) for k in keys[:5])
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    return f"key{'s' if len(keys) > 1 else ''} {shown}{more}"


class _Worker:
    __slots__ = ("proc", "tasks", "results", "keys", "config_blob", "where", "started", "report")

    def __init__(self, config_blob: str, nworkers: int):
        task_r, task_w = os.pipe()
        res_r, res_w = os.pipe()
        self.report, report_w = os.pipe()  # (its error, should it end before READY)
        self.where = where_now()
        env = dict(os.environ)
        env["PYTHONHASHSEED"] = HASH_SEED
        env.update(config.config_for_child())
        env.update(blas.child_environ(nworkers))  # BLAS threads: cores // workers
        try:
            cmd = spawn.python_command("shoal.local._worker", (task_r, res_w, os.getpid()),
                                       report_w, self.where[0])  # (pid: it ends when we are gone)
            self.proc = subprocess.Popen(
                cmd, pass_fds=(task_r, res_w, report_w), env=env, start_new_session=True,
                stdin=subprocess.DEVNULL, cwd=spawn.start_directory(self.where[1]),
            )  # fmt: skip
        except BaseException:  # (no process: our ends of its pipes go too)
            for fd in (task_w, res_r, self.report):
                os.close(fd)
            raise
        finally:
            for fd in (task_r, res_w, report_w):
                os.close(fd)
        self.tasks = Connection(task_w, readable=False)
        self.results = Connection(res_r, writable=False)
        self.keys = None  # keys of the batch in flight, None when idle
        self.config_blob = config_blob
        self.started = False  # READY received
        self.tasks.send_bytes(pickle.dumps(("init", *self.where)))

    def send(self, msg: bytes) -> None:
        self.tasks.send_bytes(msg)

    def error(self) -> str:
        """What the (dead) worker reported as its last error (once)."""
        fd, self.report = self.report, None
        return "" if fd is None else spawn.read_report(fd)

    def kill(self) -> None:
        if self.report is not None:
            os.close(self.report)
            self.report = None
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
        out = []
        while not out:
            busy = {w.results: w for w in self.workers if w.keys is not None}
            if not busy:
                return []
            for conn in wait(list(busy), timeout=0.1):
                msg = self._receive(busy[conn])
                if msg is not None:
                    out.append(msg)
        return out

    def _receive(self, worker: _Worker):
        """The decoded message *worker* sent; None for its READY handshake."""
        try:
            msg = worker.results.recv_bytes()
        except (EOFError, OSError):
            self._died(worker)
        if not worker.started and msg == READY:
            worker.started = True
            return None
        worker.keys = None
        return pickle.loads(msg)

    def _died(self, worker: _Worker):
        """Raise for a dead *worker*: a start-up failure (before READY, with its error)
        or a death while it ran its batch."""
        keys = worker.keys or []
        code = worker.returncode()
        report = "" if worker.started else worker.error()
        worker.kill()
        self.workers.remove(worker)
        if not worker.started:
            raise WorkerStartFailed(worker.proc.pid, code, keys, report)
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
