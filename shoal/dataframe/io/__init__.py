"""Reading and writing shoal DataFrames: CSV, Parquet and JSON.

::

    read_csv(urlpath, blocksize="64MiB", ...)    csv.py       one partition per line-aligned block
    read_json(urlpath, lines=True, ...)          json.py      one partition per file (or block)
    read_parquet(path, columns=, filters=, ...)  parquet.py   one partition per file (or row group)
    to_csv / to_json / to_parquet(df, path)      one writer task per partition
    read_fwf (fwf.py: read_csv's blocks), read_orc/to_orc (orc.py: per file or stripes),
    read_sql_table/_query/read_sql/to_sql (sql.py: index ranges), read_hdf/to_hdf (hdf.py)

Every reader builds its graph without reading the data: it lists the files
(plain local paths and globs; no fsspec), learns the schema from a small sample
(or, for Parquet, from the footer) and makes one task per partition calling a
module-level function, so tasks pickle by reference for the process pool.
Task names come from ``tokenize`` of each file's path, size and modification
time plus the options, so re-reading changed files gives new keys.

Shared pieces: ``_files.py`` (path expansion, line-aligned byte blocks,
holding partitions to the metadata, the dtype-mismatch error) and
``_writing.py`` (writer tasks, ordered chains for single-file output).
"""

from shoal.dataframe.io.csv import read_csv, to_csv
from shoal.dataframe.io.fwf import read_fwf
from shoal.dataframe.io.hdf import read_hdf, to_hdf
from shoal.dataframe.io.json import read_json, to_json
from shoal.dataframe.io.orc import read_orc, to_orc
from shoal.dataframe.io.parquet import read_parquet, to_parquet
from shoal.dataframe.io.sql import read_sql, read_sql_query, read_sql_table, to_sql

__all__ = ["read_csv", "read_fwf", "read_hdf", "read_json", "read_orc", "read_parquet",
           "read_sql", "read_sql_query", "read_sql_table", "to_csv", "to_hdf", "to_json",
           "to_orc", "to_parquet", "to_sql"]
