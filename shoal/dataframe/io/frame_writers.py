"""``DataFrame.to_orc`` / ``to_sql`` / ``to_hdf``: the newer writers as frame methods.

Attached to :class:`~shoal.dataframe.core.DataFrame` when ``shoal.dataframe`` is
imported (as ``to_csv`` and friends are defined on the class itself); each only
forwards to the module-level writer, which holds the logic.
"""

from __future__ import annotations

from shoal.dataframe.core import DataFrame

__all__ = []


def to_orc(self, path, *args, **kwargs):
    """Write one ORC file per partition (see ``shoal.dataframe.io.orc.to_orc``)."""
    from shoal.dataframe.io.orc import to_orc as write

    return write(self, path, *args, **kwargs)


def to_sql(self, name, uri, *args, **kwargs):
    """Write the rows to a database table (see ``shoal.dataframe.io.sql.to_sql``)."""
    from shoal.dataframe.io.sql import to_sql as write

    return write(self, name, uri, *args, **kwargs)


def to_hdf(self, path, key, *args, **kwargs):
    """Write HDF5 files; needs PyTables (see ``shoal.dataframe.io.hdf.to_hdf``)."""
    from shoal.dataframe.io.hdf import to_hdf as write

    return write(self, path, key, *args, **kwargs)


DataFrame.to_orc = to_orc
DataFrame.to_sql = to_sql
DataFrame.to_hdf = to_hdf
