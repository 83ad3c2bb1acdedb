"""statistics.py, quantiles.py, search.py, topk.py, einsum.py: equal to NumPy (and Dask)."""

import pickle
import warnings

import numpy as np
import pytest

import shoal.array as da

dask_array = pytest.importorskip("dask.array")

rng = np.random.RandomState(42)
X = rng.standard_normal((7, 9))
XN = X.copy()
XN[1, 2] = XN[4, 4] = XN[6, 8] = np.nan
XN[3] = np.nan  # one all-NaN row
INTS = rng.randint(-5, 6, size=(7, 9))
BOOLS = INTS > 0

CHUNKS = [(3, 4), (1, 1), (7, 9), ((2, 5), (1, 6, 2))]  # uneven, one-element, one block


def arr(x, chunks):
    return da.from_array(x, chunks=chunks)


def close(got, want, **kw):
    if isinstance(got, da.Array):  # the promised shape, then the data
        assert got.shape == np.shape(want), (got.shape, np.shape(want))
        got = quiet(got.compute)  # (NumPy's All-NaN warnings)
    assert np.shape(got) == np.shape(want)
    assert np.asarray(got).dtype == np.asarray(want).dtype, (np.asarray(got).dtype,
                                                             np.asarray(want).dtype)
    np.testing.assert_allclose(got, want, equal_nan=True, **kw)


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


# -- comparisons, counting ---------------------------------------------------------------

@pytest.mark.parametrize("chunks", CHUNKS)
def test_isclose_allclose(chunks):
    y = XN + 1e-9
    y[0, 0] += 1
    close(da.isclose(arr(XN, chunks), arr(y, chunks)), np.isclose(XN, y))
    close(da.isclose(arr(XN, chunks), y, equal_nan=True), np.isclose(XN, y, equal_nan=True))
    close(da.isclose(arr(XN, chunks), 0.5, atol=1), np.isclose(XN, 0.5, atol=1))
    out = da.allclose(arr(X, chunks), X + 1e-9)
    assert isinstance(out, da.Array) and out.shape == () and out.dtype == bool
    assert out.compute() is np.True_
    assert not da.allclose(arr(XN, chunks), XN).compute()
    assert da.allclose(arr(XN, chunks), XN, equal_nan=True).compute()


@pytest.mark.parametrize("chunks", CHUNKS)
def test_isin(chunks):
    tests = np.array([0, 3, -2, 7])
    close(da.isin(arr(INTS, chunks), tests), np.isin(INTS, tests))
    close(da.isin(arr(INTS, chunks), da.from_array(tests, chunks=3), invert=True),
          np.isin(INTS, tests, invert=True))
    close(da.isin(arr(INTS, chunks), da.from_array(np.zeros(0, int), chunks=1)),
          np.isin(INTS, []))
    with pytest.raises(ValueError, match="kind"):
        da.isin(arr(INTS, chunks), tests, kind="bogus")


@pytest.mark.parametrize("chunks", CHUNKS)
@pytest.mark.parametrize("data", [INTS, BOOLS, XN])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
def test_count_nonzero(chunks, data, axis):
    close(da.count_nonzero(arr(data, chunks), axis=axis), np.count_nonzero(data, axis=axis))
    close(da.count_nonzero(arr(data, chunks), axis=axis, keepdims=True),
          np.count_nonzero(data, axis=axis, keepdims=True))


@pytest.mark.parametrize("chunks", CHUNKS)
def test_ptp(chunks):
    for data in (INTS, X):
        for axis in (None, 0, -1):
            close(da.ptp(arr(data, chunks), axis=axis), np.ptp(data, axis=axis))
    close(da.ptp(arr(X, chunks), axis=-2, keepdims=True), np.ptp(X, axis=-2, keepdims=True))


# -- average, moment ------------------------------------------------------------------------

