"""Collections and graphs on the Client: get (the scheduler contract), compute, persist.

Dask's own collections and ``dask.compute`` are used as oracles and as foreign
collections the Client must run.
"""

from __future__ import annotations

import gc
from operator import add

import pytest

import shoal
import shoal.distributed.client
from shoal.core.graph import CycleError, MissingDependencyError, UnknownKeyError
from shoal.core.spec import Ref, Task
from shoal.delayed import delayed
from shoal.distributed._loop import get_runner
from shoal.distributed.client import Client, Future, futures_of, wait
from shoal.testing.cluster import sync_cluster
from shoal.testing.conformance import GetContract


def inc(x):
    return x + 1


# --- the get contract ---------------------------------------------------------------------


class TestClientGet(GetContract):
    """shoal.testing.conformance bound to ``Client.get`` (a fresh cluster per test)."""

    @pytest.fixture(autouse=True)
    def _bind_client(self):
        # validate=False: checking every invariant after each event is quadratic on 3,000 tasks
        with sync_cluster(validate=False) as (s, _), \
                Client(s.address, set_as_default=False) as client:
            type(self).get = staticmethod(client.get)
            yield
            type(self).get = None


def test_get_releases_its_keys(c, servers):
    s = servers[0]
    assert c.get({"a": 1, "b": (inc, "a")}, "b") == 2
    gc.collect()
    deadline = __import__("time").monotonic() + 10

    async def empty():
        return not s.state.tasks

    while not get_runner().sync(empty):
        assert __import__("time").monotonic() < deadline
        __import__("time").sleep(0.01)


def test_get_sync_false_gives_futures(c):
    out = c.get({"a": 1, "b": (inc, "a")}, ["a", ["b"]], sync=False)
    assert isinstance(out[0], Future) and isinstance(out[1][0], Future)
    assert c.gather(out) == [1, [2]]


def test_graph_errors_are_raised_before_sending(c):
    with pytest.raises(UnknownKeyError):
        c.get({"a": 1}, "nope")
    with pytest.raises(MissingDependencyError):
        c.get({"a": Task("a", inc, Ref("b")), "c": (inc, "a")}, "c")
    with pytest.raises(CycleError):
        c.get({"a": (inc, "b"), "b": (inc, "a")}, "a")


def test_graph_may_use_futures_the_client_holds(c):
    x = c.submit(inc, 1)
    assert c.get({"y": Task("y", add, Ref(x.key), 10)}, "y") == 12
    assert c.get({"y": (add, "x", 10), "x": x}, "y") == 12  # a Future as a graph value
    assert c.get({"z": (inc, "x"), "x": x}, "x") == 2


# --- compute and persist of shoal collections -------------------------------------------------


def test_compute_delayed(c):
    x = delayed(inc)(1)
    y = delayed(add)(x, 10)
    f = c.compute(y)
    assert isinstance(f, Future) and f.result() == 12
    assert c.compute([x, y, 5], sync=True) == [2, 12, 5]


def test_compute_of_a_delayed_is_the_future_of_its_own_key(c):
    """As in Dask: no ``finalize-`` task (one task fewer), and ``f.key == d.key``; a
    Dask Delayed too."""
    dask = pytest.importorskip("dask")
    d = delayed(inc)(41)
    f = c.compute(d)
    assert f.key == d.key and f.result() == 42
    assert c.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.state.tasks)) == [d.key]
    theirs = dask.delayed(inc)(1)
    g = c.compute(theirs)
    assert g.key == theirs.key and g.result() == 2
    del f, g


def test_compute_computes_the_collections_inside_containers_as_dask_does(c):
    """traverse=True (the default): a container given among the collections is one value
    with its collections computed (they came back as Delayed objects)."""
    x, y = delayed(inc)(1), delayed(inc)(2)
    assert c.gather(c.compute([[x, y]])) == [[2, 3]]
    assert c.gather(c.compute({"a": x, "b": [y, 7]})) == {"a": 2, "b": [3, 7]}
    assert c.gather(c.compute((x, {y}))) == [2, {3}]
    assert c.gather(c.compute(iter([x, y]))) == [2, 3]
    [kept] = c.compute([[x]], traverse=False)
    assert kept == [x]  # not traversed: the container as it is


