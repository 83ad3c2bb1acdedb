"""Group-by aggregations against pandas on the whole data.

The data has empty partitions, groups present in only some partitions, NaN
values and NaN keys; every result must equal pandas (index names and order,
columns, dtypes; floats to rtol 1e-9).
"""

import numpy as np
import pandas as pd
import pytest

import shoal.dataframe as dd

FUNCS = ["mean", "sum", "count", "size", "min", "max", "std", "var", "first", "last",
         "nunique", "prod"]
NUMERIC_ONLY = {"mean", "std", "var", "prod"}  # pandas raises on the string column


def assert_eq(got, expected, **kwargs):
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, **kwargs)
    else:
        pd.testing.assert_series_equal(got, expected, check_exact=False, rtol=1e-9, **kwargs)


def _data(n=180, seed=0):
    rng = np.random.default_rng(seed)
    pdf = pd.DataFrame({
        "row": np.arange(n),
        "k": rng.choice(["a", "b", "c", None], n, p=[0.4, 0.3, 0.2, 0.1]),
        "j": rng.choice([1.0, 2.0, np.nan], n),
        "x": rng.integers(0, 100, n),
        "y": np.where(rng.random(n) < 0.25, np.nan, rng.normal(size=n)),
        "s": pd.Series(rng.choice(["u", "v", "w", None], n), dtype="str"),
    })
    pdf.loc[:11, "k"] = "early"  # a group only in the first partition
    pdf.loc[n - 8:, "k"] = "late"  # ... and one only in the last
    return pdf


@pytest.fixture(scope="module")
def frames():
    """(shoal, pandas): 12 partitions of 15 rows, partitions 2-4 empty after a filter."""
    pdf = _data()
    ddf = dd.from_pandas(pdf, npartitions=12)
    keep = (ddf.row < 30) | (ddf.row >= 75)
    return ddf[keep], pdf[(pdf.row < 30) | (pdf.row >= 75)]


def _call(g, func, **kwargs):
    if func in NUMERIC_ONLY and isinstance(g, (pd.core.groupby.DataFrameGroupBy,
                                               dd.groupby.DataFrameGroupBy)):
        kwargs["numeric_only"] = True
    return getattr(g, func)(**kwargs)


@pytest.mark.parametrize("func", FUNCS)
def test_each_aggregation(frames, func):
    ddf, pdf = frames
    assert_eq(_call(ddf.groupby("k"), func).compute(), _call(pdf.groupby("k"), func))
    assert_eq(_call(ddf.groupby("k").y, func).compute(), _call(pdf.groupby("k").y, func))
    assert_eq(_call(ddf.groupby("k")["x"], func).compute(), _call(pdf.groupby("k")["x"], func))
    sel = ["x", "y"]
    assert_eq(_call(ddf.groupby("k")[sel], func, split_every=2).compute(),
              _call(pdf.groupby("k")[sel], func))
    multi = ["k", "j"]
    assert_eq(_call(ddf.groupby(multi, dropna=False), func).compute(),
              _call(pdf.groupby(multi, dropna=False), func))


def test_result_is_one_partition_with_meta(frames):
    ddf, pdf = frames
    out = ddf.groupby("k").agg({"x": ["sum", "mean"], "y": "count"})
    assert isinstance(out, dd.DataFrame)
    assert out.npartitions == 1 and out.divisions == (None, None)
    computed = out.compute()
    pd.testing.assert_series_equal(out._meta.dtypes, computed.dtypes)
    assert list(out.columns) == list(computed.columns)
    s = ddf.groupby("k").y.mean()
    assert isinstance(s, dd.Series) and s.name == "y" and s.dtype == np.float64


def test_dtypes_and_size_names(frames):
    ddf, pdf = frames
    size = ddf.groupby("k").size().compute()
    assert_eq(size, pdf.groupby("k").size())
    assert size.name is None and size.dtype == np.int64
    assert ddf.groupby("k").x.size().compute().name == "x"
    counts = ddf.groupby("k").count().compute()
    assert (counts.dtypes == np.int64).all()
    assert ddf.groupby("k").x.mean().compute().dtype == np.float64
    assert ddf.groupby("k").s.nunique().compute().dtype == np.int64


