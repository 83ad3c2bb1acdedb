"""The opening handshake of tcp:// and tls:// connections, and what a listener logs when it fails.

::

    connector                                           listener
    HELLO "SHOAL" | version u16 | flags u8 | nonce[16] ->  reads 5 bytes first: anything but
                                                           "SHOAL" is refused here (below)
              <- HELLO (the listener's own, sent only after the peer's magic)
    versions must match; flags bit 0 = "I have a token", and both ends must agree.
    With a token each end proves it knows it, bound to both fresh nonces and its side:
    PROOF    HMAC-SHA256(token, "shoal-v1" | "C" or "L" | peer nonce | own nonce)  <->
    VERDICT  b"\\x01" accepted / b"\\x00" refused                                <->

The proof is mutual: a client also learns that the server knows the token
before it unpickles anything from it.  Nonces defeat replay, the side label
defeats reflection.  The token never crosses the wire.

The listener sends nothing until it has seen our magic, so an HTTP client gets a
plain "400: this is a shoal comm port" answer instead of binary noise.  Every
refusal is *one* log line naming the peer and the port (:func:`refuse`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import struct

from shoal import config
from shoal.distributed.comm.base import HandshakeError

__all__ = ["MAGIC", "VERSION", "NotShoal", "handshake", "handshake_timeout", "refuse", "resolve_token"]

logger = logging.getLogger("shoal.distributed.comm.tcp")  # one logger for the tcp/tls transport

MAGIC = b"SHOAL"
VERSION = 1
_HELLO = struct.Struct(">5sHB16s")
_FLAG_TOKEN = 1
_HTTP = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ", b"PRI * ")  # fmt: skip


class NotShoal(Exception):
    """The peer's first bytes (``args[0]``, maybe empty) are not our magic."""


def handshake_timeout() -> float:
    return config.checked(config.duration, "distributed.comm.timeouts.handshake")


def resolve_token(token) -> str | None:
    """The explicit token, else ``distributed.comm.token``; empty means none."""
    return (token if token is not None else config.get("distributed.comm.token")) or None


def _proof(token: str, label: bytes, their_nonce: bytes, my_nonce: bytes) -> bytes:
    return hmac.new(token.encode(), b"shoal-v1" + label + their_nonce + my_nonce, hashlib.sha256).digest()


async def handshake(reader, writer, token: str | None, *, listener: bool) -> None:
    """Run our side; raise :class:`NotShoal` or :class:`HandshakeError` on failure."""
    nonce = os.urandom(16)
    hello = _HELLO.pack(MAGIC, VERSION, _FLAG_TOKEN if token else 0, nonce)
    if not listener:
        writer.write(hello)
    try:
        head = await reader.readexactly(len(MAGIC))
    except asyncio.IncompleteReadError as exc:
        raise NotShoal(exc.partial) from None
    if head != MAGIC:
        raise NotShoal(head)
    if listener:
        writer.write(hello)
    _, version, flags, peer_nonce = _HELLO.unpack(head + await reader.readexactly(_HELLO.size - len(MAGIC)))
    if version != VERSION:
        raise HandshakeError(f"peer speaks shoal comm protocol version {version}, we speak {VERSION}")
    if bool(flags & _FLAG_TOKEN) != bool(token):
        mine = "we have a token but the peer has none" if token else "the peer requires a token we lack"
        raise HandshakeError(f"token mismatch: {mine} (distributed.comm.token)")
    if not token:
        return
    me, them = (b"L", b"C") if listener else (b"C", b"L")
    writer.write(_proof(token, me, peer_nonce, nonce))
    ok = hmac.compare_digest(await reader.readexactly(32), _proof(token, them, nonce, peer_nonce))
    writer.write(b"\x01" if ok else b"\x00")
    verdict = await reader.readexactly(1)
    if not ok:
        raise HandshakeError("token mismatch: the peer's proof is wrong (distributed.comm.token)")
    if verdict != b"\x01":
        raise HandshakeError("token mismatch: the peer refused our token (distributed.comm.token)")


def refuse(writer, exc: BaseException, where: str, dashboard_address: str | None = None) -> None:
    """Log one line about a failed incoming handshake; answer HTTP with a 400.

    ``where`` reads like "from tcp://1.2.3.4:5 on comm port tcp://0.0.0.0:8786".
    """
    if isinstance(exc, NotShoal):
        data = exc.args[0]
        if not data:  # port probes and health checks: not worth a warning
            logger.debug("connection %s closed before the handshake", where)
        elif len(data) >= 3 and any(data.startswith(m) or m.startswith(data) for m in _HTTP):
            hint = f"; the dashboard is at {dashboard_address}" if dashboard_address else ""
            text = f"this is a shoal comm port (binary protocol), not an HTTP server{hint}"
            writer.write(
                f"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                f"Content-Length: {len(text) + 1}\r\n\r\n{text}\n".encode()
            )
            logger.warning("HTTP request %s: %s; closed", where, text)
        elif data[:2] == b"\x16\x03":
            logger.warning("TLS handshake %s, which is plain tcp://; use tls:// on both ends; closed", where)
        else:
            logger.warning("unexpected bytes %r %s: not a shoal peer; closed", data, where)
    elif isinstance(exc, asyncio.TimeoutError):
        logger.warning("no complete handshake %s within %gs; closed", where, handshake_timeout())
    elif isinstance(exc, HandshakeError):
        logger.warning("refused connection %s: %s", where, exc)
    elif isinstance(exc, (asyncio.IncompleteReadError, OSError)):
        logger.warning("connection %s lost during the handshake: %s", where, type(exc).__name__)
    elif not isinstance(exc, asyncio.CancelledError):
        logger.error("handshake %s failed: %r", where, exc)
