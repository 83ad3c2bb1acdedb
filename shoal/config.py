"""Runtime configuration for shoal.

The live configuration is one nested dictionary, :data:`config`.  Keys are
addressed with dotted paths such as ``"distributed.scheduler.allowed-failures"``; hyphens and
underscores in a key are interchangeable everywhere (``get``, ``set``,
environment variables, YAML files), and keys are stored with hyphens.

Where values come from, lowest priority first:

1. Packaged defaults: ``shoal/shoal.yaml``, read once at import, plus any
   mapping a subpackage registers later with :func:`update_defaults`.  The
   list of default mappings is :data:`defaults`.
2. YAML files (``*.yaml`` / ``*.yml``) found, in this order, in
   ``/etc/shoal`` (or the directory named by ``SHOAL_ROOT_CONFIG``),
   ``{sys.prefix}/etc/shoal``, ``~/.config/shoal/`` and finally the file or
   directory named by ``SHOAL_CONFIG``.  Files in a directory are read in
   sorted order; later files win.  Missing directories are skipped without
   being listed.  A file that is not valid YAML, or whose top level is not a
   mapping, raises ``ValueError`` naming the file.
3. Environment variables ``SHOAL_A__B_C=value``, which set key ``a.b-c``: the
   name is lower-cased, ``__`` separates levels, and the value is parsed with
   :func:`ast.literal_eval`, falling back to the raw string (``true``,
   ``false``, ``null``, ``.inf`` and ``.nan`` are also understood, in any case,
   as in YAML).  ``SHOAL_CONFIG``,
   ``SHOAL_ROOT_CONFIG`` and ``SHOAL_INTERNAL_INHERIT_CONFIG`` are not keys.
4. ``SHOAL_INTERNAL_INHERIT_CONFIG``: a parent process puts its live
   configuration here (see :func:`config_for_child`) so that a spawned
   worker starts with the same values.
5. In-process changes made with :func:`set`, globally or as a context
   manager.

:func:`refresh` rebuilds :data:`config` from layers 1-4, discarding changes
made with ``set``.  :func:`collect` returns layers 2-4 without applying them.

Values are parsed and checked by the readers of :mod:`shoal.config_values`, re-exported
here; :func:`checked` reads a setting through one of them, so that a bad value is an
error naming the key and the ``SHOAL_*`` variable that sets it.

``set`` changes the one process-wide dictionary under a lock.  It is not
thread-local: two threads that temporarily set the *same* key must leave
their ``with`` blocks in reverse order of entry; different keys are safe.
"""

from __future__ import annotations

import builtins
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

import yaml

from shoal.config_values import (count, duration, flag, fraction, parse_bytes, parse_timedelta,
                                 period, size)  # fmt: skip

__all__ = [
    "collect", "config", "config_for_child", "config_paths", "defaults", "deserialize",
    "checked", "count", "duration", "expand_environment_variables", "flag", "fraction", "get",
    "merge", "parse_bytes", "parse_timedelta", "period", "refresh", "serialize", "set", "size",
    "update", "update_defaults",
]  # fmt: skip

#: The live, nested configuration dictionary.
config: dict = {}
#: Default mappings, in registration order (packaged YAML first).
defaults: list[dict] = []

_lock = threading.RLock()
_MISSING = object()
_CREATED = object()  # marks a section that set() had to create

_INHERIT_VAR = "SHOAL_INTERNAL_INHERIT_CONFIG"
_SPECIAL_ENV = builtins.set(["SHOAL_CONFIG", "SHOAL_ROOT_CONFIG", _INHERIT_VAR])
_YAML_SUFFIXES = (".yaml", ".yml")
_DEFAULTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shoal.yaml")


# --- Key handling and merging ---


def canonical_name(key: Any) -> Any:
    """Return the stored spelling of ``key``: underscores become hyphens."""
    return key.replace("_", "-") if isinstance(key, str) else key


