"""Scheduler files: the JSON a scheduler writes with its address, read by workers and
clients that were given the file instead of the address (``--scheduler-file``,
``Client(scheduler_file=...)``).  A reader started before the scheduler waits for the
file to appear (and to hold an address: other tools may write it in two steps)."""

from __future__ import annotations

import json
import math
import time

__all__ = ["read_scheduler_file"]


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
