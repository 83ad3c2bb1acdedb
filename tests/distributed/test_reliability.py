"""The distributed fault scenarios of ``anchors/reliability.md`` §2, by number.

Each test: the fault, the exact outcome, then a follow-up task that works.
Scenarios covered elsewhere are named here so the list stays complete:

- 24 (retries): ``test_client.py::test_retries_and_retry``;
- 28 (garbage on the port, raw bytes): ``test_servers.py::test_garbage_on_the_scheduler_port_leaves_it_serving``
  and ``tests/test_distributed_comm.py``; the message-level cases are below;
- 29 (TLS, server level): ``test_servers.py::test_tls_cluster_computes_and_refuses_plain_tcp``;
  with nannies and a Client below.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from shoal import config
from shoal.distributed import Client, KilledWorker, LocalCluster
from shoal.distributed.client import FutureCancelledError
from shoal.testing.cluster import on_loop, sync_cluster, wait_until


def inc(x):
    return x + 1


def div(x, y):
    return x / y


# --- 7. a task raises on the cluster --------------------------------------------------


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("not today")


def raise_unpicklable():
    raise Unpicklable("a message that must still arrive")


def raise_long():
    raise ValueError("x" * 100_000)


def test_07_task_raises(c):
    bad = c.submit(div, 1, 0)
    after = c.submit(inc, bad)
    with pytest.raises(ZeroDivisionError) as info:
        bad.result()
    assert "x / y" in str(info.value.__cause__)  # the user's own line, from the worker
    with pytest.raises(ZeroDivisionError):
        c.gather(bad)
    with pytest.raises(ZeroDivisionError):
        after.result()  # dependents raise the same
    assert isinstance(bad.exception(), ZeroDivisionError)
    with pytest.raises(ValueError) as info:
        c.submit(raise_long).result()
    assert len(str(info.value)) < 20_000 and "clipped" in str(info.value)
    # and the traceback text, which ends with the message, too (it carried all 100,000)
    assert len(str(info.value.__cause__)) < 25_000, len(str(info.value.__cause__))
    with pytest.raises(Exception, match="a message that must still arrive") as info:
        c.submit(raise_unpicklable).result()
    assert type(info.value).__name__ == "Unpicklable"  # its own type: made again by its args
    assert c.submit(div, 10, 2).result() == 5


# --- 8. an argument that cannot be pickled at submit -----------------------------------


class NoGetState:
    def __getstate__(self):
        raise RuntimeError("refuses to be pickled")


def test_08_unserializable_argument_fails_at_submit(c, servers):
    s = servers[0]
    before = on_loop(lambda: len(s.state.tasks))
    with pytest.raises(Exception, match="(?i)pickl|serializ") as info:
        c.submit(inc, NoGetState())
    assert "refuses to be pickled" in repr(info.value) + repr(info.value.__cause__)
    assert on_loop(lambda: len(s.state.tasks)) == before
    assert c.gather(c.map(inc, range(10))) == list(range(1, 11))


# --- 9. an argument or function that cannot be unpickled on the worker -----------------


class NoSetState:
    def __init__(self):
        self.payload = 1  # a non-empty state: unpickling calls __setstate__

    def __setstate__(self, state):
        raise RuntimeError("cannot be rebuilt here")


def test_09_undeserializable_on_the_worker(c, servers):
    f = c.submit(lambda x: 1, NoSetState(), pure=False)
    with pytest.raises(RuntimeError, match="cannot be rebuilt here"):
        f.result()
    assert all(w.status == "running" for w in servers[1])
    assert c.submit(inc, 1).result() == 2


# --- 10. a result that cannot leave its worker ------------------------------------------


class BadResult:
    def __reduce__(self):
        raise TypeError("this result cannot be pickled")

    def __sizeof__(self):
        return 10**12  # reports a huge size: would be first to spill


class _NoText(Exception):
    def __str__(self):
        raise RuntimeError("no text for you")


class BadResultBadText:
    def __reduce__(self):
        raise _NoText()


def test_10_result_that_cannot_leave_the_worker(c, servers):
    f = c.submit(BadResult, pure=False)
    with pytest.raises(Exception, match=f"failed to pickle the result of '{f.key}'"):
        f.result()
    assert all(w.status == "running" for w in servers[1])
    assert c.submit(inc, 41).result() == 42
    # its pickling error's own text raising too: it came as that RuntimeError, no key named
    g = c.submit(BadResultBadText, pure=False)
    with pytest.raises(Exception, match=f"failed to pickle the result of '{g.key}': "
                                        "_NoText: <unprintable exception>"):
        g.result()


class RaisingSize:
    def __sizeof__(self):
        raise ValueError("cannot say")


class NegativeSize:
    def __sizeof__(self):
        return -1


class HugeBuffer:
    nbytes = 2**62  # five in a list: a size past the 64 bits a message carries


def test_10_results_that_cannot_be_measured(c, servers):
    """A result whose ``__sizeof__`` raised left its worker stuck (the result never came,
    nor did any later task's there); a size past 2**64 could not be sent, and the worker's
    reports and heartbeats were dropped from then on.  Now each counts as a guess."""
    futures = [c.submit(RaisingSize, pure=False), c.submit(NegativeSize, pure=False),
               c.submit(lambda: [HugeBuffer()] * 5, pure=False)]  # fmt: skip
    results = c.gather(futures)
    assert [type(r).__name__ for r in results] == ["RaisingSize", "NegativeSize", "list"]
    assert all(w.status == "running" for w in servers[1])
    assert c.gather(c.map(inc, range(20))) == list(range(1, 21))
    sizes = on_loop(lambda: {ts.key: ts.nbytes for ts in servers[0].state.tasks.values()})
    assert 0 < max(sizes[f.key] for f in futures) <= 2**48, sizes


def _cannot_be_rebuilt(text):
    raise RuntimeError(text)


class RebuildFails:
    def __reduce__(self):
        return _cannot_be_rebuilt, ("cannot be rebuilt elsewhere",)


def test_10_an_input_that_cannot_move_errs_the_task_that_needs_it(c, servers):
    """An input that pickles on its worker but fails to unpickle on another: the task
    waiting for it there waited for good (Dask's does too); it errs now, with the
    input's error, and the input stays in memory on its own worker."""
    a, b = sorted(w.address for w in servers[1])
    x = c.submit(RebuildFails, workers=[a], pure=False)
    wait_until(lambda: x.status == "finished", timeout=30)
    y = c.submit(type, x, workers=[b])
    with pytest.raises(RuntimeError, match="cannot be rebuilt elsewhere") as info:
        y.result(timeout=30)
    assert any("an input fetched from another worker" in note for note in info.value.__notes__)
    assert x.status == "finished" and all(w.status == "running" for w in servers[1])
    assert c.submit(inc, 1, workers=[b]).result() == 2


def test_10_a_result_that_cannot_be_rebuilt_in_the_client_names_its_key(c, servers):
    """It raised a bare error from deep in the rpc layer, no key named; now its note says
    which key and where (as the processes scheduler's does), and the others arrive."""
    bad = c.submit(RebuildFails, pure=False)
    good = c.submit(inc, 1)
    with pytest.raises(RuntimeError, match="cannot be rebuilt elsewhere") as info:
        c.gather([bad, good])
    assert (f"shoal: raised while unpickling the task's result in the client, computing key "
            f"{bad.key}") in info.value.__notes__  # fmt: skip
    assert c.gather([bad, good], errors="skip") == [2]
    assert bad.status == "finished" and c.submit(inc, 2).result() == 3


# --- 11. a worker dies after computing ------------------------------------------------


def test_11_worker_dies_after_computing(c, servers):
    s, (a, b) = servers
    futures = c.map(inc, range(10))
    assert c.gather(futures) == list(range(1, 11))
    victim = a if on_loop(lambda: len(a.data)) else b

    async def crash():
        victim.stream.abort()  # no goodbye: the scheduler sees a lost connection
        await victim.close(report=False)

    from shoal.distributed._loop import get_runner

    get_runner().sync(crash)
    assert c.gather(futures) == list(range(1, 11))  # recomputed where lost
    assert c.submit(sum, futures).result() == sum(range(1, 11))


# --- 12 and 13 run on worker processes (nannies) ----------------------------------------


def slow_add(x, y, delay=0.02):
    time.sleep(delay)
    return x + y


def slow_leaf(i, delay=0.02):
    time.sleep(delay)
    return i


def test_12_worker_hard_exits_mid_computation_twice():
    with LocalCluster(n_workers=3, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as c:  # fmt: skip
        layer = [c.submit(slow_leaf, i) for i in range(256)]
        while len(layer) > 1:
            layer = [c.submit(slow_add, layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
        (total,) = layer
        for _ in range(2):
            time.sleep(0.4)
            pids = c.run(os.getpid)
            victim = sorted(pids)[0]
            os.kill(pids[victim], signal.SIGKILL)
        assert total.result(timeout=60) == sum(range(256))
        assert c.submit(inc, 1).result() == 2


def exit_now():
    os._exit(0)


@pytest.mark.parametrize("allowed_failures", [0, 1])
def test_13_poison_task_fails_with_killed_worker(allowed_failures):
    with config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster) as c:  # fmt: skip
            f = c.submit(exit_now, key="poison-1")
            with pytest.raises(KilledWorker) as info:
                f.result(timeout=60)
            assert info.value.key == "poison-1"
            assert info.value.last_worker.startswith("tcp://")
            assert f"{allowed_failures + 1} workers" in str(info.value)
            c.wait_for_workers(2, timeout=30)
            assert c.submit(inc, 1).result() == 2


# --- 16. spill to disk ----------------------------------------------------------------


def make_bytes(i):
    return bytes([i]) * 500


def test_16_spill_to_disk_keeps_results_gettable():
    thresholds = {"distributed.worker.memory.target": 0.5, "distributed.worker.memory.spill": False,
                  "distributed.worker.memory.pause": False,
                  "distributed.worker.memory.terminate": False,
                  "distributed.worker.memory.max-spill": 1200}  # fmt: skip
    with config.set(thresholds), \
            sync_cluster(nworkers=1, worker_options={"memory_limit": 2000}) as (s, (w,)), \
            Client(s.address) as c:  # fmt: skip
        futures = [c.submit(make_bytes, i) for i in range(3)]
        c.gather(futures)
        wait_until(lambda: len(w.data.slow) == 2)  # down to the target: two of three on disk
        assert c.gather(futures) == [make_bytes(i) for i in range(3)]
        big = c.submit(bytes, 5000)  # larger than max-spill: stays in memory
        big.result()
        wait_until(lambda: big.key in w.data)
        time.sleep(0.3)
        assert big.key not in w.data.slow
        assert w.data.spilled_disk_bytes <= 1200


# --- 17. a worker paused for memory ------------------------------------------------------


def hold_memory(nbytes):
    import builtins

    import numpy as np

    builtins._shoal_test_held = np.ones(nbytes // 8)  # past the pause threshold: it pauses


def let_go():
    import builtins
    import gc

    builtins._shoal_test_held = None
    gc.collect()


def pid_after(delay):
    time.sleep(delay)
    return os.getpid()


def test_17_a_paused_worker_gets_no_new_tasks(tmp_path):
    """A worker past its pause threshold starts nothing new: the scheduler must send the
    work elsewhere (it sent tasks there, and one waited until memory was freed by hand)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="300MB",
                      dashboard_address=":0", local_directory=str(tmp_path)) as cluster, \
            Client(cluster) as c:  # fmt: skip
        w0, w1 = sorted(c.scheduler_info()["workers"])
        pids = c.run(os.getpid)
        c.submit(hold_memory, 200_000_000, workers=[w0], pure=False).result(timeout=30)
        deadline = time.monotonic() + 20
        while c.scheduler_info()["workers"][w0]["status"] != "paused":
            assert time.monotonic() < deadline, "the worker did not pause"
            time.sleep(0.05)
        futures = c.map(pid_after, [0.05] * 20, pure=False)
        ran = c.gather(futures)
        assert set(ran) == {pids[w1]}  # all on the running worker, none waiting on w0
        c.run(let_go, workers=[w0])
        deadline = time.monotonic() + 20
        while c.scheduler_info()["workers"][w0]["status"] != "running":
            assert time.monotonic() < deadline, "the worker did not resume"
            time.sleep(0.05)
        assert c.submit(pid_after, 0, workers=[w0], pure=False).result(timeout=30) == pids[w0]


# --- 19. a client killed mid-computation -------------------------------------------------

CHILD = """
import sys, time
from shoal.distributed import Client

def slow(x):
    time.sleep(0.2)
    return x

c = Client(sys.argv[1])
mine = c.map(slow, range(40), key=[f"child-{i}" for i in range(40)])
shared = c.submit(slow, 1, key="shared-1")
print("submitted", flush=True)
time.sleep(60)
"""


def slow(x):
    time.sleep(0.2)
    return x


def test_19_client_killed_mid_computation(c, servers, tmp_path):
    s = servers[0]
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    shared = c.submit(slow, 1, key="shared-1")
    child = subprocess.Popen([sys.executable, str(script), s.address], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "submitted"
        wait_until(lambda: any(str(k).startswith("child-") for k in s.state.tasks))
        child.send_signal(signal.SIGTERM)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    wait_until(lambda: not any(str(k).startswith("child-") for k in s.state.tasks), timeout=20)
    wait_until(lambda: len(s.state.clients) == 1)
    assert shared.result() == 1  # the other client's future with the same key is untouched


# --- 22. lost dependencies -------------------------------------------------------------


def test_22_cancelled_dependency_is_reported_as_lost(c, servers):
    s = servers[0]
    x = c.submit(slow, 1, key="x-lost")
    x.cancel()
    with pytest.raises(FutureCancelledError, match="(?i)lost dependencies|cancel"):
        c.submit(inc, x).result(timeout=10)
    with pytest.raises(FutureCancelledError):
        c.submit(lambda d: d, {"k": x}).result(timeout=10)
    wait_until(lambda: "x-lost" not in s.state.tasks)
    assert c.submit(inc, 1).result() == 2


# --- 28. malformed messages on the scheduler port ---------------------------------------


def test_28_malformed_messages_leave_the_scheduler_serving(c, servers):
    from shoal.distributed.comm import connect
    from shoal.distributed.rpc import UnknownOpError, rpc

    s = servers[0]

    async def probe():
        comm = await connect(s.address)
        try:
            for bad in (["not", "a", "dict"], {"no-op": 1}, {"op": 12}):
                await comm.write(bad)
                reply = await comm.read()
                assert reply["status"] == "error", reply
        finally:
            await comm.close()
        async with rpc(s.address) as r:
            with pytest.raises(UnknownOpError, match="unknown op 'nope'"):
                await r.nope()

    from shoal.distributed._loop import get_runner

    get_runner().sync(probe)
    assert c.submit(inc, 1).result() == 2


# --- 29. a TLS cluster with nannies and a client ---------------------------------------


def test_29_tls_cluster_with_nannies_and_client():
    from shoal.distributed.security import Security

    sec = Security.temporary()
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, security=sec,
                          dashboard_address=None) as cluster, \
                Client(cluster, security=sec) as c:  # fmt: skip
            assert cluster.scheduler_address.startswith("tls://")
            [data] = c.scatter([list(range(100))])
            workers = list(c.scheduler_info()["workers"])
            x = c.submit(sum, data, workers=[workers[0]])
            y = c.submit(inc, x, workers=[workers[1]])  # a worker-to-worker transfer over TLS
            assert y.result() == sum(range(100)) + 1
            with pytest.raises(Exception, match="(?i)tls|encrypt|certificate|ssl"):
                Client(cluster.scheduler_address, timeout=2)  # no certificate
            plain = cluster.scheduler_address.replace("tls://", "tcp://")
            with pytest.raises(Exception):
                Client(plain, timeout=2)
    finally:
        sec.close()


# --- 18. workers leaving on purpose --------------------------------------------------------


def test_18_retired_and_scaled_down_workers_leave_nothing_behind():
    """What only a leaving worker holds is copied to one that stays first: scattered data
    was lost (LostScatteredData) and results were computed again."""
    with LocalCluster(n_workers=3, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as c:  # fmt: skip
        data = c.scatter(list(range(30)))
        results = c.map(inc, range(30))
        c.gather(results)
        holders = {w: len(keys) for w, keys in c.has_what().items()}
        busiest = max(holders, key=holders.get)
        assert c.retire_workers(workers=[busiest]) == [busiest]
        assert busiest not in c.scheduler_info()["workers"]
        assert c.gather(data) == list(range(30)) and c.gather(results) == list(range(1, 31))
        cluster.scale(1)
        assert len(c.scheduler_info()["workers"]) == 1
        assert c.gather(data) == list(range(30)) and c.gather(results) == list(range(1, 31))
        story = [e for key in [f.key for f in results] for e in cluster.scheduler.state.story(key)]
        assert not [e for e in story if getattr(e, "finish", None) == "processing"
                    and getattr(e, "start", None) == "released"]  # nothing computed again


def test_18_client_shutdown_closes_a_scheduler_it_did_not_start():
    with sync_cluster(nworkers=1) as (s, (w,)):
        c = Client(s.address)
        c.shutdown()
        assert c.status == "closed"
        deadline = time.monotonic() + 10
        while s.status != "closed":
            assert time.monotonic() < deadline, s.status
            time.sleep(0.02)


def test_18_two_retirements_at_once_and_one_with_nowhere_to_go():
    """A copy made to a worker another retirement takes away was lost with it (and the
    first retirement waited 60 s for it); the last worker, with nowhere to copy to, is kept."""
    import threading

    with LocalCluster(n_workers=3, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as c:  # fmt: skip
        data = c.scatter(list(range(12)))
        first, second, last = sorted(c.scheduler_info()["workers"])
        done = {}
        threads = [threading.Thread(target=lambda w=w: done.setdefault(w, c.retire_workers([w])))
                   for w in (first, second)]  # fmt: skip
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert time.monotonic() - start < 20 and done == {first: [first], second: [second]}
        assert c.gather(data) == list(range(12))
        assert c.retire_workers([last]) == []  # its data has nowhere to go: kept
        info = c.scheduler_info()["workers"]
        assert list(info) == [last] and info[last]["status"] == "running"
        assert c.gather(data) == list(range(12)) and c.submit(inc, 1).result() == 2
