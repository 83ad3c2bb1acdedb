"""``PipInstall``: install packages with pip on every worker, as Dask's plugin of that name.

::

    client.register_plugin(PipInstall(["pkg==1.0"], pip_options=["--upgrade"]))
    each worker's setup:  file lock (one pip per machine at a time)
                            -> [sys.executable, -m, pip, install, *options, *packages]
                            -> exit code != 0: RuntimeError naming the packages,
                               with the tail of pip's stderr

Dask makes it a nanny plugin that can restart the worker afterwards; shoal has
no nanny plugins, so it is a worker plugin running pip in the worker process (a
worker that joins or restarts later runs it too).  ``restart_workers=True`` is
refused with what to do instead (``client.restart()`` after registering).

Two workers on one machine would run two pips over the same site-packages at
once: an exclusive lock on a file of the user's in the temporary directory
serializes them (a file that cannot be opened: a warning, no lock).
Within one process (workers sharing it) the same install runs once.  Pure
command building (:func:`pip_command`) and error text (:func:`pip_error`) apart
from the one subprocess call, which runs in a thread of its own (the worker's
event loop goes on meanwhile).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import threading

from shoal.distributed.plugins import WorkerPlugin

try:
    import fcntl
except ImportError:  # (Windows: no advisory locks; workers of one machine may overlap)
    fcntl = None

__all__ = ["PipInstall", "pip_command", "pip_error"]

logger = logging.getLogger(__name__)

#: lines of pip's stderr quoted in the error
STDERR_LINES = 20
_done: set = set()  # installs finished in this process (by token)
_process_lock = threading.Lock()


def _strings(value, what: str) -> list:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and v for v in value):  # fmt: skip
        raise TypeError(f"PipInstall: {what} must be a list of non-empty str, got {value!r}")
    return list(value)


def pip_command(packages: list, options: list, python: str = sys.executable) -> list:
    """The argv that installs ``packages`` with ``options`` into ``python``'s environment."""
    return [python, "-m", "pip", "install", *options, *packages]


def pip_error(packages: list, returncode: int, stderr: str) -> str:
    """The message of a failed install: the packages, pip's exit code, its stderr's tail."""
    tail = "\n".join(stderr.strip().splitlines()[-STDERR_LINES:]) or "(nothing)"
    return (f"PipInstall: pip could not install {packages} (exit code {returncode}); "
            f"pip's stderr ends with:\n{tail}")


@contextlib.contextmanager
def _machine_lock(path: str):
    try:
        f = open(path, "a")
    except OSError as exc:  # (a temporary directory we cannot write: install unlocked)
        logger.warning("PipInstall: no lock file %s (%s); pip runs unlocked", path, exc)
        yield
        return
    with f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_UN)


class PipInstall(WorkerPlugin):
    """Install ``packages`` (pip requirement strings) with ``pip_options`` on every
    worker; see the module docstring."""

    idempotent = False

    def __init__(self, packages, pip_options=None, restart_workers=False):
        self.packages = _strings(packages, "packages")
        if not self.packages:
            raise ValueError("PipInstall: packages is empty")
        self.pip_options = _strings([] if pip_options is None else pip_options, "pip_options")
        if restart_workers:
            raise NotImplementedError(
                "PipInstall(restart_workers=True): shoal has no nanny plugins to restart "
                "workers with; register the plugin, then call client.restart() (workers "
                "that start run the install again, which pip finds done)")  # fmt: skip
        self.restart_workers = False
        token = hashlib.sha1(repr((self.packages, self.pip_options)).encode()).hexdigest()[:12]
        self.name = f"pip-install-{token}"

    async def setup(self, worker) -> None:
        """Off the worker's event loop: pip takes seconds."""
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="shoal-pip") as pool:
            await asyncio.wrap_future(pool.submit(self._install))

    def _install(self) -> None:
        token = (sys.executable, self.name)
        with _process_lock:
            if token in _done:
                return
            user = f"-{os.getuid()}" if hasattr(os, "getuid") else ""  # (not another user's)
            lock = os.path.join(tempfile.gettempdir(), f"shoal-pip-install{user}.lock")
            with _machine_lock(lock):
                self._run_pip()
            _done.add(token)

    def _run_pip(self) -> None:
        command = pip_command(self.packages, self.pip_options)
        proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(pip_error(self.packages, proc.returncode, proc.stderr))

    def __repr__(self) -> str:
        return f"<PipInstall {self.packages} {self.pip_options}>"
