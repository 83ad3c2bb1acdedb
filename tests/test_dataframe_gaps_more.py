"""shoal.dataframe gaps closed: hive partition pruning in read_parquet(filters=),
groupby median / custom Aggregation with split_out, Rolling.cov/corr(other=),
read_csv(skiprows=[...]) keeping its blocks, and read_fwf's layout per file.
Values checked against pandas (and dask where its behaviour is the point)."""

import glob

import pytest

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")

import shoal.dataframe as sd  # noqa: E402

tm = pd.testing
SYNC = {"scheduler": "sync"}


def parts(coll):
    return [coll.get_partition(i).compute(**SYNC) for i in range(coll.npartitions)]


# -- read_parquet: hive partitions pruned by filters ------------------------------------

@pytest.fixture
def hive_dir(tmp_path):
    pytest.importorskip("pyarrow")
    pdf = pd.DataFrame({"year": np.repeat([2011, 2012, 2013, 2014], 5),
                        "c": list("ab") * 10, "v": np.arange(20)})
    out = str(tmp_path / "hive")
    sd.from_pandas(pdf, npartitions=2).to_parquet(out, partition_on=["year", "c"])
    return out  # 8 files: 4 years x 2 letters


def _plain(df):
    df = df.sort_values("v").reset_index(drop=True)[["v", "year", "c"]]
    return df.astype({"year": str, "c": str})


@pytest.mark.timeout(60)
@pytest.mark.parametrize("filters, nfiles", [
    ([("year", "==", 2013)], 2),
    ([("year", ">", 2012), ("c", "!=", "a")], 2),
    ([("year", "<=", 2012), ("c", "=", "b")], 2),
    ([("year", ">=", 2014)], 2),
    ([("year", "<", 2012)], 2),
    ([[("year", "<", 2012)], [("year", "in", [2014]), ("c", "==", "b")]], 3),
    ([("year", "not in", (2011, 2012))], 4),
    ([("year", ">=", 2013), ("v", "<", 13)], 4),  # (a stored column: rows filtered)
    ([("year", "==", 1999)], 1),  # (nothing can match: one file read, no rows)
])
def test_read_parquet_prunes_hive_files(hive_dir, filters, nfiles):
    assert sd.read_parquet(hive_dir).npartitions == 8
    got = sd.read_parquet(hive_dir, filters=filters)
    assert got.npartitions == nfiles
    assert len(got.__dask_graph__()) == nfiles
    tm.assert_frame_equal(_plain(got.compute(**SYNC)),
                          _plain(pd.read_parquet(hive_dir, filters=filters)))


@pytest.mark.timeout(60)
def test_read_parquet_bad_filter_operator_named(hive_dir):
    with pytest.raises(ValueError, match="filters.*'~'"):
        sd.read_parquet(hive_dir, filters=[("year", "~", 2013)])


@pytest.mark.timeout(60)
def test_read_parquet_hive_filters_as_lists(hive_dir):
    # (pyarrow's rule: [["year", "==", 2013]] is one predicate written as a list)
    filters = [["year", "==", 2013], ["c", "==", "a"]]
    got = sd.read_parquet(hive_dir, filters=filters, columns=["v", "year", "c"])
    assert got.npartitions == 1
    tm.assert_frame_equal(_plain(got.compute(**SYNC)),
                          _plain(pd.read_parquet(hive_dir, filters=filters)))


