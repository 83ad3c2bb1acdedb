"""Where a dashboard listens and the link users see: pure functions of an address,
the ``distributed.dashboard.link`` template and the environment.

::

    parse_dashboard_address(":8787")           -> ("127.0.0.1", 8787)   (None: no dashboard)
    format_dashboard_link("127.0.0.1", 8787)   -> "http://127.0.0.1:8787/status"
        JUPYTERHUB_SERVICE_PREFIX set, the dashboard on this machine
                                               -> "/user/alice/proxy/8787/status"

Links come from the template, formatted with ``scheme``, ``host``, ``port``,
``prefix`` and every environment variable (``$VAR`` / ``${VAR}`` are expanded
too; an unknown ``{name}`` is left as it is).  Unset, the template is
:data:`DEFAULT_LINK`, or under JupyterHub the one through Jupyter's proxy, which
forwards to this machine's ``localhost`` ports only: a dashboard elsewhere (or
bound to another address) keeps its own link, as Dask's does.  A template the user
sets is used as it is, Dask's default too (a hub without Jupyter's proxy).
"""

from __future__ import annotations

import numbers
import os

from shoal import config
from shoal.core.hosts import ANY_HOST, is_loopback, url_host

__all__ = ["DEFAULT_LINK", "DEFAULT_PORT", "JUPYTERHUB_LINK", "format_dashboard_link",
           "parse_dashboard_address", "websocket_origins"]  # fmt: skip

DEFAULT_PORT = 8787
DEFAULT_LINK = "{scheme}://{host}:{port}/status"
JUPYTERHUB_LINK = "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status"


def parse_dashboard_address(address, default_host: str = "127.0.0.1") -> tuple[str, int] | None:
    """``(host, port)`` to serve on, or None for "no dashboard".

    >>> parse_dashboard_address(":8787"), parse_dashboard_address(8790)
    (('127.0.0.1', 8787), ('127.0.0.1', 8790))
    >>> parse_dashboard_address("0.0.0.0:0"), parse_dashboard_address("http://[::1]:9000")
    (('0.0.0.0', 0), ('::1', 9000))
    >>> parse_dashboard_address("::1"), parse_dashboard_address("[::1]")
    (('::1', 8787), ('::1', 8787))
    >>> parse_dashboard_address(None), parse_dashboard_address(False), parse_dashboard_address(True)
    (None, None, ('127.0.0.1', 8787))
    """
    if address is None or address is False:
        return None
    if address is True:
        return default_host, DEFAULT_PORT
    if isinstance(address, numbers.Integral):  # (numpy's too)
        return default_host, _port_in_range(int(address), address)
    if not isinstance(address, str):
        raise TypeError(f"dashboard address {address!r}: expected 'host:port', ':port' or a port "
                        f"number, not {type(address).__name__}")  # fmt: skip
    text = address.strip()
    if "://" in text:
        text = text.split("://", 1)[1].rstrip("/")
    if text.startswith("["):  # [ipv6]:port
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise ValueError(f"dashboard address {address!r}: an IPv6 host is written "
                             "'[host]:port', as '[::1]:8787'")  # fmt: skip
        port = rest[1:]
    elif text.count(":") > 1:  # an IPv6 address alone: with a port it takes brackets, as
        # in a URL ("::1:8787" is itself an address, 0:0:0:0:0:0:1:8787, not ::1's port)
        if not _is_ip(text):
            raise ValueError(f"dashboard address {address!r}: an IPv6 host with a port is "
                             "written in brackets, as '[::1]:8787'")  # fmt: skip
        host, port = text, ""
    elif ":" in text:
        host, _, port = text.rpartition(":")
    elif text.isdigit():
        host, port = "", text
    else:
        host, port = text, ""
    try:
        port = int(port) if port else DEFAULT_PORT
    except ValueError:
        raise ValueError(f"dashboard address {address!r}: the port must be a number") from None
    return host or default_host, _port_in_range(port, address)


def websocket_origins(value=None) -> list:
    """The origins besides its own whose pages may open the dashboard's websocket
    (``["*"]``: any): *value*, or ``distributed.dashboard.allow-websocket-origin``; one
    string counts as a list of it.  Checked where the dashboard is started, so a wrong
    setting is named there (in its own process it was a traceback on stderr)."""
    key = "distributed.dashboard.allow-websocket-origin"
    if value is None:
        value, where = config.get(key, None), f" ({key})"
    else:
        where = ""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"allow_websocket_origin={value!r}{where}: expected a list of origins "
                         "as 'host:port' (or '*' for any)")  # fmt: skip
    return list(value)


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _port_in_range(port: int, address) -> int:
    if not 0 <= port <= 65535:
        raise ValueError(f"dashboard address {address!r}: the port must be 0 (any free one) "
                         f"to 65535, not {port}")  # fmt: skip
    return port


class _KeepUnknown(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def format_dashboard_link(host: str, port: int, scheme: str = "http", prefix: str = "",
                          template: str | None = None) -> str:  # fmt: skip
    """The link users see, from ``distributed.dashboard.link`` (see the module docstring).

    >>> format_dashboard_link("127.0.0.1", 8787, template=DEFAULT_LINK)
    'http://127.0.0.1:8787/status'
    """
    key = "distributed.dashboard.link" if template is None else "template"
    if template is None:
        template = config.get("distributed.dashboard.link", None)
        if template is None or template == "":  # unset (or set empty in the environment):
            # ours, or through Jupyter's proxy under JupyterHub
            hub = (os.environ.get("JUPYTERHUB_SERVICE_PREFIX") and scheme == "http"
                   and _on_this_machine(host))  # (the proxy reaches this machine's HTTP ports)
            template = JUPYTERHUB_LINK if hub else DEFAULT_LINK
    if not isinstance(template, str):
        raise ValueError(f"{key}={template!r}: expected a link template such as {DEFAULT_LINK!r}")
    given = template
    prefix = "/" + prefix.strip("/") if prefix and prefix.strip("/") else ""
    if prefix and "{prefix}" not in template and template.endswith("/status"):
        template = template[: -len("/status")] + "{prefix}/status"
    host = url_host(host)  # (listening everywhere: this machine's name)
    values = _KeepUnknown(os.environ)
    values.update(scheme=scheme, host=host, port=port, prefix=prefix)
    hub_prefix = values.get("JUPYTERHUB_SERVICE_PREFIX")
    if hub_prefix and not hub_prefix.endswith("/"):  # (the hub's own spelling ends with one;
        values["JUPYTERHUB_SERVICE_PREFIX"] = hub_prefix + "/"  # a hand-set one may not)
    try:
        return os.path.expandvars(template).format_map(values)
    except (ValueError, IndexError, AttributeError, KeyError) as exc:  # ("{", "{}", "{0.x}")
        raise ValueError(f"{key}={given!r}: not a link template ({exc}); expected one such "
                         f"as {DEFAULT_LINK!r}") from None  # fmt: skip


def _on_this_machine(host: str) -> bool:
    """Whether Jupyter's proxy, which forwards to ``localhost:<port>``, reaches a
    dashboard listening on *host*: loopback, or every interface."""
    return host in ANY_HOST or is_loopback(host)
