"""Blocks that see their neighbours (halos): ``overlap``, ``trim_internal``, ``map_overlap``.

::

    x: chunks ((4, 4, 2),), depth 1, boundary "reflect"

    source:     [a b c d] [e f g h] [i j]
    overlap:  [a|a b c d|e] [d|e f g h|i] [h|i j|j]      one task per block: its own
                 ^       ^                  ^   ^         block plus thin slices of the
                 boundary  slice of the next block        neighbours (or boundary values)
    func:       one task per extended block   (map_blocks)
    trim:       one task per block, cutting off exactly what overlap added

Each extended block is planned axis by axis as a list of *pieces*: a slice (or
index array) of one source block, or a run of the constant.  Positions outside the
array are folded back in by the boundary rule before they are split into pieces:

=============  =================================================================
``"none"``     nothing is added past the array's ends (edge blocks grow inwards only)
``"periodic"`` position ``p`` reads ``p mod n``
``"reflect"``  mirrored with the edge element repeated: ``... b a | a b ...``
``"nearest"``  the edge element repeated
a number       that constant
=============  =================================================================

A depth deeper than a neighbouring block (or than the array) reads from as many
blocks as it needs, so nothing is rechunked (but for ``overlap`` under ``"none"``: edge
blocks shorter than the depth are merged inwards, so that ``trim_internal`` can undo it).  A depth is one number per axis or a
``(before, after)`` pair.  ``map_overlap`` trims by what was really added to each
block, so edge blocks under ``"none"`` come out right; ``trim_internal`` is Dask's
public form, cutting ``depth`` from both sides of every block (from the inner
side only of edge blocks under ``"none"``).

Dask keeps ``overlap`` and ``trim_internal`` in a module ``dask.array.overlap``;
here ``shoal.array.overlap`` is the function itself, and it carries ``overlap``,
``trim_internal`` and ``map_overlap`` as attributes so that Dask's spelling
``da.overlap.overlap(x, depth, boundary)`` works too.
"""

from __future__ import annotations

import itertools
import numbers

import numpy as np

from shoal.array.core import Array, asarray, offsets
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["map_overlap", "overlap", "trim_internal"]

_RULES = ("none", "periodic", "reflect", "nearest")


# -- arguments -----------------------------------------------------------------------

def _per_axis(value, ndim: int, what: str, default) -> dict:
    """``{axis: value}`` from a scalar, a tuple (one per axis) or a dict."""
    if isinstance(value, dict):
        out = {}
        for a, v in value.items():
            if not isinstance(a, numbers.Integral) or not -ndim <= a < ndim:
                raise ValueError(f"{what}: axis {a!r} is out of range for an array of "
                                 f"{ndim} dimensions")
            out[int(a) % ndim] = v
        return {a: out.get(a, default) for a in range(ndim)}
    if isinstance(value, (tuple, list)):
        if len(value) != ndim:
            raise ValueError(f"{what}={value!r} has {len(value)} entries for an array of "
                             f"{ndim} dimensions")
        return dict(enumerate(value))
    return {a: value for a in range(ndim)}


def _depths(depth, ndim: int) -> dict:
    """``{axis: (before, after)}`` of non-negative ints."""
    if depth is None:
        raise ValueError("depth= is required (an int, a tuple per axis or a dict {axis: n})")
    out = {}
    for a, d in _per_axis(depth, ndim, "depth", 0).items():
        pair = tuple(d) if isinstance(d, (tuple, list)) else (d, d)
        if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and v >= 0 for v in pair):
            raise ValueError(f"depth must be non-negative integers (or (before, after) pairs), "
                             f"got {d!r} for axis {a}")
        out[a] = (int(pair[0]), int(pair[1]))
    return out


