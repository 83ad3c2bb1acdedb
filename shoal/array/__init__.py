"""Blocked NumPy arrays, spelled like ``dask.array``: ``import shoal.array as da``.

::

    x = da.random.random((10000, 10000), chunks=(1000, 1000))   # 100 blocks, nothing computed
    m = (x + x.T).mean(axis=0)                                   # a graph of tasks
    m.compute()                                                  # numpy.ndarray, on threads

Each block is a ``numpy.ndarray``; every operation adds one layer of tasks keyed
``(name, i, j, ...)`` (see ``shoal/array/core.py`` for the module map).  Results
equal NumPy's on the whole data.  The names below are the public surface;
``shoal.array.random`` holds the random constructors.
"""

from shoal.core.extras import require as _require

_require("array", "numpy", what="shoal.array")

import numpy as _np

from shoal.array import fft, linalg, random
from shoal.array.blockwise import UFUNCS as _UFUNCS
from shoal.array.blockwise import elemwise, map_blocks, where
from shoal.array.core import AUTO_CHUNK_BYTES, Array, asarray, from_array, normalize_chunks
from shoal.array.cumulative import cumprod, cumsum
from shoal.array.creation import (arange, concatenate, empty, eye, from_delayed, full, full_like,
                                  linspace, ones, ones_like, stack, zeros, zeros_like)
from shoal.array.differences import diff
from shoal.array.halo import map_overlap, overlap, trim_internal
from shoal.array.io import store, to_hdf5
from shoal.array.linalg import dot, matmul, tensordot
from shoal.array.percentile import percentile
from shoal.array.rechunk import rechunk, reshape, squeeze, transpose
from shoal.array.reductions import (all, any, argmax, argmin, histogram, max, mean, min, nanmax,
                                    nanmean, nanmin, nanprod, nanstd, nansum, nanvar, prod, std,
                                    sum, var)
from shoal.array.setops import unique
from shoal.array.selection import argwhere, flatnonzero, nonzero
from shoal.array.einsum import einsum
from shoal.array.quantiles import median, nanmedian, nanpercentile, nanquantile, quantile
from shoal.array.search import bincount, digitize, searchsorted
from shoal.array.statistics import (allclose, average, corrcoef, count_nonzero, cov, isclose, isin,
                                    moment, nanargmax, nanargmin, nancumprod, nancumsum, ptp)
from shoal.array.topk import argtopk, topk
from shoal.array.construct import array, empty_like, fromfunction, indices, meshgrid
from shoal.array.manipulation import (atleast_1d, atleast_2d, atleast_3d, block, broadcast_arrays,
                                      broadcast_to, dstack, expand_dims, flip, fliplr, flipud,
                                      hstack, moveaxis, outer, repeat, roll, rollaxis, rot90,
                                      swapaxes, take, tile, vstack)
from shoal.array.padding import pad
from shoal.array.triangles import diag, diagonal, trace, tril, triu
# NumPy's constants and scalar types, as dask.array re-exports them (``bool`` is
# NumPy's ``bool_`` here, as there: this namespace shadows builtins, like ``sum``)
from numpy import bool_ as bool
from numpy import (complex64, complex128, e, euler_gamma, float32, float64, inf, int8, int16, int32,
                   int64, nan, newaxis, pi, uint8, uint16, uint32, uint64)
from shoal.base import compute, persist
from shoal.array import methods as _methods  # noqa: F401 (Array.blocks, .topk, .trace ...)
from shoal.array import vindex as _vindex  # noqa: F401 (Array.vindex)
from shoal.array.histograms import histogram2d, histogramdd
from shoal.array.routines import (angle, append, apply_along_axis, around, coarsen, delete,
                                  ediff1d, fix, float_power, gradient, imag, insert, iscomplex,
                                  isneginf, isposinf, isreal, nan_to_num, piecewise, real, select,
                                  signbit, union1d)
# ``blockwise`` the function (Dask's), bound after the submodule ``blockwise.py`` was
# imported above: ``from shoal.array.blockwise import elemwise`` still finds the module
from shoal.array.indexed import blockwise

from shoal.array.ufuncs import EXTRA_UFUNCS as _EXTRA_UFUNCS
from shoal.array.ufuncs import divmod, frompyfunc, i0, sinc, ufunc

