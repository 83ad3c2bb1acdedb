"""DataFrame/Series.resample (resample.py) and dd.Aggregation (aggregation.py)."""

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

import shoal.dataframe as dd


def _equal(got, exp, **kw):
    if isinstance(exp, pd.DataFrame):
        assert_frame_equal(got, exp, check_freq=False, **kw)
    else:
        assert_series_equal(got, exp, check_freq=False, **kw)


def _frame(n=300, freq="37min", seed=0, tz=None):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2020-01-01 03:17", periods=n, freq=freq, tz=tz)
    idx = idx[rng.random(n) > 0.3]
    pdf = pd.DataFrame({"a": rng.integers(0, 10, len(idx)), "b": rng.random(len(idx))}, index=idx)
    # a gap of empty bins in the middle
    cut = idx[len(idx) // 3], idx[len(idx) // 2]
    return pdf[(pdf.index < cut[0]) | (pdf.index > cut[1])]


# -- resample -------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", ["h", "7h", "D", "2D", "W", "ME", "12h"])
@pytest.mark.parametrize("closed", [None, "right"])
@pytest.mark.parametrize("npartitions", [1, 13])
def test_resample_methods_match_pandas(rule, closed, npartitions):
    pdf = _frame()
    ddf = dd.from_pandas(pdf, npartitions=npartitions)
    for how in ["sum", "mean", "count", "size", "first", "last", "max", "min", "nunique", "std"]:
        exp = getattr(pdf.resample(rule, closed=closed), how)()
        out = getattr(ddf.resample(rule, closed=closed), how)()
        _equal(out.compute(), exp)
        assert out.known_divisions and list(out.divisions) == sorted(out.divisions)


@pytest.mark.parametrize("label", ["left", "right"])
def test_resample_label_and_long_span_tz(label):
    pdf = _frame(n=900, freq="9h", seed=1, tz="Europe/Paris")
    for n in (3, 17):
        ddf = dd.from_pandas(pdf, npartitions=n)
        for rule in ("ME", "QE", "7D", "5h"):
            exp = pdf.b.resample(rule, label=label).agg(["sum", "median", "var"])
            _equal(ddf.b.resample(rule, label=label).agg(["sum", "median", "var"]).compute(), exp)


def test_resample_empty_partitions_and_coarse_rule():
    pdf = _frame()
    ddf = dd.from_pandas(pdf, npartitions=1)
    d0, dn = pdf.index[0], pdf.index[-1]
    mid = pdf.index[len(pdf) // 3] + pd.Timedelta("1min")  # inside the gap: empty partitions
    divs = [d0, d0 + pd.Timedelta("90min"), mid, mid + pd.Timedelta("1min"),
            mid + pd.Timedelta("2min"), dn]
    parts = ddf.repartition(divisions=divs)
    assert [len(p) for p in [parts.partitions[i].compute() for i in range(5)]].count(0) >= 2
    for rule in ("h", "D", "ME"):  # ME: one bin wider than every partition
        r = parts.resample(rule)
        _equal(r.sum().compute(), pdf.resample(rule).sum())
        _equal(r.mean().compute(), pdf.resample(rule).mean())
        _equal(r.count().compute(), pdf.resample(rule).count())
        _equal(r.ohlc().compute(), pdf.resample(rule).ohlc())
    # a coarse rule merges partitions: one partition per bin at most
    out = dd.from_pandas(pdf, npartitions=20).resample("D").sum()
    assert out.npartitions <= len(pdf.resample("D").sum())


def test_resample_agg_forms_and_series():
    pdf = _frame()
    ddf = dd.from_pandas(pdf, npartitions=6)
    r = ddf.resample("2h")
    p = pdf.resample("2h")
    spec = {"a": "sum", "b": ["min", "max"]}
    _equal(r.agg(spec).compute(), p.agg(spec))
    _equal(r.agg(["sum", "count"]).compute(), p.agg(["sum", "count"]))
    _equal(r.aggregate("mean").compute(), p.aggregate("mean"))
    _equal(r.agg(lambda s: s.max() - s.min()).compute(), p.agg(lambda s: s.max() - s.min()))
    _equal(r.var(ddof=0).compute(), p.var(ddof=0))
    _equal(ddf.a.resample("3h").median().compute(), pdf.a.resample("3h").median())
    _equal(ddf.a.resample("3h").ohlc().compute(), pdf.a.resample("3h").ohlc())
    meta = r.sum()._meta
    assert list(meta.columns) == ["a", "b"] and len(meta) == 0


def test_resample_matches_dask():
    dask_dd = pytest.importorskip("dask.dataframe")
    pdf = _frame()
    got = dd.from_pandas(pdf, npartitions=5).resample("3h").mean().compute()
    exp = dask_dd.from_pandas(pdf, npartitions=5).resample("3h").mean().compute()
    _equal(got, exp)


def test_resample_graph_names_are_tokens():
    ddf = dd.from_pandas(_frame(), npartitions=4)
    assert ddf.resample("h").sum()._name == ddf.resample("h").sum()._name
    assert ddf.resample("h").sum()._name != ddf.resample("2h").sum()._name
    assert ddf.resample("h").sum()._name != ddf.resample("h", closed="right").sum()._name


def test_resample_bad_input():
    pdf = _frame()
    ddf = dd.from_pandas(pdf, npartitions=3)
    with pytest.raises(ValueError, match="known divisions"):
        ddf.clear_divisions().resample("h")
    with pytest.raises(TypeError, match="DatetimeIndex"):
        dd.from_pandas(pdf.reset_index(drop=True), npartitions=2).resample("h")
    with pytest.raises(ValueError, match="closed"):
        ddf.resample("h", closed="middle")
    with pytest.raises(ValueError, match="label"):
        ddf.resample("h", label="up")
    with pytest.raises(ValueError, match="rule"):
        ddf.resample("not-a-rule")
    with pytest.raises(AttributeError, match="cumsum"):
        ddf.resample("h").cumsum()


# -- Aggregation ----------------------------------------------------------------------------

custom_sum = dd.Aggregation("custom_sum", chunk=lambda g: g.sum(), agg=lambda g: g.sum())
my_mean = dd.Aggregation("my_mean", chunk=lambda g: (g.count(), g.sum()),
                         agg=lambda c, s: (c.sum(), s.sum()), finalize=lambda c, s: s / c)


def _groups(seed=0, n=200):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"k": rng.integers(0, 7, n), "j": rng.integers(0, 2, n),
                         "a": rng.random(n), "b": rng.integers(0, 100, n)})