def test_strings_sum_and_min(frames):
    ddf, pdf = frames
    # object strings; the group "late" has none, and pandas sums it to 0
    def objects(frame):
        return frame.s.astype(object).where(frame.k != "late", None)

    pdf, ddf = pdf.assign(o=objects(pdf)), ddf.assign(o=objects(ddf))
    assert pdf.groupby("k").o.sum()["late"] == 0
    for func in ["sum", "min", "max", "first", "last", "nunique"]:
        assert_eq(getattr(ddf.groupby("k").s, func)().compute(),
                  getattr(pdf.groupby("k").s, func)())
        assert_eq(getattr(ddf.groupby("k", dropna=False)[["s", "o"]], func)().compute(),
                  getattr(pdf.groupby("k", dropna=False)[["s", "o"]], func)())
        assert_eq(getattr(ddf.groupby("k").o, func)().compute(),
                  getattr(pdf.groupby("k").o, func)())


def test_agg_forms(frames):
    ddf, pdf = frames
    g, pg = ddf.groupby("k"), pdf.groupby("k")
    assert_eq(g.agg("mean", numeric_only=True).compute(), pg.agg("mean", numeric_only=True))
    assert_eq(g[["x", "y"]].agg(["mean", "max"]).compute(), pg[["x", "y"]].agg(["mean", "max"]))
    assert isinstance(g[["x", "y"]].agg(["mean", "max"]).compute().columns, pd.MultiIndex)
    spec = {"x": "sum", "y": ["min", "max", "std"], "s": ["nunique", "count"]}
    assert_eq(g.agg(spec, split_every=3).compute(), pg.agg(spec))
    assert_eq(g.agg({"x": "sum", "y": "first"}).compute(), pg.agg({"x": "sum", "y": "first"}))
    assert_eq(g.aggregate(total=("x", "sum"), spread=("y", "var"), n=("s", "size")).compute(),
              pg.aggregate(total=("x", "sum"), spread=("y", "var"), n=("s", "size")))
    assert_eq(g.y.agg(["sum", "mean", "nunique"]).compute(), pg.y.agg(["sum", "mean", "nunique"]))
    assert_eq(g.y.agg(lo="min", hi="max").compute(), pg.y.agg(lo="min", hi="max"))
    assert_eq(g.y.agg("std", ddof=0).compute(), pg.y.agg("std", ddof=0))


def test_var_std_ddof_and_nunique_dropna(frames):
    ddf, pdf = frames
    for ddof in [0, 1, 2]:
        assert_eq(ddf.groupby("k").y.var(ddof=ddof).compute(), pdf.groupby("k").y.var(ddof=ddof))
        assert_eq(ddf.groupby("k").std(ddof=ddof, numeric_only=True).compute(),
                  pdf.groupby("k").std(ddof=ddof, numeric_only=True))
    assert_eq(ddf.groupby("k").y.nunique(dropna=False).compute(),
              pdf.groupby("k").y.nunique(dropna=False))


def test_variance_is_accurate_with_a_large_offset():
    # Chan's merge of (n, mean, M2): a sum of squares would lose every digit here
    rng = np.random.default_rng(3)
    pdf = pd.DataFrame({"k": rng.integers(0, 3, 3000), "v": 1e6 + rng.normal(size=3000)})
    ddf = dd.from_pandas(pdf, npartitions=30)
    got = ddf.groupby("k").v.var(split_every=2).compute()
    exact = pdf.groupby("k").v.apply(lambda s: np.var(s.to_numpy() - 1e6, ddof=1))
    np.testing.assert_allclose(got.to_numpy(), exact.to_numpy(), rtol=1e-9)


