"""``Client(asynchronous=True)``: the same API, awaited on the caller's own loop."""

from __future__ import annotations

import asyncio
import gc
import traceback
from operator import add

import pytest

from shoal.delayed import delayed
from shoal.distributed import get_task_stream, performance_report
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
        assert "fail" in "".join(traceback.format_tb(await f.traceback()))
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


# --- loops: a synchronous client awaited, an asynchronous one used as if blocking ---------


def test_a_request_that_failed_before_its_reply_does_not_hand_that_reply_to_the_next(c):
    """Awaited on a loop not its own, a sync client's request fails after it was sent:
    its connection, still holding the reply on its way, was reused, and every later
    request got the answer of the one before it (silently wrong results)."""
    from shoal.distributed.protocol import Pickled

    late = {"function": Pickled(_late_reply), "args": Pickled(()), "kwargs": Pickled({})}
    with pytest.raises(RuntimeError, match="different loop"):  # (its reply comes 0.3 s later:
        asyncio.run(c.scheduler.run_function(**late))          # the read waits, on that loop)
    for _ in range(3):
        assert c.sync(c.scheduler.identity)["type"] == "Scheduler"  # (not "late")
        assert isinstance(c.sync(c.scheduler.clock), float)
    assert c.submit(inc, 1).result() == 2


async def _late_reply():
    await asyncio.sleep(0.3)
    return "late"


def test_async_with_diagnostics_blocks_on_a_synchronous_client(c, tmp_path):
    """A notebook cell's top-level ``await``: ``async with`` around work done with a
    synchronous client (its requests run on the client's own loop)."""
    report = tmp_path / "report.html"

    async def cell():
        async with get_task_stream() as ts:
            c.gather(c.map(inc, range(5)))
        async with performance_report(filename=str(report)):
            c.gather(c.map(inc, range(10, 13)))
        tree = await c.profile(asynchronous=True)
        info = await c.scheduler_info(asynchronous=True)
        stream = await c.get_task_stream(asynchronous=True)
        return ts, tree, info, stream

    ts, tree, info, stream = asyncio.run(cell())
    assert len(ts.data) == 5 and {t["key"].split("-")[0] for t in ts.data} == {"inc"}
    assert "<html" in report.read_text()[:2000].lower()
    assert "count" in tree and info["type"] == "Scheduler" and len(stream) >= 8
    assert c.submit(inc, 2).result() == 3  # (and the client goes on as before)


@gen_cluster(nworkers=1)
async def test_an_asynchronous_client_says_to_await_where_a_blocking_call_is_asked(s, a):
    from shoal.distributed import get_task_stream, performance_report

    async with Client(s.address, asynchronous=True) as c:
        with pytest.raises(RuntimeError, match=r"asynchronous: use `async with get_task_stream"):
            with get_task_stream(c):
                pass
        with pytest.raises(RuntimeError, match=r"asynchronous: use `async with performance_report"):
            with performance_report(filename="never-written.html"):
                pass
        for call in (lambda: c.get_task_stream(asynchronous=False),
                     lambda: c.profile(asynchronous=False),
                     lambda: c.get({"x": (inc, 1)}, ["x"], asynchronous=False)):
            with pytest.raises(RuntimeError, match="is asynchronous: await"):
                call()
        assert await c.submit(inc, 1) == 2


@gen_cluster(nworkers=2)
async def test_an_asynchronous_clients_scheduler_info_is_a_dict_and_awaitable(s, a, b):
    """Dask's contract: the identity the client read last, at once; shoal's too: awaited,
    a fresh one."""
    async with Client(s.address, asynchronous=True) as c:
        info = c.scheduler_info()
        assert set(info["workers"]) == {a.address, b.address}
        assert len(c.scheduler_info(n_workers=1)["workers"]) == 1
        fresh = await c.scheduler_info()
        assert fresh["type"] == "Scheduler" and set(fresh["workers"]) == {a.address, b.address}
        assert len((await c.scheduler_info(n_workers=1))["workers"]) == 1
        import pickle

        assert type(pickle.loads(pickle.dumps(info))) is dict  # (a plain dict of it)
        # Dask's async clients refresh it in the background: a loop waiting for a worker
        # this way sees it come (each call reads a fresh one for the next)
        from shoal.distributed.worker.server import Worker

        async with Worker(s.address, nthreads=1) as w:
            for _ in range(200):
                if w.address in c.scheduler_info()["workers"]:
                    break
                await asyncio.sleep(0.05)
            assert w.address in c.scheduler_info()["workers"]
