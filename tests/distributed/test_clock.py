"""A worker whose wall clock is off reports on the scheduler's clock (``clock.py``).

A real worker process whose ``time.time`` runs 30 s behind (a ``sitecustomize``
on its ``PYTHONPATH`` shifts it, as a host without NTP would): its tasks'
timings, its profile samples and its story are read against the client's and
the scheduler's clock, and windows over them (``get_task_stream(start=)``,
``Client.profile(start=)``) find them.  Before, its tasks sat 30 s before the
others' and such windows came back without them.
"""

from __future__ import annotations

import os
import time

import pytest

from shoal.distributed import Client, LocalCluster, get_task_stream

SKEW_S = -30.0

# The skew is read from the file SHOAL_TEST_CLOCK_SKEW_FILE names (at most every 0.1 s):
# writing another number there steps the clock.
SITECUSTOMIZE = """
import os, time
_file = os.environ.get("SHOAL_TEST_CLOCK_SKEW_FILE")
if _file:
    _time, _time_ns, _monotonic = time.time, time.time_ns, time.monotonic
    _read = [0.0, -1.0]  # the skew, when it was read

    def _skew():
        now = _monotonic()
        if now - _read[1] > 0.1:
            try:
                with open(_file) as f:
                    _read[0] = float(f.read())
            except (OSError, ValueError):
                pass
            _read[1] = now
        return _read[0]

    time.time = lambda: _time() + _skew()
    time.time_ns = lambda: _time_ns() + int(_skew() * 1e9)
"""


def skewed_env(tmp_path, skew: float) -> dict:
    """Environment variables for a process whose clock runs *skew* s off this one's
    (the skew file is ``tmp_path / "skew"``)."""
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (tmp_path / "skew").write_text(str(skew))
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "SHOAL_TEST_CLOCK_SKEW_FILE": str(tmp_path / "skew")}


