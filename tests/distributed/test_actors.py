"""Actors: ``submit(cls, actor=True)``, proxies calling the holding worker directly."""

from __future__ import annotations

import asyncio
import gc
import pickle
import threading
import time

import pytest

from shoal.distributed import Actor, ActorFuture, Client
from shoal.distributed.actor import ActorLostError
from shoal.distributed._loop import get_runner
from shoal.testing.cluster import gen_cluster, on_loop

pytestmark = pytest.mark.timeout(60)


class Counter:
    n: int  # (declared: the proxy reads it)

    def __init__(self, n=0):
        self.n = n
        self.threads = set()

    def increment(self, by=1):
        self.threads.add(threading.current_thread().name)
        self.n += by
        return self.n

    def fail(self):
        raise ZeroDivisionError(f"cannot at {self.n}")

    async def aincrement(self):
        self.n += 1
        return self.n

    def thread_names(self):
        return sorted(self.threads)


def make_counter(start):
    return Counter(start)


def add_through(actor, by):
    return actor.increment(by).result()


def actor_keys(dask_worker):
    return sorted(map(str, dask_worker.actors))


def test_calls_run_in_order_on_one_actor_thread(c):
    fut = c.submit(Counter, actor=True)
    counter = fut.result()
    assert isinstance(counter, Actor)
    assert repr(counter) == f"<Actor: Counter, key={fut.key}>"
    calls = [counter.increment() for _ in range(200)]
    assert all(isinstance(f, ActorFuture) for f in calls)
    assert [f.result(timeout=10) for f in calls] == list(range(1, 201))
    assert calls[0].done()
    assert counter.n == 200
    [name] = counter.thread_names().result()
    assert name.startswith("shoal-actor-")


def test_one_instance_and_placement(c, servers):
    _, workers = servers
    target = workers[1].address
    f1 = c.submit(Counter, 1, actor=True, workers=[target])
    f2 = c.submit(Counter, 1, actors=True, workers=[target])
    assert f1.key != f2.key  # (an actor is never pure: two submits, two objects)
    a1, a2 = f1.result(), f2.result()
    a1.increment(5).result()
    assert (a1.n, a2.n) == (6, 1)
    held = c.run(actor_keys)
    assert held[target] == sorted([f1.key, f2.key])
    assert held[workers[0].address] == []


def test_errors_keep_their_type_and_proxy_refuses_writes(c):
    counter = c.submit(Counter, 3, actor=True).result()
    with pytest.raises(ZeroDivisionError, match="cannot at 3"):
        counter.fail().result()
    with pytest.raises(AttributeError, match="'nope'"):
        counter.nope
    with pytest.raises(AttributeError, match="cannot set 'n'"):
        counter.n = 5
    assert counter.increment().result() == 4


def test_async_method_and_function_as_actor(c):
    counter = c.submit(make_counter, 10, actor=True).result()  # (a function: its result is held)
    assert repr(counter).startswith("<Actor: Counter, key=make_counter-")
    assert counter.aincrement().result(timeout=10) == 11
    assert counter.increment().result() == 12


def test_actor_used_from_other_tasks(c, servers):
    _, workers = servers
    fut = c.submit(Counter, actor=True, workers=[workers[0].address])
    counter = fut.result()
    # the future as an argument (here and on the other worker), and the proxy pickled in
    here = c.submit(add_through, fut, 1, workers=[workers[0].address], pure=False)
    there = c.submit(add_through, fut, 10, workers=[workers[1].address], pure=False)
    pickled = c.submit(add_through, counter, 100, pure=False)
    assert sorted([here.result(), there.result(), pickled.result()])[-1] == 111
    assert counter.n == 111


def test_map_actors(c):
    futures = c.map(Counter, [1, 2, 3], actor=True)
    counters = c.gather(futures)
    assert [a.increment(10).result() for a in counters] == [11, 12, 13]
    assert len({f.key for f in futures}) == 3


def test_calls_bypass_the_scheduler(c, servers):
    s, _ = servers
    counter = c.submit(Counter, actor=True).result()
    before = on_loop(lambda: (len(s.state.tasks), len(s.story())))
    for _ in range(20):
        counter.increment().result()
    assert counter.n == 20
    assert on_loop(lambda: (len(s.state.tasks), len(s.story()))) == before


