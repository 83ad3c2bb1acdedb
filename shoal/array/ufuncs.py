"""The ``ufunc`` wrapper, ``frompyfunc``, and the NumPy ufuncs ``__init__`` lacked.

::

    da.frexp(x)              -> (mantissa, exponent): one lazy array per output
    da.ufunc(np.hypot)(x, y) -> lazy when any argument is a shoal array, NumPy's
                                result otherwise; ``nin``, ``nout``, ``types`` ... are
                                the wrapped ufunc's

A ufunc with several outputs becomes one element-wise layer per output (each
block computes the ufunc and keeps its part; the engine fuses a chain per block).
``sinc`` and ``i0`` are plain NumPy functions, not ufuncs, but element-wise all
the same.
"""

from __future__ import annotations

import functools

import numpy as np

from shoal.array.blockwise import _output, elemwise
from shoal.array.core import Array

__all__ = ["EXTRA_UFUNCS", "divmod", "frompyfunc", "i0", "sinc", "ufunc"]


class ufunc:
    """A NumPy ufunc that builds shoal graphs when given shoal arrays."""

    def __init__(self, ufunc):
        if not isinstance(ufunc, (np.ufunc, type(self))):
            raise TypeError(f"ufunc: expected a numpy.ufunc, got {type(ufunc).__name__}")
        self._ufunc = ufunc._ufunc if isinstance(ufunc, type(self)) else ufunc
        self.__name__ = self._ufunc.__name__
        self.__doc__ = f"numpy.{self.__name__} applied block by block to shoal arrays."

    def __getattr__(self, name):
        if name.startswith("__") or name == "_ufunc":  # (pickle and copy ask before __init__)
            raise AttributeError(name)
        return getattr(self._ufunc, name)  # nin, nout, nargs, ntypes, types, identity ...

    def __dir__(self):
        return sorted(set(dir(type(self))) | set(self.__dict__) | set(dir(self._ufunc)))

    def __repr__(self):
        return f"shoal.array.ufunc<{self.__name__}>"

    def __call__(self, *args, **kwargs):
        if not any(isinstance(a, Array) for a in (*args, kwargs.get("where"))):
            return self._ufunc(*args, **kwargs)
        if kwargs.get("out") is not None:
            raise NotImplementedError(f"{self.__name__} of a shoal array: out= not supported")
        kwargs.pop("out", None)
        return _apply(self._ufunc, args, kwargs)

    def outer(self, A, B, **kwargs):
        """``ufunc.outer``: every pair of elements, A's dimensions then B's."""
        if self._ufunc.nin != 2:
            raise ValueError(f"{self.__name__}.outer needs a ufunc of two inputs")
        if not isinstance(A, Array) and not isinstance(B, Array):
            return self._ufunc.outer(A, B, **kwargs)
        from shoal.array.core import asarray

        A, B = asarray(A), asarray(B)
        a = A.reshape(A.shape + (1,) * B.ndim) if B.ndim else A
        return _apply(self._ufunc, (a, B), kwargs)


def _apply(uf, args, kwargs):
    """*uf* on *args* block by block; a ``where=`` array becomes one more aligned input."""
    where = kwargs.get("where", True)
    if where is not True and np.ndim(where) > 0:
        kwargs = {k: v for k, v in kwargs.items() if k != "where"}
        return _apply_where(uf, args, where, kwargs)
    if uf.nout == 1:
        return elemwise(uf, *args, op_kwargs=kwargs, token=uf.__name__)
    return tuple(elemwise(functools.partial(_output, uf, i), *args, op_kwargs=kwargs,
                          token=f"{uf.__name__}-{i}") for i in range(uf.nout))


def _where_call(uf, *blocks, **kwargs):
    *args, where = blocks
    out = (None,) * uf.nout if uf.nout > 1 else None  # (NumPy's "uninitialised" warning off)
    return uf(*args, where=where, out=out, **kwargs)


def _apply_where(uf, args, where, kwargs):
    """``uf(*args, where=mask)``: as NumPy's, the entries outside the mask are left
    uninitialised (no ``out=`` to take them from)."""
    from shoal.array.blockwise import broadcast_shapes
    from shoal.array.core import asarray

    where = asarray(where)
    if where.dtype != bool:
        raise TypeError(f"{uf.__name__}: where= must be a boolean array, got dtype {where.dtype}")
    shape = broadcast_shapes(*(np.shape(a) for a in args))
    if np.broadcast_shapes(shape, where.shape) != shape if _fits(shape, where.shape) else True:
        raise ValueError(f"{uf.__name__}: where= of shape {where.shape} does not broadcast to "
                         f"the result's shape {shape}")
    return _apply(_Outputs(functools.partial(_where_call, uf), uf), (*args, where), kwargs)


def _fits(shape, other) -> bool:
    try:
        np.broadcast_shapes(shape, other)
    except ValueError:
        return False
    return True


class _Outputs:
    """*call* posing as a ufunc of *uf*'s name and outputs (for :func:`_apply`)."""

    def __init__(self, call, uf):
        self.call, self.nout, self.__name__ = call, uf.nout, uf.__name__

    def __call__(self, *args, **kwargs):
        return self.call(*args, **kwargs)


def frompyfunc(func, nin, nout):
    """``numpy.frompyfunc`` as a shoal :class:`ufunc` (object dtype results)."""
    if not callable(func):
        raise TypeError(f"frompyfunc: func must be callable, got {func!r}")
    return ufunc(np.frompyfunc(func, nin, nout))


#: NumPy ufuncs added here (the rest of the namespace's are ``blockwise.UFUNCS``)
EXTRA_UFUNCS = ("copysign", "frexp", "ldexp", "modf", "spacing", "nextafter", "logaddexp2",
                "left_shift", "right_shift", "positive")

divmod = ufunc(np.divmod)


def _elementwise(func):
    @functools.wraps(func)
    def call(x, *args, **kwargs):
        if isinstance(x, Array):
            return elemwise(func, x, *args, op_kwargs=kwargs)
        return func(x, *args, **kwargs)

    return call


sinc = _elementwise(np.sinc)
i0 = _elementwise(np.i0)
