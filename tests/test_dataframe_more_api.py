"""More of Dask's dataframe API: moments, median, sampling, elementwise methods, memory and
info, conversions to arrays and bags, and the module-level builders."""

import io
import json
import warnings

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

import shoal.array as da
import shoal.dataframe as dd

SYNC = {"scheduler": "sync"}


def _frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "f": np.r_[rng.normal(5, 2, 17), np.nan, rng.exponential(3, 6)],
        "i": pd.array(list(rng.integers(0, 50, 22)) + [None, 3], dtype="Int64"),
        "g": pd.array(list(rng.normal(0, 1, 23)) + [None], dtype="Float64"),
        "b": rng.random(24) > 0.3,
        "n": rng.integers(-9, 9, 24),
        "s": list("abcdefghijklmnopqrstuvwx"),
    })


def _with_empty(pdf):
    """Four partitions, the second and last empty (unknown divisions)."""
    parts = [pdf.iloc[:7], pdf.iloc[:0], pdf.iloc[7:], pdf.iloc[:0]]
    return dd.concat([dd.from_pandas(p, npartitions=1) for p in parts])


PARTITIONINGS = {
    "one": lambda p: dd.from_pandas(p, npartitions=1),
    "three": lambda p: dd.from_pandas(p, npartitions=3),
    "seven": lambda p: dd.from_pandas(p, npartitions=7),
    "empty-parts": _with_empty,
}


@pytest.fixture(params=list(PARTITIONINGS))
def split(request):
    return PARTITIONINGS[request.param]


# -- sem, skew, kurtosis, median ------------------------------------------------------------

@pytest.mark.parametrize("how", ["sem", "skew", "kurt", "kurtosis", "median"])
def test_moments_match_pandas(split, how):
    pdf = _frame()
    df = split(pdf)
    got = getattr(df, how)(numeric_only=True)
    want = getattr(pdf, how)(numeric_only=True)
    assert got._meta.dtype == want.dtype
    tm.assert_series_equal(got.compute(), want, rtol=1e-10)
    for col in ["f", "i", "g", "b", "n"]:
        value = getattr(df[col], how)().compute()
        assert isinstance(value, (float, np.floating)), (col, type(value))
        assert value == pytest.approx(getattr(pdf[col], how)(), rel=1e-10), col
    # split_every: a deeper tree, the same answer
    tm.assert_series_equal(getattr(df, how)(numeric_only=True, split_every=2).compute(), want,
                           rtol=1e-10)


@pytest.mark.parametrize("how", ["sem", "skew", "kurt", "median"])
def test_moments_skipna_false_and_rowwise(how):
    pdf = _frame()[["f", "n"]]
    df = dd.from_pandas(pdf, npartitions=4)
    tm.assert_series_equal(getattr(df, how)(skipna=False).compute(), getattr(pdf, how)(skipna=False))
    tm.assert_series_equal(getattr(df, how)(axis=1).compute(), getattr(pdf, how)(axis=1))


def test_moments_are_numerically_careful():
    rng = np.random.default_rng(1)
    s = pd.Series(1e9 + rng.normal(0, 1, 400) ** 3)
    ds = dd.from_pandas(s, npartitions=13)
    for how in ["sem", "skew", "kurt"]:
        assert getattr(ds, how)().compute() == pytest.approx(getattr(s, how)(), rel=1e-6), how
    # constant data: pandas' answer (NaN under pandas 3), not rounding noise
    const = pd.Series([0.1] * 11)
    for how in ["skew", "kurt"]:
        got = getattr(dd.from_pandas(const, npartitions=3), how)().compute()
        want = getattr(const, how)()
        assert (np.isnan(got) and np.isnan(want)) or got == want, how
    # too few values: NaN, as pandas
    short = dd.from_pandas(pd.Series([1.0, 2.0, 4.0]), npartitions=3)
    assert np.isnan(short.kurt().compute()) and np.isfinite(short.skew().compute())


