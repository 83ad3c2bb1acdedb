"""This machine's cores and memory, as a process here may use them (the standard
library only; psutil where installed).

``cpu_count`` respects the CPU affinity a job scheduler or ``taskset`` gave the
process; ``system_memory`` is the machine's memory capped by the cgroup's limit (a
container's), read by ``read_cgroup_memory_limit``.  A ``LocalCluster`` sizes its
workers from them, ``shoal worker`` plans its processes with them, and ``shoal info``
prints them: on a plain ``pip install shoal`` too, which is why they live here and
not with the distributed runtime (which needs msgpack and tornado).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["cpu_count", "read_cgroup_memory_limit", "system_memory"]

# cgroup v2 then v1; "max" or a huge number means unlimited
CGROUP_FILES = (
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
)
_UNLIMITED = 2**60


def cpu_count() -> int:
    """Cores this process may use (CPU affinity respected)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def system_memory() -> int:
    """Total memory of the machine in bytes, capped by this process's cgroup limit."""
    try:
        import psutil

        total = psutil.virtual_memory().total
    except ImportError:  # (psutil comes with the distributed and diagnostics extras)
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cgroup = read_cgroup_memory_limit()
    return min(total, cgroup) if cgroup else total


def read_cgroup_memory_limit(paths: Iterable[str] = CGROUP_FILES) -> int | None:
    """The memory limit of this process's cgroup in bytes, or None if unlimited/unreadable."""
    for path in paths:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            limit = int(text)
        except ValueError:
            continue
        return limit if 0 < limit < _UNLIMITED else None
    return None
