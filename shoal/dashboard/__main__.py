"""``python -m shoal.dashboard --scheduler ADDRESS``: the dashboard as a process of its own.

::

    EventFeed (subscribe_events stream) --ingest--> DashboardState <--pull-- panes (HTTP :port)

One asyncio loop runs both.  Once it serves, the process prints exactly one
line on stdout, ``shoal-dashboard listening on http(s)://HOST:PORT/status`` (the
parent reads the port there; see :class:`shoal.diagnostics.dashboard.DashboardProcess`)
and sends anything else to stderr.  Its garbage collector is tuned for a process
that keeps many small records (``_tune_gc``).  If ``--port`` is taken it serves on the
next free port (up to 20 ports further, then any free one).  It
exits when the source closes (or cannot be reached again within
``--reconnect`` seconds), on SIGTERM / SIGINT, and, with ``--parent PID`` (as a
scheduler or a local ``Dashboard()`` spawns it), soon after that
process ends, even one killed before it could say goodbye (a kernel that
crashed): its port is free for the next one at once.  It runs at a lower
priority (``distributed.dashboard.niceness``, default +10): on a machine whose
cores the cluster keeps busy, the operating system gives the dashboard the time
the cluster leaves, so watching a computation does not slow it.

TLS to the source: ``--tls-ca-file``, ``--tls-cert``, ``--tls-key``, or the settings a
parent passes in ``SHOAL_INTERNAL_DASHBOARD_SECURITY``.  HTTPS to the browsers: the
``distributed.dashboard.tls`` settings.  The live config (comm token,
link template, ...) is inherited as for workers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import socket
import sys

from shoal.dashboard.feed import EventFeed
from shoal.diagnostics.dashboard import (
    DEFAULT_PORT, FAILED_LINE, READY_LINE, SECURITY_VAR, TICKET_VAR, parse_dashboard_address,
)  # fmt: skip
from shoal.diagnostics.https import https_context

__all__ = ["main", "serve"]

logger = logging.getLogger("shoal.dashboard")


def _port(text: str) -> int:
    """``--port``: a number, in the range the dashboard addresses' own check allows."""
    try:
        return parse_dashboard_address(int(text))[1]
    except ValueError as exc:
        message = str(exc) if text.strip().lstrip("-").isdigit() else f"not a port number: {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m shoal.dashboard", description=__doc__.split("\n")[0])
    p.add_argument("--scheduler", required=True, metavar="ADDRESS",
                   help="event source: a scheduler address such as tcp://127.0.0.1:8786")
    p.add_argument("--host", default="127.0.0.1", help="interface to serve on (default 127.0.0.1)")
    p.add_argument("--fd", type=int, default=None,
                   help="serve on this inherited listening socket (the parent bound it)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port to serve on (default {DEFAULT_PORT}; the next free one if taken; 0: any)")
    p.add_argument("--prefix", default="", help="URL prefix to serve under, e.g. /dashboard")
    p.add_argument("--reconnect", type=float, default=0.0, metavar="SECONDS",
                   help="when the connection is lost, keep trying this long before exiting")
    p.add_argument("--parent", type=int, default=None, metavar="PID",
                   help="exit when the process PID (this one's parent) ends")
    p.add_argument("--tls-ca-file")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--log-level", default="warning", type=str.lower,
                   choices=["debug", "info", "warning", "error", "critical"])
    return p  # fmt: skip


def _security(args):
    fields = json.loads(os.environ.get(SECURITY_VAR) or "null")
    if fields is None and not args.tls_ca_file:
        return None
    from shoal.distributed.security import Security

    if fields is None:
        fields = {"tls_ca_file": args.tls_ca_file, "tls_client_cert": args.tls_cert,
                  "tls_client_key": args.tls_key}  # fmt: skip
    return Security(**fields)


