"""The worker's side of worker plugins (:mod:`shoal.distributed.plugins`): a mixin of
:class:`~shoal.distributed.worker.server.Worker`.

::

    rpc plugin_add(plugin, name)      unpickle, replace a plugin of that name
                                      (its teardown first), await setup(worker)
    rpc plugin_remove(name)           await teardown(worker)
    (one change at a time, the registration reply's setups too: ``_plugin_lock``)
    registration reply "worker-plugins"   the scheduler's plugins, set up before
                                          the worker reads its first task
    close                             every plugin's teardown, before the
                                      worker's resources go

Both ops answer ``{"status": "OK"}`` or ``{"status": "error", "exception":
pack_exception(...), "worker": address}``: a plugin that raises never stops
the worker, and the client re-raises the error naming the worker.  An errant
plugin stays registered (its teardown still comes), as in Dask.

Transitions: the state machine calls ``state.on_transition(key, start,
finish)`` after each task state change (``worker/transitions.py``); it is set
only while some plugin overrides ``transition``, so a worker without such
plugins pays one attribute read per transition.  A ``transition`` that raises
is logged and the others still run.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

from shoal.distributed.plugins import is_worker_plugin, overrides, plugin_name
from shoal.distributed.protocol import Serialized, deserialize
from shoal.local.remote_errors import pack_exception

__all__ = ["RunsPlugins"]

logger = logging.getLogger(__name__)

#: Seconds an async teardown may take while its worker closes.
CLOSE_TEARDOWN = 10.0


class RunsPlugins:
    """Worker plugins on a worker; see the module docstring."""

    def plugin_handlers(self) -> dict:
        """The rpc handlers (and the empty plugin table: called from ``__init__``)."""
        self.plugins: dict = {}  # name -> plugin
        self._transition_plugins: list = []
        # one plugin change at a time: a teardown (or a replacement) that came while a
        # setup still awaited ran before it, and what the setup opened then stayed open
        self._plugin_lock = asyncio.Lock()
        return {"plugin_add": self.plugin_add, "plugin_remove": self.plugin_remove}

    async def plugin_add(self, comm=None, plugin=None, name=None) -> dict:
        async with self._plugin_lock:
            return await self._add_plugin(plugin, name)

    async def plugin_remove(self, comm=None, name=None) -> dict:
        if not isinstance(name, str):
            raise TypeError(f"plugin_remove: name must be a str, got {name!r}")
        async with self._plugin_lock:
            return await self._remove_plugin(name)

    async def _add_plugin(self, plugin, name) -> dict:
        try:
            if isinstance(plugin, Serialized):
                plugin = deserialize(plugin)
            if not is_worker_plugin(plugin):
                raise TypeError(f"not a worker plugin: {type(plugin).__name__} (one with setup, "
                                "teardown or transition methods)")  # fmt: skip
            name = name or plugin_name(plugin)
            if not isinstance(name, str):
                raise TypeError(f"a worker plugin's name must be a str, got {name!r}")
        except Exception as exc:  # noqa: BLE001 - e.g. its class's module is missing here
            logger.exception("worker %s: could not load worker plugin %r", self.address, name)
            return self._plugin_error(exc, "plugin-load")
        if name in self.plugins:
            await self._remove_plugin(name)
        self.plugins[name] = plugin
        self._hook_transitions()
        return await self._run_hook(plugin, name, "setup", None)

    async def _remove_plugin(self, name, timeout=None) -> dict:
        plugin = self.plugins.pop(name, None)
        self._hook_transitions()
        return await self._run_hook(plugin, name, "teardown", timeout)

    async def _run_hook(self, plugin, name, hook: str, timeout) -> dict:
        """``plugin.<hook>(worker=self)``, awaited (at most *timeout* s) when async; an error
        is logged and answered packed: the worker goes on."""
        method = getattr(plugin, hook, None)
        if method is not None:
            try:
                result = method(worker=self)
                if inspect.isawaitable(result):
                    await asyncio.wait_for(result, timeout)
            except Exception as exc:  # noqa: BLE001 - reported, the worker goes on
                logger.exception("worker %s: worker plugin %r failed in %s", self.address, name,
                                 hook)  # fmt: skip
                return self._plugin_error(exc, f"plugin-{hook}")
        return {"status": "OK"}

    async def _setup_plugins(self, plugins) -> None:
        """Set up the plugins of a registration reply (an error is logged: nobody asked)."""
        async with self._plugin_lock:
            for name, plugin in (plugins or {}).items():
                await self._add_plugin(plugin, name)

    async def _teardown_plugins(self) -> None:
        """Every plugin's teardown as the worker closes, an async one given at most
        :data:`CLOSE_TEARDOWN` seconds (one that never returned kept the worker, and
        an in-process cluster's close, waiting for good)."""
        async with self._plugin_lock:
            for name in list(self.plugins):
                await self._remove_plugin(name, timeout=CLOSE_TEARDOWN)

    def _hook_transitions(self) -> None:
        self._transition_plugins = [p for p in self.plugins.values() if overrides(p, "transition")]
        if self.state is not None:
            self.state.on_transition = self._notify_transition if self._transition_plugins else None

    def _notify_transition(self, key, start: str, finish: str) -> None:
        for plugin in self._transition_plugins:
            try:
                plugin.transition(key, start, finish)
            except Exception:  # noqa: BLE001 - one plugin's failure stops nothing
                logger.exception("worker %s: worker plugin %r failed in transition(%r, %r, %r)",
                                 self.address, plugin, key, start, finish)  # fmt: skip

    def _plugin_error(self, exc: BaseException, stage: str) -> dict:
        return {"status": "error", "exception": pack_exception(exc, stage), "worker": self.address}
