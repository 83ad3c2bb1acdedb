"""LocalCluster: a scheduler and workers on this machine, started in one call.

::

    LocalCluster()                                  this process
        |                                           +-------------------------------+
        | asynchronous=False: the shared loop       | event loop ("shoal-loop" thread
        | thread (shoal.distributed._loop)          |  unless asynchronous=True)    |
        v                                           |   Scheduler   tcp://127.0.0.1 |
    _start()  -- scheduler first, then all          |   Nanny 0 ----+  Nanny 1 --+  |
                 workers at once (concurrently) --> +---------------|------------|--+
                                                       processes=True: one worker
                                                       process per nanny
                                                    processes=False: Workers on this
                                                       loop, over inproc://

Sizing (:func:`default_sizing`, Dask's rule): with processes, as many workers as
cores up to 4, beyond that the smallest factor of the core count at least its
square root, threads filling the cores; without processes one worker with a
thread per core.  ``memory_limit="auto"`` splits the machine's memory (or its
cgroup limit) evenly between the workers.

Everything listens on 127.0.0.1 unless ``host`` says otherwise, and whoever
can connect to these ports can run code in them.  The dashboard
(``dashboard_address=":8787"``, Dask's default; None for none) is a process of
its own that the scheduler starts and stops; on a taken port it takes the next
free one, and ``dashboard_link`` says where it is.  ``security=True`` makes
throwaway TLS certificates and uses ``tls://``.

The synchronous facade (``asynchronous=False``) runs the async core on the
process-wide loop thread, so it works inside a Jupyter kernel whose own loop
is already running; with ``asynchronous=True`` the caller awaits it on its own
loop: ``async with LocalCluster(asynchronous=True) as cluster``.
"""

from __future__ import annotations

import asyncio
import atexit
import html
import logging
import math
import sys
import uuid

from shoal.core.machine import cpu_count, read_cgroup_memory_limit, system_memory
from shoal.core.units import format_bytes
from shoal.distributed.deploy.adaptive import Adaptive, Load
from shoal.distributed.node import Once
from shoal.distributed.worker.memory import parse_memory_limit

__all__ = ["LocalCluster", "default_sizing", "nprocesses_nthreads"]

logger = logging.getLogger(__name__)

_live: set = set()  # synchronous clusters not closed yet: closed at interpreter exit
_ABORT_TIMEOUT = 20  # seconds to close what an interrupted start had started


def nprocesses_nthreads(cores: int) -> tuple[int, int]:
    """``(workers, threads per worker)`` for a machine with ``cores`` cores.

    >>> [nprocesses_nthreads(n) for n in (1, 2, 4, 6, 8, 12, 16, 7)]
    [(1, 1), (2, 1), (4, 1), (3, 2), (4, 2), (4, 3), (4, 4), (7, 1)]
    """
    cores = max(int(cores), 1)
    if cores <= 4:
        return cores, 1
    processes = min(f for f in range(1, cores + 1) if cores % f == 0 and f >= math.sqrt(cores))
    return processes, cores // processes


