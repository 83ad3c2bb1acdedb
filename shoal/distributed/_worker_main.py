"""Both ends of a nanny's worker process: ``shoal.distributed._worker_main CONTROL_FD STATUS_FD``
(started by :func:`shoal.spawn.python_command`: the parent's ``sys.path``, not the cwd first).

::

    nanny side: WorkerProcess (this module)            child side: main() (this module)
    ---------------------------------------            --------------------------------
    Popen(..., pass_fds=(CONTROL_FD, STATUS_FD))       restore sys.path / cwd, set up logging
       env SHOAL_INTERNAL_WORKER_SPEC (JSON kwargs)    Worker(**spec); await worker.start()
       status pipe  <-- {"op": "started", address}    (or {"op": "start-failed", error})
       control pipe --- b"close\n" ---------------->  await worker.close()
                       (EOF: the nanny is gone)  --->  close too: never outlive the nanny
       status pipe  <-- {"op": "closed", requested, reason}   then os._exit(0)
       EOF on the status pipe == the process is gone: reap it, read its exit code

The protocol lives in this one module so its two ends change together; the
policy (restart or not, memory limits) is in :mod:`shoal.distributed.nanny`.
The child is the module run as ``__main__``: it imports only the standard
library before the Worker class itself, so it starts fast.  It ignores SIGINT
(the nanny decides when it stops) and keeps SIGTERM's default action, so the
nanny's SIGTERM ends it at once.  It leaves with ``os._exit`` so a task stuck
in a worker thread cannot hold the process.  The live config travels in
``SHOAL_INTERNAL_INHERIT_CONFIG`` (:func:`shoal.config.config_for_child`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys

from shoal import spawn
from shoal.core.loading import load_object
from shoal.local.remote_errors import describe_exit

__all__ = ["KILL_GRACE", "WorkerProcess", "WorkerStartError", "describe_exit", "main"]

logger = logging.getLogger("shoal.distributed.nanny")

#: Seconds between SIGTERM and SIGKILL.
KILL_GRACE = 1.0
SPEC_VAR = "SHOAL_INTERNAL_WORKER_SPEC"


class WorkerStartError(RuntimeError):
    """The worker process could not start (its error, or how it died, is in the message)."""


# --- the nanny's end -------------------------------------------------------------------


class WorkerProcess:
    """One ``python -m shoal.distributed._worker_main`` child and its two pipes.

    ``on_exit(process, returncode)`` is called once, in the event loop, after
    the process is gone and reaped.
    """

    def __init__(self, spec: dict, env: dict, on_exit=None):
        self.spec, self.env, self.on_exit = spec, env, on_exit
        self.proc: subprocess.Popen | None = None
        self.address: str | None = None
        self.returncode: int | None = None
        self.expected_exit = False  # the nanny asked it to stop
        self.closed_by_itself = False  # the Worker finished without being asked
        self.close_reason = ""
        self._control: int | None = None
        self._errors: int | None = None  # read end of the child's error report (shoal.spawn)
        self._started: asyncio.Future | None = None
        self._exited: asyncio.Future | None = None
        self._watch: asyncio.Task | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self._exited is not None and not self._exited.done()

    async def start(self, timeout: float) -> str:
        """Spawn the process and wait until its Worker has started; return its address."""
        loop = asyncio.get_running_loop()
        self._started, self._exited = loop.create_future(), loop.create_future()
        ctrl_r, ctrl_w = os.pipe()
        stat_r, stat_w = os.pipe()
        self._errors, report_w = os.pipe()  # (its import error, should it end before started)
        env = dict(self.env)
        env[SPEC_VAR] = json.dumps(self.spec)
        try:  # (a command that cannot be made: our ends of the pipes are closed too)
            cmd = spawn.python_command("shoal.distributed._worker_main", (ctrl_r, stat_w),
                                       report_w, self.spec.get("sys_path"))  # fmt: skip
            self.proc = subprocess.Popen(
                cmd, pass_fds=(ctrl_r, stat_w, report_w), env=env, start_new_session=True,
                stdin=subprocess.DEVNULL, cwd=spawn.start_directory(self.spec.get("cwd")),
            )  # fmt: skip
        except BaseException:
            for fd in (ctrl_w, stat_r, self._errors):
                os.close(fd)
            raise
        finally:
            for fd in (ctrl_r, stat_w, report_w):
                os.close(fd)
        self._control = ctrl_w
        reader = asyncio.StreamReader(limit=1 << 20)
        pipe = os.fdopen(stat_r, "rb", buffering=0)
        try:
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), pipe)  # fmt: skip
        except BaseException:  # (cancelled: a Ctrl-C as the cluster started) not watched yet,
            self._signal(signal.SIGKILL)  # so ended and reaped here (it stayed a zombie)
            self.returncode = self.proc.wait()  # (killed: at once)
            self._exited.set_result(self.returncode)  # (wait(), kill(), stop() return)
            pipe.close()
            os.close(ctrl_w)
            self._control = None
            raise
        self._watch = loop.create_task(self._read_status(reader, transport))
        try:
            self.address = await asyncio.wait_for(asyncio.shield(self._started), timeout)
        except asyncio.TimeoutError:
            await self.kill()
            raise WorkerStartError(
                f"the worker process (pid {self.pid}) did not start within {timeout:g} s "
                f"(distributed.nanny.startup-timeout); is the scheduler at "
                f"{self.spec.get('scheduler_address')} reachable?"
            ) from None
        except BaseException:
            await self.kill()
            raise
        return self.address

    async def _read_status(self, reader: asyncio.StreamReader, transport) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    logger.warning("worker process %s sent garbage: %r", self.pid, line[:200])
                    continue
                self._on_message(msg)
        except (OSError, ValueError) as exc:  # ValueError: a line over the reader's limit
            logger.warning("lost the status pipe of worker process %s: %s", self.pid, exc)
        finally:
            transport.close()
        code = await self._reap()
        self.returncode = code
        if self._control is not None:
            os.close(self._control)
            self._control = None
        report, self._errors = spawn.read_report(self._errors), None
        if not self._started.done():
            self._started.set_exception(WorkerStartError(
                f"the worker process (pid {self.pid}) exited {describe_exit(code)} before its "
                f"worker started: {report or '(its stderr above says why)'}"
            ))  # fmt: skip
            self._started.exception()  # retrieved here: start() may already have given up
        self._exited.set_result(code)
        if self.on_exit is not None:
            try:
                self.on_exit(self, code)
            except Exception:
                logger.exception("on_exit callback failed for worker process %s", self.pid)

    def _on_message(self, msg: dict) -> None:
        op = msg.get("op")
        if op == "started" and not self._started.done():
            self._started.set_result(msg["address"])
        elif op == "start-failed" and not self._started.done():
            self._started.set_exception(WorkerStartError(f"the worker failed to start: {msg.get('error')}"))
            self._started.exception()
        elif op == "closed":
            self.closed_by_itself = not msg.get("requested", False)
            self.close_reason = msg.get("reason", "")

    async def _reap(self) -> int:
        """Wait (without blocking the loop) for the process to be gone; its return code."""
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + 5.0, 0.001
        while self.proc.poll() is None:
            if loop.time() > deadline:  # it closed its pipe but lives on: end it
                logger.warning("worker process %s closed its pipe but did not exit; killing it", self.pid)
                self._signal(signal.SIGKILL)
                deadline = float("inf")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return self.proc.returncode

    def _signal(self, sig) -> None:
        try:
            self.proc.send_signal(sig)
        except (ProcessLookupError, OSError):
            pass

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    async def stop(self, timeout: float = 5.0) -> int | None:
        """Ask the Worker to close; SIGTERM after ``timeout``, SIGKILL after a grace."""
        if self.proc is None:
            return None
        self.expected_exit = True
        if self.alive and self._control is not None:
            try:
                os.write(self._control, b"close\n")
            except OSError:
                pass
        return await self._wait_or_escalate(timeout)

    async def terminate(self) -> int | None:
        """SIGTERM now, SIGKILL if it is still there after :data:`KILL_GRACE`."""
        return None if self.proc is None else await self._wait_or_escalate(0)

    async def kill(self) -> int | None:
        """SIGKILL now and wait until it is reaped."""
        if self.proc is None:
            return None
        self.expected_exit = True
        if self.alive:
            self._signal(signal.SIGKILL)
        return await self.wait()

    async def _wait_or_escalate(self, timeout: float) -> int:
        """Wait ``timeout`` s; then SIGTERM and wait :data:`KILL_GRACE` s; then SIGKILL."""
        for sig, wait in ((None, timeout), (signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
            if sig is not None and self.alive:
                self._signal(sig)
            try:
                return await asyncio.wait_for(self.wait(), wait)
            except asyncio.TimeoutError:
                continue
        return await self.wait()  # pragma: no cover - the loop ends at SIGKILL

    def __repr__(self):
        state = "alive" if self.alive else f"exited {self.returncode}"
        return f"<WorkerProcess pid={self.pid} {self.address} {state}>"


# --- the worker's end ------------------------------------------------------------------


def _report(fd: int, **msg) -> None:
    try:
        os.write(fd, (json.dumps(msg, default=str) + "\n").encode())
    except OSError:
        pass  # the nanny is gone; the control pipe's EOF ends us


def _setup_logging(level) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    log = logging.getLogger("shoal")
    log.addHandler(handler)
    log.setLevel(level if level is not None else logging.INFO)


def _security(fields):
    if not fields:
        return None
    from shoal.distributed.security import Security

    return Security(**{k: v for k, v in fields.items() if v is not None})


async def _serve(spec: dict, control_fd: int, status_fd: int) -> int:
    import traceback

    log = logging.getLogger("shoal.distributed.worker")
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

    # Watched from the start: a nanny that goes (its process killed) while the Worker
    # still connects to a scheduler that went with it ends us now, not after the
    # connect timeout.
    loop.add_reader(control_fd, on_control)
    request = asyncio.ensure_future(asked.wait())
    try:
        Worker = load_object(spec.pop("worker_class", None)
                             or "shoal.distributed.worker.server:Worker")  # fmt: skip
        kwargs = {k: v for k, v in spec.items() if v is not None}
        kwargs["security"] = _security(spec.get("security"))
        worker = Worker(kwargs.pop("scheduler_address"), **kwargs)
        starting = asyncio.ensure_future(worker.start())
        await asyncio.wait({starting, request}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # (its start releases what it made when cancelled)
            starting.cancel()
            await asyncio.wait({starting}, timeout=10)  # (its threads: up to 5 s, then rmtree)
            log.info("worker stopped while it started (%s)", why[0])
            return 0
        starting.result()
    except BaseException as exc:  # noqa: BLE001 - reported to the nanny
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        log.error("worker failed to start: %s", text, exc_info=not isinstance(exc, OSError))
        _report(status_fd, op="start-failed", error=text)
        return 1
    _report(status_fd, op="started", address=worker.address, pid=os.getpid())

    finished = asyncio.ensure_future(worker.finished())
    await asyncio.wait({finished, request}, return_when=asyncio.FIRST_COMPLETED)
    if finished.done():
        request.cancel()
        _report(status_fd, op="closed", requested=False, reason=getattr(worker, "close_reason", "") or "")
        return 0
    try:
        await asyncio.wait_for(worker.close(), 10)
    except BaseException:  # noqa: BLE001 - leaving anyway
        log.exception("worker did not close cleanly (%s)", why[0])
    _report(status_fd, op="closed", requested=True, reason=why[0])
    return 0


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    control_fd, status_fd = int(argv[0]), int(argv[1])
    spec = json.loads(os.environ.pop(SPEC_VAR))
    os.set_inheritable(control_fd, False)  # tasks that spawn processes must not hold our pipes
    os.set_inheritable(status_fd, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.path[:] = spec.pop("sys_path", None) or sys.path
    try:
        os.chdir(spec.pop("cwd", None) or os.getcwd())
    except OSError:
        pass
    _setup_logging(spec.pop("log_level", None))
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
