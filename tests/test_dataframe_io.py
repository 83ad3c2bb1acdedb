"""shoal.dataframe.io: readers and writers compared with pandas on real files."""

import gzip
import math
import os

import pytest

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import shoal  # noqa: E402
from shoal.dataframe.io import (  # noqa: E402
    read_csv, read_json, read_parquet, to_csv, to_json, to_parquet)
from shoal.dataframe.io import _files  # noqa: E402
from shoal.dataframe.core import from_pandas  # noqa: E402


def _same(result, expected, **kw):
    pd.testing.assert_frame_equal(result.reset_index(drop=True),
                                  expected.reset_index(drop=True), **kw)


def _frame(n, seed=0, offset=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(offset, offset + n),
        "name": [f"name-{i}-{'x' * (i % 7)}" for i in range(offset, offset + n)],
        "value": rng.random(n).round(6),
    })


@pytest.fixture
def csv_files(tmp_path):
    files = []
    for i in range(3):
        path = tmp_path / f"part-{i}.csv"
        _frame(200, seed=i, offset=1000 * i).to_csv(path, index=False)
        files.append(str(path))
    return files


# -- read_csv -----------------------------------------------------------------------

def test_read_csv_blocks_equal_pandas(tmp_path, csv_files):
    blocksize = 1000
    ddf = read_csv(str(tmp_path / "*.csv"), blocksize=blocksize)
    expected_parts = sum(math.ceil(os.path.getsize(f) / blocksize) for f in csv_files)
    assert ddf.npartitions == expected_parts > 3
    assert not ddf.known_divisions
    expected = pd.concat([pd.read_csv(f) for f in csv_files])
    result = ddf.compute(scheduler="sync")
    _same(result, expected)
    assert list(ddf.dtypes) == list(expected.dtypes)
    # every block parsed its header: each partition has the right columns, no header rows
    parts = [ddf.get_partition(i).compute(scheduler="sync") for i in range(ddf.npartitions)]
    assert all(list(p.columns) == ["id", "name", "value"] for p in parts)
    assert sum(len(p) for p in parts) == 600
    assert not result["name"].eq("name").any()


def test_read_csv_one_partition_per_file(tmp_path, csv_files):
    ddf = read_csv(csv_files[::-1], blocksize=None)
    assert ddf.npartitions == 3
    _same(ddf.compute(), pd.concat([pd.read_csv(f) for f in csv_files[::-1]]))


@pytest.mark.parametrize("blocksize", [1, 7, 13, 64, 100, 10_000])
def test_line_blocks_cover_each_line_once(tmp_path, blocksize):
    path = tmp_path / "lines.txt"
    data = b"".join(b"line %d %s\n" % (i, b"y" * (i % 11)) for i in range(40)) + b"tail"
    path.write_bytes(data)
    pieces = [_files.read_line_block(str(path), s, e)[0]
              for s, e in _files.block_ranges(len(data), blocksize)]
    assert b"".join(pieces) == data
    assert all(p.endswith(b"\n") or p in (b"", b"tail") or p.endswith(b"tail") for p in pieces)


def test_read_csv_lines_never_split(tmp_path):
    # long, uneven string fields make most block boundaries fall inside a line
    df = pd.DataFrame({"k": range(300), "s": ["ab" * (i % 37) + "|end" for i in range(300)]})
    path = tmp_path / "uneven.csv"
    df.to_csv(path, index=False)
    for blocksize in (50, 333, 1024):
        ddf = read_csv(str(path), blocksize=blocksize)
        assert ddf.npartitions == math.ceil(os.path.getsize(path) / blocksize)
        out = ddf.compute(scheduler="sync")
        assert len(out) == 300
        assert out["s"].str.endswith("|end").all()
        _same(out, pd.read_csv(path))


