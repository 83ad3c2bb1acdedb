"""What a task running on a worker may ask about where it runs, and how it waits for
other tasks without holding one of its worker's threads.

::

    get_worker()         the Worker running this task (ValueError elsewhere);
                         its get_current_task(): the key this thread runs
    get_client()         in a task: the worker's client of its scheduler, made on first use
                         (or the process's default client, when it talks to that
                         scheduler); elsewhere the default client
    secede() / rejoin()  leave the worker's thread pool while waiting / take a slot back
    worker_client()      a with-block: get_client(), seceded until the block ends

A task that waits for other tasks holds a thread, and on a worker with one
thread the tasks it waits for could never start there.  So a synchronous
client's call made on a task thread that waits on unfinished futures
(``compute``, ``gather``, ``Future.result``, ``wait``) secedes for the wait and
rejoins after (:func:`seceded`, ``Client.sync(waits_on=...)``; a cheap call, or
one on finished futures, keeps the thread), and ``compute()`` in a task with no
scheduler named runs on the worker's client (:func:`_task_client_get`, the first
of ``shoal.base``'s client lookups).  Dask secedes in ``Client.get`` only: there,
``get_client().submit(f).result()`` in a task waits for good on a full cluster.

A seceded task is reported as long-running: the worker (``handlers._secede``) and
the scheduler (``long-running``) no longer count it against the worker's threads.
The threads' side is :meth:`~shoal.distributed.worker.threads.TaskThreads.secede`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from shoal.base import register_client_lookup
from shoal.distributed.worker.threads import current

__all__ = ["KnowsCurrentTask", "TaskClient", "get_client", "get_worker", "rejoin", "secede", "seceded", "worker_client"]

logger = logging.getLogger(__name__)


def _pool():
    """The worker's TaskThreads running the calling task, or None off a worker's task."""
    found = current()
    return found[0] if found is not None and found[0].owner is not None else None


def _task(what: str):
    pool = _pool()
    if pool is None:
        raise ValueError(f"{what}: this thread runs no task of a shoal worker (call it inside a "
                         "task running on a distributed cluster)")  # fmt: skip
    return pool


def get_worker():
    """The :class:`~shoal.distributed.worker.server.Worker` running the calling task."""
    return _task("get_worker()").owner


class KnowsCurrentTask:
    """Mixin of :class:`~shoal.distributed.worker.server.Worker`: ``get_current_task``."""

    def get_current_task(self):
        """The key of the task this thread runs for this worker (``ValueError`` elsewhere)."""
        found = current()
        if found is None or found[0].owner is not self:
            raise ValueError(f"get_current_task(): this thread runs no task of worker "
                             f"{getattr(self, 'address', None)}")  # fmt: skip
        return found[1].key


def get_client(address=None, timeout=None):
    """A synchronous client: in a task, one of the scheduler its worker serves (shared
    by the worker's tasks, closed with the worker); elsewhere the default client."""
    pool = _pool()
    if pool is None:
        from shoal.distributed.client.current import default_client

        client = default_client()
        if address is not None and client.scheduler_address != address:
            raise ValueError(f"get_client(address={address!r}): the default client talks to "
                             f"{client.scheduler_address}; connect with Client({address!r})")
        return client
    worker = pool.owner
    if address is not None and address != worker.scheduler_address:
        raise ValueError(f"get_client(address={address!r}): this task's worker serves "
                         f"{worker.scheduler_address}; connect with Client({address!r})")
    return worker.task_client.get(timeout)


def secede() -> None:
    """Leave the worker's thread pool until :func:`rejoin` or the task's end: the worker
    starts another task in this one's place (call it before waiting on other tasks)."""
    _task("secede()").secede()


def rejoin() -> None:
    """Back into the worker's thread pool after :func:`secede`: waits for a free slot."""
    _task("rejoin()").rejoin()


@contextlib.contextmanager
def worker_client(timeout=None, separate_thread=True):
    """``with worker_client() as client:`` in a task: submit and gather from the task,
    seceded for the block (``separate_thread=False``: holding the thread)."""
    pool = _task("worker_client()")
    client = get_client(timeout=timeout)
    left = separate_thread and pool.secede()
    try:
        yield client
    finally:
        if left:
            pool.rejoin()


@contextlib.contextmanager
def seceded(waits_on=()):
    """For a client call that waits on the futures *waits_on*: on a task thread still in
    the pool, while one of them is unfinished, secede for the block and rejoin after;
    anywhere else, nothing (a cheap call, or one on finished futures, keeps the thread)."""
    pool = _pool()
    if pool is None or all(f.done() for f in waits_on) or not pool.secede():
        yield
        return
    try:
        yield
    finally:
        pool.rejoin()


class TaskClient:
    """The client a worker's tasks share: made on first use, closed with the worker.

    Its lock guards two assignments only, never a connection: the client connects
    through the shared loop, which in an in-process cluster is the worker's own, and
    the worker's close (on that loop) takes the lock too."""

    def __init__(self, worker) -> None:
        self.worker = worker
        self.client = None
        self._own = False
        self._closed = False
        self._lock = threading.Lock()

    def get(self, timeout=None):
        with self._lock:
            client = self.client
            if client is not None and client.status not in ("closing", "closed"):
                return client
        if self._closed or self.worker.status != "running":
            raise RuntimeError(f"get_client(): worker {self.worker.address} is "
                               f"{'closing' if self._closed else self.worker.status}")  # fmt: skip
        made, own = self._make(timeout)
        with self._lock:
            spare = self._closed or (self.client is not None
                                     and self.client.status not in ("closing", "closed"))
            if not spare:
                self.client, self._own = made, own
            client = self.client
        if spare:  # another task made one meanwhile, or the worker closed
            if own:
                made.close()
            if self._closed:
                raise RuntimeError(f"get_client(): worker {self.worker.address} closed")
        return client

    def _make(self, timeout):
        from shoal.distributed.client import Client
        from shoal.distributed.client.current import default_client

        address = self.worker.scheduler_address
        try:
            found = default_client()
        except ValueError:
            found = None
        if (found is not None and not found.asynchronous and found.status == "running"
                and found.scheduler_address == address):  # fmt: skip
            return found, False
        client = Client(address, timeout=timeout, security=_as_client(self.worker.security),
                        set_as_default=False, name=f"client of worker {self.worker.address}")  # fmt: skip
        return client, True

    async def close(self) -> None:
        """Close the client this worker made (off the loop: its close blocks)."""
        with self._lock:  # (held for assignments only: never long)
            client, own, self.client, self._closed = self.client, self._own, None, True
        if client is None or not own:
            return
        loop = asyncio.get_running_loop()
        closed = loop.create_future()

        def close() -> None:
            try:
                client.close(timeout=5)
            except Exception as exc:  # noqa: BLE001 - the worker closes on regardless
                logger.warning("worker %s: closing its tasks' client failed: %s",
                               self.worker.address, exc)  # fmt: skip
            finally:
                loop.call_soon_threadsafe(closed.set_result, None)

        thread = threading.Thread(target=close, name="shoal-worker-client-close", daemon=True)
        thread.start()
        await closed
        thread.join()


def _as_client(security):
    """The worker's TLS settings for a client: its own certificate when none is given for
    the client role (a worker started with a worker certificate only)."""
    if security is None or getattr(security, "tls_client_cert", None) or not getattr(
            security, "tls_worker_cert", None):  # fmt: skip
        return security
    from shoal.distributed.security import Security

    return Security(tls_ca_file=security.tls_ca_file, tls_client_cert=security.tls_worker_cert,
                    tls_client_key=security.tls_worker_key,
                    tls_worker_cert=security.tls_worker_cert,
                    tls_worker_key=security.tls_worker_key,
                    require_encryption=security.require_encryption,
                    tls_ciphers=security.tls_ciphers)  # fmt: skip


def _task_client_get():
    """``shoal.base``'s lookup: on a worker's task thread, its client's ``get``."""
    pool = _pool()
    return None if pool is None else pool.owner.task_client.get().get


register_client_lookup(_task_client_get, first=True)
