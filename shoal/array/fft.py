"""Discrete Fourier transforms over blocks, spelled like ``numpy.fft`` / ``dask.array.fft``.

A transform mixes every element along its axes, so each transformed axis must
already be ONE block; the other axes stay split and every block is transformed
on its own, in one task::

    x: chunks ((100, 100, 100), (256,))      fft(x, axis=1)

    block (0, 0) --> np.fft.fft(block, axis=1) --> out (0, 0)   shape (100, n)
    block (1, 0) --> np.fft.fft(block, axis=1) --> out (1, 0)
    block (2, 0) --> np.fft.fft(block, axis=1) --> out (2, 0)

An axis split into several blocks is refused with an error naming it and the
``rechunk`` that fixes it (as Dask does: a hidden all-to-all rechunk would be
the expensive part).  The output length along a transformed axis follows from
the kind of transform (``n`` / ``s`` when given): complex ``n``; ``rfft`` and
``ihfft`` ``n // 2 + 1``; ``irfft`` and ``hfft`` ``n`` or ``2 * (m - 1)``.

``fft_wrap`` makes such a function from any ``numpy.fft``-like transform (e.g.
``scipy.fft.fft``); the transform itself is the per-block kernel (it must pickle
by reference for the process and distributed schedulers).  ``fftfreq`` /
``rfftfreq`` build the frequencies block by block from ``arange``;
``fftshift`` / ``ifftshift`` are slices and one ``concatenate`` per axis.
"""

from __future__ import annotations

import numbers

import numpy as np

from shoal.array.core import Array, asarray

__all__ = ["fft", "fft2", "fft_wrap", "fftfreq", "fftn", "fftshift", "hfft", "ifft", "ifft2",
           "ifftn", "ifftshift", "ihfft", "irfft", "irfft2", "irfftn", "rfft", "rfft2",
           "rfftfreq", "rfftn"]

_KINDS = ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
          "fftn", "ifftn", "rfftn", "irfftn")


def _out_len(kind, m, n):
    """Length of a transformed axis: input length m, requested n (None: default)."""
    base = kind.rstrip("2n")
    if base in ("rfft", "ihfft"):
        return (m if n is None else n) // 2 + 1
    if base in ("irfft", "hfft"):
        return 2 * (m - 1) if n is None else n
    return m if n is None else n


