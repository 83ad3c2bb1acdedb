"""``pad``: an array with values added before and after each axis, as ``numpy.pad``.

NumPy pads one axis after the other, each over the full extent of the axes already
padded, so the corners hold the values of the last axis padded.  shoal does the
same with lazy pieces joined by ``concatenate`` (the input's blocks are reused
under new keys, never copied)::

    axis 0:  [before | x | after]            x: the array padded so far
    axis 1:  [before | that | after]  ...

and the pieces are, per mode:

=============  ==================================================================
constant       ``full`` of the value (``constant_values``: one, or one per axis
               and side)
empty          the same with zeros (NumPy leaves the values undefined)
edge           the first or last slice of the axis, broadcast to the width
reflect,       slices of the axis in reverse order.  A pad wider than the axis
symmetric      is filled in rounds, exactly as NumPy's loop: each round reflects
               what the previous rounds made (a period of the original length)
               so the rounds number about log3(width / length).
               ``reflect_type="odd"``: ``2 * edge - reflection``
wrap           slices from the other end, in rounds the same way
linear_ramp    ``numpy.linspace`` from ``end_values`` to the edge slice, one block
               along the axis per side
maximum, mean  the statistic of the first or last ``stat_length`` slices of the
median,        axis (a reduction tree; ``median`` takes those slices whole along
minimum        the axis into one block), rounded for integer arrays and
               broadcast to the width
=============  ==================================================================

The pieces along the padded axis are split like the array's largest block there.
A function as mode raises ``NotImplementedError``; unknown modes and keyword
arguments raise NumPy's ``ValueError`` s.
"""

from __future__ import annotations

import numpy as np

from shoal.array import reductions
from shoal.array.blockwise import map_blocks
from shoal.array.core import Array, asarray, normalize_chunks
from shoal.array.creation import concatenate, full, zeros
from shoal.array.manipulation import broadcast_to, flip

__all__ = ["pad"]

_KWARGS = {"constant": {"constant_values"}, "empty": set(), "edge": set(), "wrap": set(),
           "reflect": {"reflect_type"}, "symmetric": {"reflect_type"},
           "linear_ramp": {"end_values"}, "maximum": {"stat_length"}, "mean": {"stat_length"},
           "median": {"stat_length"}, "minimum": {"stat_length"}}
_REDUCE = {"maximum": reductions.max, "mean": reductions.mean, "minimum": reductions.min}


def _pairs(x, ndim: int, as_index: bool = False) -> list:
    """*x* broadcast to one ``(before, after)`` pair per axis, as NumPy reads it."""
    if x is None:
        return [[None, None]] * ndim
    x = np.asarray(x)
    if as_index:
        x = np.round(x).astype(np.intp)
        if x.size and x.min() < 0:
            raise ValueError("index can't contain negative values")
    if x.size == 1:
        x = np.broadcast_to(x.reshape(()), (ndim, 2))
    elif x.size == 2 and x.shape != (2, 1):
        x = np.broadcast_to(x.reshape(2), (ndim, 2))
    return np.broadcast_to(x, (ndim, 2)).tolist()


def _widths(pad_width, ndim: int) -> list:
    if isinstance(pad_width, dict):  # NumPy 2.3's {axis: width or (before, after)}
        seq = [(0, 0)] * ndim
        for axis, width in pad_width.items():
            seq[axis] = (width, width) if np.ndim(width) == 0 else tuple(width)
        pad_width = seq
    widths = np.asarray(pad_width)
    if widths.dtype.kind != "i":
        raise TypeError("`pad_width` must be of integral type.")
    return _pairs(widths, ndim, as_index=True)


def _side(x: Array, axis: int, index) -> Array:
    return x[(slice(None),) * axis + (index,)]


def _ends(x: Array, axis: int) -> tuple:
    """The first and the last slice along *axis* (length 1 there)."""
    return _side(x, axis, slice(0, 1)), _side(x, axis, slice(-1, None))


def _piece_chunks(x: Array, axis: int, width: int) -> tuple:
    size = max(max(x.chunks[axis]), 1)
    return x.chunks[:axis] + normalize_chunks(size, (width,)) + x.chunks[axis + 1:]


def _piece_shape(x: Array, axis: int, width: int) -> tuple:
    return x.shape[:axis] + (width,) + x.shape[axis + 1:]


def _constant(x, axis, widths, values):
    parts = []
    for width, value in zip(widths, values):
        parts.append(full(_piece_shape(x, axis, width), value, dtype=x.dtype,
                          chunks=_piece_chunks(x, axis, width)) if width else None)
    return parts


def _edge(x, axis, widths):
    return [broadcast_to(end, _piece_shape(x, axis, w), chunks=_piece_chunks(x, axis, w))
            if w else None for end, w in zip(_ends(x, axis), widths)]


def _ramp(edge, end_value, width, axis, ramp_dtype, reverse):
    ramp = np.linspace(end_value, edge.squeeze(axis), width, endpoint=False, dtype=ramp_dtype,
                       axis=axis)
    return ramp[(slice(None),) * axis + (slice(None, None, -1),)] if reverse else ramp


def _linear_ramp(x, axis, widths, end_values):
    return [map_blocks(_ramp, end, end_value=value, width=w, axis=axis, dtype=x.dtype,
                       ramp_dtype=x.dtype, reverse=side == 1,
                       chunks=end.chunks[:axis] + ((w,),) + end.chunks[axis + 1:])
            if w else None
            for side, (end, value, w) in enumerate(zip(_ends(x, axis), end_values, widths))]


