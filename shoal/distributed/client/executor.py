"""``Client.get_executor``: the client as a :class:`concurrent.futures.Executor`.

::

    executor.submit(fn, *args)  -> client.submit(fn, *args, **defaults)   (a shoal Future)
                                   wrapped in a concurrent.futures.Future, settled by a
                                   done-callback (client's callback thread): result,
                                   exception or cancelled
    executor.map(fn, *its)      -> client.map(...); results in order, as an iterator;
                                   leaving it early cancels the futures not yet read
    executor.shutdown(wait)     -> wait for what was submitted (wait=True), or cancel it

As in Dask (``distributed.cfexecutor``), the futures handed out are plain
``concurrent.futures.Future`` objects, so ``concurrent.futures.wait`` and
``as_completed`` work on them; cancelling one cancels its task.  The defaults
given to ``get_executor`` are the keyword arguments of ``Client.submit`` that
make sense for every call: ``pure``, ``workers``, ``resources``,
``allow_other_workers`` and ``retries``.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
import weakref

from shoal.config_values import parse_timedelta

__all__ = ["ClientExecutor", "MakesExecutors"]

#: the ``Client.submit`` keywords an executor may fix for all its calls
DEFAULTS = frozenset({"pure", "workers", "resources", "allow_other_workers", "retries"})


class MakesExecutors:
    """``Client.get_executor`` (a mixin of :class:`~.core.Client`)."""

    def get_executor(self, **kwargs):
        """A ``concurrent.futures.Executor`` running its calls on this client's cluster;
        ``kwargs`` (``workers``, ``retries``, ...) are passed to every ``submit``."""
        return ClientExecutor(self, **kwargs)


class ClientExecutor(cf.Executor):
    """See the module docstring."""

    def __init__(self, client, **kwargs):
        unknown = set(kwargs) - DEFAULTS
        if unknown:
            raise TypeError(f"get_executor: unsupported arguments {sorted(unknown)}; "
                            f"expected some of {sorted(DEFAULTS)}")  # fmt: skip
        self._client = client
        self._kwargs = kwargs
        self._futures: weakref.WeakSet = weakref.WeakSet()
        self._shutdown = False

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        self._check_open()
        future = self._client.submit(fn, *args, **{**self._kwargs, **kwargs})
        self._futures.add(future)
        return _wrap(future)

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """``map(fn, *iterables)`` on the cluster: an iterator of the results in order."""
        self._check_open()
        timeout = parse_timedelta(timeout)
        end = None if timeout is None else time.monotonic() + timeout
        futures = self._client.map(fn, *iterables, **self._kwargs)
        self._futures.update(futures)
        return self._results(futures, end)

    def _results(self, futures, end):
        read = 0
        try:
            for future in futures:
                left = None if end is None else max(end - time.monotonic(), 0)
                try:
                    value = future.result(timeout=left)
                except TimeoutError as exc:
                    raise cf.TimeoutError(str(exc)) from exc
                read += 1
                yield value
        finally:
            rest = futures[read:]
            if rest:
                self._client.cancel(rest)

    def shutdown(self, wait=True, *, cancel_futures=False) -> None:
        """No more calls; ``wait``: until the submitted ones end, else cancel them."""
        if self._shutdown:
            return
        self._shutdown = True
        futures = list(self._futures)
        if futures and (cancel_futures or not wait):
            self._client.cancel(futures)
        elif futures:
            for future in futures:
                _settle(future)

    def _check_open(self) -> None:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")


def _wrap(future) -> cf.Future:
    """A concurrent.futures.Future following shoal ``future``; cancelling it cancels that."""
    out = cf.Future()

    def cancelled_here(done):
        if done.cancelled():
            done.set_running_or_notify_cancel()  # (wakes concurrent.futures.wait, as_completed)
            if not future.cancelled():
                future.cancel()

    out.add_done_callback(cancelled_here)
    future.add_done_callback(lambda f: _cascade(f, out))
    return out


def _cascade(future, out: cf.Future) -> None:
    """Copy shoal ``future``'s outcome (it is done) onto ``out``."""
    if out.done():
        return
    if future.status == "cancelled":
        out.cancel()  # (cancelled_here wakes concurrent.futures.wait)
        return
    try:
        out.set_result(future.result())
    except BaseException as exc:  # noqa: BLE001 - the task's own error, handed over
        out.set_exception(exc)


def _settle(future) -> None:
    """Wait until ``future`` is done, whatever its outcome."""
    try:
        future.exception()
    except BaseException:  # noqa: BLE001 - cancelled or lost: done all the same
        pass