def test_default_client_is_the_default_scheduler(c):
    x = delayed(inc)(1)
    assert x.compute() == 2
    assert shoal.compute(x, delayed(inc)(x)) == (2, 3)
    assert shoal.compute(x, scheduler=c) == (2,)
    assert shoal.distributed.client.default_client_get({"a": (inc, 1)}, "a") == 2
    if not hasattr(shoal.distributed, "default_client_get"):
        pytest.skip("scheduler='distributed' needs the export in shoal/distributed/__init__.py")
    assert shoal.compute(x, scheduler="distributed") == (2,)
    assert shoal.compute(x, scheduler=c) == (2,)


def test_persist_delayed(c, servers):
    x = delayed(inc)(1)
    y = delayed(add)(x, 10)
    py = c.persist(y)
    [f] = futures_of(py)
    assert f.key == y.key
    wait(f)
    assert py.compute() == 12
    assert delayed(inc)(py).compute() == 13
    [px, py2] = shoal.persist(x, y)
    assert futures_of(px)[0].key == x.key and py2.compute() == 12


def test_futures_inside_delayed_arguments(c):
    f = c.submit(inc, 1)
    assert delayed(add)(f, 10).compute() == 12
    assert delayed(sum)([f, f, 1]).compute() == 5


def test_compute_bag_array_dataframe(c):
    import shoal.bag as db

    b = db.from_sequence(range(10), npartitions=3).map(inc).filter(lambda x: x % 2 == 0)
    assert c.compute(b, sync=True) == [2, 4, 6, 8, 10]
    assert b.sum().compute() == 30

    np = pytest.importorskip("numpy")
    import shoal.array as da

    x = da.ones((20, 20), chunks=(5, 5))
    assert float(c.compute(x.sum(), sync=True)) == 400.0
    px = c.persist(x + 1)
    assert float((px * 2).sum().compute()) == 2 * 2 * 400
    assert isinstance(px.compute(), np.ndarray)

    pd = pytest.importorskip("pandas")
    import shoal.dataframe as dd

    df = pd.DataFrame({"a": range(20), "b": [i % 3 for i in range(20)]})
    ddf = dd.from_pandas(df, npartitions=4)
    got = c.compute(ddf.groupby("b").a.sum(), sync=True)
    pd.testing.assert_series_equal(got.sort_index(), df.groupby("b").a.sum())


def test_optimize_graph_false(c):
    x = delayed(inc)(1)
    y = delayed(inc)(x)
    assert c.compute(y, optimize_graph=False, sync=True) == 3
    assert shoal.compute(y, optimize_graph=False) == (3,)


# --- Dask's collections and Dask's compute --------------------------------------------------------


def test_dask_collections_on_the_client(c):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    x = da.arange(100, chunks=10)
    assert int(c.compute(x.sum(), sync=True)) == 4950
    dd = dask.delayed(inc)(1)
    assert c.compute(dd, sync=True) == 2
    assert shoal.compute(dd)[0] == 2
    px = c.persist(x * 2)
    assert int(c.compute(px.sum(), sync=True)) == 9900
    assert int(shoal.compute(px.sum())[0]) == 9900


def test_dask_compute_with_the_client_as_scheduler(c):
    dask = pytest.importorskip("dask")
    x = dask.delayed(inc)(1)
    y = dask.delayed(add)(x, x)
    assert dask.compute(y, scheduler=c.get) == (4,)
    assert dask.compute(delayed(inc)(1), scheduler=c.get) == (2,)


# --- dask.annotate ---------------------------------------------------------------------------


class Flaky:
    """Fails its first ``fails`` calls in this process, then gives how many calls it took."""

    calls: dict = {}

    def __init__(self, name, fails):
        self.name, self.fails = name, fails

    def __call__(self, *_):
        n = Flaky.calls[self.name] = Flaky.calls.get(self.name, 0) + 1
        if n <= self.fails:
            raise RuntimeError(f"{self.name}: call {n} fails")
        return n


