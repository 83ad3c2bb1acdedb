"""The one local engine loop that every local scheduler runs.

::

    get(graph, keys)                                   (sync / threads / processes)
      -> prepare: convert spec, add cache, cull, order (+ cycle check), fuse
      -> LocalState (engine.py): ready heap, refcounts, data
      -> loop:  pop ready keys -> backend.submit(batch)       -> worker runs batch.py
                backend.wait() -> outcomes -> state.finish(...) -> events on the bus
      -> results in the shape of ``keys``

A *backend* is the only thing that differs between schedulers.  It has
``nworkers``, ``capacity`` (batches it accepts at once), ``label`` (the worker
name in events), ``submit(keys, state)``, ``wait()`` (block until at least one
batch is done; return a list of outcome lists) and ``cancel()``.  ``sync.py``,
``threads.py``, ``processes.py`` and ``executor.py`` each define one in a few
dozen lines.  A backend may also have ``limits(ntasks)``, a context manager held
while the compute runs (threads: the BLAS thread limit of ``blas.py``).

Batch size adapts per task function: the first tasks of a function go one per
batch; once their duration is measured, a batch holds about ``target`` seconds of
work (never more than an even share of what is ready, nor ``MAX_BATCH`` tasks),
so trivial tasks are handed off in dozens and long ones one by one.

Batches and memory: a batch runs to its end before the tasks it unblocks can
start, so it can hold results that the static order would already have
consumed.  Backends that run batches inline (``ordered = True``: sync) cut each
batch at the first gap in priority numbers and so follow the order exactly.
Pools cut by size only; since only tasks measured to take less than ``target``
are batched at all, the extra results held are at most ``capacity x MAX_BATCH``
small ones.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import os
import time
from collections import Counter
from collections.abc import Mapping

from shoal.core.errortext import exception_text
from shoal.core.graph import cull, dependents_of, flatten_keys
from shoal.core.keys import key_split, key_str
from shoal.core import optimize
from shoal.core.order import order
from shoal.core.spec import Alias, Data, Fused, Task, convert_graph
from shoal.local.batch import execute_batch
from shoal.bus import default_bus
from shoal.callbacks import Callback, active_for_run
from shoal.events import (LOCAL_SCHEDULERS, ComputationFinished, GraphSubmitted, ResultsCached,
                          graph_shape)  # fmt: skip
from shoal.local.engine import LocalState
from shoal.local.publish import RunPublisher

__all__ = ["as_graph", "prepare", "run", "pack_results"]

_run_ids = itertools.count()
MAX_BATCH = 64
_SESSION = os.urandom(4).hex()


def as_graph(graph) -> dict:
    """Accept a mapping or an object with ``__dask_graph__()``; return nodes."""
    if not isinstance(graph, Mapping):
        own = getattr(graph, "__shoal_graph__", None)
        if own is not None:
            return own()
        method = getattr(graph, "__dask_graph__", None)
        if method is None:
            raise TypeError(
                f"expected a task graph (a mapping of keys to tasks, or an object "
                f"with __dask_graph__()), got {type(graph).__name__}"
            )
        graph = method()
    return convert_graph(graph)


def prepare(graph, keys, cache=None, fuse=None):
    """Check and shape a graph for running: ``(graph, priority, dependents, flat)``."""
    graph = as_graph(graph)
    if cache:
        graph.update({k: Data(k, v) for k, v in cache.items()})
    flat = flatten_keys(keys)
    graph = cull(graph, flat)
    priority = order(graph, flat)
    dependents = dependents_of(graph)
    if fuse is None:
        fuse = optimize.active()
    if fuse:
        graph, dependents = optimize.fuse(graph, dependents, keep=flat)
    return graph, priority, dependents, flat


def pack_results(keys, data):
    """Results in the nested-list shape of *keys*."""
    if type(keys) is list:
        return [pack_results(k, data) for k in keys]
    return data[keys]


def _func_of(node):
    """What a node's duration estimate is filed under: its function."""
    t = type(node)
    if t is Task:
        return node.func
    if t is Fused:
        return _func_of(node.nodes[-1])
    return t


