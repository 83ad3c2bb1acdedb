"""Invariants of :class:`~.state.WorkerState`, checked by ``validate_state()``.

Two directions are checked: every task's state puts it in the right
containers (per-task checks), and every container holds only tasks in the
matching state (per-container checks).  Together they mean no task sits in
two queues and no container keeps a task that moved on.  Byte and resource
counters are recomputed from scratch and compared.  Tests run this after
every ``handle``; production servers can switch it on for debugging.
"""

from __future__ import annotations

__all__ = ["validate_worker_state", "STATES"]

STATES = frozenset({
    "released", "waiting", "fetch", "flight", "missing", "ready", "constrained",
    "executing", "memory", "error", "cancelled", "resumed",
})  # fmt: skip

_RESUMED = {("executing", "fetch"), ("flight", "waiting")}


def _check(ok: bool, ts_or_msg, what: str = "") -> None:
    if not ok:
        raise AssertionError(f"{ts_or_msg!r}: {what}" if what else str(ts_or_msg))


def _validate_task(ws, ts) -> None:
    s = ts.state
    _check(s in STATES, ts, "unknown state")
    for dep in ts.dependencies:
        _check(ws.tasks.get(dep.key) is dep, ts, f"dependency {dep!r} not in tasks")
        _check(ts in dep.dependents, ts, f"not among the dependents of {dep!r}")
    for dep in ts.dependents:
        _check(ws.tasks.get(dep.key) is dep, ts, f"dependent {dep!r} not in tasks")
        _check(ts in dep.dependencies, ts, f"not among the dependencies of {dep!r}")
    for worker in ts.who_has:
        _check(ts.key in ws.has_what.get(worker, ()), ts, f"{worker} missing from has_what")
    _check(ws.address not in ts.who_has or ws.address is None, ts, "self listed as a holder")

    if s == "waiting":
        expected = {d for d in ts.dependencies if d.state != "memory"}
        got = ts.waiting_for_data
        _check(got == expected, ts, f"waiting for {got} instead of {expected}")
        _check(bool(expected), ts, "waiting for nothing")
    else:
        _check(not ts.waiting_for_data, ts, "waiting_for_data outside waiting")
    if s in ("ready", "constrained"):
        _check(all(d.state == "memory" for d in ts.dependencies), ts, "queued before its inputs")
    if s == "ready":
        _check(ts in ws.ready, ts, "not in the ready queue")
    if s == "constrained":
        _check(ts in ws.constrained and bool(ts.resource_restrictions), ts, "bad constrained entry")
    if s == "executing" or (s in ("cancelled", "resumed") and ts.previous == "executing"):
        _check((ts in ws.executing) != (ts in ws.long_running), ts,
               "not in exactly one of the executing and long-running sets")
    else:
        _check(ts not in ws.executing and ts not in ws.long_running, ts,
               "in the executing or long-running set")
    if s == "flight" or (s in ("cancelled", "resumed") and ts.previous == "flight"):
        _check(ts in ws.in_flight_tasks, ts, "not in in_flight_tasks")
        _check(ts.key in ws.in_flight_workers.get(ts.coming_from, ()), ts, "not in its GatherDep")
    else:
        _check(ts not in ws.in_flight_tasks and ts.coming_from is None, ts, "stray flight record")
    if s == "fetch":
        _check(bool(ts.who_has), ts, "fetch with no holder")
        for worker in ts.who_has:
            _check(ts in ws.data_needed.get(worker, ()), ts, f"not queued for {worker}")
    if s == "missing":
        _check(ts in ws.missing and not ts.who_has, ts, "bad missing entry")
    else:
        _check(ts not in ws.missing, ts, "in the missing set")
    if s == "memory":
        _check(ts.nbytes is not None and ts.key in ws.data, ts, "in memory without data/nbytes")
    if s == "cancelled":
        ok = ts.previous in ("executing", "flight") and ts.next is None
        _check(ok, ts, "bad cancelled record")
    elif s == "resumed":
        _check((ts.previous, ts.next) in _RESUMED, ts, f"bad resumed {ts.previous}->{ts.next}")
    else:
        _check(ts.previous is None and ts.next is None, ts, "previous/next set outside resumption")
    if s == "released":
        _check(bool(ts.dependents), ts, "released with no dependents (should be forgotten)")


