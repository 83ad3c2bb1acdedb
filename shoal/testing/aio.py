"""Running asyncio code from plain (synchronous) tests."""

from __future__ import annotations

import asyncio

__all__ = ["cancel_after", "run"]


def run(coro, timeout=20):
    """``asyncio.run(coro)`` with a deadline: past *timeout* seconds it is cancelled.

    A hang becomes a ``CancelledError`` in the test instead of a stuck run.
    """

    async def guarded():
        handle = asyncio.get_running_loop().call_later(timeout, asyncio.current_task().cancel)
        try:
            return await coro
        finally:
            handle.cancel()

    return asyncio.run(guarded())


async def cancel_after(coro, steps: int) -> None:
    """Run *coro* as a task for *steps* turns of the loop, then cancel it and wait for
    it to end (whatever it raised is dropped): a caller cancelled at that point."""
    task = asyncio.ensure_future(coro)
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
