"""The second stage of the distributed runtime: connections that carry messages.

``connect(address)`` and ``listen(address, handler)`` pick a transport from
the address scheme (``tcp://``, ``tls://``, ``inproc://``); the transports
themselves are imported on first use.  See :mod:`shoal.distributed.comm.base`.
"""

from shoal.distributed.comm.base import (
    Backend,
    Comm,
    CommClosedError,
    CommError,
    Connector,
    HandshakeError,
    Listener,
    backends,
    connect,
    get_backend,
    get_ip,
    is_loopback,
    listen,
    parse_address,
    parse_host_port,
    register_backend,
    unparse_address,
    unparse_host_port,
)

__all__ = [
    "Backend", "Comm", "CommClosedError", "CommError", "Connector", "HandshakeError",
    "Listener", "backends", "connect", "get_backend", "get_ip", "is_loopback", "listen",
    "parse_address", "parse_host_port", "register_backend", "unparse_address",
    "unparse_host_port",
]  # fmt: skip
