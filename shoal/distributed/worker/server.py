"""The worker server: owns a :class:`WorkerState`, runs what it says.

::

    scheduler stream ──lists of {"op"}──> events ─┐
    thread pool:  task done / raised ─────────────┼─> state.handle(*events) ─> instructions
    peers: get_data replies (GatherDep) ──────────┤                               │
    ticks: heartbeat, memory monitor, find-missing┘                               v
        Execute        -> queue the task for the task threads (TaskThreads); what
                          finished meanwhile comes back as one batch of ExecuteSuccess/Failure
        GatherDep      -> get_data from the peer (ConnectionPool), feed GatherDep*
        SchedulerMsg   -> the scheduler stream (BatchedSend), adding nothing but ``op``
        RequestWhoHas  -> ask the scheduler, feed RefreshWhoHas
        RetryBusyWorkerLater -> feed RetryBusyWorker after a back-off

Everything but task execution happens on the event loop thread, so the state
machine needs no lock.  Results live in ``self.data`` (a spill buffer when a
memory limit is set: least-recently-used values move to ``local_directory``).

Exceptions raised by tasks are packed with :func:`shoal.local.remote_errors.pack_exception`
(plain data that always travels: the pickled exception when it pickles, its type
name, message and the formatted traceback) so a client gets the original type
and the worker's traceback text; see :mod:`shoal.distributed.client`.

With ``distributed.worker.profile.enabled`` a :class:`~shoal.diagnostics.sampler.Sampler` samples
the task threads while they run tasks (``threads._run`` registers them); each heartbeat
carries the trees sampled since the last one (``profile``), and the ``profile``
op answers from its history.

Peers ask for data with ``get_data``; more than ``connections.incoming`` at
once are told ``busy`` and retry.  The server's own listener keeps payloads
``Serialized`` so scattered values and run specs are unpickled only here, when
needed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import time
import uuid

from shoal import config
from shoal.distributed import scratch
from shoal.distributed.batched import MARK_OP, BatchedSend, StreamMarks
from shoal.distributed.clock import SchedulerClock
from shoal.distributed.comm import CommClosedError, connect, parse_address
from shoal.distributed.comm.base import listen_address
from shoal.distributed.protocol import Serialized, deserialize, deserialize_tree, serialize
from shoal.distributed.node import Node
from shoal.distributed.rpc import ConnectionPool, Server
from shoal.distributed.taskcolumns import key_from_wire
from shoal.distributed.worker import messages as m
from shoal.diagnostics import sampler as profile
from shoal.diagnostics.probe import CpuClock
from shoal.distributed.worker.memory import (
    MemoryReading, MemoryThresholds, decide, worker_memory_limit,
)  # fmt: skip
from shoal.distributed.worker.actors import HoldsActors
from shoal.distributed.worker.context import KnowsCurrentTask, TaskClient
from shoal.distributed.worker.events import LogsEvents
from shoal.distributed.worker.introspection import AnswersIntrospection
from shoal.distributed.worker.plugins import RunsPlugins
from shoal.distributed.worker.state import WorkerState
from shoal.distributed.worker.taskrows import SWITCH_OP, TaskRowReporter
from shoal.distributed.worker.threads import Job, Outcome, Reschedule, TaskThreads
from shoal.core.errortext import MAX_ERROR_LENGTH, clip_text, exception_text
from shoal.local.remote_errors import add_note, pack_exception
from shoal.sizeof import sizeof

__all__ = ["Worker", "Reschedule"]

logger = logging.getLogger(__name__)

_FROM_SCHEDULER = {
    cls.op: cls for cls in (m.ComputeTask, m.FreeKeys, m.StealRequest, m.AcquireReplicas,
                            m.RemoveReplicas)
}  # fmt: skip


class Worker(RunsPlugins, LogsEvents, KnowsCurrentTask, HoldsActors, AnswersIntrospection, Node):
    """One worker: a thread pool, its state machine, a listener for peers."""

    def __init__(self, scheduler_address: str, nthreads=None, memory_limit="auto", name=None,
                 host=None, port=0, protocol=None, security=None, local_directory=None,
                 nanny=None, resources=None, validate=False, death_timeout=None,
                 heartbeat_interval=None):  # fmt: skip
        self.scheduler_address = scheduler_address
        self.nthreads = int(nthreads or os.cpu_count() or 1)
        self.name = name
        self.security, self.nanny, self.validate = security, nanny, validate
        self.resources = dict(resources or {})
        self.death_timeout = death_timeout
        self.memory_limit = worker_memory_limit(memory_limit, self.nthreads)
        self.heartbeat_interval = config.checked(config.duration, "distributed.worker."
            "heartbeat-interval", heartbeat_interval or None, "heartbeat_interval")  # fmt: skip
        scheme = protocol or parse_address(scheduler_address)[0]
        if scheme == "inproc":
            self._listen_at = "inproc://"
        else:
            self._listen_at = listen_address(
                scheme, host or config.get("distributed.comm.default-host"), port)
        self._local_directory = local_directory
        self.local_directory = None
        self._scratch = None  # scratch.Scratch, from start()
        self.id = f"Worker-{uuid.uuid4().hex[:12]}"
        self.server = Server({
            "get_data": self.get_data, "update_data": self.update_data, "run": self.run,
            "close": self.close_op, "terminate": self.close_op, "get_metrics": self.metrics,
            "identity": self.identity, "story": self.story, "profile": self.get_profile,
            "get_profile": self.get_profile, "profile_metadata": self.get_profile_metadata,
            **self.plugin_handlers(),  # WorkerPlugin (worker/plugins.py)
            **self.introspection_handlers(),  # call_stack, dump_state (worker/introspection.py)
            **self.actor_handlers(),  # actors (worker/actors.py)
        }, security=security, role="worker")  # fmt: skip
        self.peers = ConnectionPool(security=security, role="worker")
        self.data = None
        self.state: WorkerState | None = None
        self.stream: BatchedSend | None = None
        #: markers of the scheduler's stream (``update_data`` waits for the one it carries)
        self.scheduler_marks = StreamMarks("the scheduler's stream")
        self.task_rows: TaskRowReporter | None = None  # (taskrows.py) made at start
        self.threads: TaskThreads | None = None
        self.task_client = TaskClient(self)  # get_client() in its tasks (context.py)
        # what it reports is stamped on the scheduler's clock (clock.py)
        self.scheduler_clock = SchedulerClock()
        self.profiler = (profile.Sampler(clock=self.scheduler_clock.now)
                         if profile.profile_enabled() else None)  # fmt: skip
        self._init_node()
        self._serving = 0
        self._incoming_limit = config.checked(config.count, "distributed.worker.connections.incoming")
        self._thresholds = MemoryThresholds.from_config()
        self._process = None
        self._cpu = CpuClock()  # this process's CPU share between two metrics()
        self.status = "created"
        self.close_reason = ""

    # --- lifecycle ------------------------------------------------------------------

    @property
    def address(self) -> str | None:
        return self.server.address

    async def start(self) -> Worker:
        if self.status == "running":
            return self
        try:
            await self.server.listen(self._listen_at)
        except RuntimeError:
            if self.status in ("closing", "closed"):  # closed while it started listening
                return self
            raise
        if self.status in ("closing", "closed"):  # closed while it started listening
            await self.server.close()
            return self
        self._scratch = scratch.make(self._local_directory or config.get("temporary-directory"))
        self.local_directory = self._scratch.path  # (locked while this process lives)
        self.data = _data_store(self.local_directory, self.memory_limit)
        self.state = WorkerState(address=self.address, nthreads=self.nthreads, data=self.data,
                                 resources=self.resources, validate=self.validate,
                                 clock=self.scheduler_clock.now)  # fmt: skip
        self.task_rows = TaskRowReporter(self.address)
        self.threads = TaskThreads(self.nthreads, self._executed, name=f"shoal-worker-{self.address}",
                                   profiler=self.profiler or profile.Sampler(),  # (never started:
                                   # registers task threads for call_stack only)
                                   clock=self.scheduler_clock.now, on_secede=self._seceded,
                                   owner=self)  # fmt: skip
        self.threads.start()
        if self.profiler is not None:
            self.profiler.start()
        try:
            comm = await connect(self.scheduler_address, self.death_timeout, self.security,
                                 role="worker")  # fmt: skip
            sent = time.time()
            await comm.write({
                "op": "register_worker", "address": self.address, "nthreads": self.nthreads,
                "memory_limit": self.memory_limit or 0, "resources": self.resources,
                "name": self.name if self.name is not None else self.address,
                "nanny": self.nanny or "", "local_directory": self.local_directory or "",
                "metrics": self.metrics(),  # (scheduler_info has them before the first heartbeat)
            })  # fmt: skip
            reply = await comm.read()
            if isinstance(reply, dict):
                self.scheduler_clock.sample(sent, reply.get("time"), time.time())
        except BaseException as exc:
            await self._release()
            if isinstance(exc, Exception) and self.status in ("closing", "closed"):
                return self  # closed on purpose meanwhile: its connection's end is no failure
            raise
        if not isinstance(reply, dict) or reply.get("op") != "registered":
            await comm.close()
            await self._release()
            why = reply.get("reason") if isinstance(reply, dict) else reply
            raise RuntimeError(f"scheduler {self.scheduler_address} refused worker: {why}")
        if self.status in ("closing", "closed"):  # closed while it started (a cluster scaled
            await comm.close()  # down meanwhile): what the start made after close() goes too
            await self._release()
            return self
        self.stream = BatchedSend()
        self.stream.on_write = self.task_rows.attach
        self.stream.start(comm)
        self.status = "running"
        await self._setup_plugins(reply.get("worker-plugins"))  # before its first task
        self._spawn(self._read_stream(comm))
        self._spawn(self._every(self.heartbeat_interval, self._heartbeat))
        monitor = config.checked(config.duration, "distributed.worker.memory.monitor-interval")
        if self.memory_limit:
            self._spawn(self._every(monitor, self._memory_monitor))
        self._spawn(self._every(1.0, lambda: self.handle(m.FindMissing(stimulus_id=_sid("find-missing")))))
        logger.info("worker %s joined %s", self.address, self.scheduler_address)
        return self

    async def _close(self, report: bool = True, reason: str = "worker closed") -> None:
        """(``close(report=, reason=)``, see :class:`~shoal.distributed.node.Node`)"""
        self.status = "closing"
        self.close_reason = reason  # the nanny reads it: lost scheduler vs told to close
        try:
            if self.stream is not None:
                try:
                    if report:
                        self.stream.send({"op": "goodbye", "reason": reason})
                    await self.stream.close(timeout=2)
                except CommClosedError:
                    pass
            await self._cancel_tasks()
            await self._teardown_plugins()
        finally:
            await self._release()

    async def _release(self) -> None:
        # the threads are told to stop before the first await: a close cancelled from
        # outside (the loop's own shutdown) still leaves none running
        if self.threads is not None:
            self.threads.stop()
        if self.profiler is not None:
            self.profiler.stop()  # joins the sampler thread: it wakes at once, ms at most
        await self.task_client.close()  # (a seceded task waiting on it ends)
        await self.stop_actors()
        await self.server.close()
        await self.peers.close()
        if self.threads is not None:
            threads = self.threads.threads
            deadline = time.monotonic() + 5
            while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        if self.data is not None and hasattr(self.data, "close"):
            self.data.close()
        if self._scratch is not None:
            self._scratch.remove()

    async def close_op(self, comm=None, **_) -> str:
        self._spawn(self.close(reason="asked to close"))
        return "OK"

    # --- the state machine and its instructions -----------------------------------

    def handle(self, *events) -> None:
        if self.status not in ("running",):
            return
        instructions = self.state.handle(*events)
        # while tasks still run here more reports follow soon: they may share a write
        can_wait = bool(self.state.executing)
        for ins in instructions:
            kind = type(ins)
            if isinstance(ins, m.SchedulerMsg):
                msg = ins.to_msg()
                if kind is m.TaskFinishedMsg and self.task_rows.on:
                    ts = self.state.tasks.get(ins.key)
                    if ts is not None:
                        self.task_rows.add(msg, ts)
                try:
                    self.stream.send(msg, can_wait=can_wait)
                except CommClosedError:
                    pass
            elif kind is m.Execute:
                self._execute(ins.key, ins.run_id)
            elif kind is m.GatherDep:
                self._spawn(self._gather_dep(ins.worker, ins.keys, ins.total_nbytes, ins.stimulus_id))
            elif kind is m.RetryBusyWorkerLater:
                asyncio.get_running_loop().call_later(
                    0.15, lambda w=ins.worker: self.handle(m.RetryBusyWorker(worker=w, stimulus_id=_sid("retry-busy"))))
            elif kind is m.RequestWhoHas:
                self._spawn(self._who_has(ins.keys, ins.stimulus_id))
            else:
                raise TypeError(f"unknown worker instruction {ins!r}")
        self.drop_released_actors()  # (actors.py: their keys forgotten just now)

    async def _read_stream(self, comm) -> None:
        try:
            while True:
                batch = await comm.read()
                events = []
                for msg in batch:
                    op = msg.get("op")
                    cls = _FROM_SCHEDULER.get(op)
                    if cls is not None:
                        events.append(cls.from_msg(msg))
                    elif op == MARK_OP:  # what came before it is handled first
                        if events:
                            self.handle(*events)
                            events = []
                        self.scheduler_marks.reach(msg.get("mark", 0))
                    elif op == SWITCH_OP:  # before this batch's tasks run
                        self.task_rows.switch(msg.get("on"))
                    elif op == "clock":  # a heartbeat's echo
                        self.scheduler_clock.sample(msg.get("sent", 0.0), msg.get("time"), time.time())
                    elif op == "close":
                        self._spawn(self.close(report=False, reason=msg.get("reason", "")))
                        return
                    else:
                        logger.warning("worker %s: unknown op %r from the scheduler", self.address, op)
                if events:
                    self.handle(*events)
        except CommClosedError:
            if self.status == "running":
                logger.warning("worker %s lost the scheduler %s; closing", self.address,
                               self.scheduler_address)  # fmt: skip
                self._spawn(self.close(report=False, reason="scheduler lost"))
        finally:  # (closed, told to close, or cancelled): a request waiting on a marker fails
            self.scheduler_marks.close()

    # --- execution ------------------------------------------------------------------

    def _execute(self, key, run_id: int) -> None:
        ts = self.state.tasks.get(key)
        if ts is None or ts.state not in ("executing", "resumed", "cancelled"):
            return
        try:
            spec = ts.run_spec
            if isinstance(spec, Serialized):
                spec = ts.run_spec = deserialize(spec)
            values = {dep.key: self.data[dep.key] for dep in ts.dependencies}
        except Exception as exc:  # unpickling the task or reading an input
            # reported after the instructions being carried out now, as a thread would
            asyncio.get_running_loop().call_soon(
                self.handle, self._failure(key, run_id, exc, "unpickle-task", None, None, None))
            return
        self.threads.submit(Job(key, run_id, spec, values))

    def _executed(self, outcomes: list[Outcome]) -> None:
        """What the task threads finished since the last delivery: one state-machine step."""
        events = []
        for o in outcomes:
            if o.kind == "ok":
                value = o.value
                events.append(m.ExecuteSuccess(
                    key=o.key, run_id=o.run_id, value=value, value_nbytes=sizeof(value),
                    type=_typename(value), start=o.start, stop=o.stop, thread=o.thread,
                    stimulus_id=_sid("task-finished"),
                ))  # fmt: skip
            elif o.kind == "failed":
                events.append(self._failure(o.key, o.run_id, o.exc, "run", o.start, o.stop, o.thread))
            else:
                events.append(m.ExecuteReschedule(key=o.key, run_id=o.run_id,
                                                  stimulus_id=_sid("reschedule")))  # fmt: skip
        self.handle(*events)

    def _seceded(self, key, run_id: int, seconds: float) -> None:
        self.handle(m.Secede(key=key, run_id=run_id, compute_duration=seconds,
                             stimulus_id=_sid("secede")))  # fmt: skip

    def _failure(self, key, run_id, exc, stage, start, stop, thread) -> m.ExecuteFailure:
        # name the task that raised (a fused node knows its inner key): the client
        # may be waiting on a dependent of it
        add_note(exc, getattr(exc, "_shoal_key", key), stage)
        packed = _clip(pack_exception(exc, stage))
        return m.ExecuteFailure(
            key=key, run_id=run_id, exception=packed, traceback=None,
            exception_text=f"{packed[1]}: {packed[2]}", traceback_text=packed[3],
            start=start, stop=stop, thread=thread, stimulus_id=_sid("task-erred"),
        )  # fmt: skip

    # --- transfers ------------------------------------------------------------------

    async def _gather_dep(self, worker: str, keys: list, total: int, stimulus_id: str) -> None:
        start, began = self.scheduler_clock.now(), time.perf_counter()  # (clock.py)
        try:  # (unpickled here, value by value: one that fails spoils only its key)
            reply = await self.peers(worker)._request(
                {"op": "get_data", "keys": keys, "who": self.address}, deserialize=False)
        except OSError as exc:
            self.handle(m.GatherDepNetworkFailure(worker=worker, exception_text=str(exc),
                                                  stimulus_id=_sid("gather-dep-network-failure")))
            return
        except Exception as exc:  # (the peer's answer was an error)
            packed = pack_exception(exc, "fetch-input")
            self.handle(m.GatherDepFailure(worker=worker, exception=packed,
                                           exception_text=f"{packed[1]}: {packed[2]}",
                                           traceback_text=packed[3],
                                           stimulus_id=_sid("gather-dep-failure")))  # fmt: skip
            return
        if reply.get("status") == "busy":
            self.handle(m.GatherDepBusy(worker=worker, stimulus_id=_sid("gather-dep-busy")))
            return
        data, errors = {}, dict(reply.get("errors") or {})  # (those its holder could not send)
        for key, payload in reply.get("data", {}).items():
            try:
                data[key] = deserialize_tree(payload)
            except Exception as exc:
                errors[key] = pack_exception(exc, "unpickle-input")
        self.handle(m.GatherDepSuccess(
            worker=worker, data=data, errors=errors,
            data_nbytes={k: sizeof(v) for k, v in data.items()},
            total_nbytes=total, start=start, stop=start + (time.perf_counter() - began),
            stimulus_id=_sid("gather-dep-success"),
        ))  # fmt: skip

    async def _who_has(self, keys: list, stimulus_id: str) -> None:
        try:
            who_has = await self.peers(self.scheduler_address).who_has(keys=keys)
        except OSError:
            return
        self.handle(m.RefreshWhoHas(who_has=who_has, stimulus_id=stimulus_id))

    # --- requests from peers, the scheduler and clients -----------------------------

    async def get_data(self, comm=None, keys=(), who=None) -> dict:
        if self._serving >= self._incoming_limit:
            return {"status": "busy"}
        self._serving += 1
        try:
            data, errors = {}, {}
            for key in keys:
                if key not in self.data:
                    continue
                try:  # pickled here, not in the comm, so one bad value spoils only its key
                    data[key] = serialize(self.data[key])
                except Exception as exc:
                    text = exception_text(exc)  # (its __str__ may raise: user code)
                    logger.warning("worker %s failed to pickle %r: %s", self.address, key, text)
                    exc = RuntimeError(f"failed to pickle the result of {key!r}: {text}")
                    errors[key] = pack_exception(exc, "pickle-result")
            reply = {"status": "OK", "data": data}
            if errors:
                reply["errors"] = errors
            return reply
        finally:
            self._serving -= 1

    async def update_data(self, comm=None, data=None, report=True, stream_mark=None) -> dict:
        """Store ``data`` after what the scheduler's stream carried before ``stream_mark`` (a
        free-keys); the reply's marker orders what this worker sent before it (batched.py)."""
        if stream_mark:
            await self.scheduler_marks.wait(stream_mark, timeout=30.0)
        values = {k: deserialize(v) if isinstance(v, Serialized) else v for k, v in (data or {}).items()}
        nbytes = {k: sizeof(v) for k, v in values.items()}
        self.handle(m.UpdateData(data=values, data_nbytes=nbytes, report=report,
                                 stimulus_id=_sid("update-data")))  # fmt: skip
        return {"nbytes": nbytes, "stream_mark": self.stream.mark() if stream_mark else None}

    async def run(self, comm=None, function=None, args=None, kwargs=None):
        return await self._run_here(function, args, kwargs)

    def identity(self, comm=None) -> dict:
        return {"type": "Worker", "id": self.id, "address": self.address, "name": self.name,
                "nthreads": self.nthreads, "memory_limit": self.memory_limit,
                "scheduler": self.scheduler_address, "nanny": self.nanny, "pid": os.getpid()}  # fmt: skip

    def story(self, comm=None, keys=()) -> list:
        """The log entries about ``keys`` (tuple keys arrive as lists), each field as text
        (entries of many shapes; in the worker, ``dask_worker.state.story(key)`` has them
        typed)."""
        return [tuple(map(str, e)) for e in self.state.story(*map(key_from_wire, keys))]

    def metrics(self, comm=None) -> dict:
        process = _process(self)
        rss = process.memory_info().rss if process is not None else 0
        managed = getattr(self.data, "managed", None)
        if managed is None:
            managed = self.state.nbytes_in_memory
        spilled = getattr(self.data, "spilled_bytes", 0)
        on_disk = getattr(self.data, "spilled_disk_bytes", spilled)
        # what the memory bars draw: the process's bytes split into results (at most
        # the process: a result's measured size may count pages never touched, a
        # np.zeros) and the rest; spilled: the bytes in the spill files, as Dask's
        in_process = min(int(managed), int(rss)) if process is not None else int(managed)
        return {
            "managed": in_process, "unmanaged": max(int(rss) - in_process, 0),
            "spilled": int(on_disk), "memory": int(rss), "memory_limit": self.memory_limit or 0,
            # Dask's names, which notebooks read from scheduler_info(): all results, and
            # of the spilled ones their size in memory and on disk (sizes as measured)
            "managed_bytes": int(managed) + int(spilled),
            "spilled_bytes": {"memory": int(spilled), "disk": int(on_disk)},
            "cpu": self._cpu.percent(),
            "executing": len(self.state.executing) + len(self.state.long_running),
            "ready": len(self.state.ready),
            "in_memory": len(self.data), "paused": self.state.paused,
            "time": self.scheduler_clock.now(),
        }  # fmt: skip

    def get_profile(self, comm=None, start=None, stop=None, key=None) -> dict:
        """The call tree of the task threads over [start, stop], of one prefix with ``key``."""
        if isinstance(key, list):  # a tuple key that travelled as a list
            key = tuple(key)
        return self.profiler.get_profile(start, stop, key) if self.profiler else {}

    def get_profile_metadata(self, comm=None, start=None, stop=None) -> dict:
        if self.profiler is None:
            return {"counts": [], "keys": {}}
        return self.profiler.get_profile_metadata(start, stop)

    # --- periodic -----------------------------------------------------------------

    def _heartbeat(self) -> None:
        metrics = self.metrics()
        if self.profiler is not None:  # here, not in metrics(): get_metrics must not drain it
            metrics["profile"] = self.profiler.take_recent()
        try:
            self.stream.send({"op": "heartbeat", "metrics": metrics, "sent": time.time()})
        except CommClosedError:
            pass

    def _memory_monitor(self) -> None:
        process = _process(self)
        if process is None:
            return
        managed = getattr(self.data, "managed", self.state.nbytes_in_memory)
        reading = MemoryReading(process.memory_info().rss, int(managed),
                                int(getattr(self.data, "spilled_bytes", 0)))  # fmt: skip
        decision = decide(reading, self.memory_limit, self._thresholds, paused=self.state.paused)
        if decision.spill_bytes and hasattr(self.data, "evict"):
            running = (*self.state.executing, *self.state.long_running)
            busy = {dep.key for ts in running for dep in ts.dependencies}
            self.data.evict(decision.spill_bytes, exclude=busy)
        if decision.pause != self.state.paused:
            logger.warning("worker %s %s: %s", self.address,
                           "paused" if decision.pause else "resumed",
                           decision.pause_reason)  # fmt: skip
            event = m.Pause if decision.pause else m.Unpause
            self.handle(event(stimulus_id=_sid("memory-monitor")))

    def __repr__(self) -> str:
        return f"<Worker {self.address!r} {self.status} threads={self.nthreads}>"


