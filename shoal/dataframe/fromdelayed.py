"""A frame from a list of Delayed values, each computing one pandas partition.

:func:`from_delayed` adds the Delayed objects' graphs to the collection and one
task per partition that reads its Delayed value.  The schema (``meta``) is what
the caller passes; without it the *first* Delayed is computed once, when the
frame is built, and its empty version becomes the schema -- the same choice as
Dask, which also computes the first partition to learn the metadata (pass
``meta=`` to build the frame without computing anything).

With ``verify_meta=True`` (the default) each partition's task checks, when it
runs, that the partition is the same kind of pandas object as the schema with
the same columns and compatible dtypes, and raises a ``ValueError`` naming the
partition and listing the differing columns.  "Compatible" follows Dask: any
two integer/float dtypes match (a partition with missing values turns ints into
floats), text in object or string dtype matches either, and a categorical
matches a categorical whose categories the schema does not know.
"""

from __future__ import annotations

import pandas as pd

from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe import methods
from shoal.dataframe._meta import make_meta
from shoal.dataframe.core import new_collection
from shoal.delayed import Delayed, collect_delayed

__all__ = ["from_delayed"]


def _texty(dtype) -> bool:
    return dtype == object or isinstance(dtype, pd.StringDtype)


def _compatible(found, expected) -> bool:
    if isinstance(found, pd.CategoricalDtype) or isinstance(expected, pd.CategoricalDtype):
        if not (isinstance(found, pd.CategoricalDtype) and isinstance(expected, pd.CategoricalDtype)):
            return False
        return len(expected.categories) == 0 or found == expected
    if _texty(found) and _texty(expected):
        return True
    kinds = {getattr(found, "kind", None), getattr(expected, "kind", None)}
    return kinds <= {"i", "u", "f"} or found == expected


def _mismatch(part, meta) -> list:
    """(column, found, expected) for each difference of *part* from *meta*."""
    if isinstance(meta, pd.DataFrame):
        if part.columns.has_duplicates or meta.columns.has_duplicates:  # position by position
            if list(part.columns) != list(meta.columns):
                return [("(columns)", list(part.columns), list(meta.columns))]
            return [(c, f, e) for c, f, e in zip(meta.columns, part.dtypes, meta.dtypes)
                    if not _compatible(f, e)]
        found, expected = part.dtypes.to_dict(), meta.dtypes.to_dict()
        rows = [(c, found.get(c, "-"), expected.get(c, "-"))
                for c in list(expected) + [c for c in found if c not in expected]]
        rows = [r for r in rows if "-" in (r[1], r[2]) or not _compatible(r[1], r[2])]
        if not rows and list(part.columns) != list(meta.columns):
            rows = [("(column order)", list(part.columns), list(meta.columns))]
        return rows
    if part.name != meta.name and not (pd.isna(part.name) and pd.isna(meta.name)):
        return [("(name)", part.name, meta.name)]
    return [] if _compatible(part.dtype, meta.dtype) else [(part.name, part.dtype, meta.dtype)]


def _checked(part, meta, i):
    """*part* if it matches *meta*, else a ValueError naming partition *i*."""
    kind = type(meta).__name__
    if not isinstance(part, type(meta)):
        raise ValueError(f"from_delayed: partition {i} is a {type(part).__module__}."
                         f"{type(part).__name__}, but meta is a pandas {kind}")
    rows = _mismatch(part, meta)
    if rows:
        table = "\n".join(f"  {c!r}: found {f}, expected {e}" for c, f, e in rows)
        raise ValueError(f"from_delayed: partition {i} does not match meta (columns and dtypes "
                         f"differ):\n{table}\nPass meta= describing every partition, or "
                         "verify_meta=False to skip this check")
    return part


def from_delayed(dfs, meta=None, divisions=None, prefix=None, verify_meta=True):
    """A DataFrame or Series whose partitions are the values of the Delayed *dfs*.

    ``meta`` is the schema (an empty pandas object or a ``{column: dtype}`` /
    ``(name, dtype)`` description); without it the first Delayed is computed now
    to learn it (as Dask does).  ``divisions`` are the partitions' index boundaries
    (``len(dfs) + 1`` of them) when the caller knows them, else unknown.
    ``verify_meta`` checks every partition against ``meta`` when it is computed.
    """
    if isinstance(dfs, Delayed):
        dfs = [dfs]
    if not isinstance(dfs, (list, tuple)):
        raise TypeError(f"from_delayed(dfs=...) takes a list of Delayed objects, got "
                        f"{type(dfs).__name__}")
    if not dfs:
        raise TypeError("from_delayed(dfs=...) needs at least one Delayed object")
    for i, d in enumerate(dfs):
        if not isinstance(d, Delayed):
            raise TypeError(f"from_delayed: dfs[{i}] is a {type(d).__name__}, not a Delayed "
                            "object (shoal.delayed)")
    if isinstance(divisions, str):
        raise NotImplementedError(f"from_delayed(divisions={divisions!r}) is not supported; "
                                  "compute the divisions and pass them as a list")
    if divisions is not None:
        divisions = tuple(divisions)
        if len(divisions) != len(dfs) + 1:
            raise ValueError(f"from_delayed: divisions must have len(dfs) + 1 = {len(dfs) + 1} "
                             f"values, got {len(divisions)}")
        missing = [d is None for d in divisions]
        if any(missing) and not all(missing):
            raise ValueError(f"from_delayed: divisions {list(divisions)} mix None with values: "
                             "give every boundary, or none (unknown divisions)")
        if not any(missing) and list(divisions) != sorted(divisions):
            raise ValueError(f"from_delayed: divisions {list(divisions)} must be sorted")
    else:
        divisions = (None,) * (len(dfs) + 1)
    if meta is None:
        first = dfs[0].compute()
        if not isinstance(first, (pd.DataFrame, pd.Series)):
            raise TypeError(f"from_delayed: dfs[0] computes to a {type(first).__name__}, not a "
                            "pandas DataFrame or Series (pass meta= for another schema)")
        meta = make_meta(first)
    else:
        meta = make_meta(meta)
    if not isinstance(meta, (pd.DataFrame, pd.Series)):
        raise TypeError(f"from_delayed: meta must describe a DataFrame or Series, got {meta!r}")
    name = f"{prefix or 'from-delayed'}-{tokenize(dfs, meta, divisions, verify_meta)}"
    graph = collect_delayed(list(dfs), {})
    layer = {}
    for i, d in enumerate(dfs):
        if verify_meta:
            layer[(name, i)] = Task((name, i), _checked, Ref(d.key), meta, i)
        else:
            layer[(name, i)] = Task((name, i), methods.identity, Ref(d.key))
    layers = {f"delayed-{name}": graph, name: layer}
    return new_collection(layers, name, meta, divisions)
