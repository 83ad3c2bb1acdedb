"""What a local run tells its bus about its tasks: records for plugins, rows for a dashboard.

::

    runner._drive
      a batch handed to the backend --> RunPublisher.started(keys)
      a batch's outcomes            --> RunPublisher.finished(outcomes)
      tasks lost without raising    --> RunPublisher.lost(keys, exc)
      before the run's last record  --> RunPublisher.close(): what it holds, published

    "task" wanted (ProgressBar, Profiler):   a TaskTransition per step, at once (not the
        start of keys a count stands for: their results say they ran)
    TASK_STATES wanted (a Dashboard()'s event stream): flat rows and counts held, published
        as a TaskRows of the counts and one of the rows when the run ends, when HOLD_AT
        rows are held, or when a reader asks (bus.flush(), which the event stream calls
        before each read, from its own thread)

The two kinds are the distributed scheduler's (``scheduler/publish.py``): a
subscriber takes one or the other.  A batch of ``PROCESSING_COUNT_FROM`` keys or
more of one prefix goes to ``processing`` as one :class:`~shoal.events.TasksProcessing`
count; each of their results then names its key.

Why rows, held: a ``TaskTransition`` object per step, passed through the bus into
the event stream's buffer and turned into a row there, made a 10,000-task sync
compute about three times slower with a ``Dashboard()`` open (9 -> 30 us a task on
this project's 2-core machine, with the sampler's registration of each task, since
made once per batch: ``batch.py``): the objects, the promotions and full collections
of Python's garbage collector they brought while they waited in the buffer, and the
stream's encoding in a thread of the same process.  A row is one tuple of plain
values (untracked by the collector once it has seen it), and the rows of many
batches become one ``TaskRows`` in one transpose.  They are held across batches
because a batch may be one task (a chain), and a ``TaskRows`` costs about 7 us to
make however few rows it holds; the reader's ``bus.flush()`` bounds how late a row
can be (one stream interval), whatever the engine does meanwhile (a sync task that
runs for minutes).

Thread safety: the engine's thread adds rows and the reader's thread may flush;
both take the publisher's lock, once per batch, and a flush publishes under it, so
the rows reach the bus in the order they were made.
"""

from __future__ import annotations

import threading

from shoal.core.errortext import exception_text
from shoal.core.keys import key_split
from shoal.events import PROCESSING_COUNT_FROM, TASK_STATES, TaskRows, record_of

__all__ = ["HOLD_AT", "RunPublisher"]

#: Rows held at most before the engine's thread publishes them itself.
HOLD_AT = 4096