def test_read_csv_no_trailing_newline_and_crlf(tmp_path):
    rows = [f"{i},{'w' * (i % 5)}x,{i * 0.5}" for i in range(100)]
    plain = tmp_path / "plain.csv"
    plain.write_text("a,b,c\n" + "\n".join(rows))  # last line has no newline
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(("a,b,c\r\n" + "\r\n".join(rows) + "\r\n").encode())
    for path in (plain, crlf):
        ddf = read_csv(str(path), blocksize=128)
        assert ddf.npartitions > 5
        out = ddf.compute(scheduler="sync")
        _same(out, pd.read_csv(path))
        assert len(out) == 100 and out["b"].str.endswith("x").all()
        assert list(out.columns) == ["a", "b", "c"]


def _int_then_nan(tmp_path):
    df = pd.DataFrame({"x": np.arange(400), "y": ["t"] * 400, "z": [1.5] * 400})
    df["x"] = df["x"].astype(object)
    df.loc[350, "x"] = None  # a missing value far from the start
    path = tmp_path / "late_nan.csv"
    df.to_csv(path, index=False)
    return path


def test_dtype_mismatch_error_and_fix(tmp_path):
    path = _int_then_nan(tmp_path)
    ddf = read_csv(str(path), blocksize=1000, sample=500)  # lazily: no error yet
    assert ddf.dtypes["x"] == np.int64
    with pytest.raises(ValueError) as info:
        ddf.compute(scheduler="sync")
    msg = str(info.value)
    assert "Mismatched dtypes" in msg and "'x'" in msg
    line = next(ln for ln in msg.splitlines() if ln.strip().startswith("x "))
    assert line.split()[1:] == ["float64", "int64"]  # found, expected
    assert "dtype={'x': 'float64'}" in msg
    assert "computed" in msg and "late_nan.csv" in msg and "bytes" in msg

    fixed = read_csv(str(path), blocksize=1000, sample=500, dtype={"x": "float64"})
    _same(fixed.compute(scheduler="sync"), pd.read_csv(path))
    missing = read_csv(str(path), blocksize=1000, sample=500, assume_missing=True)
    _same(missing.compute(scheduler="sync"), pd.read_csv(path))


def test_dtype_mismatch_strings_after_empty(tmp_path):
    df = pd.DataFrame({"n": range(300), "tail": [None] * 200 + ["N%03d" % i for i in range(100)]})
    path = tmp_path / "late_text.csv"
    df.to_csv(path, index=False)
    ddf = read_csv(str(path), blocksize=400, sample=300)
    assert ddf.dtypes["tail"] == np.float64
    with pytest.raises(ValueError, match=r"dtype=\{'tail': 'object'\}"):
        ddf.compute(scheduler="sync")
    out = read_csv(str(path), blocksize=400, sample=300, dtype={"tail": object}).compute()
    assert out["tail"].dropna().tolist() == ["N%03d" % i for i in range(100)]


def test_harmless_differences_are_cast(tmp_path):
    # float in the sample, whole numbers later (int64 found): cast, not an error
    df = pd.DataFrame({"f": [0.5] * 50 + [float(i) for i in range(250)],
                       "s": ["a"] * 50 + [None] * 250})
    path = tmp_path / "casts.csv"
    df.to_csv(path, index=False)
    ddf = read_csv(str(path), blocksize=300, sample=200)
    out = ddf.compute(scheduler="sync")
    assert out["f"].dtype == np.float64 and out["s"].dtype == ddf.dtypes["s"]
    _same(out, pd.read_csv(path))


FLIGHT_COLUMNS = [
    "Year", "Month", "DayofMonth", "DayOfWeek", "DepTime", "CRSDepTime", "ArrTime",
    "CRSArrTime", "UniqueCarrier", "FlightNum", "TailNum", "ActualElapsedTime",
    "CRSElapsedTime", "AirTime", "ArrDelay", "DepDelay", "Origin", "Dest", "Distance",
    "TaxiIn", "TaxiOut", "Cancelled", "Diverted",
]


