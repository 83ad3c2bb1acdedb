"""What the scheduler tells its bus about tasks: every step, or each key's state.

::

    SchedulerState._transition(ts, start, finish) --> TaskPublisher.transition()
        "task" wanted (plugins):  a TaskTransition per transition (state readers get it too)
        only TASK_STATES wanted (a dashboard):
            with timings or an error  -> published at once
            any other                 -> changed[key] = (state before, ts)   (a dict write)
    Scheduler, every events interval --> SchedulerState.task_state_records()
                                     --> TaskPublisher.records(): one record per changed key

A dashboard shows where each key *is*; a 10,000-task map goes through some six
transitions per task, and building, buffering and encoding a record for each
cost the scheduler's loop a fifth of its time.  Coalesced, a task costs about
two records (its timings, and its release), and a transition that nobody needs
as such costs one dict write.  Keys that never ran and still wait are left out:
a reader counts them as waiting from their graph's ``GraphSubmitted``.

Whether anyone listens is asked once per ``SchedulerState.handle`` call
(``begin``), since subscriptions change between calls, never during one.
"""

from __future__ import annotations

from shoal.distributed.scheduler import transitions as T
from shoal.distributed.scheduler.messages import Publish
from shoal.events import TASK_STATES

__all__ = ["NOT_RUN_YET", "TaskPublisher"]

#: States of a task that has not run yet: not reported as changes (see the module docstring).
NOT_RUN_YET = frozenset({"released", "waiting", "queued", "no-worker"})


class TaskPublisher:
    """Task records for a :class:`~.state.SchedulerState`'s bus; see the module docstring."""

    def __init__(self, wants) -> None:
        self.wants = wants
        self.every = self.states = False  # "task" / TASK_STATES wanted, as of begin()
        self._changed: dict = {}  # key -> (state before, SchedTask)

    def begin(self) -> None:
        self.every, self.states = self.wants("task"), self.wants(TASK_STATES)

    def transition(self, state, ts, start: str, finish: str, details: dict, stimulus_id: str) -> None:
        if self.every:
            record = T.transition_record(ts, start, finish, details)
            state.emit(Publish(record, stimulus_id=stimulus_id))
            if self.states:
                state.emit(Publish(record, stimulus_id=stimulus_id, kind=TASK_STATES))
        elif self.states:
            if finish == "erred" or details.get("startstops"):
                record = T.transition_record(ts, start, finish, details)
                state.emit(Publish(record, stimulus_id=stimulus_id, kind=TASK_STATES))
                self._changed.pop(ts.key, None)  # this record says where it is now
            else:
                before = self._changed.get(ts.key)
                self._changed[ts.key] = (before[0] if before else start, ts)

    def records(self, tasks: dict) -> list:
        """One record per key changed since the last call, from its state then to its
        state now (``forgotten`` when *tasks* no longer holds it)."""
        changed, self._changed = self._changed, {}
        if not self.wants(TASK_STATES):
            return []
        out = []
        for key, (before, ts) in changed.items():
            now = ts.state if tasks.get(key) is ts else "forgotten"
            if ts.run_id == 0 and now in NOT_RUN_YET:
                continue
            ws = ts.processing_on if now == "processing" else None
            if now == "memory":
                ws = next(iter(ts.who_has), None)
            out.append(T.transition_record(ts, before, now, {"ws": ws} if ws is not None else {}))
        return out
