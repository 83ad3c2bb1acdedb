"""The scheduler's side of ``Pub`` and ``Sub`` (:mod:`shoal.distributed.pubsub`): it
routes each published message to the clients that subscribe to its name.

::

    subscribers   name -> {client id: {Sub id, ...}}

    client stream  "pubsub-subscribe"   {name, id}   a Sub of that client joins
                   "pubsub-unsubscribe" {name, id}   it leaves (collected, or closed)
                   "pubsub-msg"         {name, msg}  forwarded, once per subscribing
                                                     client, on that client's stream
    rpc            pubsub_subscribers(name) -> {Sub id: client id}

Everything arrives on the clients' streams (a task's Pub and Sub use its
worker's client), so one client's subscriptions and messages are handled in
the order it made them: a message follows the subscriptions sent before it,
and one publisher's messages reach every subscriber in order.  A message whose
name has no subscriber at that moment is dropped, as in Dask.

Nothing is kept per message: the payload stays ``Serialized`` (never unpickled
here) and goes straight onto the subscribing clients' streams; messages wait in
each ``Sub``'s own buffer, so a subscriber that never reads costs the
scheduler nothing.  A client that goes away leaves no subscription behind: the
next message of a name drops the clients whose stream is gone, and a sweep
every ``SWEEP`` seconds (running only while someone subscribes) drops the rest.

Dask's workers send to each other directly once the scheduler has told the
publisher who subscribes; here every message makes two hops through the
scheduler, which keeps one table, in one place, and no per-worker state.
"""

from __future__ import annotations

import asyncio
import logging

from shoal.distributed.comm import CommClosedError

__all__ = ["RoutesPubSub", "SWEEP"]

logger = logging.getLogger(__name__)

#: Seconds between sweeps dropping the subscriptions of clients that went away.
SWEEP = 0.5
#: The client stream ops this module handles.
_OPS = ("pubsub-subscribe", "pubsub-unsubscribe", "pubsub-msg")


class RoutesPubSub:
    """Scheduler mixin routing ``Pub`` messages to ``Sub`` s (uses ``client_streams``
    and ``_spawn``); see the module docstring."""

    @property
    def pubsub_subscribers(self) -> dict:
        return self.__dict__.setdefault("_pubsub_subscribers", {})

    def pubsub_handlers(self) -> dict:
        return {"pubsub_subscribers": self.pubsub_subscribers_op}

    def client_stream_op(self, client: str, msg: dict) -> None:
        """A client stream message the state machine does not handle: a pubsub op is
        carried out, any other goes to ``topic_stream_op`` (scheduler/eventlog.py)."""
        op = msg.get("op")
        if op not in _OPS:  # (eventlog.py's topic subscriptions; it warns of others)
            return self.topic_stream_op(client, msg)
        name = msg.get("name")
        if not isinstance(name, str):
            logger.warning("%s from client %s: name must be a str, got %r", op, client, name)
        elif op == "pubsub-msg":
            self._pubsub_forward(name, msg.get("msg"))
        elif op == "pubsub-subscribe":
            self.pubsub_subscribers.setdefault(name, {}).setdefault(client, set()).add(msg.get("id"))
            self._pubsub_start_sweep()
        else:
            self._pubsub_leave(name, client, msg.get("id"))
        return None

    def pubsub_subscribers_op(self, comm=None, name=None) -> dict:
        """``{Sub id: client id}`` of the live subscribers of ``name``."""
        self._pubsub_sweep()
        clients = self.pubsub_subscribers.get(name, {})
        return {sub: client for client, subs in clients.items() for sub in subs}

    # --- routing ---------------------------------------------------------------------

    def _pubsub_forward(self, name, payload) -> None:
        clients = self.pubsub_subscribers.get(name)
        if not clients:
            return
        out = {"op": "pubsub-msg", "name": name, "msg": payload}
        for client in list(clients):
            stream = self.client_streams.get(client)
            if stream is None:
                del clients[client]
                continue
            try:
                stream.send(out)
            except CommClosedError:
                logger.debug("dropping a message of %r for %s: stream closed", name, client)
        if not clients:
            del self.pubsub_subscribers[name]

    def _pubsub_leave(self, name, client, sub_id) -> None:
        clients = self.pubsub_subscribers.get(name)
        if clients is None or client not in clients:
            return
        clients[client].discard(sub_id)
        if not clients[client]:
            del clients[client]
        if not clients:
            del self.pubsub_subscribers[name]

    # --- departed clients ------------------------------------------------------------

    def _pubsub_sweep(self) -> None:
        """Forget the subscriptions of clients whose stream is gone."""
        table, connected = self.pubsub_subscribers, self.client_streams
        for name, clients in list(table.items()):
            for client in [c for c in clients if c not in connected]:
                del clients[client]
            if not clients:
                del table[name]

    def _pubsub_start_sweep(self) -> None:
        task = self.__dict__.get("_pubsub_sweeper")
        if task is None or task.done():
            self.__dict__["_pubsub_sweeper"] = self._spawn(self._pubsub_sweeping())

    async def _pubsub_sweeping(self) -> None:
        """Sweep every ``SWEEP`` seconds while any subscription is left."""
        while self.pubsub_subscribers:
            await asyncio.sleep(SWEEP)
            self._pubsub_sweep()
