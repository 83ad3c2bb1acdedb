"""SpillBuffer: the worker's data mapping, with real spill files in tmp_path."""

import errno
import itertools
import logging
import os
import pathlib
import random
import re
import shutil
import threading

import numpy as np
import pytest

from shoal.distributed.worker import spill as spill_module
from shoal.distributed.worker.spill import SpillBuffer

LOG = "shoal.distributed.worker.spill"


class Clock:
    """A clock that ticks once per call: access order is exact."""

    def __init__(self):
        self.ticks = itertools.count(1)

    def __call__(self):
        return float(next(self.ticks))


def size(value) -> int:
    """Bytes count their length, anything else 10: exact amounts in the tests."""
    return len(value) if isinstance(value, bytes) else 10


@pytest.fixture
def directory(tmp_path):
    return tmp_path / "spill"


@pytest.fixture
def buf(directory):
    b = SpillBuffer(directory, sizeof=size, clock=Clock())
    yield b
    b.close()


def warnings_from(caplog):
    return [r.getMessage() for r in caplog.records if r.name == LOG and r.levelno >= logging.WARNING]


def files(directory):
    return sorted(os.listdir(directory)) if directory.exists() else []


def check(buf: SpillBuffer) -> None:
    """Every counter and container agrees with the others and with the disk."""
    fast, slow = set(buf.fast), set(buf.slow)
    assert not fast & slow
    assert fast | slow == set(buf.nbytes) == set(buf.last_access) == set(buf)
    assert len(buf) == len(buf.nbytes)
    assert buf.managed == sum(buf.nbytes[k] for k in fast)
    assert buf.spilled_bytes == sum(buf.nbytes[k] for k in slow)
    directory = pathlib.Path(buf.directory)
    on_disk = [(directory / name).stat().st_size for name in files(directory)]
    assert len(on_disk) == len(slow)
    assert buf.spilled_disk_bytes == sum(on_disk)


# --- round trips ---


def _frame():
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({"x": np.arange(1000), "y": np.linspace(0, 1, 1000), "s": ["a", "b"] * 500})


VALUES = {
    "int": lambda: 42,
    "big-int": lambda: 2**200,
    "dict": lambda: {"a": [1, 2, (3, "x")], "b": {"c": None}},
    "bytes": lambda: b"x" * 10_000,
    "small-array": lambda: np.arange(10),
    "big-array": lambda: np.arange(100_000, dtype="float64").reshape(1000, 100),
    "strided-array": lambda: np.arange(100_000).reshape(1000, 100)[:, ::3],
    "dataframe": _frame,
}


@pytest.mark.parametrize("name", VALUES)
def test_round_trip(directory, name):
    value = VALUES[name]()
    buf = SpillBuffer(directory)
    buf[("x", 0)] = value
    assert buf.evict(1) == buf.nbytes[("x", 0)] > 0
    assert list(buf.slow) == [("x", 0)] and not buf.fast
    check(buf)

    back = buf[("x", 0)]  # unspills
    assert list(buf.fast) == [("x", 0)] and not buf.slow
    assert files(directory) == []
    check(buf)
    if isinstance(value, np.ndarray):
        assert np.array_equal(back, value) and back.dtype == value.dtype
        assert back.flags.writeable
    elif name == "dataframe":
        assert back.equals(value)
    else:
        assert back == value
    buf.close()


def test_keys_never_become_file_names(buf, directory):
    keys = ["plain", "../../etc/passwd", ("tuple", 1, 2.5), "a/b\\c:d*?", "x" * 300]
    for key in keys:
        buf[key] = b"v" * 10
    buf.evict(10**6)
    assert set(buf.slow) == set(keys)
    assert all(re.fullmatch(r"\d+\.spill", name) for name in files(directory))
    assert {k: buf[k] for k in keys} == {k: b"v" * 10 for k in keys}


# --- mapping behaviour ---


def test_mapping_over_fast_and_slow(buf, directory):
    for key in "abcd":
        buf[key] = key.encode() * 10
    buf.evict(20)  # a, b
    assert set(buf.slow) == {"a", "b"}
    assert "a" in buf and "z" not in buf
    assert set(buf.slow) == {"a", "b"}, "__contains__ must not unspill"
    assert sorted(buf) == list("abcd") and len(buf) == 4

    del buf["a"]  # slow
    del buf["c"]  # fast
    assert sorted(buf) == ["b", "d"] and len(files(directory)) == 1
    with pytest.raises(KeyError):
        del buf["a"]
    with pytest.raises(KeyError):
        buf["a"]
    check(buf)