def default_sizing(cores: int, n_workers=None, threads_per_worker=None, processes=True) -> tuple[int, int]:
    """``(n_workers, threads_per_worker)`` filling ``cores``, Dask's way.

    >>> default_sizing(8), default_sizing(8, processes=False), default_sizing(8, n_workers=3)
    ((4, 2), (1, 8), (3, 3))
    >>> default_sizing(8, threads_per_worker=4), default_sizing(2, n_workers=0)
    ((2, 4), (0, 2))
    """
    for arg, value in (("n_workers", n_workers), ("threads_per_worker", threads_per_worker)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"LocalCluster: {arg} must be an int or None, got {value!r}")
    if n_workers is not None and n_workers < 0:
        raise ValueError(f"LocalCluster: n_workers must be >= 0, got {n_workers}")
    if threads_per_worker is not None and threads_per_worker < 1:
        raise ValueError(f"LocalCluster: threads_per_worker must be >= 1, got {threads_per_worker}")
    cores = max(int(cores), 1)
    if n_workers is None and threads_per_worker is None:
        return nprocesses_nthreads(cores) if processes else (1, cores)
    if n_workers is None:
        return (max(1, cores // threads_per_worker) if processes else 1), threads_per_worker
    if threads_per_worker is None:  # overcommit rather than leave a core idle
        threads_per_worker = max(1, math.ceil(cores / n_workers)) if n_workers else cores
    return n_workers, threads_per_worker


def format_limit(n: int | None) -> str:
    """A memory limit: its size, or "unlimited".

    >>> format_limit(8 * 2**30), format_limit(None)
    ('8.00 GiB', 'unlimited')
    """
    return format_bytes(n) if n else "unlimited"


class LocalCluster:
    """A scheduler in this process and ``n_workers`` workers, ready when constructed.

    >>> cluster = LocalCluster(n_workers=2, threads_per_worker=1)   # doctest: +SKIP
    >>> cluster.scheduler_address                                   # doctest: +SKIP
    'tcp://127.0.0.1:40123'
    >>> cluster.scale(4); cluster.close()                           # doctest: +SKIP
    """

    def __init__(
        self,
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        processes: bool = True,
        memory_limit="auto",
        dashboard_address=":8787",
        host: str | None = None,
        protocol: str | None = None,
        security=None,
        asynchronous: bool = False,
        scheduler_port: int = 0,
        worker_class=None,
        silence_logs=logging.WARNING,
        name: str | None = None,
        scheduler_kwargs: dict | None = None,
        **worker_kwargs,
    ):
        self.processes = bool(processes)
        self._n_workers, self.threads_per_worker = default_sizing(
            cpu_count(), n_workers, threads_per_worker, self.processes
        )
        self.memory_limit = parse_memory_limit(
            memory_limit, total_memory=system_memory(), n_workers=max(self._n_workers, 1),
            cgroup_limit=read_cgroup_memory_limit(),
        )  # fmt: skip
        if security is True:
            from shoal.distributed.security import Security

            security, self._own_security = Security.temporary(), True
        else:
            self._own_security = False
        self.security = security
        self.protocol = _pick_protocol(protocol, self.processes, security)
        if self.processes and self.protocol == "inproc" and worker_class is None:
            raise ValueError(
                "LocalCluster(processes=True) runs workers in other processes, which cannot "
                "use inproc://; use protocol='tcp' (or 'tls'), or processes=False"
            )
        self.host = host
        self.scheduler_port = scheduler_port
        self.dashboard_address = dashboard_address
        self.worker_class = worker_class
        self.silence_logs = silence_logs
        self.scheduler_kwargs = dict(scheduler_kwargs or {})
        self.worker_kwargs = worker_kwargs
        self.asynchronous = asynchronous
        self.name = name or f"LocalCluster-{uuid.uuid4().hex[:8]}"
        self.scheduler = None
        self.workers: dict = {}  # name -> Nanny / Worker
        self.status = "created"
        self.loop: asyncio.AbstractEventLoop | None = None
        self._adaptive: Adaptive | None = None
        self._scale_lock: asyncio.Lock | None = None
        self._closing = Once()
        self._leaving: set = set()  # workers a scale-down took out, until they are closed
        self._next_name = 0
        self._old_log_level = None
        self._runner = None
        if not asynchronous:
            from shoal.distributed._loop import get_runner

            runner = get_runner()
            self.loop = runner.acquire()
            self._runner = runner
            try:
                runner.sync(self._start)
            except BaseException:
                # (a Ctrl-C while it started) what it started is closed before the runner
                # goes: the loop stopping first cancelled the closing, waited 10 s for it
                # and left the processes running
                try:
                    runner.sync(self._close, timeout=_ABORT_TIMEOUT)
                except BaseException:  # noqa: BLE001 - a second Ctrl-C: let go as it is
                    pass
                finally:
                    self._runner = None
                    runner.release()
                raise
            _live.add(self)

    # --- lifecycle ---

    def __await__(self):
        return self._start().__await__()

    async def _start(self) -> LocalCluster:
        if self.status == "running":
            return self
        if self.status != "created":
            raise RuntimeError(f"{self.name} is {self.status}; it cannot be started again")
        self.status = "starting"
        self.loop = asyncio.get_running_loop()
        self._scale_lock = asyncio.Lock()
        self._quiet_logs()
        try:
            from shoal.distributed.scheduler.server import Scheduler

            self.scheduler = Scheduler(
                host=self.host, port=self.scheduler_port, protocol=self.protocol, security=self.security,
                dashboard_address=self.dashboard_address, **self.scheduler_kwargs,
            )  # fmt: skip
            await self.scheduler.start()  # the dashboard process starts meanwhile, on a
            await self._scale(self._n_workers)  # socket already bound: its link is good now
        except BaseException:
            await self._close()
            raise
        if self.status == "starting":  # (not closed meanwhile)
            self.status = "running"
        return self

    async def _close(self) -> None:
        """Close once, to the end (a cancelled caller cancels only its wait; see
        :class:`~shoal.distributed.node.Once`)."""
        await self._closing(self._close_once)

    async def _close_once(self) -> None:
        self.status = "closing"
        try:
            if self._adaptive is not None:
                await self._adaptive._stop()  # cancels a scaling it had started
            if self._scale_lock is not None:
                async with self._scale_lock:  # let a scale() the user started finish first
                    await self._close_workers()
            else:
                await self._close_workers()
        finally:
            try:
                if self.scheduler is not None:
                    await self.scheduler.close()
            finally:
                if self._own_security:
                    self.security.close()
                self._restore_logs()
                self.status = "closed"

    async def _close_workers(self) -> None:
        # with those a cancelled scale-down took out and is still closing
        workers, self.workers = [*self.workers.values(), *self._leaving], {}
        results = await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
        for worker, result in zip(workers, results):
            if isinstance(result, BaseException):
                logger.warning("closing %r failed: %r", worker, result)

    def close(self, timeout=None):
        """Close the workers (gracefully, killing stragglers) and the scheduler."""
        if self.asynchronous:
            return self._close()
        runner, self._runner = self._runner, None
        if runner is None:
            return None
        try:
            runner.sync(self._close, timeout=timeout)
        finally:
            runner.release()
            _live.discard(self)
        return None

    def __enter__(self):
        if self.asynchronous:
            raise TypeError("use `async with` for LocalCluster(asynchronous=True)")
        return self

    def __exit__(self, *exc):
        self.close()

    async def __aenter__(self):
        return await self._start()

    async def __aexit__(self, *exc):
        await self._close()

    def get_client(self):
        """The current client when it is this cluster's, else a new ``Client(self)``."""
        from shoal.distributed.client import Client

        if self.status in ("closing", "closed"):
            raise RuntimeError(f"get_client: {self.name} is {self.status}")
        try:
            client = Client.current()
        except ValueError:  # no client at all
            client = None
        if client is not None and client.cluster is self and client.status == "running":
            return client
        return Client(self, asynchronous=self.asynchronous)

    # --- facts ---

    @property
    def scheduler_address(self) -> str | None:
        return self.scheduler.address if self.scheduler is not None else None

    @property
    def dashboard_link(self) -> str | None:
        """The scheduler's dashboard URL, or None while it has none."""
        return getattr(self.scheduler, "dashboard_link", None)

    @property
    def scheduler_info(self) -> dict:
        """The scheduler's ``identity()``: its workers with threads, memory, metrics."""
        if self.scheduler is None:
            return {}
        return self.scheduler.identity()

    def load(self) -> Load:
        """The scheduler's current load, as :class:`~.adaptive.Adaptive` reads it."""
        state = self.scheduler.state
        workers, processing = {}, 0
        by_name = {str(name): name for name in self.workers}
        for ws in state.workers.values():
            name = by_name.get(str(ws.name))
            if name is None:
                continue  # a worker this cluster did not start (joined from elsewhere)
            workers[name] = (len(ws.processing), ws.nbytes)
            processing += len(ws.processing)
        for name in self.workers:  # started but not (yet) registered: counts, holds nothing
            workers.setdefault(name, (0, 0))
        tasks = processing + len(state.queued) + len(state.unrunnable)
        return Load(tasks, workers, self.threads_per_worker)

    # --- scaling ---

    def scale(self, n: int = 0, *, cores: int | None = None, memory=None):
        """Scale to ``n`` workers (or enough for ``cores`` threads / ``memory`` bytes).

        Blocks until done; with ``asynchronous=True`` it returns an awaitable task.
        """
        n = _workers_for(n, cores, memory, self.threads_per_worker, self.memory_limit)
        if self.asynchronous:
            return asyncio.ensure_future(self._scale(n))
        return self._sync(self._scale, n)

    async def _scale(self, n: int, close=()) -> None:
        async with self._scale_lock:
            if self.status in ("closing", "closed"):
                return
            for name, worker in list(self.workers.items()):
                if getattr(worker, "status", "") == "closed":  # its nanny gave up, or it was retired
                    del self.workers[name]
            if n > len(self.workers):
                await self._add_workers(n - len(self.workers))
            elif n < len(self.workers):
                chosen = [name for name in close if name in self.workers][: len(self.workers) - n]
                if len(chosen) < len(self.workers) - n:
                    from shoal.distributed.deploy.adaptive import workers_to_close

                    load = self.load().workers
                    rest = {k: v for k, v in load.items() if k not in chosen}
                    chosen += workers_to_close(rest, len(self.workers) - n - len(chosen))
                await self._remove_workers(chosen)

    async def _add_workers(self, count: int) -> None:
        names = list(range(self._next_name, self._next_name + count))
        self._next_name += count
        workers = [self._make_worker(name) for name in names]
        try:
            results = await asyncio.gather(*(w.start() for w in workers), return_exceptions=True)
        except BaseException:  # cancelled (close, Ctrl-C): none of them may outlive this
            await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
            raise
        failed = []
        for name, worker, result in zip(names, workers, results):
            if isinstance(result, BaseException):
                failed.append((name, result))
                await asyncio.gather(worker.close(), return_exceptions=True)
            else:
                self.workers[name] = worker
        if failed:
            name, exc = failed[0]
            raise RuntimeError(
                f"{self.name}: {len(failed)} of {count} workers failed to start; "
                f"worker {name}: {type(exc).__name__}: {exc}"
            ) from exc

    def _make_worker(self, name):
        kwargs = dict(
            nthreads=self.threads_per_worker, memory_limit=self.memory_limit or 0, name=name,
            host=self.host, security=self.security, **self.worker_kwargs,
        )  # fmt: skip
        cls = self.worker_class
        if cls is None and self.processes:
            from shoal.distributed.nanny import Nanny

            return Nanny(self.scheduler_address, log_level=self.silence_logs or None, **kwargs)
        if cls is None:
            from shoal.distributed.worker.server import Worker as cls
        return cls(self.scheduler_address, **kwargs)

    async def _remove_workers(self, names) -> None:
        workers = [self.workers.pop(name) for name in names if name in self.workers]
        # a scale-down cancelled now (an adaptive cluster stopped) still closes the workers
        # it took out (their close runs to its end), and the cluster's close waits for them
        self._leaving.update(workers)
        try:
            try:  # what only they hold is copied to the workers that stay first
                addresses = [a for a in (_address_of(w) for w in workers) if a]
                if addresses and self.scheduler is not None and self.status == "running":
                    await self.scheduler.evacuate(addresses)
            finally:
                await asyncio.shield(asyncio.gather(*(w.close() for w in workers),
                                                    return_exceptions=True))  # fmt: skip
        finally:
            self._leaving.difference_update(
                w for w in workers if getattr(w, "status", "closed") == "closed")

    def adapt(self, minimum: int = 0, maximum: float = math.inf, interval=None, wait_count=None,
              minimum_cores=None, maximum_cores=None, minimum_memory=None, maximum_memory=None,
              **unsupported) -> Adaptive:  # fmt: skip
        """Scale between ``minimum`` and ``maximum`` workers following the load (bounds in
        threads, ``*_cores``, or bytes, ``*_memory``, too: the tighter wins); returns the
        Adaptive.  Dask's other options (``target_duration``, ...) are refused by name: they
        were accepted and did nothing."""
        if unsupported:
            raise TypeError(f"adapt: {', '.join(sorted(unsupported))} not supported (shoal scales "
                            "by the tasks waiting and the threads)")  # fmt: skip
        if minimum_cores is not None or minimum_memory is not None:
            minimum = max(minimum, _workers_for(0, minimum_cores, minimum_memory,
                                                self.threads_per_worker, self.memory_limit))
        if maximum_cores is not None:
            maximum = min(maximum, maximum_cores // self.threads_per_worker)
        if maximum_memory is not None:
            if not self.memory_limit:
                raise ValueError("adapt(maximum_memory=...) needs workers with a memory_limit")
            from shoal import config

            maximum = min(maximum, config.parse_bytes(maximum_memory) // self.memory_limit)
        adaptive = Adaptive(self, minimum=minimum, maximum=maximum, interval=interval, wait_count=wait_count)

        async def swap():
            if self._adaptive is not None:
                await self._adaptive._stop()
            if self.status in ("closing", "closed"):  # closed meanwhile: nothing to adapt
                return
            self._adaptive = adaptive
            adaptive.start()

        if self.asynchronous:
            asyncio.ensure_future(swap())
        else:
            self._sync(swap)
        return adaptive

    async def _wait_for_workers(self, n: int, timeout) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while len(self.scheduler.state.workers) < n:
            if deadline is not None and loop.time() > deadline:
                raise TimeoutError(f"{self.name}: only {len(self.scheduler.state.workers)} of {n} "
                                   f"workers after {timeout} s")  # fmt: skip
            await asyncio.sleep(0.01)

    def wait_for_workers(self, n_workers: int, timeout=None):
        """Block until at least ``n_workers`` workers are registered with the scheduler."""
        if self.asynchronous:
            return self._wait_for_workers(n_workers, timeout)
        return self._sync(self._wait_for_workers, n_workers, timeout)

    # --- plumbing ---

    def _sync(self, func, *args):
        if self._runner is None:
            raise RuntimeError(f"{self.name} is closed")
        return self._runner.sync(func, *args)

    def _quiet_logs(self) -> None:
        if self.silence_logs:
            log = logging.getLogger("shoal.distributed")
            self._old_log_level = log.level
            log.setLevel(self.silence_logs)

    def _restore_logs(self) -> None:
        if self._old_log_level is not None:
            logging.getLogger("shoal.distributed").setLevel(self._old_log_level)
            self._old_log_level = None

    def _summary(self) -> tuple[int, int, int | None]:
        n = sum(getattr(w, "status", "running") != "closed" for w in self.workers.values())
        return n, n * self.threads_per_worker, (self.memory_limit * n if self.memory_limit else None)

    def __repr__(self):
        n, threads, memory = self._summary()
        return (f"{type(self).__name__}({self.name!r}, {self.scheduler_address!r}, workers={n}, "
                f"threads={threads}, memory={format_limit(memory)}, status={self.status})")  # fmt: skip

    def _repr_html_(self):
        n, threads, memory = self._summary()
        try:
            link = self.dashboard_link
        except ValueError as exc:  # (a bad distributed.dashboard.link: say so, show the rest)
            dash = html.escape(str(exc))
        else:
            dash = (f'<a href="{html.escape(link)}" target="_blank">{html.escape(link)}</a>'
                    if link else "none")  # fmt: skip
        rows = [
            ("Scheduler", html.escape(str(self.scheduler_address))), ("Dashboard", dash),
            ("Workers", n), ("Threads", threads), ("Memory", format_limit(memory)),
            ("Processes", self.processes), ("Status", html.escape(self.status)),
        ]  # fmt: skip
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{v}</td></tr>"
                       for k, v in rows)  # fmt: skip
        return f"<div><h3 style='margin:0'>{type(self).__name__}: {html.escape(self.name)}</h3><table>{body}</table></div>"


def _pick_protocol(protocol, processes: bool, security) -> str:
    if protocol:
        protocol = protocol.split("://")[0]
        if protocol not in ("tcp", "tls", "inproc"):
            raise ValueError(f"LocalCluster: unknown protocol {protocol!r}; use 'tcp', 'tls' or 'inproc'")
        return protocol
    if security is not None:  # certificates are for tls://
        return "tls"
    return "tcp" if processes else "inproc"


def _workers_for(n, cores, memory, threads_per_worker, memory_limit) -> int:
    """Workers needed for ``n`` workers, ``cores`` threads and ``memory`` bytes (the most of them).

    >>> _workers_for(1, 8, None, 2, None), _workers_for(0, None, "3 GB", 1, 10**9)
    (4, 3)
    """
    from shoal import config

    if n < 0:
        raise ValueError(f"scale: n must be >= 0, got {n}")
    need = int(n)
    if cores is not None:
        need = max(need, math.ceil(cores / threads_per_worker))
    if memory is not None:
        if not memory_limit:
            raise ValueError("scale(memory=...) needs workers with a memory_limit")
        need = max(need, math.ceil(config.parse_bytes(memory) / memory_limit))
    return need


def _close_live_clusters() -> None:  # pragma: no cover - runs at interpreter exit
    clients = sys.modules.get("shoal.distributed.client.current")  # (no import at exit: none then)
    if clients is not None:
        clients.close_live_clients()  # (first: registered after theirs, this hook runs before it)
    for cluster in list(_live):
        try:
            cluster.close(timeout=10)
        except Exception:
            pass


atexit.register(_close_live_clusters)


def _address_of(worker) -> str | None:
    """The address a cluster's worker (or its nanny's worker) is known by to the scheduler."""
    return getattr(worker, "worker_address", None) or getattr(worker, "address", None)
