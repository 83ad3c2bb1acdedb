"""Computed results equal pandas' (values, dtypes and row order) where they used to differ."""

import numpy as np
import pandas as pd
import pytest

import shoal.dataframe as dd

pytestmark = pytest.mark.timeout(60)


def _timed(drop=None):
    idx = pd.date_range("2024-01-01", periods=48, freq="h")
    pdf = pd.DataFrame({"y": np.arange(48), "f": np.arange(48) * 0.5}, index=idx)
    return pdf.drop(pdf.index[drop]) if drop is not None else pdf


@pytest.mark.parametrize("how", ["max", "min", "first", "last", "sum", "count"])
def test_resample_keeps_ints_as_pandas(how):
    for pdf in (_timed(), _timed(slice(10, 20))):  # (no empty bin; some bins empty)
        ddf = dd.from_pandas(pdf, npartitions=3)
        got = getattr(ddf.y.resample("6h"), how)()
        pd.testing.assert_series_equal(got.compute(), getattr(pdf.y.resample("6h"), how)(),
                                       check_freq=False)
    assert got.dtype == "int64"  # (the meta: the dtype when no bin is empty)
    named = dd.from_pandas(_timed(), npartitions=3).resample("6h").agg(ys=("y", how))
    pd.testing.assert_frame_equal(named.compute(), _timed().resample("6h").agg(ys=("y", how)),
                                  check_freq=False)


@pytest.mark.parametrize("aggfunc", ["sum", "count", "first", "last"])
def test_pivot_table_keeps_ints_as_pandas(aggfunc):
    pdf = pd.DataFrame({"i": [1, 1, 2, 2, 3, 3, 1, 2], "c": pd.Categorical(list("abababab")),
                        "v": np.arange(8), "f": np.arange(8) * 1.5})
    ddf = dd.from_pandas(pdf, npartitions=3)
    for values in ("v", ["v", "f"]):
        got = dd.pivot_table(ddf, index="i", columns="c", values=values, aggfunc=aggfunc)
        want = pdf.pivot_table(index="i", columns="c", values=values, aggfunc=aggfunc,
                               observed=False)
        pd.testing.assert_frame_equal(got.compute(), want)


def _grouped_data():
    rng = np.random.default_rng(0)
    pdf = pd.DataFrame({"k": rng.integers(0, 7, 60), "x": rng.integers(0, 100, 60),
                        "y": rng.random(60)})
    return pdf, dd.from_pandas(pdf, npartitions=4)


def test_groupby_apply_and_rolling_sorted_by_keys():
    pdf, ddf = _grouped_data()

    def plus(g):
        return g.x.sum() + 1

    pd.testing.assert_series_equal(ddf.groupby("k").apply(plus).compute(),
                                   pdf.groupby("k").apply(plus))
    frame = ddf.groupby("k")[["x", "y"]].apply(lambda g: g.assign(z=g.x * 2)).compute()
    pd.testing.assert_frame_equal(frame, pdf.groupby("k")[["x", "y"]].apply(
        lambda g: g.assign(z=g.x * 2)))
    pd.testing.assert_frame_equal(ddf.groupby("k").rolling(2).sum().compute(),
                                  pdf.groupby("k").rolling(2).sum())
    pd.testing.assert_series_equal(ddf.groupby("k").x.rolling(3).mean().compute(),
                                   pdf.groupby("k").x.rolling(3).mean())