def test_setting_a_spilled_key_deletes_its_file(buf, directory):
    buf["a"] = b"old" * 10
    buf.evict(1)
    assert len(files(directory)) == 1
    buf["a"] = b"new"
    assert files(directory) == [] and buf["a"] == b"new"
    assert buf.nbytes["a"] == 3 and buf.managed == 3 and buf.spilled_bytes == 0
    check(buf)


def test_counters(buf, directory):
    buf["a"] = b"x" * 100
    buf["b"] = b"y" * 50
    assert (buf.managed, buf.spilled_bytes, buf.spilled_disk_bytes) == (150, 0, 0)
    assert buf.nbytes == {"a": 100, "b": 50}
    buf.evict(1)
    assert (buf.managed, buf.spilled_bytes) == (50, 100)
    assert buf.spilled_disk_bytes == os.path.getsize(directory / files(directory)[0]) > 100
    check(buf)


# --- LRU and evict amounts ---


def test_lru_order(buf):
    for key in "abcd":
        buf[key] = b"x" * 10
    buf["a"]  # a is now the most recently used
    assert buf.last_access["a"] > buf.last_access["d"]
    assert buf.evict(10) == 10 and list(buf.slow) == ["b"]
    assert buf.evict(20) == 20 and set(buf.slow) == {"b", "c", "d"}
    buf["b"]  # unspilled: counts as an access, so it is the newest now
    assert buf.evict(10) == 10 and set(buf.slow) == {"a", "c", "d"}
    check(buf)


@pytest.mark.parametrize(
    "amount, freed, spilled",
    [(0, 0, ""), (-5, 0, ""), (1, 10, "a"), (10, 10, "a"), (11, 30, "ab"), (60, 60, "abc"), (10**9, 60, "abc")],
)
def test_evict_amounts(buf, amount, freed, spilled):
    buf["a"], buf["b"], buf["c"] = b"x" * 10, b"y" * 20, b"z" * 30
    assert buf.evict(amount) == freed
    assert "".join(sorted(buf.slow)) == spilled
    check(buf)


def test_evict_excludes_keys(buf):
    for key in "abc":
        buf[key] = b"x" * 10
    assert buf.evict(100, exclude=["a", "c"]) == 10
    assert list(buf.slow) == ["b"] and set(buf.fast) == {"a", "c"}


# --- values that cannot be spilled ---


def test_unpicklable_value_stays_in_memory_and_is_logged_once(buf, caplog):
    lock = threading.Lock()
    buf["a"] = b"x" * 10
    buf["lock"] = lock  # older than b: tried first
    buf["b"] = b"y" * 10
    buf["a"]  # a is newest: order is lock, b, a

    assert buf.evict(10) == 10  # lock fails, b goes instead
    assert set(buf.slow) == {"b"} and buf["lock"] is lock
    msgs = warnings_from(caplog)
    assert len(msgs) == 1 and "'lock'" in msgs[0] and "_thread.lock" in msgs[0]

    assert buf.evict(100) == 10  # a goes; the lock is not tried again
    assert set(buf.fast) == {"lock"} and len(warnings_from(caplog)) == 1
    check(buf)

    buf["lock"] = b"z" * 10  # a new value is tried again
    assert buf.evict(100) == 10 and not buf.fast


def test_directory_removed_is_a_logged_disk_error(buf, directory, caplog):
    buf["a"], buf["b"], buf["c"] = b"x" * 10, b"y" * 10, b"z" * 10
    buf.evict(10)
    shutil.rmtree(directory)  # spilled "a" is lost with it, b and c must not be
    assert buf.evict(100) == 0
    assert set(buf.fast) == {"b", "c"} and buf["b"] == b"y" * 10
    assert not directory.exists(), "a removed directory is not silently recreated"
    msgs = warnings_from(caplog)
    assert len(msgs) == 1 and "disk error" in msgs[0]
    buf.evict(100)
    assert len(warnings_from(caplog)) == 1, "the same error is logged once"
    with pytest.raises(OSError):
        buf["a"]
    assert "a" in buf.slow


def test_disk_full_keeps_value_and_leaves_no_partial_file(buf, directory, caplog, monkeypatch):
    write = spill_module._write_frames

    def full_disk(path, frames):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    buf["a"], buf["b"] = b"x" * 10, b"y" * 10
    monkeypatch.setattr(spill_module, "_write_frames", full_disk)
    assert buf.evict(100) == 0
    assert set(buf.fast) == {"a", "b"} and files(directory) == []
    assert len(warnings_from(caplog)) == 1 and "No space left" in warnings_from(caplog)[0]
    check(buf)

    monkeypatch.setattr(spill_module, "_write_frames", write)  # space again
    assert buf.evict(100) == 0  # not tried again at once
    monkeypatch.setattr(spill_module, "RETRY_AFTER", 0.0)  # (as if the time had passed)
    assert buf.evict(100) == 20
    check(buf)


