"""``repartition(partition_size="100MB")``: partitions cut and merged by memory size.

Two steps, as Dask's:

1. *Measure* (eager, one small task per partition, computed when called): the
   partition's ``memory_usage(deep=True)`` and its row count, and, for a partition
   over the size, where to cut it into ``ceil(memory / size)`` row ranges of
   about equal length.  With known divisions the index is sorted inside a
   partition, so a cut sits at the first row of an index label
   (``searchsorted(label, "left")``): a repeated label never straddles two pieces,
   and the label becomes a division.
2. *Plan and build* (pure): the pieces, in order, each with its share of its
   partition's memory, are merged greedily while the sum stays within the size
   (a piece alone may exceed it only if it is one index label).  One task per
   output partition slices its pieces out of the old partitions and concatenates
   them.

Divisions stay known where the input's are: an output's lower bound is its first
piece's (the old division or the cut label), the last one the old last division.
"""

from __future__ import annotations

import math

import pandas as pd

from shoal.collection import merge_layers
from shoal.config import parse_bytes
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import new_collection

__all__ = ["plan_pieces", "repartition_size"]


def _measure(part, size, known):
    """``[(memory, rows, cuts)]`` of one partition; cuts are ``(position, label)`` pairs."""
    mem = part.memory_usage(deep=True)
    mem = int(mem.sum()) if isinstance(mem, pd.Series) else int(mem)
    n = len(part)
    pieces = min(n, math.ceil(mem / size)) if n else 1
    positions = [n * k // pieces for k in range(1, pieces)]
    cuts = []
    for pos in positions:
        if known:
            label = part.index[pos]
            pos = int(part.index.searchsorted(label, "left"))
        else:
            label = None
        if 0 < pos < n and (not cuts or pos > cuts[-1][0]):
            cuts.append((pos, label))
    return [(mem, n, cuts)]


def _concat_lists(lists):
    return [x for piece in lists for x in piece]


def plan_pieces(measures, size):
    """Output partitions as lists of pieces ``(partition, start, stop, label)`` (pure).

    *label* is the cut label a piece starts at (None at a partition's start).
    """
    pieces = []
    for i, (mem, n, cuts) in enumerate(measures):
        bounds = [(0, None)] + list(cuts) + [(n, None)]
        for (start, label), (stop, _) in zip(bounds, bounds[1:]):
            share = mem * (stop - start) / n if n else mem
            pieces.append(((i, start, stop, label), share))
    groups, total = [], 0.0
    for piece, share in pieces:
        if groups and total + share <= size:
            groups[-1].append(piece)
            total += share
        else:
            groups.append([piece])
            total = share
    return groups


def _gather(parts, slices):
    got = [part.iloc[start:stop] for part, (start, stop) in zip(parts, slices)]
    return got[0] if len(got) == 1 else pd.concat(got)


def _divisions(groups, old):
    lower = [old[g[0][0]] if g[0][3] is None else g[0][3] for g in groups]
    return tuple(lower) + (old[-1],)


def repartition_size(frame, partition_size):
    """*frame* cut and merged into partitions of at most about *partition_size* bytes."""
    from shoal.dataframe.reductions import reduction

    try:
        size = parse_bytes(partition_size)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"repartition(partition_size=...): {exc}") from exc
    if size <= 0:
        raise ValueError(f"partition_size must be positive, got {partition_size!r}")
    known = frame.known_divisions
    measures = reduction(frame, _measure, _concat_lists, token="partition-size", meta=0,
                         chunk_kwargs={"size": size, "known": known}).compute()
    groups = plan_pieces(measures, size)
    name = f"repartition-size-{tokenize(frame, size, groups)}"
    layer = {}
    for j, group in enumerate(groups):
        layer[(name, j)] = Task((name, j), _gather, [Ref((frame._name, p[0])) for p in group],
                                [(p[1], p[2]) for p in group])
    divisions = _divisions(groups, frame.divisions) if known else (None,) * (len(groups) + 1)
    return new_collection(merge_layers(frame, name=name, layer=layer), name, frame._meta,
                          divisions)
