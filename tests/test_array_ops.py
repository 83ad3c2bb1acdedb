"""shoal.array element-wise operations and reductions, compared with NumPy."""

import operator

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import shoal.array as da

CHUNKINGS = [(4, 5), ((3, 3, 3, 4), (17,)), (13, 1), ((1, 12), (16, 1))]
DTYPES = [np.float64, np.int64, bool, np.float32, np.int8]


def make(dtype, shape=(13, 17), seed=0):
    rng = np.random.default_rng(seed)
    if dtype is bool:
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind == "f":
        return (rng.standard_normal(shape) * 10).astype(dtype)
    return rng.integers(-20 if np.dtype(dtype).kind == "i" else 0, 20, shape).astype(dtype)


# -- element-wise ---------------------------------------------------------------------

BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
          operator.mod, operator.pow, operator.lt, operator.le, operator.eq, operator.ne,
          operator.gt, operator.ge]


@pytest.mark.parametrize("op", BINARY, ids=lambda o: o.__name__)
@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_binary_operators(op, dtype):
    a, b = make(dtype), make(dtype, seed=1)
    if op is operator.pow:
        a, b = np.abs(a), np.abs(b) % 3
    if op in (operator.truediv, operator.floordiv, operator.mod):
        b = np.where(b == 0, 3, b).astype(dtype)
    x, y = da.from_array(a, chunks=(4, 5)), da.from_array(b, chunks=(6, 3))  # unequal chunks
    with np.errstate(all="ignore"):
        expected = op(a, b)
        for got in (op(x, y), op(x, b), op(a, y), op(x, 2), op(3, y)):
            assert isinstance(got, da.Array)
        assert_allclose(op(x, y).compute(), expected)
        assert op(x, y).dtype == expected.dtype
        assert_allclose(op(x, b).compute(), expected)
        assert_allclose(op(a, y).compute(), expected)
        assert_allclose(op(x, 2).compute(), op(a, 2))
        assert_allclose(op(3, y).compute(), op(3, b))


@pytest.mark.parametrize("dtype", [np.int64, bool, np.uint8])
def test_bitwise_and_unary(dtype):
    a, b = make(dtype), make(dtype, seed=3)
    x, y = da.from_array(a, chunks=5), da.from_array(b, chunks=4)
    for op in (operator.and_, operator.or_, operator.xor):
        assert_array_equal(op(x, y).compute(), op(a, b))
    assert_array_equal((~x).compute(), ~a)
    if dtype is not bool:
        assert_array_equal((-x).compute(), -a)
        assert_array_equal(abs(x).compute(), abs(a))
        assert_array_equal((x << 1).compute(), a << 1)
        assert_array_equal((+x).compute(), +a)


def test_scalar_promotion_follows_numpy():
    a = np.arange(10, dtype=np.int8)
    x = da.from_array(a, chunks=3)
    assert (x + 1).dtype == (a + 1).dtype == np.int8
    assert (x + 1.5).dtype == (a + 1.5).dtype
    assert (x.astype(np.float32) * 2.0).dtype == np.float32
    with pytest.raises(OverflowError):
        x + 1000  # NumPy 2 refuses an out-of-range Python int for int8


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("ufunc", [np.sin, np.exp, np.sqrt, np.isnan, np.negative, np.floor])
def test_unary_ufuncs_return_arrays(chunks, ufunc):
    a = np.abs(make(np.float64))
    x = da.from_array(a, chunks=chunks)
    out = ufunc(x)
    assert isinstance(out, da.Array) and out.dtype == ufunc(a).dtype
    assert_allclose(out.compute(), ufunc(a))
    assert_allclose(getattr(da, ufunc.__name__)(x).compute(), ufunc(a))


