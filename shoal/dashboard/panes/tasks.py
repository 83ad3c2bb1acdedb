"""Per-prefix task panes: progress, exceptions, compute time per prefix.

::

    state.progress()      --progress_bars()      --> one bar per prefix (segments)
    state.exceptions()    --exception_columns()  --> a table
    state.compute_time()  --compute_time_bars()  --> one bar per prefix

Progress bars run left to right: released (done, result freed; light), in
memory (solid, the prefix's colour), erred (black), processing (faint); the
unfilled rest is waiting.  One bar per prefix, top to bottom in the order the
prefixes first appeared; the title sums them up.
"""

from __future__ import annotations

from bokeh.models import ColumnDataSource, DataTable, HoverTool, Range1d, TableColumn

from shoal.dashboard.panes._base import Pane, empty, make_figure
from shoal.dashboard.panes.style import ERRED, format_seconds, prefix_color

__all__ = [
    "ComputeTime", "Exceptions", "PrefixBars", "Progress", "compute_time_bars",
    "exception_columns", "prefix_bars", "progress_bars", "progress_title",
]  # fmt: skip

BAR_COLUMNS = ("left", "right", "bottom", "top", "color", "alpha", "prefix", "segment", "n")
LABEL_COLUMNS = ("x", "y", "text")
MIN_ROWS = 5  # room for this many bars even when fewer prefixes run (no giant bars)
# segment name, progress field, alpha (colour: the prefix's, black for erred)
_SEGMENTS = (("released", "released", 0.35), ("in memory", "memory", 1.0),
             ("erred", "erred", 1.0), ("processing", "processing", 0.15))  # fmt: skip


def progress_bars(progress: dict) -> tuple:
    """``(bars, labels)`` columns from ``state.progress()``; bars span [0, 1]."""
    bars, labels = empty(BAR_COLUMNS), empty(LABEL_COLUMNS)
    for i, (prefix, row) in enumerate(progress.items()):
        total = row["total"] or 1
        y = -i
        left = 0.0
        for segment, field, alpha in _SEGMENTS:
            n = row[field]
            if not n:
                continue
            right = left + n / total
            bars["left"].append(left)
            bars["right"].append(right)
            bars["bottom"].append(y - 0.4)
            bars["top"].append(y + 0.4)
            bars["color"].append(ERRED if field == "erred" else prefix_color(prefix))
            bars["alpha"].append(alpha)
            bars["prefix"].append(prefix)
            bars["segment"].append(segment)
            bars["n"].append(n)
            left = right
        done = row["released"] + row["memory"] + row["erred"]
        labels["x"].append(0.01)
        labels["y"].append(y)
        labels["text"].append(f"{prefix}: {done} / {row['total']}")
    return bars, labels


def progress_title(progress: dict) -> str:
    t = {f: sum(r[f] for r in progress.values())
         for f in ("total", "waiting", "processing", "memory", "erred", "released")}  # fmt: skip
    return (f"Progress -- total: {t['total']}, waiting: {t['waiting']}, processing: "
            f"{t['processing']}, in memory: {t['memory']}, erred: {t['erred']}, "
            f"released: {t['released']}")  # fmt: skip


class Progress(Pane):
    """One horizontal bar per task prefix; see the module docstring."""

    name, title, interval = "progress", "Progress", 100

    def __init__(self, state, height=None, **options):
        super().__init__(state, **options)
        self.source = ColumnDataSource(empty(BAR_COLUMNS))
        self.labels = ColumnDataSource(empty(LABEL_COLUMNS))
        self.frames = ColumnDataSource(empty(("bottom", "top")))
        fig = make_figure(progress_title({}), height=height, tools="", x_range=Range1d(0, 1),
                          y_range=Range1d(-MIN_ROWS + 0.5, 0.5),
                          toolbar_location=None)  # fmt: skip
        fig.quad(left=0, right=1, bottom="bottom", top="top", source=self.frames,
                 fill_color=None, line_color="#cccccc")  # fmt: skip
        bars = fig.quad(left="left", right="right", bottom="bottom", top="top", source=self.source,
                        fill_color="color", fill_alpha="alpha", line_color=None)  # fmt: skip
        fig.text(x="x", y="y", text="text", source=self.labels, text_baseline="middle",
                 text_font_size="11px")  # fmt: skip
        fig.add_tools(HoverTool(renderers=[bars], tooltips=[
            ("prefix", "@prefix"), ("", "@segment: @n")]))  # fmt: skip
        fig.axis.visible = False
        fig.grid.visible = False
        self.root = fig

    def refresh(self) -> None:
        progress = self.state.progress()
        bars, labels = progress_bars(progress)
        if self.push(self.source, bars) | self.push(self.labels, labels):
            n = len(progress)
            self.push(self.frames, {"bottom": [-i - 0.4 for i in range(n)],
                                    "top": [-i + 0.4 for i in range(n)]})  # fmt: skip
            self.root.y_range.start = -max(n, MIN_ROWS) + 0.5
            self.root.title.text = progress_title(progress)


