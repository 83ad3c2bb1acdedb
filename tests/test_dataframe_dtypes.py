"""Less common dtypes (categoricals, intervals, pyarrow times and decimals) through sorts,
reductions and concat, checked against pandas."""

import decimal

import pytest

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

import shoal.dataframe as sd  # noqa: E402

pytestmark = pytest.mark.timeout(60)
tm = pd.testing
CATS = ["zz", "b", "m", "a", "q"]  # category order differs from the text's order


def compute(x):
    return x.compute(scheduler="sync")


def categorical_frame(ordered, n=60):
    values = np.random.default_rng(0).choice(CATS + [None], n)
    return pd.DataFrame({"c": pd.Categorical(values, categories=CATS, ordered=ordered),
                         "k": range(n)})


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("ascending", [True, False])
@pytest.mark.parametrize("na_position", ["first", "last"])
def test_sort_values_categorical_follows_category_order(ordered, ascending, na_position):
    pdf = categorical_frame(ordered)
    df = sd.from_pandas(pdf, npartitions=4)
    got = compute(df.sort_values("c", ascending=ascending, na_position=na_position))
    expected = pdf.sort_values("c", ascending=ascending, na_position=na_position, kind="stable")
    assert got.c.tolist() == expected.c.tolist()
    assert got.c.dtype == expected.c.dtype


def test_series_sort_values_ordered_categorical():
    s = pd.Series(pd.Categorical(["lo", "hi", "mid", "lo", "hi", "mid"],
                                 categories=["lo", "mid", "hi"], ordered=True), name="c")
    got = compute(sd.from_pandas(s, npartitions=2).sort_values())
    assert got.tolist() == s.sort_values().tolist()


@pytest.mark.parametrize("ordered", [True, False])
def test_set_index_categorical(ordered):
    pdf = categorical_frame(ordered).dropna()
    got = compute(sd.from_pandas(pdf, npartitions=4).set_index("c"))
    expected = pdf.set_index("c").sort_index(kind="stable")
    assert got.index.tolist() == expected.index.tolist()
    assert sorted(got.k) == sorted(expected.k)


def test_set_index_categorical_divisions_checked_by_category_order():
    df = sd.from_pandas(categorical_frame(True).dropna(), npartitions=2)
    got = compute(df.set_index("c", divisions=["zz", "m", "q"]))
    assert got.index.tolist() == sorted(got.index.tolist(), key=CATS.index)
    with pytest.raises(ValueError, match="nope"):
        df.set_index("c", divisions=["zz", "nope"])
    with pytest.raises(ValueError, match="sorted"):
        df.set_index("c", divisions=["q", "zz"])


def test_set_index_unknown_categories():
    pdf = categorical_frame(False).dropna()
    df = sd.from_pandas(pdf, npartitions=3)
    df = df.assign(c=df.c.cat.as_unknown())
    expected = pdf.set_index("c").sort_index(kind="stable")
    for got in (df.set_index("c"), df.set_index("c", divisions=["zz", "m", "q"])):
        got = compute(got)
        assert got.index.tolist() == expected.index.tolist()
        assert sorted(got.k) == sorted(expected.k)


@pytest.mark.parametrize("n", [4, 12])
def test_count_and_describe_ordered_categorical(n):
    values = ["u", "v", None, "u", "w", "v", "u", None, "w", "u", "v", "w"][:n]
    s = pd.Series(pd.Categorical(values, categories=["w", "v", "u"], ordered=True), name="c")
    ss = sd.from_pandas(s, npartitions=3)
    assert compute(ss.count()) == s.count()
    assert compute(ss.max()) == s.max()
    tm.assert_series_equal(compute(ss.describe()), s.describe())
    pdf = s.to_frame().assign(x=range(n))
    tm.assert_series_equal(compute(sd.from_pandas(pdf, npartitions=3).count()), pdf.count())


def test_interval_column_reductions_and_groupby():
    pdf = pd.DataFrame({"k": [0, 1, 0, 1], "x": [1.0, 2, 3, 4], "iv": pd.interval_range(0, 4)})
    df = sd.from_pandas(pdf, npartitions=2)
    tm.assert_series_equal(compute(df.groupby("k")["x"].sum()), pdf.groupby("k")["x"].sum())
    tm.assert_series_equal(compute(df.count()), pdf.count())
    assert compute(df.iv.count()) == pdf.iv.count()


def arrow_times():
    stamps = pd.date_range("2024-01-01", periods=9, tz="Europe/Paris")[::-1]
    return pd.DataFrame({
        "t": pd.array(stamps.tz_localize(None), dtype="timestamp[us][pyarrow]"),
        "tz": pd.array(stamps, dtype="timestamp[us, Europe/Paris][pyarrow]"),
        "d": pd.array(pd.timedelta_range("1s", periods=9), dtype="duration[ms][pyarrow]"),
        "k": range(9),
    })


@pytest.mark.parametrize("column", ["t", "tz", "d"])
def test_arrow_times_sort_and_mean(column):
    pdf = arrow_times()
    df = sd.from_pandas(pdf, npartitions=3)
    got = compute(df.sort_values(column, ascending=False))
    assert got.k.tolist() == pdf.sort_values(column, ascending=False, kind="stable").k.tolist()
    assert compute(df[column].mean()) == pdf[column].mean()


def test_arrow_timestamp_set_index_and_describe():
    pdf = arrow_times()
    df = sd.from_pandas(pdf, npartitions=3)
    got = compute(df.set_index("tz"))
    tm.assert_frame_equal(got, pdf.set_index("tz").sort_index())
    assert compute(df.tz.describe()).tolist() == pdf.tz.describe().tolist()


def test_arrow_decimal_moments():
    values = [decimal.Decimal(f"{i}.25") for i in range(6)]
    s = pd.Series(values, dtype=pd.ArrowDtype(pa.decimal128(10, 2)), name="d")
    ss = sd.from_pandas(s, npartitions=2)
    assert compute(ss.sum()) == s.sum()
    assert compute(ss.mean()) == pytest.approx(float(s.mean()))
    assert compute(ss.std()) == pytest.approx(s.std())
    assert compute(ss.var()) == pytest.approx(s.var())


@pytest.mark.parametrize("dtype", [
    pd.ArrowDtype(pa.list_(pa.int64())), pd.ArrowDtype(pa.time64("us")),
    pd.ArrowDtype(pa.struct([("a", pa.int64())])), pd.IntervalDtype("float64", "left"),
])
def test_stand_in_values_keep_dtype(dtype):
    from shoal.dataframe._meta import nonempty

    out = nonempty(pd.Series([], dtype=dtype))
    assert out.dtype == dtype and out.notna().all() and out.iloc[0] != out.iloc[1]


def test_concat_different_categories_is_plain_like_pandas():
    a = pd.DataFrame({"c": pd.Categorical(["x", "y"])})
    b = pd.DataFrame({"c": pd.Categorical(["z", "x"])})
    out = sd.concat([sd.from_pandas(a, npartitions=1), sd.from_pandas(b, npartitions=1)])
    expected = pd.concat([a, b])
    assert out.dtypes["c"] == expected.dtypes["c"]
    tm.assert_frame_equal(compute(out), expected)
    series = sd.concat([sd.from_pandas(a.c, npartitions=1), sd.from_pandas(b.c, npartitions=1)])
    tm.assert_series_equal(compute(series), pd.concat([a.c, b.c]))
