"""``x.vindex[i0, i1, ...]``: point-wise (NumPy "fancy") indexing, Dask's spelling.

The integer arrays in the index are broadcast together; point ``p`` of the result
is ``x[i0[p], i1[p], ...]``.  As in Dask, the broadcast dimensions always come
first, followed by the axes the index does not select points on::

    x: (6, 7, 5)   x.vindex[[0, 5], :, [1, 2]]  ->  (2, 7): x[0, :, 1] and x[5, :, 2]

Ints and slices are applied first, with ordinary indexing (``slicing.py``); then
the points are grouped by the input block they fall in::

    points (in order):  p0 p1 p2 p3 p4      blocks:  p0, p3 -> block (0, 1)
    output block: a run of points                   p1, p2, p4 -> block (1, 0)
    take tasks:   one per (output block, input block touched): block[local points]
    merge task:   one per output block: the takes scattered back to point order

so only the blocks holding points are read.  Output blocks hold at most as many
points as the largest input block has positions on the selected axes.  Boolean
arrays and ``None`` are refused, as Dask does; an index out of bounds raises
``IndexError`` naming the axis.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.chunking import offsets
from shoal.array.core import Array
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["VIndex", "vindex"]


# -- per-block kernels ------------------------------------------------------------------

def vindex_take(block, axes, local):
    """``block``'s points (``local``: one int array per selected axis): ``(n, *rest)``."""
    front = np.moveaxis(block, axes, list(range(len(axes))))
    return front[tuple(local)]


def vindex_merge(parts, positions, npoints, point_shape):
    """The takes scattered back into point order, the points reshaped to ``point_shape``."""
    first = parts[0]
    out = np.empty((npoints, *first.shape[1:]), dtype=first.dtype)
    for part, where in zip(parts, positions):
        out[where] = part
    return out.reshape(*point_shape, *first.shape[1:])


# -- the index --------------------------------------------------------------------------

def _split(x: Array, index) -> tuple:
    """``(basic index, {axis of the sliced array: int array}, original axis of each)``."""
    index = index if isinstance(index, tuple) else (index,)
    if sum(i is Ellipsis for i in index) > 1:
        raise IndexError("vindex: an index can only have a single ellipsis ('...')")
    at = next((k for k, i in enumerate(index) if i is Ellipsis), None)
    if at is not None:
        index = index[:at] + (slice(None),) * (x.ndim - len(index) + 1) + index[at + 1:]
    if len(index) > x.ndim:
        raise IndexError(f"vindex: too many indices ({len(index)}) for an array of {x.ndim} "
                         f"dimensions")
    index = index + (slice(None),) * (x.ndim - len(index))
    basic, arrays, origin, kept = [], {}, {}, 0
    for axis, i in enumerate(index):
        if i is None:
            raise IndexError(f"vindex does not support indexing with None (np.newaxis), got "
                             f"{index!r}")
        if isinstance(i, Array):
            raise NotImplementedError("vindex with a shoal array index is not supported; "
                                      "compute the index first")
        if isinstance(i, (numbers.Integral, np.integer)) and not isinstance(i, (bool, np.bool_)):
            basic.append(int(i))
            continue
        basic.append(i if isinstance(i, slice) else slice(None))
        if not isinstance(i, slice):
            arrays[kept], origin[kept] = _int_array(i, axis), axis
        kept += 1
    return tuple(basic), arrays, origin


def _int_array(i, axis: int) -> np.ndarray:
    arr = np.asarray(i)
    if arr.dtype.kind == "b":
        raise IndexError(f"vindex does not support indexing with boolean arrays (axis {axis})")
    if arr.size == 0:
        arr = arr.astype(np.intp)
    if arr.dtype.kind not in "iu":
        raise IndexError(f"vindex: the index for axis {axis} must hold integers, got dtype "
                         f"{arr.dtype}")
    return arr


def _checked(arrays: dict, origin: dict, shape: tuple) -> dict:
    """Bounds checked, negatives wrapped, broadcast together."""
    out = {}
    for axis, arr in arrays.items():
        n = shape[axis]
        if arr.size and (arr.max() >= n or arr.min() < -n):
            raise IndexError(f"vindex key has entries out of bounds for indexing along axis "
                             f"{origin[axis]} of size {n}: {arr!r}")
        arr = arr.astype(np.intp)  # in bounds: fits; int8 + n could overflow
        out[axis] = np.where(arr < 0, arr + n, arr)
    try:
        return dict(zip(out, np.broadcast_arrays(*out.values())))
    except ValueError:
        shapes = " ".join(str(a.shape) for a in out.values())
        raise IndexError(f"shape mismatch: indexing arrays could not be broadcast together "
                         f"with shapes {shapes}") from None


# -- the graph --------------------------------------------------------------------------

