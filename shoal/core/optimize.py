"""Graph optimizations: fusing linear chains.

A *linear chain* is a run of nodes ``x1 -> x2 -> ... -> xn`` where each ``xi``
(i < n) has exactly one dependent, ``x(i+1)``, and each ``x(i+1)`` has exactly one
dependency, ``xi``.  Running such a chain as one node removes the per-task cost of
the scheduler (and, for processes, a round trip through a pipe) without losing any
parallelism: nothing else could have run in between anyway.

The fused node keeps the key of the chain's last node, so the keys that users and
other tasks refer to are unchanged; the inner keys disappear from the graph.
Requested keys are never fused away, and neither are keys in ``keep``.
"""

from __future__ import annotations

from shoal.core.spec import Fused

__all__ = ["fuse_linear"]


def fuse_linear(graph: dict, dependents: dict, keep=()) -> tuple[dict, dict]:
    """Fuse linear chains; return the new graph and its dependents mapping.

    >>> from shoal.core.spec import Data, Task, Ref
    >>> from shoal.core.graph import dependents_of
    >>> inc = lambda x: x + 1
    >>> g = {"a": Data("a", 1), "b": Task("b", inc, Ref("a")),
    ...      "c": Task("c", inc, Ref("b"))}
    >>> fused, deps = fuse_linear(g, dependents_of(g), keep={"c"})
    >>> list(fused), fused["c"]({})
    (['c'], 3)
    """
    keep = set(keep)

    def fusible(k) -> bool:
        """True when k can be folded into its single dependent."""
        if k in keep:
            return False
        ds = dependents[k]
        return len(ds) == 1 and len(graph[ds[0]].dependencies) == 1

    if not any(fusible(k) for k in graph):
        return graph, dependents
    out = {}
    fused_into = {}  # inner key of a chain -> the key of the chain's last node
    for k, node in graph.items():
        if fusible(k):
            continue  # folded into the chain that ends further down
        chain = [node]
        deps = node.dependencies
        while len(deps) == 1:
            (d,) = deps
            if not fusible(d):
                break
            dnode = graph[d]
            chain.append(dnode)
            fused_into[d] = k
            deps = dnode.dependencies
        if len(chain) == 1:
            out[k] = node
        else:
            chain.reverse()
            out[k] = Fused(chain)
    # a chain's first node may be the dependent of a key outside the chain:
    # that key's dependent is now the fused node
    new_dependents = {k: [fused_into.get(d, d) for d in dependents[k]] for k in out}
    return out, new_dependents
