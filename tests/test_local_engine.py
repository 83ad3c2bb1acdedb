"""The local engine's pure parts: LocalState, core.order, core.optimize.fuse.

Plus an end-to-end check that sync and threads free intermediate results while
a computation runs.
"""

from __future__ import annotations

import random
import threading
from operator import add

import pytest

from shoal.core.graph import CycleError, dependents_of, toposort
from shoal.core.optimize import fuse
from shoal.core.order import order
from shoal.core.spec import Alias, Data, Fused, Ref, Task, convert_graph
from shoal.local import sync, threads
from shoal.local.engine import LocalState


def inc(x):
    return x + 1


def run_serially(state: LocalState, trace=None):
    """Drive *state* like a one-worker scheduler, one task at a time."""
    while state.pending:
        (key,) = state.pop_ready(1)
        value = state.graph[key](state.data)
        state.finish(key, value)
        if trace is not None:
            trace.append((key, sorted(state.data, key=repr)))
    return state


def tree(leaves: int) -> tuple[dict, str]:
    """A binary reduction tree of shoal nodes; returns (graph, root key)."""
    g = {}
    layer = []
    for i in range(leaves):
        g[("leaf", i)] = Data(("leaf", i), i)
        layer.append(("leaf", i))
    level = 0
    while len(layer) > 1:
        nxt = []
        for j in range(0, len(layer) - 1, 2):
            k = ("sum", level, j // 2)
            g[k] = Task(k, add, Ref(layer[j]), Ref(layer[j + 1]))
            nxt.append(k)
        if len(layer) % 2:
            nxt.append(layer[-1])
        layer, level = nxt, level + 1
    return g, layer[0]


# --- LocalState ---


def test_ready_order_follows_priorities():
    g = {k: Data(k, k) for k in "abcde"}
    priority = {"a": 3, "b": 1, "c": 0, "d": 4, "e": 2}
    s = LocalState(g, priority, list(g))
    assert [s.pop_ready(1)[0] for _ in range(2)] == ["c", "b"]
    assert s.pop_ready(10) == ["e", "a", "d"]
    assert s.pop_ready(10) == []


def test_dependents_become_ready_in_priority_order():
    g = {
        "a": Data("a", 1),
        "x": Task("x", inc, Ref("a")),
        "y": Task("y", inc, Ref("a")),
        "z": Task("z", inc, Ref("a")),
    }
    s = LocalState(g, {"a": 0, "x": 3, "y": 1, "z": 2}, ["x", "y", "z"])
    assert s.pop_ready(5) == ["a"]
    assert s.ready == [] and s.waiting == {"x": 1, "y": 1, "z": 1}
    s.finish("a", 1)
    assert s.waiting == {}
    assert s.pop_ready(5) == ["y", "z", "x"]


def test_results_are_released_as_soon_as_unneeded():
    #   a ---> b ---> d          requested: d
    #    \         /
    #     ---> c --
    #    e (also uses b)
    g = {
        "a": Data("a", 1),
        "b": Task("b", inc, Ref("a")),
        "c": Task("c", inc, Ref("a")),
        "e": Task("e", inc, Ref("b")),
        "d": Task("d", add, Ref("b"), Ref("c")),
    }
    s = LocalState(g, {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}, ["d", "e"])
    steps = [("a", 1, {"a"}), ("b", 2, {"a", "b"}), ("c", 2, {"b", "c"}), ("d", 4, {"b", "d"}),
             ("e", 3, {"d", "e"})]
    for key, value, data_after in steps:
        assert s.pop_ready(1) == [key]
        s.finish(key, value)
        assert set(s.data) == data_after, key
    assert s.done and s.data == {"d": 4, "e": 3}
    assert s.remaining == {"a": 0, "b": 0, "c": 0, "d": 0, "e": 0}


def test_requested_keys_are_kept_even_when_consumed():
    g = {"a": Data("a", 1), "b": Task("b", inc, Ref("a")), "c": Task("c", inc, Ref("b"))}
    s = run_serially(LocalState(g, {"a": 0, "b": 1, "c": 2}, ["a", "c"]))
    assert s.data == {"a": 1, "c": 3}


def test_unrequested_leaf_results_are_not_stored():
    g = {"a": Data("a", 1), "b": Data("b", 2)}
    s = LocalState(g, {"a": 0, "b": 1}, ["b"])
    s.finish(*[s.pop_ready(1)[0], 1])
    assert s.data == {}
    s.finish(s.pop_ready(1)[0], 2)
    assert s.data == {"b": 2} and s.done


def test_inputs_of_gives_only_the_dependencies():
    g = {"a": Data("a", 1), "b": Data("b", 2), "c": Task("c", add, Ref("a"), Ref("b"))}
    s = LocalState(g, {"a": 0, "b": 1, "c": 2}, ["c", "a"])
    for k in s.pop_ready(2):
        s.finish(k, g[k]())
    assert s.inputs_of("c") == {"a": 1, "b": 2}


def test_serial_run_of_a_tree_holds_little_memory():
    g, root = tree(64)
    prio = order(g, [root])
    trace = []
    s = run_serially(LocalState(g, prio, [root]), trace)
    assert s.data == {root: sum(range(64))}
    assert max(len(held) for _, held in trace) <= 7  # depth 6, +1 for the value being formed


# --- core.order ---


def test_order_is_topological_and_dense():
    g, root = tree(37)
    prio = order(g, [root])
    assert sorted(prio.values()) == list(range(len(g)))
    for k, node in g.items():
        for d in node.dependencies:
            assert prio[d] < prio[k]


def test_tree_reduction_finishes_a_branch_before_the_next():
    #          total
    #        /       \
    #      s0         s1
    #     /  \       /  \
    #   a0   a1    a2    a3
    g = convert_graph({
        "a0": 0, "a1": 1, "a2": 2, "a3": 3,
        "s0": (add, "a0", "a1"), "s1": (add, "a2", "a3"), "total": (add, "s0", "s1"),
    })
    prio = order(g, ["total"])
    assert sorted(prio, key=prio.get) == ["a0", "a1", "s0", "a2", "a3", "s1", "total"]


def test_every_combine_runs_before_the_next_branch_starts():
    g, root = tree(32)
    prio = order(g, [root])

    def leaves_under(k):
        node = g[k]
        if not node.dependencies:
            return {k}
        return set().union(*(leaves_under(d) for d in node.dependencies))

    for k in g:
        if k[0] != "sum":
            continue
        mine = leaves_under(k)
        first = min(prio[m] for m in mine)
        later = [x for x in g if x[0] == "leaf" and x not in mine and prio[x] > first]
        assert all(prio[k] < prio[x] for x in later), k


def test_order_is_deterministic_and_natural():
    g = {("x", i): i for i in range(12)}
    g = convert_graph(g | {"s": (sum, list(g))})
    shuffled = list(g.items())
    random.Random(0).shuffle(shuffled)
    assert order(dict(shuffled), ["s"]) == order(g, ["s"])
    prio = order(g, ["s"])
    assert sorted((k for k in g if k != "s"), key=prio.get) == [("x", i) for i in range(12)]


def test_order_numbers_requested_keys_in_the_order_given():
    g = convert_graph({"a": 1, "b": 2, "c": 3})
    assert order(g, ["c", "a", "b"]) == {"c": 0, "a": 1, "b": 2}


def test_order_detects_cycles():
    g = convert_graph({"a": (inc, "b"), "b": (inc, "c"), "c": (inc, "a"), "top": (inc, "a")})
    with pytest.raises(CycleError) as info:
        order(g, ["top"])
    assert set(info.value.cycle) == {"a", "b", "c"}


# --- core.optimize.fuse ---


def fused_graph(g, keep):
    g = convert_graph(g)
    return g, *fuse(g, dependents_of(g), keep=keep)


def check_consistent(fused, deps):
    """The dependents returned must be exactly those of the fused graph."""
    expected = dependents_of(fused)
    assert {k: sorted(v, key=repr) for k, v in deps.items()} == {
        k: sorted(v, key=repr) for k, v in expected.items()
    }


def test_chain_is_fused_into_its_last_key():
    _, fused, deps = fused_graph({"a": 1, "b": (inc, "a"), "c": (inc, "b"), "d": (inc, "c")}, keep={"d"})
    assert list(fused) == ["d"]
    assert type(fused["d"]) is Fused and [n.key for n in fused["d"].nodes] == ["a", "b", "c", "d"]
    assert fused["d"]({}) == 4
    check_consistent(fused, deps)


def test_requested_keys_are_never_fused_away():
    chain = {"a": 1, "b": (inc, "a"), "c": (inc, "b"), "d": (inc, "c")}
    g, fused, deps = fused_graph(chain, keep={"b", "d"})
    assert sorted(fused) == ["b", "d"]
    assert [n.key for n in fused["b"].nodes] == ["a", "b"]
    assert [n.key for n in fused["d"].nodes] == ["c", "d"]
    assert deps["b"] == ["d"]
    check_consistent(fused, deps)


def test_no_fusion_across_fan_in_or_fan_out():
    g = {"x": 1, "y": 2, "z": (add, "x", "y"), "p": (inc, "z"), "q": (inc, "z")}
    orig, fused, deps = fused_graph(g, keep={"p", "q"})
    assert fused == orig  # x, y feed a fan-in; z fans out: nothing is linear
    diamond = {"a": 1, "b": (inc, "a"), "c": (inc, "a"), "d": (add, "b", "c")}
    orig, fused, deps = fused_graph(diamond, keep={"d"})
    assert fused == orig


def test_chain_hanging_off_a_fan_out():
    #   a --> b --> c        b folds into c; a's dependents become [c, e]
    #    \--> e
    g = {"a": 1, "b": (inc, "a"), "c": (inc, "b"), "e": (inc, "a")}
    _, fused, deps = fused_graph(g, keep={"c", "e"})
    assert sorted(fused) == ["a", "c", "e"]
    assert sorted(deps["a"]) == ["c", "e"]
    check_consistent(fused, deps)
    assert sync.get(g, ["c", "e"]) == [3, 2]


def test_fused_graphs_stay_consistent():
    rng = random.Random(42)
    for _ in range(50):
        n = rng.randint(2, 30)
        g = {0: Data(0, 1)}
        for k in range(1, n):
            parents = rng.sample(range(k), min(k, rng.choice([1, 1, 1, 2])))
            g[k] = Task(k, sum, [Ref(p) for p in parents])
        keep = set(rng.sample(range(n), rng.randint(1, 3)))
        fused, deps = fuse(g, dependents_of(g), keep=keep)
        check_consistent(fused, deps)
        toposort(fused)  # still acyclic and closed
        assert keep <= set(fused)
        expected = sync.get(g, sorted(keep), fuse=False)
        assert sync.get(g, sorted(keep), fuse=True) == expected


def test_alias_chains_fuse():
    g = {("p", 0): 5, "a": ("p", 0), "b": "a", "c": (inc, "b"), "d": "c"}
    _, fused, deps = fused_graph(g, keep={"a", "d"})
    assert type(fused["d"]) is Fused and isinstance(fused["d"].nodes[-1], Alias)
    check_consistent(fused, deps)
    assert sync.get(g, ["a", "b", "d"]) == [5, 5, 6]


# --- end to end: intermediate results are freed while computing ---


class Blob:
    """Counts its live instances."""

    lock = threading.Lock()
    live = 0
    created = 0
    peak = 0

    def __init__(self, value):
        self.value = value
        with Blob.lock:
            Blob.live += 1
            Blob.created += 1
            Blob.peak = max(Blob.peak, Blob.live)

    def __del__(self):
        with Blob.lock:
            Blob.live -= 1


_live_at_root = []


def make_blob(i):
    return Blob(i)


def combine(a, b):
    return Blob(a.value + b.value)


def combine_root(a, b):
    _live_at_root.append(Blob.live)
    return Blob(a.value + b.value)


def blob_tree(leaves):
    g = {("leaf", i): (make_blob, i) for i in range(leaves)}
    layer = list(g)
    level = 0
    while len(layer) > 2:
        nxt = []
        for j in range(0, len(layer), 2):
            k = ("combine", level, j // 2)
            g[k] = (combine, layer[j], layer[j + 1])
            nxt.append(k)
        layer, level = nxt, level + 1
    g["root"] = (combine_root, *layer)
    return g


@pytest.mark.parametrize("get", [sync.get, threads.get], ids=["sync", "threads"])
def test_intermediates_are_released_during_the_compute(get):
    Blob.live = Blob.created = Blob.peak = 0
    _live_at_root.clear()
    result = get(blob_tree(256), "root", num_workers=2)
    assert result.value == sum(range(256))
    assert Blob.created == 2 * 256 - 1
    # when the root runs, all that is alive is its two inputs (every other
    # intermediate was dropped as soon as its dependent finished)
    assert _live_at_root == [2]
    assert Blob.peak < Blob.created
    del result
    assert Blob.live == 0  # the engine keeps nothing after returning


def test_one_task_at_a_time_follows_the_memory_friendly_order():
    # with batch_size=1 the static order alone decides: a branch is reduced
    # before the next starts, so a 256-leaf tree holds about its depth in memory
    Blob.live = Blob.created = Blob.peak = 0
    _live_at_root.clear()
    result = sync.get(blob_tree(256), "root", batch_size=1)
    assert result.value == sum(range(256))
    assert Blob.peak <= 8 + 2


def test_default_sync_batches_keep_the_memory_friendly_order():
    # batched sync cuts batches at priority gaps, so it holds no more than
    # one-task-at-a-time does, even though the tasks are trivial
    Blob.live = Blob.created = Blob.peak = 0
    _live_at_root.clear()
    result = sync.get(blob_tree(512), "root")
    assert result.value == sum(range(512))
    assert Blob.peak <= 9 + 3  # the tree's depth, plus the batch being processed


def test_threads_hold_a_bounded_number_of_small_results():
    # pools batch trivial tasks, which may hold results the static order would
    # already have consumed -- but only a few batches' worth, whatever the size
    # of the graph
    from shoal.local.runner import MAX_BATCH

    import gc

    peaks = []
    for leaves in (1024, 8192):
        gc.collect()  # no Blob of an earlier test may die (and count) during this one
        Blob.live = Blob.created = Blob.peak = 0
        _live_at_root.clear()
        result = threads.get(blob_tree(leaves), "root", num_workers=2)
        assert result.value == sum(range(leaves))
        peaks.append(Blob.peak)
        del result
    assert max(peaks) <= 8 * MAX_BATCH + 64, peaks
    assert peaks[1] <= peaks[0] + 64, peaks  # 8x the leaves, not 8x the memory


def at_least(values, low):
    return [v for v in values if v >= low]


def test_blockwise_pipelines_fuse_per_partition_but_gathers_stay_parallel():
    # per partition: read -> (getitem, invert) -> filter, a diamond; then a
    # tree-style gather over all partitions
    g = {}
    for i in range(4):
        g[("read", i)] = (list, [i, i + 1])
        g[("flag", i)] = (len, ("read", i))
        g[("keep", i)] = (at_least, ("read", i), ("flag", i))
        g[("chunk", i)] = (sum, ("keep", i))
    g["total"] = (sum, [("chunk", i) for i in range(4)])
    orig, fused, deps = fused_graph(g, keep={"total"})
    # each partition's four tasks became one; the gather was left alone, so the
    # four partitions still run in parallel
    assert sorted(fused, key=repr) == sorted([("chunk", i) for i in range(4)] + ["total"], key=repr)
    assert [n.key for n in fused[("chunk", 2)].nodes] == [("read", 2), ("flag", 2), ("keep", 2), ("chunk", 2)]
    assert fused[("chunk", 2)].dependencies == frozenset()
    check_consistent(fused, deps)
    assert sync.get(g, "total") == sum(x for i in range(4) for x in (i, i + 1) if x >= 2)


def test_partition_zero_is_not_swallowed_by_a_scalar_with_the_same_index():
    # ("agg", 0) gathers every chunk: chunk 0 must stay its own task although
    # its block index matches, or partition 0 would run after all the others
    g = {("chunk", i): (inc, i) for i in range(3)}
    g[("agg", 0)] = (sum, [("chunk", i) for i in range(3)])
    _, fused, _ = fused_graph(g, keep={("agg", 0)})
    assert ("chunk", 0) in fused


def test_wide_fan_in_of_string_keys_is_not_fused():
    g = {f"inc-{i}": (inc, i) for i in range(100)}
    g["total"] = (sum, [f"inc-{i}" for i in range(100)])
    _, fused, _ = fused_graph(g, keep={"total"})
    assert len(fused) == 101


def _where(x):
    return [threading.current_thread().name]


def test_getitem_around_a_nested_task_runs_on_a_worker():
    # the loop runs plain item selections itself, but (getitem, (f, x), 0) also
    # runs f: that must go to a pool thread, not serialize in the loop
    import operator

    g = {f"x{i}": (operator.getitem, (_where, i), 0) for i in range(4)}
    names = threads.get(g, list(g), num_workers=2)
    assert threading.current_thread().name not in names
    assert all(n.startswith("shoal-threads") for n in names)


def test_optimize_graph_false_is_local_to_its_compute():
    # compute(optimize_graph=False) must not flip the global fuse setting: two
    # overlapping such computes in different threads used to leave it False
    import time

    import shoal
    from shoal import config, delayed
    from shoal.core import optimize

    seen = []

    def slow(x):
        seen.append(optimize.active())
        time.sleep(0.2)
        return x

    def run(delay):
        time.sleep(delay)
        shoal.compute(delayed(slow)(1), optimize_graph=False, scheduler="sync")

    ts = [threading.Thread(target=run, args=(d,)) for d in (0, 0.05)]
    for t in ts:
        t.start()
    time.sleep(0.1)
    assert optimize.active()  # this thread's computes still fuse meanwhile
    for t in ts:
        t.join()
    assert seen == [False, False]
    assert config.get("optimization.fuse.active") is True and optimize.active()


def test_fusion_names_inner_nodes_by_their_graph_keys():
    # a node stored under another key than its own .key (Dask's DataNode(None, v),
    # a keyless Task) used to make the fused group wait on itself: a stall
    g = {"a": Task(None, inc, 1), "b": Task("b", inc, Ref("a")), "c": Task("c", inc, Ref("b"))}
    assert sync.get(g, "c", fuse=True) == sync.get(g, "c", fuse=False) == 4
    g = {("p", 0): Data(None, 1), ("q", 0): Task(("q", 0), add, Ref(("p", 0)), Ref(("p", 0))),
         ("r", 0): Task(("r", 0), add, Ref(("q", 0)), Ref(("p", 0)))}
    fused, deps = fuse(g, dependents_of(g), keep={("r", 0)})
    assert list(fused) == [("r", 0)] and fused[("r", 0)].dependencies == frozenset()
    assert threads.get(g, ("r", 0)) == 3


def test_legacy_graphs_refer_to_int_float_and_bytes_keys_as_dask_does():
    """In a legacy graph, an argument equal to one of its keys is that key's value
    if it is a str, tuple, int or float (Dask's rule); bytes, a bool, or a number no
    key has, stay literal."""
    dsk = {"a": 1, 5: (inc, "a"), "b": (inc, 5), 2.5: (inc, "a"), "c": (inc, 2.5),
           b"k": (inc, "a"), "d": (len, b"k"), ("t", 0): (inc, "a"), "e": (inc, ("t", 0)),
           "f": (add, 7, 5), "g": (add, True, 0), "h": 5}  # fmt: skip
    for get in (sync.get, threads.get):
        assert get(dsk, ["b", "c", "d", "e", "f", "g", "h"]) == [3, 3, 1, 3, 9, 1, 2]
    assert get({"x": (add, 1, 2)}, "x") == 3  # no key 1 or 2: literals
