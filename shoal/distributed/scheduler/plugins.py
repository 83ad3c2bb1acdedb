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
``SchedulerPlugin``, and hooks are called with the values their parameters name (Dask's
keyword-only signatures, or this base class's), so existing plugins port as they are.
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

    add_worker, remove_worker, update_graph, finished = (
        _by_name(getattr(plugin, hook, None)) for hook in
        ("add_worker", "remove_worker", "update_graph", "computation_finished"))  # fmt: skip

    def feed(record) -> None:
        kind = record.kind
        if kind == "task":
            plugin.transition(record.key, record.start, record.finish, worker=record.worker,
                              thread=record.thread, startstops=record.startstops,
                              nbytes=record.nbytes, type=record.type,
                              exception=record.exception, prefix=record.prefix,
                              stimulus_id="")  # fmt: skip (Dask's hook requires stimulus_id)
        elif kind == "worker-added":
            add_worker(scheduler, worker=record.worker)
        elif kind == "worker-removed":
            remove_worker(scheduler, worker=record.worker, reason=record.reason, stimulus_id="")
        elif kind == "graph-submitted":
            keys = list(record.keys)
            update_graph(scheduler, keys=keys, ntasks=record.ntasks, prefixes=record.prefixes,
                         run_id=record.run_id, client=record.run_id.rsplit("-graph-", 1)[0],
                         tasks=keys, annotations={}, priority={}, stimulus_id="")  # fmt: skip
        elif kind == "computation-finished":
            finished(scheduler, run_id=record.run_id, status=record.status)

    feed.__qualname__ = f"plugin {type(plugin).__name__}"
    return scheduler.bus.subscribe(feed, kinds)


def _by_name(method):
    """*method* called with the values it names (all of them when it takes ``**kwargs``):
    Dask's hooks take keyword-only arguments (``update_graph(scheduler, *, client, keys,
    tasks, ...)``), shoal's base class names its own; a plugin written for either works
    (one of Dask's failed on its first call, positional, and was unsubscribed)."""
    if method is None:
        return lambda *args, **kwargs: None
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return method
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return method
    names = set(params)

    def call(scheduler, **values):
        return method(scheduler, **{k: v for k, v in values.items() if k in names})

    return call


async def maybe_await(result) -> None:
    if inspect.isawaitable(result):
        await result
