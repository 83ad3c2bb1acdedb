"""Block-by-block operations: operators, ufuncs, ``where``, ``map_blocks``.

::

    elemwise(op, x, y, 2)      x: (1000, 800) chunks ((500, 500), (400, 400))
                               y: (800,)      chunks ((400, 400),)
      -> output shape by NumPy's broadcasting rules (right-aligned)
      -> one chunking per output dimension ("unify"): where several inputs span a
         dimension with different chunks, all are rechunked to the common
         refinement of their boundaries; inputs of length 1 there broadcast
         (their one block is reused for every output block)
      -> one task per output block: op(x_block, y_block, 2)

NumPy arrays among the arguments become blocked arrays split like the output (a
single element stays a literal); Python and NumPy scalars are literals.  The
result dtype is what ``op`` gives on one-element arrays of the input dtypes (with
the scalars themselves, so NumPy's promotion rules for Python scalars hold).

Blocks of the same output position depend only on their inputs' blocks, so a
chain of element-wise steps on one array is a linear chain the engine fuses into
one task per block (``shoal/core/optimize.py``).

``map_blocks`` is the general form: aligned blocks in, one block out, with the
output chunks, dropped axes and new axes given by the caller.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import warnings

import numpy as np

from shoal.array.core import Array, from_array
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.collection import merge_layers

__all__ = ["array_function", "array_ufunc", "broadcast_shapes", "elemwise", "map_blocks",
           "unify_chunks", "where"]


def _funcname(func) -> str:
    name = getattr(func, "__name__", None) or type(func).__name__
    return "lambda" if name == "<lambda>" else name.strip("_").replace("_", "-") or "func"


def broadcast_shapes(*shapes) -> tuple:
    """NumPy's broadcast of *shapes*; a ``ValueError`` names two that clash."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for d in range(ndim):
        size = 1
        owner = None
        for s in shapes:
            k = d - (ndim - len(s))
            if k < 0 or s[k] == 1:
                continue
            if size == 1:
                size, owner = s[k], s
            elif s[k] != size:
                raise ValueError(
                    f"operands could not be broadcast together with shapes {tuple(owner)} "
                    f"and {tuple(s)}: dimension {d} has lengths {size} and {s[k]}")
        out.append(size)
    return tuple(out)


def common_refinement(candidates) -> tuple:
    """Chunks whose boundaries include every candidate's boundaries."""
    first = candidates[0]
    if all(c == first for c in candidates[1:]):
        return first
    bounds = set()
    for c in candidates:
        pos = 0
        for n in c:
            pos += n
            bounds.add(pos)
    out, prev = [], 0
    for b in sorted(bounds):
        if b > prev:
            out.append(b - prev)
            prev = b
    return tuple(out) or (0,)


def unify_chunks(arrays, out_shape):
    """Output chunks for arrays broadcast to *out_shape*, and the arrays rechunked."""
    ndim = len(out_shape)
    out_chunks = []
    for d in range(ndim):
        cands = []
        for a in arrays:
            k = d - (ndim - a.ndim)
            if k >= 0 and a.shape[k] == out_shape[d]:
                cands.append(a.chunks[k])
        out_chunks.append(common_refinement(cands) if cands else (out_shape[d],))
    fixed = []
    for a in arrays:
        want = tuple(
            a.chunks[k] if a.shape[k] != out_shape[k + ndim - a.ndim] else out_chunks[k + ndim - a.ndim]
            for k in range(a.ndim))
        fixed.append(a if want == a.chunks else a.rechunk(want))
    return tuple(out_chunks), fixed


def _prepare_args(args):
    """Arrays, NumPy arrays and literals -> (args, the arrays among them)."""
    out = []
    for a in args:
        if isinstance(a, Array) or isinstance(a, (numbers.Number, np.generic, str, bytes)) or a is None:
            out.append(a)
        elif isinstance(a, np.ndarray):
            out.append(a)
        elif hasattr(a, "__dask_graph__"):
            raise TypeError(f"cannot mix a shoal array with a {type(a).__name__}; "
                            "convert it first (shoal.array.from_delayed / from_array)")
        elif isinstance(a, (list, tuple)):
            out.append(np.asarray(a))
        else:
            out.append(a)
    return out


