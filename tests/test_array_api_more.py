"""sliding_window_view, store(return_stored=True), byte-size chunks, structured
field selection across blocks, and the public dir() of shoal.array.linalg."""

import numpy as np
import pytest

import shoal.array as da
from shoal.array import normalize_chunks

pytestmark = pytest.mark.timeout(60)

swv = np.lib.stride_tricks.sliding_window_view


# -- sliding_window_view -------------------------------------------------------------

@pytest.mark.parametrize("chunks", [(2, 3), ((1, 4, 1), (5, 1, 1, 3)), (6, 10), (1, 1)])
@pytest.mark.parametrize("window, axis", [
    ((2, 3), None), (4, 1), (6, 0), ((2, 3), (0, 0)), ((3, 2), (1, 0)), (10, 1),
    ((3, 5), (-1, 1)), (0, 1)])
def test_sliding_window_view_matches_numpy(chunks, window, axis):
    x = np.arange(60.0).reshape(6, 10)
    d = da.from_array(x, chunks=chunks)
    got = da.lib.stride_tricks.sliding_window_view(d, window, axis)
    want = swv(x, window, axis)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert tuple(sum(c) for c in got.chunks) == want.shape
    np.testing.assert_array_equal(got.compute(), want)


def test_sliding_window_view_window_longer_than_chunks_1d():
    x = np.random.default_rng(0).random(50)
    d = da.from_array(x, chunks=((3, 1, 7, 2, 30, 7),))
    from shoal.array.lib.stride_tricks import sliding_window_view
    for w in (1, 2, 5, 12, 31, 50):
        r = sliding_window_view(d, w)
        np.testing.assert_array_equal(r.compute(), swv(x, w))
    # blocks keep the input's boundaries, cut at the last window start
    assert sliding_window_view(d, 12).chunks[0] == (3, 1, 7, 2, 26)


def test_sliding_window_view_bad_windows():
    d = da.arange(10, chunks=3)
    with pytest.raises(ValueError, match="window_shape.*negative"):
        da.lib.stride_tricks.sliding_window_view(d, -1)
    with pytest.raises(ValueError, match="window_shape.*larger than axis 0"):
        da.lib.stride_tricks.sliding_window_view(d, 11)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        da.lib.stride_tricks.sliding_window_view(d, 3, axis=2)
    with pytest.raises(ValueError, match="axis .* and window_shape"):
        da.lib.stride_tricks.sliding_window_view(d, (2, 2), axis=0)


# -- store(return_stored=True) -------------------------------------------------------

def test_store_return_stored_compute_true():
    x = np.arange(30.0).reshape(5, 6)
    target = np.zeros((5, 6))
    r = da.store(da.from_array(x, chunks=2) * 2, target, return_stored=True)
    np.testing.assert_array_equal(target, x * 2)  # written now
    assert isinstance(r, da.Array) and r.chunks == ((2, 2, 1), (2, 2, 2))
    np.testing.assert_array_equal(r.compute(), x * 2)
    m = da.from_array(x, chunks=3).store(np.zeros((5, 6)), return_stored=True)
    np.testing.assert_array_equal(m.compute(), x)


def test_store_return_stored_compute_false_writes_on_compute():
    x = np.arange(10)
    ints, big = np.zeros(10, dtype=np.int64), np.zeros(14)
    a, b = da.store([da.from_array(x, chunks=3) * 1.5, da.from_array(x, chunks=4)], [ints, big],
                    regions=[None, (slice(2, 12),)], compute=False, return_stored=True)
    assert not ints.any() and not big.any()  # nothing written yet
    assert a.dtype == np.int64  # what reading the target gives
    np.testing.assert_array_equal(a.compute(), (x * 1.5).astype(np.int64))
    np.testing.assert_array_equal(ints, (x * 1.5).astype(np.int64))
    np.testing.assert_array_equal(b.compute(), x)
    np.testing.assert_array_equal(big[2:12], x)


# -- byte-size chunks ----------------------------------------------------------------

@pytest.mark.parametrize("chunks, shape, dtype, first", [
    ("10KiB", (10000,), "f8", 1280), ("4 MB", (1000, 1000), "f8", 707),
    ("1MiB", (100, 200, 300), "f4", 63), ((-1, "10KiB"), (50, 10000), "f8", 50)])
def test_byte_size_chunks(chunks, shape, dtype, first):
    out = normalize_chunks(chunks, shape, np.dtype(dtype))
    assert out[0][0] == first and tuple(sum(c) for c in out) == shape


def test_byte_size_chunks_in_constructors_and_rechunk():
    x = np.arange(20000.0)
    d = da.from_array(x, chunks="10KiB")
    assert d.chunks[0][0] == 1280
    np.testing.assert_array_equal(d.rechunk("64KiB").compute(), x)
    assert d.rechunk("64KiB").chunks[0][0] == 8192
    o = da.ones((1000, 1000), chunks="4 MB")
    assert o.chunksize == (707, 707) and o.sum().compute() == 1e6
    with pytest.raises(ValueError, match="chunks=.*furlongs"):
        da.ones(10, chunks="10 furlongs")


# -- structured arrays ---------------------------------------------------------------

def test_structured_field_list_keeps_padded_dtype_across_blocks():
    dt = np.dtype([("a", "i4"), ("b", "f8"), ("c", "i2")])
    x = np.zeros(10, dt)
    x["a"], x["b"], x["c"] = np.arange(10), np.arange(10) / 2, np.arange(10) * 2
    want = x[["a", "c"]]
    for chunks in (3, 10, ((1, 9),)):
        got = da.from_array(x, chunks=chunks)[["a", "c"]]
        assert got.dtype == want.dtype
        value = got.compute()
        assert value.dtype == want.dtype
        np.testing.assert_array_equal(value, want)


# -- linalg namespace ----------------------------------------------------------------

def test_linalg_dir_is_public_api():
    names = dir(da.linalg)
    assert names == sorted(da.linalg.__all__)
    assert {"qr", "svd", "solve", "tensordot"} <= set(names)
    assert not {"Array", "Ref", "np", "Task"} & set(names)
    from shoal.array.linalg import Array, tensordot  # noqa: F401 (still importable)
