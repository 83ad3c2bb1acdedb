"""Shared plumbing for the readers and writers: finding files, cutting them into
line-aligned byte blocks, and holding every partition to the metadata.

Line-aligned blocks::

    file bytes:   |header\\n|row\\n|row\\n|ro|w\\n|row\\n|row\\n|
    nominal:      [0 ............. bs)[bs ............ 2bs)[2bs ... size)
    boundary(p):  the offset just after the first b"\\n" at or after p (EOF if none)
    block i:      [boundary(i*bs), boundary((i+1)*bs))     block 0 starts at 0

Both ends of every block go through the same ``boundary`` function, so
neighbouring blocks meet exactly: each line belongs to exactly one block, a line
is never split, and a block whose range holds no line start is simply empty.
The rule only looks at bytes, so it assumes an ASCII-compatible encoding and no
newline inside a quoted field.

:func:`conform` compares a parsed partition with the metadata (the schema
inferred at graph-building time from a sample) and either casts harmless
differences or raises one ValueError that lists every disagreeing column and the
``dtype=`` argument that would fix it.
"""

from __future__ import annotations

import io

import glob as _glob
import os
import re

import numpy as np
import pandas as pd

from shoal.core.paths import is_pattern, local_path

__all__ = ["boundary", "conform", "expand_paths", "file_token", "natural_key", "read_line_block"]

_CHUNK = 1 << 16
COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")


def natural_key(path: str):
    """Sort key putting ``part.9`` before ``part.10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def _dir_files(path: str, suffixes=None) -> list:
    names = [n for n in os.listdir(path) if not n.startswith((".", "_"))]
    hive = sorted(n for n in names if "=" in n and os.path.isdir(os.path.join(path, n)))
    if hive:  # (its files were never read: the rows in them left out without a word)
        raise NotImplementedError(
            f"{path!r} is a partitioned dataset (subdirectories such as {hive[0]!r}), which "
            "shoal does not read as one: read each partition's directory, or a glob of "
            f"their files (e.g. {os.path.join(path, '*', '*')!r}, without the partition "
            "column)")  # fmt: skip
    files = [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
    if suffixes:
        files = [f for f in files if f.endswith(suffixes)]
    return sorted(files, key=natural_key)


def expand_paths(urlpath, suffixes=None) -> list:
    """Local file paths for a path, a glob, a directory, or a list of those.

    Glob matches and directory listings are sorted (naturally); a list keeps
    its order.  Nothing found raises FileNotFoundError naming the pattern.  The
    paths are absolute (:func:`shoal.core.paths.local_path`).
    """
    if isinstance(urlpath, (list, tuple)):
        if not urlpath:
            raise FileNotFoundError("No files to read: the list of paths is empty")
        out = []
        for p in urlpath:
            out.extend(expand_paths(p, suffixes))
        return out
    path = local_path(urlpath)  # (absolute here: see shoal.core.paths)
    if is_pattern(path):
        found = sorted((p for p in _glob.glob(path) if os.path.isfile(p)), key=natural_key)
        if not found:
            raise FileNotFoundError(f"No files match the pattern {path!r}")
        return found
    if os.path.isdir(path):
        found = _dir_files(path, suffixes)
        if not found:
            raise FileNotFoundError(f"The directory {path!r} holds no files to read")
        return found
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    return [path]


def file_token(path: str) -> tuple:
    """What identifies a file's contents for naming tasks: path, size, mtime."""
    st = os.stat(path)
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns)


def is_compressed(path: str, compression) -> bool:
    if compression not in (None, "infer"):
        return True
    return compression == "infer" and str(path).lower().endswith(COMPRESSED)


def boundary(f, pos: int, size: int) -> int:
    """Offset just after the first newline at or after *pos* in open file *f*."""
    if pos <= 0:
        return 0
    if pos >= size:
        return size
    f.seek(pos)
    offset = pos
    while True:
        chunk = f.read(_CHUNK)
        if not chunk:
            return size
        i = chunk.find(b"\n")
        if i >= 0:
            return offset + i + 1
        offset += len(chunk)


def block_source(path, start, end, preamble=b""):
    """What a reader parses for one partition, and how errors name it.

    ``(path, repr)`` for a whole file (*end* None); for a byte block, a BytesIO of
    its lines (with *preamble*, e.g. a CSV header, before any block but the
    first) and the file and byte range; ``(None, where)`` when the block holds no
    line at all.
    """
    if end is None:
        return path, repr(path)
    data, lo, hi = read_line_block(path, start, end)
    where = f"{path!r} (bytes {lo}-{hi})"
    if not data.strip():
        return None, where
    return io.BytesIO(preamble + data if lo > 0 else data), where


