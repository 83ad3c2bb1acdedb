"""One handler per event type: turn an event into recommendations.

A handler reads the event, updates bookkeeping that is not a task's state
(holders, priorities, sizes, the busy and in-flight tables), and returns
``(recommendations, instructions)``; :class:`~.state.WorkerState` then runs the
recommendations through the transition table.  Handlers never set
``ts.state`` themselves.

Results of work that may have been cancelled meanwhile (executions,
transfers) are routed by the task's state: ``cancelled`` -> ``released``
(the value is dropped), ``resumed`` -> the state it was resumed towards.
"""

from __future__ import annotations

from types import SimpleNamespace

from shoal.sizeof import sizeof

from . import messages as m
from .transitions import PROCESSING_STATES, task_finished_msg

__all__ = ["HANDLERS"]

_PENDING = ("executing", "flight", "cancelled", "resumed")


def _wanted_as_dependency(ts) -> str | None:
    """The recommendation for a key some task here needs, or None if it is on its way."""
    if ts.state in ("released", "cancelled", "error"):
        return "fetch"  # released -> missing when nobody holds it
    if ts.state == "missing" and ts.who_has:
        return "fetch"
    if ts.state == "resumed" and ts.next == "waiting":
        return "fetch"
    return None


# ------------------------------------------------------------------ scheduler


def _compute_task(ws, ev: m.ComputeTask):
    ts = ws.ensure_task(ev.key)
    ws.log.append((ts.key, "compute-task", ts.state, ev.stimulus_id, ws.clock()))
    ts.run_id, ts.graph = ev.run_id, ev.graph
    if ts.state == "memory":  # already here: tell the scheduler again
        return {}, [task_finished_msg(ts, ev.stimulus_id)]
    ws.set_priority(ts, ev.priority)
    if ts not in ws.executing and ts not in ws.long_running:
        # a task given to the threads keeps the spec and estimate it was given with
        ts.duration, ts.run_spec = ev.duration, ev.run_spec
        if ts.state not in ("ready", "constrained"):
            # a queued task keeps the restrictions it was queued with
            ts.resource_restrictions = dict(ev.resource_restrictions)
    recs: dict = {}
    for dep_key in {**ev.who_has, **ev.nbytes}:
        dep = ws.ensure_task(dep_key)
        if dep not in ts.dependencies and dep.state != "memory":
            if ts.state == "waiting":
                ts.waiting_for_data.add(dep)
            elif ts.state in ("ready", "constrained"):
                recs[ts] = "waiting"
        ws.add_holders(dep, ev.who_has.get(dep_key, ()))
        if dep_key in ev.nbytes and dep.state != "memory":
            dep.nbytes = ev.nbytes[dep_key]
        ts.dependencies.add(dep)
        dep.dependents.add(ts)
        ws.set_priority(dep, ts.priority)
        rec = _wanted_as_dependency(dep)
        if rec:
            recs[dep] = rec
    if ts.state in ("released", "fetch", "missing", "error", "flight", "cancelled"):
        recs[ts] = "waiting"
    elif ts.state == "resumed" and ts.next == "fetch":
        recs[ts] = "waiting"
    return recs, []


def _free_keys(ws, ev: m.FreeKeys):
    ws.log.append((list(ev.keys), "free-keys", ev.stimulus_id, ws.clock()))
    recs = {}
    for key in ev.keys:
        ts = ws.tasks.get(key)
        if ts is not None and ts.state != "cancelled":
            recs[ts] = "released"
    return recs, []


def _steal_request(ws, ev: m.StealRequest):
    ts = ws.tasks.get(ev.key)
    state = ts.state if ts is not None else None
    recs = {}
    if state in ("waiting", "ready", "constrained"):
        recs[ts] = "released"
        state = "released"
    ws.log.append((ev.key, "steal-request", state, ev.stimulus_id, ws.clock()))
    return recs, [m.StealResponseMsg(key=ev.key, state=state, stimulus_id=ev.stimulus_id)]


def _acquire_replicas(ws, ev: m.AcquireReplicas):
    ws.log.append((list(ev.who_has), "acquire-replicas", ev.stimulus_id, ws.clock()))
    recs = {}
    for key, holders in ev.who_has.items():
        ts = ws.ensure_task(key)
        ws.add_holders(ts, holders)
        if key in ev.nbytes and ts.state != "memory":
            ts.nbytes = ev.nbytes[key]
        rec = _wanted_as_dependency(ts)
        if rec:
            recs[ts] = rec
    return recs, []


def _remove_replicas(ws, ev: m.RemoveReplicas):
    recs, kept = {}, []
    for key in ev.keys:
        ts = ws.tasks.get(key)
        if ts is None or ts.state != "memory":
            continue
        if any(dep.state in PROCESSING_STATES or dep.state in _PENDING for dep in ts.dependents):
            kept.append(key)  # a task here still needs it
        else:
            recs[ts] = "released"
    ws.log.append((list(ev.keys), "remove-replicas", kept, ev.stimulus_id, ws.clock()))
    instr = [m.AddKeysMsg(keys=kept, stimulus_id=ev.stimulus_id)] if kept else []
    return recs, instr


