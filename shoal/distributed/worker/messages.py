"""Events into and instructions out of the worker state machine.

Everything that happens to a worker reaches :class:`~.state.WorkerState` as an
*event*; everything the state machine wants done comes back as an
*instruction*.  Both are small slotted dataclasses with keyword-only fields and
a ``stimulus_id`` naming the stimulus that caused them, so a key's story can be
followed across scheduler, worker and peers::

    scheduler --compute-task-->  WorkerState.handle(event)  --> [instructions]
    thread pool --ExecuteSuccess-->        |                     |
    peer fetch  --GatherDepSuccess-->      |        Execute / GatherDep  -> server runs them
                                           |        TaskFinishedMsg ...  -> sent to the scheduler

Four families live here:

- **wire events** (``ComputeTask``, ``FreeKeys``, ``StealRequest``,
  ``AcquireReplicas``, ``RemoveReplicas``): built from scheduler messages with
  :meth:`WorkerEvent.from_msg`;
- **internal events** from the server layer (execution and transfer results,
  pause, periodic ticks);
- **internal instructions** the server carries out (``Execute``, ``GatherDep``,
  ``RetryBusyWorkerLater``, ``RequestWhoHas``);
- **wire instructions** (the ``...Msg`` classes) that the server sends to the
  scheduler as ``msg.to_msg()``, a ``{"op": ...}`` dict.

Large payloads (a task's result, fetched values, the task's own serialized
function and arguments) ride on events in fields that are left out of ``repr``
and of :meth:`to_dict`; the state machine's stimulus log keeps
:meth:`WorkerEvent.log_entry` tuples without them, so that a result released
by the scheduler is freed at once rather than when 100,000 later events have
pushed its event out of the log.
Exceptions and tracebacks are opaque here: the server serializes them.
"""

from __future__ import annotations

import functools
import itertools
import operator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from shoal.distributed.taskcolumns import key_from_wire

__all__ = [
    "WorkerEvent", "Instruction", "SchedulerMsg",
    # events from the scheduler
    "ComputeTask", "FreeKeys", "StealRequest", "AcquireReplicas", "RemoveReplicas",
    # events from the server layer
    "UpdateData", "ExecuteSuccess", "ExecuteFailure", "ExecuteReschedule", "Secede",
    "GatherDepSuccess", "GatherDepFailure", "GatherDepNetworkFailure", "GatherDepBusy",
    "Pause", "Unpause", "RetryBusyWorker", "FindMissing", "RefreshWhoHas",
    # instructions for the server layer
    "Execute", "GatherDep", "RetryBusyWorkerLater", "RequestWhoHas",
    # messages to the scheduler
    "TaskFinishedMsg", "TaskErredMsg", "MissingDataMsg", "ReleaseWorkerDataMsg",
    "RescheduleMsg", "LongRunningMsg", "WorkerStatusMsg", "StealResponseMsg", "AddKeysMsg",
    "from_log_entry",
]  # fmt: skip

_anonymous = itertools.count()


def _payload_field() -> Any:
    """A field carrying data: not compared, not shown, not dumped."""
    return field(default=None, repr=False, compare=False, metadata={"payload": True})


@functools.cache
def _names(cls) -> tuple:
    """Field names of a record class (cached: ``fields()`` is slow on the hot path)."""
    return tuple(f.name for f in fields(cls))


@functools.cache
def _payload_positions(cls) -> frozenset:
    """Positions among :func:`_names` of a record class's payload fields (see
    :func:`_payload_field`)."""
    return frozenset(i for i, f in enumerate(fields(cls)) if f.metadata.get("payload"))


def from_log_entry(entry: tuple) -> WorkerEvent:
    """The event a :meth:`WorkerEvent.log_entry` tuple stands for."""
    return _rebuild(_event_classes()[entry[0]], entry[1:])


@functools.cache
def _event_classes() -> dict:
    """Every event class by name (subclasses of subclasses too)."""
    found, todo = {}, [WorkerEvent]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


