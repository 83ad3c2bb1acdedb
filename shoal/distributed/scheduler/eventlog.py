"""The scheduler's log of structured events: a mixin of
:class:`~shoal.distributed.scheduler.server.Scheduler`.

``events`` is an :class:`~shoal.distributed.eventlog.EventLog` (a bounded deque
of ``(timestamp, msg)`` per topic, stamped here).  Clients write with the rpc
``log_event`` and read with ``events``; a task's ``get_worker().log_event(...)``
is sent by its worker with the same rpc, naming the worker (fire and forget: a
task never waits for the scheduler), and a dict message from a worker gets the
worker's address under ``"worker"``, as in Dask.  Messages stay the plain
data msgpack made of them: nothing is unpickled here.

Subscriptions (``client.subscribe_topic``): the rpc ``subscribe_topic`` adds a
client to a topic's subscribers; each event logged to that topic afterwards is
pushed on the client's stream as ``{"op": "event", "topic", "event": [time, msg]}``.
A client may also subscribe on its stream (``subscribe-topic`` /
``unsubscribe-topic``, routed here by ``client_stream_op``): every client does so
for "print" and "warn" as it starts (:mod:`shoal.distributed.task_output`),
without waiting for a reply.  A client's subscriptions end with its stream: the
stream's done callback drops them all, so a topic never logged again keeps no
departed client (a subscriber found gone by an event is dropped then, too).
"""

from __future__ import annotations

import logging

from shoal.distributed.comm import CommClosedError
from shoal.distributed.eventlog import EventLog, check_event

__all__ = ["KeepsEvents"]

logger = logging.getLogger(__name__)


class KeepsEvents:
    """Structured events on the scheduler; see the module docstring."""

    def event_log_handlers(self) -> dict:
        """The rpc handlers (and the empty log: called from ``__init__``)."""
        self.events = EventLog()
        self.topic_subscribers: dict = {}  # topic -> set of client ids
        return {"log_event": self._log_event_rpc, "events": self.get_events,
                "subscribe_topic": self.subscribe_topic,
                "unsubscribe_topic": self.unsubscribe_topic}

    def _log_event_rpc(self, comm=None, topic=None, msg=None, worker=None) -> None:
        self.log_event(topic, msg, worker)

    def log_event(self, topic, msg, worker=None) -> None:
        """Log ``msg`` under ``topic`` (a str or list of str), as Dask's ``log_event(topic, msg)``."""
        if worker is not None and isinstance(msg, dict):  # (from a worker's task)
            msg = dict(msg, worker=worker)
        topics = check_event(topic, msg)
        stamp = self.events.log(topics, msg)
        for name in topics:
            self._push_event(name, stamp, msg)

    def _push_event(self, topic: str, stamp: float, msg) -> None:
        subscribers = self.topic_subscribers.get(topic, ())
        for client in list(subscribers):
            stream = self.client_streams.get(client)
            if stream is None:
                subscribers.discard(client)
                continue
            try:
                stream.send({"op": "event", "topic": topic, "event": [stamp, msg]})
            except CommClosedError:
                logger.debug("dropping an event of %r for %s: stream closed", topic, client)

    def topic_stream_op(self, client: str, msg: dict) -> None:
        """A subscription sent on ``client``'s stream; any other op is logged and ignored."""
        op = msg.get("op")
        change = {"subscribe-topic": self.subscribe_topic,
                  "unsubscribe-topic": self.unsubscribe_topic}.get(op)  # fmt: skip
        if change is None:
            logger.warning("unknown op %r on the stream of client %s", op, client)
            return
        try:
            change(topic=msg.get("topic"), client=client)
        except TypeError as exc:
            logger.warning("%s from client %s: %s", op, client, exc)

    def subscribe_topic(self, comm=None, topic=None, client=None) -> None:
        _check_subscription(topic, client)
        stream = self.client_streams.get(client)
        if stream is None:  # (gone already, or never connected: nowhere to push)
            return
        self.topic_subscribers.setdefault(topic, set()).add(client)
        self._watch_subscriber(client, stream)

    def _watch_subscriber(self, client: str, stream) -> None:
        watched = self.__dict__.setdefault("_watched_subscribers", set())
        if client not in watched:
            watched.add(client)
            stream.add_done_callback(lambda: self._forget_subscriber(client, stream))

    def _forget_subscriber(self, client: str, stream) -> None:
        """``client``'s stream stopped: drop its subscriptions (unless it has a new one)."""
        self._watched_subscribers.discard(client)
        live = self.client_streams.get(client)
        if live is not None and live is not stream:
            self._watch_subscriber(client, live)
            return
        for topic in [t for t, clients in self.topic_subscribers.items() if client in clients]:
            self.unsubscribe_topic(topic=topic, client=client)

    def unsubscribe_topic(self, comm=None, topic=None, client=None) -> None:
        _check_subscription(topic, client)
        subscribers = self.topic_subscribers.get(topic)
        if subscribers is not None:
            subscribers.discard(client)
            if not subscribers:
                del self.topic_subscribers[topic]

    def get_events(self, comm=None, topic=None):
        if topic is not None and not isinstance(topic, str):
            raise TypeError(f"get_events: topic must be a str or None, got {topic!r}")
        return self.events.get(topic)


def _check_subscription(topic, client) -> None:
    if not isinstance(topic, str):
        raise TypeError(f"subscribe_topic: topic must be a str, got {topic!r}")
    if not isinstance(client, str):
        raise TypeError(f"subscribe_topic: client must be a client id (str), got {client!r}")
