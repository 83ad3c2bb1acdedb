"""``read_sql_table``, ``read_sql_query``, ``read_sql`` and ``to_sql``: SQL <-> DataFrame.

Reading cuts the rows into ranges of one indexed column::

    read_sql_table("t", "sqlite:////data/db.sqlite", index_col="id", npartitions=4)
      head         SELECT ... LIMIT head_rows          -> meta (unless meta= is given)
      limits       SELECT MIN(id), MAX(id)             (unless limits= or divisions=)
      npartitions  COUNT(*) x bytes per head row / bytes_per_chunk  (unless given)
      divisions    evenly spaced between the limits (numbers or datetimes)
      task i       SELECT * FROM (...) WHERE id >= lo_i AND id < hi_i   (last: <=;
                   the ends found by MIN/MAX left open; NULL ids never read)

so the result has known divisions.  ``con`` is a URI string, never a
connection: connections do not pickle, so every task opens its own.
``sqlite:///path`` needs nothing but the standard library (``sqlite3``, which
``pandas.read_sql`` accepts); an in-memory ``sqlite://`` database is refused,
since each task would see a different, empty one.  Any other URI goes through
SQLAlchemy when it is installed, else an ImportError names it.

Safety: table, schema and column names are always quoted as identifiers (the
dialect's own quoting with SQLAlchemy; doubled ``"`` for sqlite); every value
(range bounds, the head's row count) is a bound parameter.  Only a query given
to ``read_sql_query`` is SQL text, used as a subquery, as the caller wrote it.

Writing (``to_sql``): partition 0 is written with ``if_exists``, the rest
appended; one after the other in order, or with ``parallel=True`` all at once
after the first (which may create the table).
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from urllib.parse import quote

import numpy as np
import pandas as pd

from shoal.config import parse_bytes
from shoal.core.spec import Task
from shoal.core.tokenize import tokenize
from shoal.dataframe.core import new_collection
from shoal.dataframe.io import _files
from shoal.dataframe.io._writing import run_writers

__all__ = ["read_sql", "read_sql_query", "read_sql_table", "to_sql"]

_SQLITE = ("sqlite:", "sqlite+pysqlite:")


# -- connections --------------------------------------------------------------------

class SqliteSource:
    """A sqlite file, opened by each task with the standard library."""

    def __init__(self, path: str):
        self.path = path

    def connect(self, write=False):
        if write:
            return closing(sqlite3.connect(self.path, timeout=60))
        uri = "file:" + quote(self.path) + "?mode=ro"  # (%, ?, #, spaces escaped)
        return closing(sqlite3.connect(uri, uri=True, timeout=60))

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def run(self, con, query, ours, params=None, **kwargs):
        """*ours*: the bounds, by name; *params*: read_sql_query's own, named or positional."""
        if params is None or isinstance(params, Mapping):
            return pd.read_sql(query, con, params={**(params or {}), **ours}, **kwargs)
        names = re.findall(r":(shoal_\w+)", query)  # (after the caller's text: theirs first)
        return pd.read_sql(re.sub(r":shoal_\w+", "?", query), con,
                           params=(*params, *(ours[k] for k in names)), **kwargs)

    def __dask_tokenize__(self):
        return ("sqlite", self.path)


class AlchemySource:
    """Any other database, through SQLAlchemy (untested here: it is not installed)."""

    def __init__(self, uri: str, engine_kwargs):
        self.uri, self.engine_kwargs = uri, dict(engine_kwargs or {})

    def connect(self, write=False):
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.uri, **self.engine_kwargs)
        return engine.begin() if write else engine.connect()

    def quote(self, name: str) -> str:
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.uri, **self.engine_kwargs)
        return engine.dialect.identifier_preparer.quote_identifier(name)

    def run(self, con, query, ours, params=None, **kwargs):
        import sqlalchemy

        return pd.read_sql(sqlalchemy.text(query), con, params={**(params or {}), **ours},
                           **kwargs)

    def __dask_tokenize__(self):
        return ("sqlalchemy", self.uri, sorted(self.engine_kwargs.items()))


def source_for(con, engine_kwargs=None, what="read_sql", write=False):
    """The picklable source for the URI *con*, or a clear error."""
    if not isinstance(con, str):
        raise TypeError(f"{what}(con=...) must be a database URI string such as "
                        f"'sqlite:///path/to.db', got {type(con).__name__} (connections "
                        "cannot be sent to the tasks)")
    if con.startswith(_SQLITE):
        path = con.split(":", 1)[1]
        if not path.startswith("///") or path[3:] in ("", ":memory:"):
            raise ValueError(f"{what}(con={con!r}): an in-memory sqlite database cannot be "
                             "shared by tasks; use a file, e.g. 'sqlite:///path/to.db'")
        path = os.path.abspath(path[3:])
        if not write and not os.path.isfile(path):
            raise FileNotFoundError(f"{what}(con={con!r}): no sqlite database at {path!r}")
        return SqliteSource(path)
    try:
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{what}(con={con!r}) needs SQLAlchemy for this database: "
                          "pip install sqlalchemy (sqlite:/// URIs work without it)") from exc
    return AlchemySource(con, engine_kwargs)


