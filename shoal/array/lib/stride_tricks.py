"""``sliding_window_view``: every window of a blocked array, as NumPy's.

A window starting in block ``i`` may run past that block's end by up to
``window - 1`` elements, so each block is first extended by that many elements of
its successors (``halo._overlap`` with depth ``(0, window - 1)`` and no boundary:
it reads from as many following blocks as a window longer than a chunk needs, and
nothing is rechunked).  NumPy's own ``sliding_window_view`` of an extended block
then gives exactly the windows that start in the block.  Output blocks therefore
keep the input's chunk boundaries along each windowed axis, cut at the last window
start; blocks in which no window starts are dropped (their extension tasks are
never referenced, so they are never run).  Each new window dimension is one chunk.

An axis may be windowed more than once (NumPy allows it); its depth is then the sum
of ``window - 1``.  A zero window, or an empty input, gives an empty result, built
directly from NumPy's answer on a zero-strided stand-in of the input's shape.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.core import Array, asarray, from_array, offsets
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["sliding_window_view"]


def _windows(x_shape, window_shape, axis):
    """``(window_shape, axis)`` as checked tuples of ints (axes made non-negative)."""
    ndim = len(x_shape)
    if isinstance(window_shape, numbers.Integral):
        window_shape = (window_shape,)
    try:
        window_shape = tuple(window_shape)
    except TypeError:
        raise TypeError(f"sliding_window_view: window_shape must be an int or a tuple of ints, "
                        f"got {window_shape!r}") from None
    if not all(isinstance(w, numbers.Integral) and not isinstance(w, bool) for w in window_shape):
        raise TypeError(f"sliding_window_view: window_shape must be ints, got {window_shape!r}")
    if any(w < 0 for w in window_shape):
        raise ValueError(f"sliding_window_view: window_shape {window_shape} contains a negative "
                         f"size")
    if axis is None:
        if len(window_shape) != ndim:
            raise ValueError(f"sliding_window_view: window_shape {window_shape} needs one size "
                             f"per dimension ({ndim}) when axis is not given")
        axis = tuple(range(ndim))
    else:
        axis = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
        if len(axis) != len(window_shape):
            raise ValueError(f"sliding_window_view: axis {axis} and window_shape "
                             f"{window_shape} must have the same length")
        for a in axis:
            if not isinstance(a, numbers.Integral) or not -ndim <= a < ndim:
                raise ValueError(f"sliding_window_view: axis {a!r} is out of range for an "
                                 f"array of {ndim} dimensions")
        axis = tuple(int(a) % ndim for a in axis)
    depth = dict.fromkeys(axis, 0)
    for a, w in zip(axis, window_shape):
        depth[a] += w - 1
    for a, d in depth.items():
        if 0 not in [w for b, w in zip(axis, window_shape) if b == a] and d >= x_shape[a]:
            raise ValueError(f"sliding_window_view: window_shape {window_shape} is larger than "
                             f"axis {a} of length {x_shape[a]}")
    return tuple(int(w) for w in window_shape), axis, depth


def _window_block(extended, window_shape, axis):
    return np.lib.stride_tricks.sliding_window_view(extended, window_shape, axis)


def sliding_window_view(x, window_shape, axis=None):
    """All windows of *window_shape* over *axis* (all axes when None), as NumPy's
    ``numpy.lib.stride_tricks.sliding_window_view``: shape ``x.shape`` with each
    windowed length ``n`` now ``n - w + 1``, followed by *window_shape*."""
    x = asarray(x)
    window_shape, axis, depth = _windows(x.shape, window_shape, axis)
    if 0 in window_shape or x.size == 0:  # (empty: NumPy's answer on a stand-in)
        stand_in = np.broadcast_to(np.empty((), x.dtype), x.shape)
        empty = np.lib.stride_tricks.sliding_window_view(stand_in, window_shape, axis)
        return from_array(np.array(empty), chunks=-1)
    from shoal.array.halo import _overlap

    extended, _ = _overlap(x, {a: (0, depth.get(a, 0)) for a in range(x.ndim)},
                           dict.fromkeys(range(x.ndim), "none"))
    keep, chunks = [], []  # per axis: input blocks in which a window starts; their lengths
    for a, dim in enumerate(x.chunks):
        last = x.shape[a] - depth.get(a, 0)  # number of window starts along this axis
        starts = offsets(dim)
        lengths = [min(c, last - s) for c, s in zip(dim, starts)]
        keep.append([i for i, n in enumerate(lengths) if n > 0])
        chunks.append(tuple(lengths[i] for i in keep[-1]))
    name = f"sliding-window-view-{tokenize(x, window_shape, axis)}"
    tail = (0,) * len(window_shape)
    layer = {}
    for out_idx in np.ndindex(*[len(k) for k in keep]):
        src = tuple(keep[a][i] for a, i in enumerate(out_idx))
        key = (name, *out_idx, *tail)
        layer[key] = Task(key, _window_block, Ref(extended._key(src)), window_shape, axis)
    chunks += [(w,) for w in window_shape]
    return Array(merge_layers(extended, name=name, layer=layer), name, chunks, x.dtype)
