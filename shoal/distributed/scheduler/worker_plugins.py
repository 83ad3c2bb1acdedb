"""The scheduler's register of worker plugins: a mixin of
:class:`~shoal.distributed.scheduler.server.Scheduler`.

The scheduler keeps each worker plugin as the client pickled it (a
``Serialized``: it never runs user code here) under its name, and

- sends it to every worker at once (``register_worker_plugin``, answering
  ``{worker: reply}``, each reply ``{"status": "OK"}`` or the worker's error);
- hands all of them to each worker that registers later, in the registration
  reply (``worker-plugins``): a worker added by ``scale`` or restarted by its
  nanny sets them up before it runs a task;
- forgets it and asks every worker to tear it down (``unregister_worker_plugin``;
  an unknown name is a ``ValueError`` naming the ones there are).

A worker that leaves while the plugin is sent is left out of the answer; one
that stays and cannot be reached is answered as an error naming it.  A plugin
registered (or unregistered) while a joining worker's reply was on its way
reaches it (or leaves it) right after it joins (:meth:`worker_plugins_missed`).
"""

from __future__ import annotations

import asyncio
import logging

from shoal.distributed.protocol import Serialized
from shoal.local.remote_errors import pack_exception

__all__ = ["KeepsWorkerPlugins"]

logger = logging.getLogger(__name__)


class KeepsWorkerPlugins:
    """Worker plugins on the scheduler; see the module docstring."""

    def worker_plugin_handlers(self) -> dict:
        """The rpc handlers (and the empty register: called from ``__init__``)."""
        self.worker_plugins: dict = {}  # name -> Serialized plugin, in registration order
        return {"register_worker_plugin": self.register_worker_plugin,
                "unregister_worker_plugin": self.unregister_worker_plugin}  # fmt: skip

    def worker_plugin_reply(self) -> dict:
        """What a registration reply carries for the plugins (nothing when none)."""
        return {"worker-plugins": dict(self.worker_plugins)} if self.worker_plugins else {}

    def worker_plugins_missed(self, address: str, reply: dict) -> None:
        """Bring a worker that just joined up to date with the plugins registered or
        unregistered since its registration ``reply`` was made."""
        sent = reply.get("worker-plugins", {})
        if address not in self.state.workers or sent.keys() == self.worker_plugins.keys() and all(
                sent[n] is p for n, p in self.worker_plugins.items()):  # fmt: skip
            return
        for name in sent.keys() - self.worker_plugins.keys():
            self._spawn(self._plugin_to(address, "plugin_remove", name=name))
        for name, plugin in self.worker_plugins.items():
            if sent.get(name) is not plugin:
                self._spawn(self._plugin_to(address, "plugin_add", plugin=plugin, name=name))

    async def _plugin_to(self, address: str, op: str, **msg) -> None:
        try:
            reply = await getattr(self.pool(address), op)(**msg)
        except Exception as exc:  # noqa: BLE001 - nobody waits for it: logged
            reply = {"status": "error", "exception": (None, type(exc).__name__, str(exc), "", "")}
        if isinstance(reply, dict) and reply.get("status") == "error":
            logger.warning("worker plugin %r: %s on %s failed: %s", msg.get("name"), op, address,
                           reply["exception"][2])  # fmt: skip

    async def register_worker_plugin(self, comm=None, plugin=None, name=None, idempotent=False):
        if not isinstance(name, str) or not name:
            raise ValueError(f"register_worker_plugin: name must be a non-empty str, got {name!r}")
        if not isinstance(plugin, Serialized):  # (pickled by the client, kept so)
            raise ValueError(f"register_worker_plugin: plugin must come pickled by a client, "
                             f"got {type(plugin).__name__}")  # fmt: skip
        if not isinstance(idempotent, bool):
            raise ValueError(f"register_worker_plugin: idempotent must be True or False, "
                             f"got {idempotent!r}")  # fmt: skip
        if idempotent and name in self.worker_plugins:
            return {}
        self.worker_plugins.pop(name, None)  # (a replaced one moves to the end)
        self.worker_plugins[name] = plugin
        return await self._plugin_op("plugin_add", plugin=plugin, name=name)

    async def unregister_worker_plugin(self, comm=None, name=None):
        if name not in self.worker_plugins:
            raise ValueError(f"no worker plugin named {name!r}; "
                             f"have {sorted(self.worker_plugins)}")  # fmt: skip
        del self.worker_plugins[name]
        return await self._plugin_op("plugin_remove", name=name)

    async def _plugin_op(self, op: str, **msg) -> dict:
        workers = list(self.state.workers)

        async def one(address):
            try:
                return await getattr(self.pool(address), op)(**msg)
            except Exception as exc:  # noqa: BLE001 - the worker's answer, or why none came
                if address not in self.state.workers:
                    return None  # (it left meanwhile)
                return {"status": "error", "exception": pack_exception(exc, "scheduler"),
                        "worker": address}  # fmt: skip

        replies = await asyncio.gather(*(one(w) for w in workers))
        return {w: r for w, r in zip(workers, replies) if r is not None}
