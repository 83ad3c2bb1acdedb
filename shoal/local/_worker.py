"""The main loop of a process-pool worker (``shoal.local._worker R W PARENT``, started
by :func:`shoal.spawn.python_command`).

Messages from the parent (pickled tuples on the task pipe, fd ``R``)::

    ("init", sys_path, cwd)       once, first (cwd None: the parent's was deleted)
    ("config", blob)              the parent's live config changed
    ("run", keys, blob)           blob = cloudpickle of (nodes, inputs)

Its first message on the result pipe is ``b"ready"`` (``pool.READY``): a worker that
ends before it failed to start (the pool quotes the error :mod:`shoal.spawn` reports).
Each ``run`` is answered on the result pipe (fd ``W``) with a pickled list of
outcomes ``(key, ok, payload, start, stop, pid)``: ``payload`` is the pickled
result, or a packed exception (``remote_errors``) saying at which stage it
failed.  Results are pickled one by one so a result that cannot be pickled fails
only its own key.  EOF on the task pipe (the parent closed the pool or died)
ends the loop.  A parent that dies while this worker runs a task (a Jupyter kernel
killed or restarted: the worker is in a session of its own, so the kernel's process
group does not take it along) is seen by a watcher thread within half a second,
which ends the process: the task was the dead parent's, and an endless one would
hold a core of the user's next kernel for good.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time

#: exit status of a worker whose parent died (ended by its watcher thread)
ORPHANED = 3
#: True in a pool worker (set by :func:`main` on this module as imported, not on the
#: ``__main__`` copy it runs as): a processes compute that one of its tasks starts runs on
#: threads there (a pool of processes in every worker multiplied the processes per level).
#: Not an environment variable: a program a task launches would have inherited it.
IN_WORKER = False


def _dumps(value) -> bytes:
    try:
        return pickle.dumps(value, protocol=5)
    except Exception:
        import cloudpickle

        return cloudpickle.dumps(value, protocol=5)


def _run(keys, blob, pid) -> list:
    import cloudpickle  # noqa: F401 - needed by pickled functions

    from shoal.local.batch import execute_batch
    from shoal.local.remote_errors import pack_exception

    start = time.time()
    try:
        nodes, inputs = pickle.loads(blob)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        return [(keys[0], False, pack_exception(exc, "unpickle-task"), start, time.time(), pid)]
    graph = dict(zip(keys, nodes))
    out = []
    for key, ok, value, start, stop, _ in execute_batch(keys, graph, inputs):
        if ok:
            try:
                payload = _dumps(value)
            except BaseException as exc:  # noqa: BLE001
                ok, payload = False, pack_exception(exc, "pickle-result")
        else:
            payload = pack_exception(value, "run")
        out.append((key, ok, payload, start, stop, pid))
        if not ok:
            break
    return out


def _watch_parent(parent: int, every: float = 0.5) -> None:
    """End this process once its parent *parent* is gone (an orphan gets another
    parent, so ``getppid()`` changes), whatever the main thread is running."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(ORPHANED)


def main(task_fd: int, result_fd: int, parent: int | None = None) -> None:
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import shoal.local._worker as imported  # (see IN_WORKER)

    imported.IN_WORKER = True
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent,), name="shoal-parent-watch",
                         daemon=True).start()  # fmt: skip
    for fd in (task_fd, result_fd):  # a process a task starts must not hold our pipes: a
        os.set_inheritable(fd, False)  # worker that died would not read as dead (no EOF)
    tasks = Connection(task_fd, writable=False)
    results = Connection(result_fd, readable=False)
    try:
        results.send_bytes(b"ready")  # (pool.READY: imported, so it can no longer fail to start)
    except BrokenPipeError:  # the parent gave up on it as it started (a Ctrl-C there): quietly
        return
    pid = os.getpid()
    while True:
        try:
            msg = pickle.loads(tasks.recv_bytes())
        except EOFError:
            return
        op = msg[0]
        if op == "run":
            results.send_bytes(pickle.dumps(_run(msg[1], msg[2], pid), protocol=5))
        elif op == "config":
            from shoal import config

            config.config.clear()
            config.config.update(config.deserialize(msg[1]))
        elif op == "init":
            sys.path[:] = msg[1]
            try:
                os.chdir(msg[2] or os.getcwd())  # (None: the parent's was deleted)
            except OSError:
                pass


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
