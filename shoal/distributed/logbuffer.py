"""The recent log records of this process, for ``Client.get_scheduler_logs`` and
``Client.get_worker_logs``.

::

    logger "shoal.distributed.scheduler" --> RecentRecords("scheduler")  (bounded deque)
    logger "shoal.distributed.worker"    --> RecentRecords("worker")
    logger "shoal.distributed.nanny"     --> RecentRecords("nanny")

Every server (scheduler, worker, nanny) calls :func:`install` as it is made; the
first call in a process adds one handler per role to these loggers, later calls
do nothing.  So the buffers are per process, not per server: two workers in one
process share the "worker" buffer (Dask's per-server handlers, sitting on the
same shared logger, see the same records too).  A worker process behind a nanny
has its own buffers, which ``Client.run`` reads there; ``nanny=True`` reads the
nanny's process.

A buffer keeps the last :data:`LOG_LENGTH` records the logger lets through (its
level decides: ``LocalCluster(silence_logs=...)`` raises it) as ``(levelname,
formatted message)``; :func:`recent` returns them newest first, as Dask does.
"""

from __future__ import annotations

import logging
from collections import deque

__all__ = ["LOG_LENGTH", "ROLES", "install", "recent"]

#: records kept per role and process (Dask's ``distributed.admin.log-length``)
LOG_LENGTH = 10000

#: role -> the logger whose records (its children's too) the role's buffer keeps
ROLES = {role: f"shoal.distributed.{role}" for role in ("scheduler", "worker", "nanny")}

_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


class RecentRecords(logging.Handler):
    """A handler that keeps the last ``length`` records as ``(levelname, text)``."""

    def __init__(self, role: str, length: int = LOG_LENGTH):
        super().__init__()
        self.role = role
        self.records: deque = deque(maxlen=length)
        self.setFormatter(logging.Formatter(_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append((record.levelname, self.format(record)))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)
        if record.levelno >= getattr(logging.lastResort, "level", logging.CRITICAL + 1) \
                and _heard_only_here(record):  # fmt: skip
            logging.lastResort.handle(record)  # (as Python would without these buffers)


def _heard_only_here(record) -> bool:
    """Whether no handler but the buffers is on ``record``'s way up: Python then prints
    it through ``logging.lastResort``, and the buffers must not stop that."""
    logger = logging.getLogger(record.name)
    while logger is not None:
        if any(not isinstance(h, RecentRecords) for h in logger.handlers):
            return False
        logger = logger.parent if logger.propagate else None
    return True


_handlers: dict = {}  # role -> RecentRecords of this process


def install() -> None:
    """Add this process's buffers to the runtime's loggers (once per process)."""
    for role, name in ROLES.items():
        if role not in _handlers:
            handler = _handlers.setdefault(role, RecentRecords(role))
            logging.getLogger(name).addHandler(handler)


def recent(role: str, n=None) -> list:
    """The last ``n`` records (all: None) of ``role`` in this process, newest first."""
    if role not in ROLES:
        raise ValueError(f"recent: role must be one of {sorted(ROLES)}, got {role!r}")
    n = check_count(n)
    handler = _handlers.get(role)
    records = list(handler.records) if handler is not None else []
    records.reverse()
    return records if n is None else records[:n]


def check_count(n):
    """``n`` as given when it is None or an int >= 0; else an error naming ``n``."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int or None, got {n!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return n
