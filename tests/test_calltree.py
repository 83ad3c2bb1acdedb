"""Call trees (shoal.diagnostics.calltree): pure functions on plain data."""

import copy
import json
import random

import pytest

from shoal.diagnostics.calltree import (
    OTHER, ROOT, add_stack, cap, describe, merge, node, plot_data, prune, tree_size,
)  # fmt: skip

A = describe("a", "/src/app.py", 1)
B = describe("b", "/src/app.py", 10)
C = describe("c", "/lib/util.py", 5)
D = describe("d", "/lib/util.py", 20)


def build(*stacks):
    tree = node()
    for stack in stacks:
        add_stack(tree, stack)
    return tree


def check_counts(tree):
    """Inclusive counts: children never count more than their parent."""
    todo = [tree]
    while todo:
        n = todo.pop()
        assert sum(c["count"] for c in n["children"].values()) <= n["count"]
        for ident, child in n["children"].items():
            assert child["identifier"] == ident
        todo.extend(n["children"].values())


def random_tree(seed, nstacks=300, functions=40, depth=8):
    rng = random.Random(seed)
    descs = [describe(f"f{i}", f"/src/m{i % 5}.py", i) for i in range(functions)]
    return build(*([rng.choice(descs) for _ in range(rng.randint(1, depth))] for _ in range(nstacks)))


def test_describe():
    assert A == ("a;/src/app.py;1", "a (app.py:1)", "/src/app.py", 1)


def test_node_shape_is_plain_data():
    tree = build([A, B], [A, C], [A])
    assert tree["identifier"] == ROOT and tree["count"] == 3
    a = tree["children"][A[0]]
    assert a == {"identifier": A[0], "name": "a (app.py:1)", "filename": "/src/app.py", "line": 1,
                 "count": 3, "children": a["children"]}  # fmt: skip
    assert {k: v["count"] for k, v in a["children"].items()} == {B[0]: 1, C[0]: 1}
    assert json.loads(json.dumps(tree)) == tree
    check_counts(tree)


def test_msgpack_carries_a_tree():
    msgpack = pytest.importorskip("msgpack")
    tree = random_tree(1)
    assert msgpack.unpackb(msgpack.packb(tree), strict_map_key=False) == tree


def test_add_stack_with_count():
    tree = node()
    add_stack(tree, [A, B], count=5)
    assert tree["count"] == 5 and tree["children"][A[0]]["children"][B[0]]["count"] == 5


def test_merge_sums_and_leaves_inputs_alone():
    t1, t2 = build([A, B], [A, B]), build([A, C], [D])
    before = copy.deepcopy((t1, t2))
    m = merge(t1, t2)
    assert (t1, t2) == before
    assert m["count"] == 4
    a = m["children"][A[0]]
    assert a["count"] == 3 and a["children"][B[0]]["count"] == 2 and a["children"][C[0]]["count"] == 1
    assert m["children"][D[0]]["count"] == 1
    check_counts(m)
    m["children"][A[0]]["count"] = 99  # a copy, not shared
    assert t1["children"][A[0]]["count"] == 2


def test_merge_edge_cases():
    assert merge() == node()
    assert merge(None, {}) == node()
    t = random_tree(2)
    assert merge(t) == t and merge(t) is not t
    assert merge(t, t)["count"] == 2 * t["count"]


def test_tree_size():
    assert tree_size(node()) == 1
    assert tree_size(build([A, B], [A, C], [D])) == 5


def test_prune_drops_small_nodes_and_keeps_widths():
    tree = build(*([[A, B]] * 95 + [[A, C]] * 4 + [[D]]))
    p = prune(tree, 0.05)
    assert set(p["children"]) == {A[0]}
    a = p["children"][A[0]]
    assert a["count"] == 99 and set(a["children"]) == {B[0]}
    assert p["count"] == 100
    assert tree_size(prune(tree, 0.0)) == tree_size(tree)
    assert tree_size(tree) == 5  # the input is unchanged


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_nodes", [2, 3, 5, 17, 60])
def test_cap_bounds_the_size_and_keeps_counts(seed, max_nodes):
    tree = random_tree(seed)
    capped = cap(tree, max_nodes)
    assert tree_size(capped) <= max_nodes
    assert capped["count"] == tree["count"]
    check_counts(capped)
    todo = [(capped, tree)]  # every kept node keeps its count
    while todo:
        c, t = todo.pop()
        assert c["count"] == t["count"]
        for ident, child in c["children"].items():
            if ident != OTHER:
                todo.append((child, t["children"][ident]))


def test_cap_keeps_the_heaviest():
    tree = build(*([[A, B]] * 50 + [[C]] * 30 + [[D]] * 3))
    capped = cap(tree, 4)  # root, A (50), B (50) kept; C and D folded under the root
    assert set(capped["children"]) == {A[0], OTHER}
    assert set(capped["children"][A[0]]["children"]) == {B[0]}
    assert capped["children"][OTHER]["count"] == 33
    capped = cap(tree, 3)  # root, A; one "other", for the larger loss (B's 50 under A)
    assert set(capped["children"]) == {A[0]}  # C and D: the root's own time
    assert capped["children"][A[0]]["children"][OTHER]["count"] == 50
    assert cap(tree, 100) == tree
    assert tree_size(cap(tree, 2)) == 2
    with pytest.raises(ValueError):
        cap(tree, 1)


