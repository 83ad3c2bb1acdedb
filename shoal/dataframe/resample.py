"""Time resampling of a frame with a DatetimeIndex (``df.resample("1h").mean()``).

A bin of the resample must be whole in one partition, so the rows are first moved
to partitions whose boundaries are bin edges; then pandas' own resample runs on
every partition, each given the bins it *owns*::

    divisions    d0 ......... d1 ............ d2 ...... d3   (known; DatetimeIndex)
    bins         |b0 |b1 |b2 |b3 |b4 |b5 |b6 |b7 |b8 |b9 |   edges: pandas on [d0, d3]
    repartition  [b0 b1 b2 b3) [b4 ... b7] [b8 b9]           inner divisions snapped down
                                             to a bin's first point (its edge; closed='right':
                                             edge + 1 unit, "ME", "W"...: the next day)
    per part:    s + rows + s  -> pandas resample -> agg -> keep the owned bins (by label)
                 (s: one stand-in row in the bin just before / just after the owned ones)

The stand-in rows do two jobs.  pandas only makes the bins from a partition's first
row to its last, so the owned bins that hold no rows (between partitions, or a whole
empty partition) would be missing; with a stand-in on either side, pandas makes every
owned bin itself and fills the empty ones as it does on the whole data (sum and count
0, mean NaN, an int column turned float...).  And for rules whose bin phase pandas
takes from the first row (``"2D"``, ``"2ME"``), a stand-in on an edge gives every
partition the phase of the whole data.  The stand-ins' own bins are dropped.  For
``Tick`` rules (``"7h"``, ``"30min"``) pandas' default origin, midnight of the first
day, is passed explicitly.

Output divisions are the labels of the first bin of each partition (and of the last
bin).  Bins run over the whole range of the divisions, so a frame whose divisions
enclose its rows with slack (not the first and last labels, as ``from_pandas`` and
``set_index`` give) gets empty bins at its ends -- as in Dask.  Unknown divisions are
refused (the bins cannot be put in partitions without them).  ``closed`` / ``label``
default as in pandas (right for month/quarter/year-end and weekly rules).
"""

from __future__ import annotations

from bisect import bisect_right

import pandas as pd
from pandas.tseries.frequencies import to_offset

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe._meta import make_meta, nonempty
from shoal.dataframe.core import DataFrame, Series, new_collection
from shoal.dataframe.realign import repartition_divisions

__all__ = ["Resampler", "resample"]

#: rules pandas closes and labels on the right by default
_END_RULES = {"ME", "YE", "QE", "BME", "BYE", "BQE", "W"}
METHODS = ("count", "first", "last", "max", "mean", "median", "min", "nunique", "ohlc",
           "prod", "size", "std", "sum", "var")


def _pandas_resample(obj, rule, closed, label, origin):
    kw = {} if origin is None else {"origin": origin}
    return obj.resample(rule, closed=closed, label=label, **kw)


def _apply(resampler, how, args, kwargs):
    if how == "agg":
        return resampler.agg(*args, **kwargs)
    return getattr(resampler, how)(*args, **kwargs)


def _period(rule) -> pd.Timedelta:
    """About one bin of *rule* as a Timedelta (an anchored rule's whole period)."""
    offset, t0 = to_offset(rule), pd.Timestamp("2000-01-01")
    return (t0 + 2 * offset) - (t0 + offset)


def _like(out, meta):
    """*out* in *meta*'s dtypes where they differ, but for *meta*'s integer columns: a bin
    left empty in one partition made its ints floats there, and int beside float
    partitions concatenate to float, as pandas gives on the whole; its bools became
    floats there too, and bools beside floats would concatenate to objects (see
    ``_meta``)."""
    if isinstance(out, pd.Series):
        keep = out.dtype == meta.dtype or pd.api.types.is_integer_dtype(meta.dtype)
        return out if keep else out.astype(meta.dtype)
    for column, dtype in meta.dtypes.items():
        if (column in out and out[column].dtype != dtype
                and not pd.api.types.is_integer_dtype(dtype)):
            try:
                out[column] = out[column].astype(dtype)
            except (TypeError, ValueError):
                pass
    return out


def _meta(frame, run):
    """The result's meta from *run* (pandas' aggregation of a sample).  Where pandas' dtype
    depends on the data (an empty bin makes an int max/min/first/last float), the meta is
    a guess; the computed values and dtypes are pandas' for integer results (each partition
    keeps its own dtype; see ``_like``): their meta is the dtype without empty bins (one
    bin of two rows at one instant).  Other results take the dtype with empty bins
    (``nonempty``'s two rows a day apart), in every partition: a bool max is float, as
    pandas gives when some bin is empty (pandas keeps bool where none is)."""
    sample = nonempty(frame._meta)
    gappy = make_meta(run(sample))
    full = make_meta(run(sample.set_axis(sample.index[[0, 0]], axis=0)))
    if isinstance(gappy, pd.Series):
        return full if pd.api.types.is_integer_dtype(full.dtype) else gappy
    for column, dtype in full.dtypes.items():
        if column in gappy and pd.api.types.is_integer_dtype(dtype):
            gappy[column] = gappy[column].astype(dtype)
    return gappy


