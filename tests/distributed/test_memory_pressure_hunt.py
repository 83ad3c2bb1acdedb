"""Memory pressure as a notebook user meets it: data that outgrows a worker's memory.

Found by playing that user (results larger than the target, spilling, pausing,
the nanny's restarts); each test names what went wrong before.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

from shoal import config
from shoal.distributed import Client, LocalCluster, wait
from shoal.distributed.worker.spill import SpillBuffer
from shoal.testing.cluster import sync_cluster, wait_until
from tests.distributed.test_spill import Clock, size


def files(directory: pathlib.Path) -> list:
    return sorted(os.listdir(directory)) if directory.exists() else []


# --- the target is kept as values arrive, not only at the memory monitor's next tick ---


def test_spill_buffer_keeps_its_target_on_every_insert(tmp_path):
    directory = tmp_path / "spill"
    buf = SpillBuffer(directory, sizeof=size, clock=Clock(), target=250)
    try:
        for k in "abcd":
            buf[k] = k.encode() * 100
            assert buf.managed <= 250  # at once: nobody had to call evict()
        assert set(buf.slow) == {"a", "b"} and set(buf.fast) == {"c", "d"}  # LRU went first
        assert len(files(directory)) == 2
        # reading a spilled value back keeps the target too, and keeps the value read in memory
        assert buf["a"] == b"a" * 100
        assert buf.managed <= 250 and "a" in buf.fast and "c" in buf.slow
        # a value larger than the target alone goes straight to disk
        buf["big"] = b"x" * 1000
        assert "big" in buf.slow and buf.managed <= 250
        assert buf["big"] == b"x" * 1000  # and is read back whole
        del buf["big"], buf["a"], buf["b"], buf["c"], buf["d"]
        assert len(buf) == 0 and files(directory) == []  # released keys leave no file
    finally:
        buf.close()


def test_the_target_spills_the_least_recently_used_not_the_oldest(tmp_path):
    buf = SpillBuffer(tmp_path / "spill", sizeof=size, clock=Clock(), target=200)
    try:
        buf["a"], buf["b"] = b"a" * 100, b"b" * 100
        assert buf["a"] == b"a" * 100  # a used after b
        buf["c"] = b"c" * 100
        assert set(buf.slow) == {"b"} and set(buf.fast) == {"a", "c"}
    finally:
        buf.close()


def test_unspillable_values_over_the_target_are_logged_once_and_kept(tmp_path, caplog):
    import threading

    buf = SpillBuffer(tmp_path / "spill", sizeof=lambda v: 100, clock=Clock(), target=150)
    try:
        with caplog.at_level("WARNING", logger="shoal.distributed.worker.spill"):
            for i in range(5):
                buf[f"lock-{i}"] = threading.Lock()
        assert len(buf.fast) == 5 and not buf.slow  # kept in memory, nothing lost
        assert sum("cannot spill" in r.getMessage() for r in caplog.records) == 5  # once each
        buf["plain"] = b"p" * 100
        assert set(buf.slow) == {"plain"}  # what can go goes, the locks stay
        assert buf["plain"] == b"p" * 100 and "plain" in buf.fast  # read back, kept while used
    finally:
        buf.close()


def test_no_target_means_no_spilling_on_insert(tmp_path):
    buf = SpillBuffer(tmp_path / "spill", sizeof=size, clock=Clock())
    try:
        for k in "abcd":
            buf[k] = k.encode() * 100
        assert len(buf.fast) == 4 and not buf.slow
    finally:
        buf.close()


def blob(i):
    return bytes([i]) * 2000


def test_a_workers_results_are_spilled_as_they_arrive():
    """Before, only the memory monitor spilled (every ``monitor-interval``): results made
    faster than that piled up in memory (a 400 MB worker making 20 results of 30 MB was
    killed by its nanny).  With the monitor off, the target must still hold."""
    thresholds = {"distributed.worker.memory.target": 0.5, "distributed.worker.memory.spill": False,
                  "distributed.worker.memory.pause": False,
                  "distributed.worker.memory.terminate": False,
                  "distributed.worker.memory.monitor-interval": "1h"}  # fmt: skip
    with config.set(thresholds), \
            sync_cluster(nworkers=1, worker_options={"memory_limit": 20_000}) as (s, (w,)), \
            Client(s.address) as c:  # fmt: skip
        futures = c.map(blob, range(20))
        wait(futures, timeout=30)
        assert w.data.managed <= 10_000, w.data
        assert len(w.data.slow) >= 10
        assert c.gather(futures) == [blob(i) for i in range(20)]  # read back exactly
        assert w.data.managed <= 10_000, w.data
        spill_dir = pathlib.Path(w.data.directory)
        assert files(spill_dir)
        del futures
        wait_until(lambda: not files(spill_dir) and len(w.data) == 0)


def make(i, nbytes):
    return np.full(nbytes // 8, i, dtype="f8")


def test_results_past_the_memory_limit_spill_instead_of_killing_the_worker(tmp_path):
    """A notebook user's data, 1.5 times the worker's memory, made in quick 30 MB results:
    spilled, exact, and the worker never terminated by its nanny."""
    with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="400MB",
                      dashboard_address=None, local_directory=str(tmp_path)) as cluster, \
            Client(cluster) as c:  # fmt: skip
        c.submit(make, -1, 8).result(timeout=30)  # numpy imported before the burst
        futures = c.map(make, range(20), nbytes=30_000_000)
        wait(futures, timeout=60)
        for i, f in enumerate(futures):
            assert (f.result(timeout=30) == i).all()
        (nanny,) = cluster.workers.values()
        assert [e["event"] for e in nanny.events] == ["started"], nanny.events
    assert os.listdir(tmp_path) == []  # the scratch and spill directories went with the cluster


# --- a task that outgrows its worker: KilledWorker says why ---------------------------------


def hog():
    import time

    held = []
    while True:
        held.append(np.ones(50_000_000 // 8))
        time.sleep(0.02)


def test_killed_worker_from_the_nanny_says_the_memory_limit(tmp_path):
    """Before: "task 'hog-1' was running on 1 workers that died; the last was tcp://...":
    nothing told the notebook user that memory was the cause (only the nanny's log did)."""
    from shoal.distributed import KilledWorker

    with config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="300MB",
                         dashboard_address=None, local_directory=str(tmp_path)) as cluster, \
            Client(cluster) as c:  # fmt: skip
        kept = c.submit(make, 3, 8_000, key="kept-1")
        kept.result(timeout=30)
        with pytest.raises(KilledWorker) as info:
            c.submit(hog, key="hog-1").result(timeout=60)
        assert info.value.key == "hog-1"
        assert "terminated by its nanny for memory: it used " in str(info.value), str(info.value)
        assert "over 95% of its 286.10 MiB memory limit" in str(info.value), str(info.value)
        c.wait_for_workers(1, timeout=30)
        assert (kept.result(timeout=30) == 3).all()  # recomputed on the new worker, not lost
        assert c.submit(sum, [1, 2]).result(timeout=30) == 3


