"""User-defined tree reductions: ``dd.reduction`` and ``DataFrame/Series.reduction``.

The caller gives pandas-level functions, as Dask's ``reduction`` takes them:

- ``chunk(partition)`` returns a scalar, a Series or a DataFrame;
- ``combine(stacked)`` and ``aggregate(stacked)`` receive the chunk outputs *stacked*:
  scalars as a Series (one row per partition), Series as a DataFrame whose rows are
  the Series (columns: their labels), DataFrames concatenated.  ``combine`` must return
  what ``chunk`` returns (it is stacked again at the next level); ``aggregate`` gives
  the final value.  ``aggregate`` defaults to ``chunk`` and ``combine`` to ``aggregate``
  (each keeps its own ``*_kwargs``; a method's extra keywords go to all three).

The tree itself (``split_every`` pieces a task, the chunk/combine/aggregate layers) is
``reductions.reduction``; this module only wraps the user's functions so that each
receives stacked pieces rather than a list.
"""

from __future__ import annotations

import pandas as pd

from shoal.dataframe._meta import make_meta, meta_from_value, nonempty
from shoal.dataframe.core import DataFrame, Series, no_default

__all__ = ["reduction"]


def stack(pieces):
    """The chunk outputs of several partitions as one pandas object (module docstring)."""
    if all(isinstance(p, pd.DataFrame) for p in pieces):
        return pd.concat(pieces)
    if all(isinstance(p, pd.Series) for p in pieces):
        rows = pd.concat([p.to_frame().T for p in pieces], ignore_index=True)
        return rows.infer_objects()
    if any(isinstance(p, (pd.DataFrame, pd.Series)) for p in pieces):
        raise TypeError("reduction: chunk (and combine) must return the same kind of value "
                        "for every partition: all scalars, all Series or all DataFrames")
    return pd.Series(list(pieces))


def _stacked(pieces, func, kwargs):
    return func(stack(pieces), **kwargs)


def _check_callable(value, what):
    if value is not None and not callable(value):
        raise TypeError(f"reduction({what}=...) must be a function, got {type(value).__name__}")


def _check_kwargs(value, what):
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"reduction({what}=...) must be a dict, got {type(value).__name__}")
    return dict(value or {})


def _infer_meta(frame, chunk, aggregate, ck, ak):
    sample = chunk(nonempty(frame._meta), **ck)
    out = aggregate(stack([sample]), **ak)
    return meta_from_value(out)


def reduction(frame, chunk, aggregate=None, combine=None, meta=no_default, token=None,
              chunk_kwargs=None, aggregate_kwargs=None, combine_kwargs=None, split_every=None):
    """A custom tree reduction of *frame* (see the module docstring); a lazy Scalar,
    Series or DataFrame as the aggregate's result is."""
    from shoal.dataframe import reductions

    if not isinstance(frame, (DataFrame, Series)):
        raise TypeError(f"reduction(frame=...) needs a shoal DataFrame or Series, "
                        f"got {type(frame).__name__}")
    if not callable(chunk):
        raise TypeError(f"reduction(chunk=...) must be a function, got {type(chunk).__name__}")
    _check_callable(aggregate, "aggregate")
    _check_callable(combine, "combine")
    if token is not None and not isinstance(token, str):
        raise TypeError(f"reduction(token=...) must be a string, got {type(token).__name__}")
    ck = _check_kwargs(chunk_kwargs, "chunk_kwargs")
    ak = _check_kwargs(aggregate_kwargs, "aggregate_kwargs")
    cbk = _check_kwargs(combine_kwargs, "combine_kwargs")
    aggregate = aggregate or chunk
    combine = combine or aggregate
    meta = _infer_meta(frame, chunk, aggregate, ck, ak) if meta is no_default else make_meta(meta)
    return reductions.reduction(
        frame, chunk, _stacked, _stacked, token=token or "reduction", meta=meta,
        split_every=split_every, chunk_kwargs=ck,
        combine_kwargs={"func": combine, "kwargs": cbk},
        aggregate_kwargs={"func": aggregate, "kwargs": ak})


def reduction_method(self, chunk, aggregate=None, combine=None, meta=no_default, token=None,
                     split_every=None, chunk_kwargs=None, aggregate_kwargs=None,
                     combine_kwargs=None, **kwargs):  # fmt: skip
    """A custom tree reduction of this collection: ``shoal.dataframe.reduction(self, ...)``;
    extra keywords go to chunk, combine and aggregate alike."""
    chunk_kwargs, aggregate_kwargs, combine_kwargs = (
        {**_check_kwargs(k, what), **kwargs} for k, what in
        ((chunk_kwargs, "chunk_kwargs"), (aggregate_kwargs, "aggregate_kwargs"),
         (combine_kwargs, "combine_kwargs")))
    return reduction(self, chunk, aggregate=aggregate, combine=combine, meta=meta, token=token,
                     chunk_kwargs=chunk_kwargs, aggregate_kwargs=aggregate_kwargs,
                     combine_kwargs=combine_kwargs, split_every=split_every)


DataFrame.reduction = reduction_method
Series.reduction = reduction_method
