"""``Client(asynchronous=True)``: the same API, awaited on the caller's own loop."""

from __future__ import annotations

import asyncio
import gc
from operator import add

import pytest

from shoal.delayed import delayed
from shoal.distributed.client import (
    Client, Future, FutureCancelledError, as_completed, futures_of, wait,
)  # fmt: skip
from shoal.testing.cluster import gen_cluster


def inc(x):
    return x + 1


def fail(x):
    raise KeyError(f"missing {x}")


@gen_cluster(nworkers=2)
async def test_submit_gather_and_friends(s, a, b):
    async with Client(s.address, asynchronous=True) as c:
        f = c.submit(inc, 1)
        assert isinstance(f, Future) and await f == 2
        assert await f.result() == 2
        fs = c.map(inc, range(10))
        assert await c.gather(fs) == list(range(1, 11))
        assert await c.gather({"x": fs[0], "y": [fs[1]]}) == {"x": 1, "y": [2]}
        [x, y] = await c.scatter([10, 20])
        assert await c.submit(add, x, y) == 30
        info = await c.scheduler_info()
        assert set(info["workers"]) == {a.address, b.address}
        assert await c.nthreads() == {a.address: 1, b.address: 1}
        assert (await c.who_has([f]))[f.key]
        assert await c.run(add, 1, 1) == {a.address: 2, b.address: 2}
        assert await c.run_on_scheduler(add, 2, 2) == 4
        assert "processes=2 threads=2" in repr(c)


@gen_cluster(nworkers=1)
async def test_errors_cancel_and_retry(s, a):
    async with Client(s.address, asynchronous=True) as c:
        f = c.submit(fail, 1)
        with pytest.raises(KeyError, match="missing 1"):
            await f
        assert isinstance(await f.exception(), KeyError)
        assert "fail" in await f.traceback()
        slow = c.submit(asyncio_unfriendly_sleep, 5, pure=False)
        await c.cancel([slow])
        with pytest.raises(FutureCancelledError):
            await slow
        await c.retry([f])
        with pytest.raises(KeyError):
            await f


def asyncio_unfriendly_sleep(seconds):
    import time

    time.sleep(min(seconds, 0.5))
    return seconds


@gen_cluster(nworkers=2)
async def test_wait_and_as_completed(s, a, b):
    async with Client(s.address, asynchronous=True) as c:
        fs = c.map(inc, range(5))
        done, not_done = await wait(fs)
        assert done == set(fs) and not not_done
        seen = []
        async for f in as_completed(c.map(inc, range(5, 10))):
            seen.append(await f)
        assert sorted(seen) == list(range(6, 11))
        pairs = []
        async for f, r in as_completed(c.map(inc, range(3)), with_results=True):
            pairs.append(r)
        assert sorted(pairs) == [1, 2, 3]


@gen_cluster(nworkers=2)
async def test_compute_persist_get(s, a, b):
    async with Client(s.address, asynchronous=True) as c:
        x = delayed(inc)(1)
        f = c.compute(x)
        assert await f == 2
        px = c.persist(delayed(add)(x, 10))
        await wait(futures_of(px))
        assert await c.compute(delayed(inc)(px)) == 13
        assert await c.get({"a": 1, "b": (inc, "a")}, ["b"]) == [2]
        assert await c.compute(x, sync=True) == 2


@gen_cluster(nworkers=1)
async def test_release_on_garbage_collection(s, a):
    async with Client(s.address, asynchronous=True) as c:
        f = c.submit(inc, 1)
        key = f.key
        await f
        del f
        gc.collect()
        for _ in range(200):
            if key not in s.state.tasks:
                break
            await asyncio.sleep(0.01)
        assert key not in s.state.tasks


@gen_cluster(nworkers=1)
async def test_await_client_and_close(s, a):
    c = await Client(s.address, asynchronous=True)
    try:
        assert c.status == "running"
        assert await c.submit(inc, 1) == 2
    finally:
        await c.close()
    assert c.status == "closed"
    with pytest.raises(TypeError, match="async with"):
        with c:
            pass
