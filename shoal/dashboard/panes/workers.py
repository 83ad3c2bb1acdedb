"""Per-worker load panes: tasks processing, occupancy, CPU, and the workers table.

::

    state.workers() --worker_bars(field)--> one bar per worker
                    --worker_histogram()---> past HISTOGRAM_FROM workers: how many
                                             workers at each level (as Dask's)
                    --worker_table()-------> a DataTable row per worker

``processing`` counts the tasks the scheduler has assigned to the worker (from
the transitions); ``occupancy`` estimates their run time as the scheduler does:
each prefix's expected compute time, halfway from the last estimate to each task
that finishes (``distributed.scheduler.unknown-task-duration`` before the first).
Processing bars are blue, green when the worker has more
than twice as many tasks as threads (saturated), red when it has fewer tasks
than threads (idle); CPU bars are blue, on an axis that spans what the busiest
worker's threads can use (100% a thread, :func:`cpu_axis_end`): a worker at 6%
is a sliver, not a full bar.
"""

from __future__ import annotations

from bokeh.models import (
    ColumnDataSource,
    HoverTool,
    HTMLTemplateFormatter,
    NumberFormatter,
    OpenURL,
    Range1d,
    TableColumn,
    TapTool,
)

from shoal.dashboard.panes._base import Pane, empty, live_table, make_figure
from shoal.dashboard.panes.memory import worker_link
from shoal.dashboard.panes.style import (
    HISTOGRAM_BINS, HISTOGRAM_FROM, PRIMARY, bins_of, format_bytes, format_seconds,
)  # fmt: skip

__all__ = ["Cpu", "NProcessing", "Occupancy", "WorkerTable", "cpu_axis_end", "worker_bars",
           "worker_histogram", "worker_table"]

BAR_COLUMNS = ("left", "right", "bottom", "top", "color", "worker", "value", "text", "info")
IDLE, BUSY, SATURATED = "red", PRIMARY, "green"


def load_color(processing: int, nthreads: int) -> str:
    if processing < nthreads:
        return IDLE
    if processing > 2 * nthreads:
        return SATURATED
    return BUSY


def worker_bars(workers: list, field: str) -> dict:
    """One bar per worker of ``processing``, ``occupancy`` or ``cpu``."""
    out = empty(BAR_COLUMNS)
    for i, w in enumerate(workers):
        value = w[field]
        out["left"].append(0)
        out["right"].append(value)
        out["bottom"].append(-i - 0.4)
        out["top"].append(-i + 0.4)
        if field == "cpu":
            out["color"].append(BUSY)
            out["text"].append(f"{value:.0f} %")
        else:
            out["color"].append(load_color(w["processing"], w["nthreads"] or 1))
            out["text"].append(format_seconds(value) if field == "occupancy" else str(value))
        out["worker"].append(w.get("name") or w["address"])
        out["value"].append(value)
        out["info"].append(worker_link(w["address"]))
    return out