def test_release_drops_the_instance(c):
    fut = c.submit(Counter, actor=True)
    counter = fut.result()
    key = fut.key
    unbound = pickle.loads(pickle.dumps(counter))  # (a copy holding no future)
    assert key in sum(c.run(actor_keys).values(), [])
    del fut
    gc.collect()
    assert counter.increment().result() == 1  # the proxy still holds the actor
    del counter
    gc.collect()
    deadline = time.monotonic() + 10
    while sum(c.run(actor_keys).values(), []):
        assert time.monotonic() < deadline, "the worker kept the actor"
        time.sleep(0.05)
    with pytest.raises(ValueError, match=f"actor '{key}' is not held"):
        unbound.increment().result()


def test_worker_death_fails_calls_with_the_key(c, servers):
    _, workers = servers
    fut = c.submit(Counter, actor=True, workers=[workers[1].address])
    counter = fut.result()
    assert counter.increment().result() == 1
    get_runner().sync(workers[1].close)
    start = time.monotonic()
    with pytest.raises(ActorLostError, match=fut.key):
        counter.increment().result(timeout=20)
    assert time.monotonic() - start < 10


@gen_cluster(nworkers=1)
async def test_asynchronous_client_awaits(s, a):
    async with Client(s.address, asynchronous=True) as c:
        counter = await c.submit(Counter, 1, actor=True)
        assert await counter.increment() == 2
        assert await counter.aincrement() == 3
        assert await counter.n == 3
        with pytest.raises(ZeroDivisionError):
            await counter.fail()


def test_rebalance_and_replicate_leave_actors_in_place(c, servers):
    s, workers = servers
    home = workers[0].address
    fut = c.submit(Counter, actor=True, workers=[home])
    counter = fut.result()
    ballast = c.scatter([b"x" * 100_000 for _ in range(4)], workers=[home])
    assert on_loop(lambda: s.state.tasks[fut.key].type) == "shoal.distributed.actor.Actor"
    c.replicate([fut])
    c.rebalance()
    assert c.who_has([fut])[fut.key] == [home]
    assert c.run(actor_keys)[home] == [fut.key]
    assert counter.increment().result() == 1
    del ballast


def test_lost_actor_errs_instead_of_being_made_again(c, servers):
    _, workers = servers
    fut = c.submit(Counter, actor=True, workers=[workers[1].address], allow_other_workers=True)
    assert fut.result().increment().result() == 1
    get_runner().sync(workers[1].close)
    with pytest.raises(RuntimeError, match=f"actor '{fut.key}': the worker holding it was lost"):
        fut.result(timeout=20)
    assert c.run(actor_keys) == {workers[0].address: []}  # no new object, silently


class Gate:
    def __init__(self):
        self.opened = threading.Event()

    async def wait(self):
        while not self.opened.is_set():
            await asyncio.sleep(0.01)
        return "opened"

    def open(self):
        self.opened.set()


def test_pending_async_call_does_not_block_the_next_calls(c):
    gate = c.submit(Gate, actor=True).result()
    waiting = gate.wait()
    gate.open().result(timeout=5)  # (not queued behind the pending call: it would never end)
    assert waiting.result(timeout=5) == "opened"


class Caller:
    def through(self, other, by):
        return other.increment(by).result(timeout=5)

    async def athrough(self, other, by):
        return await other.increment(by)

    async def holder(self):
        from shoal.distributed.actor import _find_holder

        return type(_find_holder()).__name__


class SelfCaller(Counter):
    def twice(self, me):
        return [me.increment().result(timeout=5), me.n]


def test_calls_from_actor_methods_on_the_same_worker(c, servers):
    _, workers = servers
    home = [workers[0].address]
    me = c.submit(SelfCaller, actor=True, workers=home).result()
    assert me.twice(me).result(timeout=10) == [1, 1]  # (run at once, not queued: no deadlock)
    caller = c.submit(Caller, actor=True, workers=home).result()
    counter = c.submit(Counter, actor=True, workers=home).result()
    assert caller.through(counter, 2).result(timeout=10) == 2
    assert caller.athrough(counter, 3).result(timeout=10) == 5
    assert caller.holder().result(timeout=10) == "Worker"  # (not the default client)