@pytest.mark.timeout(60)
def test_read_parquet_hive_values_int_only_as_pyarrow(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    for i, folder in enumerate(["u=1_0", "u=%205", "u=2"]):  # ("1_0", " 5": strings)
        (tmp_path / folder).mkdir()
        pq.write_table(pa.table({"v": [i]}), str(tmp_path / folder / "p.parquet"))
    got = sd.read_parquet(str(tmp_path), filters=[("u", "==", "1_0")]).compute(**SYNC)
    want = pq.read_table(str(tmp_path), filters=[("u", "==", "1_0")]).to_pandas()
    assert got["v"].tolist() == want["v"].tolist() == [0]
    assert list(got["u"].cat.categories) == list(want["u"].cat.categories)


# -- groupby split_out: median and custom Aggregation -------------------------------------

@pytest.fixture
def frame():
    pdf = pd.DataFrame({"k": np.arange(90) % 11, "j": np.arange(90) % 3,
                        "v": np.arange(90.0) ** 1.3, "w": np.arange(90)})
    pdf.loc[::8, "v"] = np.nan
    return pdf, sd.from_pandas(pdf, npartitions=4)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sort", [None, False])
def test_groupby_median_split_out(frame, sort):
    pdf, ddf = frame
    got = ddf.groupby("k", sort=sort).median(split_out=3)
    assert got.npartitions == 3
    pieces = parts(got)
    keys = [set(p.index) for p in pieces]  # every group in one output partition
    assert sum(map(len, keys)) == len(set().union(*keys)) == 11
    tm.assert_frame_equal(pd.concat(pieces).sort_index(), pdf.groupby("k").median())
    spec = {"v": "median", "w": "sum"}
    got = ddf.groupby(["k", "j"], sort=sort).agg(spec, split_out=2)
    assert got.npartitions == 2
    tm.assert_frame_equal(got.compute(**SYNC).sort_index(), pdf.groupby(["k", "j"]).agg(spec))
    got = ddf.groupby("k").v.median(split_out=2)
    assert got.npartitions == 2
    tm.assert_series_equal(got.compute(**SYNC).sort_index(), pdf.groupby("k").v.median())


def _span():
    return sd.Aggregation("span", chunk=lambda g: (g.min(), g.max()),
                          agg=lambda lo, hi: (lo.min(), hi.max()),
                          finalize=lambda lo, hi: hi - lo)


@pytest.mark.timeout(60)
def test_groupby_custom_aggregation_split_out(frame):
    pdf, ddf = frame
    want = pdf.groupby("k").agg(lambda s: s.max() - s.min())
    got = ddf.groupby("k").agg(_span(), split_out=3)
    assert got.npartitions == 3
    pieces = parts(got)
    keys = [set(p.index) for p in pieces]
    assert sum(map(len, keys)) == len(set().union(*keys)) == 11
    tm.assert_frame_equal(pd.concat(pieces).sort_index(), want, check_dtype=False)
    mixed = ddf.groupby(["k", "j"]).agg({"v": _span(), "w": "mean"}, split_out=4)
    assert mixed.npartitions == 4
    expect = pdf.groupby(["k", "j"]).agg({"v": lambda s: s.max() - s.min(), "w": "mean"})
    tm.assert_frame_equal(mixed.compute(**SYNC).sort_index(), expect, check_dtype=False)
    series = ddf.groupby("k").w.agg(_span(), split_out=2)
    assert series.npartitions == 2
    tm.assert_series_equal(series.compute(**SYNC).sort_index(), want.w, check_dtype=False)


# -- Rolling.cov / corr with another collection -------------------------------------------

@pytest.fixture
def noisy():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=40), "y": rng.normal(size=40),
                         "z": rng.normal(size=40)})


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["cov", "corr"])
def test_rolling_cov_corr_other(noisy, method):
    ddf = sd.from_pandas(noisy, npartitions=4)
    other = sd.from_pandas(noisy.z, npartitions=3)  # (other divisions: realigned)
    got = getattr(ddf.x.rolling(5), method)(other).compute(**SYNC)
    tm.assert_series_equal(got, getattr(noisy.x.rolling(5), method)(noisy.z))
    got = getattr(ddf[["x", "y"]].rolling(4), method)(ddf.z).compute(**SYNC)
    tm.assert_frame_equal(got, getattr(noisy[["x", "y"]].rolling(4), method)(noisy.z))
    a, b = noisy.x.iloc[::2], noisy.y.iloc[5:]  # partly overlapping indexes: their union
    got = getattr(sd.from_pandas(a, npartitions=3).rolling(3, min_periods=2), method)(
        sd.from_pandas(b, npartitions=2)).compute(**SYNC)
    tm.assert_series_equal(got, getattr(a.rolling(3, min_periods=2), method)(b))


