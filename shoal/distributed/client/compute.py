"""Collections on a cluster: the graphs behind ``compute``, ``persist`` and ``get``.

``compute(x)`` adds one *finalize* task per collection that applies its
``__dask_postcompute__`` on the cluster, so a single future holds the final
value::

    finalize-<token>: Task(finalize, [Ref(k) for k in x.__dask_keys__()], *extra)

``persist(x)`` wants every key of ``x`` and rebuilds ``x`` with
``__dask_postpersist__`` from ``{key: Future}``; the new collection's graph
holds futures, which :mod:`.graphs` turns back into keys the cluster holds.
"""

from __future__ import annotations

from shoal.base import collections_to_graph, is_dask_collection
from shoal.core.graph import flatten_keys
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["finalize_graph", "pack", "persist_graph", "rebuild_persisted"]


def _refs(keys):
    if type(keys) is list:
        return [_refs(k) for k in keys]
    return Ref(keys)


def split(collections):
    """``(items, singleton)``: a list of what was given, and whether it was one object."""
    if isinstance(collections, (list, tuple, set, frozenset)):
        return list(collections), False
    return [collections], True


def finalize_graph(items: list):
    """``(graph, {index: finalize key})`` for the collections among ``items``."""
    variables = [(i, c) for i, c in enumerate(items) if is_dask_collection(c)]
    if not variables:
        return {}, {}
    graph, keys = collections_to_graph([c for _, c in variables])
    finals = {}
    for (i, c), ks in zip(variables, keys):
        func, extra = c.__dask_postcompute__()
        fkey = f"finalize-{tokenize(c)}"
        graph[fkey] = Task(fkey, func, _refs(ks), *extra)
        finals[i] = fkey
    return graph, finals


def persist_graph(items: list):
    """``(graph, flat keys, [(index, collection, keys)])`` for the collections in ``items``."""
    variables = [(i, c) for i, c in enumerate(items) if is_dask_collection(c)]
    if not variables:
        return {}, [], []
    graph, keys = collections_to_graph([c for _, c in variables])
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
