"""Shared fixtures of the distributed tests, and the leak check every one of them ends with.

``servers``: an in-process scheduler and two workers on the shared loop thread
(``shoal.testing.cluster.sync_cluster``); ``c``: a synchronous Client connected to
them (a test module may override ``servers``, e.g. for more threads).

Every distributed test ends with nothing left over: no thread, child process or socket.

The check waits a little for things that close asynchronously (a worker
process exiting, a socket in TIME_WAIT is not ours), then fails naming what
leaked.  Cluster state is validated by :mod:`shoal.testing.cluster` itself.
"""

from __future__ import annotations

import threading
import time

import pytest

psutil = pytest.importorskip("psutil")


def _sockets(proc) -> set:
    out = set()
    for c in proc.net_connections(kind="inet"):
        if c.status in (psutil.CONN_TIME_WAIT, psutil.CONN_CLOSE_WAIT):
            continue
        out.add((c.fd, c.laddr, c.raddr, c.status))
    return out


def _snapshot(proc):
    threads = {t for t in threading.enumerate() if t.is_alive()}
    children = {p.pid for p in proc.children(recursive=True)}
    return threads, children, _sockets(proc)


@pytest.fixture(autouse=True)
def no_leaks():
    proc = psutil.Process()
    threads0, children0, sockets0 = _snapshot(proc)
    yield
    deadline = time.monotonic() + 10
    while True:
        threads, children, sockets = _snapshot(proc)
        extra_threads = threads - threads0
        extra_children = children - children0
        extra_sockets = {s for s in sockets - sockets0 if s[0] != -1}
        if not (extra_threads or extra_children or extra_sockets):
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    problems = []
    if extra_threads:
        problems.append(f"threads: {sorted(t.name for t in extra_threads)}")
    if extra_children:
        problems.append(f"child processes: {sorted(extra_children)}")
    if extra_sockets:
        problems.append(f"sockets: {sorted(map(str, extra_sockets))}")
    pytest.fail("leaked " + "; ".join(problems), pytrace=False)


@pytest.fixture
def servers():
    from shoal.testing.cluster import sync_cluster

    with sync_cluster() as sw:
        yield sw


@pytest.fixture
def c(servers):
    from shoal.distributed import Client

    with Client(servers[0].address) as client:
        yield client
