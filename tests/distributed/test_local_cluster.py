"""LocalCluster and adaptive scaling.

The sizing rules and the adaptive decisions are pure functions tested without
processes; the cluster itself is tested with real worker processes (nannies)
and with in-process workers, synchronous and asynchronous.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest

psutil = pytest.importorskip("psutil")

from shoal.distributed.deploy import Adaptive, LocalCluster
from shoal.distributed.deploy.adaptive import AdaptiveCore, Load, workers_to_close
from shoal.distributed.deploy.local import (
    _pick_protocol, _workers_for, default_sizing, format_limit, nprocesses_nthreads,
)  # fmt: skip
from shoal.core.machine import cpu_count, system_memory
from shoal.distributed.nanny import Nanny
from shoal.testing.aio import run

# --- sizing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cores, expected",
    [(1, (1, 1)), (2, (2, 1)), (3, (3, 1)), (4, (4, 1)), (6, (3, 2)), (8, (4, 2)), (9, (3, 3)),
     (12, (4, 3)), (16, (4, 4)), (24, (6, 4)), (7, (7, 1)), (64, (8, 8))],
)  # fmt: skip
def test_nprocesses_nthreads_fills_the_cores(cores, expected):
    assert nprocesses_nthreads(cores) == expected
    n, t = expected
    assert n * t == cores


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, (4, 2)),
        ({"processes": False}, (1, 8)),
        ({"n_workers": 2}, (2, 4)),
        ({"n_workers": 3}, (3, 3)),  # overcommit rather than leave a core idle
        ({"threads_per_worker": 1}, (8, 1)),
        ({"threads_per_worker": 3}, (2, 3)),
        ({"threads_per_worker": 16}, (1, 16)),
        ({"threads_per_worker": 2, "processes": False}, (1, 2)),
        ({"n_workers": 0}, (0, 8)),
        ({"n_workers": 2, "threads_per_worker": 5}, (2, 5)),
    ],
)
def test_default_sizing(kwargs, expected):
    assert default_sizing(8, **kwargs) == expected


def test_default_sizing_on_this_machine_uses_every_core():
    n, t = default_sizing(cpu_count())
    assert n * t == cpu_count()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_workers": -1}, ValueError, "n_workers must be >= 0, got -1"),
        ({"threads_per_worker": 0}, ValueError, "threads_per_worker must be >= 1, got 0"),
        ({"n_workers": 1.5}, TypeError, "n_workers must be an int"),
        ({"threads_per_worker": "2"}, TypeError, "threads_per_worker must be an int"),
    ],
)
def test_default_sizing_errors_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        default_sizing(4, **kwargs)


def test_workers_for_scale_arguments():
    assert _workers_for(3, None, None, 2, None) == 3
    assert _workers_for(1, 7, None, 2, None) == 4
    assert _workers_for(0, None, "2.5 GB", 1, 10**9) == 3
    with pytest.raises(ValueError, match="memory_limit"):
        _workers_for(0, None, "1 GB", 1, None)
    with pytest.raises(ValueError, match="n must be >= 0"):
        _workers_for(-1, None, None, 1, None)


def test_protocol_choice():
    assert _pick_protocol(None, True, None) == "tcp"
    assert _pick_protocol(None, False, None) == "inproc"
    assert _pick_protocol(None, True, object()) == "tls"
    assert _pick_protocol("tcp://", False, None) == "tcp"
    with pytest.raises(ValueError, match="unknown protocol 'udp'"):
        _pick_protocol("udp", True, None)


def test_processes_with_inproc_is_refused_before_anything_starts():
    with pytest.raises(ValueError, match="cannot use inproc://"):
        LocalCluster(n_workers=1, protocol="inproc")


def test_format_limit():
    assert format_limit(None) == "unlimited"
    assert format_limit(512) == "512 B"
    assert format_limit(3 * 2**30) == "3.00 GiB"


# --- adaptive decisions (pure) ----------------------------------------------------------


def idle(n):
    return {i: (0, 0) for i in range(n)}


def test_adaptive_scales_up_at_once_within_maximum():
    core = AdaptiveCore(minimum=0, maximum=5)
    assert core.recommend(Load(tasks=3, workers=idle(1), threads_per_worker=1)).n == 3
    assert core.recommend(Load(tasks=7, workers=idle(1), threads_per_worker=2)).n == 4
    assert core.recommend(Load(tasks=100, workers=idle(1), threads_per_worker=2)).n == 5
    assert core.recommend(Load(tasks=0, workers={}, threads_per_worker=2)).n == 0


def test_adaptive_keeps_the_minimum():
    core = AdaptiveCore(minimum=2, maximum=5, wait_count=1)
    assert core.recommend(Load(0, {}, 1)).n == 2
    rec = core.recommend(Load(0, idle(4), 1))
    assert rec.n == 2 and rec.close == (3, 2)


def test_adaptive_scales_down_only_after_wait_count_looks():
    core = AdaptiveCore(minimum=0, maximum=10, wait_count=3)
    load = Load(tasks=1, workers={0: (1, 0), 1: (0, 50), 2: (0, 10)}, threads_per_worker=1)
    assert [core.recommend(load).n for _ in range(2)] == [3, 3]
    rec = core.recommend(load)
    assert rec.n == 1 and rec.close == (2, 1)  # idle ones, least data first


def test_adaptive_lull_resets_the_count():
    core = AdaptiveCore(minimum=0, maximum=10, wait_count=2)
    quiet, busy = Load(0, idle(2), 1), Load(2, idle(2), 1)
    assert core.recommend(quiet).n == 2
    assert core.recommend(busy).n == 2  # work came back: start counting again
    assert core.recommend(quiet).n == 2
    assert core.recommend(quiet).n == 0


def test_adaptive_argument_errors():
    with pytest.raises(ValueError, match="minimum must be >= 0"):
        AdaptiveCore(minimum=-1)
    with pytest.raises(ValueError, match="maximum .* below minimum"):
        AdaptiveCore(minimum=3, maximum=2)
    with pytest.raises(ValueError, match="wait_count"):
        AdaptiveCore(wait_count=0)


def test_workers_to_close_prefers_idle_small_new_workers():
    workers = {0: (0, 0), 1: (2, 0), 2: (0, 100), 3: (0, 0)}
    assert workers_to_close(workers, 2) == [3, 0]
    assert workers_to_close(workers, 0) == []
    assert workers_to_close(workers, 9) == [3, 0, 2, 1]


class FakeCluster:
    def __init__(self, load):
        self._load, self.calls = load, []

    def load(self):
        return self._load

    async def _scale(self, n, close=()):
        self.calls.append((n, tuple(close)))


def test_adaptive_loop_calls_scale_with_the_recommendation():
    async def main():
        cluster = FakeCluster(Load(tasks=4, workers=idle(1), threads_per_worker=2))
        adaptive = Adaptive(cluster, minimum=0, maximum=8, interval=0.01, wait_count=1)
        adaptive.start()
        await asyncio.sleep(0.1)
        await adaptive._stop()
        assert cluster.calls and set(cluster.calls) == {(2, ())}
        assert "stopped" in repr(adaptive)
        adaptive.stop()  # idempotent

    run(main(), 10)


# --- clusters ---------------------------------------------------------------------------


def test_sync_cluster_with_worker_processes():
    me = psutil.Process()
    t0 = time.monotonic()
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1 GiB") as cluster:
        elapsed = time.monotonic() - t0
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert cluster.status == "running"
        info = cluster.scheduler_info
        assert len(info["workers"]) == 2
        assert all(w["nanny"] and w["nthreads"] == 1 and w["memory_limit"] == min(2**30, system_memory())
                   for w in info["workers"].values())  # fmt: skip
        assert sorted(cluster.workers) == [0, 1]
        assert all(isinstance(w, Nanny) for w in cluster.workers.values())
        pids = {w.pid for w in cluster.workers.values()}
        assert pids <= {p.pid for p in me.children()} and os.getpid() not in pids
        link = cluster.dashboard_link  # Dask's default: a dashboard on :8787 (or the next free port)
        assert link.startswith("http://127.0.0.1:") and link.endswith("/status")
        text = repr(cluster)
        assert "workers=2" in text and "threads=2" in text and cluster.scheduler_address in text
        assert cluster.scheduler_address in cluster._repr_html_()
    assert cluster.status == "closed"
    assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE for p in pids)
    assert elapsed < 20, f"two worker processes took {elapsed:.1f} s to start"


def test_default_cluster_fills_the_machine_and_splits_memory():
    with LocalCluster(processes=False) as cluster:
        workers = cluster.scheduler_info["workers"].values()
        assert sum(w["nthreads"] for w in workers) == cpu_count()
        assert cluster.scheduler_address.startswith("inproc://")
    n, _ = nprocesses_nthreads(cpu_count())
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=False) as cluster:
        limits = {w["memory_limit"] for w in cluster.scheduler_info["workers"].values()}
        assert limits == {system_memory() // n}


def test_scale_up_and_down_in_process():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        cluster.scale(3)
        assert len(cluster.workers) == 3 and len(cluster.scheduler.state.workers) == 3
        cluster.scale(cores=2)
        assert sorted(cluster.workers) == [0, 1]  # the newest went first
        cluster.wait_for_workers(2, timeout=5)
        assert len(cluster.scheduler.state.workers) == 2
        cluster.scale(0)
        assert cluster.workers == {} and not cluster.scheduler.state.workers


def _live_children(before=frozenset()) -> list:
    """This process's live children, less those in *before* (an earlier test's
    process pool, say, is not this cluster's)."""
    return [p for p in psutil.Process().children()
            if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE]  # fmt: skip


