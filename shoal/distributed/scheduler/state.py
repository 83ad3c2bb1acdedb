"""The scheduler's state machine: events in, instructions out, no I/O.

::

    SchedulerState
     |- tasks:    key -> SchedTask ---- dependencies / dependents: SchedTask sets
     |              state, priority       waiting_on:  inputs not in memory yet
     |              who_wants --------+   waiters:     active dependents that need it
     |              who_has ------+   |   processing_on: the SchedWorker running it
     |- workers:  address -> SchedWorker: processing {task: cost}, has_what, occupancy
     |- running:  the workers neither paused (memory) nor retiring: tasks go there
     |- clients:  name -> SchedClient: wants_what
     |- queued:   TaskQueue of root tasks waiting for a worker slot   (state "queued")
     |- unrunnable: tasks no current worker may run                    (state "no-worker")
     |- in_flight_steals: key -> (victim, thief); thief None: asked back from a paused worker
     |- computations: graph id -> wanted keys not done yet (computations.py: ComputationFinished)
     '- log:      bounded PackedLog of Transition / Note entries -> story(*keys)

``handle(*events)`` runs one handler per event (:mod:`.messages`); handlers
turn the event into transitions of tasks, the driver (:meth:`_transitions`)
applies them through the table in :mod:`.transitions`, following each one's
recommendations until none is left, then gives free root-task slots to queued
tasks.  Every change of a task's state goes through that driver, which appends
it to the log and, when someone listens, a ``Publish`` of a
:class:`shoal.events.TaskTransition`.  ``handle`` returns the instructions in the
order they were made; the server sends them (see :mod:`.messages`).

Messages that no longer fit the state (a result from a worker the task was
taken from, an old ``run_id``, a key already forgotten) change nothing: they
are logged as a :class:`Note` in the key's story, and a worker holding a key
the scheduler does not track is told to free it.

Where tasks go, root-task queuing and stealing are decided in :mod:`.policies`.
The clock is injectable (``clock=``) and is read only for log and event
timestamps and heartbeats, so tests are deterministic.  ``validate_state()``
checks every cross-reference; ``SchedulerState(validate=True)`` runs it after
each ``handle``.
"""

from __future__ import annotations

import itertools
import operator
import time
from collections import Counter

from shoal import config
from shoal.distributed.scheduler import policies
from shoal.distributed.scheduler import transitions as T
from shoal.distributed.scheduler.records import (  # re-exported: the records live there
    NOTHING, Note, SchedClient, SchedTask, SchedWorker, Transition,
)
from shoal.distributed.scheduler.messages import (
    HANDLERS, AddKeys, AddWorker, Balance, CancelledKeys, FreeKeys,
    Heartbeat, KilledWorker, LongRunning, MissingData, Publish, ReleaseWorkerData, RemoveWorker,
    Reschedule, StealRequest, StealResponse, TaskErred, TaskFinished, TaskRowsReported,
    UpdateData, UpdateGraph, WorkerStatusChange, handles, merge_free_keys,
)  # fmt: skip
from shoal.distributed.scheduler.clients import ServesClients
from shoal.distributed.scheduler.computations import TracksComputations
from shoal.distributed.scheduler.replicas import DropsReplicas
from shoal.distributed.scheduler.publish import TaskPublisher, shape_items
from shoal.distributed.storylog import PackedLog
from shoal.events import TASK_STATES, GraphSubmitted, graph_shape
from shoal.events import WorkerAdded, WorkerMetrics, WorkerRemoved

__all__ = ["Note", "SchedClient", "SchedTask", "SchedWorker", "SchedulerState", "Transition"]

#: Victim states in a steal response that mean the task had not started there.
_NOT_STARTED = frozenset({"ready", "constrained", "waiting", "released", None})


_PREFIX, _KEY = operator.attrgetter("prefix"), operator.attrgetter("key")