def _locate(points: np.ndarray, dim_chunks: tuple) -> tuple:
    """``(block number, position inside it)`` of each point along one axis."""
    ends = np.cumsum(dim_chunks)
    block = np.searchsorted(ends, points, side="right")
    return block, points - np.asarray(offsets(dim_chunks), dtype=np.intp)[block]


def _row_chunks(point_shape: tuple, x: Array, axes: list) -> tuple:
    """Chunks along the first point dimension: about one input block's worth of points."""
    per_block = int(np.prod([max(x.chunks[a], default=1) for a in axes]))
    row = max(1, int(np.prod(point_shape[1:])))
    size = max(1, per_block // row)
    full, rest = divmod(point_shape[0], size)
    return (size,) * full + ((rest,) if rest or not full else ())


def vindex(x: Array, index) -> Array:
    """The points ``index`` selects; see the module docstring."""
    basic, arrays, origin = _split(x, index)
    if not arrays:
        if all(s == slice(None) for s in basic):
            return x
        if not all(isinstance(s, slice) for s in basic):  # ints: ordinary indexing, as Dask
            return x[basic]
        raise IndexError(f"vindex requires at least one array to vectorize over when the "
                         f"slices do not cover the whole array; use x[...] instead, got {index!r}")
    x = x[basic] if any(s != slice(None) for s in basic) else x
    arrays = _checked(arrays, origin, x.shape)
    axes = sorted(arrays)
    point_shape = arrays[axes[0]].shape
    if not point_shape:  # 0-d indexes: one point, no point dimension
        return _points(x, {a: arr.reshape(1) for a, arr in arrays.items()}, axes)[0]
    return _points(x, arrays, axes)


def _points(x: Array, arrays: dict, axes: list) -> Array:
    point_shape = arrays[axes[0]].shape
    flat = [arrays[a].ravel() for a in axes]
    located = [_locate(p, x.chunks[a]) for p, a in zip(flat, axes)]
    rest = [d for d in range(x.ndim) if d not in arrays]
    token = tokenize(x, axes, [f.tobytes() for f in flat], point_shape)
    name, part = f"vindex-{token}", f"vindex-take-{token}"
    rows = _row_chunks(point_shape, x, axes)
    row = int(np.prod(point_shape[1:]))
    layer = {}
    for o, (start, size) in enumerate(zip(offsets(rows), rows)):
        span = slice(start * row, (start + size) * row)
        _out_block(layer, x, axes, rest, located, (o,) + (0,) * (len(point_shape) - 1), span,
                   (name, part), (size, *point_shape[1:]))
    chunks = (rows,) + tuple((n,) for n in point_shape[1:]) + tuple(x.chunks[d] for d in rest)
    return Array(merge_layers(x, name=name, layer=layer), name, chunks, x.dtype)


def _block_index(ndim, axes, combo, rest, ridx) -> tuple:
    idx = [0] * ndim
    for d, b in zip(list(axes) + list(rest), list(combo) + list(ridx)):
        idx[d] = int(b)
    return tuple(idx)


def _groups(blocks: np.ndarray, naxes: int) -> list:
    """``[(input block, its points in order)]`` sorted by block, without a per-point loop
    (``blocks``: one row of block numbers per selected axis, one column per point)."""
    if not blocks.shape[1]:  # no points here: an empty take from the first block
        return [((0,) * naxes, np.empty(0, dtype=np.intp))]
    combos, inverse = np.unique(blocks, axis=1, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    ends = np.cumsum(np.bincount(inverse, minlength=combos.shape[1]))[:-1]
    return list(zip(map(tuple, combos.T.tolist()), np.split(order, ends)))


def _out_block(layer, x, axes, rest, located, lead, span, names, shape):
    """The take tasks and the merge task of the output blocks at point block *lead*."""
    name, part = names
    blocks = np.stack([b[span] for b, _ in located])
    local = [pos[span] for _, pos in located]
    groups = _groups(blocks, len(axes))
    for ridx in np.ndindex(*[len(x.chunks[d]) for d in rest]):
        refs, where = [], []
        for g, (combo, members) in enumerate(groups):
            key = (part, *lead, *ridx, g)
            layer[key] = Task(key, vindex_take, Ref(x._key(_block_index(x.ndim, axes, combo,
                                                                         rest, ridx))),
                              axes, [loc[members] for loc in local])
            refs.append(Ref(key))
            where.append(members)
        out = (name, *lead, *ridx)
        layer[out] = Task(out, vindex_merge, refs, where, span.stop - span.start, shape)


class VIndex:
    """``x.vindex``: ``x.vindex[index]`` is :func:`vindex` of ``x``."""

    def __init__(self, array: Array):
        self._array = array

    def __getitem__(self, index) -> Array:
        return vindex(self._array, index)


Array.vindex = property(VIndex, doc="Point-wise (NumPy fancy) indexing: ``x.vindex[i, j]``.")
