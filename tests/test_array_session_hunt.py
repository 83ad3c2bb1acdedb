"""Defects found by running a realistic dask.array-style analysis on shoal.array,
each checked against NumPy (or Dask's documented behaviour) on the same data."""

import sys

import numpy as np
import pytest

import shoal.array as da

pytestmark = pytest.mark.timeout(60)


def test_rechunk_none_keeps_the_current_chunks():
    x = da.ones((10, 10), chunks=(3, 2))
    assert x.rechunk((5, None)).chunks == ((5, 5), (2, 2, 2, 2, 2))
    assert x.rechunk({0: 5, 1: None}).chunks == ((5, 5), (2, 2, 2, 2, 2))
    assert x.rechunk((None, -1)).chunks == ((3, 3, 3, 1), (10,))
    np.testing.assert_array_equal(x.rechunk((5, None)).compute(), np.ones((10, 10)))


def test_concatenate_axis_none_flattens_like_numpy():
    a = np.arange(12).reshape(3, 4)
    x = da.from_array(a, chunks=2)
    got = da.concatenate([x, x[:1], da.from_array(np.array(7))], axis=None)
    want = np.concatenate([a, a[:1], np.array(7)], axis=None)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.compute(), want)


def test_cumsum_of_timedeltas_across_blocks():
    days = np.arange("2020-01-01", "2020-01-11", dtype="datetime64[D]")
    d = da.from_array(days, chunks=3)
    got = (d - d[0]).cumsum()
    want = (days - days[0]).cumsum()
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.compute(), want)
    np.testing.assert_array_equal(da.from_array(want, chunks=4).cumsum(axis=0).compute(),
                                  want.cumsum())


def _records():
    r = np.zeros(7, dtype=[("a", "f8"), ("b", "i4"), ("c", "f4", (2,))])
    r["a"] = np.arange(7) * 1.5
    r["b"] = np.arange(7)[::-1]
    r["c"] = np.arange(14).reshape(7, 2)
    return r


def test_structured_field_access_matches_numpy():
    r = _records()
    x = da.from_array(r, chunks=3)
    for field in ["a", "b", "c"]:
        got = x[field]
        assert got.dtype == r[field].dtype and got.shape == r[field].shape
        np.testing.assert_array_equal(got.compute(), r[field])
    assert x["a"].sum().compute() == r["a"].sum()
    np.testing.assert_array_equal(x[2:6]["b"].compute(), r[2:6]["b"])
    both = x[["a", "b"]].compute()
    np.testing.assert_array_equal(both["a"], r["a"])
    np.testing.assert_array_equal(both["b"], r["b"])


def test_structured_unknown_field_names_it():
    x = da.from_array(_records(), chunks=3)
    with pytest.raises(ValueError, match="'zz'"):
        x["zz"]


def test_to_hdf5_writes_a_dict_of_arrays(tmp_path):
    h5py = pytest.importorskip("h5py")
    a = np.arange(60.0).reshape(12, 5)
    x = da.from_array(a, chunks=(5, 5))
    path = str(tmp_path / "out.h5")
    da.to_hdf5(path, {"/x": x, "/group/y": x * 2})
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["x"][:], a)
        np.testing.assert_array_equal(f["group/y"][:], a * 2)
    with pytest.raises(TypeError, match="datapath '/z'"):
        da.to_hdf5(path, "/z")


def test_zarr_functions_say_to_install_zarr(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zarr", None)  # (import zarr raises ImportError)
    with pytest.raises(ModuleNotFoundError, match="pip install zarr"):
        da.from_zarr(str(tmp_path / "a.zarr"))
    with pytest.raises(ModuleNotFoundError, match="pip install zarr"):
        da.to_zarr(da.ones(4, chunks=2), str(tmp_path / "a.zarr"))


def test_zarr_round_trips_regular_irregular_groups_and_delayed(tmp_path):
    zarr = pytest.importorskip("zarr", reason="pip install zarr (the test extra has it)")
    x = np.arange(1000 * 30, dtype="f8").reshape(1000, 30)
    a = da.from_array(x, chunks=(100, 10))
    da.to_zarr(a, str(tmp_path / "a.zarr"))
    b = da.from_zarr(str(tmp_path / "a.zarr"))
    assert b.chunks == a.chunks  # the store's own chunks
    np.testing.assert_array_equal(b.compute(), x)
    irregular = da.from_array(x, chunks=((300, 700), (10, 20)))  # blocks share zarr chunks
    da.to_zarr(irregular, str(tmp_path / "b.zarr"), compute=True)
    np.testing.assert_array_equal(da.from_zarr(str(tmp_path / "b.zarr")).compute(), x)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        da.to_zarr(a, str(tmp_path / "a.zarr"))
    np.testing.assert_array_equal(b.compute(), x)  # nothing lost
    da.to_zarr(a * 2, str(tmp_path / "a.zarr"), overwrite=True)
    np.testing.assert_array_equal(da.from_zarr(zarr.open_array(str(tmp_path / "a.zarr"))).compute(),
                                  2 * x)  # fmt: skip
    da.to_zarr(a, str(tmp_path / "g.zarr"), component="sub/arr")
    np.testing.assert_array_equal(
        da.from_zarr(str(tmp_path / "g.zarr"), component="sub/arr", chunks=(500, 30)).compute(), x)
    lazy = da.to_zarr(a + 1, str(tmp_path / "c.zarr"), compute=False)
    assert type(lazy).__name__ == "Delayed"
    lazy.compute()
    np.testing.assert_array_equal(da.from_zarr(str(tmp_path / "c.zarr")).compute(), x + 1)