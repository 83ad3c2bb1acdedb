"""The HTTP side of the lab extension: discovery, pane lists and the proxy.

::

    GET  shoal/dashboards[?kernel=<id>]   live dashboards (registry records), the kernel's only
    GET  shoal/panes?url=<any url>        {"url": what to embed, "panes": {title: route} | null}
    *    shoal/proxy/<port>/<path>        HTTP + websocket to 127.0.0.1:<port> (Bokeh pages)

All of them sit behind Jupyter's authentication.  The proxy
(:mod:`shoal.lab.proxy`) needs jupyter-server-proxy; without it the
dashboards are embedded from their own port (fine on a laptop, not on Binder).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import httpclient, web

from shoal.core.hosts import is_loopback
from shoal.lab import registry

try:
    from shoal.lab.proxy import DashboardProxyHandler
except ImportError:  # no jupyter-server-proxy: panes load only where the dashboard's port is reachable
    DashboardProxyHandler = None

__all__ = ["PROXY_AVAILABLE", "handlers"]

PROXY_AVAILABLE = DashboardProxyHandler is not None


def _kernel_files(serverapp) -> dict:
    """kernel id -> connection file, for the kernels this server runs."""
    km = serverapp.kernel_manager
    out = {}
    for kid in km.list_kernel_ids():
        try:
            out[kid] = km.get_kernel(kid).connection_file
        except KeyError:  # ended meanwhile
            continue
    return out


class DashboardsHandler(APIHandler):
    @web.authenticated
    def get(self):
        kernels = _kernel_files(self.serverapp)
        found = [registry.describe(r, kernels, PROXY_AVAILABLE) for r in registry.read_records()]
        kernel = self.get_argument("kernel", None)
        if kernel is not None:
            found = [d for d in found if d["kernel"] == kernel]
        self.finish(json.dumps({"dashboards": found}))


async def fetch_panes(url: str, timeout: float = 5.0) -> dict | None:
    """``{title: route}`` from ``<url>panes.json``, or Dask's ``individual-plots.json``
    (titles without "Individual "); None when neither answers."""
    client = httpclient.AsyncHTTPClient()
    # an HTTPS dashboard on this machine: its certificate is for browsers elsewhere
    validate = not is_loopback(urlsplit(url).hostname or "")
    for name in ("panes.json", "individual-plots.json"):
        try:
            response = await client.fetch(url + name, request_timeout=timeout,
                                          follow_redirects=True, validate_cert=validate)  # fmt: skip
            panes = json.loads(response.body)
        except (httpclient.HTTPClientError, OSError, ValueError):
            continue
        if isinstance(panes, dict):
            return {k.removeprefix("Individual "): v for k, v in panes.items() if isinstance(v, str)}
    return None


class PanesHandler(APIHandler):
    @web.authenticated
    async def get(self):
        url = self.get_argument("url", "").strip()
        if not url:
            raise web.HTTPError(400, "?url= is required")
        base, host = self.base_url, self.request.host  # (the name the browser used for us)
        target = registry.upstream(url, base, host)
        panes = await fetch_panes(target) if target else None
        embed = registry.embeddable(url, base, PROXY_AVAILABLE, host)
        self.finish(json.dumps({"url": embed, "panes": panes}))


def handlers(base_url: str, manager) -> list:
    from shoal.lab.clusters import ClusterHandler

    def route(pattern):
        return url_path_join(base_url, "shoal", pattern)

    out = [
        (route("dashboards"), DashboardsHandler),
        (route("panes"), PanesHandler),
        (route(r"clusters(?:/([^/]+))?"), ClusterHandler, {"manager": manager}),
    ]
    if PROXY_AVAILABLE:
        proxy = {"absolute_url": False, "host_allowlist": ["127.0.0.1"]}
        out.append((route(r"proxy/(\d+)(.*)"), DashboardProxyHandler, proxy))
    return out
