"""Client introspection in Dask's spelling: ``processing``, ``nbytes``, ``call_stack``,
``set_metadata`` / ``get_metadata`` and ``dump_cluster_state``
(``client/introspection.py``, ``scheduler/introspection.py``,
``worker/introspection.py``, ``clusterdump.py``)."""

from __future__ import annotations

import gzip
import time

import msgpack
import pytest

from shoal.sizeof import sizeof

pytestmark = pytest.mark.timeout(60)


def inc(x):
    return x + 1


def napping(seconds):
    time.sleep(seconds)
    return seconds


def _running(c, key, timeout=5.0) -> str:
    """The address of the worker running ``key``, once it runs there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for address, keys in c.processing().items():
            if key in keys:
                return address
        time.sleep(0.02)
    raise AssertionError(f"{key} never ran")


def test_processing_lists_running_tasks_per_worker(c):
    workers = sorted(c.nthreads())
    assert c.processing() == {w: [] for w in workers}
    future = c.submit(napping, 0.6)
    address = _running(c, future.key)
    assert c.processing(workers=address) == {address: [future.key]}
    assert future.result(timeout=10) == 0.6
    with pytest.raises(ValueError, match="processing: workers unknown"):
        c.processing(workers=["tcp://127.0.0.1:1"])
    with pytest.raises(ValueError, match="processing: workers unknown"):
        c.processing(workers=3)


def test_processing_accepts_worker_names(c):
    names = {info["name"]: w for w, info in c.scheduler_info()["workers"].items()}
    name, address = next(iter(names.items()))
    assert c.processing(workers=[name]) == {address: []}
    assert c.processing(workers=name) == {address: []}


def test_nbytes_per_key_and_per_prefix(c):
    futures = c.map(inc, [1, 2, 3])
    c.gather(futures)
    per_key = c.nbytes(summary=False)
    assert per_key == {f.key: sizeof(f.result()) for f in futures}
    assert c.nbytes() == {"inc": 3 * sizeof(2)}
    assert c.nbytes(keys=[futures[0]], summary=False) == {futures[0].key: sizeof(2)}
    with pytest.raises(KeyError, match="unknown"):
        c.nbytes(keys=["no-such-key"])
    with pytest.raises(TypeError, match="nbytes: keys"):
        c.nbytes(keys="inc")


def test_call_stack_of_a_running_task(c):
    future = c.submit(napping, 0.8)
    address = _running(c, future.key)
    stacks = c.call_stack()
    assert list(stacks) == [address] and list(stacks[address]) == [future.key]
    lines = stacks[address][future.key]
    assert "in napping" in lines[-1] and "time.sleep(seconds)" in lines[-1]
    assert all(line.startswith('  File "') for line in lines)
    assert list(c.call_stack(future)[address]) == [future.key]
    after = c.submit(inc, future)  # waiting: stands for the task it waits on (Dask's)
    assert list(c.call_stack(keys=[after.key])[address]) == [future.key]
    assert c.call_stack(keys=["not-running"]) == {}
    future.result(timeout=10)
    assert c.call_stack() == {}
    with pytest.raises(TypeError, match="call_stack: keys"):
        c.call_stack(keys=5)


def test_metadata_nested_paths_and_defaults(c):
    c.set_metadata("x", 123)
    c.set_metadata(["a", "b"], 1)
    c.set_metadata(["a", "c", "d"], [1, 2])
    assert c.get_metadata("x") == 123
    assert c.get_metadata("a") == {"b": 1, "c": {"d": [1, 2]}}
    assert c.get_metadata(["a", "c"]) == {"d": [1, 2]}
    c.set_metadata(["x", "y"], 4)  # a level that is not a dict is replaced
    assert c.get_metadata("x") == {"y": 4}
    assert c.get_metadata("missing", None) is None
    assert c.get_metadata(["a", "nope"], default=7) == 7
    with pytest.raises(KeyError, match="missing"):
        c.get_metadata("missing")
    with pytest.raises(ValueError, match="set_metadata: key"):
        c.set_metadata([], 1)


def test_dump_cluster_state_msgpack_and_yaml(c, tmp_path):
    yaml = pytest.importorskip("yaml")
    futures = c.map(inc, [1, 2])
    c.gather(futures)
    c.set_metadata("note", "hi")
    path = c.dump_cluster_state(tmp_path / "dump")
    assert path == str(tmp_path / "dump.msgpack.gz")
    with gzip.open(path) as f:
        state = msgpack.unpackb(f.read())
    assert set(state) == {"scheduler", "workers", "versions"}
    workers = sorted(c.nthreads())
    assert sorted(state["workers"]) == workers == sorted(state["versions"]["workers"])
    task = state["scheduler"]["tasks"][futures[0].key]
    assert task["state"] == "memory" and task["nbytes"] == sizeof(2) and "run_spec" not in task
    assert state["scheduler"]["task_metadata"] == {"note": "hi"}
    holder = task["who_has"][0]
    assert state["workers"][holder]["tasks"][futures[0].key]["state"] == "memory"
    assert "python" in state["versions"]["scheduler"]["packages"]

    path = c.dump_cluster_state(str(tmp_path / "dump"), format="yaml", exclude=())
    assert path.endswith("dump.yaml")
    with open(path) as f:
        again = yaml.safe_load(f)
    assert again["scheduler"]["tasks"][futures[1].key]["state"] == "memory"
    assert "run_spec" in again["scheduler"]["tasks"][futures[1].key]

    path = c.dump_cluster_state(tmp_path / "there", write_from_scheduler=True)
    with gzip.open(path) as f:
        assert sorted(msgpack.unpackb(f.read())["workers"]) == workers
    with pytest.raises(ValueError, match="format"):
        c.dump_cluster_state(tmp_path / "dump", format="json")


def test_call_stack_without_the_profiler():
    """Profiling off (``distributed.worker.profile.enabled: false``): the stacks are
    still answered, as Dask's; a seceded task's too."""
    from shoal import config
    from shoal.distributed import Client, secede
    from shoal.testing.cluster import sync_cluster

    def seceding(seconds):
        secede()
        time.sleep(seconds)
        return seconds

    with config.set({"distributed.worker.profile.enabled": False}):
        with sync_cluster(nworkers=1) as (s, workers), Client(s.address) as c:
            assert workers[0].profiler is None
            future = c.submit(seceding, 0.6)
            address = _running(c, future.key)
            deadline = time.monotonic() + 5
            while True:  # (until it sleeps: secede() itself starts a thread first)
                lines = c.call_stack().get(address, {}).get(future.key, [""])
                if "in seceding" in lines[-1]:
                    break
                assert time.monotonic() < deadline, lines
                time.sleep(0.02)
            assert future.result(timeout=10) == 0.6


def test_metadata_of_a_forgotten_task_goes_with_it(c):
    future = c.submit(inc, 1)
    key = future.key
    future.result(timeout=10)
    c.set_metadata(key, {"note": 1})
    c.set_metadata("other", 2)
    assert c.get_metadata(key) == {"note": 1}
    del future
    deadline = time.monotonic() + 5
    while c.get_metadata(key, None) is not None:
        assert time.monotonic() < deadline, "metadata of a forgotten key kept"
        time.sleep(0.02)
    assert c.get_metadata("other") == 2


def test_benchmark_hardware_shape(c):
    result = c.benchmark_hardware()
    assert set(result) == {"memory", "disk", "network"}
    for kind in ("memory", "disk", "network"):  # (two workers: a network entry)
        assert list(result[kind]) == ["1 kiB", "100 kiB", "1 MiB", "8 MiB"]
        assert all(isinstance(v, float) and v > 0 for v in result[kind].values())
