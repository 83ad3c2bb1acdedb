"""``Bag``: a partitioned list of Python objects, and ``Item``: one lazy value.

::

    Bag(layers, name, npartitions)
      partitions: keys (name, 0) ... (name, n-1), each a Python list
    Item(layers, name)            one key, (name, 0): a reduction's result

Both are :class:`shoal.collection.Collection` s: every method adds one layer of
``Task`` nodes and returns a new collection; nothing runs until ``compute``.
Three builders make every graph:

- :func:`partitionwise` -- one task per partition, calling a kernel of
  ``chunk.py`` (``map``, ``filter``, ``pluck``, ``map_partitions`` ...).  Bags
  given as arguments are aligned partition by partition (they must have the
  same ``npartitions``); Items and Delayed values are broadcast; anything else
  is passed as it is;
- ``reductions.tree`` -- chunk / combine ``split_every`` at a time / aggregate
  (``count``, ``sum``, ``frequencies``, ``foldby`` ...);
- ``reductions.groupby`` -- a hash shuffle.

Partitions are always lists (never lazy iterators), so a partition used by two
consumers is safe to read twice.  Per-partition work is a chain of single-input
tasks (``read_text -> map -> filter -> pluck -> chunk of a reduction``), which
the engine fuses into one task per partition: with the process scheduler (the
default for bags, as in Dask) only each chain's small result crosses between
processes.
"""

from __future__ import annotations

import builtins
import operator

from shoal.annotating import own_layer_annotated
from shoal.base import scheduler_get
from shoal.bag import chunk
from shoal.collection import Collection, merge_layers, persisted_layers
from shoal.core.keys import key_split
from shoal.core.spec import Data, Ref, Task
from shoal.core.tokenize import tokenize
from shoal.delayed import Delayed, collect_delayed

__all__ = ["Bag", "Item", "map", "map_partitions", "partitionwise", "zip"]

no_default = chunk.NOTHING


def funcname(func) -> str:
    name = getattr(func, "__name__", None)
    if name is None:
        inner = getattr(func, "func", None)  # functools.partial
        name = getattr(inner, "__name__", None) or type(func).__name__
    return "lambda" if name == "<lambda>" else name.strip("_").lower() or "func"


def _getter(key):
    """A callable key: *key* itself, or ``x[key]`` for anything else."""
    return key if callable(key) else operator.itemgetter(key)


# -- the collections ----------------------------------------------------------------

