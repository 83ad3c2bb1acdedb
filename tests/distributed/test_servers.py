"""The scheduler and worker servers, driven over their real streams (no Client).

A tiny stream client below speaks the client protocol directly, so these
tests pin the wire contract the Client relies on.
"""

from __future__ import annotations

import asyncio
import operator

import pytest

from shoal.core.spec import Ref, Task
from shoal.distributed.comm import connect
from shoal.distributed.protocol import Pickled, deserialize
from shoal.distributed.rpc import rpc
from shoal.distributed.scheduler.server import Scheduler
from shoal.distributed.worker.server import Worker
from shoal.local.remote_errors import unpack_exception
from shoal.testing.cluster import cluster, gen_cluster


class StreamClient:
    """Submit graphs on a client stream and collect what the scheduler says."""

    def __init__(self, comm, name):
        self.comm, self.name, self.inbox = comm, name, []

    @classmethod
    async def open(cls, address, name="c1"):
        comm = await connect(address)
        await comm.write({"op": "register_client", "client": name})
        assert (await comm.read())["op"] == "stream-start"
        return cls(comm, name)

    async def submit(self, tasks: dict, keys, **extra):
        deps = {k: sorted(t.dependencies) for k, t in tasks.items()}
        msg = {"op": "update-graph", "tasks": {k: Pickled(t) for k, t in tasks.items()},
               "dependencies": deps, "keys": list(keys), "client": self.name, **extra}
        await self.comm.write([msg])

    async def wait_for(self, n, ops=("key-in-memory", "task-erred")):
        got = [m for m in self.inbox if m["op"] in ops]
        while len(got) < n:
            batch = await self.comm.read()
            self.inbox += batch
            got += [m for m in batch if m["op"] in ops]
        return got

    async def close(self):
        await self.comm.write([{"op": "close-client"}])
        await self.comm.close()


def inc(x):
    return x + 1


@gen_cluster(nworkers=2)
async def test_graph_runs_across_workers_and_gathers(s, a, b):
    c = await StreamClient.open(s.address)
    tasks = {f"x-{i}": Task(f"x-{i}", inc, i) for i in range(20)}
    tasks["total"] = Task("total", sum, [Ref(k) for k in list(tasks)])
    await c.submit(tasks, ["total"])
    (done,) = await c.wait_for(1)
    assert done == {"op": "key-in-memory", "client": "c1", "key": "total", "type": "int",
                    "stimulus_id": done["stimulus_id"]}
    async with rpc(s.address) as r:
        assert await r.gather(keys=["total"]) == {"status": "OK", "data": {"total": 210}}
        holders = await r.who_has(keys=["total"])
    assert holders["total"][0] in (a.address, b.address)
    # both workers ran roots; one fetched the others' results from its peer
    assert a.state.log and b.state.log
    await c.close()


@gen_cluster(nworkers=1, nthreads=1)
async def test_a_burst_of_short_tasks_queues_them_for_the_thread_and_shares_writes(s, a):
    given = []  # tasks given to the threads at each hand-over
    submit = a.threads.submit
    a.threads.submit = lambda job: (given.append(len(a.state.executing)), submit(job))
    c = await StreamClient.open(s.address)
    n = 2000
    tasks = {f"x-{i}": Task(f"x-{i}", inc, i) for i in range(n)}
    await c.submit(tasks, list(tasks))
    done = await c.wait_for(n)
    assert {m["key"] for m in done} == set(tasks) and {m["op"] for m in done} == {"key-in-memory"}
    async with rpc(s.address) as r:
        reply = await r.gather(keys=list(tasks))
    assert reply["data"] == {f"x-{i}": i + 1 for i in range(n)}
    # once the scheduler knows the tasks are short, the worker queues several for
    # its one thread, and reports them in shared writes (not one write per task)
    assert len(given) == n and max(given) > 1
    assert a.stream.message_count >= n and a.stream.batch_count < a.stream.message_count
    await c.close()


@gen_cluster(nworkers=1, protocol="inproc")
async def test_task_error_reaches_the_client_with_type_and_traceback(s, a):
    c = await StreamClient.open(s.address)
    await c.submit({"bad": Task("bad", operator.truediv, 1, 0)}, ["bad"])
    (erred,) = await c.wait_for(1)
    assert erred["op"] == "task-erred" and erred["key"] == "bad"
    exc = unpack_exception(erred["exception"], "bad")
    assert type(exc) is ZeroDivisionError
    assert "truediv" in str(exc.__cause__) or "division by zero" in str(exc.__cause__)
    await c.close()


