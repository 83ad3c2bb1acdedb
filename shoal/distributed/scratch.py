"""Workers' scratch directories, and what a killed worker left behind.

::

    <temporary-directory>/
        shoal-worker-ab12cd/       a live worker's (or its nanny's): spill files ...
            .owner.lock            flock'ed by the process that made it, while it lives
        shoal-worker-ef34gh/       a SIGKILLed one's: its lock is free again
            .owner.lock  -->  purged by the next worker made in the same folder

A worker removes its directory when it closes, and a nanny its worker's when the
process ends; a process killed outright (``kill -9``, the kernel's OOM killer, a
notebook kernel killed with its ``LocalCluster``) does neither, and its spill files
stayed in ``/tmp`` for good.  The operating system releases an ``flock`` when its
holder dies, however it dies, so a directory whose lock can be taken belongs to
nobody: :func:`make` deletes those among its siblings before making a new one.  A
directory without a lock file (being made right now, or by another program) is left
alone.  Where ``fcntl`` is missing (Windows) nothing is locked and nothing purged.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["PREFIX", "Scratch", "make", "purge_stale"]

logger = logging.getLogger(__name__)

PREFIX = "shoal-worker-"
MAKING = ".shoal-making-"  # (a directory being made: locked, then renamed to PREFIX...)
LOCK = ".owner.lock"


class Scratch:
    """A scratch directory this process owns (its lock held) until :meth:`remove`."""

    def __init__(self, path: str, fd: int | None):
        self.path = path
        self._fd = fd

    def remove(self) -> None:
        """Delete the directory and let its lock go (idempotent)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __repr__(self) -> str:
        return f"<Scratch {self.path}>"


def _try_lock(path: str) -> int | None:
    """An fd holding the lock of *path*, or None when another process holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def purge_stale(parent: str) -> list:
    """Delete the scratch directories in *parent* whose owner is gone; their paths."""
    if fcntl is None:
        return []
    purged = []
    for path in glob.glob(os.path.join(glob.escape(parent), PREFIX + "*")):
        lock = os.path.join(path, LOCK)
        if not os.path.isfile(lock):
            continue
        fd = _try_lock(lock)
        if fd is None:
            continue  # its owner lives
        try:
            shutil.rmtree(path, ignore_errors=True)
            purged.append(path)
        finally:
            os.close(fd)
    if purged:
        logger.info("removed %d scratch director%s left by workers that were killed: %s",
                    len(purged), "y" if len(purged) == 1 else "ies", ", ".join(purged))  # fmt: skip
    return purged


def make(parent: str | None) -> Scratch:
    """A new private (0700) scratch directory in *parent* (the temporary directory when
    None), locked by this process; stale siblings are purged first.

    It is made and locked under a name the purge does not look at (``MAKING``), then
    renamed: a sibling's purge between the lock file's creation and its lock found it
    unlocked, took it, and deleted a directory about to be used."""
    parent = parent or tempfile.gettempdir()
    os.makedirs(parent, exist_ok=True)
    try:
        purge_stale(parent)
    except OSError as exc:  # (a folder we may not list: nothing to purge, then)
        logger.debug("could not look for stale scratch directories in %s: %s", parent, exc)
    if fcntl is None:
        return Scratch(tempfile.mkdtemp(prefix=PREFIX, dir=parent), None)
    making = tempfile.mkdtemp(prefix=MAKING, dir=parent)
    fd = _try_lock(os.path.join(making, LOCK))
    if fd is None:  # (nobody else knows this name: only a failing file system says no)
        shutil.rmtree(making, ignore_errors=True)
        raise OSError(f"could not lock the new scratch directory {making}")
    path = os.path.join(parent, PREFIX + os.path.basename(making)[len(MAKING):])
    os.rename(making, path)
    return Scratch(path, fd)
