"""Task keys for ``submit``, ``map`` and ``scatter``, spelled as Dask spells them.

::

    submit(inc, 1)              pure:   "inc-<tokenize(inc, kwargs, 1)>"
    submit(inc, 1, pure=False)  impure: "inc-<uuid4 hex>"
    map(inc, [1, 2])            "inc-<token per item>" (the function is tokenized once)
    map(inc, L, key="step")     "step-<token per item>";  key=[...] gives the keys as they are
    scatter(42)                 "int-<tokenize(42)>"; scatter({"x": 42}) keeps "x"

Equal pure calls get equal keys, so the cluster computes them once.  The
prefix (``key_split``) names the task group in progress bars and dashboards.
"""

from __future__ import annotations

import functools
import operator
import uuid

from shoal.core.tokenize import tokenize

__all__ = ["call_key", "funcname", "map_keys", "scatter_key"]


def funcname(func) -> str:
    """A short, readable name for a callable.

    >>> funcname(len), funcname(lambda x: x), funcname(functools.partial(max, 1))
    ('len', 'lambda', 'max')
    """
    while isinstance(func, functools.partial):
        func = func.func
    if isinstance(func, operator.methodcaller):
        return f"methodcaller-{func.__reduce__()[1][0]}"
    name = getattr(func, "__name__", None)
    if not isinstance(name, str):
        inner = getattr(func, "func", None)  # toolz.curry and friends
        name = getattr(inner, "__name__", None)
    if not isinstance(name, str):
        name = type(func).__name__
    if name == "<lambda>":
        return "lambda"
    return name[:50] or "func"


def call_key(func, args, kwargs, pure: bool = True) -> str:
    """The key of one ``submit(func, *args, **kwargs)``."""
    if pure:
        return f"{funcname(func)}-{tokenize(func, kwargs, *args)}"
    return f"{funcname(func)}-{uuid.uuid4().hex}"


def map_keys(func, arg_tuples: list, kwargs: dict, key=None, pure: bool = True) -> list:
    """Keys for ``map``: one per argument tuple.

    ``key`` is a prefix (str) or the list of keys itself.
    """
    n = len(arg_tuples)
    if isinstance(key, (list, tuple)) and not isinstance(key, str):
        keys = list(key)
        if len(keys) != n:
            raise ValueError(f"map: key= lists {len(keys)} keys for {n} calls; give one key per call")
        return keys
    prefix = key if key is not None else funcname(func)
    if not pure:
        return [f"{prefix}-{uuid.uuid4().hex}" for _ in range(n)]
    base = tokenize(func, kwargs)  # once, not per call: tokenizing a function is the slow part
    return [f"{prefix}-{tokenize(base, *args)}" for args in arg_tuples]


def scatter_key(value, hash: bool = True) -> str:
    """The key of one scattered value."""
    name = type(value).__name__
    return f"{name}-{tokenize(value) if hash else uuid.uuid4().hex}"