class Bag(Collection):
    """A parallel collection of Python objects, split into partitions (lists)."""

    __dask_scheduler__ = staticmethod(scheduler_get("processes"))

    def __init__(self, layers: dict, name: str, npartitions: int):
        self._layers = own_layer_annotated(layers, name)  # (shoal.annotate)
        self._name = name
        self.npartitions = npartitions

    @property
    def name(self) -> str:
        return self._name

    def __dask_keys__(self):
        return [(self._name, i) for i in builtins.range(self.npartitions)]

    def __dask_postcompute__(self):
        return chunk.finalize_bag, ()

    def __dask_postpersist__(self):
        return _rebuild_bag, (self._name, self.npartitions)

    def __repr__(self):
        return f"shoal.bag<{key_split(self._name)}, npartitions={self.npartitions}>"

    def __iter__(self):
        return iter(self.compute())

    def __bool__(self):
        raise TypeError("The truth value of a Bag is not known until it is computed")

    @property
    def str(self):
        """String methods mapped over the elements (``b.str.lower()``)."""
        from shoal.bag.strings import StringAccessor

        return StringAccessor(self)

    # -- elementwise -------------------------------------------------------------
    def map(self, func, *args, **kwargs):
        """``func(x, *args, **kwargs)`` for every element x.

        Bags among the arguments are zipped element by element with this one
        (same ``npartitions`` required); Items and Delayed are broadcast.
        """
        return map(func, self, *args, **kwargs)

    def starmap(self, func, **kwargs):
        """``func(*x, **kwargs)`` for every element x (a tuple); keyword arguments may be
        Items or Delayed (computed first), not Bags."""
        _refuse_bags("starmap", kwargs)
        return partitionwise(chunk.starmap_chunk, "starmap-" + funcname(func), func, self,
                             _Pack(kwargs))

    def filter(self, predicate):
        """The elements for which ``predicate(x)`` is true."""
        return partitionwise(chunk.filter_chunk, "filter-" + funcname(predicate), predicate, self)

    def remove(self, predicate):
        """The elements for which ``predicate(x)`` is false."""
        return partitionwise(chunk.remove_chunk, "remove-" + funcname(predicate), predicate, self)

    def pluck(self, key, default=no_default):
        """``x[key]`` of every element; a list of keys gives tuples."""
        many = isinstance(key, list)
        keys = tuple(key) if many else key
        if default is no_default:
            kernel = chunk.pluck_many if many else chunk.pluck_one
            return partitionwise(kernel, "pluck", keys, self)
        kernel = chunk.pluck_many_default if many else chunk.pluck_one_default
        return partitionwise(kernel, "pluck", keys, default, self)

    def unzip(self, n):
        """A tuple of *n* bags, the i-th holding element i of every tuple."""
        return tuple(self.pluck(i) for i in builtins.range(n))

    def flatten(self):
        """The items of every element, one after the other."""
        return partitionwise(chunk.flatten_chunk, "flatten", self)

    def map_partitions(self, func, *args, **kwargs):
        """``func(partition, *args, **kwargs)`` for every partition (a list)."""
        return map_partitions(func, self, *args, **kwargs)

    # -- reductions (reductions.py) ------------------------------------------------
    def reduction(self, perpartition, aggregate, split_every=None, out_type=None, name=None):
        """``aggregate([perpartition(p) for p in partitions])``, as a tree.

        ``aggregate`` also combines ``split_every`` pieces at a time on the way,
        so it must accept its own results.  ``out_type=Bag`` makes the result a
        one-partition Bag (``aggregate`` then returns an iterable).
        """
        from shoal.bag import reductions

        return reductions.user_reduction(self, perpartition, aggregate, split_every,
                                         out_type or Item, name)

    def fold(self, binop, combine=None, initial=no_default, split_every=None, out_type=None):
        """``functools.reduce(binop, ...)`` per partition, then ``combine`` the results: an
        Item, or with ``out_type=Bag`` a one-partition Bag of the result's elements."""
        from shoal.bag import reductions

        return reductions.fold(self, binop, combine, initial, split_every, out_type)

    def product(self, other):
        """Every pair ``(x, y)`` of an element of this bag and one of *other*."""
        from shoal.bag.create import product

        return product(self, other)

    def _simple(self, how, split_every):
        from shoal.bag import reductions

        return reductions.simple(self, how, split_every)

    def count(self, split_every=None):
        return self._simple("count", split_every)

    def sum(self, split_every=None):
        return self._simple("sum", split_every)

    def min(self, split_every=None):
        return self._simple("min", split_every)

    def max(self, split_every=None):
        return self._simple("max", split_every)

    def any(self, split_every=None):
        return self._simple("any", split_every)

    def all(self, split_every=None):
        return self._simple("all", split_every)

    def mean(self, split_every=None):
        from shoal.bag import reductions

        return reductions.moments(self, "mean", 0, split_every)

    def var(self, ddof=0, split_every=None):
        from shoal.bag import reductions

        return reductions.moments(self, "var", ddof, split_every)

    def std(self, ddof=0, split_every=None):
        from shoal.bag import reductions

        return reductions.moments(self, "std", ddof, split_every)

    def frequencies(self, split_every=None, sort=False):
        """``(element, count)`` pairs, in first-seen order or by count (``sort=True``)."""
        from shoal.bag import reductions

        return reductions.frequencies(self, sort, split_every)

    def topk(self, k, key=None, split_every=None):
        """The *k* largest elements (by ``key``), largest first."""
        from shoal.bag import reductions

        return reductions.topk(self, k, key, split_every)

    def distinct(self, key=None, split_every=None):
        """Elements without repeats, in first-seen order (uniqueness by ``key``)."""
        from shoal.bag import reductions

        return reductions.distinct(self, key, split_every)

    def foldby(self, key, binop, initial=no_default, combine=None,
               combine_initial=no_default, split_every=None):
        """Group by ``key`` and fold each group: ``(key, value)`` pairs.

        Per partition ``binop(acc, x)`` folds the elements of each key (starting
        from ``initial``, or the first element); ``combine(acc, acc2)`` then
        merges the partial results (starting from ``combine_initial``).
        """
        from shoal.bag import reductions

        return reductions.foldby(self, key, binop, initial, combine, combine_initial,
                                 split_every)

    def groupby(self, grouper, method=None, npartitions=None, blocksize=None,
                max_branch=None, shuffle=None):
        """``(key, [elements])`` pairs in *npartitions* partitions (default: as many
        as this bag), through a hash shuffle (see reductions.py).

        ``method``, ``blocksize``, ``max_branch`` and ``shuffle`` are accepted for
        Dask's spelling and ignored: there is one, in-memory, method.
        """
        from shoal.bag import reductions

        return reductions.groupby(self, grouper, npartitions)

    # -- looking at data ------------------------------------------------------------
    def take(self, k, npartitions=1, compute=True, warn=True):
        """The first *k* elements, computing only the first *npartitions* partitions.

        Returns a tuple (a one-partition Bag with ``compute=False``).  Warns when
        fewer than *k* elements were found and more partitions were left
        (``npartitions=-1`` searches them all).
        """
        if npartitions <= -1:
            npartitions = self.npartitions
        if npartitions > self.npartitions:
            raise ValueError(f"take: this bag has only {self.npartitions} partitions, "
                             f"not {npartitions}")
        name = f"take-{tokenize(self, k, npartitions)}"
        layer = {}
        refs = []
        for i in builtins.range(npartitions):
            key = (f"{name}-part", i)
            layer[key] = Task(key, chunk.take_chunk, k, Ref((self._name, i)))
            refs.append(Ref(key))
        layer[(name, 0)] = Task((name, 0), chunk.take_many, k, refs)
        out = Bag(merge_layers(self, name=name, layer=layer), name, 1)
        if not compute:
            return out
        result = tuple(out.compute())
        if warn and len(result) < k and npartitions < self.npartitions:
            import warnings

            warnings.warn(
                f"Insufficient elements for `take`: {k} requested, only {len(result)} "
                f"found in the first {npartitions} partition(s). Pass a larger "
                "`npartitions=` to `take` (-1 for all partitions).",
                UserWarning, stacklevel=2,
            )
        return result

    def to_delayed(self, optimize_graph=True):
        """One Delayed per partition (each computes a list)."""
        graph = self.__shoal_graph__()
        return [Delayed(k, graph[k], (), layer=graph) for k in self.__dask_keys__()]

    def random_sample(self, prob, random_state=None):
        """Each element kept with probability *prob* (reproducible with ``random_state``)."""
        import random

        if not 0 <= prob <= 1:
            raise ValueError(f"random_sample: prob must be between 0 and 1, got {prob!r}")
        rng = random_state if isinstance(random_state, random.Random) else random.Random(random_state)
        seeds = [rng.getrandbits(64) for _ in builtins.range(self.npartitions)]
        return self._per_partition(chunk.sample_chunk, f"random-sample-{tokenize(self, prob, seeds)}",
                                   lambda i: (prob, seeds[i]))  # fmt: skip

    def accumulate(self, binop, initial=no_default):
        """The running ``binop`` of the elements in order (``initial`` first when given), as
        ``itertools.accumulate``: each partition starts from the last value before it."""
        token = tokenize(self, binop, initial)
        name, carries = f"accumulate-{token}", f"accumulate-carry-{token}"
        layer: dict = {}
        for i in builtins.range(self.npartitions):
            part = Ref((self._name, i))
            before = Ref((carries, i)) if i else initial  # (no_default: chunk.NOTHING, none)
            layer[(name, i)] = Task((name, i), chunk.accumulate_chunk, binop, part, before, i == 0)
            if i + 1 < self.npartitions:
                layer[(carries, i + 1)] = Task((carries, i + 1), chunk.accumulate_last, binop,
                                               part, before)  # fmt: skip
        return Bag(merge_layers(self, name=name, layer=layer), name, self.npartitions)

    def join(self, other, on_self, on_other=None):
        """``(o, x)`` for each element *x* and each *o* of *other* (a small list, or an
        Item/Delayed of one) whose key ``on_other(o)`` equals ``on_self(x)``."""
        if isinstance(other, Bag):
            raise TypeError("join: other must be a list (or an Item/Delayed of one) held in "
                            "memory; for two Bags, use groupby or foldby on a shared key")
        if not isinstance(other, (Item, Delayed)):
            other = list(other)
        return partitionwise(chunk.join_chunk, "join-" + funcname(on_self), self, _Pack([other]),
                             _getter(on_self), _getter(on_other or on_self))  # fmt: skip

    def _per_partition(self, kernel, name, extra):
        layer = {(name, i): Task((name, i), kernel, Ref((self._name, i)), *extra(i))
                 for i in builtins.range(self.npartitions)}  # fmt: skip
        return Bag(merge_layers(self, name=name, layer=layer), name, self.npartitions)

    def repartition(self, npartitions=None, partition_size=None):
        """The same elements in *npartitions* partitions (order kept).

        Fewer partitions concatenate neighbours; more split each partition into
        near-equal slices.  ``partition_size`` is not supported (it would need
        the partitions' lengths first).
        """
        if partition_size is not None:
            raise NotImplementedError("repartition(partition_size=...) is not supported; "
                                      "pass npartitions=")
        try:
            npartitions = operator.index(npartitions)  # (a NumPy integer too)
        except TypeError:
            npartitions = None
        if npartitions is None or npartitions < 1:
            raise ValueError(f"npartitions must be a positive int, got {npartitions!r}")
        from shoal.bag.create import repartition

        return repartition(self, npartitions)

    # -- output -------------------------------------------------------------------
    def to_textfiles(self, path, name_function=None, compression="infer", encoding="utf-8",
                     compute=True, storage_options=None, last_endline=False, **kwargs):
        """Write one text file per partition, one line per element (see io.py).

        Returns the paths written (a list of Delayed with ``compute=False``);
        other keyword arguments go to ``compute``.
        """
        from shoal.bag import io

        return io.to_textfiles(self, path, name_function=name_function, compression=compression,
                               encoding=encoding, compute=compute, last_endline=last_endline,
                               storage_options=storage_options, **kwargs)

    def to_dataframe(self, meta=None, columns=None, optimize_graph=True):
        """A shoal DataFrame with one pandas partition per bag partition.

        Elements are dicts (records), tuples or scalars.  Without ``meta`` the
        first element is computed to learn the columns and dtypes.
        """
        from shoal.bag import io

        return io.to_dataframe(self, meta, columns)


