"""Colours and number formats shared by every pane (pure: no Bokeh).

A task prefix gets its colour from a CRC32 of its name into a fixed palette, so
the task stream, the progress bars, the graph and the per-prefix bar charts of
every dashboard (and every process) agree without sharing any state.
"""

from __future__ import annotations

import zlib

__all__ = [
    "ERRED", "PALETTE", "SPILLED", "action_style", "format_bytes", "format_seconds",
    "memory_color", "memory_thresholds", "prefix_color",
]  # fmt: skip

# 24 distinguishable mid-tone colours: none close to black (erred), red (transfer),
# orange (disk) or grey (deserialisation, spilled), none so dark that black labels vanish
PALETTE = (
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#de9ed6",
    "#aec7e8", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5", "#dbdb8d", "#6b6ecf",
    "#8ca252", "#bd9e39", "#a55194", "#3182bd", "#31a354", "#756bb1", "#e7ba52", "#6baed6",
)  # fmt: skip
ERRED = "black"
SPILLED = "grey"
MEMORY_OK, MEMORY_HIGH, MEMORY_FULL = "#1f77b4", "orange", "red"

# action -> (colour, alpha) for the non-compute parts of a task's startstops
_ACTIONS = {
    "transfer": ("red", 0.4),
    "disk-read": ("orange", 0.4),
    "disk-write": ("orange", 0.4),
    "deserialize": ("grey", 0.4),
}


def prefix_color(prefix: str) -> str:
    """The colour of a task prefix, the same everywhere.

    >>> prefix_color("inc") == prefix_color("inc")
    True
    """
    return PALETTE[zlib.crc32(prefix.encode()) % len(PALETTE)]


def action_style(action: str, prefix: str, erred: bool = False) -> tuple:
    """``(colour, alpha)`` of one startstop rectangle."""
    if action == "compute":
        return (ERRED, 1.0) if erred else (prefix_color(prefix), 1.0)
    return _ACTIONS.get(action, ("grey", 0.4))


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
