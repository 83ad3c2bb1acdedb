"""Group-by median (whole groups after a shuffle) and the row-aligned scans
(cumsum, cumprod, cummax, cummin, cumcount, shift) against pandas on the whole data."""

import numpy as np
import pandas as pd
import pytest

import shoal.dataframe as dd


def assert_eq(got, expected):
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9,
                                      check_freq=False)
    else:
        pd.testing.assert_series_equal(got, expected, check_exact=False, rtol=1e-9,
                                       check_freq=False)


def _data(n=90, seed=1):
    rng = np.random.default_rng(seed)
    pdf = pd.DataFrame({
        "k": rng.choice([1.0, 2.0, 3.0, np.nan], n),
        "j": rng.choice(["a", "b"], n),
        "v": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "w": rng.integers(1, 4, n),
    })
    pdf.loc[10:70, "k"] = 7.0  # a group spanning many partitions
    return pdf


@pytest.fixture(params=[1, 7], ids=lambda n: f"{n}parts")
def frames(request):
    pdf = _data()
    return dd.from_pandas(pdf, npartitions=request.param), pdf


@pytest.fixture
def empties():
    """Partitions with no rows between full ones."""
    pdf = _data()
    ddf = dd.from_pandas(pdf, npartitions=9)
    keep = (pdf.index < 20) | (pdf.index > 60)
    out, expected = ddf[ddf.index.to_series().isin(pdf.index[keep])], pdf[keep]
    assert 0 in out.map_partitions(len).compute().tolist()
    return out, expected


@pytest.mark.parametrize("dropna, sort", [(True, True), (False, False), (False, True)])
def test_median(frames, dropna, sort):
    ddf, pdf = frames
    kw = {"dropna": dropna, "sort": sort}
    assert_eq(ddf.groupby("k", **kw)[["v", "w"]].median().compute(),
              pdf.groupby("k", **kw)[["v", "w"]].median())
    assert_eq(ddf.groupby(["k", "j"], **kw).v.median().compute(),
              pdf.groupby(["k", "j"], **kw).v.median())
    assert_eq(ddf.groupby("j", **kw).median(numeric_only=True).compute(),
              pdf.groupby("j", **kw).median(numeric_only=True))


def test_median_in_agg_and_series_keys(frames):
    ddf, pdf = frames
    spec = {"v": "median", "w": ["sum", "median", "nunique"]}
    assert_eq(ddf.groupby("k").agg(spec).compute(), pdf.groupby("k").agg(spec))
    assert_eq(ddf.groupby("k", sort=False).agg(spec).compute(),
              pdf.groupby("k", sort=False).agg(spec))
    assert_eq(ddf.groupby("j").v.agg("median").compute(), pdf.groupby("j").v.agg("median"))
    assert_eq(ddf.groupby("j").agg(mid=("v", "median"), n=("w", "count")).compute(),
              pdf.groupby("j").agg(mid=("v", "median"), n=("w", "count")))
    assert_eq(ddf.v.groupby(ddf.w % 2, sort=False).median().compute(),
              pdf.v.groupby(pdf.w % 2, sort=False).median())
    # the tree-reduced aggregations are untouched
    assert_eq(ddf.groupby("k").agg({"v": "mean", "w": "nunique"}).compute(),
              pdf.groupby("k").agg({"v": "mean", "w": "nunique"}))


def test_median_empty_partitions(empties):
    ddf, pdf = empties
    assert_eq(ddf.groupby("k", dropna=False).median(numeric_only=True).compute(),
              pdf.groupby("k", dropna=False).median(numeric_only=True))
    none = ddf[ddf.v > 100]
    assert_eq(none.groupby("k").v.median().compute(), pdf[pdf.v > 100].groupby("k").v.median())


CUMS = ["cumsum", "cumprod", "cummax", "cummin"]


@pytest.mark.parametrize("method", CUMS)
def test_cumulative(frames, method):
    ddf, pdf = frames
    dropna = method in ("cumsum", "cummax")  # (both ways, over the methods)
    got = getattr(ddf.groupby("k", dropna=dropna)[["v", "w"]], method)()
    assert got.npartitions == ddf.npartitions and got.divisions == ddf.divisions
    assert_eq(got.compute(), getattr(pdf.groupby("k", dropna=dropna)[["v", "w"]], method)())
    assert_eq(getattr(ddf.groupby(["k", "j"], dropna=dropna, sort=False), method)().compute(),
              getattr(pdf.groupby(["k", "j"], dropna=dropna, sort=False), method)())
    assert_eq(getattr(ddf.groupby("j").v, method)(skipna=False).compute(),
              getattr(pdf.groupby("j").v, method)(skipna=False))


@pytest.mark.parametrize("method", CUMS)
def test_cumulative_series_key_and_empty_partitions(empties, method):
    ddf, pdf = empties
    assert_eq(getattr(ddf.v.groupby(ddf.k, dropna=False), method)().compute(),
              getattr(pdf.v.groupby(pdf.k, dropna=False), method)())
    assert_eq(getattr(ddf[["k", "v", "w"]].groupby(ddf.w % 2), method)().compute(),
              getattr(pdf[["k", "v", "w"]].groupby(pdf.w % 2), method)())


