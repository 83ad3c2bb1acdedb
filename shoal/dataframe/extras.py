"""Dask-compatible odds and ends, each a thin layer over a builder shoal already has.

- ``from_dask_array(x, columns, index, meta)``: ``construction.from_array`` of a shoal
  Array (one partition per row block); ``index``, a shoal Index with as many
  partitions, replaces the row numbers partition by partition.
- ``map_overlap(func, df, before, after, ...)`` and ``melt(frame, ...)``: the methods,
  as functions.
- ``align(other, join, axis, fill_value)``: both sides are put on the same partitions
  (``map_partitions`` realigns differing divisions), then pandas' ``align`` per
  partition, once keeping the left result and once the right.  With matching
  partitions the per-partition unions/intersections concatenate to the global one.
- ``compute_current_divisions(col=None)``: computes each partition's min and max of the
  index (or *col*): the divisions the data has now.
- ``squeeze``, ``divide``, ``to_timestamp``, ``axes``, ``Series.dtypes``,
  ``Series.shuffle`` (through a one-column frame), ``Series.autocorr`` (``corr`` with
  the shifted Series), Series ``to_hdf``/``to_sql``/``to_orc`` (as a one-column frame).
- ``to_html`` / ``to_string``: like Dask, the structure (dtypes and divisions), never
  the data, since showing data would compute it.
"""

from __future__ import annotations

import numbers

import pandas as pd

from shoal.dataframe.core import DataFrame, Index, Series, map_partitions, no_default

__all__ = ["from_dask_array", "map_overlap", "melt"]


# -- module-level functions --------------------------------------------------------

def _with_index(part, index):
    if len(part) != len(index):
        raise ValueError(f"from_dask_array(index=...): a partition of {len(index)} labels "
                         f"meets a block of {len(part)} rows")
    return part.set_axis(index, axis=0)


def from_dask_array(x, columns=None, index=None, meta=None):
    """A DataFrame (2-d) or Series (1-d) from a shoal Array, one partition per row block."""
    from shoal.array import Array
    from shoal.dataframe.construction import from_array

    if not isinstance(x, Array):
        raise TypeError(f"from_dask_array(x=...) needs a shoal Array, got {type(x).__name__}")
    out = from_array(x, columns=columns, meta=meta)
    if index is None:
        return out
    if not isinstance(index, Index):
        raise TypeError("from_dask_array(index=...) must be a shoal Index "
                        f"(such as df.index), got {type(index).__name__}")
    if index.npartitions != out.npartitions:
        raise ValueError(f"from_dask_array(index=...) has {index.npartitions} partitions; "
                         f"the array has {out.npartitions} row blocks")
    meta = out._meta.set_axis(index._meta[:0], axis=0)
    # row blocks and index partitions pair by position (no realignment by labels); the
    # result has the index's labels in the index's partitions: its partitioning
    from shoal.collection import merge_layers
    from shoal.core.spec import Ref, Task
    from shoal.core.tokenize import tokenize
    from shoal.dataframe.core import new_collection
    from shoal.dataframe.partitioning import keep_partitioning

    name = f"from-dask-array-index-{tokenize(out, index)}"
    layer = {(name, i): Task((name, i), _with_index, Ref((out._name, i)), Ref((index._name, i)))
             for i in range(out.npartitions)}
    got = new_collection(merge_layers(out, index, name=name, layer=layer), name, meta, index.divisions)
    return keep_partitioning(got, [index])


def map_overlap(func, df, before, after, *args, meta=no_default, enforce_metadata=True,
                transform_divisions=True, clear_divisions=False, align_dataframes=False,
                **kwargs):  # fmt: skip
    """``df.map_overlap(func, before, after, ...)`` as a function (Dask's spelling)."""
    if not isinstance(df, (DataFrame, Series)):
        raise TypeError(f"map_overlap(df=...) needs a shoal DataFrame or Series, "
                        f"got {type(df).__name__}")
    out = df.map_overlap(func, before, after, *args,
                         meta=None if meta is no_default else meta, **kwargs)
    return out.clear_divisions() if clear_divisions else out


