"""The profile pane: an icicle of merged profile trees and an activity timeline.

::

    state.profile(start, stop, prefix) --icicle(tree, zoom path)--> rectangles
    state.profile_activity()           --activity_bars(bucket)---> samples per second

The icicle lays a tree ``{name, count, children: {name: node}}`` out top-down:
the root spans [0, 1] at depth 0 and each child gets a share of its parent's
width proportional to its count (children in identifier order, so the layout is
stable from one update to the next); nodes narrower than ``min_fraction`` are
left out, and each label is cut to its rectangle's width (``fit_label``).
Clicking a rectangle zooms into that frame; "Reset" zooms out and clears the
time window.  Box-selecting bars of the "Activity over time" chart
restricts the profile to that period; the Select restricts it to one task
prefix (the task stream links here with ``?prefix=<prefix>``).
"""

from __future__ import annotations

from bokeh.layouts import column, row
from bokeh.models import (
    BoxSelectTool,
    Button,
    ColumnDataSource,
    HoverTool,
    Range1d,
    Select,
    TapTool,
)

from shoal.dashboard.panes._base import Pane, empty, log, make_figure
from shoal.dashboard.panes.style import NEUTRAL, PRIMARY, prefix_color
from shoal.dashboard.state import PROFILE_BUCKET

__all__ = ["ALL", "Profile", "activity_bars", "fit_label", "icicle", "subtree"]

ALL = "All"
ICICLE_COLUMNS = ("left", "right", "bottom", "top", "name", "label", "count", "percent", "color",
                  "depth")  # fmt: skip
#: Characters of a 9 px label that fit across the whole icicle (about 1,200 px wide):
#: a narrower frame shows its name cut to its width, so labels never run into the next
#: frame (a canvas text glyph is not clipped); the tooltip has the whole name.
ROW_CHARS = 200
#: the title while no sample came (a process pool's tasks, or no task ran yet)
NO_SAMPLES = ("Profile: no samples yet (distributed workers' tasks are sampled, and a local "
              "Dashboard's sync and threads tasks; a process pool's are not)")  # fmt: skip
ACTIVITY_COLUMNS = ("x", "width", "count")


def subtree(tree: dict, path) -> dict:
    """The node reached from *tree* by child identifiers *path* (the tree when missing)."""
    node = tree
    for ident in path:
        node = node["children"].get(ident)
        if node is None:
            return tree
    return node


def _frame_color(node: dict) -> str:
    # by file, so one module's frames share a colour: "function;file;line" identifiers
    parts = str(node.get("identifier", "")).split(";")
    return prefix_color(node.get("filename") or (parts[1] if len(parts) > 1 else node["name"]))


def icicle(tree: dict, min_fraction: float = 0.001, max_depth: int = 100) -> tuple:
    """``(columns, paths)``: rectangles of *tree* (strict form, see
    :mod:`shoal.dashboard.profiles`), and for each one the child identifiers
    leading to it (used to zoom in on a click)."""
    out, paths = empty(ICICLE_COLUMNS), []
    total = tree["count"] or sum(c["count"] for c in tree["children"].values()) or 1
    stack = [(tree, 0.0, 1.0, 0, ())]
    while stack:
        node, left, width, depth, path = stack.pop()
        out["left"].append(left)
        out["right"].append(left + width)
        out["bottom"].append(-depth - 1)
        out["top"].append(-depth)
        out["name"].append(node["name"])
        out["label"].append(fit_label(node["name"], width))
        out["count"].append(node["count"])
        out["percent"].append(round(100 * width, 2))
        out["color"].append(NEUTRAL if depth == 0 else _frame_color(node))
        out["depth"].append(depth)
        paths.append(path)
        if depth >= max_depth:
            continue
        base = node["count"] or sum(c["count"] for c in node["children"].values()) or total
        x = left
        pending = []
        for ident in sorted(node["children"]):
            child = node["children"][ident]
            w = width * child["count"] / base
            if w >= min_fraction:
                pending.append((child, x, w, depth + 1, (*path, ident)))
            x += w
        stack.extend(reversed(pending))  # visit in name order: stable row order
    return out, paths


def fit_label(name: str, width: float, row_chars: int = ROW_CHARS) -> str:
    """*name* cut to what fits in *width* (a fraction of the row), "" under three
    characters.

    >>> fit_label("random_block (random.py:40)", 0.05)
    'random_b…'
    """
    room = int(width * row_chars) - 1
    if len(name) <= room:
        return name
    return name[:room - 1] + "…" if room >= 3 else ""


MIN_DEPTH = 10  # rows the icicle shows at least (its y range: frames are a row high)

#: seconds of profile samples per bar of the activity timeline (the state's trees)
ACTIVITY_BUCKET = PROFILE_BUCKET


