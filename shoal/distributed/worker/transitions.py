"""The worker's transition table: ``(start, finish) -> function``.

Each function takes ``(ws, ts, *args, stimulus_id)``, changes ``ts.state`` and
the containers of ``ws`` that mirror it, and returns ``(recommendations,
instructions)``: ``{task: finish}`` for follow-up transitions (``finish`` may
be a tuple ``(state, *args)``) and a list of instructions.  Nothing else
changes a task's state; :func:`run_transitions` drains recommendations until
none are left.

A pair missing from the table raises :class:`InvalidTransition` carrying the
key's story, with one exception: a task at rest (waiting, ready, constrained,
fetch, missing, memory, error) may reach a state that ``released`` leads to by
passing through ``released`` (``fetch -> released -> waiting``).  Tasks with
a result pending (executing, flight, cancelled, resumed) never take that
shortcut: releasing them *cancels* them instead.  An input fetched from a peer
that arrives unusable (``flight -> error``) is released, and the tasks here waiting for
it err instead (``waiting -> error``), each naming it.

Cancellation and resumption::

    executing --free-keys--> cancelled(previous=executing) --result--> released (dropped)
        ^                        |  compute-task again: back to executing
        |                        v  wanted as a dependency:
        +--compute-task-- resumed(previous=executing, next=fetch) --success--> memory (add-keys)
                                                                  --failure--> fetch

    flight --free-keys--> cancelled(previous=flight) --result--> released (dropped)
       ^                      | wanted as a dependency again: back to flight
       |                      v compute-task:
       +--needed again-- resumed(previous=flight, next=waiting) --success--> memory (task-finished)
                                                                 --failure--> waiting (compute it)
"""

from __future__ import annotations

from shoal.core.errortext import exception_text
from shoal.core.keys import key_str

from . import messages as m

__all__ = ["TRANSITIONS", "InvalidTransition", "transition", "run_transitions", "PROCESSING_STATES"]

#: states of tasks the scheduler asked this worker to compute
PROCESSING_STATES = frozenset({"waiting", "ready", "constrained", "executing"})
#: states that may reach a target through ``released`` when no direct entry exists
_AT_REST = frozenset({"waiting", "ready", "constrained", "fetch", "missing", "memory", "error"})


class InvalidTransition(Exception):
    """A ``(start, finish)`` pair the table does not allow; carries the key's story."""

    def __init__(self, key, start: str, finish: str, story: list) -> None:
        super().__init__(key, start, finish, story)
        self.key, self.start, self.finish, self.story = key, start, finish, story

    def __str__(self) -> str:
        lines = "\n".join(f"  {entry}" for entry in self.story[-20:])
        return f"{self.key!r}: no transition {self.start} -> {self.finish}\nstory:\n{lines}"


# --------------------------------------------------------------------------
# Helpers shared by the transitions
# --------------------------------------------------------------------------


def _ready_state(ts) -> str:
    return "constrained" if ts.resource_restrictions else "ready"


def _release(ws, ts) -> tuple[dict, list]:
    """Final step of every X -> released: forget the task once nothing depends on it."""
    ts.state = "released"
    ts.coming_from = ts.previous = ts.next = None
    ts.waiting_for_data.clear()
    return ({ts: "forgotten"} if not ts.dependents else {}), []


def _leave_executing(ws, ts) -> None:
    ws.executing.discard(ts)
    ws.long_running.discard(ts)
    for resource, amount in ts.resource_restrictions.items():
        if resource in ws.available_resources:
            ws.available_resources[resource] += amount


def _leave_flight(ws, ts) -> None:
    ws.in_flight_tasks.discard(ts)
    ts.coming_from = None


def _unqueue_fetch(ws, ts) -> None:
    for worker in ts.who_has:
        queue = ws.data_needed.get(worker)
        if queue is not None:
            queue.discard(ts)
            if not queue:
                del ws.data_needed[worker]


def _dependents_ready(ws, ts) -> dict:
    recs = {}
    for dep in ts.dependents:
        if dep.state == "waiting":
            dep.waiting_for_data.discard(ts)
            if not dep.waiting_for_data:
                recs[dep] = _ready_state(dep)
    return recs


def task_finished_msg(ts, stimulus_id: str) -> m.TaskFinishedMsg:
    return m.TaskFinishedMsg(
        key=ts.key, run_id=ts.run_id, nbytes=ts.nbytes, type=ts.type,
        startstops=list(ts.startstops), thread=ts.thread, stimulus_id=stimulus_id,
    )  # fmt: skip


