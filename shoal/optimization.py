"""``shoal.optimize``: collections ready to compute, with their graphs optimized.

shoal optimizes a graph when it runs it: the engine culls, orders and fuses the
merged graph of a ``compute`` (``shoal.local.runner``; ``optimize_graph=False``
turns the fusing off), and collections keep the graphs they were built with.
So there is nothing to do ahead of time: :func:`optimize` returns the
collections as they are, in the shape Dask's gives (a tuple like ``args``,
containers walked when ``traverse``, other values passed through), for code
written as ``a, b = dask.optimize(a, b)``.
"""

from __future__ import annotations

from shoal.base import _unpack

__all__ = ["optimize"]


def optimize(*args, traverse=True, **kwargs):
    """``args`` as a tuple, each collection in it ready to compute (see the module
    docstring: shoal optimizes graphs when it runs them)."""
    collections, repack = _unpack(args, bool(traverse))
    if not collections:
        return args
    return repack(collections)
