"""Named state shared by every client of a scheduler, in Dask's spelling:
``Variable``, ``Queue``, ``Lock`` and ``Event``.

::

    Variable("x").set(v)  --rpc variable_set-->  Scheduler (scheduler/coordination.py)
    Queue("q").get()      --rpc queue_get----->  waits there, on the loop, for an item
    Lock / Event          --rpc lock_* / event_*

Each object is a name and a client: the one given, else ``get_client()`` at first
use (in a task, its worker's client; elsewhere the default client).  They pickle
as their name (a Queue with its ``maxsize``), so they can be passed into tasks, and
two objects of one name, in any process, are the same primitive.

A Future set in a Variable or put in a Queue is kept alive by the scheduler
until the variable changes or is deleted, or the item is taken; the getter
receives a Future of its own client.  Any other value is pickled here and kept,
still pickled, on the scheduler.

Waits (``Variable.get``, ``Queue.get`` / ``put`` on a full queue,
``Lock.acquire``, ``Event.wait``) wait on the scheduler.  A synchronous call first
asks without waiting; only when it must wait does a task's thread secede for the
wait (``worker/context.py``), so a task waiting for an Event that another task
sets does not hold the only thread of its worker.  Dask's primitives do not
secede.  As in Dask, a timeout makes ``Variable.get`` and ``Queue.get`` / ``put``
raise ``TimeoutError`` while ``Lock.acquire`` and ``Event.wait`` return False (the
``threading`` contract).  A lock is not released when its holder's client goes
away, only ``lock_lease_timeout`` (30 s) later: see the scheduler's side.
"""

from __future__ import annotations

import functools
import time
import uuid

from shoal import config
from shoal.distributed.protocol import Pickled
from shoal.distributed.taskcolumns import key_from_wire

__all__ = ["Event", "Lock", "Queue", "Variable"]


class _Waiting:
    """Stands for "a wait that will not end at once" in ``Client.sync(waits_on=...)``."""

    def done(self) -> bool:
        return False


_WAITING = (_Waiting(),)


def _timeout(timeout, what: str):
    """Seconds, from a number or a string (``"200ms"``); None stays None."""
    if timeout is None:
        return None
    seconds = config.parse_timedelta(timeout) if isinstance(timeout, str) else timeout
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: timeout must be a number of seconds or None, "
                        f"got {timeout!r}") from None  # fmt: skip
    if not seconds >= 0:
        raise ValueError(f"{what}: timeout must be >= 0 seconds or None, got {timeout!r}")
    return seconds


def _seconds(timeout) -> str:
    return f"{timeout:g} s"


class _Primitive:
    _prefix = ""

    def __init__(self, name=None, client=None):
        self.name = name if name is not None else f"{self._prefix}-{uuid.uuid4().hex}"
        self._client = client

    @property
    def client(self):
        if self._client is None:
            from shoal.distributed.worker.context import get_client

            self._client = get_client()
        return self._client

    def __reduce__(self):
        return type(self), (self.name,)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.name}>"

    def _client_here(self, op: str):
        """The client; a synchronous one is refused on its own loop's thread (a coroutine
        there), where a blocking call would wait for itself."""
        client = self.client
        if not client.asynchronous and client._in_loop():
            raise RuntimeError(f"{type(self).__name__} {self.name!r}: {op} blocks, and this is the "
                               "synchronous client's own event loop thread (it would wait for "
                               "itself): call it from another thread, or use an asynchronous "
                               "client (Client(asynchronous=True)) and await it")  # fmt: skip
        return client

    def _call(self, op: str, keep=None, **kwargs):
        """One request (an awaitable from an asynchronous client).  ``keep``: a Future
        the request names, referenced until the reply (an awaitable may outlive the
        caller's own reference, and a released key is forgotten)."""
        client = self._client_here(op)
        call = functools.partial(getattr(client.scheduler, op), name=self.name, **kwargs)
        return client.sync(_holding, call, keep)  # (made once the client is known to run)

    def _wait(self, op: str, finish, timeout, keep=None, **kwargs):
        """A request that may wait on the scheduler up to ``timeout`` seconds; its reply
        through ``finish``.  Synchronously: asked at once first, then seceded to wait."""
        client = self._client_here(op)
        call = getattr(client.scheduler, op)
        if client.asynchronous:
            async def wait():
                request = functools.partial(call, name=self.name, timeout=timeout, **kwargs)
                return finish(await _holding(request, keep))

            return client.sync(wait)
        start = time.monotonic()  # (partial: the loop's own sync() takes a timeout too)
        reply = client.sync(functools.partial(call, name=self.name, timeout=0, **kwargs))
        if not _ready(reply) and timeout != 0:
            left = None if timeout is None else max(timeout - (time.monotonic() - start), 0)
            reply = client.sync(functools.partial(call, name=self.name, timeout=left, **kwargs),
                                waits_on=_WAITING)  # fmt: skip
        return finish(reply)

    def _unpack(self, reply: dict):
        if "key" in reply:
            from shoal.distributed.client.futures import Future

            return Future(key_from_wire(reply["key"]), self.client, inform=True)
        return reply.get("value")

    def _pack(self, value) -> dict:
        from shoal.distributed.client.futures import Future

        if isinstance(value, Future):
            if value.status == "cancelled" or value._released:
                raise ValueError(f"{type(self).__name__} {self.name!r}: the Future of "
                                 f"{value.key!r} was {'released' if value._released else 'cancelled'}"
                                 "; only a live Future can be stored")  # fmt: skip
            return {"key": value.key}
        return {"value": Pickled(value)}