def _canonical_tree(value: Any) -> Any:
    """Copy the dicts and lists in ``value`` with canonical keys; share the rest."""
    if isinstance(value, Mapping):
        return {canonical_name(k): _canonical_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return list(value)
    return value


def update(old: dict, new: Mapping, priority: str = "new", defaults: Mapping | None = None) -> dict:
    """Deep-merge ``new`` into ``old`` in place and return ``old``.

    ``priority`` decides conflicts between two non-mapping values: ``"new"``
    (``new`` wins), ``"old"`` (``old`` wins) or ``"new-defaults"`` (``new``
    wins only where ``old`` is absent or still equals the previous default
    given in ``defaults``).  Keys of ``new`` are put in canonical form.
    """
    if priority not in ("new", "old", "new-defaults"):
        raise ValueError(f"priority must be 'new', 'old' or 'new-defaults', not {priority!r}")
    for raw_key, value in new.items():
        key = canonical_name(raw_key)
        current = old.get(key, _MISSING)
        if isinstance(value, Mapping) and isinstance(current, dict):
            sub_defaults = defaults.get(key) if isinstance(defaults, Mapping) else None
            update(current, value, priority, sub_defaults)
        elif _new_wins(key, current, priority, defaults):
            old[key] = _canonical_tree(value)
    return old


def _new_wins(key: Any, current: Any, priority: str, defaults: Mapping | None) -> bool:
    if current is _MISSING or priority == "new":
        return True
    if priority == "old":
        return False
    if not isinstance(defaults, Mapping):
        return False
    return defaults.get(key, _MISSING) == current


def merge(*dicts: Mapping) -> dict:
    """Deep-merge mappings into a new dict; later mappings win."""
    result: dict = {}
    for d in dicts:
        update(result, d)
    return result


def _nest(path: list, value: Any) -> dict:
    """Build ``{p0: {p1: ... value}}`` from a list of key parts."""
    for part in reversed(path):
        value = {part: value}
    return value


def _split_key(key: str, sep: str = ".") -> list:
    if not isinstance(key, str) or not key:
        raise TypeError(f"Config keys must be non-empty strings, not {key!r}")
    return [canonical_name(part) for part in key.split(sep)]


# --- Reading files and the environment ---


def config_paths(env: Mapping | None = None) -> list[str]:
    """Return the files/directories searched for YAML, lowest priority first."""
    env = os.environ if env is None else env
    paths = [
        env.get("SHOAL_ROOT_CONFIG", "/etc/shoal"),
        os.path.join(sys.prefix, "etc", "shoal"),
        os.path.join(os.path.expanduser("~"), ".config", "shoal"),
    ]
    if env.get("SHOAL_CONFIG"):
        paths.append(env["SHOAL_CONFIG"])
    return list(dict.fromkeys(paths))  # drop duplicates, keep order


def _yaml_files(path: str) -> list[str]:
    """List the YAML files a search path stands for (none if it is missing)."""
    if os.path.isfile(path):
        return [path]
    try:  # a missing directory costs one failed system call, nothing more
        names = sorted(os.listdir(path))
    except OSError:
        return []
    return [os.path.join(path, n) for n in names if n.endswith(_YAML_SUFFIXES)]


def _load_yaml_file(path: str) -> dict:
    """Read one YAML file into a canonical dict, naming the file on error."""
    try:
        with open(path, encoding="utf-8") as f:
            # the C loader is as safe as safe_load (it builds plain types only) and 10x faster
            data = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ValueError(f"shoal config file {path!r} is not valid YAML:\n{exc}") from exc
    except OSError as exc:
        raise ValueError(f"shoal config file {path!r} could not be read: {exc}") from exc
    except UnicodeDecodeError as exc:  # (saved in another encoding: cp1252's "café")
        raise ValueError(f"shoal config file {path!r} is not UTF-8 text: {exc}; save it as "
                         "UTF-8") from exc  # fmt: skip
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        kind = type(data).__name__
        raise ValueError(f"shoal config file {path!r} must hold a mapping at top level, not {kind}")
    return _canonical_tree(data)


def collect_yaml(paths: list[str]) -> list[dict]:
    """Load every YAML file under ``paths`` (files or directories), in order."""
    return [_load_yaml_file(f) for p in paths for f in _yaml_files(p)]


#: YAML's words for what Python's literals spell otherwise (any case, as YAML 1.1 reads them)
_YAML_WORDS = {"true": True, "false": False, "yes": True, "no": False, "on": True,
               "off": False, "null": None, "~": None,
               ".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"),
               ".nan": float("nan")}  # fmt: skip