def test_moments_ddof_bias_and_dask():
    import dask.dataframe as ddd

    pdf = _frame()[["f", "n"]].fillna(0.5)
    df = dd.from_pandas(pdf, npartitions=3)
    tm.assert_series_equal(df.sem(ddof=0).compute(), pdf.sem(ddof=0))
    # bias=True is the biased estimator Dask's scipy-based skew/kurtosis default to
    ref = ddd.from_pandas(pdf, npartitions=2)
    tm.assert_series_equal(df.skew(bias=True).compute(), ref.skew().compute(), rtol=1e-10,
                           check_names=False)
    tm.assert_series_equal(df.kurtosis(bias=True).compute(), ref.kurtosis().compute(),
                           rtol=1e-10, check_names=False)
    tm.assert_series_equal(df.kurtosis(bias=True, fisher=False).compute(),
                           ref.kurtosis(fisher=False).compute(), rtol=1e-10, check_names=False)
    tm.assert_series_equal(df.sem().compute(), ref.sem().compute(), check_names=False)


def test_moments_errors_and_empty():
    pdf = _frame()
    df = dd.from_pandas(pdf, npartitions=3)
    with pytest.raises(TypeError):
        df.skew()  # a string column, as pandas
    with pytest.raises(TypeError, match="ddof"):
        df.sem(ddof="1", numeric_only=True)
    with pytest.raises(ValueError, match="axis"):
        df.kurt(axis=2)
    empty = dd.from_pandas(pdf.iloc[:0][["f", "i"]], npartitions=1)
    for how in ["sem", "skew", "kurt", "median"]:
        tm.assert_series_equal(getattr(empty, how)().compute(), getattr(pdf.iloc[:0][["f", "i"]], how)())


def test_median_is_exact_with_many_partitions():
    s = pd.Series(np.random.default_rng(2).permutation(1001).astype(float))
    ds = dd.from_pandas(s, npartitions=9, sort=False)
    assert ds.median().compute() == 500.0 == ds.median_approximate().compute()
    df = ds.to_frame("x")
    assert (df - df.median()).compute()["x"].tolist() == (s - 500.0).tolist()  # broadcasts


# -- sample, random_split --------------------------------------------------------------------

def test_sample_is_reproducible_per_partition(split):
    pdf = _frame()
    df = split(pdf)
    a = df.sample(frac=0.5, random_state=42)
    b = df.sample(frac=0.5, random_state=42)
    assert a._name == b._name and a.divisions == df.divisions
    got = a.compute()
    tm.assert_frame_equal(got, b.compute())
    assert set(got.index) <= set(pdf.index) and not got.index.duplicated().any()
    assert 8 <= len(got) <= 16
    tm.assert_frame_equal(got, pdf.loc[got.index])
    assert df.sample(frac=0.5, random_state=43)._name != a._name
    rs = np.random.RandomState(0)
    assert df.sample(frac=0.5, random_state=rs)._name != df.sample(frac=0.5, random_state=rs)._name
    more = df.f.sample(frac=2.0, replace=True, random_state=1).compute()
    assert len(more) == 48 and set(more.index) <= set(pdf.index)


def test_sample_errors():
    df = dd.from_pandas(_frame(), npartitions=2)
    with pytest.raises(ValueError, match="frac"):
        df.sample(n=3)
    with pytest.raises(ValueError, match="frac"):
        df.sample(frac=1.5)
    with pytest.raises(TypeError, match="frac"):
        df.sample(frac="half")
    with pytest.raises(TypeError, match="random_state"):
        df.sample(frac=0.5, random_state="seed")


def test_random_split(split):
    pdf = _frame()
    df = split(pdf)
    parts = df.random_split([0.25, 0.25, 0.5], random_state=7)
    assert len(parts) == 3 and all(p.divisions == df.divisions for p in parts)
    got = [p.compute() for p in parts]
    together = pd.concat(got).sort_index()
    tm.assert_frame_equal(together, pdf)
    again = [p.compute() for p in df.random_split([0.25, 0.25, 0.5], random_state=7)]
    for x, y in zip(got, again):
        tm.assert_frame_equal(x, y)
    with pytest.raises(ValueError, match="sum to 1"):
        df.random_split([0.5, 0.6])
    with pytest.raises(TypeError, match="frac"):
        df.random_split(0.5)
    shuffled = df.random_split([0.5, 0.5], random_state=7, shuffle=True)
    tm.assert_frame_equal(pd.concat([p.compute() for p in shuffled]).sort_index(), pdf)