def test_a_refusal_is_not_tried_again_at_every_tick(directory, monkeypatch):
    """The memory monitor evicts ten times a second: after a refusal nothing is pickled
    again until a spill file is freed or RETRY_AFTER has passed (an idle worker spent half
    a core pickling a value it could not write)."""
    pickled = []

    def counting(value, *args, **kwargs):
        pickled.append(value)
        return serialize(value, *args, **kwargs)

    serialize = spill_module.serialize
    monkeypatch.setattr(spill_module, "serialize", counting)
    buf = SpillBuffer(directory, sizeof=size, clock=Clock(), max_spill=1500)
    buf["a"], buf["b"] = b"a" * 1000, b"b" * 1000
    assert buf.evict(10**6) == 1000 and len(pickled) == 1  # "b" measured too big: not pickled
    for _ in range(50):
        assert buf.evict(10**6) == 0
    assert len(pickled) == 1
    del buf["a"]  # a file freed: room again, tried at once
    assert buf.evict(10**6) == 1000 and set(buf.slow) == {"b"} and len(pickled) == 2
    buf["huge"] = b"h" * 5000  # larger than max_spill: refused by its size, never pickled
    assert buf.evict(10**6) == 0 and len(pickled) == 2
    check(buf)
    buf.close()


def test_max_spill(directory, caplog):
    buf = SpillBuffer(directory, sizeof=size, clock=Clock(), max_spill=None)
    buf["probe"] = b"x" * 1000
    buf.evict(1)
    one_file = buf.spilled_disk_bytes
    buf.close()

    buf = SpillBuffer(directory, sizeof=size, clock=Clock(), max_spill=2 * one_file + 10)
    for key in "abcd":
        buf[key] = key.encode() * 1000
    assert buf.evict(10**6) == 2000
    assert set(buf.slow) == {"a", "b"} and buf.spilled_disk_bytes <= buf.max_spill
    msgs = warnings_from(caplog)
    assert len(msgs) == 1 and "max_spill" in msgs[0]
    assert buf.evict(10**6) == 0 and len(warnings_from(caplog)) == 1
    check(buf)

    del buf["a"]  # room for one more
    assert buf.evict(10**6) == 1000 and set(buf.slow) == {"b", "c"}
    buf.close()


def test_max_spill_accepts_size_strings(directory):
    assert SpillBuffer(directory, max_spill="1 kB").max_spill == 1000
    assert SpillBuffer(directory, max_spill=False).max_spill is None


# --- directory lifecycle ---


def test_directory_is_lazy_and_close_removes_it(directory):
    buf = SpillBuffer(directory)
    buf["a"] = np.arange(10_000)
    assert not directory.exists()
    buf.evict(1)
    assert directory.is_dir() and len(files(directory)) == 1
    buf.close()
    assert not directory.exists() and len(buf) == 0
    buf.close()  # twice is fine


def test_close_without_spilling(directory):
    buf = SpillBuffer(directory)
    buf["a"] = 1
    buf.close()
    assert not directory.exists()


def test_close_keeps_a_directory_it_did_not_make(directory):
    directory.mkdir()
    (directory / "theirs.txt").write_text("keep me")
    buf = SpillBuffer(directory)
    buf["a"] = b"x" * 10
    buf.evict(1)
    buf.close()
    assert files(directory) == ["theirs.txt"]


# --- threads ---


def test_readers_never_miss_a_key_during_eviction(directory):
    buf = SpillBuffer(directory)
    expected = {("x", i): np.full(2000, i) for i in range(40)}
    for key, value in expected.items():
        buf[key] = value
    stop = threading.Event()
    errors = []

    def reader(seed):
        rng = random.Random(seed)
        keys = list(expected)
        try:
            while not stop.is_set():
                key = rng.choice(keys)
                assert np.array_equal(buf[key], expected[key])
                assert key in buf
        except BaseException as exc:  # noqa: BLE001 - report in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(200):
            buf.evict(buf.managed // 2)
            assert len(buf) == len(expected)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    check(buf)
    assert {k: np.array_equal(buf[k], v) for k, v in expected.items()} == dict.fromkeys(expected, True)
    buf.close()
    assert not directory.exists()


def test_as_worker_state_data(directory):
    from shoal.distributed.worker import WorkerState

    buf = SpillBuffer(directory)
    ws = WorkerState(data=buf)
    assert ws.data is buf
    buf.close()
