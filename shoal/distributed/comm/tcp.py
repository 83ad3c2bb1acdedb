"""tcp:// comms on asyncio streams: a checked handshake, then length-prefixed frames.

Wire format (both directions; integers are unsigned 64-bit little-endian)::

    handshake   HELLO "SHOAL" | version | flags | nonce, exchanged (+ token proofs);
                see :mod:`shoal.distributed.comm.handshake`
    message     +-------+----------+-----+----------+---------+-----+---------+
                | count | length 0 | ... | length n | frame 0 | ... | frame n |
                +-------+----------+-----+----------+---------+-----+---------+
                0 < count <= MAX_FRAMES
                every length <= distributed.comm.max-frame-size
                8 * (count + 1) + sum(lengths) <= distributed.comm.max-message-size
    frames      from shoal.distributed.protocol.dumps: frame 0 is the msgpack
                envelope, the rest are pickled payloads and their buffers

The reader checks all of that *before* allocating anything: a violation (a
length of 2**62, say) logs one line naming the peer and closes the connection,
and the listener goes on serving others.  After the handshake the comm reads
through :class:`~shoal.distributed.comm.stream.FrameStream`: a large frame is
received straight into its preallocated ``bytearray`` (so NumPy arrays rebuilt on
top of it are writable), with no copy.  Large frames are written in slices,
draining between them, so a 100 MB payload is never duplicated in the write buffer.

Listeners bind ``distributed.comm.default-host`` (127.0.0.1) when the address
names no host.  Binding any other interface without TLS logs one warning per
process: whoever can connect can run code here.  The handler owns each accepted
comm; the listener never closes it once the handshake has succeeded.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct

from shoal import config
from shoal.distributed.comm.base import (
    Backend, Comm, CommClosedError, Connector, HandshakeError, Listener, check_outgoing,
    frame_limits, get_ip, is_loopback, parse_host_port, unparse_host_port,
)  # fmt: skip
from shoal.distributed.comm.handshake import (
    MAGIC, VERSION, NotShoal, handshake, handshake_timeout, refuse, resolve_token,
)  # fmt: skip
from shoal.distributed.comm.stream import FrameStream
from shoal.distributed.protocol import ProtocolError, dumps, loads

__all__ = ["MAGIC", "MAX_FRAMES", "VERSION", "TCPBackend", "TCPComm", "TCPConnector", "TCPListener"]

logger = logging.getLogger(__name__)

MAX_FRAMES = 1 << 20
_U64 = struct.Struct("<Q")
_STREAM_LIMIT = 1 << 20  # StreamReader buffer before it pauses the socket
_SMALL = 1 << 16  # frames below this are joined into one write / read at once
_SLICE = 1 << 22  # large frames are written in slices of this size
_warned_public_bind = False


class _Violation(Exception):
    """A message header breaks the limits; the connection must close."""


# --- frames ---


async def _read_frames(reader: FrameStream, limits: tuple[int, int], comm: TCPComm) -> list:
    max_frame, max_message = limits
    try:
        head = await reader.readexactly(8)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise CommClosedError(f"{comm.peer_address} closed the connection") from None
        raise
    comm._mid_message = True
    (count,) = _U64.unpack(head)
    if not 0 < count <= MAX_FRAMES or 8 * (count + 1) > max_message:
        raise _Violation(f"message header announces {count} frames (at most {MAX_FRAMES})")
    lengths = struct.unpack(f"<{count}Q", await reader.readexactly(8 * count))
    biggest = max(lengths)
    if biggest > max_frame:
        raise _Violation(f"frame length {biggest} is over distributed.comm.max-frame-size ({max_frame})")
    total = 8 * (count + 1) + sum(lengths)
    if total > max_message:
        raise _Violation(f"message of {total} bytes is over distributed.comm.max-message-size ({max_message})")
    frames = [await _read_frame(reader, n) for n in lengths]
    comm._mid_message = False
    return frames


async def _read_frame(reader: FrameStream, size: int) -> bytearray:
    if size <= _SMALL:
        return bytearray(await reader.readexactly(size))
    return await reader.readinto(bytearray(size))


# --- the comm ---


class TCPComm(Comm):
    """A message connection over an asyncio (reader, writer) pair."""

    def __init__(self, reader, writer, local: str, peer: str, deserialize: bool = False):
        super().__init__(local, peer, deserialize)
        self._writer = writer
        self._reader = FrameStream.take_over(reader, writer, _STREAM_LIMIT)
        self._closed = False
        self._mid_message = False
        self._write_lock = asyncio.Lock()
        self._limits = frame_limits()

    def closed(self) -> bool:
        stream = self._reader  # (at its end once nothing it received is left to read: the
        return self._closed or (stream.eof and not stream.pending)  # last message is read)

    async def read(self, deserialize: bool | None = None):
        if self.closed():
            raise CommClosedError(f"{self!r} is closed")
        try:
            frames = await _read_frames(self._reader, self._limits, self)
        except CommClosedError:
            self.abort()
            raise
        except _Violation as exc:
            raise self._fail(f"closing connection from {self._peer} on {self._local}: {exc}") from None
        except asyncio.IncompleteReadError:
            raise self._fail(f"connection from {self._peer} on {self._local} closed in the middle of a message") from None
        except OSError as exc:  # reset, TLS errors
            self.abort()
            raise CommClosedError(f"connection to {self._peer} lost: {exc}") from exc
        except asyncio.CancelledError:
            if self._mid_message:  # the stream is no longer at a message boundary
                self.abort()
            raise
        try:  # an error while unpickling a payload (deserialize=True) leaves the comm usable
            return loads(frames, deserialize=self.deserialize if deserialize is None else deserialize)
        except ProtocolError as exc:
            raise self._fail(f"closing connection from {self._peer} on {self._local}: {exc}") from None

    def _fail(self, text: str) -> CommClosedError:
        """Log one line, drop the connection, return the error to raise."""
        logger.warning("%s", text)
        self.abort()
        return CommClosedError(text)

    async def write(self, msg) -> int:
        frames = dumps(msg)  # TypeError for non-plain data, before anything is sent
        sizes = check_outgoing(frames, self._limits)
        if len(sizes) > MAX_FRAMES:
            raise ValueError(f"cannot send {len(sizes)} frames in one message (at most {MAX_FRAMES})")
        header = struct.pack(f"<{len(sizes) + 1}Q", len(sizes), *sizes)
        async with self._write_lock:
            if self.closed():
                raise CommClosedError(f"{self!r} is closed")
            try:
                await self._write_frames(header, frames, sizes)
            except (OSError, RuntimeError) as exc:
                self.abort()
                raise CommClosedError(f"connection to {self._peer} lost while writing: {exc}") from exc
            except asyncio.CancelledError:
                self.abort()  # half a message went out
                raise
        return sum(sizes)

    async def _write_frames(self, header: bytes, frames: list, sizes: list) -> None:
        writer, pending = self._writer, [header]
        for frame, size in zip(frames, sizes):
            if size <= _SMALL:
                pending.append(frame)
                continue
            writer.write(b"".join(pending))
            pending = []
            view = memoryview(frame).cast("B")
            for start in range(0, size, _SLICE):
                writer.write(view[start : start + _SLICE])
                await self._reader.drain()
        if pending:
            writer.write(b"".join(pending))
        await self._reader.drain()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._reader.closed), 1.0)
        except Exception:  # reset, TLS error, a peer that stopped reading
            self._writer.transport.abort()

    def abort(self) -> None:
        self._closed = True
        self._writer.transport.abort()


# --- listener and connector ---


def _addr(scheme: str, sockname) -> str:
    return f"{scheme}://{unparse_host_port(sockname[0], sockname[1])}"


class TCPListener(Listener):
    scheme = "tcp"
    comm_class = TCPComm

    def __init__(self, location, handler, *, deserialize=False, security=None, role="scheduler",
                 token=None, dashboard_address=None):  # fmt: skip
        host, self.port = parse_host_port(location)
        host = host or config.get("distributed.comm.default-host")
        self.host = "127.0.0.1" if host == "localhost" else host  # one socket, one port
        self.handler, self.deserialize = handler, deserialize
        self.security, self.role = security, role
        self.token = resolve_token(token)
        self.dashboard_address = dashboard_address
        self._server = None
        self._bound = None
        self._handshaking: set = set()

    def _ssl_context(self):
        return None

    async def start(self) -> None:
        ctx = self._ssl_context()
        extra = {"ssl": ctx, "ssl_handshake_timeout": handshake_timeout()} if ctx else {}
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self.port, limit=_STREAM_LIMIT, **extra
        )
        self._bound = self._server.sockets[0].getsockname()[:2]
        if ctx is None and not is_loopback(self.host):
            _warn_public_bind(self.listen_address)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._handshaking)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def listen_address(self) -> str:
        return _addr(self.scheme, self._bound)

    @property
    def contact_address(self) -> str:
        host, port = self._bound
        if host in ("0.0.0.0", "::"):
            host = get_ip()
        return _addr(self.scheme, (host, port))

    async def _on_connection(self, reader, writer) -> None:
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass  # stop() or the handler's owner cancelled us: end quietly

    async def _serve(self, reader, writer) -> None:
        peer = _addr(self.scheme, writer.get_extra_info("peername") or ("?", 0))
        task = asyncio.current_task()
        self._handshaking.add(task)
        try:
            await asyncio.wait_for(handshake(reader, writer, self.token, listener=True), handshake_timeout())
        except BaseException as exc:
            refuse(writer, exc, f"from {peer} on comm port {self.listen_address}", self.dashboard_address)
            await _close_quietly(writer)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        finally:
            self._handshaking.discard(task)
        local = _addr(self.scheme, writer.get_extra_info("sockname"))
        comm = self.comm_class(reader, writer, local, peer, self.deserialize)
        try:
            await self.handler(comm)
        except Exception:
            logger.exception("comm handler failed for %s", comm)
            comm.abort()


def _warn_public_bind(address: str) -> None:
    global _warned_public_bind
    if not _warned_public_bind:
        _warned_public_bind = True
        logger.warning(
            "listening on %s without TLS: anyone who can connect to this port can run arbitrary "
            "code in this process; bind 127.0.0.1 or use tls:// with a Security", address
        )


async def _close_quietly(writer) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 0.5)
    except BaseException:
        writer.transport.abort()


class TCPConnector(Connector):
    scheme = "tcp"
    comm_class = TCPComm

    def _ssl_context(self, security, role):
        return None

    async def connect(self, location, *, deserialize=False, security=None, role="client", token=None):
        host, port = parse_host_port(location)
        if not host or not port:
            raise ValueError(f"cannot connect to {self.scheme}://{location}: need host and port")
        ctx = self._ssl_context(security, role)
        extra = {"ssl": ctx, "ssl_handshake_timeout": handshake_timeout(), "server_hostname": ""} if ctx else {}
        address = f"{self.scheme}://{location}"
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=_STREAM_LIMIT, **extra)
        except ssl.SSLError as exc:  # e.g. the listener's certificate is not from our CA
            raise HandshakeError(f"TLS handshake with {address} failed: {exc}") from exc
        try:
            await asyncio.wait_for(handshake(reader, writer, resolve_token(token), listener=False), handshake_timeout())
        except BaseException as exc:
            writer.transport.abort()
            if isinstance(exc, NotShoal):
                raise HandshakeError(f"{address} is not a shoal comm endpoint (it sent {exc.args[0]!r})") from None
            if isinstance(exc, asyncio.TimeoutError):
                raise HandshakeError(f"no handshake from {address} within {handshake_timeout():g}s") from None
            if isinstance(exc, (asyncio.IncompleteReadError, OSError)) and not isinstance(exc, HandshakeError):
                why = "; the listener may have refused our certificate" if ctx else ""
                raise CommClosedError(f"{address} closed the connection during the handshake{why}") from exc
            raise
        local = f"{self.scheme}://{unparse_host_port(*writer.get_extra_info('sockname')[:2])}"
        return self.comm_class(reader, writer, local, address, deserialize)


class TCPBackend(Backend):
    encrypted = False

    def get_connector(self):
        return TCPConnector()

    def get_listener(self, location, handler, **kwargs):
        return TCPListener(location, handler, **kwargs)
