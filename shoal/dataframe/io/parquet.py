"""``read_parquet`` and ``to_parquet`` with pyarrow.

Reading::

    read_parquet("out/")               every *.parquet file in the directory (natural order)
      partitions   one per file, or per row group (split_row_groups=True, or N
                   row groups per partition with split_row_groups=N)
      meta         from the first file's schema (no data read), through the
                   same pandas conversion the partitions use
      index        restored from the pandas metadata pyarrow stores (a named
                   index column, or a RangeIndex kept as metadata); index=False
                   turns it into columns, index="col" sets one
      divisions    unknown, unless calculate_divisions=True and the row-group
                   statistics of the index column are sorted and disjoint

``filters`` (pyarrow's DNF list such as ``[("x", ">", 3)]``) remove rows inside
each partition; partitions are not dropped, so some may be empty -- except in a
hive directory (``col=value`` folders), where the files whose folder values no
filter can keep are never read (``parquet_prune.py``).

Writing: one task per partition writes ``part.{i}.parquet`` into the directory
(the index as pyarrow does it: a RangeIndex as metadata, other indexes as
columns; ``write_index=False`` drops it).  Each partition's schema comes from
its own data, so a column that is entirely empty in one partition may be
stored with a different type there.  No ``_metadata`` summary file is written.
"""

from __future__ import annotations

import os
import re

import pandas as pd

from shoal.core.paths import local_path
from shoal.core.spec import Fused, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import new_collection
from shoal.dataframe.io import _files, parquet_hive, parquet_prune
from shoal.dataframe.io._writing import run_writers

__all__ = ["read_parquet", "to_parquet"]

_SUFFIXES = (".parquet", ".parq", ".pq")


def _pq():
    import pyarrow.parquet as pq

    return pq


def read_parquet(path, columns=None, filters=None, index=None, split_row_groups=False,
                 calculate_divisions=False, engine="pyarrow", **kwargs):
    """Read Parquet files (a file, a directory, a glob or a list) into a DataFrame.

    ``columns``: a list selects columns; a single name gives a Series.
    """
    if engine not in ("pyarrow", "auto"):
        raise ValueError(f"read_parquet supports engine='pyarrow' only, got {engine!r}")
    kwargs = _dask_read_options(kwargs)
    pq = _pq()
    hive = None if isinstance(path, (list, tuple)) else \
        parquet_hive.hive_files(local_path(path), _SUFFIXES)  # (col=value folders)
    paths = hive[0] if hive else _files.expand_paths(path, suffixes=_SUFFIXES)
    schema = pq.read_schema(paths[0])
    hive = hive and (local_path(path), hive[1])
    if hive:
        schema = parquet_hive.extend_schema(schema, hive[1])
        if filters:  # files no filter can keep are never read (one stays: the empty result)
            paths = parquet_prune.prune(paths, hive, filters) or paths[:1]
    index_cols = _index_columns(schema)
    filter_cols = _filter_columns(filters)
    opts = {"columns": columns, "index": index, "index_cols": index_cols,
            "filters": filters, "filter_cols": filter_cols, "kwargs": kwargs, "hive": hive}
    meta = _finish(schema.empty_table(), opts).iloc[:0]
    if hive:  # (an empty dictionary: the categories are the values found)
        meta = parquet_hive.known_categories(meta, hive[1])
    if index in (None, True):  # an empty table loses a RangeIndex's name
        ranges = [c for c in (schema.pandas_metadata or {}).get("index_columns", [])
                  if isinstance(c, dict) and c.get("kind") == "range"]
        if len(ranges) == 1 and ranges[0].get("name") is not None:
            meta.index.name = ranges[0]["name"]

    tokens = [_files.file_token(p) for p in paths]
    parts = []  # (path, row groups or None)
    stats = []
    for p in paths:
        if split_row_groups or calculate_divisions:
            pf = pq.ParquetFile(p)
            md = pf.metadata
            step = 1 if split_row_groups is True else int(split_row_groups or md.num_row_groups)
            groups = [list(range(s, min(s + step, md.num_row_groups)))
                      for s in range(0, max(md.num_row_groups, 1), max(step, 1))]
            for g in groups:
                parts.append((p, g if split_row_groups else None))
                stats.append(_index_stats(pf, g, index_cols) if calculate_divisions else None)
        else:
            parts.append((p, None))
    name = "read-parquet-" + tokenize(tokens, columns, filters, index, split_row_groups, kwargs)
    opts["first"] = _data_fields(schema)  # (each partition is held to it)
    layer = {(name, i): Task((name, i), _read_part, p, g, opts) for i, (p, g) in enumerate(parts)}
    divisions = _divisions(stats) if calculate_divisions and index in (None, True) else None
    return new_collection({name: layer}, name, meta, divisions or (None,) * (len(parts) + 1))


