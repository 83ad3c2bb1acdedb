"""The local engine's state: which tasks are ready, what to keep, what to free.

Pure bookkeeping, no threads and no I/O; ``runner.py`` drives it.  State layout::

    graph       key -> node            (checked, culled, ordered, maybe fused)
    priority    key -> int             static order from core.order (0 runs first)
    waiting     key -> int             unfinished dependencies of a not-yet-ready task
    dependents  key -> [key]           who needs this key
    remaining   key -> int             dependents that have not finished yet
    ready       heap of (priority, key)
    data        key -> value           results still needed by someone
    wanted      set of requested keys  never released
    pending     int                    tasks not finished yet
    freed       list | None            keys dropped from data, appended while a list
                                       (the runner sets one while a CacheProfiler watches)

Life of a key::

    waiting --(last dependency finished)--> ready --pop_ready--> running
    running --finish--> in data --(last dependent finished, not wanted)--> released

A result is dropped from ``data`` as soon as no remaining task needs it, so
intermediate values live only as long as they must.
"""

from __future__ import annotations

import heapq

__all__ = ["LocalState"]


class LocalState:
    """Bookkeeping for one computation on a local scheduler.

    >>> from shoal.core.spec import Data, Task, Ref
    >>> g = {"a": Data("a", 1), "b": Task("b", abs, Ref("a"))}
    >>> s = LocalState(g, {"a": 0, "b": 1}, ["b"])
    >>> s.pop_ready(10)
    ['a']
    >>> s.finish("a", 1)
    >>> s.pop_ready(10)
    ['b']
    >>> s.finish("b", 1); s.done, sorted(s.data)
    (True, ['b'])
    """

    __slots__ = (
        "graph",
        "priority",
        "waiting",
        "dependents",
        "remaining",
        "ready",
        "data",
        "wanted",
        "pending",
        "freed",
    )

    def __init__(self, graph: dict, priority: dict, wanted, dependents=None):
        self.graph = graph
        self.priority = priority
        self.wanted = set(wanted)
        self.data = {}
        if dependents is None:
            dependents = {k: [] for k in graph}
            for k, node in graph.items():
                for d in node.dependencies:
                    dependents[d].append(k)
        self.dependents = dependents
        self.remaining = {k: len(v) for k, v in dependents.items()}
        waiting = {}
        ready = []
        for k, node in graph.items():
            n = len(node.dependencies)
            if n:
                waiting[k] = n
            else:
                ready.append((priority[k], k))
        heapq.heapify(ready)
        self.waiting = waiting
        self.ready = ready
        self.pending = len(graph)
        self.freed = None

    @property
    def done(self) -> bool:
        return self.pending == 0

    def pop_ready(self, n: int, contiguous: bool = False, cost=None, budget: float = 0.0) -> list:
        """Take up to *n* ready keys, lowest priority number first.

        With ``contiguous``, stop before a key whose priority is not the next
        number: a gap means a task that is not ready yet (say the parent of the
        leaves just taken) should run first, so the static order is kept exactly.

        With ``cost(key) -> seconds or None``, stop once the estimated work
        would exceed ``budget``; a key of unknown cost is only ever taken alone
        (as the first of a batch).
        """
        ready = self.ready
        pop = heapq.heappop
        if not contiguous and cost is None and n >= len(ready):
            out = [k for _, k in sorted(ready)]
            ready.clear()
            return out
        prio, key = pop(ready)
        out = [key]
        if cost is not None:
            first = cost(key)
            if first is None:
                return out
            budget -= first
        while ready and len(out) < n:
            nprio, nkey = ready[0]
            if contiguous and nprio != prio + 1:
                break
            if cost is not None:
                c = cost(nkey)
                if c is None or c > budget:
                    break
                budget -= c
            prio, key = pop(ready)
            out.append(key)
        return out

    def finish(self, key, value) -> None:
        """Record *key*'s value; make dependents ready; free what is unneeded."""
        self.pending -= 1
        waiting = self.waiting
        priority = self.priority
        deps = self.dependents[key]
        if deps or key in self.wanted:
            self.data[key] = value
        for d in deps:
            n = waiting[d] - 1
            if n:
                waiting[d] = n
            else:
                del waiting[d]
                heapq.heappush(self.ready, (priority[d], d))
        for d in self.graph[key].dependencies:
            self._consume(d)

    def _consume(self, key) -> None:
        n = self.remaining[key] - 1
        self.remaining[key] = n
        if n == 0 and key not in self.wanted:
            self.data.pop(key, None)
            if self.freed is not None:
                self.freed.append(key)

    def inputs_of(self, key) -> dict:
        """The values a task needs (for executors that cannot share ``data``)."""
        data = self.data
        return {d: data[d] for d in self.graph[key].dependencies}
