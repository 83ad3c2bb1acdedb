"""``Pub`` / ``Sub``: messages from clients and tasks to the subscribers of a name."""

from __future__ import annotations

import gc
import time

import pytest

from shoal.distributed import Client, Pub, Sub, get_client
from shoal.testing.cluster import gen_cluster, on_loop, wait_until

pytestmark = pytest.mark.timeout(60)


def publish(name, n):
    pub = Pub(name)
    for i in range(n):
        pub.put(("from-task", i))
    return n


def collect(name, n, ready):
    sub = Sub(name)
    Pub(ready).put("subscribed")
    return [sub.get(timeout=10) for _ in range(n)]


def table(s):
    return on_loop(lambda: {k: {c: set(v) for c, v in cl.items()}
                            for k, cl in s.pubsub_subscribers.items()})  # fmt: skip


def test_client_to_client_every_subscriber_gets_each_message(c, servers):
    s = servers[0]
    with Client(s.address, set_as_default=False) as other:
        mine, theirs = Sub("news"), Sub("news", client=other)
        wait_until(lambda: len(s.pubsub_subscribers.get("news", {})) == 2)
        assert len(Pub("news").subscribers) == 2
        Pub("news", client=other).put({"a": [1, 2]})
        assert mine.get(timeout=5) == {"a": [1, 2]}
        assert theirs.get(timeout=5) == {"a": [1, 2]}
        assert list(mine.buffer) == [] and list(theirs.buffer) == []


def test_task_publishes_client_iterates(c):
    sub = Sub("from-tasks")
    assert c.submit(publish, "from-tasks", 3).result(timeout=10) == 3
    got = []
    for msg in sub:
        got.append(msg)
        if len(got) == 3:
            break
    assert got == [("from-task", 0), ("from-task", 1), ("from-task", 2)]


def client_id():
    return get_client().id


def test_client_publishes_task_subscribes_on_its_workers_client(servers):
    with Client(servers[0].address, set_as_default=False) as c:
        assert c.submit(client_id).result(timeout=10) != c.id  # (the worker's own client)
        ready = Sub("ready", client=c)
        future = c.submit(collect, "to-task", 2, "ready")
        assert ready.get(timeout=10) == "subscribed"
        pub = Pub("to-task", client=c)
        pub.put("one")
        pub.put(["two"])
        assert future.result(timeout=10) == ["one", ["two"]]


def test_get_times_out_and_messages_without_subscribers_are_dropped(c):
    pub = Pub("quiet")
    pub.put("nobody listens")
    sub = Sub("quiet")
    with pytest.raises(TimeoutError, match="Sub 'quiet': no message within 0.2 s"):
        sub.get(timeout=0.2)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        sub.get(timeout=0)
    assert time.monotonic() - start < 1
    pub.put("heard")
    assert sub.get(timeout=5) == "heard"
    with pytest.raises(ValueError, match="timeout"):
        sub.get(timeout=-1)


def test_a_thousand_messages_arrive_in_order(c):
    sub = Sub("many")
    pub = Pub("many")
    for i in range(1000):
        pub.put(i)
    assert [sub.get(timeout=10) for _ in range(1000)] == list(range(1000))
    assert not sub.buffer


def test_subscriptions_leave_the_scheduler_with_their_sub_or_client(c, servers):
    s = servers[0]
    sub = Sub("gone")
    wait_until(lambda: "gone" in s.pubsub_subscribers)
    del sub
    gc.collect()
    wait_until(lambda: not s.pubsub_subscribers)
    other = Client(s.address, set_as_default=False)
    kept = [Sub("left", client=other), Sub("left", client=other), Sub("also", client=other)]
    wait_until(lambda: sum(map(len, [*s.pubsub_subscribers.get("left", {}).values()])) == 2)
    other.close()
    wait_until(lambda: not s.pubsub_subscribers, timeout=5)  # a sweep, SWEEP seconds apart
    assert table(s) == {} and len(kept) == 3


