"""What a local ``Dashboard()``, open in a browser or not, costs the local schedulers.

One ``shoal.diagnostics.Dashboard()`` stays open in this process for the whole
benchmark; each repeat computes a map of N independent ``inc`` tasks (fresh
results, the same graph) once in each configuration, the order rotating::

    plain     the run publishes to a bus nobody reads (``bus=Bus()``) and its tasks are not
              sampled: what a run costs with no dashboard open
    served    the run publishes to the default bus: the dashboard's event stream and
              process, and the sampler of the run's threads (the /profile pane)
    watched   as served, with /status open in Chromium while the run computes
    dask      Dask's own local scheduler (sync, threads), which has no dashboard

per scheduler: ``sync``, ``threads`` and ``processes`` (Dask's process scheduler starts
a pool per compute, so it is not compared).  The figures are medians over the
repeats: each configuration's time per task and its drop from plain, the paired drop
(each repeat's run against the same repeat's plain run, seconds apart), the
dashboard process's and Chromium's CPU, and the page's updates per second while they
flow.  The issue's target for the distributed scheduler (at most 5% lost with the
page open) is the one these are read against; the local schedulers do far less work
per task (a few microseconds), so the same records weigh more there.

    python -m benchmarks.local_dashboard                    # 7 repeats of 50,000 tasks
    python -m benchmarks.local_dashboard --repeat 3 --tasks 20000 --schedulers sync,threads
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import shutil
import statistics
import sys
import time

from benchmarks.dashboard_overhead import (MARK_JS, READ_JS, _browser_processes, _cpu, _launcher,
                                           _rates, comma_list, open_hooked, pane_rates,
                                           paired_drops)  # fmt: skip
from benchmarks.stats import quartiles
from benchmarks.workloads import inc, spin
from shoal.core.loading import load_object

__all__ = ["main", "measure", "report"]

SCHEDULERS = ("sync", "threads", "processes")
CONFIGS = {"plain": "no dashboard (no records, no sampling)", "served": "Dashboard(), no page open",
           "watched": "Dashboard(), /status open in Chromium",
           "dask": "Dask's scheduler (no dashboard)"}  # fmt: skip
DASK_GETS = {"sync": "dask.local:get_sync", "threads": "dask.threaded:get"}


def _getter(scheduler: str):
    from shoal.local import processes, sync, threads

    return {"sync": sync.get, "threads": threads.get, "processes": processes.get}[scheduler]


def measure(scheduler: str, repeat: int, n: int, chromium: str, driver: str = "playwright",
            dask: bool = True, task_us: float = 0.0) -> dict:  # fmt: skip
    """``{config: [run, ...]}`` for *scheduler*; each run a dict of seconds and CPU shares.
    *task_us*: each task spins that long (``workloads.spin``); 0: ``inc``, next to nothing."""
    import psutil

    from shoal import sampling
    from shoal.diagnostics import Dashboard
    from shoal.bus import Bus, default_bus

    get = _getter(scheduler)
    if task_us:
        graph = {f"spin-{i}": (spin, i, task_us) for i in range(n)}
    else:
        graph = {f"inc-{i}": (inc, i) for i in range(n)}
    keys = list(graph)
    expected = sum(range(1, n + 1))
    dask_get = load_object(DASK_GETS[scheduler]) if dask and scheduler in DASK_GETS else None
    quiet = Bus("unread")
    out: dict = {name: [] for name in CONFIGS if name != "dask" or dask_get is not None}
    out["scheduler"], out["task_us"] = scheduler, task_us

    def timed(config, **kwargs) -> float:
        gc.collect()
        start = time.perf_counter()
        if config == "dask":
            results = dask_get(graph, keys)
        elif config == "plain":
            sampler = sampling.set_profiler(None)  # (the dashboard's; back after the run)
            try:
                results = get(graph, keys, bus=quiet, **kwargs)
            finally:
                sampling.set_profiler(sampler)
        else:
            results = get(graph, keys, bus=default_bus, **kwargs)
        elapsed = time.perf_counter() - start
        assert sum(results) == expected, "wrong results"
        return elapsed

    with Dashboard(show=False) as dash, _launcher(driver)(chromium) as browser:
        if dash.link is None:
            raise SystemExit("no dashboard (is bokeh installed? diagnostics.dashboard.enabled?)")
        board = psutil.Process(dash.process.proc.pid)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        errors: list = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))

        for config in out:  # warm-up: imports, the pool, the page's first rectangles
            if config != "scheduler":
                timed(config)
        names = [name for name in CONFIGS if name in out]
        for i in range(repeat):
            for config in names[i % len(names):] + names[:i % len(names)]:
                if config == "watched":
                    open_hooked(page, dash.link)
                    start = page.evaluate(MARK_JS)
                chrome = _browser_processes(psutil)
                before = (_cpu([board]), _cpu(chrome))
                elapsed = timed(config)
                run = {"seconds": elapsed, "dashboard_cpu": (_cpu([board]) - before[0]) / elapsed}
                if config == "watched":
                    run["browser_cpu"] = (_cpu(chrome) - before[1]) / elapsed
                    run.update(_caught_up(page, start))
                    page.goto("about:blank")
                out[config].append(run)
                _settle(board)  # every configuration starts with the dashboard idle
        out["errors"] = errors
    return out


def _settle(proc, idle: float = 0.02, step: float = 0.2, limit_s: float = 30.0) -> None:
    """Wait until *proc* (the dashboard process) used less than *idle* of a core over
    *step* seconds: it has taken in the last run (a run of tiny tasks can end well
    before its dashboard has drawn it all), so the next run is not slowed by it."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = _cpu([proc])
        time.sleep(step)
        if _cpu([proc]) - before < idle * step:
            return


