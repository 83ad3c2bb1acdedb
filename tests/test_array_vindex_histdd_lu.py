"""vindex.py, histograms.py, lu.py, topk(k=0), einsum with '...': equal to NumPy (and Dask)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import shoal
import shoal.array as da

dask_array = pytest.importorskip("dask.array")

pytestmark = pytest.mark.timeout(60)

RNG = np.random.default_rng(7)
X = np.arange(6 * 7 * 5).reshape(6, 7, 5)

# -- vindex -------------------------------------------------------------------------------

VINDEX_CASES = [
    ([0, 5, -1], [1, 2, 3]),
    ([0, 5, -1], slice(None), [1, 2, 3]),
    (slice(1, 4), [0, 5, -1], [1, 2, 3]),
    ([[0], [5]], [1, 2, 3]),
    (2, [0, 5], [1, 2]),
    ([0, 5], 2, [1, 2]),
    [1, 2],
    ([1, 2], Ellipsis, [0, 1]),
    ([], []),
    (slice(None), [1, 2], [0, 1]),
    (slice(None, None, -1), [[1, 2], [3, 4]], slice(1, None)),
    (slice(None),),
    (RNG.integers(0, 6, 50), RNG.integers(-7, 7, 50), RNG.integers(0, 5, 50)),
]


@pytest.mark.parametrize("index", VINDEX_CASES)
def test_vindex_equals_dask(index):
    x = da.from_array(X, chunks=(4, 3, 2))
    want = dask_array.from_array(X, chunks=(4, 3, 2)).vindex[index]
    got = x.vindex[index]
    assert got.shape == want.shape and got.chunks == want.chunks
    assert_array_equal(got.compute(), want.compute())


def test_vindex_is_numpy_fancy_indexing_and_reads_only_needed_blocks():
    a = RNG.standard_normal((40, 30))
    x = da.from_array(a, chunks=(5, 5))  # 48 blocks
    rows, cols = np.array([3, 39, 3, -1]), np.array([[0], [29]])
    assert_array_equal(x.vindex[rows, cols].compute(), a[rows, cols])
    one = x.vindex[[12], [17]]
    graph = dict(one.__shoal_graph__())
    sources = [k for k in graph if isinstance(k, tuple) and k[0] == x.name]
    takes = [k for k in graph if isinstance(k, tuple) and str(k[0]).startswith("vindex-take")]
    assert len(takes) == 1 and graph[takes[0]].dependencies == {(x.name, 2, 3)}
    assert len(sources) <= 48  # (the source layer is carried; the take reads one block)
    assert_array_equal(np.asarray(one), a[[12], [17]])


def test_vindex_zero_d_indexes_follow_numpy():
    x = da.from_array(X, chunks=(4, 3, 2))
    assert_array_equal(x.vindex[np.array(3), [1, 2]].compute(), X[np.array(3), [1, 2]])
    assert_array_equal(x.vindex[np.array(3), np.array(2)].compute(), X[3, 2])


@pytest.mark.parametrize("index,match", [
    (([0, 6], [1, 2]), "out of bounds for indexing along axis 0 of size 6"),
    ((slice(None), [-8]), "along axis 1 of size 7"),
    (([0, 5], [1, 2, 3]), "shape mismatch"),
    ((slice(1, 3),), "at least one array"),
    (np.ones(6, bool), "boolean"),
    (([1, 2], None), "None"),
    (([1.5],), "axis 0 must hold integers"),
    (([0], [0], [0], [0]), "too many indices"),
])
def test_vindex_errors(index, match):
    x = da.from_array(X, chunks=(4, 3, 2))
    with pytest.raises(IndexError, match=match):
        x.vindex[index]


# -- histogramdd / histogram2d -----------------------------------------------------------

SAMPLE = RNG.standard_normal((100, 3))
W = RNG.random(100)


def test_histogramdd_counts_weights_density():
    s = da.from_array(SAMPLE, chunks=(30, 2))
    counts, edges = da.histogramdd(s, bins=4, range=[(-2, 2)] * 3)
    want, want_edges = np.histogramdd(SAMPLE, bins=4, range=[(-2, 2)] * 3)
    assert counts.shape == want.shape and counts.dtype == want.dtype
    assert_allclose(counts.compute(), want)
    for e, w in zip(edges, want_edges):
        assert_array_equal(e, w)
    kw = dict(bins=[3, [-1, 0, 1], 5], range=[(-2, 2), None, (0, 1)], density=True)
    got, _ = da.histogramdd(s, weights=da.from_array(W, chunks=17), **kw)
    assert_allclose(got.compute(), np.histogramdd(SAMPLE, weights=W, **kw)[0])
    cols = [da.from_array(SAMPLE[:, d], chunks=c) for d, c in enumerate((25, 40, 100))]
    dk, _ = dask_array.histogramdd(dask_array.from_array(SAMPLE, chunks=(25, 3)), bins=4,
                                   range=[(-2, 2)] * 3, weights=dask_array.from_array(W, chunks=25),
                                   density=True)
    ours, _ = da.histogramdd(cols, bins=4, range=[(-2, 2)] * 3, weights=W, density=True)
    assert_allclose(ours.compute(), dk.compute())


@pytest.mark.parametrize("kw", [dict(bins=5, range=[(-3, 3), (-2, 2)]),
                                dict(bins=[3, 4], range=[(-3, 3), (-2, 2)]),
                                dict(bins=[-2, -1, 0, 1, 2]),
                                dict(bins=[[-2, 0, 2], [-1, 1]], density=True)])
def test_histogram2d(kw):
    x, y = SAMPLE[:, 0], SAMPLE[:, 1]
    counts, xe, ye = da.histogram2d(da.from_array(x, chunks=25), da.from_array(y, chunks=40),
                                    weights=da.from_array(W, chunks=25), **kw)
    want, wx, wy = np.histogram2d(x, y, weights=W, **kw)
    assert_allclose(counts.compute(), want)
    assert_array_equal(xe, wx)
    assert_array_equal(ye, wy)
    lazy = np.histogram2d(da.from_array(x, chunks=25), da.from_array(y, chunks=25), **kw)[0]
    assert isinstance(lazy, da.Array)  # NumPy's spelling stays lazy
    assert_allclose(lazy.compute(), np.histogram2d(x, y, **kw)[0])


def test_histogramdd_errors():
    s = da.from_array(SAMPLE, chunks=30)
    with pytest.raises(ValueError, match="range must give"):
        da.histogramdd(s, bins=5)
    with pytest.raises(ValueError, match="range must hold 3"):
        da.histogramdd(s, bins=5, range=[(0, 1)] * 2)
    with pytest.raises(ValueError, match=r"bins\[1\] must be edges increasing"):
        da.histogramdd(s, bins=[3, [2, 1], 3], range=[(0, 1)] * 3)
    with pytest.raises(ValueError, match="weights must have"):
        da.histogramdd(s, bins=2, range=[(0, 1)] * 3, weights=np.ones(3))
    with pytest.raises(ValueError, match="range must give"):
        da.histogram2d(s[:, 0], s[:, 1], bins=3)


# -- linalg.lu / solve_triangular --------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128, np.int64])
def test_lu_factors(dtype):
    a = RNG.standard_normal((9, 9)) * 10
    a = (a + 1j * RNG.standard_normal((9, 9)) if dtype == np.complex128 else a).astype(dtype)
    p, l, u = da.linalg.lu(da.from_array(a, chunks=4))
    assert p.chunks == l.chunks == u.chunks == ((4, 4, 1), (4, 4, 1))
    P, L, U = shoal.compute(p, l, u)
    assert L.dtype == U.dtype == l.dtype == (np.float64 if dtype == np.int64 else dtype)
    assert_allclose(P @ L @ U, a, atol=1e-3 if dtype == np.float32 else 1e-10)
    assert_array_equal(L, np.tril(L))
    assert_array_equal(U, np.triu(U))
    assert_allclose(np.diag(L), 1)
    assert np.abs(L).max() <= 1 + 1e-6  # partial pivoting
    assert set(np.unique(P)) <= {0, 1} and (P.sum(0) == 1).all() and (P.sum(1) == 1).all()


def test_lu_errors_and_solve_triangular():
    with pytest.raises(ValueError, match="square"):
        da.linalg.lu(da.ones((3, 4)))
    a = np.triu(RNG.standard_normal((7, 7))) + 3 * np.eye(7)
    b = RNG.standard_normal((7, 3))
    noisy = a + np.tril(np.ones((7, 7)), -1)  # the other triangle is ignored
    x = da.linalg.solve_triangular(da.from_array(noisy, chunks=3), da.from_array(b, chunks=2))
    assert_allclose(a @ x.compute(), b)
    x = da.linalg.solve_triangular(da.from_array(a.T, chunks=3), b[:, 0], lower=True)
    assert_allclose(a.T @ x.compute(), b[:, 0])
    with pytest.raises(ValueError, match="square"):
        da.linalg.solve_triangular(da.ones((3, 4)), np.ones(3))


# -- topk(k=0), einsum with '...' --------------------------------------------------------

@pytest.mark.parametrize("axis", [-1, 0])
def test_topk_zero_is_empty(axis):
    a = np.arange(20.0).reshape(4, 5)
    got = da.topk(da.from_array(a, chunks=2), 0, axis=axis)
    want = dask_array.topk(dask_array.from_array(a, chunks=2), 0, axis=axis)
    assert got.shape == want.shape and got.chunks == want.chunks and got.dtype == want.dtype
    assert got.compute().shape == want.compute().shape
    arg = da.argtopk(da.from_array(a, chunks=2), 0, axis=axis)
    assert arg.shape == want.shape and arg.dtype == np.intp


EINSUM_CASES = ["...j,jk->...k", "i...->...", "...ij->...ji", "...j,jk", "...,...",
                "ij...,...->ij...", "...", "i...k", "...i,...i->..."]


@pytest.mark.parametrize("subscripts", EINSUM_CASES)
def test_einsum_ellipsis(subscripts):
    x, y, v = RNG.random((2, 3, 4)), RNG.random((4, 5)), RNG.random(4)
    ops = {"...j,jk->...k": (x, y), "...j,jk": (x, y), "...,...": (x, x),
           "ij...,...->ij...": (x, v), "...i,...i->...": (x, x)}.get(subscripts, (x,))
    got = da.einsum(subscripts, *[da.from_array(o, chunks=2) for o in ops])
    want = dask_array.einsum(subscripts, *[dask_array.from_array(o, chunks=2) for o in ops])
    assert got.shape == want.shape and got.chunks == want.chunks
    assert_allclose(got.compute(), np.einsum(subscripts, *ops))


# -- review fixes ---------------------------------------------------------------------------

def test_vindex_small_int_dtype_negative_index_on_a_long_axis():
    a = np.arange(300)
    x = da.from_array(a, chunks=100)
    idx = np.array([-1, 5, -128], dtype=np.int8)
    assert_array_equal(x.vindex[idx].compute(), a[idx.astype(np.intp)])


@pytest.mark.parametrize("index", [(3, 4, 2), (3, slice(None)), (slice(1, 3), 2), (-1,)])
def test_vindex_ints_without_arrays_index_as_dask(index):
    x = da.from_array(X, chunks=(4, 3, 2))
    want = dask_array.from_array(X, chunks=(4, 3, 2)).vindex[index]
    got = x.vindex[index]
    assert got.shape == want.shape
    assert_array_equal(got.compute(), X[index])


def test_vindex_many_points_grouped_by_block():
    a = RNG.standard_normal((50, 40))
    x = da.from_array(a, chunks=(7, 6))
    i, j = RNG.integers(-50, 50, (30, 70)), RNG.integers(0, 40, (1, 70))
    assert_array_equal(x.vindex[i, j].compute(), a[i, j])
    assert_array_equal(x.vindex[i[:0], j].compute(), a[i[:0], j])


@pytest.mark.parametrize("subscripts,shapes", [
    ("...ij,...jk->...ik", [(3, 2, 4), (1, 4, 5)]),
    ("...ij,...jk->...ik", [(3, 1, 2, 4), (5, 4, 5)]),
    ("...i,...i->...", [(3, 4), (1, 4)]),
    ("ij...,jk...->ik...", [(2, 3, 4), (3, 2, 1)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),
])
def test_einsum_broadcasts_length_one_as_numpy(subscripts, shapes):
    ops = [RNG.random(s) for s in shapes]
    got = da.einsum(subscripts, *[da.from_array(o, chunks=2) for o in ops])
    want = np.einsum(subscripts, *ops)
    assert got.shape == want.shape
    assert_allclose(got.compute(), want)