def _keyed_data():
    rng = np.random.default_rng(1)
    pdf = pd.DataFrame({"k": rng.integers(0, 30, 300), "s": rng.choice(list("pqrstuvw"), 300),
                        "x": rng.integers(0, 100, 300), "y": rng.random(300)})
    pdf["c"] = pd.Categorical(pdf.s, categories=list("wvutsrqp"))  # (not the text's order)
    pdf["t"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(pdf.k, "D")
    pdf["kn"] = pdf.k.where(pdf.k % 7 != 0)
    return pdf, dd.from_pandas(pdf, npartitions=5)


@pytest.mark.parametrize("by, kw", [("k", {}), ("s", {}), ("c", {"observed": True}), ("t", {}),
                                    ("kn", {}), ("kn", {"dropna": False}), (["s", "k"], {}),
                                    (["kn", "s"], {"dropna": False}), (["c", "kn"], {})])
def test_groupby_apply_and_rolling_sorted_in_several_partitions(by, kw):
    pdf, ddf = _keyed_data()  # (by key ranges: no gathering into one partition)
    got = ddf.groupby(by, **kw)[["x", "y"]].apply(lambda g: g.assign(z=g.x * 2))
    assert got.npartitions > 1
    pd.testing.assert_frame_equal(got.compute(), pdf.groupby(by, **kw)[["x", "y"]].apply(
        lambda g: g.assign(z=g.x * 2)))
    rolled = ddf.groupby(by, **kw).x.rolling(3).sum()
    assert rolled.npartitions > 1
    pd.testing.assert_series_equal(rolled.compute(), pdf.groupby(by, **kw).x.rolling(3).sum())


def test_groupby_sorted_whole_groups_edge_keys():
    pdf, ddf = _keyed_data()
    parts = ddf.groupby(["kn", "k"]).x.rolling(2).sum().to_delayed()
    firsts = [p.compute().index.get_level_values(0) for p in parts]
    firsts = [f for f in firsts if len(f)]  # (each partition's keys below the next's)
    assert len(firsts) > 1 and all(a.max() < b.min() for a, b in zip(firsts, firsts[1:]))
    skewed = pdf.assign(k=pdf.k.where(pdf.index % 5 != 0, 3))  # (a big group stays whole)
    pd.testing.assert_series_equal(
        dd.from_pandas(skewed, npartitions=5).groupby("k").apply(lambda g: g.x.sum()).compute(),
        skewed.groupby("k").apply(lambda g: g.x.sum()))
    nan_first = pdf.assign(a=np.nan)  # (no values in the first key: ranges of the second)
    pd.testing.assert_series_equal(
        dd.from_pandas(nan_first, npartitions=5).groupby(["a", "k"], dropna=False)
        .x.rolling(2).sum().compute(),
        nan_first.groupby(["a", "k"], dropna=False).x.rolling(2).sum())
    none = ddf[ddf.k > 99].groupby("k").x.rolling(2).sum().compute()
    pd.testing.assert_series_equal(none, pdf[pdf.k > 99].groupby("k").x.rolling(2).sum())
    mixed = pd.DataFrame({"k": [1, "a", 2, "b", 3, "a"] * 3, "x": range(18)})
    got = dd.from_pandas(mixed, npartitions=3).groupby("k").x.apply(lambda s: s + 1)
    assert got.npartitions == 3  # (keys that do not compare: hash order, not gathered)
    want = mixed.groupby("k").x.apply(lambda s: s + 1)
    pd.testing.assert_series_equal(got.compute().loc[want.index], want)

def test_groupby_transform_in_the_frames_order():
    pdf, ddf = _grouped_data()
    got = ddf.groupby("k").transform(lambda s: s - s.mean())
    pd.testing.assert_frame_equal(got.compute(), pdf.groupby("k").transform(lambda s: s - s.mean()))
    summed = ddf.groupby("k").x.transform("sum")
    assert summed.divisions == ddf.divisions
    pd.testing.assert_series_equal(summed.compute(), pdf.groupby("k").x.transform("sum"))
    pd.testing.assert_series_equal(ddf.groupby(ddf.k % 3).x.transform("max").compute(),
                                   pdf.groupby(pdf.k % 3).x.transform("max"))


def test_loc_list_in_the_lists_order():
    pdf = pd.DataFrame({"u": [5, 9, 1, 3, 9, 7, 2, 8, 1, 4], "x": range(10)})
    indexed = dd.from_pandas(pdf, npartitions=3).set_index("u")
    want = pdf.set_index("u")
    for labels in ([9, 1], [9, 1, 9], [4, 2, 7]):
        pd.testing.assert_frame_equal(indexed.loc[labels].compute(), want.loc[labels])
        pd.testing.assert_frame_equal(indexed.clear_divisions().loc[labels].compute(),
                                      want.loc[labels])
    pd.testing.assert_series_equal(indexed.x.loc[[9, 1]].compute(), want.x.loc[[9, 1]])
