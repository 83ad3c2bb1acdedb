"""Text files in and out of bags, and bags into DataFrames.

``read_text``: one partition per file, or with ``blocksize`` one partition per
block of a plain file::

    file: |line 0\\n|line 1\\n|line 2 ....... |line 3\\n|line 4\\n|
    blocks by offset:    [0, B)        [B, 2B)        [2B, size)
    a block owns the lines that *start* inside it, so every line is read
    exactly once, by one block, whole (a block may own no line at all)

Block offsets come from the file sizes when the graph is built; the line
boundaries are found when the task runs, by reading a little past the offset.
Compressed files (``.gz``, ``.bz2``, ``.xz``: chosen by extension with
``compression="infer"``) cannot be split and are read whole, and neither can
files whose delimiter may overlap itself (``"||"``, ``"\\n\\n"``: from the middle
of a run of ``|`` one cannot tell which pairs are delimiters).  Lines keep their
delimiter (``"\\n"`` by default), and with the default one ``"\\r\\n"`` and ``"\\r"``
end lines too, read as ``"\\n"`` (universal newlines), as Dask reads them.

``to_textfiles`` writes one file per partition, one element per line: an
element already ending with ``"\\n"`` is written as it is, others get one, and
the last line gets none unless ``last_endline=True`` -- so
``read_text(...).to_textfiles(...)`` writes the files back byte for byte
(Dask adds a newline after every element, doubling those of read lines).
Gzip output has a zero timestamp, so equal data gives equal files.

``to_dataframe`` turns each partition (dicts, tuples or scalars) into a pandas
DataFrame; pandas and ``shoal.dataframe`` are imported only when it is called.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import lzma
import os
import re

from shoal.bag import chunk
from shoal.bag.core import Bag
from shoal.collection import merge_layers
from shoal.core.paths import check_block_encoding, is_pattern, local_path
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["parse_bytes", "read_text", "to_dataframe", "to_textfiles"]

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
_OPENERS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6,
          "g": 10**9}


def parse_bytes(value) -> int:
    """``"64MB"`` / ``"1 MiB"`` / ``1000`` -> a number of bytes.

    >>> parse_bytes("64MB"), parse_bytes("1 KiB"), parse_bytes(10)
    (64000000, 1024, 10)
    """
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read {value!r} as a number of bytes (e.g. '64MB', '1 MiB')")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def infer_compression(path, compression):
    if compression != "infer":
        if compression is not None and compression not in _OPENERS:
            raise ValueError(f"unknown compression {compression!r}; expected one of "
                             f"{', '.join(sorted(_OPENERS))}, None or 'infer'")
        return compression
    return COMPRESSIONS.get(os.path.splitext(str(path))[1].lower())


def expand_paths(urlpath) -> list:
    """File names from a glob, a path or a list of them (sorted within each glob)."""
    items = urlpath if isinstance(urlpath, (list, tuple)) else [urlpath]
    out = []
    for item in items:
        item = local_path(item)  # (absolute here: see shoal.core.paths)
        if is_pattern(item):
            out.extend(sorted(glob.glob(item)))
        elif os.path.exists(item):
            out.append(item)
        else:
            raise FileNotFoundError(f"read_text: no such file {item!r}")
    return out


# -- reading ------------------------------------------------------------------------

def split_lines(text: str, delimiter: str) -> list:
    """Lines of *text*, each keeping its delimiter (the last may lack it)."""
    if not text:
        return []
    if delimiter == "\n":  # universal newlines, as Dask reads text: \r\n and \r end lines too
        return io.StringIO(text, newline=None).readlines()
    parts = text.split(delimiter)
    last = parts.pop()
    out = [p + delimiter for p in parts]
    if last:
        out.append(last)
    return out


def _with_path(lines, path):
    return [(line, path) for line in lines]


def read_files(paths, compressions, encoding, errors, delimiter, include_path):
    """The lines of whole files (one partition)."""
    out = []
    for path, comp in zip(paths, compressions):
        opener = _OPENERS[comp] if comp else open
        with opener(path, "rb") as f:
            data = f.read()
        lines = split_lines(data.decode(encoding, errors), delimiter)
        out.extend(_with_path(lines, path) if include_path else lines)
    return out


def _line_start(f, pos, delim: bytes, size: int) -> int:
    """The first offset >= *pos* where a line starts."""
    if pos <= 0:
        return 0
    if pos >= size:
        return size
    base = max(0, pos - len(delim))  # a delimiter ending exactly at pos counts
    f.seek(base)
    buf = b""
    keep = len(delim) - 1
    while True:
        more = f.read(1 << 16)
        if not more:
            return size
        buf += more
        i = buf.find(delim)
        if i >= 0:
            return base + i + len(delim)
        base += len(buf) - keep
        buf = buf[len(buf) - keep:]


def read_block(path, start, end, encoding, errors, delimiter, include_path):
    """The lines starting in bytes ``[start, end)`` of a plain file (one partition)."""
    delim = delimiter.encode(encoding)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        s = _line_start(f, start, delim, size)
        e = _line_start(f, end, delim, size)
        if e <= s:
            return []
        f.seek(s)
        data = f.read(e - s)
    lines = split_lines(data.decode(encoding, errors), delimiter)
    return _with_path(lines, path) if include_path else lines


def read_text(urlpath, blocksize=None, compression="infer", encoding="utf-8", errors="strict",
              linedelimiter="\n", collection=True, storage_options=None,
              files_per_partition=None, include_path=False):
    """A Bag of the lines of text files (a glob, a path, or a list of them).

    One partition per file; ``blocksize`` (bytes, or a string like ``"64MB"``)
    splits plain files into blocks at line boundaries; ``files_per_partition``
    groups whole files.  ``include_path=True`` gives ``(line, path)`` pairs.
    ``collection=False`` returns one Delayed per partition instead of a Bag.
    """
    if storage_options:
        raise NotImplementedError("read_text reads local files only (no storage_options)")
    if blocksize is not None and files_per_partition is not None:
        raise ValueError("read_text: pass blocksize= or files_per_partition=, not both")
    if not linedelimiter:
        raise ValueError("read_text: linedelimiter must be a non-empty string")
    paths = expand_paths(urlpath)
    if not paths:
        raise ValueError(f"read_text: no files found for {urlpath!r}")
    comps = [infer_compression(p, compression) for p in paths]
    opts = (encoding, errors, linedelimiter, include_path)
    name = f"read-text-{tokenize(paths, comps, blocksize, files_per_partition, opts, _stamps(paths))}"
    tasks = []
    if blocksize is None:
        step = files_per_partition or 1
        for i in range(0, len(paths), step):
            tasks.append((read_files, paths[i:i + step], comps[i:i + step], *opts))
    else:
        blocksize = parse_bytes(blocksize)
        check_block_encoding(encoding, "read_text")
        if _overlaps_itself(linedelimiter):
            raise ValueError(
                f"read_text: the delimiter {linedelimiter!r} can overlap itself, so a block "
                "boundary cannot tell where lines start; pass blocksize=None")
        if blocksize < 1:
            raise ValueError(f"blocksize must be positive, got {blocksize!r}")
        for path, comp in zip(paths, comps):
            if comp:
                raise ValueError(
                    f"read_text: {path!r} is {comp}-compressed and cannot be split into "
                    "blocks; pass blocksize=None to read compressed files whole")
            size = os.path.getsize(path)
            for start in range(0, max(size, 1), blocksize):
                tasks.append((read_block, path, start, start + blocksize, *opts))
    layer = {(name, i): Task((name, i), *t) for i, t in enumerate(tasks)}
    bag = Bag({name: layer}, name, len(layer))
    return bag if collection else bag.to_delayed()


def _overlaps_itself(delimiter: str) -> bool:
    """True for delimiters like ``"||"`` whose head equals their tail."""
    return any(delimiter[:k] == delimiter[-k:] for k in range(1, len(delimiter)))


def _stamps(paths):
    """Sizes and modification times: a changed file gets new keys."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append((st.st_size, st.st_mtime_ns))
    return out


