"""A nanny's worker process: ``python -m shoal.distributed._worker_main CONTROL_FD STATUS_FD``.

The nanny (:mod:`shoal.distributed.nanny`) passes the worker's arguments as
JSON in ``SHOAL_INTERNAL_WORKER_SPEC`` and its live config in
``SHOAL_INTERNAL_INHERIT_CONFIG``.  This process:

1. restores the nanny's ``sys.path`` and working directory, sets up logging;
2. starts ``Worker(...)`` and writes ``{"op": "started", "address": ...}`` (or
   ``{"op": "start-failed", "error": ...}``) as one JSON line on STATUS_FD;
3. runs until the Worker finishes by itself (the scheduler closed it or went
   away) or the nanny writes ``close`` on CONTROL_FD -- or closes it: EOF means
   the nanny is gone, and a worker never outlives its nanny;
4. writes ``{"op": "closed", "requested": bool, "reason": ...}`` and leaves with
   ``os._exit`` so a task stuck in a worker thread cannot hold the process.

SIGINT is ignored (the nanny decides when the worker stops); SIGTERM keeps its
default action, so the nanny's SIGTERM ends the process at once.  Only the
standard library is imported before the Worker itself, so startup stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _report(fd: int, **msg) -> None:
    try:
        os.write(fd, (json.dumps(msg, default=str) + "\n").encode())
    except OSError:
        pass  # the nanny is gone; the control pipe's EOF ends us


def _setup_logging(level) -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    logger = logging.getLogger("shoal")
    logger.addHandler(handler)
    logger.setLevel(level if level is not None else logging.INFO)


def _security(fields):
    if not fields:
        return None
    from shoal.distributed.security import Security

    return Security(**{k: v for k, v in fields.items() if v is not None})


def _import(path: str):
    """``"package.module:Name"`` -> the object."""
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


async def _serve(spec: dict, control_fd: int, status_fd: int) -> int:
    import asyncio
    import logging
    import traceback

    logger = logging.getLogger("shoal.distributed.worker")
    try:
        Worker = _import(spec.pop("worker_class", None) or "shoal.distributed.worker.server:Worker")
        kwargs = {k: v for k, v in spec.items() if v is not None}
        kwargs["security"] = _security(spec.get("security"))
        worker = Worker(kwargs.pop("scheduler_address"), **kwargs)
        await worker.start()
    except BaseException as exc:  # noqa: BLE001 - reported to the nanny
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        logger.error("worker failed to start: %s", text, exc_info=not isinstance(exc, OSError))
        _report(status_fd, op="start-failed", error=text)
        return 1
    _report(status_fd, op="started", address=worker.address, pid=os.getpid())

    loop = asyncio.get_running_loop()
    asked = asyncio.Event()
    why = []

    def on_control():
        try:
            data = os.read(control_fd, 4096)
        except OSError:
            data = b""
        if not data or b"close" in data:
            why.append("asked by the nanny" if data else "the nanny is gone")
            loop.remove_reader(control_fd)
            asked.set()

    loop.add_reader(control_fd, on_control)
    finished = asyncio.ensure_future(worker.finished())
    request = asyncio.ensure_future(asked.wait())
    await asyncio.wait({finished, request}, return_when=asyncio.FIRST_COMPLETED)
    if finished.done():
        request.cancel()
        _report(status_fd, op="closed", requested=False, reason=getattr(worker, "close_reason", "") or "")
        return 0
    try:
        await asyncio.wait_for(worker.close(), 10)
    except BaseException:  # noqa: BLE001 - leaving anyway
        logger.exception("worker did not close cleanly (%s)", why[0])
    _report(status_fd, op="closed", requested=True, reason=why[0])
    return 0


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    control_fd, status_fd = int(argv[0]), int(argv[1])
    spec = json.loads(os.environ.pop("SHOAL_INTERNAL_WORKER_SPEC"))
    os.set_inheritable(control_fd, False)  # tasks that spawn processes must not hold our pipes
    os.set_inheritable(status_fd, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.path[:] = spec.pop("sys_path", None) or sys.path
    try:
        os.chdir(spec.pop("cwd", None) or os.getcwd())
    except OSError:
        pass
    _setup_logging(spec.pop("log_level", None))

    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        code = loop.run_until_complete(_serve(spec, control_fd, status_fd))
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)  # do not wait for worker threads that may be stuck in user code


if __name__ == "__main__":
    main()
