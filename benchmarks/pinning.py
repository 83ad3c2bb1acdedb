"""Which CPUs each process of a benchmark may run on (``--pin``).

On a shared or virtual machine, a saturated scheduler's throughput moves by a
third between two runs of the same configuration: the operating system moves its
event-loop thread between cores, onto a core whose other hardware thread a busy
worker holds, or beside the browser.  A benchmark that compares configurations
whose difference is a few percent then needs dozens of repeats to see it.  With
``--pin`` each role gets CPUs of its own:

    scheduler  the process of the client and the scheduler: one CPU of a core of
               its own (its other hardware threads, if any, stay idle)
    workers    one CPU each (the same CPUs for every cluster: one runs at a time)
    rest       the dashboard processes and the browser: every CPU left

:func:`plan` is the pure part (from the machine's cores, read by
:func:`cores`); :func:`pin` applies a CPU set to every thread of a process and
of its children (``sched_setaffinity`` on a process id sets its main thread
alone; threads made later inherit their creator's set).
"""

from __future__ import annotations

import glob
import os

__all__ = ["cores", "pin", "plan"]


def cores(root: str = "/sys/devices/system/cpu") -> list:
    """The usable CPUs grouped by physical core, ``[[cpu, sibling...], ...]``, in
    CPU order; each CPU its own core where the topology cannot be read."""
    usable = sorted(os.sched_getaffinity(0))
    groups, seen = [], set()
    for cpu in usable:
        if cpu in seen:
            continue
        try:
            with open(f"{root}/cpu{cpu}/topology/thread_siblings_list") as f:
                siblings = _cpu_list(f.read())
        except OSError:
            siblings = [cpu]
        group = [c for c in siblings if c in usable] or [cpu]
        seen.update(group)
        groups.append(group)
    return groups


def _cpu_list(text: str) -> list:
    """``"0-2,8"`` -> ``[0, 1, 2, 8]`` (the kernel's CPU list format)."""
    out = []
    for part in text.strip().split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out.extend(range(int(lo), int(hi) + 1))
        elif part:
            out.append(int(part))
    return out


def plan(groups: list, workers: int) -> dict:
    """``{"scheduler": [cpu], "workers": [cpu, ...], "rest": [cpu, ...]}`` for
    *workers* worker processes on the cores *groups* (see :func:`cores`).

    >>> plan([[0, 8], [1, 9], [2, 10], [3, 11]], 3)
    {'scheduler': [0], 'workers': [1, 2, 3], 'rest': [9, 10, 11]}
    >>> plan([[0], [1], [2], [3], [4]], 2)
    {'scheduler': [0], 'workers': [1, 2], 'rest': [3, 4]}
    """
    if len(groups) < 2:
        raise ValueError(f"--pin needs at least 2 cores, this machine has {len(groups)}")
    scheduler, others = groups[0][:1], groups[1:]
    # the workers on one CPU of as many distinct cores as there are, then on siblings
    order = [g[0] for g in others] + [c for g in others for c in g[1:]]
    if len(order) < workers + 1:
        raise ValueError(f"--pin needs {workers + 2} CPUs (scheduler, {workers} workers, "
                         f"dashboard and browser); this machine has {len(order) + 1} usable "
                         "beside the scheduler's core")  # fmt: skip
    return {"scheduler": scheduler, "workers": order[:workers], "rest": order[workers:]}


def pin(pid: int, cpus, children: bool = True) -> int:
    """Let every thread of process *pid* (and of its descendants) run on *cpus*
    only; the number of threads pinned (a thread that ended meanwhile is skipped)."""
    import psutil

    procs = [psutil.Process(pid)]
    if children:
        procs += procs[0].children(recursive=True)
    n = 0
    for proc in procs:
        for task in glob.glob(f"/proc/{proc.pid}/task/*"):
            try:
                os.sched_setaffinity(int(os.path.basename(task)), set(cpus))
                n += 1
            except (ProcessLookupError, PermissionError):
                pass
    return n
