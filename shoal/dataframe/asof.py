"""``merge_asof(left, right, ...)``: for each left row, the nearest right row by key.

Both frames need known divisions (sorted keys): on the index
(``left_index=True, right_index=True``), or ``on=`` a column, which first becomes the
index of both (``set_index``; the result's index then restarts in each partition, as
Dask's).  The right frame is moved onto the left's boundaries, so right partition i
holds the keys of left partition i; the rows a left row may match outside that range
travel as a small *carry* along the partitions (``neighbours``-style chains)::

    left:      l0            l1            l2
    right:     r0            r1            r2          repartitioned to the left's divisions
    carry:     .   -> t0  ->  t1                       backward: last right row (per ``by``
               h1  <- h2  <-  .                        group) before; forward: first after
    out_i:     pandas.merge_asof(l_i, t_{i-1} + r_i + h_{i+1})   (nearest: both carries)

The carries are one row per ``by`` group (one row without ``by``), so a partition's
task holds its own rows and that much more.  The outer right partitions also keep the
right rows beyond the left's range (they can only be matched from the left's ends).
``tolerance``, ``allow_exact_matches``, ``direction``, ``by`` / ``left_by`` /
``right_by`` and ``suffixes`` go to pandas.  Not supported (clear errors): unknown
divisions, ``left_on`` / ``right_on``, an index on one side and a column on the other.
"""

from __future__ import annotations

import pandas as pd

from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import DataFrame, Series, map_partitions, new_collection
from shoal.dataframe.realign import repartition_divisions

__all__ = ["merge_asof"]

_DIRECTIONS = ("backward", "forward", "nearest")


def _ends(frame, by, last):
    """The last (first) row of *frame*, per *by* group when given, in the frame's order."""
    if not len(frame):
        return frame
    if by is None:
        return frame.iloc[-1:] if last else frame.iloc[:1]
    g = frame.groupby(by, sort=False, dropna=False)
    return g.tail(1) if last else g.head(1)


def _step_back(carry, part, by):
    return _ends(part if carry is None else pd.concat([carry, part]), by, True)


def _step_forward(carry, part, by):
    return _ends(part if carry is None else pd.concat([part, carry]), by, False)


def _asof_part(left, right, before, after, kwargs):
    pieces = [p for p in (before, right, after) if p is not None]
    right = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
    return pd.merge_asof(left, right, left_index=True, right_index=True, **kwargs)


def _frame_arg(x, what):
    if isinstance(x, (pd.DataFrame, pd.Series)):
        from shoal.dataframe.creation import from_pandas

        x = from_pandas(x, npartitions=1)
    if not isinstance(x, (DataFrame, Series)):
        raise TypeError(f"merge_asof({what}=...) must be a shoal or pandas DataFrame, "
                        f"got {type(x).__name__}")
    return x.to_frame() if isinstance(x, Series) else x


def _sorted_by(frame, on, what):
    """*frame* indexed by its column *on*, which must be sorted already (within each
    partition and across them: pandas' error otherwise)."""
    checked = map_partitions(_keys_sorted, frame, on, what, meta=frame._meta, token="asof-sorted")
    try:
        return checked.set_index(on, sorted=True)
    except ValueError as exc:
        if "overlap" not in str(exc):
            raise
        raise ValueError(f"{what} keys must be sorted (merge_asof(on={on!r}): its partitions' "
                         "values overlap)") from None


def _keys_sorted(part, on, what):
    if not part[on].is_monotonic_increasing:
        raise ValueError(f"{what} keys must be sorted (merge_asof(on={on!r}))")
    return part


def merge_asof(left, right, on=None, left_on=None, right_on=None, left_index=False,
               right_index=False, by=None, left_by=None, right_by=None, suffixes=("_x", "_y"),
               tolerance=None, allow_exact_matches=True, direction="backward"):  # fmt: skip
    """pandas' ``merge_asof`` of two frames with known divisions (see the module docstring)."""
    left, right = _frame_arg(left, "left"), _frame_arg(right, "right")
    if direction not in _DIRECTIONS:
        raise ValueError(f"merge_asof(direction=...) must be one of {_DIRECTIONS}, "
                         f"got {direction!r}")
    if left_on is not None or right_on is not None:
        raise NotImplementedError("merge_asof(left_on=/right_on=) is not supported; rename the "
                                  "key columns alike and pass on=, or set_index both")
    kwargs = {"by": by, "left_by": left_by, "right_by": right_by, "suffixes": tuple(suffixes),
              "tolerance": tolerance, "allow_exact_matches": allow_exact_matches,
              "direction": direction}
    if on is not None:
        if left_index or right_index:
            raise ValueError("merge_asof: pass on= or left_index/right_index, not both")
        for what, f in (("left", left), ("right", right)):
            if on not in f._meta.columns:
                raise KeyError(f"merge_asof(on=...): {on!r} is not a column of {what}")
        meta = pd.merge_asof(left._meta, right._meta, on=on, **kwargs)
        # sorted keys, as pandas wants them (sorting them reordered the rows it refuses)
        left, right = (_sorted_by(f, on, what) for f, what in ((left, "left"), (right, "right")))
        out = merge_asof(left, right, left_index=True, right_index=True, **kwargs)
        return out.reset_index()[list(meta.columns)]
    if not (left_index and right_index):
        raise NotImplementedError("merge_asof needs on= (a column of both) or left_index=True "
                                  "and right_index=True")
    for what, f in (("left", left), ("right", right)):
        if not f.known_divisions:
            raise ValueError(f"merge_asof needs known divisions and {what}'s are unknown; "
                             "use set_index(...) or from_pandas(sort=True) first")
    ld, rd = list(left.divisions), list(right.divisions)
    try:
        bounds = [min(ld[0], rd[0]), *ld[1:-1], max(ld[-1], rd[-1])]
    except TypeError as exc:
        raise TypeError(f"merge_asof: the indexes of left and right cannot be compared ({exc})"
                        ) from None
    moved = repartition_divisions(right, bounds, force=True)
    meta = pd.merge_asof(left._meta, right._meta, left_index=True, right_index=True, **kwargs)
    rby = right_by if right_by is not None else by
    tok = tokenize(left, right, kwargs)
    name = f"merge-asof-{tok}"
    back, fwd = f"merge-asof-before-{tok}", f"merge-asof-after-{tok}"
    n = left.npartitions
    layer: dict = {}
    for i in range(n):
        before = after = None
        if direction in ("backward", "nearest") and i > 0:
            before = Ref((back, i))
            prev = Ref((back, i - 1)) if i > 1 else None
            layer[(back, i)] = Task((back, i), _step_back, prev, Ref((moved._name, i - 1)), rby)
        if direction in ("forward", "nearest") and i < n - 1:
            after = Ref((fwd, i))
            nxt = Ref((fwd, i + 1)) if i < n - 2 else None
            layer[(fwd, i)] = Task((fwd, i), _step_forward, nxt, Ref((moved._name, i + 1)), rby)
        layer[(name, i)] = Task((name, i), _asof_part, Ref((left._name, i)),
                                Ref((moved._name, i)), before, after, kwargs)
    return new_collection(merge_layers(left, moved, name=name, layer=layer), name, meta,
                          left.divisions)
