"""The ``shoal`` command: ``shoal scheduler``, ``shoal worker ADDRESS``, ``shoal info``.

::

    machine A:  shoal scheduler --scheduler-file /shared/sched.json
    machine B:  shoal worker --scheduler-file /shared/sched.json --nworkers 2
    anywhere:   Client("tcp://A:8786")

Each subcommand turns its flags into the same objects ``LocalCluster`` uses
(:class:`~shoal.distributed.scheduler.server.Scheduler`, one
:class:`~shoal.distributed.nanny.Nanny` or in-process ``Worker`` per
``--nworkers``), runs them on an asyncio loop and waits for SIGINT/SIGTERM (or,
for workers, for the scheduler to go away), then closes them gracefully and
exits 0.  A second Ctrl-C stops at once.

Everything binds 127.0.0.1 unless ``--host`` says otherwise.  Whoever can
connect to a shoal port can run arbitrary Python there: listen on other
interfaces only on trusted networks or with TLS (``--tls-ca-file``,
``--tls-cert``, ``--tls-key``; mutual certificates, ``tls://`` only).  The comm
layer logs a warning when a listener binds a public interface without TLS.  The
scheduler's dashboard (on ``:8787`` by default, as ``dask scheduler``'s) stays on
127.0.0.1 unless ``--dashboard-address`` names a host, with a warning too: it has no
login (plain HTTP, unless ``distributed.dashboard.tls`` gives it a certificate).

Flag mistakes (a missing certificate file, ``--port`` with several workers, a
bad ``--memory-limit``) end with argparse's usage line and a message naming
the flag.  Modules are imported by the subcommand that needs them, so
``shoal --help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import signal
import sys

__all__ = ["main", "build_parser"]

logger = logging.getLogger("shoal.cli")

SECURITY_NOTE = (
    "shoal runs arbitrary Python sent by anyone who can connect to its ports: it listens "
    "on 127.0.0.1 unless --host is given; expose it only on trusted networks or with TLS."
)
DEFAULT_SCHEDULER_PORT = 8786


class CLIError(ValueError):
    """A problem with the command line; the message names the flag or file."""


# --- parsing -------------------------------------------------------------------------


def _add_tls(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TLS (all three together; implies tls:// and requires encryption)")
    group.add_argument("--tls-ca-file", metavar="FILE", help="CA certificate that signs every peer's certificate")
    group.add_argument("--tls-cert", metavar="FILE", help="this process's certificate (may include its key)")
    group.add_argument("--tls-key", metavar="FILE", help="this process's private key")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoal", description="shoal: parallel computing for Python.", epilog=SECURITY_NOTE
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sched = sub.add_parser("scheduler", help="run a scheduler", description="Run a shoal scheduler.",
                           epilog=SECURITY_NOTE)  # fmt: skip
    sched.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    sched.add_argument("--port", type=_port, default=DEFAULT_SCHEDULER_PORT,
                       help=f"port to listen on; 0 picks a free one (default {DEFAULT_SCHEDULER_PORT})")
    sched.add_argument("--protocol", choices=("tcp", "tls"), help="tcp or tls (default: tls with TLS flags)")
    sched.add_argument("--scheduler-file", metavar="FILE",
                       help="write the scheduler's address to this JSON file (removed on exit)")
    sched.add_argument("--dashboard-address", metavar="ADDR", type=_dashboard_address,
                       default=":8787", help="where to serve the dashboard: [host]:port, on "
                       "127.0.0.1 when no host is given (0.0.0.0:8787 for every interface); a "
                       "taken port moves to the next free one (default :8787)")  # fmt: skip
    sched.add_argument("--no-dashboard", dest="dashboard", action="store_false",
                       help="serve no dashboard")
    _add_tls(sched)
    sched.set_defaults(func=cmd_scheduler, subparser=sched)

    work = sub.add_parser("worker", help="run workers for a scheduler",
                          description="Run shoal workers connected to a scheduler.", epilog=SECURITY_NOTE)
    work.add_argument("address", nargs="?", help="the scheduler, e.g. tcp://10.0.0.5:8786 or 10.0.0.5:8786")
    work.add_argument("--scheduler-file", metavar="FILE", help="read the scheduler's address from this file")
    work.add_argument("--nworkers", type=_nworkers, default=1, help="worker processes to start, or 'auto' (default 1)")
    work.add_argument("--nthreads", type=_positive_int, help="threads per worker (default: cores / nworkers)")
    work.add_argument("--memory-limit", default="auto",
                      help="bytes per worker ('4GiB', 0.5 of the machine, 0 for none); default auto: "
                           "the machine's memory split between the workers")  # fmt: skip
    nanny = work.add_mutually_exclusive_group()
    nanny.add_argument("--nanny", dest="nanny", action="store_true", default=True,
                       help="run each worker in its own process under a nanny that restarts it (default)")
    nanny.add_argument("--no-nanny", dest="nanny", action="store_false",
                       help="run the workers inside this process")  # fmt: skip
    work.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    work.add_argument("--port", type=_port, default=0, help="worker port (default: a free one)")
    work.add_argument("--nanny-port", type=_port, default=0, help="nanny port (default: a free one)")
    work.add_argument("--name", help="worker name (with --nworkers N: NAME-0 ... NAME-(N-1))")
    work.add_argument("--local-directory", metavar="DIR", help="where workers put spill files")
    work.add_argument("--resources", metavar="'GPU=2 FOO=1'", help="abstract resources for task restrictions")
    work.add_argument("--death-timeout", type=_seconds, metavar="SECONDS",
                      help="give up if the scheduler cannot be reached for this long "
                           "(default: wait for it)")
    _add_tls(work)
    work.set_defaults(func=cmd_worker, subparser=work)

    info = sub.add_parser("info", help="show versions, config paths, cores and memory")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_info, subparser=info)
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0-65535")
    return port


def _dashboard_host(text: str) -> str:
    from shoal.diagnostics.links import parse_dashboard_address

    return parse_dashboard_address(text, default_host="")[0]


def _dashboard_address(text: str) -> str:
    from shoal.diagnostics.dashboard import bind_listening

    try:
        host = _dashboard_host(text)
        if host:  # an address of this machine: one it can listen on (the dashboard's check)
            bind_listening(host, 0)[0].close()
    except (ValueError, OSError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _nworkers(text: str):
    return "auto" if text == "auto" else _positive_int(text)


# --- turning flags into objects (pure; unit tested) -------------------------------------


def security_from_args(args, role: str):
    """A ``Security`` for ``role`` from the TLS flags, None without them; CLIError when incomplete."""
    flags = {"--tls-ca-file": args.tls_ca_file, "--tls-cert": args.tls_cert, "--tls-key": args.tls_key}
    given = {k: v for k, v in flags.items() if v}
    if not given:
        if getattr(args, "protocol", None) == "tls":
            raise CLIError("--protocol tls needs --tls-ca-file, --tls-cert and --tls-key")
        return None
    for flag, path in given.items():
        if not os.path.isfile(path):
            raise CLIError(f"{flag}: no such file: {path}")
        if not os.access(path, os.R_OK):
            raise CLIError(f"{flag}: cannot read {path}")
    missing = [k for k in ("--tls-ca-file", "--tls-cert") if k not in given]
    if missing:
        raise CLIError(f"TLS needs {' and '.join(missing)} too (given: {', '.join(given)})")
    if getattr(args, "protocol", None) == "tcp":
        raise CLIError("--protocol tcp conflicts with the TLS flags (they mean tls://)")
    from shoal.distributed.security import Security

    return Security(**{"tls_ca_file": args.tls_ca_file, f"tls_{role}_cert": args.tls_cert,
                       f"tls_{role}_key": args.tls_key}, require_encryption=True)  # fmt: skip


def scheduler_address_from_args(args, security) -> str:
    """The scheduler address from ADDRESS or --scheduler-file, with tls:// when TLS flags are given."""
    if args.address and args.scheduler_file:
        raise CLIError("give the scheduler ADDRESS or --scheduler-file, not both")
    if args.scheduler_file:
        address = read_scheduler_file(args.scheduler_file, timeout=_waits(args))
    elif args.address:
        address = args.address
    else:
        raise CLIError("give the scheduler ADDRESS (e.g. tcp://127.0.0.1:8786) or --scheduler-file")
    scheme, sep, location = address.rpartition("://")
    if not sep:
        return f"{'tls' if security else 'tcp'}://{address}"
    if security is not None and scheme != "tls":
        raise CLIError(f"the TLS flags need a tls:// scheduler address, got {address!r}")
    if security is None and scheme == "tls":
        raise CLIError(f"{address!r} is tls://: give --tls-ca-file, --tls-cert and --tls-key")
    if scheme not in ("tcp", "tls"):
        raise CLIError(f"scheduler address {address!r}: use tcp:// or tls://")
    return address


