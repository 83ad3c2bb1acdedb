"""``x[index] = value`` for basic indexes (ints, slices with any step, ``Ellipsis``,
``None``): a new layer, the ``Array`` object then stands for the result.

::

    x: chunks ((4, 4, 2),)     x[1:9:3] = [10, 20, 30]
    block 0: positions 1       -> copy of block 0 with [1] = value[0:1]
    block 1: positions 4, 7    -> copy of block 1 with [0:4:3] = value[1:3]
    block 2: untouched         -> an alias of x's block 2 (no task runs)

The value (a scalar, anything NumPy turns into an array, or a shoal array) is
broadcast to the selection's shape as NumPy broadcasts it (extra leading length-1
dimensions allowed).  A NumPy value is converted to x's dtype now, with NumPy's
own assignment (so its errors come now), and each touched block gets the slice of
it that falls there; a shoal value is broadcast and rechunked to the selection's
pieces, so block *i* of the value lands in the *i*-th touched block.
"""

from __future__ import annotations

import numpy as np

from shoal.array.core import Array
from shoal.array.slicing import _slice_pieces, _token_item, block_of, normalize_index
from shoal.collection import merge_layers
from shoal.core.spec import Alias, Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["setitem"]


def _assign(block, index, value):
    out = np.array(block, copy=True)
    out[index] = value
    return out


def _plan(x: Array, items):
    """Per input dimension ``{block: (local index, value position)}`` and the shape of
    the selection, ``None`` dimensions (length 1) included."""
    per_dim, sel_shape, new_axes = [], [], []
    d = 0
    for i in items:
        if i is None:
            new_axes.append(len(sel_shape))
            sel_shape.append(1)
            continue
        n, dim_chunks = x.shape[d], x.chunks[d]
        if isinstance(i, int):
            b, local = block_of(i, n, dim_chunks, d)
            per_dim.append({b: (local, None)})
        else:
            length = len(range(n)[i])
            sel_shape.append(length)
            entry, at = {}, 0
            for pos, (b, s) in enumerate(_slice_pieces(i, dim_chunks) if length else []):
                count = len(range(*s.indices(dim_chunks[b])))
                entry[b] = (s, (pos, slice(at, at + count)))
                at += count
            per_dim.append(entry)
        d += 1
    return per_dim, tuple(sel_shape), new_axes


def _fit(shape, sel_shape):
    """How many leading length-1 dimensions of the value to drop (NumPy allows them)."""
    drop = 0
    while len(shape) - drop > len(sel_shape) and shape[drop] == 1:
        drop += 1
    try:
        if np.broadcast_shapes(tuple(shape[drop:]), sel_shape) != sel_shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"could not broadcast input array from shape {tuple(shape)} into "
                         f"shape {sel_shape}") from None
    return drop


def setitem(x: Array, key, value) -> Array:
    """The array *x* with ``x[key] = value`` applied (see the module docstring)."""
    keys = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, Array) for k in keys):
        raise NotImplementedError("assignment through a shoal array index is only supported "
                                  "as x[mask] = value, mask a boolean shoal array of x's shape")
    items = normalize_index(key, x.shape)
    if any(isinstance(i, np.ndarray) for i in items):
        raise NotImplementedError("shoal arrays take assignment with basic indexes (ints, "
                                  "slices, Ellipsis, None) or x[mask] = value, mask a boolean "
                                  "shoal array of x's shape; not with NumPy index arrays")
    per_dim, sel_shape, new_axes = _plan(x, items)
    drop_new = tuple(0 if k in new_axes else slice(None) for k in range(len(sel_shape)))
    if isinstance(value, Array):
        from shoal.array.manipulation import broadcast_to

        drop = _fit(value.shape, sel_shape)
        v = value[(0,) * drop] if drop else value
        v = broadcast_to(v, sel_shape)[drop_new] if v.shape != sel_shape else v[drop_new]
        if 0 in v.shape:
            return x
        pieces = []  # the value's chunks: one per touched block, in selection order
        for e in per_dim:
            spans = sorted(h[1] for h in e.values() if h[1] is not None)
            if spans:
                pieces.append(tuple(w.stop - w.start for _, w in spans))
        v = v.rechunk(tuple(pieces))
        token = v.name
    else:
        arr = np.empty(np.shape(value), dtype=x.dtype)
        arr[...] = value  # NumPy's own conversion (and its errors), now; a private copy
        drop = _fit(arr.shape, sel_shape)
        v = np.broadcast_to(arr[(0,) * drop], sel_shape)[drop_new]
        if 0 in v.shape:
            return x
        token = tokenize(arr)
    name = f"setitem-{tokenize(x, [_token_item(i) for i in items], token)}"
    layer = {}
    for idx in np.ndindex(*x.numblocks):
        key_ = (name, *idx)
        hits = [e.get(b) for e, b in zip(per_dim, idx)]
        if any(h is None for h in hits):
            layer[key_] = Alias(key_, x._key(idx))
            continue
        local = tuple(h[0] for h in hits)
        where = [h[1] for h in hits if h[1] is not None]
        if isinstance(v, Array):
            part = Ref(v._key(tuple(w[0] for w in where)))
        else:
            part = v[tuple(w[1] for w in where)]
        layer[key_] = Task(key_, _assign, Ref(x._key(idx)), local, part)
    layers = merge_layers(x, v, name=name, layer=layer)
    return Array(layers, name, x.chunks, x.dtype)