# (``da.ufunc`` objects, as Dask's: ``da.add.outer``, ``nin``, ``nout``, ``__name__``)
for _name in (*_UFUNCS, *_EXTRA_UFUNCS):
    globals()[_name] = ufunc(getattr(_np, _name))
abs = globals()["absolute"]
from shoal.array.custom_reduction import reduction
from shoal.array.gufunc import apply_gufunc, as_gufunc, gufunc
from shoal.array.index_tools import (choose, compress, extract, ravel_multi_index, tri,
                                     tril_indices, tril_indices_from, triu_indices,
                                     triu_indices_from, unravel_index)
from shoal.array.npy_stack import from_npy_stack, to_npy_stack
from shoal.array.zarr_io import from_zarr, to_zarr
from shoal.array.push import push
from shoal.array.api_misc import (apply_over_axes, asanyarray, isnull, ndim, notnull,
                                  result_type, shape, unify_chunks, vdot)
from shoal.array import lib  # (da.lib.stride_tricks.sliding_window_view)


def __getattr__(name):
    if name == "ma":  # (imported on first use: numpy.ma costs 10 ms, at every import)
        import importlib

        return importlib.import_module("shoal.array.ma")
    raise AttributeError(f"module 'shoal.array' has no attribute {name!r}")


def ravel(x):
    return reshape(x, (-1,))


def round(x, decimals=0):
    return asarray(x).round(decimals)


def clip(x, min=None, max=None):
    return asarray(x).clip(min, max)


__all__ = [
    "AUTO_CHUNK_BYTES", "Array", "abs", "all", "any", "arange", "argmax", "argmin", "asarray",
    "clip", "compute", "concatenate", "dot", "elemwise", "empty", "eye", "from_array",
    "from_delayed", "full", "full_like", "linspace", "map_blocks", "matmul", "max", "mean", "min",
    "normalize_chunks", "ones", "ones_like", "persist", "prod", "random", "ravel", "rechunk",
    "reshape", "round", "squeeze", "stack", "std", "store", "sum", "tensordot", "to_hdf5",
    "transpose", "var", "where", "zeros", "zeros_like", *_UFUNCS,
    "cumprod", "cumsum", "diff", "histogram", "map_overlap", "nanmax", "nanmean", "nanmin",
    "nanprod", "nanstd", "nansum", "nanvar", "overlap", "percentile", "trim_internal", "unique",
    "allclose", "argtopk", "average", "bincount", "corrcoef", "count_nonzero", "cov", "digitize",
    "einsum", "isclose", "isin", "median", "moment", "nanargmax", "nanargmin", "nancumprod",
    "nancumsum", "nanmedian", "nanpercentile", "nanquantile", "ptp", "quantile", "searchsorted",
    "topk", "argwhere", "flatnonzero", "nonzero",
    "fft", "linalg",
    "array", "atleast_1d", "atleast_2d", "atleast_3d", "block", "broadcast_arrays", "broadcast_to",
    "diag", "diagonal", "dstack", "empty_like", "expand_dims", "flip", "fliplr", "flipud",
    "fromfunction", "hstack", "indices", "meshgrid", "moveaxis", "outer", "pad", "repeat", "roll",
    "rollaxis", "rot90", "swapaxes", "take", "tile", "trace", "tril", "triu", "vstack",
    "bool", "complex64", "complex128", "e", "euler_gamma", "float32", "float64", "inf", "int8",
    "int16", "int32", "int64", "nan", "newaxis", "pi", "uint8", "uint16", "uint32", "uint64",
    "angle", "append", "apply_along_axis", "around", "blockwise", "coarsen", "delete", "ediff1d",
    "fix", "float_power", "gradient", "imag", "insert", "iscomplex", "isneginf", "isposinf",
    "isreal", "nan_to_num", "piecewise", "real", "select", "signbit", "union1d",
    "histogram2d", "histogramdd",
    "reduction", "apply_gufunc", "as_gufunc", "gufunc", "ufunc", "frompyfunc", "divmod", "i0",
    "sinc", *_EXTRA_UFUNCS, "choose", "compress", "extract", "ravel_multi_index", "tri",
    "tril_indices", "tril_indices_from", "triu_indices", "triu_indices_from", "unravel_index",
    "apply_over_axes", "asanyarray", "isnull", "ndim", "notnull", "result_type", "shape",
    "unify_chunks", "vdot", "ma", "push", "to_npy_stack", "from_npy_stack",
    "from_zarr", "to_zarr", "lib",
]
