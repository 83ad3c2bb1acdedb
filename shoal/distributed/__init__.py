"""shoal's distributed runtime: a scheduler, workers and clients talking over comms.

The package is built in stages; each imports only the stages before it::

    protocol   message <-> frames: msgpack envelopes, pickled payloads as raw frames
       |
    comm       Comm / Listener / Connector ABCs; tcp://, tls://, inproc:// backends
       |
    rpc        Server (op -> handler table), rpc(address) proxies, ConnectionPool
    batched    BatchedSend: many small messages coalesced into one write
       |
    scheduler/, worker/   pure state machines: events in, instructions out,
                          and the servers that run their instructions (server.py)
    nanny                 a process that starts, watches and restarts one worker
    client/               Client (async core + sync facade), Future, wait, as_completed,
                          progress, get_task_stream, performance_report
    deploy/               LocalCluster, Adaptive

``security`` (TLS settings, throwaway certificates) is a leaf used by ``comm``.

Importing ``shoal.distributed`` is cheap: the public names below are resolved
on first use (``from shoal.distributed import Client`` imports the client then).

Anything that can connect to a shoal port can make it run arbitrary Python:
listeners bind 127.0.0.1 unless told otherwise; expose them only on trusted
networks or behind TLS (``tls://`` with :class:`~shoal.distributed.security.Security`).
"""

from shoal.core.extras import require as _require

_require("distributed", "msgpack", "tornado", "psutil", what="shoal.distributed")

_LAZY = {
    "Client": "shoal.distributed.client", "Future": "shoal.distributed.client",
    "as_completed": "shoal.distributed.client", "wait": "shoal.distributed.client",
    "fire_and_forget": "shoal.distributed.client", "futures_of": "shoal.distributed.client",
    "default_client": "shoal.distributed.client", "default_client_get": "shoal.distributed.client",
    "FutureCancelledError": "shoal.distributed.client",
    "LocalCluster": "shoal.distributed.deploy.local", "Adaptive": "shoal.distributed.deploy.adaptive",
    "Scheduler": "shoal.distributed.scheduler.server", "Worker": "shoal.distributed.worker.server",
    "Reschedule": "shoal.distributed.worker.server", "Nanny": "shoal.distributed.nanny",
    "get_worker": "shoal.distributed.worker.context", "get_client": "shoal.distributed.worker.context",
    "secede": "shoal.distributed.worker.context", "rejoin": "shoal.distributed.worker.context",
    "worker_client": "shoal.distributed.worker.context",
    "SchedulerPlugin": "shoal.distributed.scheduler.plugins",
    "WorkerPlugin": "shoal.distributed.plugins", "UploadFile": "shoal.distributed.plugins",
    "UploadDirectory": "shoal.distributed.builtin_plugins",
    "Environ": "shoal.distributed.builtin_plugins", "PipInstall": "shoal.distributed.builtin_plugins",
    "KilledWorker": "shoal.distributed.scheduler.messages",
    "Security": "shoal.distributed.security",
    "progress": "shoal.distributed.client.progress",
    "get_task_stream": "shoal.distributed.client.diagnostics",
    "performance_report": "shoal.distributed.client.diagnostics",
    "Variable": "shoal.distributed.coordination", "Queue": "shoal.distributed.coordination",
    "Lock": "shoal.distributed.coordination", "Event": "shoal.distributed.coordination",
    "Semaphore": "shoal.distributed.leases", "MultiLock": "shoal.distributed.leases",
    "Actor": "shoal.distributed.actor", "ActorFuture": "shoal.distributed.actor",
    "Pub": "shoal.distributed.pubsub", "Sub": "shoal.distributed.pubsub",
    "print": "shoal.distributed.task_output", "warn": "shoal.distributed.task_output",
    # what a cancelled future raises (FutureCancelledError is one) and a timed-out wait, as
    # dask.distributed names them
    "CancelledError": "concurrent.futures", "TimeoutError": "builtins",
}  # fmt: skip


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)