def test_binary_ufuncs_and_namespace():
    a, b = make(np.float64), make(np.float64, seed=2)
    x, y = da.from_array(a, chunks=4), da.from_array(b, chunks=(5, 6))
    for uf in (np.maximum, np.minimum, np.arctan2, np.hypot, np.logaddexp):
        got = uf(x, y)
        assert isinstance(got, da.Array)
        assert_allclose(got.compute(), uf(a, b))
    assert_allclose(np.add(x, y, dtype=np.float32).compute(), np.add(a, b, dtype=np.float32))
    assert np.add(x, y, dtype=np.float32).dtype == np.float32
    assert_allclose(da.maximum(x, 0).compute(), np.maximum(a, 0))
    assert isinstance(da.sin(1.0), float)  # plain values stay eager
    assert_allclose(np.add.reduce(x, axis=1).compute(), np.add.reduce(a, axis=1))
    with pytest.raises(TypeError):
        np.add(x, y, out=np.empty_like(a))


@pytest.mark.parametrize("left, right", [
    ((13, 17), (17,)), ((13, 1), (1, 17)), ((13, 17), (13, 1)), ((3, 1, 17), (13, 17)),
    ((1,), (13, 17)), ((), (13, 17)),
])
def test_broadcasting(left, right):
    a, b = make(np.float64, left), make(np.float64, right, seed=5)
    x = da.from_array(a, chunks=4)
    y = da.from_array(b, chunks=5)
    expected = a + b
    got = x + y
    assert got.shape == expected.shape
    assert_allclose(got.compute(), expected)
    assert_allclose((x + b).compute(), expected)
    assert_allclose((a + y).compute(), expected)


def test_broadcast_error_names_both_shapes():
    x = da.ones((13, 17), chunks=4)
    y = da.ones((13, 16), chunks=4)
    with pytest.raises(ValueError, match=r"\(13, 17\).*\(13, 16\)"):
        x + y
    with pytest.raises(ValueError, match=r"\(13, 17\).*\(4,\)"):
        x * np.ones(4)


def test_where_and_astype():
    a = make(np.float64)
    x = da.from_array(a, chunks=(4, 5))
    assert_allclose(da.where(x > 0, x, 0).compute(), np.where(a > 0, a, 0))
    assert_allclose(da.where(a > 0, x, -x).compute(), np.where(a > 0, a, -a))
    assert_allclose(np.where(x > 0, 1.0, x[0]).compute(), np.where(a > 0, 1.0, a[0]))
    with pytest.raises(NotImplementedError):
        da.where(x > 0)
    for dt in (np.int32, bool, np.float32, np.complex64):
        y = x.astype(dt)
        assert y.dtype == dt
        assert_array_equal(y.compute(), a.astype(dt))
    assert x.astype(np.float64) is x
    with pytest.raises(TypeError, match="cast"):
        x.astype(np.int32, casting="safe")


def test_elementwise_chains_fuse_per_block():
    from shoal.core.graph import dependents_of
    from shoal.core.optimize import fuse

    x = da.ones((100, 100), chunks=10)
    y = np.sin(x) * 2 + 1
    graph = y.__shoal_graph__()
    fused, _ = fuse(graph, dependents_of(graph), keep=[k for k in graph if k[0] == y.name])
    # each block: ones -> sin -> mul -> add is one fused task
    assert len(graph) == 400 and len(fused) == 100
    assert_allclose(y.compute(), np.sin(np.ones((100, 100))) * 2 + 1)


def test_reduction_folds_its_elementwise_input():
    from shoal.array.slabs import reduce_slabs
    from shoal.core.graph import dependents_of
    from shoal.core.optimize import fuse

    x = da.ones((100, 100), chunks=10)
    y = (np.sin(x) * 2 + 1).sum()
    graph = y.__shoal_graph__()
    # the chain sin -> mul -> add runs inside the sum's chunk tasks: no layer of its own
    assert {k[0].split("-")[0] for k in graph} == {"ones", "sum"}
    chunks = [n for k, n in graph.items() if k[0].startswith("sum-chunk")]
    assert len(chunks) == 100 and all(n.func is reduce_slabs for n in chunks)
    assert all(n.dependencies == {("ones-" + x.name.split("-", 1)[1], *n.key[1:])} for n in chunks)
    fused, _ = fuse(graph, dependents_of(graph), keep=[(y.name,)])
    assert len(fused) < len(graph) / 1.8  # each block's ones + chunk is one task
    assert_allclose(y.compute(), (np.sin(np.ones((100, 100))) * 2 + 1).sum())


