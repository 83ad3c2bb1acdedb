"""Scattering a key again while the release of its older Future is still on its way.

A release travels on the client's stream, ``scatter`` is a request on another comm;
likewise the scheduler's ``free-keys`` goes on the worker's stream, ``update_data``
on another comm.  Without ordering, the later request could overtake the earlier
stream message: the key was forgotten (or its new value deleted on its worker)
under a fresh Future, whose gather then failed or hung.  The request now waits
for a marker its sender put on the stream (``shoal.distributed.batched``).

The targeted tests hold the stream back (a slow write, a long batching interval)
so that the release is certainly behind the request; the stress test is the
report's reproducer: many threads of one client scattering one value and
dropping their Futures.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

import shoal
from shoal.distributed import Client
from shoal.testing.cluster import on_loop, sync_cluster, wait_until


def _slow_writes(comm, op: str, delay: float) -> None:
    """Make ``comm`` write each batch holding an ``op`` message ``delay`` seconds late
    (a congested stream); the writes stay in order, as a BatchedSend makes them."""
    write = comm.write

    async def slow(msgs, *args, **kwargs):
        if isinstance(msgs, list) and any(isinstance(m, dict) and m.get("op") == op for m in msgs):
            await asyncio.sleep(delay)
        return await write(msgs, *args, **kwargs)

    comm.write = slow


def _held_by(s, key) -> list:
    ts = s.state.tasks.get(key)
    return [] if ts is None else sorted(ws.address for ws in ts.who_has)


def test_release_delayed_on_the_stream_does_not_forget_a_rescattered_key(servers, c):
    s, workers = servers
    value = f"value-{uuid.uuid4().hex}"
    f = c.scatter(value)
    key = f.key
    assert f.result(timeout=5) == value
    _slow_writes(c._conn.stream.comm, "client-releases-keys", 0.5)
    del f  # the release goes on the stream first, and stays on its way for 0.5 s
    f2 = c.scatter(value)  # the same key, by a request on another comm
    assert f2.key == key
    assert f2.result(timeout=5) == value
    time.sleep(0.7)  # the release has arrived by now
    wait_until(lambda: bool(_held_by(s, key)), timeout=2)
    assert c.id in {cs.name for cs in s.state.tasks[key].who_wants}
    assert c.gather(f2) == value
    assert [c.gather(f2) for _ in range(3)] == [value] * 3


def test_release_buffered_by_a_long_batching_interval(servers):
    s, workers = servers
    value = f"value-{uuid.uuid4().hex}"
    with shoal.config.set({"distributed.batched.interval": "1.5s"}):
        with Client(s.address) as client:
            f = client.scatter(value)
            key = f.key
            assert f.result(timeout=5) == value
            stream = client._conn.stream

            def burst():  # two messages in one write: the stream counts as busy, and
                for _ in range(2):  # the next write waits for the interval
                    stream.send({"op": "client-desires-keys", "keys": [], "client": client.id})

            client._runner.sync(_async(burst))
            del f  # its release waits in the buffer (up to 1.5 s) ...
            f2 = client.scatter(value)  # ... while the same key is scattered again
            assert f2.result(timeout=5) == value
            time.sleep(1.7)  # any buffered release has been written and handled
            assert _held_by(s, key)
            assert client.id in {cs.name for cs in s.state.tasks[key].who_wants}
            assert client.gather(f2) == value


def test_free_keys_delayed_on_the_worker_stream_does_not_delete_the_new_value(servers, c):
    s, (a, b) = servers
    value = f"value-{uuid.uuid4().hex}"
    f = c.scatter(value, workers=[a.address])
    key = f.key
    assert f.result(timeout=5) == value
    _slow_writes(s.worker_streams[a.address].comm, "free-keys", 0.5)
    del f  # the scheduler forgets the key: its free-keys to `a` is held up 0.5 s
    wait_until(lambda: key not in s.state.tasks, timeout=5)
    f2 = c.scatter(value, workers=[a.address])  # update_data to `a` on another comm
    assert f2.result(timeout=5) == value
    time.sleep(0.7)  # the free-keys has arrived by now
    assert _held_by(s, key) == [a.address]
    assert on_loop(lambda: key in a.data)
    assert c.gather(f2) == value


def test_get_dataset_after_a_release_slower_than_the_hand_over_grace(servers, c, monkeypatch):
    from shoal.distributed.scheduler import coordination

    monkeypatch.setattr(coordination, "GRACE", 0.3)  # (2 s: the test would wait it out)
    s, workers = servers
    value = f"value-{uuid.uuid4().hex}"
    f = c.scatter(value)
    key = f.key
    c.publish_dataset(f, name="release-order")
    _slow_writes(c._conn.stream.comm, "client-releases-keys", 0.8)  # longer than GRACE
    del f  # its release is on its way when the dataset's Future comes back
    g = c.get_dataset("release-order")
    assert g.key == key
    c.unpublish_dataset("release-order")  # only this client's wish holds the key now
    time.sleep(1.0)  # the release (and the hand-over's grace) are over
    assert _held_by(s, key)
    assert c.id in {cs.name for cs in s.state.tasks[key].who_wants}
    assert c.gather(g) == value


def test_many_threads_scatter_and_drop_the_same_value(servers, c):
    s, workers = servers
    value = f"shared-{uuid.uuid4().hex}"
    errors: list = []
    deadline = time.monotonic() + 4

    def hammer():
        try:
            while time.monotonic() < deadline:
                for _ in range(5):
                    f = c.scatter(value)
                    assert f.result(timeout=5) == value
                    del f
                futures = [c.scatter(value) for _ in range(3)]
                assert c.gather(futures) == [value] * 3
                del futures
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a scatter or gather hung"
    assert not errors, errors[:3]
    f = c.scatter(value)
    assert c.gather(f) == value


def _async(fn):
    async def call():
        return fn()

    return call


def test_release_worker_data_delayed_on_the_worker_stream_does_not_drop_the_new_copy(servers, c):
    # The worker answers the scheduler's free-keys with a release-worker-data on its
    # own stream; the update_data reply (another comm) must not overtake it, or the
    # scheduler dropped the replica it had just recorded (LostScatteredData).
    s, (a, b) = servers
    value = f"value-{uuid.uuid4().hex}"
    f = c.scatter(value, workers=[a.address])
    key = f.key
    assert f.result(timeout=5) == value
    _slow_writes(a.stream.comm, "release-worker-data", 0.5)
    del f  # free-keys to `a`; its release-worker-data back is held up 0.5 s
    wait_until(lambda: key not in s.state.tasks and key not in a.data, timeout=5)
    f2 = c.scatter(value, workers=[a.address])
    assert f2.result(timeout=5) == value
    time.sleep(0.7)  # the release-worker-data has arrived by now
    assert _held_by(s, key) == [a.address]
    assert c.gather(f2, errors="raise") == value