def test_multi_key_dropna_and_order(frames):
    ddf, pdf = frames
    for dropna in [True, False]:
        for sort in [True, False]:
            kw = {"dropna": dropna, "sort": sort}
            got = ddf.groupby(["k", "j"], **kw).agg({"x": "sum", "y": "mean", "s": "nunique"})
            expected = pdf.groupby(["k", "j"], **kw).agg({"x": "sum", "y": "mean", "s": "nunique"})
            got = got.compute()
            if sort:
                assert_eq(got, expected)
            else:  # pandas keeps first appearance; so does shoal, but only sorted is promised
                assert_eq(got.sort_index(), expected.sort_index())
    # sort=False keeps the order of first appearance, across partitions too
    got = ddf.groupby("k", sort=False, dropna=False).x.sum().compute()
    assert_eq(got, pdf.groupby("k", sort=False, dropna=False).x.sum())
    assert got.index[0] == "early" and got.index[-1] == "late"


def test_split_every_builds_combine_levels():
    pdf = _data(n=300, seed=5)
    ddf = dd.from_pandas(pdf, npartitions=11)
    out = ddf.groupby("k").agg({"y": ["mean", "var", "first", "last"], "x": ["nunique", "prod"]},
                               split_every=2)
    combines = [k for k in out.__shoal_graph__() if "-combine-" in str(k[0])]
    assert len(combines) >= 4  # 11 -> 6 -> 3 -> 2 -> aggregate
    pdf["x"] = pdf["x"] % 3 + 1  # keep products small
    ddf = dd.from_pandas(pdf, npartitions=11)
    for split_every in [2, 3, None]:
        got = ddf.groupby("k").agg({"y": ["mean", "var", "first", "last"], "x": ["nunique", "min"]},
                                   split_every=split_every).compute()
        assert_eq(got, pdf.groupby("k").agg({"y": ["mean", "var", "first", "last"],
                                             "x": ["nunique", "min"]}))
    assert ddf.groupby("k").x.sum(split_out=4).npartitions == 4  # (test_dataframe_split_out_options)


def test_first_last_follow_partition_order():
    pdf = pd.DataFrame({"k": ["a", "b"] * 10, "v": [np.nan] * 6 + list(range(14)),
                        "w": [float(i) for i in range(18)] + [np.nan, np.nan]})
    ddf = dd.from_pandas(pdf, npartitions=5)
    for func in ["first", "last"]:
        assert_eq(getattr(ddf.groupby("k"), func)(split_every=2).compute(),
                  getattr(pdf.groupby("k"), func)())


def test_series_keys(frames):
    ddf, pdf = frames
    # an expression of a column: pandas names the index after it and keeps the column
    assert_eq(ddf.groupby(ddf.x % 3).sum(numeric_only=True).compute(),
              pdf.groupby(pdf.x % 3).sum(numeric_only=True))
    assert_eq(ddf.groupby(ddf.x % 3).y.mean().compute(), pdf.groupby(pdf.x % 3).y.mean())
    # the column itself: it is a key, not a value
    assert_eq(ddf.groupby(ddf.k).max().compute(), pdf.groupby(pdf.k).max())
    # an unnamed key built partition-wise, and a mix of label and Series keys
    key = ddf.map_partitions(lambda p: pd.Series(p.x.to_numpy() // 25, index=p.index),
                             meta=pd.Series([], dtype="int64"))
    pkey = pd.Series(pdf.x.to_numpy() // 25, index=pdf.index)
    assert_eq(ddf.groupby(key).y.agg(["mean", "count"]).compute(),
              pdf.groupby(pkey).y.agg(["mean", "count"]))
    assert_eq(ddf.groupby(["k", ddf.x % 2]).y.var().compute(),
              pdf.groupby(["k", pdf.x % 2]).y.var())
    # Series.groupby(Series)
    assert_eq(ddf.y.groupby(ddf.k).mean().compute(), pdf.y.groupby(pdf.k).mean())
    assert_eq(ddf.y.groupby([ddf.k, ddf.x % 2]).agg(["min", "max"]).compute(),
              pdf.y.groupby([pdf.k, pdf.x % 2]).agg(["min", "max"]))


def test_categorical_keys_observed():
    rng = np.random.default_rng(7)
    pdf = pd.DataFrame({"c": pd.Categorical(rng.choice(["p", "q"], 60), categories=["r", "p", "q"]),
                        "v": rng.integers(0, 9, 60), "w": rng.normal(size=60)})
    ddf = dd.from_pandas(pdf, npartitions=6)
    for observed in [True, False]:
        g, pg = ddf.groupby("c", observed=observed), pdf.groupby("c", observed=observed)
        assert_eq(g.agg({"v": ["sum", "count", "nunique", "size"], "w": ["mean", "std"]}).compute(),
                  pg.agg({"v": ["sum", "count", "nunique", "size"], "w": ["mean", "std"]}))


def test_nullable_and_datetime_columns():
    rng = np.random.default_rng(8)
    n = 60
    pdf = pd.DataFrame({
        "k": rng.choice(["a", "b", "c"], n),
        "i": pd.array(np.where(rng.random(n) < 0.3, None, rng.integers(0, 5, n)), dtype="Int64"),
        "t": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 999, n), unit="h"),
        "b": rng.random(n) < 0.5,
    })
    ddf = dd.from_pandas(pdf, npartitions=6)
    g, pg = ddf.groupby("k"), pdf.groupby("k")
    for func in ["sum", "count", "size", "min", "max", "first", "last", "nunique", "mean"]:
        assert_eq(getattr(g.i, func)().compute(), getattr(pg.i, func)())
        assert_eq(getattr(g.b, func)().compute(), getattr(pg.b, func)())
    for func in ["min", "max", "first", "last", "count", "nunique"]:
        assert_eq(getattr(g.t, func)().compute(), getattr(pg.t, func)())
    with pytest.raises(NotImplementedError, match="datetime"):
        ddf.groupby("k").t.mean()