def _flights(year, n, seed):
    rng = np.random.default_rng(seed)
    date = pd.Timestamp(f"{year}-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 365, n)), "D")
    cancelled = rng.random(n) < 0.05
    dep = np.where(cancelled, np.nan, rng.integers(0, 2400, n))
    elapsed = rng.integers(40, 400, n).astype(object)
    elapsed[n - 5] = None  # a missing value late in the file: float64 after the sample
    tail = np.array([None] * n, dtype=object)
    tail[n // 2:] = [f"N{rng.integers(100, 999)}" for _ in range(n - n // 2)]
    df = pd.DataFrame({
        "Year": date.year, "Month": date.month, "DayofMonth": date.day,
        "DayOfWeek": date.day_of_week + 1, "DepTime": dep, "CRSDepTime": rng.integers(0, 2400, n),
        "ArrTime": dep, "CRSArrTime": rng.integers(0, 2400, n),
        "UniqueCarrier": rng.choice(["UA", "AA", "DL"], n), "FlightNum": rng.integers(1, 3000, n),
        "TailNum": tail, "ActualElapsedTime": np.where(cancelled, np.nan, 100.0),
        "CRSElapsedTime": elapsed, "AirTime": np.nan, "ArrDelay": rng.normal(5, 20, n).round(),
        "DepDelay": rng.normal(5, 20, n).round(), "Origin": rng.choice(["EWR", "JFK", "LGA"], n),
        "Dest": rng.choice(["ORD", "LAX", "SFO"], n), "Distance": rng.integers(100, 3000, n),
        "TaxiIn": np.nan, "TaxiOut": np.nan, "Cancelled": cancelled.astype(int),
        "Diverted": np.zeros(n, dtype=int),
    })
    assert list(df.columns) == FLIGHT_COLUMNS
    return df


TUTORIAL_DTYPE = {"TailNum": object, "CRSElapsedTime": float, "Cancelled": bool}


def test_tutorial_call(tmp_path):
    folder = tmp_path / "nycflights"
    folder.mkdir()
    for k, year in enumerate((1990, 1991, 1992)):
        _flights(year, 400, k).to_csv(folder / f"{year}.csv", index=False)
    pattern = str(folder / "*.csv")

    untyped = read_csv(pattern, parse_dates={"Date": [0, 1, 2]}, sample=2000)
    with pytest.raises(ValueError) as info:
        untyped.compute(scheduler="sync")
    for col in ("CRSElapsedTime", "TailNum"):
        assert col in str(info.value)

    ddf = read_csv(pattern, parse_dates={"Date": [0, 1, 2]}, dtype=TUTORIAL_DTYPE)
    assert len(ddf.columns) == 21
    assert ddf.columns[0] == "Date" and ddf.dtypes["Date"].kind == "M"
    assert ddf.dtypes["Cancelled"] == bool
    result = ddf.compute()

    frames = []
    for f in sorted(folder.glob("*.csv")):
        pdf = pd.read_csv(f, dtype=TUTORIAL_DTYPE)
        date = pd.to_datetime(pdf[["Year", "Month", "DayofMonth"]].set_axis(
            ["year", "month", "day"], axis=1))
        frames.append(pd.concat([date.rename("Date"),
                                 pdf.drop(columns=["Year", "Month", "DayofMonth"])], axis=1))
    _same(result, pd.concat(frames))
    assert len(ddf) == 1200
    assert ddf.DepDelay.max().compute() == result.DepDelay.max()


def test_parse_dates_joined_strings_and_names(tmp_path):
    path = tmp_path / "dt.csv"
    path.write_text("d,t,v\n2020-01-02,10:30,1\n2021-03-04,23:59,2\n")
    out = read_csv(str(path), parse_dates={"when": ["d", "t"]}).compute()
    assert list(out.columns) == ["when", "v"]
    assert out["when"].tolist() == [pd.Timestamp("2020-01-02 10:30"), pd.Timestamp("2021-03-04 23:59")]
    flat = read_csv(str(path), parse_dates=["d"]).compute()
    assert flat["d"].dtype.kind == "M"


def test_usecols_and_path_column(tmp_path, csv_files):
    ddf = read_csv(csv_files, blocksize=2000, usecols=["id", "value"], include_path_column=True)
    assert list(ddf.columns) == ["id", "value", "path"]
    out = ddf.compute(scheduler="sync")
    expected = pd.concat([pd.read_csv(f, usecols=["id", "value"]) for f in csv_files])
    _same(out[["id", "value"]], expected)
    assert isinstance(out["path"].dtype, pd.CategoricalDtype)
    assert out["path"].astype(str).tolist() == [f for f in csv_files for _ in range(200)]


def test_gzip_one_partition_per_file(tmp_path):
    df = _frame(300)
    with gzip.open(tmp_path / "a.csv.gz", "wt") as f:
        df.to_csv(f, index=False)
    ddf = read_csv(str(tmp_path / "a.csv.gz"), blocksize=100)
    assert ddf.npartitions == 1
    _same(ddf.compute(), df)


def test_glob_matching_nothing(tmp_path):
    pattern = str(tmp_path / "nothing-*.csv")
    with pytest.raises(FileNotFoundError, match="nothing-"):
        read_csv(pattern)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        read_json(str(tmp_path / "missing.json"))


def test_names_are_deterministic_and_follow_the_files(tmp_path, csv_files):
    a = read_csv(csv_files, blocksize=1000)
    b = read_csv(csv_files, blocksize=1000)
    assert a._name == b._name
    assert read_csv(csv_files, blocksize=999)._name != a._name
    with open(csv_files[0], "a") as f:
        f.write("9999,late,0.5\n")
    assert read_csv(csv_files, blocksize=1000)._name != a._name


@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes"])
def test_schedulers(tmp_path, csv_files, scheduler):
    ddf = read_csv(csv_files, blocksize=1500)
    total = ddf.value.sum()
    expected = pd.concat([pd.read_csv(f) for f in csv_files])
    out, s = shoal.compute(ddf, total, scheduler=scheduler)
    _same(out, expected)
    assert s == pytest.approx(expected.value.sum())
    bad = read_csv(str(_int_then_nan(tmp_path)), blocksize=1000, sample=500)
    with pytest.raises(ValueError, match="Mismatched dtypes"):
        bad.compute(scheduler=scheduler)


# -- to_csv ---------------------------------------------------------------------------

def test_to_csv_multi_file_round_trip(tmp_path):
    df = _frame(250)
    ddf = from_pandas(df, npartitions=4)
    paths = to_csv(ddf, str(tmp_path / "out" / "data-*.csv"), index=False)
    assert paths == [str(tmp_path / "out" / f"data-{i}.csv") for i in range(4)]
    _same(read_csv(str(tmp_path / "out" / "data-*.csv")).compute(), df)
    folder = to_csv(ddf, str(tmp_path / "folder"), index=False)
    assert [os.path.basename(p) for p in folder] == [f"{i}.part" for i in range(4)]


def test_to_csv_single_file_in_order(tmp_path):
    df = _frame(250)
    ddf = from_pandas(df, npartitions=5)
    target = str(tmp_path / "one.csv")
    for scheduler in ("threads", "sync"):
        assert to_csv(ddf, target, single_file=True, index=False,
                      compute_kwargs={"scheduler": scheduler}) == [target]
        text = (tmp_path / "one.csv").read_text()
        assert text.count("id,name,value") == 1
        _same(pd.read_csv(target), df)
    lazy = to_csv(ddf, str(tmp_path / "lazy.csv"), single_file=True, compute=False)
    assert len(lazy) == 1 and not os.path.exists(tmp_path / "lazy.csv")
    shoal.compute(*lazy)
    _same(pd.read_csv(tmp_path / "lazy.csv", index_col=0), df)


# -- parquet ----------------------------------------------------------------------------

def test_parquet_round_trip_with_index(tmp_path):
    df = _frame(300).set_index("id")
    ddf = from_pandas(df, npartitions=3)
    assert to_parquet(ddf, str(tmp_path / "pq")) is None
    assert sorted(os.listdir(tmp_path / "pq")) == [f"part.{i}.parquet" for i in range(3)]
    back = read_parquet(str(tmp_path / "pq"))
    assert back.npartitions == 3 and back._meta.index.name == "id"
    pd.testing.assert_frame_equal(back.compute(), df)
    sel = read_parquet(str(tmp_path / "pq"), columns=["value"])
    pd.testing.assert_frame_equal(sel.compute(), df[["value"]])
    series = read_parquet(str(tmp_path / "pq"), columns="name").compute()
    pd.testing.assert_series_equal(series, df["name"])
    divs = read_parquet(str(tmp_path / "pq"), calculate_divisions=True)
    assert divs.divisions == (0, 100, 200, 299)


def test_parquet_round_trip_without_index(tmp_path):
    df = _frame(200).set_index("id")
    ddf = from_pandas(df, npartitions=2)
    to_parquet(ddf, str(tmp_path / "pq"), write_index=False)
    back = read_parquet(str(tmp_path / "pq")).compute()
    _same(back, df.reset_index(drop=True))
    lazy = to_parquet(ddf, str(tmp_path / "lazy"), compute=False)
    assert not os.listdir(tmp_path / "lazy")
    lazy.compute()
    assert len(os.listdir(tmp_path / "lazy")) == 2


def test_parquet_multiple_files_row_groups_filters(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    frames = [_frame(120, seed=i, offset=200 * i) for i in range(3)]
    for i, f in enumerate(frames):
        pq.write_table(pa.Table.from_pandas(f, preserve_index=False),
                       tmp_path / f"f{i}.parquet", row_group_size=50)
    ddf = read_parquet(str(tmp_path / "*.parquet"))
    assert ddf.npartitions == 3
    _same(ddf.compute(), pd.concat(frames))
    groups = read_parquet([str(tmp_path / f"f{i}.parquet") for i in range(3)], split_row_groups=True)
    assert groups.npartitions == 9
    _same(groups.compute(), pd.concat(frames))
    filtered = read_parquet(str(tmp_path), columns=["name"], filters=[("value", ">", 0.5)])
    expected = pd.concat(frames)
    _same(filtered.compute(), expected.loc[expected.value > 0.5, ["name"]])


def test_parquet_refuses_stale_files(tmp_path):
    to_parquet(from_pandas(_frame(40), npartitions=4), str(tmp_path / "pq"))
    small = from_pandas(_frame(10), npartitions=2)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        to_parquet(small, str(tmp_path / "pq"))
    to_parquet(small, str(tmp_path / "pq"), overwrite=True)
    _same(read_parquet(str(tmp_path / "pq")).compute(), _frame(10))


# -- json -------------------------------------------------------------------------------

def test_json_lines_round_trip(tmp_path):
    df = _frame(300)
    ddf = from_pandas(df, npartitions=3)
    paths = to_json(ddf, str(tmp_path / "js" / "*.json"))
    assert len(paths) == 3
    back = read_json(str(tmp_path / "js" / "*.json"))
    assert back.npartitions == 3
    _same(back.compute(), df)
    blocks = read_json(str(tmp_path / "js" / "*.json"), blocksize=2000)
    assert blocks.npartitions > 3
    _same(blocks.compute(scheduler="sync"), df)
    expected = pd.concat([pd.read_json(p, lines=True) for p in paths])
    _same(back.compute(), expected)


def test_json_missing_keys_and_mismatch(tmp_path):
    path = tmp_path / "recs.json"
    lines = ['{"a": %d, "b": "x"}' % i for i in range(100)] + ['{"a": null}'] * 3
    path.write_text("\n".join(lines) + "\n")
    ddf = read_json(str(path), blocksize=300, sample=200)
    with pytest.raises(ValueError, match=r"'a': 'float64'"):
        ddf.compute(scheduler="sync")
    out = read_json(str(path), blocksize=300, sample=200, dtype={"a": "float64"}).compute()
    assert len(out) == 103 and out["b"].isna().sum() == 3


# -- the tutorial's shared data set -------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tutorial_flights_dataset(flights_csv_dir):
    tmp_path = flights_csv_dir.parent  # (conftest.py: written once per session)
    pattern = str(tmp_path / "nycflights" / "*.csv")
    df = read_csv(pattern, parse_dates={"Date": [0, 1, 2]}, dtype=TUTORIAL_DTYPE)
    assert df.npartitions == 12
    assert df.columns[0] == "Date" and len(df.columns) == 21
    assert len(df) == 336776
    result = df.compute()
    frames = []
    for f in sorted((tmp_path / "nycflights").glob("*.csv")):
        pdf = pd.read_csv(f, dtype=TUTORIAL_DTYPE)
        date = pd.to_datetime(pdf[["Year", "Month", "DayofMonth"]].set_axis(
            ["year", "month", "day"], axis=1))
        frames.append(pd.concat([date.rename("Date"),
                                 pdf.drop(columns=["Year", "Month", "DayofMonth"])], axis=1))
    _same(result, pd.concat(frames))
    js = read_json(str(tmp_path / "flightjson" / "*.json"))
    assert len(js) == 120000 and list(js.columns) == FLIGHT_COLUMNS


# --- paths, schemas and errors that named no file (a hunt for I/O edge cases) -----------


def test_relative_paths_are_taken_where_the_graph_is_built(tmp_path, monkeypatch):
    """The tasks resolved them in their own working directory: after an os.chdir (or on a
    worker that started elsewhere) another file was read, or files went elsewhere."""
    a, b = tmp_path / "a", tmp_path / "b"
    for d, x in ((a, 1), (b, 2)):
        d.mkdir()
        (d / "data.csv").write_text(f"x\n{x}\n")
    monkeypatch.chdir(a)
    df = read_csv("data.csv")
    monkeypatch.chdir(b)
    assert df.compute(scheduler="sync").x.tolist() == [1]
    monkeypatch.chdir(a)
    written = from_pandas(pd.DataFrame({"x": [5]}), npartitions=1).to_csv("out/*.csv", index=False)
    assert written == [str(a / "out" / "0.csv")] and (a / "out" / "0.csv").exists()


def test_file_urls_and_home_in_writers(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    df = from_pandas(pd.DataFrame({"x": [1, 2]}), npartitions=1)
    assert df.to_json("~/j/*.json") == [str(tmp_path / "home" / "j" / "0.json")]
    assert df.to_csv(f"file://{tmp_path}/c/*.csv") == [str(tmp_path / "c" / "0.csv")]
    df.to_parquet(f"file://{tmp_path}/p")
    assert read_parquet(str(tmp_path / "p")).compute().x.tolist() == [1, 2]
    assert not (tmp_path / "~").exists() and not (tmp_path / "file:").exists()


def test_a_file_whose_name_looks_like_a_glob_is_read_as_itself(tmp_path):
    (tmp_path / "data[1].csv").write_text("x\n111\n")
    (tmp_path / "data1.csv").write_text("x\n999\n")
    assert read_csv(str(tmp_path / "data[1].csv")).compute().x.tolist() == [111]
    assert read_csv(str(tmp_path / "data[0-9].csv")).compute().x.tolist() == [999]  # a glob


def test_overwriting_the_parquet_files_a_frame_reads_is_refused_before_anything_goes(tmp_path):
    from_pandas(pd.DataFrame({"x": range(4)}), npartitions=2).to_parquet(str(tmp_path / "d"))
    df = read_parquet(str(tmp_path / "d"))
    with pytest.raises(ValueError, match=r"overwrite=True would delete .*part\.\d\.parquet', "
                                         r"which this dataframe reads"):
        df.to_parquet(str(tmp_path / "d"), overwrite=True)
    assert read_parquet(str(tmp_path / "d")).compute().x.tolist() == [0, 1, 2, 3]
    (df + 1).to_parquet(str(tmp_path / "e"))
    other = read_parquet(str(tmp_path / "e"))
    other.to_parquet(str(tmp_path / "d"), overwrite=True)  # (another dataset's: allowed)
    assert read_parquet(str(tmp_path / "d")).compute().x.tolist() == [1, 2, 3, 4]


def test_parquet_files_of_another_schema_are_an_error_naming_the_file(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}).to_parquet(d / "part.0.parquet")
    pd.DataFrame({"x": [0.5, None], "z": [1, 2]}).to_parquet(d / "part.1.parquet")
    with pytest.raises(ValueError, match=r"part\.1\.parquet' does not have the schema of the "
                                         r"first file read: 'x': double \(expected int64\); "
                                         r"'z': int64 \(expected no such column\); 'y': missing"):
        read_parquet(str(d)).compute(scheduler="sync")
    # what differs only where pandas' dtypes would (a null in an int column, a column all
    # null in one file) is one schema: read as pandas would concatenate it
    e = tmp_path / "nulls"
    e.mkdir()
    pd.DataFrame({"a": [1, 2], "s": ["x", "y"]}).to_parquet(e / "part.0.parquet")
    pd.DataFrame({"a": pd.array([3, None], dtype="Int64"), "s": [None, None]}).to_parquet(
        e / "part.1.parquet")
    assert read_parquet(str(e)).compute(scheduler="sync").s.tolist()[:2] == ["x", "y"]
    # an index stored in one file and kept as metadata in another (a filtered frame's
    # parts), and columns in another order: one schema, read in the first file's order
    f = tmp_path / "ordered"
    f.mkdir()
    pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]}).to_parquet(f / "part.0.parquet")
    pd.DataFrame({"b": [5.0], "a": [6]}, index=[7]).to_parquet(f / "part.1.parquet")
    got = read_parquet(str(f)).compute(scheduler="sync")
    assert list(got.columns) == ["a", "b"] and got.a.tolist() == [1, 2, 6]
    assert got.index.tolist() == [0, 1, 7]