def _check_axes(x, axes, func_name):
    out = []
    for d in axes:
        if not isinstance(d, numbers.Integral):
            raise TypeError(f"{func_name}: axes must be integers, got {d!r}")
        if not -x.ndim <= d < x.ndim:
            raise np.exceptions.AxisError(f"{func_name}: axis {d} is out of bounds for an "
                                          f"array of dimension {x.ndim}")
        out.append(int(d) % x.ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{func_name}: repeated axes {tuple(axes)} are not supported")
    for d in out:
        if x.numblocks[d] != 1:
            raise ValueError(
                f"{func_name}: axis {d} is split into {x.numblocks[d]} blocks {x.chunks[d]}; "
                f"the transform needs the whole axis in one block: use "
                f"x.rechunk({{{d}: -1}}) first")
    return out


def _dtype(func, kind, dtype, x_dtype, ndims):
    if dtype is not None:
        return np.dtype(dtype)
    trial = np.ones((4,) * ndims, dtype=x_dtype)
    if ndims == 1:
        return np.asarray(func(trial)).dtype
    return np.asarray(func(trial, axes=tuple(range(ndims)))).dtype


def fft_wrap(fft_func, kind=None, dtype=None):
    """A blocked version of the ``numpy.fft``-like *fft_func*.

    ``kind`` (one of ``fft``, ``ifft``, ``rfft``, ``irfft``, ``hfft``, ``ihfft``, their
    ``2`` and ``n`` forms) defaults to the function's ``__name__``; it fixes the output
    lengths.  ``dtype`` fixes the output dtype (default: what the function returns on
    a small array of the input's dtype).
    """
    if kind is None:
        kind = getattr(fft_func, "__name__", None)
    if kind not in _KINDS:
        raise ValueError(f"fft_wrap: kind must be one of {_KINDS}, got {kind!r} (pass kind= for "
                         f"a function with another name)")
    one_axis = kind in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")
    name = kind

    if one_axis:
        def wrapped(a, n=None, axis=-1, norm=None):
            x = a if isinstance(a, Array) else asarray(a)
            if n is not None and (not isinstance(n, numbers.Integral) or n < 1):
                raise ValueError(f"{name}: n must be a positive integer, got {n!r}")
            (ax,) = _check_axes(x, (axis,), name)
            return _apply(fft_func, kind, x, [ax], None if n is None else [n],
                          dict(n=n, axis=ax, norm=norm), dtype, name)
    else:
        def wrapped(a, s=None, axes=None, norm=None):
            x = a if isinstance(a, Array) else asarray(a)
            if axes is None:
                if kind.endswith("2"):
                    axes = (-2, -1)
                elif s is None:
                    axes = tuple(range(x.ndim))
                else:
                    axes = tuple(range(x.ndim - len(s), x.ndim))
            axes = tuple(axes)
            if s is not None:
                s = tuple(s)
                if len(s) != len(axes):
                    raise ValueError(f"{name}: s {s} and axes {axes} must have the same length")
                if not all(isinstance(v, numbers.Integral) and v >= 1 for v in s):
                    raise ValueError(f"{name}: s must hold positive integers, got {s!r}")
            ax = _check_axes(x, axes, name)
            return _apply(fft_func, kind, x, ax, None if s is None else list(s),
                          dict(s=s, axes=tuple(ax), norm=norm), dtype, name)

    wrapped.__name__ = wrapped.__qualname__ = name
    wrapped.__doc__ = (f"``{getattr(fft_func, '__module__', '')}.{name}`` over blocks: the "
                       f"transformed axes must each be one block (see ``shoal.array.fft``).")
    return wrapped


def _apply(func, kind, x, axes, lengths, kwargs, dtype, name):
    chunks = list(x.chunks)
    last = axes[-1]
    for i, d in enumerate(axes):
        n = None if lengths is None else lengths[i]
        if d != last:  # (only the last axis of a real n-d transform changes length)
            size = x.shape[d] if n is None else n
        else:
            size = _out_len(kind, x.shape[d], n)
        if size < 1:
            raise ValueError(f"{name}: invalid number of data points ({size}) along axis {d}")
        chunks[d] = (size,)
    out_dtype = _dtype(func, kind, dtype, x.dtype, len(axes))
    return x.map_blocks(func, dtype=out_dtype, chunks=tuple(chunks), token=name, **kwargs)


fft = fft_wrap(np.fft.fft)
ifft = fft_wrap(np.fft.ifft)
rfft = fft_wrap(np.fft.rfft)
irfft = fft_wrap(np.fft.irfft)
hfft = fft_wrap(np.fft.hfft)
ihfft = fft_wrap(np.fft.ihfft)
fft2 = fft_wrap(np.fft.fft2)
ifft2 = fft_wrap(np.fft.ifft2)
rfft2 = fft_wrap(np.fft.rfft2)
irfft2 = fft_wrap(np.fft.irfft2)
fftn = fft_wrap(np.fft.fftn)
ifftn = fft_wrap(np.fft.ifftn)
rfftn = fft_wrap(np.fft.rfftn)
irfftn = fft_wrap(np.fft.irfftn)


# -- frequencies and shifts --------------------------------------------------------------

def freq_block(i, n, d, real):
    """Frequencies of the sample indices *i* (a block of ``arange``)."""
    if not real:
        i = np.where(i < (n + 1) // 2, i, i - n)
    return i / (n * d)


def _freqs(func_name, n, d, chunks, real):
    from shoal.array.creation import arange

    if not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{func_name}: n must be a positive integer, got {n!r}")
    d = float(d)
    if d == 0:
        raise ValueError(f"{func_name}: d (the sample spacing) must not be zero")
    length = n // 2 + 1 if real else n
    i = arange(length, chunks=chunks, dtype=np.int64)
    return i.map_blocks(freq_block, n=int(n), d=d, real=real, dtype=float, token=func_name)


def fftfreq(n, d=1.0, chunks="auto"):
    """``numpy.fft.fftfreq`` as a blocked array of the given ``chunks``."""
    return _freqs("fftfreq", n, d, chunks, False)


def rfftfreq(n, d=1.0, chunks="auto"):
    """``numpy.fft.rfftfreq`` as a blocked array of the given ``chunks``."""
    return _freqs("rfftfreq", n, d, chunks, True)


def _roll(x, axes, func_name, inverse):
    from shoal.array.creation import concatenate

    x = x if isinstance(x, Array) else asarray(x)
    if axes is None:
        axes = tuple(range(x.ndim))
    elif isinstance(axes, numbers.Integral):
        axes = (axes,)
    for d in axes:
        if not isinstance(d, numbers.Integral) or not -x.ndim <= d < x.ndim:
            raise np.exceptions.AxisError(f"{func_name}: axis {d!r} is out of bounds for an "
                                          f"array of dimension {x.ndim}")
        d = int(d) % x.ndim
        n = x.shape[d]
        cut = n // 2 if inverse else n - n // 2   # the first element of the result
        if cut in (0, n):
            continue
        head = tuple(slice(cut, None) if k == d else slice(None) for k in range(x.ndim))
        tail = tuple(slice(None, cut) if k == d else slice(None) for k in range(x.ndim))
        x = concatenate([x[head], x[tail]], axis=d)
    return x


def fftshift(x, axes=None):
    """``numpy.fft.fftshift``: the zero frequency moved to the middle of each axis."""
    return _roll(x, axes, "fftshift", inverse=False)


def ifftshift(x, axes=None):
    """``numpy.fft.ifftshift``: the inverse of :func:`fftshift`."""
    return _roll(x, axes, "ifftshift", inverse=True)