def read_line_block(path: str, start: int, end: int) -> tuple:
    """``(data, lo, hi)``: the whole lines of *path* in the block [start, end)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        lo = boundary(f, start, size)
        hi = boundary(f, end, size)
        if hi <= lo:
            return b"", lo, lo
        f.seek(lo)
        return f.read(hi - lo), lo, hi


def block_ranges(size: int, blocksize) -> list:
    """Nominal ``(start, end)`` byte ranges covering a file of *size* bytes."""
    if not blocksize or size <= blocksize:
        return [(0, size)]
    return [(s, min(s + blocksize, size)) for s in range(0, size, blocksize)]


# -- holding partitions to the metadata ----------------------------------------------

def _is_str(dtype) -> bool:
    return isinstance(dtype, pd.StringDtype) or dtype == object


def _kind(dtype) -> str:
    return getattr(dtype, "kind", "O")


def suggested(found, expected) -> str:
    """The ``dtype=`` spelling that reads a column as one dtype in every block."""
    texty = (pd.CategoricalDtype, pd.StringDtype)
    if any(isinstance(d, texty) or d == object for d in (found, expected)):
        return "object"
    kinds = _kind(found) + _kind(expected)
    if "b" in kinds:
        return "object"  # a bool column with missing values only fits object
    if set(kinds) <= set("iuf"):
        return "float64"
    return "object" if _kind(found) != _kind(expected) else str(found)


def _harmless(found, expected, col: pd.Series) -> bool:
    """Whether *col* (of dtype *found*) may be cast to *expected* silently."""
    fk, ek = _kind(found), _kind(expected)
    if ek == "f" and fk in "iub":
        return True
    if fk == "M" and ek == "M" and not hasattr(found, "tz") and not hasattr(expected, "tz"):
        return True
    if _is_str(found) and _is_str(expected):
        return True
    if ek in "fMm" or _is_str(expected) or isinstance(expected, pd.CategoricalDtype):
        return bool(col.isna().all())  # a stretch of empty cells parses as float/object
    return False


def conform(df: pd.DataFrame, meta: pd.DataFrame, fixed, where: str, reader: str,
            note: str = "") -> pd.DataFrame:
    """*df* with the columns and dtypes of *meta*, or a ValueError explaining why not.

    *fixed* names the columns whose dtype the user gave (cast, never reported);
    *where* says which file and bytes the partition came from.
    """
    if list(df.columns) != list(meta.columns):
        if set(df.columns) == set(meta.columns):
            df = df[list(meta.columns)]
        else:
            missing = [c for c in meta.columns if c not in df.columns]
            extra = [c for c in df.columns if c not in meta.columns]
            raise ValueError(
                f"{reader}: the columns of {where} differ from those of the first "
                f"file's sample. Missing: {missing}; unexpected: {extra}. All files "
                "must share one header (or pass names= and header=)."
            )
    bad = []
    casts = {}
    for name, expected in meta.dtypes.items():
        found = df[name].dtype
        if found == expected:
            continue
        if isinstance(found, pd.CategoricalDtype) and isinstance(expected, pd.CategoricalDtype):
            continue  # categories differ per partition, as with pandas' own reads
        if name in fixed or _harmless(found, expected, df[name]):
            casts[name] = expected
        else:
            bad.append((name, found, expected))
    if bad:
        raise ValueError(mismatch_message(bad, where, reader, note))
    if casts:
        df = df.astype(casts)
    return df


def mismatch_message(bad, where: str, reader: str, note: str = "") -> str:
    width = max(len("Column"), *(len(str(n)) for n, _, _ in bad))
    fw = max(len("Found"), *(len(str(f)) for _, f, _ in bad))
    rows = [f"  {'Column':<{width}}  {'Found':<{fw}}  Expected"]
    rows += [f"  {str(n):<{width}}  {str(f):<{fw}}  {e}" for n, f, e in bad]
    fix = "{" + ", ".join(f"{n!r}: {suggested(f, e)!r}" for n, f, e in bad) + "}"
    return (
        f"Mismatched dtypes in {reader} for {where}:\n\n" + "\n".join(rows) + "\n\n"
        "The expected dtypes were inferred from a sample at the start of the data; "
        "this part of the data disagrees (typically an integer column that has "
        "missing values further on, which pandas reads as float64, or a column that "
        "is empty in the sample and holds text later).\n"
        f"Fix it by giving those dtypes explicitly, adding\n\n    dtype={fix}\n\n"
        f"to the call to {reader}.{note} This error is raised when the data is "
        "computed (only then is each block read), not when the reader is called."
    )


def empty_like(meta: pd.DataFrame) -> pd.DataFrame:
    """A zero-row partition with the schema of *meta*."""
    return meta.iloc[:0].copy()


def as_float_meta(meta: pd.DataFrame, fixed) -> pd.DataFrame:
    """``assume_missing=True``: integer columns the user did not type become float64."""
    ints = {c: np.float64 for c, d in meta.dtypes.items() if _kind(d) in "iu" and c not in fixed}
    return meta.astype(ints) if ints else meta