def activity_bars(activity: list, prefix=None, bucket: float = ACTIVITY_BUCKET) -> dict:
    """Profile samples summed per *bucket* seconds (x: bucket centre, in ms; bars are
    drawn 0.9 of a bucket wide)."""
    counts: dict = {}
    for t, count, p in activity:
        if prefix is not None and p != prefix:
            continue
        b = int(t // bucket)
        counts[b] = counts.get(b, 0) + count
    out = empty(ACTIVITY_COLUMNS)
    for b in sorted(counts):
        out["x"].append((b + 0.5) * bucket * 1000)
        out["width"].append(bucket * 1000 * 0.9)
        out["count"].append(counts[b])
    return out


class Profile(Pane):
    """Icicle + activity timeline + prefix Select; see the module docstring."""

    name, title, interval = "profile", "Profile", 1000

    def __init__(self, state, height=None, prefix=None, **options):
        super().__init__(state, **options)
        self.prefix = prefix or None
        self.window = None  # (start, stop) seconds, from the timeline selection
        self.zoom: tuple = ()
        self.paths: list = []
        self.source = ColumnDataSource(empty(ICICLE_COLUMNS))
        self.activity = ColumnDataSource(empty(ACTIVITY_COLUMNS))

        fig = make_figure(NO_SAMPLES, height=height, tools="tap,xwheel_zoom,xpan,reset,save",
                          x_range=Range1d(0, 1), y_range=Range1d(-MIN_DEPTH, 0))  # fmt: skip
        rects = fig.quad(left="left", right="right", bottom="bottom", top="top",
                         source=self.source, fill_color="color", line_color="white")  # fmt: skip
        fig.text(x="left", y="top", text="label", source=self.source, text_font_size="9px",
                 x_offset=2, y_offset=2, text_baseline="top")  # fmt: skip
        fig.add_tools(HoverTool(renderers=[rects], tooltips=[
            ("frame", "@name"), ("samples", "@count"), ("share", "@percent{0.00} %")]))  # fmt: skip
        fig.select_one(TapTool).renderers = [rects]
        fig.axis.visible = False
        fig.grid.visible = False
        self.source.selected.on_change("indices", self._on_tap)

        timeline = make_figure("Activity over time", height=150, x_axis_type="datetime",
                               tools="xpan,xwheel_zoom,reset")  # fmt: skip
        timeline.vbar(x="x", width="width", top="count", source=self.activity, color=PRIMARY)
        timeline.add_tools(BoxSelectTool(dimensions="width"))
        timeline.yaxis.axis_label = "samples"
        self.activity.selected.on_change("indices", self._on_select)

        self.select = Select(title="Task prefix", value=self.prefix or ALL, options=[ALL],
                             width=220)  # fmt: skip
        self.select.on_change("value", self._on_prefix)
        update, reset = Button(label="Update", width=80), Button(label="Reset", width=80)
        update.on_click(self.refresh)
        reset.on_click(self._on_reset)
        controls = row(self.select, update, reset, styles={"flex-wrap": "wrap"})  # (a side panel)
        fig.min_height = 200  # (a short panel scrolls: the frames' labels stay readable)
        sizing = {"sizing_mode": "stretch_width"} if height else {"sizing_mode": "stretch_both"}
        self.root = column(controls, fig, timeline, **sizing)
        self.figure = fig

    # --- interaction -------------------------------------------------------------

    def _on_tap(self, attr, old, new) -> None:
        if new and new[0] < len(self.paths):
            self.zoom = (*self.zoom, *self.paths[new[0]])  # (paths are the drawn subtree's)
            self.source.selected.indices = []
            self.refresh()

    def _on_select(self, attr, old, new) -> None:
        xs = self.activity.data["x"]
        chosen = [i for i in new if i < len(xs)]
        if chosen:  # the whole buckets that the chosen bars count, not the drawn 0.9 of them
            half = ACTIVITY_BUCKET / 2
            self.window = (min(xs[i] for i in chosen) / 1000 - half,
                           max(xs[i] for i in chosen) / 1000 + half)  # fmt: skip
        else:
            self.window = None
        self.refresh()

    def _on_prefix(self, attr, old, new) -> None:
        """Another prefix: its whole profile (the period chosen on the other prefix's
        bars, and the bars selected, mean nothing for this one's)."""
        self.prefix = None if new == ALL else new
        self.zoom, self.window = (), None
        if self.activity.selected.indices:
            self.activity.selected.indices = []  # (its callback refreshes)
        else:
            self.refresh()

    def _on_reset(self) -> None:
        self.zoom, self.window = (), None
        self.activity.selected.indices = []
        self.refresh()

    # --- data -------------------------------------------------------------------

    def update(self) -> None:
        """Redraw when new profile cycles arrived (other records do not matter here)."""
        count = self.state.profile_count
        if count == self._generation:
            return
        self._generation = count
        try:
            self.refresh()
        except Exception:
            log.exception("dashboard pane %s failed to update", self.name)

    def _title(self, tree) -> str:
        if not tree["count"] and not self.zoom and not self.prefix and self.window is None:
            return NO_SAMPLES
        shown = subtree(tree, self.zoom)
        where = (shown["name"] if self.zoom
                 else f"task prefix {self.prefix}" if self.prefix else "all task threads")  # fmt: skip
        when = ", in the period selected below" if self.window is not None else ""
        return f"Profile: {where} ({shown['count']} samples{when})"

    def refresh(self) -> None:
        activity = self.state.profile_activity()
        prefixes = sorted({p for _, _, p in activity if p})
        options = [ALL, *prefixes]
        if self.prefix and self.prefix not in options:
            options.append(self.prefix)
        if list(self.select.options) != options:
            self.select.options = options
        self.push(self.activity, activity_bars(activity, self.prefix))
        start, stop = self.window or (None, None)
        tree = self.state.profile(start, stop, self.prefix)
        data, self.paths = icicle(subtree(tree, self.zoom))
        if self.push(self.source, data):
            # at least MIN_DEPTH rows: a frame zoomed into was one block filling the plot
            self.figure.y_range.start = -max(max(data["depth"] or [0]) + 1, MIN_DEPTH)
        title = self._title(tree)  # (the same drawing may be of another prefix or period)
        if self.figure.title.text != title:
            self.figure.title.text = title
