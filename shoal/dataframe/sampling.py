"""Random rows: ``sample(frac=, replace=, random_state=)`` and ``random_split``.

Both work partition by partition, so they never move data and keep the
divisions (every output partition is a subset of an input one).  Reproducible:
``random_state`` (an int, a ``numpy.random.RandomState`` or ``Generator``, or None
for fresh entropy) is turned into one 32-bit seed per partition when the graph
is built, so the seeds are parameters of the tasks -- part of the graph name --
and computing the same collection twice gives the same rows.  A RandomState or
Generator passed in is advanced (as NumPy's own functions do), so two calls
with it give different samples.

- ``sample`` draws ``round(frac * len(partition))`` rows of each partition with
  pandas' ``sample`` (``frac`` may exceed 1 with ``replace=True``).  As Dask's,
  ``n=`` is refused: a number of rows would need the partition lengths first.
- ``random_split(frac)`` gives one frame per fraction: each row goes to exactly
  one of them, chosen with those probabilities by one uniform draw per row.
  Every output recomputes the same draws from the partition's seed (cheap next
  to the rows themselves), so the outputs need no shared intermediate task.
  ``shuffle=True`` also shuffles the rows within each output partition.

The rows drawn differ from Dask's for the same seed (another scheme of seeds).
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import DataFrame, Series, new_collection
from shoal.dataframe.partitioning import keep_partitioning

__all__ = ["partition_seeds", "random_split", "sample"]


def partition_seeds(random_state, n, what="random_state"):
    """*n* 32-bit seeds drawn from *random_state* (see the module docstring)."""
    if random_state is None:
        rng = np.random.default_rng()
    elif isinstance(random_state, (numbers.Integral, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"{what} must be a non-negative integer, got {random_state}")
        rng = np.random.default_rng(int(random_state))
    elif isinstance(random_state, np.random.RandomState):
        return [int(s) for s in random_state.randint(0, 2**32, size=n, dtype=np.uint64)]
    elif isinstance(random_state, np.random.Generator):
        rng = random_state
    else:
        raise TypeError(f"{what} must be None, an int, a numpy RandomState or Generator, "
                        f"got {type(random_state).__name__}")
    return [int(s) for s in rng.integers(0, 2**32, size=n, dtype=np.uint64)]


# -- kernels -----------------------------------------------------------------------

def sample_part(part, frac, replace, seed):
    return part.sample(frac=frac, replace=replace, random_state=np.random.RandomState(seed))


def split_part(part, cuts, seed, j, shuffle):
    """The rows of *part* whose uniform draw falls in the *j*-th of the *cuts* intervals."""
    rng = np.random.RandomState(seed)
    which = np.searchsorted(cuts, rng.random_sample(len(part)), side="right")
    out = part[which == j]
    if shuffle:
        out = out.sample(frac=1.0, random_state=np.random.RandomState((seed + j + 1) % 2**32))
    return out


# -- builders -------------------------------------------------------------------------

def _check_frac(frac, replace):
    if isinstance(frac, bool) or not isinstance(frac, numbers.Real):
        raise TypeError(f"sample(frac=...) must be a number, got {frac!r}")
    if frac < 0 or (frac > 1 and not replace):
        raise ValueError(f"sample(frac=...) must be between 0 and 1 (above 1 only with "
                         f"replace=True), got {frac}")


def sample(self, n=None, frac=None, replace=False, random_state=None):
    """A random fraction *frac* of the rows of every partition (see ``shoal.dataframe.sampling``)."""
    if n is not None:
        raise ValueError("sample(n=...) is not supported: it would need every partition's "
                         "length first; pass frac= (a fraction of the rows) instead")
    if frac is None:
        raise ValueError("sample needs frac= (the fraction of rows to draw)")
    if not isinstance(replace, (bool, np.bool_)):
        raise TypeError(f"sample(replace=...) must be True or False, got {replace!r}")
    _check_frac(frac, replace)
    seeds = partition_seeds(random_state, self.npartitions)
    name = f"sample-{tokenize(self, frac, bool(replace), seeds)}"
    layer = {(name, i): Task((name, i), sample_part, Ref((self._name, i)), frac, bool(replace), s)
             for i, s in enumerate(seeds)}
    out = new_collection(merge_layers(self, name=name, layer=layer), name, self._meta, self.divisions)
    return keep_partitioning(out, [self])  # (a subset of each partition, where it was)


def random_split(self, frac, random_state=None, shuffle=False):
    """Split the rows at random into ``len(frac)`` frames, row ``r`` going to frame ``j``
    with probability ``frac[j]`` (the fractions must sum to 1)."""
    if isinstance(frac, (str, bytes)) or not hasattr(frac, "__len__") or not len(frac):
        raise TypeError(f"random_split(frac=...) takes a list of fractions, got {frac!r}")
    fracs = list(frac)
    if not all(isinstance(f, numbers.Real) and not isinstance(f, bool) and f >= 0 for f in fracs):
        raise ValueError(f"random_split(frac=...): fractions must be non-negative numbers, got {frac}")
    if not np.allclose(sum(fracs), 1):
        raise ValueError(f"random_split(frac=...): fractions must sum to 1, got {sum(fracs)}")
    cuts = [float(c) for c in np.cumsum(fracs)[:-1]]
    seeds = partition_seeds(random_state, self.npartitions)
    tok = tokenize(self, cuts, seeds, bool(shuffle))
    out = []
    for j in range(len(fracs)):
        name = f"split-{j}-{tok}"
        layer = {(name, i): Task((name, i), split_part, Ref((self._name, i)), cuts, s, j, bool(shuffle))
                 for i, s in enumerate(seeds)}
        out.append(keep_partitioning(new_collection(merge_layers(self, name=name, layer=layer), name,
                                                    self._meta, self.divisions), [self]))
    return out


for _cls in (DataFrame, Series):
    _cls.sample = sample
    _cls.random_split = random_split