@pytest.mark.parametrize("chunks", CHUNKS)
def test_average(chunks):
    w = rng.random_sample(X.shape)
    for data in (X, INTS):
        for axis in (None, 0, -1):
            close(da.average(arr(data, chunks), axis=axis), np.average(data, axis=axis))
            close(da.average(arr(data, chunks), axis=axis, weights=w),
                  np.average(data, axis=axis, weights=w))
            got = da.average(arr(data, chunks), axis=axis, weights=arr(w, chunks), returned=True,
                             keepdims=True)
            want = np.average(data, axis=axis, weights=w, returned=True, keepdims=True)
            close(got[0], want[0])
            close(got[1], want[1])
    w1 = np.arange(1.0, 10.0)
    got = da.average(arr(INTS, chunks), axis=-1, weights=w1, returned=True)
    want = np.average(INTS, axis=-1, weights=w1, returned=True)
    close(got[0], want[0])
    close(got[1], want[1])
    got = da.average(arr(X, chunks), axis=0, returned=True)
    want = np.average(X, axis=0, returned=True)
    close(got[0], want[0])
    close(got[1], want[1])
    with pytest.raises(TypeError, match="axis must be specified"):
        da.average(arr(X, chunks), weights=w1)
    with pytest.raises(ValueError, match="weights of length"):
        da.average(arr(X, chunks), axis=0, weights=w1)


@pytest.mark.parametrize("chunks", CHUNKS)
def test_moment_matches_dask(chunks):
    for order in range(4):
        for axis, ddof in [(None, 0), (0, 1), (-1, 0), ((0, 1), 1)]:
            want = dask_array.moment(dask_array.from_array(X, chunks=chunks), order, axis=axis,
                                     ddof=ddof).compute()
            close(da.moment(arr(X, chunks), order, axis=axis, ddof=ddof), want, rtol=1e-10,
                  atol=1e-12)
    m = da.moment(arr(INTS, chunks), 2, axis=0, keepdims=True)
    close(m, np.var(INTS, axis=0, keepdims=True))
    with pytest.raises(ValueError, match="order"):
        da.moment(arr(X, chunks), -1)


# -- median and quantiles ---------------------------------------------------------------------

@pytest.mark.parametrize("chunks", CHUNKS)
@pytest.mark.parametrize("axis", [0, -1, (0, 1), (-1, 0), None])
@pytest.mark.parametrize("keepdims", [False, True])
def test_median(chunks, axis, keepdims):
    for data in (X, INTS, XN):
        close(da.median(arr(data, chunks), axis=axis, keepdims=keepdims),
              np.median(data, axis=axis, keepdims=keepdims))
    close(da.nanmedian(arr(XN, chunks), axis=axis, keepdims=keepdims),
          quiet(np.nanmedian, XN, axis=axis, keepdims=keepdims))


def test_median_axis_none_exact_path_has_no_whole_array_task():
    y = rng.standard_normal(1000)
    m = da.median(da.from_array(y, chunks=100))
    assert m.compute() == np.median(y)
    assert not any(k[0].startswith("rechunk") for k in m.__shoal_graph__() if isinstance(k, tuple))


@pytest.mark.parametrize("chunks", CHUNKS)
@pytest.mark.parametrize("method", ["linear", "lower", "nearest", "midpoint", "weibull"])
def test_quantiles(chunks, method):
    q = [0.0, 0.1, 0.5, 0.99, 1.0]
    for axis in (0, -1, None):
        close(da.quantile(arr(X, chunks), q, axis=axis, method=method),
              np.quantile(X, q, axis=axis, method=method), rtol=1e-12)
        close(da.quantile(arr(INTS, chunks), 0.3, axis=axis, method=method, keepdims=True),
              np.quantile(INTS, 0.3, axis=axis, method=method, keepdims=True), rtol=1e-12)
        close(da.nanquantile(arr(XN, chunks), q, axis=axis, method=method),
              quiet(np.nanquantile, XN, q, axis=axis, method=method))
        close(da.nanpercentile(arr(XN, chunks), [5, 50], axis=axis, method=method,
                               keepdims=True),
              quiet(np.nanpercentile, XN, [5, 50], axis=axis, method=method, keepdims=True))
    with pytest.raises(ValueError, match=r"range \[0, 1\]"):
        da.quantile(arr(X, chunks), 50)
    with pytest.raises(ValueError, match=r"range \[0, 100\]"):
        da.nanpercentile(arr(X, chunks), -1)