def _erred_msg(ts, stimulus_id: str) -> m.TaskErredMsg:
    return m.TaskErredMsg(
        key=ts.key, run_id=ts.run_id, exception=ts.exception, traceback=ts.traceback,
        exception_text=ts.exception_text, traceback_text=ts.traceback_text,
        startstops=list(ts.startstops), thread=ts.thread, stimulus_id=stimulus_id,
    )  # fmt: skip


def _to_error(ws, ts, failure, stimulus_id: str) -> tuple[dict, list]:
    ts.exception, ts.traceback = failure.exception, failure.traceback
    ts.exception_text, ts.traceback_text = failure.exception_text, failure.traceback_text
    ts.state = "error"
    return {}, [_erred_msg(ts, stimulus_id)]


class _InputFailure:
    """Failure record of a task whose input ``key`` arrived unusable: the input's error,
    its text saying which input it was."""

    __slots__ = ("exception", "traceback", "exception_text", "traceback_text")

    def __init__(self, key, failure) -> None:
        self.exception, self.traceback = failure.exception, failure.traceback
        self.exception_text = (f"its input {key_str(key)} could not be fetched: "
                               f"{failure.exception_text}")  # fmt: skip
        self.traceback_text = failure.traceback_text


class _StoreFailure:
    """Failure record for a value the data mapping refused (e.g. could not spill)."""

    __slots__ = ("exception", "traceback", "exception_text", "traceback_text")

    def __init__(self, key, exc: BaseException) -> None:
        self.exception, self.traceback = exc, exc.__traceback__
        self.exception_text = f"could not store {key!r}: {exception_text(exc)}"
        self.traceback_text = ""


def _to_memory(ws, ts, value, nbytes: int, report: str, stimulus_id: str) -> tuple[dict, list]:
    """Store the value; ``report`` says what the scheduler hears: finished/add-keys."""
    try:
        ws.data[ts.key] = value
    except Exception as exc:  # e.g. a spill buffer that cannot pickle the value
        _drop(ws.data, ts.key)
        return _to_error(ws, ts, _StoreFailure(ts.key, exc), stimulus_id)
    ts.state = "memory"
    ts.nbytes = nbytes
    ws.nbytes_in_memory += nbytes
    if report == "finished":
        instr = [task_finished_msg(ts, stimulus_id)]
    else:
        instr = [m.AddKeysMsg(keys=[ts.key], stimulus_id=stimulus_id)] if report else []
    return _dependents_ready(ws, ts), instr


# --------------------------------------------------------------------------
# The transitions, grouped by start state
# --------------------------------------------------------------------------


def _released_waiting(ws, ts, *, stimulus_id):
    ts.state = "waiting"
    ts.waiting_for_data = {dep for dep in ts.dependencies if dep.state != "memory"}
    return ({} if ts.waiting_for_data else {ts: _ready_state(ts)}), []


def _released_fetch(ws, ts, *, stimulus_id):
    if not ts.who_has:
        return {ts: "missing"}, []
    ts.state = "fetch"
    for worker in ts.who_has:
        ws.queue_fetch(worker, ts)
    return {}, []


def _released_missing(ws, ts, *, stimulus_id):
    ts.state = "missing"
    ws.missing.add(ts)
    return {}, []


def _released_memory(ws, ts, value, nbytes, report="add-keys", *, stimulus_id):
    return _to_memory(ws, ts, value, nbytes, report, stimulus_id)


def _released_forgotten(ws, ts, *, stimulus_id):
    ts.state = "forgotten"
    del ws.tasks[ts.key]
    for worker in list(ts.who_has):
        ws.remove_holder(ts, worker)
    recs = {}
    for dep in ts.dependencies:
        dep.dependents.discard(ts)
        # a transfer nobody waits for any more is dropped; computed keys stay
        if dep.dependents:
            continue
        if dep.state in ("released", "fetch", "missing", "flight"):
            recs[dep] = "forgotten" if dep.state == "released" else "released"
        elif dep.state == "resumed" and dep.next == "fetch":
            recs[dep] = "released"  # back to cancelled
    ts.dependencies.clear()
    return recs, []


def _waiting_ready(ws, ts, *, stimulus_id):
    ts.state = "ready"
    ws.ready.push(ts)
    return {}, []