@gen_cluster(nworkers=2)
async def test_scatter_then_compute_on_scattered_data(s, a, b):
    c = await StreamClient.open(s.address)
    async with rpc(s.address) as r:
        keys = await r.scatter(data={"d": Pickled(list(range(10)))}, nbytes={"d": 100},
                               client="c1", broadcast=True)
        assert keys == ["d"]
        assert sorted((await r.who_has(keys=["d"]))["d"]) == sorted([a.address, b.address])
        await c.submit({"n": Task("n", len, Ref("d"))}, ["n"])
        await c.wait_for(2)  # d (scattered, in memory) and n
        assert (await r.gather(keys=["n"]))["data"] == {"n": 10}
        assert await r.gather(keys=["nope"]) == {"status": "missing", "keys": ["nope"]}
    await c.close()


@gen_cluster(nworkers=2)
async def test_the_scheduler_forgets_its_comms_to_a_worker_that_left(s, a, b):
    """A scheduler outlives many workers (restarts, adaptive scaling): its pool kept a
    closed comm and a semaphore for every worker it ever talked to."""
    async with rpc(s.address) as r:  # the scheduler talks to both workers (gather)
        await r.scatter(data={"d": Pickled(1)}, nbytes={"d": 8}, client="c1", broadcast=True)
        assert (await r.gather(keys=["d"]))["data"] == {"d": 1}
    await s.pool(b.address).identity()  # (a comm to b, idle in the pool now)
    assert b.address in s.pool._idle and b.address in s.pool._slots
    await b.close()
    for _ in range(200):
        if b.address not in s.state.workers:
            break
        await asyncio.sleep(0.01)
    assert b.address not in s.pool._idle and b.address not in s.pool._slots
    assert b.address not in s.pool._busy
    await s.pool(a.address).identity()  # the pool goes on for the others
    assert a.address in s.pool._slots


@gen_cluster(nworkers=2)
async def test_identity_lists_workers_and_broadcast_runs_everywhere(s, a, b):
    import os

    async with rpc(s.address) as r:
        info = await r.identity()
        assert set(info["workers"]) == {a.address, b.address}
        assert info["workers"][a.address]["nthreads"] == 1
        out = await r.broadcast(msg={"op": "run", "function": Pickled(os.getpid)})
        assert {k: deserialize(v) if not isinstance(v, int) else v for k, v in out.items()} == {
            a.address: os.getpid(), b.address: os.getpid()}
        assert await r.nthreads() == {a.address: 1, b.address: 1}
        with pytest.raises(ValueError, match="unknown workers"):
            await r.broadcast(msg={"op": "run", "function": Pickled(os.getpid)},
                              workers=["tcp://nowhere:1"])


def test_worker_crash_reschedules_and_result_is_exact():
    """A worker that vanishes mid-task: its task runs again elsewhere, the answer is exact."""
    from shoal.testing.aio import run

    async def main():
        async with cluster(nworkers=2) as (s, (a, b)):
            c = await StreamClient.open(s.address)
            started = asyncio.Event()

            tasks = {f"slow-{i}": Task(f"slow-{i}", _sleep_then, 0.3, i) for i in range(4)}
            tasks["total"] = Task("total", sum, [Ref(k) for k in list(tasks)])
            await c.submit(tasks, ["total"])
            while not a.state.executing:
                await asyncio.sleep(0.01)
            started.set()
            # simulate a crash: drop the stream without a goodbye, close everything
            a.stream.abort()
            await a.close(report=False)
            (done,) = await c.wait_for(1)
            assert done["op"] == "key-in-memory"
            async with rpc(s.address) as r:
                assert (await r.gather(keys=["total"]))["data"] == {"total": 6}
            assert a.address not in s.state.workers
            await c.close()

    run(main(), 30)


def _sleep_then(seconds, value):
    import time

    time.sleep(seconds)
    return value


def test_worker_refuses_to_start_without_a_scheduler():
    from shoal.testing.aio import run

    async def main():
        w = Worker("tcp://127.0.0.1:1", nthreads=1, death_timeout=0.3, memory_limit=None)
        with pytest.raises(TimeoutError, match="127.0.0.1:1"):
            await w.start()

    run(main(), 20)