# ------------------------------------------------------------------ server layer


def _update_data(ws, ev: m.UpdateData):
    recs, stored = {}, []
    for key, value in (ev.data or {}).items():
        nbytes = ev.data_nbytes.get(key)
        nbytes = sizeof(value) if nbytes is None else nbytes
        ts = ws.ensure_task(key)
        if ts.state == "memory":
            ws.data[key] = value
            ws.nbytes_in_memory += nbytes - (ts.nbytes or 0)
            ts.nbytes = nbytes
        elif ts.state in _PENDING:
            continue  # its own result is about to land
        else:
            recs[ts] = ("memory", value, nbytes, None)
        stored.append(key)
    ws.log.append((stored, "update-data", ev.stimulus_id, ws.clock()))
    instr = [m.AddKeysMsg(keys=stored, stimulus_id=ev.stimulus_id)] if ev.report and stored else []
    return recs, instr


def _execution_result(ws, ev, ok, failed):
    """Route an execution result by state: ``(recommendations, [])``."""
    ts = ws.tasks.get(ev.key)
    if ts is None:
        ws.log.append((ev.key, "ignored-result", type(ev).__name__, ev.stimulus_id, ws.clock()))
        return {}, []
    if ts.state == "executing":
        return {ts: ok}, []
    if ts.state == "cancelled" and ts.previous == "executing":
        return {ts: "released"}, []
    if ts.state == "resumed" and ts.previous == "executing":
        return {ts: ok if ok[0] == "memory" else failed}, []
    ws.log.append((ev.key, "ignored-result", type(ev).__name__, ev.stimulus_id, ws.clock()))
    return {}, []


def _execute_success(ws, ev: m.ExecuteSuccess):
    ts = ws.tasks.get(ev.key)
    if ts is not None and ts.state in _PENDING:
        ts.startstops.append({"action": "compute", "start": ev.start, "stop": ev.stop})
        ts.type, ts.thread = ev.type, ev.thread
    return _execution_result(ws, ev, ("memory", ev.value, ev.value_nbytes), "fetch")


def _execute_failure(ws, ev: m.ExecuteFailure):
    ts = ws.tasks.get(ev.key)
    if ts is not None and ts.state in _PENDING:
        if ev.start is not None:
            ts.startstops.append({"action": "compute", "start": ev.start, "stop": ev.stop})
        ts.thread = ev.thread
    return _execution_result(ws, ev, ("error", ev), "fetch")


def _execute_reschedule(ws, ev: m.ExecuteReschedule):
    return _execution_result(ws, ev, ("rescheduled",), "fetch")


def _transfer_done(ws, ev, what: str) -> list:
    """Close the GatherDep against ``ev.worker``; return the tasks it carried."""
    keys = ws.in_flight_workers.pop(ev.worker, None)
    ws.log.append((ev.worker, what, sorted(keys or (), key=repr), ev.stimulus_id, ws.clock()))
    if keys is None:
        return []
    ws.transfer_incoming_bytes -= ws.in_flight_bytes.pop(ev.worker)
    return [ws.tasks[k] for k in keys]


def _after_transfer(ts, ok):
    """The recommendation for a task whose transfer ended: ``ok`` if it went well."""
    if ts.state == "cancelled":
        return "released"
    if ts.state == "resumed":  # the scheduler wants it computed here anyway
        return ok if ok and ok[0] == "memory" else "waiting"
    return ok


def _gather_dep_success(ws, ev: m.GatherDepSuccess):
    ws.busy_workers.discard(ev.worker)
    data = ev.data if ev.data is not None else {}
    errors = ev.errors or {}
    recs, instr, arrived = {}, [], []
    for ts in _transfer_done(ws, ev, "gather-dep-success"):
        if ts.key in errors:  # (it cannot move: the tasks waiting for it err, see _flight_error)
            recs[ts] = _after_transfer(ts, ("error", _packed_failure(errors[ts.key])))
        elif ts.key in data or ts.key in ev.data_nbytes:
            arrived.append(ts)
            nbytes = ev.data_nbytes.get(ts.key, ts.transfer_nbytes)
            recs[ts] = _after_transfer(ts, ("memory", data.get(ts.key), nbytes))
        else:  # the peer did not have it after all
            ws.remove_holder(ts, ev.worker)
            instr.append(
                m.MissingDataMsg(key=ts.key, errant_worker=ev.worker, stimulus_id=ev.stimulus_id)
            )
            recs[ts] = _after_transfer(ts, "fetch")
    if ev.start is not None:
        _file_transfer(arrived, ev)
    return recs, instr


def _packed_failure(packed):
    """The failure record (``exception``, ``traceback`` and their texts) of a packed
    exception (:func:`shoal.local.remote_errors.pack_exception`)."""
    return SimpleNamespace(exception=packed, traceback=None, traceback_text=packed[3],
                           exception_text=f"{packed[1]}: {packed[2]}")  # fmt: skip


