"""pandas methods that are thin layers over the existing builders, attached to the classes.

- ``Series.corr(other)`` / ``Series.cov(other)``: the two Series side by side as a
  two-column frame (one task per partition; ``map_partitions`` first realigns
  them where their divisions differ, and inside a partition the rows are matched
  by label as pandas' inner ``align``), then ``pairwise.pairwise`` -- the frame
  ``cov`` / ``corr`` tree reduction -- and its off-diagonal entry as a lazy Scalar.
- ``Series.nbytes``: a tree reduction of the partitions' ``nbytes`` (a lazy Scalar).
- ``Series.case_when(caselist)``: one task per partition; conditions and
  replacements may be Series collections (aligned like operands), scalars, or
  callables called with the Series (as pandas calls them).
- ``DataFrame.mode()``: ``Series.mode`` of every column (a value_counts tree each)
  put side by side in one task; shorter columns padded with missing values.
- ``DataFrame.pivot_table``: the function ``reshape.pivot_table`` as a method.
- ``DataFrame.pop(column)``: the column, lazily; the frame drops it in place.
- ``add_prefix`` / ``add_suffix`` / ``rename_axis``: pandas' per partition.  Labels of
  the columns or names only, so divisions are kept -- except a Series' prefix, or
  ``axis="index"``, which rewrites the index labels (divisions then unknown).
- ``DataFrame.iterrows`` / ``itertuples``: partition by partition, each computed
  only when the iteration reaches it (one partition in memory at a time).
  ``DataFrame.items``: ``(label, Series)`` pairs, the Series lazy.
"""

from __future__ import annotations

import pandas as pd

from shoal.collection import Collection, merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import DataFrame, Scalar, Series, map_partitions, no_default
from shoal.delayed import Delayed

__all__ = ["series_corr", "series_cov"]


# -- kernels -----------------------------------------------------------------------

def side_by_side(a, b):
    """Two Series as columns ``x`` and ``y`` over the labels both have (pandas' inner
    alignment; as they are when the indexes are equal, duplicates included)."""
    if not a.index.equals(b.index):
        a, b = a.align(b, join="inner")
    return pd.DataFrame({"x": a.array, "y": b.array}, index=a.index)


def off_diagonal(matrix):
    return matrix.iloc[0, 1] if matrix.shape == (2, 2) else float("nan")


def part_nbytes(part):
    return int(part.nbytes)


def case_when_part(s, *flat):
    return s.case_when(list(zip(flat[::2], flat[1::2])))


def modes_side_by_side(columns, *modes):
    out = pd.concat([m.reset_index(drop=True) for m in modes], axis=1)
    out.columns = pd.Index(columns)
    return out


# -- helpers -----------------------------------------------------------------------

def _scalar(frame, func, meta, token):
    """A Scalar: *func* of the only partition of *frame*."""
    name = f"{token}-{tokenize(frame, func)}"
    layer = {(name, 0): Task((name, 0), func, Ref((frame._name, 0)))}
    return Scalar(merge_layers(frame, name=name, layer=layer), name, meta)


def _as_series(other, what):
    if isinstance(other, pd.Series):
        from shoal.dataframe.creation import from_pandas

        other = from_pandas(other, npartitions=1)  # (sorted: known divisions)
    if not isinstance(other, Series):
        raise TypeError(f"Series.{what}(other=...) needs a shoal or pandas Series, "
                        f"got {type(other).__name__}")
    return other


def _pairwise(self, other, how, min_periods, ddof, split_every):
    from shoal.dataframe.pairwise import pairwise

    other = _as_series(other, how)
    pair = map_partitions(side_by_side, self, other, meta=side_by_side(self._meta, other._meta),
                          token=f"{how}-pair")
    matrix = pairwise(pair, how, ddof=ddof, min_periods=min_periods, split_every=split_every)
    return _scalar(matrix, off_diagonal, 0.0, f"series-{how}")


# -- Series ------------------------------------------------------------------------

def series_corr(self, other, method="pearson", min_periods=None, split_every=None):
    """The Pearson correlation with *other* over the labels where both are present."""
    if method != "pearson":
        raise NotImplementedError(f"Series.corr(method={method!r}): only 'pearson' is supported")
    return _pairwise(self, other, "corr", min_periods, 1, split_every)


def series_cov(self, other, min_periods=None, ddof=1, split_every=None):
    """The covariance with *other* over the labels where both are present."""
    return _pairwise(self, other, "cov", min_periods, ddof, split_every)


