"""Distributed workloads: ``shoal.distributed.Client`` against ``dask.distributed.Client``.

Both libraries run on the same machine in the same run, each with
``Client(n_workers=2, threads_per_worker=1, processes=True)`` (a LocalCluster of
two worker processes with one thread each), interleaved per repeat as in
``workloads.py``::

    map-gather      client.gather(client.map(inc, range(N)))                      N=10,000
    delayed-graph   client.compute(delayed(sum)([delayed(inc)(i) ...])).result()  N=10,000 (+ sum)
    round-trip      R x client.submit(inc, i, pure=False).result(), one by one    R=200
    tree-reduction  client.compute(<add tree over L inc leaves>).result()         L=4,096
    client-start    fresh process: import, Client(...), wait_for_workers(2), close()

(``--quick``: N=1,000, R=50, L=256.)  The graphs of ``delayed-graph`` and
``tree-reduction`` are those of the core suite (``workloads.sum_of_incs`` and
``workloads.tree_reduction``), built outside the timed region.

Each in-process case starts its own client, waits for both workers, runs a small
warm-up (a ``map`` of 20 tasks, one ``submit``, one small graph ``compute``, so
that the workers have imported the task functions and the client its compute
path), times the workload, and closes the client -- the cluster's worker
processes must then be gone: a process this case started and that still runs
after ``close()`` fails the case (and is killed).  ``client-start`` runs in a
fresh ``python -c`` per sample and times, with ``time.perf_counter`` from the
first line of that program:

==========================  ==================================================
variant                     what is timed
==========================  ==================================================
``import + start + close``  ``from X.distributed import Client`` +
                            ``Client(...)`` + ``wait_for_workers(2)`` +
                            ``close()`` (the target row)
``import``                  ``from X.distributed import Client`` alone
``start``                   ``Client(...)`` until ``wait_for_workers(2)``
                            returns (two workers registered)
``close``                   ``client.close()`` and, if it returns sooner, until
                            the two worker processes have exited (polled every
                            5 ms)
``whole process``           the subprocess's wall time seen from the parent:
                            interpreter start, all of the above, and exit
==========================  ==================================================

Every result is checked: the sum of the task results (and, for
``client-start``, that two workers registered and no child process outlived
``close()``) must equal the expected value for both libraries.  A library that
raises, hangs past ``DEADLINE_S`` seconds in the parent (the run then aborts
with every thread's traceback), or leaks worker processes shows as ``failed``
with its error, never as a skipped row.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import statistics
import subprocess
import sys
import time
import traceback

from benchmarks.workloads import (
    REPO, Case, Lib, Sample, Unavailable, inc, sum_of_incs, timed, tree_reduction,
)  # fmt: skip

__all__ = ["make_distributed_cases", "running_client", "client_start"]

CLIENT_KWARGS = {"n_workers": 2, "threads_per_worker": 1, "processes": True}
N_WORKERS = CLIENT_KWARGS["n_workers"]

TARGET_TASKS = 0.20  # tasks/s at least 5x Dask's: seconds per task at most 0.2 of Dask's
TARGET_ROUND_TRIP = 0.5
TARGET_START = 0.5

DEADLINE_S = 600  # one case of one library, in this process; past it the run aborts
CHILD_TIMEOUT_S = 180  # one client-start subprocess
LEAK_GRACE_S = 10  # how long close()'s worker processes may take to exit

IMPORTS = {
    "shoal": "from shoal.distributed import Client",
    "dask": "from dask.distributed import Client",
}


def sizes(quick: bool) -> dict:
    if quick:
        return {"tasks": 1_000, "round_trips": 50, "leaves": 256, "transfer_mb": 20}
    return {"tasks": 10_000, "round_trips": 200, "leaves": 4_096, "transfer_mb": 200}


def client_class(lib: Lib):
    """The Client class of *lib*, imported the way ``IMPORTS`` spells it."""
    namespace: dict = {}
    try:
        exec(IMPORTS[lib.name], namespace)
    except Exception as exc:  # noqa: BLE001 - shown in the table as "failed"
        raise Unavailable(f"{lib.name}: `{IMPORTS[lib.name]}` failed: "
                          f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
    return namespace["Client"]


def worker_env() -> None:
    """Worker processes import ``benchmarks.workloads.inc`` by name: put the repo on their path."""
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if REPO not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, *paths) if p)


# -- child processes: a case must leave none running -------------------------------
def _children() -> dict:
    """``{pid: psutil.Process}`` of this process's live descendants (not zombies)."""
    import psutil

    out = {}
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        # multiprocessing's resource tracker (started once by Dask's spawned
        # workers) lives as long as this process by design: not a leak.
        if "multiprocessing.resource_tracker" in cmd:
            continue
        out[p.pid] = p
    return out


