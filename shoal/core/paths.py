"""Local file paths as users write them, for every reader and writer.

A path is made absolute where the graph is built, in the user's process: the tasks
that read or write it run elsewhere (a distributed worker keeps the working
directory it started in; a notebook may ``os.chdir`` between building a graph and
computing it), and a relative path there read another file, or wrote where the user
never looked.  ``file://`` and ``~`` are taken off the way readers and writers alike
understand them.

A name with glob characters is a pattern only when no file or directory has that
very name: ``data[1].csv`` that exists is read as itself (as pandas and Dask do), not
as the pattern that matches ``data1.csv``.

Readers that cut a file into blocks at newline bytes (``read_csv``, ``read_text`` with
a ``blocksize``) need an encoding that writes a newline as the one byte ``\n`` and
never uses that byte inside another character (:func:`check_block_encoding`): in UTF-16
a block started in the middle of a character, and the read failed with a decode error
that named neither the file nor the fix.
"""

from __future__ import annotations

import glob
import os

__all__ = ["check_block_encoding", "is_pattern", "local_path"]


def local_path(urlpath) -> str:
    """The absolute local path of *urlpath* (a str or path-like; ``file://`` and ``~``
    allowed), relative to this process's working directory.

    >>> local_path("file:///tmp/x.csv")
    '/tmp/x.csv'
    >>> local_path("/a/b/../c/*.csv")
    '/a/c/*.csv'
    """
    path = os.fspath(urlpath)
    if not isinstance(path, str):
        raise TypeError(f"expected a path as text, not {type(path).__name__} ({path!r})")
    if path.startswith("file://"):
        path = path[len("file://"):]
    return os.path.abspath(os.path.expanduser(path))


def is_pattern(path: str) -> bool:
    """Whether *path* is a glob to expand: it has glob characters and names nothing."""
    return glob.has_magic(path) and not os.path.exists(path)


def check_block_encoding(encoding, reader: str) -> None:
    """Raise ValueError, naming *reader*, when files in *encoding* cannot be cut into
    blocks at newline bytes (UTF-16, UTF-32: see the module docstring).

    >>> check_block_encoding("latin-1", "read_csv")
    >>> check_block_encoding("utf-16", "read_csv")
    Traceback (most recent call last):
    ...
    ValueError: read_csv: files in utf-16 cannot be split into blocks at newlines (a newline there is not the one byte 10); pass blocksize=None
    """
    if encoding is None:
        return
    try:
        newline = "\n".encode(encoding)
    except LookupError:
        raise ValueError(f"{reader}: unknown encoding {encoding!r}") from None
    if newline != b"\n":
        raise ValueError(f"{reader}: files in {encoding} cannot be split into blocks at "
                         "newlines (a newline there is not the one byte 10); pass "
                         "blocksize=None")  # fmt: skip