@pytest.mark.parametrize("dropna, ascending", [(True, True), (False, False), (True, False)])
def test_cumcount(frames, empties, dropna, ascending):
    for ddf, pdf in [frames, empties]:
        assert_eq(ddf.groupby("k", dropna=dropna).cumcount(ascending=ascending).compute(),
                  pdf.groupby("k", dropna=dropna).cumcount(ascending=ascending))
        assert_eq(ddf.v.groupby([ddf.k, ddf.j], dropna=dropna).cumcount(ascending).compute(),
                  pdf.v.groupby([pdf.k, pdf.j], dropna=dropna).cumcount(ascending))


@pytest.mark.parametrize("periods, dropna", [(1, True), (3, False), (-2, True), (-1, False),
                                             (0, True)])
def test_shift(frames, empties, periods, dropna):
    for ddf, pdf in [frames, empties]:
        assert_eq(ddf.groupby("k", dropna=dropna).shift(periods).compute(),
                  pdf.groupby("k", dropna=dropna).shift(periods))
        assert_eq(ddf.groupby(["k", "j"], dropna=dropna).w.shift(periods, fill_value=-1).compute(),
                  pdf.groupby(["k", "j"], dropna=dropna).w.shift(periods, fill_value=-1))


def test_index_kept_and_dtypes():
    pdf = pd.DataFrame({"k": [1, 1, 2, 2, 1, 3, 1, 2], "i": np.arange(8),
                        "b": [True, False, True, True, False, True, True, False]},
                       index=pd.date_range("2021", periods=8, freq="h"))
    ddf = dd.from_pandas(pdf, npartitions=3)
    for method in CUMS + ["cumcount", "shift"]:
        got = getattr(ddf.groupby("k"), method)()
        assert got._meta.index.dtype == pdf.index.dtype
        assert_eq(got.compute(), getattr(pdf.groupby("k"), method)())


def test_matches_dask():
    dask_dd = pytest.importorskip("dask.dataframe")
    pdf = _data()
    ddf = dd.from_pandas(pdf, npartitions=5)
    dk = dask_dd.from_pandas(pdf, npartitions=ddf.npartitions)
    for method in ["cumsum", "cumprod", "cumcount"]:
        assert_eq(getattr(ddf.groupby("k", dropna=False)[["v", "w"]], method)().compute(),
                  getattr(dk.groupby("k", dropna=False)[["v", "w"]], method)().compute(
                      scheduler="sync"))
    # dask's median comes in its shuffle's order: compare sorted
    got, expected = ddf.groupby("j").v.median().compute(), dk.groupby("j").v.median()
    pd.testing.assert_series_equal(got, expected.compute(scheduler="sync").sort_index(),
                                   check_index_type=False)  # (dask: arrow strings)


def test_errors(frames):
    ddf, _ = frames
    g = ddf.groupby("k")
    with pytest.raises(TypeError, match="periods"):
        g.shift(1.5)
    with pytest.raises(NotImplementedError, match="freq"):
        g.shift(1, freq="h")
    with pytest.raises(TypeError, match="ascending"):
        g.cumcount(ascending="yes")
    with pytest.raises(TypeError, match="skipna"):
        g.cumsum(skipna=None)
    with pytest.raises(TypeError, match="numeric_only"):
        g.cummax(numeric_only="no")
    with pytest.raises(NotImplementedError, match="sem"):
        g.agg({"v": ["median", "sem"]})
    cat = ddf.assign(c=ddf.j.astype("category"))
    with pytest.raises(NotImplementedError, match="observed"):
        cat.groupby("c", observed=False).v.median()
    with pytest.raises(TypeError):  # pandas' own error, when the expression is written
        ddf.assign(t=pd.Timestamp("2020")).groupby("k").t.cumsum()


def test_cumsum_and_cumprod_of_boolean_columns_across_partitions():
    """Bools sum to ints: a carried total (ints) beside a partition's bools made an object
    column that pandas refused for the nullable and Arrow booleans."""
    pdf = pd.DataFrame({"k": [1, 1, 2, 1, 2, 1],
                        "b": pd.array([True, None, True, True, False, True], dtype="boolean"),
                        "nb": [True, False, True, True, False, True],
                        "pb": pd.array([True, False, None, True, False, True],
                                       dtype="bool[pyarrow]")})  # fmt: skip
    ddf = dd.from_pandas(pdf, npartitions=3)
    for method in ("cumsum", "cumprod"):
        got = getattr(ddf.groupby("k"), method)()
        want = getattr(pdf.groupby("k"), method)()
        pd.testing.assert_frame_equal(got.compute(), want)
        assert dict(got.dtypes) == dict(want.dtypes)
        pd.testing.assert_series_equal(getattr(ddf.groupby("k").b, method)().compute(),
                                       getattr(pdf.groupby("k").b, method)())  # fmt: skip
