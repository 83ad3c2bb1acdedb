"""Collections on a cluster: the graphs behind ``compute``, ``persist`` and ``get``.

``compute(x)`` adds one *finalize* task per collection that applies its
``__dask_postcompute__`` on the cluster, so a single future holds the final
value::

    finalize-<token>: Task(finalize, [Ref(k) for k in x.__dask_keys__()], *extra)

A Delayed needs none: its future is its own key's (as in Dask, ``client.compute(d).key
== d.key``), one task fewer.

``persist(x)`` wants every key of ``x`` and rebuilds ``x`` with
``__dask_postpersist__`` from ``{key: Future}``; the new collection's graph
holds futures, which :mod:`.graphs` turns back into keys the cluster holds.
"""

from __future__ import annotations

from collections.abc import Iterator

from shoal.base import collections_to_graph, is_dask_collection
from shoal.core import annotations as task_annotations
from shoal.core.graph import flatten_keys
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.distributed.client.graphs import prepare_graph, update_graph_msg

__all__ = [
    "compute", "finalize_graph", "get", "pack", "persist", "persist_graph", "rebuild_persisted",
    "submit_graph",
]  # fmt: skip


_CONTAINERS = (list, tuple, set, frozenset, dict, Iterator)


def _refs(keys):
    if type(keys) is list:
        return [_refs(k) for k in keys]
    return Ref(keys)


def split(collections):
    """``(items, singleton)``: a list of what was given, and whether it was one object."""
    if isinstance(collections, (list, tuple, set, frozenset)):
        return list(collections), False
    return [collections], True


def finalize_graph(items: list, annotations: dict | None = None):
    """``(graph, {index: finalize key})`` for the collections among ``items`` (their
    layers' annotations added to *annotations*, when given)."""
    variables = [(i, c) for i, c in enumerate(items) if is_dask_collection(c)]
    if not variables:
        return {}, {}
    graph, keys = collections_to_graph([c for _, c in variables], annotations)
    finals = {}
    for (i, c), ks in zip(variables, keys):
        func, extra = c.__dask_postcompute__()
        if _takes_the_one_key(func, extra, ks):  # (a Delayed: its own key is the future's)
            finals[i] = ks[0]
            continue
        fkey = f"finalize-{tokenize(c)}"
        graph[fkey] = Task(fkey, func, _refs(ks), *extra)
        finals[i] = fkey
    return graph, finals


def _takes_the_one_key(func, extra, keys) -> bool:
    """Whether the postcompute ``func(results, *extra)`` of a collection of *keys* is the
    value of its one key (shoal's and Dask's Delayed), so no finalize task is needed."""
    if extra or type(keys) is not list or len(keys) != 1 or type(keys[0]) is list:
        return False
    return (getattr(func, "__module__", None), getattr(func, "__qualname__", None)) in (
        ("shoal.delayed", "_first"), ("dask.delayed", "single_key"))


def persist_graph(items: list, annotations: dict | None = None):
    """``(graph, flat keys, [(index, collection, keys)])`` for the collections in ``items``."""
    variables = [(i, c) for i, c in enumerate(items) if is_dask_collection(c)]
    if not variables:
        return {}, [], []
    graph, keys = collections_to_graph([c for _, c in variables], annotations)
    flat: list = []
    parts = []
    for (i, c), ks in zip(variables, keys):
        own = flatten_keys(ks)
        flat.extend(own)
        parts.append((i, c, own))
    return graph, flat, parts


def rebuild_persisted(collection, keys: list, futures: dict):
    rebuild, extra = collection.__dask_postpersist__()
    return rebuild({k: futures[k] for k in keys}, *extra)


def pack(keys, values: dict):
    """``values`` in the nested-list shape of ``keys``."""
    if type(keys) is list:
        return [pack(k, values) for k in keys]
    return values[keys]


# --- the Client's methods (``client`` is running) ----------------------------------------


def submit_graph(client, dsk, keys: list, *, cache=None, fuse=None, keep=(), annotations=None,
                 **options) -> dict:  # fmt: skip
    """Send graph ``dsk``, wanting ``keys`` (flat); ``{key: Future}``.  A Dask graph's
    layers' *annotations* (``{name: {key: value}}``) apply per key; fusion keeps the
    keys they name (a key fused into another would lose them)."""
    if annotations is None:
        annotations = {}
        task_annotations.collect(dsk, annotations)  # (a HighLevelGraph given to get)
    if annotations:
        keep = {*keep, *(k for values in annotations.values() for k in values)}
    prepared = prepare_graph(dsk, keys, client.futures, cache=cache, fuse=fuse, keep=keep)
    client._check_owned(prepared.futures)
    wanted = list(dict.fromkeys(keys))
    futures, _ = client._new_futures(wanted)
    client._send(update_graph_msg(client.id, prepared.tasks, prepared.dependencies, wanted,
                                  prepared.priority, annotations=annotations,
                                  **_graph_options(options)))  # fmt: skip
    return futures


def get(client, dsk, keys, sync, asynchronous, cache, options):
    futures = client._submit_graph(dsk, flatten_keys(keys), cache=cache, **options)
    packed = pack(keys, futures)
    if not sync:
        return packed
    if asynchronous or (asynchronous is None and client.asynchronous):
        return _gather_and_release(client, packed, futures)
    try:
        return client.sync(client._gather, packed, asynchronous=False, waits_on=list(futures.values()))
    finally:
        for f in futures.values():
            f.release()  # now, not when the garbage collector gets to them


async def _gather_and_release(client, packed, futures):
    try:
        return await client._gather(packed)
    finally:
        for f in futures.values():
            f.release()


def compute(client, collections, sync, optimize_graph, traverse, options):
    items, singleton = split(collections)
    if traverse:  # (as Dask's: the collections inside a container are computed in it)
        from shoal.delayed import delayed

        items = [delayed(list(item) if isinstance(item, Iterator) else item)
                 if isinstance(item, _CONTAINERS) else item for item in items]  # fmt: skip
    annotations: dict = {}
    graph, finals = finalize_graph(items, annotations)
    futures = {}
    if finals:
        futures = client._submit_graph(graph, list(finals.values()), annotations=annotations,
                                       fuse=None if optimize_graph else False, **options)
    out = [futures[finals[i]] if i in finals else item for i, item in enumerate(items)]
    if sync:
        return client.gather(out[0] if singleton else out)
    return out[0] if singleton else out


def persist(client, collections, optimize_graph, options):
    items, singleton = split(collections)
    annotations: dict = {}
    graph, flat, parts = persist_graph(items, annotations)
    if parts:
        futures = client._submit_graph(graph, flat, fuse=None if optimize_graph else False,
                                       keep=flat, annotations=annotations, **options)  # fmt: skip
        for i, coll, keys in parts:
            items[i] = rebuild_persisted(coll, keys, futures)
    return items[0] if singleton else items


def _graph_options(options: dict) -> dict:
    """The update-graph options among a compute's keyword arguments (the rest is ignored)."""
    allowed = {"workers", "allow_other_workers", "resources", "retries"}
    out = {k: v for k, v in options.items() if k in allowed and v is not None}
    if "priority" in options:
        out["user_priority"] = options["priority"] or 0
    return out