def test_scale_worker_processes():
    before = {p.pid for p in _live_children()}
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:  # no dashboard child
        cluster.scale(2)
        assert len(cluster.scheduler.state.workers) == 2 and len(_live_children(before)) == 2
        cluster.scale(1)
        assert len(cluster.scheduler.state.workers) == 1
        deadline = time.monotonic() + 10
        while len(_live_children(before)) != 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_async_cluster():
    async def main():
        async with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                asynchronous=True) as cluster:  # fmt: skip
            assert cluster.loop is asyncio.get_running_loop()
            await cluster.scale(2)
            await cluster.wait_for_workers(2, timeout=5)
            assert len(cluster.scheduler.state.workers) == 2
        assert cluster.status == "closed"
        cluster = await LocalCluster(n_workers=0, processes=False, asynchronous=True)
        assert cluster.scheduler_address and not cluster.workers
        await cluster.close()

    run(main(), 30)


def test_adapt_follows_the_load():
    with LocalCluster(n_workers=3, threads_per_worker=1, processes=False) as cluster:
        adaptive = cluster.adapt(minimum=1, maximum=4, interval=0.02, wait_count=2)
        deadline = time.monotonic() + 10
        while len(cluster.workers) != 1:  # nothing to do: down to the minimum
            assert time.monotonic() < deadline, cluster.workers
            time.sleep(0.02)
        assert list(cluster.workers) == [0]
        assert adaptive.log and adaptive.log[-1][1].n == 1
        cluster.adapt(minimum=2, maximum=4, interval=0.02)  # replaces the first one
        deadline = time.monotonic() + 10
        while len(cluster.scheduler.state.workers) != 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert adaptive._task is None  # the old one was stopped
        cluster._adaptive.stop()  # from this (non-loop) thread
        n = len(cluster.workers)
        time.sleep(0.1)
        assert cluster._adaptive._task is None and len(cluster.workers) == n


