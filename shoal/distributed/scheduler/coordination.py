"""The scheduler's side of ``Variable``, ``Queue``, ``Lock`` and ``Event``
(:mod:`shoal.distributed.coordination`): named state every client shares.

::

    variables  name -> ("value", Serialized) | ("future", key)
    queues     name -> _Queue: deque of the same items, maxsize, a count per held key
    locks      name -> _Lock: holder (instance id, client id), when that client was last seen
    events     name -> bool

    variable_set / queue_put            item in; a Future's key desired by the
                                        pseudo-client "variable-<name>" / "queue-<name>"
    variable_get / queue_get            (waits until there is one) -> {"ok": True, item};
                                        a key is desired by the getter's client, and by
                                        the pseudo-client "coordination-handover" for
                                        ``GRACE`` seconds (the getter's client may still
                                        send the release of an older Future of that key)
    lock_acquire / event_wait /
    queue_put on a full queue           wait; timeout -> {"ok": False}, never an error

A value stays ``Serialized``: this process never unpickles it.  A key is held
alive as Dask holds it: by a pseudo-client of the scheduler's state, whatever
happens to the client that set it, until the variable is deleted or set again or
the item leaves the queue.

Every wait is a request that waits on the loop (no thread): it wakes when its
name changes (``_Changes``), and every ``POLL`` seconds to see whether the
asking comm closed or the asking client's stream is gone: a caller gone (its
client closed, its wait abandoned) is not handed an item, a lock or a value, and
its wait ends.  (A client closing while its request waits writes its polite
"close" onto that comm, which nobody reads then: over TCP the comm does not look
closed, so the client's stream is what tells.)  Pseudo-clients that hold keys
for a variable or queue are removed once they hold none, an empty queue nobody
waits on is forgotten, and so is a name's wake-up once nobody waits on it.  Timeouts are the
caller's ``timeout`` seconds, measured here; ``None`` waits for good and ``0``
answers at once (the client first asks with ``0``, so that a task's thread
secedes only for a wait that really waits: ``coordination.py``).

Waits that take something (``queue_get``, ``queue_put`` on a full queue,
``lock_acquire``, and ``leases.py``'s) are served first come, first served: each
takes a ticket in its name's line (``lines``) and may be served only at its head
(``_wait_turn``), so a later request, even one that does not wait, never
overtakes it.  A grant is written back by the handler itself (``_deliver``): when
the reply cannot be written (the caller's comm closed meanwhile) the grant is
undone: taken items go back to the head of their queue, in order, a lock or a
lease is released.  (A reply written but never read, the peer dying after the
write, is beyond what the scheduler can see: then the caller's client's
departure releases locks and leases, as below.)

Locks, as Dask's (a ``Semaphore`` of one lease): a lock is held until released
by the ``Lock`` object that acquired it; one whose holder's client has been gone
(its stream closed) for ``lock_lease_timeout`` seconds (30, Dask's
``distributed.scheduler.locks.lease-timeout``) is released then, as Dask's lease
expires once its client no longer refreshes it.  It is not released when the
holder merely drops its ``Lock`` object, nor at once when its client goes away.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque

from shoal.distributed.comm import CommClosedError
from shoal.distributed.rpc import NO_REPLY
from shoal.distributed.scheduler import messages as m
from shoal.distributed.scheduler.leases import Leases
from shoal.distributed.scheduler.pubsub import RoutesPubSub
from shoal.distributed.taskcolumns import key_from_wire

__all__ = ["Coordinates"]

#: Seconds between a waiting request's checks that its comm is still open.
POLL = 0.2
#: Seconds a request naming a Future's key waits for that key's graph to arrive
#: (it travels on the client's stream, the request on another comm).
KEY_ARRIVAL = 10.0
#: Seconds a key handed to a getter stays held: the getter's client may still send
#: the release of an older Future of that key before its new wish.
GRACE = 2.0
#: The pseudo-client holding keys handed over, for GRACE seconds.
HANDOVER = "coordination-handover"


class _Changes:
    """Wake-ups by name: ``wait(name, seconds)`` returns when ``notify(name)`` is called
    or after ``seconds``, whichever first."""

    def __init__(self) -> None:
        self._events: dict = {}  # name -> [asyncio.Event, how many wait on it]

    async def wait(self, name, seconds: float) -> None:
        entry = self._events.get(name)
        if entry is None:
            entry = self._events[name] = [asyncio.Event(), 0]
        entry[1] += 1
        try:
            await asyncio.wait_for(entry[0].wait(), max(seconds, 0))
        except asyncio.TimeoutError:
            pass
        finally:
            entry[1] -= 1
            if not entry[1] and self._events.get(name) is entry:  # (the last one leaves)
                del self._events[name]

    def notify(self, name) -> None:
        entry = self._events.pop(name, None)
        if entry is not None:
            entry[0].set()


class _Queue:
    __slots__ = ("items", "maxsize", "held", "waiting")

    def __init__(self, maxsize: int) -> None:
        self.items: deque = deque()
        self.maxsize = maxsize
        self.held: Counter = Counter()  # key -> how many of the items name it
        self.waiting = 0  # requests waiting on it (it is not forgotten meanwhile)


class _Lock:
    __slots__ = ("holder", "client", "seen")

    def __init__(self) -> None:
        self.holder = None  # the acquiring Lock object's id
        self.client = None  # its client's id
        self.seen = 0.0  # monotonic time its client was last known connected


class _State:
    def __init__(self) -> None:
        self.variables: dict = {}
        self.queues: dict = {}
        self.locks: dict = {}
        self.events: dict = {}
        self.handovers: Counter = Counter()  # key -> hand-overs within their GRACE
        self.changes = _Changes()
        self.lines: dict = {}  # (what, name) -> deque of the waits, first come first served
        self.semaphores: dict = {}  # name -> leases.Semaphore (leases.py)
        self.multilocks = None  # leases.MultiLocks, made at first use
        self.lease_check = None  # the task releasing locks of departed clients


class Coordinates(Leases, RoutesPubSub):
    """The handlers of the coordination primitives (a mixin of
    :class:`~.server.Scheduler`, using its ``state``, ``handle``, ``client_streams`` and
    ``_spawn``); see the module docstring."""

    #: Seconds a lock stays held after its holder's client went away (Dask's lease timeout).
    lock_lease_timeout = 30.0

    @property
    def _coord(self) -> _State:
        try:
            return self.__dict__["_coordination"]
        except KeyError:
            state = self.__dict__["_coordination"] = _State()
            return state

    def coordination_handlers(self) -> dict:
        return {
            "variable_set": self.variable_set, "variable_get": self.variable_get,
            "variable_delete": self.variable_delete,
            "queue_put": self.queue_put, "queue_get": self.queue_get, "queue_qsize": self.queue_qsize,
            "lock_acquire": self.lock_acquire, "lock_release": self.lock_release,
            "lock_locked": self.lock_locked,
            "event_set": self.event_set, "event_clear": self.event_clear,
            "event_wait": self.event_wait, "event_is_set": self.event_is_set,
            **self.lease_handlers(),  # Semaphore, MultiLock (leases.py)
            **self.pubsub_handlers(),  # Pub, Sub (pubsub.py)
        }  # fmt: skip

    # --- helpers ------------------------------------------------------------------------

    def _gone(self, comm, client) -> bool:
        """The asking comm closed, or the asking client's stream is gone."""
        return (comm is not None and comm.closed()) or (
            client is not None and client not in self.client_streams)

    async def _wait_for(self, comm, name, ready, timeout, client=None) -> bool:
        """Wait until ``ready()`` (True), ``timeout`` seconds pass or the caller is gone
        (False; see :meth:`_gone`)."""
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while not ready():
            if self._gone(comm, client):
                return False
            left = POLL if deadline is None else min(POLL, deadline - time.monotonic())
            if left <= 0:
                return False
            await self._coord.changes.wait(name, left)
        return not self._gone(comm, client)

    async def _wait_turn(self, comm, line, wake, ready, timeout, client) -> bool:
        """As :meth:`_wait_for`, in line: ready only for the first wait of ``line`` still
        waiting, so that waits are served first come, first served."""
        lines = self._coord.lines
        waits = lines.setdefault(line, deque())
        ticket = object()
        waits.append(ticket)
        try:
            return await self._wait_for(comm, wake, lambda: waits[0] is ticket and ready(),
                                        timeout, client)  # fmt: skip
        finally:
            waits.remove(ticket)
            if not waits and lines.get(line) is waits:
                del lines[line]
            self._coord.changes.notify(wake)  # (the next in line may be served now)

    async def _deliver(self, comm, result, undo, then=None):
        """Write the reply granting ``result`` here: a caller that is gone by then gets
        nothing, and ``undo()`` gives back what was granted; else ``then()``.  Returns
        what the handler returns (``NO_REPLY``: written; ``result`` without a comm)."""
        if comm is not None:
            try:
                await comm.write({"status": "ok", "result": result})
            except CommClosedError:
                undo()
                return NO_REPLY
            except (TypeError, ValueError):  # (the server answers these with the error)
                undo()
                raise
        if then is not None:
            then()
        return NO_REPLY if comm is not None else result

    async def _item(self, value, key, timeout=None):
        """What a set or put stores: ``("future", key)`` once the key's task is known
        (within ``timeout`` seconds, else ``KEY_ARRIVAL``)."""
        if key is None:
            return ("value", value)
        key = key_from_wire(key)
        deadline = time.monotonic() + (KEY_ARRIVAL if timeout is None else float(timeout))
        while key not in self.state.tasks:
            if time.monotonic() > deadline:
                raise ValueError(f"unknown key {key!r}: its Future was released or never submitted")
            await asyncio.sleep(0.01)
        return ("future", key)

    def _hold(self, key, holder: str) -> None:
        self.handle(m.ClientDesiresKeys([key], holder, stimulus_id=f"{holder}-{time.time()}"))

    def _drop(self, key, holder: str) -> None:
        """*holder* (a pseudo-client) no longer holds *key*; one that holds nothing goes."""
        sid = f"{holder}-{time.time()}"
        self.handle(m.ClientReleasesKeys([key], holder, stimulus_id=sid))
        pseudo = self.state.clients.get(holder)
        if pseudo is not None and not pseudo.wants_what:
            self.handle(m.RemoveClient(holder, stimulus_id=sid))

    def _reply(self, item, client) -> dict:
        self._hand_over(item, client)
        return self._answer(item)

    @staticmethod
    def _answer(item) -> dict:
        kind, payload = item
        return {"ok": True, "key": payload} if kind == "future" else {"ok": True, "value": payload}

    def _hand_over(self, item, client) -> None:
        """A Future's key handed to *client*: held by it, and (see GRACE) by the hand-over."""
        kind, key = item
        if kind != "future":
            return
        if client in self.client_streams:
            self._hold(key, client)
        self._coord.handovers[key] += 1
        self._hold(key, HANDOVER)
        asyncio.get_running_loop().call_later(GRACE, self._handed_over, key)

    def _handed_over(self, key) -> None:
        handovers = self._coord.handovers
        handovers[key] -= 1
        if handovers[key] <= 0:
            del handovers[key]
            if self.status == "running":
                self._drop(key, HANDOVER)

    # --- Variable -----------------------------------------------------------------------

    async def variable_set(self, comm=None, name=None, value=None, key=None, timeout=None):
        item = await self._item(value, key, timeout)
        if item[0] == "future":
            self._hold(item[1], f"variable-{name}")
        old = self._coord.variables.get(name)
        self._coord.variables[name] = item
        if old is not None and old[0] == "future" and old != item:
            self._drop(old[1], f"variable-{name}")
        self._coord.changes.notify(("variable", name))

    async def variable_get(self, comm=None, name=None, timeout=None, client=None):
        variables = self._coord.variables
        if not await self._wait_for(comm, ("variable", name), lambda: name in variables, timeout,
                                    client):  # fmt: skip
            return {"ok": False}
        return self._reply(variables[name], client)

    def variable_delete(self, comm=None, name=None) -> None:
        old = self._coord.variables.pop(name, None)
        if old is not None and old[0] == "future":
            self._drop(old[1], f"variable-{name}")

    # --- Queue --------------------------------------------------------------------------

    def _queue(self, name, maxsize) -> _Queue:
        queue = self._coord.queues.get(name)
        if queue is None:
            queue = self._coord.queues[name] = _Queue(int(maxsize or 0))
        return queue

    def _tidy(self, name, queue: _Queue) -> None:
        """An empty queue nobody waits on is forgotten (a later use makes it anew)."""
        if not queue.items and not queue.waiting and self._coord.queues.get(name) is queue:
            del self._coord.queues[name]

    async def _queue_wait(self, comm, name, queue, ready, timeout, client, what) -> bool:
        queue.waiting += 1
        try:
            return await self._wait_turn(comm, (what, name), ("queue", name), ready, timeout,
                                         client)  # fmt: skip
        finally:
            queue.waiting -= 1

    async def queue_put(self, comm=None, name=None, value=None, key=None, timeout=None, maxsize=0,
                        client=None):  # fmt: skip
        queue = self._queue(name, maxsize)
        queue.waiting += 1  # (while the key arrives too; timeout is for room: the client
        try:  # asks with 0 first, and a Future's task may still be on its way here)
            item = await self._item(value, key)
        finally:
            queue.waiting -= 1
        if item[0] == "future":  # held from now: a put that ends after its caller left
            self._hold(item[1], f"queue-{name}")  # must not queue a forgotten key
            queue.held[item[1]] += 1

        def room():
            return queue.maxsize <= 0 or len(queue.items) < queue.maxsize

        if not await self._queue_wait(comm, name, queue, room, timeout, client, "queue_put"):
            if item[0] == "future":
                self._unhold(name, queue, item[1])
            self._tidy(name, queue)
            return {"ok": False}
        queue.items.append(item)
        self._coord.queues.setdefault(name, queue)  # (the same queue, also if tidied meanwhile)
        self._coord.changes.notify(("queue", name))
        return {"ok": True}

    def _unhold(self, name, queue: _Queue, key) -> None:
        queue.held[key] -= 1
        if queue.held[key] <= 0:
            del queue.held[key]
            self._drop(key, f"queue-{name}")

    async def queue_get(self, comm=None, name=None, timeout=None, batch=False, client=None,
                        maxsize=0):  # fmt: skip
        queue = self._queue(name, maxsize)
        if batch is True:
            count = len(queue.items)
        else:
            count = 1 if batch is False else int(batch)
        if batch is not True and not await self._queue_wait(  # (batch=True takes what is there)
                comm, name, queue, lambda: len(queue.items) >= count, timeout, client, "queue_get"):
            self._tidy(name, queue)
            return {"ok": False}
        items = [queue.items.popleft() for _ in range(count)]
        self._coord.changes.notify(("queue", name))  # (room for a put)

        def undo():  # the getter is gone: its items go back, at the head, in order
            queue.items.extendleft(reversed(items))
            self._coord.queues.setdefault(name, queue)
            self._coord.changes.notify(("queue", name))

        def handed():
            for item in items:
                self._hand_over(item, client)
                if item[0] == "future":
                    self._unhold(name, queue, item[1])

        reply = {"ok": True, "items": [self._answer(item) for item in items]}
        queue.waiting += 1  # (not forgotten while the reply is on its way)
        try:
            return await self._deliver(comm, reply, undo, handed)
        finally:
            queue.waiting -= 1
            self._tidy(name, queue)

    def queue_qsize(self, comm=None, name=None, maxsize=0) -> int:
        queue = self._coord.queues.get(name)
        return 0 if queue is None else len(queue.items)

    # --- Lock ---------------------------------------------------------------------------

    async def lock_acquire(self, comm=None, name=None, id=None, client=None, timeout=None):
        locks = self._coord.locks  # (a lock released is taken out)
        if not await self._wait_turn(comm, ("lock", name), ("lock", name),
                                     lambda: name not in locks, timeout, client):  # fmt: skip
            return False
        lock = locks[name] = _Lock()
        lock.holder, lock.client, lock.seen = id, client, time.monotonic()
        self._check_leases()

        def undo():
            if locks.get(name) is lock:
                del locks[name]
                self._coord.changes.notify(("lock", name))

        return await self._deliver(comm, True, undo)

    def _check_leases(self) -> None:
        """Start the periodic release of what departed clients hold (once)."""
        if self._coord.lease_check is None:
            self._coord.lease_check = self._spawn(self._every(1.0, self._expire_leases))

    def lock_release(self, comm=None, name=None, id=None) -> bool:
        lock = self._coord.locks.get(name)
        if lock is None or lock.holder is None:
            raise RuntimeError(f"Lock {name!r} is not held: released more often than acquired")
        if lock.holder != id:
            raise RuntimeError(f"Lock {name!r} is held by another Lock object: only the one "
                               "that acquired it may release it")  # fmt: skip
        del self._coord.locks[name]
        self._coord.changes.notify(("lock", name))
        return True

    def lock_locked(self, comm=None, name=None) -> bool:
        lock = self._coord.locks.get(name)
        return lock is not None and lock.holder is not None

    def _expire_leases(self) -> None:
        now = time.monotonic()
        for name, lock in list(self._coord.locks.items()):
            if lock.holder is None:
                continue
            if lock.client in self.client_streams:
                lock.seen = now
            elif now - lock.seen > self.lock_lease_timeout:
                del self._coord.locks[name]
                self._coord.changes.notify(("lock", name))
        self._expire_departed()  # Semaphore and MultiLock (leases.py)

    # --- Event --------------------------------------------------------------------------

    def event_set(self, comm=None, name=None) -> None:
        self._coord.events[name] = True
        self._coord.changes.notify(("event", name))

    def event_clear(self, comm=None, name=None) -> None:
        self._coord.events.pop(name, None)

    async def event_wait(self, comm=None, name=None, timeout=None, client=None) -> bool:
        events = self._coord.events
        return await self._wait_for(comm, ("event", name), lambda: name in events, timeout, client)

    def event_is_set(self, comm=None, name=None) -> bool:
        return name in self._coord.events
