"""unique, diff, percentile, overlap / map_overlap / trim_internal against NumPy (and Dask)."""

import numpy as np
import pytest

import shoal.array as sa

CHUNKS_1D = [3, 1, ((4, 4, 2),), ((0, 3, 0, 7, 0),), 10]
RNG = np.random.default_rng(42)
X1 = RNG.random(10)
X2 = RNG.random((5, 7))


# -- overlap / map_overlap ---------------------------------------------------------

def _laplace(b):
    return b[:-2, 1:-1] + b[2:, 1:-1] + b[1:-1, :-2] + b[1:-1, 2:] - 4 * b[1:-1, 1:-1]


PAD = {"reflect": "symmetric", "periodic": "wrap", "nearest": "edge"}


@pytest.mark.parametrize("boundary", ["reflect", "periodic", "nearest", 0.5])
@pytest.mark.parametrize("chunks", [(2, 3), (1, 1), ((1, 4), (4, 1, 2)), (5, 7)])
def test_map_overlap_stencil_matches_numpy_pad(boundary, chunks):
    if isinstance(boundary, str):
        ref = _laplace(np.pad(X2, 1, mode=PAD[boundary]))
    else:
        ref = _laplace(np.pad(X2, 1, constant_values=boundary))
    x = sa.from_array(X2, chunks=chunks)
    got = sa.map_overlap(lambda b: np.pad(_laplace(b), 1), x, depth=1, boundary=boundary)
    assert got.chunks == x.chunks
    np.testing.assert_allclose(got.compute(), ref)
    method = x.map_overlap(lambda b: np.pad(_laplace(b), 1), depth=1, boundary=boundary)
    np.testing.assert_allclose(method.compute(), ref)


@pytest.mark.parametrize("boundary", ["reflect", "periodic", "nearest", "none", -1])
@pytest.mark.parametrize("chunks", [3, 2, 5])
def test_overlap_equals_dask(boundary, chunks):
    da = pytest.importorskip("dask.array")
    for data, depth in [(np.arange(10), 1), (np.arange(72.).reshape(6, 12), {0: 1, 1: 2})]:
        want = da.overlap.overlap(da.from_array(data, chunks=chunks), depth, boundary)
        got = sa.overlap.overlap(sa.from_array(data, chunks=chunks), depth, boundary)
        assert got.chunks == want.chunks
        np.testing.assert_array_equal(got.compute(), want.compute())
        back = sa.overlap.trim_internal(got, depth if isinstance(depth, dict) else {0: depth},
                                        boundary)
        np.testing.assert_array_equal(back.compute(), data)


def test_overlap_deeper_than_blocks_and_array():
    x = sa.from_array(np.arange(5), chunks=1)
    got = sa.overlap(x, 7, "periodic").compute()
    want = np.concatenate([np.pad(np.arange(5), 7, mode="wrap")[i:i + 15] for i in range(5)])
    np.testing.assert_array_equal(got, want)
    moving = sa.map_overlap(lambda b: np.convolve(b, np.ones(7))[3:3 + len(b)], x, depth=3,
                            boundary=0)
    np.testing.assert_array_equal(moving.compute(), np.convolve(np.arange(5), np.ones(7))[3:8])


def test_map_overlap_none_boundary_and_asymmetric_depth():
    x = sa.from_array(np.arange(10.), chunks=((3, 3, 4),))
    # under "none", edge blocks grow inward only: each block sees its true neighbours
    seen = sa.map_overlap(lambda b: np.full(b.shape, len(b), float), x, depth=2, boundary="none")
    np.testing.assert_array_equal(seen.compute(), [5] * 3 + [7] * 3 + [6] * 4)
    # (before, after): a forward difference needs one element after only
    fwd = sa.map_overlap(lambda b: np.append(np.diff(b), 0), x, depth={0: (0, 1)},
                         boundary="nearest")
    np.testing.assert_array_equal(fwd.compute(), np.append(np.ones(9), 0))
    untrimmed = sa.map_overlap(lambda b: b, x, depth=1, boundary="none", trim=False)
    assert untrimmed.chunks == ((4, 5, 5),)


def test_map_overlap_two_arrays_and_old_order():
    a, b = sa.from_array(X1, chunks=3), sa.from_array(X1[::-1].copy(), chunks=3)
    got = sa.map_overlap(lambda u, v: u + v, a, b, depth=1, boundary="reflect")
    np.testing.assert_allclose(got.compute(), X1 + X1[::-1])
    old = sa.map_overlap(a, lambda u: u * 2, 1)
    np.testing.assert_allclose(old.compute(), X1 * 2)


