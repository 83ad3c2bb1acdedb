"""x[mask], x[shoal index], nonzero / argwhere / flatnonzero, compute_chunk_sizes and
basic-index assignment, against NumPy (and Dask where handy)."""

import numpy as np
import pytest

import shoal.array as sa

RNG = np.random.default_rng(7)
A1 = RNG.integers(0, 300, 10)
A2 = RNG.integers(0, 300, (5, 7))
A3 = RNG.integers(0, 300, (4, 3, 5))

CASES = [  # (data, chunkings incl. one-element and empty blocks)
    (A1, [3, 1, ((4, 4, 2),), ((0, 3, 0, 7, 0),), 10]),
    (A2, [(2, 3), (1, 1), ((1, 4), (0, 4, 1, 2)), (5, 7)]),
    (A3, [(1, 2, 2), (4, 3, 5), ((2, 0, 2), (1, 2), (5,)), (3, 1, 2)]),
]
PARAMS = [(a, c) for a, chunkings in CASES for c in chunkings]
IDS = [f"{a.ndim}d-{c}" for a, c in PARAMS]


@pytest.mark.parametrize(("a", "chunks"), PARAMS, ids=IDS)
def test_mask_of_same_shape_matches_numpy(a, chunks):
    x = sa.from_array(a, chunks=chunks)
    for cond, ref in ((x > 190, a[a > 190]), (x % 3 == 0, a[a % 3 == 0]),
                      (x > 1000, a[a > 1000]), (x >= 0, a.ravel())):  # fmt: skip
        got = x[cond]
        assert got.ndim == 1 and got.shape == ref.shape and got.dtype == a.dtype
        assert sum(got.chunks[0]) == len(ref)
        np.testing.assert_array_equal(got.compute(), ref)
    assert int(x[x % 3 == 0].sum().compute()) == a[a % 3 == 0].sum()


@pytest.mark.parametrize(("a", "chunks"), PARAMS, ids=IDS)
def test_mask_with_other_chunks_is_rechunked(a, chunks):
    x = sa.from_array(a, chunks=chunks)
    m = a % 2 == 1
    mask = sa.from_array(m, chunks=1)
    got = x[mask]
    np.testing.assert_array_equal(got.compute(), a[m])
    np.testing.assert_array_equal(x[mask, ...].compute(), a[m, ...])


def test_mask_over_leading_dimensions():
    x = sa.from_array(A3, chunks=(3, 2, 2))
    m2 = A3.sum(axis=2) % 2 == 0
    np.testing.assert_array_equal(x[sa.from_array(m2, chunks=(1, 2))].compute(), A3[m2])
    m1 = np.array([True, False, True, True])
    got = x[sa.from_array(m1, chunks=3)]
    assert got.chunks[1:] == x.chunks[1:]
    np.testing.assert_array_equal(got.compute(), A3[m1])
    np.testing.assert_array_equal(x[sa.from_array(m1, chunks=2), :, :].compute(), A3[m1, :, :])


def test_mask_errors_and_zero_d():
    x = sa.from_array(A2, chunks=2)
    with pytest.raises(IndexError, match="did not match"):
        x[sa.from_array(np.ones((5, 6), bool), chunks=2)]
    with pytest.raises(IndexError, match="too many indices"):
        x[sa.from_array(np.ones((5, 7), bool)), 0]
    z = sa.from_array(np.array(4.5))
    np.testing.assert_array_equal(z[z > 1].compute(), np.array(4.5)[np.array(True)])
    np.testing.assert_array_equal(z[z > 9].compute(), np.array(4.5)[np.array(False)])


def test_mask_matches_dask():
    da = pytest.importorskip("dask.array")
    d = da.from_array(A2, chunks=(2, 3))
    x = sa.from_array(A2, chunks=(2, 3))
    ref = d[d > 150].compute_chunk_sizes()
    got = x[x > 150].compute_chunk_sizes()
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got.compute(), ref.compute())
    d1, x1 = da.from_array(A1, chunks=3), sa.from_array(A1, chunks=3)
    assert x1[x1 > 150].chunks == d1[d1 > 150].compute_chunk_sizes().chunks


def test_compute_chunk_sizes_returns_self():
    x = sa.from_array(A1, chunks=3)
    assert x.compute_chunk_sizes() is x


@pytest.mark.parametrize("chunks", [(2, 3), (1, 1), ((1, 4), (0, 4, 1, 2))])
def test_shoal_integer_index(chunks):
    x = sa.from_array(A2, chunks=chunks)
    idx = np.array([6, 0, -1, 3, 3])
    s = sa.from_array(idx, chunks=2)
    np.testing.assert_array_equal(x[:, s].compute(), A2[:, idx])
    np.testing.assert_array_equal(x[s[:3] % 5].compute(), A2[idx[:3] % 5])
    np.testing.assert_array_equal(x[1, s].compute(), A2[1, idx])
    np.testing.assert_array_equal(x[sa.from_array(np.array(2))].compute(), A2[2])
    b = np.array([True, False, True, False, False, True, True])
    np.testing.assert_array_equal(x[:, sa.from_array(b, chunks=3)].compute(), A2[:, b])
    with pytest.raises(IndexError):
        x[sa.from_array(np.array([5]))]


