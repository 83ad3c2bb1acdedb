"""Blocked products (tensordot / dot / matmul / einsum) bound each task's inputs by bytes.

A "partial" task reads at most ``array.chunk-size`` bytes of input blocks (at least
one pair), small blocks are still grouped ``split_every`` pairs at a time, and the
tree that adds the partial results lowers its fan-in when output blocks are big.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import shoal
import shoal.array as da

pytestmark = pytest.mark.timeout(60)


def _block_bytes(*arrays):
    """``{key: nbytes}`` for every block of *arrays*."""
    out = {}
    for x in arrays:
        for idx in np.ndindex(*x.numblocks):
            n = x.dtype.itemsize
            for c, i in zip(x.chunks, idx):
                n *= c[i]
            out[x._key(idx)] = n
    return out


def _tasks(z, prefix):
    return {k: t for k, t in z.__shoal_graph__().items()
            if isinstance(k, tuple) and str(k[0]).startswith(prefix)}


def _max_input_bytes(z, prefix, *arrays):
    sizes = _block_bytes(*arrays)
    return max(sum(sizes.get(d, 0) for d in t.dependencies) for t in _tasks(z, prefix).values())


def test_tall_skinny_big_chunks_partials_fit_the_budget():
    # 20 blocks of 64 MB: one task used to read 16 of them (1 GB)
    x = da.ones((20000, 8000), chunks=(1000, 8000))
    a, b = x.T, x[:, :10]
    for z, prefix in ((a @ b, "tensordot"), (da.tensordot(a, b, axes=1), "tensordot"),
                      (da.dot(a, b), "tensordot")):
        assert _max_input_bytes(z, prefix, a, b) <= 128 * 2**20
        assert max(len(t.dependencies) for t in _tasks(z, prefix).values()) <= 10
    # one pair still fits a task when a pair alone passes the budget
    with shoal.config.set({"array.chunk-size": "1MiB"}):
        z = a @ b
    partials = [t for k, t in _tasks(z, "tensordot-partial").items()]
    assert len(partials) == 20 and all(len(t.dependencies) == 2 for t in partials)


def test_small_chunks_are_still_grouped():
    # the benchmark's shape: 4 contracted blocks of 8 MB -> one task per output block
    x = da.ones((4000, 4000), chunks=1000)
    z = x @ x
    assert len(_tasks(z, "tensordot")) == 16 and not _tasks(z, "tensordot-partial")
    # many small blocks: split_every pairs per partial, as before
    y = da.ones((40, 30), chunks=(10, 2)) @ da.ones((30, 20), chunks=(3, 10))
    # (20 common blocks along the contracted axis)
    assert max(len(t.dependencies) for t in _tasks(y, "tensordot").values()) == 2 * 16
    y4 = da.matmul(da.ones((40, 30), chunks=(10, 2)), da.ones((30, 20), chunks=(3, 10)),
                   split_every=4)
    assert max(len(t.dependencies) for t in _tasks(y4, "tensordot-partial").values()) == 8


@pytest.mark.parametrize("ca, cb", [((200, 50), (200, 7)), (((100, 700, 1200, 2000), (30, 20)),
                                                            ((1000, 3000), (5, 2))),
                                    ((333, 17), (123, 4))])
@pytest.mark.parametrize("budget", ["20kB", "200kB", None])
@pytest.mark.parametrize("split_every", [None, 2, 3])
def test_values_match_numpy_under_byte_budgets(ca, cb, budget, split_every):
    rng = np.random.default_rng(3)
    a, b = rng.random((4000, 50)), rng.random((4000, 7))
    with shoal.config.set({"array.chunk-size": budget or "128MiB"}):
        x, y = da.from_array(a, chunks=ca), da.from_array(b, chunks=cb)
        got = [da.matmul(x.T, y, split_every=split_every),
               da.dot(x.T, y, split_every=split_every),
               da.tensordot(x, y, axes=((0,), (0,)), split_every=split_every),
               da.einsum("ij,ik->jk", x, y, split_every=split_every)]
        if budget == "20kB":
            z = got[0]
            assert _max_input_bytes(z, "tensordot-partial", x.T, y) <= 20_000 or all(
                len(t.dependencies) == 2 for t in _tasks(z, "tensordot-partial").values())
    for z in got:
        assert_allclose(z.compute(), a.T @ b)
    assert_allclose((x.T @ x).compute(), a.T @ a)


def _sum_tasks(z, prefix):
    """The tasks that add partial results: ``<prefix>-<token>`` (when it has several
    inputs) and the tree levels ``<prefix>-sum-...`` / ``einsum-part-<token>-<depth>``."""
    out = []
    for k, t in z.__shoal_graph__().items():
        name = str(k[0])
        if name.startswith((f"{prefix}-sum-", "einsum-part-")) and name.count("-") == 3:
            out.append(t)
        elif name.count("-") == 1 and name.startswith(f"{prefix}-"):
            out.append(t)
    return out


def test_tree_sum_fan_in_bounded_by_output_bytes():
    rng = np.random.default_rng(4)
    a, b = rng.random((60, 400)), rng.random((400, 50))
    x, y = da.from_array(a, chunks=(30, 10)), da.from_array(b, chunks=(10, 25))
    with shoal.config.set({"array.chunk-size": "12kB"}):  # output blocks: 6 kB, pairs 4.4 kB
        z, e = x @ y, da.einsum("ij,jk->ik", x, y)
    for w, prefix in ((z, "tensordot"), (e, "einsum")):
        sums = _sum_tasks(w, prefix)
        assert len(sums) > 2 * 2 and max(len(t.dependencies) for t in sums) == 2
        assert_allclose(w.compute(), a @ b)
    # batched einsum with irregular blocks and a broadcast operand
    c, d = rng.random((6, 10, 400)), rng.random((1, 400, 50))
    xc = da.from_array(c, chunks=((2, 4), (3, 7), (100, 150, 150)))
    xd = da.from_array(d, chunks=(1, (50, 350), 25))
    with shoal.config.set({"array.chunk-size": "3kB"}):
        got = da.einsum("ijk,ikl->jl", xc, xd, split_every=3)
    assert_allclose(got.compute(), np.einsum("ijk,ikl->jl", c, d))


def test_tall_skinny_product_on_a_small_cluster():
    from shoal.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="600MB",
                      dashboard_address=":0") as cluster, Client(cluster):
        y = da.random.random((12000, 6000), chunks=(1000, 6000)).persist()  # 48 MB blocks
        got = (y.T @ y[:, :10]).compute()  # one task used to read all 12 blocks: killed
        want = np.zeros((6000, 10))
        for i in range(y.numblocks[0]):
            block = y.blocks[i].compute()
            want += block.T @ block[:, :10]
    assert_allclose(got, want)


def test_batched_matmul_under_a_byte_budget():
    rng = np.random.default_rng(5)
    c, d = rng.random((3, 20, 400)), rng.random((1, 400, 6))
    xc = da.from_array(c, chunks=(1, (5, 15), (40, 160, 200)))
    xd = da.from_array(d, chunks=(1, 100, (2, 4)))
    with shoal.config.set({"array.chunk-size": "5kB"}):
        z = xc @ xd
    partials = _tasks(z, "matmul-partial")
    assert partials and max(len(t.dependencies) for t in partials.values()) == 2
    assert_allclose(z.compute(), c @ d)
    assert_allclose((xc @ xd).compute(), c @ d)
