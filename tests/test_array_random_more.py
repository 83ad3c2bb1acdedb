"""More random distributions, ``array.chunk-size``, ``da.blockwise`` and small routines."""

import inspect

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import shoal
import shoal.array as da

dask_array = pytest.importorskip("dask.array")

# name -> (args, numpy's mean for those args or None)
CASES = {
    "beta": ((2.0, 3.0), 0.4),
    "binomial": ((10, 0.3), 3.0),
    "chisquare": ((4.0,), 4.0),
    "exponential": ((2.0,), 2.0),
    "f": ((5.0, 10.0), 10 / 8),
    "gamma": ((2.0, 3.0), 6.0),
    "geometric": ((0.25,), 4.0),
    "gumbel": ((1.0, 2.0), 1 + 2 * np.euler_gamma),
    "hypergeometric": ((10, 20, 6), 2.0),
    "laplace": ((1.0, 2.0), 1.0),
    "logistic": ((1.0, 2.0), 1.0),
    "lognormal": ((0.0, 0.5), np.exp(0.125)),
    "logseries": ((0.5,), None),
    "negative_binomial": ((5, 0.5), 5.0),
    "noncentral_chisquare": ((3.0, 2.0), 5.0),
    "noncentral_f": ((5.0, 20.0, 1.0), None),
    "pareto": ((3.0,), 0.5),
    "poisson": ((3.0,), 3.0),
    "power": ((2.0,), 2 / 3),
    "rayleigh": ((2.0,), 2 * np.sqrt(np.pi / 2)),
    "standard_cauchy": ((), None),
    "standard_exponential": ((), 1.0),
    "standard_gamma": ((2.5,), 2.5),
    "standard_t": ((5.0,), 0.0),
    "triangular": ((0.0, 1.0, 5.0), 2.0),
    "vonmises": ((0.5, 2.0), 0.5),
    "wald": ((2.0, 3.0), 2.0),
    "weibull": ((2.0,), 0.886226925),
    "zipf": ((3.0,), None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_distribution_shape_dtype_determinism_moments(name):
    args, mean = CASES[name]
    fn = getattr(da.random, name)
    x = fn(*args, size=(40_000,), chunks=7_000, seed=11)
    ref = getattr(np.random.default_rng(0), name)(*args, size=5)
    assert x.shape == (40_000,) and x.chunks[0][0] == 7_000
    assert x.dtype == ref.dtype
    got = x.compute()
    assert got.dtype == ref.dtype and got.shape == (40_000,)
    assert_array_equal(fn(*args, size=(40_000,), chunks=7_000, seed=11).compute(), got)
    assert not np.array_equal(fn(*args, size=(40_000,), chunks=7_000, seed=12).compute(), got)
    if mean is not None:
        assert abs(got.mean() - mean) < 0.05 * max(abs(mean), 1) + 0.02, (got.mean(), mean)
    # the same name on a RandomState and on a Generator
    assert getattr(da.random.RandomState(3), name)(*args, size=(4, 5), chunks=2).shape == (4, 5)
    assert getattr(da.random.default_rng(3), name)(*args, size=(4, 5), chunks=2).compute().shape \
        == (4, 5)


def test_dask_exposes_no_distribution_we_lack():
    module = dask_array.random
    for name in dir(module):
        obj = getattr(module, name)
        if not name.startswith("_") and getattr(obj, "__module__", "") == module.__name__:
            assert hasattr(da.random, name), name
    for name in dir(module.RandomState):
        if not name.startswith("_") and name != "tomaxint":
            assert hasattr(da.random.RandomState, name), name
    for name in dir(dask_array.random.Generator):
        if not name.startswith("_") and callable(getattr(dask_array.random.Generator, name)):
            assert hasattr(da.random.Generator, name), name
    assert "seed" in inspect.signature(da.random.gamma).parameters


def test_array_parameters_broadcast_blockwise():
    lam = da.from_array(np.array([1.0, 100.0, 10_000.0]), chunks=1)
    x = da.random.poisson(lam, size=(2000, 3), chunks=(500, 1), seed=0)
    assert x.chunks == ((500,) * 4, (1, 1, 1))
    got = x.compute()
    assert_allclose(got.mean(axis=0), [1, 100, 10_000], rtol=0.05)
    assert_array_equal(da.random.poisson(lam, size=(2000, 3), chunks=(500, 1), seed=0).compute(),
                       got)
    loc = da.from_array(np.arange(6.0).reshape(2, 3) * 100, chunks=(1, 2))
    y = da.random.normal(loc, 0.001, seed=1)  # size from the parameters, chunks from loc
    assert y.shape == (2, 3) and y.chunks == loc.chunks
    assert_allclose(y.compute(), np.arange(6.0).reshape(2, 3) * 100, atol=0.01)
    z = da.random.default_rng(2)
    w = z.uniform(np.array([[0.0], [10.0]]), np.array([[1.0], [11.0]]), size=(2, 50), chunks=10)
    got = w.compute()
    assert (got[0] < 1).all() and (got[1] >= 10).all()
    with pytest.raises(ValueError, match="broadcast"):
        da.random.normal(np.zeros(3), 1, size=(4,), seed=0)


def test_multinomial_choice_permutation():
    m = da.random.multinomial(20, [0.2, 0.3, 0.5], size=(1000, 2), chunks=(300, 1), seed=0)
    assert m.shape == (1000, 2, 3) and m.chunks[2] == (3,) and m.dtype == np.int64
    got = m.compute()
    assert (got.sum(axis=-1) == 20).all()
    assert_allclose(got.mean(axis=(0, 1)), [4, 6, 10], rtol=0.05)
    c = da.random.choice(5, size=(100, 10), chunks=(30, 5), seed=0).compute()
    assert c.shape == (100, 10) and set(np.unique(c)) == set(range(5))
    a = np.array([1.5, 2.5, 3.5])
    c = da.random.choice(a, size=2000, p=[0.0, 0.25, 0.75], chunks=300, seed=1).compute()
    assert set(np.unique(c)) == {2.5, 3.5} and abs((c == 3.5).mean() - 0.75) < 0.05
    lazy = da.random.choice(da.from_array(a, chunks=1), size=50, chunks=10,
                            p=da.from_array(np.array([1.0, 0, 0]), chunks=2), seed=1)
    assert (lazy.compute() == 1.5).all()
    nr = da.random.choice(da.arange(100, chunks=30), size=100, replace=False, chunks=25, seed=4)
    assert nr.chunks == ((25,) * 4,)
    assert_array_equal(np.sort(nr.compute()), np.arange(100))
    with pytest.raises(ValueError, match="without replacement"):
        da.random.choice(3, size=4, replace=False)
    with pytest.raises(ValueError, match="sum to 1"):
        da.random.choice(3, size=4, p=[0.5, 0.1, 0.1])
    p = da.random.permutation(10, seed=0).compute()
    assert sorted(p) == list(range(10)) and list(p) != list(range(10))
    x = da.from_array(np.arange(40).reshape(10, 4), chunks=(3, 2))
    px = da.random.permutation(x, seed=0).compute()
    assert_array_equal(px, np.arange(40).reshape(10, 4)[p])
    assert_array_equal(da.random.default_rng(5).permutation(x).compute(),
                       da.random.default_rng(5).permutation(x).compute())
    with pytest.raises(NotImplementedError, match="permutation"):
        da.random.default_rng(0).shuffle(x)
    ri = da.random.random_integers(3, size=500, chunks=100, seed=0).compute()
    assert set(np.unique(ri)) == {1, 2, 3}


def test_generator_methods_and_float32():
    rng = da.random.default_rng(7)
    e = rng.exponential(3.0, size=20_000, chunks=5_000).compute()
    assert abs(e.mean() - 3) < 0.15
    assert rng.standard_gamma(2.0, size=10, dtype=np.float32).compute().dtype == np.float32
    assert rng.integers(5, size=100).compute().max() < 5
    h = rng.multivariate_hypergeometric([3, 4, 5], 6, size=7, chunks=3).compute()
    assert h.shape == (7, 3) and (h.sum(axis=1) == 6).all()


def test_config_chunk_size():
    assert shoal.config.get("array.chunk-size") == "128MiB"
    big = da.ones((2000, 2000), chunks="auto")
    with shoal.config.set({"array.chunk-size": "1MiB"}):
        small = da.ones((2000, 2000), chunks="auto")
        r = da.random.random((2000, 2000), chunks="auto", seed=0)
    assert big.chunks == ((2000,), (2000,))
    assert max(small.chunks[0]) * max(small.chunks[1]) * 8 <= 2**20
    assert small.numblocks[0] > 1 and r.chunks == small.chunks
    import dask

    with dask.config.set({"array.chunk-size": "1MiB"}):
        assert small.chunks == dask_array.ones((2000, 2000), chunks="auto").chunks
    with shoal.config.set({"array.chunk-size": 2**20}):
        assert da.ones((2000, 2000), chunks="auto").chunks == small.chunks
    with shoal.config.set({"array.chunk-size": "0B"}), pytest.raises(ValueError, match="chunk-size"):
        da.ones((10,), chunks="auto")


def test_blockwise_function():
    import sys

    assert callable(da.blockwise)
    assert hasattr(sys.modules["shoal.array.blockwise"], "elemwise")
    from shoal.array.blockwise import map_blocks  # the module still imports

    assert callable(map_blocks)
    a = np.arange(24.0).reshape(4, 6)
    b = np.arange(30.0).reshape(6, 5)
    x = da.from_array(a, chunks=(2, 3))
    y = da.from_array(b, chunks=(2, 2))
    dx, dy = dask_array.from_array(a, chunks=(2, 3)), dask_array.from_array(b, chunks=(2, 2))
    s = da.blockwise(np.add, "ij", x, "ij", x, "ij", dtype=float)
    assert_array_equal(s.compute(), dask_array.blockwise(np.add, "ij", dx, "ij", dx, "ij",
                                                         dtype=float).compute())
    t = da.blockwise(np.transpose, "ji", x, "ij", dtype=float)
    assert t.chunks == ((3, 3), (2, 2))
    and_equal(t, a.T)
    d = da.blockwise(np.dot, "ik", x, "ij", y, "jk", concatenate=True, dtype=float)
    dd = dask_array.blockwise(np.dot, "ik", dx, "ij", dy, "jk", concatenate=True, dtype=float)
    assert d.chunks == dd.chunks
    assert_allclose(d.compute(), a @ b)
    summed = da.blockwise(lambda xs, ys: sum(p @ q for p, q in zip(xs, ys)), "ik", x, "ij",
                          y, "jk", dtype=float)
    assert_allclose(summed.compute(), a @ b)
    n = da.blockwise(lambda blk: blk[..., None] * np.arange(3), "ijk", x, "ij",
                     new_axes={"k": 3}, dtype=float)
    assert n.chunks == ((2, 2), (3, 3), (3,))
    assert_allclose(n.compute(), a[..., None] * np.arange(3))
    h = da.blockwise(lambda blk: blk[::2], "ij", x, "ij", adjust_chunks={"i": lambda c: c // 2},
                     dtype=float)
    assert h.chunks == ((1, 1), (3, 3))
    and_equal(h, a[::2])
    v = da.blockwise(np.add, "ij", x, "ij", np.arange(6.0), "j")  # dtype inferred
    assert v.dtype == float
    and_equal(v, a + np.arange(6.0))
    k = da.blockwise(np.multiply, "ij", x, "ij", 3, None, dtype=float)
    assert_allclose(k.compute(), a * 3)
    with pytest.raises(NotImplementedError, match="diagonal"):
        da.blockwise(np.diagonal, "i", x, "ii", dtype=float)
    with pytest.raises(ValueError, match="new_axes"):
        da.blockwise(np.add, "ijz", x, "ij", x, "ij", dtype=float)
    with pytest.raises(TypeError, match="pairs"):
        da.blockwise(np.add, "ij", x, "ij", x)


def and_equal(arr, expected):
    assert_allclose(arr.compute(), expected)
    return True


def test_elementwise_helpers():
    v = np.array([1.0, np.nan, np.inf, -np.inf, -2.5, 3.75, -0.0])
    x = da.from_array(v, chunks=3)
    assert_array_equal(da.nan_to_num(x, nan=-1.0, posinf=9.0).compute(),
                       np.nan_to_num(v, nan=-1.0, posinf=9.0))
    for fn in ("isneginf", "isposinf", "signbit", "fix"):
        assert_array_equal(getattr(da, fn)(x).compute(), getattr(np, fn)(v))
    assert_array_equal(da.around(x, 1).compute(), np.around(v, 1))
    c = np.array([1 + 2j, 3 + 0j, -1j, 2.5])
    z = da.from_array(c, chunks=2)
    for fn in ("real", "imag", "iscomplex", "isreal"):
        got = getattr(da, fn)(z)
        assert got.dtype == getattr(np, fn)(c).dtype
        assert_array_equal(got.compute(), getattr(np, fn)(c))
    assert_allclose(da.angle(z, deg=True).compute(), np.angle(c, deg=True))
    i = da.arange(6, chunks=4)
    assert da.float_power(i, 2).dtype == np.float64
    assert_array_equal(da.float_power(i, 2).compute(), np.float_power(np.arange(6), 2))
    n = np.arange(10)
    y = da.arange(10, chunks=3)
    assert_array_equal(da.select([y < 3, y > 7], [y, y * 10], default=-1).compute(),
                       np.select([n < 3, n > 7], [n, n * 10], -1))
    assert_array_equal(da.piecewise(y, [y < 5, y >= 5], [lambda q: -q, lambda q: q * 2]).compute(),
                       np.piecewise(n, [n < 5, n >= 5], [lambda q: -q, lambda q: q * 2]))


def test_append_insert_delete():
    m = np.arange(24).reshape(4, 6)
    x = da.from_array(m, chunks=(3, 4))
    assert_array_equal(da.append(x, x, axis=1).compute(), np.append(m, m, axis=1))
    assert_array_equal(da.append(x, [1, 2]).compute(), np.append(m, [1, 2]))
    for obj in (2, [1, 3, 3, 0], slice(1, 5, 2), -1, 0, [6]):
        for axis in (0, 1):
            if obj != [6] or axis == 1:
                assert_array_equal(da.insert(x, obj, 99, axis=axis).compute(),
                                   np.insert(m, obj, 99, axis=axis))
            if obj != [6]:
                assert_array_equal(da.delete(x, obj, axis=axis).compute(),
                                   np.delete(m, obj, axis=axis))
    vals = [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert_array_equal(da.insert(x, 2, vals, axis=1).compute(), np.insert(m, 2, vals, axis=1))
    assert_array_equal(da.insert(x, [1, 3], [7, 8], axis=1).compute(),
                       np.insert(m, [1, 3], [7, 8], axis=1))
    assert_array_equal(da.insert(x, 3, 5, axis=None).compute(), np.insert(m, 3, 5))
    assert_array_equal(da.delete(x, [0, 5, 7], axis=None).compute(), np.delete(m, [0, 5, 7]))
    with pytest.raises(IndexError):
        da.insert(x, 9, 0, axis=0)


def test_union1d_ediff1d():
    y = da.arange(10, chunks=3)
    got = da.union1d(y, np.array([3, 20, -1]))
    assert_array_equal(got.compute(), np.union1d(np.arange(10), [3, 20, -1]))
    m = np.arange(24).reshape(4, 6) ** 2
    x = da.from_array(m, chunks=(3, 4))
    assert_array_equal(da.ediff1d(x).compute(), np.ediff1d(m))
    assert_array_equal(da.ediff1d(x, to_begin=[-5], to_end=[100, 200]).compute(),
                       np.ediff1d(m, to_begin=[-5], to_end=[100, 200]))


def test_gradient_apply_along_axis_coarsen():
    f = np.random.default_rng(0).random((9, 11))
    x = da.from_array(f, chunks=(4, 3))
    for edge_order in (1, 2):
        got = da.gradient(x, 0.5, edge_order=edge_order)
        want = np.gradient(f, 0.5, edge_order=edge_order)
        assert len(got) == 2
        for g, w in zip(got, want):
            assert_allclose(g.compute(), w)
    assert_allclose(da.gradient(x, axis=1).compute(), np.gradient(f, axis=1))
    assert_allclose(da.gradient(da.from_array(f, chunks=1), 2.0, 3.0)[1].compute(),
                    np.gradient(f, 2.0, 3.0)[1])
    assert_allclose(da.gradient(da.arange(10, chunks=3) ** 2).compute(),
                    np.gradient(np.arange(10) ** 2))
    with pytest.raises(NotImplementedError, match="scalar"):
        da.gradient(x, np.arange(9.0), np.arange(11.0))
    r = da.apply_along_axis(np.cumsum, 1, x)
    assert r.chunks == ((4, 4, 1), (11,))
    assert_allclose(r.compute(), np.apply_along_axis(np.cumsum, 1, f))
    r = da.apply_along_axis(np.sum, 0, x)
    assert r.shape == (11,)
    and_equal(r, f.sum(axis=0))
    outer = lambda v: np.outer(v[:2], v[:3])  # noqa: E731
    r = da.apply_along_axis(outer, 0, x)
    assert r.shape == (2, 3, 11)
    and_equal(r, np.apply_along_axis(outer, 0, f))
    c = da.coarsen(np.mean, x, {0: 3, 1: 2}, trim_excess=True)
    assert_allclose(c.compute(), f[:9, :10].reshape(3, 3, 5, 2).mean(axis=(1, 3)))
    dk = dask_array.coarsen(np.sum, dask_array.from_array(f, chunks=(3, 2)), {0: 3, 1: 2},
                            trim_excess=True)
    assert_allclose(da.coarsen(np.sum, x, {0: 3, 1: 2}, trim_excess=True).compute(), dk.compute())
    with pytest.raises(ValueError, match="trim_excess"):
        da.coarsen(np.sum, x, {1: 2})
