"""Ctrl-C during a compute, on each local scheduler.

Each case runs a script in a subprocess: 20 tasks of 0.5 s on 2 workers, and
SIGINT 0.3 s after the first task started.  Tasks log their start and end to a
file (with pid and time); the script reports, as JSON, when KeyboardInterrupt
arrived and what it saw afterwards.  Expected:

- KeyboardInterrupt in the caller within a second of the signal,
- no task starts after the signal (only those already running ever started),
- threads: the running tasks end and the pool's threads are all that remain;
  processes: the busy workers are terminated (their pids gone, the tasks never
  end) and replaced; sync: the sleeping task is interrupted in place,
- a follow-up compute in the same process works.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.timeout(40)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
import json, os, sys, threading, time
from operator import add
sys.path.insert(0, {root!r})
from shoal.local import processes, sync, threads

LOG = {log!r}
SCHEDULER = {scheduler!r}

def log(*words):
    with open(LOG, "a") as f:
        f.write(" ".join(map(str, words)) + "\\n")

def task(i):
    log("start", i, os.getpid(), time.time())
    time.sleep(0.5)
    log("end", i, os.getpid(), time.time())
    return i

def alive(pid):
    try:
        with open(f"/proc/{{pid}}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

get = {{"sync": sync.get, "threads": threads.get, "processes": processes.get}}[SCHEDULER]
if SCHEDULER == "processes":
    get({{"warm": 1}}, "warm", num_workers=2)  # start the workers before timing anything
graph = {{("t", i): (task, i) for i in range(20)}}
report = {{"threads_before": threading.active_count()}}
print("computing", flush=True)
try:
    get(graph, list(graph), num_workers=2)
    report["outcome"] = "finished"
except KeyboardInterrupt:
    report["outcome"] = "KeyboardInterrupt"
    report["interrupted_at"] = time.time()
time.sleep(0.8)  # tasks still running in threads end meanwhile
report["threads_after"] = threading.active_count()
if SCHEDULER == "processes":
    from shoal.local.pool import get_pool
    with open(LOG) as f:
        busy = {{int(line.split()[2]) for line in f if line.startswith("start")}}
    report["busy_pids"] = sorted(busy)
    report["busy_alive"] = [p for p in busy if alive(p)]
report["followup"] = get({{"x": 1, "y": (add, "x", 41)}}, "y", num_workers=2)
if SCHEDULER == "processes":
    report["pool_pids"] = get_pool(2).pids  # refilled by the follow-up
print("REPORT", json.dumps(report), flush=True)
"""


def interrupt(scheduler, tmp_path):
    """Run the script, SIGINT it 0.3 s after the first task starts; return what happened."""
    log = tmp_path / "tasks.log"
    script = tmp_path / "interrupt_me.py"
    script.write_text(SCRIPT.format(root=ROOT, log=str(log), scheduler=scheduler))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while not (log.exists() and log.read_text().startswith("start")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no task started"
            time.sleep(0.01)
        time.sleep(0.3)
        signalled_at = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    report = json.loads(out.split("REPORT", 1)[1])
    events = [line.split() for line in log.read_text().splitlines()]
    starts = [(int(i), int(pid), float(t)) for kind, i, pid, t in events if kind == "start"]
    ends = [(int(i), int(pid), float(t)) for kind, i, pid, t in events if kind == "end"]
    return report, signalled_at, starts, ends


def check_common(report, signalled_at, starts, max_running):
    assert report["outcome"] == "KeyboardInterrupt"
    assert report["interrupted_at"] - signalled_at < 1.0
    assert 1 <= len(starts) <= max_running
    assert all(t < signalled_at for _, _, t in starts)  # nothing started after Ctrl-C
    assert report["followup"] == 42


def test_interrupt_sync(tmp_path):
    report, signalled_at, starts, ends = interrupt("sync", tmp_path)
    check_common(report, signalled_at, starts, max_running=1)
    assert ends == []  # the sleeping task itself was interrupted
    assert report["threads_after"] == report["threads_before"]


def test_interrupt_threads(tmp_path):
    report, signalled_at, starts, ends = interrupt("threads", tmp_path)
    check_common(report, signalled_at, starts, max_running=2)
    # Python cannot stop a running thread: the running tasks end, nothing else runs
    assert sorted(i for i, _, _ in ends) == sorted(i for i, _, _ in starts)
    assert report["threads_after"] <= report["threads_before"] + 2


def test_interrupt_processes(tmp_path):
    report, signalled_at, starts, ends = interrupt("processes", tmp_path)
    check_common(report, signalled_at, starts, max_running=2)
    assert ends == []  # the busy workers were terminated mid-task
    busy = report["busy_pids"]
    assert busy and report["busy_alive"] == []
    assert not set(busy) & set(report["pool_pids"])
    assert len(report["pool_pids"]) == 2
