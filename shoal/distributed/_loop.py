"""One asyncio event loop in a background thread, shared by clients and clusters.

A synchronous ``Client`` (or ``LocalCluster``) keeps its comms, streams and
timers on an event loop that must keep running between the user's calls, and
the user's thread may already be running a loop of its own (a Jupyter kernel):
calling ``loop.run_until_complete`` there fails.  So the sync facades run their
async cores on a loop that lives in a daemon thread::

    user thread                               "shoal-loop" thread (daemon)
    -----------                               ----------------------------
    runner.acquire()          -- starts -->   loop.run_forever()
    runner.sync(coro_fn, ...) -- run_coroutine_threadsafe -->  await coro_fn(...)
        blocks on the concurrent future  <-- result / exception --
    runner.release()          -- last user: cancel tasks, shut down, join -->

The runner is reference counted: the thread starts on the first
:meth:`LoopRunner.acquire` and stops when the last user calls
:meth:`LoopRunner.release`, so a closed client leaves no thread behind.
:func:`get_runner` returns the process-wide runner that every sync client and
cluster shares (one thread, however many clients).

``sync`` refuses to run on the loop's own thread (it would wait for itself):
code running on that loop must ``await`` the coroutine instead.  Code on another
loop (a notebook cell's top-level ``await`` with a synchronous client) awaits
:func:`on_loop`, which runs the coroutine here and hands its result over.  After
``os.fork`` the child forgets the parent's (now absent) thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from shoal.local.remote_errors import RemoteTraceback

__all__ = ["LoopRunner", "get_runner", "on_loop"]

logger = logging.getLogger(__name__)

#: How long ``release`` waits for the loop thread to finish its shutdown.
_JOIN_TIMEOUT = 10.0


class LoopRunner:
    """A reference-counted event loop running in a daemon thread.

    >>> runner = LoopRunner()
    >>> loop = runner.acquire()
    >>> async def add(a, b):
    ...     return a + b
    >>> runner.sync(add, 1, 2)
    3
    >>> runner.release()
    >>> runner.is_running
    False
    """

    def __init__(self, name: str = "shoal-loop"):
        self.name = name
        self._lock = threading.Lock()
        self._users = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    # --- lifetime -------------------------------------------------------------------

    def acquire(self) -> asyncio.AbstractEventLoop:
        """Count one more user; start the loop thread if it is not running."""
        with self._lock:
            self._check_fork()
            if self._loop is None:
                self._start()
            self._users += 1
            return self._loop

    def release(self) -> None:
        """Count one user less; the last one stops the loop and joins its thread."""
        with self._lock:
            self._check_fork()
            if self._users <= 0:
                raise RuntimeError(f"{self!r}: release() without a matching acquire()")
            self._users -= 1
            if self._users:
                return
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        _stop(loop, thread)

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        thread = threading.Thread(target=_run_forever, args=(loop, started), name=self.name,
                                  daemon=True)  # fmt: skip
        thread.start()
        started.wait()
        self._loop, self._thread = loop, thread

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:  # the thread did not survive the fork
            self._pid = os.getpid()
            self._users, self._loop, self._thread = 0, None, None

    # --- facts ------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The running loop, or None while no one holds the runner."""
        return self._loop

    @property
    def users(self) -> int:
        return self._users

    @property
    def is_running(self) -> bool:
        return self._loop is not None

    def in_loop_thread(self) -> bool:
        """True when called from the runner's own thread."""
        thread = self._thread
        return thread is not None and threading.current_thread() is thread

    # --- calling into the loop ----------------------------------------------------------

    def sync(self, func, *args, timeout=None, **kwargs):
        """Run ``await func(*args, **kwargs)`` on the loop; block for its result.

        ``func`` is called on the loop thread (so it may touch loop-bound
        objects before its first ``await``).  Past ``timeout`` seconds the call
        is cancelled and ``TimeoutError`` raised; a ``KeyboardInterrupt`` while
        waiting cancels it too.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError(f"{self!r} is not running: acquire() it first")
        if self.in_loop_thread():
            name = getattr(func, "__qualname__", repr(func))
            raise RuntimeError(
                f"cannot run {name} synchronously from the event loop's own thread "
                "(it would wait for itself); await it instead"
            )

        async def guarded():
            try:
                return await func(*args, **kwargs)
            except (KeyboardInterrupt, SystemExit) as exc:  # a task's: the caller's to raise,
                return _Raise(exc)  # not the loop's (asyncio would stop the loop thread)

        async def call():
            if timeout is None:
                return await guarded()
            own = []  # a TimeoutError of the call's own, not of the deadline

            async def timed():
                try:
                    return await guarded()
                except (TimeoutError, asyncio.TimeoutError):
                    own.append(True)
                    raise

            try:
                return await asyncio.wait_for(timed(), timeout)
            except (TimeoutError, asyncio.TimeoutError):
                if own:
                    raise
                raise TimeoutError(f"timed out after {timeout} s") from None

        future = asyncio.run_coroutine_threadsafe(call(), loop)
        try:
            result = future.result()
        except BaseException as exc:
            future.cancel()
            if isinstance(exc.__cause__, RemoteTraceback):  # a task's error: the frames it
                raise exc.with_traceback(None)  # passed on the loop thread are shoal's noise
            raise
        if type(result) is _Raise:
            raise result.exc
        return result

    def call_soon(self, callback, *args) -> None:
        """Schedule ``callback(*args)`` on the loop from any thread."""
        loop = self._loop
        if loop is None:
            raise RuntimeError(f"{self!r} is not running")
        if self.in_loop_thread():
            loop.call_soon(callback, *args)
        else:
            loop.call_soon_threadsafe(callback, *args)

    def __repr__(self):
        state = "running" if self._loop is not None else "stopped"
        return f"<LoopRunner {self.name!r}: {state}, {self._users} users>"


async def on_loop(coro, loop: asyncio.AbstractEventLoop):
    """``await coro`` run on ``loop``, awaited from whichever loop the caller runs:
    directly on ``loop`` itself, else handed over (cancelling the caller cancels it).
    The connections a coroutine uses belong to one loop; awaited on another, asyncio
    raises "attached to a different loop" halfway through a request."""
    if asyncio.get_running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


class _Raise:
    """A ``KeyboardInterrupt`` / ``SystemExit`` carried out of the loop to the caller."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException):
        self.exc = exc


def _run_forever(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    try:
        loop.run_forever()
    finally:
        try:
            loop.run_until_complete(_shutdown(loop))
        except Exception:  # pragma: no cover - best effort at shutdown
            logger.debug("error shutting down the loop", exc_info=True)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


async def _shutdown(loop) -> None:
    """Cancel what is left, then close async generators and the default executor."""
    tasks = [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join(_JOIN_TIMEOUT)
        if thread.is_alive():  # pragma: no cover - a task that refuses to finish
            logger.warning("the %s thread did not stop within %.0f s", thread.name, _JOIN_TIMEOUT)


_runner = LoopRunner()


def get_runner() -> LoopRunner:
    """The process-wide runner shared by synchronous clients and clusters."""
    return _runner