def test_overlap_bad_arguments():
    x = sa.from_array(X2, chunks=2)
    with pytest.raises(ValueError, match="boundary"):
        sa.overlap(x, 1, "mirror")
    with pytest.raises(ValueError, match="depth"):
        sa.overlap(x, -1, "reflect")
    with pytest.raises(ValueError, match="depth"):
        sa.overlap(x, (1, 1, 1), "reflect")
    with pytest.raises(ValueError, match="depth"):
        sa.overlap(x, {5: 1}, "none")


def test_overlap_empty_array():
    x = sa.from_array(np.zeros((0, 4)), chunks=2)
    got = sa.map_overlap(lambda b: b + 1, x, depth=1, boundary="reflect")
    assert got.compute().shape == (0, 4)


# -- diff --------------------------------------------------------------------------

@pytest.mark.parametrize("chunks", CHUNKS_1D)
def test_diff_1d_all_orders(chunks):
    x = sa.from_array(X1, chunks=chunks)
    for n in range(0, 12):
        np.testing.assert_array_equal(sa.diff(x, n).compute(), np.diff(X1, n))
    got = sa.diff(x, 2, prepend=1.5, append=X1[:3])
    np.testing.assert_array_equal(got.compute(), np.diff(X1, 2, prepend=1.5, append=X1[:3]))


@pytest.mark.parametrize("chunks", [(2, 3), (1, 1), 7])
@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_diff_2d_axis(chunks, axis):
    x = sa.from_array(X2, chunks=chunks)
    np.testing.assert_array_equal(sa.diff(x, 2, axis=axis).compute(), np.diff(X2, 2, axis=axis))
    pre = sa.from_array(np.ones((5, 7)), chunks=3)
    np.testing.assert_array_equal(sa.diff(x, 1, axis=axis, prepend=pre, append=0).compute(),
                                  np.diff(X2, 1, axis=axis, prepend=np.ones((5, 7)), append=0))


def test_diff_dtypes_nan_and_empty():
    b = np.array([True, False, False, True, True])
    got = sa.diff(sa.from_array(b, chunks=2))
    assert got.dtype == np.diff(b).dtype
    np.testing.assert_array_equal(got.compute(), np.diff(b))
    ints = np.array([5, 1, 9, 3], dtype=np.uint8)
    np.testing.assert_array_equal(sa.diff(sa.from_array(ints, chunks=1)).compute(), np.diff(ints))
    nan = np.array([1.0, np.nan, 3.0, 4.0])
    np.testing.assert_array_equal(sa.diff(sa.from_array(nan, chunks=3)).compute(), np.diff(nan))
    empty = sa.diff(sa.from_array(np.zeros((0, 3)), chunks=2), axis=1)
    assert empty.shape == (0, 2) and empty.compute().shape == (0, 2)
    assert sa.diff(sa.from_array(np.zeros(0)), 3).compute().shape == (0,)


def test_diff_equals_dask_chunks():
    da = pytest.importorskip("dask.array")
    got = sa.diff(sa.from_array(X1, chunks=4))
    want = da.diff(da.from_array(X1, chunks=4))
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.compute(), want.compute())


def test_diff_bad_arguments():
    x = sa.from_array(X2, chunks=2)
    with pytest.raises(ValueError, match="n=-1"):
        sa.diff(x, -1)
    with pytest.raises(np.exceptions.AxisError, match="axis 2"):
        sa.diff(x, axis=2)
    with pytest.raises(ValueError, match="at least one dimensional"):
        sa.diff(sa.from_array(np.float64(1.0)))
    with pytest.raises(ValueError, match="prepend"):
        sa.diff(x, prepend=np.ones(3))


# -- unique ------------------------------------------------------------------------

def _assert_same(got, want):
    got = got.compute()
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("chunks", [(2, 3), 1, ((1, 5), (4, 1)), 30])
def test_unique_all_flags_2d_with_nan(chunks):
    data = RNG.integers(0, 7, (6, 5)).astype(float)
    data[1, 2] = data[4, 4] = np.nan
    x = sa.from_array(data, chunks=chunks)
    for got, want in zip(sa.unique(x, True, True, True), np.unique(data, True, True, True)):
        _assert_same(got, want)
    _assert_same(sa.unique(x), np.unique(data))
    for got, want in zip(sa.unique(x, return_counts=True), np.unique(data, return_counts=True)):
        _assert_same(got, want)