@pytest.mark.timeout(60)
def test_rolling_corr_time_window_and_errors(noisy):
    ts = noisy.set_index(pd.date_range("2020", periods=40, freq="h"))
    d = sd.from_pandas(ts, npartitions=4)
    tm.assert_series_equal(d.x.rolling("3h").corr(d.y).compute(**SYNC),
                           ts.x.rolling("3h").corr(ts.y))
    tm.assert_frame_equal(d[["x", "y"]].rolling(3).corr().compute(**SYNC),
                          ts[["x", "y"]].rolling(3).corr())
    with pytest.raises(TypeError, match="other"):
        d.x.rolling(3).cov(ts.y)
    with pytest.raises(NotImplementedError, match="pairwise"):
        d[["x"]].rolling(3).cov(d[["y"]], pairwise=True)


# -- read_csv(skiprows=[...]) and read_fwf per-file layout -------------------------------

@pytest.fixture
def preamble_csv(tmp_path):
    pdf = pd.DataFrame({"a": np.arange(300), "b": np.arange(300) * 2.5})
    path = str(tmp_path / "a.csv")
    with open(path, "w") as f:
        f.write("junk line\n# another\n")
        pdf.to_csv(f, index=False)
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("skiprows, split", [([0, 1], True), ([1, 0], True),
                                             (np.int64(2), True), ([0, 1, 10, 50], False)])
def test_read_csv_skiprows_list_keeps_blocks(preamble_csv, skiprows, split):
    got = sd.read_csv(preamble_csv, skiprows=skiprows, blocksize=1000)
    assert (got.npartitions > 1) is split
    tm.assert_frame_equal(got.compute(**SYNC).reset_index(drop=True),
                          pd.read_csv(preamble_csv, skiprows=skiprows))


@pytest.mark.timeout(60)
def test_read_csv_skiprows_header_region_like_dask(preamble_csv):
    dd = pytest.importorskip("dask.dataframe")
    got = sd.read_csv(preamble_csv, skiprows=[0, 1], blocksize=1000)
    with pytest.warns(UserWarning):  # (dask: blocksize below its sample size)
        theirs = dd.read_csv(preamble_csv, skiprows=[0, 1], blocksize=1000)
    assert got.npartitions > 1 and theirs.npartitions > 1
    tm.assert_frame_equal(got.compute(**SYNC).reset_index(drop=True),
                          theirs.compute(scheduler="sync").reset_index(drop=True))


@pytest.mark.timeout(60)
def test_read_fwf_layout_per_file(tmp_path):
    pdf = pd.DataFrame({"x": np.arange(60), "y": np.arange(60) * 3})
    with open(tmp_path / "1.txt", "w") as f:
        f.write("x   y\n" + "".join(f"{r.x:<4d}{r.y:<6d}\n" for r in pdf.itertuples()))
    with open(tmp_path / "2.txt", "w") as f:  # (another layout: wider first field)
        f.write("x        y\n" + "".join(f"{r.x:<9d}{r.y:<3d}\n" for r in pdf.itertuples()))
    got = sd.read_fwf(str(tmp_path / "*.txt"), blocksize=200)
    assert got.npartitions > 2  # (both files cut into blocks)
    expect = pd.concat([pd.read_fwf(p) for p in sorted(glob.glob(str(tmp_path / "*.txt")))],
                       ignore_index=True)
    tm.assert_frame_equal(got.compute(**SYNC).reset_index(drop=True), expect)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("skiprows", [[0], 1])
def test_read_csv_no_block_starts_in_the_header(tmp_path, skiprows):
    path = tmp_path / "t.csv"  # (blocks smaller than the skipped lines and the header)
    path.write_text("junk line one here\nname,city\n" + "".join(f"n{i},c{i}\n" for i in range(6)))
    got = sd.read_csv(str(path), skiprows=skiprows, blocksize=12)
    assert got.npartitions > 1
    tm.assert_frame_equal(got.compute(**SYNC).reset_index(drop=True),
                          pd.read_csv(str(path), skiprows=skiprows))
