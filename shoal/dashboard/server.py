"""The dashboard's web server: Bokeh pages and plain routes on one Tornado port.

::

    DashboardServer(state, host, port, prefix)
        .start()            on the current thread's running event loop
        .start_in_thread()  in a thread of its own with its own loop
      -> BokehTornado(applications(state), extra_patterns=routes(state), prefix=prefix)
         + HTTPServer (HTTPS with ssl_options) on a socket handed over by the parent, or bound here
           (port, port+1, ... then any free one: shoal.diagnostics.dashboard.bind_listening)

It runs in the dashboard's own process, so rendering never takes a
scheduler's time.  Each page update goes to the browser as one message
(:class:`_Connection`), so the browser draws it in one frame.  Two choices keep it usable behind Jupyter's proxy
(``/proxy/8787/...``): BokehJS and its CSS load from *relative* URLs
(``static/...``; every Bokeh page sits one level below the prefix) and the
websocket URL is derived by BokehJS from the page's own location; with
``prefix="/proxy/8787"`` every route is served under that prefix (and only
there), for proxies that do not strip it.  It listens on 127.0.0.1 by default; websocket
connections are accepted from pages served by ``localhost`` / ``127.0.0.1``
on any port (JupyterLab's own server included) and from the hosts in
``allow_websocket_origin`` (``["*"]`` for any; default: the config's
``distributed.dashboard.allow-websocket-origin``).

Listening on loopback, it refuses (403) a request whose ``Host`` is a name other
than this machine's (``localhost``, its host name) or one of those hosts
(:func:`host_checker`; IP addresses go): a web page whose name an attacker points
at 127.0.0.1 (DNS rebinding) would otherwise read the dashboard as its own origin
(tornado skips ``check_origin`` when Origin and Host agree), also through a port
forward.  shoal's Jupyter proxy (``shoal/lab/proxy.py``) presents the
dashboard's own host; another proxy in front of a loopback dashboard under a
public name needs that name allowed.  Under JupyterHub (``JUPYTERHUB_SERVICE_PREFIX``
set: the dashboard runs in a remote container, not on the browser's machine) the
check is off, as it is for a dashboard served on other interfaces, whose names only
its user knows.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import socket
import threading

from bokeh.io import doc as bokeh_doc
from bokeh.protocol.exceptions import ProtocolError
from bokeh.resources import Resources
from bokeh.server.connection import ServerConnection
from bokeh.server.server import BaseServer
from bokeh.server.tornado import BokehTornado
from bokeh.server.urls import StaticHandler
from bokeh.server.util import create_hosts_allowlist
from bokeh.server.views.ws import WSHandler
from bokeh.settings import settings
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.web import RequestHandler

from shoal.core.hosts import is_loopback, url_host
from shoal.dashboard import clientfaults
from shoal.dashboard.http import routes
from shoal.diagnostics.dashboard import bind_listening
from shoal.diagnostics.links import websocket_origins
from shoal.dashboard.pages import applications

__all__ = ["DashboardServer", "host_checker", "start_server"]

log = logging.getLogger("shoal.dashboard")


class _Connection(ServerConnection):
    """A websocket connection that sends one ``PATCH-DOC`` per update, not per change.

    Bokeh sends every model change of a callback as a message of its own; the
    browser handles each in a task of its own and may draw a frame between them,
    and each repaint, not the glyphs in it, is what an open page costs.  A session
    collects its writes while it holds the document lock (``_pending_writes``) and
    awaits them once the callback returned: the first change of such a cycle gets
    an awaitable that sends the cycle's changes together, the later ones an
    awaitable that is already done.  A Bokeh without ``_pending_writes`` gets
    Bokeh's own one-message-per-change."""

    _batch = None  # (the session's pending-writes list, events) of the cycle being collected

    def send_patch_document(self, event):
        cycle = getattr(self._session, "_pending_writes", None)
        batch = self._batch
        if cycle is None:
            return super().send_patch_document(event)
        if batch is not None and batch[0] is cycle:
            batch[1].append(event)
            return _Done()
        events = [event]
        self._batch = (cycle, events)
        return _Send(self, events)

    async def _send(self, events) -> None:
        if self._batch is not None and self._batch[1] is events:
            self._batch = None
        await self._socket.send_message(self.protocol.create("PATCH-DOC", events))


