"""Lining up the partitions of frames that one partition-wise task combines.

``core.map_partitions`` pairs partition ``i`` of every frame it is given (``a.x +
b.x``, ``df1 == df2``, ``s.where(cond)``, ``assign(y=other.z)``).  That is only right
when the frames are split at the same index boundaries, so before the tasks are
built :func:`align_frames` looks at the frames that are combined partition by
partition (one-partition reduction results, which are broadcast, are not among
them):

- all divisions known and equal: nothing to do;
- all divisions known but not all equal: every frame is moved onto the union of
  all the boundaries (``realign.repartition_divisions(force=True)``), so each new
  partition covers the same index range in every frame, and pandas aligns the
  labels inside it as it would on the whole data;
- some divisions unknown: the frames are paired as they are only if they share
  one *partitioning* (``partitioning.py``: e.g. ``df`` and ``df.x + 1``, derived
  partition by partition from one source); else nothing says which rows of one
  meet which of another (the same partition count proves nothing), so all are
  hash-partitioned on their index to one count (``align_on_index``).

The frames are swapped for their realigned versions wherever they appear in the
arguments (one level of list / tuple / dict, as ``map_partitions`` looks), and
``map_partitions`` starts again with them.  Also here: :func:`scalars_as_series`,
which makes a user function that returns one value per partition give a
one-row Series when the stated ``meta`` is a Series (as Dask's result is).
"""

from __future__ import annotations

import functools

import pandas as pd

from shoal.dataframe.partitioning import align_on_index, co_partitioned, keep_partitioning

__all__ = ["RepeatedLabelsRefused", "align_frames", "keep_partitioning", "scalars_as_series",
           "union_divisions"]


def union_divisions(frames) -> list:
    """The sorted union of the (known) divisions of *frames*."""
    try:
        bounds = sorted(set().union(*(f.divisions for f in frames)))
    except TypeError as e:
        raise TypeError(f"cannot align frames whose divisions are of different types: {e}") from None
    return bounds * 2 if len(bounds) == 1 else bounds


def align_frames(args, kwargs, frames, align=True):
    """``None`` when *frames* (combined partition by partition) already line up, else
    ``(args, kwargs, wrap)`` with every one of them moved onto the union of the divisions
    (all known) or hash-partitioned on the index (some unknown, split differently), and
    ``wrap(func)`` the partition function to use on them.  ``align=False``
    (``map_partitions(..., align_dataframes=False)``, as in Dask): the caller vouches
    that the frames are split alike; they are paired as they are."""
    from shoal.dataframe.core import _walk
    from shoal.dataframe.realign import repartition_divisions

    if len(frames) < 2:
        return None
    if not align:
        if len({f.npartitions for f in frames}) > 1:
            raise ValueError("map_partitions(align_dataframes=False) pairs partitions as they "
                             "are, but the frames have different numbers of partitions: "
                             f"{sorted({f.npartitions for f in frames})}")
        return None
    wrap = _same
    first = frames[0]
    moved = {}
    if all(f.known_divisions for f in frames):
        if all(tuple(f.divisions) == tuple(first.divisions) for f in frames[1:]):
            return None
        bounds = union_divisions(frames)
        for f in frames:
            if id(f) not in moved:
                same = tuple(f.divisions) == tuple(bounds)
                moved[id(f)] = f if same else repartition_divisions(f, bounds, force=True)
    elif co_partitioned(frames):
        return None
    else:  # unknown divisions, split differently: equal labels must meet first
        unique = list({id(f): f for f in frames}.values())
        moved = {id(f): g for f, g in zip(unique, align_on_index(unique))}
        wrap = RepeatedLabelsRefused

    def swap(obj):
        return moved.get(id(obj), obj)

    return [_walk(a, swap) for a in args], {k: _walk(v, swap) for k, v in kwargs.items()}, wrap


def _same(func):
    return func


class RepeatedLabelsRefused:
    """A partition function over frames hash-partitioned on their index, which refuses a
    label repeated in two or more of them.

    Aligning by label pairs every row of a label in one frame with every row of it in the
    other (pandas does so too).  With unknown divisions that is almost never meant: the
    index of ``read_csv`` (and of ``reset_index``) numbers each partition's rows from 0,
    so its labels repeat across partitions, and two such frames split differently would
    meet as a cartesian product of their row numbers.  After the hash partitioning all
    rows of a label share a partition, so the check is exact and local.  A label repeated
    in one frame only meets single rows (many to one, as in pandas) and is allowed.
    """

    def __init__(self, func):
        self.func = func
        self.__name__ = getattr(func, "__name__", type(func).__name__)

    def __call__(self, *args, **kwargs):
        parts = []
        for a in [*args, *kwargs.values()]:  # (one level of containers, as map_partitions)
            inner = a.values() if type(a) is dict else a if type(a) in (list, tuple) else [a]
            parts += [x for x in inner if isinstance(x, (pd.Series, pd.DataFrame))]
        repeated = [set(p.index[p.index.duplicated()]) for p in parts if not p.index.is_unique]
        if len(repeated) > 1:
            both = set.intersection(*repeated) if len(repeated) == 2 else set().union(
                *(a & b for i, a in enumerate(repeated) for b in repeated[i + 1:]))
            if both:
                raise ValueError(
                    "cannot align frames of unknown, different partitionings on an index "
                    f"whose labels repeat in both (e.g. {sorted(both, key=repr)[:3]}): "
                    "read_csv numbers each partition's rows from 0, so pairing by label "
                    "would pair every row with every row of the same number.  Give them a "
                    "unique index first (set_index on a column), or, if they hold the same "
                    "rows in the same partitions, combine them with "
                    "dd.map_partitions(func, a, b, align_dataframes=False)")
        return self.func(*args, **kwargs)


def _series_if_scalar(func, name, dtype, *args, **kwargs):
    out = func(*args, **kwargs)
    if isinstance(out, (pd.DataFrame, pd.Series, pd.Index)) or pd.api.types.is_list_like(out):
        return out  # (pandas objects, and arrays, as the function gave them)
    try:
        return pd.Series([out], name=name, dtype=dtype)
    except (TypeError, ValueError):
        return pd.Series([out], name=name)


def scalars_as_series(func, meta):
    """*func*, but a scalar it returns becomes a one-row Series named as *meta* (a Series)."""
    return functools.partial(_series_if_scalar, func, meta.name, meta.dtype)
