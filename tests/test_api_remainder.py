"""The rest of Dask's collection API: ``da.ma``, ``push``, npy stacks, ufunc objects
(``.outer``, ``where=``), ``dd.to_bag`` / ``to_records`` / ``Index``, ``db.from_url``.
Values are checked against NumPy / pandas, and against Dask where it runs offline."""

import pickle

import numpy as np
import pandas as pd
import pytest

import shoal.array as da
import shoal.bag as db
import shoal.dataframe as dd
from shoal.array import ma

pytestmark = pytest.mark.timeout(60)

D = np.arange(24.0).reshape(4, 6)
M = np.ma.masked_greater(D, 13)


def _same(got, want):
    assert isinstance(got, np.ma.MaskedArray)
    np.testing.assert_array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(want))
    np.testing.assert_allclose(np.ma.filled(got, 0), np.ma.filled(want, 0))


def test_ma_constructors_match_numpy_ma():
    x = da.from_array(D, chunks=(3, 4))
    for name, args in [("masked_equal", (5,)), ("masked_greater", (13,)),
                       ("masked_greater_equal", (13,)), ("masked_less", (4,)),
                       ("masked_less_equal", (4,)), ("masked_not_equal", (5,)),
                       ("masked_inside", (3, 9)), ("masked_outside", (3, 9)),
                       ("masked_values", (7.0,))]:  # fmt: skip
        _same(getattr(ma, name)(x, *args).compute(), getattr(np.ma, name)(D, *args))
    cond = D % 3 == 0
    _same(ma.masked_where(da.from_array(cond, chunks=2), x).compute(), np.ma.masked_where(cond, D))
    _same(ma.masked_array(x, mask=cond, fill_value=-1).compute(), np.ma.masked_array(D, cond))
    assert ma.masked_array(x, mask=cond, fill_value=-1).compute().fill_value == -1
    bad = D.copy()
    bad[1, 1] = np.nan
    _same(ma.masked_invalid(da.from_array(bad, chunks=3)).compute(), np.ma.masked_invalid(bad))
    with pytest.raises(ValueError, match="value"):
        ma.masked_equal(x, np.arange(3))
    with pytest.raises(IndexError, match="condition"):
        ma.masked_where(cond[:2], x)


def test_ma_accessors_and_likes():
    x = da.from_array(M, chunks=(3, 4))
    _same(x.compute(), M)
    np.testing.assert_array_equal(ma.filled(x, -1).compute(), M.filled(-1))
    np.testing.assert_array_equal(ma.getdata(x).compute(), D)
    np.testing.assert_array_equal(ma.getmaskarray(x).compute(), np.ma.getmaskarray(M))
    _same(ma.ones_like(x).compute(), np.ma.ones_like(M))
    _same(ma.fix_invalid(x).compute(), np.ma.fix_invalid(M))
    y = x + 1
    ma.set_fill_value(y, 7.5)
    assert y.compute().fill_value == 7.5
    got = ma.nonzero(x)
    for g, w in zip(got, np.ma.nonzero(M)):
        np.testing.assert_array_equal(g.compute(), w)
    _same(ma.where(x > 3, x, 0).compute(), np.ma.where(M > 3, M, 0))