TABLE_COLUMNS = ("key", "prefix", "exception", "workers", "count")


def exception_columns(rows: list) -> dict:
    """Table columns, newest first."""
    out = empty(TABLE_COLUMNS)
    for row in reversed(rows):
        out["key"].append(row["key"])
        out["prefix"].append(row["prefix"])
        out["exception"].append(row["exception"])
        out["workers"].append(", ".join(row["workers"]))
        out["count"].append(row["count"])
    return out


class Exceptions(Pane):
    """The erred tasks, one row per prefix and exception text."""

    name, title, interval = "exceptions", "Exceptions", 1000

    def __init__(self, state, height=None, **options):
        super().__init__(state, **options)
        self.source = ColumnDataSource(empty(TABLE_COLUMNS))
        widths = {"key": 160, "prefix": 100, "exception": 400, "workers": 160, "count": 50}
        columns = [TableColumn(field=c, title=c, width=widths[c]) for c in TABLE_COLUMNS]
        sizing = {"height": height, "sizing_mode": "stretch_width"} if height else {
            "sizing_mode": "stretch_both"}  # fmt: skip
        self.root = DataTable(source=self.source, columns=columns, index_position=None, **sizing)

    def refresh(self) -> None:
        self.push(self.source, exception_columns(self.state.exceptions()))


PREFIX_BAR_COLUMNS = ("left", "right", "bottom", "top", "prefix", "color", "text", "x", "y")


def prefix_bars(rows, extra: tuple = ()) -> dict:
    """One bar per prefix, first on top, from ``[(prefix, value, label, extra values)]``:
    the bar spans [0, value], the label sits at its left end; *extra* names the
    columns the extra values go to (what a pane's tooltip shows)."""
    out = empty(PREFIX_BAR_COLUMNS + extra)
    for i, (prefix, value, label, more) in enumerate(rows):
        out["left"].append(0)
        out["right"].append(value)
        out["bottom"].append(-i - 0.4)
        out["top"].append(-i + 0.4)
        out["prefix"].append(prefix)
        out["color"].append(prefix_color(prefix))
        out["text"].append(f"{prefix}: {label}")
        out["x"].append(0)
        out["y"].append(-i)
        for column, v in zip(extra, more):
            out[column].append(v)
    return out


class PrefixBars(Pane):
    """A pane of :func:`prefix_bars`: subclasses give ``columns`` (the extra ones),
    ``heading``, ``tooltips``, ``axis_label`` and ``bars()`` (the shaped data)."""

    interval = 500
    columns: tuple = ()
    heading = axis_label = ""
    tooltips: list = []

    def __init__(self, state, height=None, **options):
        super().__init__(state, **options)
        self.source = ColumnDataSource(empty(PREFIX_BAR_COLUMNS + self.columns))
        fig = make_figure(self.heading, height=height, tools="save",
                          y_range=Range1d(-MIN_ROWS + 0.5, 0.5))  # fmt: skip
        bars = fig.quad(left="left", right="right", bottom="bottom", top="top", source=self.source,
                        fill_color="color", line_color=None)  # fmt: skip
        fig.text(x="x", y="y", text="text", source=self.source, text_font_size="11px",
                 text_baseline="middle", x_offset=4)  # fmt: skip
        fig.add_tools(HoverTool(renderers=[bars], tooltips=[("prefix", "@prefix"), *self.tooltips]))
        fig.yaxis.visible = False
        fig.xaxis.axis_label = self.axis_label
        self.root = fig

    def bars(self) -> dict:  # pragma: no cover - every pane overrides it
        raise NotImplementedError

    def refresh(self) -> None:
        data = self.bars()
        if self.push(self.source, data):
            self.root.y_range.start = -max(len(data["prefix"]), MIN_ROWS) + 0.5


def compute_time_bars(compute_time: dict) -> dict:
    """One bar per prefix, longest on top, from ``state.compute_time()``."""
    ordered = sorted(compute_time.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return prefix_bars(((prefix, seconds, format_seconds(seconds),
                         (seconds, tasks, seconds / tasks if tasks else 0.0))
                        for prefix, (seconds, tasks) in ordered),
                       ("seconds", "tasks", "mean"))  # fmt: skip


class ComputeTime(PrefixBars):
    """Total compute time per task prefix (all time)."""

    name, title = "compute-time-per-key", "Compute Time per Key"
    columns = ("seconds", "tasks", "mean")
    heading, axis_label = "Compute time per task prefix", "seconds"
    tooltips = [("compute", "@seconds{0.000} s"), ("tasks", "@tasks"), ("mean", "@mean{0.000} s")]

    def bars(self) -> dict:
        return compute_time_bars(self.state.compute_time())
