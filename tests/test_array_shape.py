"""shoal.array slicing, rechunk, reshape, transpose, products, concatenate/stack."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import shoal.array as da

CHUNKINGS = [(4, 5), ((3, 3, 3, 4), (17,)), (13, 1), ((1, 12), (16, 1))]


@pytest.fixture
def a():
    return np.arange(13 * 17, dtype=np.float64).reshape(13, 17)


# -- slicing ------------------------------------------------------------------------

INDICES = [
    np.s_[1:9:3], np.s_[::-1], np.s_[::-3, 2], np.s_[..., None, 4:1:-1], np.s_[-1], np.s_[5, -2],
    np.s_[None, :, None], np.s_[12:0:-5, ::7], np.s_[100:], np.s_[:0], np.s_[-4:], np.s_[::2, ::-2],
    np.s_[..., 3], np.s_[3, ...], np.s_[1:-1, 16:0:-4], np.s_[-100:100], np.s_[::-1, ::-1],
    np.s_[:, None, 5], np.s_[()], np.s_[np.int64(2)], np.s_[..., None],
    # one integer array / boolean mask on one axis
    np.s_[[3, 1, 12, 0]], np.s_[2:, [16, 0, 5, 5]], np.s_[3, [1, 2]], np.s_[[-1, 0]],
    np.s_[:, np.arange(17) % 3 == 0], np.s_[::-2, [4, 4, 4]], np.s_[np.array([], dtype=int)],
    np.s_[[0, 12, 1, 11, 2, 10, 3, 9]], np.s_[None, [5, 6]],
]


@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_slicing_matches_numpy(a, chunks):
    x = da.from_array(a, chunks=chunks)
    for index in INDICES:
        got = x[index]
        expected = a[index]
        assert got.shape == expected.shape, index
        assert_array_equal(got.compute(), expected, err_msg=str(index))


def test_slicing_3d_and_dtypes():
    a = np.arange(4 * 5 * 6).reshape(4, 5, 6) % 7 == 0
    x = da.from_array(a, chunks=(3, 2, 4))
    for index in [np.s_[1], np.s_[:, 2], np.s_[..., 1:5:2], np.s_[::-1, None, 4, ::-2],
                  np.s_[:, [4, 0], 1:], np.s_[1, :, [5, 5, 0]]]:
        assert_array_equal(x[index].compute(), a[index], err_msg=str(index))
    assert x[0, 0, 0].compute() == a[0, 0, 0]


def test_slicing_reads_only_needed_blocks(a):
    x = da.from_array(a, chunks=(4, 5))
    y = x[5, 3:7]
    blocks = set().union(*(node.dependencies for node in y._layers[y.name].values()))
    assert blocks == {(x.name, 1, 0), (x.name, 1, 1)}
    assert y.chunks == ((2, 2),)


def test_slicing_errors(a):
    x = da.from_array(a, chunks=4)
    with pytest.raises(IndexError, match="out of bounds"):
        x[13]
    with pytest.raises(IndexError, match="out of bounds"):
        x[0, -18]
    with pytest.raises(IndexError, match="out of bounds"):
        x[[0, 13]]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., 0, ...]
    with pytest.raises(IndexError):
        x["a"]
    with pytest.raises(NotImplementedError, match="more than one array"):
        x[[0, 1], [0, 1]]
    with pytest.raises(NotImplementedError):
        x[np.ones((2, 2), dtype=int)]


# -- transpose, rechunk, reshape ------------------------------------------------------

def test_transpose(a):
    x = da.from_array(a, chunks=(4, 5))
    assert x.T.chunks == (x.chunks[1], x.chunks[0])
    assert_array_equal(x.T.compute(), a.T)
    assert_array_equal(np.transpose(x).compute(), a.T)
    b = np.arange(60).reshape(3, 4, 5)
    y = da.from_array(b, chunks=(2, 3, 2))
    for axes in [(1, 0, 2), (2, 0, 1), (0, 1, 2), (-1, 0, 1)]:
        assert_array_equal(y.transpose(axes).compute(), b.transpose(axes))
    assert_array_equal(y.transpose(2, 1, 0).compute(), b.transpose(2, 1, 0))
    with pytest.raises(ValueError, match="axes"):
        y.transpose((0, 1))


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("new", [(6, 6), 1, ((13,), (1,) * 17), {1: 3}, (-1, 4), "auto", ((5, 8), 9)])
def test_rechunk(a, chunks, new):
    x = da.from_array(a, chunks=chunks)
    y = x.rechunk(new)
    assert_array_equal(y.compute(), a)
    assert y.chunks == da.normalize_chunks(new, a.shape, a.dtype, previous=x.chunks)
    if isinstance(new, dict):
        assert y.chunks[0] == x.chunks[0]
    assert x.rechunk(x.chunks) is x


def test_rechunk_errors(a):
    with pytest.raises(ValueError, match="chunks"):
        da.from_array(a, chunks=4).rechunk(((5, 5), 4))


@pytest.mark.parametrize("shape, chunks, new", [
    ((13, 17), (4, 5), (17, 13)),
    ((13, 17), (4, 5), (221,)),
    ((13, 17), (4, 5), (-1,)),
    ((13, 17), (4, 17), (13, 17, 1)),
    ((13, 17), (4, 5), (1, 13, 17)),
    ((13, 17), (4, 5), (13, 1, 17)),
    ((6, 4, 5), (2, 2, 5), (6, 20)),
    ((6, 4, 5), (4, 3, 2), (24, 5)),
    ((6, 20), (3, 7), (6, 4, 5)),
    ((12, 10), (5, 3), (2, 6, 5, 2)),
    ((2, 3, 4, 5), (1, 2, 3, 4), (6, 20)),
    ((24,), (5,), (2, 3, 4)),
    ((24,), (5,), (4, -1)),
    ((1,), (1,), ()),
    ((), (), (1, 1)),
    ((13, 17, 1), (4, 5, 1), (13, 17)),
])
def test_reshape_matches_numpy(shape, chunks, new):
    a = np.arange(int(np.prod(shape))).reshape(shape)
    x = da.from_array(a, chunks=chunks)
    y = x.reshape(new)
    assert y.shape == a.reshape(new).shape
    assert_array_equal(y.compute(), a.reshape(new))
    assert_array_equal(np.reshape(x, new).compute(), a.reshape(new))


def test_reshape_keeps_leading_chunks_and_errors():
    x = da.ones((8, 6, 4), chunks=(2, 3, 4))
    y = x.reshape(8, 24)
    assert y.chunks[0] == x.chunks[0]  # leading dimension untouched, no rechunk needed there
    assert_array_equal(x.ravel().compute(), np.ones(192))
    with pytest.raises(ValueError, match="cannot reshape"):
        x.reshape(7, 5)
    with pytest.raises(ValueError, match="one unknown"):
        x.reshape(-1, -1)
    big = da.ones((40_000, 40_000), chunks=(1000, 1000))
    with pytest.raises(NotImplementedError, match="rechunk"):
        big.reshape(-1)  # would need 1000 x 40000 blocks (305 MiB)
    assert big.rechunk((100, -1)).reshape(-1).numblocks == (400,)


def test_squeeze():
    a = np.arange(12).reshape(1, 3, 1, 4)
    x = da.from_array(a, chunks=2)
    assert_array_equal(x.squeeze().compute(), a.squeeze())
    assert_array_equal(x.squeeze(axis=2).compute(), a.squeeze(axis=2))
    with pytest.raises(ValueError):
        x.squeeze(axis=1)


# -- products -------------------------------------------------------------------------

@pytest.mark.parametrize("ca, cb", [((4, 5), (6, 4)), ((13, 17), (17, 9)), ((1, 2), (3, 1)),
                                    (((5, 8), (2, 15)), ((10, 7), (9,)))])
def test_matmul_and_dot(ca, cb):
    rng = np.random.default_rng(0)
    a, b = rng.random((13, 17)), rng.random((17, 9))
    x, y = da.from_array(a, chunks=ca), da.from_array(b, chunks=cb)
    assert_allclose((x @ y).compute(), a @ b)
    assert_allclose(x.dot(y).compute(), a.dot(b))
    assert_allclose(da.matmul(x, y, split_every=2).compute(), a @ b)
    assert_allclose((x @ b).compute(), a @ b)
    assert_allclose((a @ y).compute(), a @ b)
    assert_allclose(np.dot(x, y).compute(), a @ b)
    assert isinstance(np.matmul(x, y), da.Array)


def test_products_dtypes_vectors_and_tensordot():
    rng = np.random.default_rng(1)
    ai, bi = rng.integers(-5, 5, (7, 6)), rng.integers(-5, 5, (6, 4))
    xi, yi = da.from_array(ai, chunks=3), da.from_array(bi, chunks=2)
    assert (xi @ yi).dtype == (ai @ bi).dtype
    assert_array_equal((xi @ yi).compute(), ai @ bi)
    v = rng.random(6)
    xv = da.from_array(v, chunks=4)
    af = ai.astype(float)
    xf = da.from_array(af, chunks=(3, 5))
    assert_allclose((xf @ xv).compute(), af @ v)
    assert_allclose((xv @ xf.T).compute(), v @ af.T)
    assert_allclose((xv @ xv).compute(), v @ v)
    assert_allclose(da.dot(xv, 2.0).compute(), v * 2)
    c, d = rng.random((3, 4, 5)), rng.random((4, 5, 6))
    xc, xd = da.from_array(c, chunks=(2, 3, 2)), da.from_array(d, chunks=(3, 4, 5))
    for axes in (2, ((1, 2), (0, 1)), ([2], [1]), 0, ((1,), (0,))):
        assert_allclose(da.tensordot(xc, xd, axes=axes).compute(), np.tensordot(c, d, axes=axes))
    e = rng.random((5, 2))
    assert_allclose(da.dot(xc, da.from_array(e, chunks=2)).compute(), np.dot(c, e))


def test_batched_matmul_broadcasts():
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 1, 5, 6)), rng.random((4, 6, 2))
    x, y = da.from_array(a, chunks=(2, 1, 3, 4)), da.from_array(b, chunks=(3, 5, 2))
    assert_allclose((x @ y).compute(), a @ b)
    with pytest.raises(ValueError, match="core dimension"):
        x @ da.ones((4, 5, 2), chunks=2)
    with pytest.raises(NotImplementedError):
        x @ da.ones(6, chunks=2)


def test_product_errors_and_tree():
    x = da.ones((40, 30), chunks=(10, 2))
    y = da.ones((30, 20), chunks=(3, 10))
    z = da.matmul(x, y, split_every=4)
    # 15 contracted blocks, groups of 4 -> 4 partial sums, added by one more task:
    # no task holds more than 4 products' inputs (8 blocks) or 4 partials
    assert max(len(n.dependencies) for n in z.__shoal_graph__().values()) <= 8
    assert_allclose(z.compute(), np.full((40, 20), 30.0))
    assert_allclose((x @ y).compute(), np.full((40, 20), 30.0))
    with pytest.raises(ValueError, match="mismatch"):
        x @ x
    with pytest.raises(ValueError, match="mismatch"):
        da.tensordot(x, y.T, axes=1)
    with pytest.raises(ValueError, match="split_every"):
        da.matmul(x, y, split_every=1)


# -- concatenate / stack ----------------------------------------------------------------

def test_concatenate_and_stack(a):
    x = da.from_array(a, chunks=(4, 5))
    y = da.from_array(a * 2, chunks=(6, 3))  # other chunks: unified on the other axis
    for axis in (0, 1, -1):
        assert_array_equal(da.concatenate([x, y, x], axis=axis).compute(),
                           np.concatenate([a, a * 2, a], axis=axis))
    assert_array_equal(np.concatenate([x, y]).compute(), np.concatenate([a, a * 2]))
    for axis in (0, 1, 2, -1):
        assert_array_equal(da.stack([x, y], axis=axis).compute(), np.stack([a, a * 2], axis=axis))
    ints = da.from_array(np.arange(13), chunks=5)
    mixed = da.concatenate([ints, da.from_array(np.ones(3), chunks=2)])
    assert mixed.dtype == np.float64
    assert_array_equal(mixed.compute(), np.concatenate([np.arange(13), np.ones(3)]))
    with pytest.raises(ValueError, match="must match exactly"):
        da.concatenate([x, x[:, :3]], axis=0)
    with pytest.raises(ValueError, match="same shape"):
        da.stack([x, x[:3]])
    with pytest.raises(ValueError):
        da.concatenate([])


def test_empty_and_tuple_indexes_as_numpy_reads_them():
    a = np.arange(24.0).reshape(4, 6)
    x = da.from_array(a, chunks=(2, 4))
    for index in [([],), ([], slice(None)), (slice(None), []), ((0, 1),), ((0, 2), slice(1, 3)),
                  ((3, 0, 3),)]:  # fmt: skip
        got, expected = x[index], a[index]
        assert got.shape == expected.shape and got.dtype == expected.dtype, index
        np.testing.assert_array_equal(got.compute(), expected)