async def serve(args) -> int:
    """Feed + server until the source goes or a signal comes; the exit status."""
    from shoal.dashboard.server import start_server
    from shoal.dashboard.state import DashboardState

    state = DashboardState()
    feed = EventFeed(args.scheduler, state, security=_security(args), reconnect=args.reconnect,
                     ticket=os.environ.pop(TICKET_VAR, None))  # fmt: skip
    state.info_source = feed.info_source
    loop = asyncio.get_running_loop()
    orphaned = loop.create_task(_parent_gone(args.parent))
    starting = loop.create_task(feed.start())
    try:
        await asyncio.wait({starting, orphaned}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            logger.info("the parent process %s is gone: exiting", args.parent)
            await asyncio.gather(starting, return_exceptions=True)
            await feed.close()
            return 0
        starting.result()
    except BaseException as exc:
        for task in (orphaned, starting):
            task.cancel()
        await feed.close()
        if not isinstance(exc, (OSError, ConnectionError, asyncio.TimeoutError, ValueError)):
            raise  # (ValueError: a tls:// source and its certificates)
        hint = (" (the certificates: --tls-ca-file, --tls-cert and --tls-key)"
                if args.scheduler.startswith("tls://") else "")  # fmt: skip
        return _cannot_serve(args, f"cannot follow the events of {args.scheduler}: {exc}{hint}")
    try:
        sock = socket.socket(fileno=args.fd) if args.fd is not None else None
        server = start_server(state, args.host, args.port, args.prefix, sock=sock,
                              ssl_options=https_context())  # fmt: skip
    except BaseException as exc:
        orphaned.cancel()
        await feed.close()
        if not isinstance(exc, (OSError, ValueError)):  # (ValueError: a --host not of here)
            raise
        return _cannot_serve(args, f"cannot serve the dashboard on {args.host}:{args.port}: {exc}")
    _tune_gc()
    print(f"{READY_LINE} {server.link}", flush=True)
    os.dup2(2, 1)  # the parent reads only that line; the rest goes to stderr
    stop = asyncio.Event()
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in before:
        loop.add_signal_handler(sig, stop.set)
    done = loop.create_task(feed.finished())
    stopped = loop.create_task(stop.wait())
    try:
        async with server:  # started already; leaving closes connections and sessions
            await asyncio.wait({done, stopped, orphaned}, return_when=asyncio.FIRST_COMPLETED)
            if done.done():
                logger.info("the event source is gone (%s): exiting", done.result())
            elif orphaned.done():
                logger.info("the parent process %s is gone: exiting", args.parent)
    finally:
        for sig, handler in before.items():
            # On the way out already, the handlers this put in go now, while the loop
            # is open.  Left to asyncio, they went as it closed, after its wakeup pipe:
            # a SIGTERM in between (its parent closing it while the source's goodbye
            # already ends it) made Python print "Exception ignored when trying to write
            # to the signal wakeup fd" in the user's notebook.  Now such a late one
            # finds the handler this process had before (in the dashboard's: ends it).
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)
        for task in (done, stopped, orphaned):
            task.cancel()
        await feed.close()
    return 0


async def _parent_gone(pid) -> None:
    """Return once process *pid*, this one's parent, has ended (never when None):
    an orphan is given to another parent, so ``getppid()`` changes."""
    if pid is None:
        await asyncio.Event().wait()
    while os.getppid() == pid:
        await asyncio.sleep(0.5)


#: young-generation threshold of the dashboard process's garbage collector (Python: 700)
GC_YOUNG = 50_000


def _tune_gc() -> None:
    """Fewer, cheaper garbage collections in this process (it runs no user code).

    Ingesting a 10,000-task run allocates some hundred thousand objects (task
    records, key entries) that stay, so with Python's defaults the collector
    ran ~440 young and five full collections per four such runs, each full one
    scanning every object the process holds: 0.49 s of its 0.75 s of CPU.
    Freezing what start-up made (Bokeh, tornado: ~100,000 objects, never
    garbage) takes it out of every later scan, and a larger young generation
    means far fewer collections: 0.03 s of 0.50 s.  Cyclic garbage (a closed
    page's document) is still collected, later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, 20, 10)


def _cannot_serve(args, message: str) -> int:
    """Say why this process ends before serving: on stdout, in place of the line its
    parent waits for (which quotes it in its error), or on stderr when run by hand."""
    if args.parent is None:
        logger.error("%s", message)
    else:
        print(f"{FAILED_LINE} {message}", flush=True)
    return 1


def _lower_priority() -> None:
    """Yield the CPU to the cluster on a busy machine (``distributed.dashboard.niceness``)."""
    from shoal import config

    niceness = config.checked(config.count, "distributed.dashboard.niceness", minimum=-20)
    if niceness and hasattr(os, "nice"):
        try:
            os.nice(niceness)
        except OSError as exc:  # not allowed here: serve at the inherited priority
            logger.info("could not lower the dashboard's priority: %s", exc)


#: loggers that speak of what browsers do (see _configure_logging)
BROWSER_LOGGERS = ("bokeh", "tornado.access", "py.warnings")


def _configure_logging(level: str) -> None:
    """This process's log goes to stderr, which its parent shares: in a notebook, the
    output of whatever cell runs.  So at the default level (``warning``) what browsers
    do is not printed there: a tab closed mid-update, a request for a page that is
    not there (tornado's access log: 404), a page left open that reconnects to the
    next dashboard on the same port (Bokeh's "reference already known" warnings; all
    Python warnings of this process go with them: none is the user's to act on).
    Errors still are, and ``--log-level info`` or ``debug`` shows everything."""
    level = getattr(logging, level.upper())
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")  # fmt: skip
    logging.captureWarnings(True)  # Python warnings as log records of "py.warnings"
    if level >= logging.WARNING:
        for name in BROWSER_LOGGERS:
            logging.getLogger(name).setLevel(max(level, logging.ERROR))


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    _lower_priority()
    _configure_logging(args.log_level)
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:  # pragma: no cover - SIGINT before the handler is in place
        return 0


if __name__ == "__main__":
    sys.exit(main())