# -- writing ------------------------------------------------------------------------

def output_paths(path, n, name_function=None) -> list:
    """*n* file names from a list, a ``*`` pattern or a directory (``dir/i.part``).

    The default names are the partition numbers, zero-padded to one width so
    that they sort in partition order.
    """
    if name_function is None:
        width = len(str(max(n - 1, 0)))
        name_function = ("{:0%dd}" % width).format
    if isinstance(path, (list, tuple)):
        if len(path) != n:
            raise ValueError(f"to_textfiles: {len(path)} paths given for {n} partitions")
        return [local_path(p) for p in path]
    path = local_path(path)  # (absolute here: see shoal.core.paths)
    if "*" in path:
        if path.count("*") > 1:
            raise ValueError(f"to_textfiles: the path {path!r} may hold only one '*'")
        return [path.replace("*", _file_name(name_function, i)) for i in range(n)]
    return [os.path.join(path, f"{_file_name(name_function, i)}.part") for i in range(n)]


def _file_name(name_function, i) -> str:
    name = name_function(i)
    if not isinstance(name, str):
        raise TypeError(f"to_textfiles: name_function must return a str, but returned "
                        f"{type(name).__name__} {name!r:.60} for partition {i}")
    return name


def _open_write(path, compression, encoding):
    raw = open(path, "wb")
    if compression == "gzip":
        stream = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    elif compression:
        raw.close()
        stream = _OPENERS[compression](path, "wb")
        raw = None
    else:
        stream, raw = raw, None
    return stream, raw


