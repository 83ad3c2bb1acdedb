"""Call trees: sampled stacks as plain data, merged, bounded and laid out for a chart.

A profiler samples stacks (outermost frame first) and counts them into a tree.
One node, and the root, have this shape -- dicts, str and int only, so msgpack,
JSON and pickle carry a tree unchanged::

    {"identifier": "inc;/src/mod.py;12",   # function;file;first line: one node per function
     "name": "inc (mod.py:12)",            # the label a chart shows
     "filename": "/src/mod.py",
     "line": 12,                           # the function's first line
     "count": 37,                          # samples whose stack passes through here
     "children": {identifier: node, ...}}

Counts are inclusive: a child never counts more than its parent, and the
difference is the parent's own time.  The root (``identifier == "root"``)
counts every sample.  A node ``"other"`` (a leaf) holds samples folded away to
keep a tree bounded, either while stacks are added (:func:`add_stack` with
``room``) or afterwards (:func:`cap`).

Everything here is pure: no threads, no frames, no clocks.  Frames are turned
into descriptors (:func:`describe`) by the sampler that reads them
(:mod:`shoal.diagnostics.sampler`); ``performance_report`` and ``Client.profile``'s
figure lay a tree out with :func:`plot_data`.
"""

from __future__ import annotations

import heapq
import itertools
import os

__all__ = [
    "OTHER", "ROOT", "add_stack", "cap", "describe", "describe_nodes", "merge", "node", "plot_data",
    "prune", "tree_size",
]  # fmt: skip

ROOT = "root"
OTHER = "other"  # real identifiers always hold two ";", so these cannot collide


def node(identifier: str = ROOT, name: str | None = None, filename: str = "", line: int = 0,
         count: int = 0) -> dict:  # fmt: skip
    """A fresh node without children; ``node()`` is an empty tree."""
    return {"identifier": identifier, "name": identifier if name is None else name,
            "filename": filename, "line": line, "count": count, "children": {}}  # fmt: skip


def describe(function: str, filename: str, line: int) -> tuple:
    """The descriptor of one function: ``(identifier, name, filename, line)``."""
    base = os.path.basename(filename) or filename
    return (f"{function};{filename};{line}", f"{function} ({base}:{line})", filename, line)


def describe_nodes(tree: dict, getline=None) -> dict:
    """Add Dask's ``description`` to every node of ``tree``, in place: ``{"name": the
    function, "filename", "line_number": its first line, "line": that line's source}``,
    so code written for Dask's ``Client.profile()`` trees reads these.  (Dask's
    ``line_number`` and ``line`` are those of the line running when the function was
    first sampled; a node here is a whole function.)  ``getline(filename, line)``
    gives the source (``linecache.getline``; none without it).  The root's name is
    ``""`` as in Dask, a folded node's ``"other"``.

    >>> t = node()
    >>> _ = add_stack(t, [describe("inc", "/src/mod.py", 12)])
    >>> describe_nodes(t)["children"]["inc;/src/mod.py;12"]["description"]
    {'filename': '/src/mod.py', 'name': 'inc', 'line_number': 12, 'line': ''}
    """
    todo = [tree]
    while todo:
        one = todo.pop()
        identifier = one.get("identifier", ROOT)
        if identifier in (ROOT, OTHER):
            name = "" if identifier == ROOT else OTHER
            one["description"] = {"filename": "", "name": name, "line_number": 0, "line": ""}
        else:
            filename, line = one.get("filename", ""), int(one.get("line", 0))
            text = getline(filename, line).strip() if getline is not None and line else ""
            one["description"] = {"filename": filename, "name": identifier.split(";", 1)[0],
                                  "line_number": line, "line": text}  # fmt: skip
        todo.extend(one.get("children", {}).values())
    return tree


def add_stack(tree: dict, stack, count: int = 1, room: int | None = None) -> int:
    """Count one stack (descriptors, outermost first) into ``tree``, in place.

    ``room`` is how many new nodes may still be made (None: no limit).  When a
    new node would leave no room, the rest of the stack is counted in an
    ``"other"`` leaf at that level instead (made while there is room for it,
    else the sample stays in the parent's own time).  Returns the number of
    nodes made, so a caller keeps its trees below a total.
    """
    made = 0
    current = tree
    current["count"] += count
    for desc in stack:
        children = current["children"]
        child = children.get(desc[0])
        if child is None:
            if room is not None and made + 1 >= room:
                child = children.get(OTHER)
                if child is None:
                    if made >= room:
                        return made
                    child = children[OTHER] = node(OTHER)
                    made += 1
                child["count"] += count
                return made
            child = children[desc[0]] = node(*desc)
            made += 1
        child["count"] += count
        current = child
    return made


def merge(*trees: dict) -> dict:
    """A new tree whose counts are the sums of ``trees``' (which stay unchanged)."""
    out = node()
    for tree in trees:
        if tree:
            _add_into(out, tree)
    return out


def _add_into(dst: dict, src: dict) -> None:
    todo = [(dst, src)]
    while todo:
        d, s = todo.pop()
        d["count"] += s["count"]
        children = d["children"]
        for ident, child in s["children"].items():
            mine = children.get(ident)
            if mine is None:
                mine = children[ident] = _shell(child)
            todo.append((mine, child))


