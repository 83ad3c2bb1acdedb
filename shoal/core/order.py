"""Static, memory-friendly priorities for a graph.

The engines run the *ready* task with the smallest priority number first, so the
numbers decide how much memory a computation holds at once.  shoal numbers tasks
in the post-order of a depth-first walk from the requested keys:

::

    requested: total            post-order: a0 a1 s0 a2 a3 s1 total
          total                              0  1  2  3  4  5  6
         /     \\
       s0       s1              s0 (2) becomes ready before a2 (3) runs, so
      /  \\    /  \\             a branch is finished -- and its inputs freed --
    a0   a1  a2   a3            before the next branch starts.

Dependencies of a task are visited in their natural key order (``("x", 2)``
before ``("x", 10)``), and requested keys in the order given, which is what users
expect of partitioned data and keeps the order deterministic.

One refinement keeps shared inputs short-lived: as soon as a task is numbered,
every task whose inputs are now all numbered is numbered right after it, even
if it belongs to another branch.  In ``(x + x.T).sum(axis=0)`` block ``x[i, j]``
feeds column ``j`` *and* column ``i``; computing both of its consumers as soon
as their inputs exist frees it at once instead of holding it until the walk
reaches the other column.

The same walk detects cycles (a key met again while still on the path) and
reports them with :class:`~shoal.core.graph.CycleError`, so ordering doubles as the
cycle check and no separate pass is needed.
"""

from __future__ import annotations

from shoal.core.graph import CycleError, MissingDependencyError

__all__ = ["order"]


def _sort_key(k):
    if type(k) is tuple:
        return (1, str(k[0]) if k else "", k[1:])
    return (0, k if type(k) is str else str(k), ())


def _sorted(deps):
    if len(deps) < 2:
        return list(deps)
    try:
        return sorted(deps, key=_sort_key)
    except TypeError:  # indices of mixed types
        return sorted(deps, key=repr)


def order(graph: dict, keys) -> dict:
    """Map every key of *graph* reachable from *keys* to a priority (0 first).

    >>> from shoal.core.spec import Data, Task, Ref
    >>> g = {"a": Data("a", 1), "b": Data("b", 2),
    ...      "c": Task("c", max, Ref("a"), Ref("b"))}
    >>> order(g, ["c"])
    {'a': 0, 'b': 1, 'c': 2}
    """
    prio: dict = {}
    onpath: set = set()
    dependents: dict = {}
    missing: dict = {}  # key -> dependencies not numbered yet
    for k, node in graph.items():
        deps = node.dependencies
        missing[k] = len(deps)
        for d in deps:
            dependents.setdefault(d, []).append(k)
    counter = [0]

    def number(key):
        """Number *key*, then every dependent it completes (see the docstring)."""
        stack = [key]
        while stack:
            k = stack.pop()
            prio[k] = counter[0]
            counter[0] += 1
            for d in dependents.get(k, ()):
                left = missing[d] - 1
                missing[d] = left
                if left == 0 and d not in prio and d not in onpath:
                    stack.append(d)

    for root in keys:
        if root in prio:
            continue
        path = [root]
        iters = [iter(_sorted(graph[root].dependencies))]
        onpath.add(root)
        while iters:
            for dep in iters[-1]:
                if dep in prio:
                    continue
                if dep in onpath:
                    raise CycleError(path[path.index(dep):])
                try:
                    node = graph[dep]
                except KeyError:
                    raise MissingDependencyError(dep, path[-1]) from None
                if not node.dependencies:  # a leaf: number it without descending
                    number(dep)
                    continue
                onpath.add(dep)
                path.append(dep)
                iters.append(iter(_sorted(node.dependencies)))
                break
            else:
                done = path.pop()
                iters.pop()
                onpath.discard(done)
                if done not in prio:
                    number(done)
    return prio
