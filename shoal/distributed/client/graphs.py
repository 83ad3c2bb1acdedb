"""From user input to the fields of one ``update-graph`` message.

::

    submit(f, x, future)    -> Task(key, f, x, Ref(future.key))       deps: {future.key}
    get / compute / persist -> convert spec -> futures become keys   -> cull (unknown and
                               missing keys) -> order (priorities, cycles) -> fuse -> tasks

Futures may appear anywhere a value may: in ``submit``/``map`` arguments
(nested in lists, tuples, sets and dicts), in a graph as the value of a key
(what ``persist`` leaves in a collection's graph: ``{key: Future}``), or as a
literal inside a task's arguments (``delayed(f)(future)``).  Each becomes a
reference to its key; the key is already on the cluster (this client holds
it), so it is a dependency the scheduler knows and no task is sent for it.

Everything here runs in the caller's thread, before anything is sent, so a
malformed graph raises there with the precise error (``UnknownKeyError``,
``MissingDependencyError``, ``CycleError``) and nothing runs.
"""

from __future__ import annotations

from numbers import Integral, Real

from shoal.core import annotations as task_annotations
from shoal.core.keys import check_portable_keys
from shoal.core import optimize
from shoal.core.graph import cull, dependents_of
from shoal.core.order import order
from shoal.core.spec import Alias, Data, Ref, Task
from shoal.distributed.client import foreign
from shoal.distributed.client.futures import Future
from shoal.distributed.client.serialize import dumps_task
from shoal.local.runner import as_graph

__all__ = ["Prepared", "call_tasks", "prepare_graph", "replace_futures", "update_graph_msg"]

_ATOMS = frozenset({int, float, str, bytes, bool, type(None), complex})


