"""shoal.dataframe: partitioned pandas DataFrames (``import shoal.dataframe as dd``).

The public surface (pinned by tests/test_exports.py)::

    DataFrame, Series, Scalar          the collections (core.py)
    from_pandas, map_partitions        building blocks
    read_csv, read_parquet, read_json  readers (io/)
    to_csv, to_parquet                 writers
    concat, merge                      combining frames
    compute                            shoal.compute, for convenience

Needs the ``dataframe`` extra (pandas, pyarrow).
"""

from shoal.base import compute
from shoal.dataframe.core import DataFrame, Scalar, Series, from_pandas, map_partitions

__all__ = ["DataFrame", "Scalar", "Series", "compute", "from_pandas", "map_partitions"]