def _waits(args) -> float:
    """How long a worker waits for its scheduler: ``--death-timeout``, else for good."""
    return args.death_timeout if args.death_timeout is not None else math.inf


def read_scheduler_file(path: str, timeout: float = 60.0, poll: float = 0.1) -> str:
    """The address in a scheduler file, waiting up to ``timeout`` s for it to appear."""
    from shoal.distributed.schedulerfile import read_scheduler_file as read

    try:
        return read(path, timeout, poll)
    except TimeoutError as exc:
        raise CLIError(f"--scheduler-file: {exc}") from None
    except OSError as exc:
        raise CLIError(f"--scheduler-file: cannot read {path}: {exc}") from None


def parse_resources(text: str | None) -> dict:
    """``"GPU=2 FOO=0.5"`` (or comma separated) -> ``{"GPU": 2.0, "FOO": 0.5}``."""
    out = {}
    for item in (text or "").replace(",", " ").split():
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = float(value)
        except ValueError:
            raise CLIError(f"--resources: expected NAME=NUMBER items, got {item!r}") from None
    return out


def worker_plan(args, cores: int, total_memory: int, cgroup_limit=None) -> list[dict]:
    """The keyword arguments of each worker (or nanny) ``shoal worker`` starts."""
    from shoal.distributed.worker.memory import parse_memory_limit

    n = args.nworkers
    if n == "auto":
        from shoal.distributed.deploy.local import nprocesses_nthreads

        n = nprocesses_nthreads(cores)[0]
    nthreads = args.nthreads or max(1, cores // n)
    if n > 1 and args.port:
        raise CLIError(f"--port {args.port} with --nworkers {n}: each worker needs its own port; leave --port out")
    if n > 1 and args.nanny and args.nanny_port:
        raise CLIError(f"--nanny-port {args.nanny_port} with --nworkers {n}: each nanny needs its own port")
    limit = args.memory_limit
    try:
        limit = float(limit) if limit.replace(".", "", 1).isdigit() and "." in limit else limit
        memory = parse_memory_limit(limit, total_memory=total_memory, n_workers=n, cgroup_limit=cgroup_limit)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"--memory-limit: {exc}") from None
    resources = parse_resources(args.resources)
    plans = []
    for i in range(n):
        name = args.name if n == 1 else (f"{args.name}-{i}" if args.name else None)
        plan = {"nthreads": nthreads, "memory_limit": memory or 0, "name": name, "host": args.host,
                "resources": resources, "local_directory": args.local_directory}  # fmt: skip
        if args.nanny:
            plan.update(port=args.nanny_port, worker_port=args.port, death_timeout=_waits(args))
        else:
            plan.update(port=args.port, death_timeout=_waits(args))
        plans.append(plan)
    return plans


