"""The event vocabulary every scheduler speaks, and the bus that carries it.

::

    engine / scheduler --publish(record)--> Bus --callback--> Buffer (bounded deque)
                                                           \\-> other subscribers
    ProgressBar, Profiler, dashboard panes  <--since(cursor)-- Buffer

Schedulers, local or distributed, describe what happens with a few small records
(below).  Observers subscribe to a :class:`Bus`; they never see a scheduler's
internal state.  Three rules keep observers from hurting the engine:

1. *Pay only for what is watched*: ``bus.wants(kind)`` is a set lookup that the
   engine checks before even building a record; with no subscriber for a kind, no
   record of it is made.
2. *A subscriber that raises is removed and logged*; the publisher carries on.
3. *Subscribers are called in the publisher's thread*, so they must be quick.
   The standard subscriber is a :class:`Buffer`: an ``append`` onto a bounded
   deque with a monotonic index.  Readers poll ``since(cursor)`` from their own
   thread; a reader that falls behind loses the oldest records, never slows the
   scheduler.

Records carry plain data (str, int, float, tuples) so they can be pickled and
sent between processes, and wall-clock times (``time.time()``) so records from
different processes line up.  A record may be published under another kind than
its own (see :data:`TASK_STATES`).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field

__all__ = [
    "GRAPH_SHAPE_LIMIT",
    "TASK_STATES",
    "Buffer",
    "Bus",
    "ComputationFinished",
    "GraphSubmitted",
    "TaskTransition",
    "graph_shape",
    "WorkerAdded",
    "WorkerMetrics",
    "WorkerRemoved",
    "default_bus",
]

@dataclass(slots=True)
class GraphSubmitted:
    """A computation started: how many tasks of each prefix it will run."""

    kind = "graph-submitted"
    run_id: str
    scheduler: str
    ntasks: int
    prefixes: dict  # prefix -> number of tasks
    keys: tuple  # the requested keys
    time: float
    #: ``((key, (dependency, ...)), ...)`` for the first :data:`GRAPH_SHAPE_LIMIT`
    #: tasks, in submission order: enough to draw the graph as it runs
    dependencies: tuple = ()


@dataclass(slots=True)
class TaskTransition:
    """A task changed state (``start`` -> ``finish``).

    For a task that ran, ``startstops`` holds ``(action, begin, end)`` triples
    (``"compute"``, and ``"transfer"`` in the distributed runtime) and ``worker`` /
    ``thread`` say where.  ``exception`` is the text of the error for ``erred``.
    """

    kind = "task"
    run_id: str
    key: object
    prefix: str
    start: str
    finish: str
    worker: str = ""
    thread: int = 0
    startstops: tuple = ()
    nbytes: int = 0
    type: str = ""
    exception: str = ""


#: Tasks per graph whose dependencies a ``GraphSubmitted`` carries, at most.
GRAPH_SHAPE_LIMIT = 5_000


def graph_shape(items, limit: int = GRAPH_SHAPE_LIMIT) -> tuple:
    """``GraphSubmitted.dependencies`` from ``(key, dependency keys)`` pairs (bounded).

    >>> graph_shape([("a", ()), ("b", {"a"})])
    (('a', ()), ('b', ('a',)))
    """
    return tuple((key, tuple(deps)) for key, deps in itertools.islice(items, limit))


#: A kind for :class:`TaskTransition` records, for readers that need each key's
#: state rather than every step (the dashboard): a scheduler may publish under it
#: the transitions that carry timings or an error as they happen, and for the
#: others, now and then, one record per changed key from its state then to its
#: state now.  A subscriber takes either this or ``"task"``, not both.
TASK_STATES = "task-states"


@dataclass(slots=True)
class ComputationFinished:
    """A computation ended with ``status`` "finished", "error" or "cancelled"."""

    kind = "computation-finished"
    run_id: str
    status: str
    time: float
    exception: str = ""


@dataclass(slots=True)
class WorkerAdded:
    kind = "worker-added"
    worker: str
    nthreads: int
    memory_limit: int = 0
    name: str = ""
    time: float = 0.0


@dataclass(slots=True)
class WorkerRemoved:
    kind = "worker-removed"
    worker: str
    reason: str = ""
    time: float = 0.0


@dataclass(slots=True)
class WorkerMetrics:
    """Periodic worker health: memory split, CPU, and optional profile samples."""

    kind = "worker-metrics"
    worker: str
    time: float
    managed: int = 0
    unmanaged: int = 0
    spilled: int = 0
    memory_limit: int = 0
    cpu: float = 0.0
    executing: int = 0
    ready: int = 0
    profile: tuple = field(default=())


class Bus:
    """Publish records to subscribers; see the module docstring for the rules."""

    def __init__(self, name: str = "bus"):
        self.name = name
        self._subs: dict = {}  # token -> (callback, kinds or None, kinds excluded)
        self._tokens = itertools.count()
        self._lock = threading.Lock()
        self._wanted: frozenset = frozenset()
        self._all = False
        self._all_but: list = []
        self._answers: dict = {}

    def subscribe(self, callback, kinds=None, exclude=()) -> int:
        """Call ``callback(record)`` for records whose ``kind`` is in *kinds*
        (all kinds but those in *exclude* when None); returns a token for
        :meth:`unsubscribe`."""
        with self._lock:
            token = next(self._tokens)
            if kinds is not None:
                kinds = frozenset(kinds) - frozenset(exclude)
            self._subs[token] = (callback, kinds, frozenset(exclude))
            self._recompute()
        return token

    def unsubscribe(self, token) -> None:
        with self._lock:
            self._subs.pop(token, None)
            self._recompute()

    def _recompute(self):
        kinds, all_but, everything = set(), [], False
        for _, ks, exclude in self._subs.values():
            if ks is not None:
                kinds |= ks
            elif exclude:
                all_but.append(exclude)  # what each "all kinds but" subscriber leaves out
            else:
                everything = True
        self._all, self._all_but, self._wanted = everything, all_but, frozenset(kinds)
        self._answers = {}  # kind -> wants(kind), filled as asked; last, so no stale answer lands in it

    def wants(self, kind: str) -> bool:
        """True when some subscriber would receive records of *kind*."""
        answers = self._answers
        answer = answers.get(kind)
        if answer is None:
            answer = answers[kind] = (self._all or kind in self._wanted or any(
                kind not in exclude for exclude in self._all_but))  # fmt: skip
        return answer

    @property
    def active(self) -> bool:
        return bool(self._subs)

    def publish(self, record, kind: str | None = None) -> None:
        """Give *record* to its subscribers, as a record of ``kind`` (default ``record.kind``)."""
        kind = kind or record.kind
        for token, (callback, kinds, exclude) in list(self._subs.items()):
            if kind not in kinds if kinds is not None else kind in exclude:
                continue
            try:
                callback(record)
            except Exception:
                import logging  # only on this error path: keeps `import shoal` light

                logging.getLogger(__name__).exception(
                    "event subscriber %r raised and was removed from %s", callback, self.name
                )
                self.unsubscribe(token)


class Buffer:
    """A bounded, append-only record log with a monotonic cursor.

    >>> b = Buffer(maxlen=2)
    >>> for i in range(3): b.append(i)
    >>> b.since(0)
    (3, [1, 2])
    >>> b.since(3)
    (3, [])
    """

    def __init__(self, maxlen: int = 100_000):
        self._items: deque = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.count = 0  # records ever appended: the next cursor

    def append(self, record) -> None:
        with self._lock:
            self._items.append(record)
            self.count += 1

    __call__ = append

    def since(self, cursor: int) -> tuple[int, list]:
        """Return ``(new_cursor, records appended after cursor)`` still held.

        Costs O(new records), not O(buffer size): readers poll this often.
        """
        with self._lock:
            count = self.count
            new = count - cursor
            if new <= 0:
                return count, []
            if new >= len(self._items):
                return count, list(self._items)
            recent = list(itertools.islice(reversed(self._items), new))
        recent.reverse()
        return count, recent

    def __len__(self) -> int:
        return len(self._items)


default_bus = Bus("local")
"""The process-wide bus the local schedulers publish to."""