def test_map_blocks():
    a = make(np.float64)
    x = da.from_array(a, chunks=(4, 5))
    assert_allclose(x.map_blocks(lambda b: b * 2).compute(), a * 2)
    assert_allclose(da.map_blocks(np.add, x, x.T.T, dtype=float).compute(), a + a)
    # block_id, a changed block shape declared via chunks=
    y = x.map_blocks(lambda b, block_id=None: np.full((1, 1), block_id[0] * 10 + block_id[1]),
                     chunks=(1, 1), dtype=int)
    assert y.shape == (4, 4)
    assert_array_equal(y.compute(), np.arange(4)[:, None] * 10 + np.arange(4))
    # drop_axis rechunks the dropped dimension to one block; new_axis adds one
    s = x.map_blocks(lambda b: b.sum(axis=1), drop_axis=1, dtype=float)
    assert s.shape == (13,)
    assert_allclose(s.compute(), a.sum(axis=1))
    n = x.map_blocks(lambda b: b[None], new_axis=0)
    assert n.shape == (1, 13, 17)
    assert_allclose(n.compute(), a[None])
    assert x.map_blocks(np.sqrt).dtype == np.float64
    assert x.map_blocks(lambda b: b.astype(np.int16)).dtype == np.int16  # inferred
    assert x.map_blocks(lambda b: b, token="ident").name.startswith("ident-")
    with pytest.raises(ValueError, match="blocks"):
        da.map_blocks(np.add, x, da.from_array(a, chunks=(5, 5)))


# -- reductions ---------------------------------------------------------------------

AXES = [None, 0, 1, (0, 1), (1, 0), -1]
REDUCTIONS = ["sum", "prod", "min", "max", "mean", "var", "std", "any", "all"]


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_reductions_match_numpy(chunks, dtype):
    a = make(dtype)
    if np.dtype(dtype).kind in "iu" and dtype is not bool:
        a = (a % 3).astype(dtype)  # keep prod in range
    elif np.dtype(dtype).kind == "f":
        a = (a / 40 + 1).astype(dtype)
    x = da.from_array(a, chunks=chunks)
    for name in REDUCTIONS:
        for axis in AXES:
            for keepdims in (False, True):
                expected = getattr(a, name)(axis=axis, keepdims=keepdims)
                got = getattr(x, name)(axis=axis, keepdims=keepdims, split_every=2)
                assert got.shape == np.shape(expected), (name, axis)
                assert got.dtype == np.asarray(expected).dtype, (name, axis, got.dtype)
                rtol = 1e-4 if np.dtype(dtype) == np.float32 or name == "prod" else 1e-7
                assert_allclose(got.compute(), expected, rtol=rtol, err_msg=f"{name} {axis}")


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("dtype", [np.float64, np.int64, bool])
def test_arg_reductions(chunks, dtype):
    a = make(dtype)
    if dtype is not bool:
        a = a // 4  # many ties: the first occurrence must win
    x = da.from_array(a, chunks=chunks)
    for name in ("argmin", "argmax"):
        for axis in (None, 0, 1, -1):
            for keepdims in (False, True):
                expected = getattr(a, name)(axis=axis, keepdims=keepdims)
                got = getattr(x, name)(axis=axis, keepdims=keepdims, split_every=2)
                assert got.dtype == expected.dtype
                assert_array_equal(got.compute(), expected, err_msg=f"{name} {axis}")


def test_nan_handling_matches_numpy():
    a = make(np.float64)
    a[3, 4] = a[10, 1] = np.nan
    x = da.from_array(a, chunks=(4, 5))
    for name in ("sum", "min", "max", "mean", "argmin", "argmax"):
        for axis in (None, 0, 1):
            assert_allclose(getattr(x, name)(axis=axis).compute(), getattr(a, name)(axis=axis))


