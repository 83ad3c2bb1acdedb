"""The live dashboard for every scheduler: its process, its link, and ``Dashboard()``.

The dashboard (Bokeh panes, ``panes.json``, ``/status``) runs in a process of
its own, fed by a stream of event records; neither a scheduler nor the user's
kernel pays for drawing::

    this process                                       dashboard process
    ------------                                       -----------------
    Scheduler.bus ------- subscribe_events stream ---> EventFeed -> DashboardState
      (distributed)        (lists of record dicts)                  -> panes -> HTTP :8787
    default_bus --------- BusServer (loopback) ----->  `python -m shoal.dashboard
      (sync / threads / processes, with Dashboard())     --scheduler ADDRESS --port 8787`

    DashboardProcess: spawn the child, read the one line it prints,
        "shoal-dashboard listening on http://127.0.0.1:8787/status",
    stop it (SIGTERM, then SIGKILL) when the scheduler or the Dashboard closes.

The child exits by itself when its source goes away, so a crashed parent
leaves nothing behind.  The parent binds the port and hands the listening
socket to the child (``--fd``); if the port asked for is taken, it takes the next
free one (a warning here says which).

``Dashboard()`` is the local schedulers' way in::

    with shoal.diagnostics.Dashboard() as dash:    # prints the link
        x.compute(scheduler="threads")             # task stream, progress, ...
    dash.link

It serves the default bus over a tiny loopback rpc server that lives in the
distributed package; this layer reaches it through the import path in
:data:`EVENT_SERVER` (resolved on first use), as ``base.named_schedulers``
does, never by importing it.  ``diagnostics.dashboard.enabled: false`` turns
``Dashboard()`` into a no-op (``link`` None), e.g. for notebooks run in CI.
While it is open, a thread samples this process every half second
(:class:`shoal.diagnostics.probe.Monitor`): the /system page shows it, and the
memory and CPU panes show it and its children (a process pool's workers, not the
dashboard's own process) as the local schedulers' one worker.

HTTPS: with ``distributed.dashboard.tls.cert`` (and ``.key``) set, the dashboard
serves HTTPS and its links say ``https``; ``.ca-file`` also asks every browser for a
certificate that CA signed (the one login this dashboard has).  The parent checks
the files before it spawns (:func:`shoal.diagnostics.https.https_context`), so a
wrong path is an error naming the setting, not a child that dies.

Where it listens and the link it shows (the ``distributed.dashboard.link``
template, Jupyter's proxy under JupyterHub) are pure functions of their own:
:mod:`shoal.diagnostics.links`.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import logging
import os
import re
import secrets
import select
import signal
import socket
import ssl
import subprocess
import sys
import time

from shoal import config, sampling, spawn
from shoal.core.extras import require
from shoal.core.hosts import is_loopback
from shoal.core.loading import load_object
from shoal.diagnostics._observer import Observer
from shoal.diagnostics.announce import announce, kernel_connection_file, withdraw
from shoal.diagnostics.https import https_context
from shoal.diagnostics.links import (
    DEFAULT_PORT, format_dashboard_link, parse_dashboard_address, websocket_origins,
)  # fmt: skip

__all__ = [
    "DEFAULT_PORT", "Dashboard", "DashboardProcess", "DashboardStartError",
    "format_dashboard_link", "parse_dashboard_address",
]  # fmt: skip

logger = logging.getLogger(__name__)

#: What the child prints on stdout once it serves (the only thing it prints there).
READY_LINE = "shoal-dashboard listening on"
#: What it prints there instead when it cannot serve, and why (quoted in the parent's error).
FAILED_LINE = "shoal-dashboard cannot serve:"
#: Environment variable carrying the TLS settings (file paths) to the child.
SECURITY_VAR = "SHOAL_INTERNAL_DASHBOARD_SECURITY"
#: The child's ticket for the records its scheduler held while it started: the event
#: stream gives them to the subscriber that shows it, not to whichever came first.
TICKET_VAR = "SHOAL_INTERNAL_DASHBOARD_TICKET"
#: Import path of the loopback server that streams a bus: ``cls(bus)``, ``await .start()``,
#: ``.address``, ``await .close()``.  A registry entry, so this layer never imports it.
EVENT_SERVER = "shoal.distributed.eventstream:BusServer"
#: Import path of the shared event-loop thread the local Dashboard runs that server on.
LOOP_RUNNER = "shoal.distributed._loop:get_runner"
_SECURITY_FIELDS = ("tls_ca_file", "tls_client_cert", "tls_client_key", "tls_scheduler_cert",
                    "tls_scheduler_key", "tls_worker_cert", "tls_worker_key",
                    "require_encryption", "tls_ciphers")  # fmt: skip


class DashboardStartError(RuntimeError):
    """The dashboard process could not start (bokeh missing, no source, ...)."""


# --- the process -----------------------------------------------------------------------


def _listen(host: str, port: int) -> socket.socket:
    """One listening, non-blocking socket (closed again if binding fails)."""
    family, kind, proto, _, addr = socket.getaddrinfo(
        host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_listening(host: str, port: int, tries: int = 20) -> tuple:
    """``(socket, port)`` listening on *port*, else the next free one of *tries*, else any.

    The parent binds the dashboard's socket and hands it to the child, so the
    link is known (and connections queue) before the child has even started.
    """
    candidates = [p for p in range(port, port + tries) if p <= 65535] + [0] if port else [0]
    for candidate in candidates:
        try:
            sock = _listen(host, candidate)
        except socket.gaierror as exc:
            raise ValueError(f"dashboard host {host!r} is not an address of this machine "
                             f"nor a name it can resolve: {exc.strerror}") from None
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ValueError(f"dashboard host {host!r} is not an address of this "
                                 "machine") from None
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            continue
        return sock, sock.getsockname()[1]
    raise OSError(errno.EADDRINUSE, f"no free port for the dashboard on {host}")


class DashboardProcess:
    """One ``python -m shoal.dashboard`` child, fed by the stream at ``source``.

    ``spawn()`` starts it without waiting; ``wait_started(timeout)`` (or
    ``await started(timeout)`` on an event loop) reads the port it serves on;
    ``close()`` / ``await aclose()`` stop it and reap it.
    """

    def __init__(self, source: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT, prefix: str = "",
                 security=None, reconnect: float = 0.0):  # fmt: skip
        self.source, self.host, self.requested_port = source, host, int(port)
        self.prefix, self.security, self.reconnect = prefix, security, float(reconnect)
        self.port: int | None = None
        self.url: str | None = None
        self.scheme = "http"  # "https" once spawned with distributed.dashboard.tls set
        self.proc: subprocess.Popen | None = None
        self._fd = self._report = None  # its stdout and report pipes (int | None)
        self._out = b""
        self._error: str | None = None
        self._record: str | None = None  # registry file (announce.py)
        self.terminated = False  # this side sent it SIGTERM (closed, or a start timed out)
        self.ticket = secrets.token_hex(16)  # (see TICKET_VAR)
        #: the config as it is when made, for its process (a successor takes it over: a
        #: dashboard restarted after a `with config.set(...)` block keeps its settings)
        self.child_config = config.config_for_child()

    @property
    def link(self) -> str | None:
        """The user-facing link (see :func:`format_dashboard_link`), once spawned (the
        socket is bound by then: a browser's connection waits until the child serves);
        None once the process has ended (closed, or killed: a link to nothing)."""
        if self.port is None or (self.proc is not None and self.proc.poll() is not None):
            return None
        return self.address_link()

    def address_link(self) -> str:
        """The link of the port it was given, whether or not it still serves there."""
        return format_dashboard_link(self.host, self.port, self.scheme, self.prefix)

    def command(self, fd: int | None = None, port: int | None = None) -> list:
        """The child's command line: *fd* a socket bound for it, on *port* (named on the
        command line as the port it serves, not the one asked for and found taken)."""
        port = self.requested_port if port is None else port
        cmd = [sys.executable, "-m", "shoal.dashboard", "--scheduler", self.source,
               "--host", self.host, "--port", str(port),
               "--parent", str(os.getpid())]  # fmt: skip
        if fd is not None:
            cmd += ["--fd", str(fd)]
        if self.prefix:
            cmd += ["--prefix", self.prefix]
        if self.reconnect:
            cmd += ["--reconnect", repr(self.reconnect)]
        return cmd

    def environment(self) -> dict:
        env = dict(os.environ)
        env.update(self.child_config)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        if self.security is not None:
            fields = {f: getattr(self.security, f, None) for f in _SECURITY_FIELDS}
            if not fields["tls_client_cert"]:  # the scheduler's own child: its certificate
                fields["tls_client_cert"] = fields["tls_scheduler_cert"]
                fields["tls_client_key"] = fields["tls_scheduler_key"]
            env[SECURITY_VAR] = json.dumps(fields)
        env[TICKET_VAR] = self.ticket
        return env

    def spawn(self) -> DashboardProcess:
        """Start the child (returns at once)."""
        if self.proc is not None:
            return self
        tls = https_context()  # (checks the files: a wrong path fails here, named)
        websocket_origins()  # (as the child will read it: named here)
        self.scheme = "http" if tls is None else "https"
        sock, port = bind_listening(self.host, self.requested_port)
        if self.requested_port not in (0, port):
            logger.warning("port %d is taken (another dashboard?); the dashboard is at port "
                           "%d instead", self.requested_port, port)  # fmt: skip
        if not is_loopback(self.host) and (tls is None or tls.verify_mode != ssl.CERT_REQUIRED):
            logger.warning("the dashboard listens on %s port %d: %s without a login, so "
                           "anyone who can reach this port sees task names, tracebacks and "
                           "worker addresses (a dashboard address without a host keeps it on "
                           "this machine; distributed.dashboard.tls.ca-file asks browsers for "
                           "a certificate)", self.host or "every interface", port,
                           "plain HTTP" if tls is None else "HTTPS")  # fmt: skip
        (read, write), (report, report_w) = os.pipe(), os.pipe()  # (report: its start error)
        try:
            self.proc = subprocess.Popen(
                spawn.python_command("shoal.dashboard", self.command(sock.fileno(), port)[3:],
                                     report_w),  # ([3:]: not "python -m ...")
                env=self.environment(), stdin=subprocess.DEVNULL,
                stdout=write, pass_fds=(sock.fileno(), report_w),
                start_new_session=True,  # a Ctrl-C in the kernel is not for the dashboard
            )  # fmt: skip
        except BaseException:
            os.close(read), os.close(report)
            raise
        finally:
            os.close(write), os.close(report_w)
            sock.close()  # the child has its own copy
        self.port, self._fd, self._report = port, read, report
        try:
            self._register()
        except BaseException:  # (a Ctrl-C in there: no child left running unowned)
            self.close()
            raise
        return self

    def _register(self) -> None:
        """Announce this dashboard to the lab extension (:mod:`.announce`, best effort:
        a bad ``distributed.dashboard.link`` is said where the link is shown, and the
        record goes without it)."""
        try:
            link = self.link
        except ValueError:
            link = None
        self._record = announce(self.proc.pid, {
            "parent": os.getpid(), "host": self.host, "port": self.port, "prefix": self.prefix,
            "link": link, "scheduler": self.source, "kernel": kernel_connection_file(),
            "started": time.time()})  # fmt: skip

    def _unregister(self) -> None:
        path, self._record = self._record, None
        withdraw(path)

    def _step(self, wait: float) -> bool:
        """Read what the child printed (waiting up to ``wait`` s); True once it is up or gone."""
        if self.url is not None or self._error is not None:
            return True
        poller = select.poll()  # (select.select fails on a descriptor past 1023: a busy process)
        poller.register(self._fd, select.POLLIN)
        if poller.poll(max(wait, 0.0) * 1000):
            chunk = os.read(self._fd, 4096)
            self._out += chunk
            match = re.search(rb"listening on (\S+)", self._out)
            if match and b"\n" in self._out[match.end():]:
                self.url = match.group(1).decode()
                self._close_pipe()
                return True
            if not chunk:  # stdout closed without the line: it failed
                try:
                    code = self.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:  # (still running: closed by the caller)
                    self._error = "the dashboard process closed its output before serving"
                else:  # (why: what it printed, or its uncaught error from the report pipe)
                    report, self._report = spawn.read_report(self._report), None
                    said = re.search(rb"%s (.*)" % FAILED_LINE.encode(), self._out)
                    report = said.group(1).decode(errors="replace") if said else report
                    self._error = (f"the dashboard process was killed ({_signal_name(-code)}) "
                                   "before serving" if code < 0 else
                                   f"the dashboard process exited with code {code} before "
                                   "serving: " + (report or "(its error is on stderr above)"))
                self._close_pipe()
                return True
        return False

    def _fail(self, timeout: float):
        if self._error is None:
            self._error = f"the dashboard process did not start within {timeout:g} s"
        return DashboardStartError(f"{self._error}; command: "
                                   f"{' '.join(self.command(port=self.port))}")  # fmt: skip

    def wait_started(self, timeout: float | None = None) -> int:
        """Block until the child serves; its port.  Raises :class:`DashboardStartError`."""
        timeout = _startup_timeout(timeout)
        deadline = time.monotonic() + timeout
        while not self._step(min(0.1, max(deadline - time.monotonic(), 0))):
            if time.monotonic() > deadline:
                break
        if self.url is None:
            self.close()
            raise self._fail(timeout)
        return self.port

    async def started(self, timeout: float | None = None) -> int:
        """:meth:`wait_started` for an event loop (polls; never blocks the loop)."""
        import asyncio

        timeout = _startup_timeout(timeout)
        deadline = time.monotonic() + timeout
        delay = 0.005
        while not self._step(0):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        if self.url is None:
            await self.aclose()
            raise self._fail(timeout)
        return self.port

    def _close_pipe(self) -> None:
        for fd in (self._fd, self._report):
            if fd is not None:
                os.close(fd)
        self._fd = self._report = None

    def _signal(self, sig) -> None:
        try:
            self.proc.send_signal(sig)
        except (ProcessLookupError, OSError):
            pass

    def close(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL; the exit code."""
        if self._terminate():
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
        return self.proc.wait() if self.proc is not None else None

    async def aclose(self, timeout: float = 5.0) -> int | None:
        """:meth:`close` for an event loop."""
        import asyncio

        if self._terminate():
            deadline, delay = time.monotonic() + timeout, 0.002
            while self.proc.poll() is None:
                if time.monotonic() > deadline:
                    self._kill()
                    deadline = float("inf")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
        return self.proc.wait() if self.proc is not None else None

    def _terminate(self) -> bool:
        """Let go of the pipe and the registry record, SIGTERM the process if it runs;
        True when there is a process to wait for."""
        self._close_pipe()
        self._unregister()
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.terminated = True
        self._signal(signal.SIGTERM)
        self._signal(signal.SIGCONT)  # (a stopped one: it had waited out the timeout)
        return True

    def _kill(self) -> None:
        logger.warning("the dashboard process %s did not end on SIGTERM; killing it",
                       self.proc.pid)  # fmt: skip
        self._signal(signal.SIGKILL)

    def __repr__(self):
        state = f"port {self.port}" if self.port else ("failed" if self._error else "starting")
        return f"<DashboardProcess for {self.source} {state}>"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _startup_timeout(timeout) -> float:
    return config.checked(config.period, "distributed.dashboard.startup-timeout", timeout,
                          "timeout")  # fmt: skip


