"""Host names as servers, links and checks see them (no DNS asked).

Three questions come up wherever an address is bound or shown: is it this
machine's loopback (TLS may be skipped, a Host check applies, Jupyter's proxy
reaches it), does it mean "every interface" (``""``, ``0.0.0.0``, ``::``), and how
is it written in a URL (an IPv6 address in brackets, "every interface" as this
machine's name).  The comm layer, the dashboard links and servers and the lab
extension answer them here, so ``[::1]`` means the same to each.
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["ANY_HOST", "is_loopback", "url_host"]

#: the spellings of "listen on every interface"
ANY_HOST = frozenset({"", "0.0.0.0", "::"})


def is_loopback(host: str) -> bool:
    """Whether *host* (an address, bracketed or not, or ``localhost``) is this
    machine's loopback.

    >>> is_loopback("127.0.0.1"), is_loopback("[::1]"), is_loopback("localhost")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("example.org")
    (False, False)
    """
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """*host* as a URL names it: "every interface" as this machine's name, an IPv6
    address in brackets.

    >>> url_host("::1"), url_host("[::1]"), url_host("10.0.0.2")
    ('[::1]', '[::1]', '10.0.0.2')
    """
    if host in ANY_HOST:
        host = socket.gethostname()
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host
