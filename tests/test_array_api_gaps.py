"""reduction, apply_gufunc, extra ufuncs and small routines: equal to NumPy (chunks as Dask's)."""

import warnings

import numpy as np
import pytest

import shoal.array as da

dask_array = pytest.importorskip("dask.array")
pytestmark = pytest.mark.timeout(60)

rng = np.random.RandomState(0)
X = rng.standard_normal((6, 10))


def sync(x):
    return x.compute(scheduler="sync")


# -- reduction ----------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("split_every", [2, None])
def test_reduction_sum_tree(axis, split_every):
    x = da.from_array(X, chunks=(2, 3))
    r = da.reduction(x, np.sum, np.sum, axis=axis, dtype=float, split_every=split_every)
    d = dask_array.reduction(dask_array.from_array(X, chunks=(2, 3)), np.sum, np.sum, axis=axis,
                             dtype=float, split_every=split_every)
    assert r.chunks == d.chunks
    np.testing.assert_allclose(sync(r), X.sum(axis=axis))


def _keep_last(parts, axis, keepdims):
    # concatenate=False: nested lists, one level per reduced axis, in block order
    joined = np.concatenate(parts, axis=axis[0]) if isinstance(parts, list) else parts
    return joined[:, -1:] if keepdims else joined[:, -1]


def test_reduction_nested_lists_keep_block_order():
    x = da.from_array(X, chunks=(2, 3))
    r = da.reduction(x, lambda b, axis, keepdims: b[:, -1:], _keep_last, axis=1, dtype=float,
                     split_every=2, concatenate=False)
    np.testing.assert_array_equal(sync(r), X[:, -1])


def test_reduction_weights_reach_chunk_positionally():
    # Dask: chunk(x_chunk, weights_chunk, axis=, keepdims=), any parameter name
    x = da.from_array(X, chunks=(2, 3))
    chunk = lambda b, w, axis, keepdims: (b * w).sum(axis=axis, keepdims=keepdims)
    r = da.reduction(x, chunk, np.sum, axis=1, dtype=float, weights=np.arange(10.0))
    np.testing.assert_allclose(sync(r), (X * np.arange(10.0)).sum(axis=1))


def test_reduction_weights_output_size_and_dtype():
    x = da.from_array(X, chunks=(2, 3))
    w = np.arange(10.0)
    r = da.reduction(x, lambda b, weights, axis, keepdims: (b * weights).sum(axis, keepdims=True),
                     np.sum, dtype=float, weights=w, keepdims=True)
    assert r.chunks == ((1,), (1,))
    np.testing.assert_allclose(sync(r), [[(X * w).sum()]])
    top2 = lambda b, axis, keepdims: np.sort(b, axis=1)[:, -2:]
    r = da.reduction(x, top2, top2, axis=1, dtype=float, output_size=2, keepdims=True)
    assert r.chunks == ((2, 2, 2), (2,))
    np.testing.assert_array_equal(sync(r), np.sort(X, axis=1)[:, -2:])
    with pytest.raises(ValueError, match="dtype"):
        da.reduction(x, np.sum, np.sum)


# -- apply_gufunc -------------------------------------------------------------------------

def test_apply_gufunc_two_outputs_and_chunks():
    a = rng.standard_normal((6, 4, 4))
    a = a + a.transpose(0, 2, 1)
    w, v = da.apply_gufunc(np.linalg.eigh, "(i,j)->(i),(i,j)", da.from_array(a, chunks=(2, 4, 4)))
    dw, dv = dask_array.apply_gufunc(np.linalg.eigh, "(i,j)->(i),(i,j)",
                                     dask_array.from_array(a, chunks=(2, 4, 4)))
    assert (w.chunks, v.chunks) == (dw.chunks, dv.chunks)
    np.testing.assert_allclose(sync(w), np.linalg.eigh(a)[0])


def test_apply_gufunc_core_dimension_must_be_one_block():
    x = da.from_array(X, chunks=(2, 3))
    with pytest.raises(ValueError, match="core dimension 'i'.*allow_rechunk"):
        da.apply_gufunc(lambda b: b.mean(-1), "(i)->()", x)
    m = da.apply_gufunc(lambda b: b.mean(-1), "(i)->()", x, allow_rechunk=True,
                        output_dtypes=float)
    np.testing.assert_allclose(sync(m), X.mean(-1))


