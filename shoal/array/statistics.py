"""Statistics and comparisons built from the existing layers: no new graph shapes.

::

    isclose(a, b)      elemwise                       one task per output block
    allclose(a, b)     all(isclose(a, b))             a reduction tree -> 0-d bool
    isin(x, t)         block_i of x, every block of t -> np.isin, or-ed   (one task per x block)
    count_nonzero      sum(x != 0, dtype=intp)        a reduction tree
    average            sum(x * w) / sum(w)            two reduction trees, one elemwise divide
    ptp                max - min                      two trees, one elemwise subtract
    moment             mean, then sum((x - mean)**k) / (n - ddof)   (two passes)
    nanargmax / min    NaN -> -inf / +inf, argmax / argmin, then a check that
                       raises "All-NaN slice encountered" at compute, as NumPy does
    nancumsum / prod   NaN -> 0 / 1 (elemwise), then cumulative.py's scan
    cov                X - mean(X, 1) (elemwise), X @ X.T (linalg.py), / (N - ddof)
    corrcoef           cov, rechunked to one block (it is variables x variables),
                       normalized there by NumPy's own arithmetic

Every kernel here is a module-level function (they pickle by reference); every
graph name comes from the layers used, so it is a token of the inputs and all
parameters.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array import reductions
from shoal.array.blockwise import elemwise
from shoal.array.core import Array, asarray
from shoal.array.cumulative import cumprod, cumsum
from shoal.array.reductions import normalize_axis
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["allclose", "average", "corrcoef", "count_nonzero", "cov", "isclose", "isin", "moment",
           "nanargmax", "nanargmin", "nancumprod", "nancumsum", "ptp"]


def _as(x):
    return x if isinstance(x, Array) else asarray(x)


# -- comparisons ------------------------------------------------------------------------

def isclose(arr1, arr2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``numpy.isclose`` block by block (broadcasting as NumPy does)."""
    return elemwise(np.isclose, arr1, arr2, rtol=rtol, atol=atol, equal_nan=equal_nan,
                    dtype=np.dtype(bool), token="isclose")


