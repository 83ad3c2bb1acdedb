"""``delayed``: build task graphs by calling functions lazily.

::

    x = delayed(inc)(1)          Delayed(key="inc-…", node=Task(inc, 1), deps=())
    y = delayed(add)(x, 10)      Delayed(key="add-…", node=Task(add, Ref(x.key), 10), deps=(x,))
    y.compute()                  collect y's graph by walking deps -> get(graph, [key])

A :class:`Delayed` holds its own key, the node that computes it, and the Delayed
objects it depends on -- never a merged graph.  Graphs are assembled only when
computing, by one walk over all requested objects with a shared "seen" set
(:func:`collect_delayed`), so ``compute(*many)`` is linear in the number of tasks
and shared sub-graphs appear once.

Attribute access, indexing, method calls and operators on a Delayed build tasks
too (``x.real``, ``x[0]``, ``x.append(1)``, ``x + 1``).  Operations that would need
the value *now* (``bool(x)``, iteration without ``nout``, assignment) raise a
``TypeError`` explaining why.

Keys: ``pure=True`` derives the key from a deterministic token of the function and
arguments (equal calls share a key, so their work is done once); the default
(``pure=None``: the ``delayed_pure`` setting, off unless set) gives each call a
fresh unique key.  ``dask_key_name=`` sets a key explicitly.
"""

from __future__ import annotations

import itertools
import operator
import os
import weakref

from shoal import config
from shoal.annotating import AnnotatedLayer, annotated_node
from shoal.annotating import _current as _annotations_var
from shoal.core import annotations as task_annotations
from shoal.base import graph_of, replace_fields, scheduler_get
from shoal.collection import Computable
from shoal.core.spec import Data, Ref, Task, to_dask_graph
from shoal.core.tokenize import tokenize

__all__ = ["Delayed", "collect_delayed", "delayed"]

_SESSION = os.urandom(6).hex()
_counter = itertools.count()
_annotating = _annotations_var.get  # (None outside any shoal.annotate block)
_ATOMIC = frozenset([int, float, str, bytes, bool, type(None), complex])


def _unique() -> str:
    return f"{_SESSION}{next(_counter):06x}"


def _funcname(func) -> str:
    name = getattr(func, "__name__", None)
    if name is None:
        inner = getattr(func, "func", None)  # functools.partial
        name = getattr(inner, "__name__", None) if inner is not None else None
    if not name or name == "<lambda>":
        name = "lambda" if name == "<lambda>" else type(func).__name__.lower()
    return name