def bokeh_missing() -> str | None:
    """Why the dashboard cannot run here (bokeh not installed, or too old), else None;
    without importing bokeh."""
    try:
        require("diagnostics", "bokeh", what="the dashboard")
    except ImportError as exc:
        return str(exc)
    return None


# --- the local schedulers' Dashboard ---------------------------------------------------


class Dashboard(Observer):
    """The live dashboard for local computations (sync, threads, processes).

    ``address`` is where it serves (default ``diagnostics.dashboard.address``,
    ``":8787"``; the next free port if taken).  Use it as a context manager,
    or ``register()`` / ``unregister()`` (also ``close()``) to keep it across
    cells.  ``link`` is the URL (None while closed, or when
    ``diagnostics.dashboard.enabled`` is false).
    """

    def __init__(self, address=None, prefix: str = "", show: bool = True, timeout=None, bus=None):
        if address is None:
            address = config.get("diagnostics.dashboard.address")
        self.address = parse_dashboard_address(address)
        if self.address is None:
            raise ValueError(f"Dashboard: no address to serve on ({address!r})")
        if not isinstance(prefix, str):
            raise TypeError(f"Dashboard: prefix={prefix!r}: expected a URL path ('' for none)")
        if bus is not None and not callable(getattr(bus, "subscribe", None)):
            raise TypeError(f"Dashboard: bus={bus!r}: expected an event bus (a shoal.bus.Bus)")
        self.prefix, self.show, self.timeout, self.bus = prefix, show, timeout, bus
        self.process: DashboardProcess | None = None
        self._server = self._runner = None
        self._monitor = None  # probe.Monitor: this process as the local schedulers' worker
        self._profiler = None  # sampler.Sampler of the sync / threads tasks (shoal.sampling)
        self._shown = False  # its link was printed: its end is printed too

    @property
    def link(self) -> str | None:
        return self.process.link if self.process is not None else None

    def _start(self) -> None:
        if self._started:
            self._revive()
            return
        if not config.checked(config.flag, "diagnostics.dashboard.enabled"):
            return
        try:  # (its process serves Bokeh; both ends speak the event stream's protocol)
            require("diagnostics", "bokeh", "msgpack", "tornado", "psutil", what="the dashboard")
        except ImportError as exc:  # (not installed, or too old)
            raise DashboardStartError(str(exc)) from None
        runner = load_object(LOOP_RUNNER)()
        runner.acquire()
        self._runner = runner
        self._started = True
        try:
            server_cls = load_object(EVENT_SERVER)
            self._server = runner.sync(server_cls(self.bus).start)
            host, port = self.address
            self.process = DashboardProcess(self._server.address, host, port, self.prefix)
            self.process.spawn()  # (kept first: a Ctrl-C in spawn leaves it for _stop)
            self.process.wait_started(self.timeout)
            self._profiler = _profiler()
            self._monitor = _monitor(self.bus, self._profiler)
            if self._monitor is None and self._profiler is not None:  # (no psutil: nobody
                self._profiler = None                                  # would publish trees)
                _release_profiler()
        except BaseException:
            self._stop()
            raise
        if self.show:
            print(f"Dashboard: {self._state()}")
            self._shown = True

    def _dead(self) -> bool:
        """Whether its process ended by itself (killed, out of memory) while open."""
        proc = self.process.proc if self.process is not None else None
        return proc is not None and proc.poll() is not None

    def _revive(self) -> None:
        """Used again (``with``, ``register()``) after its process died: a new one, on
        the same port, fed by the same event server; it shows what runs from now."""
        if not self._dead():
            return
        dead = self.process
        code = dead.close()
        logger.warning("the dashboard process (port %s) had exited with code %s; starting it "
                       "again", dead.port, code)  # fmt: skip
        self.process = DashboardProcess(self._server.address, dead.host, dead.port, self.prefix)
        self.process.child_config = dead.child_config
        try:
            self.process.spawn()
            self.process.wait_started(self.timeout)
        except BaseException:
            self.process.close()
            self.process = dead  # (still dead: the next use tries again)
            raise
        if self.show:
            print(f"Dashboard: {self._state()}")

    def _stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._shown:  # its lab panes go blank now: say why (and, at a with block's end,
            dead = self._dead()  # how to keep one across cells)
            print(f"Dashboard closed (port {self.process.port}"
                  + (f"; its process had exited with code {self.process.proc.returncode})"
                     if dead else ")")
                  + ("; register() keeps one open across cells" if self._block_ending else ""))
        self._shown = False
        process, self.process = self.process, None
        monitor, self._monitor = self._monitor, None
        profiler, self._profiler = self._profiler, None
        server, self._server = self._server, None
        runner, self._runner = self._runner, None
        # every step runs even when one before it fails (or a Ctrl-C comes in the middle):
        # an ExitStack calls them last registered first
        with contextlib.ExitStack() as steps:
            steps.callback(runner.release)
            if server is not None:
                steps.callback(runner.sync, server.close)
            if process is not None:
                steps.callback(process.close)
            if profiler is not None:
                steps.callback(_release_profiler)
            if monitor is not None:
                steps.callback(monitor.stop)

    def _state(self) -> str:
        if self._dead():
            return (f"its process exited (code {self.process.proc.returncode}); "
                    f"register() or a with block starts it again")  # fmt: skip
        try:
            return self.link or "closed"
        except ValueError as exc:  # (a bad distributed.dashboard.link: it serves anyway)
            return f"serving on port {self.process.port}; {exc}"

    def __repr__(self):
        return f"<Dashboard {self._state()}>"

    def _repr_html_(self):
        import html

        try:
            link = self.link
        except ValueError:
            link = None
        if link is None:
            return f"<div>Dashboard: {html.escape(self._state())}</div>"
        link = html.escape(link)
        return f'<div>Dashboard: <a href="{link}" target="_blank">{link}</a></div>'


def _monitor(bus, profiler=None):
    """A started :class:`~shoal.diagnostics.probe.Monitor` of this process and its
    helpers (a process pool's workers, not the dashboard's own process) on *bus* (the
    default bus when None), with *profiler*'s trees; None without psutil (the panes
    stay empty)."""
    if importlib.util.find_spec("psutil") is None:
        return None
    from shoal.diagnostics.probe import Monitor
    from shoal.bus import default_bus

    return Monitor(bus if bus is not None else default_bus, profiler=profiler).start()


def _profiler():
    """The started :class:`~shoal.diagnostics.sampler.Sampler` that the local batches
    register with (``shoal.sampling``: one, shared by the open dashboards; each
    monitor publishes the trees it takes, which every dashboard on the bus gets), or
    None when profiling is off (``distributed.worker.profile.enabled``)."""
    from shoal.diagnostics.sampler import Sampler, profile_enabled

    if not profile_enabled():
        return None
    return sampling.acquire(lambda: Sampler().start())


def _release_profiler() -> None:
    """One dashboard less on the shared sampler; stop it after the last."""
    last = sampling.release()
    if last is not None:
        last.stop()
