"""Small NumPy routines on blocked arrays: element-wise helpers, edits along an
axis, ``gradient``, ``apply_along_axis``, ``coarsen``.

=========================  ==========================================================
element-wise               ``nan_to_num``, ``around``, ``real``, ``imag``, ``angle``,
                           ``iscomplex``, ``isreal``, ``isneginf``, ``isposinf``,
                           ``signbit``, ``fix``, ``float_power``, ``select``,
                           ``piecewise``: one task per block (``elemwise``)
``append`` / ``insert``    slices of the array and the new values concatenated
/ ``delete``               (the positions are known now, so chunks stay known)
``union1d``                ``unique`` of both, flattened (computed on call, as unique)
``ediff1d``                ``diff`` of the flattened array, with the ends joined
``gradient``               ``np.gradient`` per block extended by ``edge_order``
                           neighbours (``map_overlap``, boundary "none"): the array's
                           own edges get NumPy's one-sided differences
``apply_along_axis``       the axis in one block, ``np.apply_along_axis`` per block
``coarsen``                ``reduction`` over non-overlapping windows inside each
                           block (blocks rechunked to multiples of the factors)
=========================  ==========================================================
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.blockwise import elemwise, map_blocks
from shoal.array.core import Array, asarray

__all__ = ["angle", "append", "apply_along_axis", "around", "coarsen", "delete", "ediff1d",
           "fix", "float_power", "gradient", "imag", "insert", "iscomplex", "isneginf",
           "isposinf", "isreal", "nan_to_num", "piecewise", "real", "select", "signbit",
           "union1d"]


def _axis(axis, ndim, what):
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of bounds for an array of "
                         f"dimension {ndim}")
    return axis % ndim


# -- element-wise -----------------------------------------------------------------------

def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NaN and infinities replaced by numbers, block by block."""
    return elemwise(np.nan_to_num, asarray(x), token="nan-to-num",
                    op_kwargs={"nan": nan, "posinf": posinf, "neginf": neginf})


def around(x, decimals=0):
    return elemwise(np.around, asarray(x), token="around", op_kwargs={"decimals": decimals})


def real(x):
    return elemwise(np.real, asarray(x), token="real")


def imag(x):
    return elemwise(np.imag, asarray(x), token="imag")


def angle(x, deg=False):
    return elemwise(np.angle, asarray(x), token="angle", op_kwargs={"deg": deg})


def iscomplex(x):
    return elemwise(np.iscomplex, asarray(x), token="iscomplex")


def isreal(x):
    return elemwise(np.isreal, asarray(x), token="isreal")


def isneginf(x):
    return elemwise(np.isneginf, asarray(x), token="isneginf")


def isposinf(x):
    return elemwise(np.isposinf, asarray(x), token="isposinf")


def signbit(x):
    return elemwise(np.signbit, x, token="signbit")


def fix(x):
    return elemwise(np.fix, asarray(x), token="fix")


def float_power(x1, x2):
    return elemwise(np.float_power, x1, x2, token="float-power")


def _select(n, *blocks):
    return np.select(list(blocks[:n]), list(blocks[n:2 * n]), blocks[2 * n])


def select(condlist, choicelist, default=0):
    """``np.select``: the first true condition picks its choice; all broadcast together."""
    if len(condlist) != len(choicelist):
        raise ValueError("select: condlist and choicelist must have the same length")
    if not condlist:
        raise ValueError("select: condlist must not be empty")
    dtype = np.result_type(*[c.dtype if isinstance(c, Array) else np.asarray(c).dtype
                             for c in choicelist])
    return elemwise(_select, len(condlist), *condlist, *choicelist, default, dtype=dtype,
                    token="select")


def _piecewise(x, *conds, funclist, args, kw):
    return np.piecewise(x, list(conds), funclist, *args, **kw)


def piecewise(x, condlist, funclist, *args, **kw):
    """``np.piecewise`` block by block (conditions are boolean arrays like *x*)."""
    x = asarray(x)
    if isinstance(condlist, (Array, np.ndarray)) and np.ndim(condlist) == x.ndim:
        condlist = [condlist]
    return elemwise(_piecewise, x, *condlist, dtype=x.dtype, token="piecewise",
                    op_kwargs={"funclist": list(funclist), "args": args, "kw": kw})


# -- along an axis ----------------------------------------------------------------------

def _concat(pieces, axis):
    from shoal.array.creation import concatenate

    pieces = [p for p in pieces if p.shape[axis] > 0] or pieces[:1]
    return pieces[0] if len(pieces) == 1 else concatenate(pieces, axis=axis)


def _cut(x, axis, start, stop):
    return x[(slice(None),) * axis + (slice(start, stop),)]


def append(arr, values, axis=None):
    """*values* after *arr* (both flattened when *axis* is None)."""
    from shoal.array.creation import concatenate
    from shoal.array.rechunk import reshape

    arr, values = asarray(arr), asarray(values)
    if axis is None:
        arr = reshape(arr, (-1,)) if arr.ndim != 1 else arr
        values = reshape(values, (-1,)) if values.ndim != 1 else values
        axis = 0
    return concatenate([arr, values], axis=axis)