def _median(window, axis):
    whole = window.rechunk({axis: -1})
    chunks = whole.chunks[:axis] + ((1,),) + whole.chunks[axis + 1:]
    return map_blocks(np.median, whole, axis=axis, keepdims=True, chunks=chunks)


def _stat(x, axis, widths, lengths, mode):
    """NumPy's ``_get_stats``: each side's statistic over its ``stat_length`` slices."""
    n = x.shape[axis]
    lengths = [n if length is None or length > n else length for length in lengths]
    if 0 in lengths and mode in ("maximum", "minimum"):
        raise ValueError("stat_length of 0 yields no value for padding")
    parts = []
    for side, (w, length) in enumerate(zip(widths, lengths)):
        if not w:
            parts.append(None)
            continue
        window = _side(x, axis, slice(0, length) if side == 0 else slice(n - length, n))
        if mode == "median":
            stat = _median(window, axis)
        else:
            stat = _REDUCE[mode](window, axis=axis, keepdims=True)
        if x.dtype.kind in "iu":
            stat = stat.round()
        parts.append(broadcast_to(stat.astype(x.dtype), _piece_shape(x, axis, w),
                                  chunks=_piece_chunks(x, axis, w)))
    return parts


def _join(x, axis, parts):
    before, after = parts
    joined = [p for p in (before, x, after) if p is not None]
    return concatenate(joined, axis=axis) if len(joined) > 1 else x


def _reflect(x, axis, widths, include_edge, odd):
    """NumPy's ``_set_reflect_both`` rounds on lazy pieces (see the module docstring)."""
    n = x.shape[axis]
    left, right = widths
    e = 1 if include_edge else 0  # symmetric repeats the edge, reflect mirrors about it
    while left or right:
        length = x.shape[axis]
        period = length // n * n if include_edge else (length - 1) // (n - 1) * (n - 1)
        first, last = _ends(x, axis)
        parts = [None, None]
        if left:
            c = min(period, left)
            piece = flip(_side(x, axis, slice(1 - e, 1 - e + c)), axis)
            parts[0] = (2 * first - piece).astype(x.dtype) if odd else piece
            left -= c
        if right:
            c = min(period, right)
            piece = flip(_side(x, axis, slice(length - 1 + e - c, length - 1 + e)), axis)
            parts[1] = (2 * last - piece).astype(x.dtype) if odd else piece
            right -= c
        x = _join(x, axis, parts)
    return x


def _wrap(x, axis, widths):
    """NumPy's ``_set_wrap_both`` rounds on lazy pieces."""
    n = x.shape[axis]
    left, right = widths
    while left or right:
        length = x.shape[axis]
        period = length // n * n
        parts = [None, None]
        if left:
            c = min(period, left)
            parts[0], left = _side(x, axis, slice(period - c, period)), left - c
        if right:
            c = min(period, right)
            parts[1], right = _side(x, axis, slice(length - period, length - period + c)), right - c
        x = _join(x, axis, parts)
    return x


def pad(array, pad_width, mode="constant", **kwargs):
    """*array* padded by ``pad_width`` (one width, ``(before, after)``, or one pair per
    axis) as ``numpy.pad``, in any of its modes but a function.

    >>> pad(asarray([1, 2, 3]), (2, 3), mode="reflect").compute()
    array([3, 2, 1, 2, 3, 2, 1, 2])
    """
    x = asarray(array)
    if callable(mode):
        raise NotImplementedError("pad with a function as mode is not supported by shoal.array "
                                  f"(modes: {', '.join(_KWARGS)})")
    if mode not in _KWARGS:
        raise ValueError(f"mode '{mode}' is not supported")
    unknown = set(kwargs) - _KWARGS[mode]
    if unknown:
        raise ValueError(f"unsupported keyword arguments for mode '{mode}': {unknown}")
    widths = _widths(pad_width, x.ndim)
    if mode in ("constant", "empty"):
        values = _pairs(kwargs.get("constant_values", 0) if mode == "constant" else 0, x.ndim)
        for axis, (pair, value) in enumerate(zip(widths, values)):
            x = _join(x, axis, _constant(x, axis, pair, value))
        return x
    if x.size == 0:  # only constant and empty extend an empty axis; the result has no elements
        for axis, pair in enumerate(widths):
            if x.shape[axis] == 0 and any(pair):
                raise ValueError(f"can't extend empty axis {axis} using modes other than "
                                 "'constant' or 'empty'")
        shape = tuple(n + sum(pair) for n, pair in zip(x.shape, widths))
        return zeros(shape, chunks=tuple(max(c) or 1 for c in x.chunks), dtype=x.dtype)
    reflect_type = kwargs.get("reflect_type", "even")
    ramps = _pairs(kwargs.get("end_values", 0), x.ndim)
    lengths = _pairs(kwargs.get("stat_length"), x.ndim, as_index=True)
    for axis, pair in enumerate(widths):
        if not any(pair):
            continue
        if mode == "edge" or (mode in ("reflect", "symmetric") and x.shape[axis] == 1):
            x = _join(x, axis, _edge(x, axis, pair))
        elif mode == "wrap":
            x = _wrap(x, axis, pair)
        elif mode == "linear_ramp":
            x = _join(x, axis, _linear_ramp(x, axis, pair, ramps[axis]))
        elif mode in ("maximum", "mean", "median", "minimum"):
            x = _join(x, axis, _stat(x, axis, pair, lengths[axis], mode))
        else:
            x = _reflect(x, axis, pair, mode == "symmetric", reflect_type == "odd")
    return x