def _boundaries(boundary, ndim: int) -> dict:
    out = {}
    for a, b in _per_axis("none" if boundary is None else boundary, ndim, "boundary",
                          "none").items():
        if b is None:
            b = "none"
        if isinstance(b, str):
            if b not in _RULES:
                raise ValueError(f"boundary {b!r} is not one of {', '.join(map(repr, _RULES))} "
                                 f"or a constant")
        elif np.ndim(b) != 0:
            raise ValueError(f"boundary must be a rule name or a scalar constant, got {b!r}")
        out[a] = b
    return out


# -- planning ------------------------------------------------------------------------

def _fold(p: np.ndarray, n: int, rule) -> np.ndarray:
    """Source positions of positions *p* outside ``[0, n)``; -1 means the constant."""
    if rule == "periodic":
        return p % n
    if rule == "nearest":
        return np.clip(p, 0, n - 1)
    if rule == "reflect":
        m = p % (2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    return np.full(p.shape, -1, dtype=np.intp)  # a constant


def _sources(p: np.ndarray, n: int, rule) -> np.ndarray:
    """Positions *p* read from inside ``[0, n)`` (or -1: the constant)."""
    if not n:
        return np.full(p.shape, -1, dtype=np.intp)
    return np.where((p >= 0) & (p < n), p, _fold(p, n, rule))


def _pieces(positions: np.ndarray, starts: list) -> list:
    """``[(block, local index) or (None, length)]`` covering *positions* in order."""
    out = []
    if not len(positions):
        return out
    blocks = np.where(positions < 0, -1, np.searchsorted(starts, positions, side="right") - 1)
    cuts = np.flatnonzero(np.diff(blocks)) + 1
    for run, owner in zip(np.split(positions, cuts), np.split(blocks, cuts)):
        j = int(owner[0])
        if j < 0:
            out.append((None, len(run)))
            continue
        local = run - starts[j]
        step = int(local[1] - local[0]) if len(local) > 1 else 1
        if step in (1, -1) and np.array_equal(np.diff(local), np.full(len(local) - 1, step)):
            stop = int(local[-1]) + step
            out.append((j, slice(int(local[0]), None if stop < 0 else stop, step)))
        else:
            out.append((j, local))
    return out


def _axis_plan(chunks: tuple, depth: tuple, rule) -> list:
    """For each block along one axis: ``(pieces, added_before, added_after)``."""
    n = sum(chunks)
    starts = offsets(chunks)
    before, after = depth
    plan = []
    for i, size in enumerate(chunks):
        lo, hi = starts[i] - before, starts[i + 1] + after
        if rule == "none" or (n == 0 and isinstance(rule, str)):
            lo, hi = max(lo, 0), min(hi, n)
        left = np.arange(lo, starts[i])
        right = np.arange(starts[i + 1], hi)
        left, right = _sources(left, n, rule), _sources(right, n, rule)
        pieces = _pieces(left, starts) + [(i, slice(None))] + _pieces(right, starts)
        plan.append((pieces, len(left), len(right)))
    return plan


# -- kernels -------------------------------------------------------------------------

def _grid(parts: list, shape: tuple):
    """The flat list *parts* nested as ``np.block`` wants it."""
    if len(shape) == 1:
        return parts
    step = len(parts) // shape[0]
    return [_grid(parts[k * step:(k + 1) * step], shape[1:]) for k in range(shape[0])]


def _extend(blocks: list, pieces: list, fill, dtype):
    """Assemble one extended block from its source *blocks* (in the order of the
    product of *pieces*, constant pieces skipped)."""
    supply = iter(blocks)
    combos = list(itertools.product(*[range(len(p)) for p in pieces]))
    parts = []
    for combo in combos:
        chosen = [pieces[a][k] for a, k in enumerate(combo)]
        if any(j is None for j, _ in chosen):
            parts.append(None)  # a run of the constant: sized below
            continue
        block = np.asarray(next(supply))
        for axis, (_, index) in enumerate(chosen):
            if not (isinstance(index, slice) and index == slice(None)):
                block = block[(slice(None),) * axis + (index,)]
        parts.append(block)
    # a constant piece has its own length; the others' lengths are their data's
    lengths = [[index if j is None else None for j, index in p] for p in pieces]
    for combo, part in zip(combos, parts):
        if part is not None:
            for axis, k in enumerate(combo):
                lengths[axis][k] = part.shape[axis]
    out = [part if part is not None else
           np.full(tuple(lengths[a][k] for a, k in enumerate(combo)), fill, dtype=dtype)
           for combo, part in zip(combos, parts)]
    if len(out) == 1:
        return out[0]
    return np.block(_grid(out, tuple(len(p) for p in pieces)))


def _trim(block, cuts: tuple):
    index = tuple(slice(b, block.shape[a] - e) for a, (b, e) in enumerate(cuts))
    return block[index]


# -- the public functions ------------------------------------------------------------

def _overlap(x: Array, depths: dict, rules: dict):
    """``(extended array, {axis: [(added_before, added_after) per block]})``."""
    plans = {a: _axis_plan(x.chunks[a], depths[a], rules[a]) for a in range(x.ndim)}
    added = {a: [(b, e) for _, b, e in plans[a]] for a in plans}
    out_chunks = tuple(tuple(c + b + e for c, (b, e) in zip(x.chunks[a], added[a]))
                       for a in range(x.ndim))
    fills = {a: r for a, r in rules.items() if not isinstance(r, str)}
    fill = next(iter(fills.values()), 0)
    if any(v != fill for v in fills.values()):
        raise NotImplementedError("boundary: one constant for all axes is supported, got "
                                  f"{sorted(fills.values())}")
    token = tokenize(x, depths, rules)
    name = f"overlap-{token}"
    layer = {}
    for idx in np.ndindex(*x.numblocks):
        pieces = [plans[a][i][0] for a, i in enumerate(idx)]
        refs = [Ref(x._key(tuple(j for j, _ in combo)))
                for combo in itertools.product(*pieces) if all(j is not None for j, _ in combo)]
        key = (name, *idx)
        layer[key] = Task(key, _extend, refs, pieces, fill, x.dtype)
    return Array(merge_layers(x, name=name, layer=layer), name, out_chunks, x.dtype), added


def _edge_blocks_deep_enough(x: Array, depths: dict, rules: dict) -> Array:
    """*x* with, along each ``"none"`` axis, its first block at least as long as the depth
    before and its last as the depth after (leading / trailing blocks merged): then every
    inner side gets the whole depth, which :func:`trim_internal` cuts off again.  (An
    inner block nearer an end than the depth got less, and trimming the whole depth
    lost elements: [0 1 2 3 4 5] in blocks (1, 1, 4), depth 2, came back [0 2 3 4 5].)"""
    chunks = list(x.chunks)
    for a, rule in rules.items():
        if rule != "none":
            continue
        before, after = depths[a]
        dim = list(chunks[a])
        while len(dim) > 1 and dim[0] < before:
            dim[:2] = [dim[0] + dim[1]]
        while len(dim) > 1 and dim[-1] < after:
            dim[-2:] = [dim[-2] + dim[-1]]
        chunks[a] = tuple(dim)
    if tuple(chunks) == x.chunks:
        return x
    from shoal.array.rechunk import rechunk

    return rechunk(x, tuple(chunks))


def overlap(x, depth, boundary=None):
    """Each block of *x* extended by ``depth`` elements of its neighbours on each side
    (``boundary`` past the array's ends; see the module docstring).  ``depth`` and
    ``boundary`` may be given per axis as a tuple or a dict ``{axis: value}``.  Along
    a ``"none"`` axis, edge blocks shorter than the depth are merged with their
    neighbours first (as Dask rechunks), so :func:`trim_internal` undoes it exactly."""
    x = asarray(x)
    if x.ndim == 0:
        return x
    depths, rules = _depths(depth, x.ndim), _boundaries(boundary, x.ndim)
    return _overlap(_edge_blocks_deep_enough(x, depths, rules), depths, rules)[0]


def _trimmed(x: Array, added: dict) -> Array:
    chunks = tuple(tuple(c - b - e for c, (b, e) in zip(x.chunks[a], added[a]))
                   for a in range(x.ndim))
    if any(c < 0 for dim in chunks for c in dim):
        raise ValueError(f"trim: blocks of {x.chunks} are too short to trim by {added}")
    if chunks == x.chunks:
        return x
    name = f"trim-{tokenize(x, added)}"
    layer = {}
    for idx in np.ndindex(*x.numblocks):
        key = (name, *idx)
        cuts = tuple(added[a][i] for a, i in enumerate(idx))
        layer[key] = Task(key, _trim, Ref(x._key(idx)), cuts)
    return Array(merge_layers(x, name=name, layer=layer), name, chunks, x.dtype)


def trim_internal(x, axes, boundary=None):
    """Cut ``axes[a]`` elements (a ``{axis: depth}`` dict, a tuple or an int) off both
    sides of every block; under boundary ``"none"`` edge blocks lose only their inner
    side, undoing :func:`overlap`."""
    x = asarray(x)
    depths = _depths(axes, x.ndim)
    rules = _boundaries(boundary, x.ndim)
    added = {}
    for a in range(x.ndim):
        nb = x.numblocks[a]
        b, e = depths[a]
        none = rules[a] == "none"
        added[a] = [(0 if none and i == 0 else b, 0 if none and i == nb - 1 else e)
                    for i in range(nb)]
    return _trimmed(x, added)


def map_overlap(func, *args, depth=None, boundary=None, trim=True, align_arrays=True,
                allow_rechunk=True, **kwargs):
    """``func`` applied to every block extended by its neighbours (:func:`overlap`),
    the result trimmed back to the blocks' own extent (unless ``trim=False``).

    ``depth`` / ``boundary`` are one value for every array, or a list with one per
    array.  Other keywords go to :func:`shoal.array.map_blocks` (``dtype``,
    ``chunks`` of the untrimmed output, ``block_id`` ...).  ``func`` must keep each
    block's shape for the trimming to be right.  ``map_overlap(x, func, depth, ...)``
    (the old argument order) is accepted too.
    """
    from shoal.array.blockwise import map_blocks

    if isinstance(func, Array) and args and callable(args[0]):
        func, args = args[0], (func,) + args[1:]
        if len(args) > 1 and depth is None:
            depth, args = args[1], args[:1] + args[2:]
    if not callable(func):
        raise TypeError(f"map_overlap: func must be callable, got {type(func).__name__}")
    if depth is None:  # (Dask's default: no neighbours)
        depth = 0
    arrays = [i for i, a in enumerate(args) if isinstance(a, (Array, np.ndarray))]
    if not arrays:
        raise ValueError("map_overlap needs at least one array among the arguments")
    many = len(arrays) > 1 and isinstance(depth, list)
    if many and len(depth) != len(arrays):
        raise ValueError(f"depth: a list of {len(depth)} depths for {len(arrays)} arrays")
    if isinstance(boundary, list) and len(boundary) != len(arrays):
        raise ValueError(f"boundary: a list of {len(boundary)} boundaries for {len(arrays)} arrays")
    args = list(args)
    added = None
    for k, i in enumerate(arrays):
        x = asarray(args[i])
        d = depth[k] if many else depth
        b = boundary[k] if isinstance(boundary, list) else boundary
        if x.ndim == 0:
            args[i] = x
            continue
        args[i], got = _overlap(x, _depths(d, x.ndim), _boundaries(b, x.ndim))
        if added is None or len(got) > len(added):
            added = got
    out = map_blocks(func, *args, **kwargs)
    if not trim or added is None:
        return out
    if out.ndim != len(added) or out.numblocks != tuple(len(v) for v in added.values()):
        raise ValueError("map_overlap: trim=True needs func to keep the blocks' dimensions; "
                         "pass trim=False and trim yourself")
    return _trimmed(out, added)


overlap.overlap = overlap  # Dask's module spelling: da.overlap.overlap / da.overlap.trim_internal
overlap.trim_internal = trim_internal
overlap.map_overlap = map_overlap