def _index_columns(schema) -> list:
    md = schema.pandas_metadata or {}
    return [c for c in md.get("index_columns", []) if isinstance(c, str)]


def _filter_columns(filters) -> list:
    if not filters:
        return []
    groups = parquet_prune.check_filters(filters)  # (a list of conjunctions)
    return sorted({f[0] for g in groups for f in g}, key=str)


def _read_part(path, row_groups, opts):
    """One partition: a whole file, or the listed row groups of it."""
    pq = _pq()
    want = None
    if opts["columns"] is not None:
        cols = [opts["columns"]] if isinstance(opts["columns"], str) else list(opts["columns"])
        index = opts["index"]
        named = [index] if isinstance(index, str) else list(index) if isinstance(index, list) else []
        want = list(dict.fromkeys(cols + opts["filter_cols"] + named))
        if opts["hive"]:  # (not stored: added from the path below)
            want = [c for c in want if c not in opts["hive"][1]]
    try:  # (pyarrow's errors name no file: a file rewritten since the graph was built)
        f = pq.ParquetFile(path)
        if row_groups is None:
            table = f.read(columns=want, use_pandas_metadata=True)
        else:
            table = f.read_row_groups(row_groups, columns=want, use_pandas_metadata=True)
    except Exception as exc:
        exc.add_note(f"read_parquet: while reading {path!r}"
                     + (f" (row groups {row_groups})" if row_groups is not None else ""))
        raise
    if opts["hive"]:
        table = parquet_hive.add_columns(table, path, opts["hive"])
    if opts["filters"]:
        table = table.filter(pq.filters_to_expression(opts["filters"]))
    whole = opts["columns"] is None
    got = _same_schema(table, opts["first"], path, whole)
    order = [name for name in opts["first"] if name in got]  # (the metadata's)
    if whole and list(got) != order:  # (the stored index kept, after them)
        table = table.select(order + [name for name in table.column_names if name not in got])
    return _finish(table, opts)


def _data_fields(schema) -> dict:
    """*schema*'s columns but a stored index (pandas keeps a RangeIndex as metadata, any
    other index as columns: one file of a frame may have either) -> their Arrow types."""
    index = {c for c in (schema.pandas_metadata or {}).get("index_columns", [])
             if isinstance(c, str)}  # fmt: skip
    return {f.name: f.type for f in schema
            if f.name not in index and not f.name.startswith("__index_level_")}


def _same_schema(table, first: dict, path, whole: bool) -> dict:
    """Raise a ValueError naming the file and the columns when *table* (one partition, as
    read) disagrees with the first file's schema (*first*: column -> Arrow type): another
    type, a column that file lacks, or (*whole*: every column read) one it has.  (A
    file of another schema was read as it was: other dtypes, extra columns, missing ones
    filled, without a word.)  Arrow types, not pandas dtypes, are compared: an int column
    with a null is float in pandas, an all-null one object; both are the same column.
    Stored index columns are left out (:func:`_data_fields`); the data columns found."""
    got = _data_fields(table.schema)
    differ = [f"{name!r}: {got[name]} (expected {first.get(name, 'no such column')})"
              for name in got if not _same_type(got[name], first.get(name))]  # fmt: skip
    if whole:
        differ += [f"{name!r}: missing (expected {first[name]})" for name in first
                   if name not in got]  # fmt: skip
    if differ:
        raise ValueError(f"read_parquet: {path!r} does not have the schema of the first file "
                         f"read: {'; '.join(differ)}. The files of one read must share a "
                         "schema: read those apart, or rewrite them with one.")  # fmt: skip
    return got