def _name(value, what):
    if not isinstance(value, str) or not value or "\x00" in value:
        raise TypeError(f"{what} must be a non-empty name (str), got {value!r}")
    return value


# -- reading ------------------------------------------------------------------------

def read_sql_table(table_name, con, index_col, divisions=None, npartitions=None, limits=None,
                   columns=None, bytes_per_chunk="256 MiB", head_rows=5, schema=None,
                   meta=None, engine_kwargs=None, **kwargs):
    """Read a database table into a shoal DataFrame indexed by *index_col*, one
    partition per range of *index_col* values (see the module docstring)."""
    source = source_for(con, engine_kwargs, "read_sql_table")
    table = source.quote(_name(table_name, "read_sql_table(table_name=...)"))
    if schema is not None:
        table = source.quote(_name(schema, "read_sql_table(schema=...)")) + "." + table
    _name(index_col, "read_sql_table(index_col=...)")
    if columns is not None:
        columns = [_name(c, "read_sql_table(columns=...)") for c in columns]
        picked = [index_col] + [c for c in columns if c != index_col]
        select = ", ".join(source.quote(c) for c in picked)
    else:
        select = "*"
    base = f"SELECT {select} FROM {table}"
    return _read_ranges(source, base, index_col, divisions, npartitions, limits,
                        bytes_per_chunk, head_rows, meta, kwargs, "read-sql-table")


def read_sql_query(sql, con, index_col, divisions=None, npartitions=None, limits=None,
                   bytes_per_chunk="256 MiB", head_rows=5, meta=None, engine_kwargs=None,
                   **kwargs):
    """Read the rows of the SELECT statement *sql* (text) into a shoal DataFrame
    indexed by *index_col*, one partition per range of its values."""
    if not isinstance(sql, str) or not sql.strip():
        raise TypeError("read_sql_query(sql=...) must be SELECT text here (SQLAlchemy "
                        f"selectables are not supported), got {type(sql).__name__}")
    source = source_for(con, engine_kwargs, "read_sql_query")
    _name(index_col, "read_sql_query(index_col=...)")
    base = "SELECT * FROM (" + sql.strip().rstrip(";") + ") AS shoal_query"
    return _read_ranges(source, base, index_col, divisions, npartitions, limits,
                        bytes_per_chunk, head_rows, meta, kwargs, "read-sql-query")


def read_sql(sql, con, index_col, **kwargs):
    """``read_sql_query`` for SELECT (or WITH) text, else ``read_sql_table``."""
    if isinstance(sql, str) and re.match(r"\s*(SELECT|WITH)\s", sql, re.IGNORECASE):
        return read_sql_query(sql, con, index_col, **kwargs)
    return read_sql_table(sql, con, index_col, **kwargs)


def _read_ranges(source, base, index_col, divisions, npartitions, limits, bytes_per_chunk,
                 head_rows, meta, kwargs, label):
    """The graph: one task per ``[lo, hi)`` range of *index_col* (the last closed)."""
    for bad in ("chunksize", "index_col"):
        if bad in kwargs:
            raise TypeError(f"{label.replace('-', '_')} does not take {bad}= as a pandas keyword")
    idx = source.quote(index_col)
    head = None
    if meta is None:
        if not isinstance(head_rows, int) or head_rows < 1:
            raise ValueError(f"head_rows={head_rows!r}: give meta= to read no head rows")
        head = _query(source, f"SELECT * FROM ({base}) AS shoal_head LIMIT :shoal_n",
                      {"shoal_n": head_rows}, index_col, kwargs)
        meta = head.iloc[:0]
    # The outer ends found by MIN/MAX are left open: a bound written back as a Timestamp
    # need not compare equal to the stored text (a DATE '2020-01-01' < '2020-01-01 00:00:00').
    open_ends = divisions is None and limits is None
    if divisions is None:
        divisions = _divisions(source, base, idx, head, meta, npartitions, limits,
                               bytes_per_chunk, kwargs.get("params"))
    divisions = list(divisions)
    if len(divisions) < 2:
        raise ValueError(f"divisions={divisions!r} needs at least two boundaries")
    name = label + "-" + tokenize(source, base, index_col, divisions, kwargs, open_ends)
    ranged = f"SELECT * FROM ({base}) AS shoal_part WHERE {idx} IS NOT NULL"
    layer = {}
    for i, (lo, hi) in enumerate(zip(divisions[:-1], divisions[1:])):
        last = i == len(divisions) - 2
        upper = f" AND {idx} <" + ("= :shoal_hi" if last else " :shoal_hi")
        query = ranged + ("" if i == 0 and open_ends else f" AND {idx} >= :shoal_lo") + (
            "" if last and open_ends else upper)
        params = {"shoal_lo": _param(lo), "shoal_hi": _param(hi)}
        layer[(name, i)] = Task((name, i), _read_range, source, query, params, index_col,
                                kwargs, meta)
    return new_collection({name: layer}, name, meta, tuple(divisions))


