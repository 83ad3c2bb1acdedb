"""The cluster itself, from a Client: run functions there, ask who holds what, restart.

:class:`ClusterControl` holds these methods of :class:`~.core.Client` (a mixin:
they need only the client's ``sync``, its ``scheduler`` rpc, its key table
``_keys`` and the cached ``_identity``), so that ``core.py`` keeps to futures,
graphs and the connection.

``run`` is a broadcast through the scheduler (op ``run`` on each worker, or
on its nanny).  With ``on_error="raise"`` one request serves all workers and
the first error propagates with its own type; ``"return"`` and ``"ignore"``
ask each worker separately so one failure does not hide the other answers.
"""

from __future__ import annotations

import asyncio
import logging

from shoal.distributed.client.introspection import Introspects
from shoal.distributed.client.waiting import futures_of
from shoal.distributed.protocol import Pickled
from shoal.distributed.taskcolumns import story_from_wire

__all__ = ["ClusterControl", "SchedulerInfo", "fire_and_forget", "run_on_workers"]

logger = logging.getLogger(__name__)


class SchedulerInfo(dict):
    """An asynchronous client's ``scheduler_info()``: the identity it read last, a dict
    (Dask's contract), that is also awaitable: ``await`` reads a fresh one from the
    scheduler (as shoal's asynchronous methods do).  Only awaiting it makes a request."""

    def __init__(self, info: dict, refresh):
        super().__init__(info)
        self._refresh = refresh

    def __await__(self):
        return self._refresh().__await__()

    def __reduce__(self):  # (pickled, copied: a plain dict of it)
        return dict, (dict(self),)


def _first_workers(info: dict, n_workers) -> dict:
    """``info`` with its first ``n_workers`` workers only (all when None or negative)."""
    if n_workers is None or n_workers < 0 or "workers" not in info:
        return dict(info)
    workers = dict(list(info["workers"].items())[:n_workers])
    return {**info, "workers": workers}


