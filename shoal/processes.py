"""The processes that compute for this one, as the local schedulers see them.

::

    shoal.local.pool        register(pool_worker_pids)   at import
    shoal.diagnostics.probe helper_pids()  -> the PIDs a local Dashboard counts with
                                              this process ("this process" in its
                                              memory and CPU panes)

A local ``Dashboard()`` shows the user's process as the local schedulers' one
worker.  What runs a ``processes`` compute belongs to it (the pool's worker
processes); other children do not: a ``LocalCluster``'s worker processes (they
report for themselves, to their scheduler), a browser a test launched, a language
server a notebook started.  Counting every child made the memory bar show them
all.  The process pool and the probe are siblings that must not know each other
(docs/architecture.md, layers), so the pool registers where its PIDs come from
here, one layer below both.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["helper_pids", "register", "unregister"]

logger = logging.getLogger(__name__)

_sources: list = []
_lock = threading.Lock()


def register(source) -> None:
    """Count the processes *source()* names (an iterable of PIDs, asked at each sample)."""
    with _lock:
        if source not in _sources:
            _sources.append(source)


def unregister(source) -> None:
    with _lock:
        if source in _sources:
            _sources.remove(source)


def helper_pids() -> list:
    """The PIDs every registered source names now (a source that raises is skipped, logged)."""
    with _lock:
        sources = list(_sources)
    out: list = []
    for source in sources:
        try:
            out += [pid for pid in source() if pid not in out]
        except Exception:
            logger.exception("process source %r failed", source)
    return out
