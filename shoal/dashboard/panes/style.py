"""Colours and number formats shared by every pane (pure: no Bokeh).

Task colours come from :mod:`shoal.diagnostics.colors` (re-exported here), so
the task stream, the progress bars, the graph, the per-prefix bar charts and
``performance_report`` agree in every process.
"""

from __future__ import annotations

from shoal.diagnostics.colors import ERRED, PALETTE, SPILLED, action_style, prefix_color

__all__ = [
    "ERRED", "PALETTE", "SPILLED", "action_style", "format_bytes", "format_seconds",
    "memory_color", "memory_thresholds", "prefix_color",
]  # fmt: skip

MEMORY_OK, MEMORY_HIGH, MEMORY_FULL = "#1f77b4", "orange", "red"


def memory_thresholds(config_get=None) -> dict:
    """``{target, spill, pause, terminate}`` fractions from the config (None = off)."""
    if config_get is None:
        from shoal import config

        config_get = config.get
    out = {}
    for name in ("target", "spill", "pause", "terminate"):
        value = config_get(f"distributed.worker.memory.{name}", None)
        out[name] = float(value) if value not in (None, False) else None
    return out


def memory_color(process: float, limit: float, thresholds: dict) -> str:
    """Blue below the spill zone, orange from ``min(target, spill)``, red from
    ``min(pause, terminate)``; blue when there is no limit."""
    if not limit:
        return MEMORY_OK
    fraction = process / limit
    high = [t for t in (thresholds.get("pause"), thresholds.get("terminate")) if t]
    if high and fraction >= min(high):
        return MEMORY_FULL
    spill = [t for t in (thresholds.get("target"), thresholds.get("spill")) if t]
    if spill and fraction >= min(spill):
        return MEMORY_HIGH
    return MEMORY_OK


def format_bytes(n) -> str:
    """
    >>> format_bytes(1536), format_bytes(12), format_bytes(3 * 2**30)
    ('1.50 kiB', '12 B', '3.00 GiB')
    """
    n = float(n or 0)
    for unit in ("B", "kiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_seconds(s) -> str:
    """
    >>> format_seconds(0.0123), format_seconds(4.5), format_seconds(125)
    ('12.3 ms', '4.50 s', '2.1 min')
    """
    s = float(s or 0)
    if s < 1:
        return f"{s * 1000:.1f} ms"
    if s < 60:
        return f"{s:.2f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"
