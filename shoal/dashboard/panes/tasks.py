"""Per-prefix task panes: progress, exceptions, compute time per prefix.

::

    state.progress()      --progress_rows()      --> one bar per prefix (segments)
    state.exceptions()    --exception_columns()  --> a table
    state.compute_time()  --compute_time_bars()  --> one bar per prefix

Progress bars run left to right: released (done, result freed; light), in
memory (solid, the prefix's colour), erred (black), processing (faint), queued
(hatched: root tasks the scheduler holds back until a worker has room); the
unfilled rest is waiting.  One bar per prefix, top to bottom in the order the
prefixes first appeared; a line above them sums them up.  Past :data:`MAX_ROWS`
prefixes (their labels would overlap into noise) the prefixes with tasks still to
do keep their bars, the rest share one grey bar ("N other prefixes").
"""

from __future__ import annotations

from urllib.parse import quote

from bokeh.models import ColumnDataSource, HoverTool, HTMLTemplateFormatter, Range1d, TableColumn

from shoal.dashboard.panes._base import Pane, empty, live_table, make_figure
from shoal.dashboard.panes.style import ERRED, MUTED, format_seconds, prefix_color

__all__ = [
    "ComputeTime", "Exceptions", "PrefixBars", "Progress", "compute_time_bars",
    "exception_columns", "prefix_bars", "progress_rows", "progress_summary",
]  # fmt: skip

SEGMENTS = ("released", "memory", "erred", "processing", "queued")  # left to right
# segment -> (label, alpha); colour: the prefix's, black for erred
_STYLE = {"released": ("released", 0.35), "memory": ("in memory", 1.0),
          "erred": ("erred", 1.0), "processing": ("processing", 0.15), "queued": ("queued", 0.0)}
_HATCHED = "queued"  # drawn as hatching in the prefix's colour, over no fill
ROW_COLUMNS = ("y", "bottom", "top", "frame_alpha", "prefix", "color", "text", "waiting", "total",
               *SEGMENTS, *(f"{s}_{end}" for s in SEGMENTS for end in ("left", "right")))  # fmt: skip
MIN_ROWS = 5  # room for this many bars even when fewer prefixes run (no giant bars)
MAX_ROWS = 20  # bars at most (the last sums up the prefixes left out): 16 px each on /status
OTHERS_COLOR = MUTED
SUMMARY_Y = 0.85  # the summary line sits above the first bar


def _to_do(row: dict) -> int:
    """The tasks of a progress row not done: waiting, queued or processing."""
    return row["waiting"] + row.get("queued", 0) + row["processing"]


def _at_most(progress: dict, rows: int) -> dict:
    """*progress* with at most *rows* bars: the prefixes with tasks to do first (then
    the newest), in order of appearance, and one row summing up the others."""
    if len(progress) <= rows:
        return progress
    items = list(progress.items())
    busy = [i for i, (_, r) in enumerate(items) if _to_do(r)]
    idle = [i for i, (_, r) in enumerate(items) if not _to_do(r)]
    kept = sorted((busy + idle[::-1])[: rows - 1])
    out = {items[i][0]: items[i][1] for i in kept}
    others = dict.fromkeys(items[0][1], 0)
    left = set(range(len(items))) - set(kept)
    for i in left:
        for field, n in items[i][1].items():
            others[field] += n
    out[f"{len(left)} other prefixes"] = others
    return out


