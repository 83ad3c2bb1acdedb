"""Static diagnostics: task-stream, profile and summary figures, and one-file HTML reports.

::

    task records (dicts: key, prefix, status, worker, thread, startstops, nbytes, ...)
        |--summarize()--------------> {"tasks", "compute", "transfer", ..., "prefixes": {...}}
        |--task_stream_figure()-----> rectangles per (worker, thread) row
        '--prefix_figure(summary)---> tasks done / erred per prefix
    call tree (shoal.diagnostics.calltree) --profile_figure()--> flame graph (plot_data)
                        all of them --report_html()--> Tabs --file_html(INLINE)--> one HTML file

These serve what a live dashboard cannot: ``performance_report`` (a file that
opens anywhere, offline: BokehJS is inlined, so nothing is fetched), the
``plot=`` / ``filename=`` options of ``Client.get_task_stream`` and
``Client.profile``.  The records are the plain dicts the scheduler's
``get_task_stream`` returns (Dask's shape: ``startstops`` as ``{"action",
"start", "stop"}`` dicts), so figures need no cluster and are tested without
one.  :func:`summarize` is pure and needs no Bokeh; Bokeh is imported by the
figure functions only.

Colours (:mod:`shoal.diagnostics.colors`, which the dashboard's panes use too): a
task prefix takes its own colour (a CRC32 of its name into one palette), transfers
are red, erred tasks black.
"""

from __future__ import annotations

import html

from shoal.core.keys import key_split
from shoal.core.units import format_bytes, format_clock, format_seconds
from shoal.diagnostics.calltree import plot_data
from shoal.diagnostics.colors import NEUTRAL, PALETTE, PrefixColors
from shoal.diagnostics.rectangles import MERGE_BELOW, from_dicts, task_rectangles
from shoal.events import iter_startstops

__all__ = [
    "LOCAL_CLOCK_JS", "check_filename", "clock_axis", "prefix_figure", "profile_figure",
    "report_html", "save_html", "summarize", "task_stream_figure", "write_page",
]  # fmt: skip

def _prefix(record) -> str:
    if record.get("prefix"):
        return str(record["prefix"])
    return key_split(record.get("key"))


# --- the summary (pure) ---------------------------------------------------------------


def summarize(records, start=None, stop=None) -> dict:
    """Totals of task records: tasks, erred, compute and transfer seconds, bytes, per prefix.

    ``duration`` is ``stop - start`` when both are given, else the span of the
    records' startstops.
    """
    prefixes: dict = {}
    lo, hi = float("inf"), float("-inf")
    workers, threads = set(), set()
    for r in records:
        p = prefixes.get(_prefix(r))
        if p is None:
            p = prefixes[_prefix(r)] = {"tasks": 0, "erred": 0, "compute": 0.0, "transfer": 0.0,
                                        "transfers": 0, "nbytes": 0}  # fmt: skip
        p["tasks"] += 1
        p["erred"] += r.get("status") == "error"
        p["nbytes"] += int(r.get("nbytes") or 0)
        spans = list(iter_startstops(r.get("startstops")))
        if spans or r.get("thread"):  # a worker used (not one a task was lost with:
            workers.add(r.get("worker"))  # erred, with no thread and no startstops)
        if r.get("thread"):  # an erred task's record may not say which thread
            threads.add((r.get("worker"), r.get("thread")))
        for action, begin, end in spans:
            lo, hi = min(lo, begin), max(hi, end)
            if action == "compute":
                p["compute"] += end - begin
            elif action == "transfer":
                p["transfer"] += end - begin
                p["transfers"] += 1
    totals = {name: sum(p[name] for p in prefixes.values())
              for name in ("tasks", "erred", "compute", "transfer", "transfers", "nbytes")}  # fmt: skip
    if start is not None and stop is not None:
        duration = max(float(stop) - float(start), 0.0)
    else:
        duration = max(hi - lo, 0.0) if hi >= lo else 0.0
    return {**totals, "duration": duration, "workers": len(workers - {None, ""}),
            "threads": len(threads), "start": start, "stop": stop,
            "prefixes": dict(sorted(prefixes.items(), key=lambda kv: -kv[1]["compute"]))}  # fmt: skip




# --- figures ------------------------------------------------------------------------