def worker_histogram(workers: list, field: str, end: float) -> dict:
    """For many workers: how many have each level of ``processing``, ``occupancy`` or
    ``cpu`` (bins over ``[0, end]``); a bin's colour says whether its workers are idle,
    busy or saturated, as each worker's bar did (the most idle of them first: idle
    workers are what to look for).  A click opens the workers' table."""
    out = empty(BAR_COLUMNS)
    values = [w[field] for w in workers]
    bins = HISTOGRAM_BINS
    if field == "processing":  # a count: whole bins (0, 1, 2... or 0-4, 5-9...)
        n = int(max(values, default=0)) + 1
        width = -(-n // HISTOGRAM_BINS)
        bins = -(-n // width)
        end = bins * width
    for left, right, members in bins_of(values, end, bins):
        if not members:
            continue
        if field == "cpu":
            color, text = BUSY, f"{left:.0f} to {right:.0f} %"
        else:
            colors = {load_color(workers[i]["processing"], workers[i]["nthreads"] or 1)
                      for i in members}  # fmt: skip
            color = next(c for c in (IDLE, BUSY, SATURATED) if c in colors)
            if field == "occupancy":
                text = f"{format_seconds(left)} to {format_seconds(right)}"
            else:
                last = round(right) - 1
                text = f"{left:.0f}" if last <= left else f"{left:.0f} to {last}"
        out["left"].append(left)
        out["right"].append(right)
        out["bottom"].append(0)
        out["top"].append(len(members))
        out["color"].append(color)
        out["worker"].append(f"{len(members)} worker{'' if len(members) == 1 else 's'}")
        out["value"].append(len(members))
        out["text"].append(text)
        out["info"].append("workers")
    return out


def cpu_axis_end(workers: list) -> float:
    """Where the CPU axis ends: 100% per thread of the worker with the most threads,
    or further when a worker uses more (threads a library started).

    >>> cpu_axis_end([{"nthreads": 2, "cpu": 30.0}, {"nthreads": 1, "cpu": 250.0}])
    250.0
    """
    capacity = 100.0 * max((w["nthreads"] or 1 for w in workers), default=1)
    return max([capacity, *(w["cpu"] for w in workers)])


class _WorkerBars(Pane):
    field, label, interval = "processing", "tasks", 100
    axis_floor = 1.0  # the value axis reaches at least this far (a task; 0.1 s of occupancy)

    def __init__(self, state, height=None, **options):
        super().__init__(state, **options)
        self.source = ColumnDataSource(empty(BAR_COLUMNS))
        fig = make_figure(self.heading, height=height, tools="tap,save", y_range=Range1d(-0.5, 0.5),
                          x_range=Range1d(0, 1))  # from zero: no "-1 tasks" when idle
        bars = fig.quad(left="left", right="right", bottom="bottom", top="top", source=self.source,
                        fill_color="color", line_color=None)  # fmt: skip
        fig.add_tools(HoverTool(renderers=[bars], tooltips=[("worker", "@worker"),
                                                            (self.field, "@text")]))  # fmt: skip
        fig.select_one(TapTool).callback = OpenURL(url="@info")
        fig.yaxis.visible = False
        fig.yaxis.axis_label = "workers"  # (shown for the histogram of many workers)
        fig.xaxis.axis_label = self.label
        if self.field == "processing":  # a count: whole ticks only
            fig.xaxis.ticker.min_interval = 1
        self.root = fig

    def refresh(self) -> None:
        workers = self.state.workers()
        many = len(workers) > HISTOGRAM_FROM
        if many:
            bars = worker_histogram(workers, self.field, self.value_end(workers))
        else:
            bars = worker_bars(workers, self.field)
        if self.push(self.source, bars):
            fig = self.root
            if many:  # (the y axis counts workers)
                fig.y_range.start, fig.y_range.end = 0, max(bars["top"], default=1) * 1.1
            else:
                fig.y_range.start, fig.y_range.end = -max(len(workers), 1) + 0.5, 0.5
            fig.yaxis.visible = many
            self.fit_x(workers, bars)

    def value_end(self, workers: list) -> float:
        """Where the histogram's bins end: the largest value (at least 1)."""
        return max([w[self.field] for w in workers] + [1])

    def fit_x(self, workers: list, bars: dict) -> None:
        """Set the value axis for *workers*, drawn as *bars*: from zero to a little
        past the longest bar, at least :attr:`axis_floor`.  (Set here with the bars,
        not by a ``DataRange1d``, which BokehJS fits while it paints, and then paints
        again: see :mod:`~shoal.dashboard.panes.stream`.)"""
        end = max(self.axis_floor, 1.05 * max(bars["right"], default=0))
        if end != self.root.x_range.end:
            self.root.x_range.end = end


class NProcessing(_WorkerBars):
    name, title, heading = "nprocessing", "Tasks Processing", "Tasks processing per worker"
    field, label = "processing", "tasks"


class Occupancy(_WorkerBars):
    name, title, heading = "occupancy", "Occupancy", "Expected work per worker (occupancy)"
    field, label = "occupancy", "seconds"
    axis_floor = 0.1  # (a worker with 40 ms of work to do shows a bar, not a sliver)


class Cpu(_WorkerBars):
    name, title, heading = "cpu", "CPU", "CPU use per worker"
    field, label = "cpu", "CPU %"

    def __init__(self, state, height=None, **options):
        super().__init__(state, height=height, **options)
        self.root.x_range.end = 100

    def value_end(self, workers: list) -> float:
        return cpu_axis_end(workers)

    def fit_x(self, workers: list, bars: dict) -> None:
        end = cpu_axis_end(workers)
        if end != self.root.x_range.end:
            self.root.x_range.end = end


TABLE_COLUMNS = ("name", "address", "nthreads", "cpu", "memory", "memory_limit", "memory_pct",
                 "spilled", "processing", "executing", "ready", "info")  # fmt: skip


def worker_table(workers: list) -> dict:
    """Table columns; byte counts as readable text, a total row first."""
    out = empty(TABLE_COLUMNS)
    rows = sorted(workers, key=lambda w: str(w.get("name") or w["address"]))
    if rows:
        total = {"name": "Total", "address": f"{len(rows)} worker{'' if len(rows) == 1 else 's'}",
                 "info": ""}
        for f in ("nthreads", "cpu", "managed", "unmanaged", "memory_limit", "spilled",
                  "processing", "executing", "ready"):  # fmt: skip
            total[f] = sum(w[f] for w in rows)
        rows = [total, *rows]
    for w in rows:
        memory = w["managed"] + w["unmanaged"]
        out["name"].append(str(w.get("name") or w["address"]))
        out["address"].append(w["address"])
        out["nthreads"].append(w["nthreads"])
        out["cpu"].append(round(w["cpu"], 1))
        out["memory"].append(format_bytes(memory))
        out["memory_limit"].append(format_bytes(w["memory_limit"]) if w["memory_limit"] else "")
        out["memory_pct"].append(round(100 * memory / w["memory_limit"], 1)
                                 if w["memory_limit"] else 0.0)  # fmt: skip
        out["spilled"].append(format_bytes(w["spilled"]))
        out["processing"].append(w["processing"])
        out["executing"].append(w["executing"])
        out["ready"].append(w["ready"])
        out["info"].append("" if w.get("info") == "" else worker_link(w["address"]))
    return out


#: a column's share of the table's width: the address needs room ("tcp://127.0.0.1:4…")
_WIDTHS = {"name": 80, "address": 200, "memory": 90, "memory_limit": 90, "spilled": 80}
_ROW_PX = 25  # BokehJS's row (and header) height


class WorkerTable(Pane):
    """Address, name, threads, CPU, memory, limit, spilled and tasks per worker."""

    name, title, interval = "workers", "Workers", 500

    def __init__(self, state, height=None, **options):
        super().__init__(state, **options)
        self.source = ColumnDataSource(empty(TABLE_COLUMNS))
        titles = {"nthreads": "threads", "cpu": "CPU %", "memory_limit": "limit",
                  "memory_pct": "memory %", "processing": "tasks"}  # fmt: skip
        columns = []
        for c in TABLE_COLUMNS[:-1]:
            kw = {"width": _WIDTHS.get(c, 70)}  # (shares of the table's width)
            if c in ("cpu", "memory_pct"):
                kw["formatter"] = NumberFormatter(format="0.0")
            elif c == "address":
                kw["formatter"] = HTMLTemplateFormatter(
                    template='<% if (info) { %><a href="<%- info %>"><%- value %></a>'
                    "<% } else { %><%- value %><% } %>")
            columns.append(TableColumn(field=c, title=titles.get(c, c), **kw))
        sizing = {"height": height, "sizing_mode": "stretch_width"} if height else {
            "sizing_mode": "stretch_both"}  # fmt: skip
        # a table given a height shrinks to its rows: the page's panes below move up
        self.most = height
        self.root = live_table(self.source, columns, index_position=None, **sizing)

    def refresh(self) -> None:
        data = worker_table(self.state.workers())
        self.push(self.source, data)
        if self.most:
            height = min(self.most, _ROW_PX * (len(data["name"]) + 1) + 10)
            if self.root.height != height:  # (only when the number of workers changed)
                self.root.height = height
