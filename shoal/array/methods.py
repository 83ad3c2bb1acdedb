"""``Array`` methods that forward to the module functions, and ``x.blocks``.

::

    x.topk(k)  x.argtopk(k)  x.moment(order)  x.repeat(n)  x.swapaxes(a, b)  x.trace()
    x.to_dask_dataframe(columns)            -> shoal.dataframe.from_array(x, columns)
    x.blocks[i, 1:3]  (also x.partitions)   -> the array of those blocks:

        x: blocks (0,0) (0,1) (0,2)        x.blocks[0, 1:]: (0,0) -> x's (0,1)
                  (1,0) (1,1) (1,2)                          (0,1) -> x's (0,2)

A block selection is a layer of aliases (no data moves, no task runs): each new key
names the block it is.  Indexes are per block axis, as NumPy's basic indexing: an int
(the axis stays, one block long: Dask keeps it), a slice, or a list of ints.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.core import Array
from shoal.collection import merge_layers
from shoal.core.spec import Alias
from shoal.core.tokenize import tokenize

__all__ = ["BlockView"]


class BlockView:
    """``x.blocks``: ``x.blocks[index]`` is the array of the blocks *index* selects."""

    def __init__(self, array: Array):
        self._array = array

    @property
    def shape(self) -> tuple:
        return self._array.numblocks

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __getitem__(self, index) -> Array:
        x = self._array
        index = index if isinstance(index, tuple) else (index,)
        if any(i is Ellipsis for i in index):
            at = [k for k, i in enumerate(index) if i is Ellipsis]
            if len(at) > 1:
                raise IndexError("blocks[...]: an index can only have one ellipsis")
            fill = (slice(None),) * (x.ndim - len(index) + 1)
            index = index[:at[0]] + fill + index[at[0] + 1:]
        if len(index) > x.ndim:
            raise IndexError(f"blocks[...]: {len(index)} indexes for {x.ndim} block axes")
        index = index + (slice(None),) * (x.ndim - len(index))
        picks = [_picked(i, n, axis) for axis, (i, n) in enumerate(zip(index, x.numblocks))]
        name = f"blocks-{tokenize(x, [tuple(p) for p in picks])}"
        layer = {}
        for new in np.ndindex(*[len(p) for p in picks]):
            old = tuple(p[j] for p, j in zip(picks, new))
            key = (name, *new)
            layer[key] = Alias(key, x._key(old))
        chunks = tuple(tuple(c[j] for j in p) for c, p in zip(x.chunks, picks))
        return Array(merge_layers(x, name=name, layer=layer), name, chunks, x.dtype)


def _picked(index, n: int, axis: int) -> list:
    """The block numbers *index* selects along a block axis of *n* blocks."""
    if isinstance(index, numbers.Integral) and not isinstance(index, bool):
        if not -n <= index < n:
            raise IndexError(f"blocks[...]: block {index} is out of range for block axis "
                             f"{axis} with {n} blocks")
        return [int(index) % n]
    if isinstance(index, slice):
        return list(range(n))[index]
    if isinstance(index, (list, np.ndarray)) and all(
            isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in index):
        return [_picked(int(i), n, axis)[0] for i in index]
    raise IndexError(f"blocks[...]: block indexes are ints, slices or lists of ints, got "
                     f"{index!r}")


def _forward(module: str, name: str, doc: str):
    def method(self, *args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module), name)(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = doc
    return method


def to_dask_dataframe(self, columns=None, index=None, meta=None):
    """A ``shoal.dataframe`` frame of this 1-D or 2-D array (``dd.from_array``)."""
    from shoal.dataframe import from_array

    if index is not None or meta is not None:
        raise NotImplementedError("to_dask_dataframe(index=/meta=) is not supported")
    return from_array(self, columns=columns)


for _name, _module, _doc in (
        ("topk", "shoal.array.topk", "The ``k`` largest (``k < 0``: smallest) along an axis."),
        ("argtopk", "shoal.array.topk", "Where the ``k`` largest (smallest) are along an axis."),
        ("moment", "shoal.array.statistics", "The central moment of ``order``."),
        ("repeat", "shoal.array.manipulation", "Each element repeated, as ``numpy.repeat``."),
        ("swapaxes", "shoal.array.manipulation", "Two axes swapped."),
        ("trace", "shoal.array.triangles", "The sum along a diagonal.")):  # fmt: skip
    setattr(Array, _name, _forward(_module, _name, _doc))
Array.to_dask_dataframe = to_dask_dataframe
Array.blocks = property(BlockView, doc="The blocks, indexed as an array of blocks.")
Array.partitions = Array.blocks
