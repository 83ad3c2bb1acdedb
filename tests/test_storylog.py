"""``PackedLog``: a bounded log whose older entries are pickled in chunks."""

from __future__ import annotations

import marshal
import pickle
import random
import threading
from collections import deque, namedtuple

import pytest

from shoal.distributed.storylog import PackedLog

pytestmark = pytest.mark.timeout(60)

Point = namedtuple("Point", "x y")  # a tuple subclass: marshal refuses it, pickle takes it


@pytest.mark.parametrize("maxlen", [0, 1, 2, 5, 7, 100])
@pytest.mark.parametrize("chunk", [1, 3, 5, 1000])
def test_keeps_exactly_what_a_bounded_deque_keeps(maxlen, chunk):
    rng = random.Random(maxlen * 1000 + chunk)
    log, expected = PackedLog(maxlen, chunk), deque(maxlen=maxlen)
    for i in range(rng.randint(20, 80)):
        entry = ("key", i, {"r": i % 3}, f"stimulus-{i // 4}", 1.5 * i)
        log.append(entry)
        expected.append(entry)
        assert len(log) == len(expected) and bool(log) == bool(expected)
        assert list(log) == list(expected)


def test_older_entries_are_packed_newer_ones_kept():
    log = PackedLog(10_000, chunk=100)
    for i in range(2_550):
        log.append((f"k{i}", "memory"))
    assert len(log._packed) == 25 and len(log._open) == 50
    assert all(loads is marshal.loads and type(blob) is bytes for loads, blob, _ in log._packed)
    assert [e[0] for e in log][:3] == ["k0", "k1", "k2"] and len(list(log)) == 2_550
    log.clear()
    assert len(log) == 0 and list(log) == [] and not log


def test_an_entry_pickle_cannot_take_keeps_its_chunk_as_objects():
    lock = threading.Lock()  # cannot be pickled
    log = PackedLog(6, chunk=3)
    for entry in [("a",), ("b", lock), ("c",), ("d",), ("e",), ("f",), ("g",)]:
        log.append(entry)
    assert list(log) == [("b", lock), ("c",), ("d",), ("e",), ("f",), ("g",)]
    assert [loads for loads, _, _ in log._packed] == [list, marshal.loads]


def test_objects_marshal_does_not_know_are_pickled():
    log = PackedLog(10, chunk=2)
    entries = [Point(1, 2), ("plain", 3), Point(3, 4), (Point(5, 6),)]
    for entry in entries:
        log.append(entry)
    assert list(log) == entries
    assert [loads for loads, _, _ in log._packed] == [pickle.loads, pickle.loads]


def test_holds_at_most_two_chunks_more_than_it_shows():
    log = PackedLog(10, chunk=4)
    for i in range(1000):
        log.append((i,))
        assert log._packed_len + len(log._open) <= 10 + 2 * 4
    assert [e[0] for e in log] == list(range(990, 1000))


def test_iteration_reads_a_snapshot():
    log = PackedLog(50, chunk=4)
    for i in range(30):
        log.append((i,))
    seen = []
    for entry in log:  # appending meanwhile neither fails nor changes what this loop reads
        seen.append(entry[0])
        log.append((100 + entry[0],))
    assert seen == list(range(30))
    assert len(log) == 50 and [e[0] for e in log][-1] == 129


def test_bad_bound():
    with pytest.raises(ValueError, match="maxlen must be >= 0, got -1"):
        PackedLog(-1)