def replace_futures(obj, found: dict):
    """``obj`` with every Future inside replaced by ``Ref(key)``; ``found[key] = future``.

    Returns ``obj`` itself when it holds no Future (no copy).
    """
    t = type(obj)
    if t in _ATOMS:
        return obj
    if isinstance(obj, Future):
        found[obj.key] = obj
        return Ref(obj.key)
    if t is list or t is tuple or t is set or t is frozenset:
        items = [replace_futures(o, found) for o in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return t(items)
    if t is dict:
        items = {k: replace_futures(v, found) for k, v in obj.items()}
        if all(items[k] is v for k, v in obj.items()):
            return obj
        return items
    return obj


class Prepared:
    """What an update-graph needs: nodes to send, dependencies, priorities, held keys."""

    __slots__ = ("tasks", "dependencies", "priority", "futures")

    def __init__(self, tasks: dict, dependencies: dict, priority: dict, futures: dict):
        self.tasks = tasks  # key -> node, only the keys the cluster does not hold yet
        self.dependencies = dependencies  # key -> [dep keys], non-empty lists only
        self.priority = priority  # key -> int (0 first)
        self.futures = futures  # key -> Future for the keys the graph takes from the cluster


def prepare_graph(dsk, keys: list, held, cache=None, fuse=None, keep=()) -> Prepared:
    """Check and shape ``dsk`` for the cluster.

    ``keys`` is the flat list of requested keys; ``held`` answers ``key in held``
    for keys this client has futures for (they may be used without a task);
    ``keep`` are keys that fusion must leave in place (besides ``keys``).
    """
    graph = dict(as_graph(dsk))
    if cache:
        graph.update({k: Data(k, v) for k, v in cache.items()})
    futures: dict = {}
    # a Future of this client is registered in ``held`` while it lives: none held, none inside
    for key, node in list(graph.items()) if held else ():
        t = type(node)
        if t is Data or (t is not Task and isinstance(getattr(node, "value", None), Future)):
            value = node.value  # shoal's Data, or a foreign one (Dask's DataNode) holding a Future
            if isinstance(value, Future):
                futures[value.key] = value
                if value.key == key:
                    del graph[key]
                else:
                    graph[key] = Alias(key, value.key)
            elif type(value) in (list, tuple, dict, set):
                found: dict = {}
                new = replace_futures(value, found)
                if found:
                    futures.update(found)
                    graph[key] = Task(key, _identity, new)
        elif t is Task:
            found = {}
            args = replace_futures(node.args, found)
            kwargs = replace_futures(node.kwargs, found) if node.kwargs else node.kwargs
            if found:
                futures.update(found)
                graph[key] = Task(key, node.func, *args, **kwargs)
        elif type(node).__name__ == "Task" and isinstance(getattr(node, "args", None), tuple):
            # Dask's Task: our Futures may sit in its args or deeper (foreign.py)
            found = foreign.futures_inside(node, {})
            if found:
                graph[key] = foreign.with_future_values(key, node, found)
                futures.update(found)
    # (Dask drops a persisted ``{key: Future(key)}`` node: a wanted key may be held only)
    external = set(futures) | {k for k in keys if k not in graph and k in held}
    for node in list(graph.values()) if held else ():
        for dep in node.dependencies:
            if dep not in graph and dep not in external and dep in held:
                external.add(dep)
    for key in external:
        if key not in graph:
            graph[key] = _Held(key)
    graph = cull(graph, keys)
    check_portable_keys(graph, "the graph")  # (one the wire cannot carry waited for good)
    priority = order(graph, keys)
    if fuse is None:
        fuse = optimize.active()
    if fuse and len(graph) > 1:
        graph, _ = optimize.fuse(graph, dependents_of(graph), keep={*keys, *keep, *external})
    tasks, dependencies = {}, {}
    for key, node in graph.items():
        if type(node) is _Held:
            continue
        tasks[key] = node
        if node.dependencies:
            dependencies[key] = list(node.dependencies)
    return Prepared(tasks, dependencies, priority, futures)


class _Held:
    """Stands for a key the cluster already holds while the graph is checked."""

    __slots__ = ("key",)
    dependencies = frozenset()

    def __init__(self, key):
        self.key = key

    def __call__(self, values=None):  # pragma: no cover - never sent
        raise RuntimeError(f"{self.key!r} is held on the cluster")


def _identity(x):
    return x


def call_tasks(func, keys: list, calls: list, kwargs: dict) -> tuple:
    """``(tasks, dependencies, priority, futures)`` for ``func(*args, **kwargs)`` per call.

    Futures in the arguments become refs; ``futures`` maps their keys to them.
    A key given twice is built once; priorities follow the calls' order.
    """
    check_portable_keys(keys, "submit")  # (one the wire cannot carry waited for good)
    found: dict = {}
    kw = replace_futures(kwargs, found)
    kw_deps = list(found)
    tasks, deps, prio = {}, {}, {}
    for i, (key, args) in enumerate(zip(keys, calls)):
        if key in tasks:
            continue
        mine: dict = {}
        tasks[key] = Task(key, func, *replace_futures(args, mine), **kw)
        prio[key] = i
        if mine or kw_deps:
            found.update(mine)
            deps[key] = [*mine, *(k for k in kw_deps if k not in mine)]
    return tasks, deps, prio, found


def update_graph_msg(client_id: str, tasks: dict, dependencies: dict, keys: list, priority: dict,
                     workers=None, allow_other_workers=False, resources=None, retries=None,
                     user_priority=0, annotations=None) -> dict:  # fmt: skip
    """The ``update-graph`` stream message; each task pickled on its own (see serialize.py).

    The options given apply to every task, over what ``dask.annotate`` says at this call;
    *annotations* (``{name: {key: value}}``, a Dask graph's layers') over both, per key.
    """
    blobs: dict = {}  # functions pickled by value: once per message, never across (serialize.py)
    msg = {"op": "update-graph", "tasks": {k: dumps_task(t, blobs) for k, t in tasks.items()},
           "dependencies": dependencies, "keys": keys, "client": client_id}  # fmt: skip
    if priority:
        msg["priority"] = priority
    overall = task_annotations.current()
    if annotations or overall:  # per key: a Dask graph's layers, or dask.annotate
        explicit = {"workers": workers, "allow_other_workers": allow_other_workers or None,
                    "resources": resources or None, "retries": retries or None,
                    "priority": user_priority or None}  # fmt: skip
        overall.update((name, value) for name, value in explicit.items() if value is not None)
        per_key = task_annotations.merge(annotations or {}, overall, tasks)
        msg.update(_per_key_options(per_key, tasks))
        return msg
    if user_priority:
        msg["user_priority"] = int(user_priority)
    if workers is not None:
        names = [workers] if isinstance(workers, str) else list(workers)
        msg["restrictions"] = {k: names for k in tasks}
        if allow_other_workers:
            msg["loose_restrictions"] = list(tasks)
    if resources:
        msg["resources"] = {k: dict(resources) for k in tasks}
    if retries:
        msg["retries"] = {k: int(retries) for k in tasks}
    return msg


def _per_key_options(per_key: dict, tasks) -> dict:
    """update-graph fields from per-key annotations (only for the *tasks* sent); a value
    of the wrong kind is refused naming the annotation and the key."""
    out: dict = {}

    def values(name):
        for key, value in per_key.get(name, {}).items():
            if key in tasks and value is not None:
                yield key, value

    def number(name, key, value, kinds):
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise TypeError(f"annotation {name}={value!r} of task {key!r}: "
                            f"{'a whole number' if kinds is Integral else 'a number'}, please")
        return value

    if retries := {k: int(number("retries", k, v, Integral)) for k, v in values("retries") if v}:
        out["retries"] = retries
    if priorities := {k: number("priority", k, v, Real) for k, v in values("priority") if v}:
        out["user_priorities"] = priorities
    restrictions = {}
    for key, value in values("workers"):
        names = [value] if isinstance(value, str) else list(value)
        if names:
            restrictions[key] = names
    if restrictions:
        out["restrictions"] = restrictions
        loose = [k for k, v in values("allow_other_workers") if v and k in restrictions]
        if loose:
            out["loose_restrictions"] = loose
    resources = {}
    for key, value in values("resources"):
        if not isinstance(value, dict):
            raise TypeError(f"annotation resources={value!r} of task {key!r}: a dict of "
                            f"resource names and amounts, please")  # fmt: skip
        if value:
            resources[key] = dict(value)
    if resources:
        out["resources"] = resources
    return out
