"""Creating bags (``from_sequence``, ``range``, ``from_delayed``, ``concat``,
``product``) and ``repartition``.

Data given in Python (``from_sequence``) is split once, when the graph is
built, into ``Data`` nodes holding list slices; the engine fuses each into the
first task that reads it.  ``range`` and ``from_delayed`` build their
partitions in tasks.  ``repartition`` keeps the order of the elements: fewer
partitions concatenate neighbours, more slice each input partition into
near-equal pieces (no lengths needed in advance).
"""

from __future__ import annotations

import builtins

from shoal.bag import chunk
from shoal.bag.core import Bag
from shoal.collection import merge_layers
from shoal.core.spec import Alias, Data, Ref, Task
from shoal.core.tokenize import tokenize
from shoal.delayed import Delayed, collect_delayed

__all__ = ["concat", "from_delayed", "from_sequence", "product", "range", "repartition"]

DEFAULT_PARTITIONS = 100


def _bounds(n: int, parts: int) -> list:
    return [(n * i // parts, n * (i + 1) // parts) for i in builtins.range(parts)]


def from_sequence(seq, partition_size=None, npartitions=None):
    """A Bag from a Python sequence (copied into the graph).

    ``npartitions`` splits it into that many near-equal partitions (fewer when
    the sequence is shorter); ``partition_size`` (which wins when both are
    given) into partitions of that many elements.  By default each element is
    its own partition up to 100 elements, and longer sequences get 100
    partitions.
    """
    seq = list(seq)
    n = len(seq)
    if partition_size is not None:
        if partition_size < 1:
            raise ValueError(f"partition_size must be positive, got {partition_size!r}")
        bounds = [(s, s + partition_size) for s in builtins.range(0, n, partition_size)]
    else:
        if npartitions is None:
            npartitions = n if n <= DEFAULT_PARTITIONS else DEFAULT_PARTITIONS
        elif npartitions < 1:
            raise ValueError(f"npartitions must be positive, got {npartitions!r}")
        bounds = _bounds(n, max(1, min(npartitions, n)))
    if not bounds:
        bounds = [(0, 0)]
    name = f"from-sequence-{tokenize(seq, bounds)}"
    layer = {(name, i): Data((name, i), seq[a:b]) for i, (a, b) in enumerate(bounds)}
    return Bag({name: layer}, name, len(bounds))


def range(n, npartitions):
    """A Bag of ``0 .. n-1`` in *npartitions* partitions (built lazily)."""
    if npartitions < 1:
        raise ValueError(f"npartitions must be positive, got {npartitions!r}")
    name = f"range-{tokenize(n, npartitions)}"
    layer = {(name, i): Task((name, i), chunk.range_part, a, b)
             for i, (a, b) in enumerate(_bounds(n, npartitions))}
    return Bag({name: layer}, name, npartitions)


def from_delayed(values):
    """A Bag whose partitions are the values of Delayed objects (iterables)."""
    if isinstance(values, Delayed):
        values = [values]
    values = list(values)
    if not values:
        raise ValueError("from_delayed needs at least one Delayed value")
    for v in values:
        if not isinstance(v, Delayed):
            raise TypeError(f"from_delayed expects Delayed objects, got {type(v).__name__}")
    name = f"from-delayed-{tokenize(*[v.key for v in values])}"
    layer = {(name, i): Task((name, i), chunk.as_list, Ref(v.key)) for i, v in enumerate(values)}
    # one walk over all the values: shared sub-graphs are collected once
    return Bag({f"{name}-inputs": collect_delayed(values, {}), name: layer}, name, len(values))


def concat(bags):
    """One Bag with the partitions of *bags*, one after the other."""
    bags = list(bags)
    if not bags:
        raise ValueError("concat needs at least one Bag")
    name = f"concat-{tokenize(*bags)}"
    layer = {}
    k = 0
    for b in bags:
        for i in builtins.range(b.npartitions):
            layer[(name, k)] = Alias((name, k), (b._name, i))
            k += 1
    return Bag(merge_layers(*bags, name=name, layer=layer), name, k)


def repartition(bag, n):
    old = bag.npartitions
    name = f"repartition-{tokenize(bag, n)}"
    layer = {}
    if n <= old:
        for j, (a, b) in enumerate(_bounds(old, n)):
            layer[(name, j)] = Task((name, j), chunk.concat_lists,
                                    [Ref((bag._name, i)) for i in builtins.range(a, b)])
    else:
        j = 0
        for i, (a, b) in enumerate(_bounds(n, old)):  # input i gives b - a pieces
            for piece in builtins.range(b - a):
                layer[(name, j)] = Task((name, j), chunk.slice_piece, Ref((bag._name, i)),
                                        piece, b - a)
                j += 1
    return Bag(merge_layers(bag, name=name, layer=layer), name, n)


def product(bag, other):
    """``bag.product(other)``: partition ``(i, j)`` holds the pairs of ``bag``'s partition
    ``i`` with ``other``'s partition ``j``, in that order (n x m partitions, as Dask's)."""
    if not isinstance(other, Bag):
        raise TypeError(f"product: other must be a Bag, got {type(other).__name__}")
    name = f"product-{tokenize(bag, other)}"
    layer = {}
    m = other.npartitions
    for i in builtins.range(bag.npartitions):
        for j in builtins.range(m):
            key = (name, i * m + j)
            layer[key] = Task(key, chunk.product_chunk, Ref((bag._name, i)), Ref((other._name, j)))
    return Bag(merge_layers(bag, other, name=name, layer=layer), name, bag.npartitions * m)