def test_reduction_options():
    a = make(np.int64) % 5
    x = da.from_array(a, chunks=(2, 3))
    assert x.sum(dtype=np.int8).dtype == np.int8
    assert_array_equal(x.sum(axis=0, dtype=np.float32).compute(), a.sum(axis=0, dtype=np.float32))
    assert_allclose(x.var(ddof=1, axis=0).compute(), a.var(ddof=1, axis=0))
    assert_allclose(x.std(ddof=2).compute(), a.std(ddof=2))
    assert_allclose(x.mean(dtype=np.float32).compute(), a.mean(dtype=np.float32), rtol=1e-6)
    assert_allclose(da.sum(a, axis=1).compute(), a.sum(axis=1))
    assert_allclose(np.mean(x, axis=0).compute(), a.mean(axis=0))  # __array_function__
    assert isinstance(np.sum(x), da.Array)
    for split in (2, 3, 100, {0: 2, 1: 4}):
        assert_array_equal(x.sum(split_every=split).compute(), a.sum())
    with pytest.raises(ValueError, match="split_every"):
        x.sum(split_every=1)
    with pytest.raises(np.exceptions.AxisError):
        x.sum(axis=2)
    with pytest.raises(ValueError, match="duplicate"):
        x.sum(axis=(0, 0))
    with pytest.raises(TypeError):
        x.argmin(axis=(0, 1))


def test_tree_bounds_fan_in():
    x = da.ones((64, 64), chunks=2)  # 32 x 32 blocks
    y = x.sum(split_every=4)
    fan_in = max(len(node.dependencies) for node in y.__shoal_graph__().values())
    assert fan_in <= 4
    assert y.compute() == 64 * 64
    assert max(len(n.dependencies) for n in x.mean(axis=0, split_every=3).__shoal_graph__().values()) <= 3


def test_variance_is_accurate_far_from_zero():
    a = np.random.default_rng(3).random(10_000) + 1e9
    x = da.from_array(a, chunks=333)
    assert_allclose(x.var().compute(), a.var(), rtol=1e-6)
    assert_allclose(x.std(split_every=2).compute(), a.std(), rtol=1e-6)


def test_3d_reductions_over_tuples_of_axes():
    a = make(np.float64, (6, 7, 8))
    x = da.from_array(a, chunks=(2, 3, 5))
    for axis in [(0, 2), (1, 2), (0, 1), (0, 1, 2), 1]:
        for name in ("sum", "mean", "var", "max"):
            assert_allclose(getattr(x, name)(axis=axis).compute(), getattr(a, name)(axis=axis),
                            err_msg=f"{name} {axis}")
    assert_array_equal(x.argmax(axis=1).compute(), a.argmax(axis=1))
    assert_array_equal(x.argmin().compute(), a.argmin())


# -- reductions of element-wise expressions, slab by slab (slabs.py) ------------------

SLAB_CASES = {
    "x + x.T": lambda x, v, c: x + x.T,
    "(x - mean) ** 2": lambda x, v, c: (x - x.mean()) ** 2,
    "x * row + col": lambda x, v, c: x * v + c,
    "where(x > 1, x, -1)": lambda x, v, c: da.where(x > 1, x, -1),
    "sin(x) > 0.9": lambda x, v, c: np.sin(x) > 0.9,
    "maximum(x, 1.0)": lambda x, v, c: np.maximum(x, 1.0),
}


