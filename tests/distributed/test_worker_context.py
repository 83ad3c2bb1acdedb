"""Tasks that ask where they run and wait on other tasks: get_worker, get_client,
secede / rejoin, worker_client, and compute() inside a task.

The workers have one thread each: a task that waited on other tasks while holding
its thread would wait for good (see ``shoal/distributed/worker/context.py``).
"""

from __future__ import annotations

import threading
import time

import pytest

import shoal
from shoal import delayed
from shoal.distributed import (
    Client, LocalCluster, get_client, get_worker, rejoin, secede, worker_client,
)  # fmt: skip
from shoal.testing.cluster import on_loop, sync_cluster, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def servers():
    with sync_cluster(1, 1) as sw:  # one worker, one thread
        yield sw


@pytest.fixture
def c(servers):
    with Client(servers[0].address) as client:
        yield client


def inc(x):
    return x + 1


def fib(n):
    if n < 2:
        return n
    client = get_client()
    a, b = client.submit(fib, n - 1), client.submit(fib, n - 2)
    return a.result() + b.result()  # each wait secedes: the thread is free meanwhile


def nested_compute(n):
    return sum(shoal.compute(*[delayed(inc)(i) for i in range(n)]))


def map_in_worker_client(n):
    with worker_client() as client:
        return sum(client.gather(client.map(inc, range(n))))


def test_tasks_that_wait_on_tasks_finish_on_a_one_thread_worker(c, servers):
    assert c.submit(fib, 7).result(timeout=30) == 13
    assert c.submit(nested_compute, 10).result(timeout=30) == 55
    assert c.submit(map_in_worker_client, 20).result(timeout=30) == 210
    (w,) = servers[1]
    # every seceded thread ended or took its slot back: one pool thread, nothing long-running
    wait_until(lambda: sum(t.is_alive() for t in w.threads.threads) == 1)
    assert on_loop(lambda: (w.state.long_running, w.state.executing)) == (set(), set())
    assert on_loop(lambda: servers[0].state.workers[w.address].long_running) == set()


def test_get_worker_in_a_task_and_clear_errors_outside_one(c, servers):
    (w,) = servers[1]
    assert c.submit(lambda: get_worker().address).result(timeout=10) == w.address
    for call, name in [(get_worker, "get_worker()"), (secede, "secede()"), (rejoin, "rejoin()")]:
        with pytest.raises(ValueError, match=rf"{name.replace('(', '[(]').replace(')', '[)]')}: "
                                             "this thread runs no task of a shoal worker"):
            call()
    with pytest.raises(ValueError, match="worker_client"):
        with worker_client():
            pass
    assert get_client() is c  # outside a task: the default client
    with pytest.raises(ValueError, match="get_client.*tcp://elsewhere:1"):
        get_client("tcp://elsewhere:1")


def wait_for_flag(flag_key):
    """Secede, then wait until the task submitted after this one has run."""
    secede()
    flag = get_worker().flags[flag_key]
    ok = flag.wait(20)
    rejoin()
    return ok


def set_flag(flag_key):
    get_worker().flags[flag_key].set()
    return True


def test_a_seceded_task_is_long_running_on_the_scheduler_and_frees_its_slot(c, servers):
    s, (w,) = servers
    w.flags = {"go": threading.Event()}
    waiting = c.submit(wait_for_flag, "go")
    wait_until(lambda: any(ts.key == waiting.key for ts in s.state.workers[w.address].long_running))
    assert on_loop(lambda: s.state.workers[w.address].processing[s.state.tasks[waiting.key]]) == 0
    # the one thread is free: a later task runs and lets the first one end
    assert c.submit(set_flag, "go").result(timeout=20) is True
    assert waiting.result(timeout=20) is True
    wait_until(lambda: not s.state.workers[w.address].long_running)
    story = [e.what for e in s.state.story(waiting.key) if hasattr(e, "what")]
    assert "long-running" in story


