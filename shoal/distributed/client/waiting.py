"""Waiting on many futures: ``wait``, ``as_completed``, ``fire_and_forget``, ``futures_of``.

Nothing here polls and nothing makes one object per future: a waiter is one
callback registered on each pending :class:`FutureState` (on the client's
loop), counting down to a single asyncio future (``wait``) or pushing the
future into a ready queue (``as_completed``).

``as_completed`` serves both worlds::

    loop thread:  state done -> _on_done(future) -> [with_results: batched gather]
                  -> _push(item): append to the deque under a Condition, notify,
                     and set the asyncio.Event of async iterators
    user thread:  for f in ac          (blocks on the Condition)
    the loop:     async for f in ac    (awaits the Event)
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque, namedtuple

from shoal import config
from shoal.base import is_dask_collection
from shoal.core.spec import Data
from shoal.distributed.client.futures import Future
from shoal.local.remote_errors import raisable

__all__ = [
    "ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_EXCEPTION", "DoneAndNotDoneFutures",
    "as_completed", "fire_and_forget", "futures_of", "wait",
]  # fmt: skip

ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION = "ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_EXCEPTION"
DoneAndNotDoneFutures = namedtuple("DoneAndNotDoneFutures", ["done", "not_done"])


def futures_of(obj) -> list:
    """The futures inside ``obj``: containers, or a (persisted) collection's graph."""
    seen: dict = {}
    stack = [obj]
    while stack:
        x = stack.pop()
        t = type(x)
        if isinstance(x, Future):
            seen.setdefault(id(x), x)
        elif t is list or t is tuple or t is set or t is frozenset:
            stack.extend(x)
        elif t is dict:
            stack.extend(x.values())
        elif is_dask_collection(x):
            from shoal.base import graph_of

            for node in graph_of(x).values():
                if type(node) is Data:
                    stack.append(node.value)
                elif isinstance(node, Future):
                    stack.append(node)
    return list(seen.values())


def _client_of(futures):
    for f in futures:
        return f.client
    from shoal.distributed.client.current import default_client

    return default_client()


async def wait_states(states, *, count=None, stop_on_error: bool = False) -> None:
    """Until ``count`` of ``states`` are done (all by default), or one erred (``stop_on_error``)."""
    states = list({id(s): s for s in states}.values())
    need = len(states) if count is None else count
    done = sum(1 for s in states if s.done())
    if stop_on_error and any(s.status in ("error", "cancelled") for s in states):
        return
    if done >= need:
        return
    waiter = asyncio.get_running_loop().create_future()
    remaining = [need - done]
    pending = [s for s in states if not s.done()]

    def on_done(state):
        if waiter.done():
            return
        remaining[0] -= 1
        if remaining[0] <= 0 or (stop_on_error and state.status != "finished"):
            waiter.set_result(None)

    for s in pending:
        s.add_waiter(on_done)
    try:
        await waiter
    finally:
        for s in pending:
            s.remove_waiter(on_done)


def wait(fs, timeout=None, return_when=ALL_COMPLETED):
    """Wait until the futures are done: ``(done, not_done)`` sets.

    ``return_when`` is ``ALL_COMPLETED``, ``FIRST_COMPLETED`` or
    ``FIRST_EXCEPTION``; past ``timeout`` seconds ``TimeoutError`` is raised.
    A cancelled future raises ``FutureCancelledError``.  With an asynchronous
    client this returns an awaitable.
    """
    if isinstance(fs, Future):
        fs = [fs]
    fs = futures_of(fs)
    if not fs:
        return DoneAndNotDoneFutures(set(), set())
    client = _client_of(fs)
    return client.sync(_wait, fs, return_when, callback_timeout=timeout, waits_on=fs)


async def _wait(fs, return_when):
    states = [f._state for f in fs]
    if return_when == ALL_COMPLETED:
        await wait_states(states)
    elif return_when == FIRST_COMPLETED:
        await wait_states(states, count=min(1, len(states)))
    elif return_when == FIRST_EXCEPTION:
        await wait_states(states, stop_on_error=True)
    else:
        raise ValueError(f"return_when={return_when!r}: expected ALL_COMPLETED, FIRST_COMPLETED "
                         "or FIRST_EXCEPTION")  # fmt: skip
    done = {f for f in fs if f.done()}
    if return_when == ALL_COMPLETED:
        for f in done:
            if f.status == "cancelled":
                raise raisable(f._state.exception)
    return DoneAndNotDoneFutures(done, {f for f in fs if f not in done})


def fire_and_forget(obj) -> None:
    """Keep computing these futures on the cluster even once no Future refers to them."""
    futures = futures_of(obj)
    by_client: dict = {}
    for f in futures:
        by_client.setdefault(f.client, []).append(f.key)
    for client, keys in by_client.items():
        client._send({"op": "client-desires-keys", "keys": keys, "client": "fire-and-forget"})


