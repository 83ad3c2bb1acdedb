"""The task graph as it runs: one dot per key, in blocks by prefix.

::

    state.graph_nodes() --graph_layout(rows per column)--> dots (x, y, colour)

The event records carry no dependencies, so this is a map of the keys the
scheduler holds rather than a node-link diagram: each prefix gets a block of
columns (left to right in the order prefixes first appeared, which follows
the graph's order of execution), each key a dot coloured by its state --
waiting light grey, processing the prefix's colour faint, in memory the
prefix's colour, erred black, released white with a grey ring.  At most
``Limits.graph_nodes`` keys are shown (the first ones seen).
"""

from __future__ import annotations

from bokeh.models import ColumnDataSource, HoverTool

from shoal.dashboard.panes._base import Pane, empty, make_figure
from shoal.dashboard.panes.style import ERRED, prefix_color

__all__ = ["Graph", "graph_layout", "node_style"]

COLUMNS = ("x", "y", "key", "prefix", "state", "color", "alpha", "line")


def node_style(prefix: str, state: str) -> tuple:
    """``(fill colour, alpha, outline colour)`` of one key."""
    if state == "memory":
        return prefix_color(prefix), 1.0, prefix_color(prefix)
    if state == "processing":
        return prefix_color(prefix), 0.35, prefix_color(prefix)
    if state == "erred":
        return ERRED, 1.0, ERRED
    if state in ("released", "forgotten"):
        return "white", 1.0, "#999999"
    return "#dddddd", 1.0, "#dddddd"  # waiting, queued, no-worker


def graph_layout(nodes: list, rows: int = 40) -> dict:
    """Dots for ``[(key text, prefix, state)]``: per prefix, columns of *rows* dots."""
    by_prefix: dict = {}
    for node in nodes:
        by_prefix.setdefault(node[1], []).append(node)
    out = empty(COLUMNS)
    x0 = 0
    for prefix, members in by_prefix.items():
        for i, (key, _, state) in enumerate(members):
            color, alpha, line = node_style(prefix, state)
            out["x"].append(x0 + i // rows)
            out["y"].append(-(i % rows))
            out["key"].append(key)
            out["prefix"].append(prefix)
            out["state"].append(state)
            out["color"].append(color)
            out["alpha"].append(alpha)
            out["line"].append(line)
        x0 += (len(members) - 1) // rows + 2  # a blank column between prefixes
    return out


class Graph(Pane):
    """Keys by prefix and state; see the module docstring."""

    name, title, interval = "graph", "Graph", 200

    def __init__(self, state, height=None, **options):
        super().__init__(state, **options)
        self.source = ColumnDataSource(empty(COLUMNS))
        fig = make_figure("Task graph (keys by prefix and state)", height=height)
        dots = fig.scatter(x="x", y="y", source=self.source, size=9, fill_color="color",
                           fill_alpha="alpha", line_color="line")  # fmt: skip
        fig.add_tools(HoverTool(renderers=[dots], tooltips=[("key", "@key"), ("state", "@state")]))
        fig.axis.visible = False
        fig.grid.visible = False
        self.root = fig

    def refresh(self) -> None:
        nodes = self.state.graph_nodes()
        self.push(self.source, graph_layout(nodes))
        self.root.title.text = f"Task graph: {len(nodes)} keys (keys by prefix and state)"
