"""The event vocabulary every scheduler speaks (the bus that carries it: :mod:`shoal.bus`).

Schedulers, local or distributed, describe what happens with a few small records
(below); observers subscribe to a bus (:class:`shoal.bus.Bus`) and never see a
scheduler's internal state.

Records carry plain data (str, int, float, tuples) so they can be pickled and
sent between processes, and wall-clock times (``time.time()``) so records from
different processes line up.  Task transitions come two ways: one
:class:`TaskTransition` per step (kind ``"task"``, for plugins and progress
bars), or in bulk (:class:`TaskRows`, kind :data:`TASK_STATES`, for the
dashboard): from a distributed scheduler coalesced per key (the rows of tasks
computed come from their workers, packed: :class:`PackedTaskRows`), from a local
run the rows of many batches at a time.
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass, field

__all__ = [
    "GRAPH_SHAPE_LIMIT",
    "IN_PROCESS_KINDS",
    "LOCAL_SCHEDULERS",
    "PROCESSING_COUNT_FROM",
    "TASK_FIELDS",
    "TASK_STATES",
    "ComputationFinished",
    "GraphSubmitted",
    "PackedTaskRows",
    "ResultsCached",
    "SystemMetrics",
    "TaskRows",
    "TaskTransition",
    "TasksProcessing",
    "TasksQueued",
    "as_lists",
    "record_of",
    "row_of",
    "graph_shape",
    "iter_startstops",
    "keys_for_wire",
    "shape_pairs",
    "WorkerAdded",
    "WorkerMetrics",
    "WorkerRemoved",
]

#: ``GraphSubmitted.scheduler`` of the local schedulers (``shoal.local``'s runner refuses
#: any other label): their tasks run in the publishing process, which is their only
#: worker, and a run ends with its computation (a dashboard forgets it then)
LOCAL_SCHEDULERS = frozenset({"sync", "threads", "processes", "executor", "local"})


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
    #: ``(keys, counts, dependencies)`` for up to :data:`GRAPH_SHAPE_LIMIT` tasks (in
    #: submission order; of a larger graph, the first to run in the client's order each
    #: after what it needs, or without an order its requested keys each with what they
    #: need: a distributed scheduler's ``publish.shape_items``): the keys, how many dependencies
    #: each has, and those one after the other (:func:`graph_shape`; :func:`shape_pairs` pairs them up again):
    #: enough to draw the graph as it runs
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


def graph_shape(items, limit: int = GRAPH_SHAPE_LIMIT, dep_key=None) -> tuple:
    """``GraphSubmitted.dependencies`` from ``(key, dependencies)`` pairs (bounded):
    three flat sequences, not a tuple per task.  Three containers in all cost a
    scheduler's loop less to make and send, and leave its garbage collector
    nothing to promote (5,000 tuples made at once would be, if it ran meanwhile).
    *dep_key* gives a dependency's key (the scheduler passes its task records).

    >>> graph_shape([("a", ()), ("b", {"a"})])
    (('a', 'b'), (0, 1), ('a',))
    """
    keys, counts, deps = [], [], []
    for key, ds in itertools.islice(items, limit):
        keys.append(key)
        counts.append(len(ds))
        deps.extend(ds if dep_key is None else map(dep_key, ds))
    return tuple(keys), tuple(counts), tuple(deps)


def shape_pairs(shape) -> list:
    """``[(key, (dependency, ...)), ...]`` from a :func:`graph_shape`.

    >>> shape_pairs(graph_shape([("a", ()), ("b", ["a"])]))
    [('a', ()), ('b', ('a',))]
    """
    if not shape:
        return []
    keys, counts, deps = shape
    out, at = [], 0
    for key, n in zip(keys, counts):
        out.append((key, tuple(deps[at:at + n])))
        at += n
    return out


def keys_for_wire(keys) -> list:
    """*keys* as a list, tuple keys as lists (:func:`as_lists`); one pass in C finds
    whether there is any, not a test per key.

    >>> keys_for_wire(("a", ("b", 1)))
    ['a', ['b', 1]]
    """
    if tuple in set(map(type, keys)):
        return [as_lists(k) if type(k) is tuple else k for k in keys]
    return keys if type(keys) is list else list(keys)


def as_lists(value):
    """*value* with its tuples, nested ones too, as lists: how keys travel (msgpack
    packs lists natively, tuples only through an extension); readers turn them back.

    >>> as_lists(("x", (1, 2)))
    ['x', [1, 2]]
    """
    if type(value) is not tuple:
        return value
    return [as_lists(v) if type(v) is tuple else v for v in value]  # no call per plain key


#: The fields of a :class:`TaskTransition`, in order: the columns of :class:`TaskRows`.
TASK_FIELDS = ("run_id", "key", "prefix", "start", "finish", "worker", "thread", "startstops",
               "nbytes", "type", "exception")

#: Where a flat row (:func:`row_of`) holds the number of ``startstops`` triples; their
#: values follow the last field, from ``_ROW_TAIL`` on.
_STARTSTOPS_AT, _ROW_TAIL = TASK_FIELDS.index("startstops"), len(TASK_FIELDS)
_FIELD_GETTERS = tuple(map(operator.itemgetter, range(_ROW_TAIL)))
_TRIPLES = operator.itemgetter(slice(_ROW_TAIL, None))
_ONE_TRIPLE = {_ROW_TAIL + 3}  # the length of a row with one startstops triple
_TRIPLE_GETTERS = tuple(map(operator.itemgetter, range(_ROW_TAIL, _ROW_TAIL + 3)))


def row_of(record: TaskTransition) -> tuple:
    """*record* as a flat row: its :data:`TASK_FIELDS` values in order, but the number
    of ``startstops`` triples in their place and the triples' values after the last
    field.  A row holds no tuple of its own (a tuple key exists already), so the
    garbage collector stops tracking it the first time it sees it; a nested tuple
    would keep it tracked through one collection per level and be promoted.

    >>> row_of(TaskTransition("r", "x", "x", "processing", "memory", "w", 1,
    ...                       (("compute", 1.0, 2.0),)))
    ('r', 'x', 'x', 'processing', 'memory', 'w', 1, 1, 0, '', '', 'compute', 1.0, 2.0)
    """
    ss = record.startstops
    return (record.run_id, record.key, record.prefix, record.start, record.finish, record.worker,
            record.thread, len(ss), record.nbytes, record.type, record.exception,
            *itertools.chain.from_iterable(ss))  # fmt: skip


def record_of(row: tuple) -> TaskTransition:
    """The :class:`TaskTransition` of a flat row (:func:`row_of`).

    >>> record_of(row_of(TaskTransition("r", "x", "x", "a", "b", startstops=(("c", 1, 2),))))
    TaskTransition(run_id='r', key='x', prefix='x', start='a', finish='b', worker='', thread=0, startstops=(('c', 1, 2),), nbytes=0, type='', exception='')
    """
    n = len(row) - _ROW_TAIL
    if n == 3:  # nearly every task that ran: one triple, without a zip
        startstops = (row[_ROW_TAIL:],)
    elif n:
        flat = row[_ROW_TAIL:]
        startstops = tuple(zip(flat[0::3], flat[1::3], flat[2::3]))
    else:
        startstops = ()
    return TaskTransition(*row[:_STARTSTOPS_AT], startstops, *row[_STARTSTOPS_AT + 1:_ROW_TAIL])


#: The kind of :class:`TaskRows` records, for readers that need each key's state
#: rather than every step (the dashboard).  A subscriber takes either this or
#: ``"task"``, not both.
TASK_STATES = "task-states"


@dataclass(slots=True)
class TaskRows:
    """Task transitions in bulk, as columns: ``columns[field][i]`` is the ``field``
    (one of :data:`TASK_FIELDS`) of the i-th transition.

    A distributed scheduler publishes one every events interval (and before any
    other record, so the order holds): the transitions that carry timings or an
    error, then, per key that changed otherwise, one from its state then to its
    state now.  No record object per transition: records that live for an
    interval get promoted and make the scheduler's full collections come sooner
    (the scheduler collects plain tuples, which the collector soon stops
    tracking, and transposes them once).  Values are ready for the wire: a tuple
    key is a list, and ``startstops`` is ragged: the column holds how many ``(action,
    begin, end)`` triples each transition has, and ``columns["startstops-values"]``
    all their values one after the other.  A key forgotten that the reader was told
    of before travels as its key alone (``columns["forgotten"]``, after the first
    ``columns["forgotten-at"]`` rows): a reader takes its run and prefix from what it
    knows (``run_id`` None), and half of the rows of a finished map are spared.
    Many keys of one run and prefix that went to ``processing`` on one worker, new to
    the reader, travel as a count (``columns["processing-counts"]``: ``[run_id,
    prefix, worker, n]`` each; :class:`TasksProcessing` for a reader), not a row each:
    with short tasks, a worker holds hundreds at a time.  How many tasks of a run and
    prefix wait in the scheduler's queue, where that changed, travel as
    ``columns["queued-counts"]`` (``[run_id, prefix, n]``; :class:`TasksQueued`).
    Writers collect flat rows (:func:`row_of`) and make the columns once
    (:meth:`from_rows`); a reader turns them back (``eventstream.decode_batch``).
    """

    kind = TASK_STATES
    columns: dict

    @classmethod
    def empty(cls) -> TaskRows:
        return cls({f: [] for f in (*TASK_FIELDS, "startstops-values")})

    @classmethod
    def from_rows(cls, rows: list, gone=(), counts=(), queued=()) -> TaskRows:
        """The columns of *rows*, flat rows as :func:`row_of` makes them (a tuple key
        as it is): a pass in C per column rather than a dozen appends per transition.
        (Not ``zip(*rows)``: that makes an iterator object per row, which a garbage
        collection in the middle of the transpose would promote.)  *gone* is
        ``[at, key, at, key, ...]``: keys forgotten after the first *at* rows, whose
        reader knows them (``columns["forgotten"]`` and ``["forgotten-at"]``)."""
        if not rows:
            columns = cls.empty().columns
        else:
            columns = {f: list(map(get, rows)) for f, get in zip(TASK_FIELDS, _FIELD_GETTERS)}
            columns["key"] = keys_for_wire(columns["key"])
            if set(map(len, rows)) == _ONE_TRIPLE:  # nearly always: interleave three columns
                values = [None] * (3 * len(rows))
                for at, get in enumerate(_TRIPLE_GETTERS):
                    values[at::3] = map(get, rows)
            else:
                values = list(itertools.chain.from_iterable(map(_TRIPLES, rows)))
            columns["startstops-values"] = values
        if gone:
            columns["forgotten-at"] = gone[0::2]
            columns["forgotten"] = keys_for_wire(gone[1::2])
        if counts:
            columns["processing-counts"] = [list(c) for c in counts]
        if queued:
            columns["queued-counts"] = [list(q) for q in queued]
        return cls(columns)

    @property
    def weight(self) -> int:
        """How many records this holds (what a :class:`Buffer` counts)."""
        columns = self.columns
        return (len(columns["key"]) + len(columns.get("forgotten", ()))
                + len(columns.get("processing-counts", ()))
                + len(columns.get("queued-counts", ())))  # fmt: skip


@dataclass(slots=True)
class PackedTaskRows:
    """A :class:`TaskRows` a worker made and packed (``taskcolumns.pack_task_rows``):
    the rows of the tasks it finished, with their timings, which a scheduler passes
    on to its readers without unpacking them (see ``scheduler/publish.py``).  ``n``
    is how many rows ``data`` holds (a :class:`Buffer` counts them);
    ``taskcolumns.unpack_task_rows`` gives the :class:`TaskRows` back."""

    kind = TASK_STATES
    data: bytes
    n: int

    @property
    def weight(self) -> int:
        return self.n


#: Keys of one run and prefix that start processing on one worker together (in one
#: flush of a scheduler, in one batch of a local run) from which they go as one
#: :class:`TasksProcessing` count instead of a record each.
PROCESSING_COUNT_FROM = 16


@dataclass(slots=True)
class TasksProcessing:
    """``n`` tasks of run ``run_id`` and ``prefix``, not named, went from waiting to
    ``processing`` on ``worker`` (see :class:`TaskRows`); their next rows name them,
    from ``processing``."""

    kind = "tasks-processing"
    run_id: str
    prefix: str
    worker: str
    n: int


@dataclass(slots=True)
class TasksQueued:
    """``n`` tasks of run ``run_id`` and ``prefix`` wait in the scheduler's queue now
    (root tasks held back until a worker has room: ``worker-saturation``).  A gauge,
    sent when it changed: the keys themselves are not reported until they run (see
    :class:`TaskRows`), so a reader tells queued from waiting by it."""

    kind = "tasks-queued"
    run_id: str
    prefix: str
    n: int


@dataclass(slots=True)
class ComputationFinished:
    """A computation ended with ``status`` "finished", "error" or "cancelled"."""

    kind = "computation-finished"
    run_id: str
    status: str
    time: float
    exception: str = ""


#: Kinds of record that stay in their process: an event stream never sends them (nor
#: does its subscription make a scheduler publish them).
IN_PROCESS_KINDS = frozenset({"cache"})


@dataclass(slots=True)
class ResultsCached:
    """What a local computation's results did in one step of its engine: the
    results it stored, as ``(key, prefix, value)``, and the keys of results it
    freed (no task left needs them).  Published only while someone wants kind
    ``"cache"`` (a :class:`~shoal.diagnostics.CacheProfiler`, which measures the
    values in the publisher's thread and keeps none); never sent between
    processes."""

    kind = "cache"
    run_id: str
    stored: list
    freed: list
    time: float


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
    """Periodic worker health: memory split, CPU, whether it is paused (it runs no new
    task until its memory falls below the pause threshold, less a margin), and optional
    profile samples."""

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
    paused: bool = False


@dataclass(slots=True)
class SystemMetrics:
    """The scheduler's process (a distributed scheduler's, or the user's for the local
    schedulers): CPU in % of one core, resident memory in bytes, open files."""

    kind = "system"
    time: float
    cpu: float = 0.0
    memory: int = 0
    num_fds: int = 0


def iter_startstops(startstops):
    """``(action, start, stop)`` of a task's startstops, given as triples (shoal's) or
    as ``{"action", "start", "stop"}`` dicts (Dask's ``get_task_stream`` shape); a dict
    without an action is a compute."""
    for ss in startstops or ():
        if isinstance(ss, dict):
            yield ss.get("action", "compute"), float(ss["start"]), float(ss["stop"])
        else:
            action, begin, end = ss
            yield action, float(begin), float(end)
