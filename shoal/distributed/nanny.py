"""The nanny: a small server that keeps one worker process alive.

::

    nanny (this process)                               worker process
    --------------------                               --------------------------------------
    Popen(python -m shoal.distributed._worker_main)    Worker(..., nanny=<nanny address>)
       control pipe  --- b"close\\n" / EOF ----------->  close the Worker gracefully, exit 0
       status pipe   <-- {"op": "started", address} ---  after Worker.start() (registered)
                     <-- {"op": "start-failed", error}   Worker.start() raised
                     <-- {"op": "closed", requested}     the Worker finished, about to exit
       EOF on the status pipe  ==  the process is gone: reap it, read its exit code

Why pipes and not ``multiprocessing``: the worker is a plain subprocess running
a module of ours (as in :mod:`shoal.local.pool`), so nothing re-imports the
user's ``__main__``, the child imports only what a worker needs, and its death
is noticed exactly (EOF) with its exit code or signal.  The control pipe also
ties the worker's life to the nanny's: if the nanny process dies, the worker
reads EOF and closes itself, so no worker outlives its nanny.  The worker runs
in its own session, so Ctrl-C in a terminal reaches the nanny only.

What the nanny does when the process ends:

- the nanny asked for it (``kill``, ``restart``, ``close``): nothing more;
- the Worker closed by itself and said so (the scheduler went away or retired
  it): the nanny closes too -- it never respawns against a dead scheduler;
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
is gone, however it ended.

RPC ops: ``instantiate``, ``kill``, ``restart``, ``terminate`` (close the nanny
and its worker), ``close_gracefully``, ``identity``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections import deque

from shoal import config
from shoal.distributed.comm import parse_address
from shoal.distributed.rpc import Server
from shoal.distributed.worker.memory import (
    MemoryReading, MemoryThresholds, decide, parse_memory_limit, read_cgroup_memory_limit,
)  # fmt: skip

__all__ = ["Nanny", "WorkerProcess", "WorkerStartError", "cpu_count", "describe_exit", "system_memory"]

logger = logging.getLogger(__name__)

#: Same seed as the local process pool: ``hash(str)`` agrees across workers.
HASH_SEED = "2718"
#: Seconds between SIGTERM and SIGKILL.
KILL_GRACE = 1.0
_SPEC_VAR = "SHOAL_INTERNAL_WORKER_SPEC"
_SECURITY_FIELDS = (
    "tls_ca_file", "tls_client_cert", "tls_client_key", "tls_scheduler_cert",
    "tls_scheduler_key", "tls_worker_cert", "tls_worker_key", "require_encryption", "tls_ciphers",
)  # fmt: skip


class WorkerStartError(RuntimeError):
    """The worker process could not start (its error, or how it died, is in the message)."""


# --- the machine --------------------------------------------------------------------


def cpu_count() -> int:
    """Cores this process may use (CPU affinity respected)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def system_memory() -> int:
    """Total memory of the machine in bytes, capped by this process's cgroup limit."""
    try:
        import psutil

        total = psutil.virtual_memory().total
    except ImportError:  # pragma: no cover - psutil is in the distributed extra
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cgroup = read_cgroup_memory_limit()
    return min(total, cgroup) if cgroup else total


def describe_exit(returncode) -> str:
    """Human text for a Popen return code.

    >>> describe_exit(-9), describe_exit(3)
    ('from signal SIGKILL (-9)', 'with exit code 3')
    """
    if returncode is None:
        return "for an unknown reason"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"from signal {name} ({returncode})"
    return f"with exit code {returncode}"


# --- one worker process ---------------------------------------------------------------