@pytest.mark.parametrize(("a", "chunks"), PARAMS, ids=IDS)
def test_nonzero_argwhere_flatnonzero(a, chunks):
    x = sa.from_array(a, chunks=chunks)
    cond = x % 4 == 0
    ref = np.nonzero(a % 4 == 0)
    got = sa.nonzero(cond)
    assert len(got) == a.ndim
    for g, r in zip(got, ref):
        assert g.dtype == np.intp and g.shape == r.shape
        np.testing.assert_array_equal(g.compute(), r)
    for g, r in zip(cond.nonzero(), ref):
        np.testing.assert_array_equal(g.compute(), r)
    aw = sa.argwhere(cond)
    assert aw.shape == np.argwhere(a % 4 == 0).shape
    np.testing.assert_array_equal(aw.compute(), np.argwhere(a % 4 == 0))
    np.testing.assert_array_equal(sa.flatnonzero(cond).compute(), np.flatnonzero(a % 4 == 0))
    np.testing.assert_array_equal(sa.flatnonzero(x - x).compute(), np.zeros(0, np.intp))
    np.testing.assert_array_equal(a[tuple(g.compute() for g in got)], a[a % 4 == 0])


def test_nonzero_zero_d_and_dask():
    z = sa.from_array(np.array(3))
    with pytest.raises(ValueError, match="0d"):
        sa.nonzero(z)
    np.testing.assert_array_equal(sa.argwhere(z).compute(), np.argwhere(np.array(3)))
    np.testing.assert_array_equal(sa.flatnonzero(z).compute(), np.flatnonzero(np.array(3)))
    da = pytest.importorskip("dask.array")
    d = da.from_array(A3, chunks=2)
    x = sa.from_array(A3, chunks=2)
    np.testing.assert_array_equal(sa.argwhere(x > 200).compute(),
                                  da.argwhere(d > 200).compute())


# -- assignment ----------------------------------------------------------------------

SET_CASES = [  # (index, value maker from the selection shape)
    (np.s_[1:3], lambda s: 7),
    (np.s_[::-2], lambda s: -1.9),
    (np.s_[2], lambda s: np.arange(int(np.prod(s))).reshape(s)),
    (np.s_[..., 0], lambda s: np.arange(s[-1]) if s else 5),
    (np.s_[-1, ...], lambda s: np.ones((1,) + s)),
    (np.s_[None, 1:], lambda s: 3),
    (np.s_[1:, None], lambda s: np.arange(s[-1])),
    (np.s_[4:1:-1], lambda s: np.arange(s[-1])),
    (np.s_[3:3], lambda s: 1),
    (np.s_[...], lambda s: 2),
]


@pytest.mark.parametrize(("a", "chunks"), PARAMS, ids=IDS)
@pytest.mark.parametrize("shoal_value", [False, True])
def test_setitem_basic_matches_numpy(a, chunks, shoal_value):
    for index, make in SET_CASES:
        ref = a.copy()
        sel_shape = ref[index].shape
        value = make(sel_shape)
        ref[index] = value
        y = sa.from_array(a, chunks=chunks)
        name = y.name
        if shoal_value and np.ndim(value):
            value = sa.from_array(np.asarray(value), chunks=2)
        y[index] = value
        assert y.chunks == sa.from_array(a, chunks=chunks).chunks and y.dtype == a.dtype
        assert (y.name == name) == (0 in sel_shape)  # an empty selection changes nothing
        np.testing.assert_array_equal(y.compute(), ref, err_msg=str(index))
    np.testing.assert_array_equal(sa.from_array(a, chunks=chunks).compute(), a)  # unchanged


def test_setitem_2d_column_and_sequence():
    ref = A2.copy()
    y = sa.from_array(A2, chunks=(2, 3))
    other = sa.from_array(np.arange(5) * 10, chunks=4)
    y[:, 0] = other
    ref[:, 0] = np.arange(5) * 10
    y[1:4, 2:6:2] = np.array([[1], [2], [3]])
    ref[1:4, 2:6:2] = np.array([[1], [2], [3]])
    y[0] = 2.7  # cast as NumPy casts
    ref[0] = 2.7
    np.testing.assert_array_equal(y.compute(), ref)
    z = sa.from_array(np.array(1.0))
    z[()] = 4
    assert z.compute() == 4.0


def test_setitem_errors():
    y = sa.from_array(A2, chunks=2)
    with pytest.raises(ValueError, match="broadcast"):
        y[1:3] = np.ones(3)
    with pytest.raises(ValueError, match="broadcast"):
        y[1:3] = sa.ones((2, 2))
    with pytest.raises(ValueError):
        y[0] = "abc"
    with pytest.raises(IndexError):
        y[9] = 1
    with pytest.raises(NotImplementedError):
        y[[0, 1]] = 1
    with pytest.raises(NotImplementedError):
        y[sa.from_array(np.array([0, 1]))] = 1
    np.testing.assert_array_equal(y.compute(), A2)
    y[y > 100] = 0  # the mask path still works
    np.testing.assert_array_equal(y.compute(), np.where(A2 > 100, 0, A2))


def test_setitem_matches_dask():
    da = pytest.importorskip("dask.array")
    d = da.from_array(A3.astype(float), chunks=2)
    y = sa.from_array(A3.astype(float), chunks=2)
    for target in (d, y):
        target[1:, ::2, -1] = 0.5
        target[0] = np.arange(5.0)
    np.testing.assert_array_equal(y.compute(), d.compute())
