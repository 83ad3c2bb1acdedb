"""Task bookkeeping for the dashboard: runs, key states, bytes and placement.

::

    GraphSubmitted       -> runs[run] = _Run(new = {prefix: ntasks})
    TaskTransition(key)  -> keys[key] = [run, prefix, state, nbytes, worker]
                            run.take(prefix, old state or the new pool); run.put(prefix, new state)
                            memory_by_prefix (bytes of keys in memory), processing[worker][prefix]
    TasksQueued(n)       -> queued[(run, prefix)] = n: how many of the tasks not started wait
                            in the scheduler's queue (a gauge; the keys are not reported)
    TasksProcessing(n)   -> n from the new pool to processing, unnamed (run.anon[prefix][worker]);
                            a later row from processing of a key not followed as processing
                            claims one of them on its worker instead of the new pool (the
                            scheduler names a counted key on the worker it leaves before
                            any other row of it: stolen, its worker gone)
    ComputationFinished  -> run.finished; runs with nothing live are dropped (their ids and
                            end times remembered: a key of one that runs again, a
                            dependency recomputed or resubmitted under the run that made
                            it, brings it back finished, so it goes again once released)
    more than max_runs   -> the oldest (finished first) merged into one run of older runs

Progress is counted per *run* (one ``GraphSubmitted``) and per prefix.  A run
starts with its tasks in a ``new`` pool; each key's first transition takes one
from that pool, later ones move it between states, so counts stay exact
whichever scheduler reports (the distributed one reports every transition,
the local ones ``waiting -> processing`` when a batch is handed to a worker and
``processing -> memory|erred``).  The local schedulers never report a result
freed, so a finished local run is dropped when the next graph is submitted (a
local run that ends in an error counts the tasks it left running released, one that
finished those it was not seen to end in memory: a reader that came meanwhile); a
distributed run is dropped once finished and all its tasks are released or
forgotten.  Past ``max_runs`` runs (a loop of ``client.submit`` makes one per
call) the oldest, finished ones first, are merged into one run, :data:`OLDER`, and
their later records counted there: their tasks stay in the totals, their keys
followed, until released (dropping one instead lost a computation still running
from the progress and processing panes, and its next records built a partial
run).  Keys beyond ``limits.keys`` are not followed one by
one; their counts then follow the records' ``start`` field (approximate, never
negative).  Not thread-safe by itself: :class:`~shoal.dashboard.state.DashboardState`
calls it under its lock.
"""

from __future__ import annotations

from collections import Counter

from shoal.events import LOCAL_SCHEDULERS

__all__ = ["OLDER", "TaskBook"]

#: The run that runs past ``max_runs`` are merged into (see the module docstring).
OLDER = "(older computations)"
#: Run ids merged into :data:`OLDER` remembered, to count their later records there, and
#: ids of finished runs dropped, at most.
MAX_MERGED_IDS = 100_000

_DONE = frozenset({"released", "forgotten"})
_STOPPED = frozenset({"processing", "waiting"})  # what a local run that ended leaves behind
_ON_A_WORKER = frozenset({"processing", "memory", "erred"})  # a key's worker, in key_info


