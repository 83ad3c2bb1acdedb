"""Foreign (Dask) tasks that hold this client's Futures somewhere inside them.

Dask's graphs take a shoal Future as a reference to its key where Dask looks for one
(``__dask_future__``), but not everywhere: ``da.from_delayed(future)`` wraps it as data,
and Dask's optimizer then fuses that data into a task's inner subgraph.  The Future
reached the worker inside the pickled task, where no client can unpickle it, or (in
threads) came out as the Future object instead of its value.

So a Dask task is searched for Futures (its arguments, nested Dask nodes, a fused
task's subgraph); one that holds some is sent as a shoal task that depends on their
keys and carries the Dask task pickled with each Future as a *persistent id*::

    client:  pickle(dask_task, persistent_id: Future -> ("shoal-future", key))
    worker:  unpickle(persistent_load: ("shoal-future", key) -> values[key]), then
             dask_task(values)

Pickle itself finds the Futures wherever they sit, so no Dask node type is rebuilt here.
"""

from __future__ import annotations

import functools
import io
import pickle

import cloudpickle

from shoal.core.spec import Ref, Task
from shoal.distributed.client.futures import Future

__all__ = ["futures_inside", "with_future_values"]

_ATOMS = frozenset({int, float, str, bytes, bool, type(None), complex})
_TAG = "shoal-future"


def futures_inside(obj, found: dict, depth: int = 0) -> dict:
    """Add to *found* (``{key: Future}``) the Futures inside *obj*: containers, Dask's
    tasks (``args``/``kwargs``, a fused task's subgraph among them) and data nodes."""
    t = type(obj)
    if t in _ATOMS or depth > 64:
        return found
    if isinstance(obj, Future):
        found[obj.key] = obj
    elif t is list or t is tuple or t is set or t is frozenset:
        for item in obj:
            futures_inside(item, found, depth + 1)
    elif t is dict:
        for item in obj.values():
            futures_inside(item, found, depth + 1)
    elif (t is functools.partial or t.__module__.startswith("dask.")) and hasattr(obj, "func") \
            and hasattr(obj, "args"):
        # Dask's Task (or a partial); not any object with these attributes: a Mock (or a
        # proxy) makes up new ones at each lookup, which searched both ways never ended.
        # (Dask's methodcaller has a ``func`` but no ``args``: it holds a method's name.)
        futures_inside(obj.args, found, depth + 1)
        futures_inside(getattr(obj, "kwargs", None) or {}, found, depth + 1)
    elif t.__name__ == "DataNode":
        futures_inside(getattr(obj, "value", None), found, depth + 1)
    return found


class _Pickler(cloudpickle.Pickler):
    def __init__(self, file, found: dict):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.found = found  # (every Future pickled, the search's depth limit or not)

    def persistent_id(self, obj):
        if isinstance(obj, Future):
            self.found[obj.key] = obj
            return (_TAG, obj.key)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, values: dict):
        super().__init__(io.BytesIO(data))
        self.values = values

    def persistent_load(self, pid):
        tag, key = pid
        if tag != _TAG:
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return self.values[key]


def with_future_values(key, node, found: dict) -> Task:
    """A shoal task for the Dask task *node* holding the Futures *found* (completed with
    those pickling meets): it depends on their keys and the node's own dependencies,
    and runs the node with the Futures' values in their places."""
    buffer = io.BytesIO()
    _Pickler(buffer, found).dump(node)  # (adds to *found* any Future the search missed)
    refs = {d: Ref(d) for d in {*node.dependencies, *found}}
    return Task(key, _run, buffer.getvalue(), refs)


def _run(payload: bytes, values: dict):
    return _Unpickler(payload, values).load()(values)
