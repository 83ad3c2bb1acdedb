"""delayed: graph building, keys, operators, compute/persist, Dask interop."""

import operator
from operator import add

import pytest

import shoal
from shoal import compute, delayed, persist
from shoal.delayed import Delayed


def inc(x):
    return x + 1


def test_call_and_decorator():
    x = delayed(inc)(1)
    assert isinstance(x, Delayed)
    assert x.compute() == 2

    @delayed
    def double(v):
        return 2 * v

    assert double(x).compute() == 4
    assert double.__name__ == "double"


def test_keys_prefix_and_purity():
    a, b = delayed(inc)(1), delayed(inc)(1)
    assert a.key != b.key  # impure by default: every call is a new task
    assert a.key.startswith("inc-")
    p1, p2 = delayed(inc, pure=True)(1), delayed(inc, pure=True)(1)
    assert p1.key == p2.key
    assert delayed(inc, pure=True)(2).key != p1.key
    assert delayed(inc)(1, pure=True).key == p1.key
    assert delayed(inc)(1, dask_key_name="mine").key == "mine"
    assert delayed(5, name="five").key == "five"
    assert delayed(5).key == delayed(5).key  # values are tokenized


def test_nested_arguments_and_kwargs():
    x = delayed(inc)(1)
    y = delayed(lambda d, l, t, k=None: (d["a"] + l[0] + t[1], k))(
        {"a": x}, [x], (0, x), k=x
    )
    assert y.compute() == ((6, 2))
    assert set(d.key for d in y._deps) == {x.key}


def test_strings_that_look_like_keys_stay_literal():
    x = delayed(inc)(1, dask_key_name="x")
    y = delayed(lambda a, s: (a, s))(x, "x")
    assert y.compute() == (2, "x")


def test_operators_attributes_items_methods():
    x = delayed(10)
    assert (x + 1).compute() == 11
    assert (1 + x).compute() == 11
    assert (x * 2 - 3).compute() == 17
    assert (x / 4).compute() == 2.5
    assert (-x).compute() == -10
    assert (x > 3).compute() is True
    assert (x == 10).compute() is True
    c = delayed(3 + 4j)
    assert c.real.compute() == 3
    assert c.conjugate().compute() == 3 - 4j
    lst = delayed([1, 2, 3])
    assert lst[1].compute() == 2
    assert lst.index(3).compute() == 2
    assert hash(x) == hash(x.key)


def test_nout_and_iteration():
    q, r = delayed(divmod, nout=2)(17, 5)
    assert (q.compute(), r.compute()) == (3, 2)
    assert len(delayed(divmod, nout=2)(1, 1)) == 2
    with pytest.raises(TypeError, match="nout"):
        iter(delayed(inc)(1))
    with pytest.raises(TypeError, match="len"):
        len(delayed(inc)(1))


def test_truth_and_mutation_refused():
    x = delayed(inc)(1)
    with pytest.raises(TypeError, match="truth value"):
        bool(x)
    with pytest.raises(TypeError, match="immutable"):
        x.foo = 1
    with pytest.raises(TypeError, match="immutable"):
        x[0] = 1


def test_compute_shares_subgraphs():
    calls = []

    def work(v):
        calls.append(v)
        return v * 2

    shared = delayed(work)(21)
    a, b = shared + 1, shared + 2
    assert compute(a, b, scheduler="sync") == (43, 44)
    assert calls == [21]


def test_compute_repacks_structures():
    x = delayed(inc)(1)
    out = compute({"a": x, "b": [x, 5]}, (x,), 7, scheduler="sync")
    assert out == ({"a": 2, "b": [2, 5]}, (2,), 7)
    assert compute(scheduler="sync") == ()


def test_delayed_objects_as_dict_keys_are_computed():
    x, y = delayed(inc)(1), delayed(inc)(10)
    assert compute({x: "v", "k": y}, scheduler="sync") == ({2: "v", "k": 11},)
    assert delayed(dict)({x: [y]}).compute(scheduler="sync") == {2: [11]}
    assert delayed(len)({x: 1, y: 2}).compute(scheduler="threads") == 2


def test_persist_keeps_results():
    calls = []

    def work(v):
        calls.append(v)
        return v + 100

    x = delayed(work)(1)
    (px,) = persist(x, scheduler="sync")
    assert px.key == x.key
    assert calls == [1]
    assert (px + 1).compute(scheduler="sync") == 102
    assert calls == [1]
    assert x.persist(scheduler="sync").compute() == 101


def test_delayed_containers_and_values():
    x = delayed(inc)(1)
    assert delayed([x, 2, {"k": x}]).compute() == [2, 2, {"k": 2}]
    assert delayed((x, x)).compute() == (2, 2)
    assert delayed(x) is x


def test_large_graph_is_linear():
    xs = [delayed(inc)(i) for i in range(5000)]
    total = delayed(sum)(xs)
    assert len(total.dask) == 5001
    assert total.compute(scheduler="sync") == sum(range(1, 5001))


