"""Graph nodes: what a key stands for, and how to compute it.

A graph is a plain ``dict`` mapping keys to *nodes*.  Every node has

- ``key``: the key it computes,
- ``dependencies``: a ``frozenset`` of the keys whose values it needs, computed
  once when the node is built (never by re-walking arguments while running), and
- ``__call__(values)``: compute the value, given a mapping that holds (at least)
  the values of its dependencies.

This is the same duck-typed protocol Dask's current task objects follow, so Dask's
nodes run unchanged in shoal's engines and shoal's nodes in Dask's.

Node kinds::

    Task(key, func, *args, **kwargs)   call func; Ref / nested Task / containers in args
    Ref(key)                          marks "the value of key" inside arguments
    Alias(key, target)                the value of another key
    Data(key, value)                  a literal value
    Fused(nodes)                      a group of nodes run as one (see optimize.py)

Dask's legacy tuple spec (``(func, *args)`` with keys anywhere in the arguments,
nested lists/tuples/dicts of keys and tasks, strings that are not keys staying
literal) is converted on entry by :func:`convert_graph`; foreign nodes that already
follow the protocol are kept as they are.

Execution is the hot path, so arguments are classified once at build time: a task
whose arguments are all literals or top-level ``Ref`` s substitutes them with one
list comprehension; only tasks with nested structure pay for a recursive walk.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping

from shoal.core.keys import is_key_like

__all__ = [
    "Alias",
    "Data",
    "Fused",
    "Ref",
    "Task",
    "convert_graph",
    "convert_node",
    "is_node",
    "to_dask_graph",
]

_EMPTY = frozenset()
_CONTAINERS = (list, tuple, dict, set, frozenset)


class Ref:
    """A reference to the value of ``key`` inside task arguments.

    >>> Ref("x")
    Ref('x')
    """

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __repr__(self):
        return f"Ref({self.key!r})"

    def __eq__(self, other):
        return type(other) is Ref and other.key == self.key

    def __hash__(self):
        return hash(("shoal-ref", self.key))

    def __reduce__(self):
        return (Ref, (self.key,))


def _scan(obj, out: set) -> bool:
    """Add the keys referenced inside *obj* to *out*.

    Returns True when *obj* holds a ``Ref`` or a nested ``Task`` anywhere, i.e.
    when it must be resolved before the call rather than passed as it is.
    """
    t = type(obj)
    if t is Ref:
        out.add(obj.key)
        return True
    if t is Task:
        out.update(obj.dependencies)
        return True
    if t in _CONTAINERS:
        found = False
        for item in obj.values() if t is dict else obj:
            found = _scan(item, out) or found
        return found
    return False


def _resolve(obj, values):
    """Replace refs and nested tasks inside *obj* with their values."""
    t = type(obj)
    if t is Ref:
        return values[obj.key]
    if t is Task:
        return obj(values)
    if t is list:
        return [_resolve(o, values) for o in obj]
    if t is tuple:
        return tuple([_resolve(o, values) for o in obj])
    if t is dict:
        return {k: _resolve(v, values) for k, v in obj.items()}
    if t is set or t is frozenset:
        return t(_resolve(o, values) for o in obj)
    return obj


class Task:
    """Call ``func(*args, **kwargs)`` with refs and nested tasks resolved.

    >>> from operator import add
    >>> t = Task("z", add, Ref("x"), 1)
    >>> sorted(t.dependencies), t({"x": 41})
    (['x'], 42)
    """

    __slots__ = ("key", "func", "args", "kwargs", "dependencies", "_nested")

    def __init__(self, key, func, /, *args, **kwargs):
        self.key = key
        self.func = func
        self.args = args
        self.kwargs = kwargs
        deps: set = set()
        nested = False
        for a in args:
            ta = type(a)
            if ta is Ref:
                deps.add(a.key)
            elif ta is Task or ta in _CONTAINERS:
                nested = _scan(a, deps) or nested
        if kwargs:
            nested = _scan(kwargs, deps) or nested
        self.dependencies = frozenset(deps) if deps else _EMPTY
        self._nested = nested

    @classmethod
    def from_parts(cls, key, func, args, kwargs=None):
        """Build a task from an argument tuple and a kwargs dict (no unpacking)."""
        return cls(key, func, *args, **(kwargs or {}))

    def __call__(self, values=None):
        if self._nested:
            args = [_resolve(a, values) for a in self.args]
            kwargs = _resolve(self.kwargs, values) if self.kwargs else self.kwargs
        elif self.dependencies:
            args = [values[a.key] if type(a) is Ref else a for a in self.args]
            kwargs = self.kwargs
        else:
            args, kwargs = self.args, self.kwargs
        return self.func(*args, **kwargs)

    def __repr__(self):
        name = getattr(self.func, "__name__", type(self.func).__name__)
        return f"<Task {self.key!r} {name}(...)>"

    def __reduce__(self):
        return (_rebuild_task, (self.key, self.func, self.args, self.kwargs))


def _rebuild_task(key, func, args, kwargs):
    return Task(key, func, *args, **kwargs)


class Alias:
    """The value of another key (``graph[key] = other_key`` in the legacy spec).

    >>> Alias("y", "x")({"x": 1})
    1
    """

    __slots__ = ("key", "target", "dependencies")

    def __init__(self, key, target):
        self.key = key
        self.target = target
        self.dependencies = frozenset([target])

    def __call__(self, values=None):
        return values[self.target]

    def __repr__(self):
        return f"Alias({self.key!r} -> {self.target!r})"

    def __reduce__(self):
        return (Alias, (self.key, self.target))


class Data:
    """A literal value stored in the graph.

    >>> Data("x", 3)()
    3
    """

    __slots__ = ("key", "value")
    dependencies = _EMPTY

    def __init__(self, key, value):
        self.key = key
        self.value = value

    def __call__(self, values=None):
        return self.value

    def __repr__(self):
        return f"Data({self.key!r}, {type(self.value).__name__})"

    def __reduce__(self):
        return (Data, (self.key, self.value))


class Fused:
    """Several nodes run one after the other as a single node.

    ``nodes`` are in an order where each comes after its dependencies; the last
    one computes ``key`` and is the only one whose value leaves the group (see
    ``optimize.fuse``).  ``keys`` are the graph keys the nodes compute (by
    default each node's ``.key``; a foreign node stored under another key, such
    as Dask's ``DataNode(None, value)``, is named by its graph key).
    Dependencies are the inner nodes' dependencies that are not inner keys.  A
    linear chain passes each value straight to the next node; a wider group (a
    per-partition diamond) keeps inner values in a local dict looked up before
    the outside values.
    """

    __slots__ = ("key", "nodes", "keys", "dependencies", "_linear")

    def __init__(self, nodes, keys=None):
        self.nodes = tuple(nodes)
        self.keys = tuple(n.key for n in self.nodes) if keys is None else tuple(keys)
        self.key = self.keys[-1]
        inner = set(self.keys)
        deps = set()
        for n in self.nodes:
            deps.update(n.dependencies)
        self.dependencies = frozenset(deps - inner)
        self._linear = all(
            n.dependencies == {prev} for prev, n in zip(self.keys, self.nodes[1:])
        )

    def __call__(self, values=None):
        nodes, keys = self.nodes, self.keys
        i = 0
        try:
            if self._linear:
                result = nodes[0](values)
                for i in range(1, len(nodes)):
                    result = nodes[i]({keys[i - 1]: result})
                return result
            local: dict = {}
            scope = ChainMap(local, values) if values else local
            for i, node in enumerate(nodes):
                local[keys[i]] = node(scope)
            return local[self.key]
        except Exception as exc:
            # name the inner task that failed, not the group's last key
            if not hasattr(exc, "_shoal_key"):
                try:
                    exc._shoal_key = keys[i]
                except AttributeError:
                    pass
            raise

    @property
    def func(self):
        return self.nodes[-1].func if hasattr(self.nodes[-1], "func") else None

    def __repr__(self):
        return f"<Fused {self.key!r} of {len(self.nodes)} nodes>"

    def __reduce__(self):
        return (Fused, (self.nodes, self.keys))


def is_node(obj) -> bool:
    """True for objects following the node protocol (shoal's or Dask's)."""
    t = type(obj)
    if t is Task or t is Data or t is Alias or t is Fused:
        return True
    return (
        hasattr(obj, "dependencies")
        and hasattr(obj, "key")
        and callable(obj)
        and not isinstance(obj, type)
    )


def _identity(x):
    return x


def _is_legacy_task(x) -> bool:
    return type(x) is tuple and len(x) > 0 and callable(x[0]) and not isinstance(x[0], type(None))


def _convert_arg(arg, keys):
    """Convert one legacy argument: keys -> Ref, (func, ...) -> nested Task."""
    t = type(arg)
    if t is str:
        return Ref(arg) if arg in keys else arg
    if t is tuple:
        if arg and callable(arg[0]):
            return Task(None, arg[0], *[_convert_arg(a, keys) for a in arg[1:]])
        try:
            if arg in keys:
                return Ref(arg)
        except TypeError:  # a tuple holding unhashables is never a key
            pass
        return tuple([_convert_arg(a, keys) for a in arg])
    if t is list:
        return [_convert_arg(a, keys) for a in arg]
    if t is dict:
        return {k: _convert_arg(v, keys) for k, v in arg.items()}
    if t is int or t is float:  # as Dask reads its graphs (never a bool, nor bytes)
        return Ref(arg) if arg in keys else arg
    if getattr(arg, "key", 0) is None and is_node(arg):
        # an inline (keyless) node nested in the arguments: run it in place
        return Task(None, _call_node, arg, {d: Ref(d) for d in arg.dependencies})
    return arg  # anything else, keyed nodes included, is a literal


def _call_node(node, values):
    return node(values)


def convert_node(key, value, keys):
    """Turn one legacy graph value into a node.

    >>> from operator import add
    >>> n = convert_node("y", (add, "x", "not-a-key"), {"x", "y"})
    >>> sorted(n.dependencies), n({"x": "a "})
    (['x'], 'a not-a-key')
    """
    t = type(value)
    if t is Task or t is Data or t is Alias or t is Fused:
        return value
    if t is tuple and value and callable(value[0]):
        args = [_convert_arg(a, keys) for a in value[1:]]
        return Task(key, value[0], *args)
    if is_key_like(value):
        try:
            if value in keys and value != key:
                return Alias(key, value)
        except TypeError:
            pass
    if t is list or t is tuple or t is dict:
        converted = _convert_arg(value, keys)
        if type(converted) is Ref:
            return Alias(key, converted.key)
        if _scan(converted, set()):
            return Task(key, _identity, converted)
        return Data(key, value)
    if is_node(value):
        return value
    return Data(key, value)


def convert_graph(graph: Mapping) -> dict:
    """Convert a mapping in any supported spec into ``{key: node}``.

    Nodes already following the protocol are kept; legacy tuples, aliases and
    literals are converted.  The result is a new dict; the input is not changed.
    """
    keys = graph.keys() if isinstance(graph, dict) else set(graph)
    out = {}
    for key, value in graph.items():
        t = type(value)
        if t is Task or t is Data or t is Alias or t is Fused:
            out[key] = value
        else:
            out[key] = convert_node(key, value, keys)
    return out


class _Quoted:
    """A value carried through a Dask graph without being parsed or run.

    Dask would read a tuple of names as keys, and shoal would run a node found
    among task arguments; a quoted value is passed through untouched.
    """

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return (_Quoted, (self.value,))


def _call_with(node, names, values):
    return node.value(dict(zip(names.value, values)))


def to_dask_graph(graph: dict) -> dict:
    """Export ``{key: node}`` in Dask's legacy tuple spec, for Dask's schedulers.

    Each shoal node becomes ``(_call_with, node, names, [dep keys...])``: Dask
    resolves the list of keys to values and the node runs exactly as in shoal, so
    no literal argument can be mistaken for a key or a task on the way.
    """
    out = {}
    for key, node in graph.items():
        t = type(node)
        if t is Task or t is Data or t is Alias or t is Fused:
            deps = tuple(node.dependencies)
            out[key] = (_call_with, _Quoted(node), _Quoted(deps), list(deps))
        else:
            out[key] = node
    return out