def _same_type(found, expected) -> bool:
    """Whether two Arrow types hold the same column (string and large_string alike, a
    dictionary's indices any width, a timestamp any unit, a decimal any precision and
    scale, a null column anything)."""
    import pyarrow as pa

    if expected is None:
        return False
    if found == expected or pa.types.is_null(found) or pa.types.is_null(expected):
        return True
    def text(t):
        return pa.types.is_string(t) or pa.types.is_large_string(t)

    if text(found) or text(expected):
        return text(found) and text(expected)
    if pa.types.is_dictionary(found) and pa.types.is_dictionary(expected):
        return _same_type(found.value_type, expected.value_type)
    if pa.types.is_timestamp(found) and pa.types.is_timestamp(expected):
        return found.tz == expected.tz
    if pa.types.is_decimal(found) and pa.types.is_decimal(expected):
        return True  # (each part's precision and scale are its own values': Decimals all)
    return False


#: Dask's read_parquet keywords that tune how it plans the read (shoal reads each file's
#: footer itself and needs no metadata file): taken and left alone.
_PLANNING = ("ignore_metadata_file", "metadata_task_size", "aggregate_files", "blocksize",
             "parquet_file_extension", "open_file_options", "gather_statistics")  # fmt: skip


def _local_only(storage_options, what: str) -> None:
    if storage_options:
        raise NotImplementedError(f"{what}(storage_options=...): shoal reads and writes local "
                                  f"paths only, got {storage_options!r}")  # fmt: skip


def _dask_read_options(kwargs: dict) -> dict:
    """*kwargs* less Dask's own read_parquet keywords (they went to pyarrow's
    ``to_pandas`` and failed there), ``dtype_backend`` kept for :func:`_finish`."""
    kwargs = dict(kwargs)
    for name in _PLANNING:
        kwargs.pop(name, None)
    _local_only(kwargs.pop("storage_options", None), "read_parquet")
    backend = kwargs.get("dtype_backend")
    if backend not in (None, "numpy_nullable", "pyarrow"):
        raise ValueError(f"read_parquet(dtype_backend=...) must be 'numpy_nullable' or "
                         f"'pyarrow', got {backend!r}")  # fmt: skip
    return kwargs


def _to_pandas(table, kwargs: dict):
    kwargs = dict(kwargs)
    backend = kwargs.pop("dtype_backend", None)
    if backend == "pyarrow":
        kwargs.setdefault("types_mapper", pd.ArrowDtype)
    elif backend == "numpy_nullable":
        return table.to_pandas(**kwargs).convert_dtypes(dtype_backend="numpy_nullable")
    return table.to_pandas(**kwargs)


def _finish(table, opts):
    """The pandas partition for a pyarrow table: columns, index and filters applied."""
    df = _to_pandas(table, opts["kwargs"])
    index = opts["index"]
    if index is False:
        df = df.reset_index(drop=isinstance(df.index, pd.RangeIndex))
    elif index not in (None, True):
        df = df.reset_index(drop=isinstance(df.index, pd.RangeIndex)).set_index(index)
    columns = opts["columns"]
    if columns is not None:
        if isinstance(columns, str):
            return df[columns]
        return df[list(columns)]
    return df


