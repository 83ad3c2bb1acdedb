"""Running a batch of ready tasks: the code that executes on a worker.

The engine hands workers *batches* of ready keys rather than single tasks, so the
fixed cost of a hand-off (a queue put, a future, a pipe round trip) is paid once
per batch.  Every worker kind -- the caller's thread (sync), a pool thread, a pool
process, any ``concurrent.futures.Executor`` -- ends up in :func:`execute_batch`.

An *outcome* is the tuple ``(key, ok, value, start, stop, thread)``: ``value`` is
the result, or the exception when ``ok`` is False.  Times are wall-clock
(``time.time``) so outcomes from different processes line up in the task stream.
A batch stops at its first error (the computation is failing anyway) and as soon
as ``cancelled`` is set, so an interrupted compute frees its workers quickly.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from shoal import sampling

__all__ = ["execute_batch"]


def execute_batch(keys, graph, data, cancelled=None, hooks=None) -> list:
    """Run the nodes ``graph[k]`` for *keys* in order, reading inputs from *data*.

    While a local Dashboard is open (``shoal.sampling.profiler``), this thread is
    registered with its sampler for the batch and names each task it runs there
    (stacks start below this frame), and an outer task's registration comes back
    after a nested compute's.

    A task's exception ends the batch as its outcome, ``KeyboardInterrupt`` too
    unless Ctrl-C can reach this thread (the main thread, SIGINT not ignored: the sync
    scheduler, also under asyncio's or a kernel's handler), where it is the user's and
    goes up at once; on a pool's thread, or in a pool's process (which ignores
    SIGINT), it can only be the task's own.

    *hooks* (a compute's ``shoal.local.hooks.RunHooks``, only while a Dask-style
    ``Callback`` is active) are called just before and after each task, in this
    thread; one that raises is the task's error."""
    out = []
    append = out.append
    now = time.time
    thread = threading.get_ident()
    profiler = sampling.profiler
    is_set = cancelled.is_set if cancelled is not None else None
    interruptible = (threading.current_thread() is threading.main_thread()
                     and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN)
    slot = profiler.task_started(thread, None, sys._getframe()) if profiler is not None else None
    try:
        for key in keys:
            if is_set is not None and is_set():
                break
            node = graph[key]
            if slot is not None:
                slot.key = key
            start = now()
            try:
                if hooks is None:
                    value = node(data)
                else:
                    value = hooks.run(key, node, data, thread)
            except BaseException as exc:  # SystemExit too: re-raised by the caller
                if interruptible and isinstance(exc, KeyboardInterrupt):
                    raise
                append((key, False, exc, start, now(), thread))  # (exc._shoal_key: the inner one)
                break
            finally:
                if slot is not None:
                    slot.key = None  # (the batch's own code is no task's)
            append((key, True, value, start, now(), thread))
    finally:
        if slot is not None:
            profiler.task_finished(thread, slot.before)
    return out