def _leftovers(before: dict, grace: float = LEAK_GRACE_S) -> list:
    """Processes started since *before* that are still running after *grace* seconds."""
    deadline = time.monotonic() + grace
    while True:
        new = {pid: p for pid, p in _children().items() if pid not in before}
        if not new or time.monotonic() > deadline:
            return list(new.values())
        time.sleep(0.05)


def _describe(procs: list) -> str:
    parts = []
    for p in procs:
        try:
            parts.append(f"pid {p.pid}: {' '.join(p.cmdline())[:100]}")
        except Exception:  # noqa: BLE001 - it may have exited meanwhile
            parts.append(f"pid {p.pid}")
    return "; ".join(parts)


def _kill(procs: list) -> None:
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()


@contextlib.contextmanager
def running_client(lib: Lib):
    """A started, warmed-up Client of *lib*; closed afterwards, and no process left behind."""
    Client = client_class(lib)
    worker_env()
    before = _children()
    client = None
    ok = False
    try:
        client = Client(**CLIENT_KWARGS)
        client.wait_for_workers(N_WORKERS)
        warm_up(lib, client)
        yield client
        ok = True
    finally:
        try:
            if client is not None:
                client.close()
        except Exception:
            if ok:
                raise
            print(f"{lib.name}: client.close() failed too:\n{traceback.format_exc()}",
                  file=sys.stderr, flush=True)  # fmt: skip
        finally:
            left = _leftovers(before)
            if left:
                _kill(left)
                msg = (f"{lib.name}: {len(left)} process(es) still running "
                       f"{LEAK_GRACE_S} s after client.close(): {_describe(left)}")  # fmt: skip
                if ok:
                    raise Unavailable(msg)
                print(msg, file=sys.stderr, flush=True)


def warm_up(lib: Lib, client) -> None:
    assert sum(client.gather(client.map(inc, range(-20, 0)))) == sum(range(-19, 1))
    assert client.submit(inc, -100, pure=False).result() == -99
    graph = lib.delayed(sum)([lib.delayed(inc)(i) for i in range(-10, 0)])
    assert client.compute(graph).result() == sum(range(-9, 1))


def guarded(lib: Lib, fn):
    """Run ``fn()``: an error or a leak becomes :class:`Unavailable` (a ``failed`` cell)."""
    faulthandler.dump_traceback_later(DEADLINE_S, exit=True)
    try:
        return fn()
    except Unavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - reported in the table and printed in full
        tb = traceback.format_exc()
        print(f"\n{lib.name}.distributed failed:\n{tb}", file=sys.stderr, flush=True)
        raise Unavailable(f"{lib.name}: {type(exc).__name__}: {exc}"[:500]) from exc
    finally:
        faulthandler.cancel_dump_traceback_later()


# -- the workloads -----------------------------------------------------------------
def map_gather(lib: Lib, n: int) -> dict:
    def go():
        with running_client(lib) as client:
            return timed(lambda: sum(client.gather(client.map(inc, range(n)))))

    return {"": [guarded(lib, go)]}


def compute_graph(lib: Lib, build) -> dict:
    def go():
        with running_client(lib) as client:
            obj = build(lib)
            return timed(lambda: client.compute(obj).result())

    return {"": [guarded(lib, go)]}


def round_trips(lib: Lib, n: int) -> dict:
    def go():
        with running_client(lib) as client:
            def loop():
                total = 0
                for i in range(n):
                    total += client.submit(inc, i, pure=False).result()
                return total

            return timed(loop)

    return {"": [guarded(lib, go)]}


