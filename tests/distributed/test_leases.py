"""Semaphore and MultiLock (``shoal/distributed/leases.py``, ``scheduler/leases.py``),
waits served first come first served, and grants whose reply cannot be delivered
(``scheduler/coordination.py``)."""

from __future__ import annotations

import pickle
import threading
import time

import pytest

from shoal.distributed import Client, Event, Lock, MultiLock, Queue, Semaphore
from shoal.distributed._loop import get_runner
from shoal.distributed.comm import connect
from shoal.distributed.rpc import NO_REPLY
from shoal.testing.cluster import sync_cluster, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def servers():
    with sync_cluster(1, 1) as sw:  # one worker, one thread
        yield sw


def in_thread(fn, *args):
    out = []
    thread = threading.Thread(target=lambda: out.append(fn(*args)))
    thread.start()
    return thread, out


def test_semaphore_counts_leases_across_clients(c, servers):
    with Client(servers[0].address, set_as_default=False) as other:
        mine, theirs = Semaphore(2, name="db"), Semaphore(2, name="db", client=other)
        assert mine.get_value() == 0
        assert mine.acquire() and theirs.acquire(timeout=1)
        assert mine.get_value() == 2
        assert mine.acquire(timeout=0.1) is False
        thread, got = in_thread(theirs.acquire, 10)
        time.sleep(0.2)
        assert mine.release() is True  # the waiter gets this lease
        thread.join(10)
        assert got == [True] and theirs.get_value() == 2
        with pytest.raises(RuntimeError, match="'db': released more often than acquired"):
            mine.release()
        theirs.release(), theirs.release()
        with mine:
            assert theirs.get_value() == 1
        assert theirs.get_value() == 0
    copy = pickle.loads(pickle.dumps(mine))  # by name, with no lease
    assert (copy.name, copy.max_leases) == ("db", 2)
    with pytest.raises(RuntimeError, match="released more often"):
        copy.release()
    with pytest.raises(ValueError, match="max_leases=3 differs from the max_leases=2"):
        Semaphore(3, name="db")
    with pytest.raises(ValueError, match="max_leases must be an int >= 1"):
        Semaphore(0)
    with pytest.raises(TypeError, match="scheduler_rpc"):
        Semaphore(scheduler_rpc=object())


def test_semaphore_async(servers):
    async def main():
        async with Client(servers[0].address, asynchronous=True) as client:
            sem = await Semaphore(1, name="a", client=client)
            async with sem:
                assert await sem.get_value() == 1
                assert await sem.acquire(timeout=0.05) is False
            assert await sem.get_value() == 0

    get_runner().sync(main)


def holds_then_waits(sem, event):
    with sem:
        return event.wait(20)


def takes(sem):
    with sem:
        return "took"


def test_a_task_waiting_for_a_lease_secedes(c):
    """One thread: the waiting task must leave it, or the holder could never come back."""
    sem, go = Semaphore(1, name="one"), Event("go")
    holder = c.submit(holds_then_waits, sem, go)
    deadline = time.monotonic() + 10
    while sem.get_value() != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    waiter = c.submit(takes, sem)
    time.sleep(0.3)
    assert waiter.status == "pending"
    go.set()
    assert holder.result(timeout=20) is True and waiter.result(timeout=20) == "took"
    assert sem.get_value() == 0


def acquires(sem):
    return sem.acquire(timeout=5)


def test_leases_of_a_departed_client_are_released(c, servers):
    s = servers[0]
    other = Client(s.address, set_as_default=False)
    assert Semaphore(1, name="gone", client=other).acquire()
    assert MultiLock(["m"], client=other).acquire()
    other.close()  # (not released by it)
    start = time.monotonic()
    assert Semaphore(1, name="gone").acquire(timeout=10)
    assert MultiLock(["m"]).acquire(timeout=10)
    assert time.monotonic() - start < 5


def test_the_lease_of_a_task_goes_with_its_worker(servers):
    s, (w,) = servers
    with Client(s.address, set_as_default=False) as submitter:  # (the worker makes its own)
        sem = Semaphore(1, name="in-task", client=submitter)
        assert submitter.submit(acquires, sem).result(timeout=20) is True  # kept after the task
        assert sem.get_value() == 1
        get_runner().sync(w.close)  # the worker, and its tasks' client, go
        wait_until(lambda: s._coord.semaphores["in-task"].leases == {}, timeout=10)
        assert sem.acquire(timeout=1)


def test_multilock_takes_all_or_waits(c, servers):
    with Client(servers[0].address, set_as_default=False) as other:
        ab, ba = MultiLock(["a", "b"]), MultiLock(["b", "a"], client=other)
        assert ab.acquire() and ab.locked()
        assert ba.acquire(timeout=0.1) is False and not ba.locked()
        assert ba.acquire(blocking=False) is False
        assert MultiLock(["c", "b"]).acquire(num_locks=1, timeout=1)  # "c" is enough
        thread, got = in_thread(ba.acquire, 10)
        time.sleep(0.2)
        ab.release()
        thread.join(10)
        assert got == [True] and ba.locked()
        ba.release()
    with pytest.raises(ValueError, match="not acquired"):
        ab.release()
    with pytest.raises(ValueError, match="num_locks must be an int from 1 to 2"):
        ab.acquire(num_locks=3)
    with pytest.raises(ValueError, match="blocking"):
        ab.acquire(blocking=False, timeout=1)
    with pytest.raises(TypeError, match="names must be a list of str"):
        MultiLock("ab")
    with MultiLock(["a", "b"]) as held:
        assert held.locked()
    assert pickle.loads(pickle.dumps(held)).names == ["a", "b"]


