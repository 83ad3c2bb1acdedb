"""The nanny: one worker process started, watched, restarted, killed over its memory budget.

Real worker processes against an in-process scheduler.  Each test checks the
exact outcome (which pid, which exit code, which events), that the scheduler
saw it, and that the worker's scratch directory is gone with its process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import pytest

psutil = pytest.importorskip("psutil")

from shoal.distributed.nanny import Nanny, WorkerStartError, describe_exit
from shoal.distributed.protocol import Pickled
from shoal.distributed.rpc import rpc
from shoal.distributed.scheduler.server import Scheduler
from shoal.distributed.worker.server import Worker
from shoal.testing.aio import run


async def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def scratch_dirs(path) -> list:
    return sorted(p.name for p in path.iterdir() if p.name.startswith("shoal-worker-"))


# --- pure parts -------------------------------------------------------------------------


def test_describe_exit():
    assert describe_exit(-9) == "from signal SIGKILL (-9)"
    assert describe_exit(3) == "with exit code 3"
    assert describe_exit(None) == "for an unknown reason"
    assert describe_exit(-200) == "from signal signal 200 (-200)"


def test_inproc_scheduler_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="inproc.*tcp:// or tls://"):
        Nanny("inproc://127.0.0.1/1/1")


def test_memory_limit_is_parsed_and_capped():
    from shoal.core.machine import system_memory

    assert Nanny("tcp://127.0.0.1:1", memory_limit="1 GiB").memory_limit == min(2**30, system_memory())
    assert Nanny("tcp://127.0.0.1:1", memory_limit=0).memory_limit is None
    assert Nanny("tcp://127.0.0.1:1", memory_limit="auto").memory_limit == system_memory()


# --- with a scheduler ---------------------------------------------------------------------


def test_nanny_starts_a_worker_that_registers(tmp_path):
    async def main():
        async with Scheduler() as s:
            async with Nanny(s.address, nthreads=2, name="alice", local_directory=str(tmp_path)) as n:
                assert n.address.startswith("tcp://127.0.0.1:")
                assert n.pid != os.getpid() and psutil.pid_exists(n.pid)
                ws = s.state.workers[n.worker_address]
                assert (ws.name, ws.nthreads, ws.nanny) == ("alice", 2, n.address)
                assert len(scratch_dirs(tmp_path)) == 1
                async with rpc(n.address) as r:
                    ident = await r.identity()
                assert ident["type"] == "Nanny"
                assert (ident["worker_address"], ident["pid"]) == (n.worker_address, n.pid)
                async with rpc(n.worker_address) as r:
                    assert (await r.identity())["pid"] == n.pid
                pid, address = n.pid, n.worker_address
            assert gone(pid)
            assert n.status == "closed" and n.worker_address is None
            await wait_until(lambda: address not in s.state.workers, what="worker removal")
        assert scratch_dirs(tmp_path) == []

    run(main(), 30)


def test_killed_worker_is_restarted_and_reported(tmp_path, caplog):
    async def main():
        async with Scheduler() as s:
            async with Nanny(s.address, nthreads=1, local_directory=str(tmp_path)) as n:
                old_pid, old_address = n.pid, n.worker_address
                os.kill(old_pid, signal.SIGKILL)
                await wait_until(lambda: n.pid not in (None, old_pid), what="a new worker")
                await wait_until(lambda: n.worker_address in s.state.workers, what="registration")
                assert old_address not in s.state.workers
                assert gone(old_pid)
                died = [e for e in n.events if e["event"] == "died"]
                assert [(e["pid"], e["returncode"]) for e in died] == [(old_pid, -signal.SIGKILL)]
                assert n.restarts == 1
                assert len(scratch_dirs(tmp_path)) == 1  # the dead worker's spill dir is gone
        assert scratch_dirs(tmp_path) == []

    with caplog.at_level(logging.WARNING, logger="shoal.distributed.nanny"):
        run(main(), 30)
    assert "died from signal SIGKILL (-9); restarting it" in caplog.text


def _exit_three():
    os._exit(3)


def test_exit_code_is_logged_and_worker_restarted(caplog):
    async def main():
        async with Scheduler() as s:
            async with Nanny(s.address, nthreads=1) as n:
                old = n.pid
                async with rpc(n.worker_address) as r:
                    await r.run(function=Pickled(_exit_three), reply=False)
                await wait_until(lambda: n.pid not in (None, old), what="a new worker")
                assert [e["returncode"] for e in n.events if e["event"] == "died"] == [3]
                await wait_until(lambda: len(s.state.workers) == 1 and n.worker_address in s.state.workers)

    with caplog.at_level(logging.WARNING, logger="shoal.distributed.nanny"):
        run(main(), 30)
    assert "with exit code 3; restarting it" in caplog.text


def _hog(nbytes):
    blob = b"x" * nbytes  # written, so it counts in RSS
    time.sleep(30)  # hold it (and the worker's loop) until the nanny steps in
    return len(blob)


def test_worker_over_its_memory_budget_is_terminated_and_restarted(tmp_path, caplog):
    limit = 300 * 2**20

    async def main():
        async with Scheduler() as s:
            async with Nanny(s.address, nthreads=1, memory_limit=limit, local_directory=str(tmp_path)) as n:
                old = n.pid
                async with rpc(n.worker_address) as r:
                    await r.run(function=Pickled(_hog), args=Pickled((400 * 2**20,)), reply=False)
                await wait_until(lambda: n.pid not in (None, old), timeout=20, what="a new worker")
                assert gone(old)
                (event,) = [e for e in n.events if e["event"] == "memory-terminate"]
                assert event["pid"] == old and event["rss"] > 0.95 * limit
                assert event["memory_limit"] == limit
                assert [e["returncode"] for e in n.events if e["event"] == "died"] == [-signal.SIGTERM]
                await wait_until(lambda: n.worker_address in s.state.workers, what="registration")
                assert len(scratch_dirs(tmp_path)) == 1

    with caplog.at_level(logging.WARNING, logger="shoal.distributed.nanny"):
        run(main(), 40)
    assert "over 95% of its memory limit" in caplog.text


def test_restart_kill_and_instantiate_ops():
    async def main():
        async with Scheduler() as s:
            async with Nanny(s.address, nthreads=1) as n:
                first = n.pid
                async with rpc(n.address) as r:
                    assert await r.restart(timeout=20) == "OK"
                    second = n.pid
                    assert second != first and gone(first)
                    assert n.worker_address in s.state.workers
                    assert await r.kill() == "OK"
                    assert n.pid is None and gone(second)
                    await wait_until(lambda: not s.state.workers, what="the scheduler to drop it")
                    assert await r.instantiate() == "running"
                    assert n.worker_address in s.state.workers
                assert not [e for e in n.events if e["event"] == "died"]  # all asked for

    run(main(), 40)


def test_scheduler_restart_goes_through_the_nannies():
    async def main():
        async with Scheduler() as s:
            nannies = await asyncio.gather(Nanny(s.address, nthreads=1), Nanny(s.address, nthreads=1))
            try:
                before = {n.pid for n in nannies}
                async with rpc(s.address) as r:
                    assert await r.restart(timeout=20) == "OK"
                assert {n.pid for n in nannies}.isdisjoint(before)
                assert set(s.state.workers) == {n.worker_address for n in nannies}
            finally:
                await asyncio.gather(*(n.close() for n in nannies))

    run(main(), 40)


def test_nanny_closes_when_the_scheduler_goes_away():
    async def main():
        s = await Scheduler()
        n = await Nanny(s.address, nthreads=1)
        pid = n.pid
        await s.close()
        await asyncio.wait_for(n.finished(), 15)  # no respawn against a dead scheduler
        assert n.status == "closed" and gone(pid)
        assert [e["event"] for e in n.events] == ["started", "closed", "stopped"][: len(n.events)]
        assert not [e for e in n.events if e["event"] == "died"]

    run(main(), 30)


def test_terminate_op_closes_the_nanny():
    async def main():
        async with Scheduler() as s:
            n = await Nanny(s.address, nthreads=1)
            pid = n.pid
            async with rpc(n.address) as r:
                assert await r.terminate() == "OK"
            await asyncio.wait_for(n.finished(), 15)
            assert gone(pid)
            await wait_until(lambda: not s.state.workers)

    run(main(), 30)


def test_unreachable_scheduler_fails_start_with_a_clear_error():
    async def main():
        # a port nobody listens on: the worker gives up after its death_timeout
        n = Nanny("tcp://127.0.0.1:9", nthreads=1, death_timeout=0.5)
        with pytest.raises(WorkerStartError, match="failed to start.*127.0.0.1:9"):
            await n.start()
        assert n.status == "closed"

    run(main(), 30)


def test_graceful_close_escalates_to_signals(tmp_path):
    """A worker that ignores the close request (stuck loop) is SIGTERMed, then SIGKILLed."""
    ready = tmp_path / "ignoring"

    async def main():
        async with Scheduler() as s:
            n = await Nanny(s.address, nthreads=1)
            pid = n.pid
            async with rpc(n.worker_address) as r:
                # ignore SIGTERM and block the worker's event loop: only SIGKILL ends it
                await r.run(function=Pickled(_stubborn), args=Pickled((str(ready),)), reply=False)
            # (a fixed sleep here raced the worker on a busy machine: SIGTERM came first)
            await wait_until(ready.exists, what="the worker to ignore SIGTERM")
            t0 = time.monotonic()
            await n.close(timeout=0.5)
            assert gone(pid)
            assert time.monotonic() - t0 < 5
            (stopped,) = [e for e in n.events if e["event"] == "stopped"]
            assert stopped["returncode"] == -signal.SIGKILL

    run(main(), 30)


def _stubborn(ready):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(ready, "w").close()
    time.sleep(30)


def test_close_before_and_during_start():
    async def main():
        await Nanny("tcp://127.0.0.1:9").close()  # never started: nothing to do
        async with Scheduler() as s:
            n = Nanny(s.address, nthreads=1)
            starting = asyncio.ensure_future(n.start())
            await asyncio.sleep(0.05)  # the worker process is starting
            await n.close()
            with pytest.raises(RuntimeError, match="closed while it started"):
                await starting
            assert n.status == "closed" and n.pid is None
            await wait_until(lambda: not s.state.workers, what="the scheduler to drop it")

    run(main(), 30)


class ReasonWorker(Worker):
    """A Worker that remembers why it closed (what the nanny reads as ``close_reason``)."""

    async def close(self, report=True, reason="worker closed"):
        if not hasattr(self, "close_reason"):
            self.close_reason = reason
        await super().close(report=report, reason=reason)


def test_worker_that_lost_a_live_scheduler_is_restarted():
    """The scheduler dropped the worker's stream (as after a missed heartbeat) but is up."""
    from shoal.distributed.scheduler import messages as m

    async def main():
        async with Scheduler() as s:
            async with Nanny(s.address, nthreads=1, worker_class=f"{__name__}:ReasonWorker") as n:
                old_pid, old = n.pid, n.worker_address
                s.worker_streams.pop(old).abort()
                s.handle(m.RemoveWorker(old, "no heartbeat (test)"))
                await wait_until(lambda: n.pid not in (None, old_pid), what="a new worker")
                await wait_until(lambda: n.worker_address in s.state.workers, what="registration")
                assert n.status == "running" and gone(old_pid)
                closed = [e for e in n.events if e["event"] == "closed"]
                assert [e["reason"] for e in closed] == ["scheduler lost"]

    run(main(), 30)


