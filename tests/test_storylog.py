"""``PackedLog``: a bounded log whose older entries are pickled in chunks."""

from __future__ import annotations

import random
import threading
from collections import deque

import pytest

from shoal.distributed.storylog import PackedLog

pytestmark = pytest.mark.timeout(60)


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
    assert all(type(blob) is bytes for blob, _ in log._packed)
    assert [e[0] for e in log][:3] == ["k0", "k1", "k2"] and len(list(log)) == 2_550
    log.clear()
    assert len(log) == 0 and list(log) == [] and not log


def test_an_entry_pickle_cannot_take_keeps_its_chunk_as_objects():
    lock = threading.Lock()  # cannot be pickled
    log = PackedLog(6, chunk=3)
    for entry in [("a",), ("b", lock), ("c",), ("d",), ("e",), ("f",), ("g",)]:
        log.append(entry)
    assert list(log) == [("b", lock), ("c",), ("d",), ("e",), ("f",), ("g",)]
    assert [type(blob) for blob, _ in log._packed] == [list, bytes]


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
