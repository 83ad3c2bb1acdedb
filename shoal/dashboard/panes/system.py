"""The scheduler's own health over time: CPU and memory.

::

    system records --> state.system() --system_columns()--> two line charts

Samples come from ``{"kind": "system", ...}`` records the feed forwards from the
scheduler's process (or the local schedulers' ``Monitor``); without them the charts
stay empty: the dashboard never samples its own process in the scheduler's place
(see :mod:`shoal.dashboard.state`).  Open files are kept in the samples, not drawn.
"""

from __future__ import annotations

from bokeh.layouts import column
from bokeh.models import ColumnDataSource, HoverTool

from shoal.dashboard.panes._base import Pane, bytes_axis, empty, make_figure

__all__ = ["System", "system_columns"]

COLUMNS = ("time", "cpu", "memory", "num_fds")


def system_columns(samples: list) -> dict:
    """Columns of the samples, times in ms."""
    out = empty(COLUMNS)
    for s in samples:
        out["time"].append(s["time"] * 1000)
        out["cpu"].append(s.get("cpu", 0.0))
        out["memory"].append(s.get("memory", 0))
        out["num_fds"].append(s.get("num_fds", 0))
    return out


class System(Pane):
    """CPU % and resident memory of the scheduler process."""

    name, title, interval = "system", "System", 500

    def __init__(self, state, height=None, **options):
        super().__init__(state, **options)
        self.source = ColumnDataSource(empty(COLUMNS))
        h = max(int(height / 2), 120) if height else None  # (None: the two share the page)
        cpu = make_figure("Scheduler CPU (%)", height=h, x_axis_type="datetime",
                          tools="xpan,xwheel_zoom,reset,save")  # fmt: skip
        cpu.line(x="time", y="cpu", source=self.source, line_width=2)
        cpu.add_tools(HoverTool(tooltips=[("CPU", "@cpu{0.0} %")], mode="vline"))
        memory = make_figure("Scheduler memory", height=h, x_axis_type="datetime",
                             x_range=cpu.x_range, tools="xpan,xwheel_zoom,reset,save")  # fmt: skip
        memory.line(x="time", y="memory", source=self.source, line_width=2, color="orange")
        bytes_axis(memory.yaxis)
        memory.add_tools(HoverTool(tooltips=[("memory", "@memory{0.00 b}")], mode="vline"))
        cpu.min_height = memory.min_height = 150
        sizing = "stretch_width" if height else "stretch_both"
        self.root = column(cpu, memory, sizing_mode=sizing)

    def refresh(self) -> None:
        self.push(self.source, system_columns(self.state.system()))