def _ipv6_loopback() -> bool:
    import socket
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_host_is_bracketed_in_the_listen_address(host):
    """``Scheduler(host="::1")`` used to listen at ``tcp://::1:0``, which no socket
    could bind; an IPv6 host, bracketed or not, now gives ``tcp://[::1]:<port>``."""
    from shoal.testing.aio import run

    if not _ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1) to bind")

    async def main():
        async with Scheduler(host=host) as s:
            assert s.address.startswith("tcp://[::1]:")
            async with Worker(s.address, host=host, nthreads=1, memory_limit=None) as w:
                assert w.address.startswith("tcp://[::1]:")
                async with rpc(s.address) as r:
                    assert w.address in (await r.identity())["workers"]
            if host.startswith("["):  # (the nanny kept its own copy of the old formatting)
                from shoal.distributed.nanny import Nanny

                async with Nanny(s.address, host=host, nthreads=1, memory_limit=None) as n:
                    assert n.address.startswith("tcp://[::1]:")

    run(main(), 60)


def test_a_worker_closed_while_it_starts_leaves_nothing_running():
    """A cluster that scales down may close a worker still registering: its start must
    not bring it back to life after the close (its sampler and task threads leaked)."""
    import threading

    from shoal.distributed.comm import listen
    from shoal.testing.aio import run

    async def main():
        got, reply = asyncio.Event(), asyncio.Event()

        async def slow_scheduler(comm):  # takes the registration, answers when told
            await comm.read()
            got.set()
            await reply.wait()
            await comm.write({"op": "registered", "address": "", "time": 0, "scheduler": "s"})
            try:
                await comm.read()
            except Exception:
                pass

        before = set(threading.enumerate())  # (only this test's threads count)
        listener = await listen("tcp://127.0.0.1:0", slow_scheduler)
        w = Worker(listener.contact_address, nthreads=1, memory_limit=None)
        starting = asyncio.ensure_future(w.start())
        try:
            await asyncio.wait_for(got.wait(), 10)
            await w.close()
            reply.set()
            await asyncio.wait_for(starting, 10)
            assert w.status == "closed"
            alive = [t.name for t in set(threading.enumerate()) - before]
            assert alive == []
        finally:
            await listener.stop()

    run(main(), 20)


def test_a_close_whose_caller_is_cancelled_still_ends_everything():
    """An adaptive cluster stopped while it scaled down cancels its ``close()`` calls:
    the workers, already out of the cluster, must close all the same (their sampler
    threads were left running)."""
    import threading

    from shoal.testing.aio import cancel_after, run

    async def main():
        async with Scheduler() as s:
            before = set(threading.enumerate())
            for steps in (1, 2, 3, 5, 8, 13):  # the caller cancelled at points along the close
                w = await Worker(s.address, nthreads=2, memory_limit=None)
                assert w.profiler is not None and w.profiler.running
                await cancel_after(w.close(), steps)
                await asyncio.wait_for(w.finished(), 10)
                assert w.status == "closed" and not w.profiler.running, steps
                assert [t.name for t in set(threading.enumerate()) - before] == [], steps
                await asyncio.wait_for(w.close(), 1)  # again: returns at once

    run(main(), 30)


def test_a_scheduler_start_that_fails_or_is_closed_leaves_nothing_running():
    from shoal.testing.aio import run

    async def main():
        s = Scheduler(dashboard_address="nonexistent.invalid:0")  # fails after listening
        with pytest.raises(ValueError, match="nonexistent.invalid"):
            async with s:
                pass
        assert s.status == "closed" and s.server.status == "closed" and not s._tasks
        s = Scheduler(dashboard_address=None)
        starting = asyncio.ensure_future(s.start())
        await asyncio.sleep(0)
        await s.close()
        with pytest.raises(RuntimeError, match="closed while it started"):
            await starting
        assert s.status == "closed" and not s._tasks
        with pytest.raises(RuntimeError, match="starts once"):
            await s.start()

    run(main(), 30)


def test_a_start_cancelled_while_it_listens_leaves_no_socket():
    """Python's ``start_server`` serves before it returns: a caller cancelled in between
    lost a listening socket (the leak check at the end sees one)."""
    from shoal.testing.aio import cancel_after, run

    async def main():
        async with Scheduler(dashboard_address=None) as s:
            for steps in range(1, 7):
                w = Worker(s.address, nthreads=1, memory_limit=None)
                await cancel_after(w.start(), steps)
                await w.close()
            await asyncio.sleep(0.05)  # (the listeners given up are stopping)

    run(main(), 30)


