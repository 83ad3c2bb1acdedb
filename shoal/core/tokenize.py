"""Deterministic tokens for arbitrary Python objects.

``tokenize(*args, **kwargs)`` returns a 32 character hex string that depends
only on the *values* passed in, never on object identity, ``id()`` or Python's
salted ``hash()``.  Equal inputs therefore give equal tokens in every process
and under every ``PYTHONHASHSEED``; shoal uses them to name tasks.

How it works
------------
1. ``normalize_token`` (a :class:`~shoal.core.dispatch.Dispatch`) turns each
   object into a *normal form*: a nested structure of tuples and lists whose
   leaves are ``int``, ``float``, ``complex``, ``str``, ``bytes``, ``bool``,
   ``None`` or ``Ellipsis`` (the "leaf" types, which are their own normal
   form).  Anything else becomes a tuple whose first item is a ``_Tag``, a
   ``str`` subclass whose ``repr`` is ``<name>`` - text no leaf can produce -
   so a normalized ``dict`` can never collide with a user's tuple.
2. The normal form is rendered with ``repr`` (C speed, and exact for floats)
   and hashed with BLAKE2b.  Large binary payloads (array buffers, pickles)
   are hashed on their own first and enter the normal form as a hex digest.

Unordered containers (``dict``, ``set``) are sorted by the ``repr`` of their
normalized keys/items, so insertion order and hash seeds do not matter.
Self-referencing structures are cut by a per-thread stack of the containers
currently being normalized; a back-reference becomes ``(<cycle>, distance)``.

Objects without a dedicated handler go through, in order: the
``__shoal_tokenize__`` / ``__dask_tokenize__`` protocol, dataclass fields, and
finally ``cloudpickle``.  Unpicklable objects get a random token - or raise
``RuntimeError`` when the ``tokenize.ensure-deterministic`` config is set.
Handlers for numpy and pandas are registered lazily, the first time one of
their objects is tokenized, so importing this module imports neither.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import os
import sys
import threading
import types

from shoal.core.dispatch import Dispatch

__all__ = ["tokenize", "normalize_token"]


class _Tag(str):
    """Marker at the head of a normalized non-leaf; ``repr`` is ``<name>``."""

    __slots__ = ()

    def __repr__(self):
        return self


_tags: dict[str, _Tag] = {}


def _tag(name: str) -> _Tag:
    return _tags.setdefault(name, _Tag(f"<{name}>"))


_LEAVES = frozenset({int, float, complex, str, bytes, bool, type(None), type(Ellipsis)})
_CYCLE = _tag("cycle")

normalize_token = Dispatch("normalize_token")


def tokenize(*args, **kwargs) -> str:
    """Deterministic 32-hex-character token for the given arguments."""
    data = _normalize_tuple(args)
    if kwargs:
        data = (data, _normalize_dict(kwargs))
    return _hash_text(_render(data))


# ---------------------------------------------------------------- hashing ---


def _hash_text(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _hash_buffer(buf) -> str:
    return hashlib.blake2b(buf, digest_size=16).hexdigest()


def _render(data) -> str:
    try:
        return repr(data)
    except ValueError:  # int too large for str(): see sys.set_int_max_str_digits
        return _render_slow(data)


def _render_slow(x) -> str:
    if type(x) is int:
        return hex(x)
    if type(x) is tuple:
        inner = ", ".join(map(_render_slow, x))
        return f"({inner},)" if len(x) == 1 else f"({inner})"
    if type(x) is list:
        return "[" + ", ".join(map(_render_slow, x)) + "]"
    return repr(x)


# ------------------------------------------------------ recursion guard -----

_local = threading.local()


def _guarded(obj, func, *args):
    """Call ``func(*args)`` unless ``obj`` is already being normalized."""
    try:
        stack = _local.stack
    except AttributeError:
        stack = _local.stack = {}
    key = id(obj)
    depth = stack.get(key)
    if depth is not None:
        return (_CYCLE, len(stack) - depth)
    stack[key] = len(stack)
    try:
        return func(*args)
    finally:
        del stack[key]


def _norm(x):
    return x if type(x) in _LEAVES else normalize_token(x)


def _qualname(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


# ------------------------------------------------- primitives & containers --


@normalize_token.register((int, float, complex, str, bytes))
def _normalize_leaf_subclass(x):
    # Exact leaf types never get here (see _norm); subclasses such as IntEnum
    # or numpy.str_ keep their type in the token.
    if type(x) in _LEAVES:
        return x
    if isinstance(x, enum.Enum):
        return _normalize_enum(x)
    base = next(b for b in type(x).__mro__ if b in _LEAVES)
    # base.__repr__ sees the raw value even if the subclass overrides __str__.
    return (_tag("subclass"), _qualname(type(x)), base.__repr__(x))


@normalize_token.register((bool, type(None), type(Ellipsis), type(NotImplemented)))
def _normalize_singleton(x):
    return x if type(x) in _LEAVES else (_tag("const"), repr(x))


@normalize_token.register(tuple)
def _normalize_tuple(t):
    for item in t:
        if type(item) not in _LEAVES:
            out = tuple([_norm(x) for x in t])
            break
    else:
        out = t
    if type(t) is tuple:
        return out
    return (_tag("tuple-subclass"), _qualname(type(t)), tuple(out))


def _normalize_list_items(seq):
    return [_norm(x) for x in seq]


@normalize_token.register(list)
def _normalize_list(seq):
    out = _guarded(seq, _normalize_list_items, seq)
    if type(seq) is list:
        return out
    return (_tag("list-subclass"), _qualname(type(seq)), out)


def _repr_of_key(item):
    return repr(item[0])


def _normalize_dict_items(d):
    items = [(_norm(k), _norm(v)) for k, v in d.items()]
    items.sort(key=_repr_of_key)
    return items


@normalize_token.register(dict)
def _normalize_dict(d):
    items = _guarded(d, _normalize_dict_items, d)
    if type(d) is dict:
        return (_tag("dict"), items)
    extra = getattr(d, "default_factory", None)
    return (_tag("dict"), items, _qualname(type(d)), _norm(extra))


@normalize_token.register((set, frozenset))
def _normalize_set(s):
    items = sorted([_norm(x) for x in s], key=repr)
    if type(s) in (set, frozenset):
        return (_tag(type(s).__name__), items)
    return (_tag("set-subclass"), _qualname(type(s)), items)


@normalize_token.register((bytearray, memoryview))
def _normalize_bytes_like(b):
    return (_tag(type(b).__name__), bytes(b))


@normalize_token.register(slice)
def _normalize_slice(s):
    return (_tag("slice"), _norm(s.start), _norm(s.stop), _norm(s.step))


@normalize_token.register(range)
def _normalize_range(r):
    return (_tag("range"), r.start, r.stop, r.step)


# Rarely used standard-library types are registered on first sight, which
# keeps ``import shoal`` from importing decimal/pathlib/datetime.


@normalize_token.register_lazy("decimal")
def _register_decimal():
    import decimal

    normalize_token.register(decimal.Decimal, lambda d: (_tag("decimal"), str(d)))


@normalize_token.register_lazy("datetime")
def _register_datetime():
    import datetime

    @normalize_token.register((datetime.datetime, datetime.time))
    def _normalize_datetime(d):
        return (_tag(type(d).__name__), d.isoformat(), repr(d.tzinfo), d.fold)

    @normalize_token.register(datetime.date)
    def _normalize_date(d):
        return (_tag("date"), d.isoformat())

    @normalize_token.register(datetime.timedelta)
    def _normalize_timedelta(d):
        return (_tag("timedelta"), d.days, d.seconds, d.microseconds)


@normalize_token.register_lazy("pathlib")
def _register_pathlib():
    import pathlib

    @normalize_token.register(pathlib.PurePath)
    def _normalize_path(p):
        return (_tag("path"), type(p).__name__, str(p))


@normalize_token.register(enum.Enum)
def _normalize_enum(e):
    return (_tag("enum"), _qualname(type(e)), e.name, _norm(e.value))


# ------------------------------------------------------ functions & types ---


def _importable(obj) -> bool:
    """True if ``obj`` can be found again at ``module.qualname``."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return False
    found = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found is obj