def test_a_partitioned_parquet_dataset_reads_its_partition_column(tmp_path):
    df = pd.DataFrame({"x": range(6), "year": [2020, 2021, 2022] * 2})
    df.to_parquet(tmp_path / "hive", partition_cols=["year"])  # (more: test_dataframe_split_out_options)
    got = read_parquet(str(tmp_path / "hive")).compute()
    assert sorted(zip(got.x, got.year.astype(int))) == sorted(zip(df.x, df.year))


def test_utf16_files_are_not_cut_at_newline_bytes(tmp_path):
    path = tmp_path / "u16.csv"
    pd.DataFrame({"x": range(500), "y": ["é"] * 500}).to_csv(path, index=False, encoding="utf-16")
    with pytest.raises(ValueError, match="files in utf-16 cannot be split into blocks at newlines"):
        read_csv(str(path), encoding="utf-16", blocksize=1000)
    whole = read_csv(str(path), encoding="utf-16", blocksize=None).compute()
    assert whole.x.tolist() == list(range(500))


def test_a_parse_error_names_the_file_and_bytes_and_an_empty_file_is_empty(tmp_path):
    rows = "".join(f'{i},"line1\nline2 {i}",{i}\n' for i in range(2000))  # (newlines in quotes)
    (tmp_path / "q.csv").write_text("a,b,c\n" + rows)
    with pytest.raises(pd.errors.ParserError) as info:
        read_csv(str(tmp_path / "q.csv"), blocksize=4000).compute(scheduler="sync")
    [note] = [n for n in info.value.__notes__ if n.startswith("read_csv")]
    assert "q.csv' (bytes " in note and "pass blocksize=None" in note
    (tmp_path / "0.csv").write_text("a,b\n1,2\n")
    (tmp_path / "1.csv").write_text("")
    paths = [str(tmp_path / "0.csv"), str(tmp_path / "1.csv")]
    assert read_csv(paths, blocksize=None).compute().shape == (1, 2)  # (it raised EmptyDataError)


