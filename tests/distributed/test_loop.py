"""The shared background event loop (shoal.distributed._loop)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from shoal.distributed._loop import LoopRunner, get_runner


async def add(a, b):
    await asyncio.sleep(0)
    return a + b


async def current_thread_name():
    return threading.current_thread().name


def loop_threads(name):
    return [t for t in threading.enumerate() if t.name == name]


def test_starts_on_acquire_and_stops_on_last_release():
    runner = LoopRunner(name="test-loop-a")
    assert not runner.is_running and loop_threads("test-loop-a") == []
    runner.acquire()
    runner.acquire()
    assert runner.users == 2 and len(loop_threads("test-loop-a")) == 1
    assert runner.sync(add, 1, 2) == 3
    assert runner.sync(current_thread_name) == "test-loop-a"
    runner.release()
    assert runner.is_running, "one user left: the loop keeps running"
    assert runner.sync(add, 2, 2) == 4
    runner.release()
    assert not runner.is_running and loop_threads("test-loop-a") == []


def test_restarts_after_a_full_stop():
    runner = LoopRunner(name="test-loop-b")
    first = runner.acquire()
    runner.release()
    second = runner.acquire()
    try:
        assert second is not first and first.is_closed()
        assert runner.sync(add, 3, 4) == 7
    finally:
        runner.release()


def test_release_without_acquire_is_an_error():
    with pytest.raises(RuntimeError, match="without a matching acquire"):
        LoopRunner().release()


def test_sync_needs_a_running_loop():
    with pytest.raises(RuntimeError, match="acquire"):
        LoopRunner().sync(add, 1, 2)


def test_exceptions_keep_their_type():
    async def fail():
        raise KeyError("boom")

    runner = LoopRunner(name="test-loop-c")
    runner.acquire()
    try:
        with pytest.raises(KeyError, match="boom"):
            runner.sync(fail)
    finally:
        runner.release()


def test_timeout_cancels_the_coroutine():
    cancelled = threading.Event()

    async def slow():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runner = LoopRunner(name="test-loop-d")
    runner.acquire()
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            runner.sync(slow, timeout=0.1)
        assert time.monotonic() - start < 5
        assert cancelled.wait(5)
    finally:
        runner.release()


def test_sync_from_the_loop_thread_refuses_instead_of_deadlocking():
    runner = LoopRunner(name="test-loop-e")
    runner.acquire()

    async def nested():
        return runner.sync(add, 1, 1)

    try:
        with pytest.raises(RuntimeError, match="would wait for itself"):
            runner.sync(nested)
    finally:
        runner.release()


def test_works_from_a_thread_whose_own_loop_is_running():
    """A Jupyter kernel runs cells inside its loop: sync must not touch that loop."""
    runner = LoopRunner(name="test-loop-f")
    runner.acquire()

    async def cell():
        return runner.sync(add, 20, 22)  # blocking call inside a running loop

    try:
        assert asyncio.run(cell()) == 42
    finally:
        runner.release()


def test_release_stops_pending_tasks():
    runner = LoopRunner(name="test-loop-g")
    loop = runner.acquire()
    cancelled = threading.Event()

    async def forever():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runner.call_soon(lambda: loop.create_task(forever()))
    runner.sync(add, 0, 0)  # the task has started
    runner.release()
    assert cancelled.is_set() and loop.is_closed()


def test_many_threads_share_one_loop():
    runner = LoopRunner(name="test-loop-h")
    runner.acquire()
    results = []

    def work(i):
        results.append(runner.sync(add, i, 1))

    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sorted(results) == list(range(1, 9))
        assert len(loop_threads("test-loop-h")) == 1
    finally:
        runner.release()


def test_the_process_wide_runner_is_shared():
    assert get_runner() is get_runner()
    assert isinstance(get_runner(), LoopRunner)