def test_quantile_empty_axis_and_token():
    e = np.zeros((0, 4))
    close(da.median(da.from_array(e, chunks=2), axis=1), np.median(e, axis=1))
    a = arr(X, (3, 4))
    assert da.quantile(a, 0.5, axis=0).name == da.quantile(a, 0.5, axis=0).name
    assert da.quantile(a, 0.5, axis=0).name != da.quantile(a, 0.4, axis=0).name
    assert da.quantile(a, 0.5, axis=0).name != da.quantile(a, 0.5, axis=0, method="lower").name


# -- topk ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("chunks", CHUNKS)
@pytest.mark.parametrize("k", [1, 3, -2, 20, -20])
@pytest.mark.parametrize("axis", [0, -1])
def test_topk(chunks, k, axis):
    x = arr(X, chunks)
    order = np.argsort(X, axis=axis)
    want_idx = (np.flip(order, axis=axis) if k > 0 else order).take(
        np.arange(min(abs(k), X.shape[axis])), axis=axis)
    close(da.topk(x, k, axis=axis, split_every=2), np.take_along_axis(X, want_idx, axis=axis))
    close(da.argtopk(x, k, axis=axis, split_every=2), want_idx.astype(np.intp))
    if abs(k) <= X.shape[axis]:
        dx = dask_array.from_array(X, chunks=chunks)
        close(da.topk(x, k, axis=axis), dask_array.topk(dx, k, axis=axis).compute())
        close(da.argtopk(x, k, axis=axis), dask_array.argtopk(dx, k, axis=axis).compute())


def test_topk_ints_and_errors():
    v = rng.permutation(50)
    x = da.from_array(v, chunks=7)
    close(da.topk(x, 4), np.sort(v)[::-1][:4])
    close(da.argtopk(x, -4), np.argsort(v)[:4].astype(np.intp))
    with pytest.raises(ValueError, match="k must be"):
        da.topk(x, 1.5)
    with pytest.raises(np.exceptions.AxisError, match="axis"):
        da.argtopk(x, 2, axis=1)
    assert da.topk(x, 2).name != da.topk(x, 3).name


# -- bincount, digitize, searchsorted ---------------------------------------------------------

@pytest.mark.parametrize("chunks", [3, 1, 20, ((5, 0, 15),)])
def test_bincount(chunks):
    v = rng.randint(0, 9, size=20)
    w = rng.random_sample(20)
    x = da.from_array(v, chunks=chunks)
    close(da.bincount(x), np.bincount(v))
    close(da.bincount(x, minlength=15, split_every=2), np.bincount(v, minlength=15))
    close(da.bincount(x, weights=da.from_array(w, chunks=4)), np.bincount(v, weights=w))
    close(da.bincount(x, weights=w, minlength=3), np.bincount(v, weights=w, minlength=3))
    close(da.bincount(x > 4), np.bincount(v > 4))


def test_bincount_errors_and_empty():
    close(da.bincount(da.from_array(np.zeros(0, int), chunks=1)), np.bincount(np.zeros(0, int)))
    close(da.bincount(da.from_array(np.zeros(0, int), chunks=1), minlength=4),
          np.bincount(np.zeros(0, int), minlength=4))
    with pytest.raises(ValueError, match="1-D"):
        da.bincount(arr(INTS, 3))
    with pytest.raises(TypeError, match="integers"):
        da.bincount(da.from_array(np.ones(3), chunks=2))
    with pytest.raises(ValueError, match="weights"):
        da.bincount(da.from_array(np.ones(3, int), chunks=2), weights=np.ones(4))


