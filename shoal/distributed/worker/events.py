"""``get_worker().log_event(topic, msg)``: a task's structured event, logged on the
scheduler beside the clients' (``client.get_events``): a mixin of
:class:`~shoal.distributed.worker.server.Worker`.

::

    task thread:  log_event -> checked (msgpack-able, topic str or list of str)
                               -> outbox (a deque) -> loop woken (call_soon_threadsafe)
    worker loop:  one sender at a time drains the outbox, in order, with the
                  scheduler's ``log_event`` rpc (naming this worker)

A task never waits for the scheduler: the call returns once the event is queued.
One sender keeps a task's events in the order it logged them (concurrent rpcs on
pooled connections could overtake each other).  An event that cannot be sent
(the scheduler gone) is logged here and dropped, as a stream message would be.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from shoal.distributed.eventlog import check_event

__all__ = ["LogsEvents"]

logger = logging.getLogger(__name__)


class LogsEvents:
    """``Worker.log_event``; see the module docstring."""

    def log_event(self, topic, msg) -> None:
        """Log ``msg`` under ``topic`` (a str or a list of str) on the scheduler; a dict
        ``msg`` gets this worker's address under ``"worker"``."""
        topics = check_event(topic, msg, "Worker.log_event")
        outbox = self.__dict__.setdefault("_event_outbox", deque())
        outbox.append((topics, msg))
        loop = self.threads.loop if getattr(self, "threads", None) is not None else None
        if loop is None or loop.is_closed():
            raise RuntimeError(f"Worker.log_event: worker {self.address} is not running")
        try:
            if asyncio.get_running_loop() is loop:
                self._send_events_soon()
                return
        except RuntimeError:
            pass  # (a task thread: no loop runs here)
        loop.call_soon_threadsafe(self._send_events_soon)

    def _send_events_soon(self) -> None:
        if not self.__dict__.get("_event_sender"):
            self._event_sender = True
            self._spawn(self._send_events())

    async def _send_events(self) -> None:
        outbox = self._event_outbox
        try:
            while outbox:
                topics, msg = outbox.popleft()
                try:
                    await self.peers(self.scheduler_address).log_event(
                        topic=topics, msg=msg, worker=self.address)
                except Exception as exc:  # noqa: BLE001 - nobody waits for it: logged
                    logger.warning("worker %s: event for %s not logged: %s", self.address,
                                   topics, exc)  # fmt: skip
        finally:
            self._event_sender = False