@pytest.mark.parametrize("how", ["sum", "prod", "min", "max", "mean", "var", "std", "any"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_reductions_respect_masks(how, axis):
    x = ma.masked_greater(da.from_array(D, chunks=(3, 4)), 13)
    got = getattr(x, how)(axis=axis).compute()
    want = getattr(M, how)(axis=axis)
    if axis is None:
        np.testing.assert_allclose(got, want)
    else:
        _same(got, want)


def test_ma_count_average_and_rechunk():
    x = da.from_array(M, chunks=(3, 4))
    np.testing.assert_array_equal(ma.count(x, axis=0).compute(), np.ma.count(M, axis=0))
    _same(ma.average(x, axis=1).compute(), np.ma.average(M, axis=1))
    w = np.arange(1.0, 7.0)
    _same(ma.average(x, axis=1, weights=w).compute(), np.ma.average(M, axis=1, weights=w))
    _same(x.rechunk((2, 5)).compute(), M)
    _same(da.concatenate([x, x]).compute(), np.ma.concatenate([M, M]))


def test_push_forward_fills_like_pandas():
    a = np.random.default_rng(0).random((5, 23))
    a[a < 0.6] = np.nan
    x = da.from_array(a, chunks=(2, 4))
    for n in (None, 1, 3):
        want = pd.DataFrame(a.T).ffill(limit=n).to_numpy().T
        np.testing.assert_allclose(da.push(x, n, axis=1).compute(), want, equal_nan=True)
        want = pd.DataFrame(a).ffill(limit=n).to_numpy()
        np.testing.assert_allclose(da.push(x, n, axis=0).compute(), want, equal_nan=True)
    with pytest.raises(ValueError, match="n must"):
        da.push(x, 0)


def test_npy_stack_round_trip_and_dask_layout(tmp_path):
    dask_array = pytest.importorskip("dask.array")
    x = da.from_array(D, chunks=(3, 4))
    da.to_npy_stack(tmp_path / "s", x, axis=1)
    back = da.from_npy_stack(tmp_path / "s")
    assert back.chunks == ((4,), (4, 2))
    np.testing.assert_array_equal(back.compute(), D)
    np.testing.assert_array_equal(dask_array.from_npy_stack(str(tmp_path / "s")).compute(), D)
    dask_array.to_npy_stack(str(tmp_path / "d"), dask_array.from_array(D, chunks=3))
    np.testing.assert_array_equal(da.from_npy_stack(tmp_path / "d").compute(), D)
    with pytest.raises(FileNotFoundError, match="dirname"):
        da.from_npy_stack(tmp_path / "nothing")


def test_namespace_ufuncs_are_ufunc_objects():
    x = da.arange(6, chunks=4)
    assert isinstance(da.add, da.ufunc) and da.add.nin == 2 and da.add.nout == 1
    assert da.add.__name__ == "add" and da.sin.nin == 1
    np.testing.assert_array_equal(da.add.outer(x, np.arange(3)).compute(),
                                  np.add.outer(np.arange(6), np.arange(3)))  # fmt: skip
    np.testing.assert_array_equal(np.add(x, 1).compute(), np.arange(1, 7))
    np.testing.assert_array_equal(da.abs(-x).compute(), np.arange(6))
    assert pickle.loads(pickle.dumps(da.add)).__name__ == "add"


def test_ufunc_where_mask():
    x = da.arange(6, chunks=4)
    mask = np.array([1, 0, 1, 0, 1, 1], bool)
    for where in (mask, da.from_array(mask, chunks=3)):
        np.testing.assert_array_equal(da.add(x, 1, where=where).compute()[mask],
                                      np.arange(1, 7)[mask])  # fmt: skip
        np.testing.assert_array_equal(np.add(x, 1, where=where).compute()[mask],
                                      np.arange(1, 7)[mask])  # fmt: skip
    frac, _ = da.modf(x * 1.5, where=mask)
    np.testing.assert_allclose(frac.compute()[mask], np.modf(np.arange(6) * 1.5)[0][mask])
    with pytest.raises(ValueError, match="where="):
        da.add(x, 1, where=da.ones(3, chunks=3, dtype=bool))


def test_dataframe_to_bag_to_records_index():
    pdf = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})
    df = dd.from_pandas(pdf, npartitions=2)
    assert dd.to_bag(df).compute() == list(pdf.itertuples(index=False, name=None))
    assert dd.to_bag(df, index=True, format="dict").compute() == \
        pdf.reset_index().to_dict(orient="records")
    frames = dd.to_bag(df, format="frame").to_delayed()
    pd.testing.assert_frame_equal(pd.concat([f.compute() for f in frames]), pdf)
    np.testing.assert_array_equal(dd.to_records(df).compute(), pdf.to_records())
    assert dd.Index is type(df.index)
    with pytest.raises(ValueError, match="format"):
        df.to_bag(format="rows")
    with pytest.raises(TypeError, match="df"):
        dd.to_records(pdf)


def test_bag_from_url_reads_file_urls(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"a\nb\r\nc")
    (tmp_path / "b.txt").write_bytes(b"x\n")
    urls = [(tmp_path / n).as_uri() for n in ("a.txt", "b.txt")]
    b = db.from_url(urls)
    assert b.npartitions == 2
    assert b.compute() == [b"a\n", b"b\r\n", b"c", b"x\n"]
    assert db.from_url(urls[1]).compute() == [b"x\n"]
    with pytest.raises(TypeError, match="urls"):
        db.from_url(3)


def test_importing_arrays_and_bags_stays_light():
    """``da.ma`` and ``db.from_url`` import numpy.ma and urllib.request on first use only
    (10 and 20 ms at every import of shoal.array / shoal.bag otherwise)."""
    import subprocess
    import sys

    code = ("import sys, shoal.array, shoal.bag\n"
            "print('numpy.ma' in sys.modules, 'urllib.request' in sys.modules)\n"
            "import shoal.array as da\n"
            "print(type(da.ma).__name__, 'numpy.ma' in sys.modules)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()  # fmt: skip
    assert out == ["False", "False", "module", "True"]
