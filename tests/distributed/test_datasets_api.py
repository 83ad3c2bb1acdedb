"""Published datasets, ``Client.current``, ``get_versions``, ``write_scheduler_file`` and
the event log (``client/datasets.py``, ``client/info.py``, ``scheduler/datasets.py``,
``scheduler/eventlog.py``, ``worker/events.py``), in Dask's spelling and semantics.
"""

from __future__ import annotations

import gc
import json

import numpy as np
import pytest

from shoal.distributed import Client, get_worker, versions
from shoal.testing.cluster import on_loop, sync_cluster, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def servers():
    with sync_cluster(1, 1) as sw:  # one worker, one thread
        yield sw


def inc(x):
    return x + 1


def test_published_dataset_outlives_its_client(servers):
    s = servers[0]
    with Client(s.address, set_as_default=False) as first:
        future = first.submit(inc, 41)
        key = future.key
        first.publish_dataset(future, name="answer")
        first.publish_dataset(arr=first.scatter(np.arange(5)), note="plain")
        assert first.list_datasets() == ["answer", "arr", "note"]
        del future
    gc.collect()
    with Client(s.address) as second:
        assert on_loop(lambda: key in s.state.tasks)
        got = second.get_dataset("answer")
        assert got.key == key and got.client is second and got.result(timeout=10) == 42
        np.testing.assert_array_equal(second.gather(second.get_dataset("arr")), np.arange(5))
        assert second.get_dataset("note") == "plain"
        second.unpublish_dataset("answer")
        second.unpublish_dataset("answer")  # (an unknown name: nothing, as in Dask)
        assert second.list_datasets() == ["arr", "note"]
        assert got.result(timeout=10) == 42  # still held by this client's Future
        del got
        gc.collect()
        wait_until(lambda: key not in s.state.tasks)
        second.unpublish_dataset("arr")
        second.unpublish_dataset("note")
        wait_until(lambda: not any(str(cs).startswith("published-") for cs in s.state.clients))


def test_published_persisted_collection_matches_dask(c):
    import shoal.bag as db

    import dask.bag

    bag = c.persist(db.from_sequence(range(10), npartitions=3).map(inc))
    c.publish_dataset(bag, name="bag")
    with Client(c.scheduler_address, set_as_default=False) as other:
        got = other.get_dataset("bag")
        assert sorted(other.compute(got).result(timeout=10)) == sorted(
            dask.bag.from_sequence(range(10), npartitions=3).map(inc).compute(scheduler="sync"))
    c.unpublish_dataset("bag")


def test_dataset_errors_and_override(c):
    x = c.submit(inc, 1)
    c.publish_dataset(x, name="x")
    with pytest.raises(KeyError, match="'x' already exists"):
        c.publish_dataset(c.submit(inc, 2), name="x")
    c.publish_dataset(c.submit(inc, 2), name="x", override=True)
    assert c.get_dataset("x").result(timeout=10) == 3
    with pytest.raises(KeyError, match="'missing' not found"):
        c.get_dataset("missing")
    assert c.get_dataset("missing", default=None) is None
    with pytest.raises(TypeError, match="name"):
        c.publish_dataset(x)
    with pytest.raises(TypeError, match="dataset name"):
        c.publish_dataset(x, name=3)
    c.unpublish_dataset("x")


def test_datasets_mapping(c):
    c.datasets["a"] = c.submit(inc, 10)
    assert "a" in c.datasets and "b" not in c.datasets
    assert len(c.datasets) == 1 and list(c.datasets) == ["a"]
    assert c.datasets["a"].result(timeout=10) == 11
    with pytest.raises(KeyError, match="'a' already exists"):
        c.datasets["a"] = 1  # (as Dask's: no silent override)
    del c.datasets["a"]
    assert len(c.datasets) == 0
    with pytest.raises(KeyError, match="'a'"):
        del c.datasets["a"]
    with pytest.raises(KeyError, match="'a'"):
        c.datasets["a"]


