"""Structured events by topic: what ``log_event`` writes and ``get_events`` reads.

::

    client.log_event(topic, msg)       --rpc log_event-------------->  Scheduler.events
    get_worker().log_event(topic, msg) --its worker: rpc log_event-->  (scheduler/eventlog.py)
    client.get_events(topic=None)      --rpc events----------------->  tuple of (time, msg)

The store is :class:`EventLog`: one bounded deque per topic (the oldest events
fall off, so a chatty topic never grows the scheduler's memory without end), each
event a ``(timestamp, msg)`` pair stamped on the scheduler's clock.  A topic is a
str, or a list of them to log one message under several.  A message travels as
msgpack (it is kept as plain data on the scheduler, never unpickled there), so
it must be msgpack-serializable: :func:`check_event` says so before sending.

Pure data handling, no I/O: the servers own the sending.
"""

from __future__ import annotations

import time
from collections import deque

import msgpack

__all__ = ["EVENTS_PER_TOPIC", "EventLog", "check_event"]

#: Events kept per topic (Dask's ``distributed.scheduler.events-log-length``).
EVENTS_PER_TOPIC = 100_000


def check_event(topic, msg, what: str = "log_event") -> list:
    """The topics of ``topic`` (a str or a list of str) after checking that ``msg``
    can travel as msgpack; ``TypeError`` naming the bad argument otherwise."""
    topics = [topic] if isinstance(topic, str) else topic
    if not isinstance(topics, (list, tuple)) or not topics or not all(
            isinstance(t, str) for t in topics):  # fmt: skip
        raise TypeError(f"{what}: topic must be a str or a non-empty list of str, got {topic!r}")
    try:
        msgpack.packb(msg)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"{what}: msg must be msgpack serializable (plain data), got "
                        f"{type(msg).__name__}: {exc}") from None  # fmt: skip
    return list(topics)


class EventLog:
    """Events by topic, at most ``maxlen`` per topic (see the module docstring)."""

    def __init__(self, maxlen: int = EVENTS_PER_TOPIC, clock=time.time) -> None:
        self.maxlen = maxlen
        self.clock = clock
        self.topics: dict = {}  # topic -> deque of (timestamp, msg)

    def log(self, topics: list, msg) -> float:
        """Keep ``msg`` under each of ``topics``; returns its timestamp."""
        stamp = self.clock()
        for topic in topics:
            events = self.topics.get(topic)
            if events is None:
                events = self.topics[topic] = deque(maxlen=self.maxlen)
            events.append((stamp, msg))
        return stamp

    def get(self, topic=None):
        """A topic's events as a tuple (empty for an unknown topic); with no topic, a
        dict of every topic's."""
        if topic is None:
            return {t: tuple(events) for t, events in self.topics.items()}
        return tuple(self.topics.get(topic, ()))


def events_from_wire(reply):
    """``get_events``'s reply as it was made: msgpack turned its tuples into lists."""
    if isinstance(reply, dict):
        return {topic: events_from_wire(events) for topic, events in reply.items()}
    return tuple((stamp, msg) for stamp, msg in reply)
