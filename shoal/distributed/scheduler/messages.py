"""What the scheduler state machine consumes (events) and emits (instructions).

::

    worker / client / server --{"op": ...} dict--> parse_event() --> Event
    SchedulerState.handle(*events) --> [Instruction, ...] --to_msg()--> {"op": ...}

Every record is a small slotted dataclass with a class-level ``op`` (its name on
the wire) and a ``stimulus_id``: the name of the outside happening that caused
it.  An instruction carries the ``stimulus_id`` of the event that produced it, so
a key's story can be followed from a worker's message to the scheduler's
answer.  An event read from a dict without a ``stimulus_id`` gets a fresh one.

``to_msg()`` gives the wire dict (``{"op": op, **fields}``) and
``cls.from_msg(msg)`` reads one back, ignoring keys it does not know (newer
peers may add fields) and naming the op when a required field is missing.
Events and instructions are two separate vocabularies: ``"task-erred"`` is a
worker's report (:class:`TaskErred`) going in and a client notice
(:class:`ClientTaskErred`) going out, so :func:`parse_event` and
:func:`parse_instruction` each look up their own table.

Payloads such as ``run_spec``, ``exception`` and ``traceback`` are opaque: the
state machine stores and forwards them but never looks inside.  Keys arrive as
the server decoded them; tuple keys must already be tuples (the protocol layer
owns that conversion).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "AddClient", "AddKeys", "AddWorker", "Balance", "CancelKeys", "CancelledKeys",
    "ClientDesiresKeys", "ClientReleasesKeys", "ClientTaskErred", "ComputeTask", "Event", "FreeKeys", "Heartbeat", "Instruction", "KeyInMemory", "KilledWorker",
    "LongRunning", "LostData", "MissingData", "Publish", "ReleaseWorkerData", "RemoveClient",
    "RemoveWorker", "ReportTaskRows", "Reschedule", "RetryKeys", "StealRequest", "StealResponse",
    "TaskErred", "TaskFinished", "TaskRetried", "TaskRowsReported", "UpdateData", "UpdateGraph",
    "WorkerStatusChange",
    "HANDLERS", "handles", "merge_free_keys",
    "parse_event", "parse_instruction",
]  # fmt: skip

_ids = itertools.count()


class KilledWorker(Exception):
    """A task was running on ``allowed-failures + 1`` workers as each one died.

    The scheduler stops retrying it: the task itself probably kills its worker
    (a segfault, ``sys.exit``, memory blow-up).

    >>> print(KilledWorker("f-1", "tcp://w:1", 3))
    task 'f-1' was running on 4 workers that died; the last was tcp://w:1 (allowed-failures=3)
    """

    def __init__(self, key, last_worker: str, allowed_failures: int = 0, reason: str = ""):
        super().__init__(key, last_worker, allowed_failures, reason)  # keeps it picklable
        self.key = key
        self.last_worker = last_worker
        self.allowed_failures = allowed_failures
        self.reason = reason  # why the last one died, as the scheduler knows it

    def __str__(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return (
            f"task {self.key!r} was running on {self.allowed_failures + 1} workers that died; "
            f"the last was {self.last_worker} (allowed-failures={self.allowed_failures}){why}"
        )


class _Message:
    """Shared wire conversion; subclasses are slotted dataclasses."""

    __slots__ = ()
    op: ClassVar[str]

    def __post_init__(self):
        if not self.stimulus_id:
            self.stimulus_id = f"{self.op}-{next(_ids)}"

    def to_msg(self) -> dict:
        """The ``{"op": ...}`` dict for the wire (shallow: payloads untouched)."""
        msg = {"op": self.op}
        for name in _names(type(self)):
            msg[name] = getattr(self, name)
        return msg

    @classmethod
    def from_msg(cls, msg: dict):
        """Build from a wire dict; unknown keys are ignored."""
        known = _names(cls)
        kwargs = {k: v for k, v in msg.items() if k in known}
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise TypeError(f"malformed {cls.op!r} message: {exc}") from None

    def match(self, **expected) -> bool:
        """True when every given field equals this record's value (test helper)."""
        return all(getattr(self, k) == v for k, v in expected.items())


@functools.cache
def _names(cls) -> tuple:
    """Field names of a message class (cached: ``fields()`` is slow on the hot path)."""
    return tuple(f.name for f in fields(cls))


def _startstops(raw) -> tuple:
    """``(action, start, stop)`` triples from wire lists (or dicts with those keys)."""
    out = []
    for item in raw or ():
        if isinstance(item, dict):
            item = (item.get("action", ""), item.get("start", 0.0), item.get("stop", 0.0))
        out.append(tuple(item))
    return tuple(out)


