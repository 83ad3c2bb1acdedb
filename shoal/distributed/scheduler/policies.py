"""Placement and balancing policies: pure functions of the scheduler's records.

Nothing here changes state; :mod:`.state` and :mod:`.transitions` call these to
*choose*, then make the change themselves.  Three decisions live here:

**Where a task runs** (:func:`decide_worker`).  Every worker allowed to run the
task (its worker restrictions, loose or strict, and its resource needs; see
:func:`valid_workers`) is scored by the estimated time at which the task could
start there::

    start = occupancy / nthreads            the queue already on the worker
          + bytes of inputs not yet there / bandwidth      the transfers

and the lowest score wins; ties go to the less occupied worker, then to the one
holding less data, then to the lower address (so choices are reproducible).
On a quiet cluster the worker holding most input bytes wins, because the others
would have to fetch them; on a busy one an idle worker wins when its transfers
cost less than the wait.  With many workers only those holding inputs are
scored (data locality; stealing evens the load later).

**Root-task queuing** (:func:`is_rootish`, :func:`free_slots`,
:func:`pick_rootish_worker`, :class:`TaskQueue`).  Tasks without inputs can
all start at once, and a graph with a thousand of them would flood the workers
with results that then wait for their consumers.  With ``worker-saturation``
``s`` (config ``distributed.scheduler.worker-saturation``, default 1.1) a
worker takes a root task only while it has fewer than ``ceil(nthreads * s)``
tasks processing; the other root tasks wait in the scheduler's ``queued``
state, in priority order, and are released one by one as slots free up.
``s = inf`` turns queuing off.

**Work stealing** (:func:`steal_candidates`).  Workers with more tasks than
threads are victims, workers with idle threads are thieves.  From the busiest
victim down, its lowest-priority tasks (the least likely to have started) move
to the least occupied thief allowed to run them, but only when the transfer of
their inputs to the thief costs little compared with their expected duration
and the move makes the task start sooner.

Three graph walks that decide *which* tasks an event touches live here too:
:func:`admit_graph` (the keys of an update-graph worth creating, and those
whose inputs are lost), :func:`cancel_scope` and :func:`retry_roots`.
"""

from __future__ import annotations

import heapq
import itertools
import math

__all__ = [
    "TaskQueue", "admit_graph", "cancel_scope", "choose_worker", "decide_worker", "free_slots",
    "is_rootish", "pick_rootish_worker", "queues", "retry_roots", "saturation", "steal_candidates",
    "tasks_running", "transfer_time", "valid_workers", "worker_allowed", "worker_objective",
]  # fmt: skip

#: With more valid workers than this, only those holding inputs are scored.
MAX_SCORED_WORKERS = 32


def worker_allowed(ts, ws) -> bool:
    """True when ``ws`` meets ``ts``'s strict restrictions (names and resources)."""
    restrict = ts.worker_restrictions
    if restrict and not ts.loose_restrictions:
        if ws.address not in restrict and ws.name not in restrict:
            return False
    need = ts.resource_restrictions
    if need:
        have = ws.resources
        return all(have.get(name, 0) >= amount for name, amount in need.items())
    return True


def valid_workers(ts, workers) -> list:
    """Workers that may run ``ts``, in the order given.

    Worker restrictions name addresses or worker names.  With loose
    restrictions a task falls back to any worker when none of the named ones
    is present; resource needs (the total a worker supplies) always hold.
    """
    pool = list(workers)
    need = ts.resource_restrictions
    if need:
        pool = [
            ws
            for ws in pool
            if all(ws.resources.get(name, 0) >= amount for name, amount in need.items())
        ]
    restrict = ts.worker_restrictions
    if restrict:
        named = [ws for ws in pool if ws.address in restrict or ws.name in restrict]
        if named or not ts.loose_restrictions:
            pool = named
    return pool


def transfer_time(ts, ws, bandwidth: float) -> float:
    """Seconds to copy to ``ws`` the inputs of ``ts`` it does not hold yet."""
    missing = 0
    for dep in ts.dependencies:
        if ws not in dep.who_has:
            missing += max(dep.nbytes, 0)
    return missing / bandwidth


