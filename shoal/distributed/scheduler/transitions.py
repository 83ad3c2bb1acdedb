"""The scheduler's task transitions: one ``(start, finish) -> function`` table.

::

    released ---> waiting ---> processing ---> memory
       |            |  |          ^   ^  |
       |            |  +-> queued-+   |  +---> erred
       |            +----> no-worker -+
       v
    forgotten

    back to released: waiting, queued, no-worker, processing (cancelled, worker
                      lost, retries left, rescheduled), memory (freed or lost),
                      erred (the retry op)
    to erred:         processing (the task raised, or KilledWorker),
                      waiting / released (an input erred)
    to forgotten:     released or erred, once no client and no dependent refers to it
    processing -> processing: a confirmed steal moves the task to the thief

Each function takes ``(state, ts, stimulus_id, **details)``, changes ``ts``
and the records it touches (workers' processing and holdings, the queue, the
waiters of its inputs), appends any instructions with ``state.emit`` and returns
*recommendations*: ``{key: finish}`` for other tasks (or for ``ts`` itself),
which the driver in :mod:`.state` applies next.  A pair missing from
:data:`TRANSITIONS` raises :class:`InvalidTransition` with the key's story.

The one rule behind most functions: a task is *needed* while a client wants it
or an active dependent (waiting, queued, no-worker, processing) waits on it.
A task entering ``released`` that is still needed goes back to ``waiting``
(results lost with a worker, tasks running on a dead worker, retries); one
that is not needed leaves its inputs' waiters, which may free them in turn,
and is forgotten once no dependent refers to it.
"""

from __future__ import annotations

import itertools
import math

from shoal.distributed.scheduler.messages import (
    ClientTaskErred,
    ComputeTask,
    KeyInMemory,
    LostData,
)
from shoal.distributed.scheduler.policies import free_slots, transfer_time
from shoal.distributed.scheduler.records import NOTHING
from shoal.events import TaskTransition, record_of

__all__ = [
    "ACTIVE", "STATES", "TRANSITIONS", "InvalidTransition", "LostActor", "LostScatteredData",
    "add_replica",
    "check_state", "check_task", "check_worker", "needed", "transition_record",
]  # fmt: skip

STATES = (
    "released", "waiting", "no-worker", "queued", "processing", "memory", "erred", "forgotten",
)  # fmt: skip
#: States of a task that will still read its inputs.
ACTIVE = frozenset({"waiting", "no-worker", "queued", "processing"})


class LostScatteredData(Exception):
    """Scattered data was lost with every worker that held it; it has no task to rerun."""

    def __init__(self, key):
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return (f"scattered data {self.key!r} was lost with the workers that held it; "
                "scatter it again")


#: the type of an actor's handle (``shoal/distributed/actor.py``; replication.py's too)
ACTOR_TYPE = "shoal.distributed.actor.Actor"


class LostActor(RuntimeError):
    """The worker holding an actor left: its object and state are gone, never remade."""

    def __init__(self, key):
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return (f"actor {self.key!r}: the worker holding it was lost, and the object and its "
                "state with it; actors are not restarted: submit a new one")


class InvalidTransition(Exception):
    """A transition the table does not allow; carries the key's story."""

    def __init__(self, key, start: str, finish: str, story: list):
        super().__init__(key, start, finish, story)
        self.key, self.start, self.finish, self.story = key, start, finish, story

    def __str__(self) -> str:
        lines = [f"invalid transition {self.start!r} -> {self.finish!r} for key {self.key!r}"]
        lines += ["  " + repr(entry) for entry in self.story[-20:]]
        return "\n".join(lines)


def needed(ts) -> bool:
    """True while a client wants ``ts`` or an active dependent waits on it."""
    return bool(ts.who_wants or ts.waiters)


# --- helpers shared by several transitions --------------------------------------


def _start_processing(state, ts, ws, stimulus_id) -> None:
    duration = state.task_duration(ts)
    cost = duration + transfer_time(ts, ws, state.bandwidth)
    ws.processing[ts] = cost
    ws.occupancy += cost
    for name, amount in (ts.resource_restrictions or {}).items():
        ws.used_resources[name] = ws.used_resources.get(name, 0) + amount
    ts.processing_on = ws
    ts.run_id = state.next_run_id()
    ts.state = "processing"
    deps = ts.dependencies
    state.emit(
        ComputeTask(
            worker=ws.address,
            key=ts.key,
            run_id=ts.run_id,
            priority=ts.priority,
            duration=duration,
            run_spec=ts.run_spec,
            who_has={d.key: [w.address for w in d.who_has] for d in deps},
            nbytes={d.key: d.nbytes for d in deps},
            resource_restrictions=dict(ts.resource_restrictions or {}),
            graph=ts.graph if state.publisher.states else "",  # (for a worker's task rows)
            stimulus_id=stimulus_id,
        )
    )


