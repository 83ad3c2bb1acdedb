"""``histogramdd`` / ``histogram2d``: multi-dimensional histograms with known edges.

::

    sample (N, D), row blocks:   s0        s1        s2
    weights (N,), same rows:     w0        w1        w2
    per block:                   np.histogramdd(s_i, edges, weights=w_i)[0]
    one task:                    the counts added up (chunk.add_all, as histogram's)

The edges are computed now, from ``bins`` (the edges themselves) or from a number
of bins with ``range`` (Dask refuses the data's extremes, which would need a pass
over the data first: so does shoal, with a ``ValueError``), so only the counts are
lazy.  ``density=True`` divides the counts by their total and by each bin's volume
(lazy element-wise steps).  The sample is an ``(N, D)`` array or a sequence of D
1-d arrays of length N (rechunked to the first one's rows).
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array import chunk
from shoal.array.core import Array, asarray
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["histogram2d", "histogramdd"]


def histogramdd_block(*columns, edges, weights=None):
    """The counts of one row block, ``columns`` one 1-d array per dimension."""
    return np.histogramdd(np.stack(columns, axis=-1), bins=edges, weights=weights)[0]


def _columns(sample) -> list:
    """The sample as D 1-d shoal arrays sharing one row chunking."""
    if isinstance(sample, (list, tuple)):
        cols = [c if isinstance(c, Array) else asarray(c) for c in sample]
        if any(c.ndim != 1 for c in cols) or len({c.shape for c in cols}) > 1:
            raise ValueError("histogramdd: sample as a sequence must hold 1-d arrays of one "
                             f"length, got shapes {[c.shape for c in cols]}")
    else:
        sample = sample if isinstance(sample, Array) else asarray(sample)
        if sample.ndim != 2:
            raise ValueError(f"histogramdd: sample must be an (N, D) array, got shape "
                             f"{sample.shape}")
        cols = [sample[:, d] for d in range(sample.shape[1])]
    if not cols:
        raise ValueError("histogramdd: sample has no dimensions")
    rows = cols[0].chunks
    return [c if c.chunks == rows else c.rechunk(rows) for c in cols]


def _edges(bins, range, ndim: int) -> list:
    """One increasing 1-d array of edges per dimension."""
    if isinstance(bins, (numbers.Integral, np.integer)):
        bins = [bins] * ndim
    if not isinstance(bins, (list, tuple, np.ndarray)) or len(bins) != ndim:
        raise ValueError(f"histogramdd: bins must be an int or a sequence of {ndim} ints or "
                         f"edge arrays (one per dimension), got {bins!r}")
    if range is not None and len(range) != ndim:
        raise ValueError(f"histogramdd: range must hold {ndim} (low, high) pairs, got {range!r}")
    edges = []
    for d, b in enumerate(bins):
        if np.ndim(b) == 0:
            if range is None or range[d] is None:
                raise ValueError(f"histogramdd of a shoal array: bins[{d}] is a number of bins, "
                                 f"so range must give (low, high) for dimension {d} (the data's "
                                 "extremes are not known yet)")
            edges.append(np.histogram_bin_edges([], bins=_bin_count(b, d), range=range[d]))
        else:
            e = np.asarray(b)
            if e.ndim != 1 or e.size < 2 or np.any(e[1:] < e[:-1]):
                raise ValueError(f"histogramdd: bins[{d}] must be edges increasing "
                                 "monotonically")
            edges.append(e)
    return edges


def _bin_count(b, d: int) -> int:
    if not isinstance(b, (numbers.Integral, np.integer)) or isinstance(b, bool) or b < 1:
        raise ValueError(f"histogramdd: bins[{d}] must be a positive integer, got {b!r}")
    return int(b)


def histogramdd(sample, bins, range=None, normed=None, weights=None, density=None):
    """``(counts, edges)`` as ``numpy.histogramdd``: the counts lazy, the list of edges
    known now; see the module docstring."""
    if normed is not None:
        raise TypeError("histogramdd: normed= is gone from NumPy; use density=")
    cols = _columns(sample)
    edges = _edges(bins, range, len(cols))
    if weights is not None:
        weights = weights if isinstance(weights, Array) else asarray(weights)
        if weights.shape != cols[0].shape:
            raise ValueError(f"histogramdd: weights must have the sample's length "
                             f"{cols[0].shape}, got shape {weights.shape}")
        weights = weights if weights.chunks == cols[0].chunks else weights.rechunk(cols[0].chunks)
    token = tokenize(cols, weights, edges)
    name, parts = f"histogramdd-{token}", f"histogramdd-chunk-{token}"
    layer = {}
    for i in np.ndindex(*cols[0].numblocks):
        kw = {"edges": edges}
        if weights is not None:
            kw["weights"] = Ref(weights._key(i))
        layer[(parts, *i)] = Task((parts, *i), histogramdd_block,
                                  *[Ref(c._key(i)) for c in cols], **kw)
    out = (name,) + (0,) * len(edges)
    layer[out] = Task(out, chunk.add_all, [Ref(k) for k in list(layer)])
    deps = cols + ([weights] if weights is not None else [])
    counts = Array(merge_layers(*deps, name=name, layer=layer), name,
                   tuple((len(e) - 1,) for e in edges), np.dtype(np.float64))
    if density:
        counts = counts / counts.sum() / _volumes(edges)
    return counts, edges


def _volumes(edges) -> np.ndarray:
    """Each bin's volume: the outer product of the edges' widths."""
    vol = np.ones(())
    for e in edges:
        vol = np.multiply.outer(vol, np.diff(e))
    return vol


def histogram2d(x, y, bins=10, range=None, normed=None, weights=None, density=None):
    """``(counts, xedges, yedges)`` as ``numpy.histogram2d``, through :func:`histogramdd`
    (``bins``: an int, ``[nx, ny]``, an edge array for both, or ``[xedges, yedges]``)."""
    if isinstance(bins, (list, tuple, np.ndarray)) and len(bins) not in (1, 2):
        bins = [bins, bins]  # one edge array for both (NumPy's rule: length not 1 or 2)
    counts, (xedges, yedges) = histogramdd([x, y], bins, range, normed, weights, density)
    return counts, xedges, yedges
