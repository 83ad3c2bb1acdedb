"""shoal.dataframe reductions against pandas: values, dtypes and the tree's shape.

Every reduction runs on Series and DataFrames split into 1, 4 and 11
partitions, with ``split_every=2`` (several combine levels) and the default,
on data with NaN values and after filters that leave partitions empty.
"""

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

import shoal.dataframe as dd
from shoal.dataframe.core import Scalar


def make_pdf(n=40):
    rng = np.random.default_rng(1)
    pdf = pd.DataFrame({
        "i": rng.integers(-50, 50, n),
        "f": rng.normal(10, 3, n).round(4),
        "b": rng.integers(0, 2, n).astype(bool),
        "s": rng.choice(["u", "v", "w", "x"], n),
        "t": pd.date_range("2020-01-01", periods=n, freq="13h"),
    })
    pdf.loc[pdf.index % 6 == 2, "f"] = np.nan
    pdf.loc[pdf.index % 9 == 4, "s"] = None
    return pdf


def compute(x):
    return x.compute(scheduler="sync")


def check_scalar(got, want):
    assert isinstance(got, Scalar)
    dtype = got.dtype
    value = compute(got)
    assert type(value) is type(want), (type(value), type(want))
    if isinstance(want, (float, np.floating)) and np.isnan(want):
        assert np.isnan(value)
    elif isinstance(want, (float, np.floating)):
        assert value == pytest.approx(want, rel=1e-9)
    else:
        assert value == want
    if hasattr(want, "dtype"):
        assert dtype == want.dtype, (dtype, want.dtype)


def check_series(got, want, **kwargs):
    meta = got._meta
    value = compute(got)
    tm.assert_series_equal(value, want, **kwargs)
    assert meta.dtype == want.dtype


@pytest.fixture(params=[1, 4, 11])
def frames(request):
    pdf = make_pdf()
    return pdf, dd.from_pandas(pdf, npartitions=request.param)


SIMPLE = ["sum", "prod", "min", "max", "count", "any", "all", "mean", "var", "std"]


@pytest.mark.parametrize("split_every", [None, 2])
@pytest.mark.parametrize("how", SIMPLE)
def test_series_reductions(frames, how, split_every):
    pdf, df = frames
    cols = ["i", "f", "b"] if how != "prod" else ["b"]
    if how in ("min", "max", "count"):
        cols += ["s", "t"]
    for col in cols:
        check_scalar(getattr(df[col], how)(split_every=split_every), getattr(pdf[col], how)())
    small = pdf.f / 10
    check_scalar(getattr(df.f / 10, how)(split_every=split_every), getattr(small, how)())


@pytest.mark.parametrize("split_every", [None, 2])
@pytest.mark.parametrize("how", SIMPLE)
def test_frame_reductions(frames, how, split_every):
    pdf, df = frames
    num, pnum = df[["i", "f", "b"]], pdf[["i", "f", "b"]]
    if how == "prod":
        num, pnum = df[["b"]], pdf[["b"]]
    check_series(getattr(num, how)(split_every=split_every), getattr(pnum, how)())
    if how in ("any", "all"):
        check_series(getattr(df, how)(bool_only=True, split_every=split_every),
                     getattr(pdf, how)(bool_only=True))
    else:
        check_series(getattr(df, how)(numeric_only=True, split_every=split_every),
                     getattr(pdf, how)(numeric_only=True))
    if how in ("min", "max", "count"):  # mixed columns: an object result
        check_series(getattr(df, how)(split_every=split_every), getattr(pdf, how)())


@pytest.mark.parametrize("how", ["sum", "min", "max", "mean", "var", "std", "prod"])
def test_skipna_false(frames, how):
    pdf, df = frames
    check_scalar(getattr(df.f, how)(skipna=False), getattr(pdf.f, how)(skipna=False))
    check_scalar(getattr(df.i, how)(skipna=False), getattr(pdf.i, how)(skipna=False))
    num, pnum = df[["i", "f"]], pdf[["i", "f"]]
    check_series(getattr(num, how)(skipna=False), getattr(pnum, how)(skipna=False))


