"""benchmarks.pinning: the CPU plan of ``dashboard_overhead --pin`` and its
application to every thread of a real process."""

import os
import subprocess
import sys

import pytest

from benchmarks import dashboard_overhead, pinning

pytestmark = pytest.mark.timeout(60)


def test_plan_gives_the_scheduler_a_core_of_its_own():
    ht = [[0, 8], [1, 9], [2, 10], [3, 11], [4, 12], [5, 13], [6, 14], [7, 15]]
    got = pinning.plan(ht, 8)
    assert got["scheduler"] == [0]
    assert 8 not in got["workers"] + got["rest"]  # the scheduler's sibling stays idle
    assert got["workers"] == [1, 2, 3, 4, 5, 6, 7, 9]  # distinct cores first
    assert got["rest"] == [10, 11, 12, 13, 14, 15]


def test_plan_names_what_is_missing():
    with pytest.raises(ValueError, match="at least 2 cores"):
        pinning.plan([[0, 1]], 1)
    with pytest.raises(ValueError, match=r"needs 10 CPUs .* 8 workers"):
        pinning.plan([[0], [1], [2], [3], [4]], 8)


def test_cores_reads_the_kernels_sibling_lists(tmp_path):
    usable = sorted(os.sched_getaffinity(0))
    for cpu in usable:  # pretend: CPUs pair up as (0,1), (2,3)...
        d = tmp_path / f"cpu{cpu}" / "topology"
        d.mkdir(parents=True)
        mate = cpu ^ 1
        d.joinpath("thread_siblings_list").write_text(f"{min(cpu, mate)}-{max(cpu, mate)}\n")
    groups = pinning.cores(str(tmp_path))
    assert sorted(c for g in groups for c in g) == usable
    assert all(len(g) <= 2 and g == sorted(g) for g in groups)
    assert pinning._cpu_list("0-2,8,10-11") == [0, 1, 2, 8, 10, 11]


def test_cores_without_topology_counts_each_cpu_as_a_core(tmp_path):
    assert pinning.cores(str(tmp_path)) == [[c] for c in sorted(os.sched_getaffinity(0))]


def test_pin_sets_every_thread_of_a_process_and_its_children():
    cpu = min(os.sched_getaffinity(0))
    code = ("import threading, time, subprocess, sys\n"
            "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
            "print(child.pid, flush=True); time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        n = pinning.pin(proc.pid, [cpu])
        assert n >= 3  # main thread, the sleeping thread, the child's main thread
        for pid in (proc.pid, child):
            for task in os.listdir(f"/proc/{pid}/task"):
                assert os.sched_getaffinity(int(task)) == {cpu}, (pid, task)
    finally:
        for p in __import__("psutil").Process(proc.pid).children(recursive=True):
            p.kill()
        proc.kill()
        proc.wait(10)
        proc.stdout.close()


def test_report_gives_paired_drops_and_judges_on_both():
    def runs(seconds):
        return [{"seconds": s, "loop_us": 50.0, "scheduler_cpu": 1.0} for s in seconds]

    out = {"workers": 2, "errors": [], "plain": runs([1.0, 2.0, 1.0]),
           "served": runs([1.0, 2.0, 1.0]), "watched": runs([1.1, 2.2, 1.1]),
           "pinned": {"scheduler": [0], "workers": [1, 2], "rest": [3]}}  # fmt: skip
    assert [round(d, 4) for d in dashboard_overhead.paired_drops(out, "watched")] == [
        0.0909, 0.0909, 0.0909]
    text = dashboard_overhead.report(out, 1000)
    watched = next(line for line in text.splitlines() if "/status open" in line)
    assert "+9.1% (MISSED)" in watched and "+9.1% (+9% .. +9%)" in watched
    assert "pinned (--pin): scheduler on CPUs 0, workers on CPUs 1,2, rest on CPUs 3" in text
    # the fast runs alone (the first quartile of each configuration's run times)
    out_fast = {**out, "watched": runs([1.05, 2.6, 1.05, 2.6]), "plain": runs([1.0, 1.0, 2.0, 2.0])}
    assert round(dashboard_overhead.fast_drop(out_fast, "watched"), 4) == round(1 - 1.0 / 1.05, 4)
    assert "drop of the fastest quartile of runs" in text and "/status open in Chromium +9.1%" in text
    out["watched"] = runs([1.0, 2.0, 1.04])  # median drop 0, paired 0 -> ok
    assert "(ok)" in dashboard_overhead.report(out, 1000)
