"""``to_npy_stack`` / ``from_npy_stack``: one ``.npy`` file per block along an axis.

A directory holds ``0.npy``, ``1.npy`` ... (the blocks along *axis*, every other
axis whole) and ``info``, a pickled ``{"chunks", "dtype", "axis"}`` -- the layout
Dask writes, so either library reads the other's stacks.  Writing computes at
once, one task per file; reading makes one ``numpy.load`` task per file
(memory-mapped by default, so a block is read only when used).
"""

from __future__ import annotations

import os
import pickle

import numpy as np

from shoal.array.core import Array, asarray
from shoal.core.spec import Task
from shoal.core.tokenize import tokenize

__all__ = ["from_npy_stack", "to_npy_stack"]


def _save(block, dirname, axis, block_id=None):
    np.save(os.path.join(dirname, f"{block_id[axis]}.npy"), block)
    return np.zeros((1,) * block.ndim, dtype=bool)


def to_npy_stack(dirname, x, axis=0):
    """Write *x* to *dirname* as one ``.npy`` file per block along *axis*."""
    x = asarray(x)
    if not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"to_npy_stack: axis must be an int within {x.ndim} dimensions, "
                         f"got {axis!r}")
    axis %= x.ndim
    chunks = tuple(c if i == axis else (s,) for i, (c, s) in enumerate(zip(x.chunks, x.shape)))
    x = x.rechunk(chunks)
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, "info"), "wb") as f:
        pickle.dump({"chunks": chunks, "dtype": x.dtype, "axis": axis}, f)
    done = x.map_blocks(_save, dirname, axis, dtype=bool,
                        chunks=tuple((1,) * len(c) for c in x.chunks))
    done.compute()


def from_npy_stack(dirname, mmap_mode="r"):
    """The array a :func:`to_npy_stack` (shoal's or Dask's) wrote to *dirname*."""
    info_path = os.path.join(dirname, "info")
    if not os.path.exists(info_path):
        raise FileNotFoundError(f"from_npy_stack: no npy stack in dirname={dirname!r} "
                                f"(its 'info' file is missing)")
    with open(info_path, "rb") as f:
        info = pickle.load(f)
    chunks, axis = info["chunks"], info["axis"]
    name = f"from-npy-stack-{tokenize(os.path.abspath(dirname), chunks, mmap_mode)}"
    layer = {}
    for i in range(len(chunks[axis])):
        key = (name, *(i if d == axis else 0 for d in range(len(chunks))))
        layer[key] = Task(key, np.load, os.path.join(dirname, f"{i}.npy"), mmap_mode=mmap_mode)
    return Array({name: layer}, name, chunks, info["dtype"])
