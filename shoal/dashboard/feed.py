"""The dashboard's input: a scheduler's ``subscribe_events`` stream, folded into the state.

::

    scheduler (or the local BusServer)              this (dashboard) process
    ----------------------------------              ------------------------
    subscribe_events  --{"op": "stream-start"}-->   EventFeed.start(): connected
                      --[entry, entry, ...]--->   EventFeed._run(): decoded, then
                      --[...]                  -->      state.ingest_many(records): task
                                                        columns as TaskTransition objects,
                                                        the rest {"kind": ..., fields}
                      --{"op": "close"}        -->   finished: the source closed on purpose
                      (connection lost)        -->   reconnect for `reconnect` s, else finished

    InfoSource: request/reply to the same address for what the stream does not
    carry (identity: workers and their addresses; story(key)).

Keys come back as tuples (they travel as lists, see
:mod:`shoal.distributed.eventstream`).  The feed does not care what ``state`` is: a :class:`~shoal.dashboard.state.DashboardState`
(``ingest``, which gets bulk task records as ``TaskTransition`` objects and the rest
as dicts), a list (``append``) or any callable gets each record dict.  A
reconnected stream starts with a fresh snapshot (workers, tasks), which the
state folds in like any records.
"""

from __future__ import annotations

import asyncio
import logging
import time

from shoal.distributed.comm import CommClosedError, connect
from shoal.distributed.eventstream import decode_batch
from shoal.distributed.rpc import UnknownOpError, rpc, unwrap_reply

__all__ = ["EventFeed", "InfoSource"]

_LOST = frozenset({"dropped", "resync"})  # the source lost records for this reader

logger = logging.getLogger(__name__)


class InfoSource:
    """Request/reply to the event source: ``await identity()``, ``await story(*keys)``."""

    def __init__(self, address: str, security=None):
        self.address, self.security = address, security
        self._rpc = rpc(address, security=security, role="client", timeout=5)
        self.last_identity: dict = {}

    async def identity(self) -> dict:
        self.last_identity = await self._rpc.identity()
        return self.last_identity

    async def story(self, *keys) -> list | None:
        """The scheduler's story of *keys*; None from a source that keeps none."""
        try:
            return await self._rpc.story(keys=list(keys))
        except UnknownOpError as exc:  # a local BusServer keeps no story
            logger.debug("no story from %s: %s", self.address, exc)
            return None

    async def close(self) -> None:
        await self._rpc.close_rpc()


class EventFeed:
    """Follow the event stream at ``address`` into ``state`` until the source goes.

    ``await feed.start()`` connects (raising if it cannot), then records flow in
    a background task; ``await feed.finished()`` returns when the source has
    closed (after trying to reconnect for ``reconnect`` seconds when the
    connection was lost rather than closed), ``await feed.close()`` stops it.
    """

    def __init__(self, address: str, state, security=None, reconnect: float = 0.0, timeout=None,
                 ticket=None):  # fmt: skip
        self.address, self.state, self.security = address, state, security
        self.reconnect = float(reconnect)
        self.ticket = ticket  # the spawning scheduler's: its held early records are ours
        self.timeout = timeout
        self.info_source = InfoSource(address, security)
        self._ingest = _ingester(state)
        self._ingest_many = getattr(state, "ingest_many", None)  # logs what it cannot fold
        self._objects = hasattr(state, "ingest")  # it takes TaskTransition objects as well
        self.hello: dict = {}
        self.records = 0  # records ingested
        self.dropped = 0  # records the source dropped because we fell behind
        self.reason = ""  # why the feed finished
        self._comm = None
        self._task: asyncio.Task | None = None
        self._done: asyncio.Event | None = None

    async def start(self) -> EventFeed:
        self._done = asyncio.Event()
        self._comm = await self._subscribe()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def _subscribe(self, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        comm = await connect(self.address, timeout, self.security, role="client")
        try:
            await comm.write({"op": "subscribe_events", **({"ticket": self.ticket}
                                                            if self.ticket else {})})
            hello = await comm.read()
            if not (isinstance(hello, dict) and hello.get("op") == "stream-start"):
                unwrap_reply(hello)  # raises the source's error
                raise ConnectionError(f"{self.address} did not start an event stream: {hello!r:.200}")
        except BaseException:
            comm.abort()
            raise
        self.hello = hello
        logger.info("following the events of %s", hello.get("source", self.address))
        return comm

    async def _run(self) -> None:
        try:
            while True:
                closed = await self._follow(self._comm)
                self._comm = None
                if closed or not await self._reconnect():
                    return
                if self.hello.get("snapshot") == "full":  # (a scheduler's, not a local bus's)
                    # what came and went while it was away is not in the new stream, whose
                    # snapshot says where everything is now: the state starts over from it
                    self._fold_now([{"kind": "resync", "count": 0, "time": time.time()}])
        finally:
            self._done.set()

    async def _follow(self, comm) -> bool:
        """Ingest until the stream ends; True when the source said goodbye."""
        try:
            while True:
                msg = await comm.read()
                if isinstance(msg, dict):
                    if msg.get("op") == "close":
                        self.reason = msg.get("reason", "source closed")
                        return True
                    continue
                try:
                    records = decode_batch(msg, task_objects=self._objects)
                except Exception:  # a malformed message must not stop the dashboard
                    logger.exception("could not decode a message of %d entries", len(msg))
                    continue
                kept = []
                for record in records:
                    if type(record) is dict and record.get("kind") in _LOST:
                        self.dropped += int(record.get("count", 0))
                        if record["kind"] == "dropped":  # (a resync goes on to the state)
                            continue
                    kept.append(record)
                self._fold_now(kept)
                # the server's pages share this loop: a backlog (the process was stopped,
                # or starved) read from the socket's buffer never yielded to them
                await asyncio.sleep(0)
        except CommClosedError as exc:
            self.reason = f"connection lost: {exc}"
            return False
        finally:
            comm.abort()

    def _fold_now(self, records: list) -> None:
        if self._ingest_many is not None:  # one lock for the message
            self._ingest_many(records)
        else:
            for record in records:
                try:
                    self._ingest(record)
                except Exception:  # one odd record must not stop the dashboard
                    logger.exception("could not ingest %r", record)
        self.records += len(records)

    async def _reconnect(self) -> bool:
        if self.reconnect <= 0:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reconnect
        delay = 0.1
        while loop.time() < deadline:
            try:
                self._comm = await self._subscribe(timeout=max(deadline - loop.time(), 0.01))
                logger.info("reconnected to %s", self.address)
                return True
            except (OSError, ConnectionError, asyncio.TimeoutError) as exc:
                logger.debug("reconnecting to %s: %s", self.address, exc)
            await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
            delay = min(delay * 2, 2.0)
        self.reason += f"; no reconnection within {self.reconnect:g} s"
        return False

    @property
    def running(self) -> bool:
        return self._done is not None and not self._done.is_set()

    async def finished(self) -> str:
        """Wait until the stream is over for good; why it ended."""
        await self._done.wait()
        return self.reason

    async def close(self) -> None:
        if self._comm is not None:
            self._comm.abort()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.info_source.close()


def _ingester(state):
    for name in ("ingest", "append"):
        method = getattr(state, name, None)
        if method is not None:
            return method
    if callable(state):
        return state
    raise TypeError(f"EventFeed: cannot feed records to {state!r} (no ingest/append, not callable)")