class as_completed:  # noqa: N801 - Dask's spelling
    """Iterate over futures in the order they finish.

    >>> for future in as_completed(futures):          # doctest: +SKIP
    ...     print(future.result())
    >>> for future, result in as_completed(futures, with_results=True):  # doctest: +SKIP
    ...     ...

    ``add(future)`` adds one while iterating; ``batches()`` yields lists of
    whatever is done; ``count()`` is the number not yielded yet.  With
    ``with_results`` an erred future raises its exception from ``next`` (or,
    with ``raise_errors=False``, is yielded as ``(future, exception)``).
    Works with ``async for`` on the client's loop.
    """

    def __init__(self, futures=None, loop=None, with_results: bool = False,
                 raise_errors: bool = True, *, timeout=None):  # fmt: skip
        self.with_results, self.raise_errors = with_results, raise_errors
        self.timeout = config.parse_timedelta(timeout) if isinstance(timeout, str) else timeout
        self.client = None
        self.queue: deque = deque()
        self.futures: dict = {}  # future -> times added, not yielded yet
        self._condition = threading.Condition(threading.Lock())
        self._event: asyncio.Event | None = None
        self._to_fetch: list = []
        self._fetching = False
        if futures is not None:
            self.update(futures)

    # --- adding -------------------------------------------------------------------

    def update(self, futures) -> None:
        futures = list(futures)
        for f in futures:
            if not isinstance(f, Future):
                raise TypeError(f"as_completed takes futures, got {type(f).__name__}")
        if not futures:
            return
        if self.client is None:
            self.client = futures[0].client
        with self._condition:
            for f in futures:
                self.futures[f] = self.futures.get(f, 0) + 1
        by_client: dict = {}
        for f in futures:
            by_client.setdefault(f.client, []).append(f)
        for client, fs in by_client.items():
            client._call_on_loop(self._track, fs)

    def add(self, future: Future) -> None:
        self.update([future])

    def _track(self, futures: list) -> None:  # on the loop
        for future in futures:
            future._state.add_waiter(self._once(future))

    def _once(self, future: Future):
        def on_done(state):
            state.remove_waiter(on_done)
            self._on_done(future)

        return on_done

    def _on_done(self, future: Future) -> None:  # on the loop
        if not self.with_results:
            self._push(future)
            return
        if future._state.status != "finished":
            self._push((future, future._state.exception))
            return
        self._to_fetch.append(future)
        if not self._fetching:
            self._fetching = True
            asyncio.get_running_loop().create_task(self._fetch())

    async def _fetch(self) -> None:
        try:
            while self._to_fetch:
                batch, self._to_fetch = self._to_fetch, []
                try:
                    results = await future_client(batch)._gather(batch, errors="raise")
                except BaseException as exc:  # noqa: BLE001 - hand it to the iterator
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    for f in batch:
                        self._push((f, exc))
                else:
                    for f, r in zip(batch, results):
                        self._push((f, r))
        finally:
            self._fetching = False

    def _push(self, item) -> None:
        with self._condition:
            self.queue.append(item)
            self._condition.notify_all()
        if self._event is not None:
            self._event.set()

    # --- taking ---------------------------------------------------------------------

    def count(self) -> int:
        with self._condition:
            return sum(self.futures.values())

    def is_empty(self) -> bool:
        return self.count() == 0

    def has_ready(self) -> bool:
        return bool(self.queue)

    def clear(self) -> None:
        with self._condition:
            self.futures.clear()
            self.queue.clear()

    def _take(self):
        item = self.queue.popleft()
        future = item[0] if isinstance(item, tuple) else item
        n = self.futures.get(future, 0)
        if n <= 1:
            self.futures.pop(future, None)
        else:
            self.futures[future] = n - 1
        if isinstance(item, tuple) and self.raise_errors and isinstance(item[1], BaseException):
            raise raisable(item[1])
        return item

    def __iter__(self):
        return self

    def __next__(self):
        with self._condition:
            while not self.queue:
                if not self.futures:
                    raise StopIteration
                if not self._condition.wait(self.timeout if self.timeout is not None else 0.5):
                    if self.timeout is not None:
                        raise TimeoutError(f"as_completed: nothing finished within {self.timeout} s")
            return self._take()

    def __aiter__(self):
        return self

    async def __anext__(self):
        while True:
            with self._condition:
                if self.queue:
                    return self._take()
                if not self.futures:
                    raise StopAsyncIteration
            if self._event is None:
                self._event = asyncio.Event()
            self._event.clear()
            if self.queue:
                continue
            await asyncio.wait_for(self._event.wait(), self.timeout)

    def next_batch(self, block: bool = True) -> list:
        """Everything done now (waiting for at least one when ``block``)."""
        batch = []
        if block:
            try:
                batch.append(next(self))
            except StopIteration:
                return batch
        with self._condition:
            while self.queue:
                batch.append(self._take())
        return batch

    def batches(self):
        """Yield lists of done items until every future was yielded."""
        while True:
            batch = self.next_batch(block=True)
            if not batch:
                return
            yield batch

    def __len__(self) -> int:
        return self.count()


def future_client(futures):
    return futures[0].client