def _index_stats(pf, groups, index_cols):
    """``(min, max)`` of the index over row *groups* of ParquetFile *pf*, or None."""
    md = pf.metadata
    if not index_cols:  # a RangeIndex kept as metadata: positions give the values
        ranges = [c for c in (pf.schema_arrow.pandas_metadata or {}).get("index_columns", [])
                  if isinstance(c, dict) and c.get("kind") == "range"]
        if len(ranges) != 1 or ranges[0]["step"] <= 0 or not groups:
            return None
        before = sum(md.row_group(g).num_rows for g in range(groups[0]))
        rows = sum(md.row_group(g).num_rows for g in groups)
        if not rows:
            return None
        start, step = ranges[0]["start"], ranges[0]["step"]
        return (start + step * before, start + step * (before + rows - 1))
    if len(index_cols) != 1:
        return None
    names = [md.schema.column(j).name for j in range(md.num_columns)]
    if index_cols[0] not in names:
        return None
    j = names.index(index_cols[0])
    lo = hi = None
    for g in groups:
        st = md.row_group(g).column(j).statistics
        if st is None or not st.has_min_max:
            return None
        lo = st.min if lo is None else min(lo, st.min)
        hi = st.max if hi is None else max(hi, st.max)
    return None if lo is None else (lo, hi)


def _divisions(stats):
    if not stats or any(s is None for s in stats):
        return None
    for (_, hi), (lo, _) in zip(stats, stats[1:]):
        if not hi < lo:
            return None
    return [s[0] for s in stats] + [stats[-1][1]]


# -- writing ----------------------------------------------------------------------

def to_parquet(df, path, write_index=True, compute=True, overwrite=False, name_function=None,
               compression="snappy", compute_kwargs=None, write_metadata_file=None, **kwargs):
    """Write one ``part.{i}.parquet`` file per partition into directory *path*
    (``write_metadata_file=True``: and a ``_metadata`` file of all their row groups, made
    from their footers once they are written; shoal's own reads do not need it).

    Returns None (``compute=True``), or a Delayed that writes when computed.
    Existing Parquet files that this write would not replace (with ``partition_on``:
    any, also those in ``col=value`` folders) raise FileExistsError unless
    ``overwrite=True``, which deletes them first (only Parquet files in *path* and its
    ``col=value`` folders; those left empty are removed).
    """
    partition_on = kwargs.pop("partition_on", None) or None
    if isinstance(partition_on, str):
        partition_on = [partition_on]
    kwargs, append = _dask_write_options(kwargs)
    path = local_path(path)  # (absolute here: see shoal.core.paths)
    os.makedirs(path, exist_ok=True)
    existing = parquet_hive.existing_files(path, _SUFFIXES)  # (and those in col=value/)
    start = _next_part([os.path.basename(n) for n in existing]) if append else 0
    name_function = name_function or (lambda i: f"part.{i}.parquet")
    names = [name_function(start + i) for i in range(df.npartitions)]
    taken = {os.path.basename(n) for n in existing} if partition_on else set(existing)
    if append and set(names) & taken:
        raise FileExistsError(f"to_parquet(append=True): {sorted(set(names) & taken)[:3]} "
                              f"already exist in {path!r}; a name_function must give new names")
    # (partition_on: which col=value/ files get replaced is known only once written)
    stale = [] if append else sorted(set(existing) - (set() if partition_on else set(names)))
    if stale and not overwrite:
        raise FileExistsError(
            f"{path!r} already holds Parquet files this write would not replace "
            f"({stale[:3]}...); reading the directory would mix old and new data. "
            "Pass overwrite=True to delete them first, or write to another directory.")
    if overwrite:
        doomed = {os.path.join(path, n) for n in existing}
        read = _reads_from(df.__shoal_graph__(), doomed)
        if read is not None:  # (deleted first, then read: every row was lost)
            raise ValueError(f"to_parquet: overwrite=True would delete {read!r}, which this "
                             "dataframe reads; write to another directory")  # fmt: skip
        for f in doomed:
            os.remove(f)
        parquet_hive.prune(path)  # (col=value folders left empty)
    opts = {"write_index": write_index, "compression": compression, **kwargs}
    calls = [(_write_part, i, (os.path.join(path, n), opts)) for i, n in enumerate(names)]
    if partition_on:  # col=value/part.i.parquet (parquet_hive.py)
        missing = [c for c in partition_on if c not in df._meta.columns]
        if missing:
            raise KeyError(f"to_parquet(partition_on=...): {missing} are not columns; "
                           f"columns: {list(df._meta.columns)}")
        calls = [(parquet_hive.write_part, i, (path, n, tuple(partition_on), opts))
                 for i, n in enumerate(names)]
    out = run_writers(df, "to-parquet", calls, compute, compute_kwargs)
    finish = _write_metadata if write_metadata_file else _done
    if not compute:
        from shoal.delayed import delayed

        return delayed(finish, pure=True)(out, path)
    finish(out, path)
    return None