def insert(arr, obj, values, axis):
    """*values* inserted before the indices *obj* (an int, a slice or a sequence of
    ints) along *axis*, as ``np.insert`` (``axis=None`` flattens first)."""
    from shoal.array.manipulation import broadcast_to
    from shoal.array.rechunk import reshape

    arr = asarray(arr)
    if axis is None:
        arr, axis = reshape(arr, (-1,)) if arr.ndim != 1 else arr, 0
    axis = _axis(axis, arr.ndim, "insert")
    n = arr.shape[axis]
    if isinstance(obj, slice):
        obj = np.arange(*obj.indices(n))
    idx = np.asarray(obj)
    if idx.dtype.kind not in "iu" and idx.size:
        raise IndexError("insert: index must be integers (or a slice)")
    if idx.ndim > 1:
        raise ValueError("insert: index array must be one-dimensional or a scalar")
    if ((idx < -n) | (idx > n)).any():
        raise IndexError(f"insert: index out of bounds for axis {axis} with size {n}")
    idx = np.where(idx < 0, idx + n, idx)
    values = asarray(values) if isinstance(values, Array) else np.asarray(values)
    if idx.ndim == 0:  # one slot: values' first axis goes along *axis*
        vals = values
        while vals.ndim < arr.ndim:
            vals = vals[None] if isinstance(vals, Array) else vals[np.newaxis]
        if isinstance(vals, Array):
            vals = vals if vals.ndim < 2 else _moveaxis(vals, 0, axis)
        else:
            vals = np.moveaxis(vals, 0, axis)
        slot = list(arr.shape)
        slot[axis] = vals.shape[axis]
        vals = broadcast_to(asarray(vals), tuple(slot)).astype(arr.dtype)
        return _concat([_cut(arr, axis, 0, int(idx)), vals, _cut(arr, axis, int(idx), None)], axis)
    slot = list(arr.shape)
    slot[axis] = len(idx)
    vals = broadcast_to(asarray(values), tuple(slot)).astype(arr.dtype)
    order = np.argsort(idx, kind="stable")
    pieces, prev = [], 0
    for k in order:
        pieces.append(_cut(arr, axis, prev, int(idx[k])))
        pieces.append(_cut(vals, axis, int(k), int(k) + 1))
        prev = int(idx[k])
    pieces.append(_cut(arr, axis, prev, None))
    return _concat(pieces, axis)


def _moveaxis(x, src, dst):
    from shoal.array.manipulation import moveaxis

    return moveaxis(x, src, dst)


def delete(arr, obj, axis):
    """*arr* without the indices *obj* (an int, a slice or a sequence) along *axis*
    (``axis=None`` flattens first); the kept runs are sliced and concatenated."""
    from shoal.array.rechunk import reshape

    arr = asarray(arr)
    if axis is None:
        arr, axis = reshape(arr, (-1,)) if arr.ndim != 1 else arr, 0
    axis = _axis(axis, arr.ndim, "delete")
    n = arr.shape[axis]
    keep = np.delete(np.arange(n), obj)
    if len(keep) == n:
        return arr
    if len(keep) == 0:
        return _cut(arr, axis, 0, 0)
    breaks = np.flatnonzero(np.diff(keep) != 1) + 1
    runs = np.split(keep, breaks)
    return _concat([_cut(arr, axis, int(r[0]), int(r[-1]) + 1) for r in runs], axis)


def union1d(ar1, ar2):
    """The sorted unique values of both arrays (computed on call, as ``unique``)."""
    from shoal.array.creation import concatenate
    from shoal.array.rechunk import reshape
    from shoal.array.setops import unique

    a, b = asarray(ar1), asarray(ar2)
    return unique(concatenate([reshape(a, (-1,)), reshape(b, (-1,))]))


def ediff1d(ary, to_end=None, to_begin=None):
    """Differences of the flattened array, with *to_begin* / *to_end* joined on."""
    from shoal.array.creation import concatenate
    from shoal.array.differences import diff
    from shoal.array.rechunk import reshape

    a = asarray(ary)
    a = reshape(a, (-1,)) if a.ndim != 1 else a
    pieces = [diff(a)]
    if to_begin is not None:
        pieces.insert(0, reshape(asarray(np.asarray(to_begin)).astype(pieces[0].dtype), (-1,)))
    if to_end is not None:
        pieces.append(reshape(asarray(np.asarray(to_end)).astype(pieces[0].dtype), (-1,)))
    return pieces[0] if len(pieces) == 1 else concatenate(pieces)


def _gradient_block(block, spacing, axis, edge_order):
    return np.gradient(block, spacing, axis=axis, edge_order=edge_order)


