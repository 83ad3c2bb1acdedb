"""Which client is the default: the one ``compute``, ``Future`` and the diagnostics use
when none is given.

::

    with client.as_current():   -> this client, in this thread / asyncio task, for the block
    otherwise                   -> the newest running client made with set_as_default=True

``as_current`` is a context variable, so a block in one thread (or asyncio task)
does not change another's default: two clients side by side each make their own
``performance_report``.

The synchronous clients still open are kept here too (:func:`track`), and closed
as the interpreter exits (:func:`close_live_clients`).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars

from shoal.base import register_client_lookup
from shoal.distributed.client import dask_default

__all__ = ["as_current", "close_live_clients", "current_client", "default_client",
           "default_client_get", "register",
           "track", "unregister", "untrack"]

_clients: list = []  # running clients that asked to be the default, most recent last
_current: contextvars.ContextVar = contextvars.ContextVar("shoal_current_client", default=None)


def register(client) -> None:
    """*client* is running and asked to be the default (the newest is); Dask's own
    ``compute`` goes to the default client too (:mod:`.dask_default`)."""
    _clients.append(client)
    dask_default.client_registered()


def unregister(client) -> None:
    if client in _clients:
        _clients.remove(client)
    if not _clients:
        dask_default.clients_gone()


@contextlib.contextmanager
def as_current(client):
    """*client* is the default inside the block (see the module docstring)."""
    token = _current.set(client)
    try:
        yield client
    finally:
        _current.reset(token)


def default_client(c=None):
    """The client ``compute`` and ``Future`` use when none is given: the block's
    (whatever its state: a closed one says so when used), else the newest running."""
    if c is not None:
        return c
    current = _current.get()
    if current is not None:
        return current
    for client in reversed(_clients):
        if client.status == "running":
            return client
    raise ValueError("No running Client: start one with `from shoal.distributed import Client; "
                     "client = Client()` (or Client('tcp://scheduler-address:8786'))")  # fmt: skip


def current_client(allow_global: bool = True):
    """``Client.current()``: the client of the ``as_current`` block; outside one, the
    default client (``allow_global``) or a ``ValueError``."""
    client = _current.get()
    if client is not None:
        return client
    if not allow_global:
        raise ValueError("No current client: not inside a `with client.as_current():` block "
                         "(allow_global=True falls back to the default client)")  # fmt: skip
    return default_client()


def default_client_get(dsk, keys, **kwargs):
    """The ``get`` of the default client (the scheduler named "distributed")."""
    return default_client().get(dsk, keys, **kwargs)


def _lookup_default_get():
    current = _current.get()
    if current is not None:
        return current.get
    for client in reversed(_clients):
        if client.status == "running" and not client.asynchronous:
            return client.get
    return None


register_client_lookup(_lookup_default_get)


_live: set = set()  # synchronous clients not closed yet


def track(client) -> None:
    """*client* (synchronous) runs: it is closed at interpreter exit unless closed before."""
    _live.add(client)


def untrack(client) -> None:
    _live.discard(client)


def close_live_clients() -> None:  # pragma: no cover - runs at interpreter exit
    """Close the synchronous clients still open, as the interpreter exits (a script
    that never called ``close()``): their connection's tasks, still pending on the
    shared loop when it was torn down, made asyncio print "Task was destroyed but it
    is pending!".  Clients close before the clusters (``deploy.local``)."""
    for client in list(_live):
        try:
            client.close(timeout=5)
        except Exception:  # noqa: BLE001 - exiting: the next one still closes
            pass


atexit.register(close_live_clients)