class _Run:
    __slots__ = ("run_id", "scheduler", "finished", "counts", "new", "anon", "_live")

    def __init__(self, run_id, scheduler="", prefixes=None):
        self.run_id, self.scheduler, self.finished = run_id, scheduler, None
        self.counts: dict = {}  # prefix -> Counter(state -> n)
        self.new = Counter(prefixes or {})  # prefix -> tasks not seen yet
        self.anon: dict = {}  # prefix -> Counter(worker -> n): processing, not yet named
        self.recount()

    def recount(self) -> None:
        """Count the live tasks afresh (after ``new`` was changed from outside)."""
        self._live = sum(self.new.values()) + sum(
            n for c in self.counts.values() for s, n in c.items() if s not in _DONE)

    def take(self, prefix, state, counted: bool = False) -> None:
        """One task of *prefix* leaves *state* (or the ``new`` pool when absent, unless
        it is *counted* in this run: a key it follows, whose done state
        :meth:`forget_done` may have let go)."""
        counts = self.counts.get(prefix)
        if state is not None and counts is not None and counts[state] > 0:
            counts[state] -= 1
            if state not in _DONE:
                self._live -= 1
        elif counted:
            return
        elif self.new[prefix] > 0:
            self.new[prefix] -= 1
            self._live -= 1

    def take_new(self, prefix, n: int) -> int:
        """Up to *n* tasks of *prefix* leave the ``new`` pool; how many did."""
        moved = min(n, self.new[prefix])
        self.new[prefix] -= moved
        self._live -= moved
        return moved

    def untake_new(self, prefix) -> None:
        """One task of *prefix* back to the ``new`` pool."""
        self.new[prefix] += 1
        self._live += 1

    def put(self, prefix, state, n: int = 1) -> None:
        counts = self.counts.get(prefix)
        if counts is None:
            counts = self.counts[prefix] = Counter()
        counts[state] += n
        if state not in _DONE:
            self._live += n

    def forget_done(self, prefix) -> None:
        """Stop counting *prefix* when none of its tasks is live (released or forgotten
        only): the run of older computations stays while any of its tasks is (one held
        future), and every run merged into it added its prefixes for good (3,613 after
        6,000 submits of unique names, past the dashboard's bound on prefixes)."""
        counts = self.counts.get(prefix)
        if counts is not None and not self.new.get(prefix) and prefix not in self.anon and all(
                state in _DONE for state, n in counts.items() if n):  # fmt: skip
            del self.counts[prefix]
            self.new.pop(prefix, None)

    def live(self) -> int:
        """Tasks not yet released or forgotten (kept as a count: asked per record)."""
        return self._live


