"""Task colours shared by every view of a computation (pure: no Bokeh).

A task prefix gets its colour from a CRC32 of its name into a fixed palette, so
the dashboard's panes (layer 4) and ``performance_report`` (this layer) agree in
every process without sharing any state.
"""

from __future__ import annotations

import zlib

__all__ = ["ERRED", "FAILED", "PALETTE", "SPILLED", "SUCCEEDED", "action_style", "distinct_colors", "prefix_color"]

# 24 distinguishable mid-tone colours: none close to black (erred), red (transfer),
# orange (disk) or grey (deserialisation, spilled), none so dark that black labels vanish
PALETTE = (
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#de9ed6",
    "#aec7e8", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5", "#dbdb8d", "#6b6ecf",
    "#8ca252", "#bd9e39", "#a55194", "#3182bd", "#31a354", "#756bb1", "#e7ba52", "#6baed6",
)  # fmt: skip
ERRED = "black"
SPILLED = "grey"
#: a finished progress bar's colours (Bootstrap's "success" / "danger": ipywidgets' bar styles)
SUCCEEDED, FAILED = "#5cb85c", "#d9534f"
# action -> (colour, alpha) for the non-compute parts of a task's startstops
_ACTIONS = {
    "transfer": ("red", 0.4),
    "disk-read": ("orange", 0.4),
    "disk-write": ("orange", 0.4),
    "deserialize": ("grey", 0.4),
}


def prefix_color(prefix: str, palette=PALETTE) -> str:
    """The colour of a task prefix, the same everywhere (from *palette*, a sequence of
    colours, :data:`PALETTE` unless a plot was asked for another).

    >>> prefix_color("inc") == prefix_color("inc")
    True
    >>> prefix_color("inc", ["red"])
    'red'
    """
    return palette[_slot(prefix, palette)]


def _slot(prefix, palette) -> int:
    # (surrogatepass: a key from a file name's undecodable bytes has lone surrogates)
    return zlib.crc32(str(prefix).encode(errors="surrogatepass")) % len(palette)


def distinct_colors(prefixes, palette=PALETTE) -> dict:
    """``{prefix: colour}`` for prefixes drawn side by side (a plot's legend): each its
    :func:`prefix_color` unless an earlier one took it, then the next free colour of
    *palette* (all free colours taken: shared again).

    >>> distinct_colors(["a", "b"], ["red"])
    {'a': 'red', 'b': 'red'}
    >>> len(set(distinct_colors(["a", "b", "c"], ["red", "green", "blue"]).values()))
    3
    """
    out, taken = {}, set()
    for prefix in prefixes:
        start = _slot(prefix, palette)
        for step in range(len(palette)):
            color = palette[(start + step) % len(palette)]
            if color not in taken:
                break
        else:
            color = palette[start]
        out[prefix] = color
        taken.add(color)
    return out


def action_style(action: str, prefix: str, erred: bool = False, palette=PALETTE) -> tuple:
    """``(colour, alpha)`` of one startstop rectangle."""
    if action == "compute":
        return (ERRED, 1.0) if erred else (prefix_color(prefix, palette), 1.0)
    return _ACTIONS.get(action, ("grey", 0.4))