# -- replace, map, pipe, combine_first, is_monotonic ------------------------------------------

def test_replace_map_pipe(split):
    pdf = _frame()
    df = split(pdf)
    tm.assert_frame_equal(df.replace(3, 300).compute(), pdf.replace(3, 300))
    tm.assert_frame_equal(df.replace({"s": {"a": "z"}}).compute(), pdf.replace({"s": {"a": "z"}}))
    tm.assert_series_equal(df.s.replace("^[a-c]$", "early", regex=True).compute(),
                           pdf.s.replace("^[a-c]$", "early", regex=True))
    num = df[["f", "n"]]
    tm.assert_frame_equal(num.map(lambda v: v * 2).compute(), pdf[["f", "n"]].map(lambda v: v * 2))
    tm.assert_frame_equal(num.map(str, na_action="ignore").compute(),
                          pdf[["f", "n"]].map(str, na_action="ignore"), check_dtype=False)
    with pytest.raises(TypeError, match="callable"):
        num.map({1: 2})
    assert df.pipe(len) == len(pdf)

    def scaled(k, frame):
        return frame * k

    tm.assert_frame_equal(num.pipe((scaled, "frame"), 3).compute(), pdf[["f", "n"]] * 3)


def test_combine_first():
    a = pd.DataFrame({"x": [1.0, np.nan, 3.0, np.nan], "y": [np.nan, 2.0, np.nan, 4.0]})
    b = pd.DataFrame({"x": [10.0, 20.0, 30.0, 40.0, 50.0], "z": list("pqrst")},
                     index=[0, 1, 2, 3, 9])
    want = a.combine_first(b)
    for na, nb in [(1, 1), (2, 3), (3, 2)]:
        got = dd.from_pandas(a, npartitions=na).combine_first(dd.from_pandas(b, npartitions=nb))
        tm.assert_frame_equal(got.compute(), want)
    tm.assert_series_equal(dd.from_pandas(a.x, npartitions=2).combine_first(b.x).compute(),
                           a.x.combine_first(b.x))
    unknown = dd.from_pandas(a, npartitions=2).clear_divisions()
    got = unknown.combine_first(dd.from_pandas(b, npartitions=3).clear_divisions())
    tm.assert_frame_equal(got.compute().sort_index(), want)


def test_is_monotonic():
    cases = [[1, 2, 2, 5, 9], [5, 4, 4, 1], [1, 3, 2, 4], [1.0, np.nan, 3.0], [], [7]]
    for values in cases:
        s = pd.Series(values, dtype="float64")
        for ds in [dd.from_pandas(s, npartitions=3), _with_empty(s)]:
            inc, dec = ds.is_monotonic_increasing, ds.is_monotonic_decreasing
            assert isinstance(inc, dd.Scalar)
            assert inc.compute() == s.is_monotonic_increasing, values
            assert dec.compute() == s.is_monotonic_decreasing, values
    # across partitions: ordered inside each, not across
    s = pd.Series([1, 2, 3, 0, 1, 2], index=range(6))
    assert not dd.from_pandas(s, npartitions=2).is_monotonic_increasing.compute()


# -- memory_usage, info ------------------------------------------------------------------------

def test_memory_usage(split):
    pdf = _frame()
    df = split(pdf)
    parts = [p.compute() for p in df.to_delayed()]
    want = sum(p.memory_usage(deep=True) for p in parts)
    tm.assert_series_equal(df.memory_usage(deep=True).compute(), want.astype("int64"))
    assert list(df.memory_usage().compute().index) == list(pdf.memory_usage().index)
    assert df.memory_usage(index=False).compute()["n"] == pdf.memory_usage()["n"]
    per = df.memory_usage_per_partition(index=False).compute()
    assert per.tolist() == [int(p.memory_usage(index=False).sum()) for p in parts]
    assert per.index.tolist() == list(range(df.npartitions)) and per.dtype == "int64"
    assert df.n.memory_usage(index=False).compute() == pdf.n.memory_usage(index=False)
    with pytest.raises(TypeError, match="deep"):
        df.memory_usage(deep="yes")