class _Sizer:
    """Per-function duration estimates -> batches of about ``target`` seconds."""

    __slots__ = ("target", "nworkers", "est", "fixed", "graph")

    def __init__(self, target: float, nworkers: int, graph: dict, fixed=None):
        self.target = target
        self.nworkers = nworkers
        self.graph = graph
        self.est: dict = {}
        self.fixed = fixed

    def cost(self, key):
        try:
            return self.est.get(_func_of(self.graph[key]))
        except TypeError:  # an unhashable callable: never batched
            return None

    def take(self, state, ordered: bool) -> list:
        """The next batch: ready keys in priority order, about ``target`` of work."""
        if self.fixed:
            return state.pop_ready(self.fixed, ordered)
        cap = min(-(-len(state.ready) // self.nworkers), MAX_BATCH)
        return state.pop_ready(cap, ordered, self.cost, self.target)

    def learn(self, outcomes) -> None:
        est = self.est
        graph = self.graph
        for key, _, _, start, stop, _ in outcomes:
            node = graph.get(key)
            if node is None:  # an error reported under a fused group's inner key
                continue
            try:
                func = _func_of(node)
                old = est.get(func)
                took = stop - start
                est[func] = took if old is None else (old + took) / 2
            except TypeError:
                pass


def _raise_task_error(key, exc):
    from shoal.local.remote_errors import failed_key  # (the error path only: it imports cloudpickle)

    key = failed_key(exc, key)
    notes = getattr(exc, "__notes__", ())
    if hasattr(exc, "add_note") and not any(n.startswith("shoal:") for n in notes):
        exc.add_note(f"shoal: raised by the task computing key {key_str(key)}")
    raise exc


def _is_inline(node) -> bool:
    """Nodes the loop runs itself: literals, aliases and item selection.

    They cost less than a hand-off, and for processes running them here means a
    value is never shipped to a worker just to be returned (a literal) or to
    have one piece picked out of it (a shuffle's ``getitem``).  A getitem with
    nested tasks in its arguments (Dask's ``(getitem, (f, x), 0)``) runs ``f``
    too, so it goes to a worker like any task.
    """
    t = type(node)
    return t is Data or t is Alias or (
        t is Task and node.func is operator.getitem and not node._nested
    )


def _drive(state: LocalState, backend, bus, run_id, sizer: _Sizer,
           publisher: RunPublisher | None, prefixes: dict, hooks=None) -> None:  # fmt: skip
    inflight = 0
    capacity = backend.capacity
    ordered = getattr(backend, "ordered", False)
    cache = bus.wants("cache")
    graph = state.graph
    # Callback hooks the loop calls itself: for inline nodes, and for backends whose
    # tasks run in another process (no ``hooks`` slot), at hand-off and on results
    remote = hooks if hooks is not None and not hasattr(backend, "hooks") else None

    def finish(outcomes):
        if publisher is not None:
            publisher.finished(outcomes)
        if cache:
            state.freed = []
        for key, ok, value, _, _, _ in outcomes:
            if not ok:
                _raise_task_error(key, value)
            state.finish(key, value)
        if cache:
            stored = [(key, prefixes.get(key) or key_split(key), value)
                      for key, ok, value, _, _, _ in outcomes]  # fmt: skip
            bus.publish(ResultsCached(run_id, stored, state.freed, time.time()))

    while state.pending:
        while state.ready and inflight < capacity:
            keys = sizer.take(state, ordered)
            inline = [k for k in keys if _is_inline(graph[k])]
            if inline:
                finish(execute_batch(inline, graph, state.data, None, hooks))
                if len(inline) == len(keys):
                    continue
                skip = set(inline)
                keys = [k for k in keys if k not in skip]
            if publisher is not None:  # (before: the sync backend runs the batch in submit)
                publisher.started(keys)
            if remote is not None:
                remote.pre_many(keys)
            try:
                backend.submit(keys, state)
            except Exception as exc:  # none of them runs (a task or an input that cannot pickle)
                if publisher is not None:
                    publisher.lost(keys, exc)
                raise
            inflight += 1
        if not inflight:
            if state.ready or not state.pending:
                continue
            raise RuntimeError("shoal engine stalled: tasks are waiting but none is ready")
        try:
            for outcomes in backend.wait():
                inflight -= 1
                sizer.learn(outcomes)
                finish(outcomes)
                if remote is not None:
                    remote.post_outcomes(outcomes)
                # drop our references to the results: state.data decides what lives
                # (the loop variable would otherwise keep the last batch alive while
                # we block in the next wait())
                outcomes.clear()
        except Exception as exc:
            lost = getattr(exc, "lost_keys", None)  # (a worker process died running them)
            if publisher is not None and lost:
                publisher.lost(lost, exc)
            raise


# keyword arguments Dask's local schedulers take that mean nothing here
_DASK_ONLY = frozenset(["get_id", "pack_exception", "raise_exception", "rerun_exceptions_locally",
                        "dumps", "loads", "initializer", "optimize_graph"])


def run(backend, graph, keys, *, cache=None, fuse=None, bus=None, label="local",
        target=0.005, batch_size=None, chunksize=None, callbacks=None, **extra):
    """Compute *keys* of *graph* on *backend*; see the module docstring.

    ``batch_size`` (Dask's ``chunksize``): tasks per hand-off, or None / "auto"
    to adapt (see above).  ``callbacks``: Dask-style ``Callback`` objects called
    for this compute besides the active ones (``shoal.callbacks``).  Dask-only
    options are accepted and ignored; any other keyword is an error naming it.
    """
    if label not in LOCAL_SCHEDULERS:  # (a dashboard reads runs by this label)
        raise ValueError(f"run: label={label!r} is not one of the local schedulers' "
                         f"labels ({', '.join(sorted(LOCAL_SCHEDULERS))}: shoal.events)")
    if "scheduler" in extra:  # (Dask's gets ignore it: its sync scheduler ran, silently)
        raise TypeError(f"scheduler={extra['scheduler']!r}: this get function always runs the "
                        f"{label} scheduler; to choose one, call shoal.compute(..., scheduler=) "
                        "or the get of that scheduler (shoal.threaded.get, ...)")
    unknown = sorted(set(extra) - _DASK_ONLY)
    if unknown:
        raise TypeError(
            f"unexpected keyword argument(s) {', '.join(map(repr, unknown))} for the "
            f"{label} scheduler; it accepts num_workers, cache, batch_size, fuse "
            "(and pool for threads)"
        )
    if chunksize is not None and batch_size in (None, "auto"):
        batch_size = chunksize
    bus = default_bus if bus is None else bus
    fixed = _batch_size(batch_size)
    g, priority, dependents, flat = prepare(graph, keys, cache=cache, fuse=fuse)
    state = LocalState(g, priority, flat, dependents)
    run_id = f"{label}-{_SESSION}-{next(_run_ids)}"
    prefixes = _publish_start(bus, run_id, label, g, flat) if bus.active else {}
    publisher = RunPublisher.for_run(bus, run_id, backend.label, prefixes) if bus.active else None
    limits = getattr(backend, "limits", None)
    hooks = _hooks_for(backend, state, callbacks) if Callback.active or callbacks else None
    try:
        if hooks is not None:
            hooks.start()
        with limits(len(g)) if limits is not None else contextlib.nullcontext():
            _drive(state, backend, bus, run_id, _Sizer(target, backend.nworkers, g, fixed),
                   publisher, prefixes, hooks)
        if hooks is not None:
            hooks.finish(False)
    except BaseException as exc:
        backend.cancel()
        if publisher is not None:  # (first: a reader that comes now still sees the run)
            publisher.close()
        bus.runs.pop(run_id, None)
        if bus.active:
            status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "error"
            bus.publish(ComputationFinished(run_id, status, time.time(), exception_text(exc)))
        if hooks is not None:
            hooks.finish(True)
        raise
    if publisher is not None:
        publisher.close()
    bus.runs.pop(run_id, None)
    if bus.active:
        bus.publish(ComputationFinished(run_id, "finished", time.time()))
    return pack_results(keys, state.data)


def _hooks_for(backend, state, explicit):
    """The compute's ``RunHooks`` (``hooks.py``), given to a backend that runs tasks in
    this process (it has a ``hooks`` slot); None when no callback is active."""
    callbacks = active_for_run(explicit)
    if not callbacks:
        return None
    from shoal.local.hooks import RunHooks  # (only with callbacks active)

    hooks = RunHooks(callbacks, state)
    if hasattr(backend, "hooks"):
        backend.hooks = hooks
    return hooks


def _batch_size(value):
    if value is None or value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"batch size must be 'auto' or a positive integer, got {value!r}")
    return value


def _publish_start(bus, run_id, scheduler, graph, flat) -> dict:
    """Publish the run's ``GraphSubmitted`` (and keep it in ``bus.runs`` until the run
    ends, for readers who come meanwhile); return ``{key: prefix}`` for its task
    records (one ``key_split`` per key a run, not one per record)."""
    of = {k: key_split(k) for k in graph}
    shape = graph_shape((k, getattr(node, "dependencies", ())) for k, node in graph.items())
    prefixes = dict(Counter(of.values()))
    record = GraphSubmitted(run_id, scheduler, len(graph), prefixes, tuple(flat), time.time(), shape)
    bus.runs[run_id] = record
    bus.publish(record)
    return of
