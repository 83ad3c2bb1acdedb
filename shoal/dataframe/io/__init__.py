"""Reading and writing shoal DataFrames: CSV, Parquet and JSON.

::

    read_csv(urlpath, blocksize="64MiB", ...)    csv.py       one partition per line-aligned block
    read_json(urlpath, lines=True, ...)          json.py      one partition per file (or block)
    read_parquet(path, columns=, filters=, ...)  parquet.py   one partition per file (or row group)
    to_csv / to_json / to_parquet(df, path)      one writer task per partition

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
from shoal.dataframe.io.json import read_json, to_json
from shoal.dataframe.io.parquet import read_parquet, to_parquet

__all__ = ["read_csv", "read_json", "read_parquet", "to_csv", "to_json", "to_parquet"]
