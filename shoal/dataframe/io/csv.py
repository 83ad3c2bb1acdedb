"""``read_csv`` and ``to_csv``: CSV files <-> a partitioned DataFrame.

Reading builds one task per *line-aligned byte block* of every file::

    read_csv("data/*.csv", blocksize="64MiB")
      files        sorted glob matches (a list keeps its order)
      partitions   per file, ceil(size / blocksize) blocks (see io/_files.py)
      task i       _read_block(path, start, end, preamble, kwargs, meta, post)
      meta         pandas' reading of the first `sample` bytes of the first file

Every block after a file's first gets that file's *preamble* (its ``skiprows``
lines and header line, read once while building the graph) put in front, and
the same pandas keywords are used for every block, so pandas names the columns
the same way everywhere.  Partitions have their own RangeIndex, so the
divisions are unknown.  Compressed files (``.gz`` ...) are read whole: one
partition per file.

Blocks are cut at newlines without parsing, so a newline inside a quoted field
can split a row between two blocks; pass ``blocksize=None`` for such files.

dtypes come from the sample.  A block that parses differently -- the classic
case being an integer column with missing values further on, read as float64
-- raises (at compute time) a ValueError listing the columns with their found
and expected dtypes and the ``dtype={...}`` argument that fixes it; columns
given in ``dtype=`` are cast and never reported, and harmless differences
(int64 where float64 is expected, an all-empty stretch of a text column) are
cast silently.

``parse_dates={"Date": [0, 1, 2]}`` (the spelling pandas 3 removed) is done here:
the listed columns (by position among the parsed columns, or by name) become
one datetime column placed first, and the sources are dropped.  Three integer
columns are read as year, month, day; anything else is joined with spaces and
parsed.  A flat list of columns goes to pandas as usual.

Writing: one task per partition, each writing its own file (``*`` in the name is
replaced by the partition number); with ``single_file=True`` the tasks are
chained so the partitions are appended in order, the header written once.
"""

from __future__ import annotations

import io
import numbers
import os

import pandas as pd

from shoal.core.paths import check_block_encoding, local_path
from shoal.config import parse_bytes
from shoal.core.spec import Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import new_collection
from shoal.dataframe.io import _files
from shoal.dataframe.io._writing import run_writers

__all__ = ["read_csv", "to_csv"]

_NOT_WITH_BLOCKS = ("skipfooter",)


def read_csv(urlpath, blocksize="64MiB", sample="256kB", dtype=None, usecols=None,
             parse_dates=None, include_path_column=False, assume_missing=False,
             **kwargs):
    """Read CSV files into a shoal DataFrame, one partition per line-aligned block.

    *urlpath* is a path, a glob or a list of paths.  ``blocksize`` (bytes or a
    string such as ``"16MiB"``; None for one partition per file) sets the size
    of the partitions; ``sample`` how many bytes of the first file are read now
    to learn the columns and dtypes.  ``include_path_column=True`` (or a column
    name) adds a categorical column with each row's file; ``assume_missing``
    reads integer columns as float64.  Other keywords go to ``pandas.read_csv``.

    ``skiprows``: a count, or a list naming only lines before a file's first row of
    data (the header region), keeps the files split into blocks; a list naming later
    lines, or a callable, reads each file as one partition (the numbers are the file's).
    """
    for bad in ("index_col", "chunksize", "iterator", "nrows"):
        if kwargs.get(bad) not in (None, False):
            raise ValueError(f"read_csv does not support {bad}= on a partitioned read; "
                             + ("use .set_index() afterwards" if bad == "index_col"
                                else "use .head() or .partitions instead"))
    kwargs.pop("index_col", None)
    parser = kwargs.pop("_parser", "read_csv")  # ("read_fwf" from io/fwf.py)
    per_file = kwargs.pop("_file_kwargs", None) or {}  # ({path: keywords}, from io/fwf.py)
    sample_rows = kwargs.pop("sample_rows", None)  # (Dask's: the sample's rows read for dtypes)
    if sample_rows is not None and (not isinstance(sample_rows, int) or sample_rows < 1):
        raise ValueError(f"read_csv(sample_rows=...) must be a positive int, got {sample_rows!r}")
    paths = _files.expand_paths(urlpath)
    blocksize = parse_bytes(blocksize) if isinstance(blocksize, str) else blocksize
    sample = parse_bytes(sample) if isinstance(sample, str) else int(sample or 0)
    if dtype is not None:
        kwargs["dtype"] = dtype
    if usecols is not None:
        kwargs["usecols"] = usecols
    dates = _date_specs(parse_dates)
    if dates is None:
        kwargs["parse_dates"] = parse_dates
    if kwargs.get("parse_dates") is None:
        kwargs.pop("parse_dates", None)
    if callable(kwargs.get("skiprows")) or any(kwargs.get(k) for k in _NOT_WITH_BLOCKS):
        blocksize = None  # row-number based options only make sense on whole files
    path_col = "path" if include_path_column is True else (include_path_column or None)
    post = {"dates": dates or [], "path_column": path_col, "categories": paths, "parser": parser,
            "fixed": _fixed(dtype)}

    meta = _sample_meta(paths[0], sample, {**kwargs, **per_file.get(paths[0], {})}, post,
                        sample_rows)
    if dtype is not None and not isinstance(dtype, dict):
        post["fixed"] = frozenset(meta.columns)
    if assume_missing:
        meta = _files.as_float_meta(meta, post["fixed"])
    post["note"] = (f" (The sample was {sample} bytes of {paths[0]!r}; a larger sample= "
                    "or assume_missing=True for integer columns also helps.)")

    tokens = [_files.file_token(p) for p in paths]
    name = "read-csv-" + tokenize(tokens, blocksize, sample, kwargs, post, assume_missing,
                                  per_file)
    layer = {}
    for path, (_, size, _) in zip(paths, tokens):
        fkw = {**kwargs, **per_file[path]} if path in per_file else kwargs
        ranges, preamble = _blocks(path, size, blocksize, fkw)
        for start, end in ranges:
            key = (name, len(layer))
            layer[key] = Task(key, _read_block, path, start, end, preamble, fkw, meta, post)
    return new_collection({name: layer}, name, meta, (None,) * (len(layer) + 1))


