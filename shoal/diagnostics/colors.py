"""Task colours shared by every view of a computation (pure: no Bokeh).

A task prefix gets its colour from a CRC32 of its name into a fixed palette, the
same in every process without sharing any state.  Where prefixes are drawn side by
side, :class:`PrefixColors` moves a prefix whose colour another one took to the next
free colour, so two phases of one computation are told apart: the dashboard keeps
one for all its panes, a performance report one for its tabs, a progress widget one
for its bars.  Such a prefix's colour may then differ between those views; a prefix
whose own colour is free has it everywhere.
"""

from __future__ import annotations

import zlib

__all__ = ["ERRED", "FAILED", "MUTED", "NEUTRAL", "PALETTE", "PRIMARY", "SPILLED", "SUCCEEDED",
           "PrefixColors", "action_style", "distinct_colors", "prefix_color"]

# 24 distinguishable mid-tone colours: none close to black (erred), red (transfer),
# orange (disk) or grey (deserialisation, spilled), none so dark that black labels vanish,
# none so pale that a progress bar's done part (drawn at alpha 0.35 over the white bar) is
# lost: blended so, each keeps a contrast of at least 1.25 with white (WCAG's ratio;
# test_dashboard_panes.py).  (Seven pastels of Category20, 1.13 to 1.25, were replaced.)
PALETTE = (
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#de9ed6",
    "#5254a3", "#4d9221", "#7b4173", "#c49c94", "#a6761d", "#35978f", "#637939", "#6b6ecf",
    "#8ca252", "#bd9e39", "#a55194", "#3182bd", "#31a354", "#756bb1", "#c51b7d", "#6baed6",
)  # fmt: skip
ERRED = "black"
SPILLED = "grey"
#: one colour for one quantity (memory bars, a busy worker, a time line), light grey for
#: what has not happened yet (waiting keys, a profile's root), grey for what is set apart
PRIMARY, NEUTRAL, MUTED = PALETTE[0], "#dddddd", "#999999"
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
    """``{prefix: colour}`` for prefixes drawn side by side (a plot's legend): see
    :class:`PrefixColors`.

    >>> distinct_colors(["a", "b"], ["red"])
    {'a': 'red', 'b': 'red'}
    >>> len(set(distinct_colors(["a", "b", "c"], ["red", "green", "blue"]).values()))
    3
    """
    colors = PrefixColors(palette)
    return {prefix: colors(prefix) for prefix in prefixes}


class PrefixColors:
    """``colors(prefix)``: the colour of each prefix in one view (a dashboard's panes, a
    plot's legend), told apart where the palette allows.

    A prefix gets its :func:`prefix_color` unless a prefix given a colour before took
    it, then the next free colour of *palette*; it keeps that colour while remembered.
    With every colour given, the prefixes that ``in_use()`` (a set) leaves out are
    forgotten to free theirs, at most once each time the remembered prefixes have
    doubled (so a session that names every key uniquely pays a constant per prefix);
    failing that, a prefix shares its own colour.  A hash alone gave
    ``groupby-mean-chunk`` and ``groupby-mean-combine``, the two phases of the
    tutorial's groupby, the same pink.  Lookups of known prefixes take no lock:
    one thread gives colours (a dashboard's server loop)."""

    def __init__(self, palette=PALETTE, in_use=None):
        self.palette = tuple(palette)
        self._in_use = in_use
        self._given: dict = {}  # prefix -> colour
        self._taken: dict = {}  # colour -> prefixes given it
        self._forget_at = len(self.palette)  # remembered prefixes that make the next forget

    def __call__(self, prefix: str) -> str:
        color = self._given.get(prefix)
        return color if color is not None else self._give(prefix)

    def _give(self, prefix) -> str:
        palette, taken = self.palette, self._taken
        if (len(taken) >= len(palette) and self._in_use is not None
                and len(self._given) >= self._forget_at):  # fmt: skip
            self._forget(self._in_use())
            self._forget_at = max(2 * len(self._given), len(palette))
        start = _slot(prefix, palette)
        for step in range(len(palette)):
            color = palette[(start + step) % len(palette)]
            if color not in taken:
                break
        else:
            color = palette[start]
        self._given[prefix] = color
        taken[color] = taken.get(color, 0) + 1
        return color

    def _forget(self, keep) -> None:
        for prefix in [p for p in self._given if p not in keep]:
            color = self._given.pop(prefix)
            left = self._taken[color] - 1
            if left:
                self._taken[color] = left
            else:
                del self._taken[color]


def action_style(action: str, prefix: str, erred: bool = False, palette=PALETTE,
                 colors=None) -> tuple:  # fmt: skip
    """``(colour, alpha)`` of one startstop rectangle (its prefix's colour from
    *colors*, a :class:`PrefixColors`, when given)."""
    if action == "compute":
        if erred:
            return ERRED, 1.0
        return (colors(prefix) if colors is not None else prefix_color(prefix, palette)), 1.0
    return _ACTIONS.get(action, ("grey", 0.4))
