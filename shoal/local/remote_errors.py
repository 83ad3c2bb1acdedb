"""Carrying a task's exception out of another process, intact.

A worker process packs an exception as plain data::

    (pickled exception or None, type name, message, formatted traceback, stage)

and the parent unpacks it into an exception of the *original type and message*,
whose ``__cause__`` is a :class:`RemoteTraceback` holding the traceback text from
the worker (so the user sees the lines of their own function), with a note naming
the key.  When the exception cannot travel (it fails to pickle in the worker or to
unpickle here), the parent gets a :class:`RemoteTaskError` with the same type
name and message instead: never a hang, never a lost error.

``stage`` says where it happened: ``"unpickle-task"``, ``"run"``,
``"pickle-result"`` (in the worker) or ``"unpickle-result"`` (in the parent), or
``"unpickle-input"`` (a distributed worker, an input fetched from a peer).
"""

from __future__ import annotations

import copyreg
import pickle
import signal
import traceback

import cloudpickle

from shoal.core.errortext import message_of
from shoal.core.keys import key_str

__all__ = ["RemoteTaskError", "RemoteTraceback", "describe_exit", "failed_key", "pack_exception",
           "raisable", "unpack_exception"]



_STAGE_TEXT = {
    "unpickle-task": "while unpickling the task on a worker",
    "run": "while running the task on a worker",
    "pickle-result": "while pickling the task's result on a worker",
    "unpickle-result": "while unpickling the task's result in the parent process",
    "unpickle-input": "while unpickling an input fetched from another worker",
    "fetch-input": "while fetching an input from another worker",
    "client-unpickle-result": "while unpickling the task's result in the client",
    "pickle-task": "while pickling the task to send it to a worker process",
    "executor": "by the executor running the batch",
    "scheduler": "by the distributed scheduler",
}


class RemoteTraceback(Exception):
    """The traceback of an exception raised in another process, as text."""

    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return "\n\nTraceback on the worker:\n" + self.tb


class RemoteTaskError(Exception):
    """An exception from a worker process that could not be sent back as itself."""

    def __init__(self, type_name: str, message: str):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


#: Modules that run a task (a worker's thread, a pool's batch, the task's call): their
#: frames above the task's own are left out of the traceback text the user reads.
_RUNNING_MODULES = ("shoal.core.spec", "shoal.local.", "shoal.distributed.worker.")


def _from_the_task(tb):
    """*tb* from its first frame that is not shoal running the task; all of it when
    every frame is (an error of shoal's own, where its frames are the story)."""
    first = tb
    while first is not None and first.tb_frame.f_globals.get("__name__", "").startswith(
            _RUNNING_MODULES):  # fmt: skip
        first = first.tb_next
    return first if first is not None else tb


def pack_exception(exc: BaseException, stage: str) -> tuple:
    """Turn *exc* into plain data that always pickles.  The traceback text starts at
    the task's own code, as Dask's does (:func:`_from_the_task`)."""
    blob = _dumps_exception(exc)
    te = traceback.TracebackException(type(exc), exc, _from_the_task(exc.__traceback__))
    if blob is not None:  # shoal's note travels on the exception: said once, below the text
        te.__notes__ = [n for n in te.__notes__ or () if not str(n).startswith("shoal:")] or None
    return (blob, type(exc).__name__, message_of(exc), "".join(te.format()), stage)