def test_all_rows_filtered_out(frames):
    ddf, pdf = frames
    empty, pempty = ddf[ddf.x > 1000], pdf[pdf.x > 1000]
    assert_eq(empty.groupby("k").y.mean().compute(), pempty.groupby("k").y.mean())
    assert_eq(empty.groupby("k").agg({"x": ["sum", "nunique"]}).compute(),
              pempty.groupby("k").agg({"x": ["sum", "nunique"]}))


def test_errors_when_building(frames):
    ddf, _ = frames
    with pytest.raises(KeyError, match=r"'nope'.*the columns are \['row', 'k'"):
        ddf.groupby("nope")
    with pytest.raises(KeyError, match="nope"):
        ddf.groupby(["k", "nope"])
    with pytest.raises(KeyError, match="nope"):
        ddf.groupby("k")["nope"]
    with pytest.raises(KeyError, match="nope"):
        ddf.groupby("k")[["x", "nope"]]
    with pytest.raises(KeyError, match="nope"):
        ddf.groupby("k").agg({"nope": "sum"})
    with pytest.raises(AttributeError, match="nope"):
        ddf.groupby("k").nope
    # pandas' own error and message, before anything runs
    with pytest.raises(TypeError, match=str(_pandas_error(lambda: _data().groupby("k").mean()))):
        ddf.groupby("k").mean()
    with pytest.raises(TypeError):
        ddf.groupby("k").s.mean()
    for unsupported in [lambda g: g.agg(np.mean), lambda g: g.x.agg("sem")]:
        with pytest.raises(NotImplementedError):
            unsupported(ddf.groupby("k"))
    with pytest.raises(ValueError, match="groupby.*apply.*meta="):  # a function the stand-in
        ddf.groupby("k").apply(lambda g: g["no such column"])       # cannot run
    with pytest.raises(NotImplementedError):
        ddf.groupby(lambda i: i % 2)
    with pytest.raises(NotImplementedError):
        ddf.groupby("k", as_index=False)


def _pandas_error(func):
    try:
        func()
    except TypeError as exc:
        return exc
    raise AssertionError("pandas did not raise")


def _flights(n=2000, seed=11):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "Date": pd.Timestamp("1990-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        "Origin": rng.choice(["EWR", "JFK", "LGA"], n, p=[0.5, 0.3, 0.2]),
        "Dest": rng.choice(["ORD", "SFO", "BOS", "ATL"], n),
        "DepDelay": np.where(rng.random(n) < 0.05, np.nan, rng.gamma(1.5, 10, n) - 8),
        "Distance": rng.integers(100, 3000, n),
        "Cancelled": rng.random(n) < 0.1,
    })


