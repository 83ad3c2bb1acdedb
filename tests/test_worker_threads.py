"""TaskThreads: jobs run on real threads, outcomes come back to the loop in batches."""

import asyncio
import threading

import pytest

from shoal.distributed.worker.threads import Job, Reschedule, TaskThreads, current

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


def alive(threads: TaskThreads) -> int:
    return sum(t.is_alive() for t in threads.threads)


def test_a_seceded_task_frees_its_slot_and_rejoins_when_one_is_free():
    """One thread: "a" secedes, so "b" runs meanwhile on the thread started in its
    place; "a"'s rejoin waits until "b" is done with that slot."""

    async def main():
        batches, seceded = [], []
        threads = TaskThreads(1, batches.append, name="t",
                              on_secede=lambda *args: seceded.append((threading.get_ident(), *args)))
        threads.start()
        loop_thread = threading.get_ident()
        b_started, b_go, order = threading.Event(), threading.Event(), []

        def a(values):
            pool, job = current()
            assert job.key == "a" and pool is threads
            assert pool.secede() is True and pool.secede() is False  # (once)
            b_started.wait(5)  # "b" runs although "a" has not finished
            order.append("a rejoins")
            pool.rejoin()
            order.append("a rejoined")
            return "A"

        def b(values):
            b_started.set()
            b_go.wait(5)
            order.append("b ends")
            return "B"

        threads.submit(Job("a", 1, a, {}))
        threads.submit(Job("b", 2, b, {}))
        await asyncio.sleep(0.1)
        assert order == ["a rejoins"]  # waits for the slot "b" holds
        assert len(seceded) == 1 and seceded[0][0] == loop_thread  # reported on the loop
        assert seceded[0][1:3] == ("a", 1) and 0 < seceded[0][3] < 5
        b_go.set()
        await collect(threads, batches, 2)
        assert order == ["a rejoins", "b ends", "a rejoined"]
        assert {o.key: o.value for batch in batches for o in batch} == {"a": "A", "b": "B"}
        # the thread that ran "b" handed its slot to "a" and ended: one pool thread again
        for _ in range(100):
            if alive(threads) == 1:
                break
            await asyncio.sleep(0.01)
        assert alive(threads) == 1
        threads.submit(Job("c", 3, lambda v: threading.get_ident(), {}))
        await collect(threads, batches, 3)
        assert batches[-1][-1].value == [t for t in threads.threads if t.is_alive()][0].ident
        threads.stop()

    run(main())


def test_a_seceded_thread_that_never_rejoins_ends_with_its_task():
    async def main():
        batches = []
        threads = TaskThreads(1, batches.append, name="t")
        threads.start()
        first = threads.threads[0]
        threads.submit(Job("a", 1, lambda v: current()[0].secede(), {}))
        await collect(threads, batches, 1)
        first.join(5)
        assert not first.is_alive() and alive(threads) == 1  # its replacement serves on
        threads.submit(Job("b", 2, lambda v: 2, {}))
        await collect(threads, batches, 2)
        threads.stop()

    run(main())


def test_a_rejoin_waiting_while_the_threads_stop_returns():
    async def main():
        batches, returned = [], threading.Event()
        threads = TaskThreads(1, batches.append, name="t")
        threads.start()
        gate = threading.Event()

        def a(values):
            current()[0].secede()
            gate.wait(5)
            current()[0].rejoin()  # the slot is held by "b" until the stop
            returned.set()

        b_go = threading.Event()
        threads.submit(Job("a", 1, a, {}))
        threads.submit(Job("b", 2, lambda v: b_go.wait(5), {}))
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.sleep(0.05)
        assert not returned.is_set()  # "b" holds the one slot
        threads.stop()
        for _ in range(100):  # returns without the slot, "b" still running
            if returned.is_set():
                break
            await asyncio.sleep(0.01)
        assert returned.is_set()
        b_go.set()
        for t in threads.threads:
            t.join(5)
            assert not t.is_alive()

    run(main())


def test_current_is_none_off_the_task_threads():
    assert current() is None
    seen = []
    t = threading.Thread(target=lambda: seen.append(current()))
    t.start()
    t.join()
    assert seen == [None]


def test_an_idle_thread_holds_nothing_of_its_last_task():
    """The task's inputs go with it: an idle thread kept its last job (and so a 400 MB
    input) alive until its next task."""
    import gc
    import weakref

    class Big:
        pass

    async def main():
        batches = []
        threads = TaskThreads(1, batches.append, name="t")
        threads.start()
        value = Big()
        ref = weakref.ref(value)
        threads.submit(Job("x", 1, lambda v: None, {"input": value}))
        del value
        await collect(threads, batches, 1)
        batches.clear()
        gc.collect()
        assert ref() is None
        threads.stop()

    run(main())