def test_client_current(c):
    assert Client.current() is c
    with pytest.raises(ValueError, match="as_current"):
        Client.current(allow_global=False)
    with Client(c.scheduler_address, set_as_default=False) as other:
        assert Client.current() is c
        with other.as_current():
            assert Client.current(allow_global=False) is other


def test_get_versions(c, servers):
    v = c.get_versions(packages=["numpy"])
    (worker,) = [w.address for w in servers[1]]
    assert set(v) == {"scheduler", "workers", "client"} and list(v["workers"]) == [worker]
    for info in (v["scheduler"], v["workers"][worker], v["client"]):
        assert info["packages"]["numpy"] == np.__version__
        assert info["packages"]["shoal"] and info["packages"]["cloudpickle"]
        assert info["host"]["python"].startswith("3.")
    assert c.get_versions(check=True)["client"] == v["client"]
    other = {"host": {}, "packages": dict(v["client"]["packages"], cloudpickle="0.0")}
    found = versions.mismatches(dict(v, workers={worker: other}))
    assert found == {"cloudpickle": {"client": v["client"]["packages"]["cloudpickle"],
                                     "scheduler": v["scheduler"]["packages"]["cloudpickle"],
                                     f"worker {worker}": "0.0"}}  # fmt: skip
    assert "cloudpickle" in versions.mismatch_message(found)
    with pytest.raises(TypeError, match="packages"):
        c.get_versions(packages="numpy")


def test_write_scheduler_file(c, tmp_path):
    path = tmp_path / "scheduler.json"
    c.write_scheduler_file(str(path))
    assert json.loads(path.read_text())["address"] == c.scheduler_address
    with pytest.raises(ValueError, match="already set"):
        c.write_scheduler_file(str(tmp_path / "other.json"))
    with Client(scheduler_file=str(path), set_as_default=False) as other:
        assert other.submit(inc, 1).result(timeout=10) == 2
        assert other.scheduler_file == str(path)
        with pytest.raises(ValueError, match="already set"):
            other.write_scheduler_file(str(tmp_path / "x.json"))
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"address": "tcp://10.0.0.1:8786"}))
    with Client(c.scheduler_address, set_as_default=False) as third:
        with pytest.raises(FileExistsError, match="another scheduler"):
            third.write_scheduler_file(str(foreign))


def test_write_scheduler_file_fills_an_empty_file(c, tmp_path):
    path = tmp_path / "made-by-tempfile.json"  # (NamedTemporaryFile's: there, empty)
    path.write_text("")
    c.write_scheduler_file(str(path))
    assert json.loads(path.read_text())["address"] == c.scheduler_address


def log_from_task(x):
    get_worker().log_event(["task", "both"], {"x": x})
    return x


def test_events_from_clients_and_tasks(c, servers):
    c.log_event("mine", 1)
    c.log_event("mine", {"a": [1, 2]})
    events = c.get_events("mine")
    assert [msg for _, msg in events] == [1, {"a": [1, 2]}]
    assert all(isinstance(t, float) for t, _ in events) and events[0][0] <= events[1][0]
    assert c.get_events("nothing") == ()
    assert c.submit(log_from_task, 7).result(timeout=10) == 7
    wait_until(lambda: len(servers[0].events.get("task")) == 1)
    worker = servers[1][0].address
    assert c.get_events("task")[0][1] == {"x": 7, "worker": worker}
    assert c.get_events()["both"] == c.get_events("task")
    with pytest.raises(TypeError, match="msgpack"):
        c.log_event("mine", object())
    with pytest.raises(TypeError, match="topic"):
        c.log_event(3, "x")
    with pytest.raises(TypeError, match="topic"):
        c.get_events(3)


def test_events_are_bounded_per_topic(c, servers):
    servers[0].events.maxlen = 3
    for i in range(5):
        c.log_event("small", i)
    assert [msg for _, msg in c.get_events("small")] == [2, 3, 4]
