"""Interrupting computes as a notebook user does (Ctrl-C, "Interrupt kernel"), twice too."""

from __future__ import annotations

import time

import pytest

from shoal.local import pool as pool_mod
from shoal.local import processes

pytestmark = pytest.mark.timeout(60)


def _slow(i):
    time.sleep(5)
    return i


def test_a_second_ctrl_c_during_the_processes_cleanup_leaves_the_pool_usable(monkeypatch):
    """A second KeyboardInterrupt that lands while the interrupted run terminates its busy
    workers left one of them marked busy in the shared pool: every later compute on
    that pool failed (``'NoneType' object has no attribute 'keys'``: no idle worker)."""
    import _thread
    import threading

    n = 2
    processes.get({"warm": 1}, "warm", num_workers=n)  # workers started
    real_kill = pool_mod._Worker.kill
    calls = []

    def kill_then_interrupted(worker):
        real_kill(worker)
        if not calls:
            calls.append(worker)
            raise KeyboardInterrupt  # the second Ctrl-C, right after the first kill

    monkeypatch.setattr(pool_mod._Worker, "kill", kill_then_interrupted)
    graph = {("s", i): (_slow, i) for i in range(n)}
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            processes.get(graph, list(graph), num_workers=n)
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 4
    assert calls
    monkeypatch.setattr(pool_mod._Worker, "kill", real_kill)
    inc = {("i", i): (abs, -i) for i in range(6)}
    assert processes.get(inc, list(inc), num_workers=n) == list(range(6))
    pool = pool_mod.get_pool(n)
    assert len(pool.workers) == n and all(w.keys is None for w in pool.workers)


def test_a_worker_abandoned_while_it_starts_exits_quietly():
    """A Ctrl-C while the pool starts its workers can leave one whose pipes the parent
    has closed (an interrupt in ``Popen`` or right after it): the worker printed a
    ``BrokenPipeError`` traceback (twice) to the user's terminal as it sent READY."""
    import os
    import subprocess

    from shoal import spawn

    task_r, task_w = os.pipe()
    res_r, res_w = os.pipe()
    os.close(res_r)  # the parent gave up on it before it was ready
    try:
        cmd = spawn.python_command("shoal.local._worker", (task_r, res_w, os.getpid()))
        proc = subprocess.Popen(cmd, pass_fds=(task_r, res_w), stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
    finally:
        for fd in (task_r, res_w, task_w):
            os.close(fd)
    _, err = proc.communicate(timeout=30)
    assert err.decode() == ""
    assert proc.returncode == 0
