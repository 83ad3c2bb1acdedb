"""shoal.array: chunks, creation, properties, protocols, display, schedulers, I/O."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import shoal
import shoal.array as da
from shoal.array.core import normalize_chunks

CHUNKINGS = [(4, 5), ((3, 3, 3, 4), (17,)), (13, 1), "auto", ((13,), (5, 5, 5, 2))]


@pytest.fixture
def a():
    return np.random.default_rng(42).random((13, 17))


# -- chunks -----------------------------------------------------------------------

@pytest.mark.parametrize("chunks, shape, expected", [
    (4, (10, 3), ((4, 4, 2), (3,))),
    ((5, -1), (10, 3), ((5, 5), (3,))),
    ((5, None), (10, 3), ((5, 5), (3,))),
    (((2, 8), (1, 2)), (10, 3), ((2, 8), (1, 2))),
    ({0: 3}, (10, 3), ((3, 3, 3, 1), (3,))),
    (20, (10,), ((10,),)),
    (5, (0,), ((0,),)),
    ((), (), ()),
])
def test_normalize_chunks(chunks, shape, expected):
    assert normalize_chunks(chunks, shape) == expected


def test_auto_chunks_target_128_mib():
    chunks = normalize_chunks("auto", (100_000, 100_000), np.float64)
    block = max(chunks[0]) * max(chunks[1]) * 8
    assert 0.5 * da.AUTO_CHUNK_BYTES <= block <= da.AUTO_CHUNK_BYTES
    assert max(chunks[0]) == max(chunks[1])  # square-ish
    # a small dimension is taken whole, the other gets the rest of the budget
    chunks = normalize_chunks("auto", (10, 10**9), np.float64)
    assert chunks[0] == (10,) and max(chunks[1]) * 10 * 8 <= da.AUTO_CHUNK_BYTES
    assert normalize_chunks((10, "auto"), (100, 100), np.float64) == ((10,) * 10, (100,))
    assert normalize_chunks("auto", (7, 9)) == ((7,), (9,))


@pytest.mark.parametrize("bad", [(5,), (0, 2), ((3, 3), (3,)), "big", (-2, 3), 1.5, ((1, -1, 10), 3)])
def test_bad_chunks_name_the_argument(bad):
    with pytest.raises(ValueError, match="chunks"):
        da.ones((10, 3), chunks=bad)


# -- creation ------------------------------------------------------------------------

@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_from_array_roundtrip(a, chunks):
    x = da.from_array(a, chunks=chunks)
    assert x.shape == a.shape and x.dtype == a.dtype
    assert sum(x.chunks[0]) == 13 and sum(x.chunks[1]) == 17
    out = x.compute()
    assert isinstance(out, np.ndarray)
    assert_array_equal(out, a)
    assert_array_equal(np.asarray(x), a)


@pytest.mark.parametrize("dtype", [np.int32, np.float32, bool, np.complex128])
def test_from_array_dtypes(dtype):
    a = (np.arange(30).reshape(5, 6) % 3).astype(dtype)
    x = da.from_array(a, chunks=(2, 4))
    assert x.dtype == a.dtype
    assert_array_equal(x.compute(), a)


def test_from_array_names_are_deterministic(a):
    assert da.from_array(a, chunks=4).name == da.from_array(a.copy(), chunks=4).name
    assert da.from_array(a, chunks=4).name != da.from_array(a + 1, chunks=4).name
    assert da.from_array(a, chunks=4).name != da.from_array(a, chunks=5).name
    assert da.from_array(a, chunks=4, name="mine").name == "mine"
    assert da.from_array(a, chunks=4, name=False).name != da.from_array(a, chunks=4, name=False).name


def test_from_array_list_and_0d():
    assert_array_equal(da.from_array([[1, 2], [3, 4]], chunks=1).compute(), [[1, 2], [3, 4]])
    x = da.from_array(np.array(5.0))
    assert x.shape == () and x.compute() == 5.0


def test_constants():
    assert_array_equal(da.ones((5, 7), chunks=(2, 3)).compute(), np.ones((5, 7)))
    assert_array_equal(da.zeros(9, chunks=4, dtype=int).compute(), np.zeros(9, dtype=int))
    full = da.full((4, 3), 7, chunks=2)
    assert full.dtype == np.full((4, 3), 7).dtype
    assert_array_equal(full.compute(), np.full((4, 3), 7))
    assert_array_equal(da.full((3,), 2.5, dtype=np.float32, chunks=2).compute(),
                       np.full(3, 2.5, np.float32))
    x = da.ones((6, 4), chunks=3)
    assert_array_equal(da.zeros_like(x).compute(), np.zeros((6, 4)))
    assert da.ones_like(x, dtype=int).dtype == np.int64
    assert repr(da.ones(3, chunks=2)).startswith("shoal.array<ones,")


@pytest.mark.parametrize("args", [(10,), (3, 100, 7), (0.1, 10, 0.3), (5, -3, -2), (1.5,),
                                  (0, 1, 0.1), (10, 0)])
@pytest.mark.parametrize("chunks", [4, 1, 100])
def test_arange_equals_numpy_exactly(args, chunks):
    x = da.arange(*args, chunks=chunks)
    expected = np.arange(*args)
    assert x.dtype == expected.dtype and x.shape == expected.shape
    assert_array_equal(x.compute(), expected)


@pytest.mark.parametrize("args, kwargs", [((0.1, 10, 77), {}), ((0, 1, 10), {"endpoint": False}),
                                          ((5, 5, 4), {}), ((-3, 8, 1), {}), ((2, 9, 13), {"dtype": int})])
def test_linspace_equals_numpy_exactly(args, kwargs):
    assert_array_equal(da.linspace(*args, chunks=3, **kwargs).compute(), np.linspace(*args, **kwargs))


@pytest.mark.parametrize("n, m, k", [(7, None, 0), (7, 9, 2), (9, 7, -3), (5, 5, 10)])
def test_eye(n, m, k):
    assert_array_equal(da.eye(n, m, k=k, chunks=3).compute(), np.eye(n, m, k=k))


def test_from_delayed():
    d = shoal.delayed(np.arange)(12)
    x = da.from_delayed(d, shape=(12,), dtype=int)
    assert x.shape == (12,) and x.chunks == ((12,),)
    assert_array_equal((x * 2).compute(), np.arange(12) * 2)
    bad = da.from_delayed(d, shape=(13,), dtype=int)
    with pytest.raises(ValueError, match="declared"):
        bad.compute()
    with pytest.raises(ValueError, match="dtype"):
        da.from_delayed(d, shape=(12,))


# -- properties and protocols ------------------------------------------------------------

def test_properties(a):
    x = da.from_array(a, chunks=(4, 5))
    assert x.shape == (13, 17) and x.ndim == 2 and x.size == 221
    assert x.nbytes == a.nbytes and x.itemsize == 8
    assert x.chunks == ((4, 4, 4, 1), (5, 5, 5, 2))
    assert x.numblocks == (4, 4) and x.npartitions == 16 and x.chunksize == (4, 5)
    assert len(x) == 13
    with pytest.raises(TypeError):
        len(x.sum())
    assert shoal.is_dask_collection(x)
    keys = x.__dask_keys__()
    assert len(keys) == 4 and len(keys[0]) == 4 and keys[1][2] == (x.name, 1, 2)
    assert x.sum().__dask_keys__() == [(x.sum().name,)]


def test_compute_results_and_scalars(a):
    x = da.from_array(a, chunks=(4, 5))
    total = x.sum().compute()
    assert isinstance(total, np.floating)
    assert_allclose(total, a.sum())
    assert float(x.sum()) == pytest.approx(a.sum())
    assert bool(x[0, 0] > -1)
    (m, s) = shoal.compute(x.mean(), x.std())
    assert_allclose([m, s], [a.mean(), a.std()])


def test_persist_and_to_delayed(a):
    x = da.from_array(a, chunks=(4, 5)) * 2
    p = x.persist()
    assert p.name == x.name and p.chunks == x.chunks
    assert all(len(layer) == 16 for layer in p._layers.values())
    assert_array_equal(p.compute(), a * 2)
    blocks = x.to_delayed()
    assert blocks.shape == (4, 4) and blocks.dtype == object
    assert_array_equal(blocks[1, 2].compute(), (a * 2)[4:8, 10:15])
    assert_array_equal(shoal.compute(*blocks.ravel().tolist())[0], (a * 2)[:4, :5])


def test_graph_is_shared_and_dask_interop(a):
    import dask

    x = da.from_array(a, chunks=(4, 5))
    y = x + 1
    assert y.name == (x + 1).name  # same expression, same keys
    (r,) = dask.compute(y.sum(), scheduler="sync")
    assert_allclose(r, (a + 1).sum())
    assert pickle.loads(pickle.dumps(y)).name == y.name


def test_repr_and_html(a):
    x = da.random.random((10000, 10000), chunks=(1000, 1000))
    assert repr(x) == ("shoal.array<random_sample, shape=(10000, 10000), dtype=float64, "
                       "chunksize=(1000, 1000), chunktype=numpy.ndarray>")
    html = x._repr_html_()
    for text in ["762.94 MiB", "7.63 MiB", "(10000, 10000)", "(1000, 1000)", "100 chunks",
                 "float64", "<svg", "<line"]:
        assert text in html, text
    assert html.count("<line") == 22  # 11 horizontal + 11 vertical boundaries
    one = da.ones(30, chunks=7)._repr_html_()
    assert "<svg" in one and one.count("<line") == 2 + 6
    three = da.ones((4, 6, 8), chunks=2)._repr_html_()
    assert "<svg" in three and "polygon" in three
    big = da.ones((1000, 10), chunks=(1, 10))._repr_html_()  # too many lines: shaded
    assert "<svg" in big and big.count("<line") < 20
    four = da.ones((2, 3, 4, 5), chunks=2)._repr_html_()
    assert "2 x ..." in four


# -- schedulers -----------------------------------------------------------------------

@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes"])
def test_schedulers_agree(scheduler, a):
    x = da.from_array(a, chunks=(4, 5))
    r = da.random.random((30, 40), chunks=(7, 9), seed=11)
    expr = ((x + 1) * x.T.T).sum(axis=1)
    got, rsum, rmean = shoal.compute(expr, r.sum(axis=0), r.mean(), scheduler=scheduler)
    assert_allclose(got, ((a + 1) * a).sum(axis=1))
    whole = r.compute(scheduler="sync")
    assert_allclose(rsum, whole.sum(axis=0))
    assert_allclose(rmean, whole.mean())
    assert_allclose((x @ x.T).compute(scheduler=scheduler), a @ a.T)


def test_public_names():
    for name in da.__all__:
        assert hasattr(da, name), name
    for name in ["Array", "from_array", "map_blocks", "store", "random", "ones", "zeros", "full",
                 "arange", "linspace", "eye", "from_delayed", "stack", "concatenate", "where",
                 "dot", "matmul", "rechunk", "reshape", "transpose", "sum", "mean", "std"]:
        assert name in da.__all__, name
    assert callable(da.random.random) and callable(da.random.default_rng)


def test_complex_parts_and_small_methods():
    a = np.arange(12).reshape(3, 4) * (1 + 2j)
    x = da.from_array(a, chunks=2)
    assert_array_equal(x.real.compute(), a.real)
    assert_array_equal(x.imag.compute(), a.imag)
    assert_array_equal(x.conj().compute(), a.conj())
    assert_allclose(abs(x).compute(), abs(a))
    f = np.linspace(-2, 2, 12).reshape(3, 4)
    y = da.from_array(f, chunks=2)
    assert_array_equal(y.round(1).compute(), f.round(1))
    assert_array_equal(np.round(y, 1).compute(), np.round(f, 1))
    assert_array_equal(y.clip(-1, 1).compute(), f.clip(-1, 1))
    assert_array_equal(da.clip(y, -1, 1).compute(), f.clip(-1, 1))
    assert_array_equal(da.ravel(y).compute(), f.ravel())
    assert [v.compute() for v in da.arange(3, chunks=2)] == [0, 1, 2]
    assert y.copy() is y
    with pytest.warns(UserWarning, match="no blocked implementation"):
        assert_array_equal(np.sort(y, axis=0), np.sort(f, axis=0))
    assert_array_equal(np.diff(y, axis=0).compute(), np.diff(f, axis=0))  # (blocked now)
    assert_array_equal(np.cumsum(y, axis=0).compute(), np.cumsum(f, axis=0))  # (blocked)


def test_a_one_block_result_is_a_copy_of_its_source_and_of_persisted_data():
    """Writing into a computed result must not write into the array it came from, nor into
    persisted data the next compute gives again (Dask copies a one-block result too)."""
    source = np.arange(5)
    out = da.from_array(source).compute()
    out[0] = 99
    assert source[0] == 0
    kept = da.ones(5).persist()
    first = kept.compute()
    first[:] = 7
    assert kept.compute().tolist() == [1.0] * 5
    assert da.broadcast_to(da.from_array(np.arange(3)), (4, 3)).compute().flags.writeable


def test_blocks_selects_whole_blocks_without_moving_data():
    a = np.arange(24.0).reshape(4, 6)
    x = da.from_array(a, chunks=(2, 2))
    picked = x.blocks[1, 1:]
    assert picked.chunks == ((2,), (2, 2))
    np.testing.assert_array_equal(picked.compute(), a[2:, 2:])
    np.testing.assert_array_equal(x.blocks[[1, 0], ::2].compute(),
                                  np.concatenate([a[2:], a[:2]])[:, [0, 1, 4, 5]])  # fmt: skip
    assert x.blocks[..., 0].chunks == ((2, 2), (2,)) and x.partitions[0].chunks[0] == (2,)
    assert x.blocks.shape == (2, 3) and x.blocks.size == 6
    assert x.blocks[1, 1:].name == picked.name != x.blocks[1, :2].name
    with pytest.raises(IndexError, match="block 5 is out of range for block axis 0"):
        x.blocks[5]
    with pytest.raises(IndexError, match="3 indexes for 2 block axes"):
        x.blocks[0, 0, 0]


def test_array_methods_dask_has():
    a = np.arange(24.0).reshape(4, 6) ** 1.2
    x = da.from_array(a, chunks=(2, 4))
    np.testing.assert_allclose(x.topk(2).compute(), -np.sort(-a, axis=-1)[:, :2])
    np.testing.assert_array_equal(x.argtopk(-1, axis=0).compute(), a.argmin(axis=0)[None])
    assert float(x.trace().compute()) == pytest.approx(np.trace(a))
    np.testing.assert_array_equal(x.swapaxes(0, 1).compute(), a.T)
    np.testing.assert_array_equal(x.repeat(2, axis=1).compute(), a.repeat(2, axis=1))
    np.testing.assert_allclose(x.moment(2, axis=0).compute(), ((a - a.mean(0)) ** 2).mean(0))
    assert x.to_dask_dataframe(columns=list("abcdef")).compute().shape == (4, 6)
