"""Request/reply over comms: a ``Server`` with an op table, ``rpc`` proxies, a pool.

::

    caller                                         Server.handle_comm (one task per comm)
    await rpc(addr).add(x=1, y=2)
      write {"op": "add", "x": 1, "y": 2}   --->   read; handler = handlers["add"]
                                                   result = await handler(comm, x=1, y=2)
      read  {"status": "ok", "result": 3}   <---   write the reply
      return 3

Replies are always wrapped, so a handler may return any plain value (see
:mod:`shoal.distributed.protocol`) without it being mistaken for an error::

    {"status": "ok", "result": value}
    {"status": "error", "type": "ZeroDivisionError", "text": "...", "traceback": "...",
     "exception": Serialized or None}

A handler's exception is pickled into the reply when it can be; the caller
raises *the original type* with the server's traceback text as ``__cause__``
(:class:`RemoteTraceback`).  When it cannot travel (fails to pickle there or to
unpickle here) the caller raises :class:`RemoteError` with the type name and
text.  An unknown op gets an error reply (:class:`UnknownOpError`, naming the
op) and the comm stays open; so does a message that is not ``{"op": str, ...}``.

A message may say ``"reply": False`` (no answer is sent).  ``{"op": "close"}``
ends the conversation.  A handler may keep the comm for a long-lived stream:
it reads and writes on ``comm`` itself and returns :data:`NO_REPLY`.

A comm carries one request at a time.  :class:`ConnectionPool` hands out comms
per address (at most ``limit_per_address`` open at once, idle ones reused), and
``pool(addr).op(...)`` is the pooled spelling of ``rpc(addr).op(...)``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import traceback
import uuid
from collections import Counter, defaultdict

from shoal.distributed.comm import Comm, CommClosedError, connect, listen
from shoal.distributed.protocol import ProtocolError, Serialized, deserialize_tree, serialize

__all__ = [
    "NO_REPLY", "ConnectionPool", "RemoteError", "RemoteTraceback", "Server",
    "UnknownOpError", "error_reply", "rpc", "send_recv", "unwrap_reply",
]  # fmt: skip

logger = logging.getLogger(__name__)

#: Returned by a handler that answered on its own (or keeps the comm as a stream).
NO_REPLY = object()


class RemoteError(Exception):
    """An exception from the other side that could not be recreated as itself."""

    def __init__(self, type_name: str, text: str):
        super().__init__(text)
        self.type_name = type_name


class RemoteTraceback(Exception):
    """The traceback text of an exception raised by a remote handler."""

    def __str__(self):
        return "\n\nTraceback on the remote side:\n" + self.args[0]


class UnknownOpError(ValueError):
    """A message named an op the server has no handler for."""


# --- replies ---


def error_reply(exc: BaseException) -> dict:
    """The reply describing ``exc``; the exception itself rides along if it pickles."""
    try:
        payload = serialize(exc)
    except Exception:
        payload = None
    return {
        "status": "error",
        "type": type(exc).__qualname__,
        "text": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        "exception": payload,
    }


def unwrap_reply(reply, *, deserialize: bool = True):
    """Return the result of a reply, or raise the exception it carries."""
    if not isinstance(reply, dict) or reply.get("status") not in ("ok", "error"):
        raise ProtocolError(f"malformed reply: {reply!r:.200}")
    if reply["status"] == "ok":
        result = reply.get("result")
        return deserialize_tree(result) if deserialize else result
    exc = None
    if isinstance(reply.get("exception"), Serialized):
        try:
            exc = reply["exception"].deserialize()
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteError(str(reply.get("type")), str(reply.get("text")))
    exc.__cause__ = RemoteTraceback(str(reply.get("traceback", "")))
    raise exc


async def send_recv(comm: Comm, *, deserialize: bool = True, **msg):
    """Send ``msg`` (must hold ``op``), wait for the reply and unwrap it."""
    reply = await _exchange(comm, msg)
    return None if reply is _NO_REPLY else unwrap_reply(reply, deserialize=deserialize)


_NO_REPLY = object()  # (a message sent with ``reply=False``)


async def _exchange(comm: Comm, msg: dict):
    """Send ``msg`` and read its reply as it came (``_NO_REPLY`` for ``reply=False``)."""
    await comm.write(msg)
    if msg.get("reply", True) is False:
        return _NO_REPLY
    return await comm.read(deserialize=False)


# --- server ---


_stopping: set = set()  # (tasks stopping unwanted listeners: a task needs a reference)


def _stop_unwanted(starting: asyncio.Task) -> None:
    """Stop a listener its caller stopped waiting for (see ``Server.listen``)."""
    if not starting.cancelled() and starting.exception() is None:
        task = asyncio.get_running_loop().create_task(starting.result().stop())
        _stopping.add(task)
        task.add_done_callback(_stopping.discard)


class Server:
    """Serves ``{"op": ...}`` messages on any number of listeners.

    ``handlers`` maps an op name to ``async def handler(comm, **msg)`` (plain
    functions work too).  ``identity`` is built in.  Received payloads stay
    ``Serialized`` unless ``deserialize=True``.
    """

    def __init__(self, handlers: dict | None = None, *, security=None, role: str = "scheduler",
                 deserialize: bool = False):  # fmt: skip
        self.handlers = {"identity": self.identity, **(handlers or {})}
        self.security, self.role, self.deserialize = security, role, deserialize
        self.id = f"{type(self).__name__}-{uuid.uuid4().hex[:12]}"
        self.listeners: list = []
        self._comms: set = set()
        self._tasks: set = set()
        self.status = "running"

    @property
    def address(self) -> str | None:
        return self.listeners[0].contact_address if self.listeners else None

    async def listen(self, address: str = "tcp://", **kwargs) -> str:
        """Listen on ``address`` too; returns the contact address.

        The listening runs in a task of its own that the caller waits for shielded: a
        caller cancelled meanwhile (or a server closed meanwhile) leaves no socket
        listening, since the listener, once made, is stopped if it cannot be kept."""
        if self.status == "closed":
            raise RuntimeError(f"{self.id} is closed: it listens no more")
        starting = asyncio.get_running_loop().create_task(listen(
            address, self.handle_comm, security=self.security, role=self.role,
            deserialize=self.deserialize, **kwargs))  # fmt: skip
        try:
            listener = await asyncio.shield(starting)
        except asyncio.CancelledError:
            starting.add_done_callback(_stop_unwanted)
            raise
        if self.status == "closed":  # closed while it started listening
            await listener.stop()
            raise RuntimeError(f"{self.id} was closed while it started listening")
        self.listeners.append(listener)
        return listener.contact_address

    def identity(self, comm: Comm) -> dict:
        return {"type": type(self).__name__, "id": self.id, "address": self.address, "pid": os.getpid()}

    async def handle_comm(self, comm: Comm) -> None:
        """Answer requests on ``comm`` until it closes (runs in the listener's task)."""
        task = asyncio.current_task()
        self._comms.add(comm)
        self._tasks.add(task)
        try:
            while self.status != "closed":
                msg = await comm.read()
                if isinstance(msg, dict) and msg.get("op") == "close":
                    break
                if not await self._answer(comm, msg):
                    break
                msg = None  # not kept while waiting for the next (a scatter's data, say)
        except CommClosedError:
            pass
        finally:
            self._comms.discard(comm)
            self._tasks.discard(task)
            await comm.close()

    async def _answer(self, comm: Comm, msg) -> bool:
        """Run one request; False when the comm is gone."""
        if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
            reply, wants_reply = error_reply(ProtocolError(f"expected {{'op': str, ...}}, got {msg!r:.100}")), True
        else:
            op = msg.pop("op")
            wants_reply = msg.pop("reply", True) is not False
            reply = await self._call(comm, op, msg)
        if reply is NO_REPLY or not wants_reply:
            return not comm.closed()
        try:
            await comm.write(reply)
        except CommClosedError:
            return False
        except (TypeError, ValueError) as exc:  # the result is not plain data, or too big
            await comm.write(error_reply(exc))
        return True

    async def _call(self, comm: Comm, op: str, kwargs: dict):
        handler = self.handlers.get(op)
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            return error_reply(UnknownOpError(f"unknown op {op!r} (this server handles: {known})"))
        try:
            result = handler(comm, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # a CommClosedError here is about another comm: report it too
            logger.debug("handler for op %r failed", op, exc_info=True)
            return error_reply(exc)
        return result if result is NO_REPLY else {"status": "ok", "result": result}

    async def close(self) -> None:
        """Stop listening, close every comm and wait for their tasks to end."""
        self.status = "closed"
        await asyncio.gather(*(listener.stop() for listener in self.listeners))
        for comm in list(self._comms):
            comm.abort()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


# --- callers ---


class _Proxy:
    """``proxy.op(**kwargs)`` -> one request on a borrowed comm."""

    def __getattr__(self, op: str):
        if op.startswith("_"):
            raise AttributeError(op)

        async def call(**kwargs):
            return await self._request({"op": op, **kwargs})

        call.__name__ = op
        return call

    async def _request(self, msg: dict, deserialize: bool | None = None):
        """One request; its result's payloads unpickled unless ``deserialize`` (default:
        the proxy's own setting) is false (a caller that unpickles them one by one)."""
        comm = await self._borrow()
        try:
            reply = await _exchange(comm, msg)
        except BaseException:
            # Reusable only once its reply is read: a request that failed between its
            # write and its read (cancelled, the connection lost, or awaited on a loop
            # not the comm's) leaves a reply on the way that the next request would
            # have taken for its own.
            self._give_back(comm, healthy=False)
            raise
        self._give_back(comm, healthy=True)  # (an error reply too: the exchange finished)
        if deserialize is None:
            deserialize = self._deserialize
        return None if reply is _NO_REPLY else unwrap_reply(reply, deserialize=deserialize)


class rpc(_Proxy):  # noqa: N801 - Dask's spelling
    """``await rpc(address).op(**kwargs)``: requests to one address on private comms.

    Comms are opened on demand (one per concurrent call) and kept for reuse
    until :meth:`close_rpc` (or ``async with``); a call after that raises
    ``CommClosedError`` instead of opening a comm that nobody would close.
    """

    def __init__(self, address: str, *, timeout=None, security=None, role: str = "client",
                 deserialize: bool = True, **connection_args):  # fmt: skip
        self.address = address
        self._timeout, self._security, self._role = timeout, security, role
        self._deserialize = deserialize
        self._connection_args = connection_args
        self._idle: list = []
        self._busy: set = set()
        self._closed = False

    async def _borrow(self) -> Comm:
        if self._closed:
            raise CommClosedError(f"{self!r} is closed")
        while self._idle:
            comm = self._idle.pop()
            if not comm.closed():
                self._busy.add(comm)
                return comm
        comm = await connect(self.address, self._timeout, self._security, role=self._role,
                             **self._connection_args)  # fmt: skip
        if self._closed:  # closed while connecting
            comm.abort()
            raise CommClosedError(f"{self!r} was closed while it connected")
        self._busy.add(comm)
        return comm

    def _give_back(self, comm: Comm, healthy: bool) -> None:
        self._busy.discard(comm)
        if healthy and not comm.closed() and not self._closed:
            self._idle.append(comm)
        else:
            comm.abort()

    async def close_rpc(self) -> None:
        self._closed = True
        comms, self._idle = self._idle + list(self._busy), []
        self._busy.clear()
        await asyncio.gather(*(_close_politely(c) for c in comms))

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close_rpc()

    def __repr__(self):
        if self._closed:
            return f"<rpc to {self.address}: closed>"
        return f"<rpc to {self.address}: {len(self._idle)} idle, {len(self._busy)} busy comms>"


async def _close_politely(comm: Comm) -> None:
    try:
        if not comm.closed():
            await comm.write({"op": "close", "reply": False})
    except Exception:
        pass
    await comm.close()


class _PooledProxy(_Proxy):
    def __init__(self, pool: ConnectionPool, address: str):
        self._pool, self.address = pool, address
        self._deserialize = pool.deserialize

    async def _borrow(self) -> Comm:
        return await self._pool.connect(self.address)

    def _give_back(self, comm: Comm, healthy: bool) -> None:
        if healthy:
            self._pool.reuse(self.address, comm)
        else:
            self._pool.discard(self.address, comm)


class ConnectionPool:
    """Comms to many addresses, at most ``limit_per_address`` open per address.

    ``await pool.connect(addr)`` borrows a comm (reusing an idle one, opening
    one while under the limit, else waiting); give it back with
    ``pool.reuse(addr, comm)``, or ``pool.discard(addr, comm)`` if it is broken.
    """

    def __init__(self, limit_per_address: int = 16, *, timeout=None, security=None,
                 role: str = "client", deserialize: bool = True, **connection_args):  # fmt: skip
        if limit_per_address < 1:
            raise ValueError("limit_per_address must be at least 1")
        self.limit_per_address = limit_per_address
        self.timeout, self.security, self.role = timeout, security, role
        self.deserialize = deserialize
        self.connection_args = connection_args
        self._idle: dict = defaultdict(list)
        self._busy: dict = defaultdict(set)
        self._slots: dict = {}
        self._held: Counter = Counter()  # address -> slots held or waited for
        self._removed: set = set()  # addresses forgotten once their comms come back
        self._closed = False

    def __call__(self, address: str) -> _PooledProxy:
        return _PooledProxy(self, address)

    @property
    def open(self) -> int:
        return sum(map(len, self._idle.values())) + self.active

    @property
    def active(self) -> int:
        return sum(map(len, self._busy.values()))

    async def connect(self, address: str) -> Comm:
        if self._closed:
            raise RuntimeError("the ConnectionPool is closed")
        # a slot per borrower; a comm is opened only when none is idle, so the
        # comms open to an address never outnumber the slots either
        self._removed.discard(address)  # (an address used again: a new worker there)
        slots = self._slots.setdefault(address, asyncio.Semaphore(self.limit_per_address))
        self._held[address] += 1  # (a slot held or waited for, until given back)
        try:
            await slots.acquire()
        except BaseException:
            self._held[address] -= 1
            raise
        idle = self._idle[address]
        while idle:
            comm = idle.pop()
            if not comm.closed():
                self._busy[address].add(comm)
                return comm
        try:
            comm = await connect(address, self.timeout, self.security, role=self.role,
                                 **self.connection_args)  # fmt: skip
        except BaseException:
            self._give_back(address)
            raise
        self._busy[address].add(comm)
        return comm

    def reuse(self, address: str, comm: Comm) -> None:
        """Give a borrowed comm back for the next caller."""
        self._busy[address].discard(comm)
        if comm.closed() or self._closed or address in self._removed:
            comm.abort()
        else:
            self._idle[address].append(comm)
        self._give_back(address)

    def discard(self, address: str, comm: Comm) -> None:
        """Give back a comm that must not be reused."""
        self._busy[address].discard(comm)
        comm.abort()
        self._give_back(address)

    def _give_back(self, address: str) -> None:
        self._slots[address].release()
        self._held[address] -= 1
        if address in self._removed:
            self._forget(address)

    def remove(self, address: str) -> None:
        """Forget *address* (a worker that left): its idle comms are closed, and its
        entries go once none is borrowed, or as the last borrowed one comes back (a pool
        outlives many workers: a scheduler's kept a closed comm and a semaphore for every
        worker it ever had).  Connecting to it again starts it afresh."""
        self._removed.add(address)
        for comm in self._idle.pop(address, ()):
            comm.abort()
        self._forget(address)

    def _forget(self, address: str) -> None:
        if self._held.get(address, 0) <= 0:  # (nobody borrows, or waits for, a slot)
            for table in (self._idle, self._busy, self._slots, self._held):
                table.pop(address, None)
            self._removed.discard(address)

    async def close(self) -> None:
        """Close every idle comm; comms still borrowed are closed when given back."""
        self._closed = True
        idle = [c for comms in self._idle.values() for c in comms]
        self._idle.clear()
        await asyncio.gather(*(_close_politely(c) for c in idle))
        for comms in self._busy.values():
            for comm in comms:
                comm.abort()

    def __repr__(self):
        return f"<ConnectionPool: {self.open} open, {self.active} active>"