def gradient(f, *varargs, axis=None, edge_order=1):
    """``np.gradient`` with uniform (scalar) spacings: one array per axis (a list when
    there are several), each from blocks extended by their neighbours' edges."""
    from shoal.array.halo import map_overlap

    f = asarray(f)
    if edge_order not in (1, 2):
        raise ValueError("gradient: edge_order must be 1 or 2")
    axes = list(range(f.ndim)) if axis is None else (
        [axis] if isinstance(axis, numbers.Integral) else list(axis))
    axes = [_axis(a, f.ndim, "gradient") for a in axes]
    if len(set(axes)) != len(axes):
        raise ValueError("gradient: repeated axis")
    if not varargs:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacings = [varargs[0]] * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError(f"gradient: {len(varargs)} spacings for {len(axes)} axes")
    if any(np.ndim(s) != 0 for s in spacings):
        raise NotImplementedError("gradient: only scalar spacings are supported "
                                  "(not coordinate arrays)")
    dtype = np.gradient(np.ones((edge_order + 1,), dtype=f.dtype), edge_order=edge_order).dtype
    out = []
    for ax, h in zip(axes, spacings):
        if f.shape[ax] < edge_order + 1:
            raise ValueError("gradient: shape of the array along an axis must be at least "
                             "edge_order + 1")
        x = f
        if min(x.chunks[ax]) < edge_order + 1 and x.numblocks[ax] > 1:
            x = x.rechunk({ax: max(edge_order + 1, max(x.chunks[ax]))})
        depth = {d: (edge_order if d == ax else 0) for d in range(f.ndim)}
        out.append(map_overlap(_gradient_block, x, depth=depth, boundary="none", dtype=dtype,
                               spacing=h, axis=ax, edge_order=edge_order))
    return out[0] if len(out) == 1 else out


def _along(block, func1d, axis, args, kwargs):
    return np.apply_along_axis(func1d, axis, block, *args, **kwargs)


def apply_along_axis(func1d, axis, arr, *args, dtype=None, shape=None, **kwargs):
    """``np.apply_along_axis`` with *axis* in one block.  The result's shape along the
    axis (``func1d``'s output shape) and dtype come from calling ``func1d`` on ones,
    unless *shape* / *dtype* are given."""
    arr = asarray(arr)
    axis = _axis(axis, arr.ndim, "apply_along_axis")
    if shape is None or dtype is None:
        test = np.asarray(func1d(np.ones((arr.shape[axis],), dtype=arr.dtype), *args, **kwargs))
        shape = test.shape if shape is None else tuple(shape)
        dtype = test.dtype if dtype is None else dtype
    shape = tuple(shape)
    x = arr.rechunk({axis: -1}) if arr.numblocks[axis] > 1 else arr
    chunks = x.chunks[:axis] + tuple((n,) for n in shape) + x.chunks[axis + 1:]
    opts = {"dtype": dtype, "chunks": chunks}
    if len(shape) == 0:
        opts["drop_axis"] = axis
    elif len(shape) > 1:
        opts["new_axis"] = list(range(axis + 1, axis + len(shape)))
    return map_blocks(_along, x, func1d=func1d, axis=axis, args=args, kwargs=kwargs,
                      token="apply-along-axis", **opts)


def _coarsen_block(block, reduction, factors, kwargs):
    shape, red = [], []
    for d, n in enumerate(block.shape):
        f = factors.get(d, 1)
        shape += [n // f, f]
        red.append(2 * d + 1)
    return reduction(block.reshape(shape), axis=tuple(red), **kwargs)


def coarsen(reduction, x, axes, trim_excess=False, **kwargs):
    """*reduction* (taking ``axis=``, e.g. ``np.mean``) over non-overlapping windows:
    ``axes={axis: factor}``.  Each dimension must be a multiple of its factor, unless
    ``trim_excess`` drops the remainder at the end."""
    x = asarray(x)
    factors = {_axis(a, x.ndim, "coarsen"): int(f) for a, f in axes.items()}
    if any(f < 1 for f in factors.values()):
        raise ValueError("coarsen: factors must be positive")
    for d, f in factors.items():
        if x.shape[d] % f:
            if not trim_excess:
                raise ValueError(f"coarsen: the factor {f} does not divide the length "
                                 f"{x.shape[d]} of axis {d} (pass trim_excess=True)")
            x = _cut(x, d, 0, x.shape[d] - x.shape[d] % f)
    want = {}
    for d, f in factors.items():
        if any(c % f for c in x.chunks[d]):
            want[d] = max(f, max(x.chunks[d]) // f * f)
    if want:
        x = x.rechunk(want)
    probe = {d: factors.get(d, 1) for d in range(x.ndim)}
    dtype = np.asarray(_coarsen_block(np.ones(tuple(probe.values()), dtype=x.dtype), reduction,
                                      factors, kwargs)).dtype
    chunks = tuple(tuple(c // factors.get(d, 1) for c in cs) for d, cs in enumerate(x.chunks))
    return map_blocks(_coarsen_block, x, reduction=reduction, factors=factors, kwargs=kwargs,
                      dtype=dtype, chunks=chunks, token="coarsen")
