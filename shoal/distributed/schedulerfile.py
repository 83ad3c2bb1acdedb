"""Scheduler files: the JSON a scheduler writes with its address, read by workers and
clients that were given the file instead of the address (``--scheduler-file``,
``Client(scheduler_file=...)``).  A reader started before the scheduler waits for the
file to appear (and to hold an address: other tools may write it in two steps)."""

from __future__ import annotations

import json
import math
import os
import time

__all__ = ["read_scheduler_file", "write_scheduler_file"]


def read_scheduler_file(path: str, timeout: float = math.inf, poll: float = 0.1) -> str:
    """The address in the scheduler file *path*, waiting up to *timeout* seconds for it;
    ``TimeoutError`` past that, ``OSError`` when it cannot be read."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                return json.load(f)["address"]
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError):
            pass  # half written
        if time.monotonic() > deadline:
            raise TimeoutError(f"scheduler file {path} did not appear (or hold an address) "
                               f"within {timeout:g} s")  # fmt: skip
        time.sleep(poll)


def write_scheduler_file(path: str, info: dict, replace: bool = False) -> None:
    """Write *info* (holding ``"address"``) to *path* as JSON, whole or not at all: a
    reader never sees half a file.  A file already there that names another
    scheduler is not overwritten (``FileExistsError``: it may still be in use) unless
    *replace* (a scheduler starting: one left by a scheduler that died is stale)."""
    try:
        if replace:
            raise FileNotFoundError(path)
        with open(path) as f:
            text = f.read()  # (empty: a file made to be written, e.g. by tempfile)
        there = json.loads(text).get("address") if text.strip() else info["address"]
    except FileNotFoundError:
        there = info["address"]
    except (OSError, ValueError, AttributeError):
        there = None
    if there != info["address"]:
        raise FileExistsError(f"scheduler file {path!r} exists and names another scheduler "
                              f"({there!r}, not {info['address']!r}); remove it first")
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(info, f, indent=2, default=str)
    os.replace(tmp, path)
