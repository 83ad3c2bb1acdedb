"""Publish-subscribe between clients and tasks, in Dask's spelling: ``Pub`` and ``Sub``.

::

    Pub("n").put(msg)  --stream "pubsub-msg"-->  Scheduler (scheduler/pubsub.py)
                                                   |  once per client subscribing to "n"
    Sub("n").get()  <-- buffer <-- _Subscriptions <--stream "pubsub-msg"--+
    Sub("n")        --stream "pubsub-subscribe" (on creation) / "pubsub-unsubscribe" (collected)-->

Each object is a name and a client: the one given, else ``get_client()`` (in a
task, its worker's client; elsewhere the default client), so publishers and
subscribers in tasks and in clients mix freely.  Both pickle as their name: a
``Sub`` passed into a task subscribes there, as a new subscriber (at its first
``get`` where its worker unpickles it with no client at hand).

``put`` does not wait: it pickles the message (an error raises there) and queues
it on the client's stream (never unpickled by the scheduler), so one publisher's
messages arrive in the order it put them, after any ``Sub`` it made before.  A message put while
nobody subscribes to its name is dropped, as in Dask.  Between two clients (two
workers' tasks, say) nothing orders a ``Sub`` before another client's ``put``:
as in Dask, a message put just after a ``Sub`` made elsewhere may be dropped;
wait for the subscriber to say so (a message of its own, or ``Pub.subscribers``).
A ``get`` waiting when its client closes or loses the scheduler raises.

A client keeps its ``Sub`` s by name (weakly: :class:`_Subscriptions`) and the
scheduler sends it each message once; the client appends it to the ``buffer``
of each of its subscribers of that name, on its event loop, and wakes their
waits.  Messages wait there, never on the scheduler.  ``get`` takes from the
buffer; an empty one is waited for on the client's loop (a task's thread
secedes meanwhile, as for the other coordination primitives).  A ``Sub`` that
is garbage collected unsubscribes; one whose client closes is forgotten by the
scheduler.  Unlike Dask, messages between tasks go through the scheduler
rather than worker to worker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections import deque

from shoal.distributed.coordination import _WAITING, _seconds, _timeout
from shoal.distributed.protocol import Serialized, deserialize, serialize

__all__ = ["Pub", "Sub"]


def _check_name(name, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what}: name must be a non-empty str, got {name!r}")
    return name


def _default_client(client):
    if client is not None:
        return client
    from shoal.distributed.worker.context import get_client

    return get_client()


class _Subscriptions:
    """A client's subscribers by name (weakly held); fed on the client's loop."""

    def __init__(self) -> None:
        self.subs: dict = {}  # name -> WeakSet of Sub
        self.ended = False  # the client's stream ended (closed, or the scheduler lost)

    def add(self, sub: Sub) -> None:
        self.subs.setdefault(sub.name, weakref.WeakSet()).add(sub)

    def watch(self, conn) -> None:
        """On the loop: once the client's stream ends, wake every wait (to raise)."""
        reader = getattr(conn, "_reader", None)
        if reader is None or reader.done():
            self.end()
        else:
            reader.add_done_callback(self.end)

    def end(self, _=None) -> None:
        self.ended = True
        for subs in list(self.subs.values()):
            for sub in list(subs):
                for event in sub._waiters:
                    event.set()

    def deliver(self, msg: dict) -> None:
        name = msg.get("name")
        subs = self.subs.get(name)
        if subs is None:
            return
        live = list(subs)
        if not live:
            del self.subs[name]
            return
        payload = msg.get("msg")  # (the stream leaves pickled payloads to their reader)
        value = deserialize(payload) if isinstance(payload, Serialized) else payload
        for sub in live:
            sub._receive(value)


def _subscriptions(client) -> _Subscriptions:
    """The client's table, made (and its "pubsub-msg" handler set) on first use."""
    table = client.__dict__.get("_pubsub")
    if table is None:
        table = client.__dict__["_pubsub"] = _Subscriptions()
        client._keys.handlers["pubsub-msg"] = table.deliver
        client._call_on_loop(table.watch, client._conn)
    return table


def _unsubscribe(client, name: str, sub_id: str) -> None:
    """A collected ``Sub`` leaves (nothing to do once its client stopped)."""
    if client.status == "running":
        try:
            client._send({"op": "pubsub-unsubscribe", "name": name, "id": sub_id})
        except RuntimeError:  # (closing meanwhile: the scheduler forgets it anyway)
            pass


