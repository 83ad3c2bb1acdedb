"""Futures: handles on remote results, one shared state object per key.

::

    Future("inc-1f2e")  ──┐
    Future("inc-1f2e")  ──┼──> FutureState("inc-1f2e")   (client.futures[key], refs = 2)
                          │      status: pending -> finished | error | cancelled
                          │               finished -> lost -> pending (a worker died; recomputed)
                          │      _event:   an asyncio.Event, made only when someone awaits
                          │      _waiters: callbacks (gather, wait, as_completed) told on "done"
    last Future of a key garbage-collected -> client.releases it -> "client-releases-keys"

Every change of a :class:`FutureState` happens on the client's event loop
(the stream reader applies the scheduler's reports), so the state needs no
lock; other threads only *read* ``status``.  Reference counts change in any
thread (``Future.__del__`` runs wherever the garbage collector does) and are
guarded by the client's lock (see ``Client._ref`` / ``Client._unref``).

A task's exception arrives as the worker packed it
(:func:`shoal.local.remote_errors.pack_exception`): :func:`unpack_error`
rebuilds the original type and message, with the worker's traceback text as
``__cause__`` and a note naming the key, or a ``RemoteTaskError`` when the
exception could not travel.
"""

from __future__ import annotations

import _thread
import asyncio
import concurrent.futures
import html
import pickle
import sys
import threading

from shoal.core.errortext import message_of
from shoal.core.keys import key_str
from shoal.distributed.protocol import Serialized
from shoal.local.remote_errors import RemoteTaskError, RemoteTraceback, add_note, raisable
from shoal.local.remote_frames import traceback_from_text

__all__ = ["Future", "FutureCancelledError", "FutureState", "unpack_error"]

_DONE = frozenset({"finished", "error", "cancelled"})


def _interrupt_again() -> None:
    """Raise a Ctrl-C that came while a ``__del__`` ran (Python drops its exceptions) once
    more in the main thread, a moment later, from a timer: where the user's code runs."""
    if threading.current_thread() is threading.main_thread():
        shell = _ipython_shell()
        cell = getattr(shell, "execution_count", None)

        def interrupt():  # (not once the cell has ended: it would stop the next one)
            if getattr(shell, "execution_count", None) == cell:
                _thread.interrupt_main()

        try:
            threading.Timer(0.05, interrupt).start()
        except RuntimeError:  # (interpreter shutdown)
            pass


def _ipython_shell():
    """The running IPython shell (a notebook's kernel), or None."""
    ipython = sys.modules.get("IPython")
    try:
        return ipython.get_ipython() if ipython is not None else None
    except Exception:  # noqa: BLE001 - a half-imported IPython
        return None


class FutureCancelledError(concurrent.futures.CancelledError):
    """The result of ``key`` was cancelled (by ``cancel``, a restart, or the scheduler)."""

    def __init__(self, key, reason: str = ""):
        super().__init__(key, reason)
        self.key, self.reason = key, reason

    def __str__(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return f"the computation of {key_str(self.key)} was cancelled{why}"


class FutureState:
    """What the client knows about one key; shared by all its ``Future`` objects."""

    __slots__ = ("key", "status", "type", "exception", "traceback", "refs", "_event", "_waiters")

    def __init__(self, key):
        self.key = key
        self.status = "pending"
        self.type = None  # the result's type name, once finished
        self.exception = None
        self.traceback = None  # the worker's traceback text
        self.refs = 0
        self._event: asyncio.Event | None = None
        self._waiters: list | None = None

    def done(self) -> bool:
        return self.status in _DONE

    # --- changes (on the client's loop) --------------------------------------------------

    def finish(self, type=None) -> None:
        self.status, self.type = "finished", type
        self._fire()

    def set_error(self, exception, traceback=None) -> None:
        self.status, self.exception, self.traceback = "error", exception, traceback
        self._fire()

    def cancel(self, reason: str = "") -> None:
        if self.status == "cancelled":
            return
        self.status = "cancelled"
        self.exception = FutureCancelledError(self.key, reason)
        self._fire()

    def lose(self) -> None:
        """The result was lost with its worker; the scheduler computes it again."""
        self.status, self.type = "lost", None
        if self._event is not None:
            self._event.clear()

    def reset(self) -> None:
        """Pending again (``retry``)."""
        self.status, self.type, self.exception, self.traceback = "pending", None, None, None
        if self._event is not None:
            self._event.clear()

    def _fire(self) -> None:
        if self._event is not None:
            self._event.set()
        if self._waiters:
            for waiter in list(self._waiters):
                waiter(self)

    # --- observers (on the client's loop) ------------------------------------------------

    async def wait(self) -> None:
        if self.status in _DONE:
            return
        if self._event is None:
            self._event = asyncio.Event()
        await self._event.wait()

    def add_waiter(self, fn) -> None:
        """Call ``fn(state)`` on every change to a done status (at once if done now)."""
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fn)
        if self.status in _DONE:
            fn(self)

    def remove_waiter(self, fn) -> None:
        try:
            self._waiters.remove(fn)
        except (AttributeError, ValueError):
            pass

    def __repr__(self) -> str:
        return f"<FutureState {self.key!r} {self.status}>"