def test_errors_name_the_key_and_keep_type():
    def boom(v):
        raise ValueError(f"bad value {v}")

    x = delayed(boom)(3, dask_key_name="exploding")
    ran = []
    y = delayed(lambda v: ran.append(v))(x)
    with pytest.raises(ValueError, match="bad value 3") as info:
        y.compute(scheduler="threads")
    assert any("exploding" in n for n in info.value.__notes__)
    assert ran == []


@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes"])
def test_every_scheduler_by_name(scheduler):
    x = delayed(sum)([delayed(inc)(i) for i in range(50)])
    assert x.compute(scheduler=scheduler) == sum(range(1, 51))


def test_pickle_roundtrip():
    import pickle

    x = delayed(add)(delayed(inc)(1), 2)
    y = pickle.loads(pickle.dumps(x))
    assert y.key == x.key and y.compute(scheduler="sync") == 4


def test_delayed_inside_processes_tasks():
    x = delayed(lambda v: [v] * 3)(delayed(operator.mul)(2, 3))
    assert x.compute(scheduler="processes") == [6, 6, 6]


def test_dask_interop_both_ways():
    dask = pytest.importorskip("dask")
    # shoal computes Dask collections ...
    d = dask.delayed(inc)(dask.delayed(inc)(1))
    assert shoal.compute(d, scheduler="sync") == (3,)
    # ... Dask computes shoal's
    s = delayed(add)(delayed(inc)(1), 10)
    assert dask.compute(s, scheduler="sync") == (12,)
    # and they mix inside delayed calls
    mixed = delayed(add)(d, s)
    assert mixed.compute(scheduler="threads") == 15


@pytest.mark.parametrize("scheduler", [None, "sync", "threads"])
def test_dask_compute_of_shoal_collections_on_any_scheduler(scheduler):
    dask = pytest.importorskip("dask")
    x = delayed(sum)([delayed(inc)(1), 2, 3])
    kwargs = {} if scheduler is None else {"scheduler": scheduler}
    # with no scheduler Dask uses the collection's own (shoal's threads), which
    # then receives Dask's expression of the exported graph
    assert dask.compute(x, **kwargs) == (7,)


def test_shoal_compute_of_dask_collections_with_their_own_scheduler():
    # no scheduler given: a Dask collection's own get (Dask's threads, processes or sync)
    # means shoal's of the same kind, whose diagnostics see it (Dask's ran unobserved)
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    db = pytest.importorskip("dask.bag")
    from shoal.base import get_scheduler
    from shoal.diagnostics import Profiler

    x = da.arange(10, chunks=5).sum()
    with Profiler() as prof:
        assert shoal.compute(x) == (45,)
    assert prof.results and get_scheduler(collections=[x]).__module__ == "shoal.local.threads"
    bag = db.from_sequence([1, 2, 3], npartitions=2).map(inc)
    assert get_scheduler(collections=[bag]).__module__ == "shoal.local.processes"
    with dask.config.set(scheduler="sync"):  # (Dask's own config is Dask's business)
        assert get_scheduler(collections=[x]).__module__ == "shoal.local.threads"
    assert shoal.compute(bag.sum(), scheduler="sync") == (9,)
    assert shoal.compute(dask.delayed(sum)([1, dask.delayed(abs)(-2)]), delayed(sum)([1, 2])) == (3, 3)
    assert shoal.compute(delayed(inc)(1), scheduler=dask.threaded.get) == (2,)
    assert persist(delayed(inc)(1), scheduler=dask.get)[0].compute() == 2


def test_foreign_get_functions_receive_dask_spec():
    seen = []

    def my_get(graph, keys, **kwargs):
        seen.extend(type(v) for v in graph.values())
        import shoal.local.sync

        return shoal.local.sync.get(graph, keys, **kwargs)

    assert delayed(add)(delayed(inc)(1), 2).compute(scheduler=my_get) == 4
    assert set(seen) == {tuple}


def test_namedtuple_dataclass_and_slice_arguments_are_traversed():
    import collections
    import dataclasses

    P = collections.namedtuple("P", "x y")

    @dataclasses.dataclass
    class D:
        a: object
        b: int = 1
        c: int = dataclasses.field(init=False, default=7)

    one = delayed(inc)(0)
    assert delayed(lambda p: p)(P(one, 2)).compute(scheduler="sync") == P(1, 2)
    assert delayed(P(one, 2)).compute(scheduler="sync") == P(1, 2)
    assert delayed(lambda d: d)(D(one)).compute(scheduler="sync") == D(1)
    assert delayed([1, 2, 3])[one:].compute(scheduler="sync") == [2, 3]
    # compute(...) repacks them too
    assert compute(P(one, 2), D(one, b=one), scheduler="sync") == (P(1, 2), D(1, 1))
    assert compute(P(1, 2)) == (P(1, 2),)
