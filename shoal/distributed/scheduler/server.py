"""The scheduler server: owns a :class:`SchedulerState`, does all of its I/O.

::

    worker stream ──lists of {"op"}──> parse_event ─┐
    client stream ──lists of {"op"}──> parse_event ─┼─> state.handle(*events) ─> instructions
    periodic ticks (Balance, worker TTL) ───────────┘                               │
                                                                                    v
        ComputeTask / FreeKeys / StealRequest ──> that worker's BatchedSend
        KeyInMemory / ClientTaskErred / ...   ──> that client's BatchedSend
        Publish(record)                       ──> self.bus (dashboard, diagnostics)

Workers and clients each hold one long-lived *stream* (``register_worker`` /
``register_client``): both directions carry lists of ``{"op": ...}`` dicts.
Observers (the dashboard process) hold a third kind, ``subscribe_events``: the
bus's records as plain data, batched (:mod:`shoal.distributed.eventstream`).
With ``dashboard_address`` the scheduler spawns that process
(``python -m shoal.dashboard``, see :mod:`shoal.diagnostics.dashboard`) and
stops it on close (:mod:`.dashboarding`).
Everything else is request/reply over :mod:`shoal.distributed.rpc`
(``gather``, ``scatter``, ``who_has``, ``broadcast``, ``get_task_stream``,
``get_profile``, ...), answered from the state or by talking to workers
(diagnostics: :mod:`.diagnostics`).

Payloads (run specs, results) stay :class:`Serialized` here: the scheduler
forwards frames without unpickling them.  Task exceptions travel as the plain
tuples of :func:`shoal.local.remote_errors.pack_exception`; the ones the state
machine itself makes (``KilledWorker``, lost scattered data) are packed the same
way on the way out.  The only place this process unpickles user objects is
``run_function`` (``Client.run_on_scheduler``), which exists to run code here.

A worker stream that closes without the worker saying goodbye is a crash
(``RemoveWorker(safe=False)``): the tasks it was running become suspicious and
its results are recomputed or reported lost; see :mod:`.transitions`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from shoal import config
from shoal.distributed.batched import MARK_OP, BatchedSend, StreamMarks
from shoal.distributed.comm import CommClosedError
from shoal.distributed.comm.base import listen_address, parse_address, parse_host_port
from shoal.distributed.eventstream import EventStreams
from shoal.distributed.node import Node
from shoal.distributed.protocol import Serialized, deserialize
from shoal.distributed.rpc import NO_REPLY, ConnectionPool, Server
from shoal.distributed.scheduler import messages as m
from shoal.distributed.scheduler.coordination import Coordinates
from shoal.distributed.scheduler.dashboarding import SYSTEM_INTERVAL, ServesDashboard
from shoal.distributed.scheduler.datasets import KeepsDatasets
from shoal.distributed.scheduler.diagnostics import AnswersDiagnostics, TaskStreamLog
from shoal.distributed.scheduler.eventlog import KeepsEvents
from shoal.distributed.scheduler.progress import ARRIVAL_WAIT, ProgressWatches
from shoal.distributed.scheduler.replication import MovesData
from shoal.distributed.scheduler.retiring import RetiresWorkers
from shoal.distributed.scheduler.scattering import ScattersData
from shoal.distributed.scheduler.state import SchedulerState
from shoal.distributed.scheduler.worker_plugins import KeepsWorkerPlugins
from shoal.distributed.taskcolumns import key_from_wire, story_to_wire
from shoal.bus import Bus
from shoal.local.remote_errors import pack_exception

__all__ = ["Scheduler"]

logger = logging.getLogger(__name__)

#: What a stream's ``translate`` returns to end the conversation.
_END = object()
#: The pseudo-client that wants keys submitted with ``fire_and_forget``: they are
#: computed, then released as soon as they are in memory or erred.
FIRE_AND_FORGET = "fire-and-forget"
#: Stream ops a worker sends that the state machine handles (the server adds ``worker``).
_WORKER_EVENTS = frozenset({
    "task-finished", "task-erred", "add-keys", "release-worker-data", "reschedule",
    "long-running", "worker-status-change", "steal-response", "missing-data", "heartbeat", "task-rows",
})  # fmt: skip
#: Stream ops a client sends that the state machine handles (they carry ``client``).
_CLIENT_EVENTS = frozenset({
    "update-graph", "client-desires-keys", "client-releases-keys", "cancel-keys", "retry",
})  # fmt: skip


class Scheduler(ServesDashboard, AnswersDiagnostics, RetiresWorkers, Coordinates,
                KeepsWorkerPlugins, MovesData, ScattersData, KeepsDatasets, KeepsEvents, Node):
    """A scheduler listening on ``protocol://host:port`` (loopback by default)."""

    def __init__(self, host=None, port=0, protocol="tcp", security=None, validate=False,
                 dashboard_address=None, name="scheduler", **state_options):  # fmt: skip
        self.id = f"Scheduler-{uuid.uuid4().hex[:12]}"
        self.name, self.security = name, security
        self._listen_at = _listen_address(protocol, host, port)
        self.dashboard_address = dashboard_address
        self.bus = Bus(f"{name} events")
        self.state = SchedulerState(name=name, validate=validate, wants=self.bus.wants,
                                    **state_options)  # fmt: skip
        handlers = {
            "register_worker": self.register_worker, "register_client": self.register_client,
            "gather": self.gather, "scatter": self.scatter, "who_has": self.who_has,
            "has_what": self.has_what, "nthreads": self.nthreads, "ncores": self.nthreads,
            "identity": self.identity, "broadcast": self.broadcast,
            "worker_terminating": self.worker_terminating,
            "run_function": self.run_function, "restart": self.restart,
            "retire_workers": self.retire_workers, "close": self.close_op,
            "terminate": self.close_op,  # ("close" only ends an rpc conversation)
            "story": self.story, "register_scheduler_plugin": self.register_plugin_op,
            "subscribe_events": self.subscribe_events, "get_task_stream": self.get_task_stream,
            "task_stream_cursor": self.task_stream_cursor, "clock": lambda comm=None: time.time(),
            "get_profile": self.get_profile, "profile": self.get_profile,
            "progress_watch": self.progress_watch, "progress_poll": self.progress_poll,
            "progress_stop": self.progress_stop, **self.introspection_handlers(),  # (its module)
            **self.coordination_handlers(),  # Variable, Queue, Lock, Event (coordination.py)
            **self.worker_plugin_handlers(),  # WorkerPlugin, upload_file (worker_plugins.py)
            **self.replication_handlers(),  # replicate, rebalance, restart_workers
            **self.dataset_handlers(), **self.event_log_handlers(),  # datasets.py, eventlog.py
        }  # fmt: skip
        self.server = Server(handlers, security=security, role="scheduler")
        self.pool = ConnectionPool(security=security, role="scheduler", deserialize=False)
        self.plugins: dict = {}  # name -> (plugin, bus token)
        self.worker_streams: dict = {}  # address -> BatchedSend
        self.client_streams: dict = {}  # client id -> BatchedSend
        self.event_streams = EventStreams()  # subscribe_events streams (dashboards)
        #: made with the dashboard (dashboarding.py), else by the first get_task_stream
        self.task_stream: TaskStreamLog | None = None
        self.progress_watches = ProgressWatches(self.state.tasks)  # progress() bars
        self._goodbyes: set = set()  # workers that announced a clean close
        self._death_reasons: dict = {}  # address -> why its nanny is killing it
        self._init_node()
        self._worker_joined = asyncio.Condition()
        self.status = "created"
        self.started = time.time()

    # --- lifecycle -------------------------------------------------------------

    @property
    def address(self) -> str | None:
        return self.server.address

    async def start(self) -> Scheduler:
        if self.status == "running":
            return self
        if self.status != "created":
            raise RuntimeError(f"this scheduler is {self.status}; a scheduler starts once")
        self.status = "starting"
        try:  # a start that fails (or a close meanwhile) leaves nothing running
            await self.server.listen(self._listen_at)
            if self.status != "starting":
                raise RuntimeError("the scheduler was closed while it started")
            interval = config.checked(config.duration, "distributed.scheduler.work-stealing-interval")
            self._spawn(self._every(interval, lambda: self.handle(m.Balance())))
            self._spawn(self._every(1.0, self._check_worker_ttl))
            self._spawn(self._every(10.0, self.progress_watches.expire))  # (clients that went)
            events = config.checked(config.period, "distributed.dashboard.events.interval")
            self._spawn(self._every(events, self._publish_task_states))
            self._spawn(self._every(SYSTEM_INTERVAL, self._publish_system))
            self.status = "running"
            logger.info("scheduler at %s", self.address)
            await self._spawn_dashboard()
        except BaseException:
            await self.close()
            raise
        return self

    async def _close(self) -> None:
        """``close()``: tell workers and clients goodbye, stop listening, free every
        resource (a plugin whose ``close`` fails is logged; the rest still goes)."""
        self.status = "closing"
        try:
            await self._cancel_tasks()
            for name in list(self.plugins):
                try:
                    await self.remove_plugin(name)
                except Exception:
                    logger.exception("scheduler plugin %r failed to close", name)
        finally:
            try:
                await self._stop_dashboard()
                streams = [*self.worker_streams.values(), *self.client_streams.values()]
                for stream in streams:
                    try:
                        stream.send({"op": "close", "reason": "scheduler-close"})
                    except CommClosedError:
                        pass
                await asyncio.gather(*(s.close(timeout=2) for s in streams), return_exceptions=True)
            finally:
                await self.server.close()
                await self.pool.close()

    async def close_op(self, comm=None) -> None:
        self._spawn(self.close())

    # --- plugins ---------------------------------------------------------------------

    async def add_plugin(self, plugin, name: str | None = None) -> str:
        """Feed ``plugin`` (a :class:`SchedulerPlugin`) this scheduler's events from now on."""
        from shoal.distributed.scheduler.plugins import maybe_await, subscribe_plugin

        name = name or getattr(plugin, "name", None) or f"{type(plugin).__name__}-{id(plugin):x}"
        if name in self.plugins:
            await self.remove_plugin(name)
        self.plugins[name] = (plugin, subscribe_plugin(self, plugin))
        await maybe_await(getattr(plugin, "start", lambda s: None)(self))
        return name

    async def remove_plugin(self, name: str) -> None:
        from shoal.distributed.scheduler.plugins import maybe_await

        try:
            plugin, token = self.plugins.pop(name)
        except KeyError:
            raise ValueError(f"no scheduler plugin named {name!r}; have {sorted(self.plugins)}") from None
        self.bus.unsubscribe(token)
        await maybe_await(getattr(plugin, "close", lambda: None)())

    async def register_plugin_op(self, comm=None, plugin=None, name=None) -> str:
        return await self.add_plugin(_loads(plugin), name)

    # --- the state machine and its instructions ---------------------------------

    def handle(self, *events) -> None:
        """Feed events to the state machine and carry out what it says."""
        done_and_forgotten = []
        for ins in self.state.handle(*events):
            if getattr(ins, "client", None) == FIRE_AND_FORGET and type(ins) in (
                    m.KeyInMemory, m.ClientTaskErred):  # fmt: skip
                done_and_forgotten.append(ins.key)
                continue
            if type(ins) is m.Publish:
                self.bus.publish(ins.record)
                continue
            msg = ins.to_msg()
            target = getattr(ins, "worker", None)
            if target is not None and type(ins) is not m.Publish:
                stream = self.worker_streams.get(target)
            else:
                target = ins.client
                stream = self.client_streams.get(target)
                if type(ins) is m.ClientTaskErred:
                    msg["exception"] = _portable(ins.exception)
                    msg["traceback"] = _portable(ins.traceback)
            if stream is None:
                logger.debug("dropping %s for %s: no stream", msg["op"], target)
                continue
            try:
                stream.send(msg)
            except CommClosedError:
                logger.debug("dropping %s for %s: stream closed", msg["op"], target)
        if done_and_forgotten:  # nobody will read them: let them go
            self.handle(m.ClientReleasesKeys(done_and_forgotten, FIRE_AND_FORGET))

    def _check_worker_ttl(self) -> None:
        ttl = config.checked(config.duration, "distributed.scheduler.worker-ttl", none=True)
        if not ttl:
            return
        now = self.state.clock()
        for ws in list(self.state.workers.values()):
            if now - ws.last_seen > ttl:
                logger.warning("worker %s silent for %.0f s: removing it", ws.address, now - ws.last_seen)
                stream = self.worker_streams.pop(ws.address, None)
                if stream is not None:
                    stream.abort()
                why = self._death_reasons.pop(ws.address, f"no heartbeat for {ttl:g} s")
                self.handle(m.RemoveWorker(ws.address, why))
                self.pool.remove(ws.address)
                if ws.nanny:  # a hung worker (its event loop blocked): have it replaced
                    self._spawn(self._restart_silent(ws.nanny))

    async def _restart_silent(self, nanny: str) -> None:
        try:
            await self.pool(nanny).restart()
        except Exception as exc:  # the nanny may be gone too
            logger.warning("could not restart the silent worker through %s: %s", nanny, exc)

    # --- streams ------------------------------------------------------------------

    async def register_worker(self, comm, address, nthreads, memory_limit=0, resources=None,
                              name="", nanny="", local_directory="", metrics=None, **_):  # fmt: skip
        why = self.state.refusal(address, str(name)) if self.status == "running" else "closing"
        if why:  # (a taken address or name; the scheduler closing)
            await comm.write({"op": "refused", "reason": why})
            return NO_REPLY
        plugins = self.worker_plugin_reply()  # (worker_plugins.py)
        await comm.write({"op": "registered", "address": address, "time": time.time(),
                          "scheduler": self.id, **plugins})  # fmt: skip
        stream = BatchedSend()
        stream.start(comm)
        self.worker_streams[address] = stream
        self.handle(m.AddWorker(address, nthreads, memory_limit, resources or {}, str(name), nanny))
        self.worker_plugins_missed(address, plugins)
        ws = self.state.workers.get(address)
        if ws is not None:
            ws.local_directory = str(local_directory or "")
            if metrics and not ws.metrics:  # what scheduler_info and the dashboard show
                # until the first heartbeat (stamped here: the worker's offset was not known)
                self.handle(m.Heartbeat(address, dict(metrics, time=time.time())))
        async with self._worker_joined:
            self._worker_joined.notify_all()
        reason = "connection lost"

        def translate(msg):
            nonlocal reason
            op = msg.get("op")
            if op == "heartbeat" and "sent" in msg:  # echoed: the worker's clock offset (clock.py)
                try:
                    stream.send({"op": "clock", "sent": msg.pop("sent"), "time": time.time()})
                except CommClosedError:
                    pass
            if op in _WORKER_EVENTS:
                if op != "missing-data":
                    msg["worker"] = address
                return m.parse_event(msg)
            if op == "goodbye":
                self._goodbyes.add(address)
                reason = msg.get("reason", "worker closed")
                return None
            logger.warning("unknown op %r on the stream of worker %s", op, address)
            return None

        try:  # (peer_marks: update_data replies wait for this stream: scattering.py)
            await self._consume(comm, translate, stream.peer_marks)
        finally:
            if self.worker_streams.get(address) is stream:
                del self.worker_streams[address]
                stream.abort()
                safe = address in self._goodbyes
                self._goodbyes.discard(address)
                reason = self._death_reasons.pop(address, reason)
                if not safe:
                    logger.warning("worker %s left without a goodbye (%s)", address, reason)
                if address in self.state.workers:
                    self.handle(m.RemoveWorker(address, reason, safe=safe))
                self.pool.remove(address)
        return NO_REPLY

    async def _consume(self, comm, translate, marks: StreamMarks | None = None) -> None:
        """Handle a stream's lists of messages until it closes or ``translate`` says
        :data:`_END`; ``translate(msg)`` gives an event, or None for a message it handled.
        A marker (``BatchedSend.mark``) is passed to ``marks`` once every message read
        before it has been handled."""
        try:
            while True:
                events, end = [], False
                for msg in await comm.read():
                    if marks is not None and msg.get("op") == MARK_OP:
                        if events:
                            self.handle(*events)
                            events = []
                        marks.reach(msg.get("mark", 0))
                        continue
                    event = translate(msg)
                    if event is _END:
                        end = True
                        break
                    if event is not None:
                        events.append(event)
                if events:
                    self.handle(*events)
                if end:
                    return
        except CommClosedError:
            pass

    async def register_client(self, comm, client, **_):
        await comm.write({"op": "stream-start", "scheduler": self.id, "time": time.time()})
        stream = BatchedSend()
        stream.start(comm)
        self.client_streams[client] = stream
        self.handle(m.AddClient(client))
        def translate(msg):
            op = msg.get("op")
            if op in _CLIENT_EVENTS:
                msg.setdefault("client", client)
                return m.parse_event(msg)
            if op == "close-client":
                return _END
            return self.client_stream_op(client, msg)  # pubsub.py's, eventlog.py's; warns of others

        try:  # (peer_marks: scatter and get_dataset wait for this stream: scattering.py)
            await self._consume(comm, translate, stream.peer_marks)
        finally:
            stream.peer_marks.close()
            if self.client_streams.get(client) is stream:
                del self.client_streams[client]
                stream.abort()
                self.handle(m.RemoveClient(client))
        return NO_REPLY

    # --- requests -----------------------------------------------------------------

    async def gather(self, comm=None, keys=()):
        """Values of ``keys`` (as received from the workers), or the keys nobody has."""
        tasks = self.state.tasks
        missing = [k for k in keys if k not in tasks or not tasks[k].who_has]
        if missing:
            return {"status": "missing", "keys": missing}
        by_worker: dict = {}
        for key in keys:
            ws = min(tasks[key].who_has, key=lambda w: len(w.processing))
            by_worker.setdefault(ws.address, []).append(key)
        replies = await asyncio.gather(
            *(self._get_data(addr, ks) for addr, ks in by_worker.items()))
        data, lost, errors = {}, [], {}
        for (addr, ks), reply in zip(by_worker.items(), replies):
            got = reply.get("data", {}) if isinstance(reply, dict) else {}
            data.update(got)
            errors.update(reply.get("errors", {}) if isinstance(reply, dict) else {})
            for key in ks:
                if key not in got and key not in errors:
                    lost.append(key)
                    self.handle(m.MissingData(key, addr))
        if lost:
            return {"status": "missing", "keys": lost}
        if errors:  # values that exist but cannot leave their worker
            return {"status": "error", "errors": errors, "data": data}
        return {"status": "OK", "data": data}

    async def _get_data(self, address: str, keys: list):
        for _ in range(20):
            try:
                reply = await self.pool(address).get_data(keys=keys, who=self.address)
            except OSError as exc:
                logger.info("gather from %s failed: %s", address, exc)
                return {}
            if reply.get("status") != "busy":
                return reply
            await asyncio.sleep(0.01)
        return {}

    def who_has(self, comm=None, keys=None) -> dict:
        tasks = self.state.tasks
        keys = list(tasks) if keys is None else keys
        return {k: [w.address for w in tasks[k].who_has] if k in tasks else [] for k in keys}

    def has_what(self, comm=None, workers=None) -> dict:
        ws = self.state.workers
        workers = list(ws) if workers is None else workers
        return {w: [t.key for t in ws[w].has_what] if w in ws else [] for w in workers}

    def nthreads(self, comm=None, workers=None) -> dict:
        ws = self.state.workers
        workers = list(ws) if workers is None else workers
        return {w: ws[w].nthreads for w in workers if w in ws}

    def worker_terminating(self, comm=None, address=None, reason="") -> None:
        """A nanny is about to kill its worker (over its memory limit): the worker's lost
        connection is logged, and a task that dies with it fails (``KilledWorker``), with
        this reason rather than "connection lost"."""
        if address in self.state.workers:
            self._death_reasons[address] = str(reason)[:500]

    def identity(self, comm=None, n_workers=-1) -> dict:
        """Who this scheduler is and its workers (the first ``n_workers``; -1: all), with
        Dask's keys for the same (``services``, ``n_workers``, ``total_threads``...)."""
        dashboard = None if self.dashboard is None or self.dashboard.port is None else {
            "scheme": self.dashboard.scheme, "host": self.dashboard.host, "port": self.dashboard.port,
            "prefix": self.dashboard.prefix}  # fmt: skip
        workers = list(self.state.workers.values())
        return {
            "type": "Scheduler", "id": self.id, "address": self.address,
            "started": self.started, "dashboard_address": self.dashboard_address,
            "dashboard": dashboard, "services": {"dashboard": dashboard["port"]} if dashboard else {},
            "n_workers": len(workers), "total_threads": sum(ws.nthreads for ws in workers),
            "total_memory": sum(ws.memory_limit or 0 for ws in workers),
            "workers": {
                ws.address: {
                    "type": "Worker", "id": ws.name, "host": _host_of(ws.address),
                    "name": ws.name, "nthreads": ws.nthreads, "memory_limit": ws.memory_limit,
                    "nanny": ws.nanny, "resources": ws.resources, "metrics": ws.metrics,
                    "status": ws.status,
                    "services": {}, "local_directory": ws.local_directory,
                    "last_seen": ws.last_seen, "nbytes": ws.nbytes,
                    "processing": len(ws.processing), "keys": len(ws.has_what),
                }
                for ws in (workers if n_workers is None or n_workers < 0 else workers[:n_workers])
            },
        }  # fmt: skip

    def story(self, comm=None, keys=()) -> list:
        """The state's log entries about ``keys`` (tuple keys arrive as lists), each as it
        travels (``taskcolumns.story_to_wire``)."""
        return [story_to_wire(e) for e in self.state.story(*map(key_from_wire, keys))]

    async def progress_watch(self, comm=None, keys=()) -> dict:
        """Start watching ``keys`` and every task they need, once they are here (the
        client's graph may still be on its way; see :mod:`.progress`)."""
        keys = [key_from_wire(k) for k in keys]
        deadline = time.monotonic() + ARRIVAL_WAIT
        missing = self.progress_watches.missing(keys)
        while missing and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            missing = self.progress_watches.missing(missing)
        return self.progress_watches.start(keys)

    def progress_poll(self, comm=None, token=0, final=False) -> list:
        return self.progress_watches.poll(token, bool(final))

    def progress_stop(self, comm=None, token=0) -> None:
        self.progress_watches.stop(token)

    async def broadcast(self, comm=None, msg=None, workers=None, nanny=False):
        """Send ``msg`` (an rpc request) to workers (or their nannies); ``{address: result}``."""
        msg = dict(msg or {})
        op = msg.pop("op")
        states = self.state.workers
        workers = list(states) if workers is None else list(workers)
        unknown = [w for w in workers if w not in states]
        if unknown:
            raise ValueError(f"unknown workers {unknown}")

        async def one(address):
            target = states[address].nanny_address() if nanny else address
            return await getattr(self.pool(target), op)(**msg)

        results = await asyncio.gather(*(one(w) for w in workers))
        return dict(zip(workers, results))

    run_parameter = "dask_scheduler"  # Client.run_on_scheduler(f): f(dask_scheduler=self)

    async def run_function(self, comm=None, function=None, args=None, kwargs=None):
        return await self._run_here(function, args, kwargs)

    async def restart(self, comm=None, timeout=30):
        """Restart every worker through its nanny; every task is forgotten first."""
        workers = list(self.state.workers.values())
        without = [ws.address for ws in workers if not ws.nanny]
        if without:
            raise ValueError(f"restart needs nannies; these workers have none: {without}")
        for client in list(self.state.clients):
            keys = [ts.key for ts in self.state.clients[client].wants_what]
            if keys:
                self.handle(m.CancelKeys(keys, client, force=True, stimulus_id="restart"))
        count = len(workers)
        for ws in workers:
            self._goodbyes.add(ws.address)
        await asyncio.gather(*(self.pool(ws.nanny).restart(timeout=timeout) for ws in workers))
        deadline = time.monotonic() + float(timeout)
        while len(self.state.workers) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.state.workers)} of {count} workers came back "
                                   f"within {timeout} s after restart")  # fmt: skip
            async with self._worker_joined:
                try:
                    await asyncio.wait_for(self._worker_joined.wait(), 0.5)
                except asyncio.TimeoutError:
                    pass
        return "OK"


def _host_of(address: str) -> str:
    """The host of a worker's address: ``tcp://10.0.0.2:4000`` -> ``10.0.0.2``,
    ``inproc://127.0.0.1/1234/5`` -> ``127.0.0.1``."""
    scheme, location = parse_address(address)
    if scheme == "inproc":
        return location.split("/", 1)[0]
    return parse_host_port(location)[0]


def _listen_address(protocol: str, host, port) -> str:
    protocol = protocol or "tcp"
    if "://" in protocol:
        return protocol
    if protocol == "inproc":
        return "inproc://"
    return listen_address(protocol, host or config.get("distributed.comm.default-host"), port)


def _portable(obj):
    """An exception for the wire: the scheduler's own ones are packed like a worker's."""
    if isinstance(obj, BaseException):
        return pack_exception(obj, "scheduler")
    return obj


def _loads(obj):
    return deserialize(obj) if isinstance(obj, Serialized) else obj
