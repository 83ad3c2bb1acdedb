"""The base of shoal's partitioned collections (bag, dataframe, array).

A collection is a *name* plus *layers*::

    layers = {"read-csv-1f2e": {("read-csv-1f2e", 0): Task(...), ...},
              "getitem-9ab0": {("getitem-9ab0", 0): Task(..., Ref(("read-csv-1f2e", 0))), ...}}
    name   = "getitem-9ab0"          # the layer holding this collection's own keys

Every operation builds one new layer keyed ``(name, i)`` per output partition and
returns a new collection whose layers are its inputs' layers plus that one (a
shallow dict merge: O(number of layers), never a copy of every task).  The graph
is flattened only when computing.  Names come from ``tokenize`` of the operation
and its inputs, so the same expression built twice has the same keys and a shared
sub-expression is computed once.

:class:`Collection` implements the Dask collection protocol on top of that;
subclasses define ``__dask_keys__``, ``__dask_postcompute__`` and
``__dask_postpersist__`` (what a computed result becomes).
"""

from __future__ import annotations

from shoal.base import compute, persist, scheduler_get
from shoal.core.spec import Data, to_dask_graph

__all__ = ["Collection", "Computable", "merge_layers", "persisted_layers"]


def merge_layers(*collections, name=None, layer=None) -> dict:
    """The layers of *collections* plus an optional new ``{name: layer}``."""
    out: dict = {}
    for c in collections:
        if isinstance(c, Collection):
            out.update(c._layers)
    if name is not None:
        out[name] = layer
    return out


def persisted_layers(name: str, results: dict) -> dict:
    """Layers for a collection rebuilt from computed ``{key: value}`` results."""
    return {name: {k: Data(k, v) for k, v in results.items()}}


class Computable:
    """``compute`` / ``persist`` / ``visualize``: what every lazy object offers.

    Shared by :class:`Collection` and ``shoal.delayed.Delayed`` (which keeps its
    ``__slots__``: this mixin adds no instance state).
    """

    __slots__ = ()

    @staticmethod
    def __dask_optimize__(graph, keys, **kwargs):
        return graph  # shoal's engines fuse when they run

    def compute(self, **kwargs):
        """Compute this object (options as for :func:`shoal.compute`)."""
        return compute(self, **kwargs)[0]

    def persist(self, **kwargs):
        """Compute and return the same object backed by its results."""
        return persist(self, **kwargs)[0]

    def visualize(self, filename="mydask", format=None, **kwargs):
        """Draw the task graph with graphviz (see :func:`shoal.visualize`)."""
        from shoal.dot import visualize

        return visualize(self, filename=filename, format=format, **kwargs)


class Collection(Computable):
    """Shared protocol plumbing; see the module docstring."""

    _layers: dict
    _name: str

    # -- graph ------------------------------------------------------------
    def __shoal_graph__(self) -> dict:
        graph: dict = {}
        for layer in self._layers.values():
            graph.update(layer)
        return graph

    def __dask_graph__(self) -> dict:
        return to_dask_graph(self.__shoal_graph__())

    @property
    def dask(self) -> dict:
        """The whole graph in Dask's spec."""
        return self.__dask_graph__()

    def __dask_layers__(self):
        return (self._name,)

    def __dask_tokenize__(self):
        return (type(self).__name__, self._name)

    __dask_scheduler__ = staticmethod(scheduler_get("threads"))