def _waiting_constrained(ws, ts, *, stimulus_id):
    ts.state = "constrained"
    ws.constrained.push(ts)
    return {}, []


def _waiting_released(ws, ts, *, stimulus_id):
    return _release(ws, ts)


def _start(ws, ts, stimulus_id):
    ts.state = "executing"
    ws.executing.add(ts)
    return {}, [m.Execute(key=ts.key, run_id=ts.run_id, stimulus_id=stimulus_id)]


def _ready_executing(ws, ts, *, stimulus_id):
    ws.ready.discard(ts)
    return _start(ws, ts, stimulus_id)


def _constrained_executing(ws, ts, *, stimulus_id):
    ws.constrained.discard(ts)
    for resource, amount in ts.resource_restrictions.items():
        ws.available_resources[resource] = ws.available_resources.get(resource, 0) - amount
    return _start(ws, ts, stimulus_id)


def _queued_released(ws, ts, *, stimulus_id):
    ws.ready.discard(ts)
    ws.constrained.discard(ts)
    return _release(ws, ts)


def _queued_waiting(ws, ts, *, stimulus_id):
    """A dependency left memory before the task started: wait for it again."""
    ws.ready.discard(ts)
    ws.constrained.discard(ts)
    ts.state = "released"
    return _released_waiting(ws, ts, stimulus_id=stimulus_id)


def _executing_memory(ws, ts, value, nbytes, *, stimulus_id):
    _leave_executing(ws, ts)
    return _to_memory(ws, ts, value, nbytes, "finished", stimulus_id)


def _executing_error(ws, ts, failure, *, stimulus_id):
    _leave_executing(ws, ts)
    return _to_error(ws, ts, failure, stimulus_id)


def _executing_rescheduled(ws, ts, *, stimulus_id):
    _leave_executing(ws, ts)
    ts.state = "rescheduled"
    return {ts: "released"}, [m.RescheduleMsg(key=ts.key, stimulus_id=stimulus_id)]


def _rescheduled_released(ws, ts, *, stimulus_id):
    return _release(ws, ts)


def _executing_released(ws, ts, *, stimulus_id):
    # the thread cannot be interrupted: keep the slot until the result comes
    ts.state, ts.previous = "cancelled", "executing"
    return {}, []


def _fetch_flight(ws, ts, worker, *, stimulus_id):
    _unqueue_fetch(ws, ts)
    ts.state, ts.coming_from = "flight", worker
    ws.in_flight_tasks.add(ts)
    return {}, []


def _fetch_missing(ws, ts, *, stimulus_id):
    _unqueue_fetch(ws, ts)
    return _released_missing(ws, ts, stimulus_id=stimulus_id)


def _fetch_released(ws, ts, *, stimulus_id):
    _unqueue_fetch(ws, ts)
    return _release(ws, ts)


def _flight_memory(ws, ts, value, nbytes, *, stimulus_id):
    _leave_flight(ws, ts)
    return _to_memory(ws, ts, value, nbytes, "add-keys", stimulus_id)


def _flight_fetch(ws, ts, *, stimulus_id):
    _leave_flight(ws, ts)
    ts.state = "released"
    return _released_fetch(ws, ts, stimulus_id=stimulus_id)


def _flight_missing(ws, ts, *, stimulus_id):
    _leave_flight(ws, ts)
    return _released_missing(ws, ts, stimulus_id=stimulus_id)


def _flight_error(ws, ts, failure, *, stimulus_id):
    """An input that arrived unusable (it failed to unpickle here, or its holder could not
    pickle it).  It stays in memory where it is; the tasks here that wait for it (state
    waiting: a resumed one computes it instead) cannot run, so each errs, its error naming
    the input.  (Reported as the input's own error,
    it was dropped by the scheduler, which holds that key in memory: they waited for good.)"""
    _leave_flight(ws, ts)
    blame = _InputFailure(ts.key, failure)
    recs = {dts: ("error", blame) for dts in ts.dependents if dts.state == "waiting"}
    released, instr = _release(ws, ts)
    return {**recs, **released}, instr


def _waiting_error(ws, ts, failure, *, stimulus_id):
    """An input it waits for cannot be had here (see :func:`_flight_error`)."""
    ts.waiting_for_data.clear()
    return _to_error(ws, ts, failure, stimulus_id)


def _transfer_running(ws, ts) -> bool:
    """False once the GatherDep carrying ``ts`` has ended (its outcome is being
    applied, and another task's transition may recommend something else first)."""
    return ts.key in ws.in_flight_workers.get(ts.coming_from, ())


