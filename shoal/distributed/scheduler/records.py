"""The scheduler's records: one object per task, worker and client.

``SchedTask``, ``SchedWorker`` and ``SchedClient`` hold the scheduler's view of
each (cross-referenced: a task's ``who_has`` are workers whose ``has_what``
holds it, and so on; ``SchedulerState.validate_state`` checks every link).
``Transition`` and ``Note`` are what ``story(key)`` returns from the bounded
log (which keeps them as plain tuples: ``storylog.PackedLog`` pickles those
five times faster).  Plain data, no behaviour: the transitions live in ``transitions.py``.
"""

from __future__ import annotations

from typing import NamedTuple

from shoal.core.keys import key_split

__all__ = ["NOTHING", "Note", "SchedClient", "SchedTask", "SchedWorker", "Transition"]


#: A task's dependency-side relations (``dependencies``, ``dependents``, ``waiting_on``,
#: ``waiters``) start as this one shared empty set and become a set of their own when
#: they get an element (``if x is NOTHING: x = {y}``): most tasks of a map never do,
#: and four empty sets per task were a third of the objects the garbage collector
#: scanned in a scheduler holding 10,000 tasks.  Emptied relations go back to it
#: (``ts.waiting_on = NOTHING``).
NOTHING: frozenset = frozenset()


class SchedTask:
    """The scheduler's record of one key."""

    __slots__ = (
        "key", "prefix", "run_spec", "priority", "graph", "state", "dependencies",
        "dependents", "waiting_on", "waiters", "who_wants", "who_has", "processing_on",
        "run_id", "nbytes", "type", "exception", "traceback", "exception_text",
        "traceback_text", "exception_blame", "erred_on", "retries", "suspicious",
        "worker_restrictions", "loose_restrictions", "resource_restrictions",
    )  # fmt: skip

    def __init__(self, key, run_spec, priority: tuple = (0,), graph: str = ""):
        self.key, self.run_spec, self.priority, self.graph = key, run_spec, priority, graph
        self.prefix, self.state = key_split(key), "released"
        self.dependencies = self.dependents = NOTHING  # SchedTasks
        self.waiting_on = self.waiters = NOTHING  # see the module docstring
        self.who_wants, self.who_has = set(), set()  # SchedClients, SchedWorkers
        self.processing_on = None  # SchedWorker
        self.run_id, self.nbytes, self.type = 0, -1, ""  # nbytes -1: not computed yet
        self.exception = self.traceback = self.exception_blame = None
        self.exception_text = self.traceback_text = ""
        self.erred_on = None  # the SchedWorker it raised on (which keeps its error)
        self.retries = self.suspicious = 0
        self.worker_restrictions = None  # set of addresses / names
        self.loose_restrictions = False
        self.resource_restrictions = None  # {name: amount}

    def __repr__(self) -> str:
        return f"<SchedTask {self.key!r} {self.state}>"


class SchedWorker:
    """The scheduler's record of one worker."""

    __slots__ = (
        "address", "name", "nthreads", "memory_limit", "resources", "used_resources",
        "nanny", "processing", "long_running", "has_what", "nbytes", "occupancy", "metrics",
        "last_seen", "local_directory", "status",
    )  # fmt: skip

    def __init__(self, address, nthreads=1, memory_limit=0, resources=None, name="", nanny=""):
        self.address, self.name, self.nanny = address, name or address, nanny
        self.nthreads, self.memory_limit = max(int(nthreads), 1), memory_limit
        self.resources = dict(resources or {})
        self.used_resources = {k: 0 for k in self.resources}
        self.processing: dict = {}  # SchedTask -> estimated cost (seconds)
        #: the processing tasks whose thread seceded: they cost 0 and take no thread
        self.long_running: set = set()
        self.has_what: dict = {}  # SchedTask -> None: an insertion-ordered set
        self.nbytes, self.occupancy, self.metrics, self.last_seen = 0, 0.0, {}, 0.0
        self.local_directory = ""  # (told at registration; for scheduler_info)
        # "running"; "paused" (memory past its pause threshold) or "closing_gracefully"
        # (retiring: its results are being copied elsewhere): no new tasks go there
        self.status = "running"

    def nanny_address(self) -> str:
        """Its nanny's address; a ValueError naming it when it has none (in-process)."""
        if not self.nanny:
            raise ValueError(f"worker {self.address} has no nanny (nanny=True needs one)")
        return self.nanny

    def __repr__(self) -> str:
        return f"<SchedWorker {self.address} {len(self.processing)} processing>"


class SchedClient:
    """The scheduler's record of one client."""

    __slots__ = ("name", "wants_what")

    def __init__(self, name: str):
        self.name = name
        self.wants_what: set = set()

    def __repr__(self) -> str:
        return f"<SchedClient {self.name} wants={len(self.wants_what)}>"


class Transition(NamedTuple):
    key: object
    start: str
    finish: str
    recommendations: dict
    stimulus_id: str
    time: float


class Note(NamedTuple):
    """Something the log should show that changed no state (a stale message)."""

    key: object
    what: str
    detail: str
    stimulus_id: str
    time: float


class _Computation:
    """One update-graph's wanted keys, until each is in memory, erred or dropped."""

    __slots__ = ("client", "pending", "status", "exception")

    def __init__(self, client: str):
        self.client, self.pending, self.status, self.exception = client, set(), "finished", ""
