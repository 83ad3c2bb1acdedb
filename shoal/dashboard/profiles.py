"""Call trees as the dashboard takes them: forms accepted, merging (pure).

A tree node is a dict ``{identifier, name, count, children}`` -- the form of
:mod:`shoal.diagnostics.calltree` (``identifier`` "function;file;line",
``name`` a label, ``children`` a dict keyed by identifier, counts inclusive).
Looser trees are accepted too: ``children`` as a list, ``name`` without
``identifier`` (the name is then the identifier).  :func:`normalize_tree`
turns any of them into the strict form; :func:`merge_trees` adds one tree into
another by summing the counts of nodes with the same identifier path, and
:func:`subtract_trees` takes a merged tree back out (a running total over a
bounded window of trees).

``WorkerMetrics.profile`` may carry, and :func:`profile_items` splits into
disjoint ``(prefix, tree)`` pieces:

- the worker sampler's heartbeat entry ``(time, tree, {prefix: tree})``
  (the per-prefix trees are used; the overall one only when there are none);
- a ``{prefix: tree}`` mapping;
- one tree (prefix ``tree.get("prefix", "")``), or a sequence of trees and
  ``(prefix, tree)`` pairs.
"""

from __future__ import annotations

__all__ = ["merge_trees", "normalize_tree", "profile_items", "subtract_trees"]


def _ident(node: dict) -> str:
    return str(node.get("identifier") or node.get("name") or "?")


def _children(node: dict):
    kids = node.get("children") or ()
    return kids.values() if isinstance(kids, dict) else kids


def normalize_tree(node: dict) -> dict:
    """A copy of *node* in the strict form (children keyed by identifier)."""
    ident = _ident(node)
    out = {"identifier": ident, "name": str(node.get("name") or ident),
           "filename": str(node.get("filename", "")), "count": int(node.get("count", 0)),
           "children": {}}  # fmt: skip
    for child in _children(node):
        _add_child(out, child)
    return out


def _add_child(dst: dict, child: dict) -> None:
    mine = dst["children"].get(_ident(child))
    if mine is None:
        dst["children"][_ident(child)] = normalize_tree(child)
    else:
        merge_trees(mine, child)


def merge_trees(dst: dict, src: dict) -> dict:
    """Add *src* (any accepted form) into *dst* (strict form), in place; returns *dst*."""
    dst["count"] += int(src.get("count", 0))
    for child in _children(src):
        _add_child(dst, child)
    return dst


def subtract_trees(dst: dict, src: dict) -> dict:
    """Take *src* (strict form, once merged into *dst*) back out of *dst*, in
    place; nodes whose count falls to zero go.  Returns *dst*."""
    dst["count"] -= src["count"]
    for ident, child in src["children"].items():
        mine = dst["children"].get(ident)
        if mine is None:
            continue
        subtract_trees(mine, child)
        if mine["count"] <= 0:
            del dst["children"][ident]
    return dst


def _is_tree(value) -> bool:
    return isinstance(value, dict) and ("count" in value or "children" in value)


def profile_items(value) -> list:
    """Disjoint ``[(prefix, tree)]`` pieces of a ``WorkerMetrics.profile`` value."""
    if not value:
        return []
    if isinstance(value, dict):
        if _is_tree(value):
            return [(str(value.get("prefix", "")), normalize_tree(value))]
        return [(str(p), normalize_tree(t)) for p, t in value.items() if _is_tree(t)]
    if (isinstance(value, (tuple, list)) and len(value) == 3 and isinstance(value[0], (int, float))
            and _is_tree(value[1])):  # fmt: skip
        per_prefix = profile_items(value[2]) if isinstance(value[2], dict) else []
        return per_prefix or [("", normalize_tree(value[1]))]
    out = []
    for item in value:
        if _is_tree(item):
            out.append((str(item.get("prefix", "")), normalize_tree(item)))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and _is_tree(item[1]):
            out.append((str(item[0]), normalize_tree(item[1])))
    return out
