"""Concurrency as notebooks and libraries create it: several threads or clients at once."""

from __future__ import annotations

import threading
import time

import pytest

from shoal.distributed import Client, LocalCluster
from shoal.distributed.client import FutureCancelledError

pytest.importorskip("psutil")


def _slow(x, t=5.0):
    time.sleep(t)
    return x


def _known(dask_scheduler):
    return list(dask_scheduler.tasks)


@pytest.mark.timeout(60)
def test_restart_tells_every_client_why_its_futures_were_cancelled():
    # One client restarts while another thread gathers and a second client waits:
    # everyone gets a prompt FutureCancelledError that names the restart.
    with LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None) as cluster, \
            Client(cluster) as c1, Client(cluster) as c2:  # fmt: skip
        pending = c2.submit(_slow, 1)
        mine = c1.submit(_slow, 2)
        deadline = time.monotonic() + 20
        while {pending.key, mine.key} - set(c1.run_on_scheduler(_known)):  # (both submitted:
            assert time.monotonic() < deadline  # a submit reaching it after the restart runs)
            time.sleep(0.01)
        caught = {}

        def gather():
            try:
                c1.gather([mine])
            except FutureCancelledError as exc:
                caught["c1"] = str(exc)

        t = threading.Thread(target=gather)
        t.start()
        c1.restart()
        t.join(10)
        assert not t.is_alive() and "restarted" in caught["c1"]
        with pytest.raises(FutureCancelledError, match="the cluster restarted"):
            pending.result(timeout=10)  # (not a vague "cancelled by the scheduler")
        assert c2.submit(_slow, 3, 0).result(timeout=20) == 3
