"""Whole-graph algorithms: checking, culling, dependents, topological order.

Everything here works on converted graphs (``{key: node}``, see ``spec.py``) and
reads each node's precomputed ``dependencies``; nothing re-walks task arguments.

The checks run before any task does, so a malformed graph never half-runs:

- an unknown requested key raises :class:`UnknownKeyError` naming it,
- a dependency that is not in the graph raises :class:`MissingDependencyError`
  naming the missing key and the task that needs it,
- a cycle raises :class:`CycleError` listing the keys around it, in order.

:func:`cull` does the first two in the same walk that keeps only what the
requested keys need; cycles are found by the ordering walk in ``order.py`` (which
visits every kept node once anyway) or by :func:`find_cycle` on its own.
"""

from __future__ import annotations

from shoal.core.keys import key_str

__all__ = [
    "CycleError",
    "GraphError",
    "MissingDependencyError",
    "UnknownKeyError",
    "cull",
    "dependents_of",
    "find_cycle",
    "flatten_keys",
    "toposort",
]


class GraphError(ValueError):
    """Base class for graphs that cannot run."""


class CycleError(GraphError):
    """The graph has a cycle; ``.cycle`` lists its keys in order."""

    def __init__(self, cycle):
        self.cycle = list(cycle)
        path = " -> ".join(key_str(k) for k in self.cycle + self.cycle[:1])
        super().__init__(f"Cycle detected in the task graph between keys: {path}")


class MissingDependencyError(GraphError, KeyError):
    """A task depends on a key the graph does not contain."""

    def __init__(self, missing, needed_by):
        self.key = missing
        self.needed_by = needed_by
        msg = (
            f"Missing dependency {key_str(missing)!s} needed by task "
            f"{key_str(needed_by)!s}: no task in the graph computes that key"
        )
        super().__init__(msg)

    __str__ = ValueError.__str__


class UnknownKeyError(GraphError, KeyError):
    """A requested key is not in the graph."""

    def __init__(self, key, graph_size):
        self.key = key
        super().__init__(
            f"Requested key {key_str(key)} is not in the graph "
            f"({graph_size} keys)"
        )

    __str__ = ValueError.__str__


def flatten_keys(keys, out=None) -> list:
    """Flatten nested lists of keys (the shape ``get`` accepts) into one list.

    >>> flatten_keys([["a", ("b", 0)], "c"])
    ['a', ('b', 0), 'c']
    """
    if out is None:
        out = []
    if type(keys) is list:
        for k in keys:
            flatten_keys(k, out)
    else:
        out.append(keys)
    return out


def cull(graph: dict, keys) -> dict:
    """The part of *graph* that *keys* need, checked for missing keys.

    >>> from shoal.core.spec import Data, Alias
    >>> g = {"a": Data("a", 1), "b": Alias("b", "a"), "c": Data("c", 2)}
    >>> sorted(cull(g, ["b"]))
    ['a', 'b']
    """
    out = {}
    stack = []
    for k in keys:
        try:
            node = graph[k]
        except (KeyError, TypeError):
            raise UnknownKeyError(k, len(graph)) from None
        if k not in out:
            out[k] = node
            stack.append(node)
    while stack:
        node = stack.pop()
        for dep in node.dependencies:
            if dep not in out:
                try:
                    dnode = graph[dep]
                except KeyError:
                    raise MissingDependencyError(dep, node.key) from None
                out[dep] = dnode
                stack.append(dnode)
    return out


def dependents_of(graph: dict) -> dict:
    """Map each key to the list of keys that depend on it.

    >>> from shoal.core.spec import Data, Alias
    >>> dependents_of({"a": Data("a", 1), "b": Alias("b", "a")})
    {'a': ['b'], 'b': []}
    """
    out = {k: [] for k in graph}
    for k, node in graph.items():
        for dep in node.dependencies:
            out[dep].append(k)
    return out


def find_cycle(graph: dict):
    """Return a list of keys forming a cycle, or ``None``.

    >>> from shoal.core.spec import Alias
    >>> find_cycle({"a": Alias("a", "b"), "b": Alias("b", "a")})
    ['a', 'b']
    """
    state: dict = {}  # 1 = on the current path, 2 = finished
    for root in graph:
        if root in state:
            continue
        path = [root]
        iters = [iter(graph[root].dependencies)]
        state[root] = 1
        while iters:
            for dep in iters[-1]:
                s = state.get(dep)
                if s == 1:
                    return path[path.index(dep):]
                if s is None and dep in graph:
                    state[dep] = 1
                    path.append(dep)
                    iters.append(iter(graph[dep].dependencies))
                    break
            else:
                state[path.pop()] = 2
                iters.pop()
    return None


def toposort(graph: dict) -> list:
    """Keys in an order where every key comes after its dependencies.

    >>> from shoal.core.spec import Data, Alias
    >>> toposort({"b": Alias("b", "a"), "a": Data("a", 1)})
    ['a', 'b']
    """
    waiting = {k: len(n.dependencies) for k, n in graph.items()}
    dependents = dependents_of(graph)
    ready = [k for k, n in waiting.items() if n == 0]
    out = []
    while ready:
        k = ready.pop()
        out.append(k)
        for d in dependents[k]:
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)
    if len(out) != len(graph):
        raise CycleError(find_cycle(graph) or [])
    return out
