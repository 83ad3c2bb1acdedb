"""Dask dataframe API that shoal lacked: custom reductions, from_dask_array, align,
nunique_approx, small methods and two reader/constructor defects (compared with pandas,
and with Dask where it helps)."""

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

import shoal.array as da
import shoal.dataframe as dd

pytestmark = pytest.mark.timeout(60)


def _pdf():
    return pd.DataFrame({"x": np.arange(10), "y": np.linspace(0, 1, 10)})


def _df(n=3):
    return dd.from_pandas(_pdf(), npartitions=n)


# -- reduction ---------------------------------------------------------------------

@pytest.mark.parametrize("split_every", [None, 2, False])
def test_reduction_scalar_series_and_frame_chunks(split_every):
    pdf, df = _pdf(), _df()
    count = df.x.reduction(lambda s: s.count(), aggregate=lambda s: s.sum(),
                           split_every=split_every)
    assert count.compute() == 10
    sums = df.reduction(lambda p: p.sum(), aggregate=lambda p: p.sum(), split_every=split_every)
    tm.assert_series_equal(sums.compute(), pdf.sum())

    def chunk(p):
        return pd.DataFrame({"total": [p.x.sum()], "n": [len(p)]})

    both = dd.reduction(df, chunk, aggregate=lambda p: p.sum(), split_every=split_every)
    assert both.compute().to_dict() == {"total": 45, "n": 10}


def test_reduction_kwargs_combine_and_dask():
    import dask.dataframe as ddd

    pdf = _pdf()
    kw = dict(chunk=lambda s, k: s.max() * k, aggregate=lambda s: s.max(),
              combine=lambda s: s.max(), chunk_kwargs={"k": 2}, split_every=2)
    got = _df(5).x.reduction(**kw).compute()
    assert got == ddd.from_pandas(pdf, npartitions=5).x.reduction(**kw).compute() == 18


def test_reduction_bad_input():
    with pytest.raises(TypeError, match="chunk"):
        _df().reduction("sum")
    with pytest.raises(TypeError, match="chunk_kwargs"):
        _df().reduction(len, chunk_kwargs=[1])


# -- construction and module-level functions --------------------------------------

def test_from_dask_array_and_index():
    x = np.arange(12.0).reshape(6, 2)
    arr = da.from_array(x, chunks=(2, 2))
    df = dd.from_dask_array(arr, columns=["a", "b"])
    tm.assert_frame_equal(df.compute(), pd.DataFrame(x, columns=["a", "b"]))
    idx = dd.from_pandas(pd.Series(range(6), index=list("abcdef")), npartitions=3).index
    out = dd.from_dask_array(arr, columns=["a", "b"], index=idx).compute()
    assert list(out.index) == list("abcdef")
    with pytest.raises(TypeError, match="x="):
        dd.from_dask_array(x)


def test_module_map_overlap_and_melt():
    pdf, df = _pdf(), _df()
    got = dd.map_overlap(lambda p: p.rolling(2).sum(), df, 1, 0).compute()
    tm.assert_frame_equal(got, pdf.rolling(2).sum())
    melted = dd.melt(df, id_vars="x").compute().reset_index(drop=True)
    tm.assert_frame_equal(melted, pd.melt(pdf, id_vars="x"))
    with pytest.raises(TypeError, match="frame="):
        dd.melt(pdf)


# -- align -------------------------------------------------------------------------

@pytest.mark.parametrize("join", ["outer", "inner", "left", "right"])
def test_align(join):
    a = pd.DataFrame({"x": range(8)}, index=range(0, 16, 2))
    b = pd.DataFrame({"y": range(6)}, index=range(0, 18, 3))
    l, r = dd.from_pandas(a, npartitions=3).align(dd.from_pandas(b, npartitions=2), join=join)
    el, er = a.align(b, join=join)
    tm.assert_frame_equal(l.compute(), el)
    tm.assert_frame_equal(r.compute(), er)
    with pytest.raises(TypeError, match="other="):
        dd.from_pandas(a, npartitions=2).align(b)


# -- nunique_approx ----------------------------------------------------------------

def test_nunique_approx():
    rng = np.random.default_rng(1)
    pdf = pd.DataFrame({"x": rng.integers(0, 5000, 40000), "y": 1})
    df = dd.from_pandas(pdf, npartitions=4)
    exact = pdf.x.nunique()
    assert abs(df.x.nunique_approx().compute() - exact) / exact < 0.03
    assert abs(df.nunique_approx(split_every=2).compute() - exact) / exact < 0.03
    assert round(dd.from_pandas(pdf.head(4), npartitions=2).x.nunique_approx().compute()) == \
        pdf.head(4).x.nunique()


# -- small methods -----------------------------------------------------------------

def test_compute_current_divisions():
    known = _df()
    df = known.clear_divisions()
    assert df.compute_current_divisions() == known.divisions
    assert df.compute_current_divisions("x") == known.divisions
    with pytest.raises(KeyError, match="col="):
        df.compute_current_divisions("nope")


