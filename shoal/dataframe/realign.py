"""Moving rows to new index boundaries, and putting frames side by side.

- :func:`repartition` is ``DataFrame.repartition`` / ``Series.repartition``
  (attached to the classes below, core's row-count version kept for
  ``npartitions=``).  With ``divisions=[d0, ..., dn]`` the input's divisions must
  be known; new partition ``j`` holds the rows with ``d_j <= index < d_j+1``
  (the last one also ``index == dn``), gathered from the old partitions whose
  boundaries overlap that range, so one task reads only its neighbours.  The new
  outer boundaries must equal the old ones (``force=True``: enclose them), the
  inner ones be increasing (the last may repeat, as Dask allows).
- :func:`concat_columns` is ``concat(dfs, axis=1)``: frames whose known divisions
  are equal (or that all have one partition) are concatenated partition by
  partition; known but different divisions are first repartitioned onto the
  union of all of them (every frame then has the same boundaries); unknown
  divisions are concatenated partition by partition only when the frames share
  one partitioning (``partitioning.py``: derived partition-wise from one source);
  else they are first hash-partitioned on their index (equal labels meet), since
  the same partition count says nothing about which rows of one frame meet which
  of another (``ignore_unknown_divisions`` is accepted and has no effect).

The schema of a column-wise concat is pandas' ``concat`` of the metadata (so an
int column stays int64 in the schema even where alignment leaves holes, as in
Dask; the computed partitions have pandas' dtypes).  With known divisions the
labels of a partition are sorted (pandas' ``concat(axis=1)`` of the whole data
leaves a union of different indexes unsorted; partitioned by divisions, the
result can only be in index order).
"""

from __future__ import annotations

import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe import methods
from shoal.dataframe.core import _Frame, new_collection
from shoal.dataframe.partitioning import align_on_index, co_partitioned, keep_partitioning

__all__ = ["concat_columns", "repartition", "repartition_divisions"]


def _rows_between(parts, lo, hi, last, meta):
    """The rows of *parts* (in order) with ``lo <= index < hi`` (``<= hi`` when *last*)."""
    out = []
    for p in parts:
        idx = p.index
        keep = (idx >= lo) & ((idx <= hi) if last else (idx < hi))
        out.append(p[keep])
    return methods.concat(out, meta)


def _check_divisions(divisions):
    if isinstance(divisions, str) or not hasattr(divisions, "__len__"):
        raise TypeError(f"repartition(divisions=...) takes a list of index boundaries, "
                        f"got {type(divisions).__name__}")
    divisions = list(divisions)
    if len(divisions) < 2:
        raise ValueError(f"repartition(divisions=...) needs at least two boundaries, got {divisions}")
    if any(d is None or (isinstance(d, float) and d != d) for d in divisions):
        raise ValueError(f"repartition(divisions=...): boundaries must be known values, got {divisions}")
    try:
        ordered = all(a <= b for a, b in zip(divisions, divisions[1:]))
    except TypeError as exc:
        raise TypeError(f"repartition(divisions=...): boundaries cannot be compared ({exc})") from None
    if not ordered:
        raise ValueError(f"repartition(divisions=...): boundaries must be sorted, got {divisions}")
    if any(a == b for a, b in zip(divisions[:-2], divisions[1:-1])):
        raise ValueError("repartition(divisions=...): boundaries must be unique (only the last "
                         f"may repeat the one before it), got {divisions}")
    return divisions


def repartition_divisions(frame, divisions, force=False):
    """*frame* with its rows moved to partitions bounded by *divisions*."""
    divisions = _check_divisions(divisions)
    if not frame.known_divisions:
        raise ValueError("repartition(divisions=...) needs known divisions on the input, and this "
                         "frame's are unknown; use set_index(...) or from_pandas(sort=True) first, "
                         "or repartition(npartitions=...)")
    old = list(frame.divisions)
    try:
        lo_ok = divisions[0] <= old[0] if force else divisions[0] == old[0]
        hi_ok = divisions[-1] >= old[-1] if force else divisions[-1] == old[-1]
    except TypeError as exc:
        raise TypeError(f"repartition(divisions=...): boundaries {divisions[0]!r}.. cannot be "
                        f"compared with the frame's index ({exc})") from None
    how = "enclose" if force else "equal"
    if not lo_ok:
        raise ValueError(f"repartition(divisions=...): the first boundary {divisions[0]!r} must "
                         f"{how} the frame's first division {old[0]!r}"
                         + ("" if force else " (force=True lets it be smaller)"))
    if not hi_ok:
        raise ValueError(f"repartition(divisions=...): the last boundary {divisions[-1]!r} must "
                         f"{how} the frame's last division {old[-1]!r}"
                         + ("" if force else " (force=True lets it be larger)"))
    if tuple(divisions) == tuple(old):
        return frame
    name = f"repartition-divisions-{tokenize(frame, divisions)}"
    n_new = len(divisions) - 1
    layer = {}
    for j in range(n_new):
        lo, hi, last = divisions[j], divisions[j + 1], j == n_new - 1
        # old partition i may hold labels in [old[i], old[i+1]]: keep those that can meet [lo, hi]
        parts = [Ref((frame._name, i)) for i in range(frame.npartitions)
                 if old[i] <= hi and old[i + 1] >= lo]
        layer[(name, j)] = Task((name, j), _rows_between, parts, lo, hi, last, frame._meta)
    return new_collection(merge_layers(frame, name=name, layer=layer), name, frame._meta, divisions)