@pytest.mark.parametrize("npartitions,split_every", [(1, None), (5, None), (12, 2)])
def test_aggregation_forms_match_pandas(npartitions, split_every):
    pdf = _groups()
    ddf = dd.from_pandas(pdf, npartitions=npartitions)
    g, pg = ddf.groupby("k"), pdf.groupby("k")
    se = {"split_every": split_every}
    _equal(g.agg(custom_sum, **se).compute(), pg.agg("sum"))
    _equal(g.agg(my_mean, **se).compute(), pg.agg("mean").astype(float))
    _equal(g.agg({"a": custom_sum, "b": "max"}, **se).compute(), pg.agg({"a": "sum", "b": "max"}))
    exp = pg.agg({"a": ["sum", "median"], "b": "mean"})
    exp.columns = pd.MultiIndex.from_tuples(
        [("a", "custom_sum"), ("a", "median"), ("b", "my_mean")])
    _equal(g.agg({"a": [custom_sum, "median"], "b": my_mean}, **se).compute(), exp)
    exp = pg.a.agg(["mean", "max"]).rename(columns={"mean": "my_mean"})
    _equal(g.a.agg([my_mean, "max"], **se).compute(), exp)
    _equal(g.b.agg(custom_sum, **se).compute(), pg.b.sum())
    exp = pg.agg(s=("a", "sum"), m=("b", "mean"))
    _equal(g.agg(s=("a", custom_sum), m=("b", "mean"), **se).compute(), exp)


