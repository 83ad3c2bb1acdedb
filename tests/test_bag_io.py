"""shoal.bag input and output: read_text, to_textfiles, to_dataframe, and the
seeds' JSON-lines examples (word frequencies, the tutorial's flight records),
each compared with plain Python on the same files."""

import glob
import gzip
import heapq
import json
import os
import random
from collections import Counter

import pytest

import shoal
import shoal.bag as db
from shoal.bag.io import parse_bytes


@pytest.fixture(autouse=True)
def sync_by_default(request):
    if "default_scheduler" in request.fixturenames:
        yield
        return
    with shoal.config.set(scheduler="sync"):
        yield


@pytest.fixture
def default_scheduler():
    """Requested by tests that run on the bag's own default (processes)."""


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def lines_of(path, delimiter="\n", opener=open):
    with opener(path, "rb") as f:
        text = f.read().decode("utf-8")
    parts = text.split(delimiter)
    out = [p + delimiter for p in parts[:-1]]
    return out + ([parts[-1]] if parts[-1] else [])


@pytest.fixture
def text_files(tmp_path):
    rng = random.Random(3)
    paths = []
    for i, n in enumerate([0, 1, 17, 60]):
        lines = ["".join(rng.choice("abcé€ xyz") for _ in range(rng.randrange(0, 30)))
                 for _ in range(n)]
        text = "\n".join(lines) + ("\n" if i % 2 else "")  # some end without a newline
        p = tmp_path / f"part-{i}.txt"
        p.write_text(text, encoding="utf-8")
        paths.append(str(p))
    return paths


def test_parse_bytes():
    assert parse_bytes("64MB") == 64_000_000
    assert parse_bytes("1 MiB") == 2**20
    assert parse_bytes("100") == 100
    with pytest.raises(ValueError):
        parse_bytes("lots")


def test_read_text_whole_files(text_files, tmp_path):
    expected = [line for p in text_files for line in lines_of(p)]
    b = db.read_text(str(tmp_path / "*.txt"))
    assert b.npartitions == len(text_files)
    assert b.compute() == expected
    assert all(line.endswith("\n") for line in lines_of(text_files[3]))
    assert db.read_text(text_files).compute() == expected
    assert db.read_text(text_files[2]).compute() == lines_of(text_files[2])
    two = db.read_text(text_files, files_per_partition=2)
    assert two.npartitions == 2 and two.compute() == expected
    with_path = db.read_text(text_files, include_path=True).compute()
    assert with_path == [(line, p) for p in text_files for line in lines_of(p)]


