"""Variable, Queue, Lock and Event (``shoal/distributed/coordination.py`` and the
scheduler's ``scheduler/coordination.py``): from the notebook, across clients, and
inside tasks on a one-thread worker, where a task waiting on one must secede.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
import time

import pytest

from shoal.distributed import Client, Event, Lock, Queue, Variable
from shoal.distributed._loop import get_runner
from shoal.distributed.rpc import rpc
from shoal.testing.cluster import on_loop, sync_cluster, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def servers():
    with sync_cluster(1, 1) as sw:  # one worker, one thread
        yield sw


@pytest.fixture
def c(servers):
    with Client(servers[0].address) as client:
        yield client


def inc(x):
    return x + 1


def later(seconds, fn, *args):
    thread = threading.Thread(target=lambda: (time.sleep(seconds), fn(*args)))
    thread.start()
    return thread


def test_variable_holds_values_and_futures(c, servers):
    s = servers[0]
    v = Variable("x")
    v.set({"a": 1})
    assert v.get() == {"a": 1}
    assert pickle_roundtrip(v).get() == {"a": 1}  # by name
    future = c.submit(inc, 41)
    key = future.key
    v.set(future)
    del future
    gc.collect()
    time.sleep(0.3)  # the client's release has reached the scheduler by now
    assert on_loop(lambda: key in s.state.tasks)  # held by the variable
    got = v.get()
    assert got.key == key and got.result(timeout=10) == 42
    del got
    v.delete()
    wait_until(lambda: key not in s.state.tasks)  # nobody holds it any more
    with pytest.raises(TimeoutError, match=r"'x'.*0\.2 s"):
        v.get(timeout=0.2)


def test_variable_get_waits_until_set(c):
    v = Variable()
    thread = later(0.3, v.set, "late")
    start = time.monotonic()
    assert v.get(timeout=10) == "late"
    assert time.monotonic() - start >= 0.25
    thread.join()
    with pytest.raises(ValueError, match="timeout"):
        v.get(timeout=-1)


def test_queue_order_batches_and_bounds(c):
    q = Queue("q")
    for i in range(3):
        q.put(i)
    assert q.qsize() == 3
    assert q.get() == 0
    assert q.get(batch=True) == [1, 2]
    assert q.get(batch=True) == []
    with pytest.raises(TimeoutError, match=r"'q'.*0\.2 s"):
        q.get(timeout=0.2)
    thread = later(0.2, lambda: [q.put(x) for x in "ab"])
    assert q.get(batch=2, timeout=10) == ["a", "b"]
    thread.join()

    small = Queue("small", maxsize=1)
    small.put(1)
    with pytest.raises(TimeoutError, match=r"full for 0\.2 s"):
        small.put(2, timeout=0.2)
    thread = later(0.3, small.get)
    small.put(3, timeout=10)  # room once the other thread took one
    thread.join()
    assert small.get(timeout=5) == 3
    with pytest.raises(ValueError, match="maxsize"):
        Queue(maxsize=-1)
    with pytest.raises(ValueError, match="timeout"):
        q.put(1, timeout=-0.5)


def test_queue_future_outlives_the_client_that_put_it(c, servers):
    s = servers[0]
    with Client(s.address, set_as_default=False) as other:
        future = other.submit(inc, 1)
        key = future.key
        Queue("handoff", client=other).put(future)
        del future
    gc.collect()
    time.sleep(0.3)
    assert on_loop(lambda: key in s.state.tasks)
    got = Queue("handoff").get(timeout=5)
    assert got.result(timeout=10) == 2
    del got
    wait_until(lambda: key not in s.state.tasks)  # taken from the queue, then dropped


def test_lock_across_two_clients(c, servers):
    with Client(servers[0].address, set_as_default=False) as other:
        mine, theirs = Lock("L"), Lock("L", client=other)
        assert not mine.locked()
        assert mine.acquire()
        assert theirs.locked()
        assert theirs.acquire(timeout=0.2) is False
        assert theirs.acquire(blocking=False) is False
        with pytest.raises(RuntimeError, match="another Lock"):
            theirs.release()
        thread = later(0.3, mine.release)
        assert theirs.acquire(timeout=10) is True  # waited for the release
        thread.join()
        theirs.release()
        with pytest.raises(RuntimeError, match="not held"):
            theirs.release()
        with mine:
            assert theirs.locked()
        assert not theirs.locked()
        with pytest.raises(ValueError, match="blocking"):
            mine.acquire(blocking=False, timeout=1)


def test_lock_of_a_departed_client_is_released_after_the_lease(c, servers):
    s = servers[0]
    s.lock_lease_timeout = 1.0
    with Client(s.address, set_as_default=False) as other:
        assert Lock("lease", client=other).acquire()
    assert Lock("lease").locked()  # not at once: as Dask's lease, it outlives its client a while
    start = time.monotonic()
    assert Lock("lease").acquire(timeout=15)
    assert time.monotonic() - start > 0.5


def waits_for(event, seconds):
    return event.wait(seconds)


def sets(event):
    event.set()
    return "set"


def test_event_waited_for_in_a_task_set_by_another_one_thread(c):
    event = Event("go")
    assert event.wait(timeout=0.1) is False
    waiter = c.submit(waits_for, event, 20)
    time.sleep(0.3)  # the waiter holds the worker's only thread, then secedes
    setter = c.submit(sets, event)
    assert setter.result(timeout=20) == "set"
    assert waiter.result(timeout=20) is True
    assert event.is_set()
    event.clear()
    assert not event.is_set()


def consume(q, lock, v, n):
    with lock:
        total = sum(q.get(timeout=20) for _ in range(n))
    v.set(total)
    return total


def test_primitives_pass_into_tasks(c):
    q, lock, v = Queue("work"), Lock("guard"), Variable("total")
    consumer = c.submit(consume, q, lock, v, 3)  # waits on the queue: secedes
    producer = c.submit(lambda q: [q.put(i) for i in (1, 2, 3)] and "done", q)
    assert producer.result(timeout=20) == "done"
    assert consumer.result(timeout=20) == 6
    assert v.get(timeout=5) == 6
    assert not lock.locked()


def test_an_abandoned_wait_takes_nothing(c, servers):
    s = servers[0]
    before = on_loop(lambda: len(s.server._comms))

    async def abandon():
        proxy = rpc(s.address)
        waiting = asyncio.ensure_future(proxy.queue_get(name="gone", timeout=None, client=c.id))
        await asyncio.sleep(0.3)
        waiting.cancel()  # the proxy drops that comm: the scheduler sees it close
        await asyncio.gather(waiting, return_exceptions=True)
        await proxy.close_rpc()

    get_runner().sync(abandon)
    wait_until(lambda: len(s.server._comms) <= before)  # its wait ended
    q = Queue("gone")
    q.put("kept")
    time.sleep(0.3)
    assert q.qsize() == 1


def test_a_client_that_closes_while_it_waits_takes_nothing(c, servers):
    """Over TCP a closing client's polite "close" sits unread on the comm its wait holds,
    so the comm does not look closed: its wait must end with its client's stream, take
    no item and no lock, and leave no client or key behind on the scheduler."""
    s = servers[0]
    other = Client(s.address, set_as_default=False)
    ghost, ended = other.id, {}

    def call(name, fn):
        try:
            ended[name] = fn()
        except BaseException as exc:  # (its client closes under it)
            ended[name] = exc

    held = Lock("ghost-lock")
    held.acquire()
    threads = [threading.Thread(target=call, args=("q", Queue("ghost-q", client=other).get)),
               threading.Thread(target=call, args=("l", Lock("ghost-lock", client=other).acquire)),
               threading.Thread(target=call, args=("e", Event("ghost-e", client=other).wait))]
    for t in threads:
        t.start()
    wait_until(lambda: s._coord.queues.get("ghost-q") is not None
               and s._coord.queues["ghost-q"].waiting == 1)  # fmt: skip
    other.close()
    for t in threads:
        t.join(10)
    assert set(ended) == {"q", "l", "e"} and not any(t.is_alive() for t in threads)
    future = c.submit(inc, 1)
    key = future.key
    Queue("ghost-q").put(future)
    del future
    held.release()
    time.sleep(0.5)
    assert Queue("ghost-q").qsize() == 1 and not Lock("ghost-lock").locked()
    assert on_loop(lambda: ghost not in s.state.clients and not s._coord.changes._events)
    who = on_loop(lambda: sorted(cl.name for cl in s.state.tasks[key].who_wants))
    assert who == ["queue-ghost-q"]


def test_names_leave_nothing_behind_once_deleted_or_emptied(c, servers, monkeypatch):
    from shoal.distributed.scheduler import coordination

    monkeypatch.setattr(coordination, "GRACE", 0.2)
    s = servers[0]
    clients = on_loop(lambda: len(s.state.clients))
    for i in range(20):
        v, q = Variable(f"v{i}"), Queue(f"q{i}")
        v.set(c.submit(inc, i))
        v.get().result()
        v.delete()
        q.put(c.submit(inc, i))
        assert q.get().result() == i + 1
        assert q.qsize() == 0
        with pytest.raises(TimeoutError, match=f"Queue 'q{i}': no item to get within 0.01 s"):
            q.get(timeout=0.01)
        assert not Event(f"e{i}").wait(timeout=0.01)
    wait_until(lambda: len(s.state.clients) == clients)
    state = on_loop(lambda: (dict(s._coord.queues), dict(s._coord.changes._events),
                             dict(s._coord.handovers), dict(s._coord.variables)))  # fmt: skip
    assert state == ({}, {}, {}, {})
    wait_until(lambda: not s.state.tasks)  # every key released


def test_a_handed_over_key_is_held_while_the_getter_may_still_release_an_old_future(c, servers,
                                                                                    monkeypatch):
    """The getter's client may send the release of an older Future of the key after the
    reply: the hand-over holds the key for GRACE seconds meanwhile."""
    from shoal.distributed.scheduler import coordination

    monkeypatch.setattr(coordination, "GRACE", 0.5)
    s = servers[0]
    v = Variable("handed")
    old = c.submit(inc, 1)
    v.set(old)
    got = v.get()
    who = on_loop(lambda: {cl.name for cl in s.state.tasks[got.key].who_wants})
    assert coordination.HANDOVER in who and "variable-handed" in who
    v.set("something else")
    assert got.result(timeout=10) == 2
    key = got.key
    del old, got
    gc.collect()
    wait_until(lambda: key not in s.state.tasks)  # after GRACE, nobody holds it


def test_a_released_future_is_refused_at_once(c):
    future = c.submit(inc, 1)
    future.release()
    start = time.monotonic()
    with pytest.raises(ValueError, match="was released; only a live Future can be stored"):
        Variable("r").set(future)
    with pytest.raises(ValueError, match="was released"):
        Queue("r").put(future)
    assert time.monotonic() - start < 1
    assert Lock("r").acquire() and Lock("r").locked()


def test_a_blocking_call_on_the_clients_own_loop_is_refused_clearly(c):
    async def on_the_loop():
        with pytest.raises(RuntimeError, match="Lock 'e': lock_acquire blocks, and this is "
                           "the synchronous client's own event loop thread"):  # fmt: skip
            Lock("e", client=c).acquire(timeout=1)
        with pytest.raises(RuntimeError, match="Queue 'e': queue_qsize blocks"):
            Queue("e", client=c).qsize()

    get_runner().sync(on_the_loop)
    assert Lock("e").acquire(timeout=1)  # (nothing was left waiting)


def test_spelled_as_dask():
    distributed = pytest.importorskip("distributed")

    def params(obj):
        return [p for p in inspect.signature(obj).parameters if p != "self"]

    pairs = [(Variable.set, distributed.Variable.set), (Variable.get, distributed.Variable.get),
             (Queue.put, distributed.Queue.put), (Queue.get, distributed.Queue.get),
             (Lock.acquire, distributed.Lock.acquire), (Event.wait, distributed.Event.wait)]
    for ours, theirs in pairs:
        assert params(ours)[: len(params(theirs))] == [p for p in params(theirs) if p != "kwargs"]
    for name in ("Variable", "Queue", "Event"):
        assert params(getattr(distributed, name))[:2] == params(globals()[name])[:2]


def pickle_roundtrip(obj):
    import pickle

    return pickle.loads(pickle.dumps(obj))
