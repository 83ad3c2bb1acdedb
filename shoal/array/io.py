"""Writing arrays block by block: ``store`` and ``to_hdf5``.

``store(sources, targets)`` adds one task per source block that writes it into
``target[region]`` as soon as it is computed, then lets it go, so storing an
array larger than memory holds only the blocks in flight.  The targets are
referenced by the tasks (never copied), so they must be writable in place from
the computing process: NumPy arrays, ``numpy.memmap``, h5py or zarr datasets.
The process scheduler cannot write into an in-memory NumPy array of the caller
(and h5py objects cannot be pickled): use threads or sync for those.

Writes go through one lock by default (``lock=True``), which keeps HDF5
libraries built without thread safety correct; ``lock=False`` lets blocks be
written concurrently into targets that allow it.
"""

from __future__ import annotations

import threading

import numpy as np

from shoal.array import chunk
from shoal.array.core import Array, offsets
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.delayed import Delayed

__all__ = ["store", "to_hdf5"]


def _done(results):
    return None


def _read_block(target, region, lock):
    if lock is not None:
        with lock:
            return np.asarray(target[region])
    return np.asarray(target[region])


def _store_and_read(block, target, region, lock):
    chunk.store_block(block, target, region, lock)
    return _read_block(target, region, lock)


def store(sources, targets, lock=True, regions=None, compute=True, return_stored=False,
          **kwargs):
    """Write *sources* (an Array or a list) into *targets* (one per source).

    ``regions`` (a tuple of slices per source) writes into part of a target.
    With ``compute=False`` a :class:`~shoal.Delayed` that does the writing is
    returned; otherwise the writes happen now (``kwargs`` go to ``compute``,
    e.g. ``scheduler=``) and ``None`` is returned.

    ``return_stored=True`` returns arrays (one per source; a tuple when *sources*
    is a list) that read back what was stored, block by block, with the target's
    dtype: with ``compute=True`` they read the written targets; with
    ``compute=False`` computing them writes each block and then reads it back.
    """
    single = isinstance(sources, Array)
    sources = [sources] if single else list(sources)
    targets = [targets] if single or not isinstance(targets, (list, tuple)) else list(targets)
    if len(sources) != len(targets):
        raise ValueError(f"store: {len(sources)} sources but {len(targets)} targets")
    if regions is None:
        regions = [None] * len(sources)
    elif isinstance(regions, tuple) and (not regions or isinstance(regions[0], slice)):
        regions = [regions] * len(sources)
    if len(regions) != len(sources):
        raise ValueError(f"store: {len(regions)} regions for {len(sources)} sources")
    if lock is True:
        lock = threading.Lock()
    lock = lock or None
    name = f"store-{tokenize([s.name for s in sources], [id(t) for t in targets], regions)}"
    layer = {}
    keys = []
    placed = []  # (source, target, {block index: region of the target}) for return_stored
    for n, (src, tgt, region) in enumerate(zip(sources, targets, regions)):
        if not isinstance(src, Array):
            raise TypeError(f"store: sources must be shoal arrays, got {type(src).__name__}")
        shape = tuple(getattr(tgt, "shape", ()))
        base = _region_starts(region, shape, src.shape)
        starts = [offsets(c) for c in src.chunks]
        wheres = {}
        for idx in np.ndindex(*src.numblocks):
            where = tuple(slice(b + s[i], b + s[i + 1]) for b, s, i in zip(base, starts, idx))
            key = (f"{name}-{n}", *idx)
            layer[key] = Task(key, chunk.store_block, Ref(src._key(idx)), tgt, where, lock)
            keys.append(key)
            wheres[idx] = where
        placed.append((src, tgt, wheres))
    if return_stored:
        if not compute:
            stored = tuple(_stored_array(f"{name}-map-{n}", src, tgt, wheres, lock, True)
                           for n, (src, tgt, wheres) in enumerate(placed))
            return stored[0] if single else stored
    final = f"{name}-done"
    layer[final] = Task(final, _done, [Ref(k) for k in keys])
    graph = {}
    for layer_ in merge_layers(*sources, name=name, layer=layer).values():
        graph.update(layer_)
    result = Delayed(final, graph[final], (), layer=graph)
    if compute:
        result.compute(**kwargs)
        if return_stored:
            stored = tuple(_stored_array(f"{name}-load-{n}", src, tgt, wheres, lock, False)
                           for n, (src, tgt, wheres) in enumerate(placed))
            return stored[0] if single else stored
        return None
    return result


