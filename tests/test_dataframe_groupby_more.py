"""groupby value_counts / unique / idxmax / idxmin / get_group / head / tail / ffill /
bfill / rolling / corr / cov and grouping by the index, against pandas on the whole data."""

import warnings

import numpy as np
import pandas as pd
import pytest

import shoal.dataframe as dd


def assert_eq(got, expected, sort=False):
    if sort:
        got, expected = got.sort_index(), expected.sort_index()
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)
    else:
        pd.testing.assert_series_equal(got, expected, check_exact=False, rtol=1e-9)


def _data(n=90, seed=1):
    rng = np.random.default_rng(seed)
    pdf = pd.DataFrame({
        "k": rng.choice([1.0, 2.0, 3.0, np.nan], n),
        "j": rng.choice(["a", "b"], n),
        "v": np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),
        "w": rng.integers(1, 4, n),
    })
    pdf.loc[10:70, "k"] = 7.0  # a group spanning many partitions
    return pdf


def _empties():
    pdf = _data()
    ddf = dd.from_pandas(pdf, npartitions=9)
    keep = (pdf.index < 20) | (pdf.index > 60)
    out, expected = ddf[ddf.index.to_series().isin(pdf.index[keep])], pdf[keep]
    assert 0 in out.map_partitions(len).compute().tolist()
    return out, expected


@pytest.fixture(params=["7parts", "empties"])
def frames(request):
    if request.param == "empties":
        return _empties()
    pdf = _data()
    return dd.from_pandas(pdf, npartitions=int(request.param[0])), pdf


KWS = [{}, {"dropna": False}, {"sort": False, "dropna": False}]
IDS = ["default", "keepna", "unsorted-keepna"]


@pytest.mark.parametrize("kw", KWS, ids=IDS)
def test_value_counts(frames, kw):
    ddf, pdf = frames
    for args in [{}, {"normalize": True, "dropna": False}]:
        got = ddf.groupby("k", **kw).w.value_counts(**args).compute()
        exp = pdf.groupby("k", **kw).w.value_counts(**args)
        assert_eq(got, exp, sort=True)
        if kw.get("sort", True):  # groups in key order, counts ordered inside each
            np.testing.assert_array_equal(got.index.get_level_values(0),
                                          exp.index.get_level_values(0))
            np.testing.assert_allclose(got.to_numpy(), exp.to_numpy())
    got = ddf.groupby(["k", "j"], **kw).w.value_counts().compute()
    assert_eq(got, pdf.groupby(["k", "j"], **kw).w.value_counts(), sort=True)


@pytest.mark.parametrize("kw", KWS, ids=IDS)
def test_whole_group_aggs(frames, kw):
    ddf, pdf = frames
    g, pg = ddf.groupby("k", **kw), pdf.groupby("k", **kw)
    assert_eq(g.w.unique().compute(), pg.w.unique())
    assert_eq(g.v.idxmax().compute(), pg.v.idxmax())
    assert_eq(g.v.idxmin().compute(), pg.v.idxmin())
    assert_eq(g[["v", "w"]].idxmax().compute(), pg[["v", "w"]].idxmax())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (one-row groups: ddof)
        assert_eq(g[["v", "w"]].cov().compute(), pg[["v", "w"]].cov())
        assert_eq(g[["v", "w"]].corr().compute(), pg[["v", "w"]].corr())
    assert_eq(ddf.groupby(["j", "k"], **kw).w.unique().compute(),
              pdf.groupby(["j", "k"], **kw).w.unique())


@pytest.mark.parametrize("kw", KWS, ids=IDS)
def test_head_tail(frames, kw):
    ddf, pdf = frames
    g, pg = ddf.groupby("k", **kw), pdf.groupby("k", **kw)
    for n in (0, 2, -25):
        assert_eq(g.head(n).compute(), pg.head(n))
        assert_eq(g.tail(n).compute(), pg.tail(n))
    assert_eq(g.v.head(2).compute(), pg.v.head(2))
    assert_eq(g[["v"]].tail(2).compute(), pg[["v"]].tail(2))
    got = ddf.groupby(ddf.w % 2, **kw).head(4)
    assert got.npartitions == ddf.npartitions  # a filter, no shuffle
    assert_eq(got.compute(), pdf.groupby(pdf.w % 2, **kw).head(4))


@pytest.mark.parametrize("kw", KWS, ids=IDS)
def test_fills(frames, kw):
    ddf, pdf = frames
    g, pg = ddf.groupby("k", **kw), pdf.groupby("k", **kw)
    assert_eq(g.ffill().compute(), pg.ffill())
    assert_eq(g.bfill().compute(), pg.bfill())
    assert_eq(g.v.ffill(limit=1).compute(), pg.v.ffill(limit=1))
    assert_eq(g[["v", "j"]].bfill(limit=2).compute(), pg[["v", "j"]].bfill(limit=2))
    assert_eq(ddf.v.groupby(ddf.w, **kw).ffill().compute(), pdf.v.groupby(pdf.w, **kw).ffill())


