"""inproc:// comms: two endpoints in one process, joined by a pair of queues.

::

    connector comm --write--> _Pipe (read on the listener's loop) --read--> listener comm
                   <--read--- _Pipe (read on the connector's loop) <--write--

Addresses are ``inproc://<host>/<pid>/<n>``; a module-level registry maps each
listening address to its listener, so ``connect`` finds it without a socket.
The two ends may run on different event loops (threads): a pipe wakes its
reader with ``call_soon_threadsafe`` when the writer is on another loop.

Semantics match tcp:// on purpose, so a test on inproc:// means the same on a
network: ``write`` runs :func:`~shoal.distributed.protocol.dumps` (a
non-plain object fails the same way, frame limits are checked the same way) and
``read`` runs ``loads`` on the frames.  Payload frames are *copied once* into
writable ``bytearray`` objects, as a socket would, so the receiver never aliases
the sender's memory (mutating a sent NumPy array does not change what arrived).
There is no handshake, token or TLS: nothing leaves the process, and the
backend counts as encrypted for ``require_encryption``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
from collections import deque

from shoal import config
from shoal.distributed.comm.base import (
    Backend, Comm, CommClosedError, Connector, Listener, check_outgoing, frame_limits,
)  # fmt: skip
from shoal.distributed.protocol import dumps, loads

__all__ = ["InprocBackend", "InprocComm", "InprocConnector", "InprocListener", "new_address"]

logger = logging.getLogger(__name__)

_CLOSED = object()  # end-of-stream marker put in a pipe
_counter = itertools.count()
_lock = threading.Lock()
_listeners: dict = {}  # "inproc://host/pid/n" -> InprocListener


def new_address() -> str:
    host = config.get("distributed.comm.default-host")
    return f"inproc://{host}/{os.getpid()}/{next(_counter)}"


class _Pipe:
    """A one-way queue read on ``loop`` and written from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.items: deque = deque()
        self.waiter: asyncio.Future | None = None

    def put(self, item) -> None:
        self.items.append(item)
        try:
            same_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            self._wake()
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def get(self):
        while not self.items:
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.items.popleft()


class _Link:
    """State shared by the two ends: closed as soon as either end closes."""

    closed = False


class InprocComm(Comm):
    def __init__(self, local: str, peer: str, incoming: _Pipe, outgoing: _Pipe, link: _Link,
                 deserialize: bool = False):  # fmt: skip
        super().__init__(local, peer, deserialize)
        self._in, self._out, self._link = incoming, outgoing, link
        self._closed = False

    def closed(self) -> bool:
        return self._closed or self._link.closed

    async def read(self, deserialize: bool | None = None):
        if self._closed:
            raise CommClosedError(f"{self!r} is closed")
        frames = await self._in.get()
        if frames is _CLOSED:
            self._closed = True
            raise CommClosedError(f"{self._peer} closed the connection")
        return loads(frames, deserialize=self.deserialize if deserialize is None else deserialize)

    async def write(self, msg) -> int:
        if self.closed():
            raise CommClosedError(f"{self!r} is closed")
        frames = dumps(msg)
        sizes = check_outgoing(frames, frame_limits())
        self._out.put([frames[0], *(bytearray(f) for f in frames[1:])])
        return sum(sizes)

    async def close(self) -> None:
        self.abort()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = self._link.closed = True
        self._out.put(_CLOSED)
        self._in.put(_CLOSED)  # wakes a read of ours that is waiting


class InprocListener(Listener):
    def __init__(self, location: str, handler, *, deserialize: bool = False, **kwargs):
        self._address = f"inproc://{location}" if location else new_address()
        self.handler, self.deserialize = handler, deserialize
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set = set()  # asyncio keeps only weak references to tasks

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        with _lock:
            if self._address in _listeners:
                raise OSError(f"{self._address} is already in use")
            _listeners[self._address] = self

    async def stop(self) -> None:
        with _lock:
            if _listeners.get(self._address) is self:
                del _listeners[self._address]

    @property
    def listen_address(self) -> str:
        return self._address

    contact_address = listen_address

    def _accept(self, comm: InprocComm) -> None:
        """Run the handler for a new server-side comm on the listener's loop."""

        def start():
            task = self.loop.create_task(self._run(comm))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        try:
            same_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            same_loop = False
        start() if same_loop else self.loop.call_soon_threadsafe(start)

    async def _run(self, comm: InprocComm) -> None:
        try:
            await self.handler(comm)
        except asyncio.CancelledError:
            comm.abort()
        except Exception:
            logger.exception("comm handler failed for %s", comm)
            comm.abort()


class InprocConnector(Connector):
    async def connect(self, location: str, *, deserialize: bool = False, **kwargs) -> InprocComm:
        address = f"inproc://{location}"
        with _lock:
            listener = _listeners.get(address)
        if listener is None or listener.loop.is_closed():
            raise ConnectionRefusedError(f"no inproc listener at {address}")
        link, mine = _Link(), new_address()
        to_listener, to_me = _Pipe(listener.loop), _Pipe(asyncio.get_running_loop())
        theirs = InprocComm(address, mine, to_listener, to_me, link, listener.deserialize)
        listener._accept(theirs)
        return InprocComm(mine, address, to_me, to_listener, link, deserialize)


class InprocBackend(Backend):
    encrypted = True  # never leaves the process

    def get_connector(self):
        return InprocConnector()

    def get_listener(self, location, handler, **kwargs):
        return InprocListener(location, handler, **kwargs)
