"""Dropping copies of results, in the state machine (pure: no I/O, as ``state.py``).

``replicate`` and ``rebalance`` (``replication.py``) drop a worker's extra copies in
this order: the state forgets the replica first (:class:`DropReplicas`), so no task is
placed there counting on it, then the worker is told (:class:`RemoveReplicas`).  The
last copy of a key is never dropped, nor one whose other copies are all on workers
that are retiring (they leave with them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from shoal.distributed.scheduler import transitions as T
from shoal.distributed.scheduler.messages import Event, Instruction, handles

__all__ = ["DropReplicas", "DropsReplicas", "RemoveReplicas"]


@dataclass(slots=True)
class DropReplicas(Event):
    """Forget ``worker``'s copies of ``keys`` (only where a copy stays on a worker not retiring)."""

    op: ClassVar[str] = "drop-replicas"
    worker: str
    keys: list
    stimulus_id: str = field(default="", kw_only=True)


@dataclass(slots=True)
class RemoveReplicas(Instruction):
    """``worker`` should drop its copies of ``keys`` unless a task there reads them."""

    op: ClassVar[str] = "remove-replicas"
    worker: str
    keys: list
    stimulus_id: str = field(default="", kw_only=True)


class DropsReplicas:
    """The state's handler of :class:`DropReplicas` (a mixin of ``SchedulerState``)."""

    @handles(DropReplicas)
    def _drop_replicas(self, ev: DropReplicas) -> None:
        ws, dropped = self.workers.get(ev.worker), []
        for key in ev.keys:
            ts = self.tasks.get(key)
            # another copy must stay: one on a worker that is not retiring (it leaves with it)
            if ws is None or ts is None or ws not in ts.who_has or not any(
                    w is not ws and w.status != "closing_gracefully" for w in ts.who_has):
                self._note(key, "stale-drop-replica", f"{ev.worker} keeps it", ev.stimulus_id)
                continue
            T.remove_replica(ts, ws)
            self._note(key, "drop-replica", ev.worker, ev.stimulus_id)
            dropped.append(key)
        if dropped:
            self.emit(RemoveReplicas(ev.worker, dropped, stimulus_id=ev.stimulus_id))