# --- review of the target kept at every insert ----------------------------------------------


def test_releasing_a_spilled_key_spills_nothing_else(tmp_path):
    """The worker releases a key with ``data.pop(key, None)``: MutableMapping.pop read the
    value back into memory, and the target then spilled a live value to make room for
    one about to be dropped (a file written for every spilled key released)."""
    buf = SpillBuffer(tmp_path / "spill", sizeof=size, clock=Clock(), target=250)
    try:
        for k in "abcd":
            buf[k] = k.encode() * 100
        assert set(buf.slow) == {"a", "b"} and set(buf.fast) == {"c", "d"}
        assert buf.pop("a", None) == b"a" * 100  # still the value, read from its file
        assert set(buf.slow) == {"b"} and set(buf.fast) == {"c", "d"}, (buf.slow, buf.fast)
        assert buf.managed == 200 and buf.spilled_bytes == 100
        assert len(files(tmp_path / "spill")) == 1
        assert buf.pop("c") == b"c" * 100 and buf.pop("a", "gone") == "gone"
        with pytest.raises(KeyError):
            buf.pop("a")
        assert set(buf) == {"b", "d"} and buf.managed == 100
    finally:
        buf.close()


@pytest.mark.parametrize("off", [None, False, 0])
def test_a_target_of_false_or_zero_is_none_as_max_spill(tmp_path, off):
    """``SpillBuffer(target=False)`` compared the managed bytes with False (0): every
    value went to disk at once, while ``max_spill=False`` means no cap."""
    buf = SpillBuffer(tmp_path / "spill", sizeof=size, clock=Clock(), target=off)
    try:
        buf["a"] = b"a" * 100
        assert set(buf.fast) == {"a"} and not buf.slow
    finally:
        buf.close()


