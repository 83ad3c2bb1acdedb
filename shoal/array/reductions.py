"""Reductions as trees: chunk every block, combine a few partials at a time, aggregate.

::

    x: 3 x 4 blocks, x.sum(axis=0)          split_every=2 along axis 0

    chunk:      c00 c01 c02 c03             np.sum(block, axis=0, keepdims=True)
                c10 c11 c12 c13             (one task per block; a block produced
                c20 c21 c22 c23              by a one-input task fuses with it)
    combine:   [c00 c10] [c01 c11] ...      merge partials two at a time along
               [c20]     [c21]     ...      the reduced axes only
    aggregate: one task per output block    merge what is left, drop the axes

Partials keep the reduced axes with length 1, so a combine task receives
partials of one shape and merges them element by element (``chunk.py`` lists the
partial of each reduction).  No task holds more than ``split_every`` partials,
and the static order finishes one branch before starting the next, so a
reduction holds about (workers x one block) + (tree depth x split_every partials)
whatever the size of the array.

``split_every`` is a total fan-in (default :data:`SPLIT_EVERY`, 16); with several
reduced axes each gets about its n-th root, at least 2.  A dict ``{axis: n}``
sets it per axis.

``mean`` carries ``(count, sum)``; ``var`` / ``std`` carry ``(count, mean, M2)``
merged with Chan's pairwise formula.  Sums are accumulated in float64 for
integer, boolean and low-precision float input and cast to NumPy's result dtype
at the end.  ``argmin`` / ``argmax`` carry global indices with their values and
break ties (and NaNs) towards the lowest index, as NumPy does.
"""

from __future__ import annotations

import builtins
import numbers
import operator

import numpy as np

from shoal.array import chunk, slabs
from shoal.array.core import Array, offsets
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["SPLIT_EVERY", "all", "any", "argmax", "argmin", "max", "mean", "min", "nanmax",
           "nanmean", "nanmin", "nanprod", "nanstd", "nansum", "nanvar", "prod", "reduction",
           "std", "sum", "var"]

SPLIT_EVERY = 16
"""Default fan-in of a combine task."""