def _divisions(source, base, idx, head, meta, npartitions, limits, bytes_per_chunk,
               user_params=None):
    own = {} if user_params is None else {"params": user_params}  # (the query's own)
    if limits is None:
        row = _query(source, f"SELECT MIN({idx}) AS lo, MAX({idx}) AS hi FROM ({base}) AS b",
                     {}, None, own)
        limits = (row["lo"].iloc[0], row["hi"].iloc[0])
    lo, hi = limits
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        raise ValueError("read_sql: the table has no rows to divide (pass divisions=)")
    if npartitions is None:
        count = _query(source, f"SELECT COUNT(*) AS n FROM ({base}) AS c", {}, None, own)
        per_row = head.memory_usage(deep=True).sum() / max(len(head), 1) if head is not None \
            else 100
        chunk = parse_bytes(bytes_per_chunk) if isinstance(bytes_per_chunk, str) \
            else bytes_per_chunk
        npartitions = max(1, round(int(count["n"].iloc[0]) * per_row / chunk))
    return evenly_spaced(lo, hi, npartitions, meta.index.dtype)


def evenly_spaced(lo, hi, npartitions, dtype) -> list:
    """``npartitions + 1`` sorted boundaries from *lo* to *hi* (no repeats)."""
    if not isinstance(npartitions, int) or npartitions < 1:
        raise ValueError(f"npartitions must be a positive int, got {npartitions!r}")
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return list(pd.date_range(pd.Timestamp(lo), pd.Timestamp(hi), periods=npartitions + 1))
    if not (pd.api.types.is_numeric_dtype(dtype) and np.isscalar(lo) and np.isscalar(hi)):
        raise TypeError(f"cannot split index values of dtype {dtype} into ranges "
                        "automatically: pass divisions=")
    points = np.linspace(float(lo), float(hi), npartitions + 1)
    if pd.api.types.is_integer_dtype(dtype):
        points = np.unique(np.round(points).astype(np.int64))
    out = points.tolist()
    return out if len(out) > 1 else [out[0], out[0]]


def _param(value):
    """A bound value the database driver accepts."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    return value.item() if isinstance(value, np.generic) else value


def _query(source, query, params, index_col, kwargs):
    with source.connect() as con:
        return source.run(con, query, params, index_col=index_col, **kwargs)


def _read_range(source, query, params, index_col, kwargs, meta):
    """One partition: the rows whose *index_col* lies in the task's range."""
    df = _query(source, query, params, index_col, kwargs)
    if not len(df):
        return meta.iloc[:0].copy()
    where = f"rows {params['shoal_lo']!r} to {params['shoal_hi']!r} of {index_col!r}"
    df = _files.conform(df, meta, frozenset(), where, "read_sql")
    if not df.index.is_monotonic_increasing:  # (rows come in the table's or query's order)
        df = df.sort_index(kind="stable")
    if df.index.dtype != meta.index.dtype:
        df.index = df.index.astype(meta.index.dtype)
    return df


# -- writing ------------------------------------------------------------------------

def to_sql(df, name, uri, schema=None, if_exists="fail", index=True, index_label=None,
           chunksize=None, dtype=None, method=None, compute=True, parallel=False,
           engine_kwargs=None):
    """Write *df* to the table *name* of the database at *uri*.

    The first partition is written with ``if_exists`` ("fail", "replace" or
    "append"), the others appended: in order, or all at once after the first
    with ``parallel=True``.  Returns None, or with ``compute=False`` the Delayed
    writers.
    """
    if if_exists not in ("fail", "replace", "append"):
        raise ValueError("to_sql(if_exists=...) must be 'fail', 'replace' or 'append', "
                         f"got {if_exists!r}")
    source = source_for(uri, engine_kwargs, "to_sql", write=True)
    _name(name, "to_sql(name=...)")
    options = {"schema": schema, "index": index, "index_label": index_label,
               "chunksize": chunksize, "dtype": dtype, "method": method}
    options = {k: v for k, v in options.items() if v is not None or k == "index"}
    calls = [(_write_sql, i, (source, name, if_exists if i == 0 else "append", options))
             for i in range(df.npartitions)]
    out = run_writers(df, "to-sql", calls, compute, None,
                      chain="first" if parallel else True)
    return None if compute else out


def _write_sql(part, source, name, if_exists, options, after=None):
    """Write one partition; *after* (an earlier writer's result) only orders it."""
    with source.connect(write=True) as con:
        part.to_sql(name, con, if_exists=if_exists, **options)
        if hasattr(con, "commit"):
            con.commit()
    return len(part)
