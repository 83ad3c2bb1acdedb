"""What the dashboard knows: every event record folded into bounded, lock-guarded views.

::

    feed thread (asyncio)                      Bokeh server thread (every session's panes)
    ---------------------                      -------------------------------------------
    ingest(record) --+--> tasks: Buffer (records with startstops)  <-- since(cursor)  task stream
                     +--> book: runs, key states, bytes by prefix, tasks per worker (runs.py)
                     +--> workers, their latest metrics and a short time series
                     +--> exceptions, compute time per prefix and per action
                     +--> profile cycles (time, prefix, tree) and system samples
                                                 <-- snapshot methods (copies, under the lock)

Records arrive from one thread and are read from another, so every mutable view
sits behind one lock, and readers get copies (small: per prefix, per worker),
never live dicts.  The task stream is the exception: it is a
:class:`shoal.bus.Buffer` (with its own lock), and each pane pulls only what
was appended since its cursor.  Every view is bounded (see :class:`Limits`);
``generation`` counts ingested records so a pane can skip an update when
nothing happened.  Records may be :mod:`shoal.events` dataclasses or their
dicts (``{"kind": ..., field: value}``, as the event stream carries them).  A
``{"kind": "resync"}`` record (the source lost records for this reader, or the
feed reconnected) says a fresh snapshot follows: the book and the workers start
over from it, the history stays.

Progress and the per-key views are kept by :class:`shoal.dashboard.runs.TaskBook`.
Profiles: each ``WorkerMetrics.profile`` is split into per-prefix call trees
(forms accepted: :func:`shoal.dashboard.profiles.profile_items`) and kept as
cycles ``(time, prefix, tree)``; a view merges the cycles it needs.  System
metrics come from records whose ``kind`` is ``"system"`` (a dict or an object
with ``time``, ``cpu``, ``memory`` ...: ``shoal.events.SystemMetrics``, which the
scheduler's process publishes, or a local ``Dashboard``'s monitor).  The dashboard
never samples its own process in their place: it is not the scheduler's, and showing
its CPU under the scheduler's name misled.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter, deque

from shoal import config
from shoal.core.keys import key_split, key_str
from shoal.dashboard.profiles import merge_trees, normalize_tree, profile_items, subtract_trees
from shoal.dashboard.runs import TaskBook
from shoal.diagnostics.colors import PrefixColors
from shoal.diagnostics.probe import LOCAL_WORKER
from shoal.distributed.taskcolumns import key_from_wire
from shoal.bus import Buffer
from shoal.events import (
    LOCAL_SCHEDULERS,
    ComputationFinished,
    GraphSubmitted,
    TasksProcessing,
    TasksQueued,
    TaskTransition,
    WorkerAdded,
    WorkerMetrics,
    WorkerRemoved,
    iter_startstops,
    shape_pairs,
)

__all__ = ["DashboardState", "Limits"]

#: Seconds of profile samples merged into one kept tree per prefix (the profile pane's
#: timeline draws and selects whole buckets of this size).
PROFILE_BUCKET = 1.0

#: States of a key whose work is done: the graph's first to give room (see ``graph``).
_DONE_ON_GRAPH = frozenset({"memory", "released", "forgotten"})

log = logging.getLogger("shoal.dashboard")

_RECORDS = {c.kind: (c, frozenset(f.name for f in dataclasses.fields(c)))
            for c in (GraphSubmitted, TaskTransition, TasksProcessing, TasksQueued, ComputationFinished,
                      WorkerAdded, WorkerRemoved, WorkerMetrics)}  # fmt: skip


@dataclasses.dataclass
class Limits:
    """Bounds on everything the dashboard keeps."""

    task_stream: int = 100_000  # task records (with startstops) for the task stream
    keys: int = 1_000_000  # keys followed one by one (states, bytes, placement)
    runs: int = 200  # computations kept for progress
    exceptions: int = 1_000  # rows of the exceptions table
    graph_nodes: int = 5_000  # keys shown on the task graph
    timeseries: int = 1_200  # samples per worker and for the system series
    profile_cycles: int = 2_000  # profile trees kept (one per second and prefix: see PROFILE_BUCKET)
    removed_workers: int = 100
    prefixes: int = 1_000  # task prefixes with compute times kept (the heaviest), and
    #                        about as many in the progress bars' order beyond the kept runs'


class DashboardState:
    """Event records in, bounded views out; see the module docstring."""

    def __init__(self, limits: Limits | None = None, *, info_source=None,
                 **limit_overrides):  # fmt: skip
        self.limits = dataclasses.replace(limits or Limits(), **limit_overrides)
        self.info_source = info_source
        self.tasks = Buffer(self.limits.task_stream)
        self.generation = 0
        self._lock = threading.RLock()
        self._book = TaskBook(self.limits.keys, self.limits.runs, self.limits.prefixes)
        self._shape: dict = {}  # key -> [run, prefix, dependencies, state]: the graph pane's keys
        self._compute: dict = {}  # prefix -> [seconds, tasks, expected seconds of the next]
        #: seconds expected of a task whose prefix never finished (occupancy): the
        #: scheduler's setting, which this process inherits with the live config
        self.unknown_duration = float(config.checked(
            config.duration, "distributed.scheduler.unknown-task-duration"))  # fmt: skip
        self._compute_trim_at = self.limits.prefixes  # (its size that trims it next)
        self._exceptions: dict = {}  # (prefix, text) -> row dict
        #: each prefix's colour in every pane, two shown at once told apart (colors.py)
        self.colors = PrefixColors(in_use=self._prefixes_in_use)
        self.erred = 0  # tasks that raised, all time (the table forgets its oldest rows)
        self._workers: dict = {}  # address -> info dict
        self._series: dict = {}  # address -> deque[(time, managed, unmanaged, spilled, cpu)]
        self._series_kept: dict = {}  # the series of workers before a resync, till re-added
        self._erred_kept: frozenset = frozenset()  # keys erred before a resync (counted)
        self._named: set | None = None  # runs a resync's snapshot named, until its end
        self.resyncs = 0  # times the source lost records for us and sent a fresh snapshot
        self._removed: deque = deque(maxlen=self.limits.removed_workers)
        self._computations: deque = deque(maxlen=self.limits.runs)
        self._profile: deque = deque()  # [time, prefix, tree, taken by a reader], at most
        #                                 limits.profile_cycles
        self._profile_slots: dict = {}  # (second, prefix) -> its entry in _profile
        self._profile_totals: dict = {}  # prefix -> merged tree of the kept cycles
        self.profile_count = 0  # profile cycles ever kept (panes skip work while unchanged)
        self._system: deque = deque(maxlen=self.limits.timeseries)

    # --- ingest -----------------------------------------------------------------

    def ingest(self, record) -> None:
        """Fold one record (an :mod:`shoal.events` record, or a dict with ``kind``)."""
        with self._lock:
            timed: list = []
            if self._fold(record, timed):
                self.generation += 1
            self.tasks.extend(timed)

    def ingest_many(self, records) -> int:
        """Fold a batch under one lock (the event feed's one message); a record that
        cannot be folded is logged and skipped.  Returns how many were folded."""
        done = 0
        timed: list = []  # records for the task stream, added in one go (one lock, not one each)
        with self._lock:
            for record in records:
                try:
                    done += self._fold(record, timed)
                except Exception:  # one odd record must not stop the dashboard
                    log.exception("could not ingest %r", record)
            self.tasks.extend(timed)
            if done:
                self.generation += 1
        return done

    def _fold(self, record, timed: list) -> bool:
        """The body of :meth:`ingest` (the caller holds the lock): a task's record with
        timings also goes to *timed*, for :attr:`tasks`; False for a kind this state
        does not follow."""
        if type(record) is TaskTransition:  # nearly every record (the feed makes objects)
            if record.startstops:
                timed.append(record)
            self._task(record)
            return True
        if isinstance(record, dict):
            kind = record.get("kind")
            known = _RECORDS.get(kind)
            if known is not None:  # fields a newer sender added are ignored
                cls, names = known
                record = cls(**{k: v for k, v in record.items() if k in names})
                if kind == "task" and isinstance(record.key, list):  # a wire without tuples
                    record.key = key_from_wire(record.key)
        else:
            kind = getattr(record, "kind", None)
        if kind == "task":
            if record.startstops:
                timed.append(record)
            self._task(record)
        elif kind == "system":
            self._system_record(record)
        else:
            handler = self._HANDLERS.get(kind)
            if handler is None:
                return False
            handler(self, record)
        return True

    def _graph_submitted(self, r: GraphSubmitted) -> None:
        self._book.graph_submitted(r.run_id, r.scheduler, r.prefixes)
        if self._named is not None:
            self._named.add(r.run_id)
        live, shape, limit = self._book.runs, self._shape, self.limits.graph_nodes
        if any(entry[0] not in live for entry in shape.values()):
            self._shape = shape = {k: e for k, e in shape.items() if e[0] in live}
        pairs = [(key, deps) for key, deps in shape_pairs(r.dependencies) if key not in shape]
        keep = limit - min(len(pairs), limit)  # the newest graph shows: older keys make room
        if len(shape) > keep:
            self._shape = shape = dict(list(shape.items())[len(shape) - keep:]) if keep else {}
        for key, deps in pairs[:limit]:
            shape[key] = [r.run_id, key_split(key), deps, "waiting"]
        for c in self._computations:  # (a reconnected stream's snapshot names it again)
            if c["run_id"] == r.run_id:
                return
        self._computations.append({"run_id": r.run_id, "scheduler": r.scheduler, "ntasks": r.ntasks,
                                   "start": r.time, "stop": None, "status": "running",
                                   "exception": "", "prefixes": dict(r.prefixes)})  # fmt: skip

    def _computation_finished(self, r: ComputationFinished) -> None:
        ended = self._book.computation_finished(r.run_id, r.time, r.status)
        if ended is not None:  # a local run: the graph's left tasks end too
            for entry in self._shape.values():
                if entry[0] == r.run_id and entry[3] in ("processing", "waiting"):
                    entry[3] = ended
        for c in reversed(self._computations):
            if c["run_id"] == r.run_id:
                if c["stop"] is None:  # (a reconnected stream's snapshot says it again)
                    c.update(stop=r.time, status=r.status, exception=r.exception)
                break

    def _task(self, r: TaskTransition) -> None:
        prefix = r.prefix
        if not prefix:  # a key forgotten, named alone: the book knows its prefix
            info = self._book.keys.get(r.key)
            prefix = info[1] if info is not None else key_split(r.key)
        raised = r.finish == "erred" and r.start == "processing"
        if raised and not r.startstops:  # a snapshot's (a live one has timings): counted
            info = self._book.keys.get(r.key)  # unless a later snapshot says it again
            raised = (info is None or info[2] != "erred") and r.key not in self._erred_kept
        self._book.task(r, prefix)
        entry = self._shape.get(r.key)
        if entry is not None:
            entry[3] = r.finish
        startstops = r.startstops
        if startstops:
            first = startstops[0]
            if len(startstops) == 1 and type(first) is tuple:  # nearly every task
                took = self._timed(prefix, *first)
            else:
                took = sum(self._timed(prefix, *triple) for triple in iter_startstops(startstops))
            if took > 0 and r.finish == "memory":  # what the scheduler expects of the next
                acc = self._compute[prefix]  # task of the prefix (its occupancy): the same rule
                acc[2] = took if acc[2] is None else 0.5 * (acc[2] + took)
        if raised:
            self._exception(r, prefix)

    def _timed(self, prefix, action, begin, end) -> float:
        """Count a compute part of a task; its seconds (0 for other actions)."""
        if action != "compute":
            return 0.0
        seconds = end - begin
        acc = self._compute.get(prefix)
        if acc is None:
            if len(self._compute) >= self._compute_trim_at:
                self._trim_compute()
            acc = self._compute[prefix] = [0.0, 0, None]
        acc[0] += seconds
        acc[1] += 1
        return seconds

    def _trim_compute(self) -> None:
        """Keep the compute times of the prefixes still counted (a kept run's, or
        processing: the workers' occupancy needs them) and of those that weigh most, to
        nine tenths of the bound (a session that names keys uniquely made a prefix each:
        one bar and one metric line each, and ever slower refreshes)."""
        counted = self._book.counted_prefixes()
        rest = sorted((item for item in self._compute.items() if item[0] not in counted),
                      key=lambda item: -item[1][0])  # fmt: skip
        room = max(self.limits.prefixes * 9 // 10 - len(counted), 0)
        self._compute = {p: acc for p, acc in self._compute.items() if p in counted}
        self._compute.update(rest[:room])
        # (counted prefixes may be more than the bound: the next trim waits for a tenth more)
        self._compute_trim_at = max(len(self._compute) + self.limits.prefixes // 10 + 1,
                                    self.limits.prefixes)  # fmt: skip

    def _exception(self, r: TaskTransition, prefix) -> None:
        text = r.exception or "(no exception text)"
        row = self._exceptions.get((prefix, text))
        if row is None:
            if len(self._exceptions) >= self.limits.exceptions:
                del self._exceptions[next(iter(self._exceptions))]
            row = self._exceptions[(prefix, text)] = {
                "key": key_str(r.key), "prefix": prefix, "exception": text, "workers": [],
                "count": 0, "time": time.time()}  # fmt: skip
        row["count"] += 1
        self.erred += 1
        if r.worker and r.worker not in row["workers"] and len(row["workers"]) < 20:
            row["workers"].append(r.worker)

    def _worker_added(self, r: WorkerAdded) -> None:
        self._workers[r.worker] = {
            "address": r.worker, "name": r.name or r.worker, "nthreads": r.nthreads,
            "memory_limit": r.memory_limit, "added": r.time, "managed": 0, "unmanaged": 0,
            "spilled": 0, "cpu": 0.0, "executing": 0, "ready": 0, "paused": False,
            "time": r.time}  # fmt: skip
        kept = self._series_kept.pop(r.worker, None)
        self._series[r.worker] = kept if kept is not None else deque(maxlen=self.limits.timeseries)

    def _resync(self, r) -> None:
        """The source lost records for this reader and sends a fresh snapshot next:
        where tasks and workers are starts over from it (a new book, no workers till
        the snapshot names them); what was seen stays (the task stream, compute
        times, exceptions, computations, profiles, a worker's memory history)."""
        old = self._book
        self._book = TaskBook(self.limits.keys, self.limits.runs, self.limits.prefixes)
        self._book.prefix_order.update(old.prefix_order)  # (the bars keep their order)
        self._erred_kept = frozenset(k for k, info in old.keys.items() if info[2] == "erred")
        self._series_kept, self._series = self._series, {}
        self._workers = {}
        for entry in self._shape.values():  # the graph's keys: the snapshot says which are
            entry[3] = "forgotten"
        self._named = set()
        self.resyncs += 1
        log.info("the event source lost %s records for this dashboard: starting over from "
                 "its snapshot", r.get("count", "some"))  # fmt: skip

    def _snapshot_end(self, r) -> None:
        """A resync's snapshot is over: a computation it did not name ended unseen."""
        named, self._named = self._named, None
        if named is None:
            return
        for c in self._computations:
            if c["stop"] is None and c["run_id"] not in named:
                c.update(stop=r.get("time") or time.time(), status="unknown")

    def _worker_removed(self, r: WorkerRemoved) -> None:
        self._workers.pop(r.worker, None)
        self._series.pop(r.worker, None)
        self._book.worker_removed(r.worker)
        self._removed.append({"address": r.worker, "reason": r.reason, "time": r.time})

    def _worker_metrics(self, r: WorkerMetrics) -> None:
        info = self._workers.get(r.worker)
        if info is None:  # metrics before (or without) WorkerAdded
            self._worker_added(WorkerAdded(r.worker, 0, r.memory_limit, "", r.time))
            info = self._workers[r.worker]
        info.update(managed=r.managed, unmanaged=r.unmanaged, spilled=r.spilled, cpu=r.cpu,
                    executing=r.executing, ready=r.ready, paused=bool(r.paused),
                    time=r.time)  # fmt: skip
        if r.memory_limit:
            info["memory_limit"] = r.memory_limit
        self._series[r.worker].append((r.time, r.managed, r.unmanaged, r.spilled, r.cpu))
        for prefix, tree in profile_items(r.profile):
            self._add_profile(r.time, prefix, tree)

    def _add_profile(self, when, prefix, tree) -> None:
        """Keep one cycle, merged into the tree of its second and prefix when there is
        one (every worker sends one per heartbeat: kept apart, 2,000 trees were 20 s of
        two workers running 25 prefixes, while the timeline and its selection count
        whole seconds); running per-prefix totals make the default view cheap.  A kept
        tree that a reader took (``profile(start, stop)`` walks them without the lock)
        is copied before it is merged into, once."""
        slot = (int(when // PROFILE_BUCKET), prefix)
        entry = self._profile_slots.get(slot)
        if entry is not None:
            if entry[3]:  # a reader may be walking it
                entry[2], entry[3] = normalize_tree(entry[2]), False
            merge_trees(entry[2], tree)
        else:
            while self._profile and len(self._profile) >= self.limits.profile_cycles:
                old = self._profile.popleft()
                old_slot = (int(old[0] // PROFILE_BUCKET), old[1])
                if self._profile_slots.get(old_slot) is old:
                    del self._profile_slots[old_slot]
                old_total = self._profile_totals[old[1]]
                subtract_trees(old_total, old[2])
                if old_total["count"] <= 0 and not old_total["children"]:
                    del self._profile_totals[old[1]]
            entry = self._profile_slots[slot] = [when, prefix, tree, False]
            self._profile.append(entry)
        total = self._profile_totals.get(prefix)
        if total is None:
            total = self._profile_totals[prefix] = _empty_tree()
        merge_trees(total, tree)
        self.profile_count += 1

    def _tasks_processing(self, r: TasksProcessing) -> None:
        self._book.tasks_processing(r.run_id, r.prefix, r.worker, r.n)

    def _tasks_queued(self, r: TasksQueued) -> None:
        self._book.tasks_queued(r.run_id, r.prefix, r.n)

    _HANDLERS = {
        "graph-submitted": _graph_submitted, "computation-finished": _computation_finished,
        "tasks-processing": _tasks_processing, "tasks-queued": _tasks_queued,
        "worker-added": _worker_added, "worker-removed": _worker_removed,
        "worker-metrics": _worker_metrics, "resync": _resync, "snapshot-end": _snapshot_end,
    }  # fmt: skip

    # --- system metrics ------------------------------------------------------------

    def _system_record(self, record) -> None:
        get = record.get if isinstance(record, dict) else (lambda k, d=None: getattr(record, k, d))
        sample = {"time": float(get("time", None) or time.time()),
                  "cpu": float(get("cpu", 0.0) or 0.0), "memory": int(get("memory", 0) or 0)}
        for extra in ("read_bytes", "write_bytes", "num_fds"):
            if get(extra, None) is not None:
                sample[extra] = get(extra)
        self._system.append(sample)

    # --- snapshots (copies, safe to use without the lock) --------------------------

    def progress(self) -> dict:
        """``{prefix: {total, memory, erred, processing, queued, waiting, released}}``
        over the kept runs, in the order prefixes first appeared (``queued``: of the
        tasks not started, those in the scheduler's queue)."""
        with self._lock:
            return self._book.progress()

    def workers(self) -> list:
        """One dict per worker (metrics + tasks processing and occupancy)."""
        with self._lock:
            rows = [dict(w) for w in self._workers.values()]
            for row in rows:  # (the means of the prefixes processing only: asked per refresh)
                per = self._processing_on(row["address"])
                row["processing"] = sum(per.values())
                row["occupancy"] = sum(n * self._expected(p) for p, n in per.items())
        return rows

    def _prefixes_in_use(self) -> set:  # (the prefixes the progress bars show)
        with self._lock:
            return self._book.counted_prefixes()

    def _expected(self, prefix) -> float:
        acc = self._compute.get(prefix)
        return acc[2] if acc is not None and acc[2] is not None else self.unknown_duration

    def _processing_on(self, address: str) -> dict:
        """``{prefix: n}`` of the tasks processing on worker *address*; the local
        schedulers' tasks (their records name the scheduler as the worker) run in
        this process, the one worker that the local monitor reports."""
        if address != LOCAL_WORKER:
            return self._book.processing.get(address, {})
        per: Counter = Counter()
        for label in LOCAL_SCHEDULERS:
            per.update(self._book.processing.get(label, ()))
        return per

    def worker_series(self) -> dict:
        with self._lock:
            return {a: list(s) for a, s in self._series.items()}

    def removed_workers(self) -> list:
        with self._lock:
            return list(self._removed)

    def memory_by_prefix(self) -> dict:
        with self._lock:
            return dict(self._book.memory_by_prefix)

    def compute_time(self) -> dict:
        """``{prefix: (seconds, tasks)}`` of compute time, all time (of the
        ``Limits.prefixes`` prefixes that weigh most)."""
        with self._lock:
            return {p: (s, n) for p, (s, n, _) in self._compute.items()}

    def exceptions(self) -> list:
        with self._lock:
            return [dict(r, workers=list(r["workers"])) for r in self._exceptions.values()]

    def computations(self) -> list:
        with self._lock:
            return [dict(c) for c in self._computations]

    def graph_nodes(self) -> list:
        """``[(key text, prefix, state)]`` for at most ``Limits.graph_nodes`` keys."""
        return self.graph()[0]

    def graph(self) -> tuple:
        """``(nodes, edges)``: nodes ``[(key text, prefix, state)]`` -- the keys of the
        live runs' ``GraphSubmitted.dependencies`` (waiting until a record says
        otherwise), then keys known only from their records, newest first -- at most
        ``Limits.graph_nodes``; edges ``[(dependency index, key index)]``.

        The shape of a graph over the bound is its first tasks to run: once they are
        done, the pane showed them for the rest of the run and nothing of what ran.
        Keys known from records get a fifth of the bound when they need it, taken from
        the shape's keys that are done (the first to run first)."""
        with self._lock:
            live, limit = self._book.runs, self.limits.graph_nodes
            shape = [(key, entry) for key, entry in self._shape.items() if entry[0] in live]
            extra = []  # keys known only from their records, newest first
            room = limit if len(shape) < limit else limit // 5  # (all they may get)
            for key, prefix, state in self._book.graph_nodes(limit):
                if len(extra) >= room:
                    break
                if key not in self._shape or self._shape[key][0] not in live:
                    extra.append((key_str(key), prefix, state))
            over = len(shape) + min(len(extra), max(limit - len(shape), limit // 5)) - limit
            if over > 0:  # room for what runs now: the shape's done keys go first
                drop = set()
                for key, entry in shape:
                    if len(drop) >= over:
                        break
                    if entry[3] in _DONE_ON_GRAPH:
                        drop.add(key)
                shape = [(key, entry) for key, entry in shape if key not in drop]
            index = {key: i for i, (key, _) in enumerate(shape)}
            nodes = [(key_str(key), entry[1], entry[3]) for key, entry in shape]
            edges = [(index[d], j) for j, (_, entry) in enumerate(shape) for d in entry[2]
                     if d in index]  # fmt: skip
            nodes += extra[: max(limit - len(nodes), 0)]
            return nodes, edges

    def key_info(self, key) -> dict | None:
        """What the dashboard follows of one key (run, prefix, state, nbytes, worker)."""
        with self._lock:
            return self._book.key_info(key)

    def task_counts(self) -> Counter:
        """Tasks by state, over the kept runs (``new``: submitted, not seen yet)."""
        with self._lock:
            return self._book.task_counts()

    def profile(self, start=None, stop=None, prefix=None) -> dict:
        """Merged profile tree of the kept cycles in ``[start, stop]`` (of one
        *prefix*); a fresh tree the caller may keep."""
        root = _empty_tree()
        with self._lock:
            if start is None and stop is None:  # the running totals: no walk over cycles
                for p, total in self._profile_totals.items():
                    if prefix is None or p == prefix:
                        merge_trees(root, total)
                return root
            trees = []
            for entry in self._profile:
                t, p = entry[0], entry[1]
                if (start is None or t >= start) and (stop is None or t <= stop) and (
                        prefix is None or p == prefix):  # fmt: skip
                    entry[3] = True  # (a merge into it copies it first)
                    trees.append(entry[2])
        for tree in trees:
            merge_trees(root, tree)
        return root

    def profile_activity(self) -> list:
        """``[(time, samples, prefix)]`` per kept profile cycle (for the timeline)."""
        with self._lock:
            return [(t, tree["count"], p) for t, p, tree, _ in self._profile]

    def system(self) -> list:
        with self._lock:
            return [dict(s) for s in self._system]


# --- helpers (pure) -----------------------------------------------------------------


def _empty_tree() -> dict:
    return {"identifier": "root", "name": "all", "filename": "", "count": 0, "children": {}}

