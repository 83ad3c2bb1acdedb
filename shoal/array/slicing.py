"""``x[index]``: basic indexing, plus one integer (or boolean) array on one axis.

Basic indexing (ints, slices with any step, ``Ellipsis``, ``None``) maps every
output block to exactly one input block::

    x: chunks ((4, 4, 2),)          x[1:9:3] -> positions 1, 4, 7
    block 0 holds 0..3 -> [1]       output chunks (1, 2): one output block per
    block 1 holds 4..7 -> [4, 7]    input block touched, each a getitem task on it

so an index never reads blocks it does not need and the getitem task fuses with
whatever produced its block.  Negative steps walk the blocks backwards; ints drop
their dimension; ``None`` adds one of length 1.

An integer array on one axis (a 1-d boolean mask there is turned into one) is
applied after the basic part: the positions are split into output blocks as long
as the input's largest block along that axis, and each output block takes its
positions from the few input blocks they fall in, then restores the requested
order.  (As in NumPy, when integers and the array are separated by a slice, the
array's dimension moves to the front.)  Several arrays and multi-dimensional arrays
raise ``NotImplementedError``.  An index holding shoal arrays goes to
``selection.py`` (``x[mask]``; other shoal index arrays are computed there first).
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array import chunk
from shoal.array.core import Array, offsets
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["getfield", "getitem", "normalize_index"]


def _is_int(i) -> bool:
    return isinstance(i, (numbers.Integral, np.integer)) and not isinstance(i, (bool, np.bool_))


def normalize_index(index, shape) -> list:
    """A list with one entry per input dimension, ``None`` s kept in place."""
    if not isinstance(index, tuple):
        index = (index,)
    items = []
    for i in index:
        if isinstance(i, Array):
            raise NotImplementedError(
                "indexing with a shoal array is not supported: its values (and so the "
                "result's shape) are unknown until computed; compute the index first")
        if isinstance(i, (list, tuple, np.ndarray)):  # (a tuple inside the index: a list)
            i = np.asarray(i)
            if i.size == 0 and i.dtype.kind == "f":  # [] is float to NumPy, an index to it
                i = i.astype(np.intp)
            if i.ndim == 0 and i.dtype.kind in "iu":
                i = int(i)
        elif _is_int(i):
            i = int(i)
        elif not (i is None or i is Ellipsis or isinstance(i, slice)):
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), numpy.newaxis "
                             f"(`None`) and integer or boolean arrays are valid indices, got {i!r}")
        items.append(i)
    if sum(i is Ellipsis for i in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(1 if not (i is None or i is Ellipsis) else 0 for i in items)
    used += sum(i.ndim - 1 for i in items if isinstance(i, np.ndarray) and i.dtype == bool)
    if used > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, "
                         f"but {used} were indexed")
    at = next((k for k, i in enumerate(items) if i is Ellipsis), None)
    if at is not None:
        items[at:at + 1] = [slice(None)] * (len(shape) - used)
    else:
        items += [slice(None)] * (len(shape) - used)
    return items


def _slice_pieces(s: slice, dim_chunks):
    """``[(block, local slice), ...]`` covering ``range(n)[s]`` in order."""
    n = sum(dim_chunks)
    start, stop, step = s.indices(n)
    starts = offsets(dim_chunks)
    pieces = []
    if step > 0:
        for b in range(len(dim_chunks)):
            lo, hi = starts[b], starts[b + 1]
            begin = max(start, lo)
            first = start + -(-(begin - start) // step) * step
            end = min(stop, hi)
            if first < end:
                count = -(-(end - first) // step)
                pieces.append((b, slice(first - lo, first - lo + (count - 1) * step + 1, step)))
    else:
        st = -step
        for b in reversed(range(len(dim_chunks))):
            lo, hi = starts[b], starts[b + 1]
            top = min(start, hi - 1)
            if top < lo:
                continue
            first = start - -(-(start - top) // st) * st
            bottom = max(stop + 1, lo)
            if first >= bottom:
                count = (first - bottom) // st + 1
                end = first - lo - (count - 1) * st - 1
                pieces.append((b, slice(first - lo, end if end >= 0 else None, step)))
    if not pieces:
        pieces.append((0, slice(0, 0, 1)))
    return pieces


def _piece_len(piece_slice, block_len) -> int:
    return len(range(*piece_slice.indices(block_len)))


def _field(block, field):
    return block[field]


def getfield(x: Array, field) -> Array:
    """``x['name']`` / ``x[['a', 'b']]`` on a structured (record) dtype, block by block.

    A field with a sub-array dtype (``('c', 'f4', (2,))``) adds its dimensions at the
    end, each one block long, as NumPy does.
    """
    names = x.dtype.names or ()
    wanted = [field] if isinstance(field, str) else list(field)
    missing = [f for f in wanted if f not in names]
    if missing:
        raise ValueError(f"no field {missing[0]!r} in dtype {x.dtype} (fields: {list(names)})")
    dtype = np.empty(0, x.dtype)[field].dtype
    extra = np.empty((0,), x.dtype)[field].shape[1:]
    if not extra:
        return x.map_blocks(_field, field, dtype=dtype, token="getfield")
    from shoal.array.blockwise import map_blocks

    return map_blocks(_field, x, field, dtype=dtype, token="getfield",
                      new_axis=list(range(x.ndim, x.ndim + len(extra))),
                      chunks=x.chunks + tuple((n,) for n in extra))


def getitem(x: Array, index):
    if x.dtype.names and (isinstance(index, str) or (isinstance(index, list) and index and all(
            isinstance(i, str) for i in index))):  # (fields of a dtype without: IndexError)
        return getfield(x, index)
    items = normalize_index(index, x.shape)
    arrays = [k for k, i in enumerate(items) if isinstance(i, np.ndarray)]
    if not arrays:
        return _basic(x, items)
    if len(arrays) > 1:
        raise NotImplementedError("indexing with more than one array is not supported; "
                                  "index one axis at a time")
    at = arrays[0]
    arr = items[at]
    dim = sum(1 for i in items[:at] if i is not None)
    if arr.dtype == bool:
        if arr.ndim != 1:
            raise NotImplementedError("boolean masks over several dimensions are not supported")
        if arr.shape[0] != x.shape[dim]:
            raise IndexError(f"boolean index did not match indexed array along axis {dim}; size of "
                             f"axis is {x.shape[dim]} but size of corresponding boolean axis is "
                             f"{arr.shape[0]}")
        arr = np.flatnonzero(arr)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise NotImplementedError("only one-dimensional integer arrays are supported as indices")
    advanced = [k for k, i in enumerate(items) if isinstance(i, int) or k == at]
    # NumPy puts the array's dimension first when integers and the array are not adjacent
    first = advanced != list(range(advanced[0], advanced[-1] + 1))
    n = x.shape[dim]
    pos = arr.astype(np.intp)
    bad = (pos < -n) | (pos >= n)
    if bad.any():
        raise IndexError(f"index {int(pos[bad][0])} is out of bounds for axis {dim} with size {n}")
    pos = np.where(pos < 0, pos + n, pos)
    items = list(items)
    items[at] = slice(None)
    y = _basic(x, items)
    axis = sum(1 for i in items[:at] if not isinstance(i, int))
    out = take(y, pos, axis)
    if first and axis:
        from shoal.array.rechunk import transpose

        out = transpose(out, (axis, *[d for d in range(out.ndim) if d != axis]))
    return out


def block_of(i: int, n: int, dim_chunks: tuple, axis: int) -> tuple:
    """``(block, index in it)`` of integer index *i* along an axis of length *n*."""
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
    i %= n
    starts = offsets(dim_chunks)
    b = int(np.searchsorted(starts, i, side="right")) - 1
    return b, i - starts[b]


def _basic(x: Array, items) -> Array:
    if all(isinstance(i, slice) and i == slice(None) for i in items):
        return x
    out_chunks, per_dim = [], []  # per_dim: (input dim or None, [(block, local index)])
    d = 0
    for i in items:
        if i is None:
            per_dim.append((None, [(None, None)]))
            out_chunks.append((1,))
            continue
        dim_chunks = x.chunks[d]
        n = x.shape[d]
        if isinstance(i, int):
            per_dim.append((d, [block_of(i, n, dim_chunks, d)]))
        else:
            pieces = _slice_pieces(i, dim_chunks)
            per_dim.append((d, pieces))
            out_chunks.append(tuple(_piece_len(s, dim_chunks[b]) for b, s in pieces))
        d += 1
    name = f"getitem-{tokenize(x, [_token_item(i) for i in items])}"
    layer = {}
    out_dims = [k for k, i in enumerate(items) if not isinstance(i, int)]
    for idx in np.ndindex(*[len(c) for c in out_chunks]):
        choice = {}
        for k, j in zip(out_dims, idx):
            choice[k] = per_dim[k][1][j]
        in_idx, local = [], []
        for k, (dim, pieces) in enumerate(per_dim):
            b, loc = choice.get(k, pieces[0])
            local.append(loc)
            if dim is not None:
                in_idx.append(b)
        key = (name, *idx)
        layer[key] = Task(key, chunk.getitem, Ref(x._key(tuple(in_idx))), tuple(local))
    return Array(merge_layers(x, name=name, layer=layer), name, out_chunks, x.dtype)


def _token_item(i):
    return ("slice", i.start, i.stop, i.step) if isinstance(i, slice) else i


def take(x: Array, positions, axis: int) -> Array:
    """``numpy.take(x, positions, axis)`` for in-range, non-negative *positions*."""
    starts = offsets(x.chunks[axis])
    size = max(max(x.chunks[axis]), 1)
    pieces = [positions[i:i + size] for i in range(0, len(positions), size)] or [positions[:0]]
    name = f"take-{tokenize(x, positions, axis)}"
    plan = []
    for p in pieces:
        blocks = np.searchsorted(starts[1:], p, side="right") if len(p) else np.zeros(0, np.intp)
        order = np.argsort(blocks, kind="stable")
        sorted_blocks = blocks[order]
        used = [int(b) for b in np.unique(sorted_blocks)] or [0]
        locals_ = [(p[order][sorted_blocks == b] - starts[b]).astype(np.intp) for b in used]
        restore = None if np.array_equal(order, np.arange(len(p))) else np.argsort(order)
        plan.append((used, locals_, restore))
    chunks = list(x.chunks)
    chunks[axis] = tuple(len(p) for p in pieces)
    layer = {}
    for idx in np.ndindex(*[len(c) for c in chunks]):
        used, locals_, restore = plan[idx[axis]]
        refs = [Ref(x._key(idx[:axis] + (b,) + idx[axis + 1:])) for b in used]
        key = (name, *idx)
        layer[key] = Task(key, chunk.take_pieces, refs, locals_, axis, restore)
    return Array(merge_layers(x, name=name, layer=layer), name, chunks, x.dtype)