@pytest.mark.parametrize("chunks", CHUNKS)
def test_digitize(chunks):
    bins = np.array([-1.0, 0.0, 0.5, 2.0])
    close(da.digitize(arr(X, chunks), bins), np.digitize(X, bins))
    close(da.digitize(arr(XN, chunks), bins[::-1], right=True), np.digitize(XN, bins[::-1], right=True))
    ibins = [-2, 0, 3]  # values on the edges: right= matters
    close(da.digitize(arr(INTS, chunks), ibins, right=True), np.digitize(INTS, ibins, right=True))
    with pytest.raises(TypeError, match="bins"):
        da.digitize(arr(X, chunks), da.from_array(bins, chunks=2))


@pytest.mark.parametrize("a_chunks", [4, 1, 30, ((10, 0, 20),)])
@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted(a_chunks, side):
    s = np.sort(rng.randint(0, 10, size=30).astype(float))
    s[-2:] = np.nan
    v = np.array([[-1, 0, 3.5], [3, 9, 11], [np.nan, 5, 5]])
    for vc in [(2, 2), (1, 1), (3, 3)]:
        got = da.searchsorted(da.from_array(s, chunks=a_chunks), da.from_array(v, chunks=vc),
                              side=side, split_every=2)
        close(got, np.searchsorted(s, v, side=side).astype(np.intp))
        close(da.searchsorted(s, da.from_array(v, chunks=vc), side=side),
              np.searchsorted(s, v, side=side).astype(np.intp))
    u = rng.permutation(s[:-2])
    sorter = np.argsort(u)
    close(da.searchsorted(u, da.from_array(v, chunks=2), sorter=sorter),
          np.searchsorted(u, v, sorter=sorter).astype(np.intp))
    with pytest.raises(ValueError, match="side"):
        da.searchsorted(s, da.from_array(v, chunks=2), side="middle")
    with pytest.raises(NotImplementedError, match="sorter"):
        da.searchsorted(da.from_array(u, chunks=3), da.from_array(v, chunks=2), sorter=sorter)


# -- NaN scans and arg-extremes -------------------------------------------------------------

@pytest.mark.parametrize("chunks", CHUNKS)
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_nancumsum_nancumprod(chunks, axis):
    close(da.nancumsum(arr(XN, chunks), axis=axis), np.nancumsum(XN, axis=axis))
    close(da.nancumprod(arr(XN, chunks), axis=axis), np.nancumprod(XN, axis=axis))
    close(da.nancumsum(arr(INTS, chunks), axis=axis), np.nancumsum(INTS, axis=axis))
    close(da.nancumsum(arr(BOOLS, chunks), axis=axis), np.nancumsum(BOOLS, axis=axis))


@pytest.mark.parametrize("chunks", CHUNKS)
def test_nanargmax_nanargmin(chunks):
    ok = np.delete(XN, 3, axis=0)  # no all-NaN row
    okc = ((2, 4), (1, 6, 2)) if isinstance(chunks[0], tuple) else chunks
    for axis in (None, 0, -1):
        close(da.nanargmax(arr(ok, okc), axis=axis), np.nanargmax(ok, axis=axis))
        close(da.nanargmin(arr(ok, okc), axis=axis, keepdims=True),
              np.nanargmin(ok, axis=axis, keepdims=True))
        close(da.nanargmax(arr(INTS, chunks), axis=axis), np.nanargmax(INTS, axis=axis))
    neg = np.array([[np.nan, -3.0, -1.0, np.nan, -2.0], [4.0, np.nan, 2.0, 1.0, 3.0]])
    for axis in (None, 1, -2):
        close(da.nanargmax(da.from_array(neg, chunks=2), axis=axis), np.nanargmax(neg, axis=axis))
        close(da.nanargmin(da.from_array(neg, chunks=2), axis=axis), np.nanargmin(neg, axis=axis))
    with pytest.raises(ValueError, match="All-NaN"):
        da.nanargmax(arr(XN, chunks), axis=1).compute()
    close(da.nanargmin(arr(XN, chunks), axis=0), np.nanargmin(XN, axis=0))