#: A datetime tick's label in the reader's own time zone: "14:03:16.5" when ticks are
#: under a second apart (as many decimals as the step needs: "14:03:16.500250" under a
#: millisecond), "14:03:16" under a minute, "14:03" under a day, else the date (of the
#: UTC midnight Bokeh's ticker puts a day's tick at: in local time, west of UTC, the
#: evening before).  (Bokeh's
#: DatetimeTickFormatter writes UTC, and has no time zone to set: a reader in New York
#: saw the task stream five hours off the clock on the wall.)
LOCAL_CLOCK_JS = """
if (!Number.isFinite(tick)) return "";
const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1000;
const d = new Date(tick), two = (n) => String(n).padStart(2, "0");
if (step >= 86400000) return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`;
let text = `${two(d.getHours())}:${two(d.getMinutes())}`;
if (step < 60000) text += `:${two(d.getSeconds())}`;
if (step < 1000) {  // as many decimals as the step needs: "14:03:16.5" every 500 ms
  const ms = Math.round(step);
  const digits = ms >= 100 && ms % 100 === 0 ? 1 : ms >= 10 && ms % 10 === 0 ? 2 : 3;
  text += `.${String(d.getMilliseconds()).padStart(3, "0").slice(0, digits)}`;
}
if (step < 1) text += String(Math.floor((tick - Math.floor(tick)) * 1000)).padStart(3, "0");
const day = (t) => new Date(t).toDateString();  // (the reader's day)
if (ticks.length > 1 && day(ticks[0]) !== day(ticks[ticks.length - 1])
    && (index === 0 || day(ticks[index - 1]) !== day(tick))) {  // ticks across days: say which
  text = `${two(d.getMonth() + 1)}-${two(d.getDate())} ${text}`;
}
return text;
"""


def clock_axis(fig) -> None:
    """Label *fig*'s datetime x axis with clock times in the reader's time zone
    (:data:`LOCAL_CLOCK_JS`: "03:14:16.500", not "500ms"), as every live pane, report
    and profile plot does).  Labels that would touch are left out (a clock time is wider
    than Bokeh's tick spacing assumes: in a side panel they ran into each other)."""
    from bokeh.models import CustomJSTickFormatter, NoOverlap

    fig.xaxis.formatter = CustomJSTickFormatter(code=LOCAL_CLOCK_JS)
    fig.xaxis.major_label_policy = NoOverlap(min_distance=8)


