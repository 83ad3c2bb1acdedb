"""The client's side of actors (see :mod:`shoal.distributed.actor`).

``submit(cls, ..., actor=True)`` (``actors=True``, ``map`` too) sends an ordinary task
whose function is :class:`~shoal.distributed.actor.ActorTask`: placement (``workers=``,
``resources=``) and ``retries`` apply as to any task.  As in Dask, an actor's key is
never shared: ``pure`` is ignored (each submit makes its own object), and a function
may stand for a class (the object it returns is the actor).

The proxies a client hands out call the workers directly over a connection pool of
the client's own (opened at the first call, closed with the client); the scheduler
sees no message per call.
"""

from __future__ import annotations

from shoal.distributed.actor import Actor, ActorTask, actor_pools

__all__ = ["ActorControl", "actor_call", "bind_actors"]


def actor_call(func, actor: bool, pure: bool) -> tuple:
    """``(function to submit, pure)`` for ``submit``/``map``'s ``actor`` flag."""
    return (ActorTask(func), False) if actor else (func, pure)


def bind_actors(data: dict, futures: dict) -> None:
    """Gathered proxies call through this client and hold their key's future, so the actor
    lives while a proxy does (``submit(...).result()`` drops the first future at once)."""
    for key, value in data.items():
        if type(value) is Actor and value._holder is None:
            data[key] = Actor(value._cls, value._address, key, futures[key])


class ActorControl:
    """Mixin of :class:`~shoal.distributed.client.core.Client`: the transport of actor calls."""

    _actor_pool: tuple | None = None  # (actor.actor_pools: ordered, apart)

    def actor_loop(self):
        return self.loop if self.status == "running" else None

    async def actor_send(self, address: str, msg: dict, apart=False):
        if self._actor_pool is None:
            self._actor_pool = actor_pools(self.security, "client")
        fields = {k: v for k, v in msg.items() if k != "op"}
        return await getattr(self._actor_pool[apart](address), msg["op"])(**fields)

    async def _close_actors(self) -> None:
        pools, self._actor_pool = self._actor_pool, None
        for pool in pools or ():
            await pool.close()