@pytest.mark.parametrize("chunks", CHUNKS_1D)
def test_unique_1d_chunkings(chunks):
    data = np.array([3, 1, 3, 3, 0, 9, 1, 1, 0, 2])
    x = sa.from_array(data, chunks=chunks)
    for got, want in zip(sa.unique(x, return_index=True, return_inverse=True),
                         np.unique(data, return_index=True, return_inverse=True)):
        _assert_same(got, want)


def test_unique_many_blocks_and_empty():
    data = RNG.integers(0, 100, 1000)
    x = sa.from_array(data, chunks=7)  # 143 blocks: a tree of several levels
    for got, want in zip(sa.unique(x, return_counts=True), np.unique(data, return_counts=True)):
        _assert_same(got, want)
    empty = np.array([], dtype=np.int32)
    for got, want in zip(sa.unique(sa.from_array(empty), True, True, True),
                         np.unique(empty, True, True, True)):
        _assert_same(got, want)


def test_unique_equals_dask():
    da = pytest.importorskip("dask.array")
    data = RNG.integers(0, 5, 50)
    got = sa.unique(sa.from_array(data, chunks=6), return_counts=True)
    want = da.unique(da.from_array(data, chunks=6), return_counts=True)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.compute(), w.compute())


def test_unique_bad_arguments():
    x = sa.from_array(X1, chunks=3)
    with pytest.raises(TypeError, match="return_counts"):
        sa.unique(x, return_counts="yes")
    with pytest.raises(TypeError, match="return_index"):
        sa.unique(x, return_index=None)


# -- percentile --------------------------------------------------------------------

QS = [0, 1, 12.5, 33.3, 50, 77.7, 99, 100]


@pytest.mark.parametrize("chunks", [1, 3, 50, 200, ((1, 0, 99, 100),)])
@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint"])
def test_percentile_exact(chunks, method):
    for data in [RNG.random(200), RNG.integers(0, 5, 200)]:
        x = sa.from_array(data, chunks=chunks)
        got, want = sa.percentile(x, QS, method=method), np.percentile(data, QS, method=method)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got.compute(), want, rtol=1e-12)
        one = sa.percentile(x, 42, method=method)
        assert one.shape == ()
        np.testing.assert_allclose(one.compute(), np.percentile(data, 42, method=method))


def test_percentile_small_ties_float32_and_nan():
    for data in [np.array([3.0]), np.array([2.0, 2.0, 2.0, 1.0]), np.arange(7.0)[::-1].copy()]:
        for chunks in [1, 2, len(data)]:
            got = sa.percentile(sa.from_array(data, chunks=chunks), QS).compute()
            np.testing.assert_allclose(got, np.percentile(data, QS))
    f32 = RNG.normal(size=300).astype(np.float32)
    for q in (QS, 12.5):  # a Python float keeps float32, as NumPy's weak scalars do
        got = sa.percentile(sa.from_array(f32, chunks=40), q)
        assert got.dtype == np.percentile(f32, q).dtype
        np.testing.assert_allclose(got.compute(), np.percentile(f32, q), rtol=1e-6)
    nan = RNG.random(100)
    nan[37] = np.nan
    np.testing.assert_array_equal(sa.percentile(sa.from_array(nan, chunks=9), [10, 90]).compute(),
                                  np.percentile(nan, [10, 90]))


def test_percentile_windows_stay_small():
    import importlib

    mod = importlib.import_module("shoal.array.percentile")
    data = RNG.random(200_000)
    blocks = np.array_split(data, 20)
    m = 70
    samples = [mod._sample(np.sort(b), m) for b in blocks]
    ranks = [0, 100_000, 199_999]
    brackets = mod._brackets(samples, ranks, m)
    windows = [mod._window(np.sort(b), brackets) for b in blocks]
    truth = np.sort(data)
    for k, r in enumerate(ranks):
        below = sum(w[k][0] for w in windows)
        held = sum(len(w[k][1]) for w in windows)
        assert held < 4 * 20 * m  # a few thousand values of 200 000
        assert np.sort(np.concatenate([w[k][1] for w in windows]))[r - below] == truth[r]


def test_percentile_matches_dask_on_one_block():
    da = pytest.importorskip("dask.array")
    data = RNG.random(101)
    np.testing.assert_allclose(sa.percentile(sa.from_array(data, chunks=101), [5, 50]).compute(),
                               da.percentile(da.from_array(data, chunks=101), [5, 50]).compute())


