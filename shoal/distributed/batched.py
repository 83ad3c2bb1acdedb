"""BatchedSend: many small messages on one comm, coalesced into few writes.

::

    send(msg) -- sync, never blocks -->  buffer  --background task-->  comm.write([msg, msg, ...])

The background task writes at once when the previous write carried a single
message or is at least ``interval`` old (so an isolated message is not
delayed, and a reply is not held back by an unrelated message sent just
before it); otherwise, under load, it waits until ``interval`` has passed since
the previous write and sends everything buffered meanwhile as *one* list.  The receiver reads lists of messages.

``close()`` flushes what is buffered (without waiting for the interval), then
closes the comm.  If the comm breaks, the batched sender stops, keeps the unsent
messages in ``buffer`` for whoever wants to inspect them, and ``send`` raises
``CommClosedError`` from then on.
"""

from __future__ import annotations

import asyncio
import logging

from shoal import config
from shoal.distributed.comm import Comm, CommClosedError

__all__ = ["BatchedSend"]

logger = logging.getLogger(__name__)


class BatchedSend:
    """Coalesce messages written within ``interval`` (default ``distributed.batched.interval``)."""

    def __init__(self, interval=None):
        if interval is None:
            interval = config.get("distributed.batched.interval")
        self.interval = config.parse_timedelta(interval, default="ms")
        self.comm: Comm | None = None
        self.buffer: list = []
        self.message_count = 0  # messages written
        self.batch_count = 0  # writes made
        self._wake: asyncio.Event | None = None
        self._closing_event: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._last_write = float("-inf")
        self._last_batch = 0
        self._closing = False

    def start(self, comm: Comm) -> None:
        """Begin sending on ``comm`` (from inside a running event loop)."""
        if self._task is not None:
            raise RuntimeError("BatchedSend already started")
        self.comm = comm
        self._wake = asyncio.Event()
        self._closing_event = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._background())
        if self.buffer:
            self._wake.set()

    def send(self, *msgs) -> None:
        """Queue messages; they go out with the next write."""
        if self._closing or (self.comm is not None and self.comm.closed()):
            raise CommClosedError(f"BatchedSend to {self._peer()} is closed")
        self.buffer.extend(msgs)
        if self._wake is not None:
            self._wake.set()

    async def _background(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            if not self._closing and self._last_batch > 1:  # under load: coalesce
                delay = self._last_write + self.interval - loop.time()
                if delay > 0:
                    try:  # close() cuts the wait short
                        await asyncio.wait_for(self._closing_event.wait(), delay)
                    except asyncio.TimeoutError:
                        pass
            self._wake.clear()
            batch, self.buffer = self.buffer, []
            if batch:
                try:
                    await self.comm.write(batch)
                except CommClosedError as exc:
                    self.buffer = batch + self.buffer
                    logger.info("BatchedSend to %s stopped: %s", self._peer(), exc)
                    self._closing = True
                    return
                self._last_write = loop.time()
                self.batch_count += 1
                self.message_count += len(batch)
                self._last_batch = len(batch)
            if self._closing and not self.buffer:
                return

    async def close(self, timeout: float | None = 10.0) -> None:
        """Flush the buffer, then close the comm."""
        self._closing = True
        if self._task is not None:
            self._wake.set()
            self._closing_event.set()
            try:  # an aborted sender's task ends cancelled: that is fine here
                await asyncio.wait_for(asyncio.gather(self._task, return_exceptions=True), timeout)
            except asyncio.TimeoutError:  # wait_for has cancelled the task
                logger.warning("BatchedSend to %s: flush timed out; dropping the rest", self._peer())
        if self.comm is not None:
            await self.comm.close()

    def abort(self) -> None:
        """Stop at once: drop the buffer and abort the comm."""
        self._closing = True
        self.buffer = []
        if self._task is not None:
            self._task.cancel()
        if self.comm is not None:
            self.comm.abort()

    def _peer(self) -> str:
        return self.comm.peer_address if self.comm is not None else "(not started)"

    def __repr__(self):
        return f"<BatchedSend to {self._peer()}: {len(self.buffer)} buffered, {self.batch_count} writes>"
