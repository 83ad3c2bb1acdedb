"""Human-readable sizes, durations and clock times, the one spelling every view uses.

Reprs (arrays, clusters, clients), the CLI, the dashboard and
``performance_report`` all print bytes and seconds through these, so the
same quantity reads the same everywhere.  A clock time written on the server
names its zone: the plots' axes are in the reader's zone, which may be another.
"""

from __future__ import annotations

import time

__all__ = ["format_bytes", "format_clock", "format_seconds"]

_BYTE_UNITS = (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("kiB", 2**10))


def format_bytes(n) -> str:
    """Binary units, from 0.9 of a unit up (so a size just under 1 MiB reads in MiB).

    >>> format_bytes(1536), format_bytes(12), format_bytes(3 * 2**30), format_bytes(None)
    ('1.50 kiB', '12 B', '3.00 GiB', '0 B')
    """
    n = int(n or 0)
    for unit, size in _BYTE_UNITS:
        if abs(n) >= size * 0.9:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def format_clock(t: float, form: str = "%H:%M:%S") -> str:
    """*t* (epoch seconds) as this machine's local time, its zone named: "14:03:05 UTC";
    ``{ms}`` in *form* is the milliseconds.

    >>> format_clock(0.25, "%Y-%m-%d %H:%M:%S.{ms}") == time.strftime(
    ...     "%Y-%m-%d %H:%M:%S.250 %Z", time.localtime(0.25))
    True
    """
    local = time.localtime(t)
    text = time.strftime(form, local).replace("{ms}", f"{int(t * 1000) % 1000:03d}")
    return f"{text} {time.strftime('%Z', local)}"


def format_seconds(s) -> str:
    """
    >>> format_seconds(0.0123), format_seconds(4.5), format_seconds(125), format_seconds(7200)
    ('12.3 ms', '4.50 s', '2.1 min', '2.0 h')
    >>> format_seconds(0.0000018), format_seconds(0)   # a tiny task's mean: not "0.0 ms"
    ('1.8 us', '0.0 ms')
    """
    s = float(s or 0)
    if 0 < s < 0.001:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1000:.1f} ms"
    if s < 60:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min" if s < 3600 else f"{s / 3600:.1f} h"
