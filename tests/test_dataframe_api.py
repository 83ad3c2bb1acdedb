"""The dd namespace: exports, concat, writer methods."""

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

import shoal.dataframe as dd


def test_public_names():
    for name in ["DataFrame", "Series", "Scalar", "from_pandas", "map_partitions", "concat",
                 "merge", "read_csv", "read_parquet", "read_json", "to_csv", "to_parquet",
                 "to_json", "compute"]:
        assert name in dd.__all__ and hasattr(dd, name), name


def test_concat_frames_and_pandas():
    a = pd.DataFrame({"x": [1, 2, 3]})
    b = pd.DataFrame({"x": [4, 5], "y": ["p", "q"]}, index=[10, 11])
    got = dd.concat([dd.from_pandas(a, npartitions=2), b])
    assert got.npartitions == 3
    assert got.known_divisions and got.divisions == (0, 1, 10, 11)
    pd.testing.assert_frame_equal(got.compute(), pd.concat([a, b]))
    # overlapping indexes: divisions become unknown, rows all kept in order
    again = dd.concat([dd.from_pandas(a, npartitions=1), dd.from_pandas(a, npartitions=2)])
    assert not again.known_divisions
    pd.testing.assert_frame_equal(again.compute(), pd.concat([a, a]))
    with pytest.raises(ValueError, match="at least one"):
        dd.concat([])


def test_writer_methods_round_trip(tmp_path):
    pdf = pd.DataFrame({"a": range(10), "b": list("abcdefghij")})
    df = dd.from_pandas(pdf, npartitions=3)
    paths = df.to_csv(str(tmp_path / "out-*.csv"), index=False)
    assert len(paths) == 3
    back = dd.read_csv(str(tmp_path / "out-*.csv")).compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(back, pdf, check_dtype=False)
    df.to_parquet(str(tmp_path / "pq"))
    pd.testing.assert_frame_equal(dd.read_parquet(str(tmp_path / "pq")).compute(), pdf)
    df.to_json(str(tmp_path / "js-*.json"))
    back = dd.read_json(str(tmp_path / "js-*.json")).compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(back, pdf, check_dtype=False)


# --- cumulative methods and Series.sort_values (Dask has them; shoal had not) ----------


@pytest.mark.parametrize("npartitions", [1, 2, 3, 7, 20])
def test_cumulative_methods_across_partitions_are_pandas(npartitions):
    """A scan: each partition starts from what those before it add up to, NaN rules
    (skipna or not) as in one frame, including NaNs at a partition's end."""
    rng = np.random.default_rng(0)
    pdf = pd.DataFrame({"a": rng.integers(0, 10, 20), "b": rng.random(20), "c": rng.random(20),
                        "t": pd.date_range("2024-01-01", periods=20, freq="h")[::-1]})  # fmt: skip
    pdf.loc[[3, 7, 8, 15, 19], "b"] = np.nan
    pdf.loc[[5, 6, 7, 8, 9], "c"] = np.nan
    pdf.loc[[4, 11], "t"] = pd.NaT
    ddf = dd.from_pandas(pdf, npartitions=npartitions)
    numbers = ["a", "b", "c"]
    for method in ("cumsum", "cumprod", "cummax", "cummin"):
        for skipna in (True, False):
            tm.assert_frame_equal(getattr(ddf[numbers], method)(skipna=skipna).compute(),
                                  getattr(pdf[numbers], method)(skipna=skipna))  # fmt: skip
            tm.assert_series_equal(getattr(ddf.b, method)(skipna=skipna).compute(),
                                   getattr(pdf.b, method)(skipna=skipna))  # fmt: skip
    tm.assert_series_equal(ddf.t.cummax().compute(), pdf.t.cummax())
    tm.assert_frame_equal(ddf[numbers].cumsum(axis=1).compute(), pdf[numbers].cumsum(axis=1))
    assert ddf[numbers].cumsum().divisions == ddf.divisions
    with pytest.raises(ValueError, match="cumsum: no axis 2"):
        ddf.cumsum(axis=2)