class ClusterControl(Introspects):  # (processing, nbytes, call_stack...: introspection.py)
    """``Client`` methods that act on or ask about the cluster; see the module docstring."""

    def restart(self, timeout=30, wait_for_workers=True, asynchronous=None):
        """Restart every worker (through their nannies); every future is cancelled."""
        return self.sync(self._restart, timeout, asynchronous=asynchronous)

    async def _restart(self, timeout=30):
        for state in self._keys.clear():
            state.cancel("the cluster restarted")
        await self.scheduler.restart(timeout=timeout)
        self._identity = await self.scheduler.identity()
        return self

    def retire_workers(self, workers=None, close_workers=True, n=None, asynchronous=None):
        """Close ``workers`` (addresses; or the ``n`` holding least) gracefully: what only they
        hold is copied to the workers that stay first.  The addresses retired."""
        if isinstance(workers, str):
            workers = [workers]
        return self.sync(self.scheduler.retire_workers, workers=workers, n=n,
                         close=close_workers, asynchronous=asynchronous)  # fmt: skip

    def shutdown(self):
        """Close the scheduler (its workers follow), then this client; a cluster this
        client started is closed with it."""
        if not self._own_cluster and self.status == "running":
            try:
                self.sync(self.scheduler.terminate)
            except OSError:  # (it closed as it answered)
                pass
        return self.close()

    # --- running functions --------------------------------------------------------------

    def run(self, function, *args, workers=None, wait=True, nanny=False, on_error="raise",
            **kwargs):  # fmt: skip
        """Run ``function(*args, **kwargs)`` on every worker (or ``workers``): ``{address: result}``;
        with ``wait=False`` it is sent and ``None`` returned at once (a failure is logged)."""
        if on_error not in ("raise", "return", "ignore"):
            raise ValueError(f"run: on_error={on_error!r}, expected 'raise', 'return' or 'ignore'")
        if isinstance(workers, str):
            workers = [workers]
        if not wait:
            self._call_on_loop(fire_and_forget, self._run(function, args, kwargs, workers, nanny,
                                                           on_error))  # fmt: skip
            return None
        return self.sync(self._run, function, args, kwargs, workers, nanny, on_error)

    async def _run(self, function, args, kwargs, workers, nanny, on_error):
        return await run_on_workers(self.scheduler, function, args, kwargs, workers, nanny, on_error)

    def run_on_scheduler(self, function, *args, **kwargs):
        """Run ``function(*args, **kwargs)`` in the scheduler's process."""
        return self.sync(self.scheduler.run_function, function=Pickled(function),
                         args=Pickled(tuple(args)), kwargs=Pickled(dict(kwargs)))  # fmt: skip

    # --- information ----------------------------------------------------------------------

    def scheduler_info(self, n_workers=-1, asynchronous=None):
        """The scheduler's identity: its address, dashboard port (``services``), and each
        worker's threads, memory and metrics, in Dask's shape; the first ``n_workers`` workers
        only (``-1``, the default here: all; Dask's default shows 5).

        An asynchronous client returns, as Dask's does, the identity it read last, at
        once (``c.scheduler_info()["workers"]``), and reads a fresh one for the next call
        meanwhile (Dask's refreshes every 2 s: a loop that waits for workers this way
        sees them come); awaited, it reads a fresh one (``await c.scheduler_info()``):
        see :class:`SchedulerInfo`."""
        if asynchronous is None and self.asynchronous:
            self._refresh_identity()
            return SchedulerInfo(_first_workers(self._identity, n_workers),
                                 lambda: self._update_identity(n_workers))  # fmt: skip
        return self.sync(self._update_identity, n_workers, asynchronous=asynchronous)

    def _refresh_identity(self) -> None:
        """Read the identity again in the background (one read at a time)."""
        running = getattr(self, "_identity_task", None)
        if self.status != "running" or (running is not None and not running.done()):
            return
        try:
            task = asyncio.get_running_loop().create_task(self._update_identity())
        except RuntimeError:  # (no loop running here: asked from another thread)
            return
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # (a closed client's)
        self._identity_task = task

    async def _update_identity(self, n_workers=-1):
        info = await self.scheduler.identity(n_workers=n_workers)
        if n_workers is None or n_workers < 0:  # (the cached one has every worker)
            self._identity = info
        return info

    def story(self, *keys_or_futures, asynchronous=None) -> list:
        """The scheduler's log entries about these keys (or futures' keys), oldest first, as
        tuples: its transitions ``(key, start, finish, recommendations, stimulus_id, time)``
        (``recommendations`` a dict, ``time`` from ``time.time()``) and its notes of what
        changed nothing ``(key, what, detail, stimulus_id, time)``."""
        keys = [getattr(k, "key", k) for k in keys_or_futures]
        return self.sync(self._story, keys, asynchronous=asynchronous)

    async def _story(self, keys) -> list:
        entries = await self.scheduler.story(keys=keys)
        return [story_from_wire(e) for e in entries]

    def who_has(self, futures=None, asynchronous=None):
        """``{key: [worker addresses]}`` for ``futures`` (or every key)."""
        keys = None if futures is None else [f.key for f in futures_of(futures)]
        return self.sync(self.scheduler.who_has, keys=keys, asynchronous=asynchronous)

    def has_what(self, workers=None, asynchronous=None):
        """``{worker address: [keys]}``."""
        if isinstance(workers, str):
            workers = [workers]
        return self.sync(self.scheduler.has_what, workers=workers, asynchronous=asynchronous)

    def nthreads(self, workers=None, asynchronous=None):
        """``{worker address: threads}``."""
        if isinstance(workers, str):
            workers = [workers]
        return self.sync(self.scheduler.nthreads, workers=workers, asynchronous=asynchronous)

    ncores = nthreads

    def wait_for_workers(self, n_workers=1, timeout=None, asynchronous=None):
        """Block until at least ``n_workers`` workers are connected."""
        return self.sync(self._wait_for_workers, n_workers, callback_timeout=timeout,
                         asynchronous=asynchronous)  # fmt: skip

    async def _wait_for_workers(self, n_workers):
        while len((await self._update_identity()).get("workers", {})) < n_workers:
            await asyncio.sleep(0.05)




_RUNNING: set = set()  # fire-and-forget tasks: a strong reference until each ends


def fire_and_forget(coroutine, what: str = "Client.run(wait=False)") -> None:
    """Run ``coroutine`` on the running loop without waiting; log how *what* failed,
    if it did."""
    def done(task):
        _RUNNING.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("%s failed: %r", what, task.exception())

    task = asyncio.ensure_future(coroutine)
    _RUNNING.add(task)  # (the loop keeps only a weak reference to a task)
    task.add_done_callback(done)


async def run_on_workers(scheduler, function, args, kwargs, workers, nanny, on_error) -> dict:
    """``{worker address: result}`` of ``function(*args, **kwargs)`` on ``workers`` (all: None)."""
    msg = {"op": "run", "function": Pickled(function), "args": Pickled(tuple(args)),
           "kwargs": Pickled(dict(kwargs))}  # fmt: skip
    if on_error == "raise":
        return await scheduler.broadcast(msg=msg, workers=workers, nanny=nanny)
    if workers is None:
        workers = list((await scheduler.nthreads()).keys())

    async def one(worker):
        try:
            return await scheduler.broadcast(msg=msg, workers=[worker], nanny=nanny)
        except Exception as exc:  # noqa: BLE001 - on_error decides what to do with it
            return {worker: exc}

    out: dict = {}
    for part in await asyncio.gather(*(one(w) for w in workers)):
        for worker, result in part.items():
            if not (on_error == "ignore" and isinstance(result, Exception)):
                out[worker] = result
    return out
