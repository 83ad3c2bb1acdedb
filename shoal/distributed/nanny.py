"""The nanny: a small server that keeps one worker process alive.

The worker is ``python -m shoal.distributed._worker_main``, a plain subprocess
(as in :mod:`shoal.local.pool`): nothing re-imports the user's ``__main__``, the
child imports only what a worker needs, and two pipes connect it to the nanny
(the protocol, both ends, is in :mod:`shoal.distributed._worker_main`)::

    nanny --- control pipe: "close" / EOF ---> worker process (own session)
    nanny <-- status pipe: started / start-failed / closed --- worker process
          EOF on the status pipe == the process is gone: reap, read exit code

Its death is noticed exactly, with its exit code or signal.  The control pipe
ties the worker's life to the nanny's: if the nanny process dies, the worker
reads EOF and closes itself.  Ctrl-C in a terminal reaches the nanny only.

What the nanny does when the process ends:

- the nanny asked for it (``kill``, ``restart``, ``close``): nothing more;
- the Worker closed by itself and said so (the scheduler closed, retired it
  or went away): the nanny closes too -- it never respawns against a dead
  scheduler -- unless the Worker only lost its connection and the scheduler
  still answers (then it is restarted);
- anything else (a crash, a signal, ``os._exit``): the exit code or signal is
  logged and a new worker is started.  If that one cannot start, the nanny
  logs why and closes.

Memory: every ``distributed.worker.memory.monitor-interval`` the nanny reads the
worker's RSS; above ``distributed.worker.memory.terminate`` x ``memory_limit``
(see :mod:`shoal.distributed.worker.memory`) it sends SIGTERM, then SIGKILL
after a grace period, records the event in :attr:`Nanny.events` and the usual
restart follows.  The scheduler notices the lost worker by its stream closing.

Each worker incarnation gets a private scratch directory (mode 0700, under
``local_directory``) for its spill files; the nanny deletes it once the process
is gone, however it ended, and one left by a nanny that was killed too is purged
by the next nanny or worker started in that folder (``scratch.py``).

RPC ops: ``instantiate``, ``kill``, ``restart``, ``terminate`` (close the nanny
and its worker), ``close_gracefully``, ``identity``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import tempfile
import time
import weakref
from collections import deque

from shoal import config, spawn
from shoal.core.machine import cpu_count
from shoal.distributed._worker_main import WorkerProcess, WorkerStartError, describe_exit
from shoal.distributed.comm import parse_address
from shoal.distributed import scratch
from shoal.distributed.comm.base import listen_address
from shoal.distributed.node import Node
from shoal.distributed.rpc import Server, rpc
from shoal.distributed.worker.memory import (
    MemoryReading, MemoryThresholds, decide, worker_memory_limit,
)  # fmt: skip

__all__ = ["Nanny", "WorkerProcess", "WorkerStartError", "describe_exit"]

logger = logging.getLogger(__name__)

#: Tries to start a worker again after one died, before the nanny gives up and closes.
RESTART_TRIES = 3

#: Same seed as the local process pool: ``hash(str)`` agrees across workers.
HASH_SEED = "2718"
_SECURITY_FIELDS = (
    "tls_ca_file", "tls_client_cert", "tls_client_key", "tls_scheduler_cert",
    "tls_scheduler_key", "tls_worker_cert", "tls_worker_key", "require_encryption", "tls_ciphers",
)  # fmt: skip


# --- the nanny -----------------------------------------------------------------------


class Nanny(Node):
    """Starts one worker in a subprocess, restarts it when it dies, kills it above its memory budget.

    ``await Nanny(scheduler_address)`` (or ``await nanny.start()``) returns once the
    worker has started and registered with the scheduler.
    """

    def __init__(
        self,
        scheduler_address: str,
        nthreads: int | None = None,
        memory_limit="auto",
        name=None,
        host: str | None = None,
        port: int = 0,
        security=None,
        resources: dict | None = None,
        worker_port: int = 0,
        local_directory: str | None = None,
        *,
        protocol: str | None = None,
        env: dict | None = None,
        startup_timeout=None,
        log_level: int | str | None = None,
        validate: bool = False,
        death_timeout=None,
        worker_class: str | None = None,
    ):
        scheme, _ = parse_address(scheduler_address)
        if scheme == "inproc":
            raise ValueError(
                f"a nanny runs its worker in another process, which cannot reach the in-process "
                f"scheduler address {scheduler_address!r}; use tcp:// or tls://"
            )
        self.scheduler_address = scheduler_address
        self.protocol = protocol or scheme
        self.nthreads = int(nthreads or cpu_count())
        self.memory_limit = worker_memory_limit(memory_limit, self.nthreads)
        self.name = name
        self.host, self.port, self.worker_port = host, port, worker_port
        self.security, self.resources = security, dict(resources or {})
        self.local_directory = local_directory or config.get("temporary-directory") or tempfile.gettempdir()
        self.env = dict(env or {})
        # the config as it is now, for every worker this nanny starts: one restarted after a
        # `with config.set(...)` block ended kept its settings (as Dask's nanny does)
        self._child_config = config.config_for_child()
        self.startup_timeout = config.checked(config.duration, "distributed.nanny.startup-"
                                              "timeout", startup_timeout or None, "startup_timeout")
        self.log_level = log_level
        self.validate, self.death_timeout = validate, death_timeout
        if worker_class is not None and not isinstance(worker_class, str):
            worker_class = f"{worker_class.__module__}:{worker_class.__qualname__}"
        self.worker_class = worker_class  # import path, resolved in the worker process
        handlers = {
            "instantiate": self.instantiate, "kill": self.kill, "restart": self.restart,
            "terminate": self.terminate, "close_gracefully": self.close_gracefully,
            "identity": self.identity, "run": self.run,
        }  # fmt: skip
        self.server = Server(handlers, security=security, role="worker")
        self.server.id = self.server.id.replace("Server-", "Nanny-")
        self.process: WorkerProcess | None = None
        #: What happened to worker processes: dicts with time, event, pid, address, ...
        self.events: deque = deque(maxlen=100)
        self.restarts = 0
        self.status = "created"
        self._lock = asyncio.Lock()  # one lifecycle change (start, stop, restart) at a time
        self._init_node()
        self._monitor: asyncio.Task | None = None
        self._scratch: dict = {}  # WorkerProcess -> finalizer removing its scratch directory

    # --- lifecycle ---

    @property
    def address(self) -> str | None:
        return self.server.address

    @property
    def worker_address(self) -> str | None:
        proc = self.process
        return proc.address if proc is not None and proc.alive else None

    @property
    def pid(self) -> int | None:
        proc = self.process
        return proc.pid if proc is not None and proc.alive else None

    async def start(self) -> Nanny:
        if self.status == "running":
            return self
        if self.status != "created":
            raise RuntimeError(f"{self!r} is {self.status}; a nanny starts once")
        self.status = "starting"
        host = self.host or config.get("distributed.comm.default-host")
        try:
            await self.server.listen(listen_address(self.protocol, host, self.port))
            await self.instantiate()
            if self.status != "starting":
                raise RuntimeError(f"{self!r} was closed while it started")
        except BaseException:  # a start that failed (or a close meanwhile) leaves nothing running
            await self.close()
            raise
        self.status = "running"
        self._monitor = asyncio.get_running_loop().create_task(self._watch_memory())
        return self

    async def _close(self, timeout: float = 5.0) -> None:
        """``close(timeout=)``: the worker gracefully (killed after ``timeout``), then the
        nanny stops serving."""
        if self.status == "created":  # never started: nothing to stop
            return
        self.status = "closing"
        try:
            if self._monitor is not None:
                self._monitor.cancel()
                await asyncio.gather(self._monitor, return_exceptions=True)
            async with self._lock:
                await self._stop_worker(timeout)
            await self._cancel_tasks()
        finally:
            await self.server.close()

    # --- rpc handlers ---

    async def run(self, comm=None, function=None, args=None, kwargs=None):
        """``Client.run(..., nanny=True)``: the function in this process (``dask_worker``
        is the nanny)."""
        return await self._run_here(function, args, kwargs)

    async def instantiate(self, comm=None) -> str:
        """Start the worker process unless one is running; ``"running"``."""
        async with self._lock:
            await self._instantiate()
        return "running"

    async def kill(self, comm=None, timeout: float = 5.0, reason: str = "") -> str:
        """Stop the worker (gracefully, then by signal); the nanny stays up."""
        async with self._lock:
            await self._stop_worker(timeout)
        return "OK"

    async def restart(self, comm=None, timeout: float = 30.0, reason: str = "") -> str:
        """Stop the worker and start a new one; returns once the new one has registered."""
        async with self._lock:
            await self._stop_worker(min(float(timeout), 5.0))
            self.restarts += 1
            await self._instantiate()
        return "OK"

    async def terminate(self, comm=None, timeout: float = 5.0, **_) -> str:
        """Close the worker and the nanny (the rpc spelling of ``close``)."""
        self._spawn(self.close(timeout=float(timeout)))
        return "OK"

    def close_gracefully(self, comm=None, reason: str = "") -> str:
        """The worker says it is about to close on purpose: do not restart it."""
        if self.process is not None:
            self.process.closed_by_itself = True
        return "OK"

    def identity(self, comm=None) -> dict:
        return {
            "type": "Nanny", "id": self.server.id, "address": self.address, "nanny_pid": os.getpid(),
            "worker_address": self.worker_address, "pid": self.pid, "name": self.name,
            "status": self.status, "nthreads": self.nthreads, "memory_limit": self.memory_limit,
            "restarts": self.restarts, "scheduler": self.scheduler_address,
        }  # fmt: skip

    # --- the worker process ---

    def _worker_spec(self, directory: str) -> dict:
        sec = self.security
        host = self.host or config.get("distributed.comm.default-host")
        return {
            "scheduler_address": self.scheduler_address,
            "nthreads": self.nthreads,
            "memory_limit": self.memory_limit or 0,
            "name": self.name,
            "host": host,
            "port": int(self.worker_port or 0),
            "protocol": self.protocol,
            "security": None if sec is None else {f: getattr(sec, f, None) for f in _SECURITY_FIELDS},
            "resources": self.resources,
            "local_directory": directory,
            "nanny": self.address,
            "validate": self.validate,
            "death_timeout": self.death_timeout,
            "log_level": self.log_level,
            "worker_class": self.worker_class,
            "sys_path": spawn.search_path(cwd := spawn.working_directory()),
            "cwd": cwd,  # (None: deleted; the worker starts in the temporary directory)
        }

    def _start_timeout(self) -> float | None:
        """How long a worker may take to start: at least as long as it may wait for its
        scheduler (``death_timeout``; None: for good)."""
        wait = self.startup_timeout
        if self.death_timeout is not None:
            wait = max(wait, config.parse_timedelta(self.death_timeout))
        return None if math.isinf(wait) else wait

    def _worker_env(self) -> dict:
        env = dict(os.environ)
        for key, value in PRE_SPAWN_ENVIRON.items():
            env.setdefault(key, value)
        env.update({str(k): str(v) for k, v in self.env.items()})
        env["PYTHONHASHSEED"] = HASH_SEED
        env.update(self._child_config)
        return env

    async def _instantiate(self) -> None:
        if self.status in ("closing", "closed"):
            raise RuntimeError(f"{self!r} is {self.status}: it starts no more workers")
        if self.process is not None and self.process.alive:
            return
        made = scratch.make(self.local_directory)  # mode 0700, locked: see scratch.py
        proc = WorkerProcess(self._worker_spec(made.path), self._worker_env(), on_exit=self._on_exit)
        # removed once the process is gone, or at interpreter exit at the latest
        self._scratch[proc] = weakref.finalize(proc, made.remove)
        self.process = proc
        try:
            await proc.start(self._start_timeout())
        except BaseException:
            self._cleanup(proc)
            self.process = None
            raise
        self._record("started", proc)
        logger.info("nanny %s started worker %s (pid %s)", self.address, proc.address, proc.pid)

    async def _stop_worker(self, timeout: float) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        code = await proc.stop(timeout)
        self._record("stopped", proc, returncode=code)

    def _on_exit(self, proc: WorkerProcess, code: int) -> None:
        self._cleanup(proc)
        if proc.expected_exit or proc.address is None or self.status in ("closing", "closed"):
            return  # asked for, or it never started (start() reports that)
        if proc.closed_by_itself:
            self._record("closed", proc, returncode=code, reason=proc.close_reason)
            self._spawn(self._after_worker_left(proc))
            return
        logger.warning(
            "worker process %s (%s) died %s; restarting it", proc.pid, proc.address, describe_exit(code)
        )
        self._record("died", proc, returncode=code)
        self._spawn(self._restart_after_death(proc))

    async def _after_worker_left(self, proc: WorkerProcess) -> None:
        """The Worker closed by itself: follow it, unless only its connection was lost.

        A worker that lost its scheduler stream while the scheduler is still up
        (a network blip, or the scheduler dropped it after a missed heartbeat
        because a task blocked its event loop) is restarted; after a goodbye
        from the scheduler (closed, retired) or with the scheduler gone, the
        nanny closes too -- it never respawns against a dead scheduler.
        """
        if proc.close_reason == "scheduler lost" and await self._scheduler_alive():
            logger.warning("worker %s lost its scheduler connection, but %s is up: restarting it",
                           proc.address, self.scheduler_address)  # fmt: skip
            await self._restart_after_death(proc)
            return
        logger.info("worker %s closed (%s); nanny %s closes too", proc.address,
                    proc.close_reason or "by itself", self.address)  # fmt: skip
        await self.close()

    async def _scheduler_alive(self) -> bool:
        try:
            async with rpc(self.scheduler_address, timeout=2, security=self.security, role="worker") as r:
                await asyncio.wait_for(r.identity(), 5)
            return True
        except Exception:
            return False

    async def _restart_after_death(self, proc: WorkerProcess) -> None:
        async with self._lock:
            if self.process is not proc or self.status != "running":
                return  # someone else (kill, restart, close) took over
            self.process = None
            self.restarts += 1
            # a new worker may take a task as it registers, before it has told its nanny it
            # started, and die of that task: a death, not a worker that cannot start (the
            # nanny closed for good after two such tasks in a row); a few tries tell them apart
            for attempt in range(RESTART_TRIES):
                try:
                    await self._instantiate()
                    return
                except Exception as exc:
                    if self.status != "running" or attempt == RESTART_TRIES - 1:
                        logger.error("nanny %s could not restart its worker (%s); closing",
                                     self.address, exc)  # fmt: skip
                        self._record("restart-failed", proc, error=str(exc))
                        self._spawn(self.close())
                        return
                    logger.warning("nanny %s: its new worker ended as it started (%s); trying "
                                   "again", self.address, exc)  # fmt: skip
                    await asyncio.sleep(0.5 * (attempt + 1))

    def _cleanup(self, proc: WorkerProcess) -> None:
        remove = self._scratch.pop(proc, None)
        if remove is not None:
            remove()

    def _record(self, event: str, proc: WorkerProcess, **details) -> None:
        self.events.append({"time": time.time(), "event": event, "pid": proc.pid, "address": proc.address,
                            **details})  # fmt: skip

    # --- memory ---

    async def _watch_memory(self) -> None:
        interval = config.checked(config.duration, "distributed.worker.memory.monitor-interval")
        thresholds = MemoryThresholds.from_config()
        if not self.memory_limit or not thresholds.terminate:
            return
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is in the distributed extra
            logger.warning("psutil is not installed: nanny %s cannot watch worker memory", self.address)
            return
        while True:
            await asyncio.sleep(interval)
            proc = self.process
            if proc is None or not proc.alive or proc.expected_exit:
                continue
            try:
                rss = psutil.Process(proc.pid).memory_info().rss
            except (psutil.Error, OSError):
                continue  # it just died: the exit handler deals with it
            verdict = decide(MemoryReading(process=rss, managed=0), self.memory_limit, thresholds)
            if verdict.terminate:
                logger.warning(
                    "worker %s (pid %s) uses %d bytes, over %.0f%% of its memory limit (%d): "
                    "terminating it; the nanny will restart it",
                    proc.address, proc.pid, rss, 100 * thresholds.terminate, self.memory_limit,
                )  # fmt: skip
                self._record("memory-terminate", proc, rss=rss, memory_limit=self.memory_limit)
                await self._tell_scheduler_why(proc, rss, thresholds.terminate)
                await proc.terminate()  # the exit handler restarts it

    async def _tell_scheduler_why(self, proc: WorkerProcess, rss: int, fraction: float) -> None:
        """Before the kill, so that a task dying with the worker says why (not only
        "connection lost"); a scheduler that does not answer at once is not waited for."""
        from shoal.core.units import format_bytes

        why = (f"terminated by its nanny for memory: it used {format_bytes(rss)}, over "
               f"{100 * fraction:.0f}% of its {format_bytes(self.memory_limit)} memory limit")  # fmt: skip
        try:
            async with rpc(self.scheduler_address, timeout=2, security=self.security, role="worker") as r:
                await asyncio.wait_for(r.worker_terminating(address=proc.address, reason=why), 2)
        except Exception as exc:  # the kill goes ahead: memory is running out
            logger.debug("nanny %s could not tell the scheduler why: %s", self.address, exc)

    def __repr__(self):
        return f"<Nanny {self.address!r} worker={self.worker_address!r} pid={self.pid} {self.status}>"


#: Environment a worker process starts with unless the nanny's own environment
#: (or ``Nanny(env=...)``) sets them: one BLAS/OpenMP thread per worker thread
#: (the worker's thread pool is the parallelism), and glibc returning freed
#: memory to the OS sooner so RSS -- what the memory thresholds watch -- falls.
#: Not a config key: config keys are canonicalized (``_`` -> ``-``), env names are not.
PRE_SPAWN_ENVIRON = {
    "MALLOC_TRIM_THRESHOLD_": "65536",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
