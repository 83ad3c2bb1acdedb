"""``Client()`` starting its own LocalCluster: worker processes, a restart, a clean close."""

from __future__ import annotations

import asyncio
import re
from operator import add

import pytest

from shoal.delayed import delayed
from shoal.distributed.client import Client, FutureCancelledError

pytest.importorskip("psutil")


def inc(x):
    return x + 1


def test_client_starts_and_stops_a_local_cluster():
    with Client(n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
        assert c.cluster is not None and c.scheduler_address == c.cluster.scheduler_address
        workers = c.scheduler_info()["workers"]  # metrics already, before any heartbeat
        assert all(w["metrics"]["memory"] > 0 and "cpu" in w["metrics"] for w in workers.values())
        assert re.fullmatch(r"<Client: 'tcp://127\.0\.0\.1:\d+' processes=2 threads=2, "
                            r"memory=\d+\.\d\d [kMGT]iB>", repr(c)), repr(c)  # fmt: skip
        assert c.submit(inc, 1).result(timeout=30) == 2
        assert c.submit(lambda x: x * 3, 5).result() == 15  # a lambda travels by value
        assert c.gather(c.map(add, range(5), range(5))) == [0, 2, 4, 6, 8]
        assert delayed(inc)(10).compute() == 11
        pids = c.run(_pid)
        assert len(set(pids.values())) == 2 and _pid() not in pids.values()
        assert "Workers" in c._repr_html_()
    assert c.status == "closed" and c.cluster.status == "closed"


def _pid():
    import os

    return os.getpid()


def _pid_and_role(dask_worker):
    import os

    return os.getpid(), type(dask_worker).__name__


def test_run_on_the_nannies():
    with Client(n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
        workers = c.run(_pid)
        nannies = c.run(_pid_and_role, nanny=True)
        assert set(nannies) == set(workers)  # keyed by worker address
        assert {role for _, role in nannies.values()} == {"Nanny"}
        # a LocalCluster's nannies live in this process and start the worker processes
        assert {pid for pid, _ in nannies.values()} == {_pid()}
        assert _pid() not in workers.values()


def test_restart_cancels_futures_and_keeps_the_cluster_usable():
    with Client(n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        f = c.submit(inc, 1)
        assert f.result(timeout=30) == 2
        before = c.run(_pid)
        c.restart()
        assert f.status == "cancelled"
        with pytest.raises(FutureCancelledError):
            f.result()
        assert c.run(_pid) != before
        assert c.submit(inc, 1).result(timeout=30) == 2


def test_threads_only_cluster():
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as c:
        assert c.submit(inc, 41).result(timeout=30) == 42
        assert "processes=1 threads=2" in repr(c)


def test_client_of_an_existing_cluster_leaves_it_running():
    from shoal.distributed.deploy.local import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:  # fmt: skip
        with Client(cluster) as c:
            assert c.submit(inc, 1).result(timeout=30) == 2
        assert cluster.status == "running"
        with Client(cluster.scheduler_address) as c2:
            assert c2.submit(inc, 2).result(timeout=30) == 3


def test_asynchronous_client_with_its_own_cluster():
    async def main():
        async with Client(asynchronous=True, processes=False, n_workers=1,
                          dashboard_address=None) as c:  # fmt: skip
            assert await c.submit(inc, 1) == 2
            return c

    c = asyncio.run(main())
    assert c.status == "closed"


EXIT_SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
from shoal.distributed import Client, LocalCluster
own = Client(n_workers=1, threads_per_worker=1, dashboard_address=":0")
print(own.submit(sum, [1, 2]).result(), flush=True)
if {external!r}:
    other = Client(LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0"))
    print(other.submit(sum, [3, 4]).result(), flush=True)
print("exiting without close", flush=True)
"""


@pytest.mark.parametrize("external", [False, True])
@pytest.mark.timeout(90)
def test_a_script_that_never_closes_its_client_exits_quietly(external):
    """Clients left open at exit are closed before the clusters: their connection's
    pending tasks were torn down with the loop, and asyncio printed "Task was destroyed
    but it is pending!" at the end of every such script."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", EXIT_SCRIPT.format(root=root, external=external)],
                          capture_output=True, text=True, timeout=80)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == (["3", "7"] if external else ["3"]) + ["exiting", "without", "close"]
    assert proc.stderr == "", proc.stderr


def test_a_script_with_a_cluster_and_no_client_exits_quietly():
    """The exit hook that closes clients first must not import the client's module at
    exit ("can't register atexit after shutdown", printed by every such script)."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = (f"import sys; sys.path.insert(0, {root!r})\n"
              "from shoal.distributed.deploy.local import LocalCluster\n"
              "cluster = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None)\n"
              "print('up', flush=True)\n")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == "up\n", proc.stderr
    assert proc.stderr == "", proc.stderr