def test_apply_gufunc_axis_keepdims_broadcast():
    x = da.from_array(X, chunks=(6, 5))
    m = da.apply_gufunc(lambda b: b.mean(-1), "(i)->()", x, axis=0, keepdims=True)
    assert m.chunks == ((1,), (5, 5))
    np.testing.assert_allclose(sync(m), X.mean(0, keepdims=True))
    s = da.from_array(np.arange(3.0), chunks=2)[:, None]
    t = da.from_array(np.arange(8.0).reshape(2, 4), chunks=(1, 4))
    o = da.apply_gufunc(lambda p, q: p[..., None] * q, "(),(j)->(j)", s, t)
    np.testing.assert_array_equal(sync(o), np.arange(3.0)[:, None, None] * np.arange(8.0).reshape(2, 4))


def test_as_gufunc_vectorize_output_sizes():
    @da.as_gufunc("()->(k)", output_sizes={"k": 2}, vectorize=True, output_dtypes=float)
    def pair(v):
        return np.array([v, 2 * v])

    assert isinstance(pair, da.gufunc)
    r = pair(da.from_array(np.arange(5.0), chunks=2))
    assert r.chunks == ((2, 2, 1), (2,))
    np.testing.assert_array_equal(sync(r), np.stack([np.arange(5.0), 2 * np.arange(5.0)], -1))


# -- ufuncs -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["frexp", "modf", "divmod"])
def test_two_output_ufuncs(name):
    args = (X,) if name != "divmod" else (X, 0.7)
    got = getattr(da, name)(da.from_array(X, chunks=(2, 5)), *args[1:])
    for g, w in zip(got, getattr(np, name)(*args)):
        np.testing.assert_array_equal(sync(g), w)


@pytest.mark.parametrize("name, args", [
    ("copysign", (X, -1.0)), ("ldexp", (X, 3)), ("i0", (X,)), ("sinc", (X,)), ("spacing", (X,)),
    ("nextafter", (X, 0.0)), ("logaddexp2", (X, X)), ("positive", (X,)),
    ("left_shift", (np.arange(60).reshape(6, 10), 2)),
    ("right_shift", (np.arange(60).reshape(6, 10), 1))])
def test_elementwise_additions(name, args):
    lazy = [da.from_array(a, chunks=(2, 5)) if isinstance(a, np.ndarray) else a for a in args]
    got = getattr(da, name)(*lazy)
    assert isinstance(got, da.Array)
    np.testing.assert_array_equal(sync(got), getattr(np, name)(*args))


def test_ufunc_wrapper_and_frompyfunc():
    hyp = da.ufunc(np.hypot)
    assert hyp.nin == 2 and hyp(3.0, 4.0) == 5.0
    x = da.from_array(X, chunks=3)
    np.testing.assert_allclose(sync(hyp(x, x)), np.hypot(X, X))
    np.testing.assert_allclose(sync(da.ufunc(np.add).outer(x[0], x[1])), np.add.outer(X[0], X[1]))
    f = da.frompyfunc(lambda a: a * 2, 1, 1)
    np.testing.assert_array_equal(sync(f(x)).astype(float), X * 2)
    with pytest.raises(TypeError, match="numpy.ufunc"):
        da.ufunc(len)


def test_ufunc_wrapper_pickles_and_copies():
    import copy
    import pickle

    for f in (da.frexp, da.ufunc(np.hypot)):
        assert pickle.loads(pickle.dumps(f)).nin == f.nin
        assert copy.copy(f).__name__ == f.__name__