def _shell(n: dict, count: int = 0) -> dict:
    return {"identifier": n["identifier"], "name": n["name"], "filename": n["filename"],
            "line": n["line"], "count": count, "children": {}}  # fmt: skip


def tree_size(tree: dict) -> int:
    """Number of nodes, the root included."""
    size, todo = 0, [tree]
    while todo:
        n = todo.pop()
        size += 1
        todo.extend(n["children"].values())
    return size


def prune(tree: dict, min_fraction: float) -> dict:
    """A copy without the nodes counting less than ``min_fraction`` of the root.

    Their samples stay in their parent's count (shown as the parent's own
    time), so every remaining rectangle keeps its width.
    """
    threshold = min_fraction * tree["count"]
    out = _shell(tree, tree["count"])
    todo = [(out, tree)]
    while todo:
        d, s = todo.pop()
        for ident, child in s["children"].items():
            if child["count"] >= threshold and child["count"] > 0:
                mine = d["children"][ident] = _shell(child, child["count"])
                todo.append((mine, child))
    return out


def cap(tree: dict, max_nodes: int) -> dict:
    """A copy with at most ``max_nodes`` nodes (the root included): the heaviest are kept.

    Nodes are kept heaviest first, a node only with its parent, until a tenth
    of the budget (at least one node) is left.  That rest goes to ``"other"``
    leaves, one under each kept node that lost children, the largest losses
    first; the samples of smaller losses stay in their parent's own time.
    Every kept node keeps its count.
    """
    if max_nodes < 2:
        raise ValueError(f"max_nodes must be at least 2, not {max_nodes}")
    if tree_size(tree) <= max_nodes:
        return merge(tree)
    top = _shell(tree, tree["count"])
    pairs = [(tree, top)]
    order = itertools.count()
    heap: list = []

    def push(orig, copy):
        for child in orig["children"].values():
            heapq.heappush(heap, (-child["count"], next(order), child, copy))

    push(tree, top)
    budget = max_nodes - max(1, max_nodes // 10)
    while heap and len(pairs) < budget:
        _, _, child, parent = heapq.heappop(heap)  # parents come out before their children
        mine = parent["children"][child["identifier"]] = _shell(child, child["count"])
        pairs.append((child, mine))
        push(child, mine)
    losses = []
    for orig, copy in pairs:
        kids = copy["children"]
        lost = sum(c["count"] for ident, c in orig["children"].items() if ident not in kids)
        if lost:
            losses.append((-lost, next(order), copy))
    losses.sort()
    room = max_nodes - len(pairs)
    for neg, _, copy in losses:
        other = copy["children"].get(OTHER)
        if other is not None:
            other["count"] -= neg
        elif room > 0:
            copy["children"][OTHER] = node(OTHER, count=-neg)
            room -= 1
    return top


_COLUMNS = ("x", "width", "depth", "name", "count", "percentage", "filename", "line",
            "identifier", "parent", "color")  # fmt: skip


def plot_data(tree: dict, interval: float | None = None) -> dict:
    """Rectangles of an icicle chart, as columns (a Bokeh ``ColumnDataSource`` takes them).

    The root spans ``x`` in [0, 1] at ``depth`` 0; each node's children split its
    width in proportion to their counts, heaviest first, left-aligned (the gap
    on the right is the node's own time).  Per rectangle: ``name``, ``count``,
    ``percentage`` of all samples, ``filename``, ``line``, ``identifier``,
    ``parent`` (row of the parent rectangle, -1 for the root) and ``color``, a
    small int per distinct filename in order of first appearance (a palette
    index).  With ``interval`` (seconds per sample) a ``time`` column is added.
    Rows are in depth-first order, so a parent precedes its children.
    """
    cols: dict = {name: [] for name in _COLUMNS}
    if interval is not None:
        cols["time"] = []
    total = tree["count"]
    if total <= 0:
        return cols
    colors: dict = {}
    todo = [(tree, 0.0, 1.0, 0, -1)]
    while todo:
        n, x, width, depth, parent = todo.pop()
        row = len(cols["x"])
        for name, value in (("x", x), ("width", width), ("depth", depth), ("name", n["name"]),
                            ("count", n["count"]), ("percentage", 100.0 * n["count"] / total),
                            ("filename", n["filename"]), ("line", n["line"]),
                            ("identifier", n["identifier"]), ("parent", parent),
                            ("color", colors.setdefault(n["filename"], len(colors)))):  # fmt: skip
            cols[name].append(value)
        if interval is not None:
            cols["time"].append(n["count"] * interval)
        if not n["children"] or n["count"] <= 0:
            continue
        kids = sorted(n["children"].values(), key=lambda c: (-c["count"], c["identifier"]))
        placed, left = [], x
        for child in kids:
            w = width * child["count"] / n["count"]
            placed.append((child, left, w, depth + 1, row))
            left += w
        todo.extend(reversed(placed))  # popped heaviest first: depth-first, left to right
    return cols
