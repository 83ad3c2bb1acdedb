"""In-process clusters for tests: a scheduler and workers on one event loop.

::

    async with cluster(nworkers=2) as (s, workers):     # real servers, real comms
        ...                                            # (tcp:// by default, or inproc://)
    # on exit: every worker's and the scheduler's validate_state(), then close all

    with sync_cluster(nworkers=2) as (s, workers):     # the same on the shared loop thread,
        with Client(s.address) as c: ...               # for synchronous Client tests

    @gen_cluster(nworkers=2)                           # the same, as a plain test function
    async def test_x(s, a, b): ...

Both check the state machines' invariants at teardown, so a test that leaves
the scheduler or a worker inconsistent fails even when its own asserts pass.
The leak checks (threads, processes, sockets) live in the test suite's
``conftest.py``; this module only builds and tears down the cluster.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from contextlib import asynccontextmanager, contextmanager

from shoal.testing.aio import run

__all__ = ["cluster", "gen_cluster", "on_loop", "sync_cluster", "wait_until"]


@asynccontextmanager
async def cluster(nworkers: int = 2, nthreads: int = 1, protocol: str = "tcp", validate=True,
                  scheduler_options=None, worker_options=None):  # fmt: skip
    """A running :class:`Scheduler` and ``nworkers`` :class:`Worker` s in this process."""
    from shoal.distributed.scheduler.server import Scheduler
    from shoal.distributed.worker.server import Worker

    s = await Scheduler(protocol=protocol, validate=validate, **(scheduler_options or {}))
    workers = []
    try:
        options = {"nthreads": nthreads, "validate": validate, "memory_limit": None,
                   **(worker_options or {})}  # fmt: skip
        workers = list(await asyncio.gather(*(Worker(s.address, name=f"w{i}", **options).start()
                                              for i in range(nworkers))))  # fmt: skip
        yield s, workers
        for w in workers:
            if w.status == "running":
                w.state.validate_state()
        s.state.validate_state()
    finally:
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
        await s.close()


def gen_cluster(nworkers: int = 2, nthreads: int = 1, protocol: str = "tcp", timeout: float = 30,
                **options):  # fmt: skip
    """Decorate ``async def test(s, w1, ..., wn, *fixtures)`` into a plain test."""

    def decorate(fn):
        @functools.wraps(fn)
        def test(*args, **kwargs):
            async def main():
                async with cluster(nworkers, nthreads, protocol, **options) as (s, workers):
                    await fn(s, *workers, *args, **kwargs)

            run(main(), timeout)

        params = list(inspect.signature(fn).parameters.values())[1 + nworkers:]
        test.__signature__ = inspect.Signature(params)
        del test.__wrapped__  # pytest must see the reduced signature, not fn's
        return test

    return decorate


@contextmanager
def sync_cluster(nworkers: int = 2, nthreads: int = 1, **options):
    """:func:`cluster` on the shared loop thread that synchronous Clients use."""
    from shoal.distributed._loop import get_runner

    runner = get_runner()
    runner.acquire()
    try:
        cm = cluster(nworkers, nthreads, **options)
        s, workers = runner.sync(cm.__aenter__)
        try:
            yield s, workers
        finally:
            runner.sync(cm.__aexit__, None, None, None)
    finally:
        runner.release()


def on_loop(fn, *args):
    """Run ``fn(*args)`` on the shared loop thread (server state is not thread-safe)."""
    from shoal.distributed._loop import get_runner

    async def call():
        return fn(*args)

    return get_runner().sync(call)


def wait_until(predicate, timeout: float = 10) -> None:
    """Poll ``predicate()`` on the loop thread until it is true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not on_loop(predicate):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)
