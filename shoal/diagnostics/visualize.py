"""Plots of the local profilers' results, as Dask's ``visualize``: one Bokeh figure each,
stacked on one time axis.

::

    visualize([prof, rprof], filename="profile.html", show=True, save=None)
    prof.visualize()   rprof.visualize()          (the same, for one)

    Profiler          --task_figure-->     a rectangle per task, a row per worker_id
                                            (a thread, or a pool worker's PID), the
                                            task stream's colours (report.py)
    ResourceProfiler  --resource_figure--> memory (MB, left axis) and CPU (%, right axis)
    CacheProfiler     --cache_figure-->    results held in memory (their metric), a step
                                            line per task prefix (cache_steps)

The figures share the first one's time axis (wall-clock, as the records).  In a
Jupyter kernel the layout shows in the notebook (``show=True``) with BokehJS
inlined, once per kernel (it works offline, on Binder and behind JupyterHub alike;
each copy is ~8 MB of output), and a file is written only with ``save=True``;
elsewhere ``save`` defaults to True and ``show=True`` opens the saved file in a
browser.  The layout is returned either way.
"""

from __future__ import annotations

import os

__all__ = ["cache_figure", "cache_steps", "resource_figure", "task_figure", "visualize"]


def task_figure(results, title: str = "Tasks", label_size=None, **kwargs):
    """The task stream of :class:`~shoal.diagnostics.Profiler` results (``TaskData``), a
    row per worker id (``height``, ``width``, ``palette`` as
    :func:`~shoal.diagnostics.report.task_stream_figure`)."""
    from shoal.diagnostics.report import task_stream_figure

    records = [{"key": r.key, "prefix": r.task_prefix, "worker": "", "thread": r.worker_id,
                "startstops": [("compute", r.start_time, r.end_time)]} for r in results]  # fmt: skip
    fig = task_stream_figure(records, title=title, row_label="Worker ID", **kwargs)
    _label_size(fig, label_size)
    return fig


def resource_figure(results, title: str = "Memory and CPU", height: int = 300, width: int = 900,
                    label_size=None, palette=None):  # fmt: skip
    """Memory and CPU over time of :class:`~shoal.diagnostics.ResourceProfiler` results."""
    from bokeh.models import ColumnDataSource, HoverTool, LinearAxis, Range1d
    from bokeh.plotting import figure

    from shoal.diagnostics.colors import PRIMARY
    from shoal.diagnostics.report import clock_axis

    source = ColumnDataSource({"time": [r.time * 1000 for r in results],
                               "mem": [r.mem for r in results],
                               "cpu": [r.cpu for r in results]})  # fmt: skip
    top_mem = max([r.mem for r in results] or [1.0]) * 1.1 or 1.0
    top_cpu = max([r.cpu for r in results] or [100.0]) * 1.1 or 100.0
    fig = figure(title=title, height=height, width=width, x_axis_type="datetime",
                 y_range=Range1d(0, top_mem), tools="xpan,xwheel_zoom,box_zoom,reset,save",
                 sizing_mode="stretch_width")  # fmt: skip
    clock_axis(fig)
    fig.yaxis.axis_label = "Memory (MB)"
    fig.extra_y_ranges = {"cpu": Range1d(0, top_cpu)}
    fig.add_layout(LinearAxis(y_range_name="cpu", axis_label="% CPU"), "right")
    mem = fig.line("time", "mem", source=source, color=PRIMARY, line_width=2, legend_label="Memory")
    cpu = fig.line("time", "cpu", source=source, color="#d62728", line_width=2,
                   y_range_name="cpu", legend_label="% CPU")  # fmt: skip
    fig.add_tools(HoverTool(renderers=[mem, cpu], mode="vline", tooltips=[
        ("memory", "@mem{0.0} MB"), ("CPU", "@cpu{0.0} %")]))  # fmt: skip
    fig.legend.location = "bottom_right"
    _label_size(fig, label_size)
    return fig