def _unpack(obj, deps: list):
    """Replace Delayed (and collections) inside *obj* by refs; gather deps."""
    t = type(obj)
    if t in _ATOMIC:
        return obj
    if isinstance(obj, Delayed):
        deps.append(obj)
        return Ref(obj._key)
    if t is list or t is tuple or t is set or t is frozenset:
        items = [_unpack(o, deps) for o in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return items if t is list else t(items)
    if t is dict:
        if any(type(k) not in _ATOMIC and _is_lazy(k) for k in obj):  # Delayed keys
            return Task(None, dict, [[_unpack(k, deps), _unpack(v, deps)] for k, v in obj.items()])
        items = {k: _unpack(v, deps) for k, v in obj.items()}
        if all(items[k] is v for k, v in obj.items()):
            return obj
        return items
    if hasattr(obj, "__dask_graph__") and not isinstance(obj, type):
        d = _from_collection(obj)
        deps.append(d)
        return Ref(d._key)
    # containers rebuilt by a nested task once their Delayed parts are computed
    if isinstance(obj, tuple) and hasattr(t, "_fields"):  # a namedtuple
        items = [_unpack(o, deps) for o in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return Task(None, t, *items)
    if t is slice:
        items = [_unpack(o, deps) for o in (obj.start, obj.stop, obj.step)]
        if all(a is b for a, b in zip(items, (obj.start, obj.stop, obj.step))):
            return obj
        return Task(None, slice, *items)
    if hasattr(t, "__dataclass_fields__") and not isinstance(obj, type):
        import dataclasses

        fields = {f.name: getattr(obj, f.name)
                  for f in dataclasses.fields(obj) if f.init and hasattr(obj, f.name)}
        items = {k: _unpack(v, deps) for k, v in fields.items()}
        if all(items[k] is v for k, v in fields.items()):
            return obj
        return Task(None, replace_fields, obj, items)
    return obj


def _is_lazy(obj) -> bool:
    return isinstance(obj, Delayed) or (hasattr(obj, "__dask_graph__") and not isinstance(obj, type))


def _from_collection(coll) -> "Delayed":
    """A Delayed computing a collection's final value (its postcompute)."""
    finalize, extra = coll.__dask_postcompute__()
    key = f"finalize-{tokenize(coll)}"
    keys = coll.__dask_keys__()
    node = Task(key, finalize, _refs(keys), *extra)
    layer = graph_of(coll)
    return Delayed(key, node, (), layer=layer)


def _refs(keys):
    if type(keys) is list:
        return [_refs(k) for k in keys]
    return Ref(keys)


def collect_delayed(roots, graph: dict, annotations: dict | None = None) -> dict:
    """Add the nodes of every Delayed reachable from *roots* to *graph* (and, given an
    *annotations* dict, the per-key annotations of those made under ``shoal.annotate``)."""
    stack = list(roots)
    pop, extend = stack.pop, stack.extend
    while stack:
        d = pop()
        key = d._key
        if key in graph:
            continue
        if d._layer is not None:
            for k, v in d._layer.items():
                graph.setdefault(k, v)
            if annotations is not None and type(d._layer) is AnnotatedLayer:
                task_annotations.collect_layers((d._layer,), annotations)
        graph[key] = d._node
        if d._deps:
            extend(d._deps)
    return graph


def _first(results):
    return results[0]


class Delayed(Computable):
    """A lazy value: a key, the node computing it, and what it depends on."""

    __slots__ = ("_key", "_node", "_deps", "_length", "_layer", "__weakref__")

    def __init__(self, key, node, deps=(), length=None, layer=None):
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_deps", deps)
        object.__setattr__(self, "_length", length)
        object.__setattr__(self, "_layer", layer if _annotating() is None  # (shoal.annotate)
                           else annotated_node(key, node, layer))

    @property
    def key(self):
        return self._key

    @property
    def dask(self) -> dict:
        """This object's whole graph in Dask's spec (what Dask reads)."""
        return self.__dask_graph__()

    # -- the collection protocol -------------------------------------------
    def __shoal_graph__(self) -> dict:
        return collect_delayed([self], {})

    def __dask_graph__(self) -> dict:
        return to_dask_graph(collect_delayed([self], {}))

    def __dask_keys__(self):
        return [self._key]

    def __dask_layers__(self):
        return (self._key,)

    def __dask_tokenize__(self):
        return self._key

    def __dask_postcompute__(self):
        return _first, ()

    def __dask_postpersist__(self):
        return _rebuild, (self._key, self._length)

    __dask_scheduler__ = staticmethod(scheduler_get("threads"))

    # -- building more tasks -------------------------------------------------
    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(f"Delayed object has no attribute {attr!r}")
        return DelayedAttr(self, attr)

    def __getitem__(self, index):
        return _call(operator.getitem, (self, index), {}, pure=True, name="getitem")

    def __call__(self, *args, pure=None, dask_key_name=None, **kwargs):
        return _call(_apply_value, (self, args, kwargs), {}, pure=pure,
                     key=dask_key_name, name="call")

    def __iter__(self):
        if self._length is None:
            raise TypeError(
                "Delayed objects of unknown length are not iterable; "
                "pass nout= to delayed() to make the result unpackable"
            )
        return iter([self[i] for i in range(self._length)])

    def __len__(self):
        if self._length is None:
            raise TypeError("Delayed objects of unspecified length have no len(); use nout=")
        return self._length

    def __bool__(self):
        raise TypeError(
            "The truth value of a Delayed object is not known until it is computed; "
            "compute it first, or use delayed control flow inside a delayed function"
        )

    def __setattr__(self, attr, value):
        raise TypeError("Delayed objects are immutable: setting attributes is not supported")

    def __setitem__(self, index, value):
        raise TypeError("Delayed objects are immutable: item assignment is not supported")

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"Delayed({self._key!r})"

    def __dir__(self):
        return sorted(set(dir(type(self))) | {"key", "dask"})

    def __reduce__(self):  # (restored as it was: not re-annotated by the block unpickling it)
        return (_restored, (self._key, self._node, self._deps, self._length, self._layer))


def _restored(key, node, deps, length, layer) -> Delayed:
    d = object.__new__(Delayed)
    for name, value in zip(Delayed.__slots__, (key, node, deps, length, layer)):
        object.__setattr__(d, name, value)
    return d


def _rebuild(results: dict, key, length):
    return Delayed(key, Data(key, results[key]), (), length)


def _apply_value(func, args, kwargs):
    return func(*args, **kwargs)


def _call_method(obj, method, args, kwargs):
    return getattr(obj, method)(*args, **kwargs)


class DelayedAttr(Delayed):
    """``x.attr``: a getattr task that can also be called as a method."""

    __slots__ = ("_obj", "_attr")

    def __init__(self, obj: Delayed, attr: str):
        key = f"getattr-{tokenize(obj._key, attr)}"
        super().__init__(key, Task(key, getattr, Ref(obj._key), attr), (obj,))
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_attr", attr)

    def __call__(self, *args, pure=None, dask_key_name=None, **kwargs):
        return _call(_call_method, (self._obj, self._attr, args, kwargs), {},
                     pure=pure, key=dask_key_name, name=self._attr)


class DelayedLeaf(Delayed):
    """``delayed(func)``: a wrapped value; calling it builds a task calling it."""

    __slots__ = ("_obj", "_pure", "_nout")

    def __init__(self, obj, key, pure=None, nout=None):
        super().__init__(key, Data(key, obj), ())
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_pure", pure)
        object.__setattr__(self, "_nout", nout)

    def __call__(self, *args, pure=None, dask_key_name=None, **kwargs):
        return _call(self._obj, args, kwargs,
                     pure=self._pure if pure is None else pure,
                     key=dask_key_name, nout=self._nout)

    @property
    def __name__(self):
        return _funcname(self._obj)

    @property
    def __doc__(self):
        return getattr(self._obj, "__doc__", None)

    @property
    def __wrapped__(self):
        return self._obj


def _call(func, args, kwargs, pure=None, key=None, nout=None, name=None):
    """The task for ``func(*args, **kwargs)`` as a Delayed."""
    deps: list = []
    uargs = [_unpack(a, deps) for a in args]
    ukwargs = _unpack(kwargs, deps) if kwargs else kwargs
    if key is None:
        prefix = name or _funcname(func)
        if pure is None:  # (Dask's setting: ``config.set(delayed_pure=True)``)
            pure = config.config.get("delayed-pure", False)  # (config.get's dict, faster)
        token = tokenize(func, args, kwargs) if pure else _unique()
        key = f"{prefix}-{token}"
    node = Task(key, func, *uargs, **ukwargs)
    if nout is not None and (not isinstance(nout, int) or nout < 0):
        raise ValueError(f"nout must be None or a non-negative int, got {nout!r}")
    return Delayed(key, node, tuple(deps), nout)


def _operator(op):
    def method(self, *others):
        return _call(op, (self, *others), {}, pure=True, name=op.__name__.strip("_"))

    method.__name__ = f"__{op.__name__.strip('_')}__"
    return method


def _reflected(op):
    def method(self, other):
        return _call(op, (other, self), {}, pure=True, name=op.__name__.strip("_"))

    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
              "and", "or", "xor", "lshift", "rshift"):
    _op = getattr(operator, f"{_name}_" if _name in ("and", "or") else _name)
    setattr(Delayed, f"__{_name}__", _operator(_op))
    setattr(Delayed, f"__r{_name}__", _reflected(_op))
for _name in ("lt", "le", "eq", "ne", "gt", "ge", "neg", "pos", "abs", "invert"):
    setattr(Delayed, f"__{_name}__", _operator(getattr(operator, _name)))
del _name, _op
Delayed.__hash__ = lambda self: hash(self._key)  # __eq__ above would unset it


def delayed(obj=None, name=None, pure=None, nout=None, traverse=True):
    """Wrap a function or value so that calls and operations build a task graph.

    >>> from operator import add
    >>> x = delayed(add)(1, 2)
    >>> (x * 10).compute(scheduler="sync")
    30
    >>> @delayed(pure=True)
    ... def inc(i):
    ...     return i + 1
    >>> inc(1).key == inc(1).key
    True
    """
    if obj is None:
        return lambda o: delayed(o, name=name, pure=pure, nout=nout, traverse=traverse)
    if isinstance(obj, Delayed):
        return obj
    if callable(obj) and not hasattr(obj, "__dask_graph__"):
        key = name or _leaf_key(obj, pure)
        return DelayedLeaf(obj, key, pure=pure, nout=nout)
    if hasattr(obj, "__dask_graph__") and not isinstance(obj, type):
        return _from_collection(obj)
    deps: list = []
    value = _unpack(obj, deps) if traverse else obj
    if deps:
        key = name or f"{type(obj).__name__}-{tokenize(value)}"
        return Delayed(key, Task(key, _identity, value), tuple(deps), nout)
    key = name or f"{type(obj).__name__}-{tokenize(obj)}"
    return Delayed(key, Data(key, obj), (), nout)


def _identity(x):
    return x


_leaf_keys: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _leaf_key(func, pure) -> str:
    """The key of ``delayed(func)``, computed once per function.

    ``delayed(inc)(i)`` in a loop wraps the same function every time; its token
    does not change, so it is cached (weakly: the cache never keeps a function
    alive).  Functions that cannot be weakly referenced are tokenized each time.
    """
    try:
        return _leaf_keys[func][pure]
    except (KeyError, TypeError):
        pass
    key = f"{_funcname(func)}-{tokenize(func, pure)}"
    try:
        _leaf_keys.setdefault(func, {})[pure] = key
    except TypeError:
        pass
    return key
