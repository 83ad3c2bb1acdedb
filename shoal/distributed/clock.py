"""The scheduler's wall clock, as a worker on another machine reads it.

Task timings (``startstops``), profile samples and story entries are made on the
worker and read against the scheduler's clock: in the task stream beside other
workers' tasks, by ``get_task_stream(start=...)`` and ``Client.profile(start=...)``
windows, in the dashboard's idle-gap test.  A worker whose clock is off by seconds
(a host without NTP, a VM after a suspend) put its tasks seconds away from the
others', and windows missed them.  So a worker stamps everything it reports with
:meth:`SchedulerClock.now`: its own ``time.time()`` plus its estimate of how far the
scheduler's clock is ahead.  A client keeps one too (``Connection.clock``, from its
registration) and takes its own windows on it (``performance_report``, "10s" ago).

Each estimate is a round trip: the worker's clock when it asked (``sent``), the
scheduler's when it answered (``there``), the worker's when the answer came
(``received``); the scheduler read its clock about half-way, so the offset is
``there - (sent + received) / 2``, within half the round trip.  Registration gives
the first, every heartbeat's echo (``op: "clock"``) another; of the last few the
one with the shortest round trip counts (a round trip slowed by a busy loop or a
full batch is the least certain).  An offset within half that round trip of zero
counts as zero: it cannot be told from none, and the workers of one machine (a
``LocalCluster``) then keep their own clock exactly, whatever a busy loop did to a
round trip.  A sample that cannot be reconciled with the one that counts (their
ranges, offset plus or minus half the round trip, do not meet) means a clock was
stepped: the older samples go.

Only the loop thread samples; task threads and the profiler read ``offset`` (one
float).  A duration is never the difference of two readings of :meth:`now` (the
offset may move between them): it is measured on a local clock and added to the
start (``worker/threads.py``).
"""

from __future__ import annotations

import collections
import time

__all__ = ["SchedulerClock"]


class SchedulerClock:
    """``now()``: this process's time on the scheduler's clock; see the module docstring."""

    __slots__ = ("offset", "_samples")

    def __init__(self, keep: int = 8):
        self.offset = 0.0  # seconds the scheduler's clock is ahead of this one
        self._samples: collections.deque = collections.deque(maxlen=keep)  # (round trip, offset)

    def now(self) -> float:
        return time.time() + self.offset

    def sample(self, sent: float, there, received: float) -> None:
        """One round trip (see the module docstring); a reply without the scheduler's
        time or a round trip that went backwards (this clock was stepped) is ignored.

        >>> clock = SchedulerClock()
        >>> clock.sample(100.0, 130.5, 101.0)      # 1 s there and back: +30 s
        >>> clock.sample(102.0, 132.0, 102.01)     # a quicker one counts
        >>> round(clock.offset, 3)
        29.995
        >>> clock.sample(103.0, None, 103.1); clock.sample(104.0, 1.0, 103.0)
        >>> round(clock.offset, 3)
        29.995
        >>> same = SchedulerClock(); same.sample(10.0, 10.004, 10.01)  # 1 ms, within 5
        >>> same.offset
        0.0
        >>> clock.sample(105.0, 195.0, 105.1)      # stepped by a minute: starts over
        >>> round(clock.offset, 3)
        89.95
        """
        if not all(isinstance(t, (int, float)) for t in (sent, there, received)) or received < sent:
            return
        trip, offset = received - sent, there - (sent + received) / 2
        if self._samples:
            best_trip, best = min(self._samples)
            if abs(offset - best) > (trip + best_trip) / 2:  # ranges apart: a clock was stepped
                self._samples.clear()
        self._samples.append((trip, offset))
        trip, offset = min(self._samples)
        self.offset = offset if abs(offset) > trip / 2 + 1e-6 else 0.0
