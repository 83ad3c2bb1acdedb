"""``shoal/proxy/<port>/<path>``: dashboard HTTP and websockets through Jupyter's port.

jupyter-server-proxy's handler (its authentication, hop-by-hop header and
websocket subprotocol handling) with three changes: it only reaches this
machine's loopback, it presents the dashboard's own host (``Host``, and
``Origin`` on websocket upgrades), and it keeps the user's Jupyter credentials
(cookies, ``Authorization``) to itself: a dashboard needs none, and a port another
user's process holds would have got them.  Bokeh checks ``Origin``, the dashboard
``Host`` (DNS rebinding), and the browser's are the Jupyter server's (a hub's,
a name behind nginx...), which the dashboard has never heard of; the Jupyter
server has checked the browser's origin already (its own rules,
``allow_origin``), and only an authenticated user gets this far.
"""

from __future__ import annotations

from jupyter_server_proxy.handlers import ProxyHandler
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketError

__all__ = ["DashboardProxyHandler"]


class DashboardProxyHandler(ProxyHandler):
    """``shoal/proxy/<port>/<path>`` -> ``http://127.0.0.1:<port>/<path>`` (and websockets)."""

    #: the Jupyter user's credentials, never sent on: whatever listens on the port (another
    #: user's process, on a shared machine) would get this user's Jupyter login
    PRIVATE_HEADERS = ("Cookie", "Authorization", "X-XSRFToken")

    def proxy_request_headers(self):
        headers = super().proxy_request_headers()
        for name in self.PRIVATE_HEADERS:
            headers.pop(name, None)
        return headers

    def get_request_headers_override(self):
        here = f"127.0.0.1:{self.path_args[0]}"
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            return {"Host": here, "Origin": f"http://{here}"}
        return {"Host": here}

    async def http_get(self, port, path):
        return await self.proxy("127.0.0.1", port, path)

    async def open(self, port, path):
        try:
            return await self.proxy_open("127.0.0.1", port, path)
        except (OSError, HTTPClientError, WebSocketError) as exc:  # (a dashboard that went)
            # one line and a closed socket (the pane shows it does not answer), not an
            # "Uncaught exception" traceback in Jupyter's log for every open pane
            self.log.info("shoal: no dashboard answers on port %s (%s)", port, exc)
            self.close(1011, "the dashboard does not answer")

    def post(self, port, path):
        return self.proxy("127.0.0.1", port, path)

    def put(self, port, path):
        return self.proxy("127.0.0.1", port, path)

    def delete(self, port, path):
        return self.proxy("127.0.0.1", port, path)

    def head(self, port, path):
        return self.proxy("127.0.0.1", port, path)

    def patch(self, port, path):
        return self.proxy("127.0.0.1", port, path)

    def options(self, port, path):
        return self.proxy("127.0.0.1", port, path)
