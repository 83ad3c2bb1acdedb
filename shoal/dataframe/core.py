"""Partitioned DataFrame, Series and Scalar collections over pandas.

::

    DataFrame(layers, name, meta, divisions)
      partitions: keys (name, 0) ... (name, n-1), each a pandas.DataFrame
      meta:       an empty pandas.DataFrame with the columns and dtypes
      divisions:  n+1 index boundaries when the index is sorted and known,
                  else (None,) * (n+1)

Each method adds one layer of tasks (see ``shoal/collection.py``) and returns a
new collection; nothing runs until ``compute``.  Three builders cover most of
the API:

- :func:`map_partitions`: one task per partition (elementwise operations,
  filters, ``assign``, ``astype``, accessors ...), arguments aligned partition by
  partition; Scalars and Delayed values are broadcast to every task;
- ``reductions.reduction``: a tree -- per partition, combine ``split_every`` at a
  time, aggregate -- for ``sum``, ``mean``, ``value_counts``, ``len`` ... ;
- ``groupby`` / ``shuffle`` modules for group-bys, joins and sorting.

Output schemas are learned by running the same pandas code on ``meta``
(``_meta.infer``), so a wrong column name or an unsupported operation fails when
the expression is written, not at compute time.  Per-partition kernels are
plain pandas functions in ``methods.py``.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from shoal.base import compute
from shoal.collection import Collection, merge_layers, persisted_layers
from shoal.core.keys import key_split
from shoal.core.spec import Data, Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe import methods
from shoal.dataframe._meta import infer, make_meta
from shoal.delayed import Delayed, collect_delayed

__all__ = ["DataFrame", "Scalar", "Series", "from_pandas", "map_partitions", "new_collection"]

no_default = object()


def _funcname(func) -> str:
    name = getattr(func, "__name__", type(func).__name__)
    return "lambda" if name == "<lambda>" else name.strip("_")


def new_collection(layers, name, meta, divisions):
    """The right collection type for *meta*."""
    if isinstance(meta, pd.DataFrame):
        return DataFrame(layers, name, meta, divisions)
    if isinstance(meta, (pd.Series, pd.Index)):
        return Series(layers, name, meta, divisions)
    return Scalar(layers, name, meta)


class _Frame(Collection):
    """What DataFrame and Series share."""

    def __init__(self, layers: dict, name: str, meta, divisions):
        self._layers = layers
        self._name = name
        self._meta = meta
        self.divisions = tuple(divisions)

    # -- protocol -----------------------------------------------------------
    def __dask_keys__(self):
        return [(self._name, i) for i in range(self.npartitions)]

    def __dask_postcompute__(self):
        return methods.concat, (self._meta,)

    def __dask_postpersist__(self):
        return _rebuild_frame, (self._name, self._meta, self.divisions)

    @property
    def npartitions(self) -> int:
        return len(self.divisions) - 1

    @property
    def known_divisions(self) -> bool:
        return len(self.divisions) > 0 and self.divisions[0] is not None

    @property
    def index(self):
        return map_partitions(_get_index, self, meta=self._meta.index, token="index")

    @property
    def partitions(self):
        return _Partitions(self)

    def get_partition(self, i: int):
        """The i-th partition as a one-partition collection."""
        return self.partitions[i]

    def to_delayed(self):
        """One Delayed per partition."""
        graph = self.__shoal_graph__()
        return [Delayed(k, graph[k], (), layer=graph) for k in self.__dask_keys__()]

    def __len__(self):
        from shoal.dataframe.reductions import length

        return int(length(self).compute())

    @property
    def size(self):
        from shoal.dataframe.reductions import reduction

        return reduction(self, methods.size, sum, token="size", meta=0)

    # -- elementwise --------------------------------------------------------
    def map_partitions(self, func, *args, meta=no_default, token=None, **kwargs):
        """Apply ``func(partition, *args, **kwargs)`` to every partition."""
        return map_partitions(func, self, *args, meta=meta, token=token, **kwargs)

    def _elemwise(self, op, *others):
        return map_partitions(op, self, *others, token=_funcname(op))

    def astype(self, dtype):
        return self.map_partitions(methods.astype, dtype, token="astype")

    def fillna(self, value=None, **kwargs):
        return self.map_partitions(methods.call_method, "fillna", value, token="fillna", **kwargs)

    def dropna(self, **kwargs):
        return self.map_partitions(methods.call_method, "dropna", token="dropna", **kwargs)

    def isna(self):
        return self.map_partitions(methods.call_method, "isna", token="isna")

    isnull = isna

    def notna(self):
        return self.map_partitions(methods.call_method, "notna", token="notna")

    notnull = notna

    def where(self, cond, other=np.nan):
        return map_partitions(methods.where, self, cond, other, token="where")

    def mask(self, cond, other=np.nan):
        return map_partitions(methods.mask, self, cond, other, token="mask")

    def isin(self, values):
        values = list(values) if not isinstance(values, (dict, pd.Series)) else values
        return self.map_partitions(methods.call_method, "isin", values, token="isin")

    def abs(self):
        return self._elemwise(operator.abs)

    def round(self, decimals=0):
        return self.map_partitions(methods.call_method, "round", decimals, token="round")

    def clip(self, lower=None, upper=None):
        return self.map_partitions(methods.call_method, "clip", lower, upper, token="clip")

    def copy(self):
        return self

    # -- reductions (see reductions.py) --------------------------------------
    def _reduce(self, how, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        return reductions.simple(self, how, split_every=split_every, **kwargs)

    def sum(self, split_every=None, **kwargs):
        return self._reduce("sum", split_every, **kwargs)

    def prod(self, split_every=None, **kwargs):
        return self._reduce("prod", split_every, **kwargs)

    def min(self, split_every=None, **kwargs):
        return self._reduce("min", split_every, **kwargs)

    def max(self, split_every=None, **kwargs):
        return self._reduce("max", split_every, **kwargs)

    def count(self, split_every=None, **kwargs):
        return self._reduce("count", split_every, **kwargs)

    def any(self, split_every=None, **kwargs):
        return self._reduce("any", split_every, **kwargs)

    def all(self, split_every=None, **kwargs):
        return self._reduce("all", split_every, **kwargs)

    def mean(self, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        return reductions.moments(self, "mean", split_every=split_every, **kwargs)

    def var(self, ddof=1, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        return reductions.moments(self, "var", ddof=ddof, split_every=split_every, **kwargs)

    def std(self, ddof=1, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        return reductions.moments(self, "std", ddof=ddof, split_every=split_every, **kwargs)

    def nunique(self, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        return reductions.nunique(self, split_every=split_every, **kwargs)

    def describe(self, **kwargs):
        from shoal.dataframe import reductions

        return reductions.describe(self, **kwargs)

    def nlargest(self, n=5, *args, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        return reductions.top(self, "nlargest", n, args, kwargs, split_every)

    def nsmallest(self, n=5, *args, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        return reductions.top(self, "nsmallest", n, args, kwargs, split_every)

    # -- looking at data -----------------------------------------------------
    def head(self, n=5, npartitions=1, compute=True):
        """The first *n* rows, computing only the first *npartitions* partitions.

        With ``npartitions=-1`` all partitions are searched; a warning is not
        raised, but fewer than *n* rows come back if the first partitions are
        short (as in Dask), so pass ``npartitions=-1`` when that matters.
        """
        if npartitions < 0:
            npartitions = self.npartitions
        npartitions = min(npartitions, self.npartitions)
        parts = [Ref((self._name, i)) for i in range(npartitions)]
        name = f"head-{tokenize(self, n, npartitions)}"
        layer = {(name, 0): Task((name, 0), methods.head_of, parts, n)}
        out = new_collection(merge_layers(self, name=name, layer=layer), name, self._meta,
                             (self.divisions[0], self.divisions[npartitions]))
        return out.compute() if compute else out

    def tail(self, n=5, compute=True):
        """The last *n* rows (from the last partition)."""
        name = f"tail-{tokenize(self, n)}"
        last = (self._name, self.npartitions - 1)
        layer = {(name, 0): Task((name, 0), methods.tail_of, Ref(last), n)}
        out = new_collection(merge_layers(self, name=name, layer=layer), name, self._meta,
                             self.divisions[-2:])
        return out.compute() if compute else out

    def repartition(self, npartitions: int):
        """Fewer partitions, by concatenating neighbours (order kept)."""
        if npartitions >= self.npartitions:
            return self
        bounds = np.linspace(0, self.npartitions, npartitions + 1).round().astype(int)
        name = f"repartition-{tokenize(self, npartitions)}"
        layer = {}
        for j in range(npartitions):
            parts = [Ref((self._name, i)) for i in range(bounds[j], bounds[j + 1])]
            layer[(name, j)] = Task((name, j), methods.concat, parts, self._meta)
        divisions = tuple(self.divisions[b] for b in bounds)
        return new_collection(merge_layers(self, name=name, layer=layer), name, self._meta, divisions)

    # -- display ----------------------------------------------------------------
    def _structure(self) -> pd.DataFrame:
        meta = self._meta if isinstance(self._meta, pd.DataFrame) else self._meta.to_frame()
        index = (list(self.divisions) if self.known_divisions else [""] * (self.npartitions + 1))
        data = {c: [str(dt)] + ["..."] * self.npartitions for c, dt in meta.dtypes.items()}
        frame = pd.DataFrame(data, index=pd.Index(index, name=f"npartitions={self.npartitions}"))
        return frame

    def _tasks_text(self) -> str:
        ntasks = sum(len(layer) for layer in self._layers.values())
        return f"shoal Name: {key_split(self._name)}, {len(self._layers)} graph layers, {ntasks} tasks"

    def _repr_html_(self):
        table = self._structure().to_html(max_rows=6)
        kind = type(self).__name__
        return (f"<div><strong>shoal {kind} Structure:</strong></div>{table}"
                f"<div>{self._tasks_text()}</div>")


def _get_index(df):
    return df.index


def _rebuild_frame(results, name, meta, divisions):
    return new_collection(persisted_layers(name, results), name, meta, divisions)


class _Partitions:
    def __init__(self, frame):
        self.frame = frame

    def __getitem__(self, index):
        f = self.frame
        idx = range(f.npartitions)[index]
        idx = [idx] if isinstance(idx, int) else list(idx)
        name = f"partitions-{tokenize(f, idx)}"
        layer = {(name, j): Task((name, j), methods.identity, Ref((f._name, i))) for j, i in enumerate(idx)}
        divisions = (None,) * (len(idx) + 1)
        if f.known_divisions and idx == list(range(idx[0], idx[-1] + 1)):
            divisions = f.divisions[idx[0]: idx[-1] + 2]
        return new_collection(merge_layers(f, name=name, layer=layer), name, f._meta, divisions)


# -- operators: one loop adds them all ------------------------------------------------

def _binary(op):
    def method(self, other):
        return self._elemwise(op, other)

    def rmethod(self, other):
        return map_partitions(_reverse, self, other, op, token=_funcname(op))

    return method, rmethod


def _reverse(a, b, op):
    return op(b, a)


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor"):
    _op = getattr(operator, f"{_name}_" if _name in ("and", "or") else _name)
    _m, _r = _binary(_op)
    setattr(_Frame, f"__{_name}__", _m)
    setattr(_Frame, f"__r{_name}__", _r)
for _name in ("lt", "le", "eq", "ne", "gt", "ge"):
    setattr(_Frame, f"__{_name}__", _binary(getattr(operator, _name))[0])
for _name in ("neg", "pos", "invert", "abs"):
    setattr(_Frame, f"__{_name}__", (lambda op: lambda self: self._elemwise(op))(getattr(operator, _name)))
_Frame.__hash__ = object.__hash__
for _name, _op in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("div", operator.truediv), ("truediv", operator.truediv),
                   ("floordiv", operator.floordiv), ("mod", operator.mod), ("pow", operator.pow),
                   ("lt", operator.lt), ("le", operator.le), ("eq", operator.eq),
                   ("ne", operator.ne), ("gt", operator.gt), ("ge", operator.ge)]:
    setattr(_Frame, _name, (lambda op: lambda self, other: self._elemwise(op, other))(_op))


class DataFrame(_Frame):
    """A pandas DataFrame split into partitions along the index."""

    @property
    def columns(self):
        return self._meta.columns

    @property
    def dtypes(self):
        return self._meta.dtypes

    def __dir__(self):
        return sorted(set(dir(type(self))) | {c for c in self.columns if isinstance(c, str) and c.isidentifier()})

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            meta = object.__getattribute__(self, "_meta")
        except AttributeError:
            raise AttributeError(key) from None
        if key in meta.columns:
            return self[key]
        raise AttributeError(f"'DataFrame' object has no attribute {key!r}")

    def __getitem__(self, key):
        if isinstance(key, _Frame):  # boolean filter
            return map_partitions(methods.filter_rows, self, key, token="getitem", meta=self._meta)
        if isinstance(key, slice):
            raise NotImplementedError("row slicing by position is not supported; use .loc or head()")
        missing = [k for k in (key if isinstance(key, list) else [key]) if k not in self._meta.columns]
        if missing:
            raise KeyError(f"Column(s) {missing} not found; the columns are {list(self._meta.columns)}")
        return self.map_partitions(operator.getitem, key, token="getitem")

    def __setitem__(self, key, value):
        new = self.assign(**{key: value})
        self._layers, self._name, self._meta, self.divisions = (
            new._layers, new._name, new._meta, new.divisions)

    def __iter__(self):
        return iter(self._meta.columns)

    def assign(self, **kwargs):
        """New columns from Series, Scalars, callables or constants."""
        args = []
        for k, v in kwargs.items():
            if callable(v) and not isinstance(v, (Collection, Delayed)):
                v = v(self)
            args.extend([k, v])
        return map_partitions(methods.assign, self, *args, token="assign")

    def rename(self, columns=None, **kwargs):
        return self.map_partitions(methods.call_method, "rename", columns=columns, token="rename", **kwargs)

    def drop(self, columns=None, labels=None, axis=1, **kwargs):
        cols = columns if columns is not None else labels
        return self.map_partitions(methods.call_method, "drop", columns=cols, token="drop", **kwargs)

    def apply(self, func, axis=1, meta=no_default, args=(), **kwargs):
        """Row-wise apply (``axis=1``) in every partition."""
        if axis not in (1, "columns"):
            raise NotImplementedError("only row-wise apply(axis=1) is supported on a shoal DataFrame")
        return map_partitions(methods.apply_rows, self, func, args, kwargs, meta=meta, token="apply")

    def __repr__(self):
        return (f"shoal DataFrame Structure:\n{self._structure().to_string()}\n"
                f"{self._tasks_text()}")

    # later-built families
    def groupby(self, by=None, **kwargs):
        from shoal.dataframe.groupby import GroupBy

        return GroupBy(self, by, **kwargs)

    def merge(self, right, **kwargs):
        from shoal.dataframe.shuffle import merge

        return merge(self, right, **kwargs)

    def join(self, other, on=None, how="left", lsuffix="", rsuffix="", **kwargs):
        from shoal.dataframe.shuffle import join

        return join(self, other, on=on, how=how, lsuffix=lsuffix, rsuffix=rsuffix, **kwargs)

    def set_index(self, other, **kwargs):
        from shoal.dataframe.shuffle import set_index

        return set_index(self, other, **kwargs)

    def sort_values(self, by, **kwargs):
        from shoal.dataframe.shuffle import sort_values

        return sort_values(self, by, **kwargs)

    def drop_duplicates(self, subset=None, **kwargs):
        from shoal.dataframe.shuffle import drop_duplicates

        return drop_duplicates(self, subset=subset, **kwargs)

    @property
    def loc(self):
        from shoal.dataframe.indexing import LocIndexer

        return LocIndexer(self)


class Series(_Frame):
    """A pandas Series split into partitions along the index."""

    @property
    def name(self):
        return self._meta.name

    @property
    def dtype(self):
        return self._meta.dtype

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        raise AttributeError(f"'Series' object has no attribute {key!r}")

    def __getitem__(self, key):
        if isinstance(key, _Frame):
            return map_partitions(methods.filter_rows, self, key, token="getitem", meta=self._meta)
        raise NotImplementedError("Series[...] supports boolean filters; use .loc for labels")

    def between(self, left, right, inclusive="both"):
        return self.map_partitions(methods.call_method, "between", left, right,
                                   inclusive=inclusive, token="between")

    def map(self, arg, na_action=None, meta=no_default):
        return map_partitions(methods.call_method, self, "map", arg, na_action=na_action,
                              meta=meta, token="map")

    def apply(self, func, meta=no_default, args=(), **kwargs):
        return map_partitions(methods.series_apply, self, func, args, kwargs, meta=meta, token="apply")

    def to_frame(self, name=None):
        return self.map_partitions(methods.call_method, "to_frame", *(() if name is None else (name,)),
                                   token="to-frame")

    def rename(self, index=None):
        return self.map_partitions(methods.call_method, "rename", index, token="rename")

    def value_counts(self, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        return reductions.value_counts(self, split_every=split_every, **kwargs)

    def unique(self, split_every=None):
        from shoal.dataframe import reductions

        return reductions.unique(self, split_every=split_every)

    def drop_duplicates(self, **kwargs):
        from shoal.dataframe.shuffle import drop_duplicates

        return drop_duplicates(self, **kwargs)

    def groupby(self, by=None, **kwargs):
        from shoal.dataframe.groupby import GroupBy

        return GroupBy(self, by, **kwargs)

    @property
    def dt(self):
        from shoal.dataframe.accessors import DatetimeAccessor

        return DatetimeAccessor(self)

    @property
    def str(self):
        from shoal.dataframe.accessors import StringAccessor

        return StringAccessor(self)

    @property
    def loc(self):
        from shoal.dataframe.indexing import LocIndexer

        return LocIndexer(self)

    def __repr__(self):
        return (f"shoal Series Structure:\n{self._structure().to_string()}\n"
                f"shoal Name: {self.name}, dtype: {self.dtype}, {self._tasks_text()}")


class Scalar(Collection):
    """One value computed from a collection (a reduction's result)."""

    def __init__(self, layers: dict, name: str, meta):
        self._layers = layers
        self._name = name
        self._meta = meta

    @property
    def key(self):
        return (self._name, 0)

    @property
    def dtype(self):
        return getattr(self._meta, "dtype", np.dtype(type(self._meta)))

    def __dask_keys__(self):
        return [self.key]

    def __dask_postcompute__(self):
        return methods.first, ()

    def __dask_postpersist__(self):
        return _rebuild_scalar, (self._name, self._meta)

    def _elemwise(self, op, *others):
        return map_partitions(op, self, *others, token=_funcname(op))

    def __bool__(self):
        raise TypeError("The truth value of a shoal Scalar is not known until it is computed")

    def to_delayed(self):
        graph = self.__shoal_graph__()
        return Delayed(self.key, graph[self.key], (), layer=graph)

    def __repr__(self):
        return f"shoal.Scalar<{self._name}, dtype={self.dtype}>"


def _rebuild_scalar(results, name, meta):
    return Scalar(persisted_layers(name, results), name, meta)


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "lt", "le", "eq", "ne", "gt", "ge"):
    _op = getattr(operator, _name)
    setattr(Scalar, f"__{_name}__", (lambda op: lambda self, other: self._elemwise(op, other))(_op))
    if _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow"):
        setattr(Scalar, f"__r{_name}__",
                (lambda op: lambda self, other: map_partitions(_reverse, self, other, op))(_op))
