"""Which frames of unknown divisions are split alike: their *partitioning*.

Partition-wise operations (``a.x + b.y``, ``df.assign(m=t)``, ``s.where(c)``,
``concat(axis=1)``) pair partition ``i`` of every frame and let pandas align the
labels inside it.  That equals pandas on the whole data only when every index
label present in two frames sits in the same partition of both.  Known, equal
divisions say so; unknown divisions say nothing, and the same partition *count*
is no evidence (a ``groupby().transform`` result has as many partitions as its
input, but its rows were shuffled between them).

So a frame carries a *partitioning* token, the name of the frame whose split it
shares.  A frame nobody recorded is its own origin: IO, ``from_pandas``,
``from_delayed``, shuffles, ``set_index``, ``sort_values``, ``repartition``,
``merge`` and every other builder start a new partitioning unless they say
otherwise, which is always safe (at worst the frames are re-aligned needlessly).
Builders that keep every row in its partition under its label record
``keep_partitioning(out, [source])``: ``map_partitions`` (elementwise operators,
column selection, ``assign``, ``astype``, ``fillna``, filters such as ``dropna``
or ``df[mask]``: the survivors stay where they were), scans (``cumsum``,
``cumcount``), ``map_overlap`` / ``shift``, ``sample`` and ``random_split``.  A
user function given to ``map_partitions`` is trusted, as Dask trusts it, to
keep rows where they are under their labels; one that relabels the index (its
own ``set_index``) must not then be combined with its input by label.  Index
relabelling builders of our own (``set_index(sorted=True)``, ``shift(freq=)``
without divisions) call :func:`new_partitioning`.

The token is kept in a registry keyed by collection name rather than on the
object: names are deterministic hashes of the computation, so the same name
means the same partitioning, and collections rebuilt under their name
(``persist``, ``clear_divisions``, ``copy``) keep it for free.  The registry is
bounded (least recently used entries go first); a forgotten entry only makes a
frame look newly partitioned, so it costs a shuffle, never a wrong answer.

Frames that do not share a partitioning are hash-partitioned on their index to
the same number of partitions (:func:`align_on_index`): equal labels then meet
in the same partition whichever frame they come from, so such frames share the
canonical partitioning ``hash-index-<n>``.  Row order then follows the hash, not
the input (compare with pandas after ``sort_index``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import pandas as pd

__all__ = ["align_on_index", "co_partitioned", "keep_partitioning", "new_partitioning",
           "partitioning", "record_partitioning"]

_LIMIT = 200_000
_ORIGIN: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


def record_partitioning(name, origin):
    with _LOCK:
        _ORIGIN[name] = origin
        _ORIGIN.move_to_end(name)
        while len(_ORIGIN) > _LIMIT:
            _ORIGIN.popitem(last=False)


def partitioning(frame) -> str:
    """The token naming how *frame*'s rows are split into partitions."""
    with _LOCK:
        got = _ORIGIN.get(frame._name)
        if got is not None:
            _ORIGIN.move_to_end(frame._name)
    return frame._name if got is None else got


def keep_partitioning(out, sources):
    """*out*, recorded as split like ``sources[0]`` (partition ``i`` of *out* holds
    only rows, under their labels, of partition ``i`` of it).  Returns *out*."""
    from shoal.dataframe.core import _Frame

    if sources and isinstance(out, _Frame) and out.npartitions == sources[0].npartitions:
        origin = partitioning(sources[0])
        if origin != out._name:
            record_partitioning(out._name, origin)
    return out


def new_partitioning(out):
    """*out*, recorded as its own partitioning (its index labels were changed)."""
    record_partitioning(out._name, out._name)
    return out


def co_partitioned(frames) -> bool:
    """Whether *frames* may be paired partition by partition without moving rows (also
    when each has one partition: then all rows meet, as in pandas)."""
    counts = {f.npartitions for f in frames}
    return counts == {1} or len(counts) == 1 and len({partitioning(f) for f in frames}) == 1


def align_on_index(frames, what="combine"):
    """*frames* hash-partitioned on their index to as many partitions as the largest
    (one already so partitioned is kept): equal labels meet in equal partitions."""
    from shoal.dataframe.shuffle import shuffle

    n = max(f.npartitions for f in frames)
    canonical = f"hash-index-{n}"
    out = []
    for i, f in enumerate(frames):
        if isinstance(f._meta, pd.Index):
            raise ValueError(
                f"cannot {what} a shoal Index with frames split differently: an Index pairs "
                "values by position, and their partitions hold different rows; turn it into "
                "a Series first (index.to_series()) or compute it")
        if isinstance(f._meta.index, pd.MultiIndex):
            raise ValueError(f"cannot {what} frames of unknown, different partitionings on a "
                             "MultiIndex; reset_index() or set_index(...) on them first")
        if f.npartitions == n and partitioning(f) == canonical:
            out.append(f)
            continue
        moved = shuffle(f, None, n)
        record_partitioning(moved._name, canonical)
        out.append(moved)
    return out