def _clip(packed: tuple) -> tuple:
    """``packed`` (see ``pack_exception``) with its message cut to ``MAX_ERROR_LENGTH`` (and
    the exception rebuilt with the clipped text when its type allows, else sent as text),
    and its traceback text, which ends with the message, to twice that."""
    blob, type_name, message, tb, stage = packed
    tb = clip_text(tb, 2 * MAX_ERROR_LENGTH)
    if len(message) <= MAX_ERROR_LENGTH:
        return blob, type_name, message, tb, stage
    message = clip_text(message)
    rebuilt = _same_type(blob, message)
    blob = pack_exception(rebuilt, stage)[0] if rebuilt is not None else None
    return blob, type_name, message, tb, stage


def _same_type(blob, message: str):
    """The pickled exception rebuilt with ``message``, or None when its type does not allow it."""
    if blob is None:
        return None
    try:
        original = pickle.loads(blob)
        exc = type(original)(message)
        exc.__dict__.update(getattr(original, "__dict__", {}))
        return exc
    except Exception:
        return None


_ids = iter(range(1, 1 << 62))


def _sid(what: str) -> str:
    return f"{what}-{next(_ids)}"


def _typename(value) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__


def _process(worker):
    if worker._process is None:
        try:
            import psutil
        except ImportError:
            return None
        worker._process = psutil.Process()
    return worker._process


def _data_store(directory: str, memory_limit):
    """The key -> value mapping: a spill buffer when memory is limited, else a dict."""
    if not memory_limit:
        return {}
    try:
        from shoal.distributed.worker.spill import SpillBuffer
    except ImportError:  # built alongside; a plain dict until it exists
        return {}
    max_spill = config.get("distributed.worker.memory.max-spill")
    target = MemoryThresholds.from_config().target  # kept at every insert, not only per tick
    return SpillBuffer(os.path.join(directory, "spill"), max_spill=max_spill or None,
                       target=int(target * memory_limit) if target else None)  # fmt: skip