def melt(frame, id_vars=None, value_vars=None, var_name=None, value_name="value",
         col_level=None):  # fmt: skip
    """``frame.melt(...)`` as a function (wide to long, per partition)."""
    if not isinstance(frame, DataFrame):
        raise TypeError(f"melt(frame=...) needs a shoal DataFrame, got {type(frame).__name__}")
    return frame.melt(id_vars=id_vars, value_vars=value_vars, var_name=var_name,
                      value_name=value_name, col_level=col_level)


# -- align -------------------------------------------------------------------------

def _align_side(left, right, side, join, axis, fill_value):
    return left.align(right, join=join, axis=axis, fill_value=fill_value)[side]


def align(self, other, join="outer", axis=None, fill_value=None):
    """pandas' ``align``: the two collections on the union (``join="outer"``),
    intersection, left or right labels; a tuple of two lazy collections."""
    if not isinstance(other, (DataFrame, Series)):
        raise TypeError(f"align(other=...) needs a shoal DataFrame or Series, "
                        f"got {type(other).__name__}")
    if join not in ("outer", "inner", "left", "right"):
        raise ValueError(f"align(join=...) must be 'outer', 'inner', 'left' or 'right', "
                         f"got {join!r}")
    metas = self._meta.align(other._meta, join=join, axis=axis, fill_value=fill_value)
    return tuple(map_partitions(_align_side, self, other, side, join, axis, fill_value,
                                meta=metas[side], token="align")
                 for side in (0, 1))


# -- divisions ---------------------------------------------------------------------

def _bounds(part, col):
    values = part.index if col is None else part[col]
    if len(values) == 0:
        return pd.DataFrame({"min": [], "max": []}, dtype=values.dtype)
    return pd.DataFrame({"min": [values.min()], "max": [values.max()]})


def compute_current_divisions(self, col=None):
    """The divisions the data has now (each partition's minimum, then the last maximum)
    of the index, or of column *col*; computed.  Partitions out of order, or an empty
    one among others (no boundary would be right for it), raise ValueError."""
    if col is not None and (not isinstance(self, DataFrame) or col not in self._meta.columns):
        raise KeyError(f"compute_current_divisions(col=...): no column {col!r}")
    values = self._meta.index if col is None else self._meta[col]
    meta = pd.DataFrame({"min": [], "max": []}, dtype=values.dtype)
    bounds = map_partitions(_bounds, self, col, meta=meta, token="current-divisions").compute()
    if not len(bounds):
        return (None,) * (self.npartitions + 1)
    if len(bounds) != self.npartitions:
        raise ValueError(f"compute_current_divisions: {self.npartitions - len(bounds)} of the "
                         f"{self.npartitions} partitions are empty, so no divisions describe "
                         "them; drop the empty partitions (repartition) first")
    mins, maxes = bounds["min"].tolist(), bounds["max"].tolist()
    if any(a > b for a, b in zip(mins, mins[1:])) or any(a > b for a, b in zip(maxes, maxes[1:])):
        raise ValueError("compute_current_divisions: the partitions are not sorted ascending "
                         f"by the {'index' if col is None else repr(col)}; their (min, max) are "
                         f"{list(zip(mins, maxes))}; sort the data first (set_index/sort_values)")
    return tuple(mins) + (maxes[-1],)


# -- small methods -----------------------------------------------------------------

def frame_squeeze(self, axis=None):
    """A one-column frame as a Series (``axis=None`` or ``1``); otherwise the frame."""
    if axis in (0, "index"):
        raise NotImplementedError("squeeze(axis=0) is not supported: the row count is unknown")
    if axis not in (None, 1, "columns"):
        raise ValueError(f"squeeze(axis=...) must be None, 0 or 1, got {axis!r}")
    return self.iloc[:, 0] if len(self._meta.columns) == 1 else self


def series_squeeze(self):
    """The Series itself (its length is not known without computing)."""
    return self