# --- running ----------------------------------------------------------------------------


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    log = logging.getLogger("shoal")
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _stop_event() -> asyncio.Event:
    """An event set by the first SIGINT/SIGTERM; a second one is handled by Python (stop now)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum):
        logger.info("received %s: shutting down (again to stop at once)", signal.Signals(signum).name)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    return stop


async def _first(*aws) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_scheduler(args, security) -> int:
    from shoal.distributed.scheduler.server import Scheduler

    protocol = args.protocol or ("tls" if security else "tcp")
    stop = _stop_event()
    scheduler = Scheduler(host=args.host, port=args.port, protocol=protocol, security=security,
                          dashboard_address=args.dashboard_address if args.dashboard else None)  # fmt: skip
    try:
        await scheduler.start()
    except OSError as exc:
        logger.error("cannot listen on %s:%s (--host/--port): %s", args.host or "127.0.0.1", args.port, exc)
        return 1
    if args.host and args.dashboard and not _dashboard_host(args.dashboard_address):
        logger.info("the dashboard stays on 127.0.0.1 (--host is for the scheduler): "
                    "--dashboard-address 0.0.0.0:8787 serves it on every interface, or reach it "
                    "through a tunnel (ssh -L 8787:localhost:8787)")  # fmt: skip
    wrote = False
    try:
        if args.scheduler_file:
            from shoal.distributed.schedulerfile import write_scheduler_file

            write_scheduler_file(args.scheduler_file, {"type": "Scheduler", "id": scheduler.id,
                                                       "address": scheduler.address}, replace=True)  # fmt: skip
            wrote = True
        await _first(stop.wait(), scheduler.finished())
    finally:
        await scheduler.close()
        if wrote:
            try:
                os.remove(args.scheduler_file)
            except OSError:
                pass
    logger.info("scheduler closed")
    return 0


async def run_workers(args, address: str, plans: list, security) -> int:
    stop = _stop_event()
    if args.nanny:
        from shoal.distributed.nanny import Nanny

        servers = [Nanny(address, security=security, **plan) for plan in plans]
    else:
        from shoal.distributed.worker.server import Worker

        servers = [Worker(address, security=security, **plan) for plan in plans]
    starting = asyncio.ensure_future(asyncio.gather(*(s.start() for s in servers),
                                                    return_exceptions=True))  # fmt: skip
    await _first(stop.wait(), asyncio.shield(starting))
    if not starting.done():  # a signal while they started (waiting for the scheduler, say)
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await asyncio.gather(*(s.close() for s in servers), return_exceptions=True)
        return 0
    started = starting.result()
    failed = [r for r in started if isinstance(r, BaseException)]
    if failed:
        logger.error("%d of %d workers failed to start: %s", len(failed), len(servers), failed[0])
        await asyncio.gather(*(s.close() for s in servers), return_exceptions=True)
        return 1
    for s in servers:
        logger.info("%s for scheduler %s", s, address)
    await _first(stop.wait(), asyncio.gather(*(s.finished() for s in servers)))
    if not stop.is_set():
        logger.info("every worker closed (the scheduler went away or retired them)")
    await asyncio.gather(*(s.close() for s in servers), return_exceptions=True)
    return 0


def cmd_scheduler(args, parser) -> int:
    security = security_from_args(args, "scheduler")
    if args.dashboard:
        from shoal.diagnostics.https import https_context

        try:
            https_context()  # (distributed.dashboard.tls: its files, named, before starting)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    return asyncio.run(run_scheduler(args, security))


def cmd_worker(args, parser) -> int:
    from shoal.core.machine import cpu_count, read_cgroup_memory_limit, system_memory

    security = security_from_args(args, "worker")
    address = scheduler_address_from_args(args, security)
    plans = worker_plan(args, cpu_count(), system_memory(), read_cgroup_memory_limit())
    return asyncio.run(run_workers(args, address, plans, security))


# --- info -------------------------------------------------------------------------------

_PACKAGES = ("cloudpickle", "toolz", "pyyaml", "msgpack", "psutil", "cryptography", "tornado",
             "bokeh", "numpy", "pandas", "pyarrow", "dask", "distributed")  # fmt: skip


def collect_info() -> dict:
    """Versions, config files, cores and memory, without importing the optional packages."""
    import platform
    from importlib import metadata

    from shoal import config
    from shoal.core.machine import cpu_count, read_cgroup_memory_limit, system_memory

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    paths = config.config_paths()
    return {
        "shoal": version("shoal"),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cores": cpu_count(),
        "cpu_count": os.cpu_count(),
        "memory": system_memory(),
        "cgroup_memory_limit": read_cgroup_memory_limit(),
        "config_paths": [{"path": p, "exists": os.path.exists(p)} for p in paths],
        "packages": {name: version(name) for name in _PACKAGES},
    }


def cmd_info(args, parser) -> int:
    info = collect_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    from shoal.core.units import format_bytes

    print(f"shoal      {info['shoal']}")
    print(f"python     {info['python']} ({info['executable']})")
    print(f"platform   {info['platform']}")
    print(f"cores      {info['cores']} usable of {info['cpu_count']}")
    cgroup = info["cgroup_memory_limit"]
    print(f"memory     {format_bytes(info['memory'])}" + (f" (cgroup limit {format_bytes(cgroup)})" if cgroup else ""))
    print("config     files read in this order (later wins), then SHOAL_* environment variables:")
    for entry in info["config_paths"]:
        print(f"             {entry['path']}{'' if entry['exists'] else '  (absent)'}")
    print("packages")
    for name, ver in info["packages"].items():
        print(f"             {name:<13} {ver or '-'}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("scheduler", "worker"):
        _setup_logging()
    try:
        return args.func(args, parser)
    except CLIError as exc:
        args.subparser.error(str(exc))  # usage line + message, exit status 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