def write_partition(part, path, compression, encoding, last_endline):
    """Write one partition, one element per line; return the path."""
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    newline = "\n" if encoding is not None else b"\n"
    kind = str if encoding is not None else bytes
    pieces = []
    for x in part:
        if type(x) is not kind and not isinstance(x, kind):
            raise TypeError(
                f"to_textfiles writes {kind.__name__} elements, got {type(x).__name__} "
                f"{x!r:.60}; map str or json.dumps over the bag first")
        pieces.append(x if x.endswith(newline) else x + newline)
    if pieces and not last_endline and not part[-1].endswith(newline):
        pieces[-1] = pieces[-1][:-1]
    data = newline[:0].join(pieces)
    if encoding is not None:
        data = data.encode(encoding)
    stream, raw = _open_write(path, compression, encoding)
    try:
        stream.write(data)
    finally:
        stream.close()
        if raw is not None:
            raw.close()
    return path


def to_textfiles(bag, path, name_function=None, compression="infer", encoding="utf-8",
                 compute=True, last_endline=False, storage_options=None, **kwargs):
    """Write *bag* to text files; return their paths (or Delayed with compute=False)."""
    if storage_options:
        raise NotImplementedError("to_textfiles writes local files only (no storage_options)")
    paths = output_paths(path, bag.npartitions, name_function)
    comps = [infer_compression(p, compression) for p in paths]
    name = f"to-textfiles-{tokenize(bag, paths, comps, encoding, last_endline)}"
    layer = {(name, i): Task((name, i), write_partition, Ref((bag._name, i)), p, c, encoding,
                             last_endline)
             for i, (p, c) in enumerate(zip(paths, comps))}
    out = Bag(merge_layers(bag, name=name, layer=layer), name, bag.npartitions)
    if not compute:
        return out.to_delayed()
    out.compute(**kwargs)
    return paths


# -- DataFrames -----------------------------------------------------------------------

def to_dataframe(bag, meta=None, columns=None):
    import pandas as pd

    from shoal.dataframe._meta import make_meta
    from shoal.dataframe.core import new_collection

    if meta is None:
        head = bag.take(1, warn=False)
        if not head:
            head = bag.take(1, npartitions=-1, warn=False)
        if not head:
            raise ValueError("to_dataframe cannot learn the columns of an empty bag; pass meta=")
        meta = pd.DataFrame(list(head), columns=columns).iloc[:0]
    elif columns is not None:
        raise ValueError("to_dataframe: pass meta= or columns=, not both")
    else:
        meta = make_meta(meta)
        if not isinstance(meta, pd.DataFrame):
            raise TypeError(f"to_dataframe: meta must describe a DataFrame, got {type(meta).__name__}")
    cols = list(meta.columns)
    dtypes = meta.dtypes.to_dict()
    name = f"to-dataframe-{tokenize(bag, cols, [str(d) for d in dtypes.values()])}"
    layer = {(name, i): Task((name, i), chunk.to_frame, Ref((bag._name, i)), cols, dtypes, meta)
             for i in range(bag.npartitions)}
    layers = merge_layers(bag, name=name, layer=layer)
    return new_collection(layers, name, meta, (None,) * (bag.npartitions + 1))
