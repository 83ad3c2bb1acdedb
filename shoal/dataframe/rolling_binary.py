"""``Rolling.cov(other)`` / ``Rolling.corr(other)``: a window statistic of two frames.

pandas aligns the two on the union of their indexes (a row missing from either is a
missing observation for both) and rolls over that.  Here the two collections are first
aligned partition by partition (``map_partitions`` realigns differing divisions), and
each aligned pair is packed into one frame whose top column level says which side a
column came from (``"x"``: the rolled frame, ``"y"``: *other*)::

    self:    a0   a1   a2
    other:   b0   b1   b2        (realigned to the same divisions)
    pack:    x|y  x|y  x|y       union index, as pandas' binary alignment
    overlap: the window's rows from the partitions before, then per row:
             x.rolling(...).cov(y)   unpacked again, pandas' own method

With ``other`` given pandas is not pairwise by default, so the result has one row
per row of the union, which the overlap's trimming by rows keeps as it is;
``pairwise=True`` with ``other`` (a MultiIndex of row and column) is refused.
"""

from __future__ import annotations

import pandas as pd

from shoal.dataframe._meta import nonempty
from shoal.dataframe.core import _Frame, map_partitions
from shoal.dataframe.neighbours import map_overlap

__all__ = ["rolling_binary"]


def _as_frame(obj):
    return obj.to_frame(name=0) if isinstance(obj, pd.Series) else obj


def _pack(a, b):
    """*a* and *b* side by side on the union of their indexes (columns ``x|...``, ``y|...``)."""
    if not a.index.equals(b.index):
        index = a.index.union(b.index)
        a, b = a.reindex(index), b.reindex(index)
    return pd.concat({"x": _as_frame(a), "y": _as_frame(b)}, axis=1)


def _unpack(rows, side, name):
    """One side of a packed frame; *name* is ``(True, series name)`` for a Series,
    ``(False, columns)`` for a DataFrame."""
    part = rows[side]
    return part.iloc[:, 0].rename(name[1]) if name[0] else part.set_axis(name[1], axis=1)


def _binary(rows, window, options, method, names, pairwise, ddof):
    x, y = _unpack(rows, "x", names[0]), _unpack(rows, "y", names[1])
    return getattr(x.rolling(window, **options), method)(y, pairwise=pairwise, ddof=ddof)


def _name(meta):
    return (True, meta.name) if isinstance(meta, pd.Series) else (False, meta.columns)


def rolling_binary(rolling, method, other, pairwise, ddof):
    """``rolling.<method>(other, pairwise=..., ddof=...)`` for another shoal Series/DataFrame."""
    if not isinstance(other, _Frame):
        raise TypeError(f"rolling(...).{method}(other=...) must be a shoal Series or DataFrame, "
                        f"got {type(other).__name__}")
    if pairwise:
        raise NotImplementedError(f"rolling(...).{method}(other=..., pairwise=True) is not "
                                  "supported; use pairwise=False (the default with other)")
    frame = rolling.frame
    names = (_name(frame._meta), _name(other._meta))
    packed_meta = _pack(nonempty(frame._meta), nonempty(other._meta)).iloc[:0]
    packed = map_partitions(_pack, frame, other, meta=packed_meta, token=f"rolling-{method}-pack")
    meta = _binary(_pack(nonempty(frame._meta), nonempty(other._meta)), rolling.window,
                   rolling.options, method, names, pairwise, ddof).iloc[:0]
    return map_overlap(_binary, packed, rolling._before, rolling._after, rolling.window,
                       rolling.options, method, names, pairwise, ddof, meta=meta,
                       token=f"rolling-{method}")
