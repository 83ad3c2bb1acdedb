"""Writer tasks shared by ``to_csv``, ``to_parquet`` and ``to_json``.

::

    partition i  ->  writer task (func(partition, *args) -> path written)
    chain=True:      writer i also receives writer i-1's result as ``after=``,
                     so the writers run one after the other, in order
    chain="first":   writers 1.. receive writer 0's result: the first runs alone
    compute=True:    one gather task collects the paths; computed now
    compute=False:   one Delayed per writer (only the last one when chained)
"""

from __future__ import annotations

from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.delayed import Delayed

__all__ = ["run_writers"]


def _gather(paths):
    return list(paths)


def run_writers(df, prefix, calls, compute=True, compute_kwargs=None, chain=False):
    """Build (and by default run) one writer task per ``(func, i, args)`` in *calls*."""
    name = f"{prefix}-{tokenize(df, prefix, [(f, i, a) for f, i, a in calls], chain)}"
    graph = df.__shoal_graph__()
    keys = []
    for j, (func, i, args) in enumerate(calls):
        key = (name, j)
        prev = (keys[0] if chain == "first" else keys[-1]) if keys else None
        extra = {"after": Ref(prev)} if chain and keys else {}
        graph[key] = Task(key, func, Ref((df._name, i)), *args, **extra)
        keys.append(key)
    wanted = keys[-1:] if chain is True else keys
    if not compute:
        return [Delayed(k, graph[k], (), layer=graph) for k in wanted]
    final = f"{name}-paths"
    node = Task(final, _gather, [Ref(k) for k in wanted])
    result = Delayed(final, node, (), layer=graph).compute(**(compute_kwargs or {}))
    return result
