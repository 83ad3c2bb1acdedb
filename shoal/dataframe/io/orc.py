"""``read_orc`` and ``to_orc``: ORC files <-> a partitioned DataFrame (via pyarrow.orc).

Reading::

    read_orc("data/", columns=None, index=None, split_stripes=1)
      files        the directory's files, a glob's matches (sorted) or a list, in order
      footers      each file's stripe count, read now (the data is not)
      task i       _read_stripes(path, first, count, columns, index): one group of
                   ``split_stripes`` consecutive stripes (the whole file when False/None)
      meta         the first file's schema, as an empty pandas frame

An ORC stripe is the format's unit of independent reading (like a Parquet row
group), so grouping stripes is the natural way to cut big files.  ORC keeps no
pandas metadata: ``index=`` names a column to make the index of every
partition; the divisions are unknown.

Writing: one ``part.<i>.orc`` file per partition in the directory *path*.  With
``write_index=True`` a meaningful index (named, or not a plain RangeIndex, judged
from the metadata so that every file has the same columns) is stored as the last
column, as Dask does.
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

__all__ = ["read_orc", "to_orc"]


def _orc():
    try:
        from pyarrow import orc
    except ImportError as exc:  # (pyarrow builds without ORC exist)
        raise ImportError("read_orc/to_orc need pyarrow with ORC support: "
                          "pip install pyarrow") from exc
    return orc


def read_orc(path, engine="pyarrow", columns=None, index=None, split_stripes=1,
             aggregate_files=None, storage_options=None):
    """Read ORC files into a shoal DataFrame: one partition per file, or per
    ``split_stripes`` stripes of a file.  *columns* selects columns; *index*
    names a column to use as the index."""
    if engine != "pyarrow":
        raise ValueError(f"read_orc(engine=...) supports only 'pyarrow', got {engine!r}")
    if storage_options:
        raise NotImplementedError("read_orc reads local files only (storage_options=)")
    if split_stripes not in (None, False) and (not isinstance(split_stripes, int)
                                               or split_stripes < 1):
        raise ValueError("read_orc(split_stripes=...) must be a positive int or False, "
                         f"got {split_stripes!r}")
    orc = _orc()
    paths = _files.expand_paths(path)
    columns = [columns] if isinstance(columns, str) else columns
    meta = _meta(orc.ORCFile(paths[0]), paths[0], columns, index)
    tokens = [_files.file_token(p) for p in paths]
    name = "read-orc-" + tokenize(tokens, columns, index, split_stripes)
    layer = {}
    for p in paths:
        for first, count in _stripe_groups(orc.ORCFile(p).nstripes, split_stripes):
            key = (name, len(layer))
            layer[key] = Task(key, _read_stripes, p, first, count, columns, index, meta)
    return new_collection({name: layer}, name, meta, (None,) * (len(layer) + 1))


def _stripe_groups(nstripes: int, split_stripes) -> list:
    """``(first, count)`` per partition; count None means the whole file."""
    if not split_stripes or nstripes <= 1:
        return [(0, None)]
    return [(s, min(split_stripes, nstripes - s)) for s in range(0, nstripes, split_stripes)]


def _meta(orc_file, path, columns, index):
    names = orc_file.schema.names
    wanted = list(columns or names) + ([index] if index and columns and index not in columns
                                       else [])
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ValueError(f"read_orc: columns {missing} are not in {path!r} "
                         f"(it has {names})")
    meta = orc_file.schema.empty_table().select(wanted).to_pandas()
    return meta.set_index(index) if index else meta


def _read_stripes(path, first, count, columns, index, meta):
    """One partition: *count* stripes of *path* from stripe *first* (all when None)."""
    import pyarrow as pa

    orc_file = _orc().ORCFile(path)
    wanted = list(meta.columns) + ([index] if index else []) if columns else None
    if count is None:
        table = orc_file.read(columns=wanted)
    else:
        batches = [orc_file.read_stripe(i, columns=wanted) for i in range(first, first + count)]
        table = pa.Table.from_batches(batches)
    df = table.to_pandas()
    df = df.set_index(index) if index else df
    return df[list(meta.columns)].astype(meta.dtypes.to_dict())


# -- writing ----------------------------------------------------------------------

def to_orc(df, path, engine="pyarrow", write_index=True, storage_options=None, compute=True,
           compute_kwargs=None):
    """Write one ``part.<i>.orc`` file per partition into the directory *path*.

    Returns the paths written, or with ``compute=False`` Delayed writers.
    """
    if engine != "pyarrow":
        raise ValueError(f"to_orc(engine=...) supports only 'pyarrow', got {engine!r}")
    if storage_options:
        raise NotImplementedError("to_orc writes local files only (storage_options=)")
    _orc()
    path = local_path(path)
    if os.path.isfile(path):
        raise ValueError(f"to_orc(path=...) must be a directory, {path!r} is a file")
    os.makedirs(path, exist_ok=True)
    index = df._meta.index
    keep = write_index and not (isinstance(index, pd.RangeIndex) and index.name is None)
    calls = [(_write_orc, i, (os.path.join(path, f"part.{i}.orc"), keep))
             for i in range(df.npartitions)]
    return run_writers(df, "to-orc", calls, compute, compute_kwargs)


def _write_orc(part, path, keep_index):
    """One file; the index as (last) column(s) when *keep_index*, decided for all parts."""
    import pyarrow as pa

    if keep_index:
        names = list(part.columns)
        part = part.reset_index()
        part = part[names + [c for c in part.columns if c not in names]]
    table = pa.Table.from_pandas(part, preserve_index=False)
    _orc().write_table(table.replace_schema_metadata(None), path)
    return path
