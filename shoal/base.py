"""Collections, ``compute`` / ``persist``, and the scheduler registry.

::

    compute(*args)                      args may nest collections in lists/dicts/tuples
                                        (namedtuples and dataclasses too)
      -> unpack: find the collections (Delayed fast path, any Dask-protocol object)
      -> one merged graph + nested keys  (shared sub-graphs appear once)
      -> get_scheduler(...)(graph, keys)
      -> each collection's __dask_postcompute__ -> results in the shape of args

A *collection* is any object with the Dask collection protocol:
``__dask_graph__``, ``__dask_keys__``, ``__dask_postcompute__``,
``__dask_postpersist__``, ``__dask_tokenize__`` (and optionally
``__dask_scheduler__``).  shoal's collections implement it, so Dask's ``compute``
accepts them; this module accepts Dask's.

Choosing a scheduler, first match wins:

1. ``compute(scheduler=...)``,
2. ``config.set(scheduler=...)``,
3. in a task on a distributed worker, the worker's client; else the default
   distributed client, when one exists (found through hooks that the distributed
   package registers with :func:`register_client_lookup`, so this module never
   imports it),
4. the collection's own ``__dask_scheduler__`` (threads for delayed); a Dask
   collection's (Dask's own threaded, multiprocessing or synchronous ``get``) means
   shoal's scheduler of that kind: ``shoal.compute`` runs Dask's collections on
   shoal's engine, where shoal's diagnostics and dashboard see them, unless
   ``scheduler=`` names Dask's,
5. threads.

A scheduler may be given as a name (see ``named_schedulers``), a ``get``
function, a ``concurrent.futures.Executor``, or an object with a ``get`` method
(a distributed ``Client``).  Names map to *import paths* resolved on first use, so
this layer never imports the schedulers' layer.  shoal's own ``get`` functions
take the merged graph of nodes as it is; any other ``get`` (Dask's schedulers,
a Dask ``Client``, a user's function, or a Dask collection's own
``__dask_scheduler__``) receives it exported in Dask's spec (``to_dask_graph``),
which every Dask-compatible scheduler runs.
"""

from __future__ import annotations

import difflib
import functools

from shoal import config
from shoal.core import annotations as task_annotations
from shoal.core import optimize
from shoal.core.loading import load_object
from shoal.core.spec import convert_graph, to_dask_graph

__all__ = [
    "compute",
    "collections_to_graph",
    "graph_of",
    "get_scheduler",
    "is_dask_collection",
    "named_schedulers",
    "persist",
    "register_client_lookup",
    "scheduler_get",
]

named_schedulers = {
    "sync": "shoal.local.sync:get",
    "synchronous": "shoal.local.sync:get",
    "single-threaded": "shoal.local.sync:get",
    "threads": "shoal.local.threads:get",
    "threading": "shoal.local.threads:get",
    "processes": "shoal.local.processes:get",
    "multiprocessing": "shoal.local.processes:get",
    "distributed": "shoal.distributed:default_client_get",
    "dask.distributed": "shoal.distributed:default_client_get",
}

executor_adapter = "shoal.local.executor:getter"
"""Import path of the function turning an Executor into a ``get``."""

_client_lookups: list = []


def register_client_lookup(fn, first: bool = False) -> None:
    """Register ``fn() -> get or None`` that finds the default distributed client
    (``first``: asked before the others)."""
    if fn not in _client_lookups:
        _client_lookups.insert(0 if first else len(_client_lookups), fn)


def _resolve_name(name: str):
    try:
        path = named_schedulers[name.lower()]
    except KeyError:
        close = difflib.get_close_matches(name, named_schedulers, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown scheduler {name!r}: expected one of "
            f"{', '.join(sorted(named_schedulers))}, a get function, an Executor "
            f"or a Client.{hint}"
        ) from None
    try:
        return load_object(path)
    except ImportError as exc:
        raise ValueError(f"Scheduler {name!r} is not available: {exc}") from exc


def scheduler_get(name: str):
    """A ``get`` that resolves the named scheduler when first called.

    Collections use this for ``__dask_scheduler__`` so that they need not import
    the scheduler modules.
    """

    def get(graph, keys, **kwargs):
        return _resolve_name(name)(graph, keys, **kwargs)

    get.__name__ = f"get_{name}"
    return get


def _as_get(scheduler):
    if isinstance(scheduler, str):
        return _resolve_name(scheduler)
    from concurrent.futures import Executor  # here, not at import: keeps `import shoal` light

    if isinstance(scheduler, Executor):
        return load_object(executor_adapter)(scheduler)
    get = getattr(scheduler, "get", None)
    if get is not None and callable(get) and not isinstance(scheduler, type):
        return get
    if callable(scheduler):
        return scheduler
    raise TypeError(
        f"scheduler= must be a name, a get function, an Executor or a Client, "
        f"got {type(scheduler).__name__}"
    )