def _trial(x):
    if isinstance(x, Array):
        return np.ones((1,) * x.ndim, dtype=x.dtype)
    if isinstance(x, np.ndarray) and x.size > 1:
        return np.ones((1,) * x.ndim, dtype=x.dtype)
    return x


def _infer_dtype(op, args, kwargs):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = op(*[_trial(a) for a in args], **kwargs)
        except Exception:
            # an object array's stand-in holds the int 1, which text does not add to:
            # object in, object out (NumPy's answer for object operands)
            if any(getattr(a, "dtype", None) == object for a in args):
                return np.dtype(object)
            raise
    return np.asarray(out).dtype


def _output(ufunc, index, *blocks, **kwargs):
    """Output *index* of a ufunc with several (``np.modf``: fractional and integral parts)."""
    return ufunc(*blocks, **kwargs)[index]


def _block_args(args, idx, ndim) -> list:
    """Task arguments for block *idx*: each Array becomes a ref to its matching
    block (broadcast dimensions of one block use block 0), the rest stay as is."""
    out = []
    for a in args:
        if isinstance(a, Array):
            off = ndim - a.ndim
            out.append(Ref((a.name, *[idx[k + off] if n > 1 else 0
                                      for k, n in enumerate(a.numblocks)])))
        else:
            out.append(a)
    return out


def elemwise(op, *args, dtype=None, token=None, op_kwargs=None, **kwargs):
    """``op`` applied block by block with NumPy broadcasting; see the module docstring.

    ``dtype`` is the result's dtype (inferred when omitted); keyword arguments for
    ``op`` itself that clash with these names go in ``op_kwargs``.
    """
    if op_kwargs:
        kwargs = {**kwargs, **op_kwargs}
    args = _prepare_args(args)
    shapes = [a.shape for a in args if isinstance(a, (Array, np.ndarray))]
    out_shape = broadcast_shapes(*shapes)
    if dtype is None:
        dtype = _infer_dtype(op, args, kwargs)
    arrays = [a for a in args if isinstance(a, Array)]
    out_chunks, _ = unify_chunks(arrays, out_shape)
    ndim = len(out_shape)
    converted = []
    for a in args:  # NumPy arrays: split like the output; single elements stay literal
        if isinstance(a, np.ndarray) and a.size > 1:
            ch = tuple((a.shape[k],) if a.shape[k] == 1 else out_chunks[k + ndim - a.ndim]
                       for k in range(a.ndim))
            a = from_array(a, chunks=ch)
        converted.append(a)
    arrays = [a for a in converted if isinstance(a, Array)]
    out_chunks, fixed = unify_chunks(arrays, out_shape)
    swap = dict(zip(map(id, arrays), fixed))
    args = [swap.get(id(a), a) if isinstance(a, Array) else a for a in converted]
    name = f"{token or _funcname(op)}-{tokenize(op, args, kwargs, dtype)}"
    numblocks = tuple(len(c) for c in out_chunks)
    layer = {}
    for idx in np.ndindex(*numblocks):
        key = (name, *idx)
        layer[key] = Task(key, op, *_block_args(args, idx, ndim), **kwargs)
    return Array(merge_layers(*args, name=name, layer=layer), name, out_chunks, dtype)


def where(condition, x=None, y=None):
    """``numpy.where(condition, x, y)`` block by block (the one-argument form is not
    supported: its result's length is unknown until computed)."""
    if x is None and y is None:
        raise NotImplementedError("where(condition) needs x and y: nonzero() has a data-dependent shape")
    return elemwise(np.where, condition, x, y, token="where")


# -- map_blocks ----------------------------------------------------------------------

