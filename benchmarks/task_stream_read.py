"""What a ``get_task_stream()`` request costs the scheduler's event loop, and the client.

The scheduler's task-stream log (``scheduler.diagnostics.TaskStreamLog``) is filled
with N finished tasks in workers' packed batches of 200 (as a map's workers send
them), then asked, R times each, as a report or a ``with get_task_stream()`` block
asks (no bounds), for the last 1,000 (``count``), and for a time window::

    scheduler   collect(...) and the reply packed as the comm packs it (msgpack)
    client      taskstream.task_dicts(reply): Dask's entries, in the caller's thread

Medians in milliseconds; no cluster, no browser.  The scheduler's column is time its
loop does nothing else (no task scheduled meanwhile).  It runs on older code too (with
``PYTHONPATH`` at an older checkout), where the scheduler made the dicts::

    python -m benchmarks.task_stream_read                      # 100,000 tasks, 5 repeats
    python -m benchmarks.task_stream_read --tasks 2000 --repeat 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import msgpack

__all__ = ["fill", "main", "measure"]

BATCH = 200  # tasks per worker batch


def fill(n: int):
    """A TaskStreamLog holding *n* finished tasks (one-millisecond tasks back to back,
    ending a second ago); ``(log, first end, last end)``."""
    from shoal.bus import Bus
    from shoal.distributed.scheduler.diagnostics import TaskStreamLog
    from shoal.distributed.taskcolumns import pack_task_rows
    from shoal.events import TaskTransition, row_of

    bus = Bus("benchmark")
    log = TaskStreamLog(bus, maxlen=n)
    end = time.time() - 1.0
    first = end - n * 1e-3
    for b in range(0, n, BATCH):
        rows = []
        for i in range(b, min(n, b + BATCH)):
            t = first + i * 1e-3
            rows.append(row_of(TaskTransition(
                "run", ("inc-0123456789abcdef", i), "inc", "processing", "memory",
                "tcp://127.0.0.1:40000", 140_000 + i % 2, (("compute", t, t + 1e-3),), 28, "int")))
        bus.publish(pack_task_rows(rows))
    return log, first, end


def measure(n: int, repeat: int) -> dict:
    """``{request: (scheduler ms, client ms, tasks returned, reply MB)}`` medians."""
    try:
        from shoal.distributed.taskstream import task_dicts
    except ImportError:  # (the code before 2026-11-27: the scheduler made the dicts)
        task_dicts = list
    log, first, end = fill(n)
    requests = {"no bounds (a report's)": {}, "count=1000": {"count": 1000},
                "start/stop: the middle half": {"start": first + (end - first) / 4,
                                                "stop": end - (end - first) / 4}}  # fmt: skip
    out = {}
    for name, kwargs in requests.items():
        server, client = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            reply = log.collect(**kwargs)
            data = msgpack.packb(reply)
            t1 = time.perf_counter()
            tasks = task_dicts(msgpack.unpackb(data, strict_map_key=False))
            t2 = time.perf_counter()
            server.append((t1 - t0) * 1e3)
            client.append((t2 - t1) * 1e3)
        out[name] = (statistics.median(server), statistics.median(client), len(tasks),
                     len(data) / 1e6)  # fmt: skip
    log.close()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    results = measure(args.tasks, args.repeat)
    print(f"get_task_stream() of {args.tasks:,} tasks held, {args.repeat} repeats (medians)\n")
    print("| request | scheduler's loop (ms) | client (ms) | tasks | reply (MB) |")
    print("|---|---:|---:|---:|---:|")
    for name, (server, client, tasks, size) in results.items():
        print(f"| {name} | {server:.1f} | {client:.0f} | {tasks:,} | {size:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