class Future:
    """A remote result of ``key``, computed on the cluster of ``client``.

    Futures of the same key share one :class:`FutureState`; the key is released
    on the cluster when the last of them is garbage-collected (or ``release``d).
    With an asynchronous client, ``result``, ``exception`` and ``traceback``
    return awaitables and ``await future`` gives the result.
    """

    __slots__ = ("key", "client", "_state", "_released", "__weakref__")
    # Dask's graphs take an object with this flag as a reference to its ``key`` (as
    # dask.distributed's Future): a persisted Dask collection's futures stay inputs
    __dask_future__ = True

    def __init__(self, key, client=None, inform: bool = True, state=None):
        self._released = True  # (until it holds the key: __del__ of one that failed here)
        if client is None:
            from shoal.distributed.client.current import default_client

            client = default_client()
        self.key = key
        self.client = client
        self._released = False
        self._state = client._ref(key, inform=inform) if state is None else state

    # --- status ------------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self._state.status

    @property
    def type(self):
        return self._state.type

    def done(self) -> bool:
        return self._state.done()

    def cancelled(self) -> bool:
        return self._state.status == "cancelled"

    # --- results -----------------------------------------------------------------------

    def result(self, timeout=None):
        """The value (blocking up to ``timeout`` seconds), or raise the task's exception."""
        return self.client.sync(self._result, callback_timeout=timeout, waits_on=(self,))

    async def _result(self, raiseit: bool = True):
        await self._state.wait()
        state = self._state
        if state.status == "error":
            if raiseit:
                raise raisable(state.exception)
            return state.exception
        if state.status == "cancelled":
            if raiseit:
                raise raisable(state.exception)
            return state.exception
        return await self.client._gather_one(self)

    def exception(self, timeout=None):
        """The task's exception once it is done (None when it succeeded)."""
        return self.client.sync(self._exception, callback_timeout=timeout, waits_on=(self,))

    async def _exception(self):
        await self._state.wait()
        return self._state.exception if self._state.status == "error" else None

    def traceback(self, timeout=None):
        """The traceback object of the task's exception, its frames the worker's (for
        ``traceback.format_tb``; None when it succeeded).  The text: ``exception().__cause__``."""
        return self.client.sync(self._traceback, callback_timeout=timeout, waits_on=(self,))

    async def _traceback(self):
        await self._state.wait()
        return traceback_from_text(self._state.traceback) if self._state.status == "error" else None

    def __await__(self):
        return self._result().__await__()

    # --- actions -------------------------------------------------------------------------

    def cancel(self, force: bool = False, reason: str = ""):
        """Stop computing this key (``force``: for every client)."""
        return self.client.cancel([self], force=force, reason=reason)

    def retry(self):
        """Compute an erred key again (and the erred tasks it depends on)."""
        return self.client.retry([self])

    def add_done_callback(self, fn) -> None:
        """Call ``fn(future)`` once this future is done (in the client's callback thread)."""
        self.client._add_done_callback(self, fn)

    def release(self) -> None:
        """Drop this handle now instead of waiting for garbage collection."""
        if not self._released:
            self._released = True
            self.client._unref(self.key, self._state)

    def __del__(self):
        if not self._released:
            self._released = True
            try:
                self.client._unref(self.key, self._state)
            except KeyboardInterrupt:  # a Ctrl-C landed here, where Python drops it
                _interrupt_again()
            except Exception:  # interpreter shutdown, a half-built client
                pass

    # --- protocols ----------------------------------------------------------------------

    def __dask_tokenize__(self):
        return ("shoal.Future", self.key)

    def __reduce__(self):
        return (_future_in_this_process, (self.key,))

    def __repr__(self) -> str:
        state = self._state
        if state.status == "finished" and state.type:
            return f"<Future: finished, type: {_short_type(state.type)}, key: {key_str(self.key)}>"
        if state.status == "error":
            return f"<Future: error, key: {key_str(self.key)}>"
        return f"<Future: {state.status}, key: {key_str(self.key)}>"

    def _repr_html_(self) -> str:
        state = self._state
        color = {"finished": "#1f77b4", "error": "#d62728", "cancelled": "#7f7f7f"}.get(
            state.status, "#ff7f0e")
        text = f"<b>Future: {html.escape(key_str(self.key))}</b> status: " \
               f'<span style="color: {color}">{html.escape(state.status)}</span>'
        if state.status == "finished" and state.type:
            text += f", type: {html.escape(_short_type(state.type))}"
        return text