@pytest.mark.parametrize("expr", SLAB_CASES, ids=list(SLAB_CASES))
@pytest.mark.parametrize("slab_bytes", [8, 200, 1 << 20])
def test_reductions_of_expressions_match_numpy(expr, slab_bytes, monkeypatch):
    from shoal.array import slabs

    monkeypatch.setattr(slabs, "SLAB_BYTES", slab_bytes)  # tiny slabs: many per block
    a = make(np.float64, (16, 16)) / 40 + 1  # keeps prod in range
    row, col = make(np.float64, (16,), seed=4) / 40, make(np.float64, (16, 1), seed=5) / 40
    x = da.from_array(a, chunks=(8, 6))
    v, c = da.from_array(row, chunks=6), col  # a blocked row, a NumPy column
    want = SLAB_CASES[expr](a, row, col)
    got = SLAB_CASES[expr](x, v, c)
    for name in REDUCTIONS:
        for axis in (None, 0, 1, (0, 1)):
            expected = getattr(want, name)(axis=axis)
            result = getattr(got, name)(axis=axis, split_every=2)
            assert result.dtype == np.asarray(expected).dtype, (name, axis)
            assert_allclose(result.compute(), expected, rtol=1e-9, atol=1e-12,
                            err_msg=f"{expr} {name} axis={axis}")
    assert_array_equal(got.argmax(axis=0).compute(), want.argmax(axis=0))  # not folded: still right


def test_reduction_of_expression_in_3d_and_float32(monkeypatch):
    from shoal.array import slabs

    monkeypatch.setattr(slabs, "SLAB_BYTES", 16)
    a = make(np.float32, (6, 7, 8))
    x = da.from_array(a, chunks=(3, 4, 5))
    for axis in [(0, 2), (1, 2), 1, 2, None]:
        for name in ("sum", "mean", "std", "min"):
            assert_allclose(getattr(x * 2 - 1, name)(axis=axis).compute(),
                            getattr(a * 2 - 1, name)(axis=axis), rtol=1e-5, err_msg=f"{name} {axis}")


def test_reduction_of_expression_holds_no_temporary_block():
    import tracemalloc

    x = da.random.random((2000, 2000), chunks=(1000, 1000), seed=1)  # 8 MB blocks
    y = (x + x.T).sum(axis=0)
    expected = x.compute()
    expected = (expected + expected.T).sum(axis=0)
    tracemalloc.start()
    try:
        result = y.compute(scheduler="sync")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_allclose(result, expected)
    # the two input blocks (16 MB) and 1 MB slabs; a whole x + x.T block would add 8 MB
    assert peak < 20e6, peak


def test_shared_elementwise_input_is_kept_for_its_other_users():
    a = make(np.float64, (12, 12))
    x = da.from_array(a, chunks=5)
    d = x - 1
    both = da.stack([d.sum(axis=0), d[0]])  # d's first row is still needed as a block
    assert {k[0].split("-")[0] for k in both.__shoal_graph__()} >= {"subtract", "sum"}
    assert_allclose(both.compute(), np.stack([(a - 1).sum(axis=0), (a - 1)[0]]))


# --- reductions a hunt found silently wrong or failing ----------------------------------


@pytest.mark.parametrize("chunks", [1, 2, 4])
def test_object_reductions_keep_their_values_and_dtype(chunks):
    """An object array's reduction read its dtype from a Python int (int64): every partial
    and the result were cast, 1.5 + 2.5 + 3 + 4 gave 10, Fractions gave 0."""
    from fractions import Fraction

    for values in ([1.5, 2.5, 3, 4], [Fraction(1, 3), Fraction(1, 2)]):
        x = np.array(values, dtype=object)
        a = da.from_array(x, chunks=chunks)
        for name in ("sum", "prod", "min", "max"):
            got = getattr(a, name)()
            assert got.dtype == object and got.compute() == getattr(x, name)(), (name, values)


@pytest.mark.parametrize("chunks", [1, 2, 4])
def test_nat_is_the_arg_extreme_whatever_the_chunks(chunks):
    x = np.array(["2020-01-01", "NaT", "2019-01-01", "2021-01-01"], dtype="M8[D]")
    for values in (x, x - x[0]):  # datetimes, then timedeltas
        a = da.from_array(values, chunks=chunks)
        assert a.argmin().compute() == values.argmin() == 1
        assert a.argmax().compute() == values.argmax() == 1


