"""Bag workloads, written once and run with ``shoal.bag`` and ``dask.bag``.

Two cases, both on the process scheduler (the bags' default in both libraries):

- ``bag-letters``: 8 files of 2 MB of random letters (lines of 79 letters,
  generated once into a temporary directory from a fixed seed); per file
  ``len(sorted(text))`` -- CPU-bound pure Python, the classic case for
  processes.  Built as ``read_text(files).map_partitions(count_letters)``
  (one partition per file).  The ``serial`` variant is the plain loop over the
  files, identical for both libraries; the speedup is ``serial / warm``.
- ``bag-json``: JSON-lines flight-like records (~300,000 in 10 files, ~70 MB),
  ``read_text(...).map(json.loads).pluck("Dest").frequencies()``; the result
  is compared sorted with plain Python's ``collections.Counter``.

As in ``workloads.py``, shoal's pool is shut down first for the ``cold``
sample and reused for ``warm``; Dask starts a new pool for every compute, so
its one sample stands for both.  The graphs are built outside the timed
region; the timed region is ``.compute(scheduler="processes")``.

``make_bag_cases(quick)`` returns the cases for ``benchmarks.run``;
``python -m benchmarks.bag_workloads [--quick] [--repeat N]`` runs them alone
and prints medians and speedups.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import importlib
import json
import os
import random
import shutil
import statistics
import string
import tempfile

from benchmarks.workloads import Case, Lib, timed

__all__ = ["count_letters", "count_file", "make_bag_cases"]

LETTER_FILES = 8
LETTER_BYTES = 2_000_000
JSON_RECORDS = 300_000
JSON_FILES = 10
SEED = 1234

_cache: dict = {}


# -- task functions: module-level so worker processes import them by name ------------
def count_letters(lines):
    """One partition (a file's lines) -> ``[len(sorted(text))]``."""
    return [len(sorted("".join(lines)))]


def count_file(path):
    with open(path, encoding="utf-8") as f:
        return len(sorted(f.read()))


# -- data -------------------------------------------------------------------------------
def _tmpdir() -> str:
    if "dir" not in _cache:
        path = tempfile.mkdtemp(prefix="shoal-bag-bench-")
        atexit.register(shutil.rmtree, path, True)
        _cache["dir"] = path
    return _cache["dir"]


def letter_files(nfiles: int, nbytes: int) -> list:
    """*nfiles* files of about *nbytes* random letters, 79 per line (cached)."""
    key = ("letters", nfiles, nbytes)
    if key not in _cache:
        rng = random.Random(SEED)
        paths = []
        for i in range(nfiles):
            path = os.path.join(_tmpdir(), f"letters-{nbytes}-{i}.txt")
            lines = ["".join(rng.choices(string.ascii_letters, k=79)) for _ in range(nbytes // 80)]
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            paths.append(path)
        _cache[key] = paths
    return _cache[key]


AIRPORTS = ["ATL", "BOS", "DEN", "DFW", "EWR", "JFK", "LAX", "LGA", "ORD", "SEA", "SFO", "MIA"]
CARRIERS = ["AA", "B6", "DL", "EV", "UA", "US", "WN"]


def json_files(nrecords: int, nfiles: int) -> tuple:
    """Flight-like JSON-lines files and the expected ``Dest`` frequencies (cached)."""
    key = ("json", nrecords, nfiles)
    if key not in _cache:
        rng = random.Random(SEED)
        counts: collections.Counter = collections.Counter()
        paths = []
        per_file = nrecords // nfiles
        for i in range(nfiles):
            path = os.path.join(_tmpdir(), f"flights-{nrecords}-{i}.json")
            rows = []
            for j in range(per_file):
                cancelled = int(rng.random() < 0.02)
                dest = rng.choice(AIRPORTS)
                counts[dest] += 1
                rows.append(json.dumps({
                    "Year": 2013, "Month": 1 + i % 12, "DayofMonth": 1 + j % 28,
                    "UniqueCarrier": rng.choice(CARRIERS), "FlightNum": rng.randrange(1, 5000),
                    "Origin": rng.choice(AIRPORTS[4:8]), "Dest": dest,
                    "DepDelay": None if cancelled else rng.randrange(-15, 180),
                    "ArrDelay": None if cancelled else rng.randrange(-30, 200),
                    "Distance": rng.randrange(100, 3000), "Cancelled": cancelled,
                }))
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(rows) + "\n")
            paths.append(path)
        _cache[key] = (paths, sorted(counts.items()))
    return _cache[key]


# -- measuring ------------------------------------------------------------------------------
def bag_module(lib: Lib):
    return importlib.import_module(f"{lib.name}.bag")


def compute_processes(lib: Lib, build) -> dict:
    """``cold`` and ``warm`` samples of ``build(bag_module).compute(scheduler="processes")``."""
    obj = build(bag_module(lib))
    lib.cold_start()
    cold = timed(lambda: obj.compute(scheduler="processes"))
    if lib.name == "dask":
        return {"warm": [cold], "cold": [cold]}
    obj = build(bag_module(lib))
    warm = timed(lambda: obj.compute(scheduler="processes"))
    return {"warm": [warm], "cold": [cold]}


def measure_letters(lib: Lib, files: list) -> dict:
    out = compute_processes(lib, lambda db: db.read_text(files).map_partitions(count_letters))
    out["serial"] = [timed(lambda: [count_file(f) for f in files])]
    return out


def _sorted_frequencies(db, files):
    return db.read_text(files).map(json.loads).pluck("Dest").frequencies()


def measure_json(lib: Lib, files: list) -> dict:
    out = compute_processes(lib, lambda db: _sorted_frequencies(db, files))
    for samples in out.values():
        for s in samples:
            s.result = sorted(s.result)
    return out


def make_bag_cases(quick: bool = False) -> list[Case]:
    nfiles, nbytes = (4, 250_000) if quick else (LETTER_FILES, LETTER_BYTES)
    nrecords, njson = (20_000, 4) if quick else (JSON_RECORDS, JSON_FILES)

    def letters(lib: Lib) -> dict:
        return measure_letters(lib, letter_files(nfiles, nbytes))

    def frequencies(lib: Lib) -> dict:
        return measure_json(lib, json_files(nrecords, njson)[0])

    expected_letters = [nbytes // 80 * 80] * nfiles
    return [
        Case(workload="bag-letters",
             title=f"bag letters: len(sorted(text)) of {nfiles} x {nbytes / 1e6:g} MB files",
             scheduler="processes", measure=letters, variants=["warm", "cold", "serial"],
             expected=expected_letters, max_repeat=None if quick else 3),
        Case(workload="bag-json",
             title=f"bag read_text+json.loads+pluck+frequencies ({nrecords:,} records)",
             scheduler="processes", measure=frequencies, variants=["warm", "cold"],
             expected=_LazyExpected(lambda: json_files(nrecords, njson)[1]),
             max_repeat=None if quick else 3),
    ]


class _LazyExpected:
    """Compares equal to the expected result, generating the data on first use."""

    def __init__(self, make):
        self._make = make

    def __eq__(self, other):
        return self._make() == other

    __hash__ = None


# -- running alone ----------------------------------------------------------------------------
def main(argv=None) -> int:
    from benchmarks.workloads import load_libs, warm_up

    p = argparse.ArgumentParser(prog="python -m benchmarks.bag_workloads",
                                description="run the bag workloads with shoal and dask")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    libs = load_libs()
    warm_up(libs)
    cases = make_bag_cases(args.quick)
    for case in cases:
        samples: dict = {lib.name: collections.defaultdict(list) for lib in libs}
        for r in range(args.repeat):
            for lib in (libs if r % 2 == 0 else libs[::-1]):
                for variant, ss in case.measure(lib).items():
                    for s in ss:
                        assert s.result == case.expected, f"{case.title}: {lib.name} is wrong"
                    samples[lib.name][variant].extend(ss)
        print(case.title)
        med = {name: {v: statistics.median(s.seconds for s in ss) for v, ss in per.items()}
               for name, per in samples.items()}
        for variant in case.variants:
            row = "  ".join(f"{name} {med[name][variant]:8.3f} s" for name in med)
            print(f"  {variant:>6}: {row}")
        if "serial" in case.variants:
            for name in med:
                print(f"  speedup {name}: serial / warm = {med[name]['serial'] / med[name]['warm']:.2f}x"
                      f", serial / cold = {med[name]['serial'] / med[name]['cold']:.2f}x")
        print(f"  shoal/dask (warm): {med['shoal']['warm'] / med['dask']['warm']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
