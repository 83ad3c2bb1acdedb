"""Generalized ufuncs: ``apply_gufunc``, the ``gufunc`` class and ``as_gufunc``.

::

    apply_gufunc(np.linalg.eigh, "(i,j)->(i),(i,j)", x)     x: (50, 4, 4), chunks (10, 4, 4)
    -> w: (50, 4) chunks (10, 4);  v: (50, 4, 4) chunks (10, 4, 4)

    signature  "(i,j),(j)->(i)": per input its core dimensions, then the outputs'
    loop dims  the leading dimensions, right-aligned and broadcast between inputs
    core dims  the trailing ones; each must be one block (``allow_rechunk=True``
               joins it into one, else a ValueError names it)

One ``blockwise`` layer calls *func* once per block of the loop dimensions, with
whole core dimensions; it yields a tuple when the signature has several outputs,
and one thin layer per output picks its element.  Core dimensions an output has
and no input has need ``output_sizes``.  ``axes=`` / ``axis=`` say where the core
dimensions are (they are moved to the end before, and back after); ``keepdims``
keeps the inputs' core dimensions on the outputs, with length 1.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from shoal.array.core import Array, asarray
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["apply_gufunc", "as_gufunc", "gufunc", "parse_signature"]

_DIMS = r"\((?:\w+(?:,\s*\w+)*)?\)"
_SIGNATURE = re.compile(rf"^\s*{_DIMS}(?:\s*,\s*{_DIMS})*\s*->\s*{_DIMS}(?:\s*,\s*{_DIMS})*\s*$")


def parse_signature(signature: str) -> tuple:
    """``"(i,j),(j)->(i),()"`` -> ``([("i", "j"), ("j",)], [("i",), ()])``; outputs are
    a single tuple (not a list) when there is one and no comma after it."""
    if not isinstance(signature, str) or not _SIGNATURE.match(signature):
        raise ValueError(f"apply_gufunc: signature {signature!r} is not a gufunc signature "
                         "such as '(i,j),(j)->(i)'")
    ins, outs = signature.replace(" ", "").split("->")
    parse = lambda s: [tuple(d for d in g.split(",") if d) for g in re.findall(r"\(([^)]*)\)", s)]
    inputs, outputs = parse(ins), parse(outs)
    return inputs, outputs if len(outputs) > 1 else outputs[0]


def _axes(axes, axis, keepdims, in_core, out_core) -> list:
    """One tuple of core axes per operand (inputs, then outputs), or None."""
    if axis is not None and axes is not None:
        raise ValueError("apply_gufunc: give axes= or axis=, not both")
    if axis is not None:
        if any(len(c) > 1 for c in in_core + out_core):
            raise ValueError("apply_gufunc: axis= needs at most one core dimension per operand")
        return ([(axis,) if c else () for c in in_core]
                + [(axis,) if c or keepdims else () for c in out_core])
    if axes is None:
        return None
    axes = [(a,) if isinstance(a, int) else tuple(a) for a in axes]
    if len(axes) == len(in_core):
        axes += [axes[0] if keepdims else tuple(range(-len(c), 0)) for c in out_core]
    if len(axes) != len(in_core) + len(out_core):
        raise ValueError(f"apply_gufunc: axes= gives {len(axes)} entries for "
                         f"{len(in_core)} inputs and {len(out_core)} outputs")
    return axes


def _core_chunks(args, in_core, allow_rechunk) -> list:
    out = []
    for k, (a, core) in enumerate(zip(args, in_core)):
        if a.ndim < len(core):
            raise ValueError(f"apply_gufunc: input {k} has {a.ndim} dimensions, fewer than its "
                             f"{len(core)} core dimensions {core}")
        start = a.ndim - len(core)
        for d, dim in enumerate(core):
            if len(a.chunks[start + d]) > 1 and not allow_rechunk:
                raise ValueError(f"apply_gufunc: core dimension {dim!r} of input {k} is in "
                                 f"{len(a.chunks[start + d])} blocks; rechunk it into one or "
                                 "pass allow_rechunk=True")
        want = a.chunks[:start] + tuple((n,) for n in a.shape[start:])
        out.append(a if want == a.chunks else a.rechunk(want))
    return out


def _indices(args, in_core) -> tuple:
    nloop = max((a.ndim - len(c) for a, c in zip(args, in_core)), default=0)
    loop = tuple(f"__loop{d}" for d in range(nloop))
    inds = [loop[nloop - (a.ndim - len(c)):] + tuple(f"__core_{d}" for d in c)
            for a, c in zip(args, in_core)]
    return loop, inds


def _sizes(args, in_core) -> dict:
    sizes: dict = {}
    for a, core in zip(args, in_core):
        for dim, n in zip(core, a.shape[a.ndim - len(core):]):
            if sizes.setdefault(dim, n) != n:
                raise ValueError(f"apply_gufunc: core dimension {dim!r} has lengths "
                                 f"{sizes[dim]} and {n}")
    return sizes


def _infer_dtypes(func, args, in_core, nout, kwargs) -> list:
    trial = [np.ones((1,) * a.ndim, dtype=a.dtype) for a in args]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = func(*trial, **kwargs)
    except Exception as err:
        raise TypeError(f"apply_gufunc: could not infer the output dtypes by calling the "
                        f"function on small arrays ({err}); pass output_dtypes=") from err
    got = got if nout else (got,)
    return [np.asarray(g).dtype for g in got]


def _pick(value, index):
    return value if index is None else value[index]


def _output(tmp, index, core, sizes, output_sizes, dtype) -> Array:
    dims = []
    for dim in core:
        n = output_sizes.get(dim, sizes.get(dim))
        if n is None:
            raise ValueError(f"apply_gufunc: output core dimension {dim!r} is in no input; "
                             "give its length in output_sizes=")
        dims.append(int(n))
    name = f"gufunc-out-{tokenize(tmp, index, dims, dtype)}"
    layer = {}
    for idx in np.ndindex(*tmp.numblocks):
        key = (name, *idx, *(0,) * len(dims))
        layer[key] = Task(key, _pick, Ref((tmp.name, *idx)), index)
    chunks = tmp.chunks + tuple((n,) for n in dims)
    return Array(merge_layers(tmp, name=name, layer=layer), name, chunks, dtype)


def _dtypes(output_dtypes, meta, nout):
    if output_dtypes is None and meta is not None:
        metas = meta if isinstance(meta, tuple) else (meta,)
        output_dtypes = [np.asarray(m).dtype for m in metas]
    if output_dtypes is None:
        return None
    if isinstance(output_dtypes, (tuple, list)):
        dts = [np.dtype(d) for d in output_dtypes]
    else:
        dts = [np.dtype(output_dtypes)]
    if len(dts) != (nout or 1):
        raise ValueError(f"apply_gufunc: output_dtypes gives {len(dts)} dtypes for "
                         f"{nout or 1} outputs")
    return dts


def apply_gufunc(func, signature, *args, axes=None, axis=None, keepdims=False,
                 output_dtypes=None, output_sizes=None, vectorize=None, allow_rechunk=False,
                 meta=None, **kwargs):
    """*func* over the loop dimensions of *args*, whole core dimensions per call, by
    the gufunc *signature* (see the module docstring).  A tuple of arrays when the
    signature has several outputs."""
    in_core, out_core = parse_signature(signature)
    nout = len(out_core) if isinstance(out_core, list) else None
    out_core = out_core if nout else [out_core]
    if len(args) != len(in_core):
        raise ValueError(f"apply_gufunc: signature {signature!r} has {len(in_core)} inputs, "
                         f"got {len(args)} arguments")
    dtypes = _dtypes(output_dtypes, meta, nout)
    if vectorize:
        otypes = None if dtypes is None else [d.char for d in dtypes]
        func = np.vectorize(func, signature=signature, otypes=otypes)
    args = [asarray(a) for a in args]
    all_axes = _axes(axes, axis, keepdims, in_core, out_core)
    if all_axes is not None:
        from shoal.array.manipulation import moveaxis

        args = [moveaxis(a, ax, tuple(range(-len(ax), 0))) if ax else a
                for a, ax in zip(args, all_axes)]
    args = _core_chunks(args, in_core, allow_rechunk)
    sizes = _sizes(args, in_core)
    if dtypes is None:
        dtypes = _infer_dtypes(func, args, in_core, nout, kwargs)
    outs = _apply(func, args, in_core, out_core, nout, sizes, dtypes, output_sizes or {}, kwargs)
    outs = _placed(outs, in_core, out_core, keepdims, all_axes)
    return tuple(outs) if nout else outs[0]


def _apply(func, args, in_core, out_core, nout, sizes, dtypes, output_sizes, kwargs) -> list:
    from shoal.array.indexed import blockwise

    loop, inds = _indices(args, in_core)
    pairs = [v for a, ind in zip(args, inds) for v in (a, ind)]
    tmp = blockwise(func, loop, *pairs, dtype=object, concatenate=True,
                    token=f"gufunc-{getattr(func, '__name__', 'func')}", **kwargs)
    return [_output(tmp, i if nout else None, core, sizes, output_sizes, dt)
            for i, (core, dt) in enumerate(zip(out_core, dtypes))]


def _placed(outs, in_core, out_core, keepdims, all_axes) -> list:
    if keepdims:
        if any(c != in_core[0] for c in in_core):
            raise ValueError("apply_gufunc: keepdims=True needs the same core dimensions "
                             "on every input")
        from shoal.array.manipulation import expand_dims

        k = len(in_core[0])
        outs = [expand_dims(o, tuple(range(o.ndim, o.ndim + k))) for o in outs]
        out_core = [in_core[0]] * len(outs)
    if all_axes is None:
        return outs
    from shoal.array.manipulation import moveaxis

    return [moveaxis(o, tuple(range(-len(ax), 0)), ax) if ax else o
            for o, ax in zip(outs, all_axes[len(in_core):])]


class gufunc:
    """*pyfunc* as a generalized ufunc over shoal arrays: ``gufunc(f, signature=...)(x)``
    is ``apply_gufunc(f, signature, x, ...)`` with the options given here."""

    def __init__(self, pyfunc, *, signature=None, vectorize=False, axes=None, axis=None,
                 keepdims=False, output_sizes=None, output_dtypes=None, allow_rechunk=False,
                 meta=None):
        if not callable(pyfunc):
            raise TypeError(f"gufunc: pyfunc must be callable, got {pyfunc!r}")
        self.pyfunc = pyfunc
        self.signature = signature
        self.vectorize = vectorize
        self.axes, self.axis, self.keepdims = axes, axis, keepdims
        self.output_sizes, self.output_dtypes = output_sizes, output_dtypes
        self.allow_rechunk, self.meta = allow_rechunk, meta
        self.__doc__ = getattr(pyfunc, "__doc__", None)
        self.__name__ = getattr(pyfunc, "__name__", "gufunc")

    def __repr__(self):
        return f"<shoal.array.gufunc: {self.__name__}, signature={self.signature!r}>"

    def __call__(self, *args, allow_rechunk=False, **kwargs):
        return apply_gufunc(self.pyfunc, self.signature, *args, vectorize=self.vectorize,
                            axes=self.axes, axis=self.axis, keepdims=self.keepdims,
                            output_sizes=self.output_sizes, output_dtypes=self.output_dtypes,
                            allow_rechunk=self.allow_rechunk or allow_rechunk, meta=self.meta,
                            **kwargs)


def as_gufunc(signature=None, **kwargs):
    """Decorator: ``@as_gufunc("(i)->()")`` makes a function a :class:`gufunc`."""
    allowed = {"vectorize", "axes", "axis", "keepdims", "output_sizes", "output_dtypes",
               "allow_rechunk", "meta"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(f"as_gufunc: unsupported keyword arguments {unknown}")

    def wrap(pyfunc):
        return gufunc(pyfunc, signature=signature, **kwargs)

    return wrap

