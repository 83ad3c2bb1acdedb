"""manipulation.py, padding.py, triangles.py, construct.py: equal to NumPy, spelled as Dask.

Every result is checked three ways: the declared shape, dtype and chunks agree with
what each block really is, and the computed array equals NumPy's on the whole data.
Inputs cover uneven, one-element and single-block chunkings, empty arrays, 0-d and
3-d arrays and negative axes.
"""

import numpy as np
import pytest

import shoal
import shoal.array as da

A2 = np.arange(7 * 9, dtype=np.int64).reshape(7, 9) * 3 % 11 - 4
A3 = np.arange(4 * 5 * 6, dtype=np.float64).reshape(4, 5, 6) ** 1.5 % 17
C2 = [(3, 4), ((1, 6), (2, 2, 5)), 1, -1, ((3, 0, 4), (2, 0, 7))]  # (with empty blocks)
C3 = [(3, 2, 4), 1, ((1, 3), (5,), (2, 2, 2))]
EMPTY = [np.zeros((0, 5)), np.zeros((3, 0), dtype=np.int32)]


def check(got, want):
    """*got* is a shoal Array whose blocks are what its chunks say, equal to *want*."""
    want = np.asarray(want)
    assert isinstance(got, da.Array), type(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    blocks = got.to_delayed()
    values = shoal.compute(*blocks.ravel(), scheduler="sync")
    for idx, value in zip(np.ndindex(*blocks.shape), values):
        expected = tuple(c[i] for c, i in zip(got.chunks, idx))
        assert np.shape(value) == expected, (idx, np.shape(value), expected)
        assert np.asarray(value).dtype == want.dtype
    out = got.compute()
    assert np.shape(out) == want.shape and np.asarray(out).dtype == want.dtype
    np.testing.assert_array_equal(out, want)


def arrays2():
    return [(A2, da.from_array(A2, chunks=c)) for c in C2]


def arrays3():
    return [(A3, da.from_array(A3, chunks=c)) for c in C3]


def every():
    """2-d, 3-d, empty and 0-d inputs, each as NumPy and shoal."""
    out = arrays2() + arrays3()
    out += [(e, da.from_array(e, chunks=2)) for e in EMPTY]
    out.append((np.array(5.5), da.from_array(np.array(5.5))))
    return out


# -- the namespace ------------------------------------------------------------------

NAMES = ["array", "broadcast_to", "broadcast_arrays", "expand_dims", "atleast_1d", "atleast_2d",
         "atleast_3d", "hstack", "vstack", "dstack", "block", "flip", "flipud", "fliplr", "roll",
         "rot90", "moveaxis", "swapaxes", "rollaxis", "take", "tile", "repeat", "pad", "tril",
         "triu", "diag", "diagonal", "trace", "outer", "meshgrid", "indices", "fromfunction",
         "empty_like", "squeeze"]


def test_names_exported_and_spelled_as_dask():
    dask_array = pytest.importorskip("dask.array")
    for name in NAMES:
        assert name in da.__all__ and callable(getattr(da, name)), name
        assert hasattr(dask_array, name), name
    for name in ["nan", "inf", "pi", "e", "euler_gamma", "newaxis", "bool", "float32", "float64",
                 "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "complex64", "complex128"]:
        assert name in da.__all__, name
        assert getattr(da, name) is getattr(dask_array, name), name
    assert da.newaxis is None and da.pi == np.pi and da.float64 is np.float64
    assert da.bool is np.bool_


# -- array, empty_like --------------------------------------------------------------

def test_array_copies_numpy_input_as_dask():
    a = np.arange(6)
    x = da.array(a)
    a[0] = 99
    check(x, np.arange(6))
    check(da.array([[1, 2], [3, 4]], dtype="f4"), np.array([[1, 2], [3, 4]], dtype="f4"))
    check(da.array(3, ndmin=2), np.array(3, ndmin=2))
    check(da.array(["1", "2"], dtype=int), np.array(["1", "2"], dtype=int))
    y = da.from_array(A2, chunks=3)
    assert da.array(y) is y
    check(da.array(y, dtype=float, ndmin=3), np.array(A2, dtype=float, ndmin=3))


def test_empty_like():
    x = da.from_array(A2, chunks=((1, 6), (2, 2, 5)))
    e = da.empty_like(x)
    assert e.shape == x.shape and e.dtype == x.dtype and e.chunks == x.chunks
    e = da.empty_like(x, dtype="f4", shape=(3, 4), chunks=2)
    assert (e.shape, e.dtype, e.chunks) == ((3, 4), np.float32, ((2, 1), (2, 2)))
    assert da.empty_like([[1, 2]]).shape == (1, 2)
    assert da.empty_like(np.zeros(0)).shape == (0,)


# -- broadcasting -------------------------------------------------------------------

@pytest.mark.parametrize("a, x", arrays2())
def test_broadcast_to(a, x):
    check(da.broadcast_to(x, (3, 7, 9)), np.broadcast_to(a, (3, 7, 9)))
    check(da.broadcast_to(x[:1], (2, 5, 9)), np.broadcast_to(a[:1], (2, 5, 9)))
    check(da.broadcast_to(x[:, :1], (7, 0)), np.broadcast_to(a[:, :1], (7, 0)))
    got = da.broadcast_to(x[:, 4:5], (4, 7, 9), chunks=(2, 3, 4))
    assert got.chunks == ((2, 2), (3, 3, 1), (4, 4, 1))
    check(got, np.broadcast_to(a[:, 4:5], (4, 7, 9)))
    assert da.broadcast_to(x, x.shape) is x


def test_broadcast_to_0d_errors_and_dask_chunks():
    check(da.broadcast_to(da.from_array(np.array(2.5)), (2, 3)), np.full((2, 3), 2.5))
    check(da.broadcast_to(np.arange(3), 3), np.arange(3))
    x = da.ones((1, 4), chunks=2)
    dask_array = pytest.importorskip("dask.array")
    assert (da.broadcast_to(x, (5, 3, 4)).chunks
            == dask_array.broadcast_to(dask_array.ones((1, 4), chunks=2), (5, 3, 4)).chunks)
    with pytest.raises(ValueError, match="cannot broadcast"):
        da.broadcast_to(x, (3, 5))
    with pytest.raises(ValueError, match="cannot broadcast"):
        da.broadcast_to(x, (4,))
    with pytest.raises(ValueError, match="non-negative"):
        da.broadcast_to(x, (-1, 4))


def test_broadcast_arrays():
    a, b, c = A2[:, :1], A2[0], np.float32(2)
    x = da.from_array(a, chunks=(3, 1))
    y = da.from_array(b, chunks=((4, 5),))
    got = da.broadcast_arrays(x, y, c)
    assert isinstance(got, tuple) and len(got) == 3
    for g, w in zip(got, np.broadcast_arrays(a, b, c)):
        check(g, w)
        assert g.chunks == ((3, 3, 1), (4, 5))
    z = da.from_array(A2, chunks=(2, 3))
    got = da.broadcast_arrays(z, y)
    assert got[0].chunks == got[1].chunks
    check(got[1], np.broadcast_to(b, A2.shape))
    with pytest.raises(ValueError, match="broadcast"):
        da.broadcast_arrays(z, da.ones(4))


# -- adding, moving axes -------------------------------------------------------------

@pytest.mark.parametrize("a, x", every())
def test_expand_dims_and_atleast(a, x):
    for axis in [0, -1, (0, -1), (1, 0)]:
        check(da.expand_dims(x, axis), np.expand_dims(a, axis))
    for f, g in [(da.atleast_1d, np.atleast_1d), (da.atleast_2d, np.atleast_2d),
                 (da.atleast_3d, np.atleast_3d)]:
        check(f(x), g(a))
        got = f(x, a[..., :1] if a.ndim else 3)
        assert isinstance(got, tuple) and len(got) == 2
        for gx, want in zip(got, g(a, a[..., :1] if a.ndim else 3)):
            check(gx, want)


def test_atleast_1d_shapes():
    v = da.from_array(np.arange(4), chunks=3)
    assert da.atleast_2d(v).shape == (1, 4) and da.atleast_3d(v).shape == (1, 4, 1)
    assert da.atleast_3d(da.ones((2, 3), chunks=2)).shape == (2, 3, 1)
    with pytest.raises(np.exceptions.AxisError):
        da.expand_dims(v, 3)
    with pytest.raises(ValueError, match="repeated"):
        da.expand_dims(v, (0, 0))


@pytest.mark.parametrize("a, x", arrays3())
def test_moveaxis_swapaxes_rollaxis(a, x):
    for s, d in [(0, -1), (-1, 0), ((0, 1), (-1, -2)), ([2, 0], [0, 1]), (1, 1)]:
        check(da.moveaxis(x, s, d), np.moveaxis(a, s, d))
    for i, j in [(0, 2), (-1, 0), (1, 1), (-2, -3)]:
        check(da.swapaxes(x, i, j), np.swapaxes(a, i, j))
    for axis, start in [(2, 0), (0, 3), (-1, 1), (1, -1), (0, -3), (1, 2)]:
        check(da.rollaxis(x, axis, start), np.rollaxis(a, axis, start))
    with pytest.raises(ValueError, match="same number"):
        da.moveaxis(x, (0, 1), 2)
    with pytest.raises(ValueError, match="repeated"):
        da.moveaxis(x, (0, 0), (1, 2))
    with pytest.raises(np.exceptions.AxisError):
        da.swapaxes(x, 0, 3)
    with pytest.raises(np.exceptions.AxisError):
        da.rollaxis(x, 0, 5)


# -- joining -------------------------------------------------------------------------

@pytest.mark.parametrize("a, x", arrays2())
def test_stacks(a, x):
    b = a[:, ::-1] * 2
    y = da.from_array(b, chunks=(2, 5))
    check(da.hstack([x, y]), np.hstack([a, b]))
    check(da.vstack([x, y, x]), np.vstack([a, b, a]))
    check(da.dstack([x, y]), np.dstack([a, b]))
    check(da.hstack([x[0], b[1], x[2, :0]]), np.hstack([a[0], b[1], a[2, :0]]))
    check(da.vstack([x[0], b[1]]), np.vstack([a[0], b[1]]))
    check(da.dstack([x[0], b[1]]), np.dstack([a[0], b[1]]))
    check(da.hstack([da.from_array(np.array(1)), np.array(2.5)]), np.hstack([1, 2.5]))
    check(da.vstack([x, np.zeros((0, 9), dtype=np.int64)]), a)


def test_block():
    a = np.arange(12).reshape(3, 4)
    x = da.from_array(a, chunks=(2, 3))
    one = np.ones((3, 2), dtype=np.float32)
    check(da.block([[x, one], [x[:1], one[:1]]]), np.block([[a, one], [a[:1], one[:1]]]))
    check(da.block([x, x]), np.block([a, a]))
    check(da.block([[1, 2], [3, 4]]), np.block([[1, 2], [3, 4]]))
    check(da.block([[[x]], [[x]]]), np.block([[[a]], [[a]]]))
    check(da.block(x), np.block(a))
    v = da.from_array(np.arange(3), chunks=2)
    check(da.block([[v], [v]]), np.block([[np.arange(3)], [np.arange(3)]]))
    with pytest.raises(ValueError, match="mismatched"):
        da.block([[x], x])
    with pytest.raises(ValueError, match="empty"):
        da.block([x, []])
    with pytest.raises(TypeError, match="tuple"):
        da.block((x, x))


# -- reordering ----------------------------------------------------------------------

@pytest.mark.parametrize("a, x", every())
def test_flip(a, x):
    check(da.flip(x), np.flip(a))
    for axis in range(-a.ndim, a.ndim):
        check(da.flip(x, axis), np.flip(a, axis))
    if a.ndim >= 2:
        check(da.flip(x, (0, -1)), np.flip(a, (0, -1)))
        check(da.fliplr(x), np.fliplr(a))
    if a.ndim >= 1:
        check(da.flipud(x), np.flipud(a))


def test_flip_errors():
    with pytest.raises(ValueError, match="2-d"):
        da.fliplr(da.ones(3, chunks=2))
    with pytest.raises(ValueError, match="1-d"):
        da.flipud(da.from_array(np.array(1)))
    with pytest.raises(np.exceptions.AxisError):
        da.flip(da.ones(3, chunks=2), 1)


ROLLS = [(3, None), (-4, None), (100, None), (2, 0), (-1, -1), ((1, 2), (0, 1)), ((2, 3), 0),
         (5, (0, -1)), (0, 0), (-70, 1)]


@pytest.mark.parametrize("a, x", arrays2() + arrays3())
def test_roll(a, x):
    for shift, axis in ROLLS:
        check(da.roll(x, shift, axis), np.roll(a, shift, axis))


def test_roll_empty_0d_and_errors():
    for e in EMPTY:
        check(da.roll(da.from_array(e, chunks=2), 2, 0), np.roll(e, 2, 0))
        check(da.roll(da.from_array(e, chunks=2), 3), np.roll(e, 3))
    check(da.roll(da.from_array(np.array(4)), 1), np.roll(np.array(4), 1))
    with pytest.raises(ValueError, match="1D"):
        da.roll(da.ones((2, 2), chunks=1), [[1]], [[0]])
    with pytest.raises(ValueError):
        da.roll(da.ones((2, 2), chunks=1), (1, 2, 3), (0, 1))


@pytest.mark.parametrize("a, x", arrays2() + arrays3())
def test_rot90(a, x):
    for k in range(-5, 6):
        check(da.rot90(x, k), np.rot90(a, k))
    for axes in [(1, 0), (-1, 0), (0, -1)]:
        check(da.rot90(x, 1, axes), np.rot90(a, 1, axes))
        check(da.rot90(x, 3, axes), np.rot90(a, 3, axes))
    with pytest.raises(ValueError, match="len"):
        da.rot90(x, 1, (0,))
    with pytest.raises(ValueError, match="different"):
        da.rot90(x, 1, (0, 0))
    with pytest.raises(ValueError, match="out of range"):
        da.rot90(x, 1, (0, 5))


# -- take, tile, repeat ---------------------------------------------------------------

TAKES = [[0, 3, -1, 2], [[1, 0], [2, 2], [-1, 0]], 2, -1, np.array([], dtype=int),
         np.zeros((2, 0), dtype=int), [[[1]], [[0]]], [True, False]]


@pytest.mark.parametrize("a, x", arrays2() + arrays3())
def test_take(a, x):
    for indices in TAKES:
        for axis in range(-a.ndim, a.ndim):
            check(da.take(x, indices, axis), np.take(a, indices, axis))
        check(da.take(x, indices, None), np.take(a, indices))
    check(da.take(x, [3, 1]), np.take(a, [3, 1], axis=0))  # Dask's default axis=0


def test_take_errors():
    x = da.from_array(A2, chunks=3)
    with pytest.raises(IndexError):
        da.take(x, [7])
    with pytest.raises(IndexError):
        da.take(x, -10, 1)
    with pytest.raises(TypeError):
        da.take(x, [1.5])
    with pytest.raises(NotImplementedError, match="compute"):
        da.take(x, da.from_array(np.array([1])))
    with pytest.raises(np.exceptions.AxisError):
        da.take(x, [1], 2)


@pytest.mark.parametrize("a, x", every())
def test_tile(a, x):
    for reps in [2, (2, 1), (1, 3), (2, 0, 2), 0, (3, 2, 1, 2), ()]:
        check(da.tile(x, reps), np.tile(a, reps))
    with pytest.raises(ValueError, match="Negative"):
        da.tile(x, -1)


@pytest.mark.parametrize("a, x", every())
def test_repeat(a, x):
    for repeats in [0, 1, 3, 13]:
        check(da.repeat(x, repeats), np.repeat(a, repeats))
        for axis in range(-a.ndim, a.ndim):
            check(da.repeat(x, repeats, axis), np.repeat(a, repeats, axis))
    for axis in range(a.ndim):
        n = a.shape[axis]
        for counts in [np.arange(n) % 3, np.full(n, 40), (np.arange(n) == n // 2) * 50, [7]]:
            check(da.repeat(x, counts, axis), np.repeat(a, counts, axis))


def test_repeat_gives_an_output_block_per_input_block_up_to_a_size():
    x = da.from_array(np.arange(10), chunks=3)
    got = da.repeat(x, 1000)
    assert got.chunks == ((3000, 3000, 3000, 1000),)  # (as Dask: not 3,334 blocks of 3)
    check(got, np.repeat(np.arange(10), 1000))
    got = da.repeat(x, np.arange(10) % 2, 0)
    assert got.chunks == ((1, 2, 1, 1),)
    huge = da.repeat(x, 10_000_000)  # 30 M elements per input block: cut at ~128 MiB
    assert max(huge.chunks[0]) * 8 <= da.AUTO_CHUNK_BYTES and huge.shape == (100_000_000,)
    with pytest.raises(ValueError, match="negative"):
        da.repeat(x, -1)
    with pytest.raises(ValueError, match="broadcast"):
        da.repeat(x, [1, 2])
    with pytest.raises(TypeError):
        da.repeat(x, 1.5)


def test_outer():
    a, b = np.arange(5), np.linspace(0, 1, 6).reshape(2, 3)
    check(da.outer(da.from_array(a, chunks=2), da.from_array(b, chunks=1)), np.outer(a, b))
    check(da.outer(np.array(3), [True, False]), np.outer(np.array(3), [True, False]))
    check(da.outer(np.zeros(0), a), np.outer(np.zeros(0), a))


# -- pad ---------------------------------------------------------------------------------

WIDTHS = [1, (2, 3), ((0, 4), (5, 1)), ((30, 0), (0, 25)), 0, {0: 3}, {-1: (1, 2)}]


@pytest.mark.parametrize("a, x", arrays2())
@pytest.mark.parametrize("mode, kwargs", [
    ("constant", {}), ("constant", {"constant_values": 7}),
    ("constant", {"constant_values": ((1, 2), (3, 4))}), ("edge", {}), ("reflect", {}),
    ("reflect", {"reflect_type": "odd"}), ("symmetric", {}), ("symmetric", {"reflect_type": "odd"}),
    ("wrap", {})])
def test_pad_2d(a, x, mode, kwargs):
    for width in WIDTHS:
        check(da.pad(x, width, mode, **kwargs), np.pad(a, width, mode, **kwargs))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
def test_pad_3d_1d_and_short_axes(mode):
    widths = ((1, 2), (0, 3), (13, 4))
    for a, x in arrays3():
        check(da.pad(x, widths, mode), np.pad(a, widths, mode))
    for n in [1, 2, 3]:  # one element (reflect repeats it), periods of 1 and 2
        v = np.arange(n, dtype=np.uint8) * 100 + 7
        y = da.from_array(v, chunks=1)
        for width in [(0, 1), (5, 0), (11, 17)]:
            check(da.pad(y, width, mode), np.pad(v, width, mode))
            if mode in ("reflect", "symmetric"):
                check(da.pad(y, width, mode, reflect_type="odd"),
                      np.pad(v, width, mode, reflect_type="odd"))


def test_pad_dtypes_empty_and_0d():
    b = A2 % 3 == 0
    x = da.from_array(b, chunks=4)
    for mode in ["constant", "edge", "reflect", "wrap"]:
        check(da.pad(x, 3, mode), np.pad(b, 3, mode))
    check(da.pad(x, 3, "reflect", reflect_type="odd"), np.pad(b, 3, "reflect", reflect_type="odd"))
    f = da.from_array(A3, chunks=2)
    check(da.pad(f, 1, constant_values=np.nan), np.pad(A3, 1, constant_values=np.nan))
    check(da.pad(da.from_array(A2, chunks=4), 2, constant_values=1.7),
          np.pad(A2, 2, constant_values=1.7))
    for e in EMPTY:
        y = da.from_array(e, chunks=2)
        check(da.pad(y, 2), np.pad(e, 2))
        check(da.pad(y, 2, constant_values=5), np.pad(e, 2, constant_values=5))
        empty_axis = e.shape.index(0)
        other = [(0, 0), (0, 0)]
        other[1 - empty_axis] = (2, 1)
        check(da.pad(y, other, "reflect"), np.pad(e, other, "reflect"))
        with pytest.raises(ValueError, match="empty axis"):
            da.pad(y, 1, "edge")
    z = da.from_array(np.array(3))
    check(da.pad(z, 2), np.pad(np.array(3), 2))
    check(da.pad(z, 2, "wrap"), np.pad(np.array(3), 2, "wrap"))
    got = da.pad(x, 1, mode="empty")  # (undefined values in NumPy)
    assert got.shape == (9, 11) and got.dtype == bool
    check(got[1:-1, 1:-1], b)


STATS = [("linear_ramp", {}), ("linear_ramp", {"end_values": ((5, -3), (2, 40))}),
         ("maximum", {}), ("minimum", {"stat_length": 2}), ("mean", {}),
         ("mean", {"stat_length": ((1, 3), (20, 4))}), ("median", {}),
         ("median", {"stat_length": (2, 3)}), ("maximum", {"stat_length": ((1, 1), (1, 30))})]


@pytest.mark.parametrize("mode, kwargs", STATS)
def test_pad_ramps_and_statistics(mode, kwargs):
    for a, x in arrays2() + [(A2.astype(np.uint8), da.from_array(A2.astype(np.uint8), chunks=3))]:
        for width in [1, ((0, 4), (5, 1)), ((30, 0), (0, 25)), {-1: (1, 2)}]:
            check(da.pad(x, width, mode, **kwargs), np.pad(a, width, mode, **kwargs))
    widths = ((1, 2), (0, 3), (13, 4))
    kwargs = {k: v for k, v in kwargs.items() if np.ndim(v) < 2}  # (pairs per axis are 2-d)
    for a, x in arrays3():
        got, want = da.pad(x, widths, mode, **kwargs), np.pad(a, widths, mode, **kwargs)
        assert got.chunks[2][0] <= max(x.chunks[2]) or mode == "linear_ramp"
        np.testing.assert_allclose(got.compute(), want, rtol=1e-13)
        assert got.dtype == want.dtype


def test_pad_refuses_clearly():
    x = da.from_array(A2, chunks=4)
    with pytest.raises(ValueError, match="stat_length of 0"):
        da.pad(x, 1, "maximum", stat_length=0)
    with pytest.raises(NotImplementedError, match="function"):
        da.pad(x, 1, lambda *a: None)
    with pytest.raises(ValueError, match="mode 'nope' is not supported"):
        da.pad(x, 1, "nope")
    with pytest.raises(ValueError, match="unsupported keyword"):
        da.pad(x, 1, "edge", constant_values=1)
    with pytest.raises(ValueError, match="negative"):
        da.pad(x, -1)
    with pytest.raises(TypeError, match="integral"):
        da.pad(x, 1.5)
    with pytest.raises(ValueError):
        da.pad(x, ((1, 2, 3),))


def test_pad_rounds_stay_few():
    x = da.from_array(np.arange(3.0), chunks=2)
    got = da.pad(x, 2000, "reflect", reflect_type="odd")
    check(got, np.pad(np.arange(3.0), 2000, "reflect", reflect_type="odd"))
    assert len(got._layers) < 80  # the rounds grow the period about threefold each


# -- triangles and diagonals -------------------------------------------------------------

@pytest.mark.parametrize("a, x", arrays2() + arrays3())
def test_tril_triu(a, x):
    for k in [0, 1, -1, 3, -4, 20, -20]:
        check(da.tril(x, k), np.tril(a, k))
        check(da.triu(x, k), np.triu(a, k))


def test_tril_triu_1d_empty_and_graph():
    v = np.arange(1, 6)
    for k in [0, 2, -1]:
        check(da.tril(da.from_array(v, chunks=2), k), np.tril(v, k))
        check(da.triu(da.from_array(v, chunks=2), k), np.triu(v, k))
    for e in EMPTY:
        check(da.tril(da.from_array(e, chunks=2)), np.tril(e))
        check(da.triu(da.from_array(e, chunks=2), 1), np.triu(e, 1))
    x = da.ones((6, 6), chunks=2)
    layer = da.tril(x)._layers[da.tril(x).name]
    deps = [node.dependencies for node in layer.values()]
    assert sum(1 for d in deps if not d) == 3  # the blocks above the diagonal read nothing
    with pytest.raises(ValueError):
        da.tril(da.from_array(np.array(1)))


@pytest.mark.parametrize("chunks", [3, 1, ((4, 0, 1),), -1])
def test_diag_of_vector(chunks):
    v = np.arange(1, 6) * 1.5
    x = da.from_array(v, chunks=chunks) if chunks != ((4, 0, 1),) else \
        da.concatenate([da.from_array(v[:4], chunks=4), da.from_array(v[4:4], chunks=1),
                        da.from_array(v[4:], chunks=1)])
    for k in [0, 1, -1, 2, -7, 9]:
        check(da.diag(x, k), np.diag(v, k))
    e = da.from_array(np.zeros(0, dtype=int), chunks=1)
    for k in [0, 2, -3]:
        check(da.diag(e, k), np.diag(np.zeros(0, dtype=int), k))


def test_diag_chunks_as_dask():
    dask_array = pytest.importorskip("dask.array")
    for k in [0, 2, -2]:
        assert (da.diag(da.arange(10, chunks=3), k).chunks
                == dask_array.diag(dask_array.arange(10, chunks=3), k).chunks)
    with pytest.raises(ValueError, match="1- or 2-d"):
        da.diag(da.ones((2, 2, 2), chunks=1))


@pytest.mark.parametrize("a, x", arrays2() + arrays3())
def test_diagonal_and_trace(a, x):
    for offset in [0, 1, -1, 3, -5, 8, -6, 9, -7, 20]:
        for axes in [(0, 1), (1, 0), (-1, 0), (0, -1)] + ([(2, 1), (0, 2)] if a.ndim == 3 else []):
            check(da.diagonal(x, offset, *axes), np.diagonal(a, offset, *axes))
            check(da.trace(x, offset, *axes), np.asarray(np.trace(a, offset, *axes)))
        if a.ndim == 2:
            check(da.diag(x, offset), np.diag(a, offset))
    check(da.trace(x, dtype=np.float32), np.asarray(np.trace(a, dtype=np.float32)))


def test_diagonal_empty_bool_and_errors():
    for e in EMPTY:
        check(da.diagonal(da.from_array(e, chunks=2)), np.diagonal(e))
        check(da.trace(da.from_array(e, chunks=2)), np.asarray(np.trace(e)))
    b = A2 > 0
    check(da.trace(da.from_array(b, chunks=2)), np.asarray(np.trace(b)))
    check(da.diagonal(da.from_array(b, chunks=2), 2), np.diagonal(b, 2))
    with pytest.raises(ValueError, match="two dimensions"):
        da.diagonal(da.ones(3, chunks=1))
    with pytest.raises(ValueError, match="same"):
        da.diagonal(da.ones((3, 3), chunks=1), 0, 1, -1)


# -- grids ------------------------------------------------------------------------------

@pytest.mark.parametrize("dims, chunks", [((4, 5), 2), ((3,), 1), ((2, 0, 3), "auto"), ((), "auto"),
                                          ((3, 4, 2), ((1, 2), 4, (1, 1)))])
def test_indices(dims, chunks):
    check(da.indices(dims, chunks=chunks), np.indices(dims))
    check(da.indices(dims, dtype=np.float32, chunks=chunks), np.indices(dims, dtype=np.float32))
    got = da.indices(dims, chunks=chunks, sparse=True)
    assert isinstance(got, tuple)
    for g, w in zip(got, np.indices(dims, sparse=True)):
        check(g, w)


@pytest.mark.parametrize("indexing", ["xy", "ij"])
@pytest.mark.parametrize("sparse", [False, True])
def test_meshgrid(indexing, sparse):
    xs = [np.arange(4), np.linspace(0, 1, 3), np.array([7, 8], dtype=np.int8), np.zeros(0)]
    for n in range(0, 5):
        args = [da.from_array(v, chunks=2) for v in xs[:n]]
        got = da.meshgrid(*args, indexing=indexing, sparse=sparse)
        want = np.meshgrid(*xs[:n], indexing=indexing, sparse=sparse)
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            check(g, w)
    got = da.meshgrid(np.arange(6).reshape(2, 3), [1, 2], indexing=indexing)
    for g, w in zip(got, np.meshgrid(np.arange(6).reshape(2, 3), [1, 2], indexing=indexing)):
        check(g, w)
    with pytest.raises(ValueError, match="indexing"):
        da.meshgrid(xs[0], indexing="yx")


def test_fromfunction():
    def f(i, j, scale=1):
        return (i * 10 + j) * scale

    for chunks in [2, 1, (3, -1), ((1, 3), (2, 3))]:
        check(da.fromfunction(f, chunks=chunks, shape=(4, 5), dtype=int),
              np.fromfunction(f, (4, 5), dtype=int))
        check(da.fromfunction(f, chunks=chunks, shape=(4, 5), scale=0.5),
              np.fromfunction(f, (4, 5), scale=0.5))
    check(da.fromfunction(lambda i, j: i == j, shape=(3, 3), chunks=2),
          np.fromfunction(lambda i, j: i == j, (3, 3)))
    check(da.fromfunction(f, (2, 3)), np.fromfunction(f, (2, 3)))  # NumPy's positional shape
    check(da.fromfunction(lambda i: i * 0 + 1, shape=(0,)),
          np.fromfunction(lambda i: i * 0 + 1, (0,)))
    check(da.fromfunction(lambda i, j: 7, shape=(2, 2), chunks=1), np.full((2, 2), 7))


# -- schedulers and the graph -------------------------------------------------------------

def test_results_on_threads_and_processes_and_names_are_stable():
    x = da.from_array(A2, chunks=(3, 4))
    def build():
        return (da.pad(da.tril(da.roll(x, 2, 1)), 2, "symmetric")[2:9, 1:10]
                + da.repeat(x, 2, 1)[0, ::2] + da.diagonal(da.block([[x, x]]), 2)[:7, None])

    y, z = build(), build()
    assert y.name == z.name
    want = (np.pad(np.tril(np.roll(A2, 2, 1)), 2, "symmetric")[2:9, 1:10] + A2[0]
            + np.diagonal(np.block([[A2, A2]]), 2)[:7, None])
    for scheduler in ["sync", "threads", "processes"]:
        np.testing.assert_array_equal(y.compute(scheduler=scheduler), want)
    assert da.flip(x).name != da.flip(x, 0).name
