"""Actors: one stateful object on one worker, called directly, not through the scheduler.

::

    client.submit(Counter, actor=True)     an ordinary task whose function is ActorTask(Counter)
      worker task thread: instance = Counter(); worker.actors[key] = instance
      the task's value is Actor(Counter, worker address, key): a small handle, not the object

    proxy.increment(1)                     an ActorFuture at once
      caller's holder (the client, or the worker whose task/actor thread calls)
        -- pool(address).actor_execute(key, name, args) -->  holding worker
                                                             the actor thread runs the method
        <-- the value (shoal serialization) or the original exception --

The task's value is the handle, so the scheduler, the data store, spilling and
transfers only ever see the handle; the instance stays in the worker's actor table
(``worker/actors.py``) until the scheduler makes the worker forget the key.  Moving the
handle to another worker (a dependent task there) gives that task a working proxy.

A proxy is not tied to the process that made it: it finds its *holder* on first use
(the worker whose task or actor method is calling, else the default client), and each
call runs as a coroutine on the holder's loop.  ``ActorFuture.result()`` blocks a
thread; a caller on that very loop (an asynchronous client, an ``async def`` actor
method) awaits instead.  Reading an attribute is a call too: its value in a thread,
an awaitable ActorFuture on the holder's loop.

A worker that cannot be reached fails the call with :class:`ActorLostError` naming
the key after at most ``CONNECT_TIMEOUT`` seconds: actors are not restarted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import threading

from shoal.distributed.protocol import serialize
from shoal.distributed.rpc import ConnectionPool

__all__ = ["Actor", "ActorFuture", "ActorLostError", "ActorTask"]

#: seconds a call keeps trying to reach the actor's worker before it fails
CONNECT_TIMEOUT = 3.0

#: the worker whose actor thread this is (set by the thread's initializer)
actor_thread = threading.local()
#: the worker whose ``async def`` actor method runs (on its loop, not the actor thread)
actor_worker = contextvars.ContextVar("shoal_actor_worker", default=None)


class ActorLostError(RuntimeError):
    """The worker holding an actor cannot be reached (it died or closed)."""


class ActorTask:
    """The task function of ``submit(func, ..., actor=True)``: makes the object on the
    worker, keeps it in the worker's actor table, returns its :class:`Actor` handle."""

    def __init__(self, func):
        self.func = func
        self.__name__ = getattr(func, "__name__", type(func).__name__)  # (the key's name)

    def __call__(self, *args, **kwargs):
        from shoal.distributed.worker.context import get_worker

        worker = get_worker()
        key = worker.get_current_task()
        instance = self.func(*args, **kwargs)
        worker.hold_actor(key, instance)
        return Actor(type(instance), worker.address, key)


class Actor:
    """A proxy of an object living on a worker: ``proxy.method(...)`` -> :class:`ActorFuture`,
    ``proxy.attribute`` -> its current value (awaitable on an asynchronous client)."""

    def __init__(self, cls, address: str, key, future=None):
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "_address", address)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_future", future)  # (a client's: keeps the actor alive)
        object.__setattr__(self, "_holder", future.client if future is not None else None)

    def __reduce__(self):
        return Actor, (self._cls, self._address, self._key)

    def __repr__(self) -> str:
        return f"<Actor: {self._cls.__name__}, key={self._key}>"

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot set {name!r} on {self!r}: an actor's state changes only "
                             "through its own methods")  # fmt: skip

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if callable(getattr(self._cls, name, None)):
            return _Method(self, name)
        if not _declares(self._cls, name):  # (as Dask: no round trip for any probe)
            raise AttributeError(f"{self._cls.__name__} actor {self._key!r} has no attribute "
                                 f"{name!r} (its class must define or annotate it)")
        future = self._call("actor_attribute", name)
        return future if future._on_loop else future.result()

    def _call(self, op: str, name: str, args=(), kwargs=None) -> ActorFuture:
        holder = self._holder or _find_holder()
        msg = {"op": op, "key": self._key, "name": name}
        if op == "actor_execute":
            msg["args"] = (args, kwargs or {})
        apart = op == "actor_execute" and inspect.iscoroutinefunction(getattr(self._cls, name))
        own = getattr(actor_thread, "worker", None)
        if own is not None and own.address == self._address and not apart:  # (queued for
            # this very thread, the call would wait for the method waiting on it: run it now)
            return ActorFuture.now(own.actor_here, op, self._key, name, args, kwargs or {})
        return ActorFuture.start(holder, self._address, msg, self._key, apart)