def worker_objective(ts, ws, bandwidth: float) -> tuple:
    """Sort key for placing ``ts`` on ``ws``: lower is better (see module doc)."""
    stack = ws.occupancy / ws.nthreads
    return (stack + transfer_time(ts, ws, bandwidth), stack, ws.nbytes, ws.address)


def decide_worker(ts, workers, *, bandwidth: float):
    """The best worker for ``ts`` among ``workers``, or None when none is allowed.

    >>> from shoal.distributed.scheduler.state import SchedTask, SchedWorker
    >>> a, b = SchedWorker("a"), SchedWorker("b")
    >>> dep, ts = SchedTask("dep", None), SchedTask("ts", None)
    >>> ts.dependencies = {dep}; dep.who_has.add(b); dep.nbytes = 10**9
    >>> decide_worker(ts, [a, b], bandwidth=100e6).address   # b holds the input
    'b'
    >>> b.occupancy = 60.0   # a minute of queued work: fetching 1 GB is faster
    >>> decide_worker(ts, [a, b], bandwidth=100e6).address
    'a'
    """
    pool = valid_workers(ts, workers)
    if not pool:
        return None
    if len(pool) > MAX_SCORED_WORKERS and ts.dependencies:
        allowed = set(map(id, pool))
        holders = {ws for dep in ts.dependencies for ws in dep.who_has if id(ws) in allowed}
        if holders:
            pool = holders
    return min(pool, key=lambda ws: worker_objective(ts, ws, bandwidth))


def choose_worker(ts, workers, queue, saturation: float, bandwidth: float):
    """Where a ready task goes now, or None: it then waits ``queued`` (a root
    task while queuing is on) or ``no-worker`` (nobody may run it).

    A root task takes a free slot only if no queued task comes before it.
    """
    if queues(ts, saturation):
        first = queue.peek()
        if first is not None and first.priority < ts.priority:
            return None
        return pick_rootish_worker(workers, saturation)
    return decide_worker(ts, workers, bandwidth=bandwidth)


def admit_graph(tasks: dict, dependencies: dict, wanted, known) -> tuple:
    """``(new, lost)`` for an update-graph: the keys to create and the lost ones.

    Only keys the wanted ones need, and that the scheduler does not ``know``
    yet, are created.  A key is *lost* when it is neither in the graph nor
    known, or (transitively) needs such a key.

    >>> new, lost = admit_graph({"y": 1, "z": 2, "ok": 3, "unused": 4},
    ...                         {"y": ["gone"], "z": ["y"]}, ["z", "ok"], {})
    >>> new, sorted(lost)
    (['ok'], ['gone', 'y', 'z'])
    """
    def fresh(key):
        return key in tasks and key not in known

    needed, stack = set(), [k for k in wanted if fresh(k)]
    while stack:  # what the wanted keys need, down to keys already known
        key = stack.pop()
        if key not in needed:
            needed.add(key)
            stack.extend(d for d in dependencies.get(key, ()) if fresh(d))
    missing = {d for k in needed for d in dependencies.get(k, ()) if d not in tasks}
    missing |= {k for k in wanted if k not in tasks}
    missing = {k for k in missing if k not in known}
    lost, stack = set(missing), list(missing)
    dependents: dict = {}
    for key in needed if missing else ():
        for d in dependencies.get(key, ()):
            dependents.setdefault(d, []).append(key)
    while stack:  # and everything above a missing key
        for key in dependents.get(stack.pop(), ()):
            if key not in lost:
                lost.add(key)
                stack.append(key)
    return [k for k in tasks if k in needed and k not in lost], lost


def cancel_scope(tasks, client, force: bool) -> list:
    """``[(task, clients to drop, whole), ...]`` for cancelling ``tasks``.

    A task is cancelled *whole* when ``force`` is set or no client but
    ``client`` wants it: every client's wish is dropped and its dependents are
    cancelled in turn.  Otherwise only ``client``'s wish goes.
    """
    out, seen, stack = [], set(), list(tasks)
    while stack:
        ts = stack.pop()
        if ts in seen:
            continue
        seen.add(ts)
        whole = force or ts.who_wants <= {client}
        if whole:
            stack.extend(ts.dependents)
        out.append((ts, list(ts.who_wants) if whole else [c for c in ts.who_wants if c is client],
                    whole))  # fmt: skip
    return out