def normalize_axis(axis, ndim: int) -> tuple:
    """A sorted tuple of non-negative axes; ``numpy.exceptions.AxisError`` if out of range."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, numbers.Integral) or not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"axis {a} is out of bounds for array of dimension {ndim}")
        a = int(a) % ndim
        if a in out:
            raise ValueError(f"duplicate value in 'axis': {axis!r}")
        out.append(a)
    return tuple(sorted(out))


def _factors(split_every, axes):
    if split_every is None:
        split_every = SPLIT_EVERY
    if isinstance(split_every, dict):
        default = builtins.max(int(SPLIT_EVERY ** (1 / builtins.max(len(axes), 1))), 2)
        out = {a: int(split_every.get(a, default)) for a in axes}
    else:
        if int(split_every) < 2:
            raise ValueError(f"split_every must be at least 2, got {split_every}")
        each = builtins.max(int(round(split_every ** (1 / builtins.max(len(axes), 1)), 6)), 2)
        out = {a: each for a in axes}
    for a, n in out.items():
        if n < 2:
            raise ValueError(f"split_every for axis {a} must be at least 2, got {n}")
    return out


def reduction(x, axis, keepdims, dtype, chunk_func, combine_func, aggregate_func, *, prefix,
              split_every=None, chunk_kwargs=None, block_kwargs=None, combine_kwargs=None,
              aggregate_kwargs=None, token_extra=()):
    """The tree of tasks reducing *x* over the tuple *axis*; see the module docstring.

    ``chunk_func(block, **chunk_kwargs, **block_kwargs(idx))``, ``combine_func(parts,
    **combine_kwargs)`` and ``aggregate_func(parts, **aggregate_kwargs)``; the
    output has *x*'s chunks on the other axes and one block of length 1 on the
    reduced ones (or none, without ``keepdims``).
    """
    ck, cbk, ak = chunk_kwargs or {}, combine_kwargs or {}, aggregate_kwargs or {}
    factors = _factors(split_every, axis)
    token = tokenize(x, prefix, axis, keepdims, dtype, chunk_func, combine_func, aggregate_func,
                     ck, cbk, ak, factors, token_extra)
    name = f"{prefix}-{token}"
    layer = {}
    level_name = f"{prefix}-chunk-{token}"
    level = {}
    slab_kwargs = {"axis": axis, "chunk_func": chunk_func, "chunk_kwargs": ck,
                   "combine_func": combine_func, "combine_kwargs": cbk, "itemsize": x.dtype.itemsize}
    folded: set = set()
    for idx in np.ndindex(*x.numblocks):
        key = (level_name, *idx)
        # an element-wise input is evaluated here, slab by slab (slabs.py); not for
        # reductions whose chunk step depends on the block's position
        expr = None if block_kwargs else slabs.expression(x._layers, x._key(idx), folded)
        if expr is not None:
            program, leaves = expr
            layer[key] = Task(key, slabs.reduce_slabs, program, *leaves, **slab_kwargs)
        else:
            extra = block_kwargs(idx) if block_kwargs else {}
            layer[key] = Task(key, chunk_func, Ref(x._key(idx)), **ck, **extra)
        level[idx] = key
    nb = list(x.numblocks)
    depth = 0
    while builtins.any(nb[a] > factors[a] for a in axis):
        depth += 1
        level_name = f"{prefix}-combine-{token}-{depth}"
        level = _group(level, axis, {a: factors[a] if nb[a] > factors[a] else nb[a] for a in axis},
                       level_name, combine_func, cbk, layer)
        for a in axis:
            nb[a] = -(-nb[a] // factors[a]) if nb[a] > factors[a] else 1
    whole = {a: nb[a] for a in axis}
    _group(level, axis, whole, name, aggregate_func, ak, layer, final=True, keepdims=keepdims)
    out_chunks = []
    for d, c in enumerate(x.chunks):
        if d in axis:
            if keepdims:
                out_chunks.append((1,))
        else:
            out_chunks.append(c)
    layers = merge_layers(x, name=name, layer=layer)
    return Array(slabs.prune(layers, folded) if folded else layers, name, out_chunks, dtype)


def _group(level, axis, factors, name, func, kwargs, layer, final=False, keepdims=True):
    groups: dict = {}
    for idx in sorted(level):
        new = tuple(i // factors[d] if d in factors else i for d, i in enumerate(idx))
        groups.setdefault(new, []).append(level[idx])
    out = {}
    for new, keys in groups.items():
        if final and not keepdims:
            new = tuple(i for d, i in enumerate(new) if d not in factors)
        key = (name, *new)
        layer[key] = Task(key, func, [Ref(k) for k in keys], **kwargs)
        out[new] = key
    return out


def _result_dtype(func, x, **kwargs):
    # (along one axis of a 2 x 1 array: an array, whose dtype is the reduction's; a
    # whole object array reduces to a Python int, which read as int64 cast every result)
    with np.errstate(all="ignore"):
        return np.asarray(func(np.ones((2, 1), dtype=x.dtype), axis=0, **kwargs)).dtype


def _as_array(x):
    if isinstance(x, Array):
        return x
    from shoal.array.core import asarray

    return asarray(x)


# -- sum, prod, min, max, any, all ------------------------------------------------------

def _simple(x, how, func, merge, axis, keepdims, split_every, dtype=None):
    x = _as_array(x)
    axes = normalize_axis(axis, x.ndim)
    kw = {"dtype": dtype} if dtype is not None else {}
    out_dtype = _result_dtype(func, x, **kw)
    if how in ("sum", "prod") and dtype is None and out_dtype.kind in "biufc":
        # the partials in the result's dtype (float64 for a float16 sum: its rounding
        # grew with the number of chunks); times and objects add up as they are
        kw = {"dtype": np.float64 if out_dtype == np.float16 else out_dtype}
    if how in ("min", "max", "nanmin", "nanmax") and x.size == 0 and builtins.any(
            x.shape[a] == 0 for a in axes):  # fmt: skip
        op = {"min": "minimum", "max": "maximum", "nanmin": "fmin", "nanmax": "fmax"}[how]
        raise ValueError(f"zero-size array to reduction operation {op} which has no identity")
    return reduction(
        x, axes, keepdims, out_dtype, chunk.reduce_chunk, chunk.reduce_combine, chunk.reduce_aggregate,
        prefix=how, split_every=split_every,
        chunk_kwargs={"func": func, "axis": axes, "kwargs": kw},
        combine_kwargs={"merge": merge},
        aggregate_kwargs={"merge": merge, "axis": axes, "keepdims": keepdims, "dtype": out_dtype},
    )


def sum(x, axis=None, dtype=None, keepdims=False, split_every=None):
    return _simple(x, "sum", np.sum, np.add, axis, keepdims, split_every, dtype)


def prod(x, axis=None, dtype=None, keepdims=False, split_every=None):
    return _simple(x, "prod", np.prod, np.multiply, axis, keepdims, split_every, dtype)


def min(x, axis=None, keepdims=False, split_every=None):
    return _simple(x, "min", np.min, np.minimum, axis, keepdims, split_every)


def max(x, axis=None, keepdims=False, split_every=None):
    return _simple(x, "max", np.max, np.maximum, axis, keepdims, split_every)


def any(x, axis=None, keepdims=False, split_every=None):
    return _simple(x, "any", np.any, np.logical_or, axis, keepdims, split_every)


def all(x, axis=None, keepdims=False, split_every=None):
    return _simple(x, "all", np.all, np.logical_and, axis, keepdims, split_every)


# -- mean, var, std -----------------------------------------------------------------

def _accumulator(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return np.dtype(np.complex128) if dtype.itemsize <= 16 else dtype
    if dtype.kind == "f" and dtype.itemsize > 8:
        return dtype
    return np.dtype(np.float64)


def mean(x, axis=None, dtype=None, keepdims=False, split_every=None):
    return _mean(x, "mean", axis, dtype, keepdims, split_every)


def _mean(x, how, axis, dtype, keepdims, split_every):
    """``mean``, or ``nanmean`` (its counts by element: the values that are not NaN)."""
    x = _as_array(x)
    axes = normalize_axis(axis, x.ndim)
    nan = how == "nanmean"
    func, chunk_func = (np.nanmean, chunk.nanmean_chunk) if nan else (np.mean, chunk.mean_chunk)
    out_dtype = _result_dtype(func, x, **({"dtype": dtype} if dtype is not None else {}))
    acc = _accumulator(out_dtype if dtype is not None else x.dtype)
    return reduction(
        x, axes, keepdims, out_dtype, chunk_func, chunk.mean_combine, chunk.mean_aggregate,
        prefix=how, split_every=split_every,
        chunk_kwargs={"axis": axes, "acc": acc},
        aggregate_kwargs={"axis": axes, "keepdims": keepdims, "dtype": out_dtype},
    )


#: var/std, nanvar/nanstd: NumPy's function (for the dtype), chunk, combine, aggregate
_MOMENTS = {
    False: (np.var, chunk.moment_chunk, chunk.moment_combine, chunk.moment_aggregate),
    True: (np.nanvar, chunk.nanmoment_chunk, chunk.nanmoment_combine, chunk.nanmoment_aggregate),
}


def _moments(x, how, axis, dtype, ddof, keepdims, split_every):
    x = _as_array(x)
    axes = normalize_axis(axis, x.ndim)
    kw = {"dtype": dtype} if dtype is not None else {}
    func, chunk_func, combine, aggregate = _MOMENTS[how.startswith("nan")]
    out_dtype = _result_dtype(func, x, **kw)
    acc = _accumulator(dtype if dtype is not None else x.dtype)
    return reduction(
        x, axes, keepdims, out_dtype, chunk_func, combine, aggregate, prefix=how,
        split_every=split_every, chunk_kwargs={"axis": axes, "acc": acc},
        aggregate_kwargs={"axis": axes, "keepdims": keepdims, "dtype": out_dtype, "ddof": ddof,
                          "how": how},
    )


def var(x, axis=None, dtype=None, ddof=0, keepdims=False, split_every=None):
    return _moments(x, "var", axis, dtype, ddof, keepdims, split_every)


def std(x, axis=None, dtype=None, ddof=0, keepdims=False, split_every=None):
    return _moments(x, "std", axis, dtype, ddof, keepdims, split_every)


# -- argmin, argmax ------------------------------------------------------------------

def _arg(x, how, axis, keepdims, split_every):
    x = _as_array(x)
    if x.size == 0:
        raise ValueError(f"attempt to get arg{how} of an empty sequence")
    if axis is not None and not isinstance(axis, numbers.Integral):
        raise TypeError(f"arg{how} takes one axis (an int) or None, got {axis!r}")
    axes = normalize_axis(axis, x.ndim)
    starts = [offsets(c) for c in x.chunks]
    shape = x.shape

    def block_kwargs(idx):
        return {"offset": tuple(s[i] for s, i in zip(starts, idx))}

    return reduction(
        x, axes, keepdims, np.dtype(np.intp), chunk.arg_chunk, chunk.arg_combine,
        chunk.arg_aggregate, prefix=f"arg{how}", split_every=split_every,
        chunk_kwargs={"axis": None if axis is None else axes, "how": how, "shape": shape},
        block_kwargs=block_kwargs,
        combine_kwargs={"how": how},
        aggregate_kwargs={"axis": None if axis is None else axes, "keepdims": keepdims, "how": how},
    )


def argmin(x, axis=None, keepdims=False, split_every=None):
    return _arg(x, "min", axis, keepdims, split_every)


def argmax(x, axis=None, keepdims=False, split_every=None):
    return _arg(x, "max", axis, keepdims, split_every)



# -- the NaN-skipping ones ---------------------------------------------------------------

def nansum(x, axis=None, dtype=None, keepdims=False, split_every=None):
    """The sum of the values that are not NaN."""
    return _simple(x, "nansum", np.nansum, np.add, axis, keepdims, split_every, dtype)


def nanprod(x, axis=None, dtype=None, keepdims=False, split_every=None):
    return _simple(x, "nanprod", np.nanprod, np.multiply, axis, keepdims, split_every, dtype)


def nanmin(x, axis=None, keepdims=False, split_every=None):
    """The least value that is not NaN (NaN where a slice holds nothing else)."""
    return _simple(x, "nanmin", chunk.nanmin, np.fmin, axis, keepdims, split_every)


def nanmax(x, axis=None, keepdims=False, split_every=None):
    return _simple(x, "nanmax", chunk.nanmax, np.fmax, axis, keepdims, split_every)


def nanmean(x, axis=None, dtype=None, keepdims=False, split_every=None):
    """The mean of the values that are not NaN (counted element by element)."""
    return _mean(x, "nanmean", axis, dtype, keepdims, split_every)


def nanvar(x, axis=None, dtype=None, ddof=0, keepdims=False, split_every=None):
    return _moments(x, "nanvar", axis, dtype, ddof, keepdims, split_every)


def nanstd(x, axis=None, dtype=None, ddof=0, keepdims=False, split_every=None):
    return _moments(x, "nanstd", axis, dtype, ddof, keepdims, split_every)


# -- histogram -------------------------------------------------------------------------

def histogram(a, bins=10, range=None, weights=None, density=False):
    """``(counts, edges)`` as ``numpy.histogram``: the counts a lazy array summed over the
    blocks, the edges known now, so ``bins`` is a sequence of edges, or a number with
    ``range`` (without it the edges would need the data's extremes first)."""
    a = _as_array(a)
    if weights is not None or density:
        raise NotImplementedError("histogram(weights=..., density=True) of a shoal array is "
                                  "not supported")
    if np.ndim(bins) == 0:
        if range is None or isinstance(bins, str):
            raise ValueError("histogram of a shoal array: give range=(low, high) with a number "
                             "of bins, or the bin edges (the data's extremes are not known yet)")
        edges = np.histogram_bin_edges([], bins=operator.index(bins), range=range)
    else:
        edges = np.asarray(bins)
        if edges.ndim != 1 or np.any(edges[1:] < edges[:-1]):
            raise ValueError("histogram: bins must increase monotonically")
    token = tokenize(a, edges)
    name, parts = f"histogram-{token}", f"histogram-chunk-{token}"
    layer = {(parts, i): Task((parts, i), chunk.histogram_chunk, Ref(a._key(idx)), edges)
             for i, idx in enumerate(np.ndindex(*a.numblocks))}  # fmt: skip
    layer[(name, 0)] = Task((name, 0), chunk.add_all, [Ref(k) for k in list(layer)])
    counts = Array(merge_layers(a, name=name, layer=layer), name, ((len(edges) - 1,),),
                   np.dtype(np.intp))  # fmt: skip
    return counts, edges
