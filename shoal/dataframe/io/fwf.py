"""``read_fwf``: fixed-width text files -> a partitioned DataFrame.

A fixed-width file is a CSV file whose fields are cut by character positions
instead of a separator, so it reuses ``read_csv``'s whole machinery (globs,
line-aligned byte blocks, the header preamble put before every later block, the
sampled schema, the dtype check); only the parser differs (``pandas.read_fwf``).

The one thing that cannot be left to each block is the column layout.  Given
``colspecs="infer"`` (the default), pandas guesses the field boundaries from the
first ``infer_nrows`` lines *it sees*, so two blocks with different data could
be cut differently and their columns would disagree.  So the layout is inferred
here, once per file, from that file's first lines (the same rule as pandas: a
character position belongs to a field when any of those lines has a
non-delimiter character there; each run of such positions is one field), and the
resulting ``colspecs`` list goes to every block of that file: each file is cut as
pandas would cut it alone, and the blocks of one file agree.  Explicit
``colspecs`` or ``widths`` are passed through unchanged.
"""

from __future__ import annotations

from shoal.dataframe.io import _files
from shoal.dataframe.io.csv import read_csv

__all__ = ["infer_colspecs", "read_fwf"]


def read_fwf(urlpath, blocksize="64MiB", **kwargs):
    """Read fixed-width files into a shoal DataFrame, one partition per line-aligned block.

    Takes ``read_csv``'s options (``blocksize``, ``sample``, ``dtype``,
    ``include_path_column``, ``assume_missing``, ...) and ``pandas.read_fwf``'s
    (``colspecs``, ``widths``, ``infer_nrows``, ``delimiter``).  An inferred
    column layout is fixed per file (from its first lines) so that its blocks agree.
    """
    if blocksize == "default":  # (Dask's spelling of the default)
        blocksize = "64MiB"
    if kwargs.get("widths") is None and _wants_inference(kwargs.get("colspecs", "infer")):
        paths = _files.expand_paths(urlpath)
        layouts = {p: {"colspecs": _file_colspecs(p, kwargs)} for p in paths}
        kwargs["colspecs"] = layouts[paths[0]]["colspecs"]
        kwargs["_file_kwargs"] = layouts  # (read_csv: each file's own keywords)
        kwargs.pop("infer_nrows", None)
    return read_csv(urlpath, blocksize=blocksize, _parser="read_fwf", **kwargs)


def _file_colspecs(path, kwargs) -> list:
    """The column layout pandas would infer for *path* read alone."""
    lines = _leading_lines(path, kwargs)
    if not lines:
        raise ValueError(f"read_fwf: no lines in {path!r} to infer the column widths "
                         "from; pass colspecs= or widths=")
    return infer_colspecs(lines, kwargs.get("delimiter") or " \t", kwargs.get("comment"))


def _wants_inference(colspecs) -> bool:
    return isinstance(colspecs, str) and colspecs == "infer"


def _leading_lines(path, kwargs) -> list:
    """The first ``infer_nrows`` text lines of *path* after ``skiprows`` (as pandas picks)."""
    want = kwargs.get("infer_nrows", 100)
    skip = kwargs.get("skiprows") or 0
    skipped = set(range(skip)) if isinstance(skip, int) else set(skip)
    if callable(kwargs.get("skiprows")):
        raise ValueError("read_fwf: a callable skiprows= needs explicit colspecs= or widths=")
    opener = _text_opener(path, kwargs)
    out = []
    with opener() as f:
        for i, line in enumerate(f):
            if len(out) >= want:
                break
            if i not in skipped:
                out.append(line.rstrip("\r\n"))
    return out


def _text_opener(path, kwargs):
    """A no-argument callable opening *path* as text (gzip, bz2 and xz decompressed)."""
    import bz2
    import gzip
    import lzma

    encoding = kwargs.get("encoding") or "utf-8"
    compression = kwargs.get("compression", "infer")
    if not _files.is_compressed(path, compression):
        return lambda: open(path, encoding=encoding, newline="")
    if compression == "infer":
        compression = str(path).lower().rsplit(".", 1)[-1]
    modules = {"gz": gzip, "gzip": gzip, "bz2": bz2, "xz": lzma}
    if compression not in modules:
        raise ValueError(f"read_fwf: cannot infer the column widths of {path!r} "
                         f"(compression {compression!r}); pass colspecs= or widths=")
    return lambda: modules[compression].open(path, "rt", encoding=encoding)


def infer_colspecs(lines, delimiter=" \t", comment=None) -> list:
    """Half-open ``(start, end)`` character ranges of the fields in *lines*.

    A position is inside a field when any line has a character there that is
    not in *delimiter* (text after *comment* ignored); each maximal run of such
    positions is one field.
    """
    used: set = set()
    for line in lines:
        if comment:
            line = line.partition(comment)[0]
        used.update(i for i, ch in enumerate(line) if ch not in delimiter)
    specs, start = [], None
    for i in range(max(used, default=-1) + 2):
        if i in used and start is None:
            start = i
        elif i not in used and start is not None:
            specs.append((start, i))
            start = None
    return specs