def test_a_restarted_worker_keeps_the_config_its_nanny_was_made_with():
    """``with config.set(...)`` around a cluster's start: a worker the nanny starts again
    after the block ended had its settings back at the defaults (as Dask's nanny, the
    config is taken when the nanny is made)."""
    from shoal import config
    from shoal.distributed.client import Client

    def interval():
        from shoal import config

        return config.get("distributed.worker.profile.interval")

    async def main():
        async with Scheduler() as s:
            with config.set({"distributed.worker.profile.interval": "50ms"}):
                n = await Nanny(s.address, nthreads=1)
            try:
                async with Client(s.address, asynchronous=True) as c:
                    assert list((await c.run(interval)).values()) == ["50ms"]
                    async with rpc(n.address) as r:
                        assert await r.restart(timeout=20) == "OK"
                    assert list((await c.run(interval)).values()) == ["50ms"]
            finally:
                await n.close()

    run(main(), 40)


def test_a_worker_process_whose_start_is_cancelled_early_is_reaped_and_reads_exited():
    """Cancelled before its status pipe was watched (a Ctrl-C as a cluster starts):
    the process stayed a zombie; then, killed and reaped, it still read as alive and
    ``kill()`` / ``stop()`` / ``wait()`` never returned."""
    import os

    from shoal.distributed._worker_main import WorkerProcess

    async def main():
        loop = asyncio.get_running_loop()
        connect, reached = loop.connect_read_pipe, asyncio.Event()

        async def slow_connect(*args, **kwargs):  # (the window: cancelled in here)
            reached.set()
            await asyncio.sleep(30)
            return await connect(*args, **kwargs)

        loop.connect_read_pipe = slow_connect
        try:
            wp = WorkerProcess({"scheduler_address": "tcp://127.0.0.1:1"}, dict(os.environ))
            start = asyncio.ensure_future(wp.start(10))
            await asyncio.wait_for(reached.wait(), 10)
            start.cancel()
            await asyncio.gather(start, return_exceptions=True)
        finally:
            del loop.connect_read_pipe
        assert not wp.alive and wp.returncode == -9
        assert await asyncio.wait_for(wp.kill(), 5) == -9
        assert await asyncio.wait_for(wp.stop(), 5) == -9
        mine = {child.pid for child in psutil.Process().children()}  # (other tests' pools too)
        assert wp.proc.pid not in mine  # reaped: no zombie

    run(main(), 30)