def test_a_scheduler_plugin_failing_to_close_does_not_stop_the_close():
    from shoal.distributed.scheduler.plugins import SchedulerPlugin
    from shoal.testing.aio import run

    class Broken(SchedulerPlugin):
        def close(self):
            raise RuntimeError("plugin broke on close")

    async def main():
        s = await Scheduler()
        await s.add_plugin(Broken(), name="broken")
        await asyncio.wait_for(s.close(), 10)
        assert s.status == "closed" and s.server.status == "closed"  # (its socket: the leak check)

    run(main(), 20)


def test_scheduler_close_closes_its_workers():
    from shoal.testing.aio import run

    async def main():
        s = await Scheduler()
        w = await Worker(s.address, nthreads=1, memory_limit=None)
        await s.close()
        await asyncio.wait_for(w.finished(), 5)
        assert w.status == "closed"

    run(main(), 20)


class _NoPickle:
    def __reduce__(self):
        raise TypeError("this object refuses to be pickled")


@gen_cluster(nworkers=2)
async def test_result_that_cannot_leave_its_worker_errs_by_key(s, a, b):
    c = await StreamClient.open(s.address)
    await c.submit({"bad": Task("bad", _NoPickle), "ok": Task("ok", inc, 1)}, ["bad", "ok"])
    await c.wait_for(2)
    async with rpc(s.address) as r:
        reply = await r.gather(keys=["bad", "ok"])
        assert reply["status"] == "error" and reply["data"] == {"ok": 2}
        exc = unpack_exception(reply["errors"]["bad"], "bad")
        assert "failed to pickle the result of 'bad'" in str(exc)
        # the worker keeps serving
        await c.submit({"after": Task("after", inc, 41)}, ["after"])
        await c.wait_for(3)
        assert (await r.gather(keys=["after"]))["data"] == {"after": 42}
    await c.close()


@gen_cluster(nworkers=1)
async def test_garbage_on_the_scheduler_port_leaves_it_serving(s, a):
    from shoal.distributed.comm import parse_address, parse_host_port

    host, port = parse_host_port(parse_address(s.address)[1])
    for payload in (b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", (2**63).to_bytes(8, "little"),
                    b"\x00" * 3):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(payload)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    c = await StreamClient.open(s.address)
    await c.submit({"x": Task("x", inc, 1)}, ["x"])
    (done,) = await c.wait_for(1)
    assert done["op"] == "key-in-memory"
    await c.close()


def test_tls_cluster_computes_and_refuses_plain_tcp():
    from shoal.distributed.security import Security
    from shoal.testing.aio import run

    async def main():
        sec = Security.temporary()
        try:
            async with Scheduler(protocol="tls", security=sec) as s:
                assert s.address.startswith("tls://")
                async with Worker(s.address, nthreads=1, security=sec, memory_limit=None) as a, \
                        Worker(s.address, nthreads=1, security=sec, memory_limit=None) as b:
                    comm = await connect(s.address, security=sec)
                    await comm.write({"op": "register_client", "client": "c1"})
                    assert (await comm.read())["op"] == "stream-start"
                    c = StreamClient(comm, "c1")
                    tasks = {f"x-{i}": Task(f"x-{i}", inc, i) for i in range(6)}
                    tasks["t"] = Task("t", sum, [Ref(k) for k in list(tasks)])
                    await c.submit(tasks, ["t"])
                    await c.wait_for(1)
                    async with rpc(s.address, security=sec) as r:
                        assert (await r.gather(keys=["t"]))["data"] == {"t": 21}
                    with pytest.raises(Exception, match="(?i)encrypt|tls"):
                        await connect(s.address.replace("tls://", "tcp://"), timeout=1,
                                      security=sec)
                    await c.close()
                    assert a.address.startswith("tls://") and b.address.startswith("tls://")
        finally:
            sec.close()

    run(main(), 30)


def test_spill_keeps_every_result_gettable():
    """Tiny memory limit: least recently used results go to disk, all stay gettable."""
    from shoal.testing.aio import run

    async def main():
        async with Scheduler() as s, Worker(s.address, nthreads=1, memory_limit=10_000_000) as w:
            c = await StreamClient.open(s.address)
            tasks = {f"b-{i}": Task(f"b-{i}", bytes, 500) for i in range(3)}
            await c.submit(tasks, list(tasks))
            await c.wait_for(3)
            freed = w.data.evict(1000)
            assert freed >= 1000 and len(w.data.slow) == 2 and w.data.spilled_bytes >= 1000
            async with rpc(s.address) as r:
                reply = await r.gather(keys=list(tasks))
            assert reply["data"] == {k: b"\x00" * 500 for k in tasks}
            await c.close()

    run(main(), 30)