def _caught_up(page, start: float, quiet_ms: float = 500, limit_s: float = 20.0) -> dict:
    """The page's update rates from *start* (page clock, ms) to its last update, once
    none came for *quiet_ms*, and ``lag``: seconds from the run's end to that update
    (a local run may end before its dashboard has shown it all)."""
    end = page.evaluate("() => performance.now()")
    deadline = time.monotonic() + limit_s
    while True:
        seen = page.evaluate(READ_JS)
        last = max((p["t"] for p in seen["patches"]), default=start)
        if seen["now"] - last >= quiet_ms or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return {**_rates(seen["patches"], start, last), "lag": max(last - end, 0.0) / 1000}


def report(out: dict, n: int) -> str:
    def med(config, field):
        values = [r[field] for r in out.get(config, ()) if field in r]
        return statistics.median(values) if values else float("nan")

    plain = med("plain", "seconds")
    each = f"of {out['task_us']:g} us" if out.get("task_us") else "(inc)"
    lines = [f"local Dashboard(), {out['scheduler']} scheduler: {n:,} tasks {each}, "
             f"{len(out['plain'])} repeats; medians", "",
             "| configuration | us per task | drop | paired drop (quartiles) | dashboard CPU | "
             "Chromium CPU |", "|---|---|---|---|---|---|"]  # fmt: skip
    for config, label in CONFIGS.items():
        if config not in out:
            continue
        seconds = med(config, "seconds")
        cells = [f"{seconds / n * 1e6:.1f}"]
        if config == "plain":
            cells += ["", ""]
        else:
            q1, paired, q3 = quartiles(paired_drops(out, config))
            cells += [f"{1 - plain / seconds:+.1%}", f"{paired:+.1%} ({q1:+.0%} .. {q3:+.0%})"]
        for field in ("dashboard_cpu", "browser_cpu"):
            value = med(config, field)
            cells.append("" if value != value or config == "dask" else f"{value:.0%}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "drop: of throughput, from the medians; paired drop: the median of each "
              "repeat's drop from its plain run; CPU in % of one core during the runs", "",
              f"page updates per second while they flow (watched): "
              f"{med('watched', 'flowing'):.1f}; the page's last update "
              f"{med('watched', 'lag'):.2f} s after the run's end; per pane: " + ", ".join(
                  f"{label} {rate:.1f}" for label, rate in pane_rates(out["watched"]).items()),
              f"JavaScript errors: {len(out['errors'])}"]  # fmt: skip
    for config in CONFIGS:
        if config in out:
            lines.append(f"runs (s), {config}: "
                         + " ".join(f"{r['seconds']:.3f}" for r in out[config]))  # fmt: skip
    lines += [f"JavaScript error: {e}" for e in out["errors"][:5]]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.local_dashboard",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--tasks", type=int, default=50_000)
    p.add_argument("--task-us", type=float, default=0.0,
                   help="each task spins this many microseconds (default: inc, next to nothing)")
    p.add_argument("--schedulers", type=comma_list(SCHEDULERS, "scheduler"), default=SCHEDULERS,
                   help="comma-separated, run in turn: " + ",".join(SCHEDULERS))
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--driver", choices=("playwright", "cdp"), default=None,
                   help="how Chromium is driven (see benchmarks.dashboard_overhead)")
    p.add_argument("--no-dask", dest="dask", action="store_false",
                   help="leave out Dask's schedulers")
    args = p.parse_args(argv)
    if args.driver is None:
        args.driver = "playwright" if importlib.util.find_spec("playwright") else "cdp"
    dask = args.dask and importlib.util.find_spec("dask") is not None
    for scheduler in args.schedulers:
        out = measure(scheduler, args.repeat, args.tasks, args.chromium, args.driver, dask,
                      args.task_us)  # fmt: skip
        print(report(out, args.tasks) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