def _short_type(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _future_in_this_process(key):
    """Unpickle a Future: bound to this process's default client.  A process with none
    got it inside some data (on a worker: inside a task's data, not as its input)."""
    try:
        return Future(key)
    except ValueError:
        raise ValueError(
            f"a Future of {key_str(key)!r} was unpickled in a process with no running Client. "
            "On a worker this is a Future inside a task's data rather than one of its inputs: "
            "a graph holding Futures (a Dask collection persisted on a shoal Client, then "
            "optimized by Dask, fuses them in) must be computed with client.compute(...) or "
            "shoal.compute(...), which send them as inputs"
        ) from None


# --- errors from workers -------------------------------------------------------------


def unpack_error(exception, traceback, key):
    """``(exception, traceback text)`` from a task-erred report for ``key``.

    ``exception`` is the worker's packed tuple (see the module docstring), or an
    exception object the scheduler made itself (``KilledWorker``), either one
    possibly still :class:`Serialized`.
    """
    try:
        exception = _loads(exception)
        traceback = _loads(traceback)
    except Exception as exc:  # noqa: BLE001 - cannot unpickle here: keep the text
        exception = RemoteTaskError(type(exc).__name__, f"the task's error could not be "
                                    f"unpickled in the client: {message_of(exc)}")  # fmt: skip
    text = traceback if isinstance(traceback, str) else None
    stage = "run"
    if isinstance(exception, (tuple, list)) and len(exception) == 5:
        exception, text, stage = rebuild_packed(exception)
    if not isinstance(exception, BaseException):
        exception = RemoteTaskError("Exception", repr(exception))
    if text:
        exception.__cause__ = RemoteTraceback(text)
    notes = getattr(exception, "__notes__", ())
    if not any(str(n).startswith("shoal:") for n in notes):
        add_note(exception, getattr(exception, "_shoal_key", key), stage)
    return exception, text


def rebuild_packed(packed) -> tuple:
    """``(exception, traceback text, stage)`` from ``pack_exception``'s tuple: the original
    exception when it unpickles here, else a :class:`RemoteTaskError` of its type and text."""
    blob, type_name, message, text, stage = packed
    exception = None
    if blob is not None:
        try:
            exception = pickle.loads(blob)
        except Exception:  # noqa: BLE001 - a class this process cannot import
            exception = None
    if not isinstance(exception, BaseException):
        exception = RemoteTaskError(type_name, message)
    return exception, text, stage


def _loads(obj):
    return obj.deserialize() if isinstance(obj, Serialized) else obj
