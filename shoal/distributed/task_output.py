"""``shoal.distributed.print`` and ``shoal.distributed.warn``: a task's output, shown
where its user looks (a notebook cell), not only in a worker's terminal.

::

    task on a worker:  print(*args) -> builtins.print here, and
                       get_worker().log_event("print", {"args", "sep", "end", "file",
                                                         "flush", "id"})
    scheduler:         pushes the event to each client subscribed to the topic
    every Client:      subscribed to "print" and "warn" as it starts (over its stream,
                       no round trip): show_print / show_warn write it again here

Outside a task both are the builtins (``builtins.print``, ``warnings.warn``).

Each event carries an ``id``: this process's origin (a random token and its pid)
and a counter, and ``where``: the identity (host, device, inode) of the file its local
output went to.  A client shows an event only on its first sighting in its
process, and only when the local output went elsewhere: one from its own
process, or from a worker process writing to this process's own stdout or
stderr, is skipped (the line is there already: a LocalCluster's workers inherit
the kernel's descriptors, whose output ipykernel shows in the cell, as a
terminal shows it).  Of several clients of one process connected to the same
scheduler, only the first to receive it shows it (Dask prints once per client,
and twice in a notebook with a LocalCluster of processes; a notebook wants it
once).

Everything on the wire stays plain data: the warning travels as its text and the
dotted name of its category, which the client looks up among the modules it has
already imported (nothing is unpickled or imported on receipt; an unknown
category becomes ``UserWarning``).
"""

from __future__ import annotations

import builtins
import functools
import itertools
import os
import sys
import threading
import uuid
import warnings
from collections import OrderedDict

__all__ = ["print", "warn", "show_print", "show_warn", "TOPICS"]

#: Remembered event ids, per process (older ones are forgotten).
_SEEN_MAX = 4096
_seen: OrderedDict = OrderedDict()
_seen_lock = threading.Lock()
_token = uuid.uuid4().hex[:16]
_counter = itertools.count()


def _origin() -> str:
    """This process's prefix of event ids (a forked child differs by its pid)."""
    return f"{_token}-{os.getpid()}:"


def _in_task_worker():
    """The worker running the calling task, or None off a worker's task."""
    from shoal.distributed.worker.context import get_worker

    try:
        return get_worker()
    except ValueError:
        return None


# --- in the task --------------------------------------------------------------------


def print(*args, sep=" ", end="\n", file=None, flush=False) -> None:
    """``builtins.print``; in a task, the line is also shown by the clients of its
    scheduler (``file`` must then be None, ``sys.stdout`` or ``sys.stderr``)."""
    worker = _in_task_worker()
    if worker is not None:
        worker.log_event("print", _print_msg(args, sep, end, file, flush))
    # flushed on a worker: a client skips the event where this line reaches its own
    # stdout, so it must get there now (a worker's stdout to a pipe is block-buffered)
    builtins.print(*args, sep=sep, end=end, file=file, flush=flush or worker is not None)


def warn(message, category=None, stacklevel=1, source=None) -> None:
    """``warnings.warn``; in a task, the warning is also issued in the clients of its
    scheduler (there without ``stacklevel`` and ``source``, which mean nothing there)."""
    worker = _in_task_worker()
    if worker is not None:
        worker.log_event("warn", _warn_msg(message, category))
    warnings.warn(message, category, stacklevel + 1, source)


def _print_msg(args, sep, end, file, flush) -> dict:
    if file is None or file is sys.stdout:
        stream = 1
    elif file is sys.stderr:
        stream = 2
    else:
        raise TypeError(f"print in a task: file must be None, sys.stdout or sys.stderr "
                        f"(the clients print there), got {file!r}")  # fmt: skip
    for name, value in (("sep", sep), ("end", end)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"print: {name} must be None or a str, not {type(value).__name__}")
    return {"args": [str(a) for a in args], "sep": sep, "end": end, "file": stream,
            "flush": bool(flush), "id": _new_id(), "where": _identity(stream)}  # fmt: skip


def _warn_msg(message, category) -> dict:
    if isinstance(message, Warning):
        category = type(message)  # (as warnings.warn: the instance's class wins)
    elif category is None:
        category = UserWarning
    if not (isinstance(category, type) and issubclass(category, Warning)):
        raise TypeError(f"category must be a Warning subclass, not {category!r}")
    return {"message": str(message), "category": f"{category.__module__}.{category.__qualname__}",
            "id": _new_id(), "where": _identity(2)}  # fmt: skip


def _new_id() -> str:
    return f"{_origin()}{next(_counter)}"


def _identity(fd: int) -> list | None:
    """``[host, device, inode]`` of the file descriptor *fd* writes to (None: closed); the
    host, since two machines' terminals may share a device and inode."""
    try:
        st = os.fstat(fd)
    except (OSError, ValueError):
        return None
    return [_host(), st.st_dev, st.st_ino]


@functools.cache
def _host() -> str:
    import socket

    return socket.gethostname()


# --- in the client ------------------------------------------------------------------


def show_print(event) -> None:
    """The handler of topic ``"print"``: print the task's line here, once per process."""
    _, msg = event
    if not isinstance(msg, dict):  # (logged by hand: shown as it is)
        builtins.print(msg)
        return
    if not _first_sighting(msg.get("id"), msg.get("where"), 2 if msg.get("file") == 2 else 1):
        return
    file = sys.stderr if msg.get("file") == 2 else sys.stdout
    builtins.print(*msg.get("args", ()), sep=msg.get("sep"), end=msg.get("end"), file=file,
                   flush=bool(msg.get("flush")))  # fmt: skip


def show_warn(event) -> None:
    """The handler of topic ``"warn"``: issue the task's warning here, once per process."""
    _, msg = event
    if not isinstance(msg, dict):
        warnings.warn(str(msg))
        return
    if not _first_sighting(msg.get("id"), msg.get("where"), 2):
        return
    warnings.warn(str(msg.get("message", "")), _category(msg.get("category")))


#: The client's handlers, subscribed as it starts.
TOPICS = {"print": show_print, "warn": show_warn}


def _first_sighting(event_id, where=None, fd: int = 1) -> bool:
    """False for an event of this process, or whose local output went where this
    process's *fd* writes (*where*), or one a client here has shown already."""
    if where is not None and _reaches_fd(fd) and list(where) == _identity(fd):
        return False
    if not isinstance(event_id, str):
        return True
    if event_id.startswith(_origin()):
        return False
    with _seen_lock:
        if event_id in _seen:
            return False
        _seen[event_id] = None
        if len(_seen) > _SEEN_MAX:
            _seen.popitem(last=False)
    return True


def _reaches_fd(fd: int) -> bool:
    """Whether ``sys.stdout`` (*fd* 2: ``sys.stderr``) writes to a descriptor: not one
    redirected in Python (``redirect_stdout``, pytest's ``capsys``, a kernel that does
    not capture descriptors), which never sees the worker's own line."""
    try:
        (sys.stderr if fd == 2 else sys.stdout).fileno()
    except Exception:  # noqa: BLE001 - io.UnsupportedOperation, AttributeError, closed
        return False
    return True


def _category(name) -> type:
    """The Warning subclass named ``module.qualname``, from the modules imported here."""
    if isinstance(name, str):
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            found = sys.modules.get(".".join(parts[:cut]))
            for attr in parts[cut:]:
                found = getattr(found, attr, None)
            if isinstance(found, type) and issubclass(found, Warning):
                return found
    return UserWarning