def test_info():
    pdf = _frame()
    df = dd.from_pandas(pdf, npartitions=3)
    buf = io.StringIO()
    df.info(buf=buf)
    lines = buf.getvalue().splitlines()
    assert lines[0] == str(type(df)) and lines[1] == "Columns: 6 entries, f to s"
    assert lines[-1] == "shoal: 3 partitions"
    want = io.StringIO()
    pdf.info(buf=want)
    want = want.getvalue().splitlines()
    buf = io.StringIO()
    df.info(buf=buf, verbose=True, memory_usage=True)
    got = buf.getvalue().splitlines()
    assert got[1:-2] == want[1:-1]  # index summary, the table, the dtypes
    assert got[-2].startswith("memory usage: ")
    assert "dtypes: " in lines[2]
    with pytest.raises(ValueError, match="memory_usage"):
        df.info(memory_usage="shallow")


# -- conversions -----------------------------------------------------------------------------------

def test_values_and_to_dask_array(split):
    pdf = _frame()[["f", "n", "i"]]
    df = split(pdf)
    arr = df.to_dask_array(lengths=True)
    assert isinstance(arr, da.Array) and arr.dtype == np.float64
    sizes = [len(p.compute()) for p in df.to_delayed()]
    assert arr.chunks == (tuple(sizes), (3,))
    np.testing.assert_array_equal(arr.compute(), pdf.to_numpy(dtype="float64", na_value=np.nan))
    np.testing.assert_array_equal(df.values.compute(), arr.compute())
    np.testing.assert_array_equal(df.n.values.compute(), pdf.n.to_numpy())
    given = df.n.to_dask_array(lengths=sizes)
    assert given.chunks == (tuple(sizes),)
    with pytest.raises(ValueError, match="lengths"):
        df.to_dask_array(lengths=[1, 2])
    wrong = df.n.to_dask_array(lengths=[sizes[0] + 1] + sizes[1:])
    with pytest.raises(ValueError, match="lengths"):
        wrong.compute()
    nullable = dd.from_pandas(pd.DataFrame({"k": pd.array([True, None], dtype="boolean")}), 2)
    assert nullable.to_dask_array().dtype == object


def test_to_records_and_to_bag(split):
    pdf = _frame()[["f", "n", "s"]].fillna({"f": -1.0})
    df = split(pdf)
    rec = df.to_records(lengths=True).compute()
    want = pdf.to_records(index=False)
    assert rec.dtype == want.dtype
    tm.assert_frame_equal(pd.DataFrame(rec), pd.DataFrame(want))
    rec = df.to_records(index=True).compute()
    assert rec.dtype.names == ("index", "f", "n", "s") and rec["index"].tolist() == list(range(24))
    rows = df.to_bag().compute(**SYNC)
    assert rows == list(pdf.itertuples(index=False, name=None))
    dicts = df.to_bag(index=True, format="dict").compute(**SYNC)
    assert dicts == pdf.reset_index().to_dict(orient="records")
    assert df.n.to_bag().compute(**SYNC) == pdf.n.tolist()
    assert df.n.to_bag(index=True).compute(**SYNC) == list(zip(pdf.index, pdf.n))
    with pytest.raises(ValueError, match="format"):
        df.to_bag(format="list")


def test_series_writers(tmp_path):
    s = pd.Series(range(6), name="v")
    ds = dd.from_pandas(s, npartitions=2)
    paths = ds.to_csv(str(tmp_path / "csv-*.csv"))
    assert len(paths) == 2
    back = pd.concat(pd.read_csv(p, index_col=0) for p in paths)
    assert back["v"].tolist() == list(range(6))
    paths = ds.to_json(str(tmp_path / "json-*.json"))
    rows = []
    for p in paths:
        with open(p) as f:
            rows += [json.loads(line) for line in f]
    assert [r["v"] for r in rows] == list(range(6))