def _rebuild_bag(results, name, npartitions):
    return Bag(persisted_layers(name, results), name, npartitions)


class Item(Collection):
    """One lazy value (a reduction's result)."""

    __dask_scheduler__ = staticmethod(scheduler_get("processes"))

    def __init__(self, layers: dict, name: str, key=None):
        self._layers = own_layer_annotated(layers, name)  # (shoal.annotate)
        self._name = name
        self.key = (name, 0) if key is None else key

    @property
    def name(self) -> str:
        return self._name

    def __dask_keys__(self):
        return [self.key]

    def __dask_postcompute__(self):
        return chunk.first, ()

    def __dask_postpersist__(self):
        return _rebuild_item, (self._name, self.key)

    def __repr__(self):
        return f"shoal.bag.Item<{key_split(self._name)}>"

    def __bool__(self):
        raise TypeError("The truth value of an Item is not known until it is computed")

    @staticmethod
    def from_delayed(value):
        """An Item computing a Delayed's value."""
        if not isinstance(value, Delayed):
            raise TypeError(f"Item.from_delayed expects a Delayed, got {type(value).__name__}")
        return Item({value.key: collect_delayed([value], {})}, value.key, value.key)

    def apply(self, func, *args, **kwargs):
        """An Item holding ``func(value, *args, **kwargs)`` (arguments: values, Items, Delayed)."""
        _refuse_bags("Item.apply", {**dict(enumerate(args)), **kwargs})
        name = f"{funcname(func)}-{tokenize(self, func, args, kwargs)}"
        layers = merge_layers(self)
        targs = [_arg_ref(a, 0, layers) for a in args]
        tkw = {k: _arg_ref(v, 0, layers) for k, v in kwargs.items()}
        layers[name] = {(name, 0): Task((name, 0), chunk.apply_item, func, Ref(self.key),
                                        targs, tkw)}
        return Item(layers, name)

    def to_delayed(self, optimize_graph=True):
        graph = self.__shoal_graph__()
        return Delayed(self.key, graph[self.key], (), layer=graph)

    def _binop(self, op, other, reverse=False):
        if isinstance(other, Bag):
            return NotImplemented
        name = f"{op.__name__.strip('_')}-{tokenize(op, self, other, reverse)}"
        layers = merge_layers(self)
        o = _arg_ref(other, 0, layers)
        args = (o, Ref(self.key)) if reverse else (Ref(self.key), o)
        layers[name] = {(name, 0): Task((name, 0), op, *args)}
        return Item(layers, name)


