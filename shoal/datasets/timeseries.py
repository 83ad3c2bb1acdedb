"""``timeseries()``: a random time-indexed DataFrame, as Dask's docs and examples use.

::

    timeseries(start="2000-01-01", end="2000-01-31", freq="1s", partition_freq="1D")

    divisions:  2000-01-01  2000-01-02  ...  2000-01-31     one partition per day
    partition i: the rows at freq in [division i, division i+1), made in its task
                 from its own seed: name (a first name), id (Poisson around 1000),
                 x and y (uniform in [-1, 1)) -- or the columns *dtypes* asks for

Nothing is held in the graph but the bounds and a seed per partition, so a month of
seconds (2.6 M rows) costs nothing until computed, and the same *seed* gives the same
data on any scheduler.  Columns by dtype: ``str`` (names), ``int`` (Poisson counts),
``float`` (uniform), ``"category"`` (names as a categorical of the known names).
"""

from __future__ import annotations

__all__ = ["timeseries"]

NAMES = ("Alice", "Bob", "Charlie", "Dan", "Edith", "Frank", "George", "Hannah", "Ingrid",
         "Jerry", "Kevin", "Laura", "Michael", "Norbert", "Oliver", "Patricia", "Quinn", "Ray",
         "Sarah", "Tim", "Ursula", "Victor", "Wendy", "Xavier", "Yvonne", "Zelda")  # fmt: skip

_DEFAULT = {"name": str, "id": int, "x": float, "y": float}


def _partition(bounds, seed, freq, dtypes):
    import numpy as np
    import pandas as pd

    start, stop = bounds
    index = pd.date_range(start, stop, freq=freq, inclusive="left", name="timestamp")
    rng = np.random.default_rng(seed)
    n = len(index)
    data = {}
    for column, dtype in dtypes.items():
        if dtype in (str, "str", object, "object", "string"):
            data[column] = pd.array(rng.choice(NAMES, n), dtype="str")
        elif dtype == "category":
            data[column] = pd.Categorical(rng.choice(NAMES, n), categories=sorted(NAMES))
        elif dtype in (int, "int", "int64"):
            data[column] = rng.poisson(1000, n).astype("int64")
        elif dtype in (float, "float", "float64"):
            data[column] = rng.uniform(-1, 1, n)
        else:
            raise TypeError(f"timeseries(dtypes=...): column {column!r} has dtype {dtype!r}; "
                            "use str, 'category', int or float")
    return pd.DataFrame(data, index=index)


def timeseries(start="2000-01-01", end="2000-01-31", freq="1s", partition_freq="1D",
               dtypes=None, seed=None):
    """A random ``shoal.dataframe.DataFrame`` indexed by time from *start* to *end*
    (excluded), a row every *freq*, a partition every *partition_freq* (known divisions);
    see the module docstring.  *seed* makes it the same every time."""
    import numpy as np
    import pandas as pd

    from shoal.dataframe import from_map

    dtypes = dict(_DEFAULT if dtypes is None else dtypes)
    if not dtypes:
        raise ValueError("timeseries(dtypes=...) needs at least one column")
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if not end > start:
        raise ValueError(f"timeseries: end ({end}) must come after start ({start})")
    edges = list(pd.date_range(start, end, freq=partition_freq))
    if not edges or edges[0] != start:
        edges.insert(0, start)
    if edges[-1] != end:
        edges.append(end)
    bounds = list(zip(edges[:-1], edges[1:]))
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, len(bounds))
    meta = _partition((start, start), 0, freq, dtypes)
    return from_map(_partition, bounds, [int(s) for s in seeds], args=(freq, dtypes),
                    meta=meta, divisions=tuple(edges), label="timeseries")  # fmt: skip