# -- module level ------------------------------------------------------------------------------------

def test_exports():
    for name in ["isna", "to_timedelta", "read_table", "from_array", "from_dict", "from_map",
                 "repartition"]:
        assert name in dd.__all__ and callable(getattr(dd, name)), name


def test_isna_to_timedelta_read_table(tmp_path):
    s = pd.Series([1.0, np.nan, 3.0])
    ds = dd.from_pandas(s, npartitions=2)
    tm.assert_series_equal(dd.isna(ds).compute(), pd.isna(s))
    assert dd.isna(np.nan) and not dd.isna(3)
    secs = pd.Series([1, 2, 90])
    got = dd.to_timedelta(dd.from_pandas(secs, npartitions=2), unit="s")
    want = pd.to_timedelta(secs, unit="s")
    assert got._meta.dtype.kind == "m"
    tm.assert_series_equal(got.compute(), want, check_dtype=False)
    txt = pd.Series(["1 days", "2h"])
    tm.assert_series_equal(dd.to_timedelta(dd.from_pandas(txt, npartitions=2)).compute(),
                           pd.to_timedelta(txt), check_dtype=False)
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\n1\tx,y\n2\tz\n")
    tm.assert_frame_equal(dd.read_table(str(path)).compute().reset_index(drop=True),
                          pd.read_table(path), check_dtype=False)


def test_from_array():
    x = np.arange(14.0).reshape(7, 2)
    df = dd.from_array(x, chunksize=3, columns=["p", "q"])
    assert df.npartitions == 3 and df.divisions == (0, 3, 6, 6)
    tm.assert_frame_equal(df.compute(), pd.DataFrame(x, columns=["p", "q"]))
    s = dd.from_array(np.arange(5), chunksize=2, columns="v")
    tm.assert_series_equal(s.compute(), pd.Series(np.arange(5), name="v"))
    rec = np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "i8"), ("b", "f8")])
    tm.assert_frame_equal(dd.from_array(rec, chunksize=1).compute(), pd.DataFrame(rec))
    blocks = da.from_array(x, chunks=(4, 1))
    got = dd.from_array(blocks)
    assert got.npartitions == 2 and got.divisions == (0, 4, 6)
    tm.assert_frame_equal(got.compute(), pd.DataFrame(x))
    with pytest.raises(ValueError, match="columns"):
        dd.from_array(x, columns=["only-one"])
    with pytest.raises(ValueError, match="chunksize"):
        dd.from_array(x, chunksize=0)


def test_from_dict_from_map_repartition():
    data = {"x": [1, 2, 3, 4], "y": list("abcd")}
    tm.assert_frame_equal(dd.from_dict(data, npartitions=2).compute(), pd.DataFrame(data))
    tm.assert_frame_equal(dd.from_dict({"r": [1, 2]}, npartitions=1, orient="index").compute(),
                          pd.DataFrame.from_dict({"r": [1, 2]}, orient="index"))

    def load(n, tag, scale=1):
        return pd.DataFrame({"v": np.arange(n) * scale, "tag": [tag] * n})

    df = dd.from_map(load, [1, 0, 3], ["a", "b", "c"], scale=10)
    assert df.npartitions == 3 and list(df.columns) == ["v", "tag"]
    want = pd.concat([load(1, "a", 10), load(0, "b", 10), load(3, "c", 10)])
    tm.assert_frame_equal(df.compute(), want, check_dtype=False)  # (pandas: an empty part's object)
    again = dd.from_map(load, [1, 0, 3], ["a", "b", "c"], scale=10)
    assert again._name == df._name and again._name.startswith("load-")
    meta = pd.DataFrame({"v": pd.Series([], dtype="int64"), "tag": pd.Series([], dtype=object)})
    lab = dd.from_map(load, [2], ["z"], meta=meta, label="loader")
    assert lab._name.startswith("loader-") and lab.compute()["v"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="one length"):
        dd.from_map(load, [1, 2], ["a"])
    with pytest.raises(ValueError, match="divisions"):
        dd.from_map(load, [1, 2], ["a", "b"], divisions=[0, 1])
    pdf = pd.DataFrame({"x": range(10)})
    moved = dd.repartition(dd.from_pandas(pdf, npartitions=2), [0, 3, 6, 9])
    assert moved.divisions == (0, 3, 6, 9)
    tm.assert_frame_equal(moved.compute(), pdf)
    assert dd.repartition(pdf, [0, 5, 9]).npartitions == 2
    with pytest.raises(TypeError, match="df"):
        dd.repartition([1, 2], [0, 1])


