"""Every NumPy distribution on the block-wise random states of ``random.py``.

::

    _DISTRIBUTIONS["gamma"] = (("shape", REQUIRED), ("scale", 1.0)), float
      -> RandomState.gamma(shape, scale=1.0, size=None, chunks="auto")
      -> shoal.array.random.gamma(..., seed=None)        (the module-level form)

One builder, :meth:`Distributions._draw`, makes every array: the call spawns the
next child of the state's ``SeedSequence``; block ``(i, j)`` (flat index ``f``)
is ``Generator(PCG64(child stream f)).<method>(*params, size=block shape)``.
Parameters that are arrays (NumPy or shoal) broadcast against ``size`` as in
NumPy; each block receives the matching block of every parameter (rechunked
like the output, a length-1 dimension reused), so the numbers stay a function of
the seed, the call's place in the state's sequence and the chunks.

Special cases: ``multinomial`` / ``multivariate_hypergeometric`` add a trailing
axis (one block along it); ``choice`` takes ``a`` (an int or 1-D array) and
``p`` whole into every block, and ``replace=False`` draws the whole sample in
one task (its length is at most ``len(a)``) and rechunks it; ``permutation``
draws a permutation of ``len(x)`` from the seed on the client and indexes
``x`` with it (Dask does the same).  Block numbers always come from NumPy's
``Generator``, also under the ``RandomState`` names (``randint`` ->
``integers``, ``random_integers`` -> ``integers(endpoint=True)``), so they
differ from ``numpy.random.RandomState(seed)``'s numbers, as Dask's do.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from shoal.array.chunking import normalize_chunks
from shoal.array.core import Array, from_array
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["DISTRIBUTIONS", "Distributions", "module_functions"]

REQUIRED = inspect.Parameter.empty
_F, _I = np.dtype(np.float64), np.dtype(np.int64)

#: name -> (parameters with defaults (REQUIRED: none), result dtype)
DISTRIBUTIONS = {
    "beta": ((("a", REQUIRED), ("b", REQUIRED)), _F),
    "binomial": ((("n", REQUIRED), ("p", REQUIRED)), _I),
    "chisquare": ((("df", REQUIRED),), _F),
    "exponential": ((("scale", 1.0),), _F),
    "f": ((("dfnum", REQUIRED), ("dfden", REQUIRED)), _F),
    "gamma": ((("shape", REQUIRED), ("scale", 1.0)), _F),
    "geometric": ((("p", REQUIRED),), _I),
    "gumbel": ((("loc", 0.0), ("scale", 1.0)), _F),
    "hypergeometric": ((("ngood", REQUIRED), ("nbad", REQUIRED), ("nsample", REQUIRED)), _I),
    "laplace": ((("loc", 0.0), ("scale", 1.0)), _F),
    "logistic": ((("loc", 0.0), ("scale", 1.0)), _F),
    "lognormal": ((("mean", 0.0), ("sigma", 1.0)), _F),
    "logseries": ((("p", REQUIRED),), _I),
    "negative_binomial": ((("n", REQUIRED), ("p", REQUIRED)), _I),
    "noncentral_chisquare": ((("df", REQUIRED), ("nonc", REQUIRED)), _F),
    "noncentral_f": ((("dfnum", REQUIRED), ("dfden", REQUIRED), ("nonc", REQUIRED)), _F),
    "normal": ((("loc", 0.0), ("scale", 1.0)), _F),
    "pareto": ((("a", REQUIRED),), _F),
    "poisson": ((("lam", 1.0),), _I),
    "power": ((("a", REQUIRED),), _F),
    "rayleigh": ((("scale", 1.0),), _F),
    "standard_cauchy": ((), _F),
    "standard_exponential": ((), _F),
    "standard_gamma": ((("shape", REQUIRED),), _F),
    "standard_normal": ((), _F),
    "standard_t": ((("df", REQUIRED),), _F),
    "triangular": ((("left", REQUIRED), ("mode", REQUIRED), ("right", REQUIRED)), _F),
    "uniform": ((("low", 0.0), ("high", 1.0)), _F),
    "vonmises": ((("mu", REQUIRED), ("kappa", REQUIRED)), _F),
    "wald": ((("mean", REQUIRED), ("scale", REQUIRED)), _F),
    "weibull": ((("a", REQUIRED),), _F),
    "zipf": ((("a", REQUIRED),), _I),
}

#: methods that take a ``dtype=`` (float32 or float64) in NumPy's Generator
_FLOAT_DTYPE = {"standard_exponential", "standard_gamma", "standard_normal"}


def random_block(entropy, spawn_key, method, shape, args, kwargs):
    """One block: the numbers of stream *spawn_key* under *entropy*."""
    seq = np.random.SeedSequence(entropy, spawn_key=spawn_key)
    rng = np.random.Generator(np.random.PCG64(seq))
    return getattr(rng, method)(*args, size=shape, **kwargs)


def _size(size) -> tuple:
    if size is None:
        return ()
    if isinstance(size, numbers.Integral):
        return (int(size),)
    return tuple(int(s) for s in size)


def _broadcast(shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"random parameters of shapes {list(shapes)} do not broadcast "
                         "together") from None


def _whole(x, what):
    """*x* as an Array in one block (``a`` / ``p`` of choice), or a NumPy literal."""
    if isinstance(x, Array):
        if x.ndim != 1:
            raise ValueError(f"{what} must be one-dimensional")
        return x.rechunk(-1)
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional")
    return x


def _distribution(name, params, dtype):
    """The ``RandomState`` method for table entry *name*."""
    sig = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    sig += [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
            for p, d in params]
    sig += [inspect.Parameter("size", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
            inspect.Parameter("chunks", inspect.Parameter.POSITIONAL_OR_KEYWORD, default="auto")]
    if name in _FLOAT_DTYPE:
        sig.append(inspect.Parameter("dtype", inspect.Parameter.KEYWORD_ONLY, default=np.float64))
    signature = inspect.Signature(sig)

    def method(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        self = a.pop("self")
        values = tuple(a[p] for p, _ in params)
        kw, out = {}, dtype
        if name in _FLOAT_DTYPE:
            out = np.dtype(a["dtype"])
            if out != np.float64:
                kw["dtype"] = out
        return self._draw(name, a["size"], a["chunks"], out, values, kw)

    method.__name__ = method.__qualname__ = name
    method.__signature__ = signature
    args = ", ".join(p for p, _ in params)
    method.__doc__ = (f"Samples of NumPy's ``Generator.{name}({args}{', ' if args else ''}size)``, "
                      "block by block; array parameters broadcast against *size*.")
    return method


class Distributions:
    """Every distribution, mixed into ``RandomState`` (which provides ``_seq``)."""

    def _child(self):
        child = self._seq.spawn(1)[0]
        return child.entropy, tuple(child.spawn_key)

    def _draw(self, method, size, chunks, dtype, params=(), kwargs=None, prefix=None, extra=(),
              whole=False, deps=()):
        """The array of *method* samples: *params* broadcast, *kwargs* passed to every block
        as given (they may hold refs to the one-block arrays in *deps*), *extra* trailing
        dimensions each block adds (one block along them), *whole*: one task, rechunked."""
        kwargs = kwargs or {}
        dtype = np.dtype(dtype)
        params = [p if isinstance(p, Array) or np.ndim(p) == 0 else np.asarray(p) for p in params]
        pshapes = [p.shape for p in params if np.ndim(p) != 0 or isinstance(p, Array)]
        if size is None:
            shape = _broadcast(pshapes)
        else:
            shape = _size(size)
            if _broadcast([shape, *pshapes]) != shape:
                raise ValueError(f"{method}: parameters of shapes {pshapes} do not broadcast "
                                 f"to size={shape}")
        lazy = [p for p in params if isinstance(p, Array) and p.shape == shape]
        if isinstance(chunks, str) and chunks == "auto" and lazy and not whole:
            chunks = lazy[0].chunks
        else:
            chunks = normalize_chunks(chunks, shape, dtype)
        ndim = len(shape)
        ready = []
        for p in params:
            if isinstance(p, np.ndarray) and p.ndim:
                p = from_array(p, chunks=tuple((n,) for n in p.shape))
            if isinstance(p, Array):
                off = ndim - p.ndim
                want = tuple((n,) if n == 1 and shape[k + off] != 1 else chunks[k + off]
                             for k, n in enumerate(p.shape))
                if want != p.chunks:
                    p = p.rechunk(want)
            ready.append(p)
        entropy, spawn_key = self._child()
        token = tokenize(entropy, spawn_key, method, chunks, ready, kwargs, whole, extra)
        name = f"{prefix or method.replace('_', '-')}-{token}"
        tail = (0,) * len(extra)
        layer = {}
        if whole:
            wname = name + "-whole"
            key = (wname, *([0] * (ndim + len(extra))))
            one = {key: Task(key, random_block, entropy, spawn_key + (0,), method, shape,
                             tuple(ready), kwargs)}
            full = Array(merge_layers(*ready, *deps, name=wname, layer=one), wname,
                         tuple((n,) for n in shape + tuple(extra)), dtype)
            return full.rechunk(tuple(chunks) + tuple((e,) for e in extra))
        numblocks = [len(c) for c in chunks]
        for flat, idx in enumerate(np.ndindex(*numblocks)):
            bshape = tuple(c[i] for c, i in zip(chunks, idx))
            args = []
            for p in ready:
                if isinstance(p, Array):
                    off = ndim - p.ndim
                    args.append(Ref((p.name, *[idx[k + off] if n > 1 else 0
                                               for k, n in enumerate(p.numblocks)])))
                else:
                    args.append(p)
            key = (name, *idx, *tail)
            layer[key] = Task(key, random_block, entropy, spawn_key + (flat,), method, bshape,
                              tuple(args), kwargs)
        out_chunks = tuple(chunks) + tuple((e,) for e in extra)
        return Array(merge_layers(*ready, *deps, name=name, layer=layer), name, out_chunks, dtype)

    # -- the ones that do not fit the table ------------------------------------------
    def multinomial(self, n, pvals, size=None, chunks="auto"):
        """Counts of ``len(pvals)`` outcomes in *n* trials; the outcomes are a trailing
        axis (one block along it), after *size*."""
        pvals = np.asarray(pvals.compute() if isinstance(pvals, Array) else pvals, dtype=float)
        if pvals.ndim != 1:
            raise NotImplementedError("multinomial: pvals must be one-dimensional")
        return self._draw("multinomial", size, chunks, _I, (n,), {"pvals": pvals},
                          extra=(len(pvals),))

    def multivariate_hypergeometric(self, colors, nsample, size=None, method="marginals",
                                    chunks="auto"):
        """Draws of *nsample* items from urns of ``colors``; colours are a trailing axis."""
        colors = np.asarray(colors.compute() if isinstance(colors, Array) else colors)
        if colors.ndim != 1:
            raise ValueError("multivariate_hypergeometric: colors must be one-dimensional")
        return self._draw("multivariate_hypergeometric", size, chunks, _I, (),
                          {"colors": colors, "nsample": nsample, "method": method},
                          extra=(len(colors),))

    def choice(self, a, size=None, replace=True, p=None, chunks="auto"):
        """Samples of ``a`` (an int: ``arange(a)``; or a 1-D array), with probabilities
        *p*.  Every block gets ``a`` and ``p`` whole; ``replace=False`` is drawn in
        one task (at most ``len(a)`` values) and then split into *chunks*."""
        deps = []
        if isinstance(a, numbers.Integral):
            if a <= 0:
                raise ValueError("choice: a must be a positive integer")
            n, dtype, a_arg = int(a), _I, int(a)
        else:
            a = _whole(a, "choice: a")
            n, dtype = a.shape[0], a.dtype
            if n == 0:
                raise ValueError("choice: a must not be empty")
            a_arg = a
        kw = {"replace": bool(replace), "a": a_arg}
        if p is not None:
            p = _whole(p, "choice: p")
            if p.shape[0] != n:
                raise ValueError(f"choice: a and p have different lengths ({n} and {p.shape[0]})")
            if isinstance(p, np.ndarray) and not np.isclose(p.sum(), 1, rtol=1e-7, atol=0):
                raise ValueError("choice: probabilities do not sum to 1")
            kw["p"] = p
        for k in ("a", "p"):
            if isinstance(kw.get(k), Array):
                deps.append(kw[k])
                kw[k] = Ref((kw[k].name, 0))
        shape = _size(size)
        if not replace and int(np.prod(shape)) > n:
            raise ValueError(f"choice: cannot take {int(np.prod(shape))} samples from {n} "
                             "without replacement")
        # a and p ride in kwargs: positional params would be broadcast, these are whole
        return self._draw("choice", shape, chunks, dtype, (), kw, whole=not replace, deps=deps)

    def permutation(self, x):
        """A random permutation of ``arange(x)`` (an int), or of a shoal array's first
        axis: the order is drawn from the seed when called and applied by indexing
        (``x[order]``), as Dask does."""
        from shoal.array.core import asarray
        from shoal.array.creation import arange

        x = arange(int(x), chunks="auto") if isinstance(x, numbers.Integral) else asarray(x)
        if x.ndim == 0:
            raise ValueError("permutation: x must be an int or at least one-dimensional")
        entropy, spawn_key = self._child()
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy,
                                                                         spawn_key=spawn_key)))
        return x[rng.permutation(x.shape[0])]

    def shuffle(self, x):
        """Not supported: shoal arrays are immutable (so are Dask's, which has no
        ``shuffle``); use ``permutation(x)``, which returns the shuffled array."""
        raise NotImplementedError("shuffle works in place, and shoal arrays are immutable: "
                                  "use permutation(x), which returns a shuffled copy")

    def random_integers(self, low, high=None, size=None, chunks="auto"):
        """Integers in [low, high] (both ends; [1, low] without *high*), NumPy's
        deprecated ``RandomState.random_integers``."""
        if high is None:
            low, high = 1, low
        return self._draw("integers", size, chunks, _I, (low, high), {"endpoint": True},
                          prefix="random-integers")


for _name, (_params, _dtype) in DISTRIBUTIONS.items():
    setattr(Distributions, _name, _distribution(_name, _params, _dtype))


def module_functions(state, names):
    """Module-level forms of the methods *names*: the same arguments plus ``seed=``
    (None: the shared state; an int or a state: a fresh ``RandomState(seed)``)."""
    out = {}
    for name in names:
        def function(*args, seed=None, _name=name, **kwargs):
            return getattr(state(seed), _name)(*args, **kwargs)

        meth = getattr(Distributions, name)
        params = list(inspect.signature(meth).parameters.values())[1:]
        kwonly = [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
        rest = [p for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        seed = inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, default=None)
        function.__signature__ = inspect.Signature(rest + kwonly + [seed])
        function.__name__ = function.__qualname__ = name
        function.__doc__ = meth.__doc__
        out[name] = function
    return out
