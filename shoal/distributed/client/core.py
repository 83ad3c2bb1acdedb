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

A synchronous client runs its loop on the shared background thread of
:mod:`shoal.distributed._loop` (started by the first client or cluster,
stopped after the last one closes), so it works from a thread that already runs
a loop, such as a Jupyter kernel's.  ``Client(asynchronous=True)`` runs on the
caller's loop instead: every method that talks to the cluster returns an
awaitable, and ``await Client(asynchronous=True)`` / ``async with`` starts it.

The client's state is one :class:`FutureState` per key (``self.futures``) with
a reference count; it changes only on the loop (the stream reader applies the
scheduler's reports), while counts change under ``self._lock`` from any thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from shoal import config
from shoal.base import register_client_lookup
from shoal.core.graph import flatten_keys
from shoal.core.spec import Task
from shoal.distributed import _loop
from shoal.distributed.batched import BatchedSend
from shoal.distributed.client import compute as C
from shoal.distributed.client.display import client_html, client_repr
from shoal.distributed.client.futures import Future, FutureState, unpack_error
from shoal.distributed.client.graphs import prepare_graph, replace_futures
from shoal.distributed.client.naming import call_key, map_keys, scatter_key
from shoal.distributed.client.serialize import dumps_payload, dumps_task
from shoal.distributed.client.waiting import futures_of, wait_states
from shoal.distributed.comm import CommClosedError, connect
from shoal.distributed.protocol import Pickled
from shoal.distributed.rpc import rpc

__all__ = ["Client", "default_client", "default_client_get"]

logger = logging.getLogger(__name__)

_clients: list = []  # running clients that asked to be the default, most recent last
_GATHER_ATTEMPTS = 5


def default_client(c=None):
    """The client ``compute`` and ``Future`` use when none is given."""
    if c is not None:
        return c
    for client in reversed(_clients):
        if client.status == "running":
            return client
    raise ValueError("No running Client: start one with `from shoal.distributed import Client; "
                     "client = Client()` (or Client('tcp://scheduler-address:8786'))")  # fmt: skip


def default_client_get(dsk, keys, **kwargs):
    """The ``get`` of the default client (the scheduler named "distributed")."""
    return default_client().get(dsk, keys, **kwargs)


def _lookup_default_get():
    for client in reversed(_clients):
        if client.status == "running" and not client.asynchronous:
            return client.get
    return None


register_client_lookup(_lookup_default_get)


class Client:
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
        if scheduler_file is not None:
            import json

            with open(scheduler_file) as f:
                address = json.load(f)["address"]
        self.id = f"Client-{uuid.uuid4().hex}"
        self.name = name or self.id
        self.asynchronous = bool(asynchronous)
        self.security = security
        self.timeout = config.parse_timedelta(
            timeout or config.get("distributed.comm.timeouts.connect"))
        self.futures: dict = {}  # key -> FutureState
        self.cluster = None
        self._own_cluster = False
        self._cluster_kwargs = cluster_kwargs
        self._address = None
        if address is None:
            pass
        elif isinstance(address, str):
            self._address = address if "://" in address else f"tcp://{address}"
        elif hasattr(address, "scheduler_address"):
            self.cluster = address
        elif isinstance(getattr(address, "address", None), str):
            self._address = address.address
        else:
            raise TypeError(f"Client(address=...) takes an address string or a cluster, "
                            f"got {type(address).__name__}")  # fmt: skip
        if cluster_kwargs and (address is not None):
            raise TypeError(f"unexpected keyword arguments {sorted(cluster_kwargs)} "
                            "(they are LocalCluster options: only Client() without an address "
                            "starts a cluster)")  # fmt: skip
        self._set_as_default = set_as_default
        self._lock = threading.RLock()
        self._releases: list = []
        self._release_scheduled = False
        self._identity: dict = {}
        self._stream: BatchedSend | None = None
        self._reader: asyncio.Task | None = None
        self.scheduler: rpc | None = None
        self._callbacks: ThreadPoolExecutor | None = None
        self._loop_thread: int | None = None
        self._runner = None
        self.loop = None
        self.status = "newly-created"
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
        self._loop_thread = threading.get_ident()
        address = self.scheduler_address
        self.scheduler = rpc(address, timeout=self.timeout, security=self.security)
        comm = await connect(address, self.timeout, self.security, role="client")
        try:
            await comm.write({"op": "register_client", "client": self.id, "reply": False})
            first = await asyncio.wait_for(comm.read(), self.timeout)
        except BaseException:
            comm.abort()
            raise
        if isinstance(first, list):
            first = first[0] if first else {}
        if not isinstance(first, dict) or first.get("op") != "stream-start":
            comm.abort()
            raise ConnectionError(f"{address} did not accept the client: {first!r:.200}")
        self._stream = BatchedSend()
        self._stream.start(comm)
        self._reader = asyncio.get_running_loop().create_task(self._read_stream(comm))
        self._identity = await self.scheduler.identity()
        self.status = "running"
        if self._set_as_default:
            _clients.append(self)

    @property
    def scheduler_address(self) -> str | None:
        if self.cluster is not None:
            return self.cluster.scheduler_address
        return self._address

    @property
    def dashboard_link(self) -> str | None:
        return getattr(self.cluster, "dashboard_link", None) if self.cluster is not None else None

    # --- the facade -------------------------------------------------------------

    def sync(self, func, *args, asynchronous=None, callback_timeout=None, **kwargs):
        """Run the coroutine function ``func``: awaitable when asynchronous, else its result."""
        if asynchronous is None:
            asynchronous = self.asynchronous
        if asynchronous:
            coro = func(*args, **kwargs)
            return coro if callback_timeout is None else asyncio.wait_for(coro, callback_timeout)
        if self._runner is None or self.status not in ("running", "connecting", "closing"):
            raise RuntimeError(f"{self!r} is not running (status {self.status!r})")
        return self._runner.sync(func, *args, timeout=callback_timeout, **kwargs)

    def _in_loop(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _call_on_loop(self, fn, *args) -> None:
        if self._in_loop():
            fn(*args)
        elif self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

    def _send(self, msg: dict) -> None:
        """Queue a stream message for the scheduler (from any thread, in order)."""
        if self.status != "running":
            raise RuntimeError(f"{self!r} is not running: cannot send {msg.get('op')!r}")
        self._call_on_loop(self._send_now, msg)

    def _send_now(self, msg: dict) -> None:
        try:
            self._stream.send(msg)
        except CommClosedError:
            logger.info("client %s: the scheduler stream is closed; dropped %s", self.id, msg["op"])

    # --- reference counting ---------------------------------------------------------

    def _ref(self, key, inform: bool = False) -> FutureState:
        with self._lock:
            state = self.futures.get(key)
            created = state is None
            if created:
                state = self.futures[key] = FutureState(key)
            state.refs += 1
        if created and inform:
            self._send({"op": "client-desires-keys", "keys": [key], "client": self.id})
        return state

    def _new_futures(self, keys) -> tuple:
        """``({key: Future}, [keys that had no state])`` taking one reference per key."""
        futures, created = {}, []
        with self._lock:
            for key in keys:
                if key in futures:
                    continue
                state = self.futures.get(key)
                if state is None:
                    state = self.futures[key] = FutureState(key)
                    created.append(key)
                state.refs += 1
                futures[key] = Future(key, self, state=state)
        return futures, created

    def _unref(self, key, state=None) -> None:
        with self._lock:
            current = self.futures.get(key)
            if current is None or (state is not None and current is not state):
                if state is not None:
                    state.refs -= 1
                return
            current.refs -= 1
            if current.refs > 0:
                return
            del self.futures[key]
            if self.status != "running":
                return
            self._releases.append(key)
            if self._release_scheduled:
                return
            self._release_scheduled = True
        self._call_on_loop(self._flush_releases)

    def _flush_releases(self) -> None:
        with self._lock:
            keys = [k for k in self._releases if k not in self.futures]
            self._releases.clear()
            self._release_scheduled = False
        if keys and self.status == "running":
            self._send_now({"op": "client-releases-keys", "keys": keys, "client": self.id})

    # --- the scheduler's reports --------------------------------------------------

    async def _read_stream(self, comm) -> None:
        handlers = {
            "key-in-memory": self._on_key_in_memory, "task-erred": self._on_task_erred,
            "cancelled-keys": self._on_cancelled_keys, "lost-data": self._on_lost_data,
            "task-retried": self._on_task_retried,
        }  # fmt: skip
        try:
            while True:
                msgs = await comm.read()
                for msg in [msgs] if isinstance(msgs, dict) else msgs:
                    op = msg.pop("op", None)
                    if op == "close":
                        self._lost_scheduler(f"the scheduler closed ({msg.get('reason', '')})")
                        return
                    handler = handlers.get(op)
                    if handler is None:
                        logger.debug("client %s: ignoring op %r from the scheduler", self.id, op)
                        continue
                    try:
                        handler(**msg)
                    except Exception:
                        logger.exception("client %s: handling %r failed", self.id, op)
        except CommClosedError:
            if self.status == "running":
                self._lost_scheduler("the connection to the scheduler was lost")

    def _on_key_in_memory(self, key, type=None, **_) -> None:
        state = self.futures.get(key)
        if state is not None:
            state.finish(type)

    def _on_task_erred(self, key, exception=None, traceback=None, **_) -> None:
        state = self.futures.get(key)
        if state is not None:
            state.set_error(*unpack_error(exception, traceback, key))

    def _on_cancelled_keys(self, keys, reason="", **_) -> None:
        for key in keys:
            state = self.futures.get(key)
            if state is not None:
                state.cancel(reason or "cancelled by the scheduler")

    def _on_lost_data(self, key, **_) -> None:
        state = self.futures.get(key)
        if state is not None:
            state.lose()

    def _on_task_retried(self, key, **_) -> None:
        state = self.futures.get(key)
        if state is not None:
            state.reset()

    def _lost_scheduler(self, reason: str) -> None:
        self.status = "disconnected"
        if self in _clients:
            _clients.remove(self)
        for state in list(self.futures.values()):
            if not state.done():
                state.cancel(reason)

    # --- submitting -----------------------------------------------------------------

    def submit(self, func, *args, key=None, workers=None, resources=None, retries=None,
               priority=0, fifo_timeout="100 ms", allow_other_workers=False, actor=False,
               actors=False, pure=True, **kwargs):  # fmt: skip
        """Run ``func(*args, **kwargs)`` on the cluster; return its Future."""
        if not callable(func):
            raise TypeError(f"submit: the first argument must be callable, got {type(func).__name__}")
        if actor or actors:
            raise NotImplementedError("actors are not supported")
        self._check_running("submit")
        if key is None:
            key = call_key(func, args, kwargs, pure)
        futures, created = self._new_futures([key])
        if created:
            found: dict = {}
            task = Task(key, func, *replace_futures(args, found), **replace_futures(kwargs, found))
            self._check_owned(found)
            deps = {key: list(found)} if found else {}
            self._send_graph({key: task}, deps, [key], {key: 0}, workers, allow_other_workers,
                             resources, retries, priority)  # fmt: skip
        return futures[key]

    def map(self, func, *iterables, key=None, workers=None, retries=None, resources=None,
            priority=0, allow_other_workers=False, fifo_timeout="100 ms", actor=False,
            actors=False, pure=True, batch_size=None, **kwargs):  # fmt: skip
        """``submit(func, *args)`` for each tuple of items of ``iterables``; a list of Futures."""
        if not callable(func):
            raise TypeError(f"map: the first argument must be callable, got {type(func).__name__}")
        if actor or actors:
            raise NotImplementedError("actors are not supported")
        if not iterables:
            raise TypeError("map: give at least one iterable of arguments")
        for i, it in enumerate(iterables):
            if isinstance(it, (str, bytes, dict)) or not hasattr(it, "__iter__"):
                raise TypeError(f"map: iterable {i} is a {type(it).__name__}; pass a list of "
                                "arguments (a str or dict is not split into calls)")  # fmt: skip
        self._check_running("map")
        calls = list(zip(*iterables))
        keys = map_keys(func, calls, kwargs, key, pure)
        futures, created = self._new_futures(keys)
        if created:
            fresh = set(created)
            kw_found: dict = {}
            kw = replace_futures(kwargs, kw_found)
            tasks, deps, prio = {}, {}, {}
            for i, (k, args) in enumerate(zip(keys, calls)):
                if k not in fresh or k in tasks:
                    continue
                found = dict(kw_found)
                tasks[k] = Task(k, func, *replace_futures(args, found), **kw)
                prio[k] = i
                if found:
                    self._check_owned(found)
                    deps[k] = list(found)
            self._send_graph(tasks, deps, list(tasks), prio, workers, allow_other_workers,
                             resources, retries, priority)  # fmt: skip
        return [futures[k] for k in keys]

    def _check_running(self, what: str) -> None:
        if self.status != "running":
            raise RuntimeError(f"{what}: {self!r} is not running (status {self.status!r})")

    def _check_owned(self, found: dict) -> None:
        for k, f in found.items():
            if f.client is not self:
                raise ValueError(f"the future {k!r} belongs to another client ({f.client.id}); "
                                 "gather it and pass its value instead")  # fmt: skip

    def _send_graph(self, tasks: dict, dependencies: dict, keys: list, priority: dict,
                    workers=None, allow_other_workers=False, resources=None, retries=None,
                    user_priority=0) -> None:  # fmt: skip
        msg = {"op": "update-graph", "tasks": {k: dumps_task(t) for k, t in tasks.items()},
               "dependencies": dependencies, "keys": keys, "client": self.id}  # fmt: skip
        if priority:
            msg["priority"] = priority
        if user_priority:
            msg["user_priority"] = int(user_priority)
        if workers is not None:
            names = [workers] if isinstance(workers, str) else list(workers)
            msg["restrictions"] = {k: names for k in tasks}
            if allow_other_workers:
                msg["loose_restrictions"] = list(tasks)
        if resources:
            msg["resources"] = {k: dict(resources) for k in tasks}
        if retries:
            msg["retries"] = {k: int(retries) for k in tasks}
        self._send(msg)

    # --- collections and graphs -------------------------------------------------------

    def _submit_graph(self, dsk, keys: list, *, cache=None, fuse=None, keep=(), **options) -> dict:
        """Send a graph; ``{key: Future}`` for ``keys`` (flat)."""
        self._check_running("compute")
        prepared = prepare_graph(dsk, keys, self.futures, cache=cache, fuse=fuse, keep=keep)
        self._check_owned(prepared.futures)
        wanted = list(dict.fromkeys(keys))
        futures, _ = self._new_futures(wanted)
        self._send_graph(prepared.tasks, prepared.dependencies, wanted, prepared.priority,
                         **_graph_options(options))  # fmt: skip
        return futures

    def get(self, dsk, keys, *, sync=True, asynchronous=None, cache=None, **options):
        """The scheduler contract: compute ``keys`` of graph ``dsk`` (nested lists keep shape)."""
        futures = self._submit_graph(dsk, flatten_keys(keys), cache=cache, **options)
        packed = C.pack(keys, futures)
        if not sync:
            return packed
        if asynchronous or (asynchronous is None and self.asynchronous):
            return self._gather_and_release(packed, futures)
        try:
            return self.sync(self._gather, packed, asynchronous=False)
        finally:
            for f in futures.values():
                f.release()

    async def _gather_and_release(self, packed, futures):
        try:
            return await self._gather(packed)
        finally:
            for f in futures.values():
                f.release()

    def compute(self, collections, sync=False, optimize_graph=True, traverse=True, **options):
        """Compute collections on the cluster: a Future per collection (results if ``sync``)."""
        items, singleton = C.split(collections)
        graph, finals = C.finalize_graph(items)
        futures = {}
        if finals:
            futures = self._submit_graph(graph, list(finals.values()),
                                         fuse=None if optimize_graph else False, **options)
        out = [futures[finals[i]] if i in finals else item for i, item in enumerate(items)]
        if sync:
            return self.gather(out[0] if singleton else out)
        return out[0] if singleton else out

    def persist(self, collections, optimize_graph=True, **options):
        """Start computing collections; return them rebuilt on their futures."""
        items, singleton = C.split(collections)
        graph, flat, parts = C.persist_graph(items)
        if parts:
            futures = self._submit_graph(graph, flat, fuse=None if optimize_graph else False,
                                         keep=flat, **options)  # fmt: skip
            for i, coll, keys in parts:
                items[i] = C.rebuild_persisted(coll, keys, futures)
        return items[0] if singleton else items

    # --- results ------------------------------------------------------------------------

    def gather(self, futures, errors="raise", direct=None, asynchronous=None):
        """Values of the futures in ``futures`` (nested lists, tuples, sets, dicts keep shape)."""
        if errors not in ("raise", "skip"):
            raise ValueError(f"gather: errors={errors!r}, expected 'raise' or 'skip'")
        return self.sync(self._gather, futures, errors=errors, asynchronous=asynchronous)

    async def _gather_one(self, future):
        return (await self._gather([future]))[0]

    async def _gather(self, futures, errors="raise"):
        found = {f.key: f for f in futures_of(futures)}
        if not found:
            return futures
        for f in found.values():
            if f.client is not self:
                raise ValueError(f"gather: the future {f.key!r} belongs to another client")
        states = {k: f._state for k, f in found.items()}
        data: dict = {}
        bad: set = set()
        for _ in range(_GATHER_ATTEMPTS):
            await wait_states(states.values(), stop_on_error=errors == "raise")
            for key, state in states.items():
                if state.status in ("error", "cancelled"):
                    if errors == "raise":
                        raise state.exception.with_traceback(None)
                    bad.add(key)
            want = [k for k, s in states.items() if s.status == "finished" and k not in data]
            if want:
                reply = await self.scheduler.gather(keys=want)
                if reply.get("status") == "OK":
                    data.update(reply["data"])
                else:
                    for key in reply.get("keys", ()):
                        if key in states and states[key].status == "finished":
                            states[key].lose()
            if all(k in data or k in bad for k in states):
                return _repack(futures, data, bad)
        lost = [k for k in states if k not in data and k not in bad]
        raise RuntimeError(f"gather: the cluster lost {len(lost)} keys and could not recompute "
                           f"them (first: {lost[0]!r})")  # fmt: skip

    def scatter(self, data, workers=None, broadcast=False, direct=None, hash=True, timeout=None,
                asynchronous=None):  # fmt: skip
        """Move local data to the cluster; Futures in the shape of ``data``."""
        self._check_running("scatter")
        if isinstance(data, dict):
            named = dict(data)
            order = list(named)
        elif isinstance(data, (list, tuple, set, frozenset)):
            order = [scatter_key(v, hash) for v in data]
            named = dict(zip(order, data))
        else:
            order = [scatter_key(data, hash)]
            named = {order[0]: data}
        if isinstance(workers, str):
            workers = [workers]
        from shoal.sizeof import sizeof

        msg = {
            "data": {k: dumps_payload(v) for k, v in named.items()},
            "nbytes": {k: int(sizeof(v)) for k, v in named.items()},
            "types": {k: _typename(v) for k, v in named.items()},
            "workers": list(workers) if workers is not None else None,
            "broadcast": bool(broadcast), "client": self.id,
        }  # fmt: skip
        if timeout is not None:
            msg["timeout"] = timeout
        return self.sync(self._scatter, data, order, msg, asynchronous=asynchronous)

    async def _scatter(self, data, order, msg):
        futures, _ = self._new_futures(order)
        await self.scheduler.scatter(**msg)
        for key, f in futures.items():
            if not f._state.done():
                f._state.finish(msg["types"][key])
        if isinstance(data, dict):
            return {k: futures[k] for k in data}
        if isinstance(data, (list, tuple, set, frozenset)):
            out = [futures[k] for k in order]
            return type(data)(out) if isinstance(data, (tuple, set, frozenset)) else out
        return futures[order[0]]

    # --- control ----------------------------------------------------------------------

    def cancel(self, futures, asynchronous=None, force=False, reason=""):
        """Stop computing ``futures`` (``force``: for every client, not only this one)."""
        return self.sync(self._cancel, futures, force=force, reason=reason, asynchronous=asynchronous)

    async def _cancel(self, futures, force=False, reason=""):
        keys = list(dict.fromkeys(f.key for f in futures_of(futures)))
        if not keys:
            return
        self._send_now({"op": "cancel-keys", "keys": keys, "client": self.id, "force": force})
        with self._lock:
            states = [self.futures.pop(k, None) for k in keys]
        for state in states:
            if state is not None:
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

    def restart(self, timeout=30, wait_for_workers=True, asynchronous=None):
        """Restart every worker (through their nannies); every future is cancelled."""
        return self.sync(self._restart, timeout, asynchronous=asynchronous)

    async def _restart(self, timeout=30):
        with self._lock:
            states = list(self.futures.values())
            self.futures.clear()
        for state in states:
            state.cancel("the cluster restarted")
        await self.scheduler.restart(timeout=timeout)
        self._identity = await self.scheduler.identity()
        return self

    # --- running functions --------------------------------------------------------------

    def run(self, function, *args, workers=None, wait=True, nanny=False, on_error="raise",
            **kwargs):  # fmt: skip
        """Run ``function(*args, **kwargs)`` on every worker (or ``workers``): ``{address: result}``."""
        if on_error not in ("raise", "return", "ignore"):
            raise ValueError(f"run: on_error={on_error!r}, expected 'raise', 'return' or 'ignore'")
        if isinstance(workers, str):
            workers = [workers]
        return self.sync(self._run, function, args, kwargs, workers, nanny, on_error)

    async def _run(self, function, args, kwargs, workers, nanny, on_error):
        msg = {"op": "run", "function": Pickled(function), "args": Pickled(tuple(args)),
               "kwargs": Pickled(dict(kwargs))}  # fmt: skip
        if on_error == "raise":
            return await self.scheduler.broadcast(msg=msg, workers=workers, nanny=nanny)
        if workers is None:
            workers = list((await self.scheduler.nthreads()).keys())

        async def one(w):
            try:
                return await self.scheduler.broadcast(msg=msg, workers=[w], nanny=nanny)
            except Exception as exc:  # noqa: BLE001 - on_error decides
                return {w: exc}

        out: dict = {}
        for part in await asyncio.gather(*(one(w) for w in workers)):
            for w, r in part.items():
                if not (on_error == "ignore" and isinstance(r, Exception)):
                    out[w] = r
        return out

    def run_on_scheduler(self, function, *args, **kwargs):
        """Run ``function(*args, **kwargs)`` in the scheduler's process."""
        return self.sync(self.scheduler.run_function, function=Pickled(function),
                         args=Pickled(tuple(args)), kwargs=Pickled(dict(kwargs)))  # fmt: skip

    # --- information ----------------------------------------------------------------------

    def scheduler_info(self, asynchronous=None):
        """The scheduler's identity: its address and every worker's threads, memory, metrics."""
        return self.sync(self._update_identity, asynchronous=asynchronous)

    async def _update_identity(self):
        self._identity = await self.scheduler.identity()
        return self._identity

    def who_has(self, futures=None, asynchronous=None):
        """``{key: [worker addresses]}`` for ``futures`` (or every key)."""
        keys = None if futures is None else [f.key for f in futures_of(futures)]
        return self.sync(self.scheduler.who_has, keys=keys, asynchronous=asynchronous)

    def has_what(self, workers=None, asynchronous=None):
        """``{worker address: [keys]}``."""
        if isinstance(workers, str):
            workers = [workers]
        return self.sync(self.scheduler.has_what, workers=workers, asynchronous=asynchronous)

    def nthreads(self, workers=None, asynchronous=None):
        """``{worker address: threads}``."""
        if isinstance(workers, str):
            workers = [workers]
        return self.sync(self.scheduler.nthreads, workers=workers, asynchronous=asynchronous)

    ncores = nthreads

    def wait_for_workers(self, n_workers=1, timeout=None, asynchronous=None):
        """Block until at least ``n_workers`` workers are connected."""
        return self.sync(self._wait_for_workers, n_workers, callback_timeout=timeout,
                         asynchronous=asynchronous)  # fmt: skip

    async def _wait_for_workers(self, n_workers):
        while len((await self._update_identity()).get("workers", {})) < n_workers:
            await asyncio.sleep(0.05)

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
        if self._runner is None:
            return None
        try:
            if self.status in ("running", "disconnected", "connecting"):
                self._runner.sync(self._close, timeout=timeout)
        finally:
            runner, self._runner = self._runner, None
            runner.release()
            if self._own_cluster and self.cluster is not None:
                self.cluster.close()
            self._stop_callbacks()
        return None

    async def _close(self) -> None:
        if self.status in ("closing", "closed"):
            return
        self.status = "closing"
        if self in _clients:
            _clients.remove(self)
        if self._stream is not None and not self._stream.comm.closed():
            try:
                self._stream.send({"op": "close-client", "client": self.id})
            except CommClosedError:
                pass
        await self._close_comms()
        with self._lock:
            states = list(self.futures.values())
            self.futures.clear()
            self._releases.clear()
        for state in states:
            if not state.done():
                state.cancel("the client closed")
        if self.asynchronous:
            if self._own_cluster and self.cluster is not None:
                await self.cluster.close()
            self._stop_callbacks()
        self.status = "closed"

    async def _close_comms(self) -> None:
        if self._stream is not None:
            await self._stream.close(timeout=2)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self.scheduler is not None:
            await self.scheduler.close_rpc()

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


def _graph_options(options: dict) -> dict:
    allowed = {"workers", "allow_other_workers", "resources", "retries"}
    out = {k: v for k, v in options.items() if k in allowed and v is not None}
    if "priority" in options:
        out["user_priority"] = options["priority"] or 0
    return out


def _repack(template, data: dict, bad: set):
    """``template`` with each Future replaced by its value (skipped ones left out)."""

    def fill(x):
        t = type(x)
        if isinstance(x, Future):
            return data.get(x.key)
        if t is list or t is tuple or t is set or t is frozenset:
            return t(fill(i) for i in x if not (isinstance(i, Future) and i.key in bad))
        if t is dict:
            return {k: fill(v) for k, v in x.items()}
        return x

    return fill(template)


def _typename(value) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _run_callback(fn, future) -> None:
    try:
        fn(future)
    except Exception:
        logger.exception("the done callback %r of %r raised", fn, future)


def _is_thread_of(executor) -> bool:
    return threading.current_thread() in getattr(executor, "_threads", ())