class _Method:
    """``proxy.method``: calling it starts the call."""

    __slots__ = ("actor", "name")

    def __init__(self, actor: Actor, name: str):
        self.actor, self.name = actor, name

    def __call__(self, *args, **kwargs) -> ActorFuture:
        return self.actor._call("actor_execute", self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<actor method {self.name} of {self.actor!r}>"


class ActorFuture:
    """The pending result of one actor call: ``result(timeout)``, ``done()``, ``await``."""

    def __init__(self, future, on_loop: bool):
        self._future = future  # concurrent.futures.Future, or an asyncio one on this loop
        self._on_loop = on_loop

    @classmethod
    def start(cls, holder, address: str, msg: dict, key, apart=False) -> ActorFuture:
        loop = holder.actor_loop()
        if loop is None or loop.is_closed():
            raise RuntimeError(f"actor {key!r}: {holder!r} is not running")
        coro = _request(holder, address, msg, key, apart)
        if _running_loop() is loop:
            return cls(asyncio.ensure_future(coro), True)
        return cls(asyncio.run_coroutine_threadsafe(coro, loop), False)

    @classmethod
    def now(cls, func, *args) -> ActorFuture:
        """``func(*args)`` called at once, its value or exception in a done ActorFuture."""
        future = concurrent.futures.Future()
        try:
            future.set_result(func(*args))
        except Exception as exc:
            future.set_exception(exc)
        return cls(future, False)

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout=None):
        if not self._on_loop:
            return self._future.result(timeout)
        if not self._future.done():
            raise RuntimeError("this actor call runs on the calling thread's event loop: await it")
        return self._future.result()

    def __await__(self):
        if self._on_loop:
            return self._future.__await__()
        return asyncio.wrap_future(self._future).__await__()

    def __repr__(self) -> str:
        return f"<ActorFuture: {'done' if self.done() else 'pending'}>"


async def _request(holder, address: str, msg: dict, key, apart: bool):
    if "args" in msg:
        msg = {**msg, "args": serialize(msg["args"])}
    try:
        return await holder.actor_send(address, msg, apart)
    except (OSError, concurrent.futures.TimeoutError) as exc:
        raise ActorLostError(f"actor {key!r}: its worker {address} cannot be reached "
                             f"({type(exc).__name__}: {exc}); actors are not restarted") from exc


def actor_pools(security, role: str) -> tuple:
    """A holder's ``(ordered, apart)`` pools: one comm per worker keeps the calls in the
    order they were made (one actor thread runs them in turn anyway); ``async def``
    methods, which run side by side and may wait on each other, go apart so that no call
    waits behind a pending one (an ``await queue.get()`` would block its ``put``)."""
    return tuple(ConnectionPool(n, timeout=CONNECT_TIMEOUT, security=security, role=role)
                 for n in (1, 64))  # fmt: skip


def _declares(cls, name: str) -> bool:
    """Whether ``cls`` defines ``name`` or annotates it (``n: int``, dataclass fields)."""
    return hasattr(cls, name) or any(name in vars(k).get("__annotations__", {})
                                     for k in cls.__mro__)  # fmt: skip


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _find_holder():
    """The worker calling (from a task or actor thread), else the default client."""
    worker = getattr(actor_thread, "worker", None) or actor_worker.get()
    if worker is None:
        from shoal.distributed.worker.context import _pool

        pool = _pool()
        worker = pool.owner if pool is not None else None
    if worker is not None:
        return worker
    from shoal.distributed.client.current import default_client

    return default_client()
