"""The distributed scheduler: a pure state machine plus (separately) its server.

::

    comms --{"op": ...}--> server --parse_event--> SchedulerState.handle(*events)
                                                        |  transitions.TRANSITIONS
                                                        |  policies (placement, queuing, stealing)
    comms <--to_msg()----- server <-- [instructions] ---+
    bus   <--------------- server <-- Publish(record)

- :mod:`.messages`: the events the state consumes and the instructions it
  emits, each a slotted dataclass with a ``stimulus_id`` and ``to_msg`` /
  ``from_msg`` for the wire.
- :mod:`.state`: the records (:class:`SchedTask`, :class:`SchedWorker`,
  :class:`SchedClient`), :class:`SchedulerState` with ``handle``,
  ``validate_state`` and ``story``; its mixins :mod:`.clients` (what clients ask:
  wanting, releasing, cancelling, retrying keys) and :mod:`.computations` (when an
  update-graph is done).
- :mod:`.transitions`: the one ``(start, finish) -> function`` table.
- :mod:`.policies`: where a task runs, root-task queuing, stealing candidates.
- :mod:`.publish`: the task records put on the bus (every transition for
  plugins, or each key's state, coalesced, for dashboards).

None of these modules does I/O or imports asyncio, sockets or threads; the
server owns a ``SchedulerState`` (composition, not inheritance) and carries its
instructions out.
"""

from shoal.distributed.scheduler.messages import KilledWorker
from shoal.distributed.scheduler.state import (
    Note,
    SchedClient,
    SchedTask,
    SchedulerState,
    SchedWorker,
    Transition,
)
from shoal.distributed.scheduler.transitions import InvalidTransition

__all__ = [
    "InvalidTransition",
    "KilledWorker",
    "Note",
    "SchedClient",
    "SchedTask",
    "SchedWorker",
    "SchedulerState",
    "Transition",
]