def _takes(func, name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _locations(chunks, idx) -> list:
    """``[(start, stop), ...]`` of block *idx* along each dimension."""
    out = []
    for c, i in zip(chunks, idx):
        start = sum(c[:i])
        out.append((start, start + c[i]))
    return out


def _block_info(args, in_idx, ndim, out_chunks, idx, dtype) -> dict:
    """Dask's ``block_info``: by argument position, each array's shape, number of blocks,
    this block's place and its element range; under None, the output's."""
    info = {}
    for pos, a in enumerate(args):
        if isinstance(a, Array):
            off = ndim - a.ndim
            where = [in_idx[k + off] if n > 1 else 0 for k, n in enumerate(a.numblocks)]
            info[pos] = {"shape": a.shape, "num-chunks": a.numblocks, "chunk-location": tuple(where),
                         "array-location": _locations(a.chunks, where)}  # fmt: skip
    info[None] = {"shape": tuple(sum(c) for c in out_chunks),
                  "num-chunks": tuple(len(c) for c in out_chunks), "chunk-location": idx,
                  "array-location": _locations(out_chunks, idx),
                  "chunk-shape": tuple(c[i] for c, i in zip(out_chunks, idx)), "dtype": dtype}
    return info


def map_blocks(func, *args, dtype=None, chunks=None, drop_axis=(), new_axis=None, name=None,
               token=None, meta=None, enforce_ndim=False, **kwargs):
    """Apply ``func`` to the aligned blocks of the arrays in *args*.

    Arrays are aligned like NumPy broadcasting aligns dimensions (right to left);
    along each dimension they must have the same number of blocks, or one.
    ``chunks`` gives the output chunks (tuples of lengths, or one length per
    dimension meaning every block has it); by default they are the inputs'.
    ``drop_axis`` removes dimensions (inputs are rechunked to one block along them)
    and ``new_axis`` inserts new ones (length 1 unless ``chunks`` says otherwise).
    ``func`` gets ``block_id=(i, j, ...)`` and ``block_info`` (Dask's: the blocks'
    shapes and places, by argument position, the output's under None) when it takes
    them.  ``dtype`` (or ``meta``'s) defaults to what ``func`` returns on small arrays
    of ones, or else the first array's dtype.  ``enforce_ndim`` checks each block's
    result has the output's number of dimensions.
    """
    if dtype is None and meta is not None:
        dtype = np.asarray(meta).dtype
    arrays = [a for a in args if isinstance(a, Array)]
    if not arrays:
        raise ValueError("map_blocks needs at least one shoal array among the arguments")
    ndim = max(a.ndim for a in arrays)
    drop = sorted({d % ndim for d in ([drop_axis] if isinstance(drop_axis, int) else drop_axis)}) if ndim else []
    # align: dimensions with several blocks must agree; dropped ones become one block
    fixed = []
    for a in arrays:
        off = ndim - a.ndim
        want = {k: -1 for k in range(a.ndim) if k + off in drop and a.numblocks[k] > 1}
        fixed.append(a.rechunk(want) if want else a)
    in_chunks = []
    for d in range(ndim):
        cands = [a.chunks[d - (ndim - a.ndim)] for a in fixed if d - (ndim - a.ndim) >= 0]
        many = [c for c in cands if len(c) > 1]
        if many and any(len(c) != len(many[0]) for c in many):
            raise ValueError(f"map_blocks: the arrays have {sorted({len(c) for c in many})} "
                             f"blocks along dimension {d}; rechunk them to match")
        if many:
            same = [a for a in fixed if d - (ndim - a.ndim) >= 0
                    and len(a.chunks[d - (ndim - a.ndim)]) > 1]
            shapes = {a.shape[d - (ndim - a.ndim)] for a in same}
            if len(shapes) == 1 and any(c != many[0] for c in many):
                ref = common_refinement(many)
                raise ValueError(f"map_blocks: arrays are split differently along dimension {d} "
                                 f"(e.g. {many[0]} and {ref}); rechunk them to match")
        in_chunks.append(many[0] if many else max(cands, key=sum))
    swap = dict(zip(map(id, arrays), fixed))
    args = [swap.get(id(a), a) if isinstance(a, Array) else a for a in args]
    # output geometry
    out_chunks = [c for d, c in enumerate(in_chunks) if d not in drop]
    new = [] if new_axis is None else ([new_axis] if isinstance(new_axis, int) else list(new_axis))
    out_ndim = len(out_chunks) + len(new)
    new = sorted(n % out_ndim for n in new)
    for n in new:
        out_chunks.insert(n, (1,))
    if chunks is not None:
        if len(chunks) != out_ndim:
            raise ValueError(f"map_blocks: chunks={chunks!r} has {len(chunks)} entries for an "
                             f"output with {out_ndim} dimensions")
        out_chunks = [tuple(c) if isinstance(c, (tuple, list)) else (int(c),) * len(out_chunks[d])
                      for d, c in enumerate(chunks)]
    out_chunks = tuple(tuple(c) for c in out_chunks)
    if dtype is None:
        try:
            trial = [_trial(a) if isinstance(a, Array) else a for a in args]
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dtype = np.asarray(func(*trial, **kwargs)).dtype
        except Exception:
            dtype = arrays[0].dtype
    block_id, block_info = _takes(func, "block_id"), _takes(func, "block_info")
    name = name or f"{token or _funcname(func)}-{tokenize(func, args, kwargs, dtype, out_chunks, drop, new)}"
    kept = [d for d in range(out_ndim) if d not in new]  # output dims that come from inputs
    layer = {}
    for idx in np.ndindex(*[len(c) for c in out_chunks]):
        in_idx = [0] * ndim
        rest = iter(idx[d] for d in kept)
        for d in range(ndim):
            if d not in drop:
                in_idx[d] = next(rest)
        targs = _block_args(args, in_idx, ndim)
        key = (name, *idx)
        kw = dict(kwargs, block_id=idx) if block_id else kwargs
        if block_info:
            kw = dict(kw, block_info=_block_info(args, in_idx, ndim, out_chunks, idx, dtype))
        if enforce_ndim:
            layer[key] = Task(key, _with_ndim, func, out_ndim, list(targs), kw)
        else:
            layer[key] = Task(key, func, *targs, **kw)
    return Array(merge_layers(*args, name=name, layer=layer), name, out_chunks, dtype)


def _with_ndim(func, ndim, args, kwargs):
    out = func(*args, **kwargs)
    if np.ndim(out) != ndim:
        raise ValueError(f"map_blocks(enforce_ndim=True): a block's result has {np.ndim(out)} "
                         f"dimensions, the output {ndim}")
    return out


# -- NumPy protocols ---------------------------------------------------------------------

def _known(x) -> bool:
    return isinstance(x, (Array, np.ndarray, numbers.Number, np.generic, list, tuple)) or x is None


def array_ufunc(ufunc, method, inputs, kwargs):
    if kwargs.get("out") is not None:
        return NotImplemented  # writing into an existing array is not lazy
    kwargs = {k: v for k, v in kwargs.items() if k != "out"}
    if method == "__call__" and np.ndim(kwargs.get("where", True)) > 0 and all(map(_known, inputs)):
        from shoal.array.ufuncs import _apply  # (a where= array: one more aligned input)

        return _apply(ufunc, inputs, kwargs)
    if not all(_known(x) for x in inputs) or any(isinstance(v, Array) for v in kwargs.values()):
        return NotImplemented  # e.g. where= given as a shoal array
    if method == "__call__":
        if ufunc is np.matmul:
            from shoal.array.linalg import matmul

            return matmul(*inputs)
        if ufunc.nout > 1:  # one lazy array per output (it was one array of them stacked)
            return tuple(elemwise(functools.partial(_output, ufunc, i), *inputs, op_kwargs=kwargs,
                                  token=f"{ufunc.__name__}-{i}") for i in range(ufunc.nout))
        return elemwise(ufunc, *inputs, op_kwargs=kwargs)
    if method == "reduce" and len(inputs) == 1 and isinstance(inputs[0], Array):
        from shoal.array import reductions

        how = {np.add: "sum", np.multiply: "prod", np.minimum: "min", np.maximum: "max",
               np.logical_or: "any", np.logical_and: "all"}.get(ufunc)
        if how is not None and not set(kwargs) - {"axis", "keepdims", "dtype"}:
            axis = kwargs.get("axis", 0)
            return getattr(reductions, how)(inputs[0], axis=axis, keepdims=kwargs.get("keepdims", False),
                                            **({"dtype": kwargs["dtype"]} if "dtype" in kwargs else {}))
    return NotImplemented


def _np_clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):
    """``np.clip`` of a shoal array, in NumPy's spellings (``a_min``/``a_max`` or ``min``/``max``)."""
    if out is not None or kwargs:
        given = ["out="] if out is not None else []
        raise NotImplementedError(f"numpy.clip of a shoal array: "
                                  f"{', '.join(given + [f'{k}=' for k in kwargs])} not supported")
    return Array.clip(a, a_min if min is None else min, a_max if max is None else max)


