"""The scheduler's log of structured events: a mixin of
:class:`~shoal.distributed.scheduler.server.Scheduler`.

``events`` is an :class:`~shoal.distributed.eventlog.EventLog` (a bounded deque
of ``(timestamp, msg)`` per topic, stamped here).  Clients write with the rpc
``log_event`` and read with ``events``; a task's ``get_worker().log_event(...)``
is sent by its worker with the same rpc, naming the worker (fire and forget: a
task never waits for the scheduler), and a dict message from a worker gets the
worker's address under ``"worker"``, as in Dask.  Messages stay the plain
data msgpack made of them: nothing is unpickled here.
"""

from __future__ import annotations

from shoal.distributed.eventlog import EventLog, check_event

__all__ = ["KeepsEvents"]


class KeepsEvents:
    """Structured events on the scheduler; see the module docstring."""

    def event_log_handlers(self) -> dict:
        """The rpc handlers (and the empty log: called from ``__init__``)."""
        self.events = EventLog()
        return {"log_event": self.log_event, "events": self.get_events}

    def log_event(self, comm=None, topic=None, msg=None, worker=None) -> None:
        if worker is not None and isinstance(msg, dict):  # (from a worker's task)
            msg = dict(msg, worker=worker)
        self.events.log(check_event(topic, msg), msg)

    def get_events(self, comm=None, topic=None):
        if topic is not None and not isinstance(topic, str):
            raise TypeError(f"get_events: topic must be a str or None, got {topic!r}")
        return self.events.get(topic)