def test_a_worker_whose_nanny_dies_while_it_starts_exits_at_once():
    """A client killed as its cluster started: the worker, still trying to reach the
    scheduler that went with it, outlived its nanny until its connect timeout."""
    from shoal.distributed._worker_main import WorkerProcess

    async def main():
        spec = {"scheduler_address": "tcp://127.0.0.1:9", "nthreads": 1, "death_timeout": 60}
        wp = WorkerProcess(spec, dict(os.environ))
        start = asyncio.ensure_future(wp.start(90))
        await wait_until(lambda: wp.proc is not None and wp._control is not None)
        await asyncio.sleep(1.0)  # (its Worker is importing or connecting: either way)
        os.close(wp._control)  # what the nanny's death does to the control pipe
        wp._control = None
        t0 = time.monotonic()
        with pytest.raises(WorkerStartError, match="exited"):
            await asyncio.wait_for(start, 30)
        assert time.monotonic() - t0 < 10, "the worker waited for its connect timeout"
        assert wp.returncode == 0 and not wp.alive

    run(main(), 60)


def test_a_new_worker_that_dies_as_it_starts_is_tried_again(tmp_path, caplog, monkeypatch):
    """A new worker may take a task as it registers and die of it before telling its nanny
    it started: the nanny closed for good (two such tasks in a row left a cluster a worker
    short). It tries again, a few times, before deciding the worker cannot start."""
    async def main():
        async with Scheduler() as s:
            async with Nanny(s.address, nthreads=1, local_directory=str(tmp_path)) as n:
                start = n._instantiate
                failures = []

                async def dies_once():
                    if not failures:
                        failures.append(1)
                        raise RuntimeError("the worker exited with exit code 1 before its worker "
                                           "started")  # fmt: skip
                    await start()

                monkeypatch.setattr(n, "_instantiate", dies_once)
                old_pid = n.pid
                os.kill(old_pid, signal.SIGKILL)
                await wait_until(lambda: n.pid not in (None, old_pid), what="a new worker")
                await wait_until(lambda: n.worker_address in s.state.workers, what="registration")
                assert n.status == "running" and failures == [1]

    with caplog.at_level(logging.WARNING, logger="shoal.distributed.nanny"):
        run(main(), 30)
    assert "ended as it started" in caplog.text and "could not restart" not in caplog.text
