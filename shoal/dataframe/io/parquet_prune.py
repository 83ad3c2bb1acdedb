"""Partition pruning: the files of a hive directory that ``filters`` rule out.

A file under ``year=2013/month=5/`` holds only rows whose ``year`` is 2013 and
``month`` is 5, so a predicate on a partition column is decided per file, when
the graph is built, from the folder names alone.  ``filters`` is pyarrow's
disjunctive normal form: a list of predicates ``(column, op, value)`` (all must
hold), or a list of such lists (any may hold).  A file is kept when some
conjunction may hold for it; inside a conjunction each predicate is

- decided, when it names a partition column whose value in this file is known
  and comparable with the filter's value (numbers with numbers, strings with
  strings);
- "maybe" otherwise (a stored column, a missing partition value, a value of
  another type): the row filter run on the file's rows decides.

Pruning is thus only ever conservative: the rows that survive are the ones the
row filter keeps, never fewer, and a dropped file could contribute no row.
Everything here is pure logic on paths and values.
"""

from __future__ import annotations

import numbers
import operator

from shoal.dataframe.io import parquet_hive

__all__ = ["check_filters", "prune"]

_COMPARE = {"=": operator.eq, "==": operator.eq, "!=": operator.ne, "<": operator.lt,
            "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_MEMBER = {"in": True, "not in": False}


def check_filters(filters) -> list:
    """*filters* as a list of conjunctions, each a list of ``(column, op, value)``."""
    if not isinstance(filters, (list, tuple)) or not filters:
        raise ValueError(f"read_parquet(filters=...) must be a non-empty list of "
                         f"(column, op, value) tuples or a list of such lists, got {filters!r}")
    # (pyarrow's rule: a first item that starts with a column name is one predicate)
    flat = isinstance(filters[0], (list, tuple)) and filters[0] and isinstance(filters[0][0], str)
    groups = [list(filters)] if flat else [list(g) for g in filters]
    for group in groups:
        for pred in group:
            if not isinstance(pred, (list, tuple)) or len(pred) != 3:
                raise ValueError(f"read_parquet(filters=...): each predicate must be a "
                                 f"(column, op, value) tuple, got {pred!r}")
            op = pred[1]
            if op not in _COMPARE and op not in _MEMBER:
                raise ValueError(f"read_parquet(filters=...): unknown operator {op!r} in "
                                 f"{tuple(pred)!r}; use one of "
                                 f"{', '.join(list(_COMPARE) + list(_MEMBER))}")
            if op in _MEMBER and isinstance(pred[2], (str, bytes)):
                raise ValueError(f"read_parquet(filters=...): {op!r} takes a collection of "
                                 f"values, got {pred[2]!r}")
    return groups


def _comparable(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    both_numbers = isinstance(a, numbers.Real) and isinstance(b, numbers.Real)
    return both_numbers or (isinstance(a, str) and isinstance(b, str))


def _may_hold(value, op, target) -> bool:
    """Whether ``value op target`` may hold (True unless it is decided False)."""
    if value is None:
        return True
    if op in _MEMBER:
        targets = list(target)
        if not all(_comparable(value, t) for t in targets):
            return True
        return any(value == t for t in targets) is _MEMBER[op]
    if not _comparable(value, target):
        return True
    return bool(_COMPARE[op](value, target))


def _file_values(path, root, cats) -> dict:
    """``{partition column: typed value or None}`` of one file."""
    out = {}
    for col, raw in parquet_hive.partition_values(path, root).items():
        if col not in cats:
            continue
        ints = bool(cats[col]) and isinstance(cats[col][0], int)
        out[col] = None if raw == parquet_hive.NULL else (int(raw) if ints else raw)
    return out


def _keeps(values: dict, groups: list) -> bool:
    return any(all(_may_hold(values[c], op, v) for c, op, v in group if c in values)
               for group in groups)


def prune(paths, hive, filters) -> list:
    """The files of *paths* (a hive directory's, ``hive = (root, categories)``) that
    *filters* may keep rows of, in their order."""
    groups = check_filters(filters)
    root, cats = hive
    return [p for p in paths if _keeps(_file_values(p, root, cats), groups)]
