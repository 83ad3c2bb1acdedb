"""Random arrays, reproducible block by block.

::

    RandomState(seed) / default_rng(seed)
      a numpy SeedSequence(seed); every call (random, normal, ...) spawns the
      next child sequence C, so two calls give different numbers
    block (i, j) of that call
      Generator(PCG64(SeedSequence(C.entropy, spawn_key=C.spawn_key + (flat index,))))
      .<method>(..., size=block shape)

A block's numbers depend only on the seed, the call's position in the state's
sequence, the block's flat index and its shape, never on which worker, process
or scheduler computes it, or in which order.  The same seed and chunks give the
same array; other chunks give other (equally distributed) numbers.  Blocks
come from independent PCG64 streams (``SeedSequence.spawn`` semantics), and
each block is one task with no inputs, so a reduction over a random array makes
each block and reduces it in the same fused task (nothing is kept).

The module-level functions (``random``, ``normal``, ``randint`` ...) draw from a
shared state seeded from the OS, or from a fresh ``RandomState(seed)`` when
given ``seed=``; ``seed(n)`` reseeds the shared state.  ``seed=`` also accepts a
``RandomState`` / ``Generator`` from this module.
"""

from __future__ import annotations


import numpy as np

from shoal.array.core import Array, normalize_chunks
from shoal.array.distributions import DISTRIBUTIONS as _DISTRIBUTIONS
from shoal.array.distributions import Distributions, _size, module_functions, random_block
from shoal.core.spec import Task
from shoal.core.tokenize import tokenize

__all__ = ["Generator", "RandomState", "default_rng", "normal", "randint", "random",
           "random_sample", "seed", "standard_normal", "uniform"]


class RandomState(Distributions):
    """A seeded source of random arrays (NumPy's ``RandomState`` method names; every
    distribution, ``choice`` and ``permutation`` come from ``distributions.py``)."""

    def __init__(self, seed=None):
        if isinstance(seed, RandomState):
            seed = seed._seq.spawn(1)[0]
        if isinstance(seed, np.random.SeedSequence):
            self._seq = seed
        else:
            self._seq = np.random.SeedSequence(seed)

    def seed(self, seed=None):
        self._seq = np.random.SeedSequence(seed)

    def _wrap(self, method, size, chunks, dtype, args=(), kwargs=None, prefix=None):
        kwargs = kwargs or {}
        if any(isinstance(a, Array) or np.ndim(a) != 0 for a in args):  # broadcast block-wise
            return self._draw(method, size, chunks, dtype, args, kwargs, prefix=prefix)
        shape = _size(size)
        dtype = np.dtype(dtype)
        chunks = normalize_chunks(chunks, shape, dtype)
        child = self._seq.spawn(1)[0]
        entropy, spawn_key = child.entropy, tuple(child.spawn_key)
        name = f"{prefix or method}-{tokenize(entropy, spawn_key, method, chunks, args, kwargs)}"
        layer = {}
        numblocks = [len(c) for c in chunks]
        for flat, idx in enumerate(np.ndindex(*numblocks)):
            bshape = tuple(c[i] for c, i in zip(chunks, idx))
            key = (name, *idx)
            layer[key] = Task(key, random_block, entropy, spawn_key + (flat,), method, bshape,
                              args, kwargs)
        return Array({name: layer}, name, chunks, dtype)

    # -- distributions ---------------------------------------------------------------
    def random(self, size=None, chunks="auto", dtype=np.float64):
        """Uniform floats in [0, 1)."""
        dtype = np.dtype(dtype)
        kw = {"dtype": dtype} if dtype != np.float64 else {}
        return self._wrap("random", size, chunks, dtype, kwargs=kw, prefix="random_sample")

    random_sample = random

    def uniform(self, low=0.0, high=1.0, size=None, chunks="auto"):
        return self._wrap("uniform", size, chunks, np.float64, (low, high))

    def normal(self, loc=0.0, scale=1.0, size=None, chunks="auto"):
        return self._wrap("normal", size, chunks, np.float64, (loc, scale))

    def standard_normal(self, size=None, chunks="auto"):
        return self._wrap("standard_normal", size, chunks, np.float64)

    def randint(self, low, high=None, size=None, chunks="auto", dtype=int):
        """Integers in [low, high) (or [0, low) without *high*)."""
        dtype = np.dtype(dtype)
        return self._wrap("integers", size, chunks, dtype, (low, high), {"dtype": dtype},
                          prefix="randint")


class Generator(RandomState):
    """``default_rng``-style names on the same block-wise streams."""

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False, chunks="auto"):
        dtype = np.dtype(dtype)
        return self._wrap("integers", size, chunks, dtype, (low, high),
                          {"dtype": dtype, "endpoint": bool(endpoint)})


def default_rng(seed=None) -> Generator:
    """A :class:`Generator` seeded with *seed* (an int, None, or a state to spawn from)."""
    if isinstance(seed, RandomState):
        return Generator(seed._seq.spawn(1)[0])
    return Generator(seed)


_shared: RandomState | None = None


def _state(seed):
    global _shared
    if seed is not None:
        return seed if isinstance(seed, RandomState) else RandomState(seed)
    if _shared is None:
        _shared = RandomState()
    return _shared


def seed(seed=None):
    """Reseed the shared state used by the module-level functions."""
    global _shared
    _shared = RandomState(seed)


def random(size=None, chunks="auto", seed=None, dtype=np.float64):
    return _state(seed).random(size, chunks=chunks, dtype=dtype)


random_sample = random


def uniform(low=0.0, high=1.0, size=None, chunks="auto", seed=None):
    return _state(seed).uniform(low, high, size, chunks=chunks)


def normal(loc=0.0, scale=1.0, size=None, chunks="auto", seed=None):
    return _state(seed).normal(loc, scale, size, chunks=chunks)


def standard_normal(size=None, chunks="auto", seed=None):
    return _state(seed).standard_normal(size, chunks=chunks)


def randint(low, high=None, size=None, chunks="auto", dtype=int, seed=None):
    return _state(seed).randint(low, high, size, chunks=chunks, dtype=dtype)


# every other distribution, choice, permutation ... with ``seed=`` (distributions.py)
_MORE = sorted(set(_DISTRIBUTIONS) - set(globals())) + [
    "choice", "multinomial", "permutation", "random_integers"]
globals().update(module_functions(_state, _MORE))
__all__ = sorted(set(__all__) | set(_MORE))
