"""``read_hdf`` and ``to_hdf``: HDF5 files (pandas' HDFStore) <-> a partitioned DataFrame.

pandas' HDF5 support needs PyTables (the ``tables`` package); without it both
functions raise an ImportError naming it, before anything else happens.

Reading: one partition per (file, key) pair, or per ``chunksize`` rows of a
``format="table"`` key (whose row count the store knows); ``start``/``stop``
bound the rows of every key.  The divisions are unknown.

Writing: a ``*`` in *path* gives one file per partition; else a ``*`` in *key*
gives one key per partition in the one file; else every partition is appended
to the one key (``format="table"``).  Writes to one file are chained, in
order, since HDF5 files do not take concurrent writers.

This module is kept minimal and is untested here: PyTables is not installed in
the development environment.
"""

from __future__ import annotations

import os

import pandas as pd

from shoal.core.paths import local_path
from shoal.core.spec import Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import new_collection
from shoal.dataframe.io import _files
from shoal.dataframe.io._writing import run_writers

__all__ = ["read_hdf", "to_hdf"]


def _require_tables(what):
    try:
        import tables  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{what} needs PyTables for HDF5 files: pip install tables") from exc


def read_hdf(pattern, key, start=0, stop=None, columns=None, chunksize=1000000,
             sorted_index=False, lock=True, mode="r"):
    """Read the *key* of the HDF5 files matching *pattern* into a shoal DataFrame."""
    _require_tables("read_hdf")
    if sorted_index:
        raise NotImplementedError("read_hdf(sorted_index=True) is not supported; "
                                  "use .set_index(..., sorted=True) afterwards")
    paths = _files.expand_paths(pattern)
    parts, meta = [], None
    for path in paths:
        with pd.HDFStore(path, mode=mode) as store:
            keys = [k for k in store.keys() if _matches(k, key)]
            if not keys:
                raise KeyError(f"read_hdf: no key {key!r} in {path!r}")
            for k in keys:
                if meta is None:
                    meta = store.select(k, start=0, stop=0, columns=columns)
                parts.extend((path, k, lo, hi) for lo, hi in _row_ranges(store, k, start,
                                                                           stop, chunksize))
    name = "read-hdf-" + tokenize([_files.file_token(p) for p in paths], key, parts, columns)
    layer = {(name, i): Task((name, i), _read_rows, *part, columns, mode)
             for i, part in enumerate(parts)}
    return new_collection({name: layer}, name, meta, (None,) * (len(layer) + 1))


def _matches(store_key, key):
    import fnmatch

    want = key if key.startswith("/") else "/" + key
    return fnmatch.fnmatch(store_key, want)


def _row_ranges(store, key, start, stop, chunksize):
    storer = store.get_storer(key)
    if not storer.is_table:  # (fixed format: read whole)
        return [(start, stop)]
    stop = storer.nrows if stop is None else min(stop, storer.nrows)
    return [(lo, min(lo + chunksize, stop)) for lo in range(start, stop, chunksize)] or \
        [(start, stop)]


def _read_rows(path, key, start, stop, columns, mode):
    return pd.read_hdf(path, key, start=start, stop=stop, columns=columns, mode=mode)


def to_hdf(df, path, key, mode="a", append=False, scheduler=None, name_function=None,
           compute=True, lock=None, dask_kwargs=None, **kwargs):
    """Write *df* to HDF5 (see the module docstring for ``*`` in *path* or *key*)."""
    _require_tables("to_hdf")
    path = local_path(path)
    name_function = name_function or str
    compute_kwargs = dict(dask_kwargs or {}, **({"scheduler": scheduler} if scheduler else {}))
    n = df.npartitions
    if "*" in path:
        calls = [(_write_hdf, i, (path.replace("*", name_function(i)), key, mode, append,
                                  kwargs)) for i in range(n)]
        return run_writers(df, "to-hdf", calls, compute, compute_kwargs)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    calls = []
    for i in range(n):
        k = key.replace("*", name_function(i)) if "*" in key else key
        first = i == 0
        calls.append((_write_hdf, i, (path, k, mode if first else "a",
                                      append or ("*" not in key and not first),
                                      {**kwargs, "format": "table"} if "*" not in key and n > 1
                                      else kwargs)))
    return run_writers(df, "to-hdf", calls, compute, compute_kwargs, chain=True)


def _write_hdf(part, path, key, mode, append, kwargs, after=None):
    part.to_hdf(path, key=key, mode=mode, append=append, **kwargs)
    return path