def retry_roots(tasks) -> list:
    """The erred tasks behind erred ``tasks``: those whose own inputs did not err."""
    roots, seen, stack = [], set(), list(tasks)
    while stack:
        ts = stack.pop()
        if ts in seen:
            continue
        seen.add(ts)
        erred = [d for d in ts.dependencies if d.state == "erred"]
        if erred:
            stack.extend(erred)
        else:
            roots.append(ts)
    return roots


# --- root-task queuing ---------------------------------------------------------


def saturation(value) -> float:
    """``distributed.scheduler.worker-saturation`` as a number > 0 (``inf``: no queuing)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0:
        raise ValueError("distributed.scheduler.worker-saturation must be a number > 0, or "
                         f"inf to send every task to the workers at once; got {value!r}")
    return number


def queues(ts, saturation: float) -> bool:
    """True when ``ts`` goes through root-task queuing."""
    return not math.isinf(saturation) and is_rootish(ts)


def is_rootish(ts) -> bool:
    """A task with no inputs and no restrictions: the kind that floods workers."""
    return not ts.dependencies and not ts.worker_restrictions and not ts.resource_restrictions


#: Short tasks: a worker may hold more queued-root tasks than ``nthreads * saturation``
#: while the work it has been given is estimated under this many seconds per thread,
#: so tasks of a few microseconds travel in batches instead of one round trip each.
SHORT_WORK_WINDOW = 0.005
#: ... but never more than this many tasks processing per thread.
SHORT_WORK_MAX_PER_THREAD = 250


def tasks_running(ws) -> int:
    """The tasks processing on ``ws`` that take one of its threads (not the seceded ones)."""
    return len(ws.processing) - len(ws.long_running)


def free_slots(ws, saturation: float) -> float:
    """Root tasks ``ws`` may still take: ``ceil(nthreads * saturation)`` minus
    the tasks processing there (``inf`` when queuing is off), or one more while
    the estimated work there is under :data:`SHORT_WORK_WINDOW` per thread.

    Long-running tasks (seceded: see ``worker/context.py``) take no slot.

    >>> from types import SimpleNamespace as NS
    >>> free_slots(NS(nthreads=4, processing={1: 0, 2: 0}, long_running=set(), occupancy=2.0), 1.1)
    3
    >>> free_slots(NS(nthreads=1, processing={1: 0, 2: 0}, long_running=set(), occupancy=0.0002), 1.1)
    1
    """
    if math.isinf(saturation):
        return math.inf
    running = tasks_running(ws)
    slots = max(math.ceil(ws.nthreads * saturation), 1) - running
    if (slots <= 0 and ws.occupancy < SHORT_WORK_WINDOW * ws.nthreads
            and running < SHORT_WORK_MAX_PER_THREAD * ws.nthreads):  # fmt: skip
        return 1
    return slots


def pick_rootish_worker(workers, saturation: float):
    """The least busy worker with a free root-task slot, or None."""
    best, best_key = None, None
    for ws in workers:
        if free_slots(ws, saturation) <= 0:
            continue
        key = (tasks_running(ws) / ws.nthreads, ws.occupancy / ws.nthreads, ws.address)
        if best_key is None or key < best_key:
            best, best_key = ws, key
    return best


class TaskQueue:
    """Queued tasks in priority order (lowest ``ts.priority`` first).

    A heap with lazy deletion: ``discard`` forgets membership at once and the
    stale heap entry is dropped when it reaches the top (or at compaction).

    It also counts its tasks per graph and prefix (``counts``: a dashboard's queued
    tasks, which are never reported one by one) and, while ``tracking`` (someone
    watches), which of those counts changed since :meth:`take_changes`.

    >>> from shoal.distributed.scheduler.state import SchedTask
    >>> q = TaskQueue()
    >>> a, b, c = (SchedTask(k, None, (0, p)) for k, p in [("a", 2), ("b", 1), ("c", 3)])
    >>> for t in (a, b, c): q.add(t)
    >>> q.discard(b)
    >>> [q.pop().key for _ in range(len(q))]
    ['a', 'c']
    """

    def __init__(self):
        self._heap: list = []
        self._members: dict = {}  # task -> sequence number of its live entry
        self._seq = itertools.count()
        self.counts: dict = {}  # (graph, prefix) -> tasks queued
        self.tracking = False
        self._changed: set = set()  # (graph, prefix) whose count changed, while tracking

    def add(self, ts) -> None:
        seq = next(self._seq)
        if ts not in self._members:
            group = (ts.graph, ts.prefix)
            self.counts[group] = self.counts.get(group, 0) + 1
            if self.tracking:
                self._changed.add(group)
        self._members[ts] = seq
        heapq.heappush(self._heap, (ts.priority, seq, ts))

    def discard(self, ts) -> None:
        gone = self._members.pop(ts, None) is not None
        if not gone:
            return
        group = (ts.graph, ts.prefix)
        n = self.counts[group] - 1
        if n:
            self.counts[group] = n
        else:
            del self.counts[group]
        if self.tracking:
            self._changed.add(group)
        if len(self._heap) > 2 * len(self._members) + 64:  # compact
            self._heap = [e for e in self._heap if self._members.get(e[2]) == e[1]]
            heapq.heapify(self._heap)

    def track(self, on: bool) -> None:
        """Note which counts change from now on (when *on* starts it, all of them
        count as changed: a new watcher is told every one)."""
        if on and not self.tracking:
            self._changed = set(self.counts)
        elif not on:
            self._changed = set()
        self.tracking = on

    def take_changes(self) -> list:
        """``[(graph, prefix, n), ...]`` of the counts changed since the last call (0 for
        a group whose tasks all left), while tracking."""
        changed, self._changed = self._changed, set()
        counts = self.counts
        return [(graph, prefix, counts.get((graph, prefix), 0)) for graph, prefix in changed]

    def peek(self):
        heap, members = self._heap, self._members
        while heap and members.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)
        return heap[0][2] if heap else None

    def pop(self):
        ts = self.peek()
        if ts is None:
            raise IndexError("pop from an empty TaskQueue")
        self.discard(ts)
        return ts

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, ts) -> bool:
        return ts in self._members

    def __iter__(self):
        return iter(list(self._members))


# --- work stealing ---------------------------------------------------------------


def steal_candidates(state, *, max_transfer_ratio: float = 0.5) -> list:
    """``[(task, victim, thief), ...]`` moves that would balance the load.

    Reads ``state.workers``, ``state.bandwidth``, ``state.in_flight_steals``
    and ``state.task_duration(ts)``; see the module docstring for the rule.
    A task is a candidate only if moving its inputs costs at most
    ``max_transfer_ratio`` times its expected duration.
    """
    workers = list(state.workers.values())
    occupancy = {ws: ws.occupancy for ws in workers}
    count = {ws: tasks_running(ws) for ws in workers}
    thieves = [ws for ws in workers if count[ws] < ws.nthreads and ws.status == "running"]
    victims = [ws for ws in workers if count[ws] > ws.nthreads]
    if not thieves or not victims:
        return []
    victims.sort(key=lambda ws: (-occupancy[ws] / ws.nthreads, ws.address))
    moves = []
    for victim in victims:
        # lowest priority first: the tasks most likely still waiting on the worker
        for ts in sorted(victim.processing, key=lambda t: t.priority, reverse=True):
            if count[victim] <= victim.nthreads:
                break
            if ts.key in state.in_flight_steals or ts in victim.long_running:
                continue
            duration = state.task_duration(ts)
            thief = _best_thief(ts, victim, thieves, occupancy, count, duration, state.bandwidth,
                                max_transfer_ratio)  # fmt: skip
            if thief is None:
                continue
            moves.append((ts, victim, thief))
            occupancy[victim] -= duration
            occupancy[thief] += duration
            count[victim] -= 1
            count[thief] += 1
    return moves


def _best_thief(ts, victim, thieves, occupancy, count, duration, bandwidth, max_ratio):
    wait_here = occupancy[victim] / victim.nthreads
    best, best_start = None, None
    for thief in thieves:
        if count[thief] >= thief.nthreads or not worker_allowed(ts, thief):
            continue
        transfer = transfer_time(ts, thief, bandwidth)
        if transfer > duration * max_ratio:
            continue
        start = occupancy[thief] / thief.nthreads + transfer
        if start + duration >= wait_here:  # no gain: it would start later there
            continue
        if best_start is None or (start, thief.address) < (best_start, best.address):
            best, best_start = thief, start
    return best