class Pub:
    """Publish messages to every ``Sub`` of ``name`` that exists when they are put."""

    def __init__(self, name, client=None):
        self.name = _check_name(name, "Pub")
        self._client = client

    @property
    def client(self):
        if self._client is None:
            self._client = _default_client(None)
        return self._client

    def put(self, msg) -> None:
        """Send ``msg`` (any picklable object) to the current subscribers; never waits.
        Pickled here, so that one that cannot be raises here."""
        try:
            payload = serialize(msg)
        except Exception as exc:
            raise TypeError(f"Pub {self.name!r}: cannot pickle the message "
                            f"{type(msg).__name__}: {exc}") from exc  # fmt: skip
        self.client._send({"op": "pubsub-msg", "name": self.name, "msg": payload})

    @property
    def subscribers(self):
        """``{Sub id: client id}`` of the subscribers the scheduler knows now (one request;
        an awaitable from an asynchronous client)."""
        client = self.client
        return client.sync(client.scheduler.pubsub_subscribers, name=self.name)

    def __reduce__(self):
        return type(self), (self.name,)

    def __repr__(self) -> str:
        return f"<Pub: {self.name}>"


class Sub:
    """Receive the messages put to ``name`` from now on: ``get``, ``for msg in sub``
    (``async for`` with an asynchronous client); ``buffer`` holds those not taken yet."""

    def __init__(self, name, client=None):
        self.name = _check_name(name, "Sub")
        self.id = f"sub-{uuid.uuid4().hex}"
        self.buffer: deque = deque()
        self._waiters: set = set()  # asyncio.Events of waits on the loop
        self.client = None
        self._subscribe(_default_client(client))

    def _subscribe(self, client) -> None:
        table = _subscriptions(client)
        client._send({"op": "pubsub-subscribe", "name": self.name, "id": self.id})  # (raises
        self.client, self._table = client, table  # on a closed client: nothing added then)
        client._call_on_loop(table.add, self)
        weakref.finalize(self, _unsubscribe, client, self.name, self.id).atexit = False

    def _receive(self, msg) -> None:
        """On the client's loop: a message arrived."""
        self.buffer.append(msg)
        for event in self._waiters:
            event.set()

    def get(self, timeout=None):
        """The next message, waiting up to ``timeout`` seconds (then ``TimeoutError``);
        an awaitable from an asynchronous client."""
        timeout = _timeout(timeout, "Sub.get")
        if self.client is None:  # unpickled where no client was: subscribes now
            self._subscribe(_default_client(None))
        client = self.client
        if client.asynchronous:
            return client.sync(self._get, timeout)
        try:
            return self.buffer.popleft()
        except IndexError:
            pass
        if client._in_loop():
            raise RuntimeError(f"Sub {self.name!r}: get blocks, and this is the synchronous "
                               "client's own event loop thread: call it from another thread "
                               "or use an asynchronous client")  # fmt: skip
        return client.sync(self._get, timeout, waits_on=_WAITING)

    async def _get(self, timeout):
        """On the client's loop: take a message, waiting for one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return self.buffer.popleft()
            except IndexError:
                pass
            if self._table.ended:
                raise RuntimeError(f"Sub {self.name!r}: {self.client!r} is no longer "
                                   "connected to the scheduler (closed, or the scheduler lost)")
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                await asyncio.wait_for(event.wait(), left)
            except asyncio.TimeoutError:
                raise TimeoutError(f"Sub {self.name!r}: no message within "
                                   f"{_seconds(timeout)}") from None  # fmt: skip
            finally:
                self._waiters.discard(event)

    def __iter__(self):
        while True:
            yield self.get()

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self.get()

    def __reduce__(self):
        return _unpickle_sub, (self.name,)

    def __repr__(self) -> str:
        return f"<Sub: {self.name} ({len(self.buffer)} buffered)>"


def _unpickle_sub(name: str) -> Sub:
    """A new ``Sub`` of ``name``; where no client is found (a worker process unpickles a
    task's arguments on its event loop, off the task's thread) it subscribes at its first
    ``get``, on the client found then (in the task: its worker's)."""
    try:
        return Sub(name)
    except ValueError:  # (no client here)
        sub = Sub.__new__(Sub)
        sub.name, sub.id, sub.buffer, sub._waiters = name, f"sub-{uuid.uuid4().hex}", deque(), set()
        sub.client = None
        return sub