@pytest.mark.parametrize("npartitions", [1, 3])
def test_series_sort_values_is_pandas_stable_sort(npartitions):
    values = pd.Series([3.0, np.nan, 1.0, 2.0, 1.0, np.nan, 5.0], name=0)
    s = dd.from_pandas(values, npartitions=npartitions)
    tm.assert_series_equal(s.sort_values().compute(), values.sort_values(kind="stable"))
    got = s.sort_values(ascending=False, na_position="first").compute()
    tm.assert_series_equal(got, values.sort_values(ascending=False, na_position="first",
                                                   kind="stable"))  # fmt: skip


def test_cumulative_methods_keep_dtypes_index_and_order_through_carries():
    """What a review of the first scan found: a carry cast to a bool or uint8 column's dtype
    (2 became True, 300 wrapped to 44), an empty partition's NaN maximum ending every later
    value, a DatetimeIndex that failed, text added in the wrong order, Int64 as object."""
    idx = pd.date_range("2024-01-01", periods=6, freq="D")
    pdf = pd.DataFrame({"b": [True, False, True, False, True, True],
                        "u": pd.array([200, 100, 3, 4, 5, 6], dtype="uint8"),
                        "n": pd.array([1, None, 3, 4, None, 6], dtype="Int64"),
                        "s": list("abcdef")}, index=idx)  # fmt: skip
    ddf = dd.from_pandas(pdf, npartitions=3)
    for cols, method in ((["b", "u"], "cumsum"), (["n"], "cumsum"), (["n"], "cummax"),
                         (["s"], "cumsum"), (["s"], "cummin"), (["b", "u", "n"], "cumprod")):
        for skipna in (True, False):
            tm.assert_frame_equal(getattr(ddf[cols], method)(skipna=skipna).compute(),
                                  getattr(pdf[cols], method)(skipna=skipna))  # fmt: skip
    series = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    emptied = dd.from_pandas(series, npartitions=3)
    emptied = emptied[(emptied < 3) | (emptied > 4)]  # (the middle partition empty)
    tm.assert_series_equal(emptied.cummax(skipna=False).compute(),
                           series[(series < 3) | (series > 4)].cummax(skipna=False))
    repeated = pd.DataFrame([[1, 2], [3, 4], [5, 6]], columns=["a", "a"])
    tm.assert_frame_equal(dd.from_pandas(repeated, npartitions=2).cumsum().compute(),
                          repeated.cumsum())


@pytest.fixture
def frame():
    pdf = pd.DataFrame({"x": [3, 1, 4, 1, 5, 9, 2, 6], "y": [2.5, np.nan, 7.1, 0.3, 9.9, 9.9, -1, 4],
                        "z": list("abcdefgh")}, index=list("pqrstuvw"))  # fmt: skip
    return pdf, dd.from_pandas(pdf, npartitions=3)


def test_quantile_exact_as_pandas(frame):
    pdf, df = frame
    num, dnum = pdf[["x", "y"]], df[["x", "y"]]
    assert df.x.quantile(0.3).compute() == pdf.x.quantile(0.3)
    tm.assert_series_equal(df.y.quantile([0.1, 0.5, 0.9]).compute(), pdf.y.quantile([0.1, 0.5, 0.9]))
    tm.assert_series_equal(dnum.quantile(0.5).compute(), num.quantile(0.5))
    tm.assert_frame_equal(dnum.quantile([0.25, 0.75]).compute(), num.quantile([0.25, 0.75]))
    tm.assert_frame_equal((dnum - dnum.quantile(0.5)).compute(), num - num.quantile(0.5))
    with pytest.raises(ValueError, match="q must be numbers between 0 and 1"):
        df.x.quantile(1.5)


def test_idxmax_idxmin_first_extreme_across_partitions(frame):
    pdf, df = frame
    num, dnum = pdf[["x", "y"]], df[["x", "y"]]
    assert df.x.idxmax().compute() == pdf.x.idxmax() == "u"
    assert df.y.idxmax().compute() == pdf.y.idxmax() == "t"  # the first of two 9.9
    assert df.y.idxmin().compute() == pdf.y.idxmin()
    tm.assert_series_equal(dnum.idxmax().compute(), num.idxmax())
    tm.assert_series_equal(dnum.idxmin(split_every=2).compute(), num.idxmin())
    tm.assert_series_equal(dnum.idxmax(axis=1).compute(), num.idxmax(axis=1))
    with pytest.raises(NotImplementedError, match="skipna=False"):
        df.x.idxmax(skipna=False)