# -- cov, corrcoef ----------------------------------------------------------------------------

@pytest.mark.parametrize("chunks", CHUNKS)
def test_cov_corrcoef(chunks):
    y = rng.standard_normal((3, 9))
    close(da.cov(arr(X, chunks)), np.cov(X), rtol=1e-12)
    close(da.cov(arr(X, chunks), rowvar=False, bias=True), np.cov(X, rowvar=False, bias=True),
          rtol=1e-12)
    close(da.cov(arr(X, chunks), y, ddof=0), np.cov(X, y, ddof=0), rtol=1e-12)
    close(da.cov(arr(INTS, chunks)), np.cov(INTS), rtol=1e-12)
    close(da.cov(da.from_array(X[0], chunks=2)), np.cov(X[0]))
    close(da.corrcoef(arr(X, chunks)), np.corrcoef(X), rtol=1e-12)
    close(da.corrcoef(arr(X, chunks), y, rowvar=True), np.corrcoef(X, y), rtol=1e-12)
    close(da.corrcoef(da.from_array(X[0], chunks=2)), np.corrcoef(X[0]))
    with pytest.raises(ValueError, match="dimensions"):
        da.cov(da.ones((2, 2, 2), chunks=1))


# -- einsum ----------------------------------------------------------------------------------

@pytest.mark.parametrize("chunks", CHUNKS)
@pytest.mark.parametrize("subscripts", ["ij,jk->ik", "ij,jk", "ij->", "ij->ji", "ij,ij->i",
                                        "ij,kj->ikj", "ij,j", "ii->i", "ii"])
def test_einsum(chunks, subscripts):
    sq = rng.standard_normal((9, 9))
    if subscripts.startswith("ii"):
        ops, dops = [sq], [arr(sq, chunks[1] if not isinstance(chunks[1], tuple) else 3)]
    else:
        second = {"ij,jk->ik": X.T, "ij,jk": X.T, "ij,ij->i": X, "ij,kj->ikj": X[:3],
                  "ij,j": X[0]}.get(subscripts)
        ops = [X] if second is None else [X, second]
        dops = [arr(X, chunks)] + ([] if second is None else [da.from_array(second, chunks=4)])
    close(da.einsum(subscripts, *dops, split_every=2), np.einsum(subscripts, *ops), rtol=1e-12,
          atol=1e-12)


def test_einsum_ints_and_errors():
    a = arr(INTS, (3, 4))
    close(da.einsum("ij,ij->j", a, a), np.einsum("ij,ij->j", INTS, INTS))
    close(da.einsum("ij->i", a, dtype=float), np.einsum("ij->i", INTS, dtype=float))
    with pytest.raises(ValueError, match="drop the '...'"):
        da.einsum("...i->", a)
    with pytest.raises(ValueError, match="operands"):
        da.einsum("ij,jk", a)
    with pytest.raises(ValueError, match="lengths"):
        da.einsum("ij,ij", a, a.T)
    assert da.einsum("ij->i", a).name == da.einsum("ij->i", a).name
    assert da.einsum("ij->i", a).name != da.einsum("ij->j", a).name


# -- graphs pickle -------------------------------------------------------------------------------

def test_graphs_pickle_and_run_on_processes():
    x = arr(XN, (3, 4))
    outs = [da.topk(x, 2), da.argtopk(x, -2, axis=0), da.median(x, axis=0), da.nanargmin(x, 0),
            da.isin(x, da.from_array(XN[0], chunks=4)), da.einsum("ij->j", x),
            da.searchsorted(da.from_array(np.arange(9.0), chunks=4), x),
            da.bincount(da.from_array(INTS.ravel() + 5, chunks=10)), da.nancumsum(x, axis=1)]
    for o in outs:
        pickle.loads(pickle.dumps(dict(o.__shoal_graph__())))


