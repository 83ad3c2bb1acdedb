"""Client methods that listen to the scheduler's event topics: ``subscribe_topic``,
``unsubscribe_topic``, ``forward_logging`` and ``unforward_logging``.

:class:`ListensToTopics` is a mixin of :class:`~.core.Client` (through
:class:`~.info.InfoControl`); it needs the client's ``sync``, ``id``,
``scheduler`` rpc, its key table ``_keys`` and ``_register_worker_plugin``.

::

    subscribe_topic(topic, handler)  handler kept here; rpc subscribe_topic
    scheduler: each event logged to topic  --stream {"op": "event"}-->  _on_topic_event
                                                 -> handler((timestamp, msg)) on the loop

A handler runs on the client's event loop: a plain function is called, a
coroutine function's coroutine is scheduled there; one that raises is logged
(it never breaks the stream).  With an asynchronous client the subscription is
sent in the background (the returned task may be awaited), as Dask's
``subscribe_topic`` is not awaited either.

As it starts, every client subscribes to "print" and "warn" on its stream (a
message, no round trip: the start is not slowed), so a task's
``shoal.distributed.print`` / ``warn`` shows here (:mod:`~shoal.distributed.task_output`).

``forward_logging`` subscribes :func:`~shoal.distributed.forward_logging.reemit`
to a topic of its own and registers the worker plugin that feeds it
(:mod:`shoal.distributed.forward_logging`); ``unforward_logging`` undoes both.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

from shoal.distributed.forward_logging import ForwardLogging, reemit
from shoal.distributed.task_output import TOPICS

__all__ = ["ListensToTopics"]

logger = logging.getLogger(__name__)


def _check_topic(topic, what: str) -> None:
    if not isinstance(topic, str) or not topic:
        raise TypeError(f"{what}: topic must be a non-empty str, got {topic!r}")


def _forwarding_topic(logger_name) -> str:
    if logger_name is not None and not isinstance(logger_name, str):
        raise TypeError(f"forward_logging: logger_name must be a str or None, got {logger_name!r}")
    return f"forward-logging-{logger_name or '<root>'}"


class ListensToTopics:
    """``Client`` methods about event topics; see the module docstring."""

    @property
    def _topic_handlers(self) -> dict:
        return self.__dict__.setdefault("_topic_handlers_", {})

    def subscribe_topic(self, topic, handler):
        """Call ``handler((timestamp, msg))`` in this client for each event logged to
        ``topic`` from now on (a plain or a coroutine function); replaces an earlier one."""
        _check_topic(topic, "subscribe_topic")
        if not callable(handler):
            raise TypeError(f"subscribe_topic: handler must be callable, got {handler!r}")
        self._topic_handlers[topic] = handler
        self._keys.handlers["event"] = self._on_topic_event
        return self._in_background(self._subscription, "subscribe_topic", topic)

    def unsubscribe_topic(self, topic):
        """Stop calling the handler of ``topic``; a topic not subscribed is a ``ValueError``."""
        _check_topic(topic, "unsubscribe_topic")
        if self._topic_handlers.pop(topic, None) is None:
            raise ValueError(f"unsubscribe_topic: no handler subscribed to topic {topic!r}")
        return self._in_background(self._subscription, "unsubscribe_topic", topic)

    def forward_logging(self, logger_name=None, level=logging.NOTSET):
        """Emit again in this process, by ``logging.getLogger(record.name).handle``, the
        records that workers' tasks log to ``logger_name`` (root: None) at ``level`` or
        above; each carries its worker's address as ``record.worker``."""
        topic = _forwarding_topic(logger_name)
        number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
        if not isinstance(number, int) or isinstance(number, bool):  # (the user's, not "Level X")
            raise TypeError(f"forward_logging: level must be a logging level, got {level!r}")
        level = number
        self._topic_handlers[topic] = reemit
        self._keys.handlers["event"] = self._on_topic_event
        return self.sync(self._forward_logging, ForwardLogging(logger_name, level, topic))

    def unforward_logging(self, logger_name=None):
        """Stop what ``forward_logging(logger_name)`` started."""
        topic = _forwarding_topic(logger_name)
        self._topic_handlers.pop(topic, None)
        return self.sync(self._unforward_logging, topic)

    # --- on the loop ------------------------------------------------------------------

    async def _open_stream(self) -> None:
        """Open the scheduler stream, then subscribe on it to the topics every client
        shows (``TOPICS``): sent, not waited for."""
        await self._conn.open(self._keys.apply, self._lost_scheduler)
        self._keys.handlers["event"] = self._on_topic_event
        for topic, handler in TOPICS.items():
            self._topic_handlers[topic] = handler
            self._conn.send({"op": "subscribe-topic", "topic": topic})

    async def _subscription(self, op: str, topic: str) -> None:
        await getattr(self.scheduler, op)(topic=topic, client=self.id)

    async def _forward_logging(self, plugin) -> dict:
        await self._subscription("subscribe_topic", plugin.topic)
        return await self._register_worker_plugin(plugin, plugin.name, False)

    async def _unforward_logging(self, topic: str) -> dict:
        await self._subscription("unsubscribe_topic", topic)
        return await self._unregister_worker_plugin(topic)

    def _in_background(self, func, *args):
        """A synchronous client waits for ``func``; an asynchronous one gets it running
        as a task (awaitable, and run even if nobody awaits it)."""
        result = self.sync(func, *args)
        return asyncio.ensure_future(result) if self.asynchronous else result

    def _on_topic_event(self, msg: dict) -> None:
        topic = msg.get("topic")
        handler = self._topic_handlers.get(topic)
        if handler is None:
            return
        try:
            result = handler(tuple(msg["event"]))
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                running = self.__dict__.setdefault("_topic_tasks", set())
                running.add(task)
                task.add_done_callback(lambda t: _finished(t, running, topic))
        except Exception:  # noqa: BLE001 - a user's handler: logged, the stream goes on
            logger.exception("client %s: the handler of topic %r failed", self.id, topic)


def _finished(task, running: set, topic: str) -> None:
    running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("the handler of topic %r failed", topic, exc_info=task.exception())
