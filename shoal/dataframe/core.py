"""Partitioned DataFrame, Series and Scalar collections over pandas.

::

    DataFrame(layers, name, meta, divisions)
      partitions: keys (name, 0) ... (name, n-1), each a pandas.DataFrame
      meta:       an empty pandas.DataFrame with the columns and dtypes
      divisions:  n+1 index boundaries when the index is sorted and known,
                  else (None,) * (n+1)
    Series, Index: the same with a pandas Series / Index per partition
    Scalar(layers, name, meta): one key (name, 0); meta is a sample value

Each method adds one layer of tasks (see ``shoal/collection.py``) and returns a
new collection; nothing runs until ``compute`` (``repr`` shows the schema from
``meta`` and never computes).  Three builders cover most of the API:

- :func:`map_partitions`: one task per partition (elementwise operations,
  filters, ``assign``, ``astype``, accessors, operators in ``_operators.py``),
  frames paired partition by partition (frames split differently are first
  realigned: ``alignment.py``, ``partitioning.py``); Scalars, Delayed values and
  one-partition reduction results (``df.mean()``) are broadcast to every task;
- ``reductions.reduction``: a tree -- per partition, combine ``split_every`` at a
  time, aggregate -- for ``sum``, ``mean``, ``value_counts``, ``len`` ... ;
- ``groupby`` / ``shuffle`` modules for group-bys, joins and sorting.

Output schemas are learned by running the same pandas code on ``meta`` (or on a
two-row stand-in, ``_meta.infer``), so a wrong column name or an unsupported
operation fails when the expression is written, not at compute time.
``head`` and ``partitions[i]`` cull their graphs to the partitions they read,
so nothing else is even handed to the scheduler.  Per-partition kernels are plain
pandas functions in ``methods.py``; operators are wired in ``_operators.py``, the
DataFrame/Series/Index classes live in ``_frames.py`` (re-exported here) and the
``.dt`` / ``.str`` / ``.cat`` accessors in ``accessors.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from shoal.annotating import layer_like, own_layer_annotated
from shoal.collection import Collection, merge_layers, persisted_layers
from shoal.core.keys import key_split
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe import methods
from shoal.dataframe._meta import infer, is_meta_like, labelled, make_meta, scalar_dtype
from shoal.dataframe._operators import wire_frame, wire_scalar
from shoal.dataframe.neighbours import Neighbours
from shoal.delayed import Delayed, collect_delayed

__all__ = ["DataFrame", "Index", "Scalar", "Series", "from_pandas", "map_partitions",
           "new_collection"]


class _NoDefault:
    def __repr__(self):
        return "<no_default>"


no_default = _NoDefault()


def _funcname(func) -> str:
    name = getattr(func, "__name__", type(func).__name__)
    return "lambda" if name == "<lambda>" else name.strip("_")


def new_collection(layers, name, meta, divisions):
    """The right collection type for *meta*."""
    if isinstance(meta, pd.DataFrame):
        return DataFrame(layers, name, meta, divisions)
    if isinstance(meta, pd.Series):
        return Series(layers, name, meta, divisions)
    if isinstance(meta, pd.Index):
        return Index(layers, name, meta, divisions)
    return Scalar(layers, name, meta)


def cull_layers(collection, keys) -> dict:
    """The layers of *collection* keeping only what *keys* need."""
    owner = {k: lname for lname, layer in collection._layers.items() for k in layer}
    out, stack, seen = {}, list(keys), set()
    while stack:
        key = stack.pop()
        if key in seen or key not in owner:
            continue
        seen.add(key)
        layer = collection._layers[owner[key]]
        if owner[key] not in out:  # (an annotated layer stays so: shoal.annotate)
            out[owner[key]] = layer_like(layer)
        out[owner[key]][key] = node = layer[key]
        stack.extend(node.dependencies)
    return out


class _Frame(Neighbours, Collection):
    """What DataFrame, Series and Index share."""

    # a one-partition per-column reduction result (``df.mean()``): the column labels;
    # map_partitions broadcasts it to every partition of the frames it meets
    _broadcast = None

    def __init__(self, layers: dict, name: str, meta, divisions):
        self._layers = own_layer_annotated(layers, name)  # (shoal.annotate)
        self._name, self._meta = name, meta
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

    def clear_divisions(self):
        return new_collection(self._layers, self._name, self._meta, (None,) * (self.npartitions + 1))

    @property
    def ndim(self) -> int:
        return self._meta.ndim

    @property
    def index(self):
        return map_partitions(methods.get_index, self, meta=self._meta.index, token="index")

    @property
    def partitions(self):
        """``df.partitions[i]`` / ``[i:j]`` / ``[[i, k]]``: a collection of those partitions."""
        return _Partitions(self)

    def get_partition(self, i: int):
        return self.partitions[i]

    def to_delayed(self, optimize_graph=True):
        """One Delayed per partition."""
        graph = self.__shoal_graph__()
        return [Delayed(k, graph[k], (), layer=graph) for k in self.__dask_keys__()]

    def __len__(self):
        from shoal.dataframe.reductions import length

        return int(length(self).compute())

    def __bool__(self):
        raise ValueError(f"The truth value of a shoal {type(self).__name__} is ambiguous; "
                         "use a.any() or a.all(), then compute")

    @property
    def size(self):
        """The number of elements, as a Scalar."""
        from shoal.dataframe.reductions import reduction

        return reduction(self, methods.size, sum, token="size", meta=0)

    # -- elementwise --------------------------------------------------------
    def map_partitions(self, func, *args, meta=no_default, token=None, **kwargs):
        """Apply ``func(partition, *args, **kwargs)`` to every partition."""
        return map_partitions(func, self, *args, meta=meta, token=token, **kwargs)

    def _combine(self, op, other, reflected):
        name = _funcname(op)
        if reflected:
            return map_partitions(methods.reflected, self, other, op, token=f"r{name}")
        return map_partitions(op, self, other, token=name)

    def _call(self, method, *args, **kwargs):
        return map_partitions(methods.call_method, self, method, *args, token=method, **kwargs)

    def astype(self, dtype):
        # schema from the empty metadata: "category" then has unknown categories,
        # not ones made up from stand-in values
        return map_partitions(methods.call_method, self, "astype", dtype, token="astype",
                              meta=self._meta.astype(dtype))

    def fillna(self, value=None, axis=None, **kwargs):
        if kwargs.get("method") is not None or value is None and not kwargs:
            raise ValueError("fillna needs a value (to fill from neighbouring rows: ffill, bfill)")
        return self._call("fillna", value, axis=axis, **kwargs)

    def dropna(self, **kwargs):
        return self._call("dropna", **kwargs)

    def isna(self):
        return self._call("isna")

    isnull = isna

    def notna(self):
        return self._call("notna")

    notnull = notna

    def where(self, cond, other=np.nan):
        return self._call("where", cond, other)

    def mask(self, cond, other=np.nan):
        return self._call("mask", cond, other)

    def isin(self, values):
        if isinstance(values, Collection):
            raise NotImplementedError("isin() takes a list-like of values, not a shoal collection")
        if not isinstance(values, (dict, pd.Series, pd.Index, np.ndarray, list)):
            values = list(values)
        return self._call("isin", values)

    def abs(self):
        return self._call("abs")

    def round(self, decimals=0):
        return self._call("round", decimals)

    def clip(self, lower=None, upper=None, **kwargs):
        return self._call("clip", lower, upper, **kwargs)

    def copy(self, deep=False):
        return new_collection(self._layers, self._name, self._meta, self.divisions)

    def reset_index(self, drop=False, **kwargs):
        """Reset each partition's index (so the new index restarts in every partition)."""
        out = self._call("reset_index", drop=drop, **kwargs)
        return out.clear_divisions()

    # -- reductions (reductions.py) --------------------------------------------
    def _reduce(self, how, axis=None, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        if axis in (1, "columns"):
            return self._call(how, axis=1, **kwargs)
        if how in ("mean", "var", "std"):
            return reductions.moments(self, how, split_every=split_every, **kwargs)
        return reductions.simple(self, how, split_every=split_every, **kwargs)

    def nunique(self, split_every=None, dropna=True, split_out=None):  # (a scalar: split_out unused)
        from shoal.dataframe import reductions

        return reductions.nunique(self, split_every=split_every, dropna=dropna)

    def describe(self, percentiles=None, split_every=None):
        """count, mean, std, min, exact quantiles, max (non-numeric: count, unique, top, freq)."""
        from shoal.dataframe import reductions

        return reductions.describe(self, percentiles=percentiles, split_every=split_every)

    def nlargest(self, n=5, *args, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        return reductions.top(self, "nlargest", n, args, kwargs, split_every)

    def nsmallest(self, n=5, *args, split_every=None, **kwargs):
        from shoal.dataframe import reductions

        return reductions.top(self, "nsmallest", n, args, kwargs, split_every)

    # -- cumulative: a scan across partitions (cumulative.py) ---------------------
    def _cumulative(self, method, axis, skipna):
        if axis in (1, "columns"):  # (along each row: within its partition)
            return self._call(method, axis=1, skipna=skipna)
        if axis not in (None, 0, "index"):
            raise ValueError(f"{method}: no axis {axis!r} (0 or 'index', 1 or 'columns')")
        from shoal.dataframe.cumulative import cumulative

        return cumulative(self, method, skipna)

    def cumsum(self, axis=None, skipna=True):
        return self._cumulative("cumsum", axis, skipna)

    def cumprod(self, axis=None, skipna=True):
        return self._cumulative("cumprod", axis, skipna)

    def cummax(self, axis=None, skipna=True):
        return self._cumulative("cummax", axis, skipna)

    def cummin(self, axis=None, skipna=True):
        return self._cumulative("cummin", axis, skipna)

    # -- looking at data -----------------------------------------------------
    def _edge(self, kind, n, npartitions):
        total = self.npartitions
        npartitions = total if npartitions < 0 else min(npartitions, total)
        idx = range(npartitions) if kind == "head" else range(total - npartitions, total)
        keys = [(self._name, i) for i in idx]
        name = f"{kind}-{tokenize(self, n, npartitions)}"
        kernel = methods.head_of if kind == "head" else methods.tail_of
        layers = cull_layers(self, keys)
        layers[name] = {(name, 0): Task((name, 0), kernel, [Ref(k) for k in keys], n)}
        divisions = (self.divisions[idx[0]], self.divisions[idx[-1] + 1])
        return new_collection(layers, name, self._meta, divisions), npartitions

    def head(self, n=5, npartitions=1, compute=True):
        """The first *n* rows, computing only the first *npartitions* partitions.

        ``npartitions=-1`` searches all of them; when the first partitions hold
        fewer than *n* rows a warning says so (as in Dask).
        """
        out, used = self._edge("head", n, npartitions)
        if not compute:
            return out
        result = out.compute()
        if len(result) < n and used < self.npartitions:
            warnings.warn(f"Insufficient elements for `head`: {n} requested, only {len(result)} "
                          f"in the first {used} partition(s); pass a larger npartitions= (-1 for all)",
                          UserWarning, stacklevel=2)
        return result

    def tail(self, n=5, npartitions=1, compute=True):
        """The last *n* rows, from the last *npartitions* partitions (-1: all)."""
        out, _ = self._edge("tail", n, npartitions)
        return out.compute() if compute else out

    def repartition(self, npartitions: int):
        """*npartitions* partitions: neighbours concatenated, or partitions split by rows.

        Merging keeps known divisions; splitting makes them unknown.
        """
        n = self.npartitions
        if npartitions < 1:
            raise ValueError(f"npartitions must be at least 1, got {npartitions}")
        if npartitions == n:
            return self
        name = f"repartition-{tokenize(self, npartitions)}"
        layer = {}
        if npartitions < n:
            bounds = [j * n // npartitions for j in range(npartitions + 1)]
            for j in range(npartitions):
                parts = [Ref((self._name, i)) for i in range(bounds[j], bounds[j + 1])]
                layer[(name, j)] = Task((name, j), methods.concat, parts, self._meta)
            divisions = tuple(self.divisions[b] for b in bounds)
        else:
            j = 0
            for i in range(n):
                k = npartitions // n + (i < npartitions % n)
                for piece in range(k):
                    layer[(name, j)] = Task((name, j), methods.split_part, Ref((self._name, i)), k, piece)
                    j += 1
            divisions = (None,) * (npartitions + 1)
        return new_collection(merge_layers(self, name=name, layer=layer), name, self._meta, divisions)

    # -- display (never computes) --------------------------------------------------
    def _structure(self) -> pd.DataFrame:
        meta = self._meta
        if isinstance(meta, pd.Index):
            meta = meta.to_series()
        if isinstance(meta, pd.Series):
            meta = meta.to_frame(name=meta.name if meta.name is not None else "")
        labels = list(self.divisions) if self.known_divisions else [""] * (self.npartitions + 1)
        # by position: duplicate column names would collapse in a dict
        data = {i: [str(dt)] + ["..."] * self.npartitions for i, dt in enumerate(meta.dtypes)}
        frame = pd.DataFrame(data, index=pd.Index(labels, dtype=object))
        frame.columns = meta.columns
        frame.index.name = f"npartitions={self.npartitions}"
        return frame

    def _tasks_text(self) -> str:
        ntasks = sum(len(layer) for layer in self._layers.values())
        return f"shoal Name: {key_split(self._name)}, {len(self._layers)} graph layers, {ntasks} tasks"

    def _footer(self) -> str:
        return self._tasks_text()

    def __repr__(self):
        table = self._structure()
        if not isinstance(self._meta, pd.DataFrame):  # one column: shown without its header
            table = table.iloc[:, 0]
        table = table.to_string(max_rows=12)
        return f"shoal {type(self).__name__} Structure:\n{table}\n{self._footer()}"

    def _repr_html_(self):
        table = self._structure().to_html(max_rows=12)
        return (f"<div><strong>shoal {type(self).__name__} Structure:</strong></div>\n{table}\n"
                f"<div>{self._footer()}</div>")


for _how in ("sum", "prod", "min", "max", "count", "any", "all", "mean", "var", "std"):
    def _make(how):
        def method(self, axis=None, skipna=True, split_every=None, **kwargs):
            if how not in ("count",):
                kwargs["skipna"] = skipna
            return self._reduce(how, axis, split_every, **kwargs)

        method.__name__ = how
        method.__doc__ = (f"``{how}`` over the whole collection as a tree reduction "
                          "(``split_every`` pieces combined at a time); ``axis=1`` is row-wise.")
        return method

    setattr(_Frame, _how, _make(_how))
_Frame.product = _Frame.prod
wire_frame(_Frame)


def _rebuild_frame(results, name, meta, divisions):
    return new_collection(persisted_layers(name, results), name, meta, divisions)


class _Partitions:
    def __init__(self, frame):
        self.frame = frame

    def __getitem__(self, index):
        f = self.frame
        if isinstance(index, (list, np.ndarray)):
            idx = [range(f.npartitions)[i] for i in index]
        else:
            idx = range(f.npartitions)[index]
            idx = [idx] if isinstance(idx, int) else list(idx)
        if not idx:
            raise IndexError("no partitions selected")
        name = f"partitions-{tokenize(f, idx)}"
        layers = cull_layers(f, [(f._name, i) for i in idx])
        layers[name] = {(name, j): Task((name, j), methods.identity, Ref((f._name, i)))
                        for j, i in enumerate(idx)}
        divisions = (None,) * (len(idx) + 1)
        if f.known_divisions and idx == list(range(idx[0], idx[-1] + 1)):
            divisions = f.divisions[idx[0]: idx[-1] + 2]
        return new_collection(layers, name, f._meta, divisions)


class Scalar(Collection):
    """One value computed from a collection (a reduction's result)."""

    def __init__(self, layers: dict, name: str, meta):
        self._layers = own_layer_annotated(layers, name)  # (shoal.annotate)
        self._name, self._meta = name, meta

    @property
    def key(self):
        return (self._name, 0)

    @property
    def dtype(self):
        return scalar_dtype(self._meta)

    def __dask_keys__(self):
        return [self.key]

    def __dask_postcompute__(self):
        return methods.first, ()

    def __dask_postpersist__(self):
        return _rebuild_scalar, (self._name, self._meta)

    def _combine(self, op, other, reflected):
        if reflected:
            return map_partitions(methods.reflected, self, other, op, token=f"r{_funcname(op)}")
        return map_partitions(op, self, other, token=_funcname(op))

    def __bool__(self):
        raise TypeError("The truth value of a shoal Scalar is not known until it is computed")

    def to_delayed(self, optimize_graph=True):
        graph = self.__shoal_graph__()
        return Delayed(self.key, graph[self.key], (), layer=graph)

    def __repr__(self):
        return f"shoal.Scalar<{self._name}, dtype={self.dtype}>"


wire_scalar(Scalar)


def _rebuild_scalar(results, name, meta):
    return Scalar(persisted_layers(name, results), name, meta)


# -- the partitionwise builder -------------------------------------------------------

def _walk(obj, leaf):
    """Apply *leaf* to collections found in *obj* (or one level of list/tuple/dict)."""
    if isinstance(obj, (Collection, Delayed)):
        return leaf(obj)
    t = type(obj)
    if (t is list or t is tuple) and any(isinstance(o, (Collection, Delayed)) for o in obj):
        return t(_walk(o, leaf) for o in obj)
    if t is dict and any(isinstance(o, (Collection, Delayed)) for o in obj.values()):
        return {k: _walk(v, leaf) for k, v in obj.items()}
    return obj


def _collections_in(args, kwargs) -> list:
    found: list = []
    for a in list(args) + list(kwargs.values()):
        _walk(a, found.append)
    return found


_DASK_OPTIONS = ("enforce_metadata", "transform_divisions", "align_dataframes", "parent_meta")


def map_partitions(func, *args, meta=no_default, token=None, divisions=None,
                   clear_divisions=False, **kwargs):
    """Apply *func* to matching partitions of the frames in *args* / *kwargs*.

    Frames split differently are realigned first (``alignment.py``; not with
    ``align_dataframes=False``); one-partition reductions, Scalars and Delayed values go
    whole to every call.  ``meta`` describes the output -- a pandas object, ``{col:
    dtype}``, ``(name, dtype)`` or a dtype/sample value for per-partition scalars (as a
    Series meta too: one value per partition) -- and is inferred when omitted.
    """
    align = kwargs.pop("align_dataframes", True) is not False  # (False: pair them as they are)
    for option in _DASK_OPTIONS:
        kwargs.pop(option, None)
    found = _collections_in(args, kwargs)
    frames = [f for f in found if isinstance(f, _Frame)]
    many = [f for f in frames if not (f._broadcast is not None and f.npartitions == 1)]
    aligned = many or frames
    n = aligned[0].npartitions if aligned else 1
    from shoal.dataframe.alignment import align_frames, keep_partitioning, scalars_as_series
    if moved := align_frames(args, kwargs, aligned, align):  # divisions differ (else it raises)
        return map_partitions(moved[2](func), *moved[0], meta=meta, token=token,
                              divisions=divisions, clear_divisions=clear_divisions, **moved[1])
    what = f"{token or _funcname(func)}"
    if meta is no_default:
        if any(isinstance(f, Delayed) for f in found):
            raise ValueError(f"cannot infer the output of {what} from Delayed arguments; pass meta=")
        meta = infer(func, [_walk(a, _meta_of) for a in args],
                     {k: _walk(v, _meta_of) for k, v in kwargs.items()}, what, udf=not _is_kernel(func))
    else:
        meta = make_meta(meta, index=frames[0]._meta.index if frames else None)
        if frames and isinstance(meta, pd.Series) and not _is_kernel(func):
            func = scalars_as_series(func, meta)  # (a scalar per partition: one row)
    wrap = bool(frames) and not is_meta_like(meta)
    if wrap:  # a scalar per partition: a Series of them
        meta = pd.Series([], dtype=scalar_dtype(meta))
    name = f"{what}-{tokenize(func, args, kwargs)}"
    layers = merge_layers(*[c for c in found if isinstance(c, Collection)])
    layer = {}
    for i in range(n):
        def ref(obj, i=i):
            return _arg_ref(obj, i, aligned, layers)

        targs = [_walk(a, ref) for a in args]
        tkwargs = {k: _walk(v, ref) for k, v in kwargs.items()}
        if wrap:
            layer[(name, i)] = Task((name, i), methods.wrap_scalar, func, targs, tkwargs)
        else:
            layer[(name, i)] = Task((name, i), func, *targs, **tkwargs)
    layers[name] = layer
    if divisions is None:
        divisions = aligned[0].divisions if aligned and not wrap else (None,) * (n + 1)
    if clear_divisions:
        divisions = (None,) * (n + 1)
    out = keep_partitioning(new_collection(layers, name, meta, divisions), [] if wrap else aligned)
    if frames and not many and isinstance(out, _Frame):
        out._broadcast = frames[0]._broadcast  # e.g. df.sum() / df.count() stays broadcastable
    return out


def _is_kernel(func) -> bool:
    """shoal's own pandas-calling kernels, operators and ufuncs (not user functions)."""
    try:
        if func in methods.KERNELS:
            return True
    except TypeError:  # unhashable callable
        return False
    return getattr(func, "__module__", None) == "_operator" or isinstance(func, np.ufunc)


def _arg_ref(arg, i, aligned, layers):
    """The task argument standing for *arg* in partition *i*."""
    if isinstance(arg, _Frame):
        return Ref((arg._name, i if any(arg is f for f in aligned) else 0))
    if isinstance(arg, Scalar):
        return Ref(arg.key)
    if isinstance(arg, Delayed):
        if arg.key not in layers:
            layers[arg.key] = collect_delayed([arg], {})
        return Ref(arg.key)
    return arg


def _meta_of(arg):
    if isinstance(arg, _Frame) and arg._broadcast is not None and isinstance(arg._meta, pd.Series):
        return labelled(arg._meta, arg._broadcast)
    if isinstance(arg, (_Frame, Scalar)):
        return arg._meta
    return arg


# -- from pandas -----------------------------------------------------------------------


from shoal.dataframe._frames import DataFrame, Index, Series  # noqa: E402  (they subclass _Frame)

# building collections from pandas and from other collections lives in creation.py;
# re-exported here because core is where users and the other modules look for them
from shoal.dataframe.creation import concat, from_pandas  # noqa: E402