for _name in ("neg", "pos", "abs"):
    setattr(Scalar, f"__{_name}__", (lambda op: lambda self: self._elemwise(op))(getattr(operator, _name)))
Scalar.__hash__ = object.__hash__


# -- the partitionwise builder -------------------------------------------------------

def _arg_ref(arg, i, layers):
    """The task argument standing for *arg* in partition *i*."""
    if isinstance(arg, _Frame):
        return Ref((arg._name, i))
    if isinstance(arg, Scalar):
        return Ref(arg.key)
    if isinstance(arg, Delayed):
        layers[arg.key] = collect_delayed([arg], {})
        return Ref(arg.key)
    return arg


def _meta_of(arg):
    if isinstance(arg, _Frame):
        return arg._meta
    if isinstance(arg, Scalar):
        return arg._meta
    return arg


def map_partitions(func, *args, meta=no_default, token=None, divisions=None, **kwargs):
    """Apply *func* to matching partitions of the frames in *args*.

    Frames must have the same number of partitions; Scalars and Delayed values
    are passed whole to every call.  ``meta`` describes the output (inferred
    from the inputs' metadata when omitted).
    """
    frames = [a for a in args if isinstance(a, _Frame)]
    if not frames:
        # only scalars: a single task
        scalars = [a for a in args if isinstance(a, (Scalar, Delayed))]
        name = f"{token or _funcname(func)}-{tokenize(func, args, kwargs)}"
        layers = merge_layers(*scalars)
        task = Task((name, 0), func, *[_arg_ref(a, 0, layers) for a in args], **kwargs)
        layers[name] = {(name, 0): task}
        if meta is no_default:
            meta = infer(func, [_meta_of(a) for a in args], kwargs, f"{_funcname(func)}")
        return new_collection(layers, name, make_meta(meta), (None, None))
    n = frames[0].npartitions
    for f in frames[1:]:
        if f.npartitions != n:
            raise ValueError(
                f"cannot combine collections with {n} and {f.npartitions} partitions "
                "partition by partition; repartition them to the same number first"
            )
    if meta is no_default:
        meta = infer(func, [_meta_of(a) for a in args], kwargs, f"{_funcname(func)}")
    else:
        meta = make_meta(meta)
    name = f"{token or _funcname(func)}-{tokenize(func, args, kwargs)}"
    layers = merge_layers(*[a for a in args if isinstance(a, Collection)])
    kw_refs = {k: _arg_ref(v, 0, layers) for k, v in kwargs.items()}
    layer = {}
    for i in range(n):
        targs = [_arg_ref(a, i, layers) for a in args]
        layer[(name, i)] = Task((name, i), func, *targs, **kw_refs)
    layers[name] = layer
    if divisions is None:
        divisions = frames[0].divisions
    return new_collection(layers, name, meta, divisions)