def test_kernels_pickle_by_reference():
    import pickle

    from shoal.dataframe import construction, conversion, elementwise, frameinfo, moments, sampling

    for f in [moments.chunk_power, moments.merge_power, sampling.sample_part, sampling.split_part,
              elementwise.map_elements, frameinfo.usage_chunk, conversion.bag_rows,
              construction.frame_from_block]:
        assert len(pickle.dumps(f)) < 200
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dd.from_pandas(_frame(), npartitions=2).sem(numeric_only=True).compute()


# -- review fixes ------------------------------------------------------------------------


@pytest.mark.parametrize("offset,spread,nparts", [(1e12, 1.0, 100), (1e15, 10.0, 50)])
def test_moments_keep_their_precision_over_a_huge_offset(offset, spread, nparts):
    """Means near 1e12 round to the spacing of floats there: merged as sums they lost
    the digits skew and kurtosis live on (errors of 1e-4 .. 1e-2)."""
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(5000) * spread
    pdf = pd.DataFrame({"x": offset + noise})
    df = dd.from_pandas(pdf, npartitions=nparts)
    exact = pd.Series(pdf.x.to_numpy() - offset)  # (exact differences: the same moments)
    for how in ("skew", "kurt"):
        np.testing.assert_allclose(getattr(df.x, how)().compute(), getattr(exact, how)(),
                                   rtol=1e-9)  # fmt: skip
    np.testing.assert_allclose(df.x.sem().compute(), exact.sem(), rtol=1e-9)


def test_combine_first_with_known_different_divisions_and_a_column_only_other_has():
    left = pd.DataFrame({"a": [1.0, np.nan, 3.0]}, index=[0, 1, 2])
    right = pd.DataFrame({"a": [10.0, 20.0, 30.0, 40.0], "c": [1, 2, 3, 4]}, index=[1, 2, 3, 4])
    got = dd.from_pandas(left, npartitions=2).combine_first(dd.from_pandas(right, npartitions=2))
    want = left.combine_first(right)
    assert dict(got.dtypes) == dict(want.dtypes)  # c: float64 (rows only left has lack it)
    pd.testing.assert_frame_equal(got.compute(), want)


def test_an_index_converts_counts_and_says_whether_it_is_sorted():
    pdf = pd.DataFrame({"x": np.arange(10.0)}, index=np.arange(10) * 3)
    d = dd.from_pandas(pdf, npartitions=3)
    np.testing.assert_array_equal(d.index.values.compute(), pdf.index.to_numpy())
    np.testing.assert_array_equal(d.index.to_dask_array().compute(), pdf.index.to_numpy())
    assert d.index.memory_usage().compute() == sum(
        p.index.memory_usage() for p in (pdf.iloc[:3], pdf.iloc[3:6], pdf.iloc[6:]))
    assert d.index.is_monotonic_increasing.compute() and not d.index.is_monotonic_decreasing.compute()


def test_values_computes_the_partition_lengths_once_per_frame():
    calls = []

    def load(i):
        calls.append(i)
        return pd.DataFrame({"x": [i] * (i + 1)})

    d = dd.from_map(load, range(3), meta=pd.DataFrame({"x": pd.Series([], dtype="int64")}))
    first = d.values
    assert sorted(calls) == [0, 1, 2]  # the lengths: one pass
    assert d.values.chunks == first.chunks == ((1, 2, 3), (1,)) and sorted(calls) == [0, 1, 2]
    np.testing.assert_array_equal(first.compute().ravel(), [0, 1, 1, 2, 2, 2])
