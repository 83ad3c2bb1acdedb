"""The values a setting holds, parsed and checked (re-exported by :mod:`shoal.config`).

Two layers.  The parsers (:func:`parse_bytes`, :func:`parse_timedelta`) turn text
such as ``"128 MiB"`` or ``"500ms"`` into numbers and say nothing of where it came from.
The checked readers (:func:`period`, :func:`duration`, :func:`count`, :func:`size`,
:func:`fraction`, :func:`flag`) take one value, the ``name`` a user knows it by and,
where it came from configuration, the dotted ``key``; a bad value is a ValueError naming
both and the ``SHOAL_*`` variable that sets the key, where the value is first read,
instead of a bare ``int()`` or ``float()`` traceback deep inside a worker.  Only the
standard library is used, so :mod:`shoal.config` imports this module without a cycle.
"""

from __future__ import annotations

import math
import operator
import re
import threading
from typing import Any

__all__ = ["count", "duration", "flag", "fraction", "parse_bytes", "parse_timedelta", "period",
           "size"]  # fmt: skip


# --- Parsers ---

_BYTE_UNITS = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    _BYTE_UNITS.update(dict.fromkeys([_p, _p + "b"], 1000**_i))
    _BYTE_UNITS.update(dict.fromkeys([_p + "i", _p + "ib"], 1024**_i))

_TIME_UNITS: dict[str, float] = {}
for _spec, _seconds in [
    ("ns nanosecond nanoseconds", 1e-9),
    ("us µs microsecond microseconds", 1e-6),
    ("ms millisecond milliseconds", 1e-3),
    ("s sec secs second seconds", 1.0),
    ("m min mins minute minutes", 60.0),
    ("h hr hrs hour hours", 3600.0),
    ("d day days", 86400.0),
    ("w week weeks", 604800.0),
]:
    _TIME_UNITS.update(dict.fromkeys(_spec.split(), _seconds))

_NUMBER_UNIT = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)?\s*([^\d\s.+-]\S*)?\s*$")