def get_scheduler(scheduler=None, collections=()):
    """The ``get`` function to use; see the module docstring for the order."""
    if scheduler is not None:
        return _as_get(scheduler)
    configured = config.get("scheduler", None)
    if configured is not None:
        return _as_get(configured)
    for lookup in _client_lookups:
        get = lookup()
        if get is not None:
            return get
    for c in collections:
        get = getattr(c, "__dask_scheduler__", None)
        if get is not None:
            ours = _DASK_LOCAL_GETS.get((getattr(get, "__module__", None), getattr(get, "__name__", None)))
            return _resolve_name(ours) if ours else get
    return _resolve_name("threads")


#: Dask's local schedulers' ``get`` (module, name) -> shoal's scheduler of the same kind
_DASK_LOCAL_GETS = {
    ("dask.threaded", "get"): "threads",
    ("dask.multiprocessing", "get"): "processes",
    ("dask.local", "get_sync"): "sync",
}


def is_dask_collection(x) -> bool:
    """True for objects implementing the collection protocol (not classes)."""
    if isinstance(x, type):
        return False
    method = getattr(x, "__dask_graph__", None)
    if method is None:
        return False
    from shoal.delayed import Delayed

    if isinstance(x, Delayed) or hasattr(x, "__shoal_graph__"):
        return True  # shoal's own: no need to build (and export) the whole graph
    try:
        return method() is not None
    except TypeError:
        return False


def _unpack(args, traverse: bool):
    """Find collections inside *args*; return them and a function to repack.

    The walk and the fill are module functions, not nested ones: a nested function
    that calls itself is a reference cycle, and the fill's would hold the computed
    results until the garbage collector found it."""
    found: list = []
    template = [_walk(a, found, traverse) for a in args]
    return found, functools.partial(_repack, template)


def _walk(obj, found: list, traverse: bool):
    if is_dask_collection(obj):  # a Delayed too
        found.append(obj)
        return _Slot(len(found) - 1)
    if not traverse:
        return obj
    t = type(obj)
    if t is list or t is tuple or t is set:
        items = [_walk(o, found, traverse) for o in obj]
        return _Rebuild(t, items) if _holds(items) else obj
    if t is dict:
        keys = [_walk(k, found, traverse) for k in obj]
        if _holds(keys):  # collections as keys: the dict is made again from its pairs
            pairs = [_Rebuild(tuple, [k, _walk(v, found, traverse)]) for k, v in zip(keys, obj.values())]
            return _Rebuild(dict, pairs)
        items = {k: _walk(v, found, traverse) for k, v in obj.items()}
        return _Rebuild(dict, items) if _holds(items.values()) else obj
    if isinstance(obj, tuple) and hasattr(t, "_fields"):  # a namedtuple
        items = [_walk(o, found, traverse) for o in obj]
        return _Rebuild(t._make, items) if _holds(items) else obj
    if hasattr(t, "__dataclass_fields__"):
        import dataclasses

        items = {f.name: _walk(getattr(obj, f.name), found, traverse)
                 for f in dataclasses.fields(obj) if f.init and hasattr(obj, f.name)}  # fmt: skip
        if _holds(items.values()):
            return _Rebuild(functools.partial(replace_fields, obj), items)
    return obj


def _repack(template: list, results) -> tuple:
    return tuple(_fill(t, results) for t in template)


def _fill(obj, results):
    if isinstance(obj, _Slot):
        return results[obj.index]
    if isinstance(obj, _Rebuild):
        if type(obj.items) is dict:
            return obj.type({k: _fill(v, results) for k, v in obj.items.items()})
        return obj.type(_fill(i, results) for i in obj.items)
    return obj


def replace_fields(obj, fields: dict):
    """A copy of dataclass *obj* with *fields* replaced (used by delayed too)."""
    import dataclasses

    return dataclasses.replace(obj, **fields)


def _holds(items) -> bool:
    """True when a walked container holds a collection somewhere."""
    return any(isinstance(i, (_Slot, _Rebuild)) for i in items)


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


class _Rebuild:
    __slots__ = ("type", "items")

    def __init__(self, type_, items):
        self.type = type_
        self.items = items


def collections_to_graph(collections, annotations: dict | None = None):
    """One graph for all *collections* and the list of their keys; with an *annotations*
    dict, the per-key annotations of the collections' layers (Dask's, and shoal's made
    under ``shoal.annotate``) are added to it (``core/annotations.py``)."""
    from shoal.delayed import Delayed, collect_delayed

    graph: dict = {}
    delayed = [c for c in collections if isinstance(c, Delayed)]
    if delayed:
        collect_delayed(delayed, graph, annotations)
    for c in collections:
        if not isinstance(c, Delayed):
            for k, v in graph_of(c, annotations).items():
                if k not in graph:
                    graph[k] = v
    keys = [c.__dask_keys__() for c in collections]
    return graph, keys