def test_timedelta_sums_and_float16_sums_in_float64_partials():
    t = np.array([1, 2, 3], dtype="m8[s]")
    assert da.from_array(t, chunks=2).sum().compute() == t.sum()  # (it raised)
    h = np.random.default_rng(0).random(100_000).astype(np.float16)
    got = da.from_array(h, chunks=1000).sum()
    assert got.dtype == np.float16
    assert got.compute() == np.float16(h.astype(np.float64).sum())


def test_zero_length_chunks_take_no_part_in_extremes():
    x = np.array([3.0, 1.0, 2.0])
    a = da.from_array(x, chunks=((2, 0, 1),))
    assert (a.min().compute(), a.max().compute()) == (1.0, 3.0)
    assert (a.argmin().compute(), a.argmax().compute()) == (1, 0)
    with pytest.raises(ValueError, match="zero-size array"):
        da.from_array(np.zeros(0), chunks=1).min()


@pytest.mark.parametrize("chunks", [1, 3, 7, 100])
def test_arange_with_a_float_step_in_integers_is_numpys_whatever_the_chunks(chunks):
    for args, dtype in (((0, 10, 1.5), np.int64), ((0.5, 7, 0.7), np.int32), ((3, 50, 4), None)):
        assert_array_equal(da.arange(*args, dtype=dtype, chunks=chunks).compute(),
                           np.arange(*args, dtype=dtype))
    with pytest.raises(OverflowError):  # (a start the dtype cannot hold, as NumPy says)
        da.arange(-1, 5, dtype=np.uint8, chunks=chunks).compute()
    assert_array_equal(da.arange(0, 200, dtype=np.int8, chunks=chunks).compute(),
                       np.arange(0, 200, dtype=np.int8))  # (it wraps as NumPy's does)


def test_numpy_reductions_read_their_arguments_as_numpy_does():
    """``np.min(x, 0, None, True)`` reached shoal's own order (split_every third): "split_every
    must be at least 2, got True"; ``initial=``/``where=`` were unexpected keywords."""
    x = np.arange(12.0).reshape(3, 4)
    a = da.from_array(x, chunks=2)
    assert_array_equal(np.min(a, 0, None, True).compute(), np.min(x, 0, None, True))
    assert_allclose(np.sum(a, 0, None, None, True).compute(), np.sum(x, 0, None, None, True))
    assert_allclose(np.var(a, 0, None, None, 1).compute(), np.var(x, 0, None, None, 1))
    assert_array_equal(np.argmax(a, axis=1).compute(), np.argmax(x, axis=1))
    with pytest.raises(NotImplementedError, match=r"numpy\.max of a shoal array: initial="):
        np.max(a, initial=3)
    with pytest.raises(NotImplementedError, match=r"numpy\.sum of a shoal array: where="):
        np.sum(a, where=x > 2)


# -- NaN-skipping reductions, running sums, ufuncs of two outputs ---------------------

NANS = ["nansum", "nanprod", "nanmin", "nanmax", "nanmean", "nanvar", "nanstd"]


@pytest.mark.parametrize("how", NANS)
@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_nan_reductions_match_numpy(how, chunks):
    a = make(np.float64) / 10
    a[np.random.default_rng(3).random(a.shape) < 0.3] = np.nan
    a[2, :] = np.nan  # a slice of nothing but NaN
    x = da.from_array(a, chunks=chunks)
    for axis in (None, 0, 1, (0, 1)):
        with np.errstate(all="ignore"), _quiet():
            expected = getattr(np, how)(a, axis=axis)
            got = getattr(da, how)(x, axis=axis, split_every=2)
            through_numpy = getattr(np, how)(x, axis=axis)
        assert got.dtype == expected.dtype
        assert_allclose(got.compute(), expected, rtol=1e-10, equal_nan=True)
        assert_allclose(through_numpy.compute(), expected, rtol=1e-10, equal_nan=True)
    if how in ("nanvar", "nanstd"):
        assert_allclose(getattr(da, how)(x, axis=0, ddof=1).compute(),
                        _quietly(getattr(np, how), a, axis=0, ddof=1), equal_nan=True)


