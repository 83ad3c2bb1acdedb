"""DataFrame workloads: the flights tutorial's query on shoal, Dask and pandas.

The query is the tutorial's ``largest_delay``::

    df = read_csv("nycflights/*.csv", dtype={...})
    df[~df.Cancelled].groupby("Origin").DepDelay.mean().max()

on the real 2013 flights (``--scale 1``, 12 files, 336,776 rows) and on ten times
the rows (``--scale 10``, 120 files), written once by ``python -m shoal.datasets``
into ``benchmarks/.data`` (ignored by git).

Rows per scheduler: shoal vs Dask (ratio) and, as a reference, plain pandas on
one core (``pd.concat`` of every file, then the same query; its time is the
"pandas 1-core" row).  Both libraries read without ``parse_dates``: pandas 3
dropped the tutorial's ``parse_dates={'Date': [0, 1, 2]}`` form, which shoal
still accepts and Dask cannot pass through, and the query does not need the
date.  Peak memory is measured in a fresh subprocess per library (the
``VmHWM`` of a child that runs only the query on threads; ``ru_maxrss`` would
start from the parent's peak).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

from benchmarks.workloads import REPO, Case, Lib, Sample, Unavailable, timed

__all__ = ["make_dataframe_cases"]

DATA = os.path.join(REPO, "benchmarks", ".data")
# the tutorial's dtype= plus the columns whose first rows hold no missing value
# (Dask infers int64 for them from its sample and fails on a later NaN)
DTYPE = {"TailNum": object, "CRSElapsedTime": float, "Cancelled": bool, "DepDelay": float,
         "ArrDelay": float, "DepTime": float, "ArrTime": float, "AirTime": float,
         "ActualElapsedTime": float}
TARGET_THREADS = 1.0  # at least as fast as Dask's threads
TARGET_PROCESSES = 0.5  # at least 2x faster than Dask's processes
TARGET_MEMORY = 1.0  # peak memory no higher than Dask's
# (and, read off the table: shoal's threads at least 1.5x faster than the pandas row)


def flights_dir(scale: int) -> str:
    """The flights CSVs at *scale*, generated on first use."""
    from shoal.datasets import flights

    dest = os.path.join(DATA, f"scale-{scale}")
    return str(flights(dest=dest, scale=scale, progress=False))


def _files(scale: int) -> str:
    return os.path.join(flights_dir(scale), "*.csv")


def _query(dd, path: str, which: str = "largest_delay"):
    df = dd.read_csv(path, dtype=DTYPE)
    return QUERIES[which](df)


QUERIES = {
    # the tutorial's cells, the same code for both libraries (and pandas)
    "largest_delay": lambda df: df[~df.Cancelled].groupby("Origin").DepDelay.mean().max(),
    "count_by_origin": lambda df: df[~df.Cancelled].groupby("Origin").Origin.count(),
    "delay_by_weekday": lambda df: df.groupby("DayOfWeek").DepDelay.mean(),
}


def _normalize(value):
    """Comparable results: floats rounded, Series as sorted (index, value) pairs."""
    if hasattr(value, "items"):
        return tuple((k, round(float(v), 6)) for k, v in sorted(value.items()))
    return round(float(value), 6)


def _module(lib: Lib):
    if lib.name == "shoal":
        import shoal.dataframe as dd
    else:
        import dask.dataframe as dd
    return dd


def flights_query(lib: Lib, scale: int, scheduler: str, which: str) -> Sample:
    dd = _module(lib)
    path = _files(scale)
    return timed(lambda: _normalize(_query(dd, path, which).compute(scheduler=scheduler)))


def pandas_one_core(scale: int, which: str) -> Sample:
    import pandas as pd

    files = sorted(glob.glob(_files(scale)))

    def go():
        df = pd.concat([pd.read_csv(f, dtype=DTYPE) for f in files])
        return _normalize(QUERIES[which](df))

    return timed(go)


_MEMORY_SCRIPT = """
import sys
sys.path.insert(0, {repo!r})
from benchmarks.dataframe_workloads import _query, _files
if {lib!r} == "shoal":
    import shoal.dataframe as dd
else:
    import dask.dataframe as dd
value = _query(dd, _files({scale})).compute(scheduler="threads")
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(hwm, value)
"""


def peak_memory_mb(lib: Lib, scale: int) -> Sample:
    """Peak RSS of a fresh process running the query on threads.

    The figure (MB, ``VmHWM``) travels in ``seconds`` (the row's unit says MB);
    ``result`` holds the query's value, which both libraries must agree on.
    """
    code = _MEMORY_SCRIPT.format(repo=REPO, lib=lib.name, scale=scale)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        raise Unavailable(proc.stderr.strip()[-400:])
    kb, value = proc.stdout.split()
    return Sample(int(kb) / 1024, round(float(value), 6))


def _memory_reduce(samples: dict, variant: str) -> float:
    values = sorted(s.seconds for s in samples[variant])
    return values[len(values) // 2]


def make_dataframe_cases(quick: bool = False) -> list[Case]:
    scales = (1,) if quick else (1, 10)
    cases = []
    for scale in scales:
        for which in QUERIES if not quick else ("largest_delay",):
            title = f"flights {which} (scale {scale})"
            expected = 15.107954 if (which, scale) == ("largest_delay", 1) else None
            for scheduler in ("threads", "processes", "sync"):
                cases.append(Case(
                    workload="flights", title=title, scheduler=scheduler,
                    measure=lambda lib, sc=scale, s=scheduler, w=which:
                        {"": [flights_query(lib, sc, s, w)]},
                    expected=expected,
                    targets={"threads": {"": TARGET_THREADS},
                             "processes": {"": TARGET_PROCESSES}}.get(scheduler, {}),
                    max_repeat=3 if scale > 1 else None,
                ))
            cases.append(Case(
                workload="flights", title=title, scheduler="pandas, 1 core (reference)",
                # one reference figure, shown in the shoal column; Dask's column stays n/a
                measure=lambda lib, sc=scale, w=which:
                    {"": [pandas_one_core(sc, w)]} if lib.name == "shoal" else {},
                expected=expected, max_repeat=3,
            ))
    if not quick:
        cases.append(Case(
            workload="flights-memory", title="flights largest_delay peak RSS (scale 10)",
            scheduler="threads, fresh process",
            measure=lambda lib: {"": [peak_memory_mb(lib, 10)]},
            unit="MB", reduce=_memory_reduce, targets={"": TARGET_MEMORY}, max_repeat=2,
        ))
    return cases


if __name__ == "__main__":
    from benchmarks.workloads import load_libs

    for case in make_dataframe_cases(quick="--quick" in sys.argv):
        for lib in load_libs():
            samples = case.measure(lib)
            if not samples:
                continue
            print(f"{case.title:45} {case.scheduler:28} {lib.name:6} "
                  f"{case.value(samples, case.variants[0]):.4f} {case.unit}")