def test_add_stack_room_bounds_a_growing_tree():
    rng = random.Random(3)
    descs = [describe(f"f{i}", "/m.py", i) for i in range(50)]
    tree, made, room = node(), 1, 40
    for _ in range(500):
        stack = [rng.choice(descs) for _ in range(rng.randint(1, 6))]
        made += add_stack(tree, stack, room=room - made)
    assert made == tree_size(tree) <= room
    assert tree["count"] == 500
    check_counts(tree)
    others = [n for n in _nodes(tree) if n["identifier"] == OTHER]
    assert others and all(not n["children"] for n in others)


def test_add_stack_without_room_counts_in_the_parent():
    tree = build([A])
    assert add_stack(tree, [B], room=0) == 0
    assert tree["count"] == 2 and set(tree["children"]) == {A[0]}
    assert add_stack(tree, [B], room=1) == 1
    assert set(tree["children"]) == {A[0], OTHER}


def _nodes(tree):
    todo, out = [tree], []
    while todo:
        n = todo.pop()
        out.append(n)
        todo.extend(n["children"].values())
    return out


def test_plot_data_lays_out_an_icicle():
    tree = build(*([[A, B]] * 6 + [[A, C]] * 2 + [[D]] * 2))
    data = plot_data(tree, interval=0.01)
    rows = [dict(zip(data, values)) for values in zip(*data.values())]
    assert len(rows) == tree_size(tree)
    by_id = {r["identifier"]: r for r in rows}
    root = rows[0]
    assert (root["x"], root["width"], root["depth"], root["parent"]) == (0.0, 1.0, 0, -1)
    a, d = by_id[A[0]], by_id[D[0]]
    assert a["x"] == 0.0 and a["width"] == pytest.approx(0.8) and a["depth"] == 1
    assert d["x"] == pytest.approx(0.8) and d["width"] == pytest.approx(0.2)
    b, c = by_id[B[0]], by_id[C[0]]
    assert b["x"] == 0.0 and b["width"] == pytest.approx(0.6) and b["depth"] == 2
    assert c["x"] == pytest.approx(0.6) and c["width"] == pytest.approx(0.2)
    assert rows[b["parent"]]["identifier"] == A[0]
    assert a["percentage"] == pytest.approx(80.0) and a["count"] == 8
    assert a["time"] == pytest.approx(0.08)
    assert a["name"] == "a (app.py:1)" and a["line"] == 1
    # one colour key per file
    assert a["color"] == b["color"] != c["color"] == d["color"]
    # parents precede children; children sit inside their parent
    for i, r in enumerate(rows[1:], 1):
        p = rows[r["parent"]]
        assert r["parent"] < i and r["depth"] == p["depth"] + 1
        assert p["x"] - 1e-9 <= r["x"] and r["x"] + r["width"] <= p["x"] + p["width"] + 1e-9


def test_plot_data_of_an_empty_tree():
    data = plot_data(node())
    assert data["x"] == [] and "time" not in data


def test_plot_data_is_deterministic():
    t1 = build([A, B], [C], [A, C])
    t2 = build([A, C], [C], [A, B])
    assert plot_data(t1) == plot_data(t2)


def test_calltree_is_pure():
    import ast
    import pathlib

    import shoal.diagnostics.calltree as mod

    tree = ast.parse(pathlib.Path(mod.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= {"__future__", "heapq", "itertools", "os"}


def test_client_profile_trees_carry_dasks_descriptions():
    """``Client.profile()`` gives every node Dask's ``description`` as well, so code
    written for Dask's trees (``node["description"]["name"]``...) reads shoal's."""
    import inspect

    import linecache

    from shoal.diagnostics.calltree import describe_nodes

    here = inspect.getsourcefile(test_client_profile_trees_carry_dasks_descriptions)
    first = test_client_profile_trees_carry_dasks_descriptions.__code__.co_firstlineno
    tree = node()
    stack = [describe("test_client_profile_trees_carry_dasks_descriptions", here, first)]
    add_stack(tree, stack)
    add_stack(tree, [describe("g", "/nowhere/g.py", 3)] * 2, room=1)  # folded: "other"
    assert describe_nodes(tree, linecache.getline) is tree
    assert tree["description"] == {"filename": "", "name": "", "line_number": 0, "line": ""}
    (child,) = [n for n in tree["children"].values() if n["identifier"] != OTHER]
    assert child["description"] == {
        "filename": here, "name": "test_client_profile_trees_carry_dasks_descriptions",
        "line_number": first, "line": "def test_client_profile_trees_carry_dasks_descriptions():"}
    other = tree["children"][OTHER]
    assert other["description"]["name"] == "other" and other["description"]["line_number"] == 0