def to_timestamp(self, freq=None, how="start"):
    """pandas' ``to_timestamp`` per partition: a PeriodIndex as a DatetimeIndex."""
    if how not in ("start", "end", "s", "e"):
        raise ValueError(f"to_timestamp(how=...) must be 'start' or 'end', got {how!r}")
    meta = self._meta.to_timestamp(freq=freq, how=how)
    divisions = None
    if self.known_divisions:
        divisions = tuple(pd.PeriodIndex(list(self.divisions)).to_timestamp(freq=freq, how=how))
    return map_partitions(_to_timestamp, self, freq, how, meta=meta, token="to-timestamp",
                          divisions=divisions, clear_divisions=not self.known_divisions)


def _to_timestamp(part, freq, how):
    return part.to_timestamp(freq=freq, how=how)


def frame_axes(self):
    """``[index, columns]``: the index lazy, the columns known."""
    return [self.index, self._meta.columns]


def series_axes(self):
    return [self.index]


def _structure_text(self, max_rows):
    table = self._structure()
    if not isinstance(self._meta, pd.DataFrame):
        table = table.iloc[:, 0]
    return table.to_string(max_rows=max_rows)


def to_string(self, max_rows=5):
    """The structure table (dtypes per column, the divisions), as text; no data."""
    return _structure_text(self, max_rows)


def to_html(self, max_rows=5):
    """The structure table (dtypes per column, the divisions) as HTML; no data."""
    table = self._structure().to_html(max_rows=max_rows)
    return (f"<div><strong>shoal {type(self).__name__} Structure:</strong></div>\n{table}\n"
            f"<div>{self._footer()}</div>")


def series_shuffle(self, on=None, ignore_index=False, npartitions=None, shuffle_method=None,
                   on_index=False):  # fmt: skip
    """Hash-partition by the values (``on`` = the Series' name) or the index
    (``on_index=True``), into *npartitions*; through a one-column frame."""
    name = self._meta.name if self._meta.name is not None else "__series__"
    if on is not None and on != name and on != [name]:
        raise KeyError(f"Series.shuffle(on=...): a Series can only shuffle on its own "
                       f"values ({name!r}) or its index (on_index=True), got {on!r}")
    frame = self.to_frame(name=name)
    out = frame.shuffle(on=None if on is None else name, ignore_index=ignore_index,
                        npartitions=npartitions, shuffle_method=shuffle_method,
                        on_index=on_index)
    return out[name].rename(self._meta.name)


def autocorr(self, lag=1, split_every=False):
    """The correlation of the Series with itself *lag* rows later (pandas' ``autocorr``)."""
    if not isinstance(lag, numbers.Integral) or isinstance(lag, bool):
        raise TypeError(f"autocorr(lag=...) must be an int, got {lag!r}")
    return self.corr(self.shift(int(lag)), split_every=split_every or None)


def _as_frame_writer(method):
    def write(self, *args, **kwargs):
        return getattr(self.to_frame(), method)(*args, **kwargs)

    write.__name__ = method
    write.__doc__ = f"``DataFrame.{method}`` of this Series as a one-column frame."
    return write


DataFrame.align = align
Series.align = align
DataFrame.squeeze = frame_squeeze
Series.squeeze = series_squeeze
DataFrame.divide = DataFrame.truediv
Series.divide = Series.truediv
DataFrame.to_timestamp = to_timestamp
Series.to_timestamp = to_timestamp
DataFrame.axes = property(frame_axes)
Series.axes = property(series_axes)
DataFrame.to_html = to_html
DataFrame.to_string = to_string
Series.to_string = to_string
Series.dtypes = property(lambda self: self._meta.dtype, doc="The dtype (as pandas').")
Series.shuffle = series_shuffle
Series.autocorr = autocorr
DataFrame.compute_current_divisions = compute_current_divisions
Series.compute_current_divisions = compute_current_divisions
for _method in ("to_hdf", "to_sql", "to_orc"):
    setattr(Series, _method, _as_frame_writer(_method))
del _method
