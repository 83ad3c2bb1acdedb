"""The distributed ``Client``: an async core with thin synchronous facades.

::

    user thread                              the client's event loop
    -----------                              -----------------------
    submit / map / compute / persist / get
      key naming, Task building, pickling     (done here, off the loop)
      FutureState per new key (refs += 1)
      _send(update-graph) -- call_soon_threadsafe -->  BatchedSend ──> scheduler stream
                                                       stream reader <── key-in-memory,
    gather / result / scatter / run / ...                  task-erred, cancelled-keys, ...
      sync(self._gather, ...) -- run_coroutine_threadsafe -->  await states; rpc gather
    Future.__del__ (any thread)
      _unref: refs -= 1; last one -> pending release -- flushed once per loop turn -->
                                                       "client-releases-keys"
    scatter: new FutureStates, then _mark_stream(): due releases + a marker on the stream;
      rpc scatter(stream_mark=n) -- the scheduler first waits for marker n on the stream,
      so a release made before the scatter never lands after it (batched.py)

A synchronous client runs its loop on the shared background thread of
:mod:`shoal.distributed._loop` (started by the first client or cluster,
stopped after the last one closes), so it works from a thread that already runs
a loop, such as a Jupyter kernel's.  ``Client(asynchronous=True)`` runs on the
caller's loop instead: every method that talks to the cluster returns an
awaitable, and ``await Client(asynchronous=True)`` / ``async with`` starts it.

The client's state is one :class:`FutureState` per key (``self.futures``) with
a reference count; it changes only on the loop (the stream reader applies the
scheduler's reports), while counts change in any thread (see :mod:`.table`).
The methods that act on the cluster itself (``run``, ``restart``, ``who_has``,
``wait_for_workers``, ...) live in :mod:`.control`, collections in :mod:`.compute`,
diagnostics in :mod:`.diagnostics`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from shoal import config
from shoal.distributed import _loop
from shoal.distributed.client import compute as C
from shoal.distributed.client import diagnostics as D
from shoal.distributed.client import results
from shoal.distributed.client.connection import Connection, target
from shoal.distributed.client import actors, current, datasets, info, placement, plugins
from shoal.distributed.client.scattering import ScatterControl
from shoal.distributed.client.control import ClusterControl
from shoal.distributed.client.current import default_client, default_client_get
from shoal.distributed.client.display import client_html, client_repr, dashboard_link
from shoal.distributed.client.futures import Future, FutureState
from shoal.distributed.client.graphs import call_tasks, update_graph_msg
from shoal.distributed.client.naming import call_key, map_keys
from shoal.distributed.client.table import KeyTable
from shoal.distributed.client.waiting import futures_of
from shoal.distributed.node import Once
from shoal.distributed.worker.context import seceded

__all__ = ["Client", "default_client", "default_client_get"]

logger = logging.getLogger(__name__)

class Client(ClusterControl, plugins.PluginControl,  # (plugins.py: register_plugin...)
             placement.PlacementControl,  # (placement.py: replicate, rebalance...)
             datasets.DatasetControl, info.InfoControl, actors.ActorControl,  # (actors.py)
             ScatterControl):  # (scattering.py: scatter)
    """Connect to a shoal cluster (or start a ``LocalCluster``) and run work on it.

    ``Client()`` starts a LocalCluster (extra keyword arguments go to it);
    ``Client("tcp://host:8786")`` connects to a scheduler; ``Client(cluster)``
    to a cluster object's scheduler.  The newest client becomes the default
    scheduler of ``compute`` unless ``set_as_default=False``.
    """

    def __init__(self, address=None, loop=None, timeout=None, set_as_default=True,
                 scheduler_file=None, security=None, asynchronous=False, name=None,
                 direct_to_workers=None, heartbeat_interval=None, **cluster_kwargs):  # fmt: skip
        if loop is not None:
            raise TypeError("Client(loop=...) is not supported: a sync client runs on shoal's "
                            "own loop thread; use asynchronous=True to run on yours")  # fmt: skip
        self.id = f"Client-{uuid.uuid4().hex}"
        self.name, self.scheduler_file = name or self.id, scheduler_file
        self.asynchronous = bool(asynchronous)
        self.security = security
        self.timeout = config.checked(config.duration, "distributed.comm.timeouts.connect",
                                      timeout or None, "timeout")  # fmt: skip
        self._keys = KeyTable()
        self.futures = self._keys.states  # key -> FutureState
        self._own_cluster = False
        self._cluster_kwargs = cluster_kwargs
        self._address, self.cluster, self._scheduler_file = target(
            address, scheduler_file, self.asynchronous, self.timeout, cluster_kwargs, security)
        self._set_as_default = set_as_default
        self._release_scheduled = False
        self._unsent: deque = deque()  # numbers of messages queued for the loop, not sent yet
        self._identity: dict = {}
        self._conn: Connection | None = None
        self.scheduler = None  # the rpc proxy to the scheduler, once connected
        self._callbacks: ThreadPoolExecutor | None = None
        self._loop_thread: int | None = None
        self._runner = None
        self.loop = None
        self.status = "newly-created"
        self._closing = Once()
        self._started: asyncio.Future | None = None
        if not self.asynchronous:
            self._start_sync()

    # --- starting ------------------------------------------------------------------

    def _start_sync(self) -> None:
        if self.cluster is None and self._address is None:
            from shoal.distributed.deploy.local import LocalCluster

            self.cluster = LocalCluster(**self._cluster_kwargs, security=self.security,
                                        asynchronous=False)  # fmt: skip
            self._own_cluster = True
        self._runner = _loop.get_runner()
        self.loop = self._runner.acquire()
        try:
            self._runner.sync(self._start, timeout=self.timeout + 5)
            current.track(self)
        except BaseException:
            try:
                self._runner.sync(self._close_comms)
            finally:
                self._runner.release()
                self._runner = None
                self.status = "closed"
                if self._own_cluster:
                    self.cluster.close()
            raise

    def __await__(self):
        return self._start_async().__await__()

    async def _start_async(self):
        if not self.asynchronous:
            return self
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                if self._scheduler_file is not None and self._address is None:
                    from shoal.distributed.schedulerfile import read_scheduler_file

                    self._address = await asyncio.to_thread(
                        read_scheduler_file, self._scheduler_file, self.timeout)  # fmt: skip
                if self.cluster is None and self._address is None:
                    from shoal.distributed.deploy.local import LocalCluster

                    self.cluster = await LocalCluster(**self._cluster_kwargs, security=self.security,
                                                      asynchronous=True)  # fmt: skip
                    self._own_cluster = True
                self.loop = asyncio.get_running_loop()
                await asyncio.wait_for(self._start(), self.timeout + 5)
            except BaseException as exc:
                await self._close_comms()
                if self._own_cluster:
                    await self.cluster.close()
                self.status = "closed"
                self._started.set_exception(exc)
                self._started.exception()  # retrieved: no "never retrieved" warning
                raise
            self._started.set_result(None)
        else:
            await asyncio.shield(self._started)
        return self

    async def _start(self) -> None:
        self.status = "connecting"
        if self.cluster is not None and self.security in (None, True):  # as Dask's: the
            self.security = getattr(self.cluster, "security", None)      # cluster's own
        self._loop_thread = threading.get_ident()
        self._conn = Connection(self.scheduler_address, self.id, timeout=self.timeout,
                                security=self.security)  # fmt: skip
        self.scheduler = self._conn.scheduler
        await self._open_stream()  # (topics.py: also subscribes to "print" and "warn")
        self._identity = await self.scheduler.identity()
        self.status = "running"
        if self._set_as_default:
            current.register(self)

    @property
    def scheduler_address(self) -> str | None:
        if self.cluster is not None:
            return self.cluster.scheduler_address
        return self._address

    def as_current(self):
        """A ``with`` block in which this client is the default (``compute``,
        ``performance_report``, ``get_task_stream``), in this thread or task only."""
        return current.as_current(self)

    @property
    def dashboard_link(self) -> str | None:
        """The scheduler's dashboard URL (``distributed.dashboard.link``), None if it has none."""
        return dashboard_link(self)

    # --- the facade -------------------------------------------------------------

    def sync(self, func, *args, asynchronous=None, callback_timeout=None, waits_on=None, **kwargs):
        """Run the coroutine function ``func``: awaitable when asynchronous, else its result.

        ``waits_on``: the futures a blocking call waits for.  Called in a worker's task
        while one of them is unfinished, the task's thread secedes for the wait (their
        tasks may need it: ``worker/context.py``); other calls keep the thread.

        A synchronous client's awaitable (``asynchronous=True``, or ``async with`` a
        diagnostics block in a notebook cell) runs on the client's own loop, where its
        connections are, whatever loop awaits it.  An asynchronous client has no
        blocking calls: ``asynchronous=False`` is an error that says to await."""
        if asynchronous is None:
            asynchronous = self.asynchronous
        if isinstance(callback_timeout, str):  # ("200ms", as Dask's timeouts take)
            callback_timeout = config.parse_timedelta(callback_timeout)
        if asynchronous:
            coro = func(*args, **kwargs)
            if callback_timeout is not None:
                coro = asyncio.wait_for(coro, callback_timeout)
            return coro if self._runner is None else _loop.on_loop(coro, self.loop)
        if self._runner is None:
            if self.asynchronous and self.status not in ("closing", "closed"):
                name = getattr(func, "__name__", "this call").lstrip("_")
                raise RuntimeError(
                    f"{self!r} is asynchronous: await {name} (and use `async with` for "
                    "get_task_stream / performance_report blocks); asynchronous=False "
                    "is for a synchronous client")  # fmt: skip
            raise RuntimeError(f"{self!r} is not running (status {self.status!r})")
        if waits_on is None:
            return self._runner.sync(func, *args, timeout=callback_timeout, **kwargs)
        with seceded(waits_on):
            return self._runner.sync(func, *args, timeout=callback_timeout, **kwargs)

    def _in_loop(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _call_on_loop(self, fn, *args) -> None:
        if self._in_loop():
            fn(*args)
        elif self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

    def _scheduler_now(self) -> float:
        """This moment on the scheduler's wall clock (``shoal/distributed/clock.py``): the
        client's own time windows are taken on it, as the workers' timings are."""
        return self._conn.clock.now() if self._conn is not None else time.time()

    def _send(self, msg: dict) -> None:
        """Queue a stream message for the scheduler (from any thread, in order)."""
        if self.status != "running":
            raise RuntimeError(f"{self!r} is not running: cannot send {msg.get('op')!r}")
        with self._keys.lock:
            seq = self._keys.next_seq()
            self._unsent.append(seq)
        self._call_on_loop(self._send_now, msg, seq)

    def _send_now(self, msg: dict, seq: int | None = None) -> None:
        """On the loop: send ``msg``, after the releases of futures dropped before it was made.

        Releases and messages are numbered in the order the user's code made them; a
        release never overtakes a message made before it (that message may name the key)."""
        if seq is not None:
            with self._keys.lock:
                self._unsent.remove(seq)
        if self._keys.releases:
            self._flush_releases(before=seq if seq is not None else self._first_unsent())
        self._conn.send(msg)
        if self._keys.releases and not self._release_scheduled:  # held back until now
            self._release_scheduled = True
            self.loop.call_soon(self._flush_releases)

    def _first_unsent(self) -> int | None:
        with self._keys.lock:
            return self._unsent[0] if self._unsent else None

    # --- reference counting (see table.py) ---------------------------------------------

    def _ref(self, key, inform: bool = False) -> FutureState:
        state, created = self._keys.ref(key)
        if created and inform:
            self._send({"op": "client-desires-keys", "keys": [key], "client": self.id})
        return state

    def _new_futures(self, keys) -> tuple:
        """``({key: Future}, [keys that had no state])`` taking one reference per key."""
        states, created = self._keys.new_states(keys)
        return {k: Future(k, self, state=s) for k, s in states.items()}, created

    def _unref(self, key, state) -> None:
        if not self._keys.unref(key, state) or self.status != "running":
            return
        with self._keys.lock:
            if self._release_scheduled:
                return
            self._release_scheduled = True
        self._call_on_loop(self._flush_soon)

    def _flush_soon(self) -> None:
        # a loop turn later, so that futures dropped together are released together
        self.loop.call_soon(self._flush_releases)

    def _flush_releases(self, before: int | None = None) -> None:
        if before is None:  # the scheduled flush: up to the first message not sent yet
            self._release_scheduled = False
            before = self._first_unsent()
        keys = self._keys.take_releases(before)
        if keys and self.status == "running":
            self._conn.send({"op": "client-releases-keys", "keys": keys, "client": self.id})

    def _lost_scheduler(self, reason: str) -> None:
        self.status = "disconnected"
        current.unregister(self)
        self._keys.cancel_pending(reason)

    # --- submitting -----------------------------------------------------------------

    def submit(self, func, *args, key=None, workers=None, resources=None, retries=None,
               priority=0, fifo_timeout="100 ms", allow_other_workers=False, actor=False,
               actors=False, pure=True, **kwargs):  # fmt: skip
        """Run ``func(*args, **kwargs)`` on the cluster; return its Future.

        The key is ``funcname-<token of the call>`` (equal calls share it) or,
        with ``pure=False``, ``funcname-<random>``.  Futures in the arguments
        (nested in lists, tuples, sets, dicts too) are replaced by their values.
        """
        func, pure = self._check_call(func, actor or actors, pure, "submit")
        if key is None:
            key = call_key(func, args, kwargs, pure)
        return self._submit_calls(func, [key], [args], kwargs, workers, allow_other_workers,
                                  resources, retries, priority)[0]  # fmt: skip

    def map(self, func, *iterables, key=None, workers=None, retries=None, resources=None,
            priority=0, allow_other_workers=False, fifo_timeout="100 ms", actor=False,
            actors=False, pure=True, batch_size=None, **kwargs):  # fmt: skip
        """``submit(func, *args)`` for each tuple of items of ``iterables``; a list of Futures.

        ``key`` is a prefix for the keys, or the list of keys itself.  All
        calls travel in one update-graph message.
        """
        func, pure = self._check_call(func, actor or actors, pure, "map")
        if not iterables:
            raise TypeError("map: give at least one iterable of arguments")
        for i, it in enumerate(iterables):
            if isinstance(it, (str, bytes, dict)) or not hasattr(it, "__iter__"):
                raise TypeError(f"map: iterable {i} is a {type(it).__name__}; pass a list of "
                                "arguments (a str or dict is not split into calls)")  # fmt: skip
        calls = list(zip(*iterables))
        keys = map_keys(func, calls, kwargs, key, pure)
        return self._submit_calls(func, keys, calls, kwargs, workers, allow_other_workers,
                                  resources, retries, priority)  # fmt: skip

    def _check_call(self, func, actor, pure, what: str) -> tuple:
        if not callable(func):
            raise TypeError(f"{what}: the first argument must be callable, got {type(func).__name__}")
        self._check_running(what)
        return actors.actor_call(func, actor, pure)  # (an actor: ActorTask(func), never pure)

    def _submit_calls(self, func, keys, calls, kwargs, workers, allow_other_workers, resources,
                      retries, user_priority) -> list:  # fmt: skip
        tasks, deps, prio, found = call_tasks(func, keys, calls, kwargs)
        self._check_owned(found)
        futures, created = self._new_futures(keys)
        if created:
            if len(created) < len(tasks):  # some keys are known already: send only the new ones
                tasks = {k: tasks[k] for k in created}
                deps = {k: v for k, v in deps.items() if k in tasks}
            self._send(update_graph_msg(self.id, tasks, deps, created, prio, workers,
                                        allow_other_workers, resources, retries, user_priority))
        return [futures[k] for k in keys]

    def _check_running(self, what: str) -> None:
        if self.status != "running":
            raise RuntimeError(f"{what}: {self!r} is not running (status {self.status!r})")

    def _check_owned(self, found: dict) -> None:
        for k, f in found.items():
            if f.client is not self:
                raise ValueError(f"the future {k!r} belongs to another client ({f.client.id}); "
                                 "gather it and pass its value instead")  # fmt: skip

    # --- collections and graphs -------------------------------------------------------

    def _submit_graph(self, dsk, keys: list, **options) -> dict:
        """Send a graph; ``{key: Future}`` for the flat list ``keys``."""
        self._check_running("compute")
        return C.submit_graph(self, dsk, keys, **options)

    def get(self, dsk, keys, *, sync=True, asynchronous=None, cache=None, **options):
        """The scheduler contract: compute ``keys`` of graph ``dsk`` (nested lists keep shape).

        ``sync=False`` returns futures instead of values; ``cache`` gives
        values for keys (they win over the graph).
        """
        return C.get(self, dsk, keys, sync, asynchronous, cache, options)

    def compute(self, collections, sync=False, optimize_graph=True, traverse=True, **options):
        """Compute collections on the cluster: a Future per collection (results if ``sync``);
        with ``traverse``, a list, tuple, set, dict or iterator given among them is one value
        computed with the collections inside it."""
        return C.compute(self, collections, sync, optimize_graph, traverse, options)

    def persist(self, collections, optimize_graph=True, **options):
        """Start computing collections; return them rebuilt on their futures."""
        return C.persist(self, collections, optimize_graph, options)

    # --- results ------------------------------------------------------------------------

    def gather(self, futures, errors="raise", direct=None, asynchronous=None):
        """Values of the futures in ``futures`` (nested lists, tuples, sets, dicts keep shape)."""
        if errors not in ("raise", "skip"):
            raise ValueError(f"gather: errors={errors!r}, expected 'raise' or 'skip'")
        if isinstance(futures, Iterator) and not (asynchronous or self.asynchronous):
            return (self.gather(f, errors=errors) for f in futures)  # (as Dask's: one by one)
        return self.sync(self._gather, futures, errors=errors, asynchronous=asynchronous,
                         waits_on=futures_of(futures))  # fmt: skip

    async def _gather_one(self, future):
        return (await self._gather([future]))[0]

    async def _gather(self, futures, errors="raise"):
        return await results.gather(self, futures, errors)

    # --- control ----------------------------------------------------------------------

    def cancel(self, futures, asynchronous=None, force=False, reason=""):
        """Stop computing ``futures`` (``force``: for every client, not only this one)."""
        return self.sync(self._cancel, futures, force=force, reason=reason, asynchronous=asynchronous)

    async def _cancel(self, futures, force=False, reason=""):
        keys = list(dict.fromkeys(f.key for f in futures_of(futures)))
        if not keys:
            return
        self._send_now({"op": "cancel-keys", "keys": keys, "client": self.id, "force": force})
        for state in self._keys.pop(keys):
            state.cancel(reason or "cancelled by the client")

    def retry(self, futures, asynchronous=None):
        """Compute erred futures again."""
        return self.sync(self._retry, futures, asynchronous=asynchronous)

    async def _retry(self, futures):
        keys = list(dict.fromkeys(f.key for f in futures_of(futures)))
        for key in keys:
            state = self.futures.get(key)
            if state is not None and state.status == "error":
                state.reset()
        self._send_now({"op": "retry", "keys": keys, "client": self.id})

    # --- diagnostics (diagnostics.py) -----------------------------------------------------

    def get_task_stream(self, start=None, stop=None, count=None, plot=False,
                        filename="task-stream.html", bokeh_resources=None,
                        asynchronous=None):  # fmt: skip
        """Tasks that finished in [start, stop], oldest first: dicts with key, prefix, status,
        worker, thread, startstops, nbytes, type.  ``count``: the first that many since
        ``start``, else the last (before ``stop``); ignored with both bounds, as in Dask.
        The scheduler keeps them from the first call on.  ``plot=True``: ``(data, figure)``;
        ``plot="save"`` also writes ``filename``, with BokehJS inlined (it opens offline)
        unless ``bokeh_resources`` says otherwise (Bokeh's ``CDN``, ``INLINE``, or "cdn")."""
        return D.task_stream(self, start, stop, count, plot, filename, asynchronous,
                             bokeh_resources)  # fmt: skip

    def profile(self, key=None, start=None, stop=None, workers=None, merge_workers=True, plot=False,
                filename=None, server=False, scheduler=False, asynchronous=None):  # fmt: skip
        """The workers' sampled call tree over [start, stop] (of ``key``'s prefix only with
        ``key``), merged, or ``{worker: tree}`` with ``merge_workers=False``.  ``plot=True``
        or a ``filename`` returns ``(tree, figure)``; ``filename`` (or ``plot="save"``:
        dask-profile.html) also writes the figure as an HTML flame graph.  Only task threads are sampled: ``server``
        and ``scheduler`` (Dask's event-loop profiles) raise ``ValueError``."""
        return D.profile(self, key, start, stop, workers, merge_workers, plot, filename, server,
                         scheduler, asynchronous)  # fmt: skip

    def __repr__(self) -> str:
        if self.status == "running" and not self.asynchronous and not self._in_loop():
            try:
                self._runner.sync(self._update_identity, timeout=2)
            except Exception:  # noqa: BLE001 - show what we know
                pass
        return client_repr(self)

    def _repr_html_(self) -> str:
        return client_html(self)

    # --- callbacks ------------------------------------------------------------------------

    def _add_done_callback(self, future, fn) -> None:
        def on_done(state):
            state.remove_waiter(on_done)
            if self._callbacks is None:
                self._callbacks = ThreadPoolExecutor(1, thread_name_prefix="shoal-client-callback")
            self._callbacks.submit(_run_callback, fn, future)

        self._call_on_loop(future._state.add_waiter, on_done)

    # --- closing --------------------------------------------------------------------------

    def close(self, timeout=None):
        """Close the connection (and the LocalCluster this client started)."""
        if self.asynchronous:
            return self._close()
        if (runner := self._runner) is None:
            return None
        current.untrack(self)
        try:  # ("closing": another thread's close, waited for to its end)
            if self.status in ("running", "disconnected", "connecting", "closing"):
                runner.sync(self._close, timeout=timeout)
        finally:  # (the runner is released once: another thread's close may end first)
            runner, self._runner = self._runner, None
            if runner is not None:
                runner.release()
            if self._own_cluster and self.cluster is not None:
                self.cluster.close()
            self._stop_callbacks()
        return None

    async def _close(self) -> None:
        """Close once, to the end: a caller cancelled meanwhile ends only its own wait (a half-
        done close left it "closing", its cluster running: see ``shoal.distributed.node.Once``)."""
        if self.status == "closed" and self._closing.task is None:
            return  # (a start that failed closed what it had opened)
        await self._closing(self._close_once)

    async def _close_once(self) -> None:
        self.status = "closing"
        current.unregister(self)
        try:
            await self._close_comms()
        finally:
            for state in self._keys.clear():
                if not state.done():
                    state.cancel("the client closed")
            try:
                if self.asynchronous and self._own_cluster and self.cluster is not None:
                    await self.cluster.close()
            finally:
                if self.asynchronous:
                    self._stop_callbacks()
                self.status = "closed"

    async def _close_comms(self) -> None:
        await self._close_actors()  # (actors.py)
        if self._conn is not None:
            await self._conn.close()

    def _stop_callbacks(self) -> None:
        if self._callbacks is not None:
            ex, self._callbacks = self._callbacks, None
            ex.shutdown(wait=not _is_thread_of(ex))

    def __enter__(self):
        if self.asynchronous:
            raise TypeError("an asynchronous Client is used with `async with`")
        return self

    def __exit__(self, *exc):
        self.close()

    async def __aenter__(self):
        await self._start_async()
        return self

    async def __aexit__(self, *exc):
        await self._close()


def _run_callback(fn, future) -> None:
    try:
        fn(future)
    except Exception:
        logger.exception("the done callback %r of %r raised", fn, future)


def _is_thread_of(executor) -> bool:
    return threading.current_thread() in getattr(executor, "_threads", ())