def spin(x, seconds=0.3):
    """CPU-bound for ``seconds`` (of the monotonic clock): the profiler sees it."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(500))
    return x + 1


@pytest.fixture
def skewed(tmp_path):
    """A LocalCluster of one worker process whose clock is SKEW_S off, and its Client."""
    env = skewed_env(tmp_path, SKEW_S)
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None, env=env) as lc, \
            Client(lc) as client:  # fmt: skip
        yield client


@pytest.mark.timeout(60)
def test_a_worker_whose_clock_is_off_reports_on_the_schedulers_clock(skewed):
    client = skewed
    metrics = client.scheduler_info()["workers"]  # (those it registered with, or a heartbeat's)
    assert [w["metrics"]["time"] for w in metrics.values()] == [pytest.approx(time.time(), abs=5.0)]
    [(worker, there)] = client.run(time.time).items()
    assert there - time.time() == pytest.approx(SKEW_S, abs=1.0)  # its clock is off

    t0 = time.time()
    with get_task_stream(client) as ts:
        assert client.gather(client.map(spin, range(4))) == [1, 2, 3, 4]
    t1 = time.time()
    # its tasks' timings, on this clock: within the window, and all of them found
    spans = [(s["start"], s["stop"]) for r in ts.data for s in r["startstops"]]
    assert len(ts.data) == 4 and all(t0 <= a <= b <= t1 for a, b in spans), (t0, spans, t1)
    assert len(client.get_task_stream(start=t0)) == 4
    # its profile samples, in a window of this clock
    assert client.profile(start=t0)["count"] > 0
    # its story, beside the scheduler's
    story = client.run(lambda dask_worker: [e[-1] for e in dask_worker.state.log])[worker]
    now = time.time()  # (its last entries may be the release of the results, after t1)
    assert story and all(t0 - 1 <= when <= now + 1 for when in story[-4:]), (t0, story[-4:], now)
    # its metrics' time (scheduler_info), as any reader of "now - time" expects
    metrics = client.scheduler_info()["workers"][worker]["metrics"]
    assert metrics["time"] == pytest.approx(time.time(), abs=5.0)
    # each heartbeat's echo is one more estimate (registration gave the first)
    deadline = time.monotonic() + 10
    while client.run(lambda dask_worker: len(dask_worker.scheduler_clock._samples))[worker] < 3:
        assert time.monotonic() < deadline, "no heartbeat echoes"
        time.sleep(0.1)
    assert client.run(lambda dask_worker: dask_worker.scheduler_clock.offset)[worker] == \
        pytest.approx(-SKEW_S, abs=1.0)  # fmt: skip


def test_the_workers_of_one_machine_keep_their_clock(c):
    """(In-process workers: an offset that cannot be told from none counts as none.)"""
    offsets = c.run(lambda dask_worker: dask_worker.scheduler_clock.offset)
    assert len(offsets) == 2 and set(offsets.values()) == {0.0}


def test_a_tasks_duration_is_measured_on_a_local_clock():
    """The offset may move while a task runs (a heartbeat's echo): its stop is its start
    plus what a local clock measured, never a second reading of the moving clock."""
    from shoal.distributed.worker.threads import Job, _run

    readings = iter([100.0, 40.0])  # the scheduler's clock, as read before and after an echo
    outcome = _run(Job("k", 1, lambda values: time.sleep(0.01), {}), 1, None,
                   clock=lambda: next(readings))  # fmt: skip
    assert outcome.kind == "ok" and outcome.start == 100.0
    assert 0.01 <= outcome.stop - outcome.start < 1.0


@pytest.mark.timeout(90)
def test_a_client_whose_clock_differs_from_the_schedulers_takes_its_windows_on_the_schedulers(
        tmp_path):  # fmt: skip
    """The scheduler (a process of its own, its clock 30 s behind this one) and a
    worker on this clock (put on the scheduler's): the client's own windows, a
    duration string's "10s ago" and a performance report's profile, are taken on
    the scheduler's clock.  Before, the report asked for samples from 30 s in the
    scheduler's future and held no profile.  Then the scheduler's clock steps back 30 s
    more: the worker starts its estimate over, and the client samples again at the
    next block."""
    import json
    import re
    import subprocess
    import sys

    from shoal.distributed import performance_report

    skewed = dict(os.environ, **skewed_env(tmp_path, SKEW_S))
    file = tmp_path / "scheduler.json"
    cmd = [sys.executable, "-m", "shoal.cli"]
    procs = [subprocess.Popen([*cmd, "scheduler", "--port", "0", "--scheduler-file", str(file),
                               "--no-dashboard"], env=skewed)]  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not file.exists():
            assert procs[0].poll() is None and time.monotonic() < deadline, "no scheduler"
            time.sleep(0.05)
        address = json.loads(file.read_text())["address"]
        here = os.pathsep.join(filter(None, [os.path.dirname(__file__), os.environ.get("PYTHONPATH")]))
        procs.append(subprocess.Popen([*cmd, "worker", address, "--nthreads", "1", "--no-nanny"],
                                      env=dict(os.environ, PYTHONPATH=here)))  # (spin's module)
        with Client(address) as client:
            client.wait_for_workers(1, timeout=30)
            assert client._scheduler_now() - time.time() == pytest.approx(SKEW_S, abs=1.0)
            report = tmp_path / "report.html"

            def profiled(start) -> int:  # samples in a report around three spins from *start*
                with performance_report(filename=str(report)):
                    assert client.gather(client.map(spin, range(start, start + 3))) == [
                        start + 1, start + 2, start + 3]  # fmt: skip
                [samples] = re.findall(r"Worker Profile \(compute\) \((\d+) samples\)",
                                       report.read_text())  # fmt: skip
                return int(samples)

            assert profiled(0) > 0
            assert len(client.get_task_stream(start="10s")) == 3
            assert client.profile(start="10s")["count"] > 0
            (tmp_path / "skew").write_text(str(2 * SKEW_S))  # the scheduler's clock steps back
            time.sleep(1.5)  # (a heartbeat's echo or two: the worker's estimate starts over)
            assert profiled(10) > 0
            assert client._scheduler_now() - time.time() == pytest.approx(2 * SKEW_S, abs=1.0)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=20)