def test_shape_query_eval_and_iloc_columns(frame):
    pdf, df = frame
    rows, columns = df.shape
    assert rows.compute() == 8 and columns == 3 and df.x.shape[0].compute() == 8
    tm.assert_frame_equal(df.query("x > 2 and y < 9").compute(), pdf.query("x > 2 and y < 9"))
    tm.assert_frame_equal(df.eval("w = x + y").compute(), pdf.eval("w = x + y"))
    tm.assert_series_equal(df.eval("x * 2").compute(), pdf.eval("x * 2"))
    tm.assert_frame_equal(df.iloc[:, [0, 2]].compute(), pdf.iloc[:, [0, 2]])
    tm.assert_frame_equal(df.iloc[:, 1:].compute(), pdf.iloc[:, 1:])
    tm.assert_series_equal(df.iloc[:, 1].compute(), pdf.iloc[:, 1])
    with pytest.raises(NotImplementedError, match="iloc selects columns only"):
        df.iloc[1:3]


def test_map_through_a_dict_says_the_dtype_its_misses_give(frame):
    pdf, df = frame
    for mapping in ({3: 30, 1: 10}, {3: True}, {3: "three"}):
        got = df.x.map(mapping)
        assert got.dtype == got.compute().dtype == pdf.x.map(mapping).dtype, mapping


def test_unique_and_nunique_of_an_index(frame):
    pdf, df = frame
    index = df.set_index("x").index
    got = index.unique().compute()
    assert isinstance(got, pd.Index) and sorted(got) == sorted(set(pdf.x))
    assert index.nunique().compute() == pdf.x.nunique()


def test_to_datetime_and_to_numeric():
    pdf = pd.DataFrame({"d": [f"2024-01-0{i}" for i in range(1, 8)], "n": list("12x4567")})
    df = dd.from_pandas(pdf, npartitions=3)
    when = dd.to_datetime(df.d)
    tm.assert_series_equal(when.compute(), pd.to_datetime(pdf.d))
    assert when.dtype == when.compute().dtype
    assert dd.to_datetime(df.d, utc=True).dtype == pd.to_datetime(pdf.d, utc=True).dtype
    numbers = dd.to_numeric(df.n, errors="coerce")
    tm.assert_series_equal(numbers.compute(), pd.to_numeric(pdf.n, errors="coerce"))
    assert numbers.dtype == "float64"
    assert dd.to_datetime("2024-01-02") == pd.Timestamp("2024-01-02")  # plain data: pandas'
    with pytest.raises(ValueError):
        dd.to_numeric(df.n).compute()  # "x" is no number


def test_a_time_index_tells_its_fields(frame):
    pdf = pd.DataFrame({"x": range(6)}, index=pd.date_range("2024-03-01", periods=6, freq="D"))
    df = dd.from_pandas(pdf, npartitions=2)
    tm.assert_index_equal(df.index.day_of_week.compute(), pdf.index.day_of_week)
    tm.assert_index_equal(df.index.month.compute(), pdf.index.month)


def test_conversions_declare_the_dtype_every_partition_has():
    pdf = pd.DataFrame({"n": list("1234567"),
                        "t": pd.to_datetime([f"2024-01-0{i}" for i in range(1, 8)]).astype("datetime64[ms]")})
    df = dd.from_pandas(pdf, npartitions=3)
    numbers = dd.to_numeric(df.n)  # all ints: still the declared float64 in every partition
    assert numbers.dtype == numbers.compute().dtype == "float64"
    times = dd.to_datetime(df.t)
    assert times.dtype == times.compute().dtype == "datetime64[ms]"
    with pytest.raises(ValueError, match="downcast.*meta="):
        dd.to_numeric(df.n, downcast="integer")
    assert dd.to_numeric(df.n, downcast="integer", meta=("n", "i1")).compute().dtype == "int8"


def test_an_index_gives_only_its_time_fields_per_partition():
    pdf = pd.DataFrame({"x": range(6)}, index=pd.date_range("2024-03-01", periods=6, freq="D"))
    df = dd.from_pandas(pdf, npartitions=2)
    for name in ("nbytes", "empty"):
        with pytest.raises(AttributeError, match=name):
            getattr(df.index, name)
    assert df.index.is_monotonic_increasing.compute()  # (a reduction, as a Series', as Dask's)


