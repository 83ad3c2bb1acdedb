"""How much the worker profiler slows a CPU-bound task.

A pure-Python loop runs on a worker-like thread, registered with
:meth:`Sampler.task_started` as the worker's ``_run`` does, once with the
sampler stopped and once with it sampling at ``--interval``; the two are
sandwiched per repeat (without, with, without) so machine noise and drift hit
both alike.  The figures are medians of the per-repeat ratios, minus one: of
wall-clock time (what a task pays) and of the process's CPU time (the
sampler's included); the A/A deviation of the two runs without sampling is
printed as the noise level.  The sampler's own time (``busy``, spent
in ``sample()`` holding the GIL) and its real sampling rate are shown beside
them: a CPU-bound thread hands the GIL over only every switch interval
(5 ms), so samples come a little later than ``interval``.

    python -m benchmarks.profile_overhead                 # 15 repeats, ~0.3 s loops, 10 ms
    python -m benchmarks.profile_overhead --repeat 11 --seconds 1 --interval 1ms

Target: at most 3% at 10 ms.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import threading
import time

from shoal import config
from shoal.diagnostics.sampler import Sampler

__all__ = ["measure", "spin"]


def spin(n: int) -> int:
    """CPU-bound pure Python: a few function calls deep, like real task code."""
    total = 0
    for i in range(n):
        total += _step(i)
    return total


def _step(i: int) -> int:
    return (i * i) % 7


def _run(sampler: Sampler, n: int) -> tuple:
    """spin(n) on a fresh thread registered like a worker task: (wall, process CPU) seconds."""
    out = []

    def task():
        thread = threading.get_ident()
        sampler.task_started(thread, "spin-0123456789abcdef")
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            spin(n)
            out.append((time.perf_counter() - wall, time.process_time() - cpu))
        finally:
            sampler.task_finished(thread)

    t = threading.Thread(target=task, name="spin-task")
    t.start()
    t.join()
    return out[0]


def _calibrate(seconds: float) -> int:
    idle = Sampler(interval=1.0, cycle=1.0)
    n = 20_000
    while True:
        took = _run(idle, n)[0]
        if took > 0.05:
            return max(int(n * seconds / took), 1)
        n *= 4


def measure(repeat: int = 15, seconds: float = 0.3, interval: float = 0.01) -> dict:
    """Sandwiched runs (without, with, without sampling); medians of the ratios.

    Per repeat, ``with / mean(without before, without after)`` cancels slow
    drifts of the machine; ``after / before`` of the two runs without sampling
    is an A/A comparison whose typical deviation (``noise_pct``) says how much
    of the figure is noise.  ``overhead_pct`` compares wall-clock times (what
    a task pays), ``cpu_overhead_pct`` the CPU time of the whole process (the
    sampler's included).
    """
    n = _calibrate(seconds)
    idle = Sampler(interval=interval, cycle=1.0)  # never started: registration cost only
    walls, cpus, aa_walls, off_walls, on_walls, busy, samples = [], [], [], [], [], [], []
    for _ in range(repeat):
        gc.collect()
        before = _run(idle, n)
        gc.collect()
        sampler = Sampler(interval=interval, cycle=1.0).start()
        try:
            on = _run(sampler, n)
        finally:
            sampler.stop()
        gc.collect()
        after = _run(idle, n)
        walls.append(2 * on[0] / (before[0] + after[0]))
        cpus.append(2 * on[1] / (before[1] + after[1]))
        aa_walls.append(after[0] / before[0])
        off_walls += [before[0], after[0]]
        on_walls.append(on[0])
        busy.append(sampler.busy / on[0])
        samples.append(sampler.samples)
    with_ = statistics.median(on_walls)
    return {
        "interval_ms": interval * 1000, "repeat": repeat, "loop_n": n,
        "without_s": statistics.median(off_walls), "with_s": with_,
        "overhead_pct": 100.0 * (statistics.median(walls) - 1.0),
        "cpu_overhead_pct": 100.0 * (statistics.median(cpus) - 1.0),
        "noise_pct": 100.0 * statistics.median(abs(r - 1.0) for r in aa_walls),
        "sampler_busy_pct": 100.0 * statistics.median(busy),
        "samples_per_run": statistics.median(samples),
        "expected_samples": with_ / interval,
    }  # fmt: skip


def format_result(r: dict) -> str:
    return (f"profiler overhead at {r['interval_ms']:g} ms: wall {r['overhead_pct']:+.2f}%, "
            f"CPU {r['cpu_overhead_pct']:+.2f}% (median of {r['repeat']}; A/A noise "
            f"{r['noise_pct']:.2f}%; {r['without_s'] * 1000:.0f} ms without, "
            f"{r['with_s'] * 1000:.0f} ms with); sampler busy {r['sampler_busy_pct']:.2f}% of "
            f"the run, {r['samples_per_run']:.0f} samples per run ({r['expected_samples']:.0f} "
            f"at the nominal rate)")  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one loop")
    parser.add_argument("--interval", default="10ms", help="sampling interval")
    args = parser.parse_args(argv)
    interval = config.parse_timedelta(args.interval)
    print(format_result(measure(args.repeat, args.seconds, interval)))


if __name__ == "__main__":
    main()