def test_percentile_bad_arguments():
    x = sa.from_array(X1, chunks=3)
    with pytest.raises(ValueError, match="q must be in the range"):
        sa.percentile(x, 101)
    with pytest.raises(ValueError, match="method='median_unbiased'"):
        sa.percentile(x, 50, method="median_unbiased")
    with pytest.raises(NotImplementedError, match="a must be 1-D"):
        sa.percentile(sa.from_array(X2, chunks=2), 50)
    with pytest.raises(ValueError, match="a is empty"):
        sa.percentile(sa.from_array(np.zeros(0)), 50)


# -- review fixes ----------------------------------------------------------------------------


@pytest.mark.parametrize("chunks,depth", [((1, 1, 4), 2), ((3, 3), 4), ((0, 2, 1, 3), 3),
                                          ((4, 1, 1), {0: (1, 2)})])  # fmt: skip
def test_trim_internal_undoes_overlap_under_none_when_edge_blocks_are_short(chunks, depth):
    x = np.arange(6)
    d = sa.from_array(x, chunks=(chunks,))
    g = sa.overlap(d, depth, "none")
    axes = depth if isinstance(depth, dict) else {0: depth}
    np.testing.assert_array_equal(sa.trim_internal(g, axes, "none").compute(), x)


def test_percentile_windows_send_distinct_values_with_counts():
    """Repeated values travel once with their count: a constant array, or ints 0-9, sent
    the whole array into the last task; the result stays NumPy's."""
    from shoal.array.percentile import _window

    for x in (np.full(20_000, 3.0), np.arange(20_000) % 10):
        d = sa.from_array(x, chunks=2_000)
        q = [0, 25, 50, 75, 100]
        np.testing.assert_array_equal(sa.percentile(d, q).compute(), np.percentile(x, q))
    [(start, values, counts)] = _window(np.sort(np.arange(1000) % 10), [(2, 7)])
    assert start == 300 and values.tolist() == [3, 4, 5, 6, 7] and counts.tolist() == [100] * 5


def test_percentile_brackets_match_a_search_per_block():
    """The brackets from sorted last samples equal those of a search per block."""
    from shoal.array.percentile import _brackets, _sample

    rng = np.random.default_rng(7)
    for _ in range(50):
        blocks = [np.sort(rng.integers(0, 50, int(rng.integers(0, 40)))) for _ in range(7)]
        n = sum(map(len, blocks))
        if not n:
            continue
        m = int(rng.integers(1, 5))
        samples = [_sample(b, m) for b in blocks]
        cands = np.sort(np.concatenate([s for s, _, _ in samples]))
        ranks = sorted({int(r) for r in rng.integers(0, n, 4)})
        low = sum(np.searchsorted(s, cands, side="right") * m for s, _, _ in samples)
        high = sum(np.minimum((np.searchsorted(s, cands, side="right") + 1) * m - 1, length)
                   for s, length, _ in samples)  # fmt: skip
        want = []
        for r in ranks:
            i = int(np.searchsorted(high, r, side="right")) - 1
            j = int(np.searchsorted(low, r + 1, side="left"))
            want.append((cands[i] if i >= 0 else None, cands[j] if j < len(cands) else None))
        assert _brackets(samples, ranks, m) == want


def test_percentile_of_the_same_array_and_q_in_two_dtypes_does_not_share_keys():
    x = sa.from_array(np.arange(10, dtype=np.float16), chunks=3)
    a, b = sa.percentile(x, 50), sa.percentile(x, np.array(50.0))
    assert a.name != b.name
    ra, rb = sa.compute(a, b)
    assert ra.dtype == np.float16 and rb.dtype == np.float64


def test_unique_inverse_of_complex_nans_of_other_payloads():
    x = np.array([1 + 1j, complex(np.nan, 0), 1 + 1j, complex(0, np.nan)])
    values, inverse = sa.unique(sa.from_array(x, chunks=2), return_inverse=True)
    values, inverse = values.compute(), inverse.compute()
    assert inverse.tolist() == [0, 1, 0, 1] and len(values) == 2
    assert np.isnan(values[inverse][[1, 3]]).all()


def test_map_overlap_defaults_to_no_depth_and_takes_equal_constants_per_axis():
    x = np.arange(12.0).reshape(3, 4)
    d = sa.from_array(x, chunks=2)
    np.testing.assert_array_equal(sa.map_overlap(lambda b: b * 2, d).compute(), x * 2)
    g = sa.overlap(d, 1, {0: 0, 1: 0.0})
    assert g.compute()[0, 0] == 0
