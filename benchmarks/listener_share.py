"""What a listening dashboard costs the scheduler's event loop, per task.

Two clusters in this process, each ``Client(n_workers=2, threads_per_worker=1)``::

    plain    dashboard_address=None   nobody listens
    served   dashboard_address=":0"   its dashboard process subscribed (no page open)

Each repeat times ``client.gather(client.map(inc, ...))`` of N fresh tasks on each,
the order alternating, and reads the CPU the process's event-loop threads used
(``dashboard_overhead._loop_cpu``: the clients' and schedulers' loop, from the
thread's own clock).  Reported: the median CPU per task of each, and the median and
quartiles of each repeat's difference (served less plain, seconds apart).

Why apart from ``benchmarks.dashboard_overhead``: where the scheduler's loop is the
bottleneck (many workers, short tasks) a listener's share of that thread is what the
throughput loses, and it is the one part of a dashboard's cost that more cores do not
hide.  Measured on its own thread, alternating, it is much less noisy than the
throughput of whole runs on a busy machine, so a change to what the scheduler
publishes shows here first.  No browser is needed::

    python -m benchmarks.listener_share                 # 8 repeats of 10,000 tasks
    python -m benchmarks.listener_share --repeat 2 --tasks 1000
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time

from benchmarks.dashboard_overhead import _loop_cpu
from benchmarks.stats import quartiles
from benchmarks.workloads import inc

__all__ = ["main", "measure", "report"]

#: Seconds to wait for a dashboard process to subscribe.
SUBSCRIBE_TIMEOUT = 60.0


def _wait_subscribed(client) -> None:
    from shoal.events import TASK_STATES

    bus = client.cluster.scheduler.bus
    deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
    while not bus.wants(TASK_STATES):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no dashboard subscribed within {SUBSCRIBE_TIMEOUT:g} s")
        time.sleep(0.1)


def measure(repeat: int, n: int, workers: int = 2) -> dict:
    """``{"plain": [us per task, ...], "served": [...]}``, one pair per repeat."""
    from shoal.distributed import Client

    out: dict = {"plain": [], "served": []}
    kwargs = {"n_workers": workers, "threads_per_worker": 1}
    with Client(**kwargs, dashboard_address=None) as plain, \
            Client(**kwargs, dashboard_address=":0") as served:
        _wait_subscribed(served)
        offset = 10**7
        for client in (plain, served):  # warm up: imports, pools, the dashboard's first records
            client.gather(client.map(inc, range(offset, offset + min(n, 2000))))
            offset += n
        time.sleep(0.5)
        for i in range(repeat):
            order = (("plain", plain), ("served", served))
            for name, client in order if i % 2 == 0 else order[::-1]:
                gc.collect()
                before = _loop_cpu()
                results = client.gather(client.map(inc, range(offset, offset + n)))
                used = _loop_cpu() - before
                if len(results) != n or results[0] != offset + 1:
                    raise AssertionError(f"{name}: wrong results")
                out[name].append(used / n * 1e6)
                offset += n
                time.sleep(0.4)  # the dashboard catches up: both clusters idle
    return out


def report(out: dict, n: int) -> str:
    plain, served = statistics.median(out["plain"]), statistics.median(out["served"])
    q1, mid, q3 = quartiles([s - p for p, s in zip(out["plain"], out["served"])])
    return (
        f"event-loop CPU per task, {n:,} tasks, {len(out['plain'])} repeats (medians): "
        f"plain {plain:.1f} us, served {served:.1f} us; "
        f"paired difference {mid:+.2f} us ({mid / plain:+.1%}; quartiles {q1:+.2f} .. {q3:+.2f})"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.listener_share",
                                description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("--repeat", type=int, default=8)
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    print(report(measure(args.repeat, args.tasks, args.workers), args.tasks), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