def _exit_processing(state, ts):
    """Take ``ts`` off its worker's books; return that worker."""
    ws = ts.processing_on
    ws.occupancy -= ws.processing.pop(ts)
    ws.long_running.discard(ts)
    if not ws.processing or ws.occupancy < 0:
        ws.occupancy = 0.0  # drop accumulated float error
    for name, amount in (ts.resource_restrictions or {}).items():
        ws.used_resources[name] -= amount
    ts.processing_on = None
    state.in_flight_steals.pop(ts.key, None)
    return ws


def add_replica(ts, ws, nbytes: int) -> None:
    """Record that ``ws`` holds ``ts`` (``nbytes`` is the same for every replica)."""
    if ws in ts.who_has:
        return
    ts.nbytes = nbytes
    ts.who_has.add(ws)
    ws.has_what[ts] = None
    ws.nbytes += nbytes


def remove_replica(ts, ws) -> None:
    """Forget that ``ws`` holds ``ts`` (also used on worker loss and missing data)."""
    ts.who_has.discard(ws)
    if ts in ws.has_what:
        del ws.has_what[ts]
        ws.nbytes -= ts.nbytes


def drop_waiters(ts, recs: dict) -> None:
    """``ts`` no longer reads its inputs; release the inputs nobody else needs."""
    for dep in ts.dependencies:
        if dep.waiters:
            dep.waiters.discard(ts)
        if dep.state not in ("released", "erred") and not needed(dep):
            recs[dep.key] = "released"


def settle_released(state, ts, recs: dict) -> dict:
    """After ``ts`` entered ``released``: wait again if needed, else let go."""
    if needed(ts):
        recs[ts.key] = "waiting"  # keeps its place among its inputs' waiters
    else:
        drop_waiters(ts, recs)
        if not ts.dependents and not ts.who_wants:
            recs[ts.key] = "forgotten"
    return recs


def _settle_erred(state, ts, stimulus_id) -> dict:
    recs: dict = {}
    ts.waiting_on = NOTHING
    drop_waiters(ts, recs)
    ts.state = "erred"
    for dts in ts.dependents:
        if dts.state == "waiting":
            recs[dts.key] = "erred"
    blame = ts.exception_blame
    for client in ts.who_wants:
        state.emit(ClientTaskErred(client.name, ts.key, blame.exception, blame.traceback,
                                   stimulus_id=stimulus_id))  # fmt: skip
    return recs


def erred_dependency(ts):
    """An erred input of ``ts`` (the one whose blame it inherits), or None."""
    for dep in ts.dependencies:
        if dep.state == "erred":
            return dep
    return None


def _priority(ts):
    return ts.priority


def _forget(state, ts) -> dict:
    recs: dict = {}
    for dep in ts.dependencies:
        dep.dependents.discard(ts)
        if dep.waiters:
            dep.waiters.discard(ts)
        if not dep.dependents and not dep.who_wants and dep.state in ("released", "erred"):
            recs[dep.key] = "forgotten"
        elif dep.state not in ("released", "erred") and not needed(dep):
            recs[dep.key] = "released"
    ts.dependencies = NOTHING
    ts.state = "forgotten"
    del state.tasks[ts.key]
    if state.task_metadata:  # (Dask's: a task's metadata goes with it)
        state.task_metadata.pop(ts.key, None)
    return recs


# --- the transitions ---------------------------------------------------------------


def released_waiting(state, ts, stimulus_id) -> dict:
    if ts.run_spec is None or ts.type == ACTOR_TYPE:  # lost data nothing can recompute
        exc = LostScatteredData(ts.key) if ts.run_spec is None else LostActor(ts.key)
        ts.exception, ts.exception_text, ts.exception_blame = exc, str(exc), ts
        return _settle_erred(state, ts, stimulus_id)
    recs: dict = {}
    # highest priority last: the driver pops recommendations last-in first-out
    for dep in sorted(ts.dependencies, key=_priority, reverse=True):
        if dep.waiters is NOTHING:  # (records.NOTHING: no set until needed)
            dep.waiters = {ts}
        else:
            dep.waiters.add(ts)
        if dep.state != "memory":
            if ts.waiting_on is NOTHING:
                ts.waiting_on = {dep}
            else:
                ts.waiting_on.add(dep)
            if dep.state == "released":
                recs[dep.key] = "waiting"
    ts.state = "waiting"
    if not ts.waiting_on:
        recs[ts.key] = "processing"
    return recs