def _sid():
    return field(default="", kw_only=True)


class Event(_Message):
    """Base of everything :meth:`SchedulerState.handle` accepts."""

    __slots__ = ()


class Instruction(_Message):
    """Base of everything :meth:`SchedulerState.handle` returns."""

    __slots__ = ()


# --- client -> scheduler -----------------------------------------------------


@dataclass(slots=True)
class UpdateGraph(Event):
    """New tasks (``tasks``: key -> run_spec) and the keys the client wants back."""

    op: ClassVar[str] = "update-graph"
    tasks: dict
    dependencies: dict
    keys: list
    client: str
    priority: dict = field(default_factory=dict)
    user_priority: int = 0
    user_priorities: dict = field(default_factory=dict)  # key -> int, over user_priority
    restrictions: dict = field(default_factory=dict)
    loose_restrictions: list = field(default_factory=list)
    resources: dict = field(default_factory=dict)
    retries: dict = field(default_factory=dict)
    stimulus_id: str = _sid()


@dataclass(slots=True)
class ClientDesiresKeys(Event):
    op: ClassVar[str] = "client-desires-keys"
    keys: list
    client: str
    stimulus_id: str = _sid()


@dataclass(slots=True)
class ClientReleasesKeys(Event):
    op: ClassVar[str] = "client-releases-keys"
    keys: list
    client: str
    stimulus_id: str = _sid()


@dataclass(slots=True)
class CancelKeys(Event):
    """Stop computing ``keys`` (and their dependents) for ``client``; ``force``
    cancels them for every client."""

    op: ClassVar[str] = "cancel-keys"
    keys: list
    client: str
    force: bool = False
    stimulus_id: str = _sid()


@dataclass(slots=True)
class RetryKeys(Event):
    """Re-run erred ``keys`` and the erred tasks they depend on."""

    op: ClassVar[str] = "retry"
    keys: list
    client: str = ""
    stimulus_id: str = _sid()


@dataclass(slots=True)
class AddClient(Event):
    op: ClassVar[str] = "add-client"
    client: str
    stimulus_id: str = _sid()


@dataclass(slots=True)
class RemoveClient(Event):
    op: ClassVar[str] = "remove-client"
    client: str
    stimulus_id: str = _sid()


@dataclass(slots=True)
class UpdateData(Event):
    """``client`` put values on workers directly (scatter): ``who_has`` key -> addresses."""

    op: ClassVar[str] = "update-data"
    who_has: dict
    nbytes: dict
    client: str
    types: dict = field(default_factory=dict)
    stimulus_id: str = _sid()


# --- worker -> scheduler -----------------------------------------------------


@dataclass(slots=True)
class AddWorker(Event):
    op: ClassVar[str] = "add-worker"
    address: str
    nthreads: int
    memory_limit: int = 0
    resources: dict = field(default_factory=dict)
    name: str = ""
    nanny: str = ""
    stimulus_id: str = _sid()


@dataclass(slots=True)
class RemoveWorker(Event):
    """A worker left: ``safe`` for a clean close, False for a crash or a lost
    connection (tasks running there then become suspicious)."""

    op: ClassVar[str] = "remove-worker"
    address: str
    reason: str = ""
    safe: bool = False
    stimulus_id: str = _sid()


@dataclass(slots=True)
class TaskFinished(Event):
    op: ClassVar[str] = "task-finished"
    worker: str
    key: Any
    run_id: int
    nbytes: int = 0
    type: str = ""
    startstops: Any = ()
    thread: int = 0
    #: its row is in the worker's TaskRowsReported before it (worker/taskrows.py)
    reported: bool = False
    stimulus_id: str = _sid()

    def __post_init__(self):
        _Message.__post_init__(self)
        self.startstops = _startstops(self.startstops)


@dataclass(slots=True)
class TaskRowsReported(Event):
    """A worker's packed task-stream rows of the reports that follow in its batch
    (``worker/taskrows.py``): passed on to the dashboard, never unpacked here."""

    op: ClassVar[str] = "task-rows"
    worker: str
    data: bytes = b""
    n: int = 0
    stimulus_id: str = _sid()


@dataclass(slots=True)
class TaskErred(Event):
    """A worker reports that the task raised (``exception`` is opaque)."""

    op: ClassVar[str] = "task-erred"
    worker: str
    key: Any
    run_id: int
    exception: Any = None
    traceback: Any = None
    exception_text: str = ""
    traceback_text: str = ""
    startstops: Any = ()
    thread: int = 0
    stimulus_id: str = _sid()

    def __post_init__(self):
        _Message.__post_init__(self)
        self.startstops = _startstops(self.startstops)


