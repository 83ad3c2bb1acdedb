"""shoal.dataframe: partitioned pandas DataFrames (``import shoal.dataframe as dd``).

The public surface (pinned by tests/test_exports.py)::

    DataFrame, Series, Scalar          the collections (core.py)
    from_pandas, map_partitions        building blocks
    read_csv, read_parquet, read_json  readers (io/)
    to_csv, to_parquet, to_json        writers (also DataFrame methods)
    concat, merge                      combining frames
    to_datetime, to_numeric            conversions of a Series
    compute                            shoal.compute, for convenience

Needs the ``dataframe`` extra (pandas, pyarrow).
"""

from shoal.core.extras import require as _require

_require("dataframe", "numpy", "pandas", what="shoal.dataframe")

from shoal.base import compute
from shoal.dataframe.core import DataFrame, Scalar, Series, concat, from_pandas, map_partitions
from shoal.dataframe.creation import to_datetime, to_numeric
from shoal.dataframe.io import read_csv, read_json, read_parquet, to_csv, to_json, to_parquet
from shoal.dataframe.shuffle import merge

__all__ = [
    "DataFrame", "Scalar", "Series", "compute", "concat", "from_pandas", "map_partitions",
    "merge", "read_csv", "read_json", "read_parquet", "to_csv", "to_datetime", "to_json",
    "to_numeric", "to_parquet",
]