def _resample_part(part, before, after, owned, rule, closed, label, origin, how, args,
                   kwargs, sample, meta):  # fmt: skip
    """pandas' resample of *part*, with stand-in rows at *before* and *after* (outside the
    owned bins: ``owned = (first label, last label, count)``), whose bins are dropped again."""
    row = part.iloc[:1] if len(part) else sample.iloc[:1]
    unit = getattr(part.index, "unit", None)

    def stand_in(when):
        idx = pd.DatetimeIndex([when], name=part.index.name)
        idx = idx.as_unit(unit) if unit else idx
        return row.set_axis(idx, axis=0)

    # pandas' first and last bin edges lie beyond the first and last rows; a midnight a
    # DST change skips cannot be one (pandas raises), while inside the bins, where the
    # whole data meets it, it can: the stand-ins move out a bin until it is inside
    for attempt in range(4):
        data = pd.concat([stand_in(before), part, stand_in(after)])
        try:
            out = _apply(_pandas_resample(data, rule, closed, label, origin), how, args, kwargs)
            break
        except ValueError as exc:
            if "nonexistent" not in str(exc) or attempt == 3:
                raise
            step = _period(rule)  # (a bin's length in absolute time: calendar arithmetic
            before, after = before - step, after + step  # may land on the skipped midnight)
    first, last, count = owned
    out = _like(out.loc[first:last], meta)
    # (no freq: concatenating the partitions' indexes steps along it, through the midnight
    # a DST change skips too)
    out.index = pd.DatetimeIndex(out.index, freq=None)
    if len(out) != count or out.index[0] != first or out.index[-1] != last:
        got = (out.index[0], out.index[-1]) if len(out) else "no bins"
        raise RuntimeError(f"resample({rule!r}): the bins of a partition did not line up with "
                           f"those of the whole frame (expected {first} .. {last}, got {got})")
    return out


def _origin(frame, offset, d0):
    """pandas' default origin (the first row's midnight) for a fixed-length rule (hours,
    days...), None otherwise.
    Divisions may start before the first row (repartition(force=True)); for rules whose
    bins do not tile a day ("7h", "2D") the phase then depends on which day, so the first
    row's is computed (the first partition holding one)."""
    if isinstance(offset, pd.offsets.Day) and getattr(frame._meta.index, "tz", None) is not None:
        return None  # (pandas takes no origin for days of a zone's calendar)
    if not isinstance(offset, (pd.offsets.Tick, pd.offsets.Day)):  # (Day is no Tick in pandas 3)
        return None
    day = pd.Timedelta(days=1)
    step = pd.Timedelta(offset)
    if step <= day and day % step == pd.Timedelta(0):
        return d0.normalize()  # (every midnight gives these bins the same phase)
    for i in range(frame.npartitions):
        first = frame.get_partition(i).index.min().compute()
        if not pd.isna(first):
            return pd.Timestamp(first).normalize()
    return d0.normalize()


def _check_side(value, what):
    if value not in (None, "left", "right"):
        raise ValueError(f"resample({what}=...) must be 'left', 'right' or None, got {value!r}")
    return value


def _default_side(offset):
    code = offset.rule_code
    return "right" if code in _END_RULES or code.split("-")[0] in _END_RULES else "left"


def _bin_edges(d0, dn, rule, closed, origin):
    """Edges E_0 .. E_m of the m bins covering [d0, dn] (bin i runs from E_i to E_i+1)."""
    probe = pd.Series([0, 0], index=pd.DatetimeIndex([d0, dn]))
    lefts = _pandas_resample(probe, rule, closed, "left", origin).count().index
    rights = _pandas_resample(probe, rule, closed, "right", origin).count().index
    return list(lefts) + [rights[-1]]


