"""Cheap estimates of how many bytes a value holds in memory.

Used for the ``nbytes`` of task events and worker memory accounting (the memory
panes, spilling).  Arrays and frames report their buffers (``nbytes`` /
``memory_usage``; a frame's columns of Python objects, text read as ``object``, a
sample of their items besides), built-in containers a sampled sum of their items,
anything else ``sys.getsizeof``.  The goal is a fast, roughly right figure, not an
exact one.

A figure is always given: ``__sizeof__``, ``nbytes`` and ``memory_usage`` are user
code, and one that raises, or says less than nothing, makes the whole value count as
:data:`UNKNOWN_SIZE` (a warning names the type, once; a list of a hundred thousand such
items is one guess, not a hundred thousand); one beyond :data:`MAX_SIZE` counts as that.  A
worker's result whose ``__sizeof__`` raised left the worker stuck with the result
and every task after it, and a size past 2**64 could not be sent: the worker's
reports and heartbeats were dropped from then on.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["MAX_SIZE", "UNKNOWN_SIZE", "sizeof"]

logger = logging.getLogger(__name__)

_SAMPLE = 10
_OBJECTS_SAMPLE = 20  # items measured per column of Python objects
#: The size of a value whose own measure failed (Dask's guess too: a megabyte).
UNKNOWN_SIZE = 1_000_000
#: The largest size given (256 TiB): sums of many such still fit the 64 bits that
#: messages carry.
MAX_SIZE = 2**48
_warned: set = set()  # types whose failure was logged (bounded: at most 100 names)


def sizeof(obj) -> int:
    """Approximate size of *obj* in bytes, from 0 to :data:`MAX_SIZE`; never raises.

    >>> sizeof(b"x" * 1000) >= 1000
    True
    >>> sizeof(list(range(100))) > sizeof([])
    True
    """
    try:
        size = _estimate(obj)
    except Exception as exc:  # noqa: BLE001 - a __sizeof__ / nbytes of user code
        return _unknown(obj, exc)
    if size < 0:
        return _unknown(obj, f"a size of {size}")
    return size if size <= MAX_SIZE else MAX_SIZE


def _unknown(obj, why) -> int:
    name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if name not in _warned and len(_warned) < 100:
        _warned.add(name)
        if not isinstance(why, str):
            try:
                why = f"{type(why).__name__}: {why}"
            except Exception:  # noqa: BLE001 - (its __str__ is user code too)
                why = type(why).__name__
        logger.warning("sizeof: a %s could not be measured (%s); counted as %d bytes",
                       name, why, UNKNOWN_SIZE)  # fmt: skip
    return UNKNOWN_SIZE


def _estimate(obj) -> int:
    t = type(obj)
    if t is bytes or t is str or t is int or t is float or obj is None:
        return sys.getsizeof(obj)
    if t is list or t is tuple or t is set or t is frozenset:
        n = len(obj)
        if not n:
            return sys.getsizeof(obj)
        items = list(obj)[:_SAMPLE] if t in (set, frozenset) else obj[:_SAMPLE]
        each = sum(_estimate(i) for i in items) / len(items)  # (a failure: one guess in all)
        return int(sys.getsizeof(obj) + each * n)
    if t is dict:
        n = len(obj)
        items = list(obj.items())[:_SAMPLE]
        each = sum(_estimate(k) + _estimate(v) for k, v in items) / max(len(items), 1)
        return int(sys.getsizeof(obj) + each * n)
    usage = getattr(obj, "memory_usage", None)
    if usage is not None and callable(usage) and hasattr(obj, "dtypes"):
        try:
            total = usage(deep=False, index=True)
            size = int(getattr(total, "sum", lambda: total)())
        except Exception:
            pass
        else:
            try:
                return size + _frame_objects(obj)
            except Exception:  # (an odd frame: its buffers at least)
                return size
    nbytes = getattr(obj, "nbytes", None)
    if type(nbytes) is int:
        if nbytes < 0:
            raise ValueError(f"nbytes is {nbytes}")
        return nbytes + 100
    try:
        return sys.getsizeof(obj)
    except TypeError:  # (a __sizeof__ that does not give an int; other failures: sizeof())
        return 64
    except OverflowError:  # (past what a C size holds: the cap, not a guess)
        return MAX_SIZE


def _frame_objects(obj) -> int:
    """What a frame's (or series') columns of Python objects hold beyond the pointers
    that ``memory_usage(deep=False)`` counts: the items of evenly spaced rows measured,
    times the number of rows.  Text read as ``object`` (the flights tutorial's
    ``TailNum``) was counted at 8 bytes a row, an eighth of its size, in the memory
    panes and spilling.  Only real object storage is sampled: a categorical, period or
    interval column (``kind`` "O" too) holds its values in arrays, which ``memory_usage``
    counts already, and turning them into objects took a second a million rows."""
    n = len(obj)
    if not n:
        return 0
    rows = list(range(0, n, max(1, n // _OBJECTS_SAMPLE)))[:_OBJECTS_SAMPLE]
    if hasattr(obj, "columns"):
        cols = [i for i, dtype in enumerate(obj.dtypes) if _holds_objects(dtype)]
        sample = obj.iloc[rows, cols].to_numpy(dtype=object).ravel() if cols else ()
    else:
        sample = obj.iloc[rows].to_numpy(dtype=object) if _holds_objects(obj.dtype) else ()
    index = obj.index
    if index.nlevels == 1 and _holds_objects(index.dtype):
        sample = [*sample, *index[rows]]
    return int(sum(sys.getsizeof(v) for v in sample) / len(rows) * n)


def _holds_objects(dtype) -> bool:
    # numpy's object dtype, or pandas' "string" stored as Python objects (not arrow's)
    return getattr(dtype, "kind", "") == "O" and (
        dtype == object or getattr(dtype, "storage", None) == "python")