def _number_and_unit(value: Any, what: str) -> tuple[float, str]:
    """Split ``"1.5 GiB"`` into ``(1.5, "gib")``; a bare unit means one of it."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), ""
    if not isinstance(value, str):
        raise TypeError(f"Expected {what} as a string or number, not {type(value).__name__}")
    match = _NUMBER_UNIT.match(value)
    if not match or match.group(1) is match.group(2) is None:
        raise ValueError(f"Could not parse {what} from {value!r}")
    number = 1.0 if match.group(1) is None else float(match.group(1))
    return number, (match.group(2) or "").lower()


def _unknown_unit(what: str, value: Any, unit: str, known: str) -> ValueError:
    return ValueError(f"Could not parse {what} from {value!r}: unknown unit {unit!r} (use {known})")


def parse_bytes(value: str | int | float) -> int:
    """Parse ``"128 MiB"``, ``"5GB"``, ``"1e6"`` or a number into bytes."""
    number, unit = _number_and_unit(value, "a byte size")
    if unit not in _BYTE_UNITS:
        raise _unknown_unit("a byte size", value, unit, "B, kB, MB, GB, TB, KiB, MiB, GiB, TiB, ...")
    if number < 0:
        raise ValueError(f"Byte size must not be negative: {value!r}")
    return int(number * _BYTE_UNITS[unit])


def parse_timedelta(value: Any, default: str | None = "seconds") -> float | None:
    """Parse ``"500ms"``, ``"5 minutes"``, a timedelta or a number into seconds.

    Bare numbers (and unitless strings) are in ``default`` units; with
    ``default=None`` they are rejected.  ``None`` is passed through.
    """
    if value is None:
        return None
    if hasattr(value, "total_seconds"):  # datetime.timedelta, pandas.Timedelta
        return float(value.total_seconds())
    number, unit = _number_and_unit(value, "a time interval")
    if not unit:
        if default is None:
            raise ValueError(f"Time interval {value!r} has no unit and no default unit was given")
        unit = default.lower()
    if unit not in _TIME_UNITS:
        raise _unknown_unit("a time interval", value, unit, "ns, us, ms, s, m/minutes, h, d, w")
    return number * _TIME_UNITS[unit]


# Checked readers of one value: a bad setting is an error naming it (``name``, and the
# setting ``key`` it came from), not a traceback deep inside, a spinning thread or a
# process that dies without a word.


def _where(key: str | None) -> str:
    """The end of an error about setting *key*: the key, and how a user sets it."""
    if not key:
        return ""
    env = "SHOAL_" + key.upper().replace(".", "__").replace("-", "_")
    return f" ({key}), from {env} or a config file"


def period(value: Any, name: str, key: str | None = None, zero: bool = False) -> float:
    """*value* (seconds, or a duration such as ``"100ms"``) as the positive, finite
    seconds a thread may wait between two rounds (``zero``: 0 too, a wait that may be
    none); ValueError otherwise: 0 or less made a thread spin, inf killed it."""
    what = "a finite duration of 0 or more" if zero else "a positive, finite duration"
    where = _where(key)
    try:
        seconds = parse_timedelta(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r}: expected {what}{where}: {exc}") from None
    if (seconds is None or not math.isfinite(seconds) or seconds > threading.TIMEOUT_MAX
            or seconds < 0 or (seconds == 0 and not zero)):  # fmt: skip
        raise ValueError(f"{name}={value!r}: expected {what}{where}")
    return seconds


def count(value: Any, name: str, key: str | None = None, minimum: int = 1) -> int:
    """*value* as a whole number of at least *minimum* (a length, a bound); ValueError
    otherwise (``True`` is no count)."""
    where = _where(key)
    try:
        if isinstance(value, float) and value.is_integer():  # (1e6 from YAML or SHOAL_*)
            value = int(value)
        number = operator.index(value) if not isinstance(value, str) else int(value.strip())
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number < minimum:
        raise ValueError(f"{name}={value!r}: expected a whole number of at least {minimum}{where}")
    return number


#: the words a switch takes (YAML 1.1's, which PyYAML reads in a file, case-insensitive)
_SWITCH_WORDS = {"true": True, "yes": True, "on": True, "1": True,
                 "false": False, "no": False, "off": False, "0": False}  # fmt: skip


def flag(value: Any, name: str, key: str | None = None) -> bool:
    """*value* as a switch: ``True``/``False``, 1/0, or ``"true"``, ``"yes"``, ``"on"``
    (``"false"``, ``"no"``, ``"off"``); ValueError otherwise (``"false"`` was true)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _SWITCH_WORDS:
        return _SWITCH_WORDS[value.strip().lower()]
    where = _where(key)
    raise ValueError(f"{name}={value!r}: expected true or false{where}")


def _or_none(parse, value: Any) -> Any:
    try:
        return parse(value)
    except (TypeError, ValueError, OverflowError):  # (OverflowError: int(inf))
        return None


def _bad(name: str, value: Any, what: str, key: str | None) -> ValueError:
    return ValueError(f"{name}={value!r}: expected {what}{_where(key)}")


def duration(value: Any, name: str, key: str | None = None) -> float:
    """*value* (seconds, or ``"200ms"``, ``"5 minutes"``) as the seconds of a timeout or
    an interval, 0 or more (inf: for good); ValueError otherwise, not a wait of -1s."""
    seconds = _or_none(parse_timedelta, value)
    if seconds is None or not seconds >= 0:  # (NaN too)
        raise _bad(name, value, 'a duration such as "30s"', key)
    return seconds


def size(value: Any, name: str, key: str | None = None, minimum: int = 0) -> int:
    """*value* (bytes, or ``"128MiB"``, ``"1 GiB"``) as a whole number of bytes of at
    least *minimum*; ValueError otherwise."""
    number = _or_none(parse_bytes, value)
    if number is None or number < minimum:
        raise _bad(name, value, f'a byte size such as "128MiB", at least {minimum}', key)
    return number


def fraction(value: Any, name: str, key: str | None = None) -> float | None:
    """*value* as a share from 0 to 1 (of a memory limit), or None where it is off
    (false, null); ValueError otherwise (``True`` is no share)."""
    if value is None or value is False:
        return None
    share = None if isinstance(value, bool) else _or_none(float, value)
    if share is None or not 0 <= share <= 1:
        raise _bad(name, value, "a fraction from 0 to 1, or false", key)
    return share
