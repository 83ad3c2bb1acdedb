"""Running asyncio code from plain (synchronous) tests."""

from __future__ import annotations

import asyncio

__all__ = ["run"]


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
