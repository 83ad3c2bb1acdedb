"""Graph optimization: fusing tasks whose values are used only nearby.

Every task costs the scheduler a hand-off, and for processes a value that
crosses a pipe.  ``fuse`` merges groups of tasks into single ``Fused`` nodes
when doing so loses no parallelism and moves no value that would otherwise stay
put.  A node ``x`` joins the group of its dependents when all of them are in
one group and either

1. *linear*: ``x`` has exactly one dependent, whose only dependency is ``x``
   (a chain ``a -> b -> c``: nothing could run in between anyway), or
2. *blockwise*: ``x``'s key is a tuple ``(name, i, ...)`` and each dependent
   is a task of the same block ``i, ...`` all of whose tuple-keyed
   dependencies are of that block too.  This folds a partition's whole
   pipeline -- read, select, filter, per-partition reduction -- into one task,
   even where it forks and joins again (``df[~df.Cancelled]`` uses the
   partition twice)::

       read(i) --> getitem(i) --> invert(i) --+
          \\-------------------------------> filter(i) --> chunk(i)   =>   one task

   A task that gathers several blocks (a tree reduction's combine, a shuffle)
   is not blockwise, so what feeds it stays parallel.

Groups are found in one pass over the nodes in reverse topological order
(dependents first), so each node's decision sees its dependents' final groups.
A group's value leaves only through its last node, which keeps its key;
requested keys and those in ``keep`` are never folded into another group.

Whether engines fuse at all: ``config "optimization.fuse.active"``, unless
``compute(optimize_graph=...)`` overrode it for the computes it starts
(:data:`override`, a context variable: other threads' computes are not
affected, unlike a temporary ``config.set``).
"""

from __future__ import annotations

from contextvars import ContextVar

from shoal import config
from shoal.core.graph import toposort
from shoal.core.spec import Fused

__all__ = ["active", "fuse", "override"]

override: ContextVar = ContextVar("shoal_fuse_override", default=None)


def active() -> bool:
    """Whether an engine starting a compute in this context should fuse."""
    value = override.get()
    if value is None:
        return config.get("optimization.fuse.active", True)
    return value


def _block(key):
    """The block index of a partition key, or None for other keys."""
    if type(key) is tuple and len(key) > 1:
        return key[1:]
    return None


def _blockwise(graph: dict, key, block) -> bool:
    """True when *key* is a task of *block* reading only that block's keys."""
    if _block(key) != block:
        return False
    for d in graph[key].dependencies:
        b = _block(d)
        if b is not None and b != block:
            return False
    return True


def _joins(graph, dependents, key, ds) -> bool:
    if len(ds) == 1 and len(graph[ds[0]].dependencies) == 1:
        return True  # linear
    block = _block(key)
    return block is not None and all(_blockwise(graph, d, block) for d in ds)


def fuse(graph: dict, dependents: dict, keep=()) -> tuple[dict, dict]:
    """Fuse as described above; return the new graph and its dependents.

    >>> from shoal.core.spec import Data, Task, Ref
    >>> from shoal.core.graph import dependents_of
    >>> inc = lambda x: x + 1
    >>> g = {"a": Data("a", 1), "b": Task("b", inc, Ref("a")),
    ...      "c": Task("c", inc, Ref("b"))}
    >>> fused, deps = fuse(g, dependents_of(g), keep={"c"})
    >>> list(fused), fused["c"]({})
    (['c'], 3)
    """
    keep = set(keep)
    topo = toposort(graph)
    group: dict = {}  # key -> the key of its group's last node
    merged = False
    for key in reversed(topo):
        ds = dependents[key]
        if key not in keep and ds:
            sinks = {group[d] for d in ds}
            if len(sinks) == 1 and _joins(graph, dependents, key, ds):
                group[key] = sinks.pop()
                merged = True
                continue
        group[key] = key
    if not merged:
        return graph, dependents
    members: dict = {}
    for key in topo:  # dependencies before dependents inside each group
        members.setdefault(group[key], []).append(key)
    out = {}
    new_dependents = {}
    for sink, keys in members.items():
        nodes = [graph[k] for k in keys]
        out[sink] = nodes[0] if len(nodes) == 1 else Fused(nodes, keys)
        seen = []
        for d in dependents[sink]:
            g = group[d]
            if g not in seen:
                seen.append(g)
        new_dependents[sink] = seen
    return out, new_dependents
