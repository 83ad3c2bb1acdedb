"""Cheap estimates of how many bytes a value holds in memory.

Used for the ``nbytes`` of task events and, later, worker memory accounting.
Arrays and frames report their buffers (``nbytes`` / ``memory_usage``), built-in
containers a sampled sum of their items, anything else ``sys.getsizeof``.  The
goal is a fast, roughly right figure, not an exact one.
"""

from __future__ import annotations

import sys

__all__ = ["sizeof"]

_SAMPLE = 10


def sizeof(obj) -> int:
    """Approximate size of *obj* in bytes.

    >>> sizeof(b"x" * 1000) >= 1000
    True
    >>> sizeof(list(range(100))) > sizeof([])
    True
    """
    t = type(obj)
    if t is bytes or t is str or t is int or t is float or obj is None:
        return sys.getsizeof(obj)
    if t is list or t is tuple or t is set or t is frozenset:
        n = len(obj)
        if not n:
            return sys.getsizeof(obj)
        items = list(obj)[:_SAMPLE] if t in (set, frozenset) else obj[:_SAMPLE]
        each = sum(sizeof(i) for i in items) / len(items)
        return int(sys.getsizeof(obj) + each * n)
    if t is dict:
        n = len(obj)
        items = list(obj.items())[:_SAMPLE]
        each = sum(sizeof(k) + sizeof(v) for k, v in items) / max(len(items), 1)
        return int(sys.getsizeof(obj) + each * n)
    usage = getattr(obj, "memory_usage", None)
    if usage is not None and callable(usage) and hasattr(obj, "dtypes"):
        try:
            total = usage(deep=False, index=True)
            return int(getattr(total, "sum", lambda: total)())
        except Exception:
            pass
    nbytes = getattr(obj, "nbytes", None)
    if type(nbytes) is int:
        return nbytes + 100
    try:
        return sys.getsizeof(obj)
    except TypeError:
        return 64