class SchedulerState(ServesClients, TracksComputations, DropsReplicas):
    """Tasks, workers and clients, changed only by :meth:`handle`."""

    def __init__(self, *, name="scheduler", clock=time.time, validate=False, wants=None,
                 allowed_failures=None, worker_saturation=None, bandwidth=None,
                 unknown_task_duration=None, transition_log_length=None,
                 work_stealing=None):  # fmt: skip
        def cfg(key, value):
            return config.get(f"distributed.scheduler.{key}", override_with=value)

        def setting(read, key, value, minimum):  # (a bad one is a ValueError naming the key)
            return config.checked(read, f"distributed.scheduler.{key}", value, minimum=minimum)

        self.name, self.clock, self.validate = name, clock, validate
        # the server passes its bus's wants(); alone, a state publishes every record
        # (TASK_STATES is a coalesced view of the "task" records: not both)
        self.wants = wants or (lambda kind: kind != TASK_STATES)
        self.allowed_failures = setting(config.count, "allowed-failures", allowed_failures, 0)
        self.saturation = policies.saturation(cfg("worker-saturation", worker_saturation))
        self.bandwidth = float(setting(config.size, "bandwidth", bandwidth, 1))
        self.unknown_duration = config.checked(config.duration, "distributed.scheduler."
                                               "unknown-task-duration", unknown_task_duration)
        self.work_stealing = bool(cfg("work-stealing", work_stealing))
        self.tasks: dict = {}
        self.workers: dict = {}
        self.running: dict = {}  # the workers not paused: where tasks are placed
        self.clients: dict = {}
        self.queued = policies.TaskQueue()
        self.unrunnable: dict = {}  # SchedTask -> None, insertion ordered
        self.in_flight_steals: dict = {}  # key -> (victim, thief)
        self.durations: dict = {}  # prefix -> average compute seconds
        self.computations: dict = {}  # graph id -> _Computation
        #: graph id -> [submitted, finished or None], the newest GRAPH_TIMES graphs (a late
        #: dashboard's snapshot shows how long each took)
        self.graph_times: dict = {}
        self._awaited: dict = {}  # key -> {graph id}
        self.task_metadata: dict = {}  # Client.set_metadata's (dropped with its task's key)
        self.log = PackedLog(setting(config.count, "transition-log-length", transition_log_length, 0))
        self.publisher = TaskPublisher(self.wants, self.emit, self.queued)  # (publish.py)
        self._out: list = []
        self._frees = 0  # FreeKeys emitted in this handle() call (merged when several)
        self._run_ids = itertools.count(1)
        self._graph_ids = itertools.count(1)

    # --- the public surface ----------------------------------------------------

    def handle(self, *events) -> list:
        """Apply ``events`` in order; return the instructions they caused."""
        self._out = out = []
        self._frees = 0
        self.publisher.begin(self.workers)
        for event in events:
            handler = HANDLERS.get(type(event))
            if handler is None:
                raise TypeError(f"not a scheduler event: {event!r}")
            handler(self, event)
        for record, stimulus_id in self.publisher.release():  # (held back: see _publish)
            self._publish(record, stimulus_id)
        if self.validate:
            self.validate_state()
        return merge_free_keys(out) if self._frees > 1 else out

    def task_state_records(self) -> list:
        """The task changes since the last call, as :class:`~shoal.events.TaskRows`
        and workers' :class:`~shoal.events.PackedTaskRows` (see :mod:`.publish`); the
        server publishes them every events interval."""
        return self.publisher.flush(self.tasks)

    def story(self, *keys) -> list:
        """Log entries that concern ``keys`` (as the task or a recommendation), oldest
        first, as :class:`Transition` and :class:`Note` records.  The log keeps plain
        tuples (six fields a transition, five a note), which its packing pickles
        five times faster than named tuples."""
        wanted = set(keys)
        out = []
        for e in self.log:
            if len(e) == 5:
                if e[0] in wanted:
                    out.append(Note._make(e))
            elif e[0] in wanted or (e[3] and not wanted.isdisjoint(e[3])):
                key, start, finish, recs, stimulus_id, when = e
                out.append(Transition(key, start, finish, recs or {}, stimulus_id, when))
        return out

    def emit(self, instruction) -> None:
        self._out.append(instruction)

    def free_keys(self, address: str, keys: list, stimulus_id: str) -> None:
        """Tell worker *address* to forget *keys* (a fresh list: messages of one
        handle() call are merged, see ``messages.merge_free_keys``)."""
        self._frees += 1
        self._out.append(FreeKeys(address, keys, stimulus_id=stimulus_id))

    def next_run_id(self) -> int:
        return next(self._run_ids)

    def task_duration(self, ts) -> float:
        """Expected compute seconds: the average for the prefix, else the default."""
        return self.durations.get(ts.prefix, self.unknown_duration)

    def learn_duration(self, ts, startstops) -> None:
        took = sum(stop - start for action, start, stop in startstops if action == "compute")
        if took > 0:
            old = self.durations.get(ts.prefix)
            self.durations[ts.prefix] = took if old is None else 0.5 * (old + took)

    # --- the driver ----------------------------------------------------------

    def _transitions(self, recs: dict, stimulus_id: str) -> None:
        tasks = self.tasks
        while True:
            while recs:
                key, finish = recs.popitem()
                ts = tasks.get(key)
                if ts is not None:
                    recs.update(self._transition(ts, finish, stimulus_id))
            if not self.queued:
                return
            ws = policies.pick_rootish_worker(self.running.values(), self.saturation)
            if ws is None:
                return
            recs.update(self._transition(self.queued.peek(), "processing", stimulus_id, ws=ws))

    def _transition(self, ts, finish: str, stimulus_id: str, **details) -> dict:
        start = ts.state
        if not details:  # a recommendation: check it still applies
            if start == "released" and finish == "waiting" and not T.needed(ts):
                # wanted when recommended, not any more: only let go of the inputs
                return T.settle_released(self, ts, {})
            resolved = self._resolve(ts, finish)
            if resolved is None:
                return {}
            finish, details = resolved
        func = T.TRANSITIONS.get((start, finish))
        if func is None:
            raise T.InvalidTransition(ts.key, start, finish, self.story(ts.key))
        recs = func(self, ts, stimulus_id, **details)
        self.log.append((ts.key, start, finish, dict(recs) if recs else None, stimulus_id,
                         self.clock()))  # a Transition (None: no recommendations)
        hook = self.publisher.hook
        if hook is not None and (ts.run_id or finish not in self.publisher.quiet):
            try:  # (a listener's bug must not stop the state machine half way)
                hook(ts, start, finish, details, stimulus_id)
            except Exception:
                self.publisher.failed(f"the {start} -> {finish} step of {ts.key!r}")
        if ts.key in self._awaited and finish in ("memory", "erred", "forgotten"):
            self._computation_progress(ts, finish, stimulus_id)
        return recs

    def _resolve(self, ts, finish):
        """``(finish, details)`` to perform for a recommendation, or None to skip."""
        start = ts.state
        if finish == "processing":
            if start == "processing" or (start == "waiting" and ts.waiting_on):
                return None
            ws = policies.choose_worker(ts, self.running.values(), self.queued, self.saturation,
                                        self.bandwidth)  # fmt: skip
            if ws is not None:
                return "processing", {"ws": ws}
            finish = "queued" if policies.queues(ts, self.saturation) else "no-worker"
        if finish == start:
            return None
        if start == "released" and finish == "waiting" and T.erred_dependency(ts) is not None:
            return "erred", {}
        if finish == "erred" and start in ("waiting", "released"):
            return None if T.erred_dependency(ts) is None else ("erred", {})
        if finish == "released" and start == "memory" and ts.who_has and T.needed(ts):
            return None
        if finish == "forgotten" and (ts.dependents or ts.who_wants):
            return None
        return finish, {}

    def _note(self, key, what: str, detail: str, stimulus_id: str) -> None:
        self.log.append((key, what, detail, stimulus_id, self.clock()))  # a Note

    def _publish(self, record, stimulus_id: str) -> None:
        if self.wants(record.kind):
            if self.publisher.holding:  # a worker's rows wait for their reports (publish.py)
                self.publisher.held.append((record, stimulus_id))
                return
            if self.publisher.pending:  # the task rows so far go first: the order holds
                for rows in self.task_state_records():
                    self.emit(Publish(rows, stimulus_id=stimulus_id))
            self.emit(Publish(record, stimulus_id=stimulus_id))

    @handles(TaskRowsReported)
    def _task_rows_reported(self, ev: TaskRowsReported) -> None:
        self.publisher.worker_rows(ev.data, ev.n)

    @handles(UpdateGraph)
    def _update_graph(self, ev: UpdateGraph) -> None:
        sid, client = ev.stimulus_id, self._client(ev.client)
        fresh, lost = policies.admit_graph(ev.tasks, ev.dependencies, ev.keys, self.tasks)
        if lost:
            cancelled = [k for k in ev.keys if k in lost]
            for key in cancelled:
                self._note(key, "lost-dependencies", "an input is unknown to the scheduler", sid)
            self.emit(CancelledKeys(client.name, cancelled, "lost dependencies", stimulus_id=sid))
        generation = next(self._graph_ids)  # earlier graphs first at equal user priority
        graph = f"{client.name}-graph-{generation}"
        new = []
        for key in fresh:
            run_spec = ev.tasks[key]
            user = ev.user_priorities.get(key, ev.user_priority) if ev.user_priorities \
                else ev.user_priority  # fmt: skip
            priority = (-user, generation, ev.priority.get(key, 0))
            ts = SchedTask(key, run_spec, priority, graph)
            ts.retries = int(ev.retries.get(key, 0) or 0)
            if ev.restrictions.get(key):
                ts.worker_restrictions = set(ev.restrictions[key])
                ts.loose_restrictions = key in ev.loose_restrictions
            ts.resource_restrictions = dict(ev.resources[key]) if ev.resources.get(key) else None
            self.tasks[key] = ts
            new.append(ts)
        tasks = self.tasks
        for ts in new:
            dep_keys = ev.dependencies.get(ts.key)
            if not dep_keys:
                continue
            ts.dependencies = {tasks[k] for k in dep_keys}
            for dep in ts.dependencies:
                if dep.dependents is NOTHING:  # (records.NOTHING: no set until needed)
                    dep.dependents = {ts}
                else:
                    dep.dependents.add(ts)
        wanted = [k for k in ev.keys if k not in lost]
        if self.wants(GraphSubmitted.kind):
            prefixes = Counter(map(_PREFIX, new))
            shape = graph_shape(shape_items(new, [tasks[k] for k in wanted if k in tasks]),
                                dep_key=_KEY)  # fmt: skip
            self._publish(GraphSubmitted(graph, self.name, len(new), dict(prefixes), tuple(wanted),
                                         self.clock(), shape), sid)  # fmt: skip
        recs: dict = {}
        # lowest priority first: the driver pops recommendations last-in first-out
        for ts in sorted((self.tasks[k] for k in wanted), key=lambda t: t.priority, reverse=True):
            self._desire(ts, client, recs, sid)
        self._start_computation(graph, client.name, [self.tasks[k] for k in wanted], sid)
        self._transitions(recs, sid)

    @handles(UpdateData)
    def _update_data(self, ev: UpdateData) -> None:
        """Scattered values: each key enters memory on the workers that got it."""
        sid, client, recs = ev.stimulus_id, self._client(ev.client), {}
        for key, addresses in ev.who_has.items():
            holders = [self.workers[a] for a in addresses if a in self.workers]
            ts = self.tasks.get(key)
            if not holders:
                self._note(key, "stale-update-data", f"no live holder among {addresses}", sid)
                continue
            if ts is None:
                ts = self.tasks[key] = SchedTask(key, None, (0,), f"{client.name}-scatter")
            if ts.state == "memory":
                for ws in holders:
                    T.add_replica(ts, ws, int(ev.nbytes.get(key, ts.nbytes)))
            else:
                if ts.erred_on in holders:  # the value replaced the error there: keep it
                    ts.erred_on = None
                if ts.state != "released":  # computing it is moot now: the value is here
                    self._transition(ts, "released", sid)  # its "wait again" advice is moot
                recs.update(self._transition(ts, "memory", sid, who_has=holders,
                                             nbytes=int(ev.nbytes.get(key, 0)),
                                             type=ev.types.get(key, "")))  # fmt: skip
            self._desire(ts, client, recs, sid)
        recs = {k: v for k, v in recs.items() if not (v == "waiting" and k in ev.who_has)}
        self._transitions(recs, sid)

    # --- workers ---------------------------------------------------------------

    def refusal(self, address: str, name: str) -> str | None:
        """Why a worker joining at *address* as *name* is refused, or None: an address or a
        name (other than its address) taken by a worker here.  Names must be unique, as in
        Dask: restrictions, ``retire_workers`` and clusters find workers by name."""
        if address in self.workers:
            return f"{address} already registered"
        if name and name != address:
            for ws in self.workers.values():
                if ws.name == name:
                    return f"the worker name {name!r} is taken by {ws.address}: names must be unique"
        return None

    @handles(AddWorker)
    def _add_worker(self, ev: AddWorker) -> None:
        if ev.address in self.workers:
            self._note(None, "duplicate-worker", ev.address, ev.stimulus_id)
            return
        ws = SchedWorker(ev.address, ev.nthreads, ev.memory_limit, ev.resources, ev.name, ev.nanny)
        ws.last_seen = self.clock()
        self.workers[ws.address] = self.running[ws.address] = ws
        self._publish(WorkerAdded(ws.address, ws.nthreads, ws.memory_limit, ws.name, ws.last_seen),
                      ev.stimulus_id)  # fmt: skip
        self.publisher.worker_added(ws.address)
        self._transitions({ts.key: "processing" for ts in self.unrunnable}, ev.stimulus_id)

    @handles(RemoveWorker)
    def _remove_worker(self, ev: RemoveWorker) -> None:
        sid = ev.stimulus_id
        ws = self.workers.pop(ev.address, None)
        if ws is None:
            self._note(None, "unknown-worker", f"remove-worker {ev.address}", sid)
            return
        self.running.pop(ev.address, None)
        self._publish(WorkerRemoved(ws.address, ev.reason, self.clock()), sid)
        recs: dict = {}
        for ts in list(ws.processing):
            if not ev.safe:
                ts.suspicious += 1
                self._note(ts.key, "suspicious", f"{ts.suspicious} on {ws.address}", sid)
                if ts.suspicious > self.allowed_failures:
                    exc = KilledWorker(ts.key, ws.address, self.allowed_failures, ev.reason)
                    recs.update(self._transition(ts, "erred", sid, ws=ws, exception=exc,
                                                 exception_text=str(exc)))  # fmt: skip
                    continue
            recs.update(self._transition(ts, "released", sid))
        for ts in list(ws.has_what):
            T.remove_replica(ts, ws)
            if not ts.who_has:
                recs[ts.key] = "released"
        self._transitions(recs, sid)

    def _worker_task(self, ev, what: str):
        """``(ws, ts)`` when ``ev.key`` is processing on ``ev.worker`` with this run, else
        note the stale message, free the key on the worker if it is not ours, return None."""
        ws, ts = self.workers.get(ev.worker), self.tasks.get(ev.key)
        if ws is not None and ts is not None and ts.processing_on is ws and ts.run_id == ev.run_id:
            return ws, ts
        state = ts.state if ts is not None else "unknown"
        self._note(ev.key, f"stale-{what}", f"from {ev.worker} run_id={ev.run_id}; task {state}",
                   ev.stimulus_id)  # fmt: skip
        if ws is not None and (ts is None or (ts.processing_on is not ws and ws not in ts.who_has)):
            self.free_keys(ws.address, [ev.key], ev.stimulus_id)
        return None

    @handles(TaskFinished)
    def _task_finished(self, ev: TaskFinished) -> None:
        found = self._worker_task(ev, "task-finished")
        if found is not None:
            ws, ts = found
            recs = self._transition(ts, "memory", ev.stimulus_id, ws=ws, nbytes=int(ev.nbytes or 0),
                                    type=ev.type, startstops=ev.startstops,
                                    thread=ev.thread, reported=ev.reported)  # fmt: skip
            self._transitions(recs, ev.stimulus_id)
        elif ev.reported:  # its row, in its worker's rows, must not go out
            self.publisher.unreported(ev.key)

    @handles(TaskErred)
    def _task_erred(self, ev: TaskErred) -> None:
        found = self._worker_task(ev, "task-erred")
        if found is None:
            return
        ws, ts = found
        if ts.retries > 0:
            ts.retries -= 1
            self._note(ts.key, "retry", f"{ts.retries} retries left", ev.stimulus_id)
            recs = self._transition(ts, "released", ev.stimulus_id)
        else:
            recs = self._transition(ts, "erred", ev.stimulus_id, ws=ws, exception=ev.exception,
                                    traceback=ev.traceback, exception_text=ev.exception_text,
                                    traceback_text=ev.traceback_text,
                                    startstops=ev.startstops, thread=ev.thread or 0)  # fmt: skip
        self._transitions(recs, ev.stimulus_id)

    def _drop_replica(self, key, address: str, what: str, stimulus_id: str) -> None:
        ts, ws = self.tasks.get(key), self.workers.get(address)
        if ts is None or ws is None or ws not in ts.who_has:
            self._note(key, f"stale-{what}", f"{address} does not hold it", stimulus_id)
            return
        T.remove_replica(ts, ws)
        self._note(key, what, address, stimulus_id)
        if not ts.who_has:
            self._transitions({key: "released"}, stimulus_id)

    @handles(AddKeys)
    def _add_keys(self, ev: AddKeys) -> None:
        """A worker holds new replicas (inputs it fetched); unknown or stale ones it frees."""
        ws, stale = self.workers.get(ev.worker), []
        if ws is None:
            self._note(None, "unknown-worker", f"add-keys {ev.worker}", ev.stimulus_id)
            return
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is not None and ts.state == "memory":
                T.add_replica(ts, ws, ts.nbytes)
            else:
                stale.append(key)
        if stale:
            self.free_keys(ws.address, stale, ev.stimulus_id)

    @handles(MissingData)
    def _missing_data(self, ev: MissingData) -> None:
        self._drop_replica(ev.key, ev.errant_worker, "missing-data", ev.stimulus_id)

    @handles(ReleaseWorkerData)
    def _release_worker_data(self, ev: ReleaseWorkerData) -> None:
        self._drop_replica(ev.key, ev.worker, "release-worker-data", ev.stimulus_id)

    @handles(Reschedule)
    def _reschedule(self, ev: Reschedule) -> None:
        ts, ws = self.tasks.get(ev.key), self.workers.get(ev.worker)
        if ts is None or ws is None or ts.processing_on is not ws:
            self._note(ev.key, "stale-reschedule", f"from {ev.worker}", ev.stimulus_id)
            return
        self._transitions(self._transition(ts, "released", ev.stimulus_id), ev.stimulus_id)

    @handles(LongRunning)
    def _long_running(self, ev: LongRunning) -> None:
        """The task's thread seceded: it costs its worker nothing more, and a free slot
        may take a queued task."""
        found = self._worker_task(ev, "long-running")
        if found is None:
            return
        ws, ts = found
        ws.occupancy = max(ws.occupancy - ws.processing[ts], 0.0)
        ws.processing[ts] = 0.0
        ws.long_running.add(ts)
        if ev.compute_duration > 0:
            self.learn_duration(ts, [("compute", 0.0, ev.compute_duration)])
        self._note(ts.key, "long-running", f"on {ws.address} after {ev.compute_duration:.3f} s",
                   ev.stimulus_id)  # fmt: skip
        self._transitions({}, ev.stimulus_id)

    @handles(Heartbeat)
    def _heartbeat(self, ev: Heartbeat) -> None:
        ws = self.workers.get(ev.worker)
        if ws is None:
            self._note(None, "unknown-worker", f"heartbeat {ev.worker}", ev.stimulus_id)
            return
        ws.last_seen = now = self.clock()
        ws.metrics = {k: v for k, v in ev.metrics.items() if k != "profile"}  # trees go to the bus only
        fields = ("managed", "unmanaged", "spilled", "memory_limit", "cpu", "executing", "ready",
                  "paused")  # fmt: skip
        values = {f: ev.metrics[f] for f in fields if f in ev.metrics}
        values["profile"] = tuple(ev.metrics.get("profile") or ())  # (time, tree, {prefix: tree}) or ()
        self._publish(WorkerMetrics(ws.address, now, **values), ev.stimulus_id)

    @handles(WorkerStatusChange)
    def _worker_status_change(self, ev: WorkerStatusChange) -> None:
        """A paused or retiring worker gets no new tasks, and those it has not started go
        elsewhere (asked back as steals without a thief); one running again takes tasks
        anew.  A retiring one stays so (a pause or its end changes nothing)."""
        sid, ws = ev.stimulus_id, self.workers.get(ev.worker)
        if ws is None:
            self._note(None, "unknown-worker", f"worker-status-change {ev.worker}", sid)
            return
        if ev.status not in ("running", "paused", "closing_gracefully"):
            self._note(None, "unknown-status", f"{ws.address} {ev.status!r}", sid)
            return
        if ev.status == ws.status or (ws.status == "closing_gracefully" and not ev.retire_cancelled):
            return
        was_running, ws.status = ws.status == "running", ev.status
        self._note(None, "worker-status-change", f"{ws.address} {ev.status}", sid)
        if ev.status == "running":
            self.running[ws.address] = ws
            self._transitions({ts.key: "processing" for ts in self.unrunnable}, sid)
            return
        if not was_running:  # (paused, now retiring: asked back already)
            return
        del self.running[ws.address]
        if not self.running:  # nowhere else to go: they wait there
            return
        for ts in ws.processing:
            if ts not in ws.long_running and ts.key not in self.in_flight_steals:
                self.in_flight_steals[ts.key] = (ws, None)
                self._note(ts.key, "steal-request", f"{ws.address} {ev.status}", sid)
                self.emit(StealRequest(ws.address, ts.key, stimulus_id=sid))

    # --- work stealing -----------------------------------------------------------

    @handles(Balance)
    def _balance(self, ev: Balance) -> None:
        if not self.work_stealing:
            return
        for ts, victim, thief in policies.steal_candidates(self):
            self.in_flight_steals[ts.key] = (victim, thief)
            move = f"{victim.address} -> {thief.address}"
            self._note(ts.key, "steal-request", move, ev.stimulus_id)
            self.emit(StealRequest(victim.address, ts.key, stimulus_id=ev.stimulus_id))

    @handles(StealResponse)
    def _steal_response(self, ev: StealResponse) -> None:
        sid = ev.stimulus_id
        victim, thief = self.in_flight_steals.pop(ev.key, (None, None))
        ts = self.tasks.get(ev.key)
        stale = ts is None or victim is None or ts.processing_on is not victim
        if stale or victim.address != ev.worker:
            self._note(ev.key, "stale-steal-response", f"from {ev.worker} state={ev.state}", sid)
            return
        if ev.state not in _NOT_STARTED:
            self._note(ev.key, "steal-cancelled", f"{ev.worker} has it {ev.state}", sid)
            return
        if (thief is not None and self.running.get(thief.address) is thief
                and policies.worker_allowed(ts, thief)):  # fmt: skip
            recs = self._transition(ts, "processing", sid, ws=thief)
        else:  # asked back from a paused worker, or the thief left or paused: place it afresh
            recs = self._transition(ts, "released", sid)
        self._transitions(recs, sid)

    # --- invariants --------------------------------------------------------------

    def validate_state(self) -> None:
        """Check every invariant; raise ``AssertionError`` naming the first broken one."""
        T.check_state(self)
        for key, graphs in self._awaited.items():
            assert graphs and all(key in self.computations[g].pending for g in graphs), key
