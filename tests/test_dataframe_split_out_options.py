"""Dask options once refused by shoal.dataframe: groupby/value_counts/unique split_out,
repartition(partition_size=), to_parquet(partition_on=) and set_index(a Series);
checked against pandas, and against dask where its layout is the point."""

import pytest

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")

import shoal.dataframe as sd  # noqa: E402

tm = pd.testing
SYNC = {"scheduler": "sync"}


@pytest.fixture
def pdf():
    f = pd.DataFrame({"k": np.arange(400) % 37, "j": np.arange(400) % 3,
                      "v": np.arange(400.0), "s": list("abcd") * 100})
    f.loc[::7, "v"] = np.nan
    return f


def parts(coll):
    return [coll.get_partition(i).compute(**SYNC) for i in range(coll.npartitions)]


@pytest.mark.timeout(60)
def test_groupby_split_out_spreads_groups(pdf):
    df = sd.from_pandas(pdf, npartitions=5)
    spec = {"v": ["sum", "mean", "std", "nunique", "count"], "s": ["first", "nunique"]}
    r = df.groupby(["k", "j"]).agg(spec, split_out=3, split_every=2)
    assert r.npartitions == 3
    pieces = parts(r)
    assert all(len(p) for p in pieces)
    keys = [set(p.index) for p in pieces]
    assert not (keys[0] & keys[1]) and not (keys[1] & keys[2])
    tm.assert_frame_equal(r.compute(**SYNC).sort_index(), pdf.groupby(["k", "j"]).agg(spec))


@pytest.mark.timeout(60)
def test_groupby_split_out_sort_and_true(pdf):
    df = sd.from_pandas(pdf, npartitions=4)
    expected = pdf.groupby("k").v.sum()
    assert df.groupby("k", sort=True).v.sum(split_out=3).npartitions == 1  # as Dask
    tm.assert_series_equal(df.groupby("k", sort=True).v.sum(split_out=3).compute(**SYNC), expected)
    for sort in (None, False):
        r = df.groupby("k", sort=sort).v.sum(split_out=3)
        assert r.npartitions == 3
        tm.assert_series_equal(r.compute(**SYNC).sort_index(), expected)
    r = df.groupby(df.k % 5).size(split_out=True)
    assert r.npartitions == df.npartitions
    tm.assert_series_equal(r.compute(**SYNC).sort_index(), pdf.groupby(pdf.k % 5).size())
    with pytest.raises(ValueError, match="split_out"):
        df.groupby("k").v.sum(split_out=0)


@pytest.mark.timeout(60)
def test_series_value_counts_unique_split_out(pdf):
    s = sd.from_pandas(pdf.k, npartitions=4)
    for normalize in (False, True):
        r = s.value_counts(split_out=3, normalize=normalize)
        assert r.npartitions == 3
        tm.assert_series_equal(r.compute(**SYNC).sort_index(),
                               pdf.k.value_counts(normalize=normalize).sort_index())
    u = s.unique(split_out=2)
    assert u.npartitions == 2
    assert sorted(u.compute(**SYNC)) == sorted(pdf.k.unique())
    assert s.nunique(split_out=2).compute(**SYNC) == pdf.k.nunique()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sort", [True, False])
