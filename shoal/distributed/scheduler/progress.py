"""What ``progress()`` asks the scheduler: every task a set of keys needs, and which are done.

::

    client progress(futures)  --progress_watch(keys)-->  ProgressWatches.start()
                                                          the keys and every task they need,
                              <-- token, keys, done ---   as the state knows them now
    every interval            --progress_poll(token)-->  ProgressWatches.poll()
                              <-- [(key, outcome), ...]   the keys done since, once each
    at the end                --progress_stop(token)-->  forgotten

A client alone sees only the futures it holds: a persisted aggregation is one
future, so its bar would sit at 0% until it jumps to 100%.  Dask counts every
task the futures depend on, from a scheduler plugin that hears each transition.
Here nothing listens: a watch keeps the keys not yet done, and a poll looks each
of those up in the state (``O(not done)`` per poll, ``O(tasks)`` over a run), so
the scheduler pays only while a bar is shown and nothing per transition.  A poll
that comes sooner than :data:`MAX_SHARE` of the scheduler's time allows (100,000
tasks to look up take ~10 ms: at most one such poll a second) gets nothing new,
except the last one (``final``), which the client makes once its futures are done.

A task is done when it is in memory or erred ("finished" / "error"), released
after it ran (an intermediate whose dependents have their result: its ``nbytes``
is set once it ran), or forgotten: "finished" if it ran, else "cancelled" (the
watch holds each task's record, which says so after the state let it go).  The
scheduler's ``progress_watch`` first waits (up to :data:`ARRIVAL_WAIT`) for the
keys to arrive: the client's graph travels on its batched stream, the request on
a connection of its own, and may come first (the bar then read 1 of 1 done).  A done task that must run again (its worker
died) stays done: the bar never goes back.  Watches not polled for
:data:`IDLE_EXPIRY` seconds (a client that went away) are dropped, and there are
at most :data:`MAX_WATCHES`; the client stops its watch when its bar ends or is
interrupted.
"""

from __future__ import annotations

import itertools
import time

__all__ = ["ARRIVAL_WAIT", "IDLE_EXPIRY", "MAX_SHARE", "MAX_WATCHES", "ProgressWatches",
           "outcome"]  # fmt: skip

#: Seconds a watch waits for its keys to reach the scheduler before it starts.
ARRIVAL_WAIT = 5.0

#: Seconds a watch lives without a poll.
IDLE_EXPIRY = 120.0
#: Watches kept at most (the oldest go first).
MAX_WATCHES = 1_000
#: The share of the scheduler's time one watch's polls may take.
MAX_SHARE = 0.01


def outcome(ts) -> str | None:
    """``"finished"`` or ``"error"`` once the task (None: unknown) is done, else None."""
    if ts is None:
        return "finished"
    state = ts.state
    if state == "memory" or (state == "released" and ts.nbytes >= 0):
        return "finished"
    if state == "erred":
        return "error"
    return None


def _watched_outcome(ts, now) -> str | None:
    """:func:`outcome` of the watched task *ts*, whose key's record is *now* (None:
    forgotten): a task let go counts "finished" if it ran, else "cancelled"."""
    if now is ts:
        return outcome(ts)
    if ts.nbytes >= 0 or ts.state == "memory":
        return "finished"
    return "error" if ts.state == "erred" else "cancelled"


class ProgressWatches:
    """The watches of one scheduler's state (``tasks``: key -> SchedTask)."""

    def __init__(self, tasks: dict, clock=time.monotonic):
        self.tasks, self.clock = tasks, clock
        self._watches: dict = {}  # token -> [last poll, {key: SchedTask} not done, next scan]
        self._tokens = itertools.count(1)

    def __len__(self) -> int:
        return len(self._watches)

    def missing(self, keys) -> list:
        """Those of ``keys`` not (yet) known to the state."""
        tasks = self.tasks
        return [key for key in keys if key not in tasks]

    def start(self, keys) -> dict:
        """Watch ``keys`` and every task they need: ``{"token", "keys", "done"}`` (all the
        keys, and ``[key, outcome]`` of those done already); unknown keys count done."""
        self.expire(adding=True)
        seen: dict = {}
        todo = list(keys)
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            ts = self.tasks.get(key)
            seen[key] = ts
            if ts is not None:
                todo.extend(dep.key for dep in ts.dependencies if dep.key not in seen)
        done, pending = [], {}
        for key, ts in seen.items():
            result = outcome(ts)
            if result is None:
                pending[key] = ts
            else:
                done.append([key, result])
        token = next(self._tokens)
        if pending:
            self._watches[token] = [self.clock(), pending, 0.0]
        return {"token": token, "keys": list(seen), "done": done}

    def poll(self, token: int, final: bool = False) -> list:
        """``[key, outcome]`` of the watched tasks done since the last poll (each once);
        nothing new when polled sooner than :data:`MAX_SHARE` allows, unless ``final``."""
        watch = self._watches.get(token)
        if watch is None:
            return []  # all done at the start, stopped, or expired: nothing more to say
        now = watch[0] = self.clock()
        if now < watch[2] and not final:
            return []
        began = time.perf_counter()
        pending, tasks, done = watch[1], self.tasks, []
        for key, ts in list(pending.items()):
            result = _watched_outcome(ts, tasks.get(key))
            if result is not None:
                del pending[key]
                done.append([key, result])
        watch[2] = now + (time.perf_counter() - began) / MAX_SHARE
        if not pending:
            del self._watches[token]
        self.expire()
        return done

    def stop(self, token: int) -> None:
        self._watches.pop(token, None)

    def expire(self, adding: bool = False) -> None:
        """Drop watches nobody polled for :data:`IDLE_EXPIRY` (the scheduler also calls
        it every 10 s: an interrupted ``progress()`` holds the tasks' records), and the
        oldest past :data:`MAX_WATCHES` (one more to come when *adding*)."""
        limit = self.clock() - IDLE_EXPIRY
        for token in [t for t, watch in self._watches.items() if watch[0] < limit]:
            del self._watches[token]
        while len(self._watches) > MAX_WATCHES - adding:
            del self._watches[next(iter(self._watches))]
