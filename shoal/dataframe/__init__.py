"""shoal.dataframe: partitioned pandas DataFrames (``import shoal.dataframe as dd``).

The public surface (pinned by tests/test_exports.py)::

    DataFrame, Series, Scalar          the collections (core.py)
    from_pandas, map_partitions        building blocks
    read_csv, read_parquet, read_json  readers (io/)
    to_csv, to_parquet, to_json        writers (also DataFrame methods)
    concat, merge                      combining frames (concat(axis=1): realign.py)
    from_delayed                       a frame from Delayed pandas objects (fromdelayed.py)
    get_dummies, pivot_table           reshaping by known categories (reshape.py; see
                                       DataFrame.categorize, Series.cat.as_known)
    to_datetime, to_numeric,           conversions of a Series
    to_timedelta, isna                 (construction.py)
    from_array, from_dict, from_map    frames from arrays, dicts, a function per input
    read_table                         read_csv with sep="\\t"
    read_fwf, read_orc, read_sql*,     more readers/writers (io/fwf.py, orc.py, sql.py,
    read_hdf, to_orc, to_sql, to_hdf   hdf.py; to_* also DataFrame methods)
    repartition                        repartition(df, divisions) (realign.py)
    Aggregation                        custom group-by aggregations (aggregation.py)
    merge_asof                         nearest-key join by known divisions (asof.py)
    reduction                          custom tree reductions (custom_reduction.py)
    from_dask_array, map_overlap, melt a frame from a shoal Array; the methods as functions
                                       (extras.py)
    (DataFrame/Series.resample         time bins by known divisions: resample.py)
    compute                            shoal.compute, for convenience

Needs the ``dataframe`` extra (pandas, pyarrow).
"""

from importlib import import_module as _import_module

from shoal.core.extras import require as _require

_require("dataframe", "numpy", "pandas", what="shoal.dataframe")

from shoal.base import compute
from shoal.dataframe.aggregation import Aggregation
from shoal.dataframe.asof import merge_asof
from shoal.dataframe.core import DataFrame, Scalar, Series, concat, from_pandas, map_partitions
from shoal.dataframe.construction import (from_array, from_dict, from_map, isna, read_table,
                                          repartition, to_timedelta)
from shoal.dataframe.creation import to_datetime, to_numeric
from shoal.dataframe.fromdelayed import from_delayed
from shoal.dataframe.io import read_csv, read_json, read_parquet, to_csv, to_json, to_parquet
from shoal.dataframe.io import (read_fwf, read_hdf, read_orc, read_sql, read_sql_query,
                                read_sql_table, to_hdf, to_orc, to_sql)
from shoal.dataframe.reshape import get_dummies, pivot_table
from shoal.dataframe.shuffle import merge

# realign.py attaches repartition(divisions=...) to the frame classes when imported
_import_module("shoal.dataframe.realign")
# and these attach sem/skew/kurtosis/median, sample/random_split, replace/map/pipe/...,
# memory_usage/info, values/to_dask_array/to_records/to_bag, corr/mode/pop/iterrows/...
for _name in ("moments", "sampling", "elementwise", "frameinfo", "conversion", "framemethods",
              "io.frame_writers"):  # (the last: DataFrame.to_orc / to_sql / to_hdf)
    _import_module(f"shoal.dataframe.{_name}")
# resample.py attaches DataFrame.resample / Series.resample
_import_module("shoal.dataframe.resample")
# reduction / nunique_approx / align / squeeze / Rolling.cov ... (API gaps against Dask)
from shoal.dataframe.custom_reduction import reduction
from shoal.dataframe.extras import from_dask_array, map_overlap, melt
from shoal.dataframe._frames import Index
from shoal.dataframe.conversion import frame_to_bag as to_bag
from shoal.dataframe.conversion import frame_to_records as to_records
for _name in ("hyperloglog", "window_extras"):
    _import_module(f"shoal.dataframe.{_name}")

__all__ = [
    "Aggregation", "DataFrame", "Scalar", "Series", "compute", "concat", "from_array",
    "from_delayed", "from_dict", "from_map", "from_pandas", "get_dummies", "isna",
    "map_partitions", "merge", "merge_asof",
    "pivot_table", "read_csv", "read_json", "read_parquet", "read_table", "repartition",
    "to_csv", "to_datetime", "to_json", "to_numeric", "to_parquet", "to_timedelta",
    "read_fwf", "read_hdf", "read_orc", "read_sql", "read_sql_query", "read_sql_table",
    "to_hdf", "to_orc", "to_sql",
    "from_dask_array", "map_overlap", "melt", "reduction", "Index", "to_bag", "to_records",
]
