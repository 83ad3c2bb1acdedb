"""TaskThreads: jobs run on real threads, outcomes come back to the loop in batches."""

import asyncio
import threading

import pytest

from shoal.distributed.worker.threads import Job, Reschedule, TaskThreads

pytestmark = pytest.mark.timeout(30)


def run(coro):
    return asyncio.run(coro)


async def collect(threads: TaskThreads, batches: list, n: int) -> None:
    while sum(map(len, batches)) < n:
        await asyncio.sleep(0.001)


def test_outcomes_carry_values_errors_and_reschedules():
    def boom(values):
        raise ValueError("bad input")

    def again(values):
        raise Reschedule()

    async def main():
        batches = []
        threads = TaskThreads(2, batches.append, name="t")
        threads.start()
        loop_thread = threading.get_ident()
        threads.submit(Job("add", 1, lambda v: v["a"] + v["b"], {"a": 1, "b": 2}))
        threads.submit(Job("boom", 2, boom, {}))
        threads.submit(Job("again", 3, again, {}))
        threads.submit(Job("where", 4, lambda v: threading.get_ident(), {}))
        await collect(threads, batches, 4)
        out = {o.key: o for batch in batches for o in batch}
        assert (out["add"].kind, out["add"].value, out["add"].run_id) == ("ok", 3, 1)
        assert out["add"].start <= out["add"].stop and out["add"].thread != loop_thread
        assert out["boom"].kind == "failed" and isinstance(out["boom"].exc, ValueError)
        assert out["boom"].start is not None and out["boom"].thread is not None
        assert out["again"].kind == "reschedule" and out["again"].start is None
        # tasks run on the task threads, never on the loop thread
        assert out["where"].value == out["where"].thread != loop_thread
        threads.stop()
        for t in threads.threads:
            t.join(5)
            assert not t.is_alive()

    run(main())


def test_a_burst_of_short_tasks_comes_back_in_few_deliveries():
    async def main():
        batches = []
        threads = TaskThreads(1, batches.append, name="t")
        threads.start()
        gate = threading.Event()
        threads.submit(Job("gate", 0, lambda v: gate.wait(10), {}))
        for i in range(200):  # queued behind the gate: run back to back once it opens
            threads.submit(Job(f"x{i}", i, lambda v, i=i: i * 2, {}))
        await asyncio.sleep(0.05)
        assert batches == []  # nothing finished yet: no delivery
        gate.set()
        await collect(threads, batches, 201)
        values = [o.value for batch in batches for o in batch][1:]
        assert values == [i * 2 for i in range(200)]  # one thread: in submission order
        # the loop was busy elsewhere (asleep in collect) while the thread ran: the
        # outcomes of the burst shared deliveries instead of one wake-up each
        assert len(batches) < 201
        threads.stop()

    run(main())


def test_stop_lets_the_running_task_finish_and_drops_queued_ones():
    async def main():
        batches = []
        threads = TaskThreads(1, batches.append, name="t")
        threads.start()
        gate, ran = threading.Event(), []
        threads.submit(Job("running", 0, lambda v: gate.wait(10), {}))
        threads.submit(Job("queued", 1, lambda v: ran.append(1), {}))
        await asyncio.sleep(0.02)
        threads.stop()
        with pytest.raises(RuntimeError, match="stopped"):
            threads.submit(Job("late", 2, lambda v: None, {}))
        gate.set()
        threads.threads[0].join(5)
        assert not threads.threads[0].is_alive() and ran == []

    run(main())
