"""The worker's side of actors (see :mod:`shoal.distributed.actor`): hold, call, drop.

::

    actor creation task (task thread)  -> hold_actor(key, obj): actors[key] = obj
    peer / client: actor_execute(key, name, args) -> the actor thread runs obj.name(*args)
                                                     (an ``async def`` method: on the loop)
                   actor_attribute(key, name)     -> getattr(obj, name), in the actor thread
    every state-machine step (Worker.handle)       -> drop the objects of forgotten keys

The objects live in ``self.actors``, never in the data store, so they are never spilled,
copied or moved: only their handle is data.  One thread (a one-thread executor, made
at the first call) runs every actor's methods in the order the calls arrived, so an
actor's state needs no lock; its initializer marks the thread so that calls made from
inside a method go out through this worker.  An object is dropped when the worker's
state machine forgets its key, which happens when no client or task needs it any more
(or the worker's copy is released).  Calls then fail with an error naming the key.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from concurrent.futures import ThreadPoolExecutor

from shoal.distributed.actor import actor_pools, actor_thread, actor_worker
from shoal.distributed.protocol import Serialized, deserialize, serialize
from shoal.distributed.taskcolumns import key_from_wire

__all__ = ["HoldsActors"]


class HoldsActors:
    """Mixin of :class:`~shoal.distributed.worker.server.Worker`: ``self.actors`` and the
    ``actor_execute`` / ``actor_attribute`` ops."""

    def actor_handlers(self) -> dict:
        """The ops, for the worker's server (also sets up the empty actor table)."""
        self.actors: dict = {}
        self._actor_executor: ThreadPoolExecutor | None = None
        self._actor_pool: tuple | None = None  # (actor.actor_pools: ordered, apart)
        return {"actor_execute": self.actor_execute, "actor_attribute": self.actor_attribute}

    def hold_actor(self, key, instance) -> None:
        """Keep ``instance`` as the actor of ``key`` (called by its creation task)."""
        self.actors[key] = instance

    def drop_released_actors(self) -> None:
        """Let go of the actors whose key this worker's state machine has forgotten."""
        if self.actors:
            tasks = self.state.tasks
            for key in [k for k in list(self.actors) if k not in tasks]:
                self.actors.pop(key, None)

    async def actor_execute(self, comm=None, key=None, name=None, args=None) -> Serialized:
        instance = self._actor(key)
        args, kwargs = deserialize(args) if isinstance(args, Serialized) else args
        method = getattr(instance, name)
        if inspect.iscoroutinefunction(method):
            token = actor_worker.set(self)  # (its calls go out through this worker)
            try:
                return serialize(await method(*args, **kwargs))
            finally:
                actor_worker.reset(token)
        call = functools.partial(method, *args, **kwargs)
        return serialize(await asyncio.get_running_loop().run_in_executor(self._actor_thread(), call))

    async def actor_attribute(self, comm=None, key=None, name=None) -> Serialized:
        instance = self._actor(key)
        loop = asyncio.get_running_loop()
        return serialize(await loop.run_in_executor(self._actor_thread(), getattr, instance, name))

    def actor_here(self, op: str, key, name: str, args: tuple, kwargs: dict):
        """A call made on this worker's actor thread to an actor held here: run now."""
        instance = self._actor(key)
        if op == "actor_attribute":
            return getattr(instance, name)
        return getattr(instance, name)(*args, **kwargs)

    def _actor(self, key):
        key = key_from_wire(key)
        try:
            return self.actors[key]
        except KeyError:
            raise ValueError(f"actor {key!r} is not held by worker {self.address} (released, "
                             "or lost with its worker: actors are not restarted)") from None

    def _actor_thread(self) -> ThreadPoolExecutor:
        if self._actor_executor is None:
            self._actor_executor = ThreadPoolExecutor(
                1, thread_name_prefix=f"shoal-actor-{self.address}",
                initializer=_mark_actor_thread, initargs=(self,))  # fmt: skip
        return self._actor_executor

    # --- calls made from this worker's tasks and actor methods (actor.py) ---

    def actor_loop(self):
        return self.threads.loop if self.threads is not None else None

    async def actor_send(self, address: str, msg: dict, apart=False):
        """One actor call: on this worker itself directly, else to the peer holding it."""
        fields = {k: v for k, v in msg.items() if k != "op"}
        if address == self.address:
            handler = self.actor_execute if msg["op"] == "actor_execute" else self.actor_attribute
            return deserialize(await handler(None, **fields))
        if self._actor_pool is None:
            self._actor_pool = actor_pools(self.security, "worker")
        return await getattr(self._actor_pool[apart](address), msg["op"])(**fields)

    async def stop_actors(self) -> None:
        """At close: drop the actors, end their thread (after its call in progress)."""
        self.actors.clear()
        if self._actor_executor is not None:
            self._actor_executor.shutdown(wait=False, cancel_futures=True)
        for pool in self._actor_pool or ():
            await pool.close()


def _mark_actor_thread(worker) -> None:
    actor_thread.worker = worker