class TaskBook:
    """Runs and keys; see the module docstring."""

    def __init__(self, max_keys: int, max_runs: int, max_prefixes: int = 1_000):
        self.max_keys, self.max_runs, self.max_prefixes = max_keys, max_runs, max_prefixes
        self._trim_order_at = 2 * max_prefixes  # (prefix_order's size that trims it next)
        self.keys: dict = {}  # key -> [run_id, prefix, state, nbytes, worker]
        #: run_id -> {key: None} of the keys followed in it: a run that ends, or is merged
        #: with the older ones, touches its own keys (a scan of all of them, once per
        #: client.submit, cost the dashboard 3-7 times the run's time at 100,000 held)
        self.run_keys: dict = {}
        self.runs: dict = {}  # run_id -> _Run, oldest first
        self.prefix_order: dict = {}  # prefix -> first seen (stable bar order)
        self.memory_by_prefix: Counter = Counter()
        self.merged: dict = {}  # run_id -> None: runs merged into OLDER, oldest first
        self.dropped: dict = {}  # run_id -> when it finished: finished runs dropped, oldest first
        self.processing: dict = {}  # worker -> Counter(prefix -> n)
        self.queued: dict = {}  # (run_id, prefix) -> tasks in the scheduler's queue (TasksQueued)

    def graph_submitted(self, run_id, scheduler: str, prefixes: dict) -> None:
        self._drop_runs(local_finished=True)
        if run_id in self.merged:  # (a repeat, of a run counted with the older ones)
            return
        self.dropped.pop(run_id, None)  # (submitted again: a computation of its own)
        run = self.runs.get(run_id)
        if run is None:
            self.runs[run_id] = _Run(run_id, scheduler, prefixes)
        else:  # transitions came first (or a repeat): count only the tasks not seen yet
            run.scheduler = scheduler
            for prefix, n in prefixes.items():
                run.new[prefix] = max(n - sum(run.counts.get(prefix, {}).values()), 0)
            run.recount()
        for prefix in prefixes:
            self.prefix_order.setdefault(prefix, len(self.prefix_order))
        self._cap_runs()

    def tasks_queued(self, run_id, prefix: str, n: int) -> None:
        """*n* tasks of the run and prefix wait in the scheduler's queue now."""
        if n > 0 and (run_id in self.runs or run_id in self.merged):
            self.queued[(run_id, prefix)] = n
        else:  # (none left, or a run this book does not keep: nothing to show)
            self.queued.pop((run_id, prefix), None)

    def tasks_processing(self, run_id, prefix: str, worker: str, n: int) -> None:
        """*n* tasks of the run and prefix, not named, went to processing on *worker*
        (``TasksProcessing``): counted there until their next rows name them."""
        self.prefix_order.setdefault(prefix, len(self.prefix_order))
        run = self.runs.get(run_id) or self._older(run_id)
        if run is None:
            run = self._run_again(run_id)
        moved = run.take_new(prefix, n)  # (a reader that joined late has none to move)
        if moved:
            run.put(prefix, "processing", moved)
            self._processing_add(worker, prefix, moved)
            per = run.anon.get(prefix)
            if per is None:
                per = run.anon[prefix] = Counter()
            per[worker] += moved

    def _claim(self, run, prefix: str, worker: str, known: bool) -> bool:
        """A row from ``processing`` for a key this book does not have processing: one
        of the run's unnamed processing tasks of *prefix* (on *worker* if it has
        one there) is this key.  *known*: the book follows the key in another state,
        so the count had taken it from the ``new`` pool by mistake (a task run again):
        that one goes back."""
        per = run.anon.get(prefix)
        if not per:
            return False
        where = worker if per.get(worker) else next(iter(per))
        per[where] -= 1
        if per[where] <= 0:
            del per[where]
            if not per:
                del run.anon[prefix]
        self._processing_sub(where, prefix, 1)
        run.take(prefix, "processing")
        if known:
            run.untake_new(prefix)
        return True

    def computation_finished(self, run_id, when: float, status: str = "finished"):
        """The run ended; for a local run, the state its left tasks now count in
        (else None)."""
        run = self.runs.get(run_id)  # (None for one merged with the older ones: nothing to do)
        ended = None
        if run is not None:
            run.finished = when
            if run.scheduler in LOCAL_SCHEDULERS:
                ended = "memory" if status == "finished" else "released"
                self._stop_local_run(run, ended)
        self._drop_runs(local_finished=False)
        return ended

    def _stop_local_run(self, run, ended: str) -> None:
        """A local run ended and no scheduler will say more of its tasks: count those
        this book did not see end in *ended*, named or not, and those it never saw
        start too.  After an error or an interrupt (``released``) they no longer run;
        after a run that finished (``memory``) they all ran, but this reader came
        while the run went on (a ``Dashboard()`` opened meanwhile: the local bus keeps
        no past rows) and counted them released, most of a finished run."""
        for key in self.run_keys.get(run.run_id, ()):
            info = self.keys[key]
            if info[2] in _STOPPED:
                self._leave(info)
                run.take(info[1], info[2])
                info[2], info[3], info[4] = ended, 0, ""  # (its size and worker unknown)
                run.put(info[1], ended)
        for prefix, n in self._drop_unnamed(run).items():
            for _ in range(n):
                run.take(prefix, "processing")
            run.put(prefix, ended, n)
        for prefix in list(run.new):  # never seen to start
            moved = run.take_new(prefix, run.new[prefix])
            if moved:
                run.put(prefix, ended, moved)

    def _drop_unnamed(self, run) -> dict:
        """Take the run's unnamed processing tasks off their workers; ``{prefix: n}``."""
        out = {}
        for prefix, per in run.anon.items():
            for worker, n in per.items():
                self._processing_sub(worker, prefix, n)
            out[prefix] = sum(per.values())
        run.anon.clear()
        return out

    def task(self, r, prefix: str) -> None:
        """Fold one ``TaskTransition`` (its prefix already resolved)."""
        run_id = r.run_id
        if run_id is None:  # a key forgotten, named alone: its run is the one it was in
            run_id = self._run_of_forgotten(r.key, prefix)
            if run_id is None:
                return
        self.prefix_order.setdefault(prefix, len(self.prefix_order))
        run = self.runs.get(run_id)
        if run is None:
            if r.finish in _DONE and r.key not in self.keys:
                return  # the last words of a dropped run: nothing left to show
            run = self._older(run_id)
            if run is None:
                run = self._run_again(run_id)
            else:
                run_id = OLDER
        info = self.keys.get(r.key)
        claimed = (run.anon and r.start == "processing" and (info is None or info[2] != "processing")
                   and self._claim(run, prefix, r.worker, info is not None))  # fmt: skip
        if info is None:
            room = len(self.keys) < self.max_keys
            if not claimed:
                run.take(prefix, None if room else r.start)
            if room and r.finish != "forgotten":
                info = self.keys[r.key] = [run_id, prefix, r.finish, 0, ""]
                self._run_keys(run_id)[r.key] = None
                self._enter(info, r)
        else:
            self._leave(info)
            owner = self.runs.get(info[0])  # (None: its run was dropped, it runs again)
            if owner is not None:
                owner.take(prefix, info[2], counted=True)
            else:
                run.take(prefix, info[2])
            if info[0] != run_id or r.finish == "forgotten":  # (rare: run again, or gone)
                self.run_keys.get(info[0], {}).pop(r.key, None)
                if r.finish != "forgotten":
                    self._run_keys(run_id)[r.key] = None
            info[0], info[2] = run_id, r.finish
            if r.finish == "forgotten":
                del self.keys[r.key]
            else:
                self._enter(info, r)
        run.put(prefix, r.finish)
        if r.finish in _DONE:
            if run.finished is not None and not run.live():
                self._drop_run(run.run_id)
            elif run.run_id == OLDER:
                run.forget_done(prefix)

    def _run_keys(self, run_id) -> dict:
        keys = self.run_keys.get(run_id)
        if keys is None:
            keys = self.run_keys[run_id] = {}
        return keys

    def _run_of_forgotten(self, key, prefix: str):
        """The run of a key forgotten that came without one: the run it is followed
        in, else (a reader that joined late, or keys past ``max_keys``) the oldest
        run still counting a task of its prefix as not seen; None when none is."""
        info = self.keys.get(key)
        if info is not None:
            return info[0]
        for run in self.runs.values():
            if run.new.get(prefix, 0) > 0:
                return run.run_id
        return None

    def worker_removed(self, worker: str) -> None:
        self.processing.pop(worker, None)

    def _enter(self, info, r) -> None:
        """Count the key's new state in the per-prefix / per-worker views, and note
        its worker: where it runs, is held, or failed (none in any other state)."""
        state, prefix = info[2], info[1]
        info[4] = r.worker if state in _ON_A_WORKER else ""
        if state == "memory":
            info[3] = r.nbytes
            self.memory_by_prefix[prefix] += r.nbytes
        elif state == "processing":
            self._processing_add(r.worker, prefix, 1)

    def _leave(self, info) -> None:
        state, prefix = info[2], info[1]
        if state == "memory":
            self.memory_by_prefix[prefix] -= info[3]
            if self.memory_by_prefix[prefix] <= 0:
                del self.memory_by_prefix[prefix]
            info[3] = 0
        elif state == "processing":
            self._processing_sub(info[4], prefix, 1)

    def _processing_add(self, worker: str, prefix: str, n: int) -> None:
        per = self.processing.get(worker)
        if per is None:
            per = self.processing[worker] = Counter()
        per[prefix] += n

    def _processing_sub(self, worker: str, prefix: str, n: int) -> None:
        per = self.processing.get(worker)  # (None once the worker was removed)
        if per is not None:
            per[prefix] -= n
            if per[prefix] <= 0:
                del per[prefix]
                if not per:  # (a removed worker's, named after it went, leaves nothing)
                    del self.processing[worker]

    def _drop_runs(self, local_finished: bool) -> None:
        for run in list(self.runs.values()):
            if run.finished is None:
                continue
            if (local_finished and run.scheduler in LOCAL_SCHEDULERS) or not run.live():
                self._drop_run(run.run_id)

    def _cap_runs(self, keep=None) -> None:
        """Past ``max_runs``, drop or merge the oldest runs, finished ones first (never
        *keep*, a run just made for a record about to be counted in it)."""
        while len(self.runs) > self.max_runs:
            runs = [r for r in self.runs.values() if r.run_id != OLDER and r.run_id != keep]
            victim = next((r for r in runs if r.finished is not None), runs[0])
            if victim.finished is not None and not victim.live():
                self._drop_run(victim.run_id)
            else:
                self._merge_older(victim)

    def _run_again(self, run_id) -> _Run:
        """A run for records of *run_id*, which this book does not have (a reader that
        joined late, or a key of a dropped run that runs again: that one is finished
        already, and no scheduler will say so again)."""
        run = self.runs[run_id] = _Run(run_id)
        run.finished = self.dropped.pop(run_id, None)
        self._cap_runs(keep=run_id)
        return run

    def _older(self, run_id):
        """The run of older computations, when *run_id* was merged into it (else None)."""
        return self._older_run() if run_id in self.merged else None

    def _older_run(self):
        """The run of older computations, made anew if it was dropped (nothing live)."""
        run = self.runs.get(OLDER)
        if run is None:
            run = self.runs[OLDER] = _Run(OLDER)
            run.finished = 0.0  # dropped once nothing in it is live
        return run

    def _merge_older(self, run) -> None:
        """Count *run* with the older computations from now on (O(its keys), as a drop)."""
        older = self._older_run()
        del self.runs[run.run_id]
        self.merged[run.run_id] = None
        if len(self.merged) > MAX_MERGED_IDS:
            del self.merged[next(iter(self.merged))]
        for prefix, counts in run.counts.items():
            older.counts.setdefault(prefix, Counter()).update(counts)
        older.new.update(run.new)
        for prefix, per in run.anon.items():
            older.anon.setdefault(prefix, Counter()).update(per)
        older.recount()
        moved = self.run_keys.pop(run.run_id, {})
        for key in moved:
            self.keys[key][0] = OLDER
        self._run_keys(OLDER).update(moved)
        for prefix in run.counts:
            older.forget_done(prefix)

    def _drop_run(self, run_id) -> None:
        """Forget a run and its keys (O(its keys), only when a run ends)."""
        run = self.runs.pop(run_id, None)
        if run is None:
            return
        if self.queued:
            for group in [g for g in self.queued if g[0] == run_id]:
                del self.queued[group]
        if run.finished is not None and run_id != OLDER:
            self.dropped[run_id] = run.finished
            if len(self.dropped) > MAX_MERGED_IDS:
                del self.dropped[next(iter(self.dropped))]
        for key in self.run_keys.pop(run_id, ()):
            self._leave(self.keys.pop(key))
        self._drop_unnamed(run)
        if len(self.prefix_order) > self._trim_order_at:
            self._trim_prefix_order()

    def counted_prefixes(self) -> set:
        """The prefixes the kept runs count or that are processing somewhere."""
        counted = {p for run in self.runs.values() for p in (*run.new, *run.counts)}
        for per in self.processing.values():
            counted.update(per)
        return counted

    def _trim_prefix_order(self) -> None:
        """Keep the order of the prefixes still counted (and the latest seen up to
        ``max_prefixes``), renumbered in the same order: one entry per prefix ever seen
        grew without end in a session that names keys uniquely.  The next trim comes
        once ``max_prefixes`` more were seen (kept runs may count more than that)."""
        counted = self.counted_prefixes()
        order = list(self.prefix_order)
        recent = set(order[-self.max_prefixes:])
        self.prefix_order = {p: i for i, p in enumerate(p for p in order if p in counted or p in recent)}
        self._trim_order_at = max(len(self.prefix_order), self.max_prefixes) + self.max_prefixes

    # --- views (the caller holds the lock; results are fresh objects) ------------------

    def progress(self) -> dict:
        merged: dict = {}
        for run in self.runs.values():
            for prefix, n in run.new.items():
                if n:
                    merged.setdefault(prefix, Counter())["new"] += n
            for prefix, counts in run.counts.items():
                merged.setdefault(prefix, Counter()).update(counts)
        gauges: Counter = Counter()
        for (run_id, prefix), n in self.queued.items():
            gauges[prefix] += n
        out = {}
        for prefix in sorted(merged, key=lambda p: self.prefix_order.get(p, 0)):
            c = merged[prefix]
            waiting = c["waiting"] + c["queued"] + c["no-worker"] + c["new"]
            # the gauge, or the queued keys a snapshot named (the same tasks: the larger)
            queued = min(max(gauges[prefix], c["queued"]), waiting)
            row = {"memory": c["memory"], "erred": c["erred"], "processing": c["processing"],
                   "queued": queued, "waiting": waiting - queued,
                   "released": c["released"] + c["forgotten"]}  # fmt: skip
            row["total"] = sum(row.values())
            if row["total"]:
                out[prefix] = row
        return out

    def task_counts(self) -> Counter:
        total = Counter()
        for run in self.runs.values():
            total["new"] += sum(run.new.values())
            for counts in run.counts.values():
                total.update(counts)
        # tasks the scheduler's queue holds are not reported one by one: of those not
        # seen yet ("new"), as many as its gauges say are queued
        moved = min(max(sum(self.queued.values()) - total["queued"], 0), total["new"])
        total["new"] -= moved
        total["queued"] += moved
        return +total

    def graph_nodes(self, limit: int) -> list:
        """``[(key, prefix, state)]`` of at most *limit* keys followed, newest first."""
        out = []
        for key, info in reversed(self.keys.items()):
            if len(out) >= limit:
                break
            out.append((key, info[1], info[2]))
        return out

    def key_info(self, key) -> dict | None:
        info = self.keys.get(key)
        if info is None:
            return None
        return {"run_id": info[0], "prefix": info[1], "state": info[2], "nbytes": info[3],
                "worker": info[4]}  # fmt: skip
