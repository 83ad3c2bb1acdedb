"""User-defined group-by aggregations: ``Aggregation(name, chunk, agg, finalize=None)``.

::

    custom = dd.Aggregation("span", chunk=lambda g: (g.min(), g.max()),
                            agg=lambda lo, hi: (lo.min(), hi.max()),
                            finalize=lambda lo, hi: hi - lo)
    df.groupby("k").agg({"v": custom, "w": "mean"})

The three functions (any callables: lambdas travel by cloudpickle to distributed
workers) are used as in Dask:

- ``chunk(g)`` gets pandas' ``SeriesGroupBy`` of one column in one partition and
  returns a Series indexed by the group keys, or a tuple of them;
- ``agg(*g)`` gets one ``SeriesGroupBy`` per chunk output, over the concatenated
  pieces grouped by the keys (the index levels), and returns as many Series; it also
  merges the pieces at every level of the tree (so it must be associative);
- ``finalize(*s)`` turns the merged Series into the result (default: the one Series).

The custom items of an ``agg(...)`` run as one tree reduction of their own; built-in
names mixed in (``"mean"``, ``"median"``...) run as the usual reduction of
``groupby.py`` (named ``__shoal_b<i>__`` columns); one last task puts the columns of
both side by side in the order and layout pandas gives (``agg(custom)``: one column per
value column; a list: ``(column, name)`` pairs; a dict: the column, or pairs when a
value is a list; ``agg(out=("v", custom))``: ``out``)::

    partitions:   p0          p1          p2
    chunk:        c0          c1          c2        chunk(g[col]) per custom item
    combine:      agg(concat(c0, c1)) ...           split_every at a time
    aggregate:    agg, then finalize     built-ins: groupby.py's reduction
                           \\                /
    assemble:               columns in pandas' layout    one partition

With ``split_out=N`` both sides are ``split_out.py``'s reductions: every chunk is cut
by the hash of its group keys, which is the same hash for the custom and the built-in
side, so output partition ``j`` of both holds the same groups and is assembled as is.

Deviation from Dask: a named aggregation's column is named after its keyword (as in
pandas), not after the Aggregation.
"""

from __future__ import annotations

from functools import partial

import pandas as pd

from shoal.dataframe._meta import make_meta, nonempty
from shoal.dataframe.core import map_partitions
from shoal.dataframe.groupby import _grouped
from shoal.dataframe.reductions import reduction
from shoal.dataframe.split_out import normalize_split_out, split_reduction, split_values

__all__ = ["Aggregation", "has_custom", "custom_agg"]


class Aggregation:
    """A custom group-by aggregation for ``groupby(...).agg``: see the module docstring."""

    def __init__(self, name, chunk, agg, finalize=None):
        if not isinstance(name, str):
            raise TypeError(f"Aggregation(name=...) must be a str, got {type(name).__name__}")
        for what, func in (("chunk", chunk), ("agg", agg), ("finalize", finalize)):
            if func is not None and not callable(func) or func is None and what != "finalize":
                raise TypeError(f"Aggregation({what}=...) must be callable, got {func!r}")
        self.__name__ = name
        self.chunk, self.agg, self.finalize = chunk, agg, finalize

    def __repr__(self):
        return f"Aggregation({self.__name__!r})"

    def __dask_tokenize__(self):
        from shoal.core.tokenize import tokenize

        return ("Aggregation", self.__name__, tokenize(self.chunk, self.agg, self.finalize))


def _tuple(x):
    return tuple(x) if isinstance(x, tuple) else (x,)


def _name(func):
    return func if isinstance(func, str) else getattr(func, "__name__", repr(func))


def has_custom(arg, kwargs) -> bool:
    """Whether an ``agg`` call names an :class:`Aggregation` anywhere."""
    items = list(arg.values()) if isinstance(arg, dict) else [arg]
    items += [v[1] if isinstance(v, tuple) and len(v) == 2 else v for v in kwargs.values()]
    flat = [f for i in items for f in (i if isinstance(i, (list, tuple)) else [i])]
    return any(isinstance(f, Aggregation) for f in flat)


# -- kernels --------------------------------------------------------------------------------

def _chunk(part, recipe, selection, items):
    """Per partition: ``chunk`` of each custom item, as columns ``c<item>_<output>``."""
    g = _grouped(part, recipe, selection)
    cols = {}
    for i, (col, agg) in enumerate(items):
        for j, s in enumerate(_tuple(agg.chunk(g if col is None else g[col]))):
            cols[f"c{i}_{j}"] = s
    return pd.concat(cols, axis=1) if cols else pd.DataFrame()


def _merge(pieces, nkeys, gkw, items):
    data = pd.concat(pieces)
    g = data.groupby(level=list(range(nkeys)) if nkeys > 1 else 0, **gkw)
    out = []
    for i, (_, agg) in enumerate(items):
        n = sum(1 for c in data.columns if c.startswith(f"c{i}_"))
        out.append(_tuple(agg.agg(*(g[f"c{i}_{j}"] for j in range(n)))))
    return out


def _combine(pieces, nkeys, gkw, items):
    merged = _merge(pieces, nkeys, gkw, items)
    return pd.concat({f"c{i}_{j}": s for i, ss in enumerate(merged) for j, s in enumerate(ss)},
                     axis=1)