@dataclass(slots=True)
class AddKeys(Event):
    """``worker`` now holds replicas of ``keys`` (fetched as inputs, or scattered)."""

    op: ClassVar[str] = "add-keys"
    worker: str
    keys: list
    stimulus_id: str = _sid()


@dataclass(slots=True)
class MissingData(Event):
    """A worker could not fetch ``key`` from ``errant_worker``: it is not there."""

    op: ClassVar[str] = "missing-data"
    key: Any
    errant_worker: str
    stimulus_id: str = _sid()


@dataclass(slots=True)
class ReleaseWorkerData(Event):
    """``worker`` dropped its copy of ``key``."""

    op: ClassVar[str] = "release-worker-data"
    worker: str
    key: Any
    stimulus_id: str = _sid()


@dataclass(slots=True)
class Reschedule(Event):
    """``worker`` gives ``key`` back: place it again (no suspicion counted)."""

    op: ClassVar[str] = "reschedule"
    worker: str
    key: Any
    stimulus_id: str = _sid()


@dataclass(slots=True)
class LongRunning(Event):
    """``key``'s thread on ``worker`` seceded after ``compute_duration`` seconds: it runs
    on there but no longer takes one of the worker's threads."""

    op: ClassVar[str] = "long-running"
    worker: str
    key: Any
    run_id: int
    compute_duration: float = 0.0
    stimulus_id: str = _sid()


@dataclass(slots=True)
class WorkerStatusChange(Event):
    """``worker`` paused (its memory is past the pause threshold: it starts nothing new)
    or runs again (``status`` "paused" or "running")."""

    op: ClassVar[str] = "worker-status-change"
    worker: str
    status: str
    stimulus_id: str = _sid()
    #: the scheduler's own "running" for a worker it retired: a retirement called off
    #: (a worker's own "running", the end of a pause, leaves a retiring one retiring)
    retire_cancelled: bool = False


@dataclass(slots=True)
class Heartbeat(Event):
    op: ClassVar[str] = "heartbeat"
    worker: str
    metrics: dict = field(default_factory=dict)
    stimulus_id: str = _sid()


@dataclass(slots=True)
class StealResponse(Event):
    """The victim's answer to a steal request: its own state for ``key``."""

    op: ClassVar[str] = "steal-response"
    worker: str
    key: Any
    state: Any = None
    stimulus_id: str = _sid()


# --- server -> state (a periodic tick) ---------------------------------------


@dataclass(slots=True)
class Balance(Event):
    """Look for work to steal (sent by the server every stealing interval)."""

    op: ClassVar[str] = "balance"
    stimulus_id: str = _sid()


# --- scheduler -> worker -----------------------------------------------------


@dataclass(slots=True)
class ComputeTask(Instruction):
    op: ClassVar[str] = "compute-task"
    worker: str
    key: Any
    run_id: int
    priority: tuple
    duration: float
    run_spec: Any
    who_has: dict  # dependency key -> [worker addresses]
    nbytes: dict  # dependency key -> bytes
    resource_restrictions: dict = field(default_factory=dict)
    graph: str = ""  # its graph (run) id: the worker's task rows name it
    stimulus_id: str = _sid()


@dataclass(slots=True)
class FreeKeys(Instruction):
    """``worker`` should forget ``keys``: drop the data or stop the task."""

    op: ClassVar[str] = "free-keys"
    worker: str
    keys: list
    stimulus_id: str = _sid()


def merge_free_keys(instructions: list) -> list:
    """*instructions* with each worker's run of ``FreeKeys`` (same stimulus, nothing else
    to that worker in between) as one message: releasing a 10,000-task result made
    10,000 messages, each two objects the garbage collector promoted, and as many
    handler calls on the workers.  The order of what each worker is told holds.

    >>> free = lambda worker, key: FreeKeys(worker, [key], stimulus_id="s1")
    >>> compute = ComputeTask("a", "q", 1, (0,), 1.0, None, {}, {}, stimulus_id="s1")
    >>> merged = merge_free_keys([free("a", "x"), free("b", "y"), free("a", "z"), compute,
    ...                           free("a", "w")])
    >>> [(i.worker, getattr(i, "keys", "compute")) for i in merged]
    [('a', ['x', 'z']), ('b', ['y']), ('a', 'compute'), ('a', ['w'])]
    """
    out, open_ = [], {}  # worker -> the FreeKeys still taking keys
    for ins in instructions:
        if type(ins) is FreeKeys:
            first = open_.get(ins.worker)
            if first is not None and first.stimulus_id == ins.stimulus_id:
                first.keys.extend(ins.keys)
                continue
            open_[ins.worker] = ins
        else:
            worker = getattr(ins, "worker", None)
            if worker is not None:
                open_.pop(worker, None)  # later keys go after this one
        out.append(ins)
    return out