class _Send:
    """Awaitable: send a cycle's events (a coroutine only once awaited, so a cycle
    whose callback raised leaves nothing unawaited behind, as in Bokeh)."""

    __slots__ = ("connection", "events")

    def __init__(self, connection, events):
        self.connection, self.events = connection, events

    def __await__(self):
        return self.connection._send(self.events).__await__()


class _Done:
    """Awaitable that is done at once (a change sent with its cycle's first one)."""

    __slots__ = ()

    def __await__(self):
        return iter(())


class _ForbiddenHost(RequestHandler):
    def prepare(self):
        host = clientfaults.short(self.request.host)
        clientfaults.log_refusal(log, "host", f"refused a request for Host {host} (not this machine)")
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"403: Host {host} is not this machine; to serve it, add it "
                    "to the dashboard's allow_websocket_origin\n")  # fmt: skip


def host_checker(bound: str, allowed=(), environ=None):
    """``Host header -> bool`` for a server listening on *bound*, or None when
    any host goes (bound to other interfaces, ``"*"`` allowed, or under JupyterHub):
    this machine's names (``localhost``, its host name), any IP address (a rebinding
    needs a name) and the hosts in *allowed* (Bokeh's patterns: ``*.example.org``;
    without a port, any).  The port does not matter: a port forward (``ssh -L``)
    passes the browser's name on with its own port."""
    import ipaddress
    import os

    from bokeh.server.util import match_host

    from shoal.distributed.comm.base import parse_host_port

    environ = os.environ if environ is None else environ
    if not is_loopback(bound) or "*" in allowed or environ.get("JUPYTERHUB_SERVICE_PREFIX"):
        return None
    names = {"localhost", bound.lower(), socket.gethostname().lower()}
    patterns = [h if ":" in h.lstrip("[") else f"{h}:*" for h in allowed]

    def ok(host: str) -> bool:
        try:
            name, asked = parse_host_port(host.strip().lower(), default_port=80)
        except ValueError:  # (a port that is no number)
            return False
        name = name.rstrip(".")
        if name in names or name.endswith(".localhost"):
            return True
        try:  # an address, not a name: no DNS to rebind (reached by its LAN IP)
            ipaddress.ip_address(name)
            return True
        except ValueError:
            pass
        return any(match_host(f"{name}:{asked}", p) for p in patterns)

    return ok


class _WSHandler(WSHandler):
    """Bokeh's websocket handler, whose refusals of a bad opening (no or a malformed
    session token, a wrong subprotocol) close the socket with a log line instead of
    a traceback (at the info level: a page left open past its session's expiry says
    so too): tornado logs whatever ``open`` raises as an uncaught error, and this
    process's errors show in the user's notebook.  So is a socket that closes under
    Bokeh's keep-alive (:meth:`on_close`).

    A message whose handling raises inside Bokeh's ``patch_curdoc`` (a malformed
    ``PATCH-DOC``) leaves that document on Bokeh's stack of current documents (the
    context manager has no ``finally``): once the document went, ``curdoc()`` raised
    for the rest of the process (``file_html``, a task-stream plot, in a test run).
    Those contexts are synchronous, so once the message is handled no entry of this
    session's document (or a document gone) above where the stack stood is in use:
    those are taken off."""

    async def on_message(self, fragment):
        stack = bokeh_doc._PATCHED_CURDOCS
        depth = len(stack)
        try:
            return await super().on_message(fragment)
        finally:
            if len(stack) > depth:
                _drop_stale_curdocs(stack, depth, getattr(self.connection, "session", None))

    def on_close(self):
        # Bokeh's keep-alive drops the session of a socket it finds closing; tornado
        # then calls this, whose session was asked for again (an AssertionError
        # traceback in the notebook for a tab closed at that moment): nothing is left
        connection = self.connection
        if connection is not None and getattr(connection, "_session", True) is None:
            return
        super().on_close()

    def open(self):
        try:
            return super().open()
        except (ProtocolError, ValueError, TypeError, KeyError, binascii.Error) as exc:
            what = clientfaults.short(f"{type(exc).__name__}: {exc}")[1:-1]
            clientfaults.log_refusal(log, "opening", f"refused a websocket opening ({what})",
                                     logging.INFO)  # fmt: skip
            self.close()


