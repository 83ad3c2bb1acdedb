"""What the scheduler tells its bus about tasks: every step, or each key's state in bulk.

::

    SchedulerState._transition(ts, start, finish) --> TaskPublisher.hook(), None when unwatched
        "task" wanted (plugins):   a TaskTransition per transition, at once
        TASK_STATES wanted (a dashboard), whether or not "task" is:
            into memory, reported     -> its pending change ended (the row is in its
                                         worker's rows, staged before: see below)
            with timings or an error  -> a row tuple appended      (kept in order)
            forgotten                 -> its key and the row count so far (the reader
                                         was told of it; else a whole row: its graph
                                         counted it as waiting)
            released, forgotten next  -> nothing (the forgotten step says it)
            any other                 -> changed.setdefault(key, start)
                                         (not for a key that never ran and still waits)
            from processing, a key a reader knows only from a count (see below), not
            into memory or erred there -> first a row naming it processing on the
                                         worker it leaves (stolen, its worker gone)
    every events interval (Scheduler), and before any other record the state publishes
        --> TaskPublisher.flush(): TaskRows.from_rows(those + one per changed key,
                                   but PROCESSING_COUNT_FROM+ keys new to the reader on
                                   one worker, processing: one count per run and prefix;
                                   and the queue's counts per run and prefix that changed)
    a hook or a flush that raises --> TaskPublisher.failed(): logged, pending rows dropped;
                                   the state machine goes on
    TASK_STATES wanted: workers asked for their rows (ReportTaskRows, from begin());
    a worker's batch: TaskRowsReported first --> worker_rows(): staged (PackedTaskRows)
        after what is pending, which closes a TaskRows of its own; ``holding`` until the
        handle() call ends: the state's other records wait (held / release())
    a stale report whose row came --> unreported(): at release(), that row taken out
                                      (unpacked and packed again: rare)

Why workers make the rows of the tasks they computed: see ``worker/taskrows.py``
(about 1.4 us of a listener's ~5 us per task on the scheduler's loop were that row).
Their rows come first in the worker's batch, so a key's later steps in the same call
(released when its dependent finished) follow them; nothing is flushed before the call
ends, so no stale ``processing`` of a key can follow its worker's ``memory``.

A dashboard shows where each key *is*.  A 10,000-task map goes through some six
transitions per task; a record object per transition, each passed through the
bus, buffered, coalesced and encoded, cost the scheduler's loop a fifth of its
time.  Now a transition costs one ``setdefault``, or for one that ran or is forgotten,
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

A forgotten key the reader knows needs no run, prefix or states: its key alone
(``TaskRows`` columns ``forgotten`` / ``forgotten-at``) spares half of the rows of
a finished map, and with them about a third of what a listener cost the
scheduler's loop.

Whether anyone listens is asked once per ``SchedulerState.handle`` call
(``begin``), since subscriptions change between calls, never during one.

A submitted graph's shape (``GraphSubmitted.dependencies``, bounded) lists its tasks
through :func:`shape_items`: a large graph's first tasks to run, each after what it
needs (or, unordered, its wanted keys each with what they need).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import operator

from shoal.distributed.scheduler import transitions as T
from shoal.distributed.scheduler.messages import Publish, ReportTaskRows
from shoal.distributed.taskcolumns import without_keys
from shoal.events import (
    GRAPH_SHAPE_LIMIT, PROCESSING_COUNT_FROM, TASK_STATES, PackedTaskRows, TaskRows,
)  # fmt: skip

__all__ = ["NOT_RUN_YET", "TaskPublisher", "shape_items"]

logger = logging.getLogger(__name__)

#: States of a task that has not run yet: not reported as changes (see the module docstring).
NOT_RUN_YET = frozenset({"released", "waiting", "queued", "no-worker"})

_NONE: dict = {}  # no details (never written to)

#: Where a key leaving processing on its worker finished there (its row names the worker).
_FINISHED_THERE = frozenset({"memory", "erred"})

#: The states a key new to the reader comes from (a key that ran before comes from
#: memory, released, erred...: the reader knows it, it goes as a row).
_FIRST_WAITS = frozenset({"waiting", "queued", "no-worker"})


class TaskPublisher:
    """Task records for a :class:`~.state.SchedulerState`'s bus; see the module docstring."""

    def __init__(self, wants, emit, queue=None) -> None:
        self.wants, self.emit = wants, emit
        self.queue = queue  # the state's TaskQueue: its counts go with each flush that changed them
        self.every = self.states = False  # "task" / TASK_STATES wanted, as of begin()
        #: what ``SchedulerState._transition`` calls per transition, None when nobody
        #: listens: one bound method picked per handle() call, not two tests per transition;
        #: not called for a task that never ran going to a state in ``quiet`` (a dashboard
        #: counts those from the graph: two of a root task's six transitions)
        self.hook = None
        self.quiet: frozenset = frozenset()
        self._timed: list = []  # rows (T.task_row) of transitions with timings or an error
        self._changed: dict = {}  # key -> its state at the last flush (one dict write a change)
        self._gone: list = []  # at, key, at, key...: keys forgotten that a reader was told of
        #: records to go before those: TaskRows closed when a worker's rows came, and those
        self._segments: list = []
        #: key -> worker address of the keys a reader knows only from a count
        #: (``TasksProcessing``) while they are processing there: see :meth:`_name`
        self._counted: dict = {}
        #: a worker's rows came in this handle() call: the state holds back its other
        #: records (in ``held``) until the reports that follow them are handled
        self.holding = False
        self.held: list = []  # (record, stimulus_id)
        self._stale: set = set()  # keys of reports not taken, whose rows came in this call
        self._asked = False  # workers were told to send their task rows

    def begin(self, workers=()) -> None:
        """Called first in each ``handle()``: who listens now; *workers* (addresses)
        are told to send their task rows when a dashboard came, to stop when it went."""
        self.holding = False
        self.every, self.states = self.wants("task"), self.wants(TASK_STATES)
        if self.states is not self._asked:
            self._asked = self.states
            for address in workers:
                self.emit(ReportTaskRows(address, self.states))
        self.hook = ((self._record_and_row if self.states else self._record) if self.every
                     else self._row if self.states else None)  # fmt: skip
        self.quiet = NOT_RUN_YET if self.states and not self.every else frozenset()
        if self.queue is not None and self.queue.tracking is not self.states:
            self.queue.track(self.states)
        if not self.states:
            self._counted.clear()

    @property
    def pending(self) -> bool:
        return bool(self._changed or self._timed or self._gone or self._segments)

    def _record(self, ts, start: str, finish: str, details: dict, stimulus_id: str) -> None:
        self.emit(Publish(T.transition_record(ts, start, finish, details), stimulus_id=stimulus_id))

    def _row(self, ts, start: str, finish: str, details: dict, stimulus_id: str) -> None:
        if start == "processing" and self._counted:
            address = self._counted.pop(ts.key, None)
            if address is not None and finish not in _FINISHED_THERE:
                self._name(ts, address)
        # the most frequent steps are tested first: to processing, then into memory
        if finish == "processing":
            self._changed.setdefault(ts.key, start)
        elif finish == "memory" and details.get("reported"):
            self._changed.pop(ts.key, None)  # its worker's rows, staged, say where it is
        elif finish == "memory" and details.get("startstops"):
            self._timed.append(T.task_row(ts, start, finish, details))
            self._changed.pop(ts.key, None)  # this row says where it is now
        elif finish == "erred":
            self._timed.append(T.task_row(ts, start, finish, details))
            self._changed.pop(ts.key, None)
        elif finish == "forgotten":  # at once, in order: holding ts would keep it alive
            start = self._changed.pop(ts.key, start)
            if ts.run_id or start not in NOT_RUN_YET:  # a reader knows it: its key is enough
                self._gone += (len(self._timed), ts.key)
            else:  # counted as waiting from its graph: the reader needs its run and prefix
                self._timed.append(T.forgotten_row(ts, start))
        elif finish == "released" and not ts.dependents and not ts.who_wants:
            pass  # forgotten next in this handle() (transitions.settle_released): that says it
        elif ts.run_id or finish not in NOT_RUN_YET:  # (not yet run: counted as waiting;
            self._changed.setdefault(ts.key, start)  # SchedulerState skips most: quiet)

    def _name(self, ts, address: str) -> None:
        """A key the reader knows only as one of a count on worker *address* leaves it,
        not finished there (that row would name its worker): a row first names it
        processing there.  Without it a reader took a stolen task, or one of a worker
        that died, off whichever worker had tasks of its prefix counted: the workers'
        processing counts went wrong for the rest of the run."""
        self._timed.append(T.task_row(ts, "processing", "processing", {"address": address}))

    def _record_and_row(self, ts, start: str, finish: str, details: dict, stimulus_id: str) -> None:
        self._record(ts, start, finish, details, stimulus_id)
        self._row(ts, start, finish, details, stimulus_id)

    def worker_rows(self, data: bytes, n: int) -> None:
        """A worker's packed rows (``TaskRowsReported``), first in its batch: staged
        after everything pending before them, passed on unpacked at the next flush."""
        if not self.states:
            return
        if self._timed or self._gone:
            self._segments.append(TaskRows.from_rows(self._timed, self._gone))
            self._timed, self._gone = [], []
        self._segments.append(PackedTaskRows(data, n))
        self.holding = True

    def worker_added(self, address: str) -> None:
        """A worker joined: ask it for its task rows too, while a dashboard listens."""
        if self._asked:
            self.emit(ReportTaskRows(address, True))

    def release(self) -> list:
        """The records held back in this ``handle()`` call (its last step), once the
        rows of reports not taken are out of the worker's rows."""
        if self._stale:
            stale, self._stale = self._stale, set()
            try:
                kept = without_keys(self._segments[-1], stale)  # (this call's worker rows)
            except Exception:
                self.failed("taking stale rows out")
            else:
                if kept is None:
                    del self._segments[-1]
                else:
                    self._segments[-1] = kept
        self.holding = False
        held, self.held = self.held, []
        return held

    def unreported(self, key) -> None:
        """A report whose row its worker sent was not taken (stale: the key was let
        go or given to another run meanwhile): that row does not go out (a reader
        would count a result the scheduler threw away, in a run it may have dropped)."""
        if self.holding:
            self._stale.add(key)

    def failed(self, where: str) -> None:
        """A step of publishing raised (called from an ``except`` block): log it and
        drop what is pending.  A reader then misses some changes; the scheduler's
        state machine, which called, goes on as if nobody listened."""
        logger.exception("publishing task states failed in %s; dropping %d pending rows",
                         where, len(self._timed) + len(self._changed) + len(self._gone) // 2)
        self._timed, self._changed, self._gone, self._segments = [], {}, [], []
        self._stale = set()
        self._counted.clear()  # (rows naming them may be among those dropped)

    def flush(self, tasks: dict) -> list:
        """The records of the transitions since the last flush: workers' rows (each
        after what was pending when it came) and those with timings or errors and those
        to ``forgotten``, in order, then one per key changed otherwise, from its state
        then to its state now; none when nothing changed (or when making them raised:
        see :meth:`failed`).  Keys new to the reader that are processing now go as one
        count per run, prefix and worker where there are ``PROCESSING_COUNT_FROM`` or
        more of them (:class:`~shoal.events.TasksProcessing`)."""
        try:
            return self._flush(tasks)
        except Exception:
            self.failed("a flush")
            return []

    def _flush(self, tasks: dict) -> list:
        rows, changed, gone, out = self._timed, self._changed, self._gone, self._segments
        self._timed, self._changed, self._gone, self._segments = [], {}, [], []
        if not self.wants(TASK_STATES):
            return []
        starting: dict = {}  # (run, prefix, worker) -> [(ts, state before), ...]
        for key, before in changed.items():
            ts = tasks.get(key)  # (a key forgotten while someone listened left this dict)
            if ts is None or (ts.run_id == 0 and ts.state in NOT_RUN_YET):
                continue
            now = ts.state
            ws = ts.processing_on if now == "processing" else None
            if ws is not None and before in _FIRST_WAITS and ts.nbytes < 0:  # (never computed)
                group = (ts.graph, ts.prefix, ws)
                members = starting.get(group)
                if members is None:
                    starting[group] = [(ts, before)]
                else:
                    members.append((ts, before))
                continue
            if now == "memory":
                ws = next(iter(ts.who_has), None)
            rows.append(T.task_row(ts, before, now, {"ws": ws} if ws is not None else _NONE))
        counts = []
        for (graph, prefix, ws), members in starting.items():
            if len(members) >= PROCESSING_COUNT_FROM:
                counts.append((graph, prefix, ws.address, len(members)))
                self._counted.update(dict.fromkeys([ts.key for ts, _ in members], ws.address))
            else:
                detail = {"ws": ws}
                rows += [T.task_row(ts, before, "processing", detail) for ts, before in members]
        queued = self.queue.take_changes() if self.queue is not None else ()
        if rows or gone or counts or queued:
            out.append(TaskRows.from_rows(rows, gone, counts, queued))
        return out


def shape_items(new: list, wanted: list):
    """``(key, dependencies)`` of the tasks of a graph for its ``GraphSubmitted`` shape,
    which keeps the first ``GRAPH_SHAPE_LIMIT``.  A larger graph's come so that the part
    a dashboard draws holds its edges and shows what runs: in the order the tasks will
    run when the client ordered them (each after the dependencies it still needs), so
    the drawing moves from the start of the run; otherwise each wanted key followed by
    what it needs (depth first).  In submission order the first 5,000 of 10,000 leaves
    and 10,000 tasks on them were the leaves alone, drawn as dots without one edge; and
    depth first from the keys alone, a 50,000-task reduction drew the branch that runs
    last, grey until the last seconds."""
    if len(new) <= GRAPH_SHAPE_LIMIT:
        for ts in new:
            yield ts.key, ts.dependencies
        return
    members, seen = set(new), set()
    ordered = any(ts.priority[-1] for ts in new)  # (the client's order: 0 for all without)
    if ordered:
        starts = new  # (a client submits in its order, mostly: sort only if not)
        if any(a.priority > b.priority for a, b in zip(new, itertools.islice(new, 1, None))):
            starts = heapq.nsmallest(GRAPH_SHAPE_LIMIT, new, key=_PRIORITY)
        for start in starts:  # each after what it still needs (depth first, in order)
            if start in seen:
                continue
            if not start.dependencies:  # (most tasks of a large graph: leaves of a map)
                seen.add(start)
                yield start.key, start.dependencies
                continue
            stack = [start]
            while stack:
                ts = stack[-1]
                if ts in seen or ts not in members:
                    stack.pop()
                    continue
                needed = [dep for dep in ts.dependencies if dep not in seen and dep in members]
                if needed:
                    stack.extend(sorted(needed, key=_PRIORITY, reverse=True))
                    continue
                stack.pop()
                seen.add(ts)
                yield ts.key, ts.dependencies
    else:
        for root in wanted:
            stack = [root]
            while stack:
                ts = stack.pop()
                if ts in seen or ts not in members:
                    continue
                seen.add(ts)
                yield ts.key, ts.dependencies
                stack.extend(ts.dependencies)
    for ts in new:
        if ts not in seen:
            yield ts.key, ts.dependencies


_PRIORITY = operator.attrgetter("priority")