@dataclass(slots=True)
class StealRequest(Instruction):
    op: ClassVar[str] = "steal-request"
    worker: str
    key: Any
    stimulus_id: str = _sid()


@dataclass(slots=True)
class ReportTaskRows(Instruction):
    """``worker`` should (``on``) or should no longer send the rows of the tasks it
    finishes (a dashboard started or stopped listening; ``worker/taskrows.py``)."""

    op: ClassVar[str] = "report-task-rows"
    worker: str
    on: bool
    stimulus_id: str = _sid()


# --- scheduler -> client -----------------------------------------------------


@dataclass(slots=True)
class KeyInMemory(Instruction):
    op: ClassVar[str] = "key-in-memory"
    client: str
    key: Any
    type: str = ""
    stimulus_id: str = _sid()


@dataclass(slots=True)
class ClientTaskErred(Instruction):
    """Tell ``client`` that ``key`` failed (with the blamed task's exception)."""

    op: ClassVar[str] = "task-erred"
    client: str
    key: Any
    exception: Any = None
    traceback: Any = None
    stimulus_id: str = _sid()


@dataclass(slots=True)
class TaskRetried(Instruction):
    """An erred ``key`` the client holds is being computed again (``retry``)."""

    op: ClassVar[str] = "task-retried"
    client: str
    key: Any
    stimulus_id: str = _sid()


@dataclass(slots=True)
class CancelledKeys(Instruction):
    op: ClassVar[str] = "cancelled-keys"
    client: str
    keys: list
    reason: str = ""
    stimulus_id: str = _sid()


@dataclass(slots=True)
class LostData(Instruction):
    """A result the client holds was lost with its worker; it may be recomputed."""

    op: ClassVar[str] = "lost-data"
    client: str
    key: Any
    stimulus_id: str = _sid()


# --- scheduler -> server -----------------------------------------------------


@dataclass(slots=True)
class Publish(Instruction):
    """Put ``record`` (a :mod:`shoal.events` record) on the scheduler's bus."""

    op: ClassVar[str] = "publish"
    record: Any
    stimulus_id: str = _sid()


_EVENTS = {
    c.op: c
    for c in (
        UpdateGraph, ClientDesiresKeys, ClientReleasesKeys, CancelKeys, RetryKeys,
        AddClient, RemoveClient, UpdateData, AddWorker, RemoveWorker, TaskFinished, TaskErred,
        AddKeys, MissingData, ReleaseWorkerData, Reschedule, LongRunning, Heartbeat,
        StealResponse, Balance, TaskRowsReported, WorkerStatusChange,
    )
}  # fmt: skip
_INSTRUCTIONS = {
    c.op: c
    for c in (
        ComputeTask, FreeKeys, StealRequest, ReportTaskRows, KeyInMemory, ClientTaskErred,
        TaskRetried, CancelledKeys, LostData, Publish,
    )
}  # fmt: skip


#: Event type -> the SchedulerState method that consumes it (``SchedulerState.handle``);
#: filled by :func:`handles` where the methods are defined (state.py and its mixins).
HANDLERS: dict = {}


def handles(event_type):
    """Register the decorated method as the state's handler of ``event_type``."""
    def register(fn):
        HANDLERS[event_type] = fn
        return fn

    return register


def parse_event(msg: dict) -> Event:
    """The event for a wire dict; an unknown op raises ``ValueError``.

    >>> parse_event({"op": "add-client", "client": "c1", "stimulus_id": "s1"})
    AddClient(client='c1', stimulus_id='s1')
    """
    return _lookup(_EVENTS, msg).from_msg(msg)


def parse_instruction(msg: dict) -> Instruction:
    """The instruction for a wire dict (the inverse of ``Instruction.to_msg``)."""
    return _lookup(_INSTRUCTIONS, msg).from_msg(msg)


def _lookup(table: dict, msg) -> type:
    op = msg.get("op") if isinstance(msg, dict) else None
    try:
        return table[op]
    except KeyError:
        raise ValueError(f"unknown op {op!r}; expected one of {sorted(table)}") from None
