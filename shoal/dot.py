"""Pictures of task graphs with graphviz: ``x.visualize()``, ``shoal.visualize(*xs)``.

Each task is drawn as an ellipse (the function) feeding a box (its result, named
by the key's prefix); plain data is a box alone; an arrow runs from every input
box to the functions that use it.  The picture goes to ``filename`` with the
format taken from ``format=`` or the file's extension (png by default; svg, pdf,
jpeg and dot too).  With ``filename=None`` nothing is written and the picture is
returned for inline display.

This needs the ``graphviz`` Python package and the ``dot`` program; when either
is missing the error says how to install it.
"""

from __future__ import annotations

import os

from shoal import config
from shoal.base import _unpack, collections_to_graph
from shoal.core.keys import key_split, key_str
from shoal.core.spec import Alias, Data, Fused, convert_graph

__all__ = ["to_graphviz", "visualize"]

_FORMATS = {"png", "svg", "pdf", "jpeg", "jpg", "dot", "gif", "bmp"}
_INSTALL = (
    "Graph pictures need the graphviz Python package and the dot program: "
    "pip install 'shoal[visualize]' (or pip install graphviz) and install the "
    "system package (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
    "graphviz; conda: conda install python-graphviz)."
)


def _import_graphviz():
    try:
        import graphviz
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    return graphviz


def _label(node) -> str:
    if isinstance(node, Fused):
        return "+".join(_label(n) for n in node.nodes)
    func = getattr(node, "func", None)
    return getattr(func, "__name__", type(func).__name__) if func is not None else type(node).__name__


def _namer():
    """Short, stable graphviz ids for keys (``kind`` tells data from function)."""
    names: dict = {}

    def name(kind: str, key) -> str:
        return names.setdefault((kind, key), f"{kind}{len(names)}")

    return name


def to_graphviz(graph, rankdir="BT", **graph_attr):
    """A ``graphviz.Digraph`` of *graph* (any supported graph spec)."""
    graphviz = _import_graphviz()
    graph = convert_graph(graph)
    dot = graphviz.Digraph(graph_attr={"rankdir": rankdir, **graph_attr})
    name = _namer()
    for key, node in graph.items():
        kid = name("k", key)
        label = key_split(key) if isinstance(key, (str, tuple)) else key_str(key)  # (5: "5")
        dot.node(kid, label=label, shape="box", tooltip=key_str(key))
        if isinstance(node, (Data,)):
            continue
        fid = name("f", key)
        label = "alias" if isinstance(node, Alias) else _label(node)
        dot.node(fid, label=label, shape="ellipse")
        dot.edge(fid, kid)
        for dep in node.dependencies:
            dot.edge(name("k", dep), fid)
    return dot


def visualize(*args, filename="mydask", format=None, rankdir="BT", traverse=True,
              engine=None, **kwargs):
    """Draw the graph of one or more collections; see the module docstring."""
    engine = engine or config.get("visualization.engine", "graphviz")
    if engine != "graphviz":
        raise ValueError(f"Unknown visualization engine {engine!r}: shoal supports 'graphviz'")
    collections, _ = _unpack(args, traverse)
    graph = {}
    for a in args:
        if isinstance(a, dict) and a and not collections:
            graph.update(a)  # a raw graph given directly
    if collections:
        graph, _ = collections_to_graph(collections)
    dot = to_graphviz(graph, rankdir=rankdir, **kwargs)
    if filename is None:
        return _display(dot, format or "png")
    base, ext = os.path.splitext(filename)
    fmt = (format or ext.lstrip(".") or "png").lower()
    if fmt not in _FORMATS:
        raise ValueError(f"Unknown picture format {fmt!r} for {filename!r}: use one of {sorted(_FORMATS)}")
    path = f"{base}.{fmt}"
    if fmt == "dot":
        with open(path, "w") as f:
            f.write(dot.source)
        return dot
    data = _render(dot, fmt)
    with open(path, "wb") as f:
        f.write(data)
    return _display(dot, fmt, data)


def _render(dot, fmt: str) -> bytes:
    graphviz = _import_graphviz()
    try:
        return dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:
        raise RuntimeError(f"The graphviz 'dot' program was not found. {_INSTALL}") from exc


def _display(dot, fmt: str, data: bytes | None = None):
    """An IPython display object when IPython is available, else the Digraph."""
    try:
        from IPython.display import SVG, Image
    except ImportError:
        return dot
    if fmt not in ("svg", "png", "jpeg", "jpg", "gif"):
        return dot
    if data is None:
        data = _render(dot, fmt)
    return SVG(data) if fmt == "svg" else Image(data=data, format=fmt)