def test_aggregation_keys_empty_partitions_and_sort():
    pdf = _groups(1)
    pdf.loc[pdf.index[::9], "k"] = np.nan
    ddf = dd.from_pandas(pdf, npartitions=6)
    sub, psub = ddf[ddf.b < 30], pdf[pdf.b < 30]  # some partitions hold few or no rows
    _equal(sub.groupby(["k", "j"]).agg(my_mean).compute(), psub.groupby(["k", "j"]).mean())
    exp = pdf.groupby("k", dropna=False).agg({"a": "sum"}).rename(columns={"a": "a"})
    _equal(ddf.groupby("k", dropna=False).agg({"a": custom_sum}).compute(), exp)
    exp = pdf.groupby("k", sort=False).b.sum()
    _equal(ddf.groupby("k", sort=False).b.agg(custom_sum).compute(), exp)
    _equal(ddf.groupby(ddf.j * 2).a.agg(my_mean).compute(), pdf.groupby(pdf.j * 2).a.mean())
    _equal(ddf.a.groupby(ddf.k).agg(custom_sum).compute(), pdf.a.groupby(pdf.k).sum())


def test_aggregation_matches_dask():
    dask_dd = pytest.importorskip("dask.dataframe")
    pdf = _groups(2)
    spec = {"a": [custom_sum, "sum"], "b": my_mean}
    got = dd.from_pandas(pdf, npartitions=4).groupby("k").agg(spec).compute()
    mine_to_dask = {custom_sum: dask_dd.Aggregation("custom_sum", custom_sum.chunk,
                                                    custom_sum.agg),
                    my_mean: dask_dd.Aggregation("my_mean", my_mean.chunk, my_mean.agg,
                                                 my_mean.finalize)}
    dspec = {"a": [mine_to_dask[custom_sum], "sum"], "b": mine_to_dask[my_mean]}
    exp = dask_dd.from_pandas(pdf, npartitions=4).groupby("k").agg(dspec).compute()
    _equal(got, exp.sort_index())  # (dask leaves this one unsorted)


def test_aggregation_bad_input_and_tokens():
    with pytest.raises(TypeError, match="name"):
        dd.Aggregation(1, sum, sum)
    with pytest.raises(TypeError, match="chunk"):
        dd.Aggregation("x", None, sum)
    with pytest.raises(TypeError, match="finalize"):
        dd.Aggregation("x", sum, sum, finalize=3)
    ddf = dd.from_pandas(_groups(), npartitions=3)
    with pytest.raises(NotImplementedError, match="Aggregation"):
        ddf.groupby("k").agg({"a": custom_sum, "b": lambda s: s.sum()})
    boom = dd.Aggregation("boom", chunk=lambda g: 1 / 0, agg=lambda g: g.sum())
    with pytest.raises(ValueError, match="boom|custom Aggregation"):
        ddf.groupby("k").agg(boom)
    g = ddf.groupby("k")
    assert g.agg(custom_sum)._name == g.agg(custom_sum)._name
    assert g.agg(custom_sum)._name != g.agg(my_mean)._name


# -- merge_asof -----------------------------------------------------------------------------

def _asof_frames(seed=0):
    rng = np.random.default_rng(seed)
    minutes = pd.date_range("2020-01-01", periods=2000, freq="min")
    lt = pd.DatetimeIndex(np.sort(rng.choice(minutes, 300, replace=False)), name="t")
    rt = pd.DatetimeIndex(np.sort(rng.choice(minutes - pd.Timedelta("1h"), 120)), name="t")
    left = pd.DataFrame({"g": rng.integers(0, 4, len(lt)), "x": rng.random(len(lt))}, index=lt)
    right = pd.DataFrame({"g": rng.integers(0, 4, len(rt)), "y": rng.random(len(rt))}, index=rt)
    return left, right


@pytest.mark.parametrize("direction", ["backward", "forward", "nearest"])
@pytest.mark.parametrize("nl,nr", [(1, 1), (7, 3), (5, 11)])
def test_merge_asof_matches_pandas(direction, nl, nr):
    left, right = _asof_frames()
    dl, dr = dd.from_pandas(left, npartitions=nl), dd.from_pandas(right, npartitions=nr)
    for kw in ({}, {"by": "g"}, {"tolerance": pd.Timedelta("5min"), "allow_exact_matches": False}):
        kw = {**kw, "direction": direction}
        exp = pd.merge_asof(left, right, left_index=True, right_index=True, **kw)
        out = dd.merge_asof(dl, dr, left_index=True, right_index=True, **kw)
        assert out.divisions == dl.divisions
        _equal(out.compute(), exp)
        lc, rc = left.reset_index(), right.reset_index()
        exp = pd.merge_asof(lc, rc, on="t", **kw)
        got = dd.merge_asof(dd.from_pandas(lc, npartitions=nl), dd.from_pandas(rc, npartitions=nr),
                            on="t", **kw).compute()
        _equal(got.reset_index(drop=True), exp)


