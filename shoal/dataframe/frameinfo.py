"""Memory use and ``info()``, attached to the frame classes.

- ``memory_usage(index=True, deep=False)``: pandas' ``memory_usage`` of every
  partition, summed (a tree reduction): a Series by column for a DataFrame (the
  ``Index`` row first, as pandas'), a Scalar for a Series.  Each partition counts
  its own index, so a RangeIndex is counted once per partition -- the total is
  what the partitions hold, as Dask's, not what one pandas frame of the whole
  data would.
- ``memory_usage_per_partition(index=True, deep=False)``: a Series of int64, one
  value per partition (indexed by partition number).
- ``info(buf=None, verbose=False, memory_usage=False)``: pandas' layout.  Without
  ``verbose`` it prints only what the schema knows (no computing: the class, the
  column count and range, the dtypes); ``verbose=True`` computes the index summary
  and each column's non-null count in one pass; ``memory_usage=True`` adds the
  summed memory use of the partitions (``"deep"``: of the objects too).  A last
  line says how many partitions the frame has.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from shoal.base import compute
from shoal.dataframe.core import DataFrame, Series
from shoal.dataframe.reductions import reduction

__all__ = ["info", "memory_usage", "memory_usage_per_partition"]


# -- kernels -----------------------------------------------------------------------

def usage_chunk(part, index, deep):
    if isinstance(part, pd.Index):  # (an Index is all index)
        return part.memory_usage(deep=deep)
    return part.memory_usage(index=index, deep=deep)


def usage_sum(parts):
    if isinstance(parts[0], pd.Series):
        return sum(parts[1:], parts[0]).astype("int64")
    return int(sum(parts))


def part_usage(part, index, deep):
    return [int(np.sum(usage_chunk(part, index, deep)))]


def list_concat(parts):
    return [v for p in parts for v in p]


def usage_series(parts):
    values = list_concat(parts)
    return pd.Series(values, index=pd.RangeIndex(len(values)), dtype="int64")


def index_summary(part):
    """``(type name, length, first label, last label)`` of one partition's index."""
    idx = part.index
    return type(idx).__name__, len(idx), idx[0] if len(idx) else None, idx[-1] if len(idx) else None


def merge_summaries(parts):
    kind = parts[0][0] if parts else "Index"
    rows = [p for p in parts if p[1]]
    n = sum(p[1] for p in rows)
    return kind, n, rows[0][2] if rows else None, rows[-1][3] if rows else None


# -- methods -------------------------------------------------------------------------

def _check_flags(what, **flags):
    for arg, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{what}({arg}=...) must be True or False, got {value!r}")


def memory_usage(self, index=True, deep=False):
    """Bytes held, summed over the partitions (see ``shoal.dataframe.frameinfo``)."""
    _check_flags("memory_usage", index=index, deep=deep)
    meta = usage_chunk(self._meta, index, deep)
    if isinstance(meta, pd.Series):
        meta = meta.astype("int64")
    else:
        meta = 0
    opts = {"index": bool(index), "deep": bool(deep)}
    return reduction(self, usage_chunk, usage_sum, token="memory-usage", meta=meta,
                     chunk_kwargs=opts)


def memory_usage_per_partition(self, index=True, deep=False):
    """Bytes held by each partition: a Series indexed by partition number."""
    _check_flags("memory_usage_per_partition", index=index, deep=deep)
    return reduction(self, part_usage, usage_series, list_concat, token="memory-usage-per-partition",
                     meta=pd.Series([], dtype="int64"),
                     chunk_kwargs={"index": bool(index), "deep": bool(deep)})


def _human(nbytes, plus):
    plus = "+" if plus else ""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if nbytes < 1024.0 or unit == "TB":
            return f"{nbytes:3.1f}{plus} {unit}"
        nbytes /= 1024.0


def _column_table(meta, counts):
    """pandas' ``info`` table: ``#``, ``Column``, ``Non-Null Count``, ``Dtype``."""
    rows = [[f" {i}", str(c), f"{int(n)} non-null", str(t)]
            for i, (c, n, t) in enumerate(zip(meta.columns, counts, meta.dtypes))]
    head = [" #", "Column", "Non-Null Count", "Dtype"]
    widths = [max([len(h)] + [len(r[j]) for r in rows]) for j, h in enumerate(head)]
    widths[0] = 3

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths))

    return [line(head), line(["---"] + ["-" * len(h) for h in head[1:]])] + [line(r) for r in rows]


def info(self, buf=None, verbose=False, memory_usage=False):
    """Print a concise summary, as ``pandas.DataFrame.info`` (see the module docstring)."""
    if memory_usage not in (True, False, "deep"):
        raise ValueError(f"info(memory_usage=...) must be True, False or 'deep', got {memory_usage!r}")
    buf = sys.stdout if buf is None else buf
    if not hasattr(buf, "write"):
        raise TypeError(f"info(buf=...) needs a writable text buffer, got {type(buf).__name__}")
    meta = self._meta
    lines = [str(type(self))]
    if not verbose:
        cols = meta.columns
        lines.append(f"Columns: {len(cols)} entries, {cols[0]} to {cols[-1]}" if len(cols)
                     else "Columns: 0 entries")
    else:
        summary = reduction(self, index_summary, merge_summaries, token="info-index",
                            meta=("Index", 0, None, None))
        counts, (kind, n, first, last) = compute(self.count(), summary)
        lines.append(f"{kind}: {n} entries, {first} to {last}" if n else f"{kind}: 0 entries")
        lines.append(f"Data columns (total {len(meta.columns)} columns):")
        lines.extend(_column_table(meta, counts))
    counts = meta.dtypes.astype(str).value_counts().sort_index()
    lines.append("dtypes: " + ", ".join(f"{k}({v})" for k, v in counts.items()))
    if memory_usage:
        deep = memory_usage == "deep"
        total = int(self.memory_usage(index=True, deep=deep).sum().compute())
        objects = any(t == object for t in meta.dtypes) or meta.index.dtype == object
        lines.append(f"memory usage: {_human(total, objects and not deep)}")
    lines.append(f"shoal: {self.npartitions} partitions" + ("" if self.known_divisions
                                                            else " (divisions unknown)"))
    buf.write("\n".join(lines) + "\n")


for _cls in (DataFrame, Series):
    _cls.memory_usage = memory_usage
    _cls.memory_usage_per_partition = memory_usage_per_partition
DataFrame.info = info