def test_a_target_is_bytes_or_a_size_string(tmp_path):
    buf = SpillBuffer(tmp_path / "spill", sizeof=size, clock=Clock(), target="250 B")
    try:
        for k in "abcd":
            buf[k] = k.encode() * 100
        assert set(buf.slow) == {"a", "b"} and buf.managed == 200
    finally:
        buf.close()


def test_two_first_spills_at_once_still_remove_the_directory(tmp_path, monkeypatch):
    """Any thread that sets or reads a value may spill now.  Two first spills at once: the
    later one saw the directory the other had just made and noted it as not made here,
    so close() left it behind."""
    import threading

    directory = tmp_path / "spill"
    buf = SpillBuffer(directory, sizeof=size, clock=Clock())
    real_isdir, checking, first_made = os.path.isdir, threading.Event(), threading.Event()

    def isdir(path):
        if threading.current_thread().name == "second":
            checking.set()
            first_made.wait(0.5)  # (with the lock, the first waits for this one instead)
        return real_isdir(path)

    monkeypatch.setattr(os.path, "isdir", isdir)
    second = threading.Thread(target=buf._make_directory, name="second")
    second.start()
    assert checking.wait(5)
    first = threading.Thread(target=buf._make_directory, name="first")
    first.start()
    first.join(0.2)
    first_made.set()
    first.join(5), second.join(5)
    monkeypatch.undo()
    buf["a"] = b"a" * 100
    buf.evict(100)
    assert files(directory) and buf._made_directory
    buf.close()
    assert not directory.exists()


def test_a_released_spilled_value_is_not_read_back_to_be_dropped(tmp_path, monkeypatch):
    """The worker forgets a released key with ``del``: ``pop`` read a spilled value back
    from disk (memory the worker may not have) only to throw it away."""
    from shoal.distributed.worker.messages import FreeKeys
    from tests.test_worker_state import compute, make_ws, success

    data = SpillBuffer(str(tmp_path / "spill"), target=1)  # every value goes to disk
    ws = make_ws(data=data)
    ws.handle(compute("x"), success("x"))
    assert "x" in data._slow  # (on disk)

    def no_reads(*args):
        raise AssertionError(f"{args!r} read back from disk to be dropped")

    from shoal.distributed.worker import spill

    monkeypatch.setattr(data, "_unspill", no_reads)
    monkeypatch.setattr(spill, "_read_frames", no_reads)
    ws.handle(FreeKeys(keys=["x"], stimulus_id="free"))
    assert "x" not in data and ws.tasks == {}
    assert not [p for p in (tmp_path / "spill").rglob("*") if p.is_file()]


def test_a_worker_removed_for_silence_leaves_no_death_reason_behind():
    """The reason a nanny gave is used and dropped when the heartbeat timeout removes the
    worker (a later worker at the same address inherited it)."""
    from shoal.distributed._loop import get_runner

    with config.set({"distributed.scheduler.worker-ttl": "1s"}), sync_cluster(nworkers=1) as (s, ws):
        address = ws[0].address
        s._death_reasons[address] = "terminated by its nanny for memory"
        s.state.workers[address].last_seen -= 60
        get_runner().sync(_call_soon, s._check_worker_ttl)
        assert address not in s._death_reasons and address not in s.state.workers


async def _call_soon(fn):
    fn()