def _dumps_exception(exc: BaseException) -> bytes | None:
    """*exc* pickled so that it unpickles as its own type, or None ("send the text only").
    An exception's pickle calls its class with its ``args``; a class whose ``__init__``
    takes others (``def __init__(self, a, b): super().__init__(a)``) cannot be made so
    and is pickled as its args and attributes instead (:class:`_Rebuilt`)."""
    if not _slots(exc):  # (an exception's own pickle leaves its __slots__ out)
        try:
            blob = cloudpickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.loads(blob)
            return blob
        except BaseException:  # noqa: BLE001 - any failure: try the other way, then the text
            pass
    try:
        blob = cloudpickle.dumps(_Rebuilt(exc), protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(blob)
        return blob
    except BaseException:  # noqa: BLE001
        return None


class _Rebuilt:
    """Pickles as *exc* made again without its ``__init__``: its class, args and attributes."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException):
        self.exc = exc

    def __reduce__(self):
        exc = self.exc
        state = {**getattr(exc, "__dict__", {}), **_slots(exc)}
        return _rebuild_exception, (type(exc), exc.args, state)


def _slots(exc) -> dict:
    """The attributes *exc* keeps in ``__slots__`` (set ones)."""
    return {name: getattr(exc, name) for name in copyreg._slotnames(type(exc))
            if hasattr(exc, name)}


def _rebuild_exception(cls, args, state):
    # the nearest builtin's __new__: a class's own may take other arguments (and
    # BaseException's refuses an OSError); it sets what the builtin keeps (errno, ...)
    base = next(c for c in cls.__mro__ if c.__module__ == "builtins")
    exc = base.__new__(cls, *args)
    base.__init__(exc, *args)  # (the builtin's own: an OSError's errno and strerror)
    for name, value in state.items():
        object.__setattr__(exc, name, value)
    return exc


def failed_key(exc: BaseException, key):
    """The key an error note names: a fused group's inner task that raised, when the
    exception knows it (``_shoal_key``, set by ``spec.Fused``), else *key*."""
    return getattr(exc, "_shoal_key", key)


def add_note(exc: BaseException, key, stage: str) -> BaseException:
    """Note on *exc* which key failed (:func:`failed_key`) and at which stage."""
    key = failed_key(exc, key)
    where = _STAGE_TEXT.get(stage, stage)
    note = f"shoal: raised {where}, computing key {key_str(key)}"
    if hasattr(exc, "add_note") and note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)
    return exc


def unpack_exception(packed: tuple, key) -> BaseException:
    """Rebuild the exception packed by :func:`pack_exception` for *key*."""
    blob, type_name, message, tb, stage = packed
    exc = None
    if blob is not None:
        try:
            exc = pickle.loads(blob)
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - fall back to the text
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteTaskError(type_name, message)
    elif isinstance(exc, SystemExit) and exc.code is None and exc.args:
        # some pickling hooks (tblib's, which dask.distributed installs on import)
        # rebuild SystemExit without running __init__, losing ``code``
        exc.code = exc.args[0]
    exc.__cause__ = RemoteTraceback(tb)
    return add_note(exc, key, stage)


def raisable(exc: BaseException) -> BaseException:
    """A copy of *exc* to raise, the kept exception untouched: raising a kept exception
    itself hangs on it every frame it passes through, the caller's future and a
    notebook cell's globals among them, for as long as it is kept (an erred future
    whose ``result()`` raised was never released).  A user's class is copied without
    calling its ``__init__`` again (its arguments, attributes, notes, cause and
    context as they are; a builtin one's ``__init__`` only parses its arguments, so
    it runs); an exception that cannot be copied is raised itself.  Not
    ``copy.copy``: its result depends on who patched ``__reduce_ex__`` (tblib)."""
    cls = type(exc)
    try:
        fresh = cls.__new__(cls, *exc.args)
        if cls.__module__ == "builtins":  # its __init__ parses args into attributes
            cls.__init__(fresh, *exc.args)  # (SystemExit.code...), nothing else
        fresh.__dict__.update(exc.__dict__)
        if isinstance(exc, OSError):  # (attributes outside args and __dict__)
            for name in ("filename", "filename2"):
                if getattr(exc, name) is not None:
                    setattr(fresh, name, getattr(exc, name))
    except Exception:  # noqa: BLE001 - a class that takes no such copy: raise it as is
        return exc.with_traceback(None)
    if "__notes__" in exc.__dict__:
        fresh.__notes__ = list(exc.__notes__)  # (a note the caller adds stays its own)
    fresh.__cause__, fresh.__context__ = exc.__cause__, exc.__context__
    fresh.__suppress_context__ = exc.__suppress_context__
    return fresh.with_traceback(None)


def describe_exit(returncode) -> str:
    """Human text for a Popen return code.

    >>> describe_exit(-11), describe_exit(3)
    ('from signal SIGSEGV (-11)', 'with exit code 3')
    """
    if returncode is None:
        return "for an unknown reason"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"from signal {name} ({returncode})"
    return f"with exit code {returncode}"