def test_merge_asof_matches_dask_and_bad_input():
    dask_dd = pytest.importorskip("dask.dataframe")
    left, right = _asof_frames(3)
    got = dd.merge_asof(dd.from_pandas(left, npartitions=4), dd.from_pandas(right, npartitions=3),
                        left_index=True, right_index=True, by="g").compute()
    exp = dask_dd.merge_asof(dask_dd.from_pandas(left, npartitions=4),
                             dask_dd.from_pandas(right, npartitions=3),
                             left_index=True, right_index=True, by="g").compute()
    _equal(got, exp)
    dl, dr = dd.from_pandas(left, npartitions=2), dd.from_pandas(right, npartitions=2)
    with pytest.raises(ValueError, match="right's are unknown"):
        dd.merge_asof(dl, dr.clear_divisions(), left_index=True, right_index=True)
    with pytest.raises(ValueError, match="direction"):
        dd.merge_asof(dl, dr, left_index=True, right_index=True, direction="sideways")
    with pytest.raises(NotImplementedError, match="left_on"):
        dd.merge_asof(dl, dr, left_on="x", right_on="y")
    with pytest.raises(TypeError, match="right"):
        dd.merge_asof(dl, [1, 2], left_index=True, right_index=True)


# -- review fixes ------------------------------------------------------------------------


def test_resample_across_a_dst_change_at_midnight():
    """America/Sao_Paulo skips 2018-11-04 00:00: pandas cannot start or end its bins on that
    edge (a partition's first or last), only meet it inside, as the whole data does."""
    idx = pd.date_range("2018-10-01", "2018-12-31", freq="11h", tz="America/Sao_Paulo")
    pdf = pd.DataFrame({"a": np.arange(len(idx))}, index=idx)
    want = pdf.resample("W").sum()
    for n in (3, 10):
        got = dd.from_pandas(pdf, npartitions=n).resample("W").sum().compute()
        pd.testing.assert_frame_equal(got, want, check_freq=False)


@pytest.mark.parametrize("rule", ["7h", "2D", "h"])
def test_resample_bins_start_from_the_first_row_when_divisions_start_earlier(rule):
    idx = pd.date_range("2020-01-01 03:00", periods=60, freq="50min")
    pdf = pd.DataFrame({"a": np.arange(60.0)}, index=idx)
    df = dd.from_pandas(pdf, npartitions=3)
    early = df.repartition(divisions=[pd.Timestamp("2019-12-31 10:00"), *df.divisions[1:]],
                           force=True)  # fmt: skip
    got = early.resample(rule).sum().compute()
    want = pdf.resample(rule).sum()
    pd.testing.assert_series_equal(got.a[got.a != 0], want.a[want.a != 0], check_freq=False)


def test_resample_of_bools_keeps_the_schemas_dtype_in_every_partition():
    idx = pd.to_datetime(["2020-01-01 00:10", "2020-01-01 01:10", "2020-01-01 05:10",
                          "2020-01-01 06:10"])  # fmt: skip
    pdf = pd.DataFrame({"b": [True, True, False, False]}, index=idx)
    df = dd.from_pandas(pdf, npartitions=2)
    for how in ("first", "last", "min", "max"):
        got = getattr(df.resample("h"), how)()
        want = getattr(pdf.resample("h"), how)()
        assert got.b.dtype == want.b.dtype == "float64"
        pd.testing.assert_frame_equal(got.compute(), want, check_freq=False)


def test_merge_asof_on_an_unsorted_key_raises_as_pandas():
    left = pd.DataFrame({"t": [1, 5, 3, 7], "x": range(4)})
    right = pd.DataFrame({"t": [0, 4, 6], "y": range(3)})
    with pytest.raises(ValueError, match="left keys must be sorted"):
        pd.merge_asof(left, right, on="t")
    with pytest.raises(ValueError, match="left keys must be sorted"):
        dd.merge_asof(dd.from_pandas(left, npartitions=2, sort=False),
                      dd.from_pandas(right, npartitions=2), on="t")  # fmt: skip
