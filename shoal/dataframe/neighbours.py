"""Methods that need rows of the neighbouring partitions: ``shift``, ``diff``, ``ffill``,
``bfill``, ``rolling`` windows and ``map_overlap``.

A partition's result depends on rows before it (or after it: a negative shift,
``bfill``, a centred window).  What it needs from them is a *carry*, handed along a
chain of small tasks, the partitions themselves computed in parallel::

    carry_1 = step(None, part_0)
    carry_i = step(carry_{i-1}, part_{i-1})      (backwards: from the last partition)
    out_i   = finish(part_i, carry_i, ...)

- ``map_overlap(func, before, after)``: the carries are the ``before`` rows ending the
  partitions before (from as many partitions back as it takes, when they are small)
  and the ``after`` rows starting those after; ``func`` runs on the rows joined and
  its result is cut back to the partition's own rows.  A time span (``"2h"``, a
  ``Timedelta``) carries the rows within that span of the partition's edge instead.
  ``shift``, ``diff`` and ``rolling`` are overlaps.
- ``ffill`` / ``bfill``: the carry is the last (first) row filled, one row whatever
  the gap.

The functions passed must keep the rows' number and order (as Dask's ``map_overlap``
asks).
"""

from __future__ import annotations

import numbers

import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe._meta import infer, make_meta, nonempty
from shoal.dataframe.partitioning import keep_partitioning, new_partitioning

__all__ = ["Neighbours", "Rolling", "map_overlap", "scan"]


def scan(frame, token: str, step, finish, *, meta, reverse: bool = False, args=()):
    """*frame* with ``finish(part, carry, *args)`` per partition, the carries made by
    ``step(carry, part, *args)`` along the partitions (backwards with ``reverse``)."""
    from shoal.dataframe.core import new_collection

    tok = tokenize(frame, token, step, finish, reverse, args)
    name, carries = f"{token}-{tok}", f"{token}-carry-{tok}"
    n = frame.npartitions
    order = list(range(n - 1, -1, -1) if reverse else range(n))
    layer: dict = {}
    for j, i in enumerate(order):
        part = Ref((frame._name, i))
        carry = Ref((carries, i)) if j else None
        layer[(name, i)] = Task((name, i), finish, part, carry, *args)
        if j + 1 < n:
            nxt = order[j + 1]
            layer[(carries, nxt)] = Task((carries, nxt), step, carry, part, *args)
    out = new_collection(merge_layers(frame, name=name, layer=layer), name, meta, frame.divisions)
    return keep_partitioning(out, [frame])  # (rows stay in their partitions)


# --- overlaps ---------------------------------------------------------------------