def _file_transfer(arrived, ev) -> None:
    """Note the transfer on one task waiting for what arrived: its report carries it
    (the fetched keys themselves are never reported), so the task stream shows it."""
    for ts in arrived:
        for dts in ts.dependents:
            if dts.state in ("waiting", "ready", "constrained"):
                dts.startstops.append(
                    {"action": "transfer", "start": ev.start, "stop": ev.stop, "source": ev.worker}
                )
                return


def _gather_dep_failure(ws, ev: m.GatherDepFailure):
    tasks = _transfer_done(ws, ev, "gather-dep-failure")
    recs = {ts: _after_transfer(ts, ("error", ev)) for ts in tasks}
    return recs, []


def _gather_dep_network_failure(ws, ev: m.GatherDepNetworkFailure):
    tasks = _transfer_done(ws, ev, "gather-dep-network-failure")
    ws.busy_workers.discard(ev.worker)
    recs = {}
    for key in list(ws.has_what.get(ev.worker, ())):
        ts = ws.tasks[key]
        ws.remove_holder(ts, ev.worker)
        if ts.state == "fetch" and not ts.who_has:
            recs[ts] = "missing"
    for ts in tasks:
        recs[ts] = _after_transfer(ts, "fetch")
    return recs, []


def _gather_dep_busy(ws, ev: m.GatherDepBusy):
    recs = {ts: _after_transfer(ts, "fetch") for ts in _transfer_done(ws, ev, "gather-dep-busy")}
    ws.busy_workers.add(ev.worker)
    return recs, [m.RetryBusyWorkerLater(worker=ev.worker, stimulus_id=ev.stimulus_id)]


def _retry_busy_worker(ws, ev: m.RetryBusyWorker):
    ws.busy_workers.discard(ev.worker)
    return {}, []


def _secede(ws, ev: m.Secede):
    """The task's thread left the pool: its slot goes to the next task."""
    ts = ws.tasks.get(ev.key)
    if ts is None or ts not in ws.executing:  # (one run of a key at a time: no run_id check)
        ws.log.append((ev.key, "ignored-secede", ev.stimulus_id, ws.clock()))
        return {}, []
    ws.executing.discard(ts)
    ws.long_running.add(ts)
    ws.log.append((ts.key, "secede", ts.state, ev.stimulus_id, ws.clock()))
    if ts.state != "executing":  # cancelled or resumed: the scheduler no longer counts it here
        return {}, []
    return {}, [m.LongRunningMsg(key=ts.key, run_id=ts.run_id,
                                 compute_duration=ev.compute_duration,
                                 stimulus_id=ev.stimulus_id)]  # fmt: skip


def _pause(ws, ev):
    paused = isinstance(ev, m.Pause)
    ws.log.append(("worker", "pause" if paused else "unpause", ev.stimulus_id, ws.clock()))
    if paused == ws.paused:
        return {}, []
    ws.paused = paused  # the scheduler sends no new tasks while it is paused
    status = "paused" if paused else "running"
    return {}, [m.WorkerStatusMsg(status=status, stimulus_id=ev.stimulus_id)]


def _find_missing(ws, ev: m.FindMissing):
    if not ws.missing:
        return {}, []
    keys = [ts.key for ts in ws.missing]
    return {}, [m.RequestWhoHas(keys=keys, stimulus_id=ev.stimulus_id)]


def _refresh_who_has(ws, ev: m.RefreshWhoHas):
    recs = {}
    for key, holders in ev.who_has.items():
        ts = ws.tasks.get(key)
        if ts is None:
            continue
        fresh = set(holders) - {ws.address}
        for worker in ts.who_has - fresh:
            ws.remove_holder(ts, worker)
        ws.add_holders(ts, fresh)
        if ts.state == "missing" and ts.who_has:
            recs[ts] = "fetch"
        elif ts.state == "fetch" and not ts.who_has:
            recs[ts] = "missing"
    ws.log.append((list(ev.who_has), "refresh-who-has", ev.stimulus_id, ws.clock()))
    return recs, []


HANDLERS = {
    m.ComputeTask: _compute_task,
    m.FreeKeys: _free_keys,
    m.StealRequest: _steal_request,
    m.AcquireReplicas: _acquire_replicas,
    m.RemoveReplicas: _remove_replicas,
    m.UpdateData: _update_data,
    m.ExecuteSuccess: _execute_success,
    m.ExecuteFailure: _execute_failure,
    m.ExecuteReschedule: _execute_reschedule,
    m.GatherDepSuccess: _gather_dep_success,
    m.GatherDepFailure: _gather_dep_failure,
    m.GatherDepNetworkFailure: _gather_dep_network_failure,
    m.GatherDepBusy: _gather_dep_busy,
    m.RetryBusyWorker: _retry_busy_worker,
    m.Secede: _secede,
    m.Pause: _pause,
    m.Unpause: _pause,
    m.FindMissing: _find_missing,
    m.RefreshWhoHas: _refresh_who_has,
}