def test_repartition_partition_size(sort):
    pdf = pd.DataFrame({"k": np.arange(40) % 7, "v": np.arange(40.0), "s": list("abcd") * 10})
    df = sd.from_pandas(pdf, npartitions=4, sort=sort)
    mem = [p.memory_usage(deep=True).sum() for p in parts(df)]
    small = df.repartition(partition_size=int(max(mem)) // 3)
    assert small.npartitions > 4
    assert small.known_divisions == sort
    merged = df.repartition(partition_size="1MB")
    assert merged.npartitions == 1
    for r in (small, merged):
        tm.assert_frame_equal(r.compute(**SYNC), pdf)
    if sort:
        for i, p in enumerate(parts(small)):
            assert small.divisions[i] <= p.index.min() and p.index.max() <= small.divisions[i + 1]
    with pytest.raises(ValueError, match="partition_size"):
        df.repartition(partition_size="lots")


@pytest.mark.timeout(60)
def test_repartition_partition_size_keeps_repeated_labels_together():
    pdf = pd.DataFrame({"v": np.arange(60.0)}, index=np.repeat(np.arange(6), 10))
    df = sd.from_pandas(pdf, npartitions=2)
    r = df.repartition(partition_size=200)
    assert r.npartitions > 2 and r.known_divisions
    tm.assert_frame_equal(r.compute(**SYNC), pdf)
    seen = [set(p.index) for p in parts(r)]
    assert sum(len(s) for s in seen) == 6  # no label in two partitions


@pytest.mark.timeout(60)
def test_to_parquet_partition_on_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    dd = pytest.importorskip("dask.dataframe")
    pdf = pd.DataFrame({"g": list("abc") * 4, "y": [2020, 2021] * 6, "v": np.arange(12.0)})
    out = str(tmp_path / "hive")
    sd.from_pandas(pdf, npartitions=2).to_parquet(out, partition_on=["g", "y"])
    assert sorted(p.name for p in (tmp_path / "hive" / "g=b" / "y=2021").iterdir()) == \
        ["part.0.parquet", "part.1.parquet"]
    back = sd.read_parquet(out)
    assert back.dtypes.to_dict() == dd.read_parquet(out).dtypes.to_dict()
    tm.assert_frame_equal(back.compute(**SYNC), dd.read_parquet(out).compute())
    got = sd.read_parquet(out, filters=[("g", "==", "b")]).compute(**SYNC)
    tm.assert_frame_equal(got, dd.read_parquet(out, filters=[("g", "==", "b")]).compute())
    assert set(got.v) == set(pdf.v[pdf.g == "b"])
    with pytest.raises(KeyError, match="partition_on"):
        sd.from_pandas(pdf, npartitions=1).to_parquet(str(tmp_path / "x"), partition_on=["nope"])


@pytest.mark.timeout(60)
def test_set_index_aligned_series():
    pdf = pd.DataFrame({"k": (np.arange(40) * 7) % 13, "v": np.arange(40.0)})
    df = sd.from_pandas(pdf, npartitions=4)
    r = df.set_index(df.k * 2)
    assert r.known_divisions
    tm.assert_frame_equal(r.compute(**SYNC), pdf.set_index(pdf.k * 2).sort_index(kind="stable"))
    tm.assert_frame_equal(df.set_index(df.k).compute(**SYNC),
                          pdf.set_index(pdf.k).sort_index(kind="stable"))
    with pytest.raises(ValueError, match="aligned"):
        df.set_index(df.k.repartition(2))


@pytest.mark.timeout(60)
def test_groupby_split_out_unobserved_categories_once():
    pdf = pd.DataFrame({"c": pd.Categorical(list("abab"), categories=list("abcz")),
                        "j": [1, 1, 2, 2], "v": [1.0, 2.0, 3.0, 4.0]})
    df = sd.from_pandas(pdf, npartitions=2)
    for keys in ("c", ["c", "j"]):
        for op in ("sum", "mean", "count", "size"):
            r = getattr(df.groupby(keys, observed=False).v, op)(split_out=3)
            tm.assert_series_equal(r.compute(**SYNC).sort_index(),
                                   getattr(pdf.groupby(keys, observed=False).v, op)())


@pytest.mark.timeout(60)
def test_groupby_split_out_int_and_float_keys_meet():
    a = pd.DataFrame({"k": [1, 2, 3, 0], "v": [1.0, 2.0, 3.0, 4.0]})
    b = pd.DataFrame({"k": [1.0, 2.0, np.nan, -0.0], "v": [1.0, 2.0, 3.0, 4.0]})
    df = sd.concat([sd.from_pandas(a, npartitions=1), sd.from_pandas(b, npartitions=1)])
    whole = pd.concat([a, b])
    r = df.groupby("k").v.sum(split_out=4).compute(**SYNC).sort_index()
    tm.assert_series_equal(r, whole.groupby("k").v.sum())
    vc = df.k.value_counts(split_out=4).compute(**SYNC).sort_index()
    tm.assert_series_equal(vc, whole.k.value_counts().sort_index())


@pytest.mark.timeout(60)
def test_value_counts_split_out_categorical_once():
    s = pd.Series(pd.Categorical(list("abab"), categories=list("abcz")), name="c")
    got = sd.from_pandas(s, npartitions=2).value_counts(split_out=3).compute(**SYNC)
    tm.assert_series_equal(got.sort_index(), s.value_counts().sort_index())