def task_stream_figure(records, title: str = "Task Stream", height: int = 400, width: int = 900,
                       palette=PALETTE, row_label: str | None = None, colors=None):  # fmt: skip
    """One rectangle per startstop, one row per (worker, thread), tiny back-to-back
    tasks as one (:mod:`~shoal.diagnostics.rectangles`, as the live task stream draws
    them); x is wall-clock time.  With *row_label* the y axis numbers the rows under
    that title.  *colors*: a :class:`~shoal.diagnostics.colors.PrefixColors` the
    report's figures share (default: one of this figure's own, over *palette*)."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    colors = colors or PrefixColors(palette or PALETTE)
    tasks = from_dicts(records)  # (a worker thread's in the order they ran)
    rows = {where: i for i, where in enumerate(sorted({(t.worker, t.thread) for t in tasks}))}
    cols = task_rectangles(tasks, rows, MERGE_BELOW, colors)
    source = ColumnDataSource(cols, name="task-stream")
    fig = figure(title=title, height=height, width=width, x_axis_type="datetime",
                 tools="xpan,xwheel_zoom,box_zoom,reset,save", sizing_mode="stretch_width")  # fmt: skip
    clock_axis(fig)
    glyph = fig.quad(left="left", right="right", bottom="bottom", top="top", source=source,
                     fill_color="color", fill_alpha="alpha", line_color=None)  # fmt: skip
    fig.add_tools(HoverTool(renderers=[glyph], point_policy="follow_mouse", tooltips=[
        ("task", "@name"), ("key", "@key"), ("duration", "@duration{0.000} s"),
        ("tasks drawn here", "@tasks"), ("worker", "@worker")]))  # fmt: skip
    fig.ygrid.visible = False
    if row_label is None:
        fig.yaxis.visible = False
    else:
        fig.yaxis.ticker = list(rows.values())  # rows numbered from 0 (a hover names each)
        fig.yaxis.major_label_overrides = {i: str(i) for i in rows.values()}
        fig.yaxis.axis_label = row_label
    return fig


def profile_figure(tree: dict, title: str = "Profile", height: int = 500, width: int = 900,
                   interval: float | None = None):  # fmt: skip
    """A flame graph of a call tree (root at the bottom; width is share of samples)."""
    from bokeh.models import ColumnDataSource, HoverTool, Range1d
    from bokeh.plotting import figure

    data = plot_data(tree or {"count": 0, "children": {}}, interval)
    data["left"] = data["x"]
    data["right"] = [x + w for x, w in zip(data["x"], data["width"])]
    data["bottom"] = [float(d) for d in data["depth"]]
    data["top"] = [d + 1.0 for d in data["depth"]]
    data["fill"] = [NEUTRAL if d == 0 else PALETTE[c % len(PALETTE)]
                    for d, c in zip(data["depth"], data["color"])]  # fmt: skip
    data["label"] = [n if w >= 0.04 else "" for n, w in zip(data["name"], data["width"])]
    source = ColumnDataSource(data, name="profile")
    depth = max(data["depth"] or [0]) + 1
    total = tree.get("count", 0) if tree else 0
    fig = figure(title=f"{title} ({total} samples)", height=height, width=width,
                 x_range=Range1d(0, 1), y_range=Range1d(0, max(depth, 5)),
                 tools="xpan,xwheel_zoom,box_zoom,reset,save", sizing_mode="stretch_width")  # fmt: skip
    rects = fig.quad(left="left", right="right", bottom="bottom", top="top", source=source,
                     fill_color="fill", line_color="white")  # fmt: skip
    fig.text(x="left", y="bottom", text="label", source=source, text_font_size="9px",
             x_offset=2, y_offset=-2, text_baseline="bottom")  # fmt: skip
    fig.add_tools(HoverTool(renderers=[rects], tooltips=[
        ("frame", "@name"), ("samples", "@count"), ("share", "@percentage{0.0} %"),
        ("file", "@filename:@line")]))  # fmt: skip
    fig.axis.visible = False
    fig.grid.visible = False
    return fig


def prefix_figure(summary: dict, title: str = "Tasks per prefix", width: int = 900, colors=None):
    """Horizontal bars: tasks finished and erred per prefix (the progress of the block);
    *colors* as :func:`task_stream_figure`'s."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    colors = colors or PrefixColors()
    names = list(summary["prefixes"])[::-1] or [""]
    ps = summary["prefixes"]
    data = {
        "prefix": names,
        "ok": [ps[n]["tasks"] - ps[n]["erred"] if n in ps else 0 for n in names],
        "erred": [ps[n]["erred"] if n in ps else 0 for n in names],
        "compute": [format_seconds(ps[n]["compute"]) if n in ps else "" for n in names],
        "color": [colors(n) for n in names],
    }
    data["end"] = [o + e for o, e in zip(data["ok"], data["erred"])]
    source = ColumnDataSource(data, name="prefixes")
    fig = figure(title=title, y_range=names, height=max(150, 40 + 28 * len(names)), width=width,
                 tools="save", sizing_mode="stretch_width")  # fmt: skip
    ok = fig.hbar(y="prefix", left=0, right="ok", height=0.7, fill_color="color", line_color=None,
                  source=source)  # fmt: skip
    fig.hbar(y="prefix", left="ok", right="end", height=0.7, fill_color="black", line_color=None,
             source=source)  # fmt: skip
    fig.add_tools(HoverTool(renderers=[ok], tooltips=[
        ("prefix", "@prefix"), ("finished", "@ok"), ("erred", "@erred"), ("compute", "@compute")]))
    fig.xaxis.axis_label = "tasks"
    return fig


def _table(rows, header=None) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(h))}</th>" for h in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='shoal-summary'>{f'<tr>{head}</tr>' if head else ''}{body}</table>"


def _tasks_text(summary: dict) -> str:
    """The summary's task count; with ``finished`` (how many finished in the block) past
    the records it has, says that the figures are of the last of them."""
    tasks, finished = summary["tasks"], summary.get("finished", 0)
    if finished <= tasks:
        return f"{tasks:,}"
    return (f"{finished:,}: the task stream kept the last {tasks:,} "
            "(distributed.scheduler.task-stream-length), which the figures and totals show")


def summary_html(summary: dict, info: dict | None = None, code: str = "") -> str:
    """The summary tab: the computation's totals, per prefix, the cluster, the calling code."""
    info = info or {}
    when = summary.get("start")
    rows = [
        ("Date", format_clock(when, "%Y-%m-%d %H:%M:%S") if when else ""),  # (its zone named)
        ("Duration", format_seconds(summary["duration"])),
        ("Tasks", _tasks_text(summary)), ("Erred", summary["erred"]),
        ("Compute time", format_seconds(summary["compute"])),
        ("Transfers", f"{summary['transfers']} ({format_seconds(summary['transfer'])})"),
        ("Result bytes", format_bytes(summary["nbytes"])),
        ("Workers / threads used", f"{summary['workers']} / {summary['threads']}"),
    ]  # fmt: skip
    for name in ("Scheduler", "Workers", "Threads", "Memory", "shoal version"):
        if name in info:
            rows.append((name, info[name]))
    prefixes = [(p, v["tasks"], v["erred"], format_seconds(v["compute"]),
                 format_seconds(v["compute"] / v["tasks"]) if v["tasks"] else "", v["transfers"],
                 format_bytes(v["nbytes"])) for p, v in summary["prefixes"].items()]  # fmt: skip
    out = ["<style>table.shoal-summary{border-collapse:collapse;margin:0.5em 0}"
           "table.shoal-summary td,table.shoal-summary th{border:1px solid #ccc;padding:2px 8px;"
           "text-align:left}</style>",
           "<h3>Summary</h3>", _table(rows),
           "<h3>Tasks per prefix</h3>",
           _table(prefixes, ("prefix", "tasks", "erred", "compute", "mean", "transfers", "bytes"))]  # fmt: skip
    if code:
        out += ["<h3>Calling code</h3>", f"<pre>{html.escape(code)}</pre>"]
    return "".join(out)


