"""shoal.datasets.timeseries: Dask's example DataFrame, made in its tasks."""

import pytest

pd = pytest.importorskip("pandas")

from shoal.datasets import timeseries  # noqa: E402


def test_timeseries_has_daily_partitions_known_divisions_and_is_reproducible():
    df = timeseries(start="2000-01-01", end="2000-01-04", freq="1min", seed=3)
    assert df.npartitions == 3 and df.known_divisions
    assert df.divisions == tuple(pd.date_range("2000-01-01", "2000-01-04", freq="1D"))
    assert list(df.columns) == ["name", "id", "x", "y"]
    data = df.compute()
    assert len(data) == 3 * 24 * 60 and data.index.is_monotonic_increasing
    assert data.index.name == "timestamp" and data.index[0] == pd.Timestamp("2000-01-01")
    assert data.x.between(-1, 1).all() and 900 < data.id.mean() < 1100
    assert data.name.nunique() > 20 and str(data.name.dtype) == str(df.dtypes["name"])
    again = timeseries(start="2000-01-01", end="2000-01-04", freq="1min", seed=3)
    pd.testing.assert_frame_equal(again.compute(), data)
    assert again._name == df._name  # (the same graph)
    other = timeseries(start="2000-01-01", end="2000-01-04", freq="1min", seed=4).compute()
    assert not other.x.equals(data.x)
    assert df.loc["2000-01-02"].compute().index.min() == pd.Timestamp("2000-01-02")


def test_timeseries_columns_by_dtype_and_bad_input():
    df = timeseries(end="2000-01-02 06:00", freq="1h", partition_freq="12h",
                    dtypes={"who": "category", "n": int}, seed=0)  # fmt: skip
    assert df.npartitions == 3 and df.divisions[-1] == pd.Timestamp("2000-01-02 06:00")
    data = df.compute()
    assert len(data) == 30 and isinstance(data.who.dtype, pd.CategoricalDtype)
    with pytest.raises(TypeError, match="column 'z' has dtype 'complex'"):
        timeseries(end="2000-01-02", dtypes={"z": "complex"})
    with pytest.raises(ValueError, match="must come after start"):
        timeseries(start="2000-01-02", end="2000-01-01")
