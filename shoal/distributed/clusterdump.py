"""A cluster's state as plain data, and the file ``Client.dump_cluster_state`` writes.

The scheduler and each worker describe themselves with :func:`record` (a
record's fields) and :func:`plain`: a record met inside another one (a task's
dependencies, a worker's tasks) becomes its key or address, never its fields
again (a long chain of tasks would otherwise nest as deep as it is long), and
anything else that is not plain data becomes its ``repr``.  Map keys become
strings, so that the same data goes to msgpack and YAML alike.  ``exclude`` names
fields dropped wherever they occur (Dask's default: ``run_spec``, the user's code).

The file is gzipped msgpack (``<filename>.msgpack.gz``) or YAML
(``<filename>.yaml``), as Dask names them; :func:`write_state` writes it and
:func:`read_state` reads it back.
"""

from __future__ import annotations

import gzip
import os

__all__ = ["DEFAULT_EXCLUDE", "FORMATS", "dump_path", "plain", "read_state", "record",
           "write_state"]

DEFAULT_EXCLUDE = ("run_spec",)
FORMATS = {"msgpack": ".msgpack.gz", "yaml": ".yaml"}

_SCALARS = (str, int, float, bool, type(None))
_NAMED_BY = ("key", "address", "name")  # a task, a worker, a client


def check_format(format) -> str:
    """``format`` itself, or a ValueError naming it; YAML needs PyYAML installed."""
    if format not in FORMATS:
        raise ValueError(f"dump_cluster_state: format must be 'msgpack' or 'yaml', got {format!r}")
    if format == "yaml":
        try:
            import yaml  # noqa: F401
        except ImportError:
            raise ImportError("dump_cluster_state: format='yaml' needs PyYAML, which is "
                              "not installed; use format='msgpack'") from None  # fmt: skip
    return format


def dump_path(filename, format: str) -> str:
    """``filename`` with the suffix of ``format`` (unless it has it already)."""
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"dump_cluster_state: filename must be a path, got {filename!r}")
    filename, suffix = os.fspath(filename), FORMATS[check_format(format)]
    return filename if filename.endswith(suffix) else filename + suffix


def label(value) -> str | int | float | bool | None:
    """A map key or a reference as plain data: scalars as they are, else ``str``."""
    return value if isinstance(value, _SCALARS) else str(value)


def plain(value, exclude=()):
    """``value`` as msgpack- and YAML-ready data (see the module docstring); a record
    (a scheduler's or worker's task or worker) as its key or address."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {str(label(k)): plain(v, exclude) for k, v in value.items() if k not in exclude}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [plain(v, exclude) for v in items]
    if hasattr(type(value), "__slots__"):  # a record: by what names it
        for name in _NAMED_BY:
            if getattr(value, name, None) is not None:
                return label(getattr(value, name))
    return repr(value)


def record(value, exclude=()) -> dict:
    """A record's fields (those of its ``__slots__`` not starting with ``_``), each
    :func:`plain`, less ``exclude``."""
    names = [n for cls in type(value).__mro__ for n in getattr(cls, "__slots__", ())
             if not n.startswith("_") and n not in exclude]  # fmt: skip
    return {name: plain(getattr(value, name, None), exclude) for name in names}


def write_state(state: dict, path: str, format: str) -> str:
    """Write ``state`` (plain data) to ``path`` as ``format``; returns ``path``."""
    if check_format(format) == "yaml":
        import yaml

        with open(path, "w") as f:
            yaml.safe_dump(state, f, sort_keys=False)
    else:
        import msgpack

        with gzip.open(path, "wb") as f:
            f.write(msgpack.packb(state))
    return path


def read_state(path) -> dict:
    """The state a :func:`write_state` file holds (its format told by its suffix)."""
    path = os.fspath(path)
    if path.endswith(".yaml"):
        import yaml

        with open(path) as f:
            return yaml.safe_load(f)
    import msgpack

    with gzip.open(path, "rb") as f:
        return msgpack.unpackb(f.read(), strict_map_key=False)
