"""The dashboard registry's writing end: each dashboard process is announced by a
record in Jupyter's runtime folder, which shoal's server extension reads
(:mod:`shoal.lab.registry`) to list a kernel's dashboards in the JupyterLab sidebar.

::

    <jupyter runtime dir>/          0700, as Jupyter makes it (its servers' tokens are there)
      shoal-dashboards/             0700
        dashboard-<pid>.json        0600: pid, parent, host, port, prefix, link, scheduler,
                                    kernel (its connection file), started

A record is written whole (a temporary file renamed over it: readers never see half
of one) and removed when its dashboard closes; the reader prunes those of dead
processes.  Writing is best effort: a dashboard never fails for want of its record.
Both folders are made private where this makes them: ``os.makedirs`` gives the
parents it makes the umask's mode, and a runtime folder made here, before Jupyter
ever ran on the account, was world-readable, with the token files Jupyter then wrote
into it (Jupyter makes a folder private only when it makes it itself).
"""

from __future__ import annotations

import json
import logging
import os
import sys

__all__ = ["REGISTRY_FOLDER", "announce", "kernel_connection_file", "registry_dir", "withdraw"]

logger = logging.getLogger(__name__)

REGISTRY_FOLDER = "shoal-dashboards"


def registry_dir() -> str | None:
    """Where the records go; None without ``jupyter_core`` (then nobody reads them)."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    return os.path.join(jupyter_runtime_dir(), REGISTRY_FOLDER)


def kernel_connection_file() -> str | None:
    """This process's Jupyter kernel connection file, when it is a running ipykernel."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        return sys.modules["ipykernel"].get_connection_file()
    except Exception:  # ipykernel imported, but no kernel app runs here
        return None


def announce(pid: int, fields: dict) -> str | None:
    """Write the record of the dashboard process *pid* (*fields*); its path, or None
    when it could not be written (logged at debug level)."""
    try:
        folder = registry_dir()
        if folder is None:
            return None
        for private in (os.path.dirname(folder), folder):
            os.makedirs(private, mode=0o700, exist_ok=True)
        path = os.path.join(folder, f"dashboard-{pid}.json")
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": pid, **fields}, f)
        os.replace(path + ".tmp", path)
        return path
    except Exception as exc:
        logger.debug("could not write the dashboard registry record: %r", exc)
        return None


def withdraw(path: str | None) -> None:
    """Remove a record :func:`announce` wrote (None: nothing to do)."""
    if path is not None:
        try:
            os.remove(path)
        except OSError:
            pass
