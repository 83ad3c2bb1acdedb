"""``blockwise``: a function of blocks, with dimensions named by index letters.

::

    blockwise(np.add, "ij", x, "ij", y, "ij")         aligned blocks, elementwise
    blockwise(np.transpose, "ji", x, "ij")            output dims in another order
    blockwise(np.dot, "ik", x, "ij", y, "jk",         j is contracted: with
              concatenate=True)                        concatenate=True every block
                                                       gets all of j (blocks joined)
    blockwise(f, "ik", x, "ij", y, "jk")              ... otherwise f gets lists of
                                                       the blocks along j (f sums)

Every argument is followed by its index (a string or tuple of labels, one per
dimension), or ``None`` for a literal passed as is.  Arrays sharing a label are
rechunked to the common refinement of their chunks there (a length-1 dimension
broadcasts: its one block is reused).  The output has one block per combination
of the output labels' blocks; ``new_axes={label: size or chunks}`` adds labels
no input has, and ``adjust_chunks={label: fn, int or tuple}`` states how *func*
changes block lengths.  ``func`` gets the blocks in each argument's own index
order and returns the output block in ``out_ind`` order.

This module holds the function ``shoal.array.blockwise``; the module
``shoal/array/blockwise.py`` (element-wise operations, ``map_blocks``) keeps its
name for imports (``from shoal.array.blockwise import elemwise``).  Not
supported (a clear error): a label repeated within one argument (diagonals),
``align_arrays=False`` with chunks that differ.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from shoal.array.blockwise import _funcname, common_refinement
from shoal.array.core import Array, from_array
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["blockwise"]


def _labels(ind, what) -> tuple:
    if isinstance(ind, str):
        return tuple(ind)
    try:
        return tuple(ind)
    except TypeError:
        raise TypeError(f"blockwise: {what} must be a string or tuple of labels, "
                        f"not {ind!r}") from None


def _nested(ref_at, dims, counts, prefix=()):
    """Lists (one level per contracted label) of the block refs along them."""
    if not dims:
        return ref_at(prefix)
    return [_nested(ref_at, dims[1:], counts, prefix + (i,)) for i in range(counts[dims[0]])]


def _trial(x):
    return np.ones((1,) * x.ndim, dtype=x.dtype) if isinstance(x, Array) else x


def blockwise(func, out_ind, *args, dtype=None, new_axes=None, concatenate=None,
              adjust_chunks=None, align_arrays=True, name=None, token=None, meta=None,
              **kwargs):
    """``func`` over the blocks of the arrays in *args* (``array, index, array, index, ...``),
    one output block per combination of the blocks of ``out_ind``'s labels; see the
    module docstring.  Extra keyword arguments go to *func*."""
    if len(args) % 2:
        raise TypeError("blockwise: arguments must come in pairs (array, index); "
                        f"got {len(args)} values")
    out_ind = _labels(out_ind, "out_ind")
    if len(set(out_ind)) != len(out_ind):
        raise ValueError(f"blockwise: out_ind {out_ind} repeats a label")
    if dtype is None and meta is not None:
        dtype = np.asarray(meta).dtype
    new_axes = dict(new_axes or {})
    pairs = []
    for arg, ind in zip(args[::2], args[1::2]):
        if ind is None:
            pairs.append((arg, None))
            continue
        ind = _labels(ind, "an argument's index")
        if not isinstance(arg, Array):
            if hasattr(arg, "__dask_graph__") or hasattr(arg, "__shoal_graph__"):
                raise TypeError(f"blockwise: cannot use a {type(arg).__name__} as an indexed "
                                "argument; convert it to a shoal array first")
            arg = np.asarray(arg)
            arg = from_array(arg, chunks=tuple((max(n, 0),) for n in arg.shape)) if arg.ndim \
                else arg
        if np.ndim(arg) != len(ind):
            raise ValueError(f"blockwise: index {''.join(map(str, ind))!r} has {len(ind)} labels "
                             f"for an array with {np.ndim(arg)} dimensions")
        if len(set(ind)) != len(ind):
            raise NotImplementedError(f"blockwise: label repeated within one argument's index "
                                      f"{ind} (a diagonal) is not supported")
        if not isinstance(arg, Array):  # a 0-d value with an empty index: a literal
            pairs.append((arg, None))
            continue
        pairs.append((arg, ind))
    arrays = [(a, ind) for a, ind in pairs if ind is not None]
    # -- sizes and chunks per label ------------------------------------------------
    sizes: dict = {}
    for a, ind in arrays:
        for lab, n in zip(ind, a.shape):
            if n != 1:
                if sizes.get(lab, 1) not in (1, n):
                    raise ValueError(f"blockwise: label {lab!r} has lengths {sizes[lab]} and {n}")
                sizes[lab] = n
            else:
                sizes.setdefault(lab, 1)
    for lab in new_axes:
        if lab in sizes:
            raise ValueError(f"blockwise: new_axes label {lab!r} is already an input's label")
    missing = [lab for lab in out_ind if lab not in sizes and lab not in new_axes]
    if missing:
        raise ValueError(f"blockwise: output labels {missing} are in no argument's index and "
                         "not in new_axes")
    chunks: dict = {}
    for lab, n in sizes.items():
        cands = [a.chunks[ind.index(lab)] for a, ind in arrays
                 if lab in ind and a.shape[ind.index(lab)] == n]
        if not align_arrays and any(c != cands[0] for c in cands):
            raise ValueError(f"blockwise: align_arrays=False but the arrays are split "
                             f"differently along label {lab!r}")
        chunks[lab] = common_refinement(cands)
    contracted = [lab for lab in sizes if lab not in out_ind]
    if concatenate:
        for lab in contracted:
            chunks[lab] = (sizes[lab],)
    ready = []
    for a, ind in pairs:
        if ind is not None:
            want = tuple(chunks[lab] if a.shape[k] == sizes[lab] else a.chunks[k]
                         for k, lab in enumerate(ind))
            if want != a.chunks:
                a = a.rechunk(want)
        ready.append((a, ind))
    for lab, v in new_axes.items():
        chunks[lab] = (int(v),) if isinstance(v, numbers.Integral) else tuple(v)
    counts = {lab: len(c) for lab, c in chunks.items()}
    # -- output chunks ------------------------------------------------------------
    out_chunks = [chunks[lab] for lab in out_ind]
    for lab, adj in (adjust_chunks or {}).items():
        if lab not in out_ind:
            raise ValueError(f"blockwise: adjust_chunks label {lab!r} is not in out_ind")
        d = out_ind.index(lab)
        if callable(adj):
            out_chunks[d] = tuple(int(adj(c)) for c in out_chunks[d])
        elif isinstance(adj, numbers.Integral):
            out_chunks[d] = (int(adj),) * len(out_chunks[d])
        else:
            adj = tuple(adj)
            if len(adj) != len(out_chunks[d]):
                raise ValueError(f"blockwise: adjust_chunks[{lab!r}] gives {len(adj)} lengths "
                                 f"for {len(out_chunks[d])} blocks")
            out_chunks[d] = adj
    out_chunks = tuple(out_chunks)
    # -- dtype ----------------------------------------------------------------------
    if dtype is None:
        trial = []
        for a, ind in ready:
            t = _trial(a)
            if ind is not None and not concatenate:
                for lab in reversed([lab for lab in ind if lab in contracted]):
                    t = [t]
            trial.append(t)
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dtype = np.asarray(func(*trial, **kwargs)).dtype
        except Exception as err:
            raise TypeError("blockwise: could not infer the output dtype by calling "
                            f"{_funcname(func)} on small blocks ({err}); pass dtype=") from err
    dtype = np.dtype(dtype)
    # -- tasks ----------------------------------------------------------------------
    name = name or (f"{token or _funcname(func)}-"
                    f"{tokenize(func, out_ind, ready, kwargs, dtype, out_chunks, new_axes, concatenate)}")
    layer = {}
    for idx in np.ndindex(*[len(c) for c in out_chunks]):
        where = dict(zip(out_ind, idx))
        targs = []
        for a, ind in ready:
            if ind is None:
                targs.append(a)
                continue
            dims = [lab for lab in ind if lab in contracted]

            def ref_at(inner, a=a, ind=ind, dims=dims):
                at = dict(zip(dims, inner))
                return Ref((a.name, *[0 if a.numblocks[k] == 1 else at.get(lab, where.get(lab, 0))
                                      for k, lab in enumerate(ind)]))

            targs.append(_nested(ref_at, dims, counts) if dims and not concatenate
                         else ref_at((0,) * len(dims)))
        key = (name, *idx)
        layer[key] = Task(key, func, *targs, **kwargs)
    deps = [a for a, ind in ready if isinstance(a, Array)]
    return Array(merge_layers(*deps, name=name, layer=layer), name, out_chunks, dtype)
