"""The worker state machine: every key a worker knows, and where it stands.

:class:`WorkerState` is pure.  It never runs a task, opens a socket or reads a
clock it was not given; ``handle(*events)`` updates its records and returns
the instructions the server layer must carry out (see ``messages.py``).  All
state changes go through the one transition table in ``transitions.py``.

State layout (a task's ``state`` decides which containers hold it)::

      "compute-task"                          "needed here" (a dependency, a replica)
           |                                        |
           v                                        v
       released --> waiting                     released --> fetch ---GatherDep---> flight
                (waiting_for_data)                   (data_needed[peer])  (in_flight_workers[peer])
                   |          |                         |      ^             |          |
                   v          v              no holder  v      | holders     |          |
                 ready    constrained                 missing -+ found       |          |
             (ready heap) (resources)                (missing)  <------------+          |
                   \\          /                                  peer gone, no holder   |
                    executing   (executing set: nthreads, + short ones queued)          |
                    /        \\                                                          |
                 error      memory  <---------------------------------------------------+
                            (data[key], nbytes_in_memory)

    cancelled: freed while executing/flight; the result is dropped when it comes
    resumed:   cancelled, then wanted again in the *other* role (computed <-> fetched)

Containers and what they hold:

=====================  ==========================================================
tasks                  key -> WorkerTask, every state but forgotten
data                   key -> value for tasks in ``memory`` (injected mapping,
                       e.g. a spill buffer; only this class writes to it)
ready / constrained    priority queues of ``ready`` / ``constrained`` tasks
executing              tasks given to the threads: ``executing``, and ``cancelled``
                       or ``resumed`` tasks whose ``previous`` is ``executing``;
                       at most ``nthreads``, plus short tasks queued for them
                       (see :meth:`WorkerState.may_queue`)
long_running           the same states, for tasks whose thread seceded (left the
                       pool to wait on other tasks, :mod:`.context`): they run on
                       but take no thread's slot; never also in ``executing``
data_needed            peer -> priority queue of ``fetch`` tasks it holds
in_flight_tasks        ``flight`` tasks, and ``cancelled``/``resumed`` whose
                       ``previous`` is ``flight``
in_flight_workers      peer -> keys of the one GatherDep running against it
in_flight_bytes        peer -> estimated bytes of that GatherDep; their sum is
                       ``transfer_incoming_bytes``
missing                tasks in ``missing`` (no known holder)
has_what               peer -> keys it is believed to hold (mirror of who_has)
busy_workers           peers that answered "busy"; skipped until RetryBusyWorker
=====================  ==========================================================

Every transition is logged in a bounded ``log``; :meth:`WorkerState.story`
replays it for chosen keys.  :meth:`WorkerState.validate_state` checks that the
containers above agree with each task's state.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import defaultdict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from shoal import config
from shoal.core.keys import key_split
from shoal.distributed.storylog import PackedLog

from . import messages as m
from .handlers import HANDLERS
from .transitions import PROCESSING_STATES, InvalidTransition, run_transitions, transition
from .validate import validate_worker_state

__all__ = ["WorkerTask", "WorkerState", "InvalidTransition"]

#: Tasks estimated shorter than this (seconds) may queue behind busy threads.
SHORT_TASK = 0.002
#: Estimated work (seconds per thread) given to the threads at most, queued ones included.
QUEUED_WORK = 0.005
#: Tasks queued per thread beyond the one it runs, at most.
QUEUED_PER_THREAD = 16

#: priority of a key nobody gave one to (fetched replicas): after everything else
LOWEST_PRIORITY = (math.inf,)
#: transfer size assumed for a key whose size the scheduler did not say
DEFAULT_NBYTES = 1024

_CONTAINERS = (list, set, frozenset, dict)


@dataclass(slots=True, eq=False, repr=False)
class WorkerTask:
    """Everything a worker knows about one key (identity-hashed)."""

    key: Any
    state: str = "released"
    prefix: str = ""
    graph: str = ""  # the scheduler's graph (run) id it was computed for, for task rows
    run_id: int = -1
    priority: tuple | None = None
    duration: float | None = None
    run_spec: Any = None
    resource_restrictions: dict = field(default_factory=dict)
    dependencies: set = field(default_factory=set)
    dependents: set = field(default_factory=set)
    waiting_for_data: set = field(default_factory=set)
    who_has: set = field(default_factory=set)
    coming_from: str | None = None
    nbytes: int | None = None
    type: Any = None
    #: for cancelled/resumed: the state whose result is still pending
    previous: str | None = None
    #: for resumed: the state to reach once that result is in
    next: str | None = None
    exception: Any = None
    traceback: Any = None
    exception_text: str = ""
    traceback_text: str = ""
    startstops: list = field(default_factory=list)
    thread: int | None = None

    def __post_init__(self) -> None:
        if not self.prefix:
            self.prefix = key_split(self.key)

    def __repr__(self) -> str:
        return f"<WorkerTask {self.key!r} {self.state}>"

    @property
    def sort_priority(self) -> tuple:
        return self.priority if self.priority is not None else LOWEST_PRIORITY

    @property
    def transfer_nbytes(self) -> int:
        return self.nbytes if self.nbytes is not None else DEFAULT_NBYTES


class TaskQueue:
    """Tasks by priority: push O(log n), discard O(1), re-push reprioritises.

    Discarded or re-pushed entries stay in the heap as stale entries and are
    skipped on the way out; the heap is rebuilt when they outnumber live ones.
    """

    __slots__ = ("_heap", "_live", "_seq")

    def __init__(self) -> None:
        self._heap: list = []
        self._live: dict = {}  # task -> sequence number of its live heap entry
        self._seq = itertools.count()

    def push(self, ts: WorkerTask) -> None:
        seq = next(self._seq)
        self._live[ts] = seq
        heapq.heappush(self._heap, (ts.sort_priority, seq, ts))

    def discard(self, ts: WorkerTask) -> None:
        if self._live.pop(ts, None) is not None and len(self._heap) > 2 * len(self._live) + 64:
            self._heap = [e for e in self._heap if self._live.get(e[2]) == e[1]]
            heapq.heapify(self._heap)

    def peek(self) -> WorkerTask | None:
        heap = self._heap
        while heap and self._live.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)
        return heap[0][2] if heap else None

    def pop(self) -> WorkerTask:
        ts = self.peek()
        if ts is None:
            raise IndexError("pop from an empty TaskQueue")
        heapq.heappop(self._heap)
        del self._live[ts]
        return ts

    def __contains__(self, ts: object) -> bool:
        return ts in self._live

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self):
        return iter(self._live)


class WorkerState:
    """The pure state of one worker; see the module docstring for the layout.

    Parameters default to ``distributed.worker.*`` config.  ``clock`` stamps
    log entries (inject a fake one in tests); ``validate=True`` runs
    :meth:`validate_state` after every :meth:`handle`.
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        nthreads: int = 1,
        data: MutableMapping | None = None,
        resources: dict | None = None,
        transfer_message_bytes_limit: int | str | None = None,
        transfer_max_bytes: int | str | None = None,
        outgoing_connections: int | None = None,
        log_length: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        validate: bool = False,
    ) -> None:
        def conf(value, key, read=config.count):  # (a bad setting: a ValueError naming it)
            return config.checked(read, f"distributed.worker.{key}", value)

        self.address = address
        self.nthreads = nthreads
        self.data = {} if data is None else data
        self.clock = clock
        self.validate = validate
        self.transfer_message_bytes_limit = conf(
            transfer_message_bytes_limit, "transfer.message-bytes-limit", config.size
        )
        self.transfer_max_bytes = conf(transfer_max_bytes, "transfer.max-bytes", config.size)
        self.outgoing_connections = conf(outgoing_connections, "connections.outgoing")

        self.tasks: dict[Any, WorkerTask] = {}
        self.ready = TaskQueue()
        self.constrained = TaskQueue()
        self.executing: set[WorkerTask] = set()
        self.long_running: set[WorkerTask] = set()
        self.data_needed: dict[str, TaskQueue] = {}
        self.in_flight_tasks: set[WorkerTask] = set()
        self.in_flight_workers: dict[str, set] = {}
        self.in_flight_bytes: dict[str, int] = {}
        self.transfer_incoming_bytes = 0
        self.missing: set[WorkerTask] = set()
        self.has_what: defaultdict[str, set] = defaultdict(set)
        self.busy_workers: set[str] = set()
        self.total_resources = dict(resources or {})
        self.available_resources = dict(self.total_resources)
        self.nbytes_in_memory = 0
        self.paused = False

        length = conf(log_length, "transition-log-length")
        self.log = PackedLog(length)  # transitions and notes, for story()
        self.on_transition = None  # (key, start, finish) -> None: worker plugins' (plugins.py)
        self.stimulus_log = PackedLog(length)  # event log entries (no payloads): stimuli()

    def __repr__(self) -> str:
        counts = defaultdict(int)
        for ts in self.tasks.values():
            counts[ts.state] += 1
        inner = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        return f"<WorkerState {self.address!r} {{{inner}}}{' paused' if self.paused else ''}>"

    # ---------------------------------------------------------------- entry point

    def handle(self, *events: m.WorkerEvent) -> list[m.Instruction]:
        """Apply events in order; return the instructions they call for."""
        instructions: list[m.Instruction] = []
        for ev in events:
            self.stimulus_log.append(ev.log_entry())  # no payload: see messages.py
            handler = HANDLERS.get(type(ev))
            if handler is None:
                raise TypeError(f"WorkerState cannot handle {type(ev).__name__}")
            recs, instr = handler(self, ev)
            instructions += instr
            instructions += run_transitions(self, recs, stimulus_id=ev.stimulus_id)
            instructions += self._ensure_progress(ev.stimulus_id)
        if self.validate:
            self.validate_state()
        return instructions

    def _ensure_progress(self, stimulus_id: str) -> list:
        out = self._ensure_communicating(stimulus_id)
        out += self._ensure_computing(stimulus_id)
        return out

    # ---------------------------------------------------------------- compute

    def _ensure_computing(self, stimulus_id: str) -> list:
        """Move ready/constrained tasks to executing while threads are free
        (or, for short tasks, while :meth:`may_queue` allows)."""
        out: list = []
        while not self.paused:
            ts = self._next_to_execute()
            if ts is None or (len(self.executing) >= self.nthreads and not self.may_queue(ts)):
                break
            recs, instr = transition(self, ts, "executing", stimulus_id=stimulus_id)
            out += instr
            out += run_transitions(self, recs, stimulus_id=stimulus_id)
        return out

    def may_queue(self, ts: WorkerTask) -> bool:
        """May ``ts`` wait for a busy thread in the threads' own queue?

        Handing a task to a thread and hearing back costs two thread wake-ups
        (~0.1-0.2 ms); a thread that finds its next task already queued pays
        neither.  Only tasks estimated under :data:`SHORT_TASK` qualify, and
        only while everything given to the threads adds up to at most
        :data:`QUEUED_WORK` per thread (so a task arriving with a higher
        priority waits at most that long) and :data:`QUEUED_PER_THREAD` tasks.
        """
        d = ts.duration
        if d is None or d > SHORT_TASK or ts.resource_restrictions:
            return False
        if len(self.executing) >= (1 + QUEUED_PER_THREAD) * self.nthreads:
            return False
        work = d
        for other in self.executing:
            work += other.duration if other.duration is not None else math.inf
        return work <= QUEUED_WORK * self.nthreads

    def _next_to_execute(self) -> WorkerTask | None:
        # the constrained queue is served head-of-line: its best task waits for
        # resources rather than being overtaken by a lower-priority one
        ready, cons = self.ready.peek(), self.constrained.peek()
        if cons is not None and not self.resources_fit(cons):
            cons = None
        if ready is None or cons is None:
            return ready or cons
        return cons if cons.sort_priority < ready.sort_priority else ready

    def resources_fit(self, ts: WorkerTask) -> bool:
        avail = self.available_resources
        return all(avail.get(r, 0) >= n for r, n in ts.resource_restrictions.items())

    # ---------------------------------------------------------------- transfers

    def _ensure_communicating(self, stimulus_id: str) -> list:
        """Start GatherDeps: one per peer, batched, within connection and byte budgets.

        While paused only a trickle goes on: one key at a time, and only when
        nothing else is in flight, so that a paused worker keeps moving
        without filling its memory.
        """
        out: list = []
        while self.data_needed and len(self.in_flight_workers) < self.outgoing_connections:
            if self.in_flight_workers and (
                self.paused or self.transfer_incoming_bytes >= self.transfer_max_bytes
            ):
                break
            worker = self._pick_peer()
            if worker is None:
                break
            batch = self._fill_batch(worker)
            total = sum(ts.transfer_nbytes for ts in batch)
            for ts in batch:
                recs, instr = transition(self, ts, "flight", worker, stimulus_id=stimulus_id)
                out += instr
                out += run_transitions(self, recs, stimulus_id=stimulus_id)
            keys = [ts.key for ts in batch]
            self.in_flight_workers[worker] = set(keys)
            self.in_flight_bytes[worker] = total
            self.transfer_incoming_bytes += total
            self.log.append((worker, "gather-dep", keys, total, stimulus_id, self.clock()))
            out.append(
                m.GatherDep(worker=worker, keys=keys, total_nbytes=total, stimulus_id=stimulus_id)
            )
        return out

    def _pick_peer(self) -> str | None:
        """The available peer whose most urgent fetch task is the most urgent."""
        best, best_prio = None, None
        for worker, queue in self.data_needed.items():
            if worker in self.in_flight_workers or worker in self.busy_workers:
                continue
            top = queue.peek()
            if top is not None and (best_prio is None or (top.sort_priority, worker) < best_prio):
                best, best_prio = worker, (top.sort_priority, worker)
        return best

    def _fill_batch(self, worker: str) -> list[WorkerTask]:
        """Pop keys held by ``worker`` in priority order up to the byte limits."""
        queue = self.data_needed[worker]
        room = min(
            self.transfer_message_bytes_limit,
            self.transfer_max_bytes - self.transfer_incoming_bytes,
        )
        batch, total = [], 0
        while queue:
            ts = queue.peek()
            if batch and (self.paused or total + ts.transfer_nbytes > room):
                break
            queue.pop()
            batch.append(ts)
            total += ts.transfer_nbytes
        return batch

    # ---------------------------------------------------------------- holders

    def add_holders(self, ts: WorkerTask, workers) -> None:
        for w in workers:
            if w == self.address or w in ts.who_has:
                continue
            ts.who_has.add(w)
            self.has_what[w].add(ts.key)
            if ts.state == "fetch":
                self.queue_fetch(w, ts)

    def queue_fetch(self, worker: str, ts: WorkerTask) -> None:
        queue = self.data_needed.get(worker)
        if queue is None:
            queue = self.data_needed[worker] = TaskQueue()
        queue.push(ts)

    def remove_holder(self, ts: WorkerTask, worker: str) -> None:
        if worker not in ts.who_has:
            return
        ts.who_has.discard(worker)
        keys = self.has_what.get(worker)
        if keys is not None:
            keys.discard(ts.key)
            if not keys:
                del self.has_what[worker]
        queue = self.data_needed.get(worker)
        if queue is not None:
            queue.discard(ts)
            if not queue:
                del self.data_needed[worker]

    def set_priority(self, ts: WorkerTask, priority: tuple | None) -> None:
        """Raise ``ts``'s priority to ``priority`` if that is more urgent."""
        if priority is None or (ts.priority is not None and ts.priority <= priority):
            return
        ts.priority = priority
        queues = [self.data_needed.get(w) for w in ts.who_has] + [self.ready, self.constrained]
        for queue in queues:
            if queue is not None and ts in queue:
                queue.push(ts)

    def ensure_task(self, key: Any) -> WorkerTask:
        ts = self.tasks.get(key)
        if ts is None:
            ts = self.tasks[key] = WorkerTask(key)
        return ts

    # ---------------------------------------------------------------- story

    def story(self, *keys_or_workers: Any) -> list[tuple]:
        """Log entries that mention any of the keys (or peer addresses), oldest first.

        Transition entries are ``(key, start, finish, {key: recommendation}, stimulus_id, time)``.
        """
        wanted = set(keys_or_workers)

        def mentions(part: Any) -> bool:
            try:
                if part in wanted:
                    return True
            except TypeError:
                pass
            if isinstance(part, _CONTAINERS):
                return any(mentions(p) for p in part)
            return False

        return [entry for entry in self.log if any(mentions(p) for p in entry)]

    def stimuli(self) -> list[m.WorkerEvent]:
        """The events handled lately, oldest first, without their payloads."""
        return [m.from_log_entry(entry) for entry in self.stimulus_log]

    def stimulus_story(self, *keys: Any) -> list[m.WorkerEvent]:
        """Events whose fields mention any of ``keys``."""
        wanted = set(keys)
        out = []
        for ev in self.stimuli():
            d = ev.to_dict()
            found = [d.get("key"), d.get("worker")] + list(d.get("keys") or ())
            found += list(d.get("who_has") or ()) + list(d.get("data_nbytes") or ())
            found += list(d.get("errors") or ())  # (a transfer's keys that could not move)
            if any(k in wanted for k in found if k is not None):
                out.append(ev)
        return out

    # ---------------------------------------------------------------- invariants

    def validate_state(self) -> None:
        """Raise AssertionError if the containers disagree with the task states."""
        validate_worker_state(self)

    @property
    def processing(self) -> set[WorkerTask]:
        """Tasks this worker will compute or is computing (for heartbeat metrics)."""
        return {ts for ts in self.tasks.values() if ts.state in PROCESSING_STATES}
