"""``reduction``: a user's own tree reduction, in Dask's spelling, on shoal's tree.

::

    reduction(x, chunk, aggregate, axis=0, combine=None, dtype=float)

    chunk(block, axis=, keepdims=True)         -> one partial per block
    combine(joined partials, axis=, keepdims=True)   a few at a time (default: aggregate)
    aggregate(joined partials, axis=, keepdims=)      once per output block

The tasks are those of ``reductions.reduction`` (chunk, combine levels of at most
``split_every`` partials, aggregate).  That tree hands a combine step a flat list
of partials; Dask's functions want them joined along the reduced axes in block
order (``concatenate=True``) or as nested lists, one level per reduced axis
(``concatenate=False``).  So every partial travels tagged with its block position
along the reduced axes: a combine step orders its parts by position, nests (and
joins) them, and passes on the smallest position of its group, which keeps the
order of the next level.  ``weights`` (broadcast to *x*) reach ``chunk`` block by
block as its second positional argument, as in Dask.  A chunk result may be
``output_size`` long on the reduced axes; with ``keepdims`` the output keeps that
length there.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from shoal.array.core import Array, asarray
from shoal.array.reductions import normalize_axis, reduction as _tree
from shoal.collection import merge_layers
from shoal.core.spec import Ref

__all__ = ["reduction"]


def _takes_dtype(func) -> bool:
    try:
        return "dtype" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _nest(parts: list):
    """Tagged parts ``(position, value)`` -> nested lists, one level per position entry."""
    if not parts[0][0]:
        return parts[0][1]
    heads = sorted({p[0][0] for p in parts})
    return [_nest([(p[0][1:], p[1]) for p in parts if p[0][0] == h]) for h in heads]


def _join(nested, axes):
    if not axes:
        return nested
    return np.concatenate([_join(n, axes[1:]) for n in nested], axis=axes[0])


def _gathered(parts, axis, concatenate):
    nested = _nest(parts)
    return _join(nested, axis) if concatenate else nested


def _chunk_step(block, *, func, axis, pos, **kwargs):
    # Dask hands the weights' block positionally, right after the block
    args = (kwargs.pop("weights"),) if "weights" in kwargs else ()
    return pos, func(block, *args, axis=axis, keepdims=True, **kwargs)


def _combine_step(parts, *, func, axis, concatenate):
    pos = min(p[0] for p in parts)
    return pos, func(_gathered(parts, axis, concatenate), axis=axis, keepdims=True)


def _aggregate_step(parts, *, func, axis, keepdims, concatenate):
    return func(_gathered(parts, axis, concatenate), axis=axis, keepdims=keepdims)


def _weights(weights, x):
    from shoal.array.manipulation import broadcast_to

    w = asarray(weights)
    try:
        w = broadcast_to(w, x.shape)
    except ValueError:
        raise ValueError(f"reduction: weights of shape {w.shape} do not broadcast to x's shape "
                         f"{x.shape}") from None
    return w.rechunk(x.chunks) if w.chunks != x.chunks else w


def _check_funcs(chunk, aggregate, combine):
    for what, f in (("chunk", chunk), ("aggregate", aggregate), ("combine", combine)):
        if f is not None and not callable(f):
            raise TypeError(f"reduction: {what} must be callable, got {f!r}")


def reduction(x, chunk, aggregate, axis=None, keepdims=False, dtype=None, split_every=None,
              combine=None, name=None, out=None, concatenate=True, output_size=1, meta=None,
              weights=None):
    """Reduce *x* over *axis* with ``chunk`` per block, then ``combine`` / ``aggregate``
    over a few partials at a time (see the module docstring).  ``dtype`` (or ``meta``)
    is required: it is the result's."""
    _check_funcs(chunk, aggregate, combine)
    x = asarray(x)
    if dtype is None and meta is not None:
        dtype = np.asarray(meta).dtype
    if dtype is None:
        raise ValueError("reduction: dtype= is required (the result's dtype)")
    dtype = np.dtype(dtype)
    axis = normalize_axis(axis, x.ndim)
    if _takes_dtype(chunk):
        chunk = functools.partial(chunk, dtype=dtype)
    if _takes_dtype(aggregate):
        aggregate = functools.partial(aggregate, dtype=dtype)
    w = None if weights is None else _weights(weights, x)

    def block_kwargs(idx):
        extra = {"pos": tuple(idx[a] for a in axis)}
        if w is not None:
            extra["weights"] = Ref(w._key(idx))
        return extra

    r = _tree(x, axis, keepdims, dtype, _chunk_step, _combine_step, _aggregate_step,
              prefix=name or getattr(aggregate, "__name__", "reduction"),
              split_every=split_every, chunk_kwargs={"func": chunk, "axis": axis},
              block_kwargs=block_kwargs,
              combine_kwargs={"func": combine or aggregate, "axis": axis,
                              "concatenate": concatenate},
              aggregate_kwargs={"func": aggregate, "axis": axis, "keepdims": keepdims,
                                "concatenate": concatenate},
              token_extra=(chunk, aggregate, combine, concatenate, output_size, w))
    chunks = r.chunks
    if keepdims and output_size != 1:
        chunks = tuple((output_size,) if d in axis else c for d, c in enumerate(chunks))
    result = Array(merge_layers(r, w), r.name, chunks, dtype)
    return _into(out, result)


def _into(out, result):
    """Dask's ``out=``: the given Array now stands for *result*."""
    if out is None:
        return result
    if not isinstance(out, Array):
        raise TypeError(f"reduction: out= must be a shoal Array, got {type(out).__name__}")
    if out.shape != result.shape:
        raise ValueError(f"reduction: out= has shape {out.shape}, the result {result.shape}")
    out.__dict__.update(result.__dict__)
    return out
