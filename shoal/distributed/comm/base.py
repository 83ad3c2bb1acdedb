"""Comms: the transport interface, the scheme registry, ``connect`` and ``listen``.

Three small ABCs describe a transport::

    Connector.connect(location) --> Comm <-- Listener (calls handler(comm)
                                     |          for each accepted connection)
                       read() / write(msg) / close() / abort()

A ``Comm`` carries whole messages (see :mod:`shoal.distributed.protocol`), one
reader and one writer at a time.  An address is ``scheme://location``; the
scheme picks a :class:`Backend` from :data:`backends`, which maps ``tcp``,
``tls`` and ``inproc`` to *import paths* resolved on first use, so importing this
module loads no transport.  A bare ``host:port`` means ``tcp://``.

``connect`` retries a refused connection with backoff until
``distributed.comm.timeouts.connect``; errors after a connection is made
(handshake refused, wrong token, bad certificate) are raised at once.  Both
``connect`` and ``listen`` refuse unencrypted schemes when encryption is
required (``Security.require_encryption`` or
``distributed.comm.require-encryption``); ``inproc://`` never leaves the
process and counts as encrypted.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import random
import socket
from abc import ABC, abstractmethod
from typing import Awaitable, Callable

from shoal import config
from shoal.core.hosts import is_loopback  # (re-exported: comm's public name for it)
from shoal.distributed.protocol import nbytes

__all__ = [
    "Backend", "Comm", "CommClosedError", "CommError", "Connector", "HandshakeError",
    "Listener", "backends", "connect", "get_backend", "get_ip", "is_loopback", "listen",
    "parse_address", "parse_host_port", "register_backend", "unparse_address",
    "unparse_host_port",
]  # fmt: skip

logger = logging.getLogger(__name__)

Handler = Callable[["Comm"], Awaitable[None]]


class CommError(OSError):
    """A connection failed for a reason other than the peer being unreachable."""


class CommClosedError(CommError):
    """The connection is closed (by us, by the peer, or after a protocol violation)."""


class HandshakeError(CommError):
    """The peer is not a shoal endpoint, speaks another version, or was refused."""


# --- the interface ---


class Comm(ABC):
    """One end of a connection that carries whole messages."""

    def __init__(self, local: str, peer: str, deserialize: bool = False):
        #: Whether ``read()`` unpickles payloads (else they stay ``Serialized``).
        self.deserialize = deserialize
        self._local, self._peer = local, peer

    @abstractmethod
    async def read(self, deserialize: bool | None = None):
        """Return the next message; raise :class:`CommClosedError` when closed."""

    @abstractmethod
    async def write(self, msg) -> int:
        """Send one message; return the number of payload bytes written."""

    @abstractmethod
    async def close(self) -> None:
        """Close politely (flush what was written); idempotent."""

    @abstractmethod
    def abort(self) -> None:
        """Close now, dropping anything unsent; idempotent, never raises."""

    @abstractmethod
    def closed(self) -> bool:
        """True once this end knows the connection is gone."""

    @property
    def local_address(self) -> str:
        return self._local

    @property
    def peer_address(self) -> str:
        return self._peer

    @property
    def extra_info(self) -> dict:
        """Transport details (e.g. the peer's TLS certificate)."""
        return {}

    def __repr__(self):
        state = "closed" if self.closed() else "open"
        return f"<{type(self).__name__} {self.local_address} -> {self.peer_address} ({state})>"


class Listener(ABC):
    """Accepts connections and runs ``handler(comm)`` for each, in its own task."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None:
        """Stop accepting and drop connections still in their handshake."""

    @property
    @abstractmethod
    def listen_address(self) -> str:
        """The address actually bound (with the real port)."""

    @property
    @abstractmethod
    def contact_address(self) -> str:
        """The address others should connect to (a real IP for 0.0.0.0)."""

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.stop()


class Connector(ABC):
    @abstractmethod
    async def connect(self, location: str, *, deserialize: bool = False, **kwargs) -> Comm:
        """Open one connection (no retries); raise ``ConnectionError`` if unreachable."""


class Backend(ABC):
    """A transport: makes connectors and listeners for one address scheme."""

    #: True when traffic cannot be read by others (TLS, or never leaves the process).
    encrypted = False

    @abstractmethod
    def get_connector(self) -> Connector: ...

    @abstractmethod
    def get_listener(self, location: str, handler: Handler, *, deserialize: bool = False, **kwargs) -> Listener: ...


#: scheme -> Backend instance, or "module:attribute" import path of a Backend class.
backends: dict = {
    "tcp": "shoal.distributed.comm.tcp:TCPBackend",
    "tls": "shoal.distributed.comm.tls:TLSBackend",
    "inproc": "shoal.distributed.comm.inproc:InprocBackend",
}


def register_backend(scheme: str, backend) -> None:
    """Register a :class:`Backend` (or an import path to its class) for ``scheme``."""
    backends[scheme] = backend


def get_backend(scheme: str) -> Backend:
    entry = backends.get(scheme)
    if entry is None:
        raise ValueError(f"unknown comm scheme {scheme!r}; known: {', '.join(sorted(backends))}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = backends[scheme] = getattr(importlib.import_module(module), attr)()
    return entry


# --- addresses ---


def parse_address(address: str) -> tuple[str, str]:
    """``"tls://h:1"`` -> ``("tls", "h:1")``; no scheme means ``tcp``."""
    if not isinstance(address, str):
        raise TypeError(f"a comm address is a string, not {type(address).__name__}")
    scheme, sep, location = address.rpartition("://")
    return (scheme or "tcp", location) if sep else ("tcp", address)


def unparse_address(scheme: str, location: str) -> str:
    return f"{scheme}://{location}"


def parse_host_port(location: str, default_port: int = 0) -> tuple[str, int]:
    """``"h:1"``, ``"[::1]:1"``, ``"h"``, ``":1"``, ``""`` -> (host, port); host may be ``""``."""
    if location.startswith("["):
        host, _, rest = location[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif location.count(":") > 1:  # bare IPv6 address, no port
        host, port = location, ""
    else:
        host, _, port = location.partition(":")
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise ValueError(f"bad port in address location {location!r}") from None


def unparse_host_port(host: str, port: int | None = None) -> str:
    if ":" in host:
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"


def listen_address(scheme: str, host: str, port) -> str:
    """The address a server listens at: ``("tcp", "::1", 0)`` -> ``"tcp://[::1]:0"``
    (an IPv6 host is bracketed, given with brackets or without)."""
    return unparse_address(scheme, unparse_host_port(host.strip("[]"), int(port or 0)))


def get_ip() -> str:
    """This machine's address on its default route (127.0.0.1 if it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for UDP
            return sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"


# --- frame limits (shared by the transports) ---


def frame_limits() -> tuple[int, int]:
    """``(max-frame-size, max-message-size)`` in bytes, from config."""
    return (
        config.checked(config.size, "distributed.comm.max-frame-size", minimum=1),
        config.checked(config.size, "distributed.comm.max-message-size", minimum=1),
    )


def check_outgoing(frames: list, limits: tuple[int, int]) -> list[int]:
    """Return the frame sizes, or raise ``ValueError`` before anything is sent."""
    max_frame, max_message = limits
    sizes = [nbytes(f) for f in frames]
    biggest = max(sizes)
    if biggest > max_frame:
        raise ValueError(
            f"cannot send a frame of {biggest} bytes: over distributed.comm.max-frame-size "
            f"({max_frame}); raise it on both ends, or split the object"
        )
    if sum(sizes) + 8 * (len(sizes) + 1) > max_message:
        raise ValueError(
            f"cannot send a message of {sum(sizes)} bytes: over "
            f"distributed.comm.max-message-size ({max_message})"
        )
    return sizes


# --- connect / listen ---


def _check_encryption(address: str, backend: Backend, security) -> None:
    if security is not None:
        required = security.require_encryption
    else:
        required = config.get("distributed.comm.require-encryption")
    if required and not backend.encrypted:
        raise ValueError(
            f"encryption is required (require_encryption / distributed.comm.require-encryption) "
            f"but {address!r} is not encrypted; use a tls:// address"
        )


async def connect(
    address: str,
    timeout=None,
    security=None,
    *,
    role: str = "client",
    deserialize: bool = False,
    **kwargs,
) -> Comm:
    """Open a comm to ``address``, retrying while it is refused, until ``timeout``
    (``math.inf``: for good; each try gives up after the configured connect timeout).

    ``role`` ("client", "worker", "scheduler") picks the TLS certificate of
    ``security``.  Extra keyword arguments go to the backend (e.g. ``token``).
    """
    scheme, location = parse_address(address)
    backend = get_backend(scheme)
    _check_encryption(address, backend, security)
    per_try = config.checked(config.duration, "distributed.comm.timeouts.connect")  # (for good)
    timeout = per_try if timeout is None else config.parse_timedelta(timeout)

    connector = backend.get_connector()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    backoff = 0.01
    while True:
        remaining = deadline - loop.time()
        try:
            return await asyncio.wait_for(
                connector.connect(location, deserialize=deserialize, security=security, role=role, **kwargs),
                max(remaining if math.isfinite(timeout) else per_try, 0.001),
            )
        except (OSError, asyncio.TimeoutError) as exc:
            # refused / reset / no answer / no such host yet: the listener (or its name)
            # may still be coming; a peer that answered wrongly is no such case
            if isinstance(exc, CommError):
                raise
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"timed out after {timeout:g}s trying to connect to {address}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            await asyncio.sleep(min(backoff * random.uniform(0.8, 1.2), remaining))
            backoff = min(backoff * 2, 1.0)


async def listen(
    address: str,
    handler: Handler,
    security=None,
    *,
    role: str = "scheduler",
    deserialize: bool = False,
    **kwargs,
) -> Listener:
    """Start a listener on ``address`` that runs ``await handler(comm)`` per connection.

    ``"tcp://"`` or ``"tcp://:0"`` binds ``distributed.comm.default-host``
    (127.0.0.1) on a free port.  Returns the started :class:`Listener`.
    """
    scheme, location = parse_address(address)
    backend = get_backend(scheme)
    _check_encryption(address, backend, security)
    listener = backend.get_listener(
        location, handler, deserialize=deserialize, security=security, role=role, **kwargs
    )
    await listener.start()
    return listener