def released_memory(state, ts, stimulus_id, who_has=(), nbytes=0, type="") -> dict:
    """Scattered data arrived on ``who_has`` workers (the update-data event)."""
    ts.type = type
    for ws in who_has:
        add_replica(ts, ws, nbytes)
    recs: dict = {}
    drop_waiters(ts, recs)  # a task replaced by scattered data no longer reads its inputs
    return _arrived(state, ts, stimulus_id, recs)


def released_erred(state, ts, stimulus_id) -> dict:
    ts.exception_blame = erred_dependency(ts).exception_blame
    return _settle_erred(state, ts, stimulus_id)


def released_forgotten(state, ts, stimulus_id) -> dict:
    return _forget(state, ts)


def waiting_processing(state, ts, stimulus_id, ws) -> dict:
    _start_processing(state, ts, ws, stimulus_id)
    return {}


def waiting_queued(state, ts, stimulus_id) -> dict:
    ts.state = "queued"
    state.queued.add(ts)
    return {}


def waiting_no_worker(state, ts, stimulus_id) -> dict:
    ts.state = "no-worker"
    state.unrunnable[ts] = None
    return {}


def waiting_erred(state, ts, stimulus_id) -> dict:
    ts.exception_blame = erred_dependency(ts).exception_blame
    return _settle_erred(state, ts, stimulus_id)


def waiting_released(state, ts, stimulus_id) -> dict:
    ts.waiting_on = NOTHING
    ts.state = "released"
    return settle_released(state, ts, {})


def queued_processing(state, ts, stimulus_id, ws) -> dict:
    state.queued.discard(ts)
    _start_processing(state, ts, ws, stimulus_id)
    return {}


def queued_released(state, ts, stimulus_id) -> dict:
    state.queued.discard(ts)
    ts.state = "released"
    return settle_released(state, ts, {})


def no_worker_processing(state, ts, stimulus_id, ws) -> dict:
    del state.unrunnable[ts]
    _start_processing(state, ts, ws, stimulus_id)
    return {}


def no_worker_released(state, ts, stimulus_id) -> dict:
    del state.unrunnable[ts]
    ts.state = "released"
    return settle_released(state, ts, {})


def processing_processing(state, ts, stimulus_id, ws) -> dict:
    """A confirmed steal: the victim dropped ``ts``; run it on ``ws`` instead."""
    _exit_processing(state, ts)
    _start_processing(state, ts, ws, stimulus_id)
    return {}


def processing_memory(state, ts, stimulus_id, ws, nbytes=0, type="", startstops=(), thread=0,
                      reported=False):  # (reported: for the publisher alone)
    if ts not in ts.processing_on.long_running:  # (its duration was learnt as it seceded)
        state.learn_duration(ts, startstops)
    _exit_processing(state, ts)
    ts.type = type
    add_replica(ts, ws, nbytes)
    recs: dict = {}
    drop_waiters(ts, recs)
    return _arrived(state, ts, stimulus_id, recs)


def _arrived(state, ts, stimulus_id, recs: dict) -> dict:
    """``ts`` entered memory: wake its dependents, tell its clients, let go if unneeded."""
    ts.state = "memory"
    for dts in ts.dependents:
        if ts in dts.waiting_on:
            dts.waiting_on.discard(ts)
            if not dts.waiting_on and dts.state == "waiting":
                recs[dts.key] = "processing"
    for client in ts.who_wants:
        state.emit(KeyInMemory(client.name, ts.key, ts.type, stimulus_id=stimulus_id))
    if not needed(ts):
        recs[ts.key] = "released"
    return recs


def processing_erred(state, ts, stimulus_id, ws, exception=None, traceback=None,
                     exception_text="", traceback_text="", startstops=(), thread=0):  # fmt: skip
    _exit_processing(state, ts)
    ts.exception, ts.traceback = exception, traceback
    ts.exception_text, ts.traceback_text = exception_text, traceback_text
    ts.exception_blame = ts
    ts.erred_on = ws
    return _settle_erred(state, ts, stimulus_id)


