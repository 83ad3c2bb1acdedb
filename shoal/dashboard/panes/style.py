"""Colours and number formats shared by every pane (pure: no Bokeh).

Colours come from :mod:`shoal.diagnostics.colors` (re-exported here): a task
prefix's colour is the same in the task stream, the progress bars, the graph and the
per-prefix bar charts (one ``PrefixColors`` per dashboard), and the few named colours
are shared with ``performance_report`` and the progress widgets.
"""

from __future__ import annotations

from shoal.core.units import format_bytes, format_seconds  # re-exported for the panes
from shoal.diagnostics.colors import (ERRED, MUTED, NEUTRAL, PALETTE, PRIMARY, SPILLED,
                                      action_style, prefix_color)  # fmt: skip

__all__ = [
    "ERRED", "HISTOGRAM_BINS", "HISTOGRAM_FROM", "MUTED", "NEUTRAL", "PALETTE", "PRIMARY",
    "SPILLED", "action_style", "bins_of", "format_bytes", "format_seconds", "memory_color",
    "memory_thresholds", "prefix_color", "worst_color",
]  # fmt: skip

MEMORY_OK, MEMORY_HIGH, MEMORY_FULL = PRIMARY, "orange", "red"
#: Past this many workers, the per-worker panes (memory, tasks processing, occupancy,
#: CPU) draw a histogram of the workers (how many at each level), as Dask's do: a bar
#: each would be a pixel or two high, too thin to read or to click.
HISTOGRAM_FROM = 100
HISTOGRAM_BINS = 20


def bins_of(values: list, end: float, bins: int = HISTOGRAM_BINS) -> list:
    """``[(left, right, [index, ...]), ...]``: *bins* equal bins over ``[0, end]`` and
    the indices of the *values* in each (a value at or past *end* in the last).

    >>> bins_of([0, 1, 9, 10], 10, bins=2)
    [(0.0, 5.0, [0, 1]), (5.0, 10.0, [2, 3])]
    """
    end = float(end) or 1.0
    width = end / bins
    members: list = [[] for _ in range(bins)]
    for i, value in enumerate(values):
        members[min(max(int(value / width), 0), bins - 1)].append(i)
    return [(b * width, (b + 1) * width, m) for b, m in enumerate(members)]


def worst_color(colors) -> str:
    """The most alarming of memory *colors* (red, then orange, then blue)."""
    colors = set(colors)
    for color in (MEMORY_FULL, MEMORY_HIGH):
        if color in colors:
            return color
    return MEMORY_OK


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


def memory_color(process: float, limit: float, thresholds: dict, paused: bool = False) -> str:
    """Blue below the spill zone, orange from ``min(target, spill)``, red from
    ``min(pause, terminate, 1)`` (over its limit is red whatever is switched off), and
    while the worker is *paused* (it resumes only some way below the pause threshold);
    blue when there is no limit."""
    if paused:
        return MEMORY_FULL
    if not limit:
        return MEMORY_OK
    fraction = process / limit
    high = [t for t in (thresholds.get("pause"), thresholds.get("terminate")) if t]
    if fraction >= min(high, default=1.0) or fraction >= 1.0:
        return MEMORY_FULL
    spill = [t for t in (thresholds.get("target"), thresholds.get("spill")) if t]
    if spill and fraction >= min(spill):
        return MEMORY_HIGH
    return MEMORY_OK