def test_multilocks_in_opposite_orders_never_deadlock(c):
    inside, overlaps = [0], []

    def work(names):
        lock = MultiLock(names)
        for _ in range(15):
            with lock:
                inside[0] += 1
                overlaps.append(inside[0])
                time.sleep(0.001)
                inside[0] -= 1
        return "done"

    threads = [in_thread(work, names) for names in (["x", "y"], ["y", "x"], ["y", "z", "x"])]
    for thread, _ in threads:
        thread.join(30)
    assert [out for _, out in threads] == [["done"]] * 3
    assert max(overlaps) == 1  # never two holders


def test_waits_are_served_first_come_first_served(c, servers):
    s = servers[0]
    lines = s._coord.lines
    held = Lock("fifo")
    held.acquire()
    order, threads = [], []

    def take(i):
        lock = Lock("fifo")
        lock.acquire(timeout=20)
        order.append(i)
        lock.release()

    for i in range(4):
        threads.append(in_thread(take, i)[0])
        wait_until(lambda: len(lines.get(("lock", "fifo"), ())) == i + 1)
    held.release()
    for thread in threads:
        thread.join(20)
    assert order == [0, 1, 2, 3]
    q = Queue("fifo-q")  # a getter of two that came first is not overtaken by one of one
    pair, got_pair = in_thread(lambda: q.get(timeout=20, batch=2))
    wait_until(lambda: len(lines.get(("queue_get", "fifo-q"), ())) == 1)
    single, got_single = in_thread(lambda: q.get(timeout=20))
    wait_until(lambda: len(lines.get(("queue_get", "fifo-q"), ())) == 2)
    q.put("a")
    time.sleep(0.3)
    assert got_single == [] and q.qsize() == 1
    q.put("b")
    pair.join(20)
    q.put("c")
    single.join(20)
    assert (got_pair, got_single) == ([["a", "b"]], ["c"])


def test_a_multilock_acquire_abandoned_may_be_retried_at_once(servers):
    """The abandoned request may still be in the lines (its caller's departure is seen
    within POLL): the retry is a request of its own, not a clash of ids."""
    import asyncio

    async def main():
        async with Client(servers[0].address, asynchronous=True) as client:
            held, waiter = MultiLock(["r"], client=client), MultiLock(["r"], client=client)
            assert await held.acquire()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(waiter.acquire(), 0.3)
            assert await waiter.acquire(timeout=0.05) is False
            await held.release()
            assert await waiter.acquire(timeout=2) is True and waiter.locked()
            await waiter.release()

    get_runner().sync(main)


def test_closing_a_semaphore_ends_its_waits(c, servers):
    """A wait on a closed semaphore would wait for good, at the head of the name's line."""
    sem = Semaphore(1, name="closed")
    assert sem.acquire()
    waiter = Semaphore(1, name="closed")
    thread, got = in_thread(lambda: pytest.raises(RuntimeError, waiter.acquire))
    wait_until(lambda: len(servers[0]._coord.lines.get(("semaphore", "closed"), ())) == 1)
    sem.close()
    thread.join(10)
    assert not thread.is_alive() and "closed while this acquire waited" in str(got[0].value)
    again = Semaphore(1, name="closed")  # the name serves anew
    assert again.acquire(timeout=2) and again.get_value() == 1


def test_a_grant_whose_reply_cannot_be_delivered_is_given_back(c, servers):
    """The caller's comm closes between the grant and its reply: the items go back to
    the head of the queue, and the lock and the lease are released."""
    s = servers[0]
    q = Queue("kept")
    for item in ("a", "b", "c"):
        q.put(item)
    sem, lock = Semaphore(1, name="undelivered"), Lock("undelivered")

    async def vanishing():
        comm = await connect(s.address)
        write = comm.write

        async def write_to_a_gone_peer(msg):
            comm.abort()  # (as if the peer vanished just now)
            return await write(msg)

        comm.write = write_to_a_gone_peer
        return comm

    async def undelivered():
        return [await s.queue_get(comm=await vanishing(), name="kept", batch=2, client=c.id),
                await s.lock_acquire(comm=await vanishing(), name="undelivered", id="x",
                                     client=c.id),
                await s.semaphore_acquire(comm=await vanishing(), name="undelivered",
                                          lease_id="y", client=c.id)]  # fmt: skip

    assert get_runner().sync(undelivered) == [NO_REPLY] * 3
    assert q.qsize() == 3 and q.get(batch=True) == ["a", "b", "c"]
    assert not lock.locked() and sem.get_value() == 0
    assert lock.acquire(timeout=1) and sem.acquire(timeout=1)


def test_spelled_as_dask():
    import inspect

    distributed = pytest.importorskip("distributed")

    def params(obj):
        return [p for p in inspect.signature(obj).parameters if p != "self"]

    assert params(Semaphore)[:4] == params(distributed.Semaphore)[:4]
    assert params(MultiLock)[:2] == params(distributed.MultiLock)[:2]
    for method in ("acquire", "release", "get_value"):
        assert params(getattr(Semaphore, method)) == params(getattr(distributed.Semaphore, method))
    assert params(MultiLock.acquire) == params(distributed.MultiLock.acquire)