def processing_released(state, ts, stimulus_id) -> dict:
    ws = _exit_processing(state, ts)
    if state.workers.get(ws.address) is ws:  # tell a live worker to stop
        state.free_keys(ws.address, [ts.key], stimulus_id)
    ts.state = "released"
    return settle_released(state, ts, {})


def memory_released(state, ts, stimulus_id) -> dict:
    recs: dict = {}
    for ws in list(ts.who_has):
        remove_replica(ts, ws)
        state.free_keys(ws.address, [ts.key], stimulus_id)
    for dts in ts.dependents:
        if dts.state == "waiting":
            if dts.waiting_on is NOTHING:
                dts.waiting_on = {ts}
            else:
                dts.waiting_on.add(ts)
        elif dts.state in ("processing", "queued", "no-worker"):
            recs[dts.key] = "released"  # they start again, waiting for ts
    ts.state = "released"
    for client in ts.who_wants:  # still wanted: the data was lost, not freed
        state.emit(LostData(client.name, ts.key, stimulus_id=stimulus_id))
    return settle_released(state, ts, recs)


def _free_error(state, ts, stimulus_id) -> None:
    """Tell the worker a task raised on to let go of it: it keeps the task, its error
    and traceback (and what their frames hold) until told (they piled up there)."""
    ws, ts.erred_on = ts.erred_on, None
    if ws is not None and state.workers.get(ws.address) is ws:  # (not one that left, nor
        state.free_keys(ws.address, [ts.key], stimulus_id)  # a new one at its address)


def erred_released(state, ts, stimulus_id) -> dict:
    _free_error(state, ts, stimulus_id)
    ts.exception = ts.traceback = ts.exception_blame = None
    ts.exception_text = ts.traceback_text = ts.type = ""  # (type: a retried actor is new)
    ts.state = "released"
    recs = {dts.key: "released" for dts in ts.dependents if dts.state == "erred"}
    return settle_released(state, ts, recs)


def erred_forgotten(state, ts, stimulus_id) -> dict:
    _free_error(state, ts, stimulus_id)
    return _forget(state, ts)


TRANSITIONS = {
    ("released", "waiting"): released_waiting,
    ("released", "memory"): released_memory,
    ("released", "erred"): released_erred,
    ("released", "forgotten"): released_forgotten,
    ("waiting", "processing"): waiting_processing,
    ("waiting", "queued"): waiting_queued,
    ("waiting", "no-worker"): waiting_no_worker,
    ("waiting", "erred"): waiting_erred,
    ("waiting", "released"): waiting_released,
    ("queued", "processing"): queued_processing,
    ("queued", "released"): queued_released,
    ("no-worker", "processing"): no_worker_processing,
    ("no-worker", "released"): no_worker_released,
    ("processing", "processing"): processing_processing,
    ("processing", "memory"): processing_memory,
    ("processing", "erred"): processing_erred,
    ("processing", "released"): processing_released,
    ("memory", "released"): memory_released,
    ("erred", "released"): erred_released,
    ("erred", "forgotten"): erred_forgotten,
}
"""Every allowed ``(start, finish)`` pair and the function that performs it."""


def transition_record(ts, start: str, finish: str, details: dict) -> TaskTransition:
    """The :class:`shoal.events.TaskTransition` published for one transition (what
    plugins get; a dashboard gets the same values as :func:`task_row` rows)."""
    return record_of(task_row(ts, start, finish, details))


def task_row(ts, start: str, finish: str, details: dict) -> tuple:
    """One transition as a flat row (:func:`shoal.events.row_of`: no nested tuple, so
    the garbage collector stops tracking it at its first look and never promotes it),
    for ``TaskRows.from_rows``.  ``details["ws"]`` is the worker chosen, or the one
    reporting the result.  Nearly every row is a task computed into memory with one
    ``(action, begin, end)`` triple: that one is built in a single expression."""
    ws = details.get("ws")
    where = ws.address if ws is not None else details.get("address", "")
    ss = details.get("startstops") or ()
    if finish == "memory":
        nbytes = ts.nbytes
        if len(ss) == 1:
            action, begin, end = ss[0]
            return (ts.graph, ts.key, ts.prefix, start, "memory", where, details.get("thread", 0),
                    1, nbytes if nbytes > 0 else 0, ts.type, "", action, begin, end)  # fmt: skip
        row = (ts.graph, ts.key, ts.prefix, start, finish, where, details.get("thread", 0),
               len(ss), nbytes if nbytes > 0 else 0, ts.type, "")  # fmt: skip
    else:
        blame = ts.exception_blame if finish == "erred" else None
        text = (blame.exception_text or repr(blame.exception)) if blame is not None else ""
        row = (ts.graph, ts.key, ts.prefix, start, finish, where, details.get("thread", 0),
               len(ss), 0, "", text)  # fmt: skip
    return row + tuple(itertools.chain.from_iterable(ss)) if ss else row


