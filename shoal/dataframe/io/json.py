"""``read_json`` and ``to_json``: JSON files <-> a partitioned DataFrame.

Reading::

    read_json("logs/*.json", lines=True, blocksize=None)
      partitions   one per file; with lines=True and a blocksize, one per
                   line-aligned byte block (see io/_files.py), since every line
                   is a complete record
      meta         pandas' reading of the first `sample` bytes (whole lines) of
                   the first file, or of the whole first file when lines=False
      index        each partition's own RangeIndex: divisions unknown

Records that lack a key give a missing value in that column; a partition whose
dtypes disagree with the metadata raises the same ValueError as ``read_csv``
(listing the columns and the ``dtype={...}`` that fixes it), and harmless
differences are cast silently.

Writing: ``to_json(df, "out/*.json")`` writes one file per partition (``*``
replaced by the partition number; a name without ``*`` is a directory
receiving ``0.part``, ...), as JSON lines of records by default.
"""

from __future__ import annotations

import io
import os

import pandas as pd

from shoal.core.paths import check_block_encoding, local_path
from shoal.config import parse_bytes
from shoal.core.spec import Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import new_collection
from shoal.dataframe.io import _files
from shoal.dataframe.io._writing import run_writers

__all__ = ["read_json", "to_json"]


def read_json(url_path, orient="records", lines=None, blocksize=None, sample="1MiB",
              encoding="utf-8", compression="infer", dtype=None, include_path_column=False,
              **kwargs):
    """Read JSON files (a path, a glob or a list) into a shoal DataFrame.

    ``lines`` defaults to True for ``orient='records'`` (JSON lines).
    ``blocksize`` (bytes, or a string such as ``"16MiB"``) splits JSON-lines
    files into several partitions.  Other keywords go to ``pandas.read_json``.
    """
    if lines is None:
        lines = orient == "records"
    blocksize = parse_bytes(blocksize) if isinstance(blocksize, str) else blocksize
    if blocksize and not lines:
        raise ValueError("read_json can split files into blocks only with lines=True "
                         "(JSON lines); pass blocksize=None to read whole files")
    sample = parse_bytes(sample) if isinstance(sample, str) else int(sample)
    paths = _files.expand_paths(url_path)
    kwargs = {"orient": orient, "lines": lines, "encoding": encoding,
              "compression": compression, **kwargs}
    if dtype is not None:
        kwargs["dtype"] = dtype
    path_col = "path" if include_path_column is True else (include_path_column or None)
    post = {"path_column": path_col, "categories": paths,
            "fixed": frozenset(dtype) if isinstance(dtype, dict) else frozenset()}

    meta = _sample_meta(paths[0], sample if lines else None, kwargs, post)
    if dtype is not None and not isinstance(dtype, dict):
        post["fixed"] = frozenset(meta.columns)
    tokens = [_files.file_token(p) for p in paths]
    name = "read-json-" + tokenize(tokens, blocksize, sample, kwargs, post)
    layer = {}
    for path, (_, size, _) in zip(paths, tokens):
        ranges = _files.block_ranges(size, blocksize if lines else None)
        if _files.is_compressed(path, compression):
            ranges = [(0, None)]
        elif len(ranges) > 1:  # (cut at newline bytes: not in UTF-16)
            check_block_encoding(encoding, "read_json")
        for start, end in ranges:
            key = (name, len(layer))
            layer[key] = Task(key, _read_block, path, start, end, kwargs, meta, post)
    return new_collection({name: layer}, name, meta, (None,) * (len(layer) + 1))


def _sample_meta(path, sample, kwargs, post):
    if sample is None or _files.is_compressed(path, kwargs["compression"]):
        df = pd.read_json(path, **kwargs)
    else:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            end = _files.boundary(f, sample, size)
            f.seek(0)
            data = f.read(end)
        df = pd.read_json(io.BytesIO(data), **kwargs)
    return _add_path(df, post, path).iloc[:0]


def _add_path(df, post, path):
    col = post["path_column"]
    if col:
        df[col] = pd.Categorical([path] * len(df), categories=post["categories"])
    return df


def _read_block(path, start, end, kwargs, meta, post):
    """One partition: the JSON lines of *path* in [start, end), or the whole file."""
    source, where = _files.block_source(path, start, end)
    if source is None:
        return _files.empty_like(meta)
    df = pd.read_json(source, **kwargs)
    if not len(df):
        return _files.empty_like(meta)
    df = _add_path(df, post, path)
    missing = [c for c in meta.columns if c not in df.columns]
    if missing:  # no record in this partition has these keys
        df = df.reindex(columns=list(df.columns) + missing)
    return _files.conform(df, meta, post["fixed"], where, "read_json")


def to_json(df, url_path, orient="records", lines=None, name_function=None, compute=True,
            compute_kwargs=None, encoding="utf-8", **kwargs):
    """Write one JSON file per partition; returns the paths (or Delayed values)."""
    if lines is None:
        lines = orient == "records"
    url_path = local_path(url_path)  # (absolute here: see shoal.core.paths)
    if "*" not in url_path:
        os.makedirs(url_path, exist_ok=True)
        url_path = os.path.join(url_path, "*.part")
    name_function = name_function or str
    paths = [url_path.replace("*", name_function(i)) for i in range(df.npartitions)]
    for p in paths:
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    opts = {"orient": orient, "lines": lines, **kwargs}
    calls = [(_write_part, i, (p, encoding, opts)) for i, p in enumerate(paths)]
    return run_writers(df, "to-json", calls, compute, compute_kwargs)


def _write_part(part, path, encoding, opts):
    if isinstance(part, pd.Series):
        part = part.to_frame()
    with open(path, "w", encoding=encoding) as f:
        if len(part) or not opts.get("lines"):
            part.to_json(f, **opts)
    return path