def test_ddof_and_min_count(frames):
    pdf, df = frames
    for ddof in (0, 1, 2):
        check_scalar(df.f.var(ddof=ddof), pdf.f.var(ddof=ddof))
        check_scalar(df.i.std(ddof=ddof), pdf.i.std(ddof=ddof))
        check_series(df[["i", "f"]].var(ddof=ddof), pdf[["i", "f"]].var(ddof=ddof))
    few = pdf[pdf.i > 45]
    dfew = df[df.i > 45]
    for min_count in (0, 1, 3, 100):
        check_scalar(dfew.f.sum(min_count=min_count), few.f.sum(min_count=min_count))
        check_series(dfew[["i", "f"]].sum(min_count=min_count), few[["i", "f"]].sum(min_count=min_count))


@pytest.mark.parametrize("how", SIMPLE)
def test_reductions_over_empty_partitions(how):
    """A filter empties most partitions; an int column's answer stays int."""
    pdf = make_pdf()
    df = dd.from_pandas(pdf, npartitions=11)
    for cond in (lambda d: d.i > 40, lambda d: d.i > 1000):
        part, dpart = pdf[cond(pdf)], df[cond(df)]
        cols = ["i", "b"] if how != "prod" else ["b"]
        for col in cols:
            check_scalar(getattr(dpart[col], how)(split_every=2), getattr(part[col], how)())
        want = getattr(part[cols], how)()
        if len(part):
            check_series(getattr(dpart[cols], how)(split_every=3), want)
        else:  # pandas' dtype for no rows at all may differ from the schema's
            tm.assert_series_equal(compute(getattr(dpart[cols], how)(split_every=3)), want)


def test_reduction_tree_shape():
    pdf = make_pdf()
    df = dd.from_pandas(pdf, npartitions=11)
    total = df.i.sum(split_every=2)
    layer = total._layers[total._name]
    combines = [k for k in layer if "-combine-" in k[0]]
    assert len(combines) == 6 + 3 + 2  # 11 -> 6 -> 3 -> 2 -> aggregate
    assert max(len(t.dependencies) for t in layer.values()) <= 2
    default = df.i.sum()  # split_every=8: one combine level
    assert len([k for k in default._layers[default._name] if "-combine-" in k[0]]) == 2
    with pytest.raises(ValueError, match="split_every"):
        df.i.sum(split_every=1)
    check_scalar(df.i.sum(split_every=False), pdf.i.sum())


def test_reduction_phases_are_prefixes_of_their_own():
    """The dashboard's progress bars and task stream group tasks by prefix: a tree
    reduction's chunks, combines and aggregate were all "sum", one bar mixing their
    times.  Each phase is named before the token, as shoal.array's reductions are."""
    from collections import Counter

    from shoal.core.keys import key_split

    df = dd.from_pandas(make_pdf(), npartitions=11)
    total = df.i.sum(split_every=2)
    prefixes = Counter(key_split(k) for k in total._layers[total._name])
    assert prefixes == {"sum-chunk": 11, "sum-combine": 6 + 3 + 2, "sum": 1}
    mean = df.groupby("i").b.mean()
    assert {key_split(k) for k in mean._layers[mean._name]} == {
        "groupby-mean-chunk", "groupby-mean-combine", "groupby-mean"}


def test_axis_one(frames):
    pdf, df = frames
    num, pnum = df[["i", "f"]], pdf[["i", "f"]]
    tm.assert_series_equal(compute(num.sum(axis=1)), pnum.sum(axis=1))
    tm.assert_series_equal(compute(num.mean(axis=1)), pnum.mean(axis=1))
    tm.assert_series_equal(compute(num.max(axis="columns")), pnum.max(axis="columns"))


def test_len_size_shape(frames):
    pdf, df = frames
    assert len(df) == len(pdf)
    assert len(df.f) == len(pdf)
    assert len(df[df.i > 1000]) == 0
    check_scalar(df.size, pdf.size)
    check_scalar(df.f.size, pdf.f.size)


def test_nunique(frames):
    pdf, df = frames
    for col in pdf.columns:
        check_scalar(df[col].nunique(split_every=2), pdf[col].nunique())
        check_scalar(df[col].nunique(dropna=False), pdf[col].nunique(dropna=False))
    check_series(df.nunique(), pdf.nunique())
    check_series(df.nunique(dropna=False, split_every=2), pdf.nunique(dropna=False))