@normalize_token.register(type)
def _normalize_type(t):
    if _importable(t):
        return (_tag("type"), t.__module__, t.__qualname__)
    return _normalize_pickled(t)


@normalize_token.register(types.ModuleType)
def _normalize_module(m):
    return (_tag("module"), m.__name__)


# Bits of co_flags that describe the code itself (generator, varargs, ...);
# the higher ones only record which ``from __future__`` imports were active.
_CODE_FLAGS = 0xFFFF


@normalize_token.register(types.CodeType)
def _normalize_code(co):
    return (
        _tag("code"), co.co_name, co.co_code, _normalize_tuple(co.co_consts),
        co.co_names, co.co_varnames, co.co_freevars, co.co_cellvars,
        co.co_argcount, co.co_posonlyargcount, co.co_kwonlyargcount,
        co.co_flags & _CODE_FLAGS,
    )


def _referenced_names(co, out):
    out.update(co.co_names)
    for const in co.co_consts:
        if isinstance(const, types.CodeType):
            _referenced_names(const, out)
    return out


def _function_by_value(f):
    cells = ()
    if f.__closure__:
        cells = tuple(_normalize_cell(c) for c in f.__closure__)
    # Globals of leaf type (e.g. a notebook's ``offset = 3``) are part of the
    # behaviour of a by-value function; larger globals are left out for speed.
    g = f.__globals__
    consts = sorted(
        (name, g[name]) for name in _referenced_names(f.__code__, set())
        if name in g and type(g[name]) in _LEAVES
    )
    return (
        _tag("function"), _normalize_code(f.__code__), _norm(f.__defaults__),
        _norm(f.__kwdefaults__), cells, consts,
    )


