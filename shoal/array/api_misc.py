"""Small pieces of Dask's array surface: ``isnull`` / ``notnull``, ``shape``, ``ndim``,
``result_type``, ``unify_chunks``, ``vdot``, ``apply_over_axes``, ``asanyarray``, and
the ``Array`` methods ``view``, ``choose``, ``A`` and ``to_svg``.

::

    unify_chunks(x, "ij", y, "jk")   -> ({"i": ..., "j": common, "k": ...}, [x', y'])
                                        (arrays sharing a label rechunked to the common
                                        refinement of their boundaries, as blockwise does)
    x.view("int32")                  float64 blocks (4, 6) -> int32 blocks (4, 12): the
                                     last axis (the first, for order="F") scales by the
                                     ratio of item sizes

Each is a thin layer over shoal's own pieces (``elemwise``, ``dot``, the chunk SVG of
``display.py``); none reads data when called.
"""

from __future__ import annotations

import re

import numpy as np

from shoal.array.core import Array, asarray

__all__ = ["apply_over_axes", "asanyarray", "isnull", "ndim", "notnull", "result_type", "shape",
           "unify_chunks", "vdot"]


def _pd_isnull(block):
    import pandas as pd

    return pd.isnull(block)


def isnull(values):
    """Missing values (NaN, None, NaT), element by element, as ``pandas.isnull``."""
    from shoal.array.blockwise import elemwise

    return elemwise(_pd_isnull, asarray(values), dtype=bool, token="isnull")


def notnull(values):
    return ~isnull(values)


def shape(array) -> tuple:
    return array.shape if isinstance(array, Array) else np.shape(array)


def ndim(array) -> int:
    return array.ndim if isinstance(array, Array) else np.ndim(array)


def result_type(*arrays_and_dtypes) -> np.dtype:
    """``numpy.result_type``, reading a shoal array as its dtype."""
    return np.result_type(*[a.dtype if isinstance(a, Array) else a for a in arrays_and_dtypes])


def asanyarray(a, dtype=None, order=None, *, like=None, inline_array=False):
    """A shoal array of *a* (there are no array subclasses to keep: ``asarray``)."""
    x = asarray(a)
    return x if dtype is None or x.dtype == np.dtype(dtype) else x.astype(dtype)


def unify_chunks(*args, **kwargs):
    """Dask's ``unify_chunks(x, "ij", y, "jk", ...)``: ``(chunks per label, arrays)``
    with the arrays rechunked so every label has one chunking (``None`` as an index
    passes a value through)."""
    from shoal.array.blockwise import common_refinement

    if len(args) % 2:
        raise TypeError(f"unify_chunks: arguments come in pairs (array, index); got {len(args)}")
    pairs = [(a if ind is None else asarray(a), ind) for a, ind in zip(args[::2], args[1::2])]
    for a, ind in pairs:
        if ind is not None and len(ind) != a.ndim:
            raise ValueError(f"unify_chunks: index {ind!r} has {len(ind)} labels for an array "
                             f"with {a.ndim} dimensions")
    chunkss = {}
    for lab in {lab for _, ind in pairs if ind is not None for lab in ind}:
        cands = [a.chunks[ind.index(lab)] for a, ind in pairs
                 if ind is not None and lab in ind and a.shape[ind.index(lab)] != 1]
        chunkss[lab] = common_refinement(cands) if cands else (1,)
    arrays = []
    for a, ind in pairs:
        if ind is None:
            arrays.append(a)
            continue
        want = tuple(chunkss[lab] if n != 1 else c for lab, n, c in zip(ind, a.shape, a.chunks))
        arrays.append(a if want == a.chunks else a.rechunk(want))
    return chunkss, arrays


def vdot(a, b):
    """``numpy.vdot``: the dot product of the flattened arrays, *a* conjugated."""
    from shoal.array.linalg import dot

    a, b = asarray(a), asarray(b)
    if a.size != b.size:
        raise ValueError(f"vdot: a has {a.size} elements, b {b.size}")
    return dot(a.conj().reshape(-1), b.reshape(-1))


def apply_over_axes(func, a, axes):
    """``func(a, axis)`` over each of *axes* in turn, keeping the dimension count."""
    from shoal.array.manipulation import expand_dims

    a = asarray(a)
    for axis in (axes,) if isinstance(axes, int) else axes:
        out = func(a, axis)
        if out.ndim == a.ndim - 1:
            out = expand_dims(out, axis)
        elif out.ndim != a.ndim:
            raise ValueError(f"apply_over_axes: func gave {out.ndim} dimensions for an input "
                             f"of {a.ndim}; it must keep them or drop one")
        a = out
    return a


# -- Array methods ----------------------------------------------------------------------

def _view_block(block, *, to, order):
    # (a transposed or strided block is copied first: NumPy needs the axis contiguous)
    if order == "C":
        return np.ascontiguousarray(block).view(to)
    return np.ascontiguousarray(block.T).view(to).T


def view(self, dtype=None, order="C"):
    """The blocks' bytes read as *dtype* (``numpy.ndarray.view``)."""
    from shoal.array.blockwise import map_blocks

    if dtype is None:
        return self
    dtype = np.dtype(dtype)
    if order not in ("C", "F"):
        raise ValueError(f"view: order must be 'C' or 'F', got {order!r}")
    old, new = self.dtype.itemsize, dtype.itemsize
    axis = -1 if order == "C" else 0
    chunks = list(self.chunks)
    if old != new:
        if self.ndim == 0:
            raise ValueError("view: a 0-d array cannot change item size")
        scaled = [c * old / new for c in chunks[axis]]
        if any(s != int(s) for s in scaled):
            raise ValueError(f"view: the blocks along axis {axis} ({chunks[axis]}) of {old}-byte "
                             f"items do not divide into {new}-byte {dtype} items")
        chunks[axis] = tuple(int(s) for s in scaled)
    return map_blocks(_view_block, self, dtype=dtype, chunks=tuple(chunks), to=dtype, order=order,
                      token="view")


def _choose_method(self, choices):
    from shoal.array.index_tools import choose

    return choose(self, choices)


def to_svg(self, size=500):
    """The chunk diagram of the notebook's HTML, as SVG text (*size*: its longer side in px)."""
    from shoal.array import display

    text = display.svg(self.chunks)
    m = re.match(r'<svg width="(\d+)" height="(\d+)"', text)
    if not m:
        return text
    w, h = int(m.group(1)), int(m.group(2))
    scale = size / max(w, h, 1)
    return (f'<svg width="{w * scale:.0f}" height="{h * scale:.0f}" viewBox="0 0 {w} {h}"'
            + text[m.end():])


Array.view = view
Array.choose = _choose_method
Array.A = property(lambda self: self, doc="The array itself (Dask's ``Array.A``).")
Array.to_svg = to_svg