def test_cov_and_corr_pair_by_pair_as_pandas():
    rng = np.random.default_rng(5)
    pdf = pd.DataFrame({"a": rng.random(50) + 1e9, "b": rng.random(50),  # (far from 0: a shift)
                        "c": rng.integers(0, 9, 50).astype(float), "d": 2.0})  # fmt: skip
    pdf.loc[pdf.index[3:20], "b"] = np.nan  # pairs with b use the other rows
    df = dd.from_pandas(pdf, npartitions=5)
    for how in ("cov", "corr"):
        got = getattr(df, how)(split_every=2).compute()
        tm.assert_frame_equal(got, getattr(pdf, how)(), rtol=1e-5)  # (1e9: 7 digits left)
    tm.assert_frame_equal(df.corr(min_periods=40).compute(), pdf.corr(min_periods=40), rtol=1e-5)
    whole = pdf.dropna()
    tm.assert_frame_equal(dd.from_pandas(whole, 3).cov(ddof=0).compute(), whole.cov(ddof=0),
                          rtol=1e-5)  # fmt: skip
    text = pdf.assign(s="x")
    with pytest.raises(ValueError):
        dd.from_pandas(text, 2).cov()  # pandas' own error, before anything runs
    tm.assert_frame_equal(dd.from_pandas(text, 2).corr(numeric_only=True).compute(),
                          text.corr(numeric_only=True), rtol=1e-5)  # fmt: skip
    with pytest.raises(NotImplementedError, match="pearson"):
        df.corr(method="spearman")


def test_explode_melt_and_mode_as_pandas():
    pdf = pd.DataFrame({"a": [[1, 2], [], [3], [4, 5, 6]] * 3, "b": range(12), "c": list("xyzw") * 3})
    df = dd.from_pandas(pdf, npartitions=3)
    tm.assert_frame_equal(df.explode("a").compute(), pdf.explode("a"))
    tm.assert_series_equal(df.a.explode().compute(), pdf.a.explode())
    assert df.explode("a").divisions == df.divisions  # (the index is kept)
    melted = df.melt(id_vars=["b"], value_vars=["c"])
    assert melted.divisions == (None,) * 4
    got = melted.compute().sort_values("b", ignore_index=True)
    tm.assert_frame_equal(got, pdf.melt(id_vars=["b"], value_vars=["c"]), check_dtype=False)
    s = pd.Series([1, 2, 2, 3, 3, np.nan, np.nan, np.nan], name="s")
    ds = dd.from_pandas(s, npartitions=3)
    tm.assert_series_equal(ds.mode().compute(), s.mode())
    tm.assert_series_equal(ds.mode(dropna=False).compute(), s.mode(dropna=False))


def test_mode_of_categoricals_and_text_and_what_explode_declares():
    cat = pd.Series(pd.Categorical([None, None], categories=["y", "z"]), name="c")
    assert dd.from_pandas(cat, 2).mode().compute().tolist() == cat.mode().tolist() == []
    text = pd.Series(["a", "b", "b", "c"], dtype=object, name="t")
    got = dd.from_pandas(text, 2).mode()
    assert got.dtype == got.compute().dtype == text.mode().dtype
    assert got.compute().tolist() == ["b"]
    mixed = pd.Series([1, "a", 1, "a"], dtype=object)
    assert sorted(map(str, dd.from_pandas(mixed, 2).mode().compute())) == ["1", "a"]
    pdf = pd.DataFrame({"a": [["x", "y"], [], ["z"]], "b": ["p", "q", "r"]})
    exploded = dd.from_pandas(pdf, 2).explode("a")
    assert exploded.dtypes.to_dict() == exploded.compute().dtypes.to_dict()
    flags = pd.DataFrame({"x": [1.0, 2.0, 4.0], "t": [True, False, True], "s": list("abc")})
    tm.assert_frame_equal(dd.from_pandas(flags, 2).cov(numeric_only=True).compute(),
                          flags.cov(numeric_only=True))  # (bools counted, as pandas does)