def _no_out(impl):
    """*impl* for NumPy's spelling ``f(a, axis=None, dtype=None, out=None)``."""

    def call(a, axis=None, dtype=None, out=None):
        if out is not None:
            raise NotImplementedError(f"numpy.{impl.__name__} of a shoal array: out= not supported")
        return impl(a, axis=axis, dtype=dtype)

    return call


def _handled():
    from shoal.array import creation, cumulative, linalg, reductions
    from shoal.array.rechunk import reshape, squeeze, transpose

    table = {
        np.sum: reductions.sum, np.prod: reductions.prod, np.mean: reductions.mean,
        np.var: reductions.var, np.std: reductions.std, np.min: reductions.min,
        np.max: reductions.max, np.amin: reductions.min, np.amax: reductions.max,
        np.any: reductions.any, np.all: reductions.all, np.argmin: reductions.argmin,
        np.argmax: reductions.argmax, np.nansum: reductions.nansum,
        np.nanprod: reductions.nanprod, np.nanmin: reductions.nanmin,
        np.nanmax: reductions.nanmax, np.nanmean: reductions.nanmean,
        np.nanvar: reductions.nanvar, np.nanstd: reductions.nanstd, np.where: where,
        np.cumsum: _no_out(cumulative.cumsum), np.cumprod: _no_out(cumulative.cumprod),
        np.histogram: reductions.histogram, np.concatenate: creation.concatenate,
        np.stack: creation.stack, np.transpose: transpose, np.reshape: reshape,
        np.ravel: lambda x: reshape(x, (-1,)), np.squeeze: squeeze,
        np.dot: linalg.dot, np.tensordot: linalg.tensordot, np.round: Array.round,
        np.clip: _np_clip, np.shape: lambda x: x.shape, np.ndim: lambda x: x.ndim,
        np.size: lambda x, axis=None: x.size if axis is None else x.shape[axis],
        np.result_type: lambda *a: np.result_type(*[x.dtype if isinstance(x, Array) else x for x in a]),
    }
    import shoal.array as sa

    table[np.take] = _np_take  # (NumPy's axis defaults to None, Dask's to 0)

    for module, ours, names in ((np, sa, _SAME_NAMES), (np.linalg, sa.linalg, _LINALG_NAMES),
                                (np.fft, sa.fft, _FFT_NAMES)):  # fmt: skip
        for name in names:
            table.setdefault(getattr(module, name), getattr(ours, name))
    return table