def _quiet():
    import warnings

    class Quiet:
        def __enter__(self):
            self.ctx = warnings.catch_warnings()
            self.ctx.__enter__()
            warnings.simplefilter("ignore", RuntimeWarning)

        def __exit__(self, *exc):
            return self.ctx.__exit__(*exc)

    return Quiet()


def _quietly(func, *args, **kwargs):
    with _quiet():
        return func(*args, **kwargs)


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("dtype", [np.int64, np.float64, bool])
def test_cumsum_and_cumprod_along_every_axis(chunks, dtype):
    a = make(dtype)
    if dtype is np.float64:
        a = a / 50
    x = da.from_array(a, chunks=chunks)
    for axis in (None, 0, 1, -1):
        assert_allclose(x.cumsum(axis).compute(), np.cumsum(a, axis), rtol=1e-12, atol=1e-12)
        assert_allclose(np.cumprod(x, axis).compute(), np.cumprod(a, axis), rtol=1e-9)
        assert x.cumsum(axis).dtype == np.cumsum(a, axis).dtype
    assert_allclose(da.cumsum(x, 1, dtype=np.float32).compute(), np.cumsum(a, 1, dtype=np.float32),
                    rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        x.cumsum(2)


def test_ufuncs_of_two_outputs_give_two_arrays():
    a = make(np.float64)
    x = da.from_array(a, chunks=(4, 5))
    mantissa, exponent = np.frexp(x)  # (it was one array of both, stacked)
    assert mantissa.shape == exponent.shape == a.shape
    assert_array_equal(mantissa.compute(), np.frexp(a)[0])
    assert_array_equal(exponent.compute(), np.frexp(a)[1])
    fraction, whole = np.modf(x)
    assert_array_equal(whole.compute(), np.modf(a)[1])
    i = da.from_array(make(np.int64), chunks=(4, 5))
    q, r = divmod(i, 7)
    assert_array_equal(q.compute(), make(np.int64) // 7)
    assert_array_equal(r.compute(), make(np.int64) % 7)


def test_clip_in_numpy_spellings_and_with_array_bounds():
    a = make(np.int64)
    x = da.from_array(a, chunks=(4, 5))
    assert x.clip(0.5, 3.5).dtype == np.clip(a, 0.5, 3.5).dtype == x.clip(0.5, 3.5).compute().dtype
    low = np.linspace(-5, 0, 17)
    assert_array_equal(x.clip(low, 3).compute(), np.clip(a, low, 3))
    assert_array_equal(np.clip(x, a_min=0, a_max=3).compute(), np.clip(a, 0, 3))
    assert_array_equal(np.clip(x, min=-2, max=2).compute(), np.clip(a, -2, 2))
    assert np.size(x, 0) == 13 and np.size(x) == a.size


def test_object_arrays_infer_object_results():
    x = da.from_array(np.array(["a", "bb", "c"], dtype=object), chunks=2)
    got = (x + "x").compute()
    assert got.dtype == object and got.tolist() == ["ax", "bbx", "cx"]


def test_masked_assignment_and_what_is_refused():
    a = make(np.int64)
    x = da.from_array(a, chunks=(4, 5))
    x[x > 5] = 0  # lazy, as where(mask, 0, x)
    assert_array_equal(x.compute(), np.where(a > 5, 0, a))
    assert x.dtype == a.dtype
    x[0] = 1  # (slice assignment: lazy too)
    assert_array_equal(x.compute()[0], np.ones(a.shape[1], dtype=a.dtype))
    with pytest.raises(TypeError, match="only integer scalar arrays"):
        [1, 2, 3][x]  # (it computed the whole array first)


def test_map_blocks_gives_block_info_and_takes_meta():
    a = make(np.float64)
    x = da.from_array(a, chunks=(4, 5))

    def where_am_i(block, block_info=None):
        (r0, _), (c0, _) = block_info[0]["array-location"]
        assert block_info[None]["shape"] == a.shape and block_info[0]["num-chunks"] == (4, 4)
        return np.full(block.shape, r0 * 100 + c0)

    got = x.map_blocks(where_am_i).compute()
    assert got[0, 0] == 0 and got[4, 5] == 405 and got[12, 16] == 1215
    assert x.map_blocks(lambda b: b * 2, meta=np.array((), dtype=np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="enforce_ndim"):
        x.map_blocks(lambda b: b.sum(), enforce_ndim=True).compute()


def test_what_nan_extremes_and_masked_assignment_refuse_as_numpy_does():
    empty = da.from_array(np.zeros((0, 3)), chunks=2)
    for how in ("nanmin", "nanmax"):
        with pytest.raises(ValueError, match="zero-size array"):
            getattr(da, how)(empty, axis=0)
    x = da.from_array(np.arange(4), chunks=2)
    with pytest.raises(ValueError, match="NaN"):
        x[x > 1] = np.nan  # (it wrote INT64_MIN)
    x[x > 1] = 1.5  # cut to 1, as NumPy casts
    assert_array_equal(x.compute(), [0, 1, 1, 1])


def test_histogram_sums_the_blocks_counts():
    a = np.random.default_rng(0).normal(size=(300, 200))
    x = da.from_array(a, chunks=(70, 90))
    counts, edges = da.histogram(x, bins=20, range=(-3, 3))
    expected, expected_edges = np.histogram(a, bins=20, range=(-3, 3))
    assert counts.shape == (20,)
    assert_array_equal(counts.compute(), expected)
    assert_array_equal(edges, expected_edges)
    counts, _ = np.histogram(x, bins=[-1, 0, 0.5, 2])  # (NumPy's spelling, still lazy)
    assert_array_equal(counts.compute(), np.histogram(a, bins=[-1, 0, 0.5, 2])[0])
    with pytest.raises(ValueError, match="range="):
        da.histogram(x, bins=10)


def test_histogram_edges_as_numpy_gives_them_and_bad_bins():
    x = da.from_array(np.arange(20), chunks=7)
    counts, edges = da.histogram(x, bins=[0, 5, 10, 20])
    assert edges.dtype == np.histogram(np.arange(20), bins=[0, 5, 10, 20])[1].dtype
    assert_array_equal(counts.compute(), [5, 5, 10])
    with pytest.raises(ValueError, match="increase monotonically"):
        da.histogram(x, bins=[0, 10, 5])
    with pytest.raises(TypeError):
        da.histogram(x, bins=2.5, range=(0, 20))


@pytest.mark.parametrize("call", [
    lambda m, x: m.median(x, axis=0), lambda m, x: m.flip(x, axis=1), lambda m, x: m.tril(x, -1),
    lambda m, x: m.diff(x, axis=0), lambda m, x: m.pad(x, 1, mode="reflect"),
    lambda m, x: m.roll(x, 2), lambda m, x: m.take(x, [0, 5, 7]),
    lambda m, x: m.take(x, [0, 2], axis=1), lambda m, x: m.isin(x, [1.0, 5.0]),
    lambda m, x: m.quantile(x, 0.3, axis=1), lambda m, x: m.unique(x),
    lambda m, x: m.linalg.norm(x), lambda m, x: m.fft.fft(x[:, :4], axis=1),
    lambda m, x: m.cov(x), lambda m, x: m.trace(x),
])  # fmt: skip
def test_numpy_functions_of_a_shoal_array_build_its_graph(call):
    """``np.median(x)`` of a shoal array is shoal's (lazy, blocked), as ``np.sum(x)`` is: it
    warned and computed the whole array first."""
    import warnings

    a = np.arange(24.0).reshape(4, 6) ** 1.3
    x = da.from_array(a, chunks=(2, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no "computed first" warning)
        lazy = call(np, x)
    assert isinstance(lazy, da.Array)
    assert_allclose(lazy.compute(), call(np, a))