#: Where a written page gets BokehJS (Bokeh's resource modes): "inline" puts it in the
#: file, which then opens offline; "cdn" loads it from the web; the others from a
#: Bokeh server or the installed package (relative or absolute paths).
MODES = ("inline", "cdn", "server", "relative", "absolute", "server-dev", "relative-dev",
         "absolute-dev")  # fmt: skip


def check_mode(mode) -> str:
    """*mode* (None: "inline"), or a ValueError naming the modes there are."""
    mode = "inline" if mode is None else mode
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {', '.join(map(repr, MODES))} or None "
                         "(inline: the file opens offline)")  # fmt: skip
    return mode


def _resources(mode: str):
    from bokeh.resources import Resources

    return Resources(mode=check_mode(mode))


def report_html(records, tree: dict, summary: dict | None = None, info: dict | None = None,
                code: str = "", title: str = "shoal performance report", mode: str = "inline") -> str:
    """The performance report: Summary, Task Stream, Worker Profile and Progress tabs, as one page."""
    from bokeh.embed import file_html
    from bokeh.models import Div, TabPanel, Tabs

    summary = summary if summary is not None else summarize(records)
    colors = PrefixColors()  # (one colour per prefix in every tab, two phases apart)
    for prefix in summary["prefixes"]:  # (in the order they ran)
        colors(prefix)
    panels = [
        TabPanel(child=Div(text=summary_html(summary, info, code), sizing_mode="stretch_width"),
                 title="Summary"),
        TabPanel(child=task_stream_figure(records, colors=colors), title="Task Stream"),
        TabPanel(child=profile_figure(tree, title="Worker Profile (compute)"), title="Worker Profile"),
        TabPanel(child=prefix_figure(summary, colors=colors), title="Progress"),
    ]  # fmt: skip
    return file_html(Tabs(tabs=panels, sizing_mode="stretch_width"), _resources(mode), title)


def save_html(model, filename, title: str, mode="inline") -> str:
    """Write one Bokeh model (a figure) as a standalone HTML file (:func:`write_page`);
    returns ``filename``.  *mode*: how the page gets BokehJS (:data:`MODES`, None:
    inlined), or Bokeh's ``Resources`` (Dask's ``bokeh_resources``)."""
    from bokeh.embed import file_html
    from bokeh.resources import Resources

    check_filename(filename)
    page = file_html(model, mode if isinstance(mode, Resources) else _resources(mode), title)
    return write_page(page, filename, title)


def check_filename(filename, name: str = "filename"):
    """*filename* if it is a path (``str`` or ``os.PathLike``); TypeError naming *name*
    otherwise (an int is a file descriptor to ``open``: the page went into whatever file
    it was, which was then closed)."""
    import os

    if not isinstance(filename, (str, bytes, os.PathLike)) or not os.fspath(filename):
        raise TypeError(f"{name}={filename!r}: expected the path of the HTML file to write")
    return filename


def write_page(page: str, filename, what: str, opener=None):
    """Write *page* to *filename* (``opener(filename)``, else a local file: its missing
    folders made); one that cannot be written is kept in a temporary file, which the
    ``OSError`` raised names: the page is not lost."""
    import os
    import tempfile

    try:
        if opener is None:
            path = os.fspath(filename)
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            f = open(path, "w", encoding="utf-8")
        else:
            f = opener(filename)
        with f as out:  # (an fsspec OpenFile gives its file here)
            out.write(page)
    except Exception as exc:  # (fsspec's too)
        fd, kept = tempfile.mkstemp(prefix="shoal-", suffix=".html")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        why = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
        raise OSError(f"{what} could not be written to {filename!r} ({why}); "
                      f"it is in {kept}") from exc
    return filename