def _np_take(a, indices, axis=None, out=None, mode="raise"):
    if out is not None or mode != "raise":
        raise NotImplementedError("numpy.take of a shoal array: out= and mode= not supported")
    from shoal.array.manipulation import take

    return take(a, indices, axis=axis)


#: NumPy functions shoal.array has under the same name and arguments (``np.median(x)``
#: of a shoal array builds shoal's graph, as ``np.sum(x)`` does).
_SAME_NAMES = (
    "allclose", "atleast_1d", "atleast_2d", "atleast_3d", "average", "bincount", "block",
    "broadcast_arrays", "broadcast_to", "corrcoef", "count_nonzero", "cov", "diag", "diagonal",
    "diff", "digitize", "dstack", "einsum", "expand_dims", "flip", "fliplr", "flipud", "hstack",
    "isclose", "isin", "median", "meshgrid", "moveaxis", "nanargmax", "nanargmin", "nancumprod",
    "nancumsum", "nanmedian", "nanpercentile", "nanquantile", "outer", "pad", "ptp", "quantile",
    "repeat", "roll", "rollaxis", "rot90", "searchsorted", "swapaxes", "tile", "trace", "tril",
    "triu", "unique", "vstack", "histogram2d", "histogramdd", "sinc", "vdot", "choose",
    "compress", "extract",
    "angle", "append", "apply_along_axis", "argwhere", "around", "delete", "ediff1d", "fix",
    "flatnonzero", "float_power", "gradient", "imag", "insert", "iscomplex", "isneginf",
    "isposinf", "isreal", "nan_to_num", "nonzero", "piecewise", "real", "select", "signbit",
    "union1d",
)  # fmt: skip
_LINALG_NAMES = ("cholesky", "inv", "lstsq", "norm", "qr", "solve", "svd")
_FFT_NAMES = ("fft", "fft2", "fftn", "fftshift", "hfft", "ifft", "ifft2", "ifftn", "ifftshift",
              "ihfft", "irfft", "irfft2", "irfftn", "rfft", "rfft2", "rfftn")  # fmt: skip