def _flight_released(ws, ts, *, stimulus_id):
    if not _transfer_running(ws, ts):
        _leave_flight(ws, ts)
        return _release(ws, ts)
    # the transfer is part of a batch: let it land, then drop the value
    ts.state, ts.previous = "cancelled", "flight"
    return {}, []


def _flight_waiting(ws, ts, *, stimulus_id):
    if not _transfer_running(ws, ts):
        _leave_flight(ws, ts)
        ts.state = "released"
        return _released_waiting(ws, ts, stimulus_id=stimulus_id)
    # asked to compute a key already on its way: keep the transfer
    ts.state, ts.previous, ts.next = "resumed", "flight", "waiting"
    return {}, []


def _missing_fetch(ws, ts, *, stimulus_id):
    ws.missing.discard(ts)
    ts.state = "released"
    return _released_fetch(ws, ts, stimulus_id=stimulus_id)


def _missing_released(ws, ts, *, stimulus_id):
    ws.missing.discard(ts)
    return _release(ws, ts)


def _drop(data, key) -> None:
    """Forget *key*'s value: ``del``, not ``pop``, which would read a spilled value back
    from disk only to throw it away (memory the worker may not have)."""
    try:
        del data[key]
    except KeyError:
        pass


def _memory_released(ws, ts, *, stimulus_id):
    _drop(ws.data, ts.key)
    ws.nbytes_in_memory -= ts.nbytes or 0
    recs = {}
    for dep in ts.dependents:
        if dep.state == "waiting":
            dep.waiting_for_data.add(ts)
        elif dep.state in ("ready", "constrained"):
            recs[dep] = "waiting"
    more, _ = _release(ws, ts)
    recs.update(more)
    # told even when the scheduler asked (free-keys): it may have counted this worker
    # again since (an add-keys of a copy fetched meanwhile), and only this says it went
    return recs, [m.ReleaseWorkerDataMsg(key=ts.key, stimulus_id=stimulus_id)]


def _error_released(ws, ts, *, stimulus_id):
    ts.exception = ts.traceback = None
    ts.exception_text = ts.traceback_text = ""
    return _release(ws, ts)


def _cancelled_released(ws, ts, *, stimulus_id):
    """The pending result of a cancelled task came in (and is dropped)."""
    if ts.previous == "executing":
        _leave_executing(ws, ts)
    else:
        _leave_flight(ws, ts)
    return _release(ws, ts)


def _cancelled_fetch(ws, ts, *, stimulus_id):
    if ts.previous == "flight":
        ts.state, ts.previous = "flight", None
    else:
        ts.state, ts.next = "resumed", "fetch"
    return {}, []


def _cancelled_waiting(ws, ts, *, stimulus_id):
    if ts.previous == "executing":
        ts.state, ts.previous = "executing", None
        return {}, _still_long_running(ws, ts, stimulus_id)
    ts.state, ts.next = "resumed", "waiting"
    return {}, []


def _still_long_running(ws, ts, stimulus_id) -> list:
    """A computation asked for again while its seceded run goes on: the scheduler's new
    run of it is long-running too (it had stopped counting the cancelled one)."""
    if ts not in ws.long_running:
        return []
    return [m.LongRunningMsg(key=ts.key, run_id=ts.run_id, compute_duration=0.0,
                             stimulus_id=stimulus_id)]  # fmt: skip


def _resumed_memory(ws, ts, value, nbytes, *, stimulus_id):
    if ts.previous == "executing":
        _leave_executing(ws, ts)
    else:
        _leave_flight(ws, ts)
    report = "finished" if ts.next == "waiting" else "add-keys"
    ts.previous = ts.next = None
    return _to_memory(ws, ts, value, nbytes, report, stimulus_id)


def _resumed_fetch(ws, ts, *, stimulus_id):
    if ts.previous == "flight":  # wanted as a dependency again: keep fetching
        ts.state, ts.previous, ts.next = "flight", None, None
        return {}, []
    _leave_executing(ws, ts)  # the execution ended without a value: fetch it
    ts.state, ts.previous, ts.next = "released", None, None
    return _released_fetch(ws, ts, stimulus_id=stimulus_id)


