"""Dask-style local-scheduler callbacks: ``Callback`` with five hooks.

Dask users time and trace local computes with callbacks: a :class:`Callback`
subclass defining any of ``_start(dsk)``, ``_start_state(dsk, state)``,
``_pretask(key, dsk, state)``, ``_posttask(key, result, dsk, state, worker_id)``
and ``_finish(dsk, state, errored)``, or ``Callback(start=..., pretask=...)``
given the same functions, active inside a ``with`` block or from
:meth:`~Callback.register` to :meth:`~Callback.unregister`.  Several may be
active at once; each run calls them in the order they became active.

Why hooks and not the event bus: ``_posttask`` receives the task's *result*
and ``_pretask`` must run just before the task in the thread that runs it, so
that a user can time it there; bus records carry neither values nor the
worker thread (they are published from the engine's thread, after a batch).
So the local runner asks this module once per compute whether any callback is
active (:func:`active_for_run`, a dict lookup) and only then builds the
per-run driver (``shoal.local.hooks``); with none active a compute pays
nothing more.  The driver's behaviour, and where it differs from Dask's, is
described on :class:`Callback`.

This module is the registry only (layer 1, beside the event vocabulary), so
both the engine (``shoal.local``) and ``shoal.diagnostics`` can import it.
"""

from __future__ import annotations

import threading
from typing import ClassVar

__all__ = ["Callback", "add_callbacks", "active_for_run", "normalize_callback"]

_HOOKS = ("_start", "_start_state", "_pretask", "_posttask", "_finish")


class Callback:
    """A set of local-scheduler hooks (Dask's ``dask.callbacks.Callback``).

    Subclass it and define any of ``_start``, ``_start_state``, ``_pretask``,
    ``_posttask``, ``_finish``, or pass the same functions as ``start``,
    ``start_state``, ``pretask``, ``posttask``, ``finish``.  Use it as a
    context manager around a compute, or :meth:`register` it globally.

    What each hook receives on shoal's sync, threads and processes schedulers:

    - ``dsk``: the graph as the engine runs it, ``{key: node}`` with shoal's
      nodes (``Task``, ``Data``, ``Alias``, ``Fused``: call ``node(data)``),
      after culling and fusion; Dask passes its own ``Task`` objects.  A chain
      of tasks that the engine fused is seen as its last key only.
    - ``state``: a dict shaped like Dask's, built from the engine's state:
      ``"cache"`` (results held, live), ``"waiting"`` (key -> number of
      unfinished dependencies; Dask: the set of them), ``"ready"`` (a live
      read-only view of the ready keys), ``"running"`` and ``"finished"``
      (sets the driver keeps), ``"dependencies"`` and ``"dependents"``
      (key -> set).  No ``"released"`` or ``"waiting_data"``.  Treat it as
      read-only: the engine does not read it back.
    - ``_pretask`` / ``_posttask`` run for every task but literals (Dask never
      calls them for data either).  On sync and threads they run in the
      thread that runs the task, just before and just after it (Dask calls
      both from the scheduling thread: at hand-off, and once the result is
      stored); the engine hands tasks over in batches, so only there do they
      bracket the task itself.  Calls are serialized by a lock: two hooks
      never run at once.  ``_posttask`` runs before the result is stored in
      ``state["cache"]`` there.  On processes, ``_pretask`` runs in this
      process as the batch is handed over, ``_posttask`` as its result
      arrives (after it is stored).
    - ``worker_id``: the thread ident that ran the task (sync, threads) or the
      worker process's pid (processes); Dask's sync passes None.
    - ``_finish(dsk, state, errored)``: once per compute, ``errored`` True when
      it raised; only for callbacks whose ``_start`` ran.  A hook that raises
      fails the compute.  Nothing is called after ``_finish``, even by a pool
      thread still finishing a task of a failed compute.
    - A compute started inside a hook or a task (sync, threads) calls only its own
      ``callbacks=``: as in Dask, only the outermost compute uses the active ones.
    """

    #: the active hooks: ``(start, start_state, pretask, posttask, finish)`` tuples, in
    #: the order they became active (Dask keeps a set)
    active: ClassVar[dict] = {}

    def __init__(self, start=None, start_state=None, pretask=None, posttask=None, finish=None):
        given = (start, start_state, pretask, posttask, finish)
        for name, func in zip(_HOOKS, given):
            if func is not None:
                setattr(self, name, func)

    @property
    def _callback(self) -> tuple:
        return tuple(getattr(self, name, None) for name in _HOOKS)

    def __enter__(self):
        self._cm = add_callbacks(self)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)

    def register(self) -> None:
        """Call these hooks in every local compute until :meth:`unregister`."""
        Callback.active[self._callback] = None

    def unregister(self) -> None:
        Callback.active.pop(self._callback, None)


def normalize_callback(cb) -> tuple:
    """The five-hook tuple of a :class:`Callback` (or such a tuple itself)."""
    if isinstance(cb, Callback):
        return cb._callback
    if isinstance(cb, tuple) and len(cb) == len(_HOOKS):
        return cb
    raise TypeError(f"callbacks must be Callback objects or 5-tuples of hooks, got {cb!r}")


class add_callbacks:
    """Context manager: the given callbacks are active inside the block."""

    def __init__(self, *callbacks):
        self.callbacks = [normalize_callback(c) for c in callbacks]

    def __enter__(self):
        for cb in self.callbacks:
            Callback.active[cb] = None

    def __exit__(self, *exc):
        for cb in self.callbacks:
            Callback.active.pop(cb, None)


_inside = threading.local()  # .depth > 0: this thread runs a compute's hook or task


class _Inside:
    """Marks this thread as running a hook, or a task of a compute with hooks: a compute
    started there calls only its own ``callbacks=``, not the active ones (Dask empties
    ``Callback.active`` while a compute runs); else a hook that computes calls itself
    without end, and a task's compute calls ``_start`` again, beside the outer hooks."""

    __slots__ = ()

    def __enter__(self):
        _inside.depth = getattr(_inside, "depth", 0) + 1

    def __exit__(self, *exc):
        _inside.depth -= 1


inside = _Inside()


def active_for_run(explicit=None) -> list:
    """The hook tuples a compute starting now calls: *explicit* (a get's ``callbacks=``,
    as Dask's) and the active ones (none inside a hook or task: ``_Inside``), each once,
    in order."""
    hooks = [] if getattr(_inside, "depth", 0) else list(Callback.active)
    if explicit:
        if isinstance(explicit, Callback):
            explicit = [explicit]
        hooks = [normalize_callback(c) for c in explicit] + hooks
    return list(dict.fromkeys(hooks))
