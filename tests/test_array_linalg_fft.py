"""shoal.array.linalg factorizations / solvers / norm and shoal.array.fft, against NumPy."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import shoal.array as sa
from shoal.array.linalg import dot, matmul, tensordot  # the old names still import

RNG = np.random.default_rng(42)


def rand(shape, dtype=np.float64):
    x = RNG.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * RNG.standard_normal(shape)
    return x.astype(dtype)


def tol(dtype):
    return 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10


# -- QR / SVD ---------------------------------------------------------------------------

QR_CASES = [((100, 7), (13, 7), None), ((100, 7), (13, 7), 2), ((40, 5), ((3, 3, 10, 24), 5), 2),
            ((30, 30), (30, 30), None), ((5, 9), (5, 9), None), ((60, 10), (20, 10), 3)]


@pytest.mark.parametrize("shape,chunks,split_every", QR_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_tsqr_reconstructs(shape, chunks, split_every, dtype):
    a = rand(shape, dtype)
    q, r = sa.linalg.tsqr(sa.from_array(a, chunks=chunks), split_every=split_every)
    k = min(shape)
    assert q.shape == (shape[0], k) and r.shape == (k, shape[1])
    assert q.chunks[0] == sa.from_array(a, chunks=chunks).chunks[0]
    Q, R = q.compute(), r.compute()
    assert Q.dtype == q.dtype == np.linalg.qr(a)[0].dtype
    assert_allclose(Q @ R, a, atol=tol(dtype) * 10)
    assert_allclose(Q.conj().T @ Q, np.eye(k), atol=tol(dtype) * 10)
    assert_allclose(np.tril(R, -1), 0, atol=tol(dtype))
    # R equals NumPy's up to the signs (phases) of its rows
    R0 = np.linalg.qr(a)[1]
    assert_allclose(np.abs(R), np.abs(R0), atol=tol(dtype) * 100)


def test_qr_refuses_column_blocks():
    x = sa.from_array(rand((20, 6)), chunks=(5, 3))
    with pytest.raises(ValueError, match="tall-and-skinny.*rechunk"):
        sa.linalg.qr(x)
    with pytest.raises(ValueError, match="2-dimensional"):
        sa.linalg.qr(sa.ones((4,), chunks=2))
    with pytest.raises(ValueError, match="split_every"):
        sa.linalg.tsqr(sa.ones((4, 2), chunks=2), split_every=1)


def test_qr_is_deterministic_and_named_by_input():
    x = sa.from_array(rand((30, 4)), chunks=(10, 4))
    q1, _ = sa.linalg.qr(x)
    q2, _ = sa.linalg.qr(x)
    assert q1.name == q2.name
    assert sa.linalg.tsqr(x, split_every=2)[0].name != q1.name


@pytest.mark.parametrize("shape,chunks", [((100, 7), (13, 7)), ((50, 6), (50, 6)),
                                          ((8, 50), (8, 10)), ((6, 6), (2, 6))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_svd(shape, chunks, dtype):
    a = rand(shape, dtype)
    u, s, v = sa.linalg.svd(sa.from_array(a, chunks=chunks))
    k = min(shape)
    assert (u.shape, s.shape, v.shape) == ((shape[0], k), (k,), (k, shape[1]))
    U, S, V = u.compute(), s.compute(), v.compute()
    assert_allclose(S, np.linalg.svd(a, compute_uv=False), rtol=tol(dtype) * 10)
    assert_allclose((U * S) @ V, a, atol=tol(dtype) * 10)
    assert_allclose(U.conj().T @ U, np.eye(k), atol=tol(dtype) * 10)
    assert_allclose(V @ V.conj().T, np.eye(k), atol=tol(dtype) * 10)
    assert s.dtype == S.dtype and u.dtype == U.dtype


def test_svd_signs_do_not_depend_on_chunks():
    a = rand((40, 5))
    v1 = sa.linalg.svd(sa.from_array(a, chunks=(40, 5)))[2].compute()
    v2 = sa.linalg.svd(sa.from_array(a, chunks=(7, 5)))[2].compute()
    assert_allclose(v1, v2, atol=1e-10)


def test_svd_refuses_blocks_in_both_axes():
    with pytest.raises(ValueError, match="svd_compressed"):
        sa.linalg.svd(sa.from_array(rand((10, 10)), chunks=5))


def test_svd_compressed_low_rank():
    a = rand((120, 12)) @ rand((12, 40))  # rank 12
    u, s, v = sa.linalg.svd_compressed(sa.from_array(a, chunks=(30, 20)), 12, n_power_iter=1,
                                       seed=3)
    assert u.shape == (120, 12) and s.shape == (12,) and v.shape == (12, 40)
    assert_allclose(s.compute(), np.linalg.svd(a, compute_uv=False)[:12], rtol=1e-8)
    assert_allclose((u * s @ v).compute(), a, atol=1e-8)
    with pytest.raises(ValueError, match="k must"):
        sa.linalg.svd_compressed(sa.from_array(a, chunks=30), 0)


# -- least squares, solvers -------------------------------------------------------------

@pytest.mark.parametrize("bshape,bchunks", [((100, 3), (25, 2)), ((100,), 30)])
def test_lstsq(bshape, bchunks):
    a, b = rand((100, 6)), rand(bshape)
    got = sa.linalg.lstsq(sa.from_array(a, chunks=(30, 6)), sa.from_array(b, chunks=bchunks))
    want = np.linalg.lstsq(a, b, rcond=None)
    for g, w in zip(got, want):
        assert g.shape == np.shape(w)
        assert_allclose(np.asarray(g.compute()), w, rtol=1e-8)


def test_lstsq_bad_b():
    with pytest.raises(ValueError, match="b must"):
        sa.linalg.lstsq(sa.ones((10, 2), chunks=(5, 2)), np.ones(9))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_solve_inv(dtype):
    a = rand((9, 9), dtype) + 9 * np.eye(9, dtype=dtype)
    b = rand((9, 4), dtype)
    x = sa.from_array(a, chunks=4)
    out = sa.linalg.solve(x, sa.from_array(b, chunks=(4, 2)))
    assert out.chunks == ((9,), (2, 2))
    assert_allclose(out.compute(), np.linalg.solve(a, b), rtol=tol(dtype) * 10)
    assert_allclose(sa.linalg.solve(x, b[:, 0]).compute(), np.linalg.solve(a, b[:, 0]),
                    rtol=tol(dtype) * 10)
    inv = sa.linalg.inv(x)
    assert inv.chunks == x.chunks and inv.dtype == np.linalg.inv(a).dtype
    assert_allclose(inv.compute(), np.linalg.inv(a), rtol=tol(dtype) * 10, atol=tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_cholesky(dtype):
    m = rand((8, 8), dtype)
    p = m @ m.conj().T + 8 * np.eye(8)
    x = sa.from_array(p, chunks=3)
    upper = sa.linalg.cholesky(x)
    assert upper.chunks == x.chunks
    assert_allclose(upper.compute(), np.linalg.cholesky(p).conj().T, rtol=1e-10)
    assert_allclose(sa.linalg.cholesky(x, lower=True).compute(), np.linalg.cholesky(p))
    with pytest.raises(np.linalg.LinAlgError):
        sa.linalg.cholesky(-x).compute()


def test_square_solvers_refuse_bad_input(monkeypatch):
    import shoal.array.solvers as solvers

    with pytest.raises(ValueError, match="square"):
        sa.linalg.inv(sa.ones((4, 3), chunks=2))
    with pytest.raises(ValueError, match="b must"):
        sa.linalg.solve(sa.ones((4, 4), chunks=2), np.ones(3))
    monkeypatch.setattr(solvers, "SINGLE_BLOCK_LIMIT", 100)
    with pytest.raises(NotImplementedError, match="SINGLE_BLOCK_LIMIT"):
        sa.linalg.cholesky(sa.ones((4, 4), chunks=2))


# -- norm -------------------------------------------------------------------------------

@pytest.mark.parametrize("ord", [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
@pytest.mark.parametrize("chunks", [(3, 3), (3, 8), (7, 8)])
def test_matrix_norm(ord, chunks):
    a = rand((7, 8))
    assert_allclose(sa.linalg.norm(sa.from_array(a, chunks=chunks), ord).compute(),
                    np.linalg.norm(a, ord))


@pytest.mark.parametrize("ord", [2, -2, "nuc", 1])
def test_matrix_norm_tall_and_batched(ord):
    a = rand((40, 5))  # tall-and-skinny: singular values from TSQR
    assert_allclose(sa.linalg.norm(sa.from_array(a, chunks=(9, 5)), ord).compute(),
                    np.linalg.norm(a, ord))
    b = rand((4, 6, 5), np.complex128)
    got = sa.linalg.norm(sa.from_array(b, chunks=2), ord, axis=(2, 0), keepdims=True)
    assert_allclose(got.compute(), np.linalg.norm(b, ord, axis=(2, 0), keepdims=True))


@pytest.mark.parametrize("ord", [None, 0, 1, 2, 3, 0.5, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128, np.int64])
def test_vector_norm(ord, dtype):
    a = (rand((7, 8), dtype) * 3).astype(dtype)
    x = sa.from_array(a, chunks=3)
    for axis, keep in [(1, False), (0, True), (-1, True)]:
        got = sa.linalg.norm(x, ord, axis=axis, keepdims=keep)
        want = np.linalg.norm(a, ord, axis=axis, keepdims=keep)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert_allclose(got.compute(), want, rtol=tol(dtype) * 10)
    assert_allclose(sa.linalg.norm(x[0], ord).compute(), np.linalg.norm(a[0], ord),
                    rtol=tol(dtype) * 10)


def test_norm_whole_array_and_errors():
    b = rand((4, 6, 5))
    x = sa.from_array(b, chunks=2)
    assert_allclose(sa.linalg.norm(x).compute(), np.linalg.norm(b))
    assert_allclose(sa.linalg.norm(x, keepdims=True).compute(), np.linalg.norm(b, keepdims=True))
    with pytest.raises(ValueError, match="ord"):
        sa.linalg.norm(x, 2)
    with pytest.raises(ValueError, match="invalid ord"):
        sa.linalg.norm(x[0], "bad")
    with pytest.raises(ValueError, match="invalid ord"):
        sa.linalg.norm(x[0, 0], "fro")
    with pytest.raises(np.exceptions.AxisError):
        sa.linalg.norm(x, axis=3)


# -- fft --------------------------------------------------------------------------------

ONE_AXIS = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]


@pytest.mark.parametrize("func", ONE_AXIS)
@pytest.mark.parametrize("n", [None, 10, 17])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_fft_one_axis(func, n, dtype):
    if func in ("rfft", "ihfft") and np.dtype(dtype).kind == "c":
        return  # NumPy refuses complex input there
    a = rand((12, 16), dtype)
    for axis, chunks in [(-1, (5, 16)), (0, (12, 7))]:
        got = getattr(sa.fft, func)(sa.from_array(a, chunks=chunks), n=n, axis=axis)
        want = getattr(np.fft, func)(a, n=n, axis=axis)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert_allclose(got.compute(), want, rtol=tol(dtype) * 100, atol=tol(dtype) * 100)
    ortho = getattr(sa.fft, func)(sa.from_array(a, chunks=(5, 16)), norm="ortho").compute()
    assert_allclose(ortho, getattr(np.fft, func)(a, norm="ortho"), rtol=tol(dtype) * 100,
                    atol=tol(dtype) * 100)


@pytest.mark.parametrize("func", ["fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn",
                                  "irfftn"])
def test_fft_many_axes(func):
    b = rand((6, 8, 10))
    x = sa.from_array(b, chunks=(3, 8, 10))
    f, g = getattr(sa.fft, func), getattr(np.fft, func)
    if func.endswith("2"):
        assert_allclose(f(x).compute(), g(b))
        assert_allclose(f(x, s=(5, 7)).compute(), g(b, s=(5, 7)))
    else:
        assert_allclose(f(x, axes=(1, 2)).compute(), g(b, axes=(1, 2)))
        assert_allclose(f(x, s=(6, 5), axes=(1, 2)).compute(), g(b, s=(6, 5), axes=(1, 2)))
        assert_allclose(f(x.rechunk(-1)).compute(), g(b))
        assert f(x, axes=(2, 1)).shape == g(b, axes=(2, 1)).shape
        assert_allclose(f(x, axes=(2, 1)).compute(), g(b, axes=(2, 1)))


def test_fft_refuses_split_axis_naming_it():
    x = sa.from_array(rand((12, 16)), chunks=(5, 8))
    with pytest.raises(ValueError, match=r"axis 1 .*rechunk\(\{1: -1\}\)"):
        sa.fft.fft(x)
    with pytest.raises(ValueError, match="axis 0"):
        sa.fft.fftn(x, axes=(0,))
    with pytest.raises(ValueError, match="n must"):
        sa.fft.fft(x.rechunk({1: -1}), n=0)
    with pytest.raises(ValueError, match="kind"):
        sa.fft.fft_wrap(np.sum)


def test_fft_one_task_per_block_and_wrap():
    x = sa.from_array(rand((12, 16)), chunks=(4, 16))
    y = sa.fft.fft(x)
    assert y.numblocks == (3, 1) and y.name.startswith("fft-")
    assert y.name == sa.fft.fft(x).name and y.name != sa.fft.fft(x, n=8).name
    my_fft = sa.fft.fft_wrap(np.fft.ifft, kind="fft")  # output lengths as fft's
    assert_allclose(my_fft(x).compute(), np.fft.ifft(x.compute()))
    assert sa.fft.fft(rand(16)).compute().shape == (16,)  # numpy input


@pytest.mark.parametrize("n", [1, 7, 8])
def test_fftfreq(n):
    assert_allclose(sa.fft.fftfreq(n, 0.5, chunks=3).compute(), np.fft.fftfreq(n, 0.5))
    assert_allclose(sa.fft.rfftfreq(n, 0.5, chunks=3).compute(), np.fft.rfftfreq(n, 0.5))
    assert sa.fft.fftfreq(n, chunks=3).chunks == sa.arange(n, chunks=3).chunks
    with pytest.raises(ValueError, match="n must"):
        sa.fft.fftfreq(0)


@pytest.mark.parametrize("axes", [None, 0, (1,), (0, 1), -1])
@pytest.mark.parametrize("shape", [(7, 8), (1, 5), (2, 3)])
def test_fftshift(axes, shape):
    a = rand(shape)
    x = sa.from_array(a, chunks=(3, 3))
    assert_array_equal(sa.fft.fftshift(x, axes).compute(), np.fft.fftshift(a, axes))
    assert_array_equal(sa.fft.ifftshift(x, axes).compute(), np.fft.ifftshift(a, axes))
    assert_array_equal(sa.fft.ifftshift(sa.fft.fftshift(x, axes), axes).compute(), a)


def test_namespaces_exported():
    for name in ["fft", "linalg"]:
        assert name in sa.__all__
    for name in ["qr", "svd", "svd_compressed", "solve", "inv", "cholesky", "lstsq", "norm",
                 "tsqr"]:
        assert callable(getattr(sa.linalg, name)), name
    assert (dot, matmul, tensordot) == (sa.dot, sa.matmul, sa.tensordot)
    for name in ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2",
                 "irfft2", "fftn", "ifftn", "rfftn", "irfftn", "fftfreq", "rfftfreq",
                 "fftshift", "ifftshift", "fft_wrap"]:
        assert callable(getattr(sa.fft, name)), name


# -- review fixes ------------------------------------------------------------------------


def test_svd_of_a_wide_matrix_does_not_depend_on_its_column_blocks():
    a = np.random.default_rng(4).standard_normal((6, 40))
    results = [sa.linalg.svd(sa.from_array(a, chunks=chunks)) for chunks in ((6, 40), (6, 10))]
    (u1, s1, v1), (u2, s2, v2) = (sa.compute(*r) for r in results)
    np.testing.assert_allclose(v1, v2, atol=1e-12)
    np.testing.assert_allclose(u1, u2, atol=1e-12)
    np.testing.assert_allclose((u2 * s2) @ v2, a, atol=1e-10)
    assert (v2[np.arange(6), np.abs(v2).argmax(axis=1)] > 0).all()


def test_lstsq_cuts_off_at_numpys_tolerance_for_the_whole_matrix():
    """R is n x n: its own default cutoff is rows / n times too small, so a nearly
    rank-deficient A was solved as full rank (x near 4e8)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20_000, 4))
    a[:, 3] = a[:, 0] + 1e-12 * rng.standard_normal(20_000)
    b = rng.standard_normal(20_000)
    x, _, rank, _ = sa.linalg.lstsq(sa.from_array(a, chunks=(2_000, 4)), sa.from_array(b, chunks=2_000))
    x, rank = sa.compute(x, rank)
    want_x, _, want_rank, _ = np.linalg.lstsq(a, b, rcond=None)
    assert int(rank) == want_rank == 3
    np.testing.assert_allclose(x, want_x, atol=1e-8)


def test_svd_compressed_keeps_complex64():
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((30, 8)) + 1j * rng.standard_normal((30, 8))).astype(np.complex64)
    u, s, v = sa.linalg.svd_compressed(sa.from_array(a, chunks=10), 3, seed=0)
    assert (u.dtype, s.dtype, v.dtype) == (np.complex64, np.float32, np.complex64)
    assert tuple(x.compute().dtype for x in (u, s, v)) == (np.complex64, np.float32, np.complex64)


def test_fft2_takes_any_number_of_axes_as_numpy():
    x = np.random.default_rng(2).standard_normal((4, 6, 5))
    got = sa.fft.fft2(sa.from_array(x, chunks=(4, 6, 5)), axes=(0, 1, 2)).compute()
    np.testing.assert_allclose(got, np.fft.fft2(x, axes=(0, 1, 2)))