def _resumed_waiting(ws, ts, *, stimulus_id):
    if ts.previous == "executing":  # asked to compute it again: keep computing
        ts.state, ts.previous, ts.next = "executing", None, None
        return {}, _still_long_running(ws, ts, stimulus_id)
    _leave_flight(ws, ts)  # the transfer ended without a value: compute it
    ts.state, ts.previous, ts.next = "released", None, None
    return _released_waiting(ws, ts, stimulus_id=stimulus_id)


def _resumed_released(ws, ts, *, stimulus_id):
    ts.state, ts.next = "cancelled", None
    return {}, []


TRANSITIONS = {
    ("released", "waiting"): _released_waiting,
    ("released", "fetch"): _released_fetch,
    ("released", "missing"): _released_missing,
    ("released", "memory"): _released_memory,
    ("released", "forgotten"): _released_forgotten,
    ("waiting", "ready"): _waiting_ready,
    ("waiting", "constrained"): _waiting_constrained,
    ("waiting", "released"): _waiting_released,
    ("waiting", "error"): _waiting_error,
    ("ready", "executing"): _ready_executing,
    ("ready", "released"): _queued_released,
    ("ready", "waiting"): _queued_waiting,
    ("constrained", "executing"): _constrained_executing,
    ("constrained", "released"): _queued_released,
    ("constrained", "waiting"): _queued_waiting,
    ("executing", "memory"): _executing_memory,
    ("executing", "error"): _executing_error,
    ("executing", "rescheduled"): _executing_rescheduled,
    ("executing", "released"): _executing_released,
    ("rescheduled", "released"): _rescheduled_released,
    ("fetch", "flight"): _fetch_flight,
    ("fetch", "missing"): _fetch_missing,
    ("fetch", "released"): _fetch_released,
    ("flight", "memory"): _flight_memory,
    ("flight", "fetch"): _flight_fetch,
    ("flight", "missing"): _flight_missing,
    ("flight", "error"): _flight_error,
    ("flight", "released"): _flight_released,
    ("flight", "waiting"): _flight_waiting,
    ("missing", "fetch"): _missing_fetch,
    ("missing", "released"): _missing_released,
    ("memory", "released"): _memory_released,
    ("error", "released"): _error_released,
    ("cancelled", "released"): _cancelled_released,
    ("cancelled", "fetch"): _cancelled_fetch,
    ("cancelled", "waiting"): _cancelled_waiting,
    ("resumed", "memory"): _resumed_memory,
    ("resumed", "fetch"): _resumed_fetch,
    ("resumed", "waiting"): _resumed_waiting,
    ("resumed", "released"): _resumed_released,
}


# --------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------


def _log(ws, ts, start: str, recs: dict, stimulus_id: str) -> None:
    summary = {t.key: (f[0] if isinstance(f, tuple) else f) for t, f in recs.items()} if recs else None
    ws.log.append((ts.key, start, ts.state, summary, stimulus_id, ws.clock()))
    if ws.on_transition is not None:  # worker plugins' (worker/plugins.py)
        ws.on_transition(ts.key, start, ts.state)


def transition(ws, ts, finish: str, *args, stimulus_id: str) -> tuple[dict, list]:
    """Move one task to ``finish``; return follow-up recommendations and instructions."""
    start = ts.state
    func = TRANSITIONS.get((start, finish))
    if func is not None:
        recs, instructions = func(ws, ts, *args, stimulus_id=stimulus_id)
        _log(ws, ts, start, recs, stimulus_id)
        return recs, instructions
    if start in _AT_REST and ("released", finish) in TRANSITIONS:
        first, instructions = TRANSITIONS[(start, "released")](ws, ts, stimulus_id=stimulus_id)
        first.pop(ts, None)  # not "forgotten": it is wanted as `finish`
        _log(ws, ts, start, first, stimulus_id)
        recs, more = transition(ws, ts, finish, *args, stimulus_id=stimulus_id)
        first.update(recs)
        return first, instructions + more
    raise InvalidTransition(ts.key, start, finish, ws.story(ts.key))


def run_transitions(ws, recs: dict, *, stimulus_id: str) -> list:
    """Apply recommendations, and the ones they lead to, until none are left."""
    instructions: list = []
    pending = dict(recs)
    while pending:
        ts, finish = pending.popitem()
        args: tuple = ()
        if isinstance(finish, tuple):
            finish, *args = finish
        if ts.state == "forgotten" or ts.state == finish:
            continue
        new, instr = transition(ws, ts, finish, *args, stimulus_id=stimulus_id)
        pending.update(new)
        instructions += instr
    return instructions
