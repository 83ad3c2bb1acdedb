"""A reusable pytest suite for the scheduler contract ``get(graph, keys, **kwargs)``.

Every scheduler -- shoal's sync, threads and processes, an Executor adapter, a
distributed client's ``get``, or Dask's own ``dask.get`` -- promises the same
thing: given a task graph and (possibly nested lists of) keys, return the values
in the shape of the keys, or raise a precise error.  :class:`GetContract` writes
that promise down once; a scheduler runs it by binding ``get``::

    class TestSync(GetContract):
        get = staticmethod(shoal.local.sync.get)

    class TestOnAnExecutor(GetContract):
        @classmethod
        def setup_class(cls):
            cls.executor = ProcessPoolExecutor(2)
            cls.get = staticmethod(shoal.base.get_scheduler(cls.executor))

        @classmethod
        def teardown_class(cls):
            cls.executor.shutdown()

What is covered::

    graph specs     legacy tuples (nested tasks, keys inside lists / tuples / dicts,
                    strings that are not keys, aliases, literals, tuple keys),
                    Dask's task objects, shoal's nodes, objects with __dask_graph__
    keys            nested lists keep their nesting; a key asked for twice
    cache=          precomputed values win over the graph and fill missing deps
    graph errors    unknown key, missing dependency, cycles: precise errors raised
                    before any task runs
    task errors     original type and message, the user's line in the traceback,
                    a note naming the key, dependents never run
    scale           2,000-task fan-out / fan-in graphs equal a plain-Python answer
    oracle          results equal ``dask.get`` on the same graphs (when installed)

"Did anything run?" is answered by marker files that tasks write into a temporary
directory, so the checks hold for schedulers that run tasks in other processes.
All task functions live at module level so that any pickler can ship them.
"""

from __future__ import annotations

import os
import traceback
from operator import add, mul

import pytest

from shoal.core.graph import CycleError, MissingDependencyError, UnknownKeyError
from shoal.core.keys import key_str
from shoal.core.spec import Alias, Data, Ref, Task

__all__ = ["ContractError", "GetContract"]


# --- task functions (module level, so every pickler can ship them) ---


class ContractError(Exception):
    """The custom exception type raised by the suite's failing tasks."""


def inc(x):
    return x + 1


def concat(*parts):
    return "".join(parts)


def total(*args):
    return sum(args)


def describe(obj):
    """A picklable structural summary, for checking what a task received."""
    return (type(obj).__name__, obj)


def fail_divide(numerator, denominator):
    return numerator / denominator  # conformance: the failing user line


def fail_custom(message):
    raise ContractError(message)  # conformance: the custom failing line


def touch(directory, name, value=None):
    """Leave a marker file *name* in *directory*, then return *value*."""
    with open(os.path.join(directory, name), "w") as f:
        f.write("ran")
    return value


def touch_and_inc(directory, name, x):
    touch(directory, name)
    return x + 1


def ran(directory) -> list:
    """The marker files tasks left in *directory*."""
    return sorted(os.listdir(directory))


class GraphHolder:
    """A minimal object with ``__dask_graph__``."""

    def __init__(self, graph):
        self.graph = graph

    def __dask_graph__(self):
        return self.graph


def _as_lists(result, keys):
    """Turn tuples that stand for nested key lists into lists (Dask returns tuples)."""
    if type(keys) is list:
        return [_as_lists(r, k) for r, k in zip(result, keys)]
    return result


def _has_note_naming(exc: BaseException, key) -> bool:
    text = key_str(key)
    return any(text in note for note in getattr(exc, "__notes__", ()))


def _full_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


# --- graphs shared by several tests ---


def fan_graph(n: int = 1000):
    """A fan-out from one root to *n* tasks, then a fan-in; and its answer."""
    g = {"root": 3}
    for i in range(n):
        g[("spread", i)] = (mul, "root", i)
    g["gather"] = (total, *[("spread", i) for i in range(n)])
    return g, 3 * sum(range(n))