@functools.cache
def _getter(cls):
    """All fields of a record class in one C call (a tuple, even for one field)."""
    names = _names(cls)
    if len(names) == 1:
        return lambda record, get=operator.attrgetter(names[0]): (get(record),)
    return operator.attrgetter(*names)


def _rebuild(cls, values: tuple):
    """The record of class *cls* with these field values (``__post_init__`` not run:
    they are a record's values already)."""
    record = object.__new__(cls)
    for name, value in zip(_names(cls), values):
        object.__setattr__(record, name, value)
    return record


class _Record:
    """Shared helpers of events and instructions (``to_dict`` for dumps)."""

    __slots__ = ()

    def to_dict(self) -> dict:
        """The record's fields (payloads left out) plus its class name."""
        out = {"cls": type(self).__name__}
        for f in fields(self):
            if not f.metadata.get("payload"):
                out[f.name] = getattr(self, f.name)
        return out


@dataclass(slots=True, kw_only=True)
class WorkerEvent(_Record):
    """Something that happened: input of ``WorkerState.handle``."""

    stimulus_id: str
    #: the scheduler ``op`` this event is built from, or None for internal events
    op: ClassVar[str | None] = None

    def log_entry(self) -> tuple:
        """This event as the stimulus log keeps it: ``(class name, *field values)``,
        payload fields None (the state has taken what it needs).  Plain data, so
        the log packs it with marshal; :func:`from_log_entry` makes the event again."""
        cls = type(self)
        values = _getter(cls)(self)
        payloads = _payload_positions(cls)
        if payloads:
            values = tuple(None if i in payloads else v for i, v in enumerate(values))
        return (cls.__name__, *values)

    @classmethod
    def from_msg(cls, msg: dict) -> WorkerEvent:
        """Build the event from a scheduler message dict (extra fields ignored)."""
        if cls.op is None:
            raise TypeError(f"{cls.__name__} is internal and has no wire form")
        names = _names(cls)
        kwargs = {k: v for k, v in msg.items() if k in names}
        if not kwargs.get("stimulus_id"):
            kwargs["stimulus_id"] = f"{cls.op}-{next(_anonymous)}"
        return cls(**kwargs)


@dataclass(slots=True, kw_only=True)
class Instruction(_Record):
    """Something to do: output of ``WorkerState.handle``."""

    stimulus_id: str


@dataclass(slots=True, kw_only=True)
class SchedulerMsg(Instruction):
    """An instruction that is a message to the scheduler."""

    op: ClassVar[str] = ""

    def to_msg(self) -> dict:
        """The ``{"op": ...}`` dict the server sends over the batched stream."""
        msg = {"op": self.op}
        for name in _names(type(self)):
            msg[name] = getattr(self, name)
        return msg


# --------------------------------------------------------------------------
# Events from the scheduler (wire)
# --------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class ComputeTask(WorkerEvent):
    """Run ``key`` here; its dependencies live on the workers in ``who_has``."""

    op: ClassVar[str] = "compute-task"
    key: Any
    run_id: int = -1
    graph: str = ""
    priority: tuple | None = None
    duration: float | None = None
    run_spec: Any = _payload_field()
    who_has: dict = field(default_factory=dict)
    nbytes: dict = field(default_factory=dict)
    resource_restrictions: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # msgpack turns tuples into lists: restore keys and the priority
        self.key = key_from_wire(self.key)
        if self.priority is not None:
            self.priority = tuple(self.priority)
        self.who_has = {key_from_wire(k): list(v) for k, v in (self.who_has or {}).items()}
        self.nbytes = {key_from_wire(k): v for k, v in (self.nbytes or {}).items()}
        self.resource_restrictions = dict(self.resource_restrictions or {})


@dataclass(slots=True, kw_only=True)
class FreeKeys(WorkerEvent):
    """The scheduler no longer needs these keys here."""

    op: ClassVar[str] = "free-keys"
    keys: list

    def __post_init__(self) -> None:
        self.keys = [key_from_wire(k) for k in self.keys]


