"""Memory panes: bytes per worker, on the whole cluster, and per task prefix.

::

    state.workers()          --memory_bars(per worker)--> stacked bar per worker
                             --memory_bars(cluster)----> one stacked bar
    state.memory_by_prefix() --prefix_bytes_bars()-----> one bar per prefix

Past ``HISTOGRAM_FROM`` workers the per-worker pane is a histogram instead: how
many workers hold each level of memory, a bin coloured as its fullest worker.

A worker's bar stacks managed memory (alpha 1), unmanaged memory (alpha 0.6)
and spilled bytes (grey).  Its colour says how full the worker's process is
against the config thresholds ``distributed.worker.memory.*``: blue, orange from
``min(target, spill)``, red from ``min(pause, terminate, 1)`` or while it is
paused; a dashed line marks each worker's limit.  The cluster's bar takes the colour
of its fullest worker.  Managed memory is at most the process's (a result's measured
size may count pages never touched), spilled bytes are those in the spill files.
"""

from __future__ import annotations

from urllib.parse import quote

from bokeh.models import (
    ColumnDataSource,
    HoverTool,
    OpenURL,
    Range1d,
    TapTool,
)

from shoal.dashboard.panes._base import Pane, bytes_axis, empty, make_figure
from shoal.dashboard.panes.style import (
    HISTOGRAM_FROM,
    SPILLED,
    bins_of,
    format_bytes,
    memory_color,
    memory_thresholds,
    prefix_color,
    worst_color,
)
from shoal.dashboard.panes.tasks import PrefixBars, prefix_bars

__all__ = [
    "ClusterMemory", "MemoryByKey", "WorkersMemory", "bar_color", "cluster_totals", "memory_bars",
    "memory_histogram", "memory_look", "memory_title", "prefix_bytes_bars", "worker_link",
]  # fmt: skip

COLUMNS = ("left", "right", "bottom", "top", "color", "alpha", "worker", "segment", "nbytes",
           "text", "limit", "info")  # fmt: skip
LIMIT_COLUMNS = ("x", "bottom", "top")


def worker_link(address: str) -> str:
    """Relative link to a worker's info page (the address escaped as one segment;
    the page also takes it escaped twice, as Bokeh's OpenURL sends it)."""
    return f"info/worker/{quote(address, safe='')}.html"


def bar_color(w: dict, thresholds: dict) -> str:
    """A worker's bar colour (:func:`~.style.memory_color` of its process), or the
    row's own ``color`` (the cluster's: that of its fullest worker)."""
    return w.get("color") or memory_color(w["managed"] + w["unmanaged"], w["memory_limit"],
                                          thresholds, w.get("paused", False))  # fmt: skip


def memory_bars(workers: list, thresholds: dict) -> tuple:
    """``(bars, limits)``: stacked segments per worker row (zero widths dropped)
    and each worker's limit as a vertical mark."""
    bars, limits = empty(COLUMNS), empty(LIMIT_COLUMNS)
    for i, w in enumerate(workers):
        y = -i
        color = bar_color(w, thresholds)
        left = 0
        for segment, nbytes, seg_color, alpha in (
            ("managed", w["managed"], color, 1.0),
            ("unmanaged", w["unmanaged"], color, 0.6),
            ("spilled", w["spilled"], SPILLED, 0.6),
        ):
            if nbytes <= 0:
                continue
            bars["left"].append(left)
            bars["right"].append(left + nbytes)
            bars["bottom"].append(y - 0.4)
            bars["top"].append(y + 0.4)
            bars["color"].append(seg_color)
            bars["alpha"].append(alpha)
            bars["worker"].append(w.get("name") or w["address"])
            bars["segment"].append(segment)
            bars["nbytes"].append(nbytes)
            bars["text"].append(format_bytes(nbytes))
            bars["limit"].append(format_bytes(w["memory_limit"]))
            bars["info"].append(worker_link(w["address"]))
            left += nbytes
        if w["memory_limit"]:
            limits["x"].append(w["memory_limit"])
            limits["bottom"].append(y - 0.45)
            limits["top"].append(y + 0.45)
    return bars, limits


def memory_histogram(workers: list, thresholds: dict, xmax: float) -> tuple:
    """``(bars, limits)`` for many workers: how many workers hold each level of memory
    (their process's bytes, in bins over ``[0, xmax]``), each bin coloured as its
    fullest worker; a click opens the workers' table.  No limit marks."""
    bars, limits = empty(COLUMNS), empty(LIMIT_COLUMNS)
    process = [w["managed"] + w["unmanaged"] for w in workers]
    for left, right, members in bins_of(process, xmax):
        if not members:
            continue
        colors = [bar_color(workers[i], thresholds) for i in members]
        bars["left"].append(left)
        bars["right"].append(right)
        bars["bottom"].append(0)
        bars["top"].append(len(members))
        bars["color"].append(worst_color(colors))
        bars["alpha"].append(1.0)
        bars["worker"].append(f"{len(members)} worker{'' if len(members) == 1 else 's'}")
        bars["segment"].append("holding")
        bars["nbytes"].append(sum(process[i] for i in members))
        bars["text"].append(f"{format_bytes(left)} to {format_bytes(right)}")
        bars["limit"].append("")
        bars["info"].append("workers")
    return bars, limits


