"""Array workloads: ``shoal.array`` against ``dask.array``, with NumPy on one core as the baseline.

::

    array-mean           random((N, N), chunks=(C, C)).mean()          N=10,000  C=1,000
    array-sum-transpose  x = random((N, N), chunks=(C, C)); (x + x.T).sum(axis=0)
    array-matmul         random((M, M), chunks=C) @ random((M, M), chunks=C)   M=4,000  C=1,000

(``--quick``: N=2,000, C=500, M=1,000, C=250.)  For each workload
:func:`make_array_cases` gives four :class:`~benchmarks.workloads.Case` s, in
the style of ``workloads.py``:

==========================  =====================================================
scheduler column            what is measured
==========================  =====================================================
``threads``                 seconds of ``.compute(scheduler="threads")``, graph
                            built beforehand, in this process (shoal vs Dask)
``threads, peak RSS``       MB: peak resident memory of a fresh subprocess
                            (``VmHWM``) minus its RSS just before computing
                            (after a tiny warm-up compute, so imports and thread
                            start-up are not counted)
``NumPy, 1 thread``         seconds of the same computation in plain NumPy on the
                            whole array, in a subprocess with
                            ``OPENBLAS/OMP/MKL_NUM_THREADS=1``; shown in the
                            shoal column (Dask: n/a)
``NumPy, 1 thread, RSS``    MB, the same run's peak growth
==========================  =====================================================

The random numbers differ between the libraries (different generators), so a
sample's ``result`` is a summary both agree on: the result's shape and its mean
divided by the expected mean, to one decimal (1.0).  Memory figures are MB
stored in ``Sample.seconds`` (``unit="MB"``).  Targets: shoal at most Dask's
time and memory (ratio <= 1.0).

    python -m benchmarks.array_workloads [--quick] [--repeat N]

prints the medians with the NumPy baseline in its own column.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc

from benchmarks.workloads import REPO, Case, Lib, Sample, Unavailable, timed

__all__ = ["make_array_cases"]

TARGET_TIME = 1.0  # shoal / dask: at least as fast ...
TARGET_MEMORY = 1.0  # ... and no more memory
NUMPY_REPEAT = 3  # the one-core NumPy matmul takes seconds: fewer repeats


def sizes(quick: bool) -> dict:
    if quick:
        return {"n": 2_000, "chunk": 500, "m": 1_000, "mchunk": 250}
    return {"n": 10_000, "chunk": 1_000, "m": 4_000, "mchunk": 1_000}


# -- the workloads, written once for any dask.array-like module ----------------------
def build(da, workload: str, s: dict):
    """The lazy result of *workload* with the array module *da*."""
    if workload == "array-mean":
        return da.random.random((s["n"], s["n"]), chunks=(s["chunk"], s["chunk"])).mean()
    if workload == "array-sum-transpose":
        x = da.random.random((s["n"], s["n"]), chunks=(s["chunk"], s["chunk"]))
        return (x + x.T).sum(axis=0)
    if workload == "array-matmul":
        x = da.random.random((s["m"], s["m"]), chunks=(s["mchunk"], s["mchunk"]))
        y = da.random.random((s["m"], s["m"]), chunks=(s["mchunk"], s["mchunk"]))
        return x @ y
    raise ValueError(workload)


def run_numpy(workload: str, s: dict):
    import numpy as np

    rng = np.random.default_rng(0)
    if workload == "array-mean":
        return rng.random((s["n"], s["n"])).mean()
    if workload == "array-sum-transpose":
        x = rng.random((s["n"], s["n"]))
        return (x + x.T).sum(axis=0)
    x = rng.random((s["m"], s["m"]))
    y = rng.random((s["m"], s["m"]))
    return x @ y


def summary(workload: str, result, s: dict):
    """What both libraries must agree on (their random numbers differ)."""
    import numpy as np

    expected = {"array-mean": 0.5, "array-sum-transpose": float(s["n"]),
                "array-matmul": s["m"] * 0.25}[workload]
    return tuple(np.shape(result)), round(float(np.mean(result)) / expected, 1)


TITLES = {
    "array-mean": "random((N, N)).mean()",
    "array-sum-transpose": "(x + x.T).sum(axis=0)",
    "array-matmul": "x @ y",
}


def title(workload: str, s: dict) -> str:
    if workload == "array-matmul":
        return f"{TITLES[workload]} ({s['m']:,}^2, chunks {s['mchunk']:,})"
    return f"{TITLES[workload]} (N={s['n']:,}, chunks {s['chunk']:,})"


def array_module(lib: Lib):
    if lib.name == "shoal":
        import shoal.array as da
    else:
        import dask.array as da
    return da


_warm: set = set()


def time_threads(lib: Lib, workload: str, s: dict) -> dict:
    """Build the graph (not timed), then time ``.compute(scheduler="threads")``."""
    da = array_module(lib)
    if lib.name not in _warm:  # the first compute pays for imports and the thread pool
        build(da, "array-mean", sizes(True)).compute(scheduler="threads")
        _warm.add(lib.name)
    obj = build(da, workload, s)
    sample = timed(lambda: obj.compute(scheduler="threads"))
    sample.result = summary(workload, sample.result, s)
    return {"": [sample]}


# -- subprocess runs: peak memory, and NumPy on one core ------------------------------
def _child(lib: str, workload: str, quick: bool, traced: bool = False) -> dict:
    """Run one workload in this (fresh) process; report seconds and peak RSS growth.

    The peak is ``VmHWM`` from ``/proc/self/status``: it starts afresh with the new
    program, whereas ``ru_maxrss`` keeps the parent's peak across fork + exec.
    With *traced*, also the peak of the bytes allocated (``tracemalloc``, which
    NumPy reports to): what the computation holds, free of how the C allocator
    returns memory to the system, which moves RSS by a block or two run to run.
    """
    s = sizes(quick)
    if lib == "numpy":
        compute = lambda: run_numpy(workload, s)  # noqa: E731
    else:
        if lib == "shoal":
            import shoal.array as da
        else:
            import dask.array as da
        # a small compute first: imports and thread start-up are not the workload's memory
        build(da, "array-sum-transpose", {"n": 40, "chunk": 20}).compute(scheduler="threads")
        obj = build(da, workload, s)
        compute = lambda: obj.compute(scheduler="threads")  # noqa: E731
    gc.collect()
    before = _rss()
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    result = compute()
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM") * 1024
    out = {"seconds": seconds, "peak_mb": max(peak - before, 0) / 1e6,
           "summary": list(summary(workload, result, s))}
    if traced:
        out["traced_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    return out


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Unavailable(f"/proc/self/status has no {field} (Linux only)")


def _rss() -> int:
    return _status_kib("VmRSS") * 1024


ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}


def run_child(lib: str, workload: str, quick: bool, traced: bool = False) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
    if lib == "numpy":
        env.update(ONE_THREAD)
    args = [sys.executable, "-m", "benchmarks.array_workloads", "--child", lib, workload]
    args += (["--quick"] if quick else []) + (["--traced"] if traced else [])
    proc = subprocess.run(args, cwd=REPO, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise Unavailable(f"{lib} {workload} subprocess failed: {proc.stderr.strip()[-300:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_memory(lib: Lib, workload: str, quick: bool) -> dict:
    out = run_child(lib.name, workload, quick)
    return {"": [Sample(out["peak_mb"], tuple(map(_tuple, out["summary"])))]}


def traced_memory(lib: Lib, workload: str, quick: bool) -> dict:
    out = run_child(lib.name, workload, quick, traced=True)
    return {"": [Sample(out["traced_mb"], tuple(map(_tuple, out["summary"])))]}


_numpy_memory: dict = {}  # workload -> MB figures of NumPy runs not yet reported


def numpy_time(lib: Lib, workload: str, quick: bool) -> dict:
    if lib.name != "shoal":
        return {}  # the NumPy baseline runs once per repeat, in the shoal column
    out = run_child("numpy", workload, quick)
    _numpy_memory.setdefault(workload, []).append(out["peak_mb"])
    return {"": [Sample(out["seconds"])]}


def numpy_memory(lib: Lib, workload: str, quick: bool) -> dict:
    if lib.name != "shoal":
        return {}  # as above
    pending = _numpy_memory.get(workload)
    mb = pending.pop(0) if pending else run_child("numpy", workload, quick)["peak_mb"]
    return {"": [Sample(mb)]}


def _tuple(v):
    return tuple(v) if isinstance(v, list) else v


def _median_value(samples: dict, variant: str) -> float:
    return statistics.median(s.seconds for s in samples[variant])


# -- the cases ---------------------------------------------------------------------------
WORKLOADS = ("array-mean", "array-sum-transpose", "array-matmul")


def make_array_cases(quick: bool = False) -> list[Case]:
    s = sizes(quick)
    cases: list[Case] = []
    for w in WORKLOADS:
        t = title(w, s)
        cases.append(Case(
            workload=w, title=t, scheduler="threads",
            measure=lambda lib, w=w: time_threads(lib, w, s),
            targets={"": TARGET_TIME},
        ))
        cases.append(Case(
            workload=w, title=t, scheduler="threads, peak RSS", unit="MB",
            measure=lambda lib, w=w: peak_memory(lib, w, quick),
            targets={"": TARGET_MEMORY}, reduce=_median_value,
        ))
        cases.append(Case(
            workload=w, title=t, scheduler="threads, peak bytes held (tracemalloc)", unit="MB",
            measure=lambda lib, w=w: traced_memory(lib, w, quick),
            targets={"": TARGET_MEMORY}, reduce=_median_value, max_repeat=3,
        ))
        cases.append(Case(
            workload=w, title=t, scheduler="NumPy, 1 thread",
            measure=lambda lib, w=w: numpy_time(lib, w, quick), max_repeat=NUMPY_REPEAT,
        ))
        cases.append(Case(
            workload=w, title=t, scheduler="NumPy, 1 thread, peak RSS", unit="MB",
            measure=lambda lib, w=w: numpy_memory(lib, w, quick), max_repeat=NUMPY_REPEAT,
            reduce=_median_value,
        ))
    return cases


# -- python -m benchmarks.array_workloads ------------------------------------------------
def _fmt(v, unit):
    if v is None:
        return "n/a"
    return f"{v:.0f} MB" if unit == "MB" else f"{v:.3f} s"


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks.array_workloads")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=None)
    p.add_argument("--only", default="", help="comma-separated workloads")
    p.add_argument("--child", nargs=2, metavar=("LIB", "WORKLOAD"), help=argparse.SUPPRESS)
    p.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child[0], args.child[1], args.quick, args.traced)))
        return 0
    from benchmarks.run import run_cases
    from benchmarks.workloads import load_libs

    repeat = args.repeat or (3 if args.quick else 5)
    only = {w for w in args.only.split(",") if w}
    cases = [c for c in make_array_cases(args.quick) if not only or c.workload in only]
    libs = load_libs()
    t0 = time.perf_counter()
    results = run_cases(cases, libs, repeat, log=lambda m: print(m, flush=True))
    rows: dict = {}
    for i, case in enumerate(cases):
        row = rows.setdefault((case.title, case.unit), {})
        for lib in ("shoal", "dask"):
            samples = results[i][lib]
            if isinstance(samples, dict) and "" in samples:
                key = "numpy" if case.scheduler.startswith("NumPy") else lib
                row[key] = case.value(samples, "")
    head = f"{'workload':44} {'figure':6} {'shoal':>10} {'dask':>10} {'numpy 1T':>10} {'shoal/dask':>10}"
    print("\n" + head + "\n" + "-" * len(head))
    for (t, unit), row in rows.items():
        ratio = row.get("shoal") / row["dask"] if row.get("dask") and row.get("shoal") else None
        print(f"{t:44} {'memory' if unit == 'MB' else 'time':6} {_fmt(row.get('shoal'), unit):>10} "
              f"{_fmt(row.get('dask'), unit):>10} {_fmt(row.get('numpy'), unit):>10} "
              f"{'n/a' if ratio is None else f'{ratio:.2f}':>10}")
    print(f"\nmedians of {repeat} repeats (NumPy: at most {NUMPY_REPEAT}); threads scheduler; "
          f"{os.cpu_count()} CPUs; {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