def test_a_workers_spilled_bytes_on_disk_are_the_files_sizes():
    """Dask's ``spilled_bytes["disk"]``: what the spill files hold, not the values' size
    in memory (a list of small ints pickles to a fraction of it)."""
    from shoal.testing.aio import run

    async def main():
        async with Scheduler() as s, Worker(s.address, nthreads=1, memory_limit=10**9) as w:
            c = await StreamClient.open(s.address)
            tasks = {f"l-{i}": Task(f"l-{i}", list, range(20_000)) for i in range(2)}
            await c.submit(tasks, list(tasks))
            await c.wait_for(2)
            w.data.evict(1)
            spilled = w.metrics()["spilled_bytes"]
            assert spilled["memory"] == w.data.spilled_bytes > 0
            assert spilled["disk"] == w.data.spilled_disk_bytes > 0
            assert spilled["disk"] < spilled["memory"] / 2
            # the memory bars' spilled segment is what is on disk, as Dask's
            assert w.metrics()["spilled"] == spilled["disk"]
            await c.close()

    run(main(), 30)


def test_a_workers_managed_memory_is_at_most_its_process():
    """A result's measured size can count pages never touched (``np.zeros``: 4 GiB
    measured, nothing resident): the bars drew managed memory past the process's
    size.  Managed is at most the process (as Dask's); ``managed_bytes`` keeps the
    measured sizes."""
    np = pytest.importorskip("numpy")
    from shoal.testing.aio import run

    async def main():
        async with Scheduler() as s, Worker(s.address, nthreads=1) as w:
            c = await StreamClient.open(s.address)
            await c.submit({"z": Task("z", np.zeros, 2**29)}, ["z"])  # 4 GiB of float64
            await c.wait_for(1)
            metrics = w.metrics()
            assert metrics["managed_bytes"] >= 2**32 > metrics["memory"]
            assert metrics["managed"] + metrics["unmanaged"] == metrics["memory"]
            assert metrics["managed"] <= metrics["memory"] and metrics["unmanaged"] >= 0
            await c.close()

    run(main(), 30)


@gen_cluster(nworkers=1)
async def test_scheduler_plugin_sees_transitions_and_workers(s, a):
    from shoal.distributed.scheduler.plugins import SchedulerPlugin

    class Recorder(SchedulerPlugin):
        def __init__(self):
            self.seen, self.workers, self.started = [], [], False

        async def start(self, scheduler):
            self.started = scheduler is s

        def transition(self, key, start, finish, **details):
            self.seen.append((key, start, finish))

        def remove_worker(self, scheduler, worker, reason=""):
            self.workers.append(("removed", worker))

    plugin = Recorder()
    name = await s.add_plugin(plugin, name="rec")
    c = await StreamClient.open(s.address)
    await c.submit({"x": Task("x", inc, 1)}, ["x"])
    await c.wait_for(1)
    assert plugin.started and ("x", "processing", "memory") in plugin.seen
    await s.remove_plugin(name)
    with pytest.raises(ValueError, match="no scheduler plugin named 'rec'"):
        await s.remove_plugin("rec")
    await c.close()


def test_a_scheduler_plugin_written_for_dask_gets_its_hooks():
    """Dask's hooks take keyword-only arguments; called positionally, a Dask plugin's first
    update_graph raised and the plugin was unsubscribed, transitions and all."""
    from shoal.distributed import Client
    from shoal.distributed.scheduler.plugins import SchedulerPlugin
    from shoal.testing.cluster import sync_cluster

    class DaskStyle(SchedulerPlugin):
        name = "dask-style"

        def __init__(self):
            self.seen = []

        def update_graph(self, scheduler, *, client, keys, tasks, annotations, priority,
                         stimulus_id, **kwargs):  # fmt: skip
            self.seen.append(("update_graph", sorted(keys)))

        def transition(self, key, start, finish, *args, stimulus_id, **kwargs):
            self.seen.append(("transition", finish))

        def remove_worker(self, scheduler, worker, *, stimulus_id, **kwargs):
            self.seen.append(("remove_worker", worker))

    with sync_cluster(1, 1) as (s, _), Client(s.address, set_as_default=False) as c:
        c.register_plugin(DaskStyle())
        assert c.submit(operator.add, 1, 2, key="k").result() == 3
        seen = list(s.plugins["dask-style"][0].seen)  # (the scheduler's copy of the plugin)
    assert ("update_graph", ["k"]) in seen and ("transition", "memory") in seen