def _parse_env_value(text: str) -> Any:
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _YAML_WORDS.get(text.strip().lower(), text)


def collect_env(env: Mapping | None = None) -> dict:
    """Turn ``SHOAL_*`` environment variables into a nested config dict."""
    env = os.environ if env is None else env
    result: dict = {}
    for name in sorted(env):
        if not name.startswith("SHOAL_") or name in _SPECIAL_ENV:
            continue
        parts = name[len("SHOAL_"):].lower().split("__")
        if not all(parts):
            continue
        update(result, _nest([canonical_name(p) for p in parts], _parse_env_value(env[name])))
    inherited = env.get(_INHERIT_VAR)
    if inherited:
        update(result, deserialize(inherited))
    return result


def collect(paths: list[str] | None = None, env: Mapping | None = None) -> dict:
    """Merge YAML files and environment (not defaults) into a new dict; apply nothing.

    ``paths`` defaults to :func:`config_paths` of ``env`` (default ``os.environ``).
    """
    env = os.environ if env is None else env
    paths = config_paths(env) if paths is None else paths
    return merge(*collect_yaml(paths), collect_env(env))


def refresh(config: dict = config, defaults: list = defaults, **kwargs: Any) -> None:
    """Rebuild ``config`` in place from defaults, files and the environment.

    Keyword arguments go to :func:`collect`.  Values changed with ``set`` are lost.
    """
    fresh = merge(*defaults, collect(**kwargs))
    with _lock:
        config.clear()
        config.update(fresh)


def update_defaults(new: Mapping, config: dict = config, defaults: list = defaults) -> None:
    """Register another default mapping (e.g. from a subpackage's YAML).

    Keys not yet present are added; existing values are replaced only where
    they still equal the previous default, so user choices are kept.
    """
    new = _canonical_tree(new)
    with _lock:
        previous = merge(*defaults)
        defaults.append(new)
        update(config, new, priority="new-defaults", defaults=previous)


def expand_environment_variables(value: Any) -> Any:
    """Return a copy of ``value`` with ``$VAR``/``${VAR}`` in strings expanded."""
    if isinstance(value, Mapping):
        return {k: expand_environment_variables(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, builtins.set)):
        return type(value)(expand_environment_variables(v) for v in value)
    if isinstance(value, str):
        return os.path.expandvars(value)
    return value


# --- get / set ---


def _missing_key_error(key: str, parts: list, depth: int, node: Any) -> KeyError:
    found = ".".join(parts[:depth])
    if not isinstance(node, Mapping):
        hint = f"{found!r} holds the value {node!r}, not a section"
    elif depth == 0:
        hint = f"top-level keys are: {sorted(map(str, node))}"
    else:
        hint = f"{found!r} has keys: {sorted(map(str, node))}"
    return KeyError(f"Config key {key!r} not found; {hint}")


def get(key: str, default: Any = _MISSING, config: dict = config, override_with: Any = None) -> Any:
    """Return the value at dotted ``key`` (e.g. ``"distributed.scheduler.allowed-failures"``).

    ``override_with``, when not None, is returned instead (for function
    arguments that override config).  A missing key without ``default`` raises
    ``KeyError`` describing what exists.  The live object is returned: do not mutate.
    """
    if override_with is not None:
        return override_with
    parts = _split_key(key)
    node: Any = config
    for depth, part in enumerate(parts):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
            continue
        if default is not _MISSING:
            return default
        raise _missing_key_error(key, parts, depth, node)
    return node