_TABLE: dict = {}
#: NumPy reductions whose arguments are read by NumPy's own signature (``np.sum(x, 0,
#: None, None, True)``: its fifth is keepdims; shoal's own order differs)
_REDUCTIONS = frozenset({np.sum, np.prod, np.mean, np.var, np.std, np.min, np.max, np.amin,
                         np.amax, np.any, np.all, np.argmin, np.argmax, np.nansum, np.nanprod,
                         np.nanmin, np.nanmax, np.nanmean, np.nanvar, np.nanstd})


def _as_numpy_called(func, impl, args, kwargs) -> tuple:
    """``(array, kwargs)`` for *impl*, from a call written against NumPy's *func*: the
    arguments given (not left at NumPy's defaults) by name, each one *impl* takes; one it
    does not (``out=``, ``where=``, ``initial=``) is named in a NotImplementedError."""
    signature = inspect.signature(func)
    bound = signature.bind(*args, **kwargs).arguments
    x = bound.pop(next(iter(signature.parameters)))
    given = {k: v for k, v in bound.items() if v is not signature.parameters[k].default}
    unknown = sorted(set(given) - set(inspect.signature(impl).parameters))
    if unknown:
        raise NotImplementedError(f"numpy.{func.__name__} of a shoal array: "
                                  f"{', '.join(f'{k}=' for k in unknown)} not supported")
    return x, given


def array_function(func, types, args, kwargs):
    if not _TABLE:
        _TABLE.update(_handled())
    impl = _TABLE.get(func)
    if impl is not None and func in _REDUCTIONS:
        x, given = _as_numpy_called(func, impl, args, kwargs)
        return impl(x, **given)
    if impl is not None:
        return impl(*args, **kwargs)
    warnings.warn(
        f"numpy.{getattr(func, '__name__', func)} has no blocked implementation in "
        "shoal.array: the shoal arrays among its arguments are computed first",
        UserWarning, stacklevel=3)
    args, kwargs = _computed(args), _computed(kwargs)
    return func(*args, **kwargs)


def _computed(obj):
    if isinstance(obj, Array):
        return obj.compute()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_computed(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _computed(v) for k, v in obj.items()}
    return obj


# -- operators on Array ---------------------------------------------------------------

def _install():
    binary = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
              "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power,
              "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
              "lshift": np.left_shift, "rshift": np.right_shift}
    for name, uf in binary.items():
        setattr(Array, f"__{name}__", (lambda u: lambda self, other: elemwise(u, self, other))(uf))
        setattr(Array, f"__r{name}__", (lambda u: lambda self, other: elemwise(u, other, self))(uf))
    for name, uf in {"lt": np.less, "le": np.less_equal, "eq": np.equal, "ne": np.not_equal,
                     "gt": np.greater, "ge": np.greater_equal}.items():
        setattr(Array, f"__{name}__", (lambda u: lambda self, other: elemwise(u, self, other))(uf))
    for name, uf in {"neg": np.negative, "pos": np.positive, "invert": np.invert,
                     "abs": np.absolute}.items():
        setattr(Array, f"__{name}__", (lambda u: lambda self: elemwise(u, self))(uf))
    Array.__hash__ = object.__hash__


_install()  # the operators are NumPy ufuncs, so results get NumPy's dtypes


UFUNCS = (
    "absolute", "add", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
    "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "cbrt", "ceil", "conj", "cos", "cosh",
    "deg2rad", "degrees", "divide", "equal", "exp", "exp2", "expm1", "fabs", "floor", "floor_divide",
    "fmax", "fmin", "fmod", "greater", "greater_equal", "hypot", "invert", "isfinite", "isinf",
    "isnan", "less", "less_equal", "log", "log10", "log1p", "log2", "logaddexp", "logical_and",
    "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "mod", "multiply",
    "negative", "not_equal", "power", "rad2deg", "radians", "reciprocal", "remainder", "rint",
    "sign", "sin", "sinh", "sqrt", "square", "subtract", "tan", "tanh", "true_divide", "trunc",
)
