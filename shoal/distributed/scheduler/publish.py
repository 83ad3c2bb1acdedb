"""What the scheduler tells its bus about tasks: every step, or each key's state in bulk.

::

    SchedulerState._transition(ts, start, finish) --> TaskPublisher.transition()
        "task" wanted (plugins):   a TaskTransition per transition, at once
        TASK_STATES wanted (a dashboard), whether or not "task" is:
            with timings or an error,
            or forgotten              -> a row tuple appended      (kept in order)
            any other                 -> changed[key] = ts, before.setdefault(key, start)
                                         (not for a key that never ran and still waits)
    every events interval (Scheduler), and before any other record the state publishes
        --> TaskPublisher.flush(): TaskRows.from_rows(those + one per changed key)

A dashboard shows where each key *is*.  A 10,000-task map goes through some six
transitions per task; a record object per transition, each passed through the
bus, buffered, coalesced and encoded, cost the scheduler's loop a fifth of its
time.  Now a transition costs a dict write, or for one that ran or is forgotten,
one tuple of plain values appended to a list; once per interval the rows become
columns in one transpose (``TaskRows.from_rows``) and go to the bus as *one*
record, which the event stream sends as it is.  No record object lives from one
flush to the next, and no forgotten task is kept alive until then: objects that
outlive a few young collections are promoted, and the more of them, the sooner
the garbage collector's full collections come, which cost the loop more than the
records themselves (a tuple of strings and numbers is untracked by the
collector's first young pass, so it is never promoted).  Appending a dozen
columns per row instead cost about twice as much.  Keys that never ran and
still wait are left out: a reader counts them as waiting from their graph's
``GraphSubmitted``.  Flushing before any other record the state publishes (a
``GraphSubmitted``, a ``ComputationFinished``) keeps a reader's order exact: it
never hears that a computation finished before its last tasks did.

Whether anyone listens is asked once per ``SchedulerState.handle`` call
(``begin``), since subscriptions change between calls, never during one.
"""

from __future__ import annotations

from shoal.distributed.scheduler import transitions as T
from shoal.distributed.scheduler.messages import Publish
from shoal.events import TASK_STATES, TaskRows

__all__ = ["NOT_RUN_YET", "TaskPublisher"]

#: States of a task that has not run yet: not reported as changes (see the module docstring).
NOT_RUN_YET = frozenset({"released", "waiting", "queued", "no-worker"})

_NONE: dict = {}  # no details (never written to)


class TaskPublisher:
    """Task records for a :class:`~.state.SchedulerState`'s bus; see the module docstring."""

    def __init__(self, wants) -> None:
        self.wants = wants
        self.every = self.states = False  # "task" / TASK_STATES wanted, as of begin()
        self.active = False  # either: whether transition() has anything to do
        self._timed: list = []  # rows (T.task_row) of transitions with timings or an error
        self._changed: dict = {}  # key -> SchedTask
        self._before: dict = {}  # key -> its state at the last flush (no tuple per change)

    def begin(self) -> None:
        self.every, self.states = self.wants("task"), self.wants(TASK_STATES)
        self.active = self.every or self.states

    @property
    def pending(self) -> bool:
        return bool(self._changed or self._timed)

    def transition(self, state, ts, start: str, finish: str, details: dict, stimulus_id: str) -> None:
        if self.every:
            state.emit(Publish(T.transition_record(ts, start, finish, details), stimulus_id=stimulus_id))
        if self.states:
            key, changed = ts.key, self._changed
            if finish == "forgotten":  # at once, in order: holding ts would keep it alive
                if changed.pop(key, None) is not None:
                    start = self._before.pop(key)
                self._timed.append(T.forgotten_row(ts, start))
            elif finish == "erred" or details.get("startstops"):
                self._timed.append(T.task_row(ts, start, finish, details))
                if changed.pop(key, None) is not None:  # this says where it is now
                    del self._before[key]
            elif ts.run_id or finish not in NOT_RUN_YET:  # (not yet run: counted as waiting)
                if key not in changed:
                    self._before[key] = start
                changed[key] = ts

    def flush(self, tasks: dict) -> TaskRows | None:
        """The transitions since the last flush: those with timings or errors, then one
        per key changed otherwise, from its state then to its state now (``forgotten``
        when *tasks* no longer holds it); None when there are none."""
        rows, changed, before = self._timed, self._changed, self._before
        self._timed, self._changed, self._before = [], {}, {}
        if not self.wants(TASK_STATES):
            return None
        for key, ts in changed.items():
            now = ts.state if tasks.get(key) is ts else "forgotten"
            if ts.run_id == 0 and now in NOT_RUN_YET:
                continue
            ws = ts.processing_on if now == "processing" else None
            if now == "memory":
                ws = next(iter(ts.who_has), None)
            rows.append(T.task_row(ts, before[key], now, {"ws": ws} if ws is not None else _NONE))
        return TaskRows.from_rows(rows) if rows else None