async def _holding(call, keep):
    """``await call()``, with ``keep`` referenced by this frame meanwhile."""
    return await call()


def _ready(reply) -> bool:
    return reply.get("ok", False) if isinstance(reply, dict) else bool(reply)


class _Held:
    """``with`` / ``async with`` around ``acquire`` and ``release`` (Lock, Semaphore,
    MultiLock)."""

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    async def __aenter__(self):
        await self.acquire()
        return self

    async def __aexit__(self, *exc):
        await self.release()


class Variable(_Primitive):
    """A named value (or Future) on the scheduler: ``set``, ``get`` (waits until set), ``delete``."""

    _prefix = "variable"

    def set(self, value, timeout="30s"):
        """Store ``value``; a Future is kept alive by the scheduler while it is stored (its
        task must reach the scheduler within ``timeout``, as Dask's default 30 s)."""
        timeout = _timeout(timeout, "Variable.set")
        return self._call("variable_set", keep=value, timeout=timeout, **self._pack(value))

    def get(self, timeout=None):
        """The value (a Future of this client for a stored Future); waits until one is set,
        at most ``timeout`` seconds (then ``TimeoutError``)."""
        timeout = _timeout(timeout, "Variable.get")

        def finish(reply):
            if not reply["ok"]:
                raise TimeoutError(f"Variable {self.name!r} had no value within {_seconds(timeout)}")
            return self._unpack(reply)

        return self._wait("variable_get", finish, timeout, client=self.client.id)

    def delete(self):
        """Forget the value (a stored Future is released)."""
        return self._call("variable_delete")


class Queue(_Primitive):
    """A named FIFO queue on the scheduler; ``maxsize`` > 0 bounds it (``put`` waits)."""

    _prefix = "queue"

    def __init__(self, name=None, client=None, maxsize=0):
        if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 0:
            raise ValueError(f"Queue: maxsize must be an int >= 0 (0: unbounded), got {maxsize!r}")
        super().__init__(name, client)
        self.maxsize = maxsize

    def __reduce__(self):
        return type(self), (self.name, None, self.maxsize)

    def put(self, value, timeout=None):
        """Append ``value`` (a Future is kept alive while queued); on a full queue wait up
        to ``timeout`` seconds for room (then ``TimeoutError``)."""
        timeout = _timeout(timeout, "Queue.put")

        def finish(reply):
            if not reply["ok"]:
                raise TimeoutError(f"Queue {self.name!r} stayed full for {_seconds(timeout)}")

        return self._wait("queue_put", finish, timeout, keep=value, maxsize=self.maxsize,
                          client=self.client.id, **self._pack(value))  # fmt: skip

    def get(self, timeout=None, batch=False):
        """The oldest item, waiting up to ``timeout`` seconds for one (then ``TimeoutError``).
        ``batch=True``: every item there now, as a list (no wait); ``batch=n``: a list of
        ``n`` items, waiting for them."""
        timeout = _timeout(timeout, "Queue.get")
        if batch is not True and batch is not False:
            if not isinstance(batch, int) or batch < 0:
                raise ValueError(f"Queue.get: batch must be True, False or an int >= 0, got {batch!r}")
        wait_for = 0 if batch is True else timeout

        def finish(reply):
            if not reply["ok"]:
                n = "item" if batch is False else f"{batch} items"
                raise TimeoutError(f"Queue {self.name!r}: no {n} to get within {_seconds(timeout)}")
            items = [self._unpack(item) for item in reply["items"]]
            return items[0] if batch is False else items

        return self._wait("queue_get", finish, wait_for, batch=batch, client=self.client.id,
                          maxsize=self.maxsize)  # fmt: skip

    def qsize(self):
        """How many items the queue holds now."""
        return self._call("queue_qsize", maxsize=self.maxsize)


class Lock(_Held, _Primitive):
    """A named lock: ``acquire`` / ``release`` / ``locked``, or ``with lock:``.  Only the
    Lock object that acquired it releases it (an unpickled copy is another object)."""

    _prefix = "lock"

    def __init__(self, name=None, client=None):
        super().__init__(name, client)
        self.id = uuid.uuid4().hex

    def acquire(self, blocking=True, timeout=None):
        """True once held; False if not within ``timeout`` seconds (or at once when not
        ``blocking``)."""
        if not blocking:
            if timeout is not None:
                raise ValueError("Lock.acquire: a timeout needs blocking=True")
            timeout = 0
        timeout = _timeout(timeout, "Lock.acquire")
        return self._wait("lock_acquire", bool, timeout, id=self.id, client=self.client.id)

    def release(self):
        """Release the lock this object holds (``RuntimeError`` when it holds none)."""
        return self._call("lock_release", id=self.id)

    def locked(self):
        """Whether anyone holds the lock."""
        return self._call("lock_locked")


class Event(_Primitive):
    """A named flag: ``set``, ``clear``, ``is_set``, and ``wait`` until it is set."""

    _prefix = "event"

    def set(self):
        return self._call("event_set")

    def clear(self):
        return self._call("event_clear")

    def is_set(self):
        return self._call("event_is_set")

    def wait(self, timeout=None):
        """True once the event is set; False if it was not within ``timeout`` seconds."""
        timeout = _timeout(timeout, "Event.wait")
        return self._wait("event_wait", bool, timeout, client=self.client.id)