def progress_rows(progress: dict, max_rows: int = MAX_ROWS, colors=prefix_color) -> dict:
    """One row per prefix (top to bottom in order of appearance; at most *max_rows*,
    see :func:`_at_most`) with each segment's [left, right] in [0, 1] and its count,
    then a summary row (no bar, only its text) above them: one source for the whole
    pane, so an update is one message and one repaint in the browser."""
    out = empty(ROW_COLUMNS)
    shown = _at_most(progress, max_rows)
    others = next(reversed(shown)) if shown is not progress else None
    totals = dict.fromkeys(("total", "waiting", *SEGMENTS), 0)

    def add(y, half, frame, prefix, color, text, counts, ends):
        out["y"].append(y)
        out["bottom"].append(y - half)
        out["top"].append(y + half)
        out["frame_alpha"].append(frame)
        out["prefix"].append(prefix)
        out["color"].append(color)
        out["text"].append(text)
        for field in ("waiting", "total", *SEGMENTS):
            out[field].append(counts.get(field, 0))
        for segment in SEGMENTS:
            out[f"{segment}_left"].append(ends[segment][0])
            out[f"{segment}_right"].append(ends[segment][1])

    for i, (prefix, row) in enumerate(shown.items()):
        total = row["total"] or 1
        ends, left = {}, 0.0
        for segment in SEGMENTS:
            right = left + row.get(segment, 0) / total
            ends[segment] = (left, right)
            left = right
        for field in totals:
            totals[field] += row.get(field, 0)
        done = row["released"] + row["memory"] + row["erred"]
        color = OTHERS_COLOR if prefix == others else colors(prefix)
        add(-i, 0.4, 1.0, prefix, color, f"{prefix}: {done} / {row['total']}", row, ends)
    add(SUMMARY_Y, 0.0, 0.0, "", "black", progress_summary(totals), totals,
        dict.fromkeys(SEGMENTS, (0.0, 0.0)))  # fmt: skip
    return out


#: The summary line's counts, erred first: on a narrow page (a JupyterLab side panel)
#: the line is cut at the right, and an error count there went unseen.
_SUMMARY = (("erred", "erred"), ("memory", "in memory"), ("processing", "processing"),
            ("queued", "queued"), ("waiting", "waiting"), ("released", "released"))


def progress_summary(totals: dict) -> str:
    """"8 tasks: 1 erred, 2 in memory, 1 processing, 2 queued, 2 waiting": the counts
    that are not zero (each bar's tooltip has them all)."""
    counts = [f"{totals.get(field, 0)} {label}" for field, label in _SUMMARY if totals.get(field)]
    head = f"{totals['total']} task{'' if totals['total'] == 1 else 's'}"
    return f"{head}: {', '.join(counts)}" if counts else head


class Progress(Pane):
    """One horizontal bar per task prefix; see the module docstring.

    The running totals are a line of text inside the plot, not its title: a
    title that changes makes the browser lay the page out again on every
    update, which cost more than drawing the bars."""

    name, title, interval = "progress", "Progress", 100

    def __init__(self, state, height=None, **options):
        super().__init__(state, **options)
        self.source = ColumnDataSource(empty(ROW_COLUMNS))
        fig = make_figure("Progress", height=height, tools="", x_range=Range1d(0, 1),
                          y_range=Range1d(-MIN_ROWS + 0.5, SUMMARY_Y + 0.3),
                          toolbar_location=None)  # fmt: skip
        frames = fig.quad(left=0, right=1, bottom="bottom", top="top", source=self.source,
                          fill_color=None, line_color="#cccccc", line_alpha="frame_alpha")  # fmt: skip
        for segment in SEGMENTS:
            hatch = ({"hatch_pattern": "/", "hatch_color": "color", "hatch_alpha": 0.6,
                      "hatch_scale": 6} if segment == _HATCHED else {})  # fmt: skip
            fig.quad(left=f"{segment}_left", right=f"{segment}_right", bottom="bottom", top="top",
                     source=self.source, fill_color=ERRED if segment == "erred" else "color",
                     fill_alpha=_STYLE[segment][1], line_color=None, **hatch)  # fmt: skip
        # a light box under each label: readable over any segment, the black of erred too
        fig.text(x=0.01, y="y", text="text", source=self.source, text_baseline="middle",
                 text_font_size="11px", background_fill_color="white",
                 background_fill_alpha=0.85, padding=1, border_radius=2)  # fmt: skip
        fig.add_tools(HoverTool(renderers=[frames], tooltips=[
            ("prefix", "@prefix"), *((_STYLE[s][0], f"@{s}") for s in SEGMENTS),
            ("waiting", "@waiting"), ("total", "@total")]))  # fmt: skip
        fig.axis.visible = False
        fig.grid.visible = False
        self.root = fig

    def refresh(self) -> None:
        progress = self.state.progress()
        if self.push(self.source, progress_rows(progress, colors=self.state.colors)):
            self.root.y_range.start = -max(min(len(progress), MAX_ROWS), MIN_ROWS) + 0.5