def test_series_shuffle_squeeze_divide_axes_dtypes():
    pdf, df = _pdf(), _df()
    out = df.x.shuffle(on="x", npartitions=2)
    assert out.npartitions == 2
    tm.assert_series_equal(out.compute().sort_index(), pdf.x)
    tm.assert_series_equal(df[["x"]].squeeze().compute(), pdf[["x"]].squeeze())
    s = df.x
    assert df.squeeze() is df and s.squeeze() is s
    with pytest.raises(NotImplementedError, match="axis"):
        df.squeeze(axis=0)
    tm.assert_frame_equal(df.divide(2).compute(), pdf.divide(2))
    tm.assert_series_equal(df.x.divide(df.y).compute(), pdf.x.divide(pdf.y))
    assert list(df.axes[1]) == ["x", "y"] and len(df.x.axes) == 1
    assert df.x.dtypes == pdf.x.dtypes


def test_to_timestamp():
    pdf = pd.DataFrame({"v": range(6)}, index=pd.period_range("2020-01", periods=6, freq="M"))
    df = dd.from_pandas(pdf, npartitions=2)
    got = df.to_timestamp()
    tm.assert_frame_equal(got.compute(), pdf.to_timestamp())
    assert got.divisions[0] == pd.Timestamp("2020-01-01")


def test_to_html_and_to_string_show_the_structure():
    df = _df()
    text = df.to_string()
    assert "npartitions=3" in text and "int64" in text and "0.111" not in text
    assert "float64" in df.to_html() and "<table" in df.to_html()
    assert "int64" in df.x.to_string()


def test_autocorr():
    s = pd.Series(np.random.default_rng(2).normal(size=30))
    got = dd.from_pandas(s, npartitions=3).autocorr(lag=2).compute()
    assert got == pytest.approx(s.autocorr(lag=2))


def test_series_writers(tmp_path):
    s = _pdf().x
    dd.from_pandas(s, npartitions=2).to_orc(str(tmp_path / "orc"))
    tm.assert_series_equal(dd.read_orc(str(tmp_path / "orc")).compute()["x"]
                           .reset_index(drop=True), s)


def test_rolling_cov():
    pdf, df = _pdf(), _df()
    tm.assert_series_equal(df.x.rolling(3).cov().compute(), pdf.x.rolling(3).cov())
    tm.assert_frame_equal(df.rolling(3).cov().compute(), pdf.rolling(3).cov())


def test_resampler_quantile_and_sem():
    idx = pd.date_range("2020-01-01", periods=48, freq="h")
    pdf = pd.DataFrame({"v": np.arange(48.0) ** 1.5}, index=idx)
    df = dd.from_pandas(pdf, npartitions=4)
    r, e = df.resample("5h"), pdf.resample("5h")
    tm.assert_frame_equal(r.quantile(0.3).compute(), e.quantile(0.3), check_freq=False)
    tm.assert_frame_equal(r.sem().compute(), e.sem(), check_freq=False)


# -- defects -----------------------------------------------------------------------

def test_read_csv_skiprows_list(tmp_path):
    text = "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(8))
    for name in ("one.csv", "two.csv"):
        (tmp_path / name).write_text(text)
    got = dd.read_csv(str(tmp_path / "*.csv"), skiprows=[1, 3], blocksize=10).compute()
    expected = pd.read_csv(tmp_path / "one.csv", skiprows=[1, 3])
    tm.assert_frame_equal(got.reset_index(drop=True),
                          pd.concat([expected] * 2, ignore_index=True))
    with pytest.raises(TypeError, match="skiprows"):
        dd.read_csv(str(tmp_path / "one.csv"), skiprows=["x"])


def test_from_pandas_multiindex_is_refused_clearly():
    pdf = pd.DataFrame({"a": [1, 2], "b": [3, 4], "c": [5, 6]}).set_index(["a", "b"])
    with pytest.raises(NotImplementedError, match="MultiIndex.*reset_index"):
        dd.from_pandas(pdf, npartitions=1)


# -- review fixes --------------------------------------------------------------------

def test_compute_current_divisions_refuses_unsorted_and_empty_partitions():
    unsorted = pd.DataFrame({"x": range(6)}, index=[3, 4, 5, 0, 1, 2])
    with pytest.raises(ValueError, match="not sorted"):
        dd.from_pandas(unsorted, npartitions=2, sort=False).compute_current_divisions()
    with_empty = _df(3).map_partitions(lambda p: p[(p.x < 3) | (p.x > 6)])
    with pytest.raises(ValueError, match="empty"):  # (was a tuple one boundary short)
        with_empty.compute_current_divisions()


def test_resampler_quantile_list_is_refused_clearly():
    pdf = pd.DataFrame({"a": np.arange(10.0)}, index=pd.date_range("2020", periods=10, freq="7h"))
    with pytest.raises(NotImplementedError, match="one quantile"):
        dd.from_pandas(pdf, npartitions=2).resample("1D").quantile([0.25, 0.75])


def test_numpy_integers_for_skiprows_and_autocorr_lag(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("junk\nmore\na,b\n" + "".join(f"{i},{i * 2}\n" for i in range(40)))
    for skiprows in (np.int64(2), np.array([0, 1])):
        got = dd.read_csv(str(path), skiprows=skiprows, blocksize=100).compute()
        tm.assert_frame_equal(got.reset_index(drop=True), pd.read_csv(path, skiprows=skiprows))
    s = pd.Series(np.arange(20.0) % 7)
    got = dd.from_pandas(s, npartitions=4).autocorr(np.int64(2)).compute()
    assert got == pytest.approx(s.autocorr(2))