def _label_size(fig, size) -> None:
    if size is not None:
        for axis in (*fig.xaxis, *fig.yaxis):
            axis.major_label_text_font_size = size


def cache_steps(results) -> dict:
    """``{prefix: (times, totals)}``: what results of each task prefix weighed in memory
    over time, as steps (each change at its time), from ``CacheData`` results; the
    prefixes that weighed most at their peak first, the rest summed as :data:`OTHERS`
    past :data:`CACHE_LINES`.

    >>> from shoal.diagnostics.profile import CacheData
    >>> cache_steps([CacheData("a-1", "a", 1, 0.0, 2.0), CacheData("a-2", "a", 1, 1.0, 3.0)])
    {'a': ([0.0, 1.0, 2.0, 3.0], [1, 2, 1, 0])}
    """
    changes: dict = {}
    for r in results:
        changes.setdefault(r.task_prefix, []).extend(((r.cache_time, r.metric), (r.free_time, -r.metric)))
    lines = {}
    for prefix, moves in changes.items():
        moves.sort(key=lambda move: move[0])
        times, totals, total = [], [], 0
        for when, delta in moves:
            total += delta
            if times and times[-1] == when:
                totals[-1] = total
            else:
                times.append(when)
                totals.append(total)
        lines[prefix] = (times, totals)
    ranked = sorted(lines, key=lambda p: -max(lines[p][1], default=0))
    if len(ranked) <= CACHE_LINES:
        return {p: lines[p] for p in ranked}
    shown = [p for p in ranked if p != OTHERS][: CACHE_LINES - 1]
    rest = [r._replace(task_prefix=OTHERS) for r in results if r.task_prefix not in shown]
    out = {p: lines[p] for p in shown}
    out.update(cache_steps(rest))
    return out


#: The line of the cache figure summing the prefixes past :data:`CACHE_LINES`.
OTHERS = "(other prefixes)"


#: Lines of the cache figure at most (one per task prefix, the rest as :data:`OTHERS`).
CACHE_LINES = 10


def cache_figure(results, metric_name: str = "count", title: str = "Results in memory",
                 height: int = 300, width: int = 900, palette=None, label_size=None):  # fmt: skip
    """What :class:`~shoal.diagnostics.CacheProfiler` results held in memory over time,
    a step line per task prefix (its ``metric``, summed), each in a colour of its own."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    from shoal.diagnostics.colors import PALETTE, distinct_colors
    from shoal.diagnostics.report import clock_axis

    fig = figure(title=title, height=height, width=width, x_axis_type="datetime",
                 tools="xpan,xwheel_zoom,box_zoom,reset,save", sizing_mode="stretch_width")  # fmt: skip
    clock_axis(fig)
    fig.yaxis.axis_label = f"Results in memory ({metric_name})"
    renderers = []
    lines = cache_steps(results)
    colors = distinct_colors(lines, palette or PALETTE)
    for prefix, (times, totals) in lines.items():
        source = ColumnDataSource({"time": [t * 1000 for t in times], "total": totals,
                                   "prefix": [prefix] * len(times)})  # fmt: skip
        renderers.append(fig.step("time", "total", source=source, mode="after", line_width=2,
                                  color=colors[prefix], legend_label=prefix))  # fmt: skip
    fig.add_tools(HoverTool(renderers=renderers, tooltips=[("prefix", "@prefix"),
                                                           (metric_name, "@total")]))  # fmt: skip
    if renderers:
        fig.legend.location = "top_left"
        fig.legend.click_policy = "hide"
    _label_size(fig, label_size)
    return fig


def _figure(profiler, options: dict):
    from shoal.diagnostics.profile import CacheProfiler, Profiler, ResourceProfiler

    if isinstance(profiler, Profiler):
        return task_figure(profiler.results, **options)
    if isinstance(profiler, ResourceProfiler):
        return resource_figure(profiler.results, **options)
    if isinstance(profiler, CacheProfiler):
        return cache_figure(profiler.results, profiler.metric_name, **options)
    raise TypeError("visualize: a Profiler, a ResourceProfiler or a CacheProfiler, not "
                    f"{type(profiler).__name__}")  # fmt: skip


_bokehjs_loaded = False


def _load_bokehjs() -> None:
    """Put BokehJS (inlined: ~8 MB of output) into the notebook once per kernel, and
    again when Bokeh's notebook mode was turned off meanwhile (``reset_output()``)."""
    global _bokehjs_loaded
    from bokeh.io.state import curstate

    if not _bokehjs_loaded or not curstate().notebook:
        from bokeh.io import output_notebook
        from bokeh.resources import INLINE

        output_notebook(resources=INLINE, hide_banner=True)
        _bokehjs_loaded = True