def memory_look(workers: list, xmax: float, thresholds: dict) -> tuple:
    """What the bars show: per worker its colour and segment ends in thousandths
    of the axis (under a pixel at any usual width), and its limit mark."""
    look = []
    for w in workers:
        process = w["managed"] + w["unmanaged"]
        ends = (w["managed"], process, process + w["spilled"])
        look.append((bar_color(w, thresholds), *(round(1000 * e / xmax) for e in ends),
                     w["memory_limit"]))  # fmt: skip
    return tuple(look)


def cluster_totals(workers: list) -> dict:
    """One pseudo-worker summing all workers (for the cluster bar and titles)."""
    total = {"address": "cluster", "name": "cluster", "managed": 0, "unmanaged": 0, "spilled": 0,
             "memory_limit": 0}  # fmt: skip
    for w in workers:
        for field in ("managed", "unmanaged", "spilled", "memory_limit"):
            total[field] += w[field]
    return total


def memory_title(total: dict, what: str = "Bytes stored") -> str:
    return (f"{what}: {format_bytes(total['managed'] + total['unmanaged'])}"
            f" + {format_bytes(total['spilled'])} spilled to disk")  # fmt: skip


def _xmax(workers: list) -> float:
    return max([max(w["memory_limit"], w["managed"] + w["unmanaged"] + w["spilled"])
                for w in workers] or [0]) or 1  # fmt: skip


class WorkersMemory(Pane):
    """Bytes stored per worker; click a bar for the worker's info page."""

    name, title, interval = "workers-memory", "Workers Memory", 100
    what = "Bytes stored per worker"
    cluster = False

    def __init__(self, state, height=None, **options):
        super().__init__(state, **options)
        self.thresholds = memory_thresholds()
        self.source = ColumnDataSource(empty(COLUMNS))
        self.limits = ColumnDataSource(empty(LIMIT_COLUMNS))
        fig = make_figure("Bytes stored per worker", height=height, tools="tap,save",
                          x_range=Range1d(0, 1), y_range=Range1d(-0.5, 0.5))  # fmt: skip
        bars = fig.quad(left="left", right="right", bottom="bottom", top="top", source=self.source,
                        fill_color="color", fill_alpha="alpha", line_color=None)  # fmt: skip
        fig.segment(x0="x", x1="x", y0="bottom", y1="top", source=self.limits, line_color="black",
                    line_dash="dashed", line_width=1)  # fmt: skip
        fig.add_tools(HoverTool(renderers=[bars], tooltips=[
            ("worker", "@worker"), ("@segment", "@text"), ("limit", "@limit")]))  # fmt: skip
        if not self.cluster:
            fig.select_one(TapTool).callback = OpenURL(url="@info")
        fig.yaxis.visible = False
        fig.yaxis.axis_label = "workers"  # (shown for the histogram of many workers)
        fig.xaxis.axis_label = "bytes"
        bytes_axis(fig.xaxis)
        self.root = fig

    def rows(self, workers: list) -> list:
        """The bars' rows, from ``state.workers()``: one per worker."""
        return workers

    def refresh(self) -> None:
        all_workers = self.state.workers()
        workers = self.rows(all_workers)
        xmax = _xmax(workers)
        if self.same_look(memory_look(workers, xmax, self.thresholds)):
            return  # the title's exact figure follows within SETTLE seconds
        many = len(workers) > HISTOGRAM_FROM
        if many:
            bars, limits = memory_histogram(workers, self.thresholds, xmax)
        else:
            bars, limits = memory_bars(workers, self.thresholds)
        changed = self.push(self.source, bars) | self.push(self.limits, limits)
        if changed:
            fig = self.root
            fig.x_range.end = xmax * 1.02
            if many:  # (the y axis counts workers)
                fig.y_range.start, fig.y_range.end = 0, max(bars["top"], default=1) * 1.1
            else:
                fig.y_range.start, fig.y_range.end = -max(len(workers), 1) + 0.5, 0.5
            fig.yaxis.visible = many
            fig.title.text = memory_title(cluster_totals(all_workers), self.what)


class ClusterMemory(WorkersMemory):
    """All workers' bytes as one bar."""

    name, title = "cluster-memory", "Cluster Memory"
    what = "Bytes stored on the cluster"
    cluster = True

    def rows(self, workers: list) -> list:
        """One row summing the workers, coloured as the fullest of them (a paused
        worker's red is not diluted by idle ones' room)."""
        if not workers:
            return []
        total = cluster_totals(workers)
        total["color"] = worst_color(bar_color(w, self.thresholds) for w in workers)
        return [total]


def prefix_bytes_bars(memory: dict, colors=prefix_color) -> dict:
    """One bar per prefix holding results in memory, largest on top."""
    ordered = sorted(memory.items(), key=lambda kv: (-kv[1], kv[0]))
    return prefix_bars(((prefix, nbytes, format_bytes(nbytes), (nbytes,))
                        for prefix, nbytes in ordered), ("nbytes",), colors)  # fmt: skip


class MemoryByKey(PrefixBars):
    """Bytes of results in memory, per task prefix."""

    name, title = "memory-by-key", "Memory by Key"
    columns = ("nbytes",)
    heading, axis_label = "Bytes in memory per task prefix", "bytes"
    empty_note = "no result is held"
    tooltips = [("bytes", "@nbytes{0.00 b}")]

    def __init__(self, state, height=None, **options):
        super().__init__(state, height, **options)
        bytes_axis(self.root.xaxis)

    def bars(self) -> dict:
        return prefix_bytes_bars(self.state.memory_by_prefix(), self.state.colors)