def _span(value, what: str):
    """Rows (an int >= 0) or a time span (a Timedelta) from ``before`` / ``after``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"map_overlap: {what} must be >= 0, got {value}")
        return int(value)
    try:
        return pd.Timedelta(value)
    except (TypeError, ValueError):
        raise ValueError(f"map_overlap: {what} must be a number of rows or a time span "
                         f"(such as '2h'), got {value!r}") from None


def _join(pieces):
    pieces = [p for p in pieces if p is not None and len(p)]
    if not pieces:
        return None
    return pieces[0] if len(pieces) == 1 else pd.concat(pieces)


def _tail(carry, part, span):
    rows = _join([carry, part])
    if rows is None:
        return carry
    if isinstance(span, pd.Timedelta):  # the rows within the span of the last one
        return rows[rows.index >= rows.index[-1] - span]
    return rows.iloc[max(len(rows) - span, 0):]


def _head(carry, part, span):
    rows = _join([part, carry])
    if rows is None:
        return carry
    if isinstance(span, pd.Timedelta):
        return rows[rows.index <= rows.index[0] + span]
    return rows.iloc[:span]


def _overlapped(part, before, after, func, args, kwargs):
    """``func`` on the part with its neighbours' rows, cut back to the part's rows."""
    whole = _join([before, part, after])
    if whole is None:
        return func(part, *args, **kwargs)
    out = func(whole, *args, **kwargs)
    start = len(before) if before is not None else 0
    return out.iloc[start:start + len(part)]


def map_overlap(func, frame, before, after, *args, meta=None, token=None, **kwargs):
    """``func`` per partition, with ``before`` rows of the partitions before it and
    ``after`` rows of those after (a count, or a time span over a sorted time index)."""
    from shoal.dataframe.core import map_partitions, new_collection

    before, after = _span(before, "before"), _span(after, "after")
    timed = [s for s in (before, after) if isinstance(s, pd.Timedelta)]
    if timed and not isinstance(frame._meta.index, pd.DatetimeIndex):
        raise ValueError("map_overlap: a time span needs a DatetimeIndex "
                         f"(this index is {type(frame._meta.index).__name__}); give rows")
    if meta is None:
        meta = infer(func, [frame._meta, *args], kwargs, token or "map_overlap")
    else:
        meta = make_meta(meta, index=frame._meta.index)
    what = token or getattr(func, "__name__", "overlap")
    if frame.npartitions == 1 or not (before or after):
        return map_partitions(func, frame, *args, meta=meta, token=what, **kwargs)
    tok = tokenize(func, frame, before, after, args, kwargs)
    name = f"{what}-{tok}"
    back, ahead = f"{what}-before-{tok}", f"{what}-after-{tok}"
    n = frame.npartitions
    layer: dict = {}
    for i in range(n):
        part = Ref((frame._name, i))
        if i + 1 < n and before:  # the rows before partition i + 1
            layer[(back, i + 1)] = Task((back, i + 1), _tail, Ref((back, i)) if i else None,
                                        part, before)  # fmt: skip
        if i > 0 and after:  # the rows after partition i - 1
            later = Ref((ahead, i)) if i + 1 < n else None
            layer[(ahead, i - 1)] = Task((ahead, i - 1), _head, later, part, after)
    for i in range(n):
        b = Ref((back, i)) if before and i else None
        a = Ref((ahead, i)) if after and i + 1 < n else None
        layer[(name, i)] = Task((name, i), _overlapped, Ref((frame._name, i)), b, a, func,
                                list(args), dict(kwargs))  # fmt: skip
    out = new_collection(merge_layers(frame, name=name, layer=layer), name, meta, frame.divisions)
    return keep_partitioning(out, [frame])  # (rows stay in their partitions)


# --- the methods ------------------------------------------------------------------


def _call(part, method, args, kwargs):
    return getattr(part, method)(*args, **kwargs)


def _fill_step(carry, part, method):
    rows = _join([carry, part] if method == "ffill" else [part, carry])
    if rows is None:
        return carry
    rows = getattr(rows, method)()
    return rows.iloc[-1:] if method == "ffill" else rows.iloc[:1]


def _fill(part, carry, method):
    if carry is None or not len(part):
        return getattr(part, method)()
    if method == "ffill":
        return pd.concat([carry, part]).ffill().iloc[len(carry):]
    return pd.concat([part, carry]).bfill().iloc[:len(part)]


class Neighbours:
    """The methods of DataFrame and Series that read neighbouring partitions."""

    def map_overlap(self, func, before, after, *args, meta=None, **kwargs):
        """``func(rows)`` per partition, the rows with ``before`` rows of the partitions
        before and ``after`` of those after (counts, or time spans such as ``"1h"``);
        ``func`` must keep the number and order of rows."""
        return map_overlap(func, self, before, after, *args, meta=meta, **kwargs)

    def _shifting(self, method, periods, freq=None, axis=0):
        if not isinstance(periods, numbers.Integral) or isinstance(periods, bool):
            raise TypeError(f"{method}: periods must be an int, got {periods!r}")
        kwargs = {"periods": int(periods)}
        if freq is not None:
            kwargs["freq"] = freq
        if axis not in (0, "index"):
            kwargs["axis"] = axis
        meta = getattr(nonempty(self._meta), method)(**kwargs).iloc[:0]
        if freq is not None or axis not in (0, "index"):  # within each partition
            from shoal.dataframe.core import map_partitions

            divisions = None
            if freq is not None and self.known_divisions:  # the index moves: its bounds too
                divisions = tuple(pd.Index(self.divisions).shift(int(periods), freq))
            elif freq is not None:
                divisions = (None,) * (self.npartitions + 1)
            out = map_partitions(_call, self, method, (), kwargs, meta=meta, token=method,
                                 divisions=divisions)  # fmt: skip
            return new_partitioning(out) if freq is not None else out  # (labels moved)
        n = int(periods)
        return map_overlap(_call, self, max(n, 0), max(-n, 0), method, (), kwargs, meta=meta,
                           token=method)  # fmt: skip

    def shift(self, periods=1, freq=None, axis=0):
        """Rows moved by ``periods`` (across partitions); with ``freq``, the index moved."""
        return self._shifting("shift", periods, freq, axis)

    def diff(self, periods=1, axis=0):
        """Each row minus the one ``periods`` rows before (across partitions)."""
        return self._shifting("diff", periods, None, axis)

    def _filling(self, method, limit, axis):
        if limit is not None:
            raise NotImplementedError(f"{method}(limit=...) is not supported")
        meta = getattr(self._meta, method)()
        if axis in (1, "columns"):  # along each row: within the partition
            from shoal.dataframe.core import map_partitions

            return map_partitions(_call, self, method, (), {"axis": 1}, meta=meta, token=method)
        return scan(self, method, _fill_step, _fill, meta=meta, reverse=method == "bfill",
                    args=(method,))

    def ffill(self, axis=None, limit=None):
        """Missing values filled with the last value before them (across partitions)."""
        return self._filling("ffill", limit, axis)

    def bfill(self, axis=None, limit=None):
        """Missing values filled with the next value after them (across partitions)."""
        return self._filling("bfill", limit, axis)

    def rolling(self, window, min_periods=None, center=False, win_type=None, axis=0,
                closed=None):  # fmt: skip
        """A moving window of ``window`` rows, or a time span over a time index."""
        if axis not in (0, "index"):
            raise NotImplementedError("rolling(axis=1) is not supported")
        return Rolling(self, window, min_periods=min_periods, center=center,
                       win_type=win_type, closed=closed)  # fmt: skip


class Rolling:
    """``frame.rolling(...)``: its aggregations run per partition with the rows the window
    reaches in the partitions beside it."""

    def __init__(self, frame, window, **options):
        if isinstance(window, numbers.Integral) and not isinstance(window, bool):
            if window < 1:
                raise ValueError(f"rolling: window must be >= 1, got {window}")
            # rows before a row its window reaches: one more when it leaves the row out
            reach = int(window) - (0 if options.get("closed") in ("left", "both") else 1)
        else:
            try:
                reach = pd.Timedelta(window)
            except (TypeError, ValueError):
                raise ValueError(f"rolling: window must be a number of rows or a time span "
                                 f"(such as '2h'), got {window!r}") from None
        self.frame, self.window, self.options = frame, window, options
        self._before, self._after = reach, (reach if options.get("center") else 0)
        nonempty(frame._meta).rolling(window, **options)  # pandas' own checks of the options

    def _agg(self, method, *args, **kwargs):
        meta = getattr(nonempty(self.frame._meta).rolling(self.window, **self.options),
                       method)(*args, **kwargs).iloc[:0]  # fmt: skip
        return map_overlap(_rolled, self.frame, self._before, self._after, self.window,
                           self.options, method, args, kwargs, meta=meta,
                           token=f"rolling-{method}")  # fmt: skip

    def __repr__(self):
        return f"Rolling [window={self.window}, {self.options}] over {self.frame!r}"


def _rolled(rows, window, options, method, args, kwargs):
    return getattr(rows.rolling(window, **options), method)(*args, **kwargs)


def _aggregation(method):
    def agg(self, *args, **kwargs):
        return self._agg(method, *args, **kwargs)

    agg.__name__ = method
    agg.__doc__ = f"The window's {method}, row by row."
    return agg


for _method in ("count", "sum", "mean", "median", "min", "max", "std", "var", "skew", "kurt",
                "quantile", "apply", "agg", "aggregate", "sem"):
    setattr(Rolling, _method, _aggregation(_method))
del _method