def test_fill_across_many_partitions():
    pdf = pd.DataFrame({"k": [1, 2] * 20, "v": [1.0, 2.0] + [np.nan] * 36 + [3.0, 4.0]})
    ddf = dd.from_pandas(pdf, npartitions=8)
    for limit in (None, 1, 5, 30):
        assert_eq(ddf.groupby("k").v.ffill(limit=limit).compute(),
                  pdf.groupby("k").v.ffill(limit=limit))
        assert_eq(ddf.groupby("k").v.bfill(limit=limit).compute(),
                  pdf.groupby("k").v.bfill(limit=limit))


@pytest.mark.parametrize("kw", KWS, ids=IDS)
def test_get_group(frames, kw):
    ddf, pdf = frames
    g, pg = ddf.groupby("k", **kw), pdf.groupby("k", **kw)
    got = g.get_group(7.0)
    assert got.npartitions == ddf.npartitions
    assert_eq(got.compute(), pg.get_group(7.0))
    assert_eq(g.v.get_group(1.0).compute(), pg.v.get_group(1.0))
    assert_eq(ddf.groupby(["k", "j"], **kw).get_group((7.0, "a")).compute(),
              pdf.groupby(["k", "j"], **kw).get_group((7.0, "a")))
    if kw.get("dropna", True):
        with pytest.raises(KeyError):
            g.get_group(np.nan)
    else:
        assert_eq(g.get_group(np.nan).compute(), pg.get_group(np.nan))
    assert len(g.get_group(99.0).compute()) == 0


@pytest.mark.parametrize("kw", KWS, ids=IDS)
def test_rolling(frames, kw):
    ddf, pdf = frames
    g, pg = ddf.groupby("k", **kw), pdf.groupby("k", **kw)
    assert_eq(g.v.rolling(3).mean().compute(), pg.v.rolling(3).mean(), sort=True)
    assert_eq(g.rolling(2, min_periods=1).sum(numeric_only=True).compute(),
              pg.rolling(2, min_periods=1).sum(numeric_only=True), sort=True)
    assert_eq(g[["v", "w"]].rolling(4, min_periods=2).std().compute(),
              pg[["v", "w"]].rolling(4, min_periods=2).std(), sort=True)


def test_group_by_index():
    pdf = _data().set_index("w").sort_index(kind="stable")
    ddf = dd.from_pandas(pdf, npartitions=5)
    assert_eq(ddf.groupby("w").v.sum().compute(), pdf.groupby("w").v.sum())
    assert_eq(ddf.groupby(level=0).agg({"v": "mean", "k": "max"}).compute(),
              pdf.groupby(level=0).agg({"v": "mean", "k": "max"}))
    assert_eq(ddf.groupby(level="w", sort=False).v.count().compute(),
              pdf.groupby(level="w", sort=False).v.count())
    assert_eq(ddf.v.groupby(level=0).max().compute(), pdf.v.groupby(level=0).max())
    assert_eq(ddf.groupby(["w", "j"]).v.sum().compute(), pdf.groupby(["w", "j"]).v.sum())
    assert_eq(ddf.groupby("w").j.value_counts().compute().sort_index(),
              pdf.groupby("w").j.value_counts().sort_index())
    assert_eq(ddf.groupby("w").v.cumsum().compute(), pdf.groupby("w").v.cumsum())
    assert_eq(ddf.groupby("w").head(3).compute(), pdf.groupby("w").head(3))
    assert_eq(ddf.groupby("w").v.rolling(2).sum().compute(),
              pdf.groupby("w").v.rolling(2).sum(), sort=True)
    with pytest.raises(NotImplementedError):
        ddf.groupby(level=1)
    with pytest.raises(KeyError):
        ddf.groupby("nope")


def test_errors():
    ddf = dd.from_pandas(_data(), npartitions=3)
    with pytest.raises(NotImplementedError):
        ddf.groupby("k").v.corr(ddf.w)
    with pytest.raises(NotImplementedError):
        ddf.groupby("k").v.value_counts(bins=3)
    with pytest.raises(TypeError):
        ddf.groupby("k").head(1.5)
    with pytest.raises(ValueError):
        ddf.groupby("k").ffill(limit=0)
    with pytest.raises(ValueError):
        ddf.groupby(["k", "j"]).get_group(7.0)


def test_against_dask():
    dask_dd = pytest.importorskip("dask.dataframe")
    pdf = _data()
    ddf, kdf = dd.from_pandas(pdf, npartitions=4), dask_dd.from_pandas(pdf, npartitions=4)
    assert_eq(ddf.groupby("k").w.unique().compute(), kdf.groupby("k").w.unique().compute())
    assert_eq(ddf.groupby("k").get_group(2.0)[["v", "w"]].compute(),
              kdf.groupby("k").get_group(2.0)[["v", "w"]].compute())
    assert_eq(ddf.groupby("k").w.value_counts().compute(),
              kdf.groupby("k").w.value_counts().compute(), sort=True)