def test_tutorial_queries():
    pdf = _flights()
    df = dd.from_pandas(pdf, npartitions=10)
    got = df[~df.Cancelled].groupby("Origin").DepDelay.mean().max().compute()
    assert got == pytest.approx(pdf[~pdf.Cancelled].groupby("Origin").DepDelay.mean().max(),
                                rel=1e-12)
    assert_eq(df[~df.Cancelled].groupby("Origin").Origin.count().compute(),
              pdf[~pdf.Cancelled].groupby("Origin").Origin.count())
    assert_eq(df.groupby(["Origin", "Dest"]).agg({"DepDelay": ["mean", "std"],
                                                  "Distance": "max"}).compute(),
              pdf.groupby(["Origin", "Dest"]).agg({"DepDelay": ["mean", "std"], "Distance": "max"}))
    weekday = df.map_partitions(lambda p: p.Date.dt.day_of_week, meta=("Date", "int32"))
    assert_eq(df.groupby(weekday).DepDelay.mean().compute(),
              pdf.groupby(pdf.Date.dt.day_of_week).DepDelay.mean())


@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes"])
def test_schedulers(scheduler):
    pdf = _flights(n=600, seed=12)
    df = dd.from_pandas(pdf, npartitions=9)
    spec = {"DepDelay": ["mean", "var", "first", "last"], "Distance": ["sum", "nunique"]}
    got = df.groupby("Origin").agg(spec, split_every=2).compute(scheduler=scheduler)
    assert_eq(got, pdf.groupby("Origin").agg(spec))


def test_apply_and_transform_see_each_group_whole():
    """The rows are shuffled by the keys first, then pandas' own method runs per partition:
    groups that span partitions are whole (the rows come in the shuffle's order)."""
    rng = np.random.default_rng(2)
    pdf = pd.DataFrame({"k": rng.integers(0, 5, 60), "j": rng.integers(0, 2, 60),
                        "v": rng.random(60)})  # fmt: skip
    df = dd.from_pandas(pdf, npartitions=4)

    def top(g):
        return g.nlargest(2, "v")

    def same(got, expected):
        got = got.compute().sort_index()
        expected = expected.sort_index()
        pd.testing.assert_frame_equal(got, expected) if isinstance(expected, pd.DataFrame) \
            else pd.testing.assert_series_equal(got, expected)  # fmt: skip

    same(df.groupby("k").apply(top), pdf.groupby("k").apply(top))
    same(df.groupby("k").v.transform("mean"), pdf.groupby("k").v.transform("mean"))
    same(df.groupby(["k", "j"]).v.apply(lambda s: s.max() - s.min()),
         pdf.groupby(["k", "j"]).v.apply(lambda s: s.max() - s.min()))
    same(df.groupby(df.k % 2).v.transform(lambda s: s - s.mean()),
         pdf.groupby(pdf.k % 2).v.transform(lambda s: s - s.mean()))
    same(df.v.groupby(df.k).transform("sum"), pdf.v.groupby(pdf.k).transform("sum"))
    assert df.groupby("k").v.transform("mean").divisions == df.divisions  # (rows back home)


def test_apply_keeps_group_keys_off_and_refuses_unobserved_categories():
    pdf = pd.DataFrame({"k": [1, 2, 1, 3, 2, 1], "v": [1.0, 2, 3, 4, 5, 6]})
    df = dd.from_pandas(pdf, npartitions=3)
    got = df.groupby("k", group_keys=False).apply(lambda g: g.v * 2).compute().sort_index()
    pd.testing.assert_series_equal(got, pdf.groupby("k", group_keys=False).apply(lambda g: g.v * 2).sort_index())
    cats = pdf.assign(k=pdf.k.astype("category"))
    with pytest.raises(NotImplementedError, match="observed=False"):
        dd.from_pandas(cats, 2).groupby("k", observed=False).apply(len)