def test_a_scale_down_cancelled_halfway_still_closes_the_workers_it_took_out():
    """Stopping an adaptive cluster cancels a scale-down under way: the workers it had
    already taken out of the cluster closed halfway and kept their sampler threads
    (the leak check at this test's end sees them)."""
    import threading

    with LocalCluster(n_workers=3, threads_per_worker=1, processes=False) as cluster:
        taken = [w for name, w in cluster.workers.items() if name != 0]

        async def scale_down_then_cancel():
            task = asyncio.ensure_future(cluster._scale(1, close=[1, 2]))
            while len(cluster.workers) > 1:
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.wait_for(asyncio.gather(*(w.finished() for w in taken)), 10)

        cluster._sync(scale_down_then_cancel)
        assert [w.status for w in taken] == ["closed", "closed"]
        assert not any(w.profiler.running for w in taken)
        names = {t.name for t in threading.enumerate()}
        assert not any(w.address in " ".join(names) for w in taken)


def _sleep(seconds):
    time.sleep(seconds)
    return seconds


def test_the_close_of_a_cluster_waits_for_the_workers_a_cancelled_scale_down_is_closing():
    """A scale-down cut short (an adaptive cluster stopped) hands its workers' closes
    to the cluster's own close: ``close()`` returning with one still closing left its
    sampler thread to the loop's shutdown, which cancelled that close halfway."""
    from shoal.distributed import Client

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    victim = cluster.workers[1]
    with Client(cluster) as c:
        c.submit(_sleep, 0.5, workers=[victim.address], pure=False)
        deadline = time.monotonic() + 10
        while not victim.state or not victim.state.executing:  # (its close waits for it)
            assert time.monotonic() < deadline
            time.sleep(0.01)

    async def scale_down_cut_short():
        task = asyncio.ensure_future(cluster._scale(1, close=[1]))
        while 1 in cluster.workers:
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    cluster._sync(scale_down_cut_short)
    cluster.close()
    assert victim.status == "closed" and not victim.profiler.running
    assert not victim.threads.threads or not any(t.is_alive() for t in victim.threads.threads)