def test_a_parquet_file_rewritten_since_the_graph_was_built_is_named_in_the_error(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame({"x": range(100)}).to_parquet(path, row_group_size=10)
    df = read_parquet(str(path), split_row_groups=True)
    pd.DataFrame({"x": range(20)}).to_parquet(path, row_group_size=10)  # (2 groups, not 10)
    with pytest.raises(Exception) as info:
        df.compute(scheduler="sync")
    assert any(f"read_parquet: while reading {str(path)!r} (row groups [" in note
               for note in info.value.__notes__), info.value.__notes__


def test_utf16_json_lines_are_not_cut_and_a_compressed_utf16_csv_is_read_whole(tmp_path):
    df = pd.DataFrame({"x": range(300), "y": ["é"] * 300})
    df.to_json(tmp_path / "u16.json", orient="records", lines=True)
    text = (tmp_path / "u16.json").read_text()
    (tmp_path / "u16.json").write_text(text, encoding="utf-16")
    with pytest.raises(ValueError, match="read_json: files in utf-16 cannot be split"):
        read_json(str(tmp_path / "u16.json"), lines=True, encoding="utf-16", blocksize=1000)
    df.to_csv(tmp_path / "u16.csv.gz", index=False, encoding="utf-16", compression="gzip")
    got = read_csv(str(tmp_path / "u16.csv.gz"), encoding="utf-16", blocksize=1000).compute()
    assert got.x.tolist() == list(range(300))  # (a compressed file is never cut: allowed)


def test_parquet_takes_dasks_keywords(tmp_path):
    """engine=, write_metadata_file=, append=, custom_metadata=, storage_options={} and the
    read side's planning options went to pyarrow and failed there (TypeError)."""
    import pyarrow.parquet as pq

    pdf = pd.DataFrame({"a": range(6), "b": list("xyzxyz")})
    df = from_pandas(pdf, npartitions=2)
    out = tmp_path / "p"
    df.to_parquet(out, engine="pyarrow", write_metadata_file=True, schema="infer",
                  storage_options={}, custom_metadata={"owner": "shoal"})  # fmt: skip
    assert sorted(os.listdir(out)) == ["_common_metadata", "_metadata", "part.0.parquet",
                                       "part.1.parquet"]  # fmt: skip
    assert pq.read_metadata(out / "_metadata").num_rows == 6
    assert pq.read_schema(out / "part.0.parquet").metadata[b"owner"] == b"shoal"
    df.to_parquet(out, append=True, engine="auto")
    assert sorted(n for n in os.listdir(out) if n.startswith("part")) == [
        f"part.{i}.parquet" for i in range(4)]
    back = read_parquet(out, engine="pyarrow", ignore_metadata_file=True, blocksize=None,
                           storage_options={}, dtype_backend="pyarrow")  # fmt: skip
    got = back.compute()
    assert len(got) == 12 and str(got.a.dtype) == "int64[pyarrow]"
    with pytest.raises(NotImplementedError, match="local paths only"):
        df.to_parquet(tmp_path / "q", storage_options={"anon": True})
    with pytest.raises(ValueError, match="engine='pyarrow' only"):
        df.to_parquet(tmp_path / "q", engine="fastparquet")


def test_read_csv_sample_rows(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("x\n" + "\n".join(["1"] * 20 + ["2.5"]) + "\n")
    assert read_csv(path, sample_rows=5).x.dtype == "int64"  # (the first 5 rows say ints)
    assert read_csv(path).x.dtype == "float64"
    with pytest.raises(ValueError, match="sample_rows"):
        read_csv(path, sample_rows=0)