TABLE_COLUMNS = ("key", "prefix", "exception", "workers", "count", "info")


def task_link(key: str) -> str:
    """Relative link to a key's info page (its story), the key escaped as one segment."""
    return f"info/task/{quote(key, safe='')}.html"


def exception_columns(rows: list) -> dict:
    """Table columns, newest first; ``info`` links each key to its story."""
    out = empty(TABLE_COLUMNS)
    for row in reversed(rows):
        out["key"].append(row["key"])
        out["info"].append(task_link(row["key"]))
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
        columns = [TableColumn(field=c, title=c, width=widths[c]) for c in TABLE_COLUMNS[:-1]]
        columns[0].formatter = HTMLTemplateFormatter(  # the key: a link to its story
            template='<a href="<%- info %>" target="_blank"><%- value %></a>')
        sizing = {"height": height, "sizing_mode": "stretch_width"} if height else {
            "sizing_mode": "stretch_both"}  # fmt: skip
        self.root = live_table(self.source, columns, index_position=None, **sizing)

    def refresh(self) -> None:
        self.push(self.source, exception_columns(self.state.exceptions()))


PREFIX_BAR_COLUMNS = ("left", "right", "bottom", "top", "prefix", "color", "text", "x", "y")


def prefix_bars(rows, extra: tuple = (), colors=prefix_color) -> dict:
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
        out["color"].append(colors(prefix))
        out["text"].append(f"{prefix}: {label}")
        out["x"].append(0)
        out["y"].append(-i)
        for column, v in zip(extra, more):
            out[column].append(v)
    return out


class PrefixBars(Pane):
    """A pane of :func:`prefix_bars`: subclasses give ``columns`` (the extra ones),
    ``heading``, ``empty_note`` (in the title while there is no bar: an empty frame
    said nothing), ``tooltips``, ``axis_label`` and ``bars()`` (the shaped data)."""

    interval = 500
    columns: tuple = ()
    heading = axis_label = empty_note = ""
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
        title = self.heading if data["prefix"] else f"{self.heading} ({self.empty_note})"
        if self.root.title.text != title:
            self.root.title.text = title
        if self.push(self.source, data):
            self.root.y_range.start = -max(len(data["prefix"]), MIN_ROWS) + 0.5


def compute_time_bars(compute_time: dict, colors=prefix_color) -> dict:
    """One bar per prefix, longest on top, from ``state.compute_time()``."""
    ordered = sorted(compute_time.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return prefix_bars(((prefix, seconds, format_seconds(seconds),
                         (seconds, tasks, seconds / tasks if tasks else 0.0))
                        for prefix, (seconds, tasks) in ordered),
                       ("seconds", "tasks", "mean"), colors)  # fmt: skip


class ComputeTime(PrefixBars):
    """Total compute time per task prefix (all time)."""

    name, title = "compute-time-per-key", "Compute Time per Key"
    columns = ("seconds", "tasks", "mean")
    heading, axis_label = "Compute time per task prefix", "seconds"
    empty_note = "no task has finished yet"
    tooltips = [("compute", "@seconds{0.000} s"), ("tasks", "@tasks"), ("mean", "@mean{0.000} s")]

    def bars(self) -> dict:
        return compute_time_bars(self.state.compute_time(), self.state.colors)