def tree_graph(leaves: int = 1024):
    """A binary tree reduction over *leaves* literal leaves; its root key and answer."""
    g = {}
    layer = []
    for i in range(leaves):
        g[("leaf", i)] = i
        layer.append(("leaf", i))
    level = 0
    while len(layer) > 1:
        nxt = []
        for j in range(0, len(layer) - 1, 2):
            k = ("combine", level, j // 2)
            g[k] = (add, layer[j], layer[j + 1])
            nxt.append(k)
        if len(layer) % 2:
            nxt.append(layer[-1])
        layer = nxt
        level += 1
    return g, layer[0], sum(range(leaves))


def oracle_graphs() -> dict:
    """Small graphs in the legacy spec, with the keys to request."""
    chain = {"a": 1, "b": (inc, "a"), "c": (inc, "b"), "d": (add, "b", "c")}
    nested = {
        "x": 2,
        "y": (add, (inc, "x"), (mul, "x", 10)),
        "z": (sorted, ["y", (inc, "y"), "x"]),
        "w": (describe, ["y", ("x", "y"), [("x", "y")]]),
    }
    # (keys inside dict arguments are not compared: shoal resolves them, while
    # Dask's legacy spec leaves a dict argument untouched)
    strings = {"name": "ab", "joined": (concat, "name", "-", "not-a-key"), "plain": "text"}
    aliases = {("p", 0): 5, ("p", 1): (inc, ("p", 0)), "q": ("p", 1), "r": "q"}
    fan, _ = fan_graph(50)
    tree, root, _ = tree_graph(33)
    return {
        "chain": (chain, ["d", "a"]),
        "nested": (nested, [["y", "z"], "w"]),
        "strings": (strings, ["joined", "plain"]),
        "aliases": (aliases, ["r", ("p", 0), ["q"]]),
        "fan": (fan, "gather"),
        "tree": (tree, [root, ("leaf", 32)]),
    }


class GetContract:
    """The scheduler contract as tests; subclasses bind ``get``.

    ``get`` is a class attribute holding ``get(graph, keys, **kwargs)``: bind it
    with ``staticmethod`` or set it in ``setup_class`` / a class-scoped fixture.
    """

    get = None

    def compute(self, graph, keys, **kwargs):
        get = type(self).get
        if get is None:
            pytest.fail(f"{type(self).__name__} must bind `get` to a scheduler's get function")
        return get(graph, keys, **kwargs)

    # --- the legacy tuple spec ---

    def test_single_key_gives_the_value(self):
        assert self.compute({"a": 1, "b": (inc, "a")}, "b") == 2

    def test_nested_tasks(self):
        g = {"x": 2, "y": (add, (inc, "x"), (mul, (inc, (inc, "x")), 10))}
        assert self.compute(g, "y") == 3 + 40

    def test_keys_inside_containers(self):
        g = {
            "x": 1,
            "y": 10,
            ("t", 0): 100,
            "in-list": (sum, ["x", "y", (inc, "y")]),
            "in-tuple": (describe, ("x", ("t", 0))),
            "in-dict": (describe, {"a": "x", "b": ["y", {"c": ("t", 0)}]}),
            "deep": (describe, [["x", ["y", [(inc, "x")]]]]),
        }
        out = self.compute(g, ["in-list", "in-tuple", "in-dict", "deep"])
        assert out == [
            22,
            ("tuple", (1, 100)),
            ("dict", {"a": 1, "b": [10, {"c": 100}]}),
            ("list", [[1, [10, [2]]]]),
        ]

    def test_strings_that_are_not_keys_stay_literal(self):
        g = {
            "name": "ab",
            "joined": (concat, "name", "-", "name2", "-", "x"),
            "words": (describe, ["name", "nope", ("nope", 1)]),
        }
        out = self.compute(g, ["joined", "words"])
        assert out == ["ab-name2-x", ("list", ["ab", "nope", ("nope", 1)])]

    def test_aliases(self):
        g = {("p", 0): 5, "a": ("p", 0), "b": "a", "c": (inc, "b"), "d": "c"}
        assert self.compute(g, ["a", "b", "d", ("p", 0)]) == [5, 5, 6, 5]

    def test_literal_values(self):
        g = {
            "int": 7,
            "none": None,
            "text": "not a key",
            "pair": (1, 2),
            "list": [1, "text-ish", None],
            "dict": {"k": [1, 2]},
            "set": {3},
            "func": inc,
        }
        out = self.compute(g, list(g))
        assert out == [7, None, "not a key", (1, 2), [1, "text-ish", None], {"k": [1, 2]}, {3}, inc]

    def test_tuple_keys(self):
        g = {("x", 0): 1, ("x", 1): 2, ("x", 0, "y"): (add, ("x", 0), ("x", 1))}
        g[("sum", 0)] = (sum, [("x", 0), ("x", 1), ("x", 0, "y")])
        assert self.compute(g, [("sum", 0), ("x", 0, "y")]) == [6, 3]
        assert self.compute(g, ("x", 1)) == 2  # a tuple key, not a list of keys

    def test_shoal_nodes(self):
        g = {
            "a": Data("a", 4),
            "b": Task("b", add, Ref("a"), 1),
            "c": Alias("c", "b"),
            "d": Task("d", describe, [Ref("a"), {"k": Ref("c")}]),
        }
        assert self.compute(g, ["c", "d"]) == [5, ("list", [4, {"k": 5}])]

    def test_dask_task_objects(self):
        try:
            from dask._task_spec import Alias as DAlias
            from dask._task_spec import DataNode, List, TaskRef
            from dask._task_spec import Task as DTask
        except ImportError:
            pytest.skip("dask is not installed: Dask's task objects cannot be tested")
        g = {
            "a": DataNode("a", 1),
            "b": DTask("b", inc, TaskRef("a")),
            "c": DAlias("c", "b"),
            ("d", 0): DTask(("d", 0), add, TaskRef("b"), TaskRef("c")),
            "e": DTask("e", sum, List(TaskRef("a"), DTask(None, inc, TaskRef(("d", 0))))),
        }
        assert self.compute(g, ["a", "b", "c", ("d", 0), "e"]) == [1, 2, 2, 4, 6]

    def test_object_with_dask_graph(self):
        holder = GraphHolder({"a": 1, "b": (inc, "a")})
        assert self.compute(holder, ["b"]) == [2]

    # --- the shape of keys ---

    def test_nested_keys_keep_their_nesting(self):
        g = {"a": 1, "b": 2, "c": (add, "a", "b")}
        out = self.compute(g, [["a", ["b", ["c"]]], [], "c"])
        assert out == [[1, [2, [3]]], [], 3]
        assert type(out) is list and type(out[0][1]) is list

    def test_same_key_twice(self, tmp_path):
        d = str(tmp_path)
        g = {"a": (touch, d, "ran-a", 1), "b": (inc, "a")}
        assert self.compute(g, ["b", "b", ["b", "a"]]) == [2, 2, [2, 1]]
        assert ran(d) == ["ran-a"]

    # --- cache= ---

    def test_cache_fills_a_missing_dependency(self):
        g = {"a": Task("a", inc, Ref("missing")), "b": (add, "a", 10)}
        assert self.compute(g, ["b"], cache={"missing": 1}) == [12]

    def test_cache_wins_over_the_graph(self, tmp_path):
        d = str(tmp_path)
        g = {"x": (touch, d, "ran-x", 1), "y": (inc, "x")}
        assert self.compute(g, "y", cache={"x": 10}) == 11
        assert ran(d) == []

    def test_the_graph_is_not_changed(self):
        g = {"x": 1, "y": (inc, "x"), "z": Task("z", add, Ref("y"), Ref("c"))}
        before = dict(g)
        assert self.compute(g, ["z"], cache={"c": 5}) == [7]
        assert g == before and list(g) == list(before)

    # --- malformed graphs: precise errors, nothing runs ---

    def test_unknown_key(self, tmp_path):
        d = str(tmp_path)
        g = {"a": (touch, d, "ran-a", 1)}
        for missing in ["nope", ("nope", 3)]:
            with pytest.raises(UnknownKeyError) as info:
                self.compute(g, ["a", missing])
            assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
            assert key_str(missing) in str(info.value)
        assert ran(d) == []

    def test_missing_dependency(self, tmp_path):
        d = str(tmp_path)
        g = {
            "leaf": (touch, d, "ran-leaf", 1),
            "x": Task("x", add, Ref("leaf"), Ref(("absent", 2))),
            "other": (touch, d, "ran-other", 2),
        }
        with pytest.raises(MissingDependencyError) as info:
            self.compute(g, ["other", "x"])
        err = info.value
        assert err.key == ("absent", 2) and err.needed_by == "x"
        assert "('absent', 2)" in str(err) and "x" in str(err)
        assert ran(d) == []

    @pytest.mark.parametrize(
        "graph, request_key, cycle",
        [
            ({"a": (touch_and_inc, "{d}", "ran-a", "a")}, "a", {"a"}),
            (
                {
                    "a": (add, "b", "leaf"),
                    "b": (inc, "c"),
                    "c": (inc, "a"),
                    "leaf": (touch, "{d}", "ran-leaf", 1),
                },
                "a",
                {"a", "b", "c"},
            ),
            (
                {
                    "ok": (add, "leaf", "a"),
                    "leaf": (touch, "{d}", "ran-leaf", 1),
                    "a": (inc, ("b", 0)),
                    ("b", 0): (add, "a", "leaf"),
                },
                "ok",
                {"a", ("b", 0)},
            ),
        ],
        ids=["self-loop", "3-cycle", "behind-a-valid-key"],
    )
    def test_cycles(self, tmp_path, graph, request_key, cycle):
        d = str(tmp_path)
        graph = {
            k: tuple(d if a == "{d}" else a for a in v) if type(v) is tuple else v
            for k, v in graph.items()
        }
        graph["free"] = (touch, d, "ran-free", 0)  # ready at once; must not run either
        with pytest.raises(CycleError) as info:
            self.compute(graph, ["free", request_key])
        err = info.value
        assert set(err.cycle) == cycle and len(err.cycle) == len(cycle)
        for k in cycle:
            assert key_str(k) in str(err)
        assert ran(d) == []

    # --- task errors ---

    def test_task_error_keeps_type_message_line_and_key(self, tmp_path):
        d = str(tmp_path)
        g = {
            ("x", 1): (fail_divide, 1, 0),
            "y": (touch_and_inc, d, "ran-y", ("x", 1)),
            "z": (touch_and_inc, d, "ran-z", "y"),
        }
        with pytest.raises(ZeroDivisionError) as info:
            self.compute(g, "z")
        err = info.value
        assert type(err) is ZeroDivisionError and str(err) == "division by zero"
        assert _has_note_naming(err, ("x", 1))
        line = "numerator / denominator  # conformance: the failing user line"
        assert line in _full_traceback(err)
        assert ran(d) == []

    def test_custom_error_type(self, tmp_path):
        d = str(tmp_path)
        g = {
            "bad": (fail_custom, "custom message 17"),
            "after": (touch_and_inc, d, "ran-after", "bad"),
        }
        with pytest.raises(ContractError) as info:
            self.compute(g, ["after"])
        assert type(info.value) is ContractError
        assert str(info.value) == "custom message 17"
        assert _has_note_naming(info.value, "bad")
        assert "conformance: the custom failing line" in _full_traceback(info.value)
        assert ran(d) == []

    def test_works_after_an_error(self):
        with pytest.raises(ZeroDivisionError):
            self.compute({"x": (fail_divide, 1, 0)}, "x")
        assert self.compute({"x": (fail_divide, 1, 4)}, "x") == 0.25

    # --- scale ---

    def test_large_fan_out_fan_in(self):
        g, expected = fan_graph(2000)
        assert self.compute(g, "gather") == expected

    def test_large_tree_reduction(self):
        g, root, expected = tree_graph(1500)
        assert len(g) > 2000
        assert self.compute(g, [root, ("leaf", 7)]) == [expected, 7]

    def test_many_independent_keys(self):
        g = {("x", i): (inc, i) for i in range(2000)}
        keys = [("x", i) for i in range(2000)]
        assert self.compute(g, keys) == [i + 1 for i in range(2000)]

    # --- the oracle ---

    @pytest.mark.parametrize("name", sorted(oracle_graphs()))
    def test_agrees_with_dask_get(self, name):
        try:
            import dask
        except ImportError:
            pytest.skip("dask is not installed: no oracle to compare with")
        graph, keys = oracle_graphs()[name]
        expected = _as_lists(dask.get(dict(graph), keys), keys)
        assert self.compute(dict(graph), keys) == expected
