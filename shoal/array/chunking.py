"""Chunk specifications: what ``chunks=`` may say, and block offsets.

Every array stores its chunks explicitly, one tuple of block lengths per
dimension: ``((1000, 1000, 500), (700,))``.  :func:`normalize_chunks` turns what
users write into that form:

=======================  ===============================================
``4``                    every dimension in blocks of 4 (the last shorter)
``(4, -1)``              per dimension; ``-1`` or ``None``: the whole dimension
``((3, 3, 4), (7,))``    explicit lengths (they must add up to the shape)
``{0: 4}``               per axis; others keep their previous chunks (rechunk)
                         or are whole (creation)
``"auto"``               about :data:`AUTO_CHUNK_BYTES` per block, as square
                         as the shape allows (also per dimension)
``"10MiB"``              "auto" aiming at that many bytes per block instead
                         (also per dimension; several must agree)
=======================  ===============================================

Anything else raises a ``ValueError`` that names ``chunks=`` and the shape.
The "auto" target is the configuration key ``array.chunk-size`` (default
``"128MiB"``, :data:`AUTO_CHUNK_BYTES`), read each time "auto" decides sizes.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["AUTO_CHUNK_BYTES", "auto_chunk_bytes", "normalize_chunks", "offsets"]

AUTO_CHUNK_BYTES = 128 * 2**20
"""Default target bytes per block for ``chunks="auto"`` (128 MiB)."""


def auto_chunk_bytes() -> int:
    """The ``chunks="auto"`` target now: config ``array.chunk-size`` (bytes or "64MiB")."""
    from shoal import config

    n = config.checked(config.size, "array.chunk-size", none=True, minimum=1)
    return AUTO_CHUNK_BYTES if n is None else n


def _bad_chunks(chunks, shape, why):
    return ValueError(f"invalid chunks={chunks!r} for an array of shape {shape}: {why}")


def _blockdims(size: int, n: int) -> tuple:
    if n <= 0:
        raise ValueError("chunk sizes must be positive")
    if size == 0:
        return (0,)
    return (n,) * (size // n) + ((size % n,) if size % n else ())


def _auto_sizes(shape, fixed, itemsize, limit):
    """Block lengths for the "auto" dimensions: about *limit* bytes, near-cubic."""
    budget = limit / max(itemsize, 1)
    for i, c in fixed.items():
        budget /= max(c, 1)
    auto = [i for i in range(len(shape)) if i not in fixed]
    sizes = {}
    while auto:
        each = max(budget, 1) ** (1 / len(auto))
        small = [i for i in auto if shape[i] <= each]
        if not small:
            for i in auto:
                sizes[i] = max(1, int(each))
            break
        for i in small:
            sizes[i] = max(shape[i], 1)
            budget /= max(shape[i], 1)
            auto.remove(i)
    return sizes


def _chunk_bytes(text, given, shape) -> int:
    from shoal.config_values import parse_bytes

    try:
        nbytes = parse_bytes(text)
    except (TypeError, ValueError) as e:
        raise _bad_chunks(given, shape, f"unknown chunk spec {text!r} (only 'auto' or a "
                                        f"byte size such as '64MiB': {e})") from None
    if nbytes <= 0:
        raise _bad_chunks(given, shape, f"byte size {text!r} is not positive")
    return nbytes


def normalize_chunks(chunks, shape, dtype=None, limit=None, previous=None) -> tuple:
    """Explicit block lengths, one tuple per dimension.

    *chunks* may be an int (every dimension), ``"auto"``, a tuple with one entry per
    dimension (an int, ``-1`` / ``None`` for the whole dimension, ``"auto"``, or a
    tuple of lengths that add up to the dimension), or a dict ``{axis: entry}``
    (axes left out keep *previous* chunks, or the whole dimension).  A byte size such
    as ``"10MiB"`` in place of ``"auto"`` sets the bytes per block (as *limit* does).

    >>> normalize_chunks(4, (10, 3))
    ((4, 4, 2), (3,))
    >>> normalize_chunks((5, (1, 2)), (10, 3))
    ((5, 5), (1, 2))
    """
    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    given = chunks
    if isinstance(limit, str):
        limit = _chunk_bytes(limit, given, shape)
    if chunks is None:
        raise ValueError("chunks= is required (an int, a tuple, or 'auto')")
    if isinstance(chunks, dict):
        entries = []
        for i in range(ndim):
            if i in chunks or i - ndim in chunks:
                entries.append(chunks.get(i, chunks.get(i - ndim)))
            else:
                entries.append(previous[i] if previous is not None else -1)
        bad = [a for a in chunks if not (isinstance(a, int) and -ndim <= a < ndim)]
        if bad:
            raise _bad_chunks(given, shape, f"axis {bad[0]!r} is out of range")
        chunks = tuple(entries)
    elif isinstance(chunks, (numbers.Integral, str)):
        chunks = (chunks,) * ndim
    elif isinstance(chunks, (list, tuple)):
        chunks = tuple(chunks)
        if len(chunks) != ndim:
            raise _bad_chunks(given, shape, f"{len(chunks)} entries for {ndim} dimensions")
    else:
        raise _bad_chunks(given, shape, "expected an int, a tuple, a dict or 'auto'")
    out: list = [None] * ndim
    fixed = {}
    for i, (c, n) in enumerate(zip(chunks, shape)):
        if isinstance(c, str):
            if c != "auto":  # a byte size ("10KiB"): "auto" blocks with that target
                nbytes = _chunk_bytes(c, given, shape)
                if limit is not None and nbytes != limit:
                    raise _bad_chunks(given, shape, f"byte size {c!r} disagrees with "
                                                    f"limit={limit!r}; give one size")
                limit = nbytes
            continue
        if c is None or (isinstance(c, numbers.Integral) and not isinstance(c, bool) and c == -1):
            out[i] = (n,)
        elif isinstance(c, numbers.Integral) and not isinstance(c, bool):
            if c <= 0:
                raise _bad_chunks(given, shape, f"chunk size {c} in dimension {i} is not positive")
            out[i] = _blockdims(n, min(int(c), max(n, 1)))
        elif isinstance(c, (tuple, list)):
            c = tuple(c)
            if not all(isinstance(v, numbers.Integral) and v >= 0 for v in c) or not c:
                raise _bad_chunks(given, shape, f"dimension {i} has non-integer or negative lengths {c}")
            if sum(c) != n:
                raise _bad_chunks(given, shape, f"lengths {c} of dimension {i} add up to "
                                                f"{sum(c)}, not {n}")
            out[i] = tuple(int(v) for v in c)
        else:
            raise _bad_chunks(given, shape, f"cannot read entry {c!r} for dimension {i}")
        fixed[i] = max(out[i])
    if any(o is None for o in out):
        itemsize = np.dtype(dtype).itemsize if dtype is not None else 8
        if not itemsize or np.dtype(dtype if dtype is not None else "f8").hasobject:
            itemsize = 8
        sizes = _auto_sizes(shape, fixed, itemsize, limit or auto_chunk_bytes())
        for i, size in sizes.items():
            out[i] = _blockdims(shape[i], min(size, max(shape[i], 1)))
    return tuple(out)


def offsets(dim_chunks) -> list:
    """Start of every block along one dimension, plus the total at the end."""
    out = [0]
    for c in dim_chunks:
        out.append(out[-1] + c)
    return out