@pytest.mark.parametrize("split_every", [None, 2])
def test_value_counts(frames, split_every):
    pdf, df = frames
    for col in ["i", "s", "b"]:
        for kwargs in ({}, {"ascending": True}, {"normalize": True}, {"dropna": False},
                       {"sort": False}, {"normalize": True, "dropna": False}):
            got = df[col].value_counts(split_every=split_every, **kwargs)
            want = pdf[col].value_counts(**kwargs)
            if kwargs.get("sort") is False:  # pandas: order of appearance, as here
                tm.assert_series_equal(compute(got), want)
            else:
                check_series(got, want)
    check_series(df.s.astype("category").value_counts(), pdf.s.astype("category").value_counts())
    check_series(df[df.i > 1000].i.value_counts(), pdf[pdf.i > 1000].i.value_counts())


def test_unique(frames):
    pdf, df = frames
    for col in ["i", "s", "f"]:
        got = compute(df[col].unique(split_every=2))
        tm.assert_series_equal(got, pd.Series(pdf[col].unique(), name=col))


@pytest.mark.parametrize("how", ["nlargest", "nsmallest"])
def test_nlargest_nsmallest(frames, how):
    pdf, df = frames
    tm.assert_series_equal(compute(getattr(df.i, how)(5, split_every=2)), getattr(pdf.i, how)(5))
    tm.assert_series_equal(compute(getattr(df.f, how)(3)), getattr(pdf.f, how)(3))
    tm.assert_series_equal(compute(getattr(df.i, how)(4, keep="last")), getattr(pdf.i, how)(4, keep="last"))
    tm.assert_frame_equal(compute(getattr(df, how)(6, columns="i", split_every=2)),
                          getattr(pdf, how)(6, columns="i"))
    tm.assert_frame_equal(compute(getattr(df, how)(n=4, columns=["f", "i"])),
                          getattr(pdf, how)(n=4, columns=["f", "i"]))
    tm.assert_frame_equal(compute(getattr(df, how)(4, columns="i", keep="all")),
                          getattr(pdf, how)(4, columns="i", keep="all"))


def test_describe(frames):
    pdf, df = frames
    tm.assert_series_equal(compute(df.i.describe()), pdf.i.describe())
    tm.assert_series_equal(compute(df.f.describe(split_every=2)), pdf.f.describe())
    tm.assert_frame_equal(compute(df.describe()), pdf.describe())
    pct = [0.1, 0.333, 0.9]
    tm.assert_frame_equal(compute(df.describe(percentiles=pct)), pdf.describe(percentiles=pct))
    tm.assert_series_equal(compute(df.s.describe()), pdf.s.describe())
    tm.assert_series_equal(compute(df.b.describe()), pdf.b.describe())
    tm.assert_frame_equal(compute(df[["s", "b"]].describe()), pdf[["s", "b"]].describe())
    few = pdf[pdf.i > 45]
    tm.assert_series_equal(compute(df[df.i > 45].f.describe()), few.f.describe())
    assert df.describe()._meta.index.empty and list(df.describe().columns) == ["i", "f", "t"]


def test_reductions_are_lazy_and_typed(frames):
    pdf, df = frames
    assert df.i.sum().dtype == np.dtype("int64")
    assert df.i.mean().dtype == np.dtype("float64")
    assert df.b.sum().dtype == np.dtype("int64")
    assert df.b.any().dtype == np.dtype("bool")
    assert isinstance(df.sum(numeric_only=True), dd.Series)
    with pytest.raises(TypeError):
        df.mean()  # pandas refuses the string column at once, not at compute time
    with pytest.raises(NotImplementedError, match="numeric_only"):
        df[["i", "t"]].mean()


def test_scalar_arithmetic_between_reductions(frames):
    pdf, df = frames
    check_scalar(df.i.sum() / df.i.count(), pdf.i.sum() / pdf.i.count())
    check_scalar((df.f.max() - df.f.min()) * 2, (pdf.f.max() - pdf.f.min()) * 2)
    check_scalar(-df.i.min(), -pdf.i.min())


def test_repeated_column_names_are_named_before_a_reduction_or_group_by():
    """Each was a bare error from deep inside ("Length of values (4) does not match length
    of index (2)", "Reindexing only valid with uniquely valued Index objects")."""
    pdf = pd.DataFrame([[1, 2, "x"], [3, 4, "y"]], columns=["a", "a", "s"])
    ddf = dd.from_pandas(pdf, npartitions=1)
    for call, what in ((lambda: ddf[["a"]].mean(), "mean"), (lambda: ddf.describe(), "describe"),
                       (lambda: ddf.groupby("s").sum(), "groupby")):  # fmt: skip
        with pytest.raises(ValueError, match=rf"{what}: the column names \['a'\] appear more "
                                             "than once"):
            call()