@dataclass(slots=True, kw_only=True)
class StealRequest(WorkerEvent):
    """The scheduler wants to move ``key`` to another worker."""

    op: ClassVar[str] = "steal-request"
    key: Any

    def __post_init__(self) -> None:
        self.key = key_from_wire(self.key)


@dataclass(slots=True, kw_only=True)
class AcquireReplicas(WorkerEvent):
    """Fetch copies of these keys from the listed peers (no task needs them)."""

    op: ClassVar[str] = "acquire-replicas"
    who_has: dict
    nbytes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.who_has = {key_from_wire(k): list(v) for k, v in self.who_has.items()}
        self.nbytes = {key_from_wire(k): v for k, v in (self.nbytes or {}).items()}


@dataclass(slots=True, kw_only=True)
class RemoveReplicas(WorkerEvent):
    """Drop these replicas if no task here still needs them."""

    op: ClassVar[str] = "remove-replicas"
    keys: list

    def __post_init__(self) -> None:
        self.keys = [key_from_wire(k) for k in self.keys]


# --------------------------------------------------------------------------
# Events from the server layer (internal)
# --------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class UpdateData(WorkerEvent):
    """Values put on this worker directly (scatter); ``report`` tells the scheduler."""

    data: dict = _payload_field()
    data_nbytes: dict = field(default_factory=dict)
    report: bool = True


@dataclass(slots=True, kw_only=True)
class ExecuteSuccess(WorkerEvent):
    """A task ran to completion; ``value`` is its result."""

    key: Any
    run_id: int = -1
    value: Any = _payload_field()
    value_nbytes: int = 0
    type: Any = None
    start: float = 0.0
    stop: float = 0.0
    thread: int | None = None


@dataclass(slots=True, kw_only=True)
class ExecuteFailure(WorkerEvent):
    """A task raised; the exception and traceback are opaque (serialized by the server)."""

    key: Any
    run_id: int = -1
    exception: Any = None
    traceback: Any = None
    exception_text: str = ""
    traceback_text: str = ""
    start: float | None = None
    stop: float | None = None
    thread: int | None = None


@dataclass(slots=True, kw_only=True)
class ExecuteReschedule(WorkerEvent):
    """A task raised ``Reschedule``: give it back to the scheduler."""

    key: Any
    run_id: int = -1


@dataclass(slots=True, kw_only=True)
class Secede(WorkerEvent):
    """The thread running ``key`` left the pool to wait (``secede()``): it frees its slot."""

    key: Any
    run_id: int = -1
    compute_duration: float = 0.0


@dataclass(slots=True, kw_only=True)
class GatherDepSuccess(WorkerEvent):
    """A peer answered; requested keys missing from ``data_nbytes`` it did not hold, and
    those in ``errors`` (key -> packed exception) it could not send or this worker could
    not unpickle (the others arrived: one bad value spoils only its key)."""

    worker: str
    data: dict = _payload_field()
    errors: dict = field(default_factory=dict)  # (kept in the story: the keys that erred)
    data_nbytes: dict = field(default_factory=dict)
    total_nbytes: int = 0
    start: float | None = None
    stop: float | None = None


@dataclass(slots=True, kw_only=True)
class GatherDepFailure(WorkerEvent):
    """The transfer failed for a reason other than the network (e.g. unpickling)."""

    worker: str
    exception: Any = None
    traceback: Any = None
    exception_text: str = ""
    traceback_text: str = ""


@dataclass(slots=True, kw_only=True)
class GatherDepNetworkFailure(WorkerEvent):
    """The peer could not be reached: assume it is gone."""

    worker: str
    exception_text: str = ""


@dataclass(slots=True, kw_only=True)
class GatherDepBusy(WorkerEvent):
    """The peer is serving too many requests; try again later."""

    worker: str


@dataclass(slots=True, kw_only=True)
class Pause(WorkerEvent):
    """Memory is above the pause threshold: start nothing new."""


@dataclass(slots=True, kw_only=True)
class Unpause(WorkerEvent):
    """Memory is back under the threshold: resume."""