def forgotten_row(ts, start: str) -> tuple:
    """:func:`task_row` for a transition to ``forgotten`` (all but four fields constant)."""
    return (ts.graph, ts.key, ts.prefix, start, "forgotten", "", 0, 0, 0, "", "")


# --- invariants (SchedulerState.validate_state) ---------------------------------------
# What each state means, checked after every handle() in tests.


def check_state(state) -> None:
    for key, ts in state.tasks.items():
        assert ts.key == key, ts
        check_task(state, ts)
    for address, ws in state.workers.items():
        assert ws.address == address, ws
        check_worker(state, ws)
    for client in state.clients.values():
        for ts in client.wants_what:
            assert client in ts.who_wants and state.tasks.get(ts.key) is ts, (client, ts)
    assert set(state.queued) == {t for t in state.tasks.values() if t.state == "queued"}
    assert set(state.unrunnable) == {t for t in state.tasks.values() if t.state == "no-worker"}
    assert state.running == {a: ws for a, ws in state.workers.items() if ws.status == "running"}
    for key, (victim, _) in state.in_flight_steals.items():
        assert state.tasks[key].processing_on is victim, key


def check_task(state, ts) -> None:
    s = ts.state
    assert s in STATES and s != "forgotten", ts
    for dep in ts.dependencies:
        assert ts in dep.dependents and state.tasks.get(dep.key) is dep, (ts, dep)
        assert (ts in dep.waiters) == (s in ACTIVE), ("waiters", ts, dep)
    for dts in ts.dependents:
        assert ts in dts.dependencies and state.tasks.get(dts.key) is dts, (ts, dts)
    for dts in ts.waiters:
        assert dts in ts.dependents and dts.state in ACTIVE, ("waiter", ts, dts)
    for client in ts.who_wants:
        assert ts in client.wants_what and state.clients.get(client.name) is client, (ts, client)
    for ws in ts.who_has:
        assert ts in ws.has_what and state.workers.get(ws.address) is ws, (ts, ws)
    assert bool(ts.who_has) == (s == "memory"), ("who_has", ts)
    assert (ts.processing_on is not None) == (s == "processing"), ("processing_on", ts)
    assert (ts.exception_blame is not None) == (s == "erred"), ("blame", ts)
    if s == "waiting":
        assert ts.waiting_on == {d for d in ts.dependencies if d.state != "memory"}, ts
        assert ts.waiting_on and all(d.state in ACTIVE for d in ts.waiting_on), ts
    else:
        assert not ts.waiting_on, ("waiting_on", ts)
    if s in ("queued", "no-worker", "processing"):
        assert all(d.state == "memory" for d in ts.dependencies), ("inputs", ts)
    if s == "processing":
        ws = ts.processing_on
        assert ts in ws.processing and state.workers.get(ws.address) is ws, ts
    if s in ACTIVE or s == "memory":
        assert needed(ts), ("not needed", ts)
    elif s == "released":
        assert not needed(ts) and ts.dependents, ("released", ts)
    elif s == "erred":
        assert ts.who_wants or ts.dependents, ("erred and unreferenced", ts)


def check_worker(state, ws) -> None:
    for ts in ws.processing:
        assert ts.processing_on is ws and state.tasks.get(ts.key) is ts, (ws, ts)
    for ts in ws.long_running:
        assert ts in ws.processing and ws.processing[ts] == 0, ("long-running", ws, ts)
    for ts in ws.has_what:
        assert ws in ts.who_has and ts.state == "memory", (ws, ts)
    assert ws.nbytes == sum(ts.nbytes for ts in ws.has_what), ws
    assert math.isclose(ws.occupancy, sum(ws.processing.values()), abs_tol=1e-6), ws
    for name, used in ws.used_resources.items():
        want = sum((t.resource_restrictions or {}).get(name, 0) for t in ws.processing)
        assert math.isclose(used, want), (ws, name)
    if state.queued and ws.status == "running":  # tasks queue only while every running worker is full
        assert free_slots(ws, state.saturation) <= 0, ("queued with free slots", ws)