def test_a_cancelled_close_of_a_cluster_or_client_is_finished_by_the_next():
    """``wait_for(cluster.close(), t)`` that times out left the cluster "closing" for
    good: a second close hung, the scheduler kept listening; a client's cancelled close
    left its own cluster running and made every later close a no-op."""
    from shoal.distributed import Client
    from shoal.testing.aio import cancel_after, run

    async def main():
        cluster = await LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                     dashboard_address=None, asynchronous=True)  # fmt: skip
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(cluster.close(), 0.001)
        await asyncio.wait_for(cluster.close(), 10)
        assert cluster.status == "closed" and cluster.scheduler.status == "closed"
        for steps in (1, 2, 4):
            client = await Client(asynchronous=True, processes=False, n_workers=1,
                                  dashboard_address=None)  # fmt: skip
            await cancel_after(client.close(), steps)
            await asyncio.wait_for(client.close(), 10)
            assert client.status == "closed" and client.cluster.status == "closed", steps
            assert client.cluster.scheduler.status == "closed"

    run(main(), 60)


def test_adapt_then_close_leaves_no_adaptive_running():
    from shoal.testing.aio import run

    async def main():
        cluster = await LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                     dashboard_address=None, asynchronous=True)  # fmt: skip
        adaptive = cluster.adapt(minimum=2, maximum=3, interval=0.05)  # (its swap still to run)
        await cluster.close()
        await asyncio.sleep(0.2)
        assert adaptive._task is None and len(cluster.workers) == 0

    run(main(), 30)


def test_silence_logs_is_restored(caplog):
    log = logging.getLogger("shoal.distributed")
    before = log.level
    with LocalCluster(n_workers=0, processes=False, silence_logs=logging.ERROR):
        assert log.level == logging.ERROR
    assert log.level == before


def test_close_is_idempotent_and_scale_after_close_errors():
    cluster = LocalCluster(n_workers=1, processes=False)
    cluster.close()
    cluster.close()
    with pytest.raises(RuntimeError, match="closed"):
        cluster.scale(2)