def from_pandas(data, npartitions=None, chunksize=None, sort=True):
    """Split a pandas object into a collection of *npartitions* partitions.

    With ``sort=True`` the data is sorted by index first and the divisions are
    known, so ``loc`` can skip partitions.
    """
    if not isinstance(data, (pd.DataFrame, pd.Series)):
        raise TypeError(f"from_pandas expects a pandas DataFrame or Series, got {type(data).__name__}")
    if (npartitions is None) == (chunksize is None):
        raise ValueError("from_pandas needs exactly one of npartitions= or chunksize=")
    if sort and not data.index.is_monotonic_increasing:
        data = data.sort_index()
    nrows = len(data)
    if chunksize is None:
        chunksize = max(1, -(-nrows // npartitions))
    starts = list(range(0, max(nrows, 1), chunksize))
    name = f"from-pandas-{tokenize(data, chunksize, sort)}"
    layer = {}
    for i, s in enumerate(starts):
        layer[(name, i)] = Data((name, i), data.iloc[s: s + chunksize])
    if sort and nrows:
        idx = data.index
        divisions = [idx[s] for s in starts] + [idx[-1]]
        if len(set(divisions[:-1])) != len(divisions) - 1:
            divisions = [None] * (len(starts) + 1)
    else:
        divisions = [None] * (len(starts) + 1)
    return new_collection({name: layer}, name, make_meta(data), divisions)


def compute_all(*collections, **kwargs):
    """``shoal.compute`` re-exported for the dataframe namespace."""
    return compute(*collections, **kwargs)