def test_numpy_functions_stay_lazy():
    x = da.from_array(X, chunks=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a computed fallback warns
        assert isinstance(np.sinc(x), da.Array)
        assert isinstance(np.vdot(x, x), da.Array)
        c = np.choose(da.from_array(np.array([0, 1, 0]), chunks=2), [np.zeros(3), np.ones(3)])
    np.testing.assert_allclose(sync(np.vdot(x, x)), np.vdot(X, X))
    np.testing.assert_array_equal(sync(c), [0, 1, 0])


# -- small routines -----------------------------------------------------------------------

def test_isnull_shape_ndim_result_type():
    a = np.array([1.0, np.nan, 3.0])
    x = da.from_array(a, chunks=2)
    np.testing.assert_array_equal(sync(da.isnull(x)), [False, True, False])
    np.testing.assert_array_equal(sync(da.notnull(x)), [True, False, True])
    assert da.shape(x) == (3,) and da.ndim(x) == 1 and da.shape([[1, 2]]) == (1, 2)
    assert da.result_type(x, np.int8) == np.float64


def test_unify_chunks_pairs():
    x = da.from_array(X, chunks=(2, 5))
    y = da.from_array(X.T, chunks=(3, 4))
    chunkss, (x2, y2) = da.unify_chunks(x, "ij", y, "jk")
    dchunks, _ = dask_array.unify_chunks(dask_array.from_array(X, chunks=(2, 5)), "ij",
                                         dask_array.from_array(X.T, chunks=(3, 4)), "jk")
    assert chunkss == dchunks
    assert x2.chunks[1] == y2.chunks[0] == chunkss["j"]


@pytest.mark.parametrize("k", [-1, 0, 2])
def test_tri_and_triangle_indices(k):
    assert da.tri(5, 7, k, chunks=3).chunks == dask_array.tri(5, 7, k, chunks=3).chunks
    np.testing.assert_array_equal(sync(da.tri(5, 7, k, chunks=3)), np.tri(5, 7, k))
    for ours, theirs in ((da.tril_indices(5, k, 6, chunks=2), np.tril_indices(5, k, 6)),
                         (da.triu_indices(5, k, 6, chunks=2), np.triu_indices(5, k, 6)),
                         (da.tril_indices_from(da.ones((4, 5), chunks=2), k),
                          np.tril_indices_from(np.ones((4, 5)), k)),
                         (da.triu_indices_from(da.ones((4, 5), chunks=2), k),
                          np.triu_indices_from(np.ones((4, 5)), k))):
        for g, w in zip(ours, theirs):
            np.testing.assert_array_equal(sync(g), w)
    with pytest.raises(ValueError, match="arr must be 2-d"):
        da.tril_indices_from(da.ones(3))


def test_unravel_and_ravel_multi_index():
    flat = np.array([0, 5, 17, 29])
    got = da.unravel_index(da.from_array(flat, chunks=2), (5, 6))
    assert len(got) == 2 and got[0].chunks == ((2, 2),)
    for g, w in zip(got, np.unravel_index(flat, (5, 6))):
        np.testing.assert_array_equal(sync(g), w)
    back = da.ravel_multi_index(got, (5, 6))
    np.testing.assert_array_equal(sync(back), flat)


def test_ravel_multi_index_broadcasts_its_index_arrays():
    rows = np.array([0, 2, 4, 1])
    got = da.ravel_multi_index([da.from_array(rows, chunks=3), 1], (5, 6))
    np.testing.assert_array_equal(sync(got), np.ravel_multi_index([rows, 1], (5, 6)))


def test_compress_extract_choose():
    x = da.from_array(X, chunks=(2, 3))
    cond = [True, False, True]
    np.testing.assert_array_equal(sync(da.compress(cond, x, axis=1)), np.compress(cond, X, axis=1))
    np.testing.assert_array_equal(sync(da.compress(cond, x)), np.compress(cond, X))
    np.testing.assert_array_equal(sync(da.extract(x > 0, x)), np.extract(X > 0, X))
    with pytest.raises(ValueError, match="condition must be 1-d"):
        da.compress(np.ones((2, 2), bool), x)
    idx = (X > 0).astype(int)
    np.testing.assert_array_equal(sync(da.choose(da.from_array(idx, chunks=3), [X, -X])),
                                  np.choose(idx, [X, -X]))
    np.testing.assert_array_equal(sync(da.from_array(idx, chunks=3).choose([X, -X])),
                                  np.choose(idx, [X, -X]))


def test_apply_over_axes_asanyarray():
    x = da.asanyarray(X)
    assert isinstance(x, da.Array)
    got = da.apply_over_axes(da.sum, da.from_array(X, chunks=3), (0, 1))
    np.testing.assert_allclose(sync(got), np.apply_over_axes(np.sum, X, (0, 1)))


def test_view_A_to_svg():
    x = da.from_array(X, chunks=(2, 5))
    v = x.view("int32")
    assert v.chunks == dask_array.from_array(X, chunks=(2, 5)).view("int32").chunks
    np.testing.assert_array_equal(sync(v), X.view("int32"))
    np.testing.assert_array_equal(sync(x.view("int64")), X.view("int64"))
    with pytest.raises(ValueError, match="do not divide"):
        da.from_array(np.ones(6, "int8"), chunks=3).view("int16")
    # blocks whose last axis is not contiguous (a transpose, a step): copied first
    np.testing.assert_array_equal(sync(x.T.view("int32")), X.T.copy().view("int32"))
    np.testing.assert_array_equal(sync(x[:, ::2].view("int32")), X[:, ::2].copy().view("int32"))
    np.testing.assert_array_equal(sync(x.view("int32", order="F")),
                                  np.ascontiguousarray(X.T).view("int32").T)
    assert x.A is x
    svg = x.to_svg(size=200)
    assert svg.startswith("<svg") and "viewBox" in svg and "</svg>" in svg