class WorkerProcess:
    """One ``python -m shoal.distributed._worker_main`` child and its two pipes.

    ``on_exit(process, returncode)`` is called once, in the event loop, after
    the process is gone and reaped.
    """

    def __init__(self, spec: dict, env: dict, on_exit=None):
        self.spec, self.env, self.on_exit = spec, env, on_exit
        self.proc: subprocess.Popen | None = None
        self.address: str | None = None
        self.returncode: int | None = None
        self.expected_exit = False  # the nanny asked it to stop
        self.closed_by_itself = False  # the Worker finished without being asked
        self.close_reason = ""
        self._control: int | None = None
        self._started: asyncio.Future | None = None
        self._exited: asyncio.Future | None = None
        self._watch: asyncio.Task | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self._exited is not None and not self._exited.done()

    async def start(self, timeout: float) -> str:
        """Spawn the process and wait until its Worker has started; return its address."""
        loop = asyncio.get_running_loop()
        self._started, self._exited = loop.create_future(), loop.create_future()
        ctrl_r, ctrl_w = os.pipe()
        stat_r, stat_w = os.pipe()
        env = dict(self.env)
        env[_SPEC_VAR] = json.dumps(self.spec)
        cmd = [sys.executable, "-m", "shoal.distributed._worker_main", str(ctrl_r), str(stat_w)]
        try:
            self.proc = subprocess.Popen(
                cmd, pass_fds=(ctrl_r, stat_w), env=env, start_new_session=True,
                stdin=subprocess.DEVNULL, cwd=self.spec.get("cwd") or None,
            )  # fmt: skip
        except BaseException:
            for fd in (ctrl_w, stat_r):
                os.close(fd)
            raise
        finally:
            os.close(ctrl_r)
            os.close(stat_w)
        self._control = ctrl_w
        reader = asyncio.StreamReader(limit=1 << 20)
        pipe = os.fdopen(stat_r, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        self._watch = loop.create_task(self._read_status(reader, transport))
        try:
            self.address = await asyncio.wait_for(asyncio.shield(self._started), timeout)
        except asyncio.TimeoutError:
            await self.kill()
            raise WorkerStartError(
                f"the worker process (pid {self.pid}) did not start within {timeout:g} s "
                f"(distributed.nanny.startup-timeout); is the scheduler at "
                f"{self.spec.get('scheduler_address')} reachable?"
            ) from None
        except BaseException:
            await self.kill()
            raise
        return self.address

    async def _read_status(self, reader: asyncio.StreamReader, transport) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    logger.warning("worker process %s sent garbage: %r", self.pid, line[:200])
                    continue
                self._on_message(msg)
        except (OSError, ValueError) as exc:  # ValueError: a line over the reader's limit
            logger.warning("lost the status pipe of worker process %s: %s", self.pid, exc)
        finally:
            transport.close()
        code = await self._reap()
        self.returncode = code
        if self._control is not None:
            os.close(self._control)
            self._control = None
        if not self._started.done():
            self._started.set_exception(WorkerStartError(
                f"the worker process (pid {self.pid}) exited {describe_exit(code)} before its "
                f"worker started (its stderr above says why)"
            ))  # fmt: skip
            self._started.exception()  # retrieved here: start() may already have given up
        self._exited.set_result(code)
        if self.on_exit is not None:
            try:
                self.on_exit(self, code)
            except Exception:
                logger.exception("on_exit callback failed for worker process %s", self.pid)

    def _on_message(self, msg: dict) -> None:
        op = msg.get("op")
        if op == "started" and not self._started.done():
            self._started.set_result(msg["address"])
        elif op == "start-failed" and not self._started.done():
            self._started.set_exception(WorkerStartError(f"the worker failed to start: {msg.get('error')}"))
            self._started.exception()
        elif op == "closed":
            self.closed_by_itself = not msg.get("requested", False)
            self.close_reason = msg.get("reason", "")

    async def _reap(self) -> int:
        """Wait (without blocking the loop) for the process to be gone; its return code."""
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + 5.0, 0.001
        while self.proc.poll() is None:
            if loop.time() > deadline:  # it closed its pipe but lives on: end it
                logger.warning("worker process %s closed its pipe but did not exit; killing it", self.pid)
                self._signal(signal.SIGKILL)
                deadline = float("inf")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return self.proc.returncode

    def _signal(self, sig) -> None:
        try:
            self.proc.send_signal(sig)
        except (ProcessLookupError, OSError):
            pass

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    async def stop(self, timeout: float = 5.0) -> int | None:
        """Ask the Worker to close; SIGTERM after ``timeout``, SIGKILL after a grace."""
        if self.proc is None:
            return None
        self.expected_exit = True
        if self.alive and self._control is not None:
            try:
                os.write(self._control, b"close\n")
            except OSError:
                pass
        return await self._wait_or_escalate(timeout)

    async def terminate(self) -> int | None:
        """SIGTERM now, SIGKILL if it is still there after :data:`KILL_GRACE`."""
        if self.proc is None:
            return None
        if self.alive:
            self._signal(signal.SIGTERM)
        return await self._wait_or_escalate(0)

    async def kill(self) -> int | None:
        """SIGKILL now and wait until it is reaped."""
        if self.proc is None:
            return None
        self.expected_exit = True
        if self.alive:
            self._signal(signal.SIGKILL)
        return await self.wait()

    async def _wait_or_escalate(self, timeout: float) -> int:
        for sig, wait in ((None, timeout), (signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
            if sig is not None and self.alive:
                self._signal(sig)
            try:
                return await asyncio.wait_for(self.wait(), wait)
            except asyncio.TimeoutError:
                continue
        return await self.wait()  # pragma: no cover - the loop ends at SIGKILL

    def __repr__(self):
        state = "alive" if self.alive else f"exited {self.returncode}"
        return f"<WorkerProcess pid={self.pid} {self.address} {state}>"


# --- the nanny -----------------------------------------------------------------------


class Nanny:
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
        self.memory_limit = parse_memory_limit(
            memory_limit, total_memory=system_memory(), n_workers=1, cgroup_limit=read_cgroup_memory_limit()
        )
        self.name = name
        self.host, self.port, self.worker_port = host, port, worker_port
        self.security, self.resources = security, dict(resources or {})
        self.local_directory = local_directory or config.get("temporary-directory") or tempfile.gettempdir()
        self.env = dict(env or {})
        self.startup_timeout = config.parse_timedelta(
            startup_timeout or config.get("distributed.nanny.startup-timeout", default="60s")
        )
        self.log_level = log_level
        self.validate, self.death_timeout = validate, death_timeout
        if worker_class is not None and not isinstance(worker_class, str):
            worker_class = f"{worker_class.__module__}:{worker_class.__qualname__}"
        self.worker_class = worker_class  # import path, resolved in the worker process
        handlers = {
            "instantiate": self.instantiate, "kill": self.kill, "restart": self.restart,
            "terminate": self.terminate, "close_gracefully": self.close_gracefully,
            "identity": self.identity,
        }  # fmt: skip
        self.server = Server(handlers, security=security, role="worker")
        self.server.id = self.server.id.replace("Server-", "Nanny-")
        self.process: WorkerProcess | None = None
        #: What happened to worker processes: dicts with time, event, pid, address, ...
        self.events: deque = deque(maxlen=100)
        self.restarts = 0
        self.status = "created"
        self._lock = None  # asyncio.Lock, made in start() (needs the loop on 3.9-)
        self._tasks: set = set()
        self._monitor: asyncio.Task | None = None
        self._closed: asyncio.Event | None = None
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
        self._lock = asyncio.Lock()
        self._closed = asyncio.Event()
        host = self.host or config.get("distributed.comm.default-host")
        from shoal.distributed.comm import unparse_host_port

        await self.server.listen(f"{self.protocol}://{unparse_host_port(host, int(self.port or 0))}")
        try:
            await self.instantiate()
        except BaseException:
            await self.server.close()
            self.status = "closed"
            self._closed.set()
            raise
        self.status = "running"
        self._monitor = asyncio.get_running_loop().create_task(self._watch_memory())
        return self

    def __await__(self):
        return self.start().__await__()

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self, timeout: float = 5.0) -> None:
        """Close the worker gracefully (killing it after ``timeout``), then stop serving."""
        if self.status in ("closing", "closed"):
            if self._closed is not None:
                await self._closed.wait()
            return
        if self._lock is None:  # never started
            self.status = "closed"
            return
        self.status = "closing"
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
        async with self._lock:
            await self._stop_worker(timeout)
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.server.close()
        self.status = "closed"
        self._closed.set()

    async def finished(self) -> None:
        """Resolves when the nanny has closed (by request, or because its worker left)."""
        await self._closed.wait()

    # --- rpc handlers ---

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

    def _worker_spec(self, scratch: str) -> dict:
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
            "local_directory": scratch,
            "nanny": self.address,
            "validate": self.validate,
            "death_timeout": self.death_timeout,
            "log_level": self.log_level,
            "worker_class": self.worker_class,
            "sys_path": list(sys.path),
            "cwd": os.getcwd(),
        }

    def _worker_env(self) -> dict:
        env = dict(os.environ)
        for key, value in (config.get("distributed.nanny.pre-spawn-environ", default=None) or _PRE_SPAWN).items():
            env.setdefault(str(key), str(value))
        env.update({str(k): str(v) for k, v in self.env.items()})
        env["PYTHONHASHSEED"] = HASH_SEED
        env.update(config.config_for_child())
        return env

    async def _instantiate(self) -> None:
        if self.process is not None and self.process.alive:
            return
        os.makedirs(self.local_directory, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix="shoal-worker-", dir=self.local_directory)  # mode 0700
        proc = WorkerProcess(self._worker_spec(scratch), self._worker_env(), on_exit=self._on_exit)
        # removed once the process is gone, or at interpreter exit at the latest
        self._scratch[proc] = weakref.finalize(proc, shutil.rmtree, scratch, True)
        self.process = proc
        try:
            await proc.start(self.startup_timeout)
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
            logger.info(
                "worker %s closed (%s); nanny %s closes too", proc.address, proc.close_reason or "by itself",
                self.address,
            )  # fmt: skip
            self._record("closed", proc, returncode=code, reason=proc.close_reason)
            self._spawn(self.close())
            return
        logger.warning(
            "worker process %s (%s) died %s; restarting it", proc.pid, proc.address, describe_exit(code)
        )
        self._record("died", proc, returncode=code)
        self._spawn(self._restart_after_death(proc))

    async def _restart_after_death(self, proc: WorkerProcess) -> None:
        async with self._lock:
            if self.process is not proc or self.status != "running":
                return  # someone else (kill, restart, close) took over
            self.process = None
            self.restarts += 1
            try:
                await self._instantiate()
            except Exception as exc:
                logger.error("nanny %s could not restart its worker (%s); closing", self.address, exc)
                self._record("restart-failed", proc, error=str(exc))
                self._spawn(self.close())

    def _cleanup(self, proc: WorkerProcess) -> None:
        remove = self._scratch.pop(proc, None)
        if remove is not None:
            remove()

    def _record(self, event: str, proc: WorkerProcess, **details) -> None:
        self.events.append({"time": time.time(), "event": event, "pid": proc.pid, "address": proc.address,
                            **details})  # fmt: skip

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- memory ---

    async def _watch_memory(self) -> None:
        interval = config.parse_timedelta(
            config.get("distributed.worker.memory.monitor-interval", default="100ms")
        )
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
                await proc.terminate()  # the exit handler restarts it

    def __repr__(self):
        return f"<Nanny {self.address!r} worker={self.worker_address!r} pid={self.pid} {self.status}>"


#: Environment a worker process starts with unless the caller's sets them
#: (``distributed.nanny.pre-spawn-environ`` overrides): one BLAS/OpenMP thread
#: per worker thread, and glibc returning freed memory to the OS sooner.
_PRE_SPAWN = {
    "MALLOC_TRIM_THRESHOLD_": 65536,
    "OMP_NUM_THREADS": 1,
    "MKL_NUM_THREADS": 1,
    "OPENBLAS_NUM_THREADS": 1,
}
