"""How a client shows itself: a one-line ``repr`` and an HTML card for Jupyter.

Both read the scheduler's ``identity()`` (workers with their threads and memory
limits) as the client last fetched it; a sync client refreshes it first.
"""

from __future__ import annotations

import html

from shoal.core.hosts import ANY_HOST
from shoal.core.units import format_bytes

__all__ = ["client_html", "client_repr", "dashboard_link", "summarize"]




def summarize(identity: dict) -> dict:
    """Worker count, threads and memory from a scheduler identity."""
    workers = (identity or {}).get("workers", {}) or {}
    return {
        "workers": len(workers),
        "threads": sum(int(w.get("nthreads", 0) or 0) for w in workers.values()),
        "memory": sum(int(w.get("memory_limit", 0) or 0) for w in workers.values()),
    }


def dashboard_link(client) -> str | None:
    """The cluster's link, else one built here from the scheduler's identity.

    Built in the client's process, so the link template and environment that
    apply are the user's (``JUPYTERHUB_SERVICE_PREFIX`` in a JupyterHub kernel).
    """
    if client.cluster is not None:
        return getattr(client.cluster, "dashboard_link", None)
    where = (client._identity or {}).get("dashboard")
    if not where:
        return None
    from shoal.diagnostics.dashboard import format_dashboard_link

    host = where.get("host") or ""
    if host in ANY_HOST:  # it listens everywhere: the scheduler's host reaches it
        address = client.scheduler_address or ""
        location = address.split("://", 1)[-1]
        host = location.rsplit(":", 1)[0].strip("[]") or host
    return format_dashboard_link(host, where["port"], where.get("scheme", "http"), where.get("prefix", ""))


def client_repr(client) -> str:
    address = client.scheduler_address
    if client.status not in ("running", "connecting") or address is None:
        return f"<Client: {client.status}, scheduler {address!r}>" if address else \
            f"<Client: {client.status}>"
    s = summarize(client._identity)
    return (f"<Client: {address!r} processes={s['workers']} threads={s['threads']}, "
            f"memory={format_bytes(s['memory'])}>")  # fmt: skip


def client_html(client) -> str:
    s = summarize(client._identity)
    e = html.escape
    rows = [
        ("Client", client.id),
        ("Status", client.status),
        ("Scheduler", client.scheduler_address or ""),
        ("Workers", str(s["workers"])),
        ("Threads", str(s["threads"])),
        ("Memory", format_bytes(s["memory"])),
    ]
    cluster = client.cluster
    if cluster is not None:
        rows.insert(2, ("Cluster", type(cluster).__name__))
    try:
        link = client.dashboard_link
    except ValueError as exc:  # (a bad distributed.dashboard.link: say so, show the rest)
        rows.append(("Dashboard", e(str(exc))))
    else:
        if link:
            rows.append(("Dashboard", f'<a href="{e(link)}" target="_blank">{e(link)}</a>'))
    body = "".join(
        f"<tr><th style='text-align: left'>{e(k)}</th><td style='text-align: left'>"
        f"{v if k == 'Dashboard' else e(v)}</td></tr>"
        for k, v in rows
    )
    workers = (client._identity or {}).get("workers", {}) or {}
    detail = ""
    if workers:
        lines = "".join(
            f"<tr><td>{e(str(addr))}</td><td>{e(str(w.get('name', '')))}</td>"
            f"<td>{int(w.get('nthreads', 0) or 0)}</td>"
            f"<td>{format_bytes(w.get('memory_limit', 0))}</td></tr>"
            for addr, w in sorted(workers.items(), key=_by_name)
        )
        detail = (
            "<details><summary>Workers</summary><table><tr><th>Address</th><th>Name</th>"
            f"<th>Threads</th><th>Memory limit</th></tr>{lines}</table></details>"
        )
    return f"<div><h3 style='margin-bottom: 0'>shoal Client</h3><table>{body}</table>{detail}</div>"


def _by_name(item) -> tuple:
    """A worker's place in the table: by name, a number's by its value (a LocalCluster's
    workers are 0, 1, ... 10, in that order; their addresses' ports are random)."""
    address, info = item
    name = info.get("name")
    try:
        return (0, int(name), "", address)
    except (TypeError, ValueError):
        return (1, 0, "" if name is None else str(name), address)