def _where(*_):
    from shoal.distributed import get_worker

    return get_worker().address


def test_dask_annotations_apply_per_task(c, servers):
    """``dask.annotate`` on a Dask collection's layers: retries, workers and priority
    reach the scheduler per key, through client.compute, persist and dask.compute."""
    dask = pytest.importorskip("dask")
    from shoal.testing.cluster import on_loop

    with dask.annotate(retries=2):
        x = dask.delayed(Flaky("annotated", 2), pure=False)()
    y = dask.delayed(inc)(x)  # (not annotated: fusion must not fold x into it)
    assert c.compute(y, sync=True) == 4  # two failures retried
    with dask.annotate(retries=2):
        z = dask.delayed(Flaky("through-dask", 2), pure=False)()
    assert dask.compute(z, scheduler=c) == (3,)
    with pytest.raises(RuntimeError, match="plain: call 1 fails"):
        c.compute(dask.delayed(Flaky("plain", 1), pure=False)(), sync=True)  # no retries

    [a, b] = sorted(w.address for w in servers[1])
    with dask.annotate(workers=[b], allow_other_workers=False, priority=7):
        where = [dask.delayed(_where, pure=False)(i) for i in range(6)]
    assert set(c.compute(where, sync=True)) == {b}
    px = c.persist(where)
    wait(futures_of(px))
    keys = [w.key for w in where]
    tasks = on_loop(lambda: {k: servers[0].state.tasks[k] for k in keys})
    assert all(ts.worker_restrictions == {b} and not ts.loose_restrictions for ts in tasks.values())
    assert all(ts.priority[0] == -7 for ts in tasks.values())
    del px

    with dask.annotate(workers=a, allow_other_workers=True):  # a name, loose
        loose = dask.delayed(_where, pure=False)()
    assert c.compute(loose, sync=True) in (a, b)


def test_dask_annotate_around_a_call_applies_to_all_its_tasks(c):
    """Dask's rule: what ``dask.annotate`` says at the call applies to every task of
    it (submit, map, compute of shoal's collections), a keyword argument over it."""
    dask = pytest.importorskip("dask")
    with dask.annotate(retries=1):
        assert c.submit(Flaky("submit", 1), pure=False).result() == 2
        assert c.compute(delayed(Flaky("shoal-delayed", 1), pure=False)(), sync=True) == 2
        assert c.submit(Flaky("keyword", 3), retries=3, pure=False).result() == 4
    with pytest.raises(RuntimeError, match="after: call 1 fails"):
        c.submit(Flaky("after", 1), pure=False).result()


def test_bad_annotations_are_refused_naming_the_task(c):
    dask = pytest.importorskip("dask")
    with dask.annotate(retries=lambda key: "twice"):  # (Dask checks values, not what calls give)
        x = dask.delayed(inc)(1, dask_key_name="annotated-inc")
    with pytest.raises(TypeError, match=r"retries='twice' of task 'annotated-inc': a whole number"):
        c.compute(x)
    with dask.annotate(resources=lambda key: 4):
        y = dask.delayed(inc)(1, dask_key_name="resourced-inc")
    with pytest.raises(TypeError, match="resources=4 of task 'resourced-inc'"):
        c.compute(y)
    assert c.compute(dask.delayed(inc)(1), sync=True) == 2  # the client goes on


def test_run_on_scheduler_sees_tasks_workers_and_clients_by_dask_names(c):
    """``dask_scheduler.tasks`` (``.workers``, ``.clients``) in ``run_on_scheduler``, as
    Dask users write it: an AttributeError before."""
    f = c.submit(inc, 1, key="the-one")
    assert f.result() == 2

    def look(dask_scheduler):
        ts = dask_scheduler.tasks["the-one"]
        return ts.state, len(dask_scheduler.workers), list(dask_scheduler.clients)

    state, nworkers, clients = c.run_on_scheduler(look)
    assert state == "memory" and nworkers == len(c.scheduler_info()["workers"])
    assert c.id in clients
