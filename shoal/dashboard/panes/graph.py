"""The task graph as it runs: one dot per key, an edge per dependency, in layers.

::

    state.graph() --graph_layout(nodes, edges, rows per column)--> dots + edge segments

The keys come from the live runs' ``GraphSubmitted`` records (each carries the
dependencies of up to 5,000 of its tasks, see ``shoal.events.graph_shape``: of a
larger graph, the first to run each with what it needs), so the whole
graph shows from the start, waiting keys light grey, then each key coloured by
its state as records arrive: processing the prefix's colour faint, in memory
the prefix's colour, erred black, released or forgotten white with a grey ring.
Keys known only from their records (beyond that bound) follow, without edges; once
the bound is reached they get a fifth of it, taken from the shape's keys that are
done, so a graph larger than the bound shows what runs until its end.

Layout: a key's layer is one more than its deepest dependency, so layers run
left to right in the order things can run; each layer is one column (up to
:data:`MAX_ROWS` dots, else several), centred, with a blank column between layers;
within it keys are grouped by prefix (in the order prefixes first appear), a blank
row between groups, and keys past the first layer are sorted by the mean place of
their dependencies, so the edges of a tree do not cross.  (Each group had a column
of its own: the edges between two layers then ran straight through the dots of the
groups beside them, drawing dependencies that do not exist.)  At most
``Limits.graph_nodes`` keys are shown.  Edges change only when keys come or go, and ``push`` sends a source only
when it changed, so a running graph costs the browser its dots.
"""

from __future__ import annotations

from bokeh.models import ColumnDataSource, HoverTool

from shoal.dashboard.panes._base import Pane, empty, make_figure
from shoal.dashboard.panes.style import ERRED, MUTED, NEUTRAL, prefix_color

__all__ = ["Graph", "graph_layout", "layers", "node_style"]

COLUMNS = ("x", "y", "key", "prefix", "state", "color", "alpha", "line")
EDGE_COLUMNS = ("x0", "y0", "x1", "y1")


def node_style(prefix: str, state: str, colors=prefix_color) -> tuple:
    """``(fill colour, alpha, outline colour)`` of one key (*colors*: prefix -> colour)."""
    if state == "memory":
        return colors(prefix), 1.0, colors(prefix)
    if state == "processing":
        return colors(prefix), 0.35, colors(prefix)
    if state == "erred":
        return ERRED, 1.0, ERRED
    if state in ("released", "forgotten"):
        return "white", 1.0, MUTED
    return NEUTRAL, 1.0, NEUTRAL  # waiting, queued, no-worker


def layers(n: int, edges) -> list:
    """Layer of each of *n* nodes: 0 without dependencies, else one more than the
    deepest dependency (``edges`` are ``(dependency, dependent)`` index pairs;
    O(nodes + edges)).

    >>> layers(4, [(0, 1), (1, 2), (0, 2)])
    [0, 1, 2, 0]
    """
    dependents: list = [[] for _ in range(n)]
    missing = [0] * n  # dependencies not placed yet
    for i, j in edges:
        dependents[i].append(j)
        missing[j] += 1
    depth = [0] * n
    ready = [k for k in range(n) if not missing[k]]
    while ready:
        i = ready.pop()
        for j in dependents[i]:
            depth[j] = max(depth[j], depth[i] + 1)
            missing[j] -= 1
            if not missing[j]:
                ready.append(j)
    return depth


MAX_ROWS = 100  # a larger group wraps into several columns


def graph_layout(nodes: list, edges=(), rows: int | None = None, colors=prefix_color) -> tuple:
    """``(dots, segments)`` for ``[(key text, prefix, state)]`` and ``[(i, j)]`` edges;
    *rows* dots per column (default: the largest layer's, blank rows included, at most
    :data:`MAX_ROWS`)."""
    depth = layers(len(nodes), edges)
    by_layer: dict = {}  # layer -> {prefix order: node indices, in order}
    order: dict = {}
    for i, (_, prefix, _) in enumerate(nodes):
        rank = order.setdefault(prefix, len(order))
        by_layer.setdefault(depth[i], {}).setdefault(rank, []).append(i)
    if rows is None:  # (each layer's dots and the blank rows between its groups)
        rows = min(max((sum(map(len, g.values())) + len(g) - 1 for g in by_layer.values()),
                       default=1), MAX_ROWS)  # fmt: skip
    deps: list = [[] for _ in nodes]
    for i, j in edges:
        deps[j].append(i)
    out = empty(COLUMNS)
    where = [None] * len(nodes)
    placed: list = [0] * len(nodes)  # order in which keys were placed
    x0 = 0
    for layer in sorted(by_layer):
        slots: list = []  # node indices, None for the blank row between two groups
        for rank in sorted(by_layer[layer]):
            members = by_layer[layer][rank]
            if layer:  # next to its dependencies (their mean place): fewer crossing edges
                members = sorted(members, key=lambda j: sum(placed[i] for i in deps[j]) / len(deps[j]))
            slots.extend(([None] if slots else []) + members)
        top = -(rows - min(len(slots), rows)) / 2  # a short layer is centred
        for n, i in enumerate(slots):
            if i is None:
                continue
            placed[i] = len(out["x"])
            key, prefix, state = nodes[i]
            color, alpha, line = node_style(prefix, state, colors)
            where[i] = (x0 + n // rows, top - n % rows)
            out["x"].append(where[i][0])
            out["y"].append(where[i][1])
            out["key"].append(key)
            out["prefix"].append(prefix)
            out["state"].append(state)
            out["color"].append(color)
            out["alpha"].append(alpha)
            out["line"].append(line)
        x0 += (len(slots) - 1) // rows + 2  # a blank column between layers
    segments = empty(EDGE_COLUMNS)
    for i, j in edges:
        segments["x0"].append(where[i][0])
        segments["y0"].append(where[i][1])
        segments["x1"].append(where[j][0])
        segments["y1"].append(where[j][1])
    return out, segments


class Graph(Pane):
    """Keys, dependencies and states; see the module docstring."""

    name, title, interval = "graph", "Graph", 200

    def __init__(self, state, height=None, **options):
        super().__init__(state, **options)
        self.source = ColumnDataSource(empty(COLUMNS))
        self.edges = ColumnDataSource(empty(EDGE_COLUMNS))
        fig = make_figure("Task graph", height=height)
        fig.segment(x0="x0", y0="y0", x1="x1", y1="y1", source=self.edges, line_color="#aaaaaa",
                    line_alpha=0.4, line_width=1)  # fmt: skip
        dots = fig.scatter(x="x", y="y", source=self.source, size=9, fill_color="color",
                           fill_alpha="alpha", line_color="line")  # fmt: skip
        fig.add_tools(HoverTool(renderers=[dots], tooltips=[("key", "@key"), ("state", "@state")]))
        fig.axis.visible = False
        fig.grid.visible = False
        self.root = fig

    def refresh(self) -> None:
        nodes, edges = self.state.graph()
        dots, segments = graph_layout(nodes, edges, colors=self.state.colors)
        self.push(self.edges, segments)
        self.push(self.source, dots)
        limit = self.state.limits.graph_nodes
        shown = (f"{len(nodes)} keys (at most {limit} are drawn: each graph's first tasks "
                 "to run, those done giving way to the newest)" if len(nodes) >= limit
                 else f"{len(nodes)} keys")  # fmt: skip
        self.root.title.text = f"Task graph: {shown}, {len(edges)} dependencies"
