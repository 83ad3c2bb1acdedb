"""shoal.array.random: reproducible per block; bounded memory for big reductions."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import shoal
import shoal.array as da

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_same_seed_and_chunks_same_numbers_on_every_scheduler():
    make = lambda: da.random.random((50, 40), chunks=(15, 12), seed=123)  # noqa: E731
    x, y = make(), make()
    assert x.name == y.name
    ref = x.compute(scheduler="sync")
    for scheduler in ("threads", "processes"):
        assert_array_equal(y.compute(scheduler=scheduler), ref)
    assert_array_equal(da.random.RandomState(123).random((50, 40), chunks=(15, 12)).compute(), ref)
    # parts computed on their own agree with the whole
    assert_array_equal(x[20:, ::3].compute(), ref[20:, ::3])
    assert_array_equal(shoal.compute(x.to_delayed()[1, 2])[0], ref[15:30, 24:36])
    assert not np.array_equal(da.random.random((50, 40), chunks=(15, 12), seed=124).compute(), ref)


def test_a_state_advances_between_calls():
    state = da.random.RandomState(7)
    a = state.random(100, chunks=30).compute()
    b = state.random(100, chunks=30).compute()
    assert not np.array_equal(a, b)
    again = da.random.RandomState(7)
    assert_array_equal(again.random(100, chunks=30).compute(), a)
    assert_array_equal(again.random(100, chunks=30).compute(), b)
    # a state passed as seed= is advanced too
    s = da.random.RandomState(7)
    assert_array_equal(da.random.random(100, chunks=30, seed=s).compute(), a)
    assert_array_equal(da.random.random(100, chunks=30, seed=s).compute(), b)
    # the shared state, reseeded
    da.random.seed(99)
    c = da.random.random(10, chunks=3).compute()
    da.random.seed(99)
    assert_array_equal(da.random.random(10, chunks=3).compute(), c)
    # blocks are independent streams: no block repeats another
    blocks = da.random.random((4, 100), chunks=(1, 100), seed=5).compute()
    assert len({tuple(row[:5]) for row in blocks}) == 4


def test_distributions():
    x = da.random.random((300, 300), chunks=(70, 90), seed=1)
    assert x.dtype == np.float64 and x.chunks[0] == (70, 70, 70, 70, 20)
    v = x.compute()
    assert 0 <= v.min() and v.max() < 1 and abs(v.mean() - 0.5) < 0.01
    assert_allclose(x.mean().compute(), v.mean())
    n = da.random.normal(10, 3, size=(200, 200), chunks=50, seed=2).compute()
    assert abs(n.mean() - 10) < 0.1 and abs(n.std() - 3) < 0.1
    r = da.random.randint(5, 15, size=1000, chunks=300, seed=3)
    rv = r.compute()
    assert r.dtype == rv.dtype == np.int64 and rv.min() >= 5 and rv.max() < 15
    assert set(np.unique(rv)) == set(range(5, 15))
    assert da.random.randint(3, size=10, chunks=4, seed=0).compute().max() < 3
    u = da.random.uniform(-2, 2, size=500, chunks=100, seed=4).compute()
    assert u.min() >= -2 and u.max() < 2
    assert da.random.random(10, chunks=5, seed=0, dtype=np.float32).compute().dtype == np.float32
    assert da.random.standard_normal((3, 4), chunks=2, seed=0).shape == (3, 4)
    rng = da.random.default_rng(8)
    i = rng.integers(0, 3, size=600, chunks=100, endpoint=True).compute()
    assert set(np.unique(i)) == {0, 1, 2, 3}
    assert_array_equal(da.random.default_rng(8).integers(0, 3, size=600, chunks=100, endpoint=True).compute(), i)
    assert rng.random(5).shape == (5,)
    assert da.random.random(size=None, seed=1).shape == ()
    spread = da.random.normal(np.zeros(3), np.array([1.0, 2.0, 3.0]), size=3, chunks=1, seed=2)
    assert spread.shape == (3,) and spread.compute().shape == (3,)  # (array parameters broadcast)


def test_random_blocks_fuse_with_their_reduction():
    from shoal.core.graph import dependents_of
    from shoal.core.optimize import fuse

    m = da.random.random((100, 100), chunks=(10, 10), seed=0).mean()
    graph = m.__shoal_graph__()
    fused, _ = fuse(graph, dependents_of(graph), keep=[(m.name,)])
    # 100 random blocks + 100 chunk partials -> 100 fused tasks, plus the tree
    assert len(graph) > 200 and len(fused) < 120


# the peak is VmHWM of the child (ru_maxrss would start from the parent's peak)
_BIG_MEAN = """
import json
import shoal.array as da

def status(field):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(field + ":"))

da.random.random((100, 100), chunks=(10, 10)).mean().compute()  # warm up the pool
x = da.random.random((10000, 10000), chunks=(1000, 1000))
before = status("VmRSS")
value = float(x.mean().compute())
print(json.dumps({"mean": value, "growth": status("VmHWM") - before, "nbytes": x.nbytes}))
"""


def test_big_mean_has_bounded_memory():
    """random((10000, 10000)).mean() on threads: 800 MB of data, far less memory."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux /proc to read the peak resident memory")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p))
    out = subprocess.run([sys.executable, "-c", _BIG_MEAN], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert abs(res["mean"] - 0.5) < 1e-3
    assert res["nbytes"] == 800_000_000
    assert res["growth"] < 300 * 2**20, f"peak RSS grew by {res['growth'] / 2**20:.0f} MiB"