def _normalize_cell(cell):
    try:
        contents = cell.cell_contents
    except ValueError:
        return _tag("empty-cell")
    return _norm(contents)


@normalize_token.register(types.FunctionType)
def _normalize_function(f):
    if _importable(f):
        return (_tag("named-function"), f.__module__, f.__qualname__)
    return _guarded(f, _function_by_value, f)


@normalize_token.register(types.BuiltinFunctionType)
def _normalize_builtin(f):
    owner = f.__self__
    if owner is None or isinstance(owner, types.ModuleType):
        return (_tag("builtin"), f.__module__, f.__qualname__)
    return (_tag("method"), _norm(owner), f.__qualname__)


@normalize_token.register(types.MethodType)
def _normalize_method(m):
    return (_tag("method"), _norm(m.__self__), _norm(m.__func__))


@normalize_token.register(functools.partial)
def _normalize_partial(p):
    return (_tag("partial"), _norm(p.func), _normalize_tuple(p.args), _normalize_dict(p.keywords))


def _normalize_curry(c):
    return (_tag("curry"), _norm(c.func), _normalize_tuple(c.args), _normalize_dict(c.keywords or {}))


# --------------------------------------------------------- other objects ----


@normalize_token.register(object)
def _normalize_object(o):
    cls = type(o)
    for method in ("__shoal_tokenize__", "__dask_tokenize__"):
        if hasattr(cls, method):
            return (_tag("protocol"), _guarded(o, _call_protocol, o, method))
    if hasattr(cls, "__dataclass_fields__"):
        return _guarded(o, _normalize_dataclass, o)
    if cls.__name__ == "curry" and all(hasattr(o, a) for a in ("func", "args", "keywords")):
        return _normalize_curry(o)
    return _normalize_pickled(o)


def _call_protocol(o, method):
    return _norm(getattr(o, method)())


def _normalize_dataclass(o):
    import dataclasses

    values = [(f.name, _norm(getattr(o, f.name, None))) for f in dataclasses.fields(o)]
    return (_tag("dataclass"), _qualname(type(o)), values)


def _normalize_pickled(o):
    try:
        import cloudpickle

        data = cloudpickle.dumps(o, protocol=5)
    except Exception as exc:
        if _ensure_deterministic():
            raise RuntimeError(
                f"Cannot deterministically tokenize an object of type "
                f"{_qualname(type(o))}: it cannot be pickled ({exc!r}). Give it a "
                f"__shoal_tokenize__ method or register a normalize_token handler."
            ) from exc
        return (_tag("random"), os.urandom(16).hex())
    return (_tag("pickle"), _hash_buffer(data))


def _ensure_deterministic() -> bool:
    try:
        from shoal import config
    except ImportError:
        return False
    try:
        return bool(config.get("tokenize.ensure-deterministic", False))
    except (AttributeError, KeyError):
        return False


# ------------------------------------------------------- lazy: toolz -------


@normalize_token.register_lazy("toolz")
def _register_toolz():
    import toolz

    normalize_token.register(toolz.curry, _normalize_curry)


@normalize_token.register_lazy("cytoolz")
def _register_cytoolz():
    import cytoolz

    normalize_token.register(cytoolz.curry, _normalize_curry)