def series_nbytes(self):
    """The bytes the values take (a lazy Scalar, as ``pandas.Series.nbytes``)."""
    from shoal.dataframe.core import Index
    from shoal.dataframe.reductions import reduction

    if isinstance(self, Index):  # (an Index keeps refusing it: tests/test_dataframe_api.py)
        raise AttributeError("nbytes")

    return reduction(self, part_nbytes, sum, token="nbytes", meta=0)


def case_when(self, caselist):
    """pandas' ``Series.case_when``: the first true condition's replacement, else the value."""
    if not isinstance(caselist, list) or not caselist:
        raise TypeError("case_when(caselist=...) takes a non-empty list of (condition, "
                        "replacement) tuples")
    flat = []
    for pair in caselist:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"case_when: each case must be a (condition, replacement) tuple, "
                             f"got {pair!r}")
        for v in pair:
            if callable(v) and not isinstance(v, (Collection, Delayed)):
                v = v(self)
            if isinstance(v, (pd.Series, pd.DataFrame, pd.Index, list)) or hasattr(v, "__array__") \
                    and not isinstance(v, (Collection, Delayed)) and getattr(v, "ndim", 0):
                raise NotImplementedError("case_when: conditions and replacements must be shoal "
                                          "Series, scalars or callables, not in-memory arrays")
            if isinstance(v, DataFrame):
                raise TypeError("case_when: a condition or replacement cannot be a DataFrame")
            flat.append(v)
    return map_partitions(case_when_part, self, *flat, token="case-when")


# -- DataFrame ---------------------------------------------------------------------

def frame_mode(self, dropna=True, split_every=None):
    """The most frequent values of every column (pandas' ``DataFrame.mode``): one partition."""
    columns = list(self._meta.columns)
    modes = [self.iloc[:, i].mode(dropna=dropna, split_every=split_every).clear_divisions()
             for i in range(len(columns))]
    meta = self._meta.mode(dropna=dropna)
    if not modes:
        from shoal.dataframe.creation import from_pandas

        return from_pandas(meta, npartitions=1)
    return map_partitions(modes_side_by_side, columns, *modes, meta=meta, token="mode")


def pivot_table(self, index=None, columns=None, values=None, aggfunc="mean"):
    """``shoal.dataframe.pivot_table(self, ...)`` (see there)."""
    from shoal.dataframe.reshape import pivot_table as pivot

    return pivot(self, index=index, columns=columns, values=values, aggfunc=aggfunc)


def pop(self, item):
    """Return column *item* (lazily) and drop it from this frame, in place."""
    out = self[item]
    rest = self.drop(columns=[item])
    self._layers, self._name, self._meta = rest._layers, rest._name, rest._meta
    return out


def _labels(how):
    def method(self, text, axis=None):
        on_index = isinstance(self, Series) or axis in (0, "index", "rows")
        kwargs = {} if axis is None else {"axis": axis}
        out = self._call(how, text, **kwargs)
        return out.clear_divisions() if on_index else out

    method.__name__ = how
    method.__doc__ = f"pandas' ``{how}`` per partition (index labels: divisions unknown after)."
    return method


def rename_axis(self, mapper=no_default, **kwargs):
    """pandas' ``rename_axis`` per partition: the names of the axes, values unchanged."""
    if kwargs.get("inplace"):
        raise NotImplementedError("rename_axis(inplace=True) is not supported; use the result")
    args = () if mapper is no_default else (mapper,)
    return self._call("rename_axis", *args, **kwargs)


def iterrows(self):
    """``(label, row)`` pairs, as pandas', one partition computed at a time."""
    for i in range(self.npartitions):
        yield from self.partitions[i].compute().iterrows()


def itertuples(self, index=True, name="Pandas"):
    """Named tuples of the rows, as pandas', one partition computed at a time."""
    for i in range(self.npartitions):
        yield from self.partitions[i].compute().itertuples(index=index, name=name)


def items(self):
    """``(column label, Series)`` pairs; each Series is lazy."""
    for i, label in enumerate(self._meta.columns):
        yield label, self.iloc[:, i]


Series.corr = series_corr
Series.cov = series_cov
Series.nbytes = property(series_nbytes)
Series.case_when = case_when
DataFrame.mode = frame_mode
DataFrame.pivot_table = pivot_table
DataFrame.pop = pop
DataFrame.iterrows = iterrows
DataFrame.itertuples = itertuples
DataFrame.items = items
for _cls in (DataFrame, Series):
    _cls.add_prefix = _labels("add_prefix")
    _cls.add_suffix = _labels("add_suffix")
    _cls.rename_axis = rename_axis