def graph_of(collection, annotations: dict | None = None) -> dict:
    """A collection's graph as shoal nodes.

    shoal collections offer ``__shoal_graph__()`` (nodes, no conversion); their
    ``__dask_graph__()`` exports Dask's spec for Dask's schedulers.  Other
    collections' graphs are converted from whatever spec they use, their layers'
    annotations added to *annotations* when it is given.
    """
    method = getattr(collection, "__shoal_graph__", None)
    if method is not None:
        layers = getattr(collection, "_layers", None)  # (a Delayed's: collections_to_graph)
        if annotations is not None and layers:  # (those made under shoal.annotate)
            task_annotations.collect_layers(layers.values(), annotations)
        return method()
    graph = collection.__dask_graph__()
    if annotations is not None:
        task_annotations.collect(graph, annotations)
    return convert_graph(graph)


def _takes_nodes(get) -> bool:
    """True for shoal's own ``get`` functions (they run node graphs as they are)."""
    func = getattr(get, "func", get)  # functools.partial (the Executor adapter)
    func = getattr(func, "__func__", func)  # bound methods
    return (getattr(func, "__module__", None) or "").startswith("shoal.")


def _run(get, graph: dict, keys, optimize_graph: bool, kwargs):
    ours = _takes_nodes(get)
    if not ours:
        graph = to_dask_graph(graph)
    # (optimize_graph=False: this compute only; a config.set would reach other threads')
    token = None if optimize_graph else optimize.override.set(False)
    try:
        return get(graph, keys, **kwargs)
    except BaseException as exc:
        if not (ours and _is_task_error(exc)):
            raise
        # (shown from here: the user's code, then the task's own frames; another
        # process's frames are in the RemoteTraceback of its cause)
        raise exc.with_traceback(_task_frames(exc))
    finally:
        if token is not None:
            optimize.override.reset(token)


def _is_task_error(exc) -> bool:
    """Whether *exc* is a task's error (the note the schedulers add), not shoal's."""
    notes = getattr(exc, "__notes__", None) or ()
    return any(isinstance(n, str) and n.startswith("shoal: raised ") for n in notes)


def _task_frames(exc):
    """A task error's traceback from the task's own code on (the first frame not of
    shoal): the engine's frames before it are noise to the user, as Dask leaves them
    out; None when no frame is the task's (it ran in another process)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith("shoal."):
        tb = tb.tb_next
    return tb


def compute(*args, scheduler=None, traverse=True, optimize_graph=True, **kwargs):
    """Compute several collections at once, sharing their common sub-graphs.

    >>> from shoal import delayed
    >>> a = delayed(sum)([1, 2, 3])
    >>> compute(a, {"b": a + 1}, scheduler="sync")
    (6, {'b': 7})
    """
    collections, repack = _unpack(args, traverse)
    if not collections:
        return args
    get = get_scheduler(scheduler, collections)
    # a shoal cluster acts on annotations (shoal.annotate's, Dask layers'): read per key
    annotations = {} if hasattr(getattr(get, "__self__", None), "_submit_graph") else None
    graph, keys = collections_to_graph(collections, annotations)
    if annotations:
        kwargs = {**kwargs, "annotations": annotations}
    results = _run(get, graph, keys, optimize_graph, kwargs)
    finals = []
    for c, r in zip(collections, results):
        finalize, extra = c.__dask_postcompute__()
        finals.append(finalize(r, *extra))
    return repack(finals)


def persist(*args, scheduler=None, traverse=True, optimize_graph=True, **kwargs):
    """Compute collections and return new ones backed by their results.

    Local schedulers keep the results in this process; a distributed client keeps
    them in the cluster (its ``persist`` takes over when it is the scheduler).
    """
    collections, repack = _unpack(args, traverse)
    if not collections:
        return args
    get = get_scheduler(scheduler, collections)
    client_persist = getattr(getattr(get, "__self__", None), "persist", None)
    if client_persist is not None:
        return repack(list(client_persist(collections, **kwargs)))
    graph, keys = collections_to_graph(collections)
    results = _run(get, graph, keys, optimize_graph, kwargs)
    out = []
    for c, ks, r in zip(collections, keys, results):
        rebuild, extra = c.__dask_postpersist__()
        out.append(rebuild(dict(_pairs(ks, r)), *extra))
    return repack(out)


def _pairs(keys, results):
    if type(keys) is list:
        for k, r in zip(keys, results):
            yield from _pairs(k, r)
    else:
        yield keys, results