def _drop_stale_curdocs(stack: list, depth: int, session) -> None:
    """Take off *stack* (Bokeh's current documents, weak references) the entries above
    *depth* of *session*'s document (itself, or a proxy of it) or of a document gone."""
    doc = getattr(session, "document", None)
    for i in range(len(stack) - 1, depth - 1, -1):
        held = stack[i]()
        if held is None or held is doc or getattr(held, "_doc", None) is doc:
            del stack[i]


class _Tornado(BokehTornado):
    """BokehTornado whose pages load BokehJS from relative URLs (see above), whose
    connections batch each update's changes (:class:`_Connection`) and refuse a bad
    opening quietly (:class:`_WSHandler`), and which answers 403 to a request whose
    ``Host`` it does not serve (:func:`host_checker`)."""

    host_ok = None  # Host header -> bool; None: any

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for rule in self.wildcard_router.rules:  # (Bokeh builds its routes in __init__)
            if rule.target is WSHandler:
                rule.target = _WSHandler

    def find_handler(self, request, **kwargs):
        if self.host_ok is not None and not self.host_ok(request.host or ""):
            return self.get_handler_delegate(request, _ForbiddenHost)
        return super().find_handler(request, **kwargs)

    def resources(self, absolute_url=None) -> Resources:
        if settings.resources(default="server") not in ("server", "server-dev"):
            return super().resources(absolute_url)
        return Resources(mode="server", root_url="", path_versioner=StaticHandler.append_version)

    def new_connection(self, protocol, socket, application_context, session):
        connection = _Connection(protocol, socket, application_context, session)
        self._clients.add(connection)
        return connection


