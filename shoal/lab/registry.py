"""Where the running dashboards are: the registry folder and dashboard URLs.

Every dashboard process leaves one small JSON record in
``<jupyter runtime dir>/shoal-dashboards/`` while it runs (written by
``shoal.diagnostics.dashboard.DashboardProcess.spawn``, removed by ``close``)::

    {"pid": 4242,          the dashboard process      "parent": 4200,  who spawned it
     "host": "127.0.0.1", "port": 8787, "prefix": "",  where it serves
     "link": "http://127.0.0.1:8787/status",           what Client.dashboard_link says
     "scheduler": "tcp://127.0.0.1:38211",             its event source
     "kernel": "/run/user/1000/jupyter/runtime/kernel-<id>.json" or null}

A record whose process is gone (a kernel killed with SIGKILL), or whose process id
another program has since, is skipped and removed.  ``kernel`` is the spawning
process's ``ipykernel`` connection file, which names the Jupyter kernel id: that is
how the sidebar follows the active notebook's kernel without anyone copying a link.

A dashboard is *embedded* through this server's proxy, ``shoal/proxy/<port>/``
(relative to Jupyter's base URL), so only Jupyter's port has to be reachable
(Binder, JupyterHub).  :func:`embeddable` turns any URL a user may type
(``http://localhost:8787/status``, ``proxy/8787/status`` under JupyterHub,
``/user/me/proxy/8787``) into that form, or leaves a remote URL as it is.
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import urlsplit

from shoal.core.hosts import ANY_HOST, is_loopback
from shoal.diagnostics.announce import registry_dir

__all__ = ["alive", "describe", "embeddable", "kernel_id", "read_records", "upstream"]

PROXY = "shoal/proxy"
_KERNEL_FILE = re.compile(r"kernel-([0-9a-fA-F-]+)\.json$")


_KERNEL_THREAD = 0x00200000  # PF_KTHREAD: a process id given to one of the kernel's


def alive(pid) -> bool:
    """Whether process ``pid`` runs a dashboard (it may belong to another user: still
    alive).  A zombie does not: a dashboard killed while its parent has not reaped it
    yet; nor another program: a dashboard's record outlives a kernel killed outright,
    and its process id is given to a new process sooner or later (the kernel counts
    to 32,768 by default)."""
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:  # (another user's: a process id reused on a shared machine?)
        pass
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:  # "pid (name) S ...": S the state
            fields = f.read().rpartition(b") ")[2].split()
        if fields[:1] == [b"Z"] or int(fields[6]) & _KERNEL_THREAD:  # (flags: field 9)
            return False
        with open(f"/proc/{int(pid)}/cmdline", "rb") as f:  # (arguments, NUL-separated)
            arguments = f.read()
        # (empty for a moment as a process starts: a record read then was pruned, and a
        # live dashboard went missing from the lab for good)
        return not arguments or b"\0shoal.dashboard\0" in arguments
    except (OSError, IndexError, ValueError):  # no /proc (macOS), or not allowed: as
        return True                               # signal 0 said


def read_records(folder: str | None = None, prune: bool = True) -> list[dict]:
    """The records of live dashboards, oldest first; dead ones are deleted if ``prune``."""
    folder = folder or registry_dir()  # (the writer's rule: shoal.diagnostics.announce)
    if folder is None:  # no jupyter_core: nobody writes records
        return []
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except FileNotFoundError:
        return []
    records = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path) as f:
                record = json.load(f)
            valid = isinstance(record, dict) and isinstance(record.get("port"), int)
        except (OSError, ValueError):
            continue  # being written (writers replace atomically), or not ours
        if not valid or not alive(record.get("pid")):
            if prune and valid:
                _remove(path)
            continue
        records.append(record)
    records.sort(key=lambda r: r.get("started", 0))
    return records


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def kernel_id(connection_file: str | None, kernels: dict) -> str | None:
    """The id of the kernel whose connection file is ``connection_file``.

    ``kernels`` maps kernel id -> its connection file (from the kernel manager);
    a file this server did not start is matched by its name, ``kernel-<id>.json``.
    """
    if not connection_file:
        return None
    real = os.path.realpath(connection_file)
    for kid, path in kernels.items():
        if path and os.path.realpath(path) == real:
            return kid
    match = _KERNEL_FILE.search(os.path.basename(connection_file))
    return match.group(1) if match and match.group(1) in kernels else None


def _local_port(url: str, base_url: str = "/", server_host: str | None = None) -> tuple[int, str] | None:
    """``(port, path prefix)`` if ``url`` names a dashboard this server can proxy.

    That is a direct plain-HTTP link to this machine (``http://127.0.0.1:8787/status``, also
    typed without its scheme: see :func:`_typed`), or a path through this server's
    proxy: relative, on this machine, or under the name the browser reached this
    server by (*server_host*, the request's ``Host``: a hub's or Binder's public
    name, ``https://hub.example.org/user/me/proxy/8787/status``).  The same path on
    another server (``http://gpu-box:8888/proxy/8787/status``) is that server's."""
    parts = urlsplit(url)
    path = parts.path
    if parts.scheme in ("http", "https", "ws", "wss"):
        proxied = re.search(r"(^|/)(shoal/)?proxy/\d+(/|$)", path)
        host = parts.hostname or ""
        local = host in ANY_HOST or is_loopback(host)
        if not proxied:  # a direct link (an HTTPS dashboard's: the browser's to reach)
            plain = parts.scheme in ("http", "ws")
            return (parts.port, path) if local and plain and parts.port is not None else None
        if not local and not _same_server(parts, server_host):
            return None
    if path.startswith(base_url):
        path = path[len(base_url):]
    match = re.match(r"/?(?:shoal/)?proxy/(\d+)(/.*)?$", path)
    if match:
        return int(match.group(1)), match.group(2) or ""
    return None


def _same_server(parts, server_host: str | None) -> bool:
    """Whether the URL (split) names the server the browser reached as *server_host*."""
    if not server_host:
        return False
    default = 443 if parts.scheme in ("https", "wss") else 80
    server = urlsplit("//" + server_host)
    try:
        return (parts.hostname == server.hostname
                and (parts.port or default) == (server.port or default))  # fmt: skip
    except ValueError:  # a port that is not a number
        return False


_HOST_PORT = re.compile(r"^([\w.-]+|\[[0-9a-fA-F:.]+\]):\d+(/|$)")


def _typed(url: str) -> str:
    """*url* as typed, with ``http://`` before a bare ``host:port`` (``localhost:8787``,
    which ``urlsplit`` reads as the scheme ``localhost``)."""
    url = url.strip()
    return "http://" + url if _HOST_PORT.match(url) else url


#: what follows a dashboard's root in the links users copy: a page, a pane, the listings
_TAIL = re.compile(r"/(status|workers|tasks|system|profile|graph|info(/.*)?|individual-[\w-]+"
                   r"|panes\.json|individual-plots\.json)?/?$")  # fmt: skip


def _strip(path: str) -> str:
    """The dashboard's root path: ``/prefix/status`` -> ``/prefix``, ``/`` -> ``""``."""
    path = _TAIL.sub("", path or "")
    return path if path.startswith("/") or not path else "/" + path


def _root(url: str) -> str:
    """A remote dashboard's root URL, with a trailing slash."""
    return _TAIL.sub("", url.strip()) + "/"


def embeddable(url: str, base_url: str = "/", proxied: bool = True,
               server_host: str | None = None) -> str:  # fmt: skip
    """What the front end embeds: ``shoal/proxy/<port>/<prefix>/`` (relative to
    Jupyter's base URL) for a dashboard on this machine, else the URL's root.
    Without the proxy (jupyter-server-proxy missing) the browser goes direct.
    *server_host*: see :func:`_local_port`."""
    url = _typed(url)
    local = _local_port(url, base_url, server_host)
    if local is None:
        return _root(url)
    port, path = local
    if not proxied:
        return f"http://127.0.0.1:{port}{_strip(path)}/"
    return f"{PROXY}/{port}{_strip(path)}/"


def upstream(url: str, base_url: str = "/", server_host: str | None = None) -> str | None:
    """The direct ``http://127.0.0.1:<port>/<prefix>/`` to fetch ``panes.json`` from,
    or the URL's root for a remote dashboard (None for one we cannot reach)."""
    url = _typed(url)
    local = _local_port(url, base_url, server_host)
    if local is not None:
        port, path = local
        return f"http://127.0.0.1:{port}{_strip(path)}/"
    if urlsplit(url).scheme in ("http", "https"):
        return _root(url)
    return None


def describe(record: dict, kernels: dict, proxied: bool = True) -> dict:
    """The JSON the front end sees for one record."""
    port, prefix, link = record["port"], record.get("prefix") or "", record.get("link")
    if urlsplit(link or "").scheme == "https":  # its own link: the proxy speaks plain HTTP
        url = _root(link)
    elif proxied:
        url = f"{PROXY}/{port}{_strip(prefix)}/"
    else:
        url = f"http://127.0.0.1:{port}{_strip(prefix)}/"
    return {
        "pid": record.get("pid"),
        "port": port,
        "link": link,
        "scheduler": record.get("scheduler"),
        "kernel": kernel_id(record.get("kernel"), kernels),
        "url": url,
        "started": record.get("started"),
    }