def test_the_worker_makes_its_own_client_when_no_default_one_talks_to_its_scheduler(servers):
    s, (w,) = servers
    with Client(s.address, set_as_default=False) as client:
        name = client.submit(lambda: get_client().name).result(timeout=20)
        assert name == f"client of worker {w.address}"
        assert client.submit(fib, 5).result(timeout=30) == 5
        assert w.task_client.client is not None and w.task_client.client is not client
    # the worker's client closes with the worker (sync_cluster's end; the leak check
    # counts its threads and sockets)


def test_the_default_client_of_the_same_scheduler_is_shared(c, servers):
    (w,) = servers[1]
    assert c.submit(lambda: get_client() is get_worker().task_client.client).result(timeout=10)
    assert w.task_client.client is c


def test_compute_in_a_task_on_a_worker_process():
    """A worker process has no default client: compute() in its task runs on the cluster
    through the worker's own client (before, on local threads of that one process)."""

    def where(n):
        parts = [delayed(lambda i: get_worker().address)(i) for i in range(n)]
        return set(shoal.compute(*parts)), get_worker().address

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:  # fmt: skip
        ran_on, caller = client.submit(where, 4).result(timeout=60)
        assert ran_on == {caller}  # the inner tasks ran on the worker, not locally
        start = time.monotonic()
        assert client.submit(fib, 6).result(timeout=60) == 8
        assert time.monotonic() - start < 50


def who_has_quickly():
    start = time.monotonic()
    get_client().who_has()  # a cheap call: it waits on no task
    return time.monotonic() - start


def test_a_cheap_client_call_in_a_task_keeps_its_thread(c, servers):
    """Only calls that wait on unfinished futures secede: a who_has that seceded let the
    queued task take the slot, and the call then waited for that task to end."""
    s = servers[0]
    first = c.submit(who_has_quickly)
    queued = c.submit(time.sleep, 1.5, pure=False)  # behind it on the one thread
    assert first.result(timeout=20) < 1.0
    queued.result(timeout=20)
    assert "long-running" not in [getattr(e, "what", None) for e in s.state.story(first.key)]


def make_a_client():
    try:
        get_client(timeout=5)
        return "client"
    except RuntimeError as exc:
        return str(exc)


def test_a_worker_closing_while_its_task_makes_a_client_keeps_the_loop_running(servers, monkeypatch):
    """The task made its client holding a lock the worker's close (on the shared loop)
    needed: the loop, the scheduler and every client in the process hung for good."""
    from shoal.distributed import _loop
    from shoal.distributed.worker import context

    s, (w,) = servers
    making, original = threading.Event(), context.TaskClient._make

    def slow_make(self, timeout):  # (a connection that takes a second: a wide window)
        making.set()
        time.sleep(1.0)
        return original(self, timeout)

    monkeypatch.setattr(context.TaskClient, "_make", slow_make)
    with Client(s.address, set_as_default=False) as client:
        future = client.submit(make_a_client)
        assert making.wait(10)
        runner = _loop.get_runner()
        closing = threading.Thread(target=lambda: runner.sync(w.close, timeout=30))
        closing.start()
        time.sleep(0.2)

        async def nothing():
            return None

        start = time.monotonic()
        runner.sync(nothing, timeout=10)
        assert time.monotonic() - start < 0.5  # the loop runs while the worker closes
        closing.join(30)
        assert not closing.is_alive() and w.status == "closed"
        assert w.task_client.client is None  # the client made after the close was closed


def test_the_worker_client_uses_the_worker_certificate_when_it_has_no_client_one(tmp_path):
    from shoal.distributed.security import Security
    from shoal.distributed.worker.context import _as_client

    full = Security.temporary()
    worker_only = Security(tls_ca_file=full.tls_ca_file, tls_worker_cert=full.tls_worker_cert,
                           tls_worker_key=full.tls_worker_key)  # fmt: skip
    as_client = _as_client(worker_only)
    assert as_client.cert_for("client") == (full.tls_worker_cert, full.tls_worker_key)
    as_client.get_tls_context("client", server_side=False)  # (it raised: no client certificate)
    assert _as_client(full) is full and _as_client(None) is None
