"""shoal.bag: every operation against plain Python on the whole data.

Layouts: one partition, several, more partitions than elements, and partitions
that are empty (first, middle and last).  Most checks run on the sync scheduler
(fast); ``test_schedulers`` repeats a pipeline on threads and processes, and
the default (processes) runs lambdas in worker processes.
"""

import functools
import heapq
import math
import operator
import os
import statistics
import warnings
from collections import Counter

import pytest

import shoal
import shoal.bag as db
from shoal.bag import chunk

DATA = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3]
WORDS = ["apple", "Banana", "cherry", "apple", "date", "Cherry", "apple", "fig", "date"]
RECORDS = [{"name": n, "amount": i * 10 - 35, "tags": list(range(i % 3))}
           for i, n in enumerate(["alice", "bob", "carol", "alice", "dan", "bob", "alice",
                                  "erin", "carol", "alice", "bob"])]


def parts_of(seq, layout):
    n = len(seq)
    if layout == "one":
        return [list(seq)]
    if layout == "three":
        return [list(seq[n * i // 3: n * (i + 1) // 3]) for i in range(3)]
    if layout == "many":  # more partitions than some blocks need: several are empty
        return [list(seq[n * i // 40: n * (i + 1) // 40]) for i in range(40)]
    if layout == "empties":
        h = n // 2
        return [[], list(seq[:h]), [], [], list(seq[h:]), []]
    raise AssertionError(layout)


LAYOUTS = ["one", "three", "many", "empties"]


def make(seq, layout):
    """A bag with exactly the given partitions (from_delayed of lists)."""
    parts = parts_of(seq, layout)
    return db.from_delayed([shoal.delayed(p, name=f"part-{layout}-{i}-{id(seq)}")
                            for i, p in enumerate(parts)])


@pytest.fixture
def default_scheduler():
    """Requested by tests that run on the bag's own default (processes)."""


@pytest.fixture(autouse=True)
def sync_by_default(request):
    if "default_scheduler" in request.fixturenames:
        yield
        return
    with shoal.config.set(scheduler="sync"):
        yield


def inc(x):
    return x + 1


# -- creation ---------------------------------------------------------------------------

def test_from_sequence_partitioning():
    assert db.from_sequence(range(10)).npartitions == 10
    assert db.from_sequence(range(1000)).npartitions == 100
    assert db.from_sequence(range(10), npartitions=3).npartitions == 3
    assert db.from_sequence(range(2), npartitions=5).npartitions == 2
    assert db.from_sequence(range(10), partition_size=4).npartitions == 3
    assert db.from_sequence([]).npartitions == 1
    for kw in ({}, {"npartitions": 3}, {"partition_size": 4}):
        assert db.from_sequence(range(10), **kw).compute() == list(range(10))
    assert db.from_sequence([]).compute() == []
    assert db.from_sequence(iter("abc")).compute() == ["a", "b", "c"]


def test_range_and_repr():
    b = db.range(10, npartitions=3)
    assert b.compute() == list(range(10))
    assert b.npartitions == 3
    assert repr(b) == "shoal.bag<range, npartitions=3>"
    assert repr(b.map(inc)).startswith("shoal.bag<map-inc, npartitions=3")
    assert db.range(2, npartitions=4).compute() == [0, 1]
    assert "Item<sum>" in repr(b.sum())


def test_same_expression_same_keys():
    a = db.from_sequence(DATA, npartitions=3).map(inc).sum()
    b = db.from_sequence(DATA, npartitions=3).map(inc).sum()
    assert a.key == b.key
    assert db.from_sequence(DATA).map(inc).name != db.from_sequence(DATA).map(abs).name


def test_from_delayed_and_to_delayed():
    d = [shoal.delayed(list)(range(i)) for i in range(4)]
    b = db.from_delayed(d)
    assert b.npartitions == 4
    assert b.compute() == [x for i in range(4) for x in range(i)]
    assert db.from_delayed(shoal.delayed(tuple)("ab")).compute() == ["a", "b"]
    parts = b.map(inc).to_delayed()
    assert [p.compute() for p in parts] == [[x + 1 for x in range(i)] for i in range(4)]
    item = b.sum().to_delayed()
    assert item.compute() == sum(x for i in range(4) for x in range(i))
    assert db.Item.from_delayed(shoal.delayed(sum)([1, 2])).apply(inc).compute() == 4


# -- elementwise -------------------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
def test_elementwise(layout):
    b = make(DATA, layout)
    assert b.compute() == DATA
    assert list(b) == DATA
    assert b.map(inc).compute() == [x + 1 for x in DATA]
    assert b.map(operator.add, 10).compute() == [x + 10 for x in DATA]
    assert b.map(pow, 2).compute() == [x ** 2 for x in DATA]
    assert b.map(lambda x, y=0: x * y, y=3).compute() == [x * 3 for x in DATA]
    assert b.filter(lambda x: x % 2).compute() == [x for x in DATA if x % 2]
    assert b.remove(lambda x: x % 2).compute() == [x for x in DATA if not x % 2]
    assert b.map(lambda x: (x, -x)).starmap(operator.add).compute() == [0] * len(DATA)
    assert b.map(lambda x: [x] * (x % 3)).flatten().compute() == [
        y for x in DATA for y in [x] * (x % 3)]
    assert b.map_partitions(sorted).compute() == [
        x for p in parts_of(DATA, layout) for x in sorted(p)]
    assert b.map_partitions(lambda p: (x * 2 for x in p)).compute() == [x * 2 for x in DATA]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_pluck(layout):
    b = make(RECORDS, layout)
    assert b.pluck("name").compute() == [r["name"] for r in RECORDS]
    assert b.pluck(["name", "amount"]).compute() == [(r["name"], r["amount"]) for r in RECORDS]
    assert b.pluck("tags").pluck(1, default=None).compute() == [
        r["tags"][1] if len(r["tags"]) > 1 else None for r in RECORDS]
    assert b.pluck(["name", "nope"], default=0).compute() == [(r["name"], 0) for r in RECORDS]
    names, amounts = b.pluck(["name", "amount"]).unzip(2)
    assert amounts.compute() == [r["amount"] for r in RECORDS]


def test_pluck_missing_key_raises_keyerror_with_the_key():
    b = db.from_sequence(RECORDS, npartitions=3)
    with pytest.raises(KeyError, match="no-such-field"):
        b.pluck("no-such-field").compute()


def test_pluck_missing_key_on_processes(default_scheduler):
    b = db.from_sequence(RECORDS, npartitions=3).pluck("no-such-field")
    with pytest.raises(KeyError, match="no-such-field"):
        b.compute()


@pytest.mark.parametrize("layout", ["three", "empties"])
def test_map_with_bags_items_and_delayed(layout):
    a = make(DATA, layout)
    b = make([x * 100 for x in DATA], layout)
    assert a.map(operator.add, b).compute() == [x + x * 100 for x in DATA]
    assert db.map(lambda x, y, z: x + y + z, a, b, z=a).compute() == [
        2 * x + x * 100 for x in DATA]
    assert a.map(lambda x, y: x - y, y=b).compute() == [x - x * 100 for x in DATA]
    total = a.sum()
    assert a.map(operator.sub, total).compute() == [x - sum(DATA) for x in DATA]
    d = shoal.delayed(max)(DATA)
    assert a.map(lambda x, m: m - x, m=d).compute() == [max(DATA) - x for x in DATA]
    assert a.map(lambda x, m, k: x * k + m, total, k=2).compute() == [
        2 * x + sum(DATA) for x in DATA]
    assert db.zip(a, b).compute() == list(zip(DATA, [x * 100 for x in DATA]))
    assert a.map_partitions(lambda p, q, t: [len(p) + len(q) + t], b, a.count()).compute() == [
        2 * len(p) + len(DATA) for p in parts_of(DATA, layout)]


def test_map_bags_with_different_npartitions():
    a = db.from_sequence(DATA, npartitions=3)
    b = db.from_sequence(DATA, npartitions=4)
    with pytest.raises(ValueError, match=r"3 and 4 partitions"):
        a.map(operator.add, b)
    with pytest.raises(ValueError, match=r"3 and 4 partitions"):
        db.zip(a, b)
    with pytest.raises(ValueError, match="at least one Bag"):
        db.map(inc, 1)


def test_str_accessor():
    b = db.from_sequence(["  Alice Smith ", "Bob Jones", " Charlie Smith"], npartitions=2)
    plain = ["  Alice Smith ", "Bob Jones", " Charlie Smith"]
    assert b.str.lower().compute() == [s.lower() for s in plain]
    assert b.str.strip().compute() == [s.strip() for s in plain]
    assert b.str.split().compute() == [s.split() for s in plain]
    assert b.str.replace("Smith", "S.").compute() == [s.replace("Smith", "S.") for s in plain]
    assert b.str.strip().str.match("*Smith").compute() == ["Alice Smith", "Charlie Smith"]
    assert "upper" in dir(b.str)
    with pytest.raises(AttributeError):
        b.str.no_such_method


# -- reductions ---------------------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("split_every", [None, 2, False])
def test_reductions(layout, split_every):
    b = make(DATA, layout)
    kw = {"split_every": split_every}
    assert b.count(**kw).compute() == len(DATA)
    assert b.sum(**kw).compute() == sum(DATA)
    assert b.min(**kw).compute() == min(DATA)
    assert b.max(**kw).compute() == max(DATA)
    assert b.any(**kw).compute() is True
    assert b.map(lambda x: x > 1).all(**kw).compute() is False
    assert b.mean(**kw).compute() == pytest.approx(statistics.mean(DATA))
    assert b.var(**kw).compute() == pytest.approx(statistics.pvariance(DATA))
    assert b.var(ddof=1, **kw).compute() == pytest.approx(statistics.variance(DATA))
    assert b.std(**kw).compute() == pytest.approx(statistics.pstdev(DATA))
    assert b.std(ddof=1, **kw).compute() == pytest.approx(statistics.stdev(DATA))
    assert b.fold(operator.add, **kw).compute() == sum(DATA)
    assert b.fold(operator.add, initial=0, **kw).compute() == sum(DATA)
    assert b.fold(lambda acc, x: acc + [x], operator.add, initial=[], **kw).compute() == DATA
    assert b.reduction(sum, sum, **kw).compute() == sum(DATA)
    assert b.reduction(len, sum, **kw).compute() == len(DATA)
    assert b.reduction(lambda p: list(set(p)), lambda ps: sorted(set().union(*ps)),
                       out_type=db.Bag, **kw).compute() == sorted(set(DATA))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_counting_reductions(layout):
    b = make(DATA, layout)
    w = make(WORDS, layout)
    for split_every in (None, 2):
        assert b.frequencies(split_every=split_every).compute() == list(Counter(DATA).items())
        assert b.frequencies(sort=True).compute() == Counter(DATA).most_common()
        assert b.topk(4, split_every=split_every).compute() == heapq.nlargest(4, DATA)
        assert b.topk(4, key=lambda x: -x).compute() == heapq.nlargest(4, DATA, key=lambda x: -x)
        assert b.topk(100).compute() == sorted(DATA, reverse=True)
        assert b.distinct(split_every=split_every).compute() == list(dict.fromkeys(DATA))
        assert w.distinct(key=str.lower).compute() == ["apple", "Banana", "cherry", "date", "fig"]
    pairs = b.map(lambda x: (x, x % 4))
    assert pairs.topk(3, key=lambda a, m: (m, a)).compute() == heapq.nlargest(
        3, [(x, x % 4) for x in DATA], key=lambda t: (t[1], t[0]))
    r = make(RECORDS, layout)
    assert r.distinct(key="name").pluck("name").compute() == list(dict.fromkeys(
        x["name"] for x in RECORDS))


def test_item_operations():
    b = db.from_sequence(DATA, npartitions=4)
    s, n = b.sum(), b.count()
    assert (s / n).compute() == pytest.approx(sum(DATA) / len(DATA))
    assert (s + 1).compute() == sum(DATA) + 1
    assert (1 - s).compute() == 1 - sum(DATA)
    assert (-s).compute() == -sum(DATA)
    assert (s > 10).compute() is True
    assert s.apply(lambda v, k: v * k, 3).compute() == 3 * sum(DATA)
    assert s.apply(operator.sub, n).compute() == sum(DATA) - len(DATA)
    assert shoal.compute(s, n) == (sum(DATA), len(DATA))
    with pytest.raises(TypeError, match="truth value"):
        bool(s)
    p = b.map(inc).persist()
    assert p.compute() == [x + 1 for x in DATA]
    assert s.persist().compute() == sum(DATA)


def test_empty_reductions():
    e = db.from_sequence([], npartitions=3)
    assert e.count().compute() == 0
    assert e.sum().compute() == 0
    assert e.frequencies().compute() == []
    assert e.topk(2).compute() == []
    assert e.distinct().compute() == []
    with pytest.raises(ValueError, match="empty"):
        e.max().compute()
    with pytest.raises(TypeError, match="empty"):
        e.fold(operator.add).compute()
    assert math.isnan(e.var().compute())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_foldby(layout):
    r = make(RECORDS, layout)
    expected: dict = {}
    for x in RECORDS:
        expected[x["name"]] = expected.get(x["name"], 0) + x["amount"]
    got = r.foldby("name", lambda acc, x: acc + x["amount"], 0, operator.add, 0).compute()
    assert got == list(expected.items())
    got = r.foldby(lambda x: x["name"], lambda acc, x: acc + x["amount"], 0,
                   operator.add, split_every=2).compute()
    assert dict(got) == expected
    # no initial: the first element starts each group
    b = make(DATA, layout)
    got = dict(b.foldby(lambda x: x % 3, max).compute())
    assert got == {k: max(x for x in DATA if x % 3 == k) for k in (0, 1, 2)}
    # callable initial: called once per new key
    got = dict(r.foldby("name", lambda acc, x: acc + [x["amount"]], list, operator.add).compute())
    assert got == {k: [x["amount"] for x in RECORDS if x["name"] == k] for k in expected}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("npartitions", [None, 1, 3])
def test_groupby(layout, npartitions):
    r = make(RECORDS, layout)
    g = r.groupby(lambda x: x["name"], npartitions=npartitions)
    assert g.npartitions == (npartitions or r.npartitions)
    expected: dict = {}
    for x in RECORDS:
        expected.setdefault(x["name"], []).append(x)
    got = g.compute()
    assert len(got) == len(expected)
    assert dict(got) == expected
    b = make(DATA, layout)
    assert dict(b.groupby(lambda x: x % 4).compute()) == {
        k: [x for x in DATA if x % 4 == k] for k in set(x % 4 for x in DATA)}
    assert dict(r.groupby("name").map(lambda kv: (kv[0], len(kv[1]))).compute()) == {
        k: len(v) for k, v in expected.items()}


def test_stable_hash_agrees_across_equal_values():
    assert chunk.stable_hash("abc") == chunk.stable_hash("abc") == 891568578
    assert chunk.stable_hash(1) == chunk.stable_hash(1.0) == chunk.stable_hash(True)
    assert chunk.stable_hash(("a", 1)) == chunk.stable_hash(("a", 1.0))
    assert chunk.stable_hash(frozenset("ab")) == chunk.stable_hash(frozenset("ba"))
    assert chunk.stable_hash(None) == 0
    assert chunk.stable_hash(b"abc") != chunk.stable_hash("abc")


def test_groupby_keeps_equal_keys_of_other_types_together():
    """A namedtuple equals the plain tuple, a str Enum its value: one group each (they
    were hashed apart and split in two)."""
    import collections
    import enum

    class Color(str, enum.Enum):
        R = "r"

    P = collections.namedtuple("P", "a b")
    for keys in (["r", Color.R], [(0, "x"), P(0, "x")]):
        b = db.from_sequence(keys * 6, npartitions=3)
        for scheduler in ("sync", "processes"):
            sizes = b.groupby(lambda x: x).map(lambda kv: len(kv[1])).compute(scheduler=scheduler)
            assert sizes == [12], (keys, scheduler)


def test_map_over_bags_of_unequal_partitions_is_refused():
    b = db.from_sequence(range(10), npartitions=2)
    with pytest.raises(ValueError, match="partitions of different lengths"):
        db.map(operator.add, b, b.filter(lambda x: x % 3)).compute(scheduler="sync")
    assert db.map(operator.add, b, b.map(inc)).compute() == [2 * i + 1 for i in range(10)]


def test_bags_where_only_values_fit_are_refused_by_name():
    b = db.from_sequence([(1, 2), (3, 4), (5, 6)], npartitions=2)
    with pytest.raises(TypeError, match=r"starmap: c= is a Bag"):
        b.starmap(lambda x, y, c=0: (x, y, c), c=b.pluck(0))
    assert b.starmap(lambda x, y, c=0: x + y + c, c=b.count()).compute() == [6, 10, 14]
    with pytest.raises(TypeError, match=r"Item.apply: args\[0\] is a Bag"):
        b.count().apply(lambda v, p: (v, p), b)
    with pytest.raises(TypeError, match="unsupported operand"):
        b.count() + b


def test_an_item_converts_to_a_number_by_computing():
    b = db.from_sequence([1.5, 2.5, 3], npartitions=2)
    assert int(b.count()) == 3 and float(b.sum()) == 7.0 and complex(b.count()) == 3 + 0j


# -- take, repartition ------------------------------------------------------------------------

def test_from_delayed_of_to_delayed_shares_the_graph():
    b = db.from_sequence(range(50), npartitions=10).map(inc)
    again = db.from_delayed(b.to_delayed())
    assert len(again.__shoal_graph__()) == 30
    assert again.compute() == list(range(1, 51))


def test_take():
    b = db.from_sequence(DATA, npartitions=5)
    assert b.take(3) == tuple(DATA[:3])
    assert b.take(7, npartitions=2) == tuple(DATA[:7])
    assert b.take(100, npartitions=-1) == tuple(DATA)
    with pytest.warns(UserWarning, match="Insufficient elements"):
        assert b.take(100) == tuple(DATA[:5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b.take(100, warn=False)
    lazy = b.take(2, compute=False)
    assert isinstance(lazy, db.Bag) and lazy.compute() == DATA[:2]
    with pytest.raises(ValueError, match="only 5 partitions"):
        b.take(1, npartitions=6)


def _mark(directory, x):
    open(os.path.join(directory, f"ran-{x}"), "w").close()
    return x


def test_take_runs_only_the_partitions_it_needs(tmp_path, default_scheduler):
    b = db.from_sequence(range(40), npartitions=8).map_partitions(
        lambda p, d: [_mark(d, p[0])] + p[1:], str(tmp_path))
    assert b.take(3) == (0, 1, 2)  # processes
    assert sorted(os.listdir(tmp_path)) == ["ran-0"]
    assert b.take(8, npartitions=2) == tuple(range(8))
    assert sorted(os.listdir(tmp_path)) == ["ran-0", "ran-5"]
    with shoal.config.set(scheduler="threads"):
        b.take(1, npartitions=3)
    assert sorted(os.listdir(tmp_path)) == ["ran-0", "ran-10", "ran-5"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n", [1, 2, 5, 13])
def test_repartition(layout, n):
    b = make(DATA, layout)
    r = b.repartition(n)
    assert r.npartitions == n
    assert r.compute() == DATA
    assert r.sum().compute() == sum(DATA)


def test_repartition_splits_evenly():
    parts = [p.compute() for p in db.from_sequence(range(10), npartitions=1).repartition(3).to_delayed()]
    assert parts == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    with pytest.raises(ValueError):
        db.range(3, 1).repartition(0)
    np = pytest.importorskip("numpy")
    assert db.range(10, 1).repartition(np.int64(3)).npartitions == 3  # (Dask accepts it)
    for bad in (2.5, "2", None):
        with pytest.raises(ValueError, match="npartitions must be a positive int"):
            db.range(3, 1).repartition(bad)


def test_concat():
    a, b = db.from_sequence([1, 2], npartitions=2), db.from_sequence([3], npartitions=1)
    c = db.concat([a, b])
    assert c.npartitions == 3 and c.compute() == [1, 2, 3]


# -- schedulers -------------------------------------------------------------------------------

def pipeline(b):
    return (b.map(lambda r: {**r, "amount": r["amount"] * 2})
             .filter(lambda r: r["amount"] > -20)
             .pluck("name")
             .frequencies(sort=True))


def expected_pipeline():
    names = [r["name"] for r in RECORDS if r["amount"] * 2 > -20]
    return Counter(names).most_common()


@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes", None])
def test_schedulers(scheduler, default_scheduler):
    b = db.from_sequence(RECORDS, npartitions=4)
    kw = {} if scheduler is None else {"scheduler": scheduler}
    assert pipeline(b).compute(**kw) == expected_pipeline()
    g = b.groupby(lambda r: r["name"], npartitions=3).map(lambda kv: (kv[0], len(kv[1])))
    assert dict(g.compute(**kw)) == dict(Counter(r["name"] for r in RECORDS))
    total, top = shoal.compute(b.pluck("amount").sum(), b.pluck("amount").topk(2), **kw)
    assert total == sum(r["amount"] for r in RECORDS)
    assert top == heapq.nlargest(2, [r["amount"] for r in RECORDS])


def test_default_scheduler_is_processes(default_scheduler):
    b = db.from_sequence(range(8), npartitions=4)
    assert b.__dask_scheduler__.__name__ == "get_processes"
    assert b.sum().__dask_scheduler__.__name__ == "get_processes"
    pids = set(b.map(lambda x: os.getpid()).compute())
    assert os.getpid() not in pids


def test_lambdas_and_closures_on_processes(default_scheduler):
    offset = 7
    b = db.from_sequence(range(20), npartitions=4)
    out = b.map(lambda x: x + offset).filter(lambda x: x % 2).map_partitions(
        lambda p: [sum(p)]).compute()
    assert sum(out) == sum(x + offset for x in range(20) if (x + offset) % 2)
    assert b.foldby(lambda x: x % 3, lambda a, x: a + x, 0).compute(scheduler="processes") == \
        [(0, 63), (1, 70), (2, 57)]
    total, biggest = b.sum(), shoal.delayed(max)(range(20))
    assert b.map(lambda x, t, m: t - x + m, total, m=biggest).compute() == [
        190 - x + 19 for x in range(20)]
    assert db.from_delayed(b.map(inc).to_delayed()).compute() == list(range(1, 21))


def test_dask_computes_a_shoal_bag():
    dask = pytest.importorskip("dask")
    b = db.from_sequence(DATA, npartitions=3).map(inc)
    (got,) = dask.compute(b.frequencies(), scheduler="sync")
    assert got == list(Counter(x + 1 for x in DATA).items())


def test_agrees_with_dask_bag():
    dask_bag = pytest.importorskip("dask.bag")
    for mod in (db, dask_bag):
        b = mod.from_sequence(WORDS, npartitions=3)
        out = (b.frequencies(sort=True).compute(scheduler="sync"),
               b.topk(2, key=len).compute(scheduler="sync"),
               sorted(b.distinct().compute(scheduler="sync")),
               b.take(2),
               dict(b.foldby(len, lambda a, w: a + 1, 0).compute(scheduler="sync")))
        if mod is db:
            mine = out
    assert out == mine


def test_functools_partial_names():
    b = db.from_sequence(DATA).map(functools.partial(operator.mul, 2))
    assert b.name.startswith("map-mul-")
    assert b.compute() == [2 * x for x in DATA]


@pytest.mark.parametrize("npartitions", [1, 2, 3, 5])
def test_accumulate_runs_across_partitions(npartitions):
    import itertools

    b = db.from_sequence([1, 2, 3, 4, 5], npartitions=npartitions)
    assert b.accumulate(operator.add).compute() == list(itertools.accumulate([1, 2, 3, 4, 5]))
    assert b.accumulate(operator.add, initial=-1).compute(scheduler="processes") == [-1, 0, 2, 5, 9, 14]
    assert db.from_sequence([], npartitions=1).accumulate(operator.add).compute() == []


def test_join_a_small_list_and_random_sample():
    people = db.from_sequence(["Alice", "Bob", "Charlie"], npartitions=2)
    fruit = ["Apple", "Apricot", "Banana"]
    assert people.join(fruit, lambda x: x[0]).compute() == [
        ("Apple", "Alice"), ("Apricot", "Alice"), ("Banana", "Bob")]
    with pytest.raises(TypeError, match="join: other must be a list"):
        people.join(people, len)
    numbers = db.range(2000, npartitions=4)
    kept = numbers.random_sample(0.1, random_state=3).compute()
    assert kept == numbers.random_sample(0.1, random_state=3).compute()  # reproducible
    assert 100 < len(kept) < 300 and set(kept) <= set(range(2000))
    assert numbers.random_sample(0.0).compute() == []
    assert len(numbers.random_sample(1.0).compute()) == 2000
    with pytest.raises(ValueError, match="prob must be between 0 and 1"):
        numbers.random_sample(1.5)


def test_accumulate_with_a_none_initial_and_sampling_with_a_random_instance():
    import random

    def pair(acc, x):
        return (acc, x)

    b = db.from_sequence([1, 2, 3], npartitions=3)
    assert b.accumulate(pair, initial=None).compute() == [None, (None, 1), ((None, 1), 2),
                                                          (((None, 1), 2), 3)]  # fmt: skip
    numbers = db.range(500, npartitions=2)
    first = numbers.random_sample(0.5, random_state=random.Random(7)).compute()
    assert first == numbers.random_sample(0.5, random_state=random.Random(7)).compute()


def test_product_pairs_every_element_partition_by_partition():
    a = db.from_sequence([1, 2, 3], npartitions=2)
    b = db.from_sequence(["x", "y", "z"], npartitions=3)
    p = a.product(b)
    assert p.npartitions == 6
    assert sorted(p.compute()) == sorted((x, y) for x in [1, 2, 3] for y in "xyz")
    assert p.name == a.product(b).name and p.name != b.product(a).name
    assert sorted(b.product(a).compute()) == sorted((y, x) for x in [1, 2, 3] for y in "xyz")
    with pytest.raises(TypeError, match="other must be a Bag"):
        a.product([1, 2])


def test_fold_out_type_bag_gives_the_results_elements():
    b = db.from_sequence([[1], [2], [3, 4]], npartitions=2)
    out = b.fold(lambda acc, x: acc + x, out_type=db.Bag)
    assert isinstance(out, db.Bag) and out.npartitions == 1
    assert out.compute() == [1, 2, 3, 4]
    assert out.map(lambda x: x * 10).compute() == [10, 20, 30, 40]
    assert b.fold(lambda acc, x: acc + x).compute() == [1, 2, 3, 4]  # an Item, as before
    with pytest.raises(TypeError, match="out_type must be Item or Bag"):
        b.fold(lambda acc, x: acc + x, out_type=list)
    numbers = db.from_sequence([1, 2, 3], npartitions=2).fold(lambda a, x: a + x, out_type=db.Bag)
    with pytest.raises(TypeError, match="the result int is not iterable"):
        numbers.compute(scheduler="sync")
