"""BatchedSend: many small messages on one comm, coalesced into few writes.

::

    send(msg) -- sync, never blocks -->  buffer  --background task-->  comm.write([msg, msg, ...])

The background task writes at once when the previous write carried at most
one urgent message or is at least ``interval`` old (so an isolated message is
not delayed, and a reply is not held back by an unrelated message sent just
before it); otherwise, under load, it waits until ``interval`` has passed since
the previous write and sends everything buffered meanwhile as *one* list.  The
receiver reads lists of messages.

A sender that knows more messages are coming soon says so with
``send(..., can_wait=True)``: such messages always wait for the interval (a
worker still running tasks reports finished ones this way, so a burst of
short tasks costs one write per interval instead of one per task), and an
urgent message sent meanwhile takes them along at once (the worker's last
report before it goes idle is urgent: whoever waits on it is not delayed).

``on_write``, when set, is called with each batch just before it is written and
may add messages to it (the worker puts its packed task-stream rows in front of
the reports they describe, made once per write rather than once per task).

A batch that cannot be encoded (a message holding something the protocol does
not carry, or over the size limits; nothing is sent then) goes out message by
message, and each message that cannot is dropped with an error naming it: the
other messages, and the comm, go on (before, the sender's task ended with the
exception and nothing was sent again, silently: its worker hung).

``close()`` flushes what is buffered (without waiting for the interval), then
closes the comm.  If the comm breaks, the batched sender stops, keeps the unsent
messages in ``buffer`` for whoever wants to inspect them, and ``send`` raises
``CommClosedError`` from then on.

Ordering a request after a stream (``mark`` / :class:`StreamMarks`)
--------------------------------------------------------------------

A stream and a request/reply comm to the same peer are two channels: a request
made after a stream message may be handled first (the message still buffered
here, or on the wire, or in the peer's read loop).  When a request must not
overtake what its sender has already put on the stream (a scatter after the
release of an older Future of the same key, an ``update_data`` after a
``free-keys`` of that key), the sender calls :meth:`BatchedSend.mark`: it puts
``{"op": "stream-mark", "mark": n}`` on the stream (``n`` counts this stream's
marks from 1), writes the buffer at once, and the request carries ``n``.  The
receiver, reading the stream, passes each mark to its :class:`StreamMarks`
*after* handling every message read before it, and the request handler first
awaits ``StreamMarks.wait(n)``.  The stream is FIFO and read in order, so when
mark ``n`` is reached everything sent before it has been handled: the request
is ordered after them.  (A marker rather than a message count: a count would
also have to account for messages the sender drops as unencodable or adds in
``on_write``.)  The wait is bounded (``timeout``) and fails at once, with an
error naming the stream, if that stream is gone.
"""

from __future__ import annotations

import asyncio
import logging

from shoal import config
from shoal.distributed.comm import Comm, CommClosedError

__all__ = ["MARK_OP", "BatchedSend", "StreamMarks"]

