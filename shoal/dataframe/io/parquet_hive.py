"""Hive-style partitioned Parquet directories (``to_parquet(partition_on=[...])``).

Writing: each partition is grouped by the ``partition_on`` columns; group
``(a, b)`` of partition ``i`` goes to ``col1=a/col2=b/part.i.parquet`` under the
root, without those columns (their values live in the directory names), as Dask
and pyarrow lay it out.  Missing values are written as pyarrow's
``__HIVE_DEFAULT_PARTITION__``.  Values are percent-encoded in the folder names
(``a b`` -> ``a%20b``, ``x/y`` -> ``x%2Fy``) and decoded on reading, as pyarrow
(``pandas.to_parquet(partition_cols=...)``) does.

Reading: a directory whose files sit under ``name=value`` folders is read one
partition per file; the partition columns are appended after the stored ones as
categoricals whose categories are every value found (sorted), typed as pyarrow
infers them (integers as ``int32``, else strings), which is what Dask gives.
The columns are added to each file's pyarrow table before ``filters`` run, so
filters on them work like filters on stored columns; files whose folder values no
filter can keep are not read at all (``parquet_prune.py``).
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, unquote

import pandas as pd

from shoal.dataframe.io import _files

__all__ = ["add_columns", "extend_schema", "hive_files", "write_part"]

_NULL = NULL = "__HIVE_DEFAULT_PARTITION__"
_SEGMENT = re.compile(r"^([^=/]+)=(.*)$")
_INT = re.compile(r"^-?[0-9]+$")


def _values_of(path, root):
    """``{column: raw string}`` from the ``name=value`` folders between *root* and *path*."""
    rel = os.path.relpath(os.path.dirname(path), root)
    out = {}
    for seg in [] if rel == "." else rel.split(os.sep):
        m = _SEGMENT.match(seg)
        if m:
            out[unquote(m.group(1))] = unquote(m.group(2))
    return out


def partition_values(path, root):
    """``{column: raw string}`` of one file's folders (``NULL`` for a missing value)."""
    return _values_of(path, root)


def hive_files(root, suffixes):
    """``(files, categories)`` for a hive-partitioned directory, or None if it is not one.

    *categories* maps each partition column to its sorted, typed values.
    """
    if not os.path.isdir(root):
        return None
    subdirs = [d for d in os.listdir(root) if _SEGMENT.match(d) and
               os.path.isdir(os.path.join(root, d))]
    if not subdirs:
        return None
    files = []
    for here, dirs, names in os.walk(root):
        dirs.sort(key=_files.natural_key)
        files.extend(os.path.join(here, n) for n in names if n.endswith(suffixes))
    files.sort(key=_files.natural_key)
    raw: dict = {}
    for f in files:
        for col, value in _values_of(f, root).items():
            raw.setdefault(col, set()).add(value)
    return files, {col: _typed(values) for col, values in raw.items()}


def _typed(values):
    present = sorted(v for v in values if v != _NULL)
    if not all(_INT.match(v) for v in present):  # (int() takes " 5", "1_0", "+5": pyarrow not)
        return present
    ints = sorted(int(v) for v in present)
    # (int32 as pyarrow infers them; values beyond it stay strings, as pyarrow's do)
    return ints if all(-2**31 <= v < 2**31 for v in ints) else present


def _dictionary(cats):
    import pyarrow as pa

    return pa.array(cats, type=pa.int32() if cats and isinstance(cats[0], int) else pa.string())


def extend_schema(schema, cats):
    """The stored schema with the partition columns (dictionaries) appended."""
    import pyarrow as pa

    for col, values in cats.items():
        if col not in schema.names:
            schema = schema.append(pa.field(col, pa.dictionary(pa.int32(),
                                                               _dictionary(values).type)))
    return schema


def add_columns(table, path, hive):
    """*table* (one file's rows) with its partition columns appended."""
    import pyarrow as pa

    root, cats = hive
    found = _values_of(path, root)
    for col, values in cats.items():
        if col in table.column_names:
            continue
        raw = found.get(col, _NULL)
        value = None if raw == _NULL else (int(raw) if values and isinstance(values[0], int)
                                           else raw)
        code = None if value is None else values.index(value)
        indices = pa.array([code] * table.num_rows, type=pa.int32())
        table = table.append_column(col, pa.DictionaryArray.from_arrays(indices,
                                                                          _dictionary(values)))
    return table


def _folder(keys, values):
    return os.path.join(*(f"{k}={_NULL if pd.isna(v) else quote(str(v), safe='')}"
                          for k, v in zip(keys, values)))


def existing_files(root, suffixes):
    """The Parquet files already in *root*: its own names, and the paths (relative to
    *root*) of those under its ``name=value`` folders; links are not followed."""
    out = [n for n in os.listdir(root) if n.endswith(suffixes)]
    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if _SEGMENT.match(d)
                         and not os.path.islink(os.path.join(here, d)))
        if here != root:
            out.extend(os.path.relpath(os.path.join(here, n), root) for n in names
                       if n.endswith(suffixes) and os.path.isfile(os.path.join(here, n)))
    return out


def prune(root):
    """Remove the ``name=value`` folders under *root* left empty (only those)."""
    for here, _dirs, _names in os.walk(root, topdown=False):
        if here != root and _SEGMENT.match(os.path.basename(here)) and not os.listdir(here):
            os.rmdir(here)


def write_part(part, root, filename, keys, opts):
    """Write one partition's groups under *root* (pure apart from the files)."""
    from shoal.dataframe.io.parquet import _write_part

    missing = [k for k in keys if k not in part.columns]
    if missing:
        raise KeyError(f"to_parquet(partition_on=...): {missing} are not columns")
    paths = []
    for values, group in part.groupby(list(keys), sort=True, dropna=False, observed=True):
        values = values if isinstance(values, tuple) else (values,)
        folder = os.path.join(root, _folder(keys, values))
        os.makedirs(folder, exist_ok=True)
        paths.append(_write_part(group.drop(columns=list(keys)), os.path.join(folder, filename),
                                 opts))
    return paths


def known_categories(meta, cats):
    """*meta* with every partition column's categories set to the values found."""
    meta = meta.copy()
    for col, values in cats.items():
        if isinstance(meta, pd.DataFrame) and col in meta.columns:
            meta[col] = meta[col].cat.set_categories(pd.Index(values, dtype=_dictionary(
                values).type.to_pandas_dtype() if values and isinstance(values[0], int) else None))
    return meta