@dataclass(slots=True, kw_only=True)
class RetryBusyWorker(WorkerEvent):
    """The back-off asked for by :class:`RetryBusyWorkerLater` is over."""

    worker: str


@dataclass(slots=True, kw_only=True)
class FindMissing(WorkerEvent):
    """Periodic tick: ask the scheduler where the missing keys are."""


@dataclass(slots=True, kw_only=True)
class RefreshWhoHas(WorkerEvent):
    """Fresh holder lists for keys (the answer to :class:`RequestWhoHas`)."""

    who_has: dict

    def __post_init__(self) -> None:
        self.who_has = {key_from_wire(k): list(v) for k, v in self.who_has.items()}


# --------------------------------------------------------------------------
# Instructions for the server layer (internal)
# --------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Execute(Instruction):
    """Run ``key`` on the thread pool; answer with ExecuteSuccess/Failure/Reschedule."""

    key: Any
    run_id: int = -1


@dataclass(slots=True, kw_only=True)
class GatherDep(Instruction):
    """Fetch ``keys`` from ``worker`` in one message; answer with a GatherDep* event."""

    worker: str
    keys: list
    total_nbytes: int


@dataclass(slots=True, kw_only=True)
class RetryBusyWorkerLater(Instruction):
    """After a back-off, feed ``RetryBusyWorker(worker=...)``."""

    worker: str


@dataclass(slots=True, kw_only=True)
class RequestWhoHas(Instruction):
    """Ask the scheduler who holds ``keys``; feed the answer as RefreshWhoHas."""

    keys: list


# --------------------------------------------------------------------------
# Messages to the scheduler (wire)
# --------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class TaskFinishedMsg(SchedulerMsg):
    """``key`` is in memory here."""

    op: ClassVar[str] = "task-finished"
    key: Any
    run_id: int
    nbytes: int | None
    type: Any
    startstops: list
    thread: int | None = None


@dataclass(slots=True, kw_only=True)
class TaskErredMsg(SchedulerMsg):
    """``key`` raised (or its result could not be stored)."""

    op: ClassVar[str] = "task-erred"
    key: Any
    run_id: int
    exception: Any
    traceback: Any
    exception_text: str
    traceback_text: str
    startstops: list
    thread: int | None = None


@dataclass(slots=True, kw_only=True)
class MissingDataMsg(SchedulerMsg):
    """``errant_worker`` was said to hold ``key`` but does not."""

    op: ClassVar[str] = "missing-data"
    key: Any
    errant_worker: str


@dataclass(slots=True, kw_only=True)
class ReleaseWorkerDataMsg(SchedulerMsg):
    """This worker dropped its copy of ``key``."""

    op: ClassVar[str] = "release-worker-data"
    key: Any


@dataclass(slots=True, kw_only=True)
class RescheduleMsg(SchedulerMsg):
    """``key`` asked to be rescheduled; this worker gave it up."""

    op: ClassVar[str] = "reschedule"
    key: Any


@dataclass(slots=True, kw_only=True)
class LongRunningMsg(SchedulerMsg):
    """``key`` seceded here: it runs on, but no longer takes one of this worker's threads."""

    op: ClassVar[str] = "long-running"
    key: Any
    run_id: int
    compute_duration: float


@dataclass(slots=True, kw_only=True)
class WorkerStatusMsg(SchedulerMsg):
    """This worker paused (memory past the pause threshold) or runs again."""

    op: ClassVar[str] = "worker-status-change"
    status: str  # "paused" or "running"


@dataclass(slots=True, kw_only=True)
class StealResponseMsg(SchedulerMsg):
    """Answer to steal-request: ``state`` is "released" when the key was given up."""

    op: ClassVar[str] = "steal-response"
    key: Any
    state: str | None


@dataclass(slots=True, kw_only=True)
class AddKeysMsg(SchedulerMsg):
    """This worker now holds replicas of ``keys`` (fetched, scattered or kept)."""

    op: ClassVar[str] = "add-keys"
    keys: list