def _stored_array(name, src, target, wheres, lock, write):
    """An array of *src*'s chunks whose blocks are read from *target* (after writing them)."""
    layer = {}
    for idx, where in wheres.items():
        key = (name, *idx)
        if write:
            layer[key] = Task(key, _store_and_read, Ref(src._key(idx)), target, where, lock)
        else:
            layer[key] = Task(key, _read_block, target, where, lock)
    dtype = getattr(target, "dtype", src.dtype)
    return Array(merge_layers(src, name=name, layer=layer) if write else {name: layer}, name,
                 src.chunks, dtype)


def _region_starts(region, target_shape, source_shape):
    if region is None:
        if tuple(target_shape) != tuple(source_shape):
            raise ValueError(f"store: source shape {source_shape} does not match target shape "
                             f"{tuple(target_shape)}; pass regions= to write into part of it")
        return (0,) * len(source_shape)
    region = tuple(region) if isinstance(region, (tuple, list)) else (region,)
    if len(region) > len(source_shape):
        raise ValueError(f"store: region {region} has more dimensions than the source's "
                         f"{len(source_shape)}")  # fmt: skip
    region += (slice(None),) * (len(source_shape) - len(region))  # (the rest whole: as
    starts = []                                                    # NumPy's a[region] = x)
    for d, (s, n) in enumerate(zip(region, source_shape)):
        start, stop, step = s.indices(target_shape[d])
        if step != 1 or stop - start != n:
            raise ValueError(f"store: region {region} does not fit a source of shape {source_shape}")
        starts.append(start)
    return tuple(starts)


def to_hdf5(filename, datapath, x=None, chunks=True, **kwargs):
    """Write *x* to dataset *datapath* of the HDF5 file *filename* (needs h5py).

    ``to_hdf5(filename, {datapath: array, ...})`` writes several arrays in one
    computation.  ``kwargs`` go to ``h5py.File.require_dataset`` (e.g.
    ``compression="gzip"``); ``chunks=True`` uses each array's chunk size for the
    HDF5 chunks.
    """
    if isinstance(datapath, dict):
        if x is not None:
            raise TypeError("to_hdf5: pass either (datapath, x) or one dict {datapath: array}")
        items = list(datapath.items())
    elif x is None:
        raise TypeError(f"to_hdf5: no array given for datapath {datapath!r}; pass "
                        f"to_hdf5(filename, datapath, x) or to_hdf5(filename, {{datapath: x}})")
    else:
        items = [(datapath, x)]
    for path, arr in items:
        if not isinstance(arr, Array):
            raise TypeError(f"to_hdf5: the value for datapath {path!r} must be a shoal array, "
                            f"got {type(arr).__name__}")
    import h5py

    with h5py.File(filename, "a") as f:
        dsets = []
        for path, arr in items:
            hchunks = tuple(arr.chunksize) if chunks is True and arr.ndim and arr.size else chunks
            if hchunks is not None and not isinstance(hchunks, bool):
                hchunks = tuple(max(int(c), 1) for c in hchunks)
            dsets.append(f.require_dataset(path, shape=arr.shape, dtype=arr.dtype,
                                           chunks=hchunks if arr.ndim else None, **kwargs))
        store([arr for _, arr in items], dsets, lock=True)