def _aggregate(pieces, nkeys, gkw, items):
    merged = _merge(pieces, nkeys, gkw, items)
    cols = {}
    for i, ((_, agg), ss) in enumerate(zip(items, merged)):
        out = agg.finalize(*ss) if agg.finalize is not None else ss[0]
        cols[i] = out
    return pd.concat(cols, axis=1)


def _assemble(custom, builtin, layout, labels, series_name):
    """The columns of both results in pandas' layout (*layout*: (source, position))."""
    index = builtin.index if builtin is not None else custom.index
    cols = [(custom if src == "c" else builtin).iloc[:, p] for src, p in layout]
    cols = [c.reindex(index) if not c.index.equals(index) else c for c in cols]
    if series_name is not None:
        return cols[0].rename(series_name[0])
    out = pd.concat(cols, axis=1) if cols else pd.DataFrame(index=index)
    out.columns = labels
    return out


# -- building -------------------------------------------------------------------------------

def _layout(gb, arg, kwargs):
    """``[(output label, column or None, func)]``, the labels' Index, and the Series name
    when the result is a Series."""
    spec = gb._spec
    series = gb._selection is not None and not isinstance(gb._selection, list)
    if series:
        name = gb._sample().obj.name
        if arg is None:
            return [(k, None, v) for k, v in kwargs.items()], pd.Index(list(kwargs)), None
        if isinstance(arg, dict):
            raise NotImplementedError("agg with a dict on a column group-by is not supported")
        if isinstance(arg, (list, tuple)):
            rows = [(_name(f), None, f) for f in arg]
            return rows, pd.Index([r[0] for r in rows]), None
        return [(name, None, arg)], None, (name,)
    values = list(gb._sample().count().columns)
    if arg is None:
        rows = [(k, tuple(v)[0], tuple(v)[1]) for k, v in kwargs.items()]
        spec_cols = spec.columns
        missing = [r[1] for r in rows if r[1] not in spec_cols]
        if missing:
            raise KeyError(f"Column(s) {missing} not found; the columns are {spec_cols}")
        return rows, pd.Index([r[0] for r in rows]), None
    if isinstance(arg, dict):
        nested = any(isinstance(f, (list, tuple)) for f in arg.values())
        rows = [((c, _name(f)) if nested else c, c, f) for c, fs in arg.items()
                for f in (fs if isinstance(fs, (list, tuple)) else [fs])]
    elif isinstance(arg, (list, tuple)):
        rows = [((c, _name(f)), c, f) for c in values for f in arg]
    else:
        rows = [(c, c, arg) for c in values]
    labels = [r[0] for r in rows]
    index = pd.MultiIndex.from_tuples(labels) if labels and isinstance(labels[0], tuple) \
        else pd.Index(labels)
    return rows, index, None


def custom_agg(gb, arg, kwargs, split_every=None, split_out=None):
    """``gb.agg(arg, **kwargs)`` where some function is an :class:`Aggregation`."""
    spec = gb._spec
    nout = normalize_split_out(split_out, spec.frame.npartitions)
    if spec.sort is True:  # (as the built-ins: an explicit sort=True keeps one partition)
        nout = 1
    rows, labels, series_name = _layout(gb, arg, kwargs)
    series = gb._selection is not None and not isinstance(gb._selection, list)
    items, builtins, layout = [], {}, []
    for label, col, func in rows:
        if isinstance(func, Aggregation):
            layout.append(("c", len(items)))
            items.append((col, func))
        elif isinstance(func, str):
            key = f"__shoal_b{len(builtins)}__"
            layout.append(("b", len(builtins)))
            builtins[key] = func if series else (col, func)
        else:
            raise NotImplementedError(f"agg takes aggregation names and Aggregation objects, not "
                                      f"{func!r} (for {label!r})")
    selection = gb._user_selection() if series else None
    recipe = spec.recipe
    gkw = {k: spec.gkw[k] for k in ("sort", "dropna", "observed")}
    nkeys = len(spec.keys)
    ck = {"recipe": recipe, "selection": selection, "items": tuple(items)}
    ak = {"nkeys": nkeys, "gkw": gkw, "items": tuple(items)}
    try:
        sample = _aggregate([_chunk(nonempty(spec.frame._meta), **ck)], **ak)
    except Exception as exc:
        raise ValueError(f"groupby(...).agg: a custom Aggregation failed on sample data "
                         f"({type(exc).__name__}: {exc})") from exc
    build = reduction if nout == 1 else partial(split_reduction, split_out=nout,
                                                splitter=split_values, splitter_args=(True,))
    custom = build(spec.frame, _chunk, _aggregate, _combine, token="groupby-aggregation",
                   meta=make_meta(sample), split_every=split_every, chunk_kwargs=ck,
                   combine_kwargs=ak, aggregate_kwargs=ak)
    plan = [(v, gb._selection, {}) if series else (v[1], v[0], {}) for v in builtins.values()]
    built = gb._reduce(("agg", (), builtins), lambda meta: plan, split_every, nout,
                       token="groupby-agg") if builtins else None
    meta = _assemble(custom._meta, None if built is None else built._meta, layout, labels,
                     series_name)
    return map_partitions(_assemble, custom, built, layout, labels, series_name, meta=meta,
                          token="groupby-aggregation-assemble")
