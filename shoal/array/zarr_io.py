"""Zarr stores as arrays: ``from_zarr`` and ``to_zarr``.

Zarr is an optional package that shoal does not depend on, so it is imported
only when one of these functions runs, and a missing install is a
``ModuleNotFoundError`` that says ``pip install zarr`` rather than a bare
``AttributeError`` on ``shoal.array`` (what a notebook moving from Dask hit before).

Nothing here is Zarr-specific beyond opening the store: a Zarr array is sliceable
and writable in place, so reading is :func:`~shoal.array.from_array` on it (its own
chunks by default, so every block reads whole Zarr chunks) and writing is
:func:`~shoal.array.store` into an array created with the source's chunk size.
Regular blocks then never share a Zarr chunk, so their writes need no lock
(irregular ones take one).  Only
``zarr.open_array`` is used, which Zarr 2 and 3 both have.
"""

from __future__ import annotations

from shoal.array.core import Array, from_array

__all__ = ["from_zarr", "to_zarr"]


def _zarr(what: str):
    try:
        import zarr
    except ImportError as e:
        raise ModuleNotFoundError(f"{what} needs the zarr package, not installed here: "
                                  f"pip install zarr", name="zarr") from e
    return zarr


def from_zarr(url, component=None, chunks=None, storage_options=None, **kwargs):
    """The Zarr array at *url* (a path, URL or store; or an opened ``zarr.Array``).

    ``component`` is the array's path inside a group; ``chunks`` defaults to the
    Zarr array's own chunks.  ``kwargs`` go to ``zarr.open_array``.
    """
    if hasattr(url, "shape") and hasattr(url, "dtype") and hasattr(url, "chunks"):
        z = url  # (already opened: no zarr import needed)
    else:
        zarr = _zarr("from_zarr")
        if storage_options:
            kwargs["storage_options"] = storage_options
        z = zarr.open_array(url, mode="r", path=component, **kwargs)
    if chunks is None:
        chunks = tuple(z.chunks) if z.chunks else "auto"
    return from_array(z, chunks=chunks)


def to_zarr(arr, url, component=None, overwrite=False, compute=True, storage_options=None,
            **kwargs):
    """Write *arr* to a new Zarr array at *url* (chunked like *arr*'s largest blocks).

    ``overwrite=False`` refuses an existing array there.  With ``compute=False`` a
    ``Delayed`` that does the writing is returned.  ``kwargs`` go to
    ``zarr.open_array`` (e.g. a compressor).
    """
    if not isinstance(arr, Array):
        raise TypeError(f"to_zarr: arr must be a shoal array, got {type(arr).__name__}")
    from shoal.array.io import store

    zarr = _zarr("to_zarr")
    if storage_options:
        kwargs["storage_options"] = storage_options
    try:
        z = zarr.open_array(url, mode="w" if overwrite else "w-", path=component,
                            shape=arr.shape, dtype=arr.dtype,
                            chunks=tuple(max(c, 1) for c in arr.chunksize), **kwargs)  # fmt: skip
    except FileExistsError as e:  # (zarr's message names its own mode='w')
        where = f"{url!r}" + (f" (component {component!r})" if component else "")
        raise FileExistsError(f"to_zarr: {where} already holds data; pass overwrite=True to "
                              f"replace it") from e
    # regular blocks each write whole Zarr chunks; irregular ones may share one: lock
    regular = all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in arr.chunks if c)
    return store(arr, z, lock=not regular, compute=compute)