def _freq_divisions(frame, freq):
    """Divisions cutting *frame* (a DatetimeIndex with known divisions) at the points of
    *freq* (``"1D"``, ``"ME"``...) strictly between its first and last divisions."""
    if not isinstance(frame._meta.index, pd.DatetimeIndex):
        raise TypeError("repartition(freq=...) needs a DatetimeIndex; this frame's index is "
                        f"{type(frame._meta.index).__name__}")
    if not frame.known_divisions:
        raise ValueError("repartition(freq=...) needs known divisions and this frame's are "
                         "unknown; use set_index(...) or from_pandas(sort=True) first")
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"repartition(freq=...): {freq!r} is not a frequency ({exc})") from None
    d0, dn = pd.Timestamp(frame.divisions[0]), pd.Timestamp(frame.divisions[-1])
    # (a point of an anchored rule -- "W", "ME" -- is a midnight; date_range keeps the
    # start's time of day)
    fixed = isinstance(offset, (pd.offsets.Tick, pd.offsets.Day))
    start = d0.floor(offset) if fixed else d0.normalize()
    points = pd.date_range(start, dn, freq=offset)
    inner = [t for t in points if d0 < t < dn]
    return [d0, *inner, dn]


#: core's: neighbours merged or partitions split by rows (the original, also when this
#: module is loaded again: its own repartition says which that was)
_by_count = getattr(_Frame.repartition, "by_count", _Frame.repartition)


def repartition(self, npartitions=None, divisions=None, force=False, partition_size=None,
                freq=None):  # fmt: skip
    """*npartitions* partitions (neighbours concatenated, which keeps known divisions, or
    partitions split by rows, which makes them unknown), or the new *divisions*: rows moved
    to partitions bounded by them (the input's divisions must be known; the outer
    boundaries must equal the old ones, or with ``force=True`` enclose them)."""
    if freq is not None:
        if npartitions is not None or divisions is not None or partition_size is not None:
            raise ValueError("repartition takes only one of npartitions=, divisions=, "
                             "partition_size= or freq=")
        return repartition_divisions(self, _freq_divisions(self, freq))
    if partition_size is not None and npartitions is None and divisions is None:
        from shoal.dataframe.repartition_size import repartition_size

        return repartition_size(self, partition_size)
    if isinstance(npartitions, (list, tuple, pd.Index)) and divisions is None:
        npartitions, divisions = None, npartitions  # (Dask's first argument is divisions)
    if (npartitions is None) == (divisions is None):
        raise ValueError("repartition needs exactly one of npartitions= or divisions=")
    if divisions is not None:
        return repartition_divisions(self, divisions, force)
    return _by_count(self, npartitions)


repartition.by_count = _by_count
_Frame.repartition = repartition


# -- concat(axis=1) ------------------------------------------------------------------------

def _side_by_side(parts, join, sort):
    return pd.concat(parts, axis=1, join=join, sort=sort)


def concat_columns(dfs, join="outer", ignore_unknown_divisions=False):
    """``concat(dfs, axis=1)``: see the module docstring."""
    from shoal.dataframe.creation import from_pandas

    if join not in ("outer", "inner"):
        raise ValueError(f"concat(join=...) must be 'outer' or 'inner', got {join!r}")
    frames = []
    for i, f in enumerate(dfs):
        if isinstance(f, (pd.DataFrame, pd.Series)):
            f = from_pandas(f, npartitions=1)
        if not isinstance(f, _Frame) or isinstance(f._meta, pd.Index):
            raise TypeError(f"concat(axis=1): dfs[{i}] is a {type(f).__name__}, not a shoal or "
                            "pandas DataFrame or Series")
        frames.append(f)
    meta = pd.concat([f._meta for f in frames], axis=1, join=join)
    counts = {f.npartitions for f in frames}
    if all(f.known_divisions for f in frames):
        if len({tuple(f.divisions) for f in frames}) > 1 and counts != {1}:
            bounds = sorted({d for f in frames for d in f.divisions})
            if len(bounds) == 1:  # every frame holds one label: one partition [b, b]
                bounds = bounds * 2
            frames = [repartition_divisions(f, bounds, force=True) for f in frames]
            divisions = bounds
        else:
            divisions = frames[0].divisions
            if counts == {1}:
                divisions = (min(f.divisions[0] for f in frames), max(f.divisions[-1] for f in frames))
    else:  # some unknown: side by side only if split alike, else equal labels meet first
        if counts != {1} and not co_partitioned(frames):
            unique = list({id(f): f for f in frames}.values())
            moved = {id(f): g for f, g in zip(unique, align_on_index(unique, "concat(axis=1)"))}
            frames = [moved[id(f)] for f in frames]
        divisions = (None,) * (frames[0].npartitions + 1)
    name = f"concat-axis1-{tokenize(*frames, join)}"
    sort = divisions[0] is not None  # (known: labels kept in order within the partition)
    layer = {(name, i): Task((name, i), _side_by_side, [Ref((f._name, i)) for f in frames], join,
                             sort) for i in range(frames[0].npartitions)}
    out = new_collection(merge_layers(*frames, name=name, layer=layer), name, meta, divisions)
    return keep_partitioning(out, frames)
