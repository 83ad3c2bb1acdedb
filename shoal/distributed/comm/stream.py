"""The receiving end of a tcp:// or tls:// comm once its handshake is done: bytes land
in the buffer that keeps them.

asyncio's ``StreamReader`` copies every received byte three times on its way to a
frame (the socket's chunk into a new ``bytes``, that into the reader's buffer, a
slice of it out) and its reads of a large frame come a chunk at a time: a 100 MB
move between two workers took 0.36 s here against Dask's 0.10 s.  After the
handshake (which still runs on asyncio's streams) the comm takes the transport over
with :class:`FrameStream`, a ``BufferedProtocol``::

    readinto(buf)      large frames: the transport receives straight into ``buf``
                       (the frame's own bytearray, which NumPy arrays are rebuilt
                       on), after what arrived before the read was asked for
    readexactly(n)     headers and small frames: the transport receives into a
                       256 KiB scratch buffer, appended to ``pending``; n bytes of it

Reading pauses while more than ``limit`` bytes wait with nobody reading them, and
``drain()`` waits while the transport's write buffer is over its high-water mark,
as the streams did.  A connection that ends makes the read under way raise
``IncompleteReadError`` (the peer closed) or the ``OSError`` it ended with.
"""

from __future__ import annotations

import asyncio
import weakref

__all__ = ["FrameStream"]

#: Bytes the transport may receive at once when no large frame is being read.
SCRATCH = 1 << 18
#: one scratch buffer per event loop, shared by its connections: the transport fills it
#: and ``buffer_updated`` empties it in one step (one each was 256 KiB per idle comm)
_SCRATCH: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _scratch(loop) -> memoryview:
    buf = _SCRATCH.get(loop)
    if buf is None:  # (a view: TLS reads into slices of it)
        buf = _SCRATCH[loop] = memoryview(bytearray(SCRATCH))
    return buf


class FrameStream(asyncio.BufferedProtocol):
    """See the module docstring; made by :meth:`take_over`."""

    def __init__(self, transport, pending: bytes = b"", limit: int = 1 << 20) -> None:
        self.transport = transport
        self.limit = limit
        self.pending = bytearray(pending)  # received, not read yet
        self._target: memoryview | None = None  # the large read's buffer, and how far filled
        self._filled = 0
        self._want = 0  # bytes a small read waits to find in ``pending``
        self._waiter: asyncio.Future | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self.eof = False  # the peer's end (or the connection's) came
        self.lost = False  # the connection is gone: nothing more can be written
        self.error: BaseException | None = None
        # futures on the connection's loop: awaited from another, they raise "attached to a
        # different loop" (a read waiting there would never be woken)
        self._loop = asyncio.get_running_loop()
        self._scratch = _scratch(self._loop)
        self.closed = self._loop.create_future()

    @classmethod
    def take_over(cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int):
        """The stream of a connection asyncio's reader and writer handled until now (what
        the reader had received and not handed out yet is read first)."""
        transport = writer.transport
        stream = cls(transport, bytes(reader._buffer), limit)  # (no public way to take these)
        stream._writing_paused = bool(getattr(writer._protocol, "_paused", False))
        if reader.exception() is not None:
            stream.error, stream.eof = reader.exception(), True
        elif getattr(reader, "_eof", False) or reader.at_eof() or transport.is_closing():
            stream.eof = True  # (the peer's end, maybe after the data still to read)
        transport.set_protocol(stream)
        if not stream.eof:
            transport.resume_reading()  # (the reader may have paused it)
        else:
            stream._lost()
        return stream

    # --- the transport's side --------------------------------------------------------

    def get_buffer(self, sizehint: int):
        if self._target is not None:  # (never empty: a full one is let go at once)
            return self._target[self._filled:]
        return self._scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self._target is not None:
            self._filled += nbytes
            if self._filled >= len(self._target):
                self._target = None  # what comes next is the next read's
                self._wake()
            return
        self.pending += self._scratch[:nbytes]
        if self._want and len(self.pending) >= self._want:
            self._wake()
        elif len(self.pending) > max(self.limit, self._want) and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # (the transport closes itself)

    def connection_lost(self, exc) -> None:
        self.eof = self.lost = True
        if exc is not None and self.error is None:
            self.error = exc
        self._lost()

    def _lost(self) -> None:
        self._wake()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # --- the comm's side -------------------------------------------------------------

    async def _wait(self) -> None:
        if self.eof:
            if self.error is not None:
                raise ConnectionResetError(f"connection lost: {self.error}") from self.error
            return
        self._waiter = self._loop.create_future()
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _one_reader(self) -> None:
        if self._waiter is not None or self._target is not None:  # (before touching state)
            raise RuntimeError("a FrameStream is read by one reader at a time")

    async def readexactly(self, n: int) -> bytes:
        """The next *n* bytes (for small reads: they arrive with what follows them)."""
        self._one_reader()
        while len(self.pending) < n:
            if self.eof:
                if self.error is not None:
                    raise ConnectionResetError(f"connection lost: {self.error}") from self.error
                raise asyncio.IncompleteReadError(bytes(self.pending), n)
            self._want = n
            try:
                await self._wait()
            finally:
                self._want = 0
        data = bytes(self.pending[:n])
        del self.pending[:n]
        return data

    async def readinto(self, buf: bytearray) -> bytearray:
        """*buf* filled with the next ``len(buf)`` bytes, received straight into it."""
        self._one_reader()
        view = memoryview(buf)
        size = len(view)
        have = min(size, len(self.pending))
        if have:
            view[:have] = memoryview(self.pending)[:have]
            del self.pending[:have]
        if have == size:
            return buf
        self._target, self._filled = view, have
        try:
            while self._filled < size:
                if self.eof:
                    if self.error is not None:
                        raise ConnectionResetError(f"connection lost: {self.error}") from self.error
                    raise asyncio.IncompleteReadError(bytes(view[:self._filled]), size)
                await self._wait()
        finally:
            self._target = None
        return buf

    async def drain(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark; raise
        ``ConnectionResetError`` once the connection is gone (what was written is lost)."""
        while True:
            if self.lost or self.transport.is_closing():
                raise ConnectionResetError(f"connection lost{f': {self.error}' if self.error else ''}")
            if not self._writing_paused:
                return
            self._drain_waiter = self._loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None