class Resampler:
    """``frame.resample(rule, closed=None, label=None)``: aggregate with ``.sum()``,
    ``.mean()``, ``.agg(...)`` ... (see the module docstring)."""

    def __init__(self, frame, rule, closed=None, label=None):
        if not isinstance(frame, (DataFrame, Series)):
            raise TypeError("resample needs a shoal DataFrame or Series, "
                            f"got {type(frame).__name__}")
        if not isinstance(frame._meta.index, pd.DatetimeIndex):
            raise TypeError("resample needs a DatetimeIndex; this frame's index is "
                            f"{type(frame._meta.index).__name__} (set_index a datetime column "
                            "first)")
        try:
            self._offset = to_offset(rule)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"resample(rule=...): {rule!r} is not a frequency ({exc})") from None
        self._frame, self._rule = frame, rule
        self._closed, self._label = _check_side(closed, "closed"), _check_side(label, "label")
        if not frame.known_divisions:
            raise ValueError("resample needs known divisions and this frame's are unknown; "
                             "use set_index(...) on a datetime column or from_pandas(sort=True) "
                             "first")

    def _build(self, how, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        frame, rule, offset = self._frame, self._rule, self._offset
        closed, label = self._closed, self._label
        side = closed or _default_side(offset)
        d0, dn = pd.Timestamp(frame.divisions[0]), pd.Timestamp(frame.divisions[-1])
        origin = _origin(frame, offset, d0)
        sample = nonempty(frame._meta)
        meta = _meta(frame, lambda data: _apply(
            _pandas_resample(data, rule, closed, label, origin), how, args, kwargs))
        edges = _bin_edges(d0, dn, rule, closed, origin)
        m = len(edges) - 1
        # first point of bin i: its left edge, or just after it when bins are closed right
        # (pandas counts the whole day of an edge of "ME", "W"... in the bin that ends there)
        unit = after = pd.Timedelta(1, getattr(frame._meta.index, "unit", "ns"))  # (the index's)
        if side == "right" and _default_side(offset) == "right":
            after = pd.offsets.Day(1)
        start = [e + after if side == "right" else e for e in edges]  # (start[m]: bin m's)
        # owned bins per partition: split at the bin starting at or below each old division
        cuts = []
        for d in frame.divisions[1:-1]:
            i = max(bisect_right(start, d, 0, m) - 1, 0)
            if i > 0 and start[i] > d0 and (not cuts or cuts[-1] < i):
                cuts.append(i)
        cuts = [i for i in cuts if start[i] < dn]
        bounds = [0, *cuts, m]
        moved = repartition_divisions(frame, [d0, *(start[i] for i in cuts), dn])
        labels = edges[1:] if (label or _default_side(offset)) == "right" else edges[:-1]

        def before(i):  # a point of bin i - 1 (pandas takes the bins' phase from it)
            if side == "right":  # (just before its right edge: a midnight a DST change skips
                return edges[i] - unit  # cannot be normalized, and the edge may be one)
            return edges[0] - offset if i == 0 else edges[i - 1]

        tok = tokenize(frame, rule, closed, label, how, args, kwargs)
        name = f"resample-{how}-{tok}"
        layer = {}
        for j in range(len(bounds) - 1):
            lo, hi = bounds[j], bounds[j + 1]
            layer[(name, j)] = Task((name, j), _resample_part, Ref((moved._name, j)),
                                    before(lo), start[hi], (labels[lo], labels[hi - 1], hi - lo),
                                    rule, closed, label, origin, how, args, kwargs, sample,
                                    meta)  # fmt: skip
        divisions = [labels[b] for b in bounds[:-1]] + [labels[m - 1]]
        return new_collection(merge_layers(moved, name=name, layer=layer), name, meta, divisions)

    def agg(self, arg=None, *args, **kwargs):
        """pandas' ``Resampler.agg``: a name, a list, a dict or a function (run per bin)."""
        if arg is None and not kwargs:
            raise TypeError("resample(...).agg needs a function name, a list or a dict")
        return self._build("agg", (arg, *args) if arg is not None else args, kwargs)

    aggregate = agg

    def __getattr__(self, key):
        if key in METHODS:
            def method(*args, **kwargs):
                return self._build(key, args, kwargs)

            method.__name__ = key
            return method
        raise AttributeError(f"'Resampler' object has no attribute {key!r}")

    def __dir__(self):
        return sorted(set(dir(type(self))) | set(METHODS))

    def __repr__(self):
        return f"<shoal Resampler rule={self._rule!r} closed={self._closed} label={self._label}>"


def resample(self, rule, closed=None, label=None, **kwargs):
    """Group rows into time bins of *rule* (``"1h"``, ``"D"``, ``"ME"``...); aggregate the
    :class:`Resampler` (``.sum()``, ``.mean()``, ``.agg(...)``).  Needs known divisions."""
    if kwargs:
        raise NotImplementedError(f"resample({', '.join(kwargs)}=...) is not supported; "
                                  "pass rule, closed and label")
    return Resampler(self, rule, closed, label)


DataFrame.resample = resample
Series.resample = resample