def test_empty_arrays():
    e = np.zeros((0, 5))
    x = da.from_array(e, chunks=2)
    close(da.count_nonzero(x, axis=0), np.count_nonzero(e, axis=0))
    close(da.isin(x, [0.0]), np.isin(e, [0.0]))
    close(da.nancumsum(x, axis=0), np.nancumsum(e, axis=0))
    close(da.einsum("ij->j", x), np.einsum("ij->j", e))
    close(da.topk(x, 2, axis=0), np.zeros((0, 5)))
    close(da.ptp(x, axis=1), np.ptp(e, axis=1))
    close(da.digitize(x, [0.5]), np.digitize(e, [0.5]))
    close(da.searchsorted(np.arange(3.0), x), np.searchsorted(np.arange(3.0), e).astype(np.intp))


# -- review fixes ------------------------------------------------------------------------


def test_cov_and_corrcoef_do_not_transpose_one_dimensional_variables():
    x = np.array([1.0, 3.0, 2.0, 7.0, 4.0])
    d = da.from_array(x, chunks=2)
    assert float(da.cov(d, rowvar=False).compute()) == pytest.approx(np.cov(x, rowvar=False))
    assert float(da.corrcoef(d, rowvar=False).compute()) == pytest.approx(1.0)
    np.testing.assert_allclose(da.cov(d, d[::-1], rowvar=False).compute(),
                               np.cov(x, x[::-1], rowvar=False))  # fmt: skip
    m = np.arange(21.0).reshape(7, 3) ** 1.5
    got = da.cov(da.from_array(m, chunks=3), y=da.arange(7.0, chunks=3), rowvar=False)
    np.testing.assert_allclose(got.compute(), np.cov(m, y=np.arange(7.0), rowvar=False))


@pytest.mark.parametrize("data", [[np.inf, -np.inf, np.inf, 1, 2], [1, np.inf, np.inf, 3],
                                  [np.inf] * 4, [3, 1, 2, 4]])  # fmt: skip
def test_median_of_many_blocks_is_numpys_median(data):
    x = np.array(data, dtype=float)
    for chunks in (1, 2, len(x)):
        got = da.median(da.from_array(x, chunks=chunks)).compute()
        np.testing.assert_equal(got, np.median(x))
    b = np.array([True, False, True, True])
    assert da.median(da.from_array(b, chunks=2)).compute() == np.median(b)


def test_a_scalar_q_keeps_a_float32_quantile_float32():
    a = np.random.default_rng(0).random((6, 4)).astype(np.float32)
    d = da.from_array(a, chunks=2)
    for got, want in ((da.quantile(d, 0.3, axis=0), np.quantile(a, 0.3, axis=0)),
                      (da.nanpercentile(d, 30, axis=1), np.nanpercentile(a, 30, axis=1))):
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_allclose(got.compute(), want, rtol=1e-6)


def test_count_nonzero_of_strings_counts_the_non_empty_ones():
    s = np.array(["a", "", "b", ""])
    assert int(da.count_nonzero(da.from_array(s, chunks=3)).compute()) == np.count_nonzero(s) == 2


def test_in_memory_tables_are_held_once_in_the_graph():
    """searchsorted's a, digitize's bins, isin's elements: one Data node every task refers
    to, not a copy pickled into each task."""
    import pickle

    table = np.arange(100_000.0)
    v = da.from_array(np.arange(0.5, 20.5), chunks=1)  # 20 blocks
    for lazy in (da.searchsorted(table, v), da.digitize(v, table), da.isin(v, table)):
        layer = lazy.__shoal_graph__()
        tasks = [t for k, t in layer.items() if isinstance(k, tuple) and k[0] == lazy.name]
        assert len(tasks) == 20 and all(len(pickle.dumps(t)) < 10_000 for t in tasks)
    np.testing.assert_array_equal(da.searchsorted(table, v).compute(),
                                  np.searchsorted(table, np.arange(0.5, 20.5)))  # fmt: skip