def _blocks(path, size, blocksize, kwargs):
    """``([(start, end)], preamble)`` of one file: one block when it cannot be split."""
    whole = [(0, None)], b""
    if blocksize is None or _files.is_compressed(path, kwargs.get("compression", "infer")):
        return whole
    ranges = _files.block_ranges(size, blocksize)
    if len(ranges) == 1:
        return ranges, b""
    check_block_encoding(kwargs.get("encoding"), "read_csv")  # (cut at newline bytes)
    preamble, data_lines = _preamble_lines(path, kwargs)
    if data_lines:  # (a skiprows list reaching past the header: one block, numbers kept)
        return whole
    # (no block may start inside the preamble: its lines would be read again as data)
    head = [(s, e) for s, e in ranges if s < max(len(preamble), 1)]
    return [(0, head[-1][1])] + ranges[len(head):], preamble


def _fixed(dtype) -> frozenset:
    if isinstance(dtype, dict):
        return frozenset(dtype)
    return frozenset()


def _preamble(path, kwargs) -> bytes:
    """The leading lines every block needs: skipped rows, then up to the header."""
    return _preamble_lines(path, kwargs)[0]


def _preamble_lines(path, kwargs):
    """``(preamble, data lines in it)``: the leading lines up to the header and the last
    skipped row, and how many of them are rows of data (a ``skiprows`` list naming rows
    past the header pulls those in; such a file is not split).

    Counted as pandas counts: ``skiprows`` raw lines first, then header rows,
    where comment-only and (by default) blank lines do not count.
    """
    header = kwargs.get("header", "infer")
    if header == "infer":
        header = None if kwargs.get("names") is not None else 0
    need = 0 if header is None else (max(header) if isinstance(header, (list, tuple)) else header) + 1
    skipped, least = _skipped_lines(kwargs.get("skiprows"))
    comment = kwargs.get("comment")
    comment = comment.encode() if isinstance(comment, str) else comment
    blank_ok = not kwargs.get("skip_blank_lines", True)
    out, data = [], 0
    with open(path, "rb") as f:
        while len(out) < least or need > 0:
            line = f.readline()
            if not line:
                break
            out.append(line)
            if skipped(len(out) - 1):
                continue
            text = line.strip()
            if (text or blank_ok) and not (comment and text.startswith(comment)):
                data += need <= 0
                need -= 1
    if out and not out[-1].endswith(b"\n"):
        out[-1] += b"\n"
    return b"".join(out), data


def _skipped_lines(skiprows):
    """pandas' ``skiprows`` as a test of a raw line number, and how many lines it spans.

    A count skips the first lines; a list the lines at those numbers of each file (split
    into blocks only when they all lie before the first row of data, else one partition
    per file, so the numbers are the file's); a callable is asked line by line.
    """
    if skiprows is None:
        return (lambda i: False), 0
    if isinstance(skiprows, numbers.Integral) and not isinstance(skiprows, bool):
        skiprows = int(skiprows)  # (numpy integers too, as pandas takes them)
        return (lambda i: i < skiprows), skiprows
    if callable(skiprows):
        return skiprows, 0
    try:
        rows = {int(r) for r in skiprows
                if isinstance(r, numbers.Integral) and not isinstance(r, bool)}
        ok = len(rows) == len(set(skiprows))
    except TypeError:
        ok = False
    if not ok:
        raise TypeError("read_csv(skiprows=...) must be an int, a list of line numbers or "
                        f"a function of the line number, got {skiprows!r}")
    return rows.__contains__, max(rows, default=-1) + 1


def _date_specs(parse_dates):
    """``[(new name or None, [columns])]`` for the combining forms, else None."""
    if isinstance(parse_dates, dict):
        return [(k, list(v)) for k, v in parse_dates.items()]
    if isinstance(parse_dates, (list, tuple)) and parse_dates and \
            all(isinstance(c, (list, tuple)) for c in parse_dates):
        return [(None, list(c)) for c in parse_dates]
    return None