def validate_worker_state(ws) -> None:
    """Raise AssertionError naming the first broken invariant."""
    for key, ts in ws.tasks.items():
        _check(ts.key == key, ts, f"stored under {key!r}")
        _validate_task(ws, ts)

    def owned(ts) -> bool:
        return ws.tasks.get(ts.key) is ts

    for ts in ws.ready:
        _check(owned(ts) and ts.state == "ready", ts, "in the ready queue")
    for ts in ws.constrained:
        _check(owned(ts) and ts.state == "constrained", ts, "in the constrained queue")
    for ts in (*ws.executing, *ws.long_running):
        ok = owned(ts) and (ts.state == "executing" or ts.previous == "executing")
        _check(ok, ts, "in the executing or long-running set")
    from .state import QUEUED_PER_THREAD  # here: state imports this module

    n, most = len(ws.executing), (1 + QUEUED_PER_THREAD) * ws.nthreads
    _check(n <= most, f"{n} executing > {most} (threads and the short tasks queued for them)")
    # beyond the threads only short tasks queue (WorkerState.may_queue)
    others = sum(1 for t in ws.executing if t.duration is None or t.resource_restrictions)
    _check(others <= ws.nthreads, f"{others} tasks of unknown length or with resources "
                                  f"executing > {ws.nthreads} threads")  # fmt: skip
    for worker, queue in ws.data_needed.items():
        _check(len(queue) > 0, f"empty fetch queue kept for {worker}")
        for ts in queue:
            ok = owned(ts) and ts.state == "fetch" and worker in ts.who_has
            _check(ok, ts, f"queued for {worker}")
    for ts in ws.in_flight_tasks:
        _check(owned(ts) and (ts.state == "flight" or ts.previous == "flight"), ts, "in flight")
    for ts in ws.missing:
        _check(owned(ts) and ts.state == "missing", ts, "in the missing set")

    _check(set(ws.in_flight_workers) == set(ws.in_flight_bytes), "in_flight_workers/bytes disagree")
    for worker, keys in ws.in_flight_workers.items():
        _check(bool(keys), f"empty GatherDep recorded for {worker}")
        for key in keys:
            ts = ws.tasks.get(key)
            ok = ts is not None and ts.coming_from == worker
            _check(ok, f"{key!r} in GatherDep from {worker}")
    in_flight = sum(ws.in_flight_bytes.values())
    _check(ws.transfer_incoming_bytes == in_flight,
           f"transfer_incoming_bytes {ws.transfer_incoming_bytes} != {in_flight}")  # fmt: skip
    _check(len(ws.in_flight_workers) <= ws.outgoing_connections, "too many GatherDeps")

    for worker, keys in ws.has_what.items():
        _check(bool(keys), f"empty has_what kept for {worker}")
        for key in keys:
            ts = ws.tasks.get(key)
            _check(ts is not None and worker in ts.who_has, f"has_what[{worker}] lists {key!r}")

    in_memory = {k for k, ts in ws.tasks.items() if ts.state == "memory"}
    odd = set(ws.data) ^ in_memory
    _check(not odd, f"data keys {odd} disagree with the tasks in memory")
    managed = sum(ws.tasks[k].nbytes for k in in_memory)
    _check(ws.nbytes_in_memory == managed, f"nbytes_in_memory {ws.nbytes_in_memory} != {managed}")

    for resource, total in ws.total_resources.items():
        used = sum(ts.resource_restrictions.get(resource, 0)
                   for ts in (*ws.executing, *ws.long_running))  # fmt: skip
        free = ws.available_resources.get(resource, 0)
        _check(free == total - used, f"resource {resource}: {free} free != {total} - {used} used")
