"""The benchmark workloads, each written once and run with shoal and with Dask.

A workload only touches a library through the small :class:`Lib` adapter
(``lib.delayed``, ``lib.compute``), so both libraries run exactly the same code.

A :class:`Case` is one workload at one size with one scheduler.  Its ``measure``
function takes a :class:`Lib` and returns ``{variant: [Sample, ...]}`` for one
repeat; ``benchmarks.run`` calls it for both libraries, interleaved, once per
repeat, and reduces the samples to one figure per variant with ``reduce``
(the median, divided by the number of tasks for per-task overheads).

Timing rules:

- ``time.perf_counter`` around the measured region, ``gc.collect()`` before it;
- ``many-objects`` times building the delayed objects *and* computing them
  (what a user pays);
- ``sum-of-incs`` and ``tree-reduction`` build the graph outside the timed
  region and time ``.compute(scheduler=...)`` only;
- ``processes``: Dask starts a new process pool for every compute, shoal keeps
  one.  shoal's pool is shut down first (``cold``), then a second graph is
  computed on the started pool (``warm``).  Dask has no warm state, so its one
  sample per repeat stands for both variants;
- ``import``: fresh ``python -c "import X"`` subprocesses, with
  ``python -c "pass"`` runs interleaved; the figure is the median import minus
  the median interpreter start.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import operator
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Case", "Lib", "Sample", "Unavailable", "load_libs", "make_cases", "warm_up"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- task functions: module-level so that worker processes import them by name --
def inc(x):
    return x + 1


def spin(x, us: float):
    """``x + 1`` after about *us* microseconds of CPU, the GIL held (a task that
    takes a while, as most real ones do)."""
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass
    return x + 1


add = operator.add


# -- the adapter ------------------------------------------------------------------
@dataclass(frozen=True)
class Lib:
    """What a workload may use of a library."""

    name: str  # "shoal" or "dask"; also the module imported by the import workload
    delayed: Callable
    compute: Callable
    cold_start: Callable[[], None]  # forget warm state (shoal's process pool)


def _shoal_cold_start() -> None:
    from shoal.local.pool import close_pools

    close_pools()


def _nothing() -> None:
    pass


def load_libs() -> list[Lib]:
    import dask

    import shoal

    return [
        Lib("shoal", shoal.delayed, shoal.compute, _shoal_cold_start),
        Lib("dask", dask.delayed, dask.compute, _nothing),
    ]


# -- samples and cases -------------------------------------------------------------
class Unavailable(Exception):
    """This library cannot run this case (for example, a missing extra)."""


@dataclass
class Sample:
    seconds: float
    result: object = None


def timed(fn) -> Sample:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    stop = time.perf_counter()
    return Sample(stop - start, result)


def median_seconds(samples: dict, variant: str) -> float:
    return statistics.median(s.seconds for s in samples[variant])


@dataclass
class Case:
    workload: str  # the name --only selects
    title: str  # the "workload" column
    scheduler: str  # the "scheduler" column (variants are appended)
    measure: Callable[[Lib], dict]
    variants: list = field(default_factory=lambda: [""])
    expected: object = None  # every sample's result must equal this
    tasks: int | None = None  # per-task overhead: seconds / tasks
    unit: str = "s"  # "s", "ms" or "us/task"
    targets: dict = field(default_factory=dict)  # variant -> max shoal/dask ratio
    max_repeat: int | None = None  # cap on repeats for very slow cases
    reduce: Callable[[dict, str], float] | None = None

    def value(self, samples: dict, variant: str) -> float:
        if self.reduce is not None:
            return self.reduce(samples, variant)
        v = median_seconds(samples, variant)
        return v / self.tasks if self.tasks else v

    def label(self, variant: str) -> str:
        return f"{self.scheduler}, {variant}" if variant else self.scheduler


# -- the workloads ----------------------------------------------------------------
def many_objects(lib: Lib, n: int, scheduler: str) -> Sample:
    """``compute(*[delayed(inc)(i) for i in range(n)])``: building + computing."""

    def go():
        return lib.compute(*[lib.delayed(inc)(i) for i in range(n)], scheduler=scheduler)

    return timed(go)


def sum_of_incs(lib: Lib, n: int):
    """One graph: ``sum`` of *n* ``inc`` tasks (n + 1 tasks)."""
    return lib.delayed(sum)([lib.delayed(inc)(i) for i in range(n)])


def tree_reduction(lib: Lib, leaves: int):
    """A binary tree of ``add`` over *leaves* ``inc`` tasks (2 * leaves - 1 tasks)."""
    level = [lib.delayed(inc)(i) for i in range(leaves)]
    while len(level) > 1:
        pairs = [lib.delayed(add)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            pairs.append(level[-1])
        level = pairs
    return level[0]


def compute_built(lib: Lib, build: Callable[[Lib], object], scheduler: str) -> Sample:
    """Build a graph (not timed), then time ``.compute(scheduler=...)``."""
    obj = build(lib)
    return timed(lambda: obj.compute(scheduler=scheduler))


def compute_processes(lib: Lib, build: Callable[[Lib], object]) -> dict:
    """``cold`` (pool shut down first) and ``warm`` samples of the processes scheduler.

    A library without a warm state (Dask) gets one sample standing for both.
    """
    lib.cold_start()
    cold = compute_built(lib, build, "processes")
    if lib.name == "dask":
        return {"warm": [cold], "cold": [cold]}
    warm = compute_built(lib, build, "processes")
    return {"warm": [warm], "cold": [cold]}


def graph_construction(lib: Lib, n: int) -> Sample:
    """Build the ``sum-of-incs`` graph and materialize its graph dict; no compute."""
    return timed(lambda: len(dict(sum_of_incs(lib, n).__dask_graph__())))


def _python(code: str) -> float:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    stop = time.perf_counter()
    if proc.returncode:
        raise Unavailable(f"python -c {code!r} failed: {proc.stderr.strip()[-300:]}")
    return stop - start


def import_module(module: str, rounds: int) -> dict:
    """*rounds* pairs of fresh ``python -c "pass"`` / ``python -c "import module"``."""
    out = {"import": [], "pass": []}
    for _ in range(rounds):
        out["pass"].append(Sample(_python("pass")))
        out["import"].append(Sample(_python(f"import {module}")))
    return out


def import_reduce(samples: dict, variant: str) -> float:
    return median_seconds(samples, "import") - median_seconds(samples, "pass")


def warm_up(libs: list[Lib]) -> None:
    """Byte-compile shoal (Dask's installed files are), then import every scheduler
    module once, so the first timed case does not pay it.  Without the compile, an
    editable shoal under ``PYTHONDONTWRITEBYTECODE=1`` was compiled again in every fresh
    process: the import and ``Client()`` rows measured that (0.2 s of 0.8 s)."""
    import compileall

    compileall.compile_dir(os.path.join(REPO, "shoal"), quiet=1)
    for lib in libs:
        for scheduler in ("sync", "threads", "processes"):
            assert lib.compute(lib.delayed(inc)(1), scheduler=scheduler) == (2,)
        lib.cold_start()


# -- the cases ----------------------------------------------------------------------
TARGET_MANY = 0.10  # many-objects, sync/threads: at most a tenth of Dask's time
TARGET_OVERHEAD = 0.33  # per-task overhead, sync/threads: at most a third
TARGET_PROCESSES = 0.20  # processes: at least 5x faster
TARGET_IMPORT = 0.5  # import: at most half of Dask's

EXTRAS = ("array", "bag", "dataframe", "distributed")
"""``shoal.<extra>`` import rows appear only when shoal has that module."""


def make_cases(quick: bool = False) -> list[Case]:
    many_sizes = (100, 1_000) if quick else (1_000, 10_000)
    n_incs = 500 if quick else 10_000
    leaves = 256 if quick else 4_096
    import_rounds = 2 if quick else 3

    cases: list[Case] = []
    for n in many_sizes:
        for scheduler in ("sync", "threads"):
            cases.append(Case(
                workload="many-objects",
                title=f"many-objects (N={n:,})",
                scheduler=scheduler,
                measure=lambda lib, n=n, s=scheduler: {"": [many_objects(lib, n, s)]},
                expected=tuple(range(1, n + 1)),
                targets={"": TARGET_MANY},
                # Dask needs ~10 s per compute at N=10,000 on a small machine.
                max_repeat=3 if n >= 10_000 else None,
            ))

    # Dask needs ~8 s just to build the 10,000-inc sum graph (untimed, but paid
    # once per compute), so the full-size sum-of-incs cases run at most 4 repeats.
    graphs = [
        ("sum-of-incs", f"sum-of-incs ({n_incs:,} incs + sum)", n_incs + 1,
         lambda lib: sum_of_incs(lib, n_incs), sum(range(1, n_incs + 1)), None if quick else 4),
        ("tree-reduction", f"tree-reduction ({leaves:,} leaves)", 2 * leaves - 1,
         lambda lib: tree_reduction(lib, leaves), sum(range(1, leaves + 1)), None),
    ]
    for workload, title, tasks, build, expected, cap in graphs:
        for scheduler in ("sync", "threads"):
            cases.append(Case(
                workload=workload, title=title, scheduler=scheduler,
                measure=lambda lib, b=build, s=scheduler: {"": [compute_built(lib, b, s)]},
                expected=expected, tasks=tasks, unit="us/task",
                targets={"": TARGET_OVERHEAD}, max_repeat=cap,
            ))
        cases.append(Case(
            workload=workload, title=title, scheduler="processes",
            measure=lambda lib, b=build: compute_processes(lib, b),
            variants=["warm", "cold"], expected=expected, tasks=tasks, unit="us/task",
            targets={"warm": TARGET_PROCESSES}, max_repeat=cap,
        ))

    cases.append(Case(
        workload="graph-construction",
        title=f"graph-construction ({n_incs:,} incs + sum)",
        scheduler="-",
        measure=lambda lib: {"": [graph_construction(lib, n_incs)]},
        expected=n_incs + 1,
        max_repeat=None if quick else 3,  # ~9 s per run for Dask
    ))

    def import_case(suffix: str) -> Case:
        # The extras import numpy/pandas (~1 s each for Dask's): one round per
        # repeat and at most 3 repeats keep them from dominating the run.
        rounds = import_rounds if not suffix else 1

        def measure(lib: Lib) -> dict:
            return import_module(lib.name + suffix, rounds)

        return Case(
            workload="import", title=f"import shoal{suffix} / dask{suffix}",
            scheduler="fresh process",
            measure=measure, variants=["import"], unit="ms", reduce=import_reduce,
            targets={"import": TARGET_IMPORT} if not suffix else {},
            max_repeat=3 if suffix else None,
        )

    cases.append(import_case(""))
    for extra in EXTRAS:
        try:
            present = importlib.util.find_spec(f"shoal.{extra}") is not None
        except ImportError:
            present = False
        if present:
            cases.append(import_case(f".{extra}"))
    return cases
