"""Dask's own collections (array, dataframe, bag, delayed) run on shoal's schedulers and
on a shoal Client give what Dask's threaded scheduler gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
db = pytest.importorskip("dask.bag")

import shoal  # noqa: E402
import shoal.threaded  # noqa: E402
from shoal.distributed import Client, LocalCluster  # noqa: E402

pytestmark = pytest.mark.timeout(60)

_rs = np.random.RandomState(0)
A = _rs.rand(40, 30)
PDF = pd.DataFrame({"a": _rs.randint(0, 5, 80), "b": _rs.rand(80), "c": _rs.randint(0, 100, 80)})


def _inc(x):
    return x + 1


def _add(x, y):
    return x + y


WORKLOADS = {
    "array_reductions": lambda: (da.from_array(A, chunks=(10, 15)).std(axis=1)[:30]
                                 + da.from_array(A, chunks=(10, 15)).argmax(axis=0)),
    "array_qr": lambda: (lambda q, r: q @ r)(*da.linalg.qr(da.from_array(A, chunks=(10, 30)))),
    "array_overlap_cumsum": lambda: da.from_array(A, chunks=10).map_overlap(
        lambda b: b + np.roll(b, 1, axis=0), depth=1, boundary="reflect").cumsum(axis=0),
    "dataframe_groupby_agg": lambda: dd.from_pandas(PDF, npartitions=4).groupby("a").agg(
        {"b": ["sum", "mean", "max"], "c": ["count", "std"]}),
    "bag_foldby": lambda: db.from_sequence(range(30), npartitions=4).foldby(
        lambda x: x % 3, _add, 0),
    "delayed_key_name": lambda: dask.delayed(_add)(dask.delayed(_inc)(1, dask_key_name="my-inc"),
                                                   10, dask_key_name=("tup", 1)),
}  # fmt: skip


def _same(expected, got):
    if isinstance(expected, tuple):
        assert len(expected) == len(got)
        for e, g in zip(expected, got):
            _same(e, g)
    elif isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected)
    elif isinstance(expected, np.ndarray):
        np.testing.assert_allclose(got, expected)
    else:
        assert got == expected


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:  # fmt: skip
        yield c


@pytest.mark.parametrize("name", sorted(WORKLOADS))
@pytest.mark.parametrize("scheduler", ["threaded", "sync"])
def test_dask_graphs_on_local_schedulers_match_dask(name, scheduler):
    expected = dask.compute(WORKLOADS[name](), scheduler="threads")[0]
    get = shoal.threaded.get if scheduler == "threaded" else shoal.get
    _same(expected, dask.compute(WORKLOADS[name](), scheduler=get)[0])


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_dask_graphs_on_a_client_match_dask(client, name):
    expected = dask.compute(WORKLOADS[name](), scheduler="threads")[0]
    _same(expected, WORKLOADS[name]().compute())  # (the default client)
    _same(expected, client.compute(WORKLOADS[name]()).result())
    _same(expected, client.persist(WORKLOADS[name]()).compute())


def test_persisted_dask_dataframe_groups_on_the_client(client):
    # Dask's graph then holds a dask.utils.methodcaller (a ``func`` but no ``args``)
    ddf = dd.from_pandas(PDF, npartitions=4).persist()
    got = ddf.groupby("a").b.sum().compute()
    pd.testing.assert_series_equal(got, PDF.groupby("a").b.sum())


def test_persisted_dask_collections_to_delayed_on_the_client(client):
    # Dask drops a persisted ``{key: Future(key)}`` node: the wanted key is held only
    x = da.from_array(A, chunks=10).persist()
    np.testing.assert_allclose(x.to_delayed()[1, 2].compute(), A[10:20, 20:30])
    np.testing.assert_allclose(dask.compute(*x.to_delayed().ravel())[0], A[:10, :10])
    b = db.from_sequence(range(10), npartitions=2).persist()
    assert b.to_delayed()[1].compute() == [5, 6, 7, 8, 9]