def test_failed_worker_start_closes_everything():
    class Broken:
        def __init__(self, *args, **kwargs):
            pass

        async def start(self):
            raise OSError("no room at the inn")

        async def close(self):
            pass

    with pytest.raises(RuntimeError, match="2 of 2 workers failed to start.*no room at the inn"):
        LocalCluster(n_workers=2, processes=False, worker_class=Broken)


def test_tls_cluster():
    pytest.importorskip("cryptography")
    with LocalCluster(n_workers=1, threads_per_worker=1, security=True) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        assert len(cluster.scheduler.state.workers) == 1
        certs = cluster.security.tls_ca_file
        assert os.path.exists(certs)
    assert not os.path.exists(certs)  # throwaway certificates removed with the cluster


def test_two_worker_processes_start_fast():
    """Target: a 2-process cluster ready in half of Dask's time (Dask: ~2-4 s here)."""
    t0 = time.monotonic()
    with LocalCluster(n_workers=2, threads_per_worker=1):
        elapsed = time.monotonic() - t0
    assert elapsed < 5, f"{elapsed:.2f} s"


def test_close_while_scaling_leaves_nothing_behind():
    before = {p.pid for p in _live_children()}

    async def main():
        cluster = await LocalCluster(n_workers=0, threads_per_worker=1, asynchronous=True)
        scaling = cluster.scale(2)  # worker processes starting...
        await asyncio.sleep(0.05)
        await asyncio.gather(cluster.close(), cluster.close())  # ...when the cluster closes
        await asyncio.gather(scaling, return_exceptions=True)
        assert cluster.status == "closed" and cluster.workers == {}
        assert _live_children(before) == []

    run(main(), 30)


INTERRUPTED_START = """
import os, signal, sys, threading, time
sys.path.insert(0, {root!r})
import psutil
from shoal.distributed import Client
from shoal.distributed.deploy import local

scale = local.LocalCluster._scale

async def interrupted(self, n):  # a Ctrl-C while the workers start
    os.kill(os.getpid(), signal.SIGINT)
    await scale(self, n)

local.LocalCluster._scale = interrupted
t0 = time.monotonic()
try:
    Client(n_workers=2, threads_per_worker=1, dashboard_address=":0")
except KeyboardInterrupt:
    print("interrupted after", round(time.monotonic() - t0, 1), flush=True)
time.sleep(0.5)
print("children", len(psutil.Process().children(recursive=True)),
      "threads", sorted(t.name for t in threading.enumerate()), flush=True)
"""


@pytest.mark.timeout(60)
def test_a_start_interrupted_closes_what_it_started_at_once():
    """Ctrl-C while ``Client()`` started its cluster: the loop went first, cancelling
    the cluster's closing, and waited 10 s for it ("the shoal-loop thread did not stop
    within 10 s"), leaving the dashboard and the worker processes running."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", INTERRUPTED_START.format(root=root)],
                          capture_output=True, text=True, timeout=50)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    took, rest = proc.stdout.split("interrupted after ")[1].split("\n", 1)
    assert float(took) < 8, proc.stdout
    assert rest.split() == ["children", "0", "threads", "['MainThread']"], proc.stdout
    assert "did not stop" not in proc.stderr, proc.stderr


def test_adapt_bounds_in_cores_and_memory_and_refuses_what_it_does_not_do():
    """Dask's ``*_cores``/``*_memory`` bounds are read; its other options are refused by
    name (they were accepted and did nothing: adapt(maximum_cores=2) scaled without limit)."""
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, memory_limit="1GB",
                      dashboard_address=":0") as cluster:  # fmt: skip
        adaptive = cluster.adapt(minimum_cores=4, maximum_cores=6, interval=0.02)
        assert (adaptive.core.minimum, adaptive.core.maximum) == (2, 3)
        adaptive = cluster.adapt(maximum_memory="2GB", interval=0.02)
        assert adaptive.core.maximum == 2
        with pytest.raises(TypeError, match="target_duration not supported"):
            cluster.adapt(target_duration="5s")
        cluster._adaptive.stop()
