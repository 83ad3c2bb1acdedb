"""Dask's own ``compute`` and ``persist`` go to the default shoal Client while it runs
(``shoal.distributed.client.dask_default``), and Dask's config is put back after."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

from shoal.distributed import Client, get_worker  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def _where():
    return get_worker().address  # (raises outside a shoal worker: Dask's own threads)


def test_dask_compute_runs_on_the_cluster_while_a_client_is_the_default(servers):
    before = dask.config.get("scheduler", None), dask.config.get("dataframe.shuffle.method", None)
    workers = {w.address for w in servers[1]}
    with Client(servers[0].address) as client:
        assert dask.delayed(_where, pure=False)().compute() in workers
        x = da.arange(1000, chunks=100)
        assert int((x * 2).sum().compute()) == 999000
        assert int(dask.compute(x.sum())[0]) == 499500
        pdf = pd.DataFrame({"a": np.arange(60) % 7, "b": np.arange(60.0)})
        df = dd.from_pandas(pdf, npartitions=4)
        got = df.groupby("a").b.mean().compute().sort_index()
        pd.testing.assert_series_equal(got, pdf.groupby("a").b.mean())
        # a shuffle on the cluster: by tasks (on disk, the default without dask.distributed,
        # would need a disk the workers share)
        assert dask.config.get("dataframe.shuffle.method") == "tasks"
        for name in ("distributed", "dask.distributed"):  # Dask's spelling of "the Client"
            assert dask.delayed(_where, pure=False)().compute(scheduler=name) in workers
        assert df.sort_values("b").b.compute().tolist() == pdf.b.tolist()
        with dask.config.set(scheduler="sync"):  # the user's choice wins inside
            with pytest.raises(ValueError):
                dask.delayed(_where, pure=False)().compute()
        assert dask.delayed(_where, pure=False)().compute() in workers
        deadline = time.monotonic() + 10  # (Dask's compute holds nothing after: the
        while client.who_has() and time.monotonic() < deadline:  # release is asynchronous)
            time.sleep(0.02)
        assert client.who_has() == {}
    assert (dask.config.get("scheduler", None), dask.config.get("dataframe.shuffle.method", None)) == before
    x = dask.delayed(_where, pure=False)()
    assert dask.base.get_scheduler(collections=[x]) is dask.threaded.get  # Dask's own again
    assert "distributed" not in dask.base.named_schedulers


def test_a_user_shuffle_method_is_kept(servers):
    with dask.config.set({"dataframe.shuffle.method": "disk"}):
        with Client(servers[0].address):
            assert dask.config.get("dataframe.shuffle.method") == "disk"
        assert dask.config.get("dataframe.shuffle.method") == "disk"


def test_dask_persist_holds_futures_and_dask_computes_from_them(c):
    x = da.arange(40, chunks=10)
    p = (x * 2).persist()
    held = dict(p.__dask_graph__())
    assert len(held) == 4 and all(type(v).__name__ == "Future" for v in held.values())
    assert set(c.who_has()) == set(held)
    assert int(p.sum().compute()) == 1560  # the futures are inputs, not data in tasks
    assert (p + 1).compute().tolist() == [2 * i + 1 for i in range(40)]
    pdf = pd.DataFrame({"a": range(20)})
    pdf_p = dd.from_pandas(pdf, npartitions=2).persist()
    assert int(pdf_p.a.sum().compute()) == 190


def test_dask_delayed_takes_our_futures_as_arguments(c):
    """Dask's Task keeps a shoal Future among its args as a literal (not a TaskRef):
    its value goes in, nested in lists and dicts too, beside Dask's own dependencies."""
    f = c.submit(lambda: 5)
    other = dask.delayed(lambda: 10)()
    h = dask.delayed(lambda a, b, d: a + b + d["z"][0])(f, other, {"z": [f]})
    assert h.compute() == 20
    assert c.compute(h).result() == 20
    assert dask.delayed(lambda x=0: x + 1)(x=f).compute() == 6


def test_a_config_change_made_while_the_client_ran_stays(servers):
    with dask.config.set(scheduler=None):
        with Client(servers[0].address):
            dask.config.set(scheduler="sync")  # (global, made while the client runs)
        assert dask.config.get("scheduler") == "sync"


def test_dask_imported_after_the_client_starts():
    """The common notebook order: the Client first, ``import dask.dataframe`` later."""
    code = textwrap.dedent("""
        import sys
        from shoal.distributed import Client, LocalCluster, get_worker
        assert "dask" not in sys.modules
        with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                import dask, dask.array as da
                print(dask.delayed(lambda: get_worker().address, pure=False)().compute()
                      in client.scheduler_info()["workers"])
                print(int(da.arange(100, chunks=10).sum().compute()))
            print(dask.config.get("scheduler", None))
        print(dask.delayed(sum)([1, 2]).compute())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=50, env={**os.environ, "PYTHONWARNINGS": "ignore"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "4950", "None", "3"]


def test_futures_that_dask_fuses_into_a_task_are_inputs(c):
    """``da.from_delayed(future)`` wraps the Future as data, which Dask's optimizer fuses
    into a task's subgraph: it came out as the Future itself (threads) or failed to
    unpickle on a worker (processes)."""
    db = pytest.importorskip("dask.bag")
    f = c.submit(np.ones, 5)
    x = da.from_delayed(f, shape=(5,), dtype=float)
    assert x.compute().tolist() == [1.0] * 5 and float(x.sum().compute()) == 5.0
    assert float((x + 1).sum().compute()) == 10.0
    assert db.from_delayed([c.submit(list, range(3))]).map(lambda v: v * 2).compute() == [0, 2, 4]
    s = c.scatter(2.0)
    y = da.ones(6, chunks=3).map_blocks(lambda b, k: b * k, s, dtype=float)
    assert y.sum().compute() == 12.0


@pytest.mark.timeout(20)
def test_an_object_that_makes_up_attributes_inside_a_dask_task(c):
    """A Mock (any object whose ``__getattr__`` makes up ``args``/``func``) beside one of
    our Futures in a Dask task: the search for Futures followed its made-up attributes
    both ways, 2**64 lookups (a hang)."""
    from unittest import mock

    f = c.submit(lambda: 1)
    assert dask.delayed(lambda a, b: a + 1)(f, mock.Mock()).compute() == 2


def test_a_dask_distributed_client_keeps_its_name(c, monkeypatch):
    """A dask.distributed Client started after ours sets ``scheduler="dask.distributed"``:
    Dask's compute went to the shoal Client through the name shoal added."""
    import types

    class Theirs:
        @staticmethod
        def current(allow_global=True):
            return Theirs

        @staticmethod
        def get(dsk, keys, **kwargs):
            return ["theirs"]

    monkeypatch.setitem(sys.modules, "distributed.client", types.SimpleNamespace(Client=Theirs))
    task = dask.delayed(lambda: "ours", pure=False)()
    assert dask.compute(task, scheduler="dask.distributed") == ("theirs",)
    assert task.compute() == "ours"  # (the config still names the shoal Client)
    monkeypatch.delitem(sys.modules, "distributed.client")
    assert dask.compute(task, scheduler="distributed") == ("ours",)
