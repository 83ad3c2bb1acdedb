"""``SchedulerPlugin``: user hooks on the scheduler, fed from its event bus.

::

    SchedulerState --Publish(record)--> Scheduler.bus --> _PluginFeed(plugin)
                                                           |- TaskTransition -> plugin.transition(key, start, finish, **details)
                                                           |- WorkerAdded    -> plugin.add_worker(scheduler, worker)
                                                           |- WorkerRemoved  -> plugin.remove_worker(scheduler, worker)
                                                           |- GraphSubmitted -> plugin.update_graph(scheduler, keys, ...)
                                                           '- ComputationFinished -> plugin.computation_finished(...)

Plugins see the same records as the dashboard, never the state machine's
dicts, so a plugin cannot corrupt the scheduler; a plugin method that raises
is logged and the plugin is unsubscribed (the bus's rule).  Plugins with
``async def start(scheduler)`` / ``close()`` get them awaited when added to /
removed from a running scheduler.  The hook names follow Dask's
``SchedulerPlugin``, so existing plugins port with few changes.
"""

from __future__ import annotations

import inspect

__all__ = ["SchedulerPlugin", "maybe_await", "subscribe_plugin"]


class SchedulerPlugin:
    """Subclass and override the hooks you need; every hook is optional."""

    name: str | None = None

    async def start(self, scheduler) -> None:
        """Called once the plugin is added to a running scheduler."""

    async def close(self) -> None:
        """Called when the plugin is removed or the scheduler closes."""

    def transition(self, key, start: str, finish: str, **details) -> None:
        """A task changed state; ``details`` has worker, thread, startstops, nbytes, type..."""

    def add_worker(self, scheduler, worker: str) -> None:
        """A worker joined."""

    def remove_worker(self, scheduler, worker: str, reason: str = "") -> None:
        """A worker left (``reason`` says why)."""

    def update_graph(self, scheduler, keys, ntasks: int = 0, prefixes=None, run_id="") -> None:
        """A client submitted a graph of ``ntasks`` tasks wanting ``keys``."""

    def computation_finished(self, scheduler, run_id: str, status: str) -> None:
        """A submitted graph's wanted keys are all done (``status``: finished, error, ...)."""


def subscribe_plugin(scheduler, plugin) -> int:
    """Subscribe ``plugin``'s overridden hooks to ``scheduler.bus``; returns the token."""
    kinds = set()
    base = SchedulerPlugin
    hooks = {
        "task": "transition", "worker-added": "add_worker", "worker-removed": "remove_worker",
        "graph-submitted": "update_graph", "computation-finished": "computation_finished",
    }  # fmt: skip
    for kind, hook in hooks.items():
        mine = getattr(type(plugin), hook, None)
        if mine is not None and mine is not getattr(base, hook, None):
            kinds.add(kind)

    def feed(record) -> None:
        kind = record.kind
        if kind == "task":
            plugin.transition(record.key, record.start, record.finish, worker=record.worker,
                              thread=record.thread, startstops=record.startstops,
                              nbytes=record.nbytes, type=record.type,
                              exception=record.exception, prefix=record.prefix)  # fmt: skip
        elif kind == "worker-added":
            plugin.add_worker(scheduler, record.worker)
        elif kind == "worker-removed":
            plugin.remove_worker(scheduler, record.worker, record.reason)
        elif kind == "graph-submitted":
            plugin.update_graph(scheduler, record.keys, record.ntasks, record.prefixes, record.run_id)
        elif kind == "computation-finished":
            plugin.computation_finished(scheduler, record.run_id, record.status)

    feed.__qualname__ = f"plugin {type(plugin).__name__}"
    return scheduler.bus.subscribe(feed, kinds)


async def maybe_await(result) -> None:
    if inspect.isawaitable(result):
        await result