def _filled(nbytes: int):
    import numpy as np

    return np.full(nbytes // 8, 1.0)


def _total(x) -> float:
    return float(x.sum())


def transfer(lib: Lib, mb: int) -> dict:
    """``mb`` MB made on one worker, then a task on the other that takes it as input: the
    time of that task is the move between the two processes (a comm's large frame)."""

    def go():
        with running_client(lib) as client:
            first, second = sorted(client.scheduler_info()["workers"])
            x = client.submit(_filled, mb * 2**20, workers=[first], pure=False)
            while x.status == "pending":
                time.sleep(0.001)
            return timed(lambda: client.submit(_total, x, workers=[second], pure=False).result())

    return {"": [guarded(lib, go)]}


# -- client-start, in a fresh process per sample --------------------------------------
CHILD = """\
import time
t0 = time.perf_counter()
{import_line}
t1 = time.perf_counter()
client = Client(n_workers={n_workers}, threads_per_worker={threads}, processes={processes})
client.wait_for_workers({n_workers})
t2 = time.perf_counter()
workers = len(client.scheduler_info()["workers"])
import psutil
me = psutil.Process()
t3 = time.perf_counter()
client.close()
# close() may return before the worker processes have exited: wait for them too
deadline = time.monotonic() + {grace}
while True:
    left = [p for p in me.children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE
            and "multiprocessing.resource_tracker" not in " ".join(p.cmdline())]
    if not left or time.monotonic() > deadline:
        break
    time.sleep(0.005)
t4 = time.perf_counter()
import json
print("RESULT " + json.dumps({{"import": t1 - t0, "start": t2 - t1, "close": t4 - t3,
                              "total": (t2 - t0) + (t4 - t3), "workers": workers,
                              "left": [" ".join(p.cmdline())[:100] for p in left]}}), flush=True)
"""

START_VARIANTS = ["import + start + close", "import", "start", "close", "whole process"]


def client_start(lib: Lib) -> dict:
    code = CHILD.format(import_line=IMPORTS[lib.name], n_workers=N_WORKERS,
                        threads=CLIENT_KWARGS["threads_per_worker"],
                        processes=CLIENT_KWARGS["processes"], grace=LEAK_GRACE_S)  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(f"{lib.name}: client-start subprocess still running after "
                          f"{CHILD_TIMEOUT_S} s (killed)") from exc  # fmt: skip
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        print(f"\n{lib.name} client-start subprocess failed (rc {proc.returncode}):\n"
              f"{proc.stderr[-3000:]}", file=sys.stderr, flush=True)  # fmt: skip
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise Unavailable(f"{lib.name}: client-start subprocess failed (rc {proc.returncode}): {tail[0]}")
    out = json.loads(lines[-1][len("RESULT "):])
    if out["left"]:
        raise Unavailable(f"{lib.name}: {len(out['left'])} process(es) still running "
                          f"{LEAK_GRACE_S} s after client.close(): {out['left']}")  # fmt: skip
    result = (out["workers"], len(out["left"]))
    figures = {"import + start + close": out["total"], "import": out["import"],
               "start": out["start"], "close": out["close"], "whole process": wall}  # fmt: skip
    return {v: [Sample(figures[v], result)] for v in START_VARIANTS}


def _median(samples: dict, variant: str) -> float:
    return statistics.median(s.seconds for s in samples[variant])


# -- the cases -------------------------------------------------------------------------
WORKLOADS = ("map-gather", "delayed-graph", "round-trip", "tree-reduction", "transfer",
             "client-start")  # fmt: skip


def make_distributed_cases(quick: bool = False) -> list[Case]:
    s = sizes(quick)
    n, r, leaves, mb = s["tasks"], s["round_trips"], s["leaves"], s["transfer_mb"]
    # Dask needs ~20-30 s per 10,000-task case on 2 cores: those run at most 3 repeats.
    cap = None if quick else 3
    where = "Client(2 procs x 1 thread)"
    return [
        Case(workload="map-gather", title=f"client.map(inc, range({n:,})) + gather",
             scheduler=where, measure=lambda lib: map_gather(lib, n),
             expected=sum(range(1, n + 1)), tasks=n, unit="tasks/s",
             targets={"": TARGET_TASKS}, max_repeat=cap),
        Case(workload="delayed-graph", title=f"delayed sum-of-incs ({n:,} incs + sum)",
             scheduler=where, measure=lambda lib: compute_graph(lib, lambda lb: sum_of_incs(lb, n)),
             expected=sum(range(1, n + 1)), tasks=n + 1, unit="tasks/s",
             targets={"": TARGET_TASKS}, max_repeat=cap),
        Case(workload="round-trip", title=f"submit(inc, i).result() x {r}, sequential",
             scheduler=where, measure=lambda lib: round_trips(lib, r),
             expected=sum(range(1, r + 1)), tasks=r, unit="ms",
             targets={"": TARGET_ROUND_TRIP}),
        Case(workload="tree-reduction", title=f"tree-reduction ({leaves:,} leaves)",
             scheduler=where, measure=lambda lib: compute_graph(lib, lambda lb: tree_reduction(lb, leaves)),
             expected=sum(range(1, leaves + 1)), tasks=2 * leaves - 1, unit="tasks/s",
             targets={"": TARGET_TASKS}, max_repeat=cap),
        Case(workload="transfer", title=f"move {mb} MB between workers (a task's input)",
             scheduler=where, measure=lambda lib: transfer(lib, mb),
             expected=float(mb * 2**20 // 8), unit="s"),
        Case(workload="client-start", title="Client() start to close, 2 worker processes",
             scheduler="fresh process", measure=client_start, variants=START_VARIANTS,
             expected=(N_WORKERS, 0), unit="s", reduce=_median,
             targets={"import + start + close": TARGET_START}),
    ]  # fmt: skip