def _palette(palette) -> tuple:
    """A list of colours, or a Bokeh palette's name (its largest size), as colours."""
    if isinstance(palette, str):
        from bokeh.palettes import all_palettes

        sizes = all_palettes.get(palette)
        if sizes is None:
            raise ValueError(f"visualize: no Bokeh palette named {palette!r}; some are "
                             f"{', '.join(sorted(all_palettes)[:8])}, ...")  # fmt: skip
        return tuple(sizes[max(sizes)])
    colors = tuple(palette)
    if not colors or not all(isinstance(c, str) for c in colors):
        raise TypeError(f"visualize: palette must be colours (strings) or a palette's name, "
                        f"not {palette!r}")  # fmt: skip
    return colors


#: Dask's ``visualize`` options for the figures that this one takes too
FIGURE_OPTIONS = ("width", "height", "title", "palette", "label_size")
_BOKEH2_NAMES = {"plot_width": "width", "plot_height": "height"}  # (Bokeh 2's spellings)


def visualize(profilers, filename: str = "profile.html", show: bool = True, save=None,
              mode=None, file_path=None, **options):  # fmt: skip
    """Plot profilers' results, one figure each on one time axis; returns the layout.

    ``save`` (default: True outside a Jupyter kernel) writes it to ``filename``
    (``file_path``, Dask's older name, too) as one self-contained HTML file
    (``mode="cdn"`` loads BokehJS from the web); ``show`` displays it in the
    notebook, or opens the saved file in a browser.  Each figure takes Dask's
    options: ``width``, ``height`` (or ``plot_width``, ``plot_height``), ``title``,
    ``palette`` (a list of colours for the task prefixes, or the name of one of
    Bokeh's palettes such as ``"Viridis"``, as Dask takes it) and ``label_size`` (a CSS
    font size for the axes' labels, e.g. ``"8pt"``); any other is an error.
    """
    from shoal.diagnostics import notebook
    from shoal.diagnostics.report import save_html

    if file_path is not None:
        filename = file_path
    options = {_BOKEH2_NAMES.get(k, k): v for k, v in options.items()}
    unknown = sorted(set(options) - set(FIGURE_OPTIONS))
    if unknown:
        raise TypeError(f"visualize: unknown option(s) {', '.join(map(repr, unknown))}; it takes "
                        f"{', '.join(FIGURE_OPTIONS)} (and plot_width, plot_height)")  # fmt: skip
    if options.get("palette") is not None:
        options["palette"] = _palette(options["palette"])
    if not isinstance(profilers, (list, tuple)):
        profilers = [profilers]
    if not profilers:
        raise ValueError("visualize: no profilers to plot")
    figures = [_figure(p, options) for p in profilers]
    for fig in figures[1:]:
        fig.x_range = figures[0].x_range
    if len(figures) == 1:
        layout = figures[0]
    else:
        from bokeh.layouts import column

        layout = column(figures, sizing_mode="stretch_width")
    in_kernel = notebook.in_kernel()
    saved = save if save is not None else not in_kernel
    if saved:
        save_html(layout, filename, "shoal profile", mode=mode or "inline")
    if show:
        if in_kernel:
            from bokeh.io import show as show_in_notebook

            _load_bokehjs()
            show_in_notebook(layout)
        elif saved:
            import webbrowser

            webbrowser.open("file://" + os.path.abspath(filename))
    return layout
