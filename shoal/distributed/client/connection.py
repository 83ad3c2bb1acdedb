"""A client's two channels to the scheduler: one stream and request/reply.

::

    Connection
      stream    register_client -> {"op": "stream-start"} -> BatchedSend both ways:
                client -> scheduler: update-graph, client-releases-keys, cancel-keys, ...
                scheduler -> client: key-in-memory, task-erred, ...  -> on_report(op, msg)
      rpc       scheduler.gather(...), .scatter(...), .identity(), ... (pooled comms)

The registration's round trip also gives ``clock``: the scheduler's wall clock as
this process reads it (:mod:`shoal.distributed.clock`), on which the client's own
time windows (``performance_report``, ``get_task_stream(start="10s")``) are taken.

Everything here runs on the client's event loop.  When the stream breaks (or
the scheduler says ``close``) ``on_lost(reason)`` is called once, unless the
client is closing the connection itself.
"""

from __future__ import annotations

import asyncio
import logging
import time

from shoal.distributed.batched import BatchedSend
from shoal.distributed.clock import SchedulerClock
from shoal.distributed.comm import CommClosedError, connect
from shoal.distributed.rpc import rpc

__all__ = ["Connection", "target"]

logger = logging.getLogger(__name__)


class Connection:
    """The stream and the rpc proxy of one client (see the module docstring)."""

    def __init__(self, address: str, client_id: str, *, timeout: float, security=None):
        self.address, self.client_id = address, client_id
        self.timeout, self.security = timeout, security
        self.scheduler = rpc(address, timeout=timeout, security=security)
        self.stream: BatchedSend | None = None
        self._reader: asyncio.Task | None = None
        self._closing = False
        self.clock = SchedulerClock()  # the scheduler's clock, from the registration's round trip

    async def open(self, on_report, on_lost) -> None:
        """Register the client's stream; reports go to ``on_report(op, msg)``."""
        comm = await connect(self.address, self.timeout, self.security, role="client")
        try:
            sent = time.time()
            await comm.write({"op": "register_client", "client": self.client_id, "reply": False})
            first = await asyncio.wait_for(comm.read(), self.timeout)
            received = time.time()
        except BaseException:
            comm.abort()
            raise
        if isinstance(first, list):
            first = first[0] if first else {}
        if not isinstance(first, dict) or first.get("op") != "stream-start":
            comm.abort()
            raise ConnectionError(f"{self.address} did not accept the client: {first!r:.200}")
        self.clock.sample(sent, first.get("time"), received)
        self.stream = BatchedSend()
        self.stream.start(comm)
        self._reader = asyncio.get_running_loop().create_task(self._read(comm, on_report, on_lost))

    def send(self, msg: dict) -> None:
        """Queue a message on the stream (dropped, with a log line, once it is closed)."""
        try:
            self.stream.send(msg)
        except CommClosedError:
            logger.info("client %s: the scheduler stream is closed; dropped %s",
                        self.client_id, msg.get("op"))  # fmt: skip

    async def _read(self, comm, on_report, on_lost) -> None:
        try:
            while True:
                msgs = await comm.read()
                for msg in [msgs] if isinstance(msgs, dict) else msgs:
                    op = msg.get("op")
                    if op == "close":
                        if not self._closing:
                            on_lost(f"the scheduler closed ({msg.get('reason', '')})")
                        return
                    try:
                        on_report(op, msg)
                    except Exception:
                        logger.exception("client %s: handling %r failed", self.client_id, op)
        except CommClosedError:
            if not self._closing:
                on_lost("the connection to the scheduler was lost")

    async def close(self, goodbye: bool = True) -> None:
        """Say goodbye on the stream (flushing it), stop reading, close every comm."""
        self._closing = True
        if self.stream is not None:
            if goodbye and not self.stream.comm.closed():
                self.send({"op": "close-client", "client": self.client_id})
            await self.stream.close(timeout=2)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.scheduler.close_rpc()


def target(address, scheduler_file, asynchronous: bool, timeout: float, cluster_kwargs: dict,
           security) -> tuple:  # fmt: skip
    """``(address, cluster, scheduler file)`` a Client connects to, from its arguments: an
    address string (``tcp://`` by default), a cluster object, an object with an
    ``address``, or a scheduler file (read now; an asynchronous client reads it as it
    starts, off its loop); all None: a LocalCluster of its own."""
    if scheduler_file is not None and asynchronous:
        address, pending = None, scheduler_file
    else:
        pending = None
        if scheduler_file is not None:  # (waits for a scheduler still starting, as Dask's)
            from shoal.distributed.schedulerfile import read_scheduler_file

            address = read_scheduler_file(scheduler_file, timeout)
    out, cluster = None, None
    if address is None:
        pass
    elif isinstance(address, str):
        out = address if "://" in address else f"tcp://{address}"
    elif hasattr(address, "scheduler_address"):
        cluster = address
    elif isinstance(getattr(address, "address", None), str):
        out = address.address
    else:
        raise TypeError(f"Client(address=...) takes an address string or a cluster, "
                        f"got {type(address).__name__}")  # fmt: skip
    if cluster_kwargs and (address is not None or pending):
        raise TypeError(f"unexpected keyword arguments {sorted(cluster_kwargs)} "
                        "(they are LocalCluster options: only Client() without an address "
                        "starts a cluster)")  # fmt: skip
    if security is True and out is not None:
        raise ValueError(f"Client({out!r}, security=True): temporary certificates "
                         "are for a cluster this Client starts; a running scheduler needs "
                         "its own: security=Security(...)")  # fmt: skip
    return out, cluster, pending