def _rebuild_item(results, name, key):
    return Item({name: {k: Data(k, v) for k, v in results.items()}}, name, key)


def _binary(op):
    return lambda self, other: self._binop(op, other)


def _reflected(op):
    return lambda self, other: self._binop(op, other, reverse=True)


for _n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and_", "or_", "xor",
           "lt", "le", "eq", "ne", "gt", "ge"):
    _op = getattr(operator, _n)
    _dunder = _n.strip("_")
    setattr(Item, f"__{_dunder}__", _binary(_op))
    if _n not in ("lt", "le", "eq", "ne", "gt", "ge"):
        setattr(Item, f"__r{_dunder}__", _reflected(_op))
for _n in ("neg", "pos", "abs", "invert"):
    setattr(Item, f"__{_n}__", (lambda op: lambda self: self.apply(op))(getattr(operator, _n)))
Item.__hash__ = object.__hash__
del _n, _op, _dunder


def _item_value(convert):
    return lambda self: convert(self.compute())


for _n in (int, float, complex):  # int(b.count()) computes it, as Dask's Item does
    setattr(Item, f"__{_n.__name__}__", _item_value(_n))
del _n


def _refuse_bags(where: str, arguments: dict) -> None:
    for name, value in arguments.items():
        if isinstance(value, Bag):
            which = f"args[{name}]" if isinstance(name, int) else f"{name}="
            raise TypeError(f"{where}: {which} is a Bag; pass Items, Delayed or plain values "
                            "(for elements zipped with a bag's, use shoal.bag.map)")


