"""The blocked array collection: :class:`Array`, ``from_array``, gathering results.

::

    Array(layers, name, chunks, dtype)
      chunks:  one tuple of block lengths per dimension, e.g. ((1000, 1000, 500), (700,))
      blocks:  keys (name, i, j, ...) -- one per combination of block indices; a
               0-d array has the single key (name,).  Every block is a numpy.ndarray.

An array never holds data itself: it is a name plus layers of tasks (see
``shoal/collection.py``), and each operation adds one layer.  The modules split
the work by the shape of the task graph each operation builds:

=================  ================================================================
``blockwise.py``   one task per output block from the aligned input blocks:
                   operators, ufuncs (``__array_ufunc__``), ``where``, ``astype``,
                   ``map_blocks``; broadcasting and chunk unification
``reductions.py``  trees ``chunk -> combine (split_every at a time) -> aggregate``
``slicing.py``     ``x[...]``: basic indexing and one integer array; ``selection.py``:
                   ``x[mask]``, ``nonzero``, shoal index arrays (counts computed on call);
                   ``assignment.py``: ``x[1:3] = v`` (a new layer, this Array updated);
                   ``vindex.py``: ``x.vindex[i, j]`` (points grouped by block)
``rechunk.py``     ``rechunk``, ``reshape``, ``transpose``
``linalg.py``      ``tensordot`` / ``dot`` / ``@`` (sum over the contracted blocks), and
                   the ``shoal.array.linalg`` namespace: ``decompositions.py`` (TSQR
                   ``qr``, ``svd``, ``svd_compressed``, ``lstsq``), ``solvers.py``
                   (``solve``, ``inv``, ``cholesky``: one block; ``norm``), ``lu.py``
                   (``lu``, ``solve_triangular``: one block); ``histograms.py``: ``histogramdd``
``fft.py``         ``shoal.array.fft``: one task per block, transformed axes whole
``manipulation.py`` ``broadcast_to``, stacking, ``flip``, ``roll``, ``take``, ``repeat`` ...
                   (``padding.py``: ``pad``; ``triangles.py``: ``tril``, ``diag``, ``trace``;
                   ``construct.py``: ``array``, ``indices``, ``meshgrid``, ``fromfunction``)
``statistics.py``  ``isclose``, ``average``, ``moment``, ``cov``, nan-arg/cum reductions;
                   ``quantiles.py`` (``median``, ``quantile``: reduced axes in one block),
                   ``search.py`` (``bincount``, ``digitize``, ``searchsorted``),
                   ``topk.py`` (a tree keeping the k best), ``einsum.py``
``cumulative.py``  ``cumsum`` / ``cumprod`` (a scan carrying block totals)
``differences.py`` ``diff`` (each block borrows the head of the next)
``halo.py``        ``overlap`` / ``map_overlap`` / ``trim_internal`` (blocks + neighbours' edges)
``percentile.py``  exact 1-D ``percentile`` (sort, sample, bracket, window, select)
``setops.py``      ``unique`` (a merge tree, computed on call: no unknown chunk sizes)
``methods.py``     ``x.blocks`` (whole blocks, as aliases) and methods forwarding to the above
``creation.py``    ``ones``, ``arange``, ``eye``, ``stack``, ``concatenate`` ...
``random.py``      per-block seeded generators
``io.py``          ``store`` / ``to_hdf5``
``display.py``     ``repr`` and the HTML table with an SVG chunk diagram
``chunking.py``    ``normalize_chunks`` (the ``chunks=`` forms) and block offsets
``chunk.py``       the per-block NumPy kernels every task calls
=================  ================================================================

Computing gathers the blocks into one preallocated ``numpy.ndarray`` (a 0-d
result comes back as a NumPy scalar, as NumPy's reductions return; a one-block
result is a copy, since its block may be the source array or persisted data).  Arrays run on
the threaded scheduler unless told otherwise: NumPy releases the GIL.

``chunks="auto"`` aims for blocks of about :data:`AUTO_CHUNK_BYTES` (128 MiB, a
constant here rather than a configuration key), as square as the shape allows.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from shoal.annotating import own_layer_annotated
from shoal.array.chunking import AUTO_CHUNK_BYTES, normalize_chunks, offsets
from shoal.collection import Collection, persisted_layers
from shoal.core.spec import Data, Ref, Task
from shoal.core.tokenize import tokenize
from shoal.delayed import Delayed

__all__ = ["AUTO_CHUNK_BYTES", "Array", "asarray", "from_array", "normalize_chunks", "offsets"]


# -- the collection ------------------------------------------------------------------

class Array(Collection):
    """A NumPy array split into blocks; see the module docstring."""

    __array_priority__ = 11

    def __init__(self, layers: dict, name: str, chunks, dtype):
        self._layers = own_layer_annotated(layers, name)  # (shoal.annotate)
        self._name = name
        self._chunks = tuple(tuple(int(c) for c in dim) for dim in chunks)
        self._dtype = np.dtype(dtype)

    # -- properties -------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def chunks(self) -> tuple:
        return self._chunks

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def shape(self) -> tuple:
        return tuple(sum(c) for c in self._chunks)

    @property
    def ndim(self) -> int:
        return len(self._chunks)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self._dtype.itemsize

    @property
    def itemsize(self) -> int:
        return self._dtype.itemsize

    @property
    def numblocks(self) -> tuple:
        return tuple(len(c) for c in self._chunks)

    @property
    def npartitions(self) -> int:
        return math.prod(self.numblocks)

    @property
    def chunksize(self) -> tuple:
        return tuple(max(c) for c in self._chunks)

    def __len__(self):
        if not self.ndim:
            raise TypeError("len() of unsized object (a 0-d shoal array)")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # -- protocol -----------------------------------------------------------------
    def __dask_keys__(self):
        name, nb = self._name, self.numblocks
        if not nb:
            return [(name,)]
        return _nested_keys(name, nb, ())

    def __dask_postcompute__(self):
        return _finalize, (self._chunks,)

    def __dask_postpersist__(self):
        return _rebuild, (self._name, self._chunks, self._dtype)

    def _key(self, idx: tuple):
        return (self._name, *idx)

    def to_delayed(self, optimize_graph=True):
        """An object array of :class:`~shoal.Delayed`, one per block."""
        graph = self.__shoal_graph__()
        out = np.empty(self.numblocks, dtype=object)
        for idx in np.ndindex(*self.numblocks):
            key = self._key(idx)
            out[idx] = Delayed(key, graph[key], (), layer=graph)
        return out

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.compute())
        return out.astype(dtype, copy=False) if dtype is not None else out

    def __bool__(self):
        return bool(self.compute())

    def __float__(self):
        return float(self.compute())

    def __int__(self):
        return int(self.compute())

    def __complex__(self):
        return complex(self.compute())

    def __index__(self):
        if self.ndim or self._dtype.kind not in "iub":  # (Python asks this of any key)
            raise TypeError(f"only integer scalar arrays can be converted to an index, "
                            f"not a {self.ndim}-d {self._dtype} shoal array")
        return operator.index(self.compute())

    def __setitem__(self, key, value):
        """``x[mask] = value`` for a boolean shoal array ``mask`` of x's shape (lazy, as
        ``where(mask, value, x)``), or ``x[basic index] = value`` (``assignment.py``):
        this Array then stands for the result."""
        from shoal.array.blockwise import where

        if not (isinstance(key, Array) and key.dtype == bool and key.shape == self.shape):
            from shoal.array.assignment import setitem

            self.__dict__.update(setitem(self, key, value).__dict__)
            return
        if not isinstance(value, Array):
            np.zeros(1, dtype=self._dtype)[0] = value  # (NumPy's error for one it cannot hold)
        out = where(key, value, self).astype(self._dtype)
        self.__dict__.update(out.__dict__)

    def cumsum(self, axis=None, dtype=None):
        """Running sums along ``axis`` (of the flattened array with ``axis=None``)."""
        from shoal.array.cumulative import cumsum

        return cumsum(self, axis, dtype)

    def cumprod(self, axis=None, dtype=None):
        from shoal.array.cumulative import cumprod

        return cumprod(self, axis, dtype)

    def __divmod__(self, other):
        return np.divmod(self, other)

    def __rdivmod__(self, other):
        return np.divmod(other, self)

    # -- numpy protocols (implemented in blockwise.py) ----------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from shoal.array.blockwise import array_ufunc

        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from shoal.array.blockwise import array_function

        return array_function(func, types, args, kwargs)

    # -- display ------------------------------------------------------------------
    def __repr__(self):
        from shoal.array.display import array_repr

        return array_repr(self)

    def _repr_html_(self):
        from shoal.array.display import array_html

        return array_html(self)

    # -- element-wise -------------------------------------------------------------
    def astype(self, dtype, casting="unsafe", copy=True):
        """Cast every block (``casting`` as for ``numpy.ndarray.astype``)."""
        from shoal.array import chunk
        from shoal.array.blockwise import elemwise

        dtype = np.dtype(dtype)
        if dtype == self._dtype:
            return self
        if not np.can_cast(self._dtype, dtype, casting):
            raise TypeError(f"cannot cast array from {self._dtype} to {dtype} "
                            f"according to the rule {casting!r}")
        return elemwise(chunk.astype, self, dtype, casting, dtype=dtype, token="astype")

    def map_blocks(self, func, *args, **kwargs):
        """``map_blocks(func, self, *args, **kwargs)``; see :func:`map_blocks`."""
        from shoal.array.blockwise import map_blocks

        return map_blocks(func, self, *args, **kwargs)

    def map_overlap(self, func, depth, boundary=None, trim=True, **kwargs):
        """``map_overlap(func, self, depth=depth, ...)``; see :func:`map_overlap`."""
        from shoal.array.halo import map_overlap

        return map_overlap(func, self, depth=depth, boundary=boundary, trim=trim, **kwargs)

    def round(self, decimals=0):
        return self.map_blocks(np.round, decimals=decimals, dtype=self._dtype, token="round")

    def clip(self, min=None, max=None):
        """Values limited to [min, max] (either may be an array, broadcast as NumPy does)."""
        from shoal.array.blockwise import elemwise

        return elemwise(np.clip, self, min, max, token="clip")

    def conj(self):
        return np.conjugate(self)

    @property
    def real(self):
        from shoal.array.blockwise import elemwise

        return elemwise(np.real, self, token="real")

    @property
    def imag(self):
        from shoal.array.blockwise import elemwise

        return elemwise(np.imag, self, token="imag")

    def copy(self):
        return self

    # -- reductions (reductions.py) -------------------------------------------------
    def sum(self, axis=None, dtype=None, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.sum(self, axis, dtype, keepdims, split_every)

    def prod(self, axis=None, dtype=None, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.prod(self, axis, dtype, keepdims, split_every)

    def min(self, axis=None, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.min(self, axis, keepdims, split_every)

    def max(self, axis=None, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.max(self, axis, keepdims, split_every)

    def any(self, axis=None, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.any(self, axis, keepdims, split_every)

    def all(self, axis=None, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.all(self, axis, keepdims, split_every)

    def mean(self, axis=None, dtype=None, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.mean(self, axis, dtype, keepdims, split_every)

    def var(self, axis=None, dtype=None, ddof=0, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.var(self, axis, dtype, ddof, keepdims, split_every)

    def std(self, axis=None, dtype=None, ddof=0, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.std(self, axis, dtype, ddof, keepdims, split_every)

    def argmin(self, axis=None, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.argmin(self, axis, keepdims, split_every)

    def argmax(self, axis=None, keepdims=False, split_every=None):
        from shoal.array import reductions

        return reductions.argmax(self, axis, keepdims, split_every)

    # -- shape (slicing.py, rechunk.py, linalg.py) ------------------------------------
    def __getitem__(self, index):
        from shoal.array.slicing import getitem

        if isinstance(index, Array) or (isinstance(index, tuple)
                                        and any(isinstance(i, Array) for i in index)):
            from shoal.array.selection import getitem_with_arrays

            return getitem_with_arrays(self, index)
        return getitem(self, index)

    def nonzero(self):
        from shoal.array.selection import nonzero

        return nonzero(self)

    def compute_chunk_sizes(self):
        """This array: its chunk sizes are always known (kept for Dask code)."""
        return self

    def rechunk(self, chunks="auto"):
        from shoal.array.rechunk import rechunk

        return rechunk(self, chunks)

    def reshape(self, *shape):
        from shoal.array.rechunk import reshape

        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    def ravel(self):
        return self.reshape(-1)

    flatten = ravel

    def transpose(self, *axes):
        from shoal.array.rechunk import transpose

        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return transpose(self, axes or None)

    @property
    def T(self):
        return self.transpose()

    def squeeze(self, axis=None):
        from shoal.array.rechunk import squeeze

        return squeeze(self, axis)

    def dot(self, other):
        from shoal.array.linalg import dot

        return dot(self, other)

    def __matmul__(self, other):
        from shoal.array.linalg import matmul

        return matmul(self, other)

    def __rmatmul__(self, other):
        from shoal.array.linalg import matmul

        return matmul(other, self)

    # -- storing (io.py) ----------------------------------------------------------------
    def store(self, target, **kwargs):
        from shoal.array.io import store

        return store(self, target, **kwargs)

    def to_hdf5(self, filename, datapath, **kwargs):
        from shoal.array.io import to_hdf5

        return to_hdf5(filename, datapath, self, **kwargs)


def _rebuild(results, name, chunks, dtype):
    return Array(persisted_layers(name, results), name, chunks, dtype)


# -- gathering the blocks --------------------------------------------------------------

def _block_at(nested, idx):
    for i in idx:
        nested = nested[i]
    return nested


def _nested_keys(name, numblocks: tuple, prefix: tuple):
    """Block keys nested one list per axis (a module function: a nested one calling
    itself would be a reference cycle left for the garbage collector)."""
    if len(prefix) == len(numblocks):
        return (name, *prefix)
    return [_nested_keys(name, numblocks, (*prefix, i)) for i in range(numblocks[len(prefix)])]


def _finalize(results, chunks):
    if not chunks:
        value = results[0]
        return value[()] if isinstance(value, np.ndarray) else value
    if all(len(c) == 1 for c in chunks):  # the block itself: a copy, as Dask's, since it may
        block = _block_at(results, (0,) * len(chunks))  # be the source or persisted
        return block.copy() if isinstance(block, np.ma.MaskedArray) else np.array(block)
    return concatenate_blocks(results, chunks)


def concatenate_blocks(nested, chunks):
    """One ndarray from the nested list of blocks (shaped like the keys)."""
    numblocks = tuple(len(c) for c in chunks)
    if all(n == 1 for n in numblocks):
        return np.asanyarray(_block_at(nested, (0,) * len(numblocks)))
    blocks = [(idx, np.asanyarray(_block_at(nested, idx))) for idx in np.ndindex(*numblocks)]
    shapes_ok = all(b.shape == tuple(c[i] for c, i in zip(chunks, idx)) for idx, b in blocks)
    if not shapes_ok:  # a map_blocks that returned other shapes than it promised
        return np.block(_as_lists(nested, len(numblocks)))
    # (one shared dtype is kept as is: result_type would drop a structured dtype's padding)
    dtypes = {b.dtype for _, b in blocks}
    dtype = dtypes.pop() if len(dtypes) == 1 else np.result_type(*dtypes)
    from shoal.array.ma_chunk import empty_for  # (masked blocks: a masked result)

    out = empty_for([b for _, b in blocks], tuple(sum(c) for c in chunks), dtype)
    starts = [offsets(c) for c in chunks]
    for idx, b in blocks:
        region = tuple(slice(s[i], s[i + 1]) for s, i in zip(starts, idx))
        out[region] = b
    return out


def _as_lists(nested, depth):
    if depth == 0:
        return np.asarray(nested)
    return [_as_lists(n, depth - 1) for n in nested]


# -- from_array ----------------------------------------------------------------------

def _source_token(x):
    """A name for a data source: content for NumPy, identity for files."""
    if isinstance(x, np.ndarray):
        return tokenize(x)
    parts = [type(x).__module__, type(x).__qualname__, tuple(x.shape), str(x.dtype)]
    filename = getattr(getattr(x, "file", None), "filename", None)
    if filename and getattr(x, "name", None):  # h5py-like: where it lives
        parts += [str(filename), str(x.name)]
    else:
        parts.append(id(x))
    return tokenize(*parts)


def from_array(x, chunks="auto", name=None, lock=False):
    """A blocked array over *x*: a NumPy array or anything with ``shape``, ``dtype``
    and NumPy-style slicing (an h5py dataset, a memmap ...).

    NumPy arrays are split into views, one per block (no copy; the name comes from
    the content, so change the array after this and the name is stale).  Other
    sources are kept in the graph once and sliced inside each block's task, so
    nothing is read before computing; h5py datasets are named by file and path.  ``lock=True`` (or a lock object) serializes those reads.
    ``name`` fixes the array's name (``False``: a random one).
    """
    if isinstance(x, Array):
        return x if chunks == "auto" else x.rechunk(chunks)
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = np.asarray(x)
    shape = tuple(int(s) for s in x.shape)
    dtype = np.dtype(x.dtype)
    chunks = normalize_chunks(chunks, shape, dtype)
    if name is False:
        import uuid

        token = uuid.uuid4().hex
    elif name:
        token = None
    else:
        token = _source_token(x)
    name = name if (name and token is None) else f"array-{tokenize(token, chunks)}"
    starts = [offsets(c) for c in chunks]
    layer: dict = {}
    layers: dict = {}
    if isinstance(x, np.ndarray):
        for idx in np.ndindex(*[len(c) for c in chunks]):
            region = tuple(slice(s[i], s[i + 1]) for s, i in zip(starts, idx))
            key = (name, *idx)
            layer[key] = Data(key, x[region])
    else:
        from shoal.array import chunk

        if lock is True:
            import threading

            lock = threading.Lock()
        source = f"array-original-{name.split('-', 1)[-1]}"
        layers[source] = {source: Data(source, x)}
        for idx in np.ndindex(*[len(c) for c in chunks]):
            region = tuple(slice(s[i], s[i + 1]) for s, i in zip(starts, idx))
            key = (name, *idx)
            layer[key] = Task(key, chunk.getter, Ref(source), region, lock or None)
    layers[name] = layer
    return Array(layers, name, chunks, dtype)


def asarray(x, chunks="auto"):
    """*x* as an :class:`Array` (returned as it is when it already is one)."""
    if isinstance(x, Array):
        return x
    return from_array(np.asarray(x) if not hasattr(x, "shape") else x, chunks=chunks)