def allclose(arr1, arr2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``numpy.allclose`` as a lazy 0-d boolean array (as Dask's): ``all(isclose(...))``."""
    return reductions.all(isclose(arr1, arr2, rtol=rtol, atol=atol, equal_nan=equal_nan))


def _isin_block(block, tests, invert, assume_unique, kind):
    out = np.zeros(np.shape(block), dtype=bool)
    for t in tests:
        out |= np.isin(block, t, assume_unique=assume_unique, kind=kind)
    return ~out if invert else out


def isin(element, test_elements, assume_unique=False, invert=False, *, kind=None):
    """``numpy.isin``: a boolean array shaped and chunked like ``element``.  Each
    block of ``element`` is tested against every block of ``test_elements`` (a
    shoal array, or anything NumPy takes) in one task."""
    element = _as(element)
    if kind not in (None, "sort", "table"):
        raise ValueError(f"isin: kind must be None, 'sort' or 'table', got {kind!r}")
    if isinstance(test_elements, Array):
        tests = test_elements
        test_keys = [tests._key(idx) for idx in np.ndindex(*tests.numblocks)]
        refs = [Ref(k) for k in test_keys]
    else:  # held once in the graph (as an argument it was pickled into every task)
        from shoal.array.core import from_array

        flat = np.asarray(test_elements).ravel()
        tests = from_array(flat, chunks=-1)
        refs = [Ref(tests._key((0,)))]
    token = tokenize(element, tests, assume_unique, invert, kind)
    name = f"isin-{token}"
    layer = {}
    for idx in np.ndindex(*element.numblocks):
        key = (name, *idx)
        layer[key] = Task(key, _isin_block, Ref(element._key(idx)), list(refs), invert,
                          assume_unique, kind)
    return Array(merge_layers(element, tests, name=name, layer=layer), name, element.chunks,
                 np.dtype(bool))


# -- counting, averaging -----------------------------------------------------------------

def _nonzero(block):
    """Where NumPy counts a value as nonzero (an empty string is zero; any falsy object)."""
    kind = block.dtype.kind
    if kind in "USV":
        return block != block.dtype.type()
    return block != 0 if kind not in "bO" else block.astype(bool)


def count_nonzero(a, axis=None, keepdims=False):
    """``numpy.count_nonzero``: a lazy ``intp`` array (0-d with ``axis=None``)."""
    a = _as(a)
    normalize_axis(axis, a.ndim)
    mask = elemwise(_nonzero, a, dtype=np.dtype(bool), token="nonzero")
    return reductions.sum(mask, axis=axis, dtype=np.intp, keepdims=keepdims)


def _weights_like(block, w, dtype):
    return np.broadcast_to(w, block.shape).astype(dtype, copy=False)


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """``numpy.average``.  Weights have ``a``'s shape, or are 1-D along one ``axis``.
    NumPy's check that the weights do not sum to zero needs the data, so it is not
    made (the result is then inf or NaN, as in Dask)."""
    a = _as(a)
    axes = normalize_axis(axis, a.ndim)
    if weights is None:
        avg = reductions.mean(a, axis=axis, keepdims=keepdims)
        count = a.size // max(avg.size, 1) if a.size else 0
        from shoal.array.creation import full

        scl = full(avg.shape, count, chunks=avg.chunks, dtype=avg.dtype)
        return (avg, scl) if returned else avg
    w = _as(weights)
    dtype = np.result_type(a.dtype, w.dtype, np.float64 if a.dtype.kind in "biu" else a.dtype)
    if w.shape != a.shape:
        if axis is None:
            raise TypeError("average: axis must be specified when the shapes of a and weights "
                            "differ")
        if w.ndim != 1:
            raise TypeError("average: weights must be 1-D when the shapes of a and weights "
                            "differ")
        if len(axes) != 1 or w.shape[0] != a.shape[axes[0]]:
            raise ValueError(f"average: weights of length {w.shape[0]} do not fit axis {axis} "
                             f"of an array shaped {a.shape}")
        shape = [1] * a.ndim
        shape[axes[0]] = w.shape[0]
        w = w.rechunk((a.chunks[axes[0]],)).reshape(tuple(shape))
    wfull = elemwise(_weights_like, a, w, dtype, dtype=dtype, token="weights")
    scl = reductions.sum(wfull, axis=axis, dtype=dtype, keepdims=keepdims)
    num = elemwise(np.multiply, a, wfull, dtype=dtype, token="weighted")
    avg = reductions.sum(num, axis=axis, dtype=dtype, keepdims=keepdims) / scl
    return (avg, scl) if returned else avg


def ptp(a, axis=None, keepdims=False):
    """``numpy.ptp``: the maximum less the minimum (two reduction trees)."""
    a = _as(a)
    hi = reductions.max(a, axis=axis, keepdims=keepdims)
    lo = reductions.min(a, axis=axis, keepdims=keepdims)
    return elemwise(np.subtract, hi, lo, token="ptp")


def moment(a, order, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None):
    """The ``order``-th central moment ``sum((a - mean)**order) / (n - ddof)`` (Dask's
    ``moment``; orders 0 and 1 are 1 and 0, without ``ddof``)."""
    a = _as(a)
    if not isinstance(order, numbers.Integral) or order < 0:
        raise ValueError(f"moment: order must be an integer >= 0, got {order!r}")
    axes = normalize_axis(axis, a.ndim)
    if order < 2:
        m = reductions.mean(a, axis=axis, dtype=dtype, keepdims=keepdims, split_every=split_every)
        return elemwise(np.full_like, m, float(order == 0), token="moment")
    n = 1
    for d in axes:
        n *= a.shape[d]
    m = reductions.mean(a, axis=axis, dtype=dtype, keepdims=True, split_every=split_every)
    dev = elemwise(np.power, elemwise(np.subtract, a, m, token="moment-dev"), int(order),
                   token="moment-pow")
    s = reductions.sum(dev, axis=axis, dtype=dtype, keepdims=keepdims, split_every=split_every)
    return elemwise(np.true_divide, s, n - ddof, token="moment")


# -- NaN-skipping arg-extremes and scans ----------------------------------------------------

def _fill_nan(block, value):
    if block.dtype.kind not in "fc":
        return block
    return np.where(np.isnan(block), np.asarray(value).astype(block.dtype), block)


def _check_all_nan(index, all_nan):
    if np.any(all_nan):
        raise ValueError("All-NaN slice encountered")
    return index


def _nanarg(a, how, axis, keepdims, split_every):
    a = _as(a)
    if a.dtype.kind not in "fc":
        return reductions._arg(a, how, axis, keepdims, split_every)
    fill = np.inf if how == "min" else -np.inf
    filled = elemwise(_fill_nan, a, fill, dtype=a.dtype, token="nanarg-fill")
    index = reductions._arg(filled, how, axis, keepdims, split_every)
    nan = elemwise(np.isnan, a, dtype=np.dtype(bool), token="isnan")
    all_nan = reductions.all(nan, axis=axis, keepdims=keepdims, split_every=split_every)
    return elemwise(_check_all_nan, index, all_nan, dtype=index.dtype, token=f"nanarg{how}")


def nanargmax(a, axis=None, keepdims=False, split_every=None):
    """``numpy.nanargmax``: NaNs skipped; an all-NaN slice raises ValueError at compute."""
    return _nanarg(a, "max", axis, keepdims, split_every)


def nanargmin(a, axis=None, keepdims=False, split_every=None):
    """``numpy.nanargmin``: NaNs skipped; an all-NaN slice raises ValueError at compute."""
    return _nanarg(a, "min", axis, keepdims, split_every)


def nancumsum(x, axis=None, dtype=None):
    """``numpy.nancumsum``: NaNs count as zero (cumulative.py's scan on the filled array)."""
    x = _as(x)
    return cumsum(elemwise(_fill_nan, x, 0, dtype=x.dtype, token="nan-to-0"), axis, dtype)


def nancumprod(x, axis=None, dtype=None):
    """``numpy.nancumprod``: NaNs count as one."""
    x = _as(x)
    return cumprod(elemwise(_fill_nan, x, 1, dtype=x.dtype, token="nan-to-1"), axis, dtype)


# -- covariance ------------------------------------------------------------------------------

def _variables(m, rowvar):
    """*m* as variables x observations: 1-D is one variable (never transposed, as NumPy),
    and with ``rowvar=False`` a 2-D one of several rows is transposed."""
    m = _as(m)
    if m.ndim > 2:
        raise ValueError(f"cov: m (or y) has {m.ndim} dimensions, at most 2 allowed")
    if m.ndim < 2:
        return m.reshape((1, m.size))
    return m if rowvar or m.shape[0] == 1 else m.T


def cov(m, y=None, rowvar=True, bias=False, ddof=None, *, dtype=None):
    """``numpy.cov`` (without frequency or analytic weights): centre the variables,
    ``X @ X.T.conj() / (N - ddof)`` through linalg.py, squeezed as NumPy does."""
    if ddof is not None and not isinstance(ddof, numbers.Integral):
        raise ValueError(f"cov: ddof must be an integer, got {ddof!r}")
    x = _variables(m, rowvar)
    if y is not None:
        from shoal.array.creation import concatenate

        x = concatenate([x, _variables(y, rowvar)], axis=0)
    out = np.result_type(x.dtype, np.float64) if dtype is None else np.dtype(dtype)
    x = x.astype(out)
    if ddof is None:
        ddof = 0 if bias else 1
    fact = max(x.shape[1] - ddof, 0)
    centred = elemwise(np.subtract, x, reductions.mean(x, axis=1, keepdims=True), token="cov-centre")
    from shoal.array.linalg import dot

    c = dot(centred, np.conjugate(centred.T)) if out.kind == "c" else dot(centred, centred.T)
    c = elemwise(np.true_divide, c, fact, dtype=out, token="cov")
    return c.squeeze()


def _normalize(c):
    c = np.asarray(c)
    if c.ndim == 0:
        return c / c
    d = np.diag(c)
    stddev = np.sqrt(d.real)
    c = c / stddev[:, None]
    c = c / stddev[None, :]
    if np.iscomplexobj(c):
        np.clip(c.real, -1, 1, out=c.real)
        np.clip(c.imag, -1, 1, out=c.imag)
    else:
        np.clip(c, -1, 1, out=c)
    return c


def corrcoef(x, y=None, rowvar=True):
    """``numpy.corrcoef``: :func:`cov` in one block, normalized by the diagonal."""
    c = cov(x, y, rowvar)
    c = c.rechunk(tuple((s,) for s in c.shape)) if c.ndim else c
    return c.map_blocks(_normalize, dtype=c.dtype, token="corrcoef")
