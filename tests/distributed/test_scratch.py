"""Scratch directories (shoal/distributed/scratch.py): what a killed worker left behind is
purged by the next one made in the same folder, never what a live process holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from shoal.distributed import scratch

pytestmark = pytest.mark.skipif(scratch.fcntl is None, reason="no fcntl (Windows): no purge")

# A process that makes a scratch directory, says where, and waits to be killed.
HOLDER = """
import sys, time
from shoal.distributed import scratch
made = scratch.make(sys.argv[1])
print(made.path, flush=True)
time.sleep(60)
"""


def _holder(parent):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(parent)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    path = proc.stdout.readline().strip()
    assert path.startswith(str(parent)), path
    return proc, path


def test_a_killed_owners_directory_is_purged_a_live_ones_kept(tmp_path):
    live, live_path = _holder(tmp_path)
    dead, dead_path = _holder(tmp_path)
    try:
        with open(os.path.join(dead_path, "spilled-1"), "wb") as f:
            f.write(b"x" * 1000)
        dead.send_signal(signal.SIGKILL)
        dead.wait(10)
        other = tmp_path / "shoal-worker-not-ours"  # no lock file: being made, or not ours
        other.mkdir()
        made = scratch.make(str(tmp_path))
        try:
            assert not os.path.exists(dead_path)
            assert os.path.isdir(live_path) and other.is_dir()
            assert os.path.isdir(made.path) and os.stat(made.path).st_mode & 0o777 == 0o700
            assert scratch.purge_stale(str(tmp_path)) == []  # ours and the live one are held
        finally:
            made.remove()
        assert not os.path.exists(made.path)
        made.remove()  # (twice is fine)
    finally:
        for proc in (live, dead):
            proc.kill()
            proc.wait(10)
            proc.stdout.close()
    assert scratch.purge_stale(str(tmp_path)) == [live_path]  # once its owner went


def test_a_sigkilled_nanny_and_worker_leave_nothing_after_the_next_start(tmp_path):
    """The whole chain killed at once (a notebook kernel killed with its LocalCluster):
    the next worker started in the same folder removes the orphaned spill directory."""
    code = (
        "import asyncio, sys\n"
        "from shoal.distributed import Nanny, Scheduler\n"
        "async def main():\n"
        "    async with Scheduler(dashboard_address=None) as s:\n"
        "        async with Nanny(s.address, local_directory=sys.argv[1]) as n:\n"
        "            print('up', flush=True)\n"
        "            await asyncio.sleep(60)\n"
        "asyncio.run(main())\n")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "up"
        left = [p for p in tmp_path.iterdir() if p.name.startswith(scratch.PREFIX)]
        assert len(left) == 1
        os.killpg(proc.pid, signal.SIGKILL)  # the nanny's process group: it and its worker
        proc.wait(10)
        deadline = time.monotonic() + 10
        while (fd := scratch._try_lock(str(left[0] / scratch.LOCK))) is None:  # (its worker too)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.close(fd)
        assert left[0].is_dir()  # nobody cleaned up
        made = scratch.make(str(tmp_path))
        made.remove()
        assert not left[0].exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        proc.stdout.close()


def test_a_directory_being_made_is_never_purged(tmp_path):
    """Made and locked under another name, then renamed: a sibling's purge between the lock
    file's creation and its lock took it unlocked and deleted it (200 times in 200)."""
    being_made = tmp_path / (scratch.MAKING + "x")
    being_made.mkdir()
    (being_made / scratch.LOCK).touch()  # (not locked yet: its maker is between two calls)
    assert scratch.purge_stale(str(tmp_path)) == [] and being_made.is_dir()
    made = scratch.make(str(tmp_path))
    try:
        assert os.path.basename(made.path).startswith(scratch.PREFIX)
        assert scratch._try_lock(os.path.join(made.path, scratch.LOCK)) is None  # held
        assert not list(tmp_path.glob(scratch.MAKING + "*" + made.path[-8:]))
    finally:
        made.remove()