@pytest.mark.parametrize("blocksize", [1, 5, 64, 700, "1kB", 10**6])
def test_read_text_blocks(text_files, blocksize):
    expected = [line for p in text_files for line in lines_of(p)]
    b = db.read_text(text_files, blocksize=blocksize)
    size = parse_bytes(blocksize)
    assert b.npartitions == sum(max(1, -(-os.path.getsize(p) // size)) for p in text_files)
    assert b.compute() == expected
    got = db.read_text(text_files, blocksize=blocksize, include_path=True).compute()
    assert got == [(line, p) for p in text_files for line in lines_of(p)]


@pytest.mark.parametrize("blocksize", [None, 1, 4, 9, 100])
@pytest.mark.parametrize("delimiter", ["\r\n", "|;", ";"])
def test_read_text_other_delimiters(tmp_path, blocksize, delimiter):
    words = ["alpha", "", "b", "gamma delta", "x" * 20, "é"]
    p = tmp_path / "d.txt"
    p.write_bytes(delimiter.join(words).encode() + delimiter.encode())
    got = db.read_text(str(p), blocksize=blocksize, linedelimiter=delimiter).compute()
    assert got == [w + delimiter for w in words]


@pytest.mark.parametrize("blocksize", [None, 1, 3, 100])
def test_windows_line_ends_are_read_as_newlines_as_dask_reads_them(tmp_path, blocksize):
    p = tmp_path / "crlf.txt"
    p.write_bytes(b"a\r\nb\r\n\r\nmixed\nold\rmac\nend\r")
    got = db.read_text(str(p), blocksize=blocksize).compute()
    assert got == ["a\n", "b\n", "\n", "mixed\n", "old\n", "mac\n", "end\n"]


def test_read_text_errors(tmp_path, text_files):
    with pytest.raises(ValueError, match="no files found"):
        db.read_text(str(tmp_path / "nothing-*.txt"))
    with pytest.raises(FileNotFoundError):
        db.read_text(str(tmp_path / "missing.txt"))
    gz = tmp_path / "a.txt.gz"
    with gzip.open(gz, "wt") as f:
        f.write("a\nb\n")
    with pytest.raises(ValueError, match="cannot be split"):
        db.read_text(str(gz), blocksize=10)
    with pytest.raises(ValueError):
        db.read_text(text_files, blocksize=10, files_per_partition=2)
    with pytest.raises(ValueError, match="overlap itself"):
        db.read_text(text_files, blocksize=10, linedelimiter="||")
    assert db.read_text(text_files, linedelimiter="||").compute() == [
        "".join(lines_of(p)) for p in text_files if lines_of(p)]


def test_read_text_collection_false(text_files):
    parts = db.read_text(text_files, collection=False)
    assert [p.compute() for p in parts] == [lines_of(p) for p in text_files]


def test_gzip_round_trip(tmp_path, text_files, default_scheduler):
    b = db.read_text(text_files)
    paths = b.to_textfiles(str(tmp_path / "out" / "*.txt.gz"))
    assert paths == [str(tmp_path / "out" / f"{i}.txt.gz") for i in range(4)]
    for src, dst in zip(text_files, paths):  # byte for byte, through gzip
        with open(src, "rb") as f, gzip.open(dst, "rb") as g:
            assert f.read() == g.read()
    assert db.read_text(str(tmp_path / "out" / "*.gz")).compute() == b.compute()
    again = b.to_textfiles(str(tmp_path / "again" / "*.txt.gz"))
    assert [read_bytes(p) for p in again] == [read_bytes(p) for p in paths]


def test_to_textfiles_forms(tmp_path):
    b = db.from_sequence([f"line {i}" for i in range(12)], npartitions=11)
    paths = b.to_textfiles(str(tmp_path / "dir"))
    assert paths[0].endswith(os.path.join("dir", "00.part")) and len(paths) == 11
    assert sorted(paths) == paths
    assert db.read_text(paths).str.rstrip("\n").compute() == b.compute()
    assert read_bytes(paths[0]) == b"line 0"  # no final newline by default, as in Dask
    mine = [str(tmp_path / "list" / f"{c}.txt") for c in "abcdefghijk"]
    assert b.to_textfiles(mine, last_endline=True) == mine
    assert read_bytes(mine[-1]) == b"line 10\nline 11\n"
    named = b.to_textfiles(str(tmp_path / "n" / "day-*.txt"), name_function=lambda i: f"{i:03d}")
    assert named[3].endswith("day-003.txt")
    lazy = b.to_textfiles(str(tmp_path / "lazy" / "*.txt"), compute=False)
    assert not os.path.exists(tmp_path / "lazy")
    shoal.compute(*lazy)
    assert len(os.listdir(tmp_path / "lazy")) == 11
    with pytest.raises(TypeError, match="json.dumps"):
        db.from_sequence([1, 2]).to_textfiles(str(tmp_path / "bad" / "*.txt"))
    with pytest.raises(ValueError, match="3 paths"):
        b.to_textfiles(["a", "b", "c"])


def test_to_dataframe():
    pd = pytest.importorskip("pandas")
    records = [{"name": n, "x": i, "y": i / 2} for i, n in enumerate("abcdefg")]
    b = db.from_sequence(records, npartitions=3)
    df = b.to_dataframe()
    assert list(df.columns) == ["name", "x", "y"]
    assert df.npartitions == 3
    expected = pd.DataFrame(records)
    pd.testing.assert_frame_equal(df.compute().reset_index(drop=True), expected)
    df2 = b.map(lambda r: (r["name"], r["x"])).to_dataframe(columns=["n", "x"])
    pd.testing.assert_frame_equal(df2.compute().reset_index(drop=True),
                                  pd.DataFrame([(r["name"], r["x"]) for r in records],
                                               columns=["n", "x"]))
    df3 = b.to_dataframe(meta={"name": object, "x": "f8", "y": "f8"})
    assert df3.compute()["x"].dtype == "float64"
    with pytest.raises(ValueError, match="meta="):
        db.from_sequence([], npartitions=2).to_dataframe()


def test_to_dataframe_refuses_data_that_does_not_fit_the_dtypes():
    """A later record's values that the learned (or given) dtype cannot hold: a clear
    error naming the column (they were cut, or the partition kept other dtypes)."""
    pytest.importorskip("pandas")
    cut = db.from_sequence([{"a": 1}, {"a": 2.7}], npartitions=2).to_dataframe()
    with pytest.raises(ValueError, match=r"column 'a' holds float64 .* int64 .*meta=.*cut"):
        cut.compute()
    missing = db.from_sequence([{"a": 1, "b": 2}, {"a": 3}], npartitions=2).to_dataframe()
    with pytest.raises(ValueError, match=r"column 'b' holds float64 values .* int64"):
        missing.compute()
    whole = db.from_sequence([{"a": 1}, {"a": 2.0}], npartitions=2).to_dataframe().compute()
    assert whole["a"].tolist() == [1, 2] and whole["a"].dtype == "int64"
    given = db.from_sequence([{"a": 1, "b": 2}, {"a": 3}], npartitions=2).to_dataframe(
        meta={"a": "i8", "b": "f8"}).compute()
    assert given["b"].isna().tolist() == [False, True]


# -- the seeds' examples ------------------------------------------------------------------

def test_json_names_topk(tmp_path):
    rng = random.Random(11)
    names = ["Alice", "Bob", "Charlie", "Dan", "Edith", "Frank", "George", "Hannah", "Ingrid",
             "Jack", "Kim", "Lena", "Mo"]
    for i in range(6):
        with open(tmp_path / f"{i}.json", "w") as f:
            for _ in range(rng.randrange(50, 200)):
                f.write(json.dumps({"name": rng.choice(names), "amount": rng.randrange(100)}) + "\n")
    files = sorted(glob.glob(str(tmp_path / "*.json")))
    result = (db.read_text(str(tmp_path / "*.json")).map(json.loads).pluck("name")
              .frequencies().topk(10, key=lambda x: x[1]).compute(scheduler="processes"))
    plain = Counter(json.loads(line)["name"] for p in files for line in lines_of(p))
    assert result == heapq.nlargest(10, plain.items(), key=lambda x: x[1])


def synthetic_flights(directory, files=5, rows=400):
    rng = random.Random(7)
    os.makedirs(directory, exist_ok=True)
    for i in range(files):
        with open(os.path.join(directory, f"{1990 + i}.json"), "w") as f:
            for _ in range(rows):
                cancelled = int(rng.random() < 0.1)
                delay = None if cancelled or rng.random() < 0.05 else rng.randrange(-15, 120)
                rec = {"Year": 1990 + i, "Origin": rng.choice(["EWR", "JFK", "LGA"]),
                       "Dest": rng.choice(["ORD", "SFO", "BOS"]), "DepDelay": delay,
                       "Cancelled": cancelled}
                f.write(json.dumps(rec) + "\n")


@pytest.fixture(scope="module")
def synthetic_flightjson(tmp_path_factory):
    root = tmp_path_factory.mktemp("flights")
    synthetic_flights(str(root / "flightjson"))
    return sorted(glob.glob(str(root / "flightjson" / "*.json")))


@pytest.fixture(scope="module")
def real_flightjson(flights_csv_dir):
    """The tutorial's files from ``shoal.datasets.flights`` (conftest.py)."""
    return sorted(glob.glob(str(flights_csv_dir.parent / "flightjson" / "*.json")))[:3]


def test_flightjson_chapter(synthetic_flightjson, default_scheduler):
    check_flights_chapter(synthetic_flightjson)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_flightjson_chapter_on_the_tutorial_data(real_flightjson, default_scheduler):
    check_flights_chapter(real_flightjson)


def check_flights_chapter(flightjson):
    records = [json.loads(line) for p in flightjson for line in lines_of(p)]
    flights = db.read_text(flightjson).map(json.loads)
    assert flights.count().compute() == len(records)
    assert flights.take(1)[0] == records[0]

    flying = flights.filter(lambda r: not r["Cancelled"])
    delays = flying.pluck("DepDelay").filter(lambda d: d is not None)
    plain_delays = [r["DepDelay"] for r in records if not r["Cancelled"] and r["DepDelay"] is not None]
    n, mean = shoal.compute(delays.count(), delays.mean())
    assert n == len(plain_delays)
    assert mean == pytest.approx(sum(plain_delays) / len(plain_delays))

    def add(acc, r):
        d = r["DepDelay"]
        return acc if d is None else (acc[0] + d, acc[1] + 1)

    def merge(a, b):
        return a[0] + b[0], a[1] + b[1]

    by_origin = flying.foldby("Origin", add, (0, 0), merge, (0, 0)).compute()
    plain: dict = {}
    for r in records:
        if not r["Cancelled"]:
            plain[r["Origin"]] = add(plain.get(r["Origin"], (0, 0)), r)
    assert dict(by_origin) == plain
    means = {k: s / c for k, (s, c) in by_origin if c}
    assert means == pytest.approx({k: s / c for k, (s, c) in plain.items() if c})
    groups = dict(flights.groupby(lambda r: r["Origin"]).map(
        lambda kv: (kv[0], sum(r["Cancelled"] for r in kv[1]))).compute())
    origins = {r["Origin"] for r in records}
    assert groups == {o: sum(r["Cancelled"] for r in records if r["Origin"] == o) for o in origins}


def test_read_text_takes_relative_paths_where_the_bag_is_built_and_names_like_globs_as_themselves(
        tmp_path, monkeypatch):
    """A relative path was read in the task's working directory (after an os.chdir, or on
    a worker started elsewhere: another file); ``data[1].txt`` was taken for a glob."""
    a, b = tmp_path / "a", tmp_path / "b"
    for d, text in ((a, "from a\n"), (b, "from b\n")):
        d.mkdir()
        (d / "t.txt").write_text(text)
    (a / "data[1].txt").write_text("literal\n")
    (a / "data1.txt").write_text("glob match\n")
    monkeypatch.chdir(a)
    bag, literal = shoal.bag.read_text("t.txt"), shoal.bag.read_text("data[1].txt")
    monkeypatch.chdir(b)
    assert bag.compute(scheduler="sync") == ["from a\n"]
    assert literal.compute(scheduler="sync") == ["literal\n"]
    assert shoal.bag.read_text(f"file://{a}/t.txt").compute() == ["from a\n"]
    out = shoal.bag.from_sequence(["x"], npartitions=1).to_textfiles(f"file://{a}/o/*.txt")
    assert out == [str(a / "o" / "0.txt")] and not (b / "file:").exists()


def test_read_text_does_not_cut_utf16_into_blocks(tmp_path):
    path = tmp_path / "u16.txt"
    path.write_text("\u0a9a\u0100\n" * 200, encoding="utf-16-le")
    with pytest.raises(ValueError, match="files in utf-16-le cannot be split into blocks"):
        shoal.bag.read_text(str(path), encoding="utf-16-le", blocksize=100)
    lines = shoal.bag.read_text(str(path), encoding="utf-16-le").compute()
    assert lines == ["\u0a9a\u0100\n"] * 200