# ------------------------------------------------------- lazy: numpy -------


@normalize_token.register_lazy("numpy")
def _register_numpy():
    import numpy as np

    @normalize_token.register(np.ndarray)
    def _normalize_ndarray(x):
        head = (_tag("ndarray"), _norm(x.dtype), x.shape)
        if type(x) is not np.ndarray:
            head += (_qualname(type(x)),)
        if x.dtype.hasobject or x.dtype.kind == "T":  # Python objects / StringDType
            return head + (_guarded(x, _normalize_list_items, x.ravel().tolist()),)
        data = np.ascontiguousarray(x).reshape(-1)
        try:
            buf = data.view(np.uint8)
        except (TypeError, ValueError):
            buf = data.tobytes()
        return head + (_hash_buffer(buf),)

    @normalize_token.register(np.ma.MaskedArray)
    def _normalize_masked(x):
        return (
            _tag("masked-array"), _normalize_ndarray(x.data),
            _normalize_ndarray(np.ma.getmaskarray(x)), _norm(x.fill_value),
        )

    @normalize_token.register(np.generic)
    def _normalize_numpy_scalar(x):
        if x.dtype.hasobject:
            return (_tag("numpy-scalar"), _norm(x.item()))
        return (_tag("numpy-scalar"), _norm(x.dtype), x.tobytes())

    @normalize_token.register(np.dtype)
    def _normalize_dtype(d):
        return (_tag("dtype"), repr(d))

    @normalize_token.register(np.ufunc)
    def _normalize_ufunc(u):
        if _importable(u) or getattr(np, u.__name__, None) is u:
            return (_tag("ufunc"), u.__name__)
        return _normalize_pickled(u)


# ------------------------------------------------------- lazy: pandas ------


@normalize_token.register_lazy("pandas")
def _register_pandas():
    import numpy as np
    import pandas as pd

    @normalize_token.register(pd.Index)
    def _normalize_index(idx):
        if isinstance(idx, pd.RangeIndex):
            values = (idx.start, idx.stop, idx.step)
        elif isinstance(idx, pd.MultiIndex):
            values = ([_norm(lev) for lev in idx.levels], [_norm(np.asarray(c)) for c in idx.codes])
        else:
            values = _norm(idx.array)
        return (_tag("pd-index"), type(idx).__name__, _norm(list(idx.names)), values)

    @normalize_token.register(pd.api.extensions.ExtensionArray)
    def _normalize_extension_array(arr):
        if isinstance(arr, pd.Categorical):
            values = _norm(arr.codes)
        elif hasattr(arr, "asi8"):  # datetime-like: int64 ticks
            values = _norm(arr.asi8)
        elif isinstance(getattr(arr, "_data", None), np.ndarray) and isinstance(
            getattr(arr, "_mask", None), np.ndarray
        ):  # nullable integer / float / boolean
            data, mask = arr._data, arr._mask
            if mask.any():  # values hidden under the mask are arbitrary
                data = data.copy()
                data[mask] = 0
            values = (_norm(data), _norm(mask))
        else:
            values = _norm(np.asarray(arr))
        return (_tag("pd-array"), type(arr).__name__, _norm(arr.dtype), values)

    @normalize_token.register(pd.Series)
    def _normalize_series(s):
        return (_tag("pd-series"), _norm(s.name), _norm(s.index), _norm(s.array))

    @normalize_token.register(pd.DataFrame)
    def _normalize_dataframe(df):
        columns = [_norm(col.array) for _, col in df.items()]
        return (_tag("pd-frame"), _norm(df.index), _norm(df.columns), columns)

    @normalize_token.register(pd.api.extensions.ExtensionDtype)
    def _normalize_pandas_dtype(d):
        if isinstance(d, pd.CategoricalDtype):
            return (_tag("pd-dtype"), "category", _norm(d.categories), bool(d.ordered))
        return (_tag("pd-dtype"), _qualname(type(d)), str(d))

    @normalize_token.register(pd.Timestamp)
    def _normalize_timestamp(ts):
        return (_tag("pd-timestamp"), ts.isoformat(), str(ts.tz), ts.unit)

    @normalize_token.register(pd.Timedelta)
    def _normalize_pd_timedelta(td):
        return (_tag("pd-timedelta"), td.isoformat(), td.unit)

    @normalize_token.register(type(pd.NaT))
    def _normalize_nat(_):
        return (_tag("pd-nat"),)
