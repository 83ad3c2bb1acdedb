"""Memory policy of a worker: pure decisions from numbers passed in.

The server layer measures; this module decides.  Every
``distributed.worker.memory.monitor-interval`` the server reads the process
RSS (psutil), asks its spill buffer for the managed and spilled byte counts,
and calls :func:`decide`::

    measure (server)                 decide (here)                 act (server)
    ----------------                 -------------                 ------------
    process RSS     --\\                                       /-> evict spill_bytes of LRU keys
    managed bytes   ---+--> decide(reading, limit, thresholds) --> Pause / Unpause event
    spilled bytes   --/        paused=<current>                \\-> ask the nanny to terminate

The thresholds are fractions of ``memory_limit`` (``distributed.worker.memory.*``):

========== ======= =========================================================
target     0.60    *managed* bytes above it: spill least-recently-used keys
                   until managed memory is back at the target
spill      0.70    *process* RSS above it: spill until RSS would be back at
                   the target (RSS includes unmanaged memory, so this spills
                   more than the target rule alone)
pause      0.80    RSS above it: stop starting tasks and transfers; resume
                   once RSS is under ``pause - unpause_margin`` (hysteresis,
                   so a worker hovering at the line does not flap)
terminate  0.95    RSS above it: the nanny kills and restarts the worker
========== ======= =========================================================

Any threshold may be ``False``/``None`` to switch that rule off, and a
``memory_limit`` of ``None`` or 0 switches them all off.

:func:`spill_order` gives the keys to evict for a byte amount, least recently
used first.  :func:`parse_memory_limit` turns a ``memory_limit`` argument
(``"auto"``, ``"4 GiB"``, a fraction, bytes) into bytes; the caller passes the
machine's total memory, the cgroup limit (:mod:`shoal.core.machine`)
and the worker count, so this module never touches psutil.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shoal import config

logger = logging.getLogger(__name__)

__all__ = [
    "MemoryThresholds", "MemoryReading", "MemoryDecision",
    "decide", "spill_order", "parse_memory_limit", "worker_memory_limit",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class MemoryThresholds:
    """Fractions of ``memory_limit``; ``None`` disables a rule."""

    target: float | None = 0.60
    spill: float | None = 0.70
    pause: float | None = 0.80
    terminate: float | None = 0.95
    unpause_margin: float = 0.05

    @classmethod
    def from_config(cls) -> MemoryThresholds:
        """Read ``distributed.worker.memory.{target,spill,pause,terminate}``."""

        def frac(name: str) -> float | None:
            return config.checked(config.fraction, f"distributed.worker.memory.{name}")

        return cls(frac("target"), frac("spill"), frac("pause"), frac("terminate"))


@dataclass(frozen=True, slots=True)
class MemoryReading:
    """One measurement: process RSS, bytes held in memory by the worker, bytes on disk."""

    process: int
    managed: int
    spilled: int = 0

    @property
    def unmanaged(self) -> int:
        """RSS not explained by managed data (interpreter, libraries, leaks, fragmentation)."""
        return max(self.process - self.managed, 0)


@dataclass(frozen=True, slots=True)
class MemoryDecision:
    """What the server should do now.

    ``pause`` is the paused state the worker should be in afterwards (the
    server feeds ``Pause``/``Unpause`` when it differs from the current one);
    ``reason`` names the worst rule that fired, ``pause_reason`` the pause rule's
    verdict (what a pause or resume is logged with).
    """

    spill_bytes: int = 0
    pause: bool = False
    terminate: bool = False
    reason: str = ""
    pause_reason: str = ""


def _at(limit: int, fraction: float | None) -> float:
    return math.inf if not fraction else fraction * limit


def decide(
    reading: MemoryReading,
    memory_limit: int | None,
    thresholds: MemoryThresholds = MemoryThresholds(),
    *,
    paused: bool = False,
) -> MemoryDecision:
    """Apply the thresholds to one reading.

    >>> t = MemoryThresholds()
    >>> decide(MemoryReading(process=650, managed=650), 1000, t).spill_bytes
    50
    >>> decide(MemoryReading(process=850, managed=500), 1000, t)
    MemoryDecision(spill_bytes=250, pause=True, terminate=False, reason='process 850 > pause 800', pause_reason='process 850 > pause 800')
    """
    if not memory_limit:
        return MemoryDecision(pause=False)
    reasons = []
    target = _at(memory_limit, thresholds.target)
    spill = 0.0
    if reading.managed > target:
        spill = reading.managed - target
        reasons.append(f"managed {reading.managed} > target {target:.0f}")
    spill_at = _at(memory_limit, thresholds.spill)
    if reading.process > spill_at:
        # spill enough that RSS would fall back to the target (or to the spill line)
        floor = target if target != math.inf else spill_at
        spill = max(spill, reading.process - floor)
        reasons.append(f"process {reading.process} > spill {spill_at:.0f}")
    spill_bytes = int(min(math.ceil(spill), reading.managed))

    pause_at = _at(memory_limit, thresholds.pause)
    pause_reason = ""
    if reading.process > pause_at:
        pause = True
        reasons.append(pause_reason := f"process {reading.process} > pause {pause_at:.0f}")
    elif paused and thresholds.pause:
        # hysteresis: stay paused until clearly under the line
        resume_at = (thresholds.pause - thresholds.unpause_margin) * memory_limit
        pause = reading.process >= resume_at
        sign = ">=" if pause else "<"  # (the reason it stays paused, or resumes)
        reasons.append(pause_reason := f"process {reading.process} {sign} resume {resume_at:.0f}")
    else:
        pause = False

    terminate_at = _at(memory_limit, thresholds.terminate)
    terminate = reading.process > terminate_at
    if terminate:
        reasons.append(f"process {reading.process} > terminate {terminate_at:.0f}")
    # rules fire in order of severity: report the worst
    return MemoryDecision(spill_bytes, pause, terminate, "; ".join(reasons[-1:]), pause_reason)


def spill_order(
    nbytes: Mapping, last_access: Mapping, amount: int, *, exclude: Iterable = ()
) -> list:
    """Keys to evict to free ``amount`` bytes, least recently used first.

    ``last_access`` maps key -> time of last use (keys missing from it count
    as never used); ``exclude`` are keys that must stay (e.g. inputs of
    running tasks).

    >>> spill_order({"a": 10, "b": 10, "c": 10}, {"a": 3.0, "b": 1.0, "c": 2.0}, 15)
    ['b', 'c']
    """
    if amount <= 0:
        return []
    skip = set(exclude)
    candidates = sorted(
        (last_access.get(key, -math.inf), i, key)
        for i, key in enumerate(nbytes)
        if key not in skip
    )
    out, freed = [], 0
    for _, _, key in candidates:
        if freed >= amount:
            break
        out.append(key)
        freed += nbytes[key]
    return out


def parse_memory_limit(
    value,
    *,
    total_memory: int,
    n_workers: float = 1,
    cgroup_limit: int | None = None,
) -> int | None:
    """Bytes for a ``memory_limit`` argument, or None for no limit.

    - ``None``, ``0``, ``"0"``: no limit;
    - ``"auto"``: the machine's memory (capped by the cgroup limit) split
      evenly between the ``n_workers`` workers (at least one: a lone worker
      passes ``cores / nthreads``, its share of the machine);
    - a number in (0, 1], also spelled as a string (``"0.5"``, ``1``): that
      fraction of the machine's memory, as Dask reads it (``1`` was one byte);
    - bytes (``4e9``) or a size string (``"4 GiB"``).

    Any result is capped by the usable memory (the smaller of total and
    cgroup limit), with a warning: a limit the machine cannot honour protects
    nothing.

    >>> parse_memory_limit("auto", total_memory=16_000, n_workers=4)
    4000
    >>> parse_memory_limit("auto", total_memory=16_000, n_workers=4, cgroup_limit=8_000)
    2000
    >>> parse_memory_limit("1 kB", total_memory=16_000)
    1000
    >>> parse_memory_limit("0.5", total_memory=16_000), parse_memory_limit(1, total_memory=16_000)
    (8000, 16000)
    """
    usable = total_memory
    if cgroup_limit and cgroup_limit < usable:
        usable = cgroup_limit
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return int(usable // max(n_workers, 1))
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"memory_limit must be bytes, a size string, a fraction or 'auto', "
                        f"got {value!r}")  # fmt: skip
    try:
        number = float(value)
    except ValueError:  # a size string
        limit = config.parse_bytes(value)
    else:
        if number < 0 or math.isnan(number):
            raise ValueError(f"memory_limit must be >= 0, got {value!r}")
        limit = int(usable * number) if number <= 1 else int(number)
    if not limit:
        return None
    if limit > usable:
        logger.warning("memory_limit %s is more than this machine's %d bytes: using those",
                       value, usable)  # fmt: skip
        return usable
    return limit


def worker_memory_limit(value, nthreads: int) -> int | None:
    """A lone worker's (or nanny's) ``memory_limit``, read against this machine (the one
    place here that looks at it): ``"auto"`` is its share, ``nthreads / cores``, as Dask's."""
    from shoal.core.machine import cpu_count, read_cgroup_memory_limit, system_memory

    return parse_memory_limit(value, total_memory=system_memory(),
                              n_workers=cpu_count() / max(nthreads, 1),
                              cgroup_limit=read_cgroup_memory_limit())  # fmt: skip