class _ConfigSet:
    """``shoal.config.set``: change values globally, or temporarily with ``with``.

    ``set({"a.b": 1})`` takes dotted keys, ``set(a__b=1)`` uses ``__`` (or dots, given as
    ``set(**{"a.b": 1})``).  On
    leaving a ``with`` block the previous state comes back exactly, new keys
    included.  A mapping value replaces the whole section at its key.
    """

    def __init__(self, arg: Mapping | None = None, config: dict = config, lock=_lock, **kwargs):
        self.config = config
        self._lock = lock
        self._undo: list[tuple[list, Any]] = []
        with lock:
            for key, value in (arg or {}).items():
                self._assign(_split_key(key), value)
            for key, value in kwargs.items():  # (set(**{"a.b": 1}) is dotted too, as Dask's)
                self._assign(_split_key(key.replace("__", ".")), value)

    def _assign(self, parts: list, value: Any) -> None:
        node = self.config
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part, _MISSING)
            if not isinstance(child, dict):
                old = _CREATED if child is _MISSING else child
                self._undo.append((parts[: depth + 1], old))
                child = node[part] = {}
            node = child
        self._undo.append((parts, node.get(parts[-1], _MISSING)))
        node[parts[-1]] = _canonical_tree(value)

    def __enter__(self) -> dict:
        return self.config

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            for parts, old in reversed(self._undo):
                self._restore(parts, old)
            self._undo.clear()

    def _restore(self, parts: list, old: Any) -> None:
        """Undo one change; sections this set created are removed once empty."""
        node = self.config
        for part in parts[:-1]:
            node = node.get(part)
            if not isinstance(node, dict):
                return
        key = parts[-1]
        if old is _MISSING:
            node.pop(key, None)
        elif old is _CREATED:
            if node.get(key) == {}:
                del node[key]
        else:
            node[key] = old


# --- Passing configuration to child processes ---


def serialize(data: Mapping) -> str:
    """Encode a config mapping as base64 JSON text (safe for an env var)."""
    import base64
    import json

    text = json.dumps(data, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def deserialize(data: str) -> dict:
    """Decode the output of :func:`serialize`."""
    import base64
    import json

    try:
        result = json.loads(base64.b64decode(data.encode("ascii"), validate=True).decode("utf-8"))
    except (ValueError, UnicodeError) as exc:
        raise ValueError(f"Could not decode serialized shoal config {data[:40]!r}...") from exc
    if not isinstance(result, dict):
        raise ValueError("Serialized shoal config must decode to a mapping")
    return result


_JSON_SCALARS = (str, int, float, bool, type(None))


def _json_safe(value: Any) -> Any:
    """Copy ``value`` keeping only what JSON can carry; others become _MISSING."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            v = _json_safe(v)
            if isinstance(k, str) and v is not _MISSING:
                out[k] = v
        return out
    if isinstance(value, (list, tuple)):
        items = [_json_safe(v) for v in value]
        return _MISSING if any(v is _MISSING for v in items) else items
    return value if isinstance(value, _JSON_SCALARS) else _MISSING


def config_for_child(config: dict = config) -> dict:
    """Environment entries that make a child process inherit ``config``.

    Values JSON cannot carry (callables, custom objects) are left out.
    """
    with _lock:
        safe = _json_safe(config)
    return {_INHERIT_VAR: serialize(safe)}


def checked(read, key: str, value: Any = None, name: str | None = None, none: bool = False,
            **options):  # fmt: skip
    """*value* through *read* (:func:`period`, :func:`duration`, :func:`count`,
    :func:`size`, :func:`fraction` or :func:`flag`), or the setting *key* when *value* is
    None; an error names the argument (*name*, by default the key's last part) and, for
    the setting, the key and how it is set.  ``none``: a setting of null is returned as
    None (where null means "off" or "the default")."""
    name = name or key.rsplit(".", 1)[-1]
    if value is None:
        setting = get(key)
        return None if setting is None and none else read(setting, name, key, **options)
    return read(value, name, None, **options)


set = _ConfigSet  # noqa: A001 - Dask's public spelling; builtins.set is used above

defaults.append(_load_yaml_file(_DEFAULTS_FILE))
refresh()