def _write_metadata(paths, folder):
    """``_metadata`` and ``_common_metadata`` in *folder*, from every part file's footer."""
    pq = _pq()
    files = sorted(parquet_hive.existing_files(folder, _SUFFIXES), key=_part_order)
    merged = None
    for name in files:
        footer = pq.read_metadata(os.path.join(folder, name))
        footer.set_file_path(name)
        if merged is None:
            merged = footer
        else:
            merged.append_row_groups(footer)
    if merged is not None:
        schema = pq.read_schema(os.path.join(folder, files[0]))
        pq.write_metadata(schema, os.path.join(folder, "_common_metadata"))
        merged.write_metadata_file(os.path.join(folder, "_metadata"))


def _part_order(name):
    m = re.match(r"part\.(\d+)\.", name)
    return (0, int(m.group(1)), name) if m else (1, 0, name)


def _dask_write_options(kwargs: dict):
    """``(pyarrow keywords, append)`` from a to_parquet call in Dask's spelling: ``engine``,
    ``schema="infer"``, ``storage_options`` (local: none), ``append``, and
    ``custom_metadata`` (key-value pairs in every part's schema)."""
    kwargs = dict(kwargs)
    engine = kwargs.pop("engine", "pyarrow")
    if engine not in ("pyarrow", "auto"):
        raise ValueError(f"to_parquet supports engine='pyarrow' only, got {engine!r}")
    if kwargs.pop("schema", "infer") not in ("infer", None):
        raise NotImplementedError("to_parquet(schema=...): only 'infer' (each part's schema "
                                  "from its data) is supported")  # fmt: skip
    _local_only(kwargs.pop("storage_options", None), "to_parquet")
    kwargs.pop("ignore_divisions", None)
    custom = kwargs.pop("custom_metadata", None)
    if custom is not None:
        if not isinstance(custom, dict):
            raise TypeError(f"to_parquet(custom_metadata=...) must be a dict, got {custom!r}")
        kwargs["_custom_metadata"] = {str(k).encode() if not isinstance(k, bytes) else k:
                                      str(v).encode() if not isinstance(v, bytes) else v
                                      for k, v in custom.items()}  # fmt: skip
    return kwargs, bool(kwargs.pop("append", False))


def _next_part(existing: list) -> int:
    """The number after the highest ``part.N`` among *existing* names (0 when none)."""
    numbers = [int(m.group(1)) for n in existing if (m := re.match(r"part\.(\d+)\.", n))]
    return max(numbers, default=-1) + 1


def _reads_from(graph, files: set):
    """A file of *files* that a task of *graph* names (its path as an argument), or None."""
    stack = list(graph.values())
    while stack:
        node = stack.pop()
        if isinstance(node, Task):
            stack.extend(node.args)
            stack.extend(node.kwargs.values())
        elif isinstance(node, Fused):
            stack.extend(node.nodes)
        elif isinstance(node, (list, tuple, set, frozenset)):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, str) and node in files:
            return node
    return None


def _done(_paths, _folder=None):
    return None


def _write_part(part, path, opts):
    import pyarrow as pa

    opts = dict(opts)
    preserve = None if opts.pop("write_index") else False
    if isinstance(part, pd.Series):
        part = part.to_frame()
    custom = opts.pop("_custom_metadata", None)
    table = pa.Table.from_pandas(part, preserve_index=preserve)
    if custom:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **custom})
    _pq().write_table(table, path, **opts)
    return path