#: The op of the marker message (see "Ordering a request after a stream" above).
MARK_OP = "stream-mark"

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
        self._flush_now: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._last_write = float("-inf")
        self._last_batch = 0  # urgent messages in the previous write
        self._urgent = 0  # urgent messages in the buffer
        self._closing = False
        self._force = False  # flush(): write the buffer without waiting for the interval
        self.marks = 0  # markers sent (mark())
        #: markers the peer sends back on this comm, for its reader (closed when this stops)
        self.peer_marks = StreamMarks("the stream from (not started)")
        #: called with each batch (a list it may change) just before it is written
        self.on_write = None

    def start(self, comm: Comm) -> None:
        """Begin sending on ``comm`` (from inside a running event loop)."""
        if self._task is not None:
            raise RuntimeError("BatchedSend already started")
        self.comm = comm
        self.peer_marks.name = f"the stream from {comm.peer_address}"
        self._wake = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._background())
        if self.buffer:
            self._wake.set()

    def send(self, *msgs, can_wait: bool = False) -> None:
        """Queue messages; they go out with the next write.

        ``can_wait=True``: these may wait up to ``interval`` for company.
        """
        if self._closing or (self.comm is not None and self.comm.closed()):
            raise CommClosedError(f"BatchedSend to {self._peer()} is closed")
        self.buffer.extend(msgs)
        if not can_wait:
            self._urgent += len(msgs)
            if self._last_batch <= 1 and self._flush_now is not None:
                self._flush_now.set()  # cut short a wait for can-wait company
        if self._wake is not None:
            self._wake.set()

    def flush(self) -> None:
        """Write what is buffered now, without waiting for the interval."""
        if self._wake is not None and self.buffer:
            self._force = True
            self._flush_now.set()
            self._wake.set()

    def mark(self) -> int:
        """Put the next marker on the stream and write it at once; its number, which a
        request that must not overtake the messages sent so far carries (the receiver
        waits for it with :meth:`StreamMarks.wait`).  ``CommClosedError`` when closed."""
        self.send({"op": MARK_OP, "mark": self.marks + 1})
        self.marks += 1
        self.flush()
        return self.marks

    async def _background(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            # under load, or nothing urgent buffered: coalesce
            if not self._closing and not self._force and (self._last_batch > 1 or not self._urgent):
                delay = self._last_write + self.interval - loop.time()
                if delay > 0:
                    self._flush_now.clear()
                    try:  # close() or an urgent message cuts the wait short
                        await asyncio.wait_for(self._flush_now.wait(), delay)
                    except asyncio.TimeoutError:
                        pass
            self._wake.clear()
            self._force = False
            batch, self.buffer = self.buffer, []
            urgent, self._urgent = self._urgent, 0
            if batch:
                if self.on_write is not None:
                    try:
                        self.on_write(batch)
                    except Exception:  # what it adds is lost; the batch itself goes
                        logger.exception("BatchedSend to %s: on_write failed", self._peer())
                try:
                    try:
                        await self.comm.write(batch)
                    except CommClosedError:
                        raise
                    except Exception:  # not encodable: nothing went; each on its own
                        batch = await self._write_one_by_one(batch)
                except CommClosedError as exc:
                    self.buffer = batch + self.buffer
                    self._urgent += urgent
                    logger.info("BatchedSend to %s stopped: %s", self._peer(), exc)
                    self._closing = True
                    self.peer_marks.close()
                    return
                self._last_write = loop.time()
                self.batch_count += 1
                self.message_count += len(batch)
                self._last_batch = urgent
            if self._closing and not self.buffer:
                return

    async def _write_one_by_one(self, batch: list) -> list:
        """Write each message of *batch* alone, dropping (and logging) those that cannot
        be encoded; the messages written.  On ``CommClosedError`` *batch* is left
        holding the messages not sent (the caller keeps them in the buffer)."""
        sent = []
        for i, msg in enumerate(batch):
            try:
                await self.comm.write([msg])
            except CommClosedError:
                del batch[:i]
                raise
            except Exception:
                op = msg.get("op") if isinstance(msg, dict) else type(msg).__name__
                logger.exception("BatchedSend to %s: dropped a message that cannot be sent "
                                 "(op %r, key %r)", self._peer(), op,
                                 msg.get("key") if isinstance(msg, dict) else None)  # fmt: skip
                continue
            sent.append(msg)
        return sent

    async def close(self, timeout: float | None = 10.0) -> None:
        """Flush the buffer, then close the comm."""
        self._closing = True
        if self._task is not None:
            self._wake.set()
            self._flush_now.set()
            try:  # an aborted sender's task ends cancelled: that is fine here
                await asyncio.wait_for(asyncio.gather(self._task, return_exceptions=True), timeout)
            except asyncio.TimeoutError:  # wait_for has cancelled the task
                logger.warning("BatchedSend to %s: flush timed out; dropping the rest", self._peer())
        self.peer_marks.close()
        if self.comm is not None:
            await self.comm.close()

    def add_done_callback(self, fn) -> None:
        """Call ``fn()`` once this sender has stopped (closed, aborted or its comm broke);
        at once if it never started."""
        if self._task is None:
            fn()
        else:
            self._task.add_done_callback(lambda _: fn())

    def abort(self) -> None:
        """Stop at once: drop the buffer and abort the comm."""
        self._closing = True
        self.buffer = []
        self.peer_marks.close()
        if self._task is not None:
            self._task.cancel()
        if self.comm is not None:
            self.comm.abort()

    def _peer(self) -> str:
        return self.comm.peer_address if self.comm is not None else "(not started)"

    def __repr__(self):
        return f"<BatchedSend to {self._peer()}: {len(self.buffer)} buffered, {self.batch_count} writes>"


class StreamMarks:
    """The receiving end of :meth:`BatchedSend.mark` for one stream: the highest marker
    handled so far, and the requests waiting for one (see the module docstring)."""

    def __init__(self, name: str = "stream"):
        self.name = name
        self.reached = 0
        self.closed = False
        self._waiters: list = []  # (mark, asyncio.Future)

    def reach(self, mark) -> None:
        """Every message read before marker ``mark`` has been handled."""
        mark = int(mark)
        if mark <= self.reached:
            return
        self.reached = mark
        still = []
        for n, fut in self._waiters:
            if n <= mark:
                if not fut.done():
                    fut.set_result(None)
            else:
                still.append((n, fut))
        self._waiters = still

    def close(self) -> None:
        """The stream is gone: waits fail (marks reached already still count)."""
        self.closed = True
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(CommClosedError(f"{self.name} closed before its marker arrived"))
        self._waiters = []

    async def wait(self, mark, timeout: float = 30.0) -> None:
        """Return once marker ``mark`` has been reached; ``CommClosedError`` if the stream is
        gone first, ``TimeoutError`` (naming the stream) after ``timeout`` seconds."""
        mark = int(mark)
        if mark <= self.reached:
            return
        if self.closed:
            raise CommClosedError(f"{self.name} is closed: marker {mark} never arrived")
        fut = asyncio.get_running_loop().create_future()
        entry = (mark, fut)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            logger.error("%s: marker %d not reached within %g s (reached %d)", self.name, mark,
                         timeout, self.reached)  # fmt: skip
            raise TimeoutError(f"{self.name}: the stream did not deliver marker {mark} within "
                               f"{timeout:g} s (reached {self.reached}); the request that "
                               "must follow it was not carried out") from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)