def _sample_meta(path, sample, kwargs, post, rows=None) -> pd.DataFrame:
    """The schema from the first *sample* bytes of *path* (at most its first *rows* rows)."""
    limit = {} if rows is None else {"nrows": rows}
    if _files.is_compressed(path, kwargs.get("compression", "infer")):
        df = _parse(post)(path, **{**kwargs, "nrows": rows or 1000})
    else:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            lead = len(_preamble(path, kwargs))
            end = _files.boundary(f, max(sample, lead + 1), size)
            f.seek(0)
            data = f.read(end)
        df = _parse(post)(io.BytesIO(data), **kwargs, **limit)
    return _postprocess(df, post, path).iloc[:0]


def _read_block(path, start, end, preamble, kwargs, meta, post):
    """One partition: the lines of *path* in [start, end) (whole file if end is None)."""
    source, where = _files.block_source(path, start, end, preamble)
    if source is None:
        return _files.empty_like(meta)
    try:
        df = _parse(post)(source, **kwargs)
    except pd.errors.EmptyDataError:  # an empty file (a block of one is skipped the same)
        return _files.empty_like(meta)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:  # (pandas names no file)
        hint = ("; a quoted field that holds a newline cannot be split into blocks: pass "
                "blocksize=None" if end is not None else "")  # fmt: skip
        exc.add_note(f"{post.get('parser', 'read_csv')}: while parsing {where}{hint}")
        raise
    if end is not None and not len(df):
        return _files.empty_like(meta)
    df = _postprocess(df, post, path)
    return _files.conform(df, meta, post["fixed"], where, post.get("parser", "read_csv"),
                          post.get("note", ""))


def _parse(post):
    """pandas' parser for this read: read_csv, or read_fwf for io/fwf.py."""
    return getattr(pd, post.get("parser", "read_csv"))


def _postprocess(df, post, path):
    for new, cols in post["dates"]:
        df = _combine_dates(df, new, cols)
    col = post["path_column"]
    if col:
        df[col] = pd.Categorical([path] * len(df), categories=post["categories"])
    return df


def _combine_dates(df, new, cols):
    """The old pandas ``parse_dates={new: cols}``: one datetime column, placed first."""
    names = [df.columns[c] if isinstance(c, int) else c for c in cols]
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise ValueError(f"parse_dates: columns {missing} are not among the parsed "
                         f"columns {list(df.columns)}")
    new = new if new is not None else "_".join(str(n) for n in names)
    parts = [df[n] for n in names]
    if len(parts) == 3 and all(pd.api.types.is_integer_dtype(p) for p in parts):
        values = pd.to_datetime(pd.DataFrame({"year": parts[0], "month": parts[1],
                                              "day": parts[2]}))
    else:
        text = parts[0].astype(str)
        for p in parts[1:]:
            text = text + " " + p.astype(str)
        values = pd.to_datetime(text, format="mixed")
    rest = df.drop(columns=names)
    rest.insert(0, new, values)
    return rest


# -- writing ----------------------------------------------------------------------

def to_csv(df, filename, single_file=False, index=True, name_function=None, compute=True,
           compute_kwargs=None, mode="w", header=True, header_first_partition_only=None,
           **kwargs):  # fmt: skip
    """Write *df* to CSV: one file per partition, or one file with ``single_file=True``.

    A ``*`` in *filename* is replaced by ``name_function(i)`` (default: the
    partition number); a name without ``*`` is a directory that receives
    ``0.part``, ``1.part``, ...  Returns the list of paths written, or with
    ``compute=False`` a list of Delayed values that write when computed.
    ``header_first_partition_only=True`` (as in Dask; always so for a single file) writes
    the header in the first partition's file only.
    """
    if header_first_partition_only is not None and single_file and not header_first_partition_only:
        raise ValueError("to_csv(single_file=True) writes the header once; "
                         "header_first_partition_only=False cannot be honoured")
    filename = local_path(filename)  # (absolute here: see shoal.core.paths)
    kwargs = {**kwargs, "index": index}
    if single_file:
        _ensure_parent(filename)
        calls = [(_write_csv, i, (filename, mode if i == 0 else "a",
                                  header if i == 0 else False, kwargs))
                 for i in range(df.npartitions)]
        return run_writers(df, "to-csv", calls, compute, compute_kwargs, chain=True)
    if "*" not in filename:
        os.makedirs(filename, exist_ok=True)
        filename = os.path.join(filename, "*.part")
    name_function = name_function or str
    paths = [filename.replace("*", name_function(i)) for i in range(df.npartitions)]
    for p in paths:
        _ensure_parent(p)
    calls = [(_write_csv, i, (p, mode, header if i == 0 or not header_first_partition_only
                               else False, kwargs)) for i, p in enumerate(paths)]
    return run_writers(df, "to-csv", calls, compute, compute_kwargs)


def _ensure_parent(path):
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)


def _write_csv(part, path, mode, header, kwargs, after=None):
    """Write one partition; *after* (the previous writer's result) only orders it."""
    part.to_csv(path, mode=mode, header=header, **kwargs)
    return path