# -- the partitionwise builder -------------------------------------------------------

def _arg_ref(arg, i, layers):
    """What stands for *arg* in the task of partition *i*."""
    if isinstance(arg, Bag):
        return Ref((arg._name, i))
    if isinstance(arg, Item):
        layers.update(arg._layers)
        return Ref(arg.key)
    if isinstance(arg, Delayed):
        layers.setdefault(arg.key, collect_delayed([arg], {}))
        return Ref(arg.key)
    return arg


def _check_partitions(bags, what):
    n = bags[0].npartitions
    for b in bags[1:]:
        if b.npartitions != n:
            raise ValueError(
                f"{what}: cannot combine bags with {n} and {b.npartitions} partitions "
                "element by element; repartition them to the same npartitions first"
            )
    return n


class _Pack:
    """An argument list or kwargs dict built here, whose items are mapped too.

    Users' own lists and dicts pass through untouched (never copied per
    partition); only these packs are looked into for Bags, Items and Delayed.
    """

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __dask_tokenize__(self):
        return ("bag-pack", self.value)


def _bags_in(args):
    for a in args:
        if isinstance(a, Bag):
            yield a
        elif isinstance(a, _Pack):
            items = a.value.values() if isinstance(a.value, dict) else a.value
            yield from (x for x in items if isinstance(x, Bag))


def _ref(arg, i, layers):
    if isinstance(arg, _Pack):
        v = arg.value
        if isinstance(v, dict):
            return {k: _arg_ref(x, i, layers) for k, x in v.items()}
        return [_arg_ref(x, i, layers) for x in v]
    return _arg_ref(arg, i, layers)


def partitionwise(kernel, prefix, *args):
    """One task per partition: ``kernel(*args)`` with Bags -> their partitions.

    Arguments wrapped in :class:`_Pack` are lists / dicts whose items are
    mapped the same way (Bag -> partition, Item / Delayed -> its value).
    """
    bags = list(_bags_in(args))
    n = _check_partitions(bags, prefix.split("-")[0])
    name = f"{prefix}-{tokenize(kernel, args)}"
    layers = merge_layers(*bags)
    layer = {}
    for i in builtins.range(n):
        layer[(name, i)] = Task((name, i), kernel, *[_ref(a, i, layers) for a in args])
    layers[name] = layer
    return Bag(layers, name, n)


def map(func, *args, **kwargs):
    """``func`` over the elements of the Bags in *args* / *kwargs*, zipped.

    Bags must share their number of partitions; Items and Delayed values are
    broadcast, as are plain values.
    """
    pos = [i for i, a in enumerate(args) if isinstance(a, Bag)]
    kws = [k for k, v in kwargs.items() if isinstance(v, Bag)]
    if not pos and not kws:
        raise ValueError("map needs at least one Bag among its arguments")
    prefix = "map-" + funcname(func)
    if pos == [0] and not kws:  # the common case: b.map(f, broadcast...)
        return partitionwise(chunk.map_chunk, prefix, func, args[0], _Pack(list(args[1:])),
                             _Pack(kwargs))
    return partitionwise(chunk.map_zip, prefix, func, _Pack(list(args)), _Pack(kwargs), pos, kws)


def map_partitions(func, *args, **kwargs):
    """``func(*partitions-or-values, **kwargs)`` once per partition of the Bags given."""
    if not any(isinstance(a, Bag) for a in (*args, *kwargs.values())):
        raise ValueError("map_partitions needs at least one Bag among its arguments")
    return partitionwise(chunk.call_partitions, "map-partitions-" + funcname(func),
                         func, _Pack(list(args)), _Pack(kwargs))


def zip(*bags):
    """A Bag of tuples of the bags' elements, zipped (same npartitions)."""
    return partitionwise(chunk.zip_chunk, "zip", *bags)
