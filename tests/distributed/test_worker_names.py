"""A worker name is one worker's: a second worker asking for a taken name is refused
(restrictions, ``retire_workers`` and clusters find workers by name), as in Dask."""

from __future__ import annotations

import pytest

from shoal.distributed.worker.server import Worker
from shoal.testing.cluster import gen_cluster

pytestmark = pytest.mark.timeout(60)


@gen_cluster(nworkers=1)
async def test_a_taken_worker_name_is_refused(s, w0):
    with pytest.raises(RuntimeError, match=r"refused worker: the worker name 'w0' is taken by "):
        await Worker(s.address, name="w0", nthreads=1).start()
    assert list(s.state.workers) == [w0.address]
    async with Worker(s.address, name="w1", nthreads=1) as w1:  # another name joins
        assert {ws.name for ws in s.state.workers.values()} == {"w0", "w1"}
    assert w1.status == "closed"
    await w0.close()
    async with Worker(s.address, name="w0", nthreads=1) as again:  # free once its owner left
        assert [ws.name for ws in s.state.workers.values()] == ["w0"]
        assert again.address in s.state.workers
