"""Operators for DataFrame, Series and Scalar, wired by loops at import time.

Every operator is one partition-wise task per partition (``map_partitions``), so
``df.a + df.b``, ``df.a - df.a.mean()`` (a Scalar broadcast to every partition),
``1 - df.a`` (reflected) and ``np.log(df.a)`` (``__array_ufunc__``) all build a
single layer whose output schema is inferred by running the same operator on
the inputs' metadata.

- Python operators: ``+ - * / // % ** & | ^`` with reflected forms, comparisons,
  and the unary ``- + ~ abs``; reflected forms call :func:`methods.reflected`
  so the partition is always the task's first argument.
- pandas' named methods (``add(other, fill_value=...)``, ``radd``, ``lt``...)
  pass their keywords through ``methods.call_method``.
- A Scalar combined with a Scalar gives a Scalar (one task); combined with a
  frame it gives a frame.
"""

from __future__ import annotations

import operator

import numpy as np

from shoal.dataframe import methods

__all__ = ["wire_frame", "wire_scalar"]

ARITHMETIC = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow")
LOGICAL = ("and", "or", "xor")
COMPARISONS = ("lt", "le", "eq", "ne", "gt", "ge")
UNARY = ("neg", "pos", "invert", "abs")
NAMED = ARITHMETIC + ("div",) + COMPARISONS


def _op(name):
    return getattr(operator, f"{name}_" if name in ("and", "or") else name)


def _forward(op):
    def method(self, other):
        return self._combine(op, other, False)

    method.__name__ = f"__{op.__name__.strip('_')}__"
    return method


def _reverse(op):
    def method(self, other):
        return self._combine(op, other, True)

    method.__name__ = f"__r{op.__name__.strip('_')}__"
    return method


def _unary(op):
    def method(self):
        from shoal.dataframe.core import map_partitions

        return map_partitions(op, self, token=op.__name__.strip("_"))

    method.__name__ = f"__{op.__name__.strip('_')}__"
    return method


def _named(name):
    def method(self, other, *args, **kwargs):
        from shoal.dataframe.core import map_partitions

        return map_partitions(methods.call_method, self, name, other, *args, token=name, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``{name}`` of each partition with *other* (keywords as in pandas)."
    return method


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """``np.sqrt(s)``, ``np.add(s, 1)``: one task per partition."""
    from shoal.collection import Collection
    from shoal.dataframe.core import map_partitions

    if method != "__call__" or ufunc.nout != 1 or "out" in kwargs:
        return NotImplemented
    for x in inputs:
        if not isinstance(x, (Collection, int, float, complex, bool, np.generic)):
            return NotImplemented
    return map_partitions(ufunc, *inputs, token=ufunc.__name__, **kwargs)


def wire_scalar(cls):
    """Add the operators (and NumPy ufunc support) to the class *cls*."""
    for name in ARITHMETIC + LOGICAL:
        setattr(cls, f"__{name}__", _forward(_op(name)))
        setattr(cls, f"__r{name}__", _reverse(_op(name)))
    for name in COMPARISONS:
        setattr(cls, f"__{name}__", _forward(_op(name)))
    for name in UNARY:
        setattr(cls, f"__{name}__", _unary(_op(name)))
    cls.__array_ufunc__ = _array_ufunc
    cls.__hash__ = object.__hash__  # __eq__ above would unset it


def wire_frame(cls):
    """The operators, plus the named arithmetic methods (``add``, ``radd``...)."""
    wire_scalar(cls)
    for name in NAMED:
        setattr(cls, name, _named(name))
        if name not in COMPARISONS:
            setattr(cls, f"r{name}", _named(f"r{name}"))