class DashboardServer:
    """Serve a :class:`~shoal.dashboard.state.DashboardState`; see the module docstring."""

    def __init__(self, state, host: str = "127.0.0.1", port: int = 8787, prefix: str = "",
                 allow_websocket_origin=None, sock=None, ssl_options=None):  # fmt: skip
        self.state, self._sock, self.ssl_options = state, sock, ssl_options
        self.host, self.requested_port = host, port
        self.prefix = "/" + prefix.strip("/") if prefix and prefix.strip("/") else ""
        self.allow_websocket_origin = websocket_origins(allow_websocket_origin)
        self.port = None
        self._server = self._http = self._loop = None
        self._thread = self._stop_event = None

    @property
    def address(self) -> str:
        """``http(s)://host:port[/prefix]`` (no trailing slash)."""
        scheme = "http" if self.ssl_options is None else "https"
        return f"{scheme}://{url_host(self.host)}:{self.port}{self.prefix}"

    @property
    def link(self) -> str:
        return f"{self.address}/status"

    def __repr__(self) -> str:
        return f"<DashboardServer {self.address if self.port else 'not started'}>"

    # --- starting -------------------------------------------------------------------

    def start(self) -> DashboardServer:
        """Listen on the current thread's event loop (which the caller runs)."""
        if self._sock is not None:  # bound by the parent process
            self._sock.setblocking(False)
            sockets, self.port = [self._sock], self._sock.getsockname()[1]
        else:
            sock, self.port = bind_listening(self.host, self.requested_port)
            sockets = [sock]
        clientfaults.install()  # what clients send wrong: short lines, now and then
        origins = {"localhost:*", "127.0.0.1:*", f"{url_host(self.host)}:{self.port}"}
        if self.allow_websocket_origin:
            origins.update(create_hosts_allowlist(self.allow_websocket_origin, self.port))
        try:
            app = _Tornado(applications(self.state), prefix=self.prefix,
                           extra_patterns=routes(self.state),
                           extra_websocket_origins=sorted(origins),
                           absolute_url="", use_index=False, redirect_root=False,
                           keep_alive_milliseconds=10_000, check_unused_sessions_milliseconds=2_000,
                           unused_session_lifetime_milliseconds=10_000)  # fmt: skip
            app.host_ok = host_checker(self.host, self.allow_websocket_origin)
            self._http = HTTPServer(app, ssl_options=self.ssl_options)
            self._http.add_sockets(sockets)
        except Exception:
            for s in sockets:
                s.close()
            raise
        self._loop = IOLoop.current()
        self._server = BaseServer(self._loop, app, self._http)
        self._server.start()
        moved = "" if self.port == self.requested_port or not self.requested_port else (
            f" (port {self.requested_port} was taken)")  # fmt: skip
        log.info("shoal dashboard at %s%s", self.link, moved)
        return self

    def start_in_thread(self, timeout: float = 30.0) -> DashboardServer:
        """Run the server on its own event loop in a daemon thread; returns once
        it listens (or raises what made starting fail)."""
        ready, failure = threading.Event(), []
        verdict = threading.Lock()  # (started vs. given up: one or the other, never both)
        given_up = []

        async def main():
            self._stop_event = asyncio.Event()
            try:
                self.start()
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                with verdict:
                    ready.set()
            if not given_up:  # (a server that started after its caller gave up stops)
                await self._stop_event.wait()
            await self._shutdown()

        def run():
            asyncio.run(main())

        self._thread = threading.Thread(target=run, name="shoal-dashboard", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            with verdict:
                if not ready.is_set():
                    given_up.append(True)
                    raise TimeoutError(f"the dashboard server did not start within {timeout} s")
        if failure:
            self._thread.join(timeout)
            raise failure[0]
        return self

    # --- stopping -------------------------------------------------------------------

    def stop(self, timeout: float = 10.0):
        """Stop listening, close connections and sessions; from any thread.

        On the server's own loop this returns an awaitable (the shutdown runs
        as a task whether or not it is awaited); elsewhere it blocks until done.
        """
        if self._thread is not None:
            thread, self._thread = self._thread, None
            if self._stop_event is not None and thread.is_alive():
                self._loop.add_callback(self._stop_event.set)
            thread.join(timeout)
            return None
        if self._server is None:
            return None
        loop = self._loop.asyncio_loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return asyncio.ensure_future(self._shutdown())
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        return None

    async def _shutdown(self, grace: float = 2.0) -> None:
        """Stop listening, close websockets, then end the sessions once their
        connections are gone (destroying a connected session breaks Bokeh)."""
        server, self._server = self._server, None
        if server is None:
            return
        tornado_app = server._tornado
        clients = list(getattr(tornado_app, "_clients", ()))
        server.stop(wait=False)
        for conn in clients:
            sock = getattr(conn, "_socket", None)
            if sock is not None:
                sock.close()
        await self._http.close_all_connections()
        sessions = [s for ctx in tornado_app.applications.values() for s in ctx.sessions]
        deadline = asyncio.get_running_loop().time() + grace
        while any(s.connection_count for s in sessions if not s.destroyed):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.01)
        for session in sessions:
            if not session.destroyed and not session.connection_count:
                session.destroy()

    async def __aenter__(self):
        return self.start() if self._server is None else self

    async def __aexit__(self, *exc):
        await self._shutdown()

    def __enter__(self):
        return self.start_in_thread() if self._server is None else self

    def __exit__(self, *exc):
        self.stop()


def start_server(state, host: str = "127.0.0.1", port: int = 8787, prefix: str = "",
                 allow_websocket_origin=None, sock=None, ssl_options=None) -> DashboardServer:  # fmt: skip
    """Start a dashboard for *state*: on the running event loop of this thread
    if there is one, otherwise in a thread of its own.  ``sock``: a listening
    socket to serve on instead of binding ``host:port``; ``ssl_options``: an
    :class:`ssl.SSLContext` to serve HTTPS with."""
    server = DashboardServer(state, host, port, prefix, allow_websocket_origin, sock, ssl_options)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return server.start_in_thread()
    return server.start()