class RunPublisher:
    """One local run's task records and rows; see the module docstring.  Make it with
    :meth:`for_run`, which gives None when nobody watches tasks."""

    __slots__ = ("bus", "run_id", "worker", "prefixes", "objects", "states", "_rows", "_counts",
                 "_lock", "_token", "_sizeof")  # fmt: skip

    def __init__(self, bus, run_id: str, worker: str, prefixes: dict):
        self.bus, self.run_id, self.worker, self.prefixes = bus, run_id, worker, prefixes
        self._rows: list = []  # flat rows (events.row_of's layout), in order
        self._counts: list = []  # [run_id, prefix, worker, n]: published before the rows
        self._lock = threading.Lock()
        self._token = None
        self._ask()
        from shoal.sizeof import sizeof  # (here: `import shoal` stays light)

        self._sizeof = sizeof

    @classmethod
    def for_run(cls, bus, run_id: str, worker: str, prefixes: dict) -> RunPublisher | None:
        """A publisher for the run, or None when no subscriber wants task records as it
        starts (a reader who comes later sees the run start and end, not its tasks)."""
        if not (bus.wants("task") or bus.wants(TASK_STATES)):
            return None
        return cls(bus, run_id, worker, prefixes)

    def _ask(self) -> None:
        """Who wants which kind, asked per batch: a ``Dashboard()`` opened while the run
        goes on (beside a progress bar) gets the rest of its tasks."""
        bus = self.bus
        self.objects = bus.wants("task")
        self.states = bus.wants(TASK_STATES)
        if self.states and self._token is None:
            self._token = bus.hold(self.flush)

    def _prefix(self, key) -> str:
        return self.prefixes.get(key) or key_split(key)

    def started(self, keys) -> None:
        """The keys of a batch handed to the backend: ``waiting -> processing`` on its
        worker, one count per prefix of ``PROCESSING_COUNT_FROM`` keys or more."""
        self._ask()
        by_prefix: dict = {}
        for key in keys:
            by_prefix.setdefault(self._prefix(key), []).append(key)
        run_id, worker = self.run_id, self.worker
        rows, counts = [], []
        for prefix, members in by_prefix.items():
            if len(members) >= PROCESSING_COUNT_FROM:
                counts.append([run_id, prefix, worker, len(members)])
            else:
                rows += [(run_id, key, prefix, "waiting", "processing", worker, 0, 0, 0, "", "")
                         for key in members]  # fmt: skip
        if self.objects:  # (a count is not a step: "task" readers get the named keys')
            publish = self.bus.publish
            for row in rows:
                publish(record_of(row))
        if self.states:
            self._add(rows, counts)

    def finished(self, outcomes) -> None:
        """A row per result: ``processing -> memory|erred``, with its timing, size and type."""
        run_id, worker, prefixes, nbytes = self.run_id, self.worker, self.prefixes, self._nbytes
        rows = []
        for key, ok, value, start, stop, thread in outcomes:
            prefix = prefixes.get(key) or key_split(key)
            if ok:
                rows.append((run_id, key, prefix, "processing", "memory", worker, thread, 1,
                             nbytes(value), type(value).__name__, "", "compute", start, stop))
            else:
                rows.append((run_id, key, prefix, "processing", "erred", worker, thread, 1, 0, "",
                             exception_text(value), "compute", start, stop))
        self._publish(rows)

    def _nbytes(self, value) -> int:
        try:
            return self._sizeof(value)
        except Exception:
            return 0

    def lost(self, keys, exc) -> None:
        """``processing -> erred`` for tasks that failed without raising themselves (a
        batch that could not be handed over, a worker process that died running them),
        with the error's text: a dashboard counts them erred and lists the error."""
        run_id, worker, text = self.run_id, self.worker, exception_text(exc)
        self._publish([(run_id, key, self._prefix(key), "processing", "erred", worker, 0, 0, 0, "",
                        text) for key in keys])  # fmt: skip

    def _publish(self, rows: list) -> None:
        self._ask()
        if self.objects:
            publish = self.bus.publish
            for row in rows:
                publish(record_of(row))
        if self.states:
            self._add(rows, ())

    def _add(self, rows: list, counts) -> None:
        with self._lock:
            self._rows += rows
            self._counts += counts
            if len(self._rows) >= HOLD_AT:
                self._flush_held()

    def flush(self) -> None:
        """Publish the counts and rows held (:meth:`_flush_held`; any thread)."""
        with self._lock:
            self._flush_held()

    def _flush_held(self) -> None:
        """The counts held, then the rows: a reader takes a ``TaskRows``' counts after
        its rows, and a result of a key counted must come after its count.  Within one
        flush a count may come before rows of batches started earlier: those are other
        keys, and the reader takes the whole message in at once."""
        rows, counts = self._rows, self._counts
        self._rows, self._counts = [], []
        if counts:
            self.bus.publish(TaskRows.from_rows([], counts=counts))
        if rows:
            self.bus.publish(TaskRows.from_rows(rows))

    def close(self) -> None:
        """Publish what is held and stop answering the bus's flushes: before the run's
        ``ComputationFinished``, so a reader hears of every task before its end."""
        if self._token is not None:
            self.bus.release(self._token)
            self._token = None
        self.flush()