def test_a_subscriber_that_never_reads_buffers_on_its_own_side(c, servers):
    s = servers[0]
    sub = Sub("unread")
    pub = Pub("unread")
    for i in range(200):
        pub.put(b"x" * 1000)
    pub.put("last")
    wait_until(lambda: len(sub.buffer) == 201)
    assert list(table(s)) == ["unread"]  # the scheduler keeps the subscription only


@pytest.mark.parametrize("cls", [Pub, Sub])
def test_bad_names(c, cls):
    for bad in (None, 1, "", ["x"]):
        with pytest.raises(TypeError, match=f"{cls.__name__}: name must be a non-empty str"):
            cls(bad)


def test_pub_and_sub_pickle_as_their_name(c):
    import pickle

    sub = Sub("pickled")
    copy = pickle.loads(pickle.dumps(sub))
    assert isinstance(copy, Sub) and copy.name == "pickled" and copy.id != sub.id
    assert pickle.loads(pickle.dumps(Pub("p"))).name == "p"
    Pub("pickled").put(1)
    assert (sub.get(timeout=5), copy.get(timeout=5)) == (1, 1)


@gen_cluster(nworkers=1)
async def test_async_client(s, a):
    async with Client(s.address, asynchronous=True) as c:
        sub = Sub("async", client=c)
        pub = Pub("async", client=c)
        pub.put("first")
        pub.put("second")
        assert await sub.get(timeout=5) == "first"
        got = [msg async for msg in _take(sub, 1)]
        assert got == ["second"]
        with pytest.raises(TimeoutError):
            await sub.get(timeout=0.1)
        assert len(await pub.subscribers) == 1


async def _take(sub, n):
    async for msg in sub:
        yield msg
        n -= 1
        if not n:
            return


def test_get_client_is_used_by_default(c):
    assert Pub("default").client is get_client() and Sub("default").client is get_client()


def test_a_message_that_cannot_be_pickled_raises_at_put(c):
    import threading

    sub = Sub("unpicklable")
    with pytest.raises(TypeError, match="Pub 'unpicklable': cannot pickle the message lock"):
        Pub("unpicklable").put(threading.Lock())
    Pub("unpicklable").put("next")
    assert sub.get(timeout=5) == "next"


def test_a_waiting_get_raises_when_its_client_closes(servers):
    import threading

    other = Client(servers[0].address, set_as_default=False)
    sub, out = Sub("closing", client=other), []
    thread = threading.Thread(target=lambda: out.append(pytest.raises(RuntimeError, sub.get)))
    thread.start()
    time.sleep(0.2)
    other.close()
    thread.join(5)
    assert not thread.is_alive() and "no longer connected" in str(out[0].value)
    with pytest.raises(RuntimeError, match="not running: cannot send 'pubsub-subscribe'"):
        Sub("closing", client=other)
    assert list(other._pubsub.subs["closing"]) == [sub]  # (the failed one not added)


@gen_cluster(nworkers=0)
async def test_a_waiting_get_raises_when_the_scheduler_is_lost(s):
    import asyncio

    async with Client(s.address, asynchronous=True) as c:
        sub = Sub("lost", client=c)
        waiting = asyncio.ensure_future(sub.get(timeout=20))
        await asyncio.sleep(0.1)
        await s.close()
        with pytest.raises(RuntimeError, match="Sub 'lost': .* no longer connected"):
            await asyncio.wait_for(waiting, 5)


def test_a_sub_unpickled_with_no_client_subscribes_at_its_first_get(c):
    import pickle

    from shoal.distributed.client import current

    blob = pickle.dumps(Sub("later"))
    with pytest.MonkeyPatch.context() as mp:  # (as a worker process unpickles a task's args)
        mp.setattr(current, "default_client", lambda: (_ for _ in ()).throw(ValueError("none")))
        sub = pickle.loads(blob)
    assert sub.client is None
    with pytest.raises(TimeoutError):
        sub.get(timeout=0.1)
    assert sub.client is c
    Pub("later").put("now")
    assert sub.get(timeout=5) == "now"
