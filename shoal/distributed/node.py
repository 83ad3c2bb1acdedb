"""What every server of the runtime shares: how it starts, runs ticks and ends.

``Node`` is a mixin for :class:`~shoal.distributed.scheduler.server.Scheduler`,
:class:`~shoal.distributed.worker.server.Worker` and
:class:`~shoal.distributed.nanny.Nanny`.  Each defines ``start()`` and ``_close()``;
``Node`` gives them the same spellings (``await node``, ``async with node``,
``await node.finished()``), one ``close()`` and one way to run background work
that the close can cancel.

``close()`` runs ``_close()`` once, to its end (:class:`Once`): a caller
cancelled meanwhile (an adaptive cluster stopped while it scaled down, a
caller's timeout) stops only its own wait, never the close half done (that left
a worker's sampler thread running, the worker already gone from its cluster).
Whatever ``_close`` does or raises, the node ends ``closed`` and
:meth:`finished` resolves.  The ``Client`` and the ``LocalCluster`` close
through a :class:`Once` too.

:meth:`_spawn` keeps every task it makes in ``self._tasks``, and :meth:`_every`
is a periodic tick that logs (never propagates) a failing action.
:meth:`_run_here` runs a client's function in the node's process
(``Client.run``, ``Client.run_on_scheduler``): a function with a parameter
named ``dask_worker`` (on a worker or a nanny) or ``dask_scheduler`` (on the
scheduler) gets the node itself there, as Dask's users write it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

from shoal.distributed import logbuffer

__all__ = ["Node", "Once"]

logger = logging.getLogger(__name__)


class Once:
    """An async action that runs once and to its end: the first call starts it in a
    task of its own, and every call (the first too) waits for that task through
    :func:`asyncio.shield`, so a caller cancelled meanwhile ends only its own wait.
    Later calls' arguments are not used: the action under way is the one awaited."""

    __slots__ = ("task",)

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None

    async def __call__(self, action, *args, **kwargs):
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(action(*args, **kwargs))
        return await asyncio.shield(self.task)


class Node:
    """Mixin: call :meth:`_init_node` in ``__init__``; define ``start`` and ``_close``."""

    def _init_node(self) -> None:
        self._tasks: set = set()
        self._closed = asyncio.Event()
        self._closing = Once()
        logbuffer.install()  # (this process's recent records, for Client.get_*_logs)

    def __await__(self):
        return self.start().__await__()

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self, *args, **kwargs) -> None:
        """Close this node (``_close``'s arguments); returns once it is closed."""
        await self._closing(self._close_once, *args, **kwargs)

    async def _close_once(self, *args, **kwargs) -> None:
        try:
            if self.status != "closed":  # (a failed start may have closed it already)
                await self._close(*args, **kwargs)
        finally:
            self.status = "closed"
            self._closed.set()

    async def _close(self, *args, **kwargs) -> None:
        raise NotImplementedError

    async def finished(self) -> None:
        """Resolves once the node has closed."""
        await self._closed.wait()

    #: the parameter through which :meth:`_run_here` hands a function this node
    run_parameter = "dask_worker"

    async def _run_here(self, function, args, kwargs):
        """``Pickled(function(*args, **kwargs))``, all three maybe still serialized;
        the node is passed as :attr:`run_parameter` when the function takes one."""
        from shoal.distributed.protocol import Pickled, Serialized, deserialize

        fn, args, kwargs = (deserialize(x) if isinstance(x, Serialized) else x
                            for x in (function, args, kwargs))  # fmt: skip
        kwargs = dict(kwargs or {})
        try:
            takes = self.run_parameter in inspect.signature(fn).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            takes = False
        if takes:
            kwargs[self.run_parameter] = self
        result = fn(*(args or ()), **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return Pickled(result)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _cancel_tasks(self) -> None:
        """Cancel and await every spawned task but the one calling this."""
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _every(self, seconds: float, action) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                action()
            except Exception:  # a periodic tick must never stop the server
                logger.exception("periodic action %r of %r failed", action, self)
