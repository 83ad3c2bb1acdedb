"""What a live dashboard, open in a browser, costs a computation.

Three clusters run side by side, each ``Client(n_workers=2, threads_per_worker=1)``
(two worker processes of one thread; ``--workers`` changes the count)::

    plain     dashboard_address=None  no dashboard process
    served    dashboard_address=":0"  its dashboard process, no page open
    watched   dashboard_address=":0"  its dashboard process, /status open in Chromium

and each repeat times ``client.gather(client.map(inc, range(i*N, (i+1)*N)))``
(N = 10,000; fresh keys every time) once on each, the order rotating, after a
warm-up.  The page is opened (and drawn) just before each watched run and left
for ``about:blank`` after it, so the other clusters' runs are not slowed by a page
they do not have: Dask's dashboard runs in its scheduler, in this process, where
an open page's updates would share the interpreter with every cluster's runs.
``--frameworks dask`` (or the default ``shoal,dask``) runs the same on
``dask.distributed``, and a last table sets the two side by side.  The figures
are medians over the repeats:

- throughput (tasks/s) of each and its drop from plain (target for watched: at
  most 5%; that drop also counts the browser, which competes for the same
  cores; served isolates the event stream and the dashboard process);
- CPU during the runs, in % of one core (psutil): this process (client and
  scheduler: the event stream's cost shows here), the dashboard process, and
  Chromium (all its processes);
- the drop read from each configuration's fastest quartile of runs (informative:
  where runs fall in a fast and a slow mode at random, the fast ones are those
  nothing else slowed; the target is judged on the median and the paired drops);
- the event-loop thread's CPU per task (the clients' and schedulers' loop, read
  from the thread's own clock): what a scheduler pays for its listeners, which
  becomes the throughput lost once that thread is saturated (many workers), even
  where the browser has cores of its own;
- the refresh rate seen in the page: a hook on the Bokeh document's
  ``apply_json_patch`` counts the patches the server sends (one per update of
  the page: ``dashboard/server.py`` batches an update's changes), the task
  stream's ``ColumnsStreamed`` patches, and the updates (patches less than 20 ms
  apart count as one); target at least 5 per second while work runs, read from
  the run's first update to its last (before the first, the scheduler is still
  taking in and dispatching the graph, and there is nothing to show); and each
  pane's own updates over that span, by the title of the plot whose data changed
  (a pane sends one only when what it draws changed).

Needs bokeh and the system's Chromium (``make sysdeps``), driven by Playwright, or
where Playwright is not installed by ``benchmarks.cdp`` (``--driver cdp``: Chromium's
DevTools protocol over tornado; any Chromium build, a ``chrome-headless-shell`` too)::

    python -m benchmarks.dashboard_overhead             # 7 repeats of 10,000 tasks
    python -m benchmarks.dashboard_overhead --repeat 3 --tasks 2000 --chromium /usr/bin/chromium
    python -m benchmarks.dashboard_overhead --driver cdp --workers 8 --chromium ./chrome-shell
    python -m benchmarks.dashboard_overhead --floor   # what bare Bokeh pages cost the browser
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import shutil
import statistics
import sys
import threading
import time

from benchmarks import pinning
from benchmarks.stats import quartiles
from benchmarks.workloads import inc

__all__ = ["main", "measure"]

TARGET_DROP = 0.05
TARGET_RATE = 5.0
WORKERS = 2  # worker processes of one thread each (--workers)
CONFIGS = {"plain": "no dashboard", "served": "dashboard process, no page open",
           "watched": "dashboard process, /status open in Chromium"}  # fmt: skip
# Dask's dashboard is a Bokeh server inside its scheduler (in this process, beside
# the clients): the same three configurations, labelled for what they are there.
DASK_CONFIGS = {"plain": "Dask, no dashboard", "served": "Dask, dashboard, no page open",
                "watched": "Dask, dashboard, /status open in Chromium"}  # fmt: skip
FRAMEWORKS = ("shoal", "dask")
LOOP_THREADS = {"shoal": "shoal-loop", "dask": "IO loop"}  # the event loops' thread names

# Installed once the page is up: every PATCH-DOC the server sends goes through
# Document.apply_json_patch (ClientSession._handle_patch calls it on the document).
HOOK_JS = """() => {
  const doc = Bokeh.documents[Bokeh.documents.length - 1];
  let stream = null;
  for (const m of doc.all_models) {
    if (m.type === "ColumnDataSource" && "duration" in m.data && "key" in m.data) stream = m.id;
  }
  const owner = {};  // data source id -> the title of the plot drawing it (its pane)
  for (const m of doc.all_models) {
    if (m.renderers !== undefined && m.title != null && typeof m.title.text === "string") {
      const label = m.title.text.split(":")[0].trim() || m.type;
      for (const r of m.renderers) if (r.data_source) owner[r.data_source.id] = label;
    }
  }
  window.__patches = [];
  const apply = doc.apply_json_patch.bind(doc);
  doc.apply_json_patch = (patch, buffers) => {
    const events = (patch && patch.events) || [];
    const panes = new Set();
    for (const e of events) if (e.model && e.model.id in owner) panes.add(owner[e.model.id]);
    window.__patches.push({t: performance.now(), panes: [...panes], streamed: events.some(
      (e) => e.kind === "ColumnsStreamed" && e.model && e.model.id === stream)});
    return apply(patch, buffers);
  };
  return stream !== null;
}"""
MARK_JS = "() => { window.__patches = []; return performance.now(); }"
READ_JS = "() => ({now: performance.now(), patches: window.__patches})"


def _updates(times: list) -> list:
    """The times of updates: patches less than 20 ms apart count as one."""
    out, last = [], None
    for t in times:
        if last is None or t - last > 20:
            out.append(t)
        last = t
    return out


def _rates(patches: list, start: float, stop: float) -> dict:
    """Per second over [start, stop] (page clock, ms): patches, task-stream streams,
    updates, and ``flowing``: updates per second from the run's first update to its
    last (before the first one the scheduler is still taking in and dispatching the
    graph, and has nothing to tell); ``panes``: each pane's share of those updates,
    at that rate (a pane sends one only when what it draws changed)."""
    inside = [p for p in patches if start <= p["t"] <= stop]
    seconds = max(stop - start, 1e-9) / 1000
    times = _updates([p["t"] for p in inside])
    streams = sum(p["streamed"] for p in inside)
    span = (times[-1] - times[0]) / 1000 if len(times) > 1 else 0.0
    labels = sorted({label for p in inside for label in p.get("panes", ())})
    flowing = (len(times) - 1) / span if span else 0.0
    panes = {label: flowing * len(_updates([p["t"] for p in inside if label in p.get("panes", ())]))
             / len(times) for label in labels}  # fmt: skip
    return {"patches": len(inside) / seconds, "streams": streams / seconds,
            "ticks": len(times) / seconds, "flowing": flowing, "panes": panes}  # fmt: skip


def open_hooked(page, link: str) -> None:
    """Open the /status page at *link* in *page*, drawn and idle, with :data:`HOOK_JS`
    counting the updates it gets."""
    page.goto(link)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                           "Bokeh.documents[Bokeh.documents.length - 1].is_idle")  # fmt: skip
    if not page.evaluate(HOOK_JS):
        raise SystemExit("no task-stream source found on /status")
    time.sleep(0.5)  # drawn, idle


def _cpu(procs) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except Exception:  # a process that ended meanwhile
            pass
    return total


def _loop_cpu(framework: str = "shoal") -> float:
    """CPU seconds the process's event-loop threads (*framework*'s clients' and
    schedulers' loops, ``LOOP_THREADS``) have used, from each thread's own clock."""
    total = 0.0
    for thread in threading.enumerate():
        if thread.name.startswith(LOOP_THREADS[framework]) and thread.ident is not None:
            try:
                total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
            except OSError:  # the thread ended meanwhile
                pass
    return total


def _browser_processes(psutil) -> list:
    """Chromium's processes (descendants of this one, under either driver)."""
    return [p for p in psutil.Process().children(recursive=True)
            if "chrom" in (p.name() or "").lower()]  # fmt: skip


def _run(client, start: int, n: int) -> float:
    gc.collect()
    t0 = time.perf_counter()
    results = client.gather(client.map(inc, range(start, start + n)))
    elapsed = time.perf_counter() - t0
    assert sum(results) == sum(range(start + 1, start + n + 1)), "wrong results"
    return elapsed


def _launcher(driver: str):
    """The context manager that starts Chromium under *driver*: ``"playwright"``
    (what the browser tests use) or ``"cdp"`` (``benchmarks.cdp``: the DevTools
    protocol over tornado, for machines without Playwright)."""
    if driver == "playwright":
        from shoal.testing.browser import chromium

        return chromium
    if driver == "cdp":
        from benchmarks.cdp import launch

        return launch
    raise ValueError(f"unknown driver {driver!r}: 'playwright' or 'cdp'")


def _client_class(framework: str):
    if framework == "shoal":
        from shoal.distributed import Client
    elif framework == "dask":
        from dask.distributed import Client
    else:
        raise ValueError(f"unknown framework {framework!r}: one of {', '.join(FRAMEWORKS)}")
    return Client


def labels(framework: str) -> dict:
    """The configurations' labels in *framework*'s table."""
    return DASK_CONFIGS if framework == "dask" else CONFIGS


def measure(repeat: int, n: int, chromium: str, driver: str = "playwright",
            workers: int = WORKERS, pin: bool = False, framework: str = "shoal") -> dict:
    """``{config: [run, ...]}``, each run a dict of seconds, CPU fractions and rates;
    *pin*: each role on CPUs of its own (:mod:`benchmarks.pinning`); *framework*:
    ``"shoal"`` or ``"dask"`` (``dask.distributed``, the same clusters and page)."""
    import psutil

    from benchmarks.distributed_workloads import worker_env

    Client = _client_class(framework)
    worker_env()  # the workers import benchmarks.workloads.inc by name
    me = psutil.Process()
    out = {name: [] for name in CONFIGS}
    out["workers"], out["framework"] = workers, framework
    kwargs = {"n_workers": workers, "threads_per_worker": 1, "processes": True}
    plain_kwargs = {"dashboard_address": None}
    if framework == "dask":  # (its scheduler serves /metrics without a dashboard: on 8787)
        plain_kwargs = {"dashboard_address": ":0", "scheduler_kwargs": {"dashboard": False}}
    with Client(**plain_kwargs, **kwargs) as plain, \
            Client(dashboard_address=":0", **kwargs) as served, \
            Client(dashboard_address=":0", **kwargs) as watched, \
            _launcher(driver)(chromium) as browser:  # fmt: skip
        clients = {"plain": plain, "served": served, "watched": watched}
        for c in clients.values():
            c.wait_for_workers(workers, timeout=60)
        if not (served.dashboard_link and watched.dashboard_link):
            raise SystemExit("no dashboard (is bokeh installed?)")
        if framework == "shoal":
            dashboards = {name: psutil.Process(clients[name].cluster.scheduler.dashboard.proc.pid)
                          for name in ("served", "watched")}  # fmt: skip
        else:  # Dask's is in its scheduler: its CPU counts as the client+scheduler's
            dashboards = {}
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))

        def open_status():  # (only for the watched cluster's runs: see the module docstring)
            open_hooked(page, watched.dashboard_link)

        open_status()
        chrome = _browser_processes(psutil)
        workers = {name: [psutil.Process(pid) for pid in c.run(os.getpid).values()]
                   for name, c in clients.items()}  # the worker processes
        if pin:
            out["pinned"] = cpus = pinning.plan(pinning.cores(), out["workers"])
            pinning.pin(me.pid, cpus["scheduler"], children=False)  # (not the others)
            for procs in workers.values():
                for proc, cpu in zip(procs, cpus["workers"]):
                    pinning.pin(proc.pid, [cpu])
            for proc in [*dashboards.values(), *chrome]:
                pinning.pin(proc.pid, cpus["rest"])
        offset = 0
        for c in clients.values():  # warm-up: imports, connections, the page's first rects
            _run(c, offset, min(n, 2000))
            offset += n
        page.goto("about:blank")
        time.sleep(1.0)
        names = list(CONFIGS)
        for i in range(repeat):
            for name in names[i % 3:] + names[: i % 3]:  # rotate the order
                dash = dashboards.get(name)
                if name == "watched":
                    open_status()
                    chrome = _browser_processes(psutil)  # (a new page may have a new renderer)
                psutil.cpu_percent()  # starts the machine-wide count
                if name == "watched":
                    start = page.evaluate(MARK_JS)
                cpu = (_cpu([me]), _cpu([dash]) if dash else 0.0, _cpu(chrome),
                       _cpu(workers[name]), _loop_cpu(framework))  # fmt: skip
                elapsed = _run(clients[name], offset, n)
                run = {"seconds": elapsed, "loop_us": (_loop_cpu(framework) - cpu[4]) / n * 1e6,
                       "scheduler_cpu": (_cpu([me]) - cpu[0]) / elapsed,
                       "workers_cpu": (_cpu(workers[name]) - cpu[3]) / elapsed,
                       "machine_cpu": psutil.cpu_percent() / 100 * psutil.cpu_count()}
                if dash is not None:
                    run["dashboard_cpu"] = (_cpu([dash]) - cpu[1]) / elapsed
                if name == "watched":
                    run["browser_cpu"] = (_cpu(chrome) - cpu[2]) / elapsed
                    seen = page.evaluate(READ_JS)
                    run.update(_rates(seen["patches"], start, seen["now"]))
                    page.goto("about:blank")
                out[name].append(run)
                offset += n
                time.sleep(0.5)  # the dashboards catch up; every cluster idle
        out["errors"] = errors
    return out


def paired_drops(out: dict, config: str) -> list:
    """Each repeat's throughput drop of *config* from the same repeat's plain run
    (seconds apart): a slow drift of the machine's speed cancels out of these,
    where it only blurs the medians of whole configurations."""
    return [1 - p["seconds"] / r["seconds"] for p, r in zip(out["plain"], out[config])]


def fast_drop(out: dict, config: str) -> float:
    """The drop of *config* read from each configuration's fastest quartile of runs
    (the first quartile of its run times): informative where a machine's runs fall
    in a fast and a slow mode at random (the 16-core machines did), since the fast
    runs are the ones nothing else slowed; the target is judged on the other two."""
    def q1(config):
        seconds = [r["seconds"] for r in out[config]]
        if len(seconds) < 2:
            return seconds[0] if seconds else float("nan")
        return statistics.quantiles(seconds, n=4, method="inclusive")[0]  # (within the runs)

    return 1 - q1("plain") / q1(config)


def report(out: dict, n: int) -> str:
    def med(config, field):
        values = [r[field] for r in out[config] if field in r]
        return statistics.median(values) if values else float("nan")

    plain = med("plain", "seconds")
    framework = out.get("framework", "shoal")
    names = labels(framework)
    judged = framework == "shoal"  # the targets are shoal's; Dask's figures inform
    ok = lambda good: ("ok" if good else "MISSED") if judged else "-"  # noqa: E731
    lines = [f"dashboard overhead ({framework}): {n:,} tasks, {len(out['plain'])} repeats per "
             f"configuration, Client(n_workers={out['workers']}, threads_per_worker=1); medians",
             "",
             "| configuration | tasks/s | drop | paired drop (quartiles) | event loop us/task | "
             "client+scheduler CPU | workers CPU | dashboard CPU | Chromium CPU | machine CPU |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    loop = med("plain", "loop_us")
    for config, label in names.items():
        seconds = med(config, "seconds")
        drop = 1 - plain / seconds  # of throughput, n / seconds
        q1, paired, q3 = quartiles(paired_drops(out, config))
        target = (f" ({ok(max(drop, paired) <= TARGET_DROP)})"
                  if config == "watched" and judged else "")  # fmt: skip
        loop_us = med(config, "loop_us")
        cells = [f"{n / seconds:,.0f}", "" if config == "plain" else f"{drop:+.1%}{target}",
                 "" if config == "plain" else f"{paired:+.1%} ({q1:+.0%} .. {q3:+.0%})",
                 f"{loop_us:.0f}" + ("" if config == "plain" else f" ({loop_us / loop - 1:+.1%})"),
                 f"{med(config, 'scheduler_cpu'):.0%}"]  # fmt: skip
        for field in ("workers_cpu", "dashboard_cpu", "browser_cpu", "machine_cpu"):
            value = med(config, field)
            cells.append("" if value != value else f"{value:.0%}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ticks, flowing = med("watched", "ticks"), med("watched", "flowing")
    lines += ["", f"CPU in % of one core during the timed runs (machine: all processes, "
              f"{os.cpu_count()} cores); drop: from the medians of the configurations' runs; "
              "paired drop: the median of each repeat's drop from its plain run; target "
              f"(watched): both <= {TARGET_DROP:.0%}; event loop: the clients' and schedulers' "
              "loop thread, CPU per task (in brackets: more than with no dashboard)", "",
              "| refresh seen in the page (/status, watched) | per second | target |",
              "|---|---|---|",
              f"| updates while the run's updates flow (first to last) | {flowing:.1f} | "
              f">= {TARGET_RATE:g}: {ok(flowing >= TARGET_RATE)} |",
              f"| updates per second of the whole run | {ticks:.1f} | |",
              f"| task-stream ColumnsStreamed patches | {med('watched', 'streams'):.1f} | |",
              f"| PATCH-DOC messages | {med('watched', 'patches'):.1f} | |",
              *(f"| pane: {label} (while updates flow) | {rate:.1f} | |"
                for label, rate in pane_rates(out["watched"]).items()),
              f"| JavaScript errors (total) | {len(out['errors'])} | 0: {ok(not out['errors'])} |",
              ""]  # fmt: skip
    lines.append("drop of the fastest quartile of runs (first quartile of run times; "
                 "informative): " + ", ".join(f"{names[c]} {fast_drop(out, c):+.1%}"
                                              for c in names if c != "plain"))
    if out.get("pinned"):
        lines.append("pinned (--pin): " + ", ".join(
            f"{role} on CPUs {','.join(map(str, cpus))}" for role, cpus in out["pinned"].items()))
    for config in CONFIGS:
        lines.append(f"runs (s), {config}: " + " ".join(f"{r['seconds']:.3f}" for r in out[config]))
    lines += [f"JavaScript error: {e}" for e in out["errors"][:5]]
    return "\n".join(lines)


def pane_rates(runs: list) -> dict:
    """``{pane: median updates per second}`` over the watched runs (0 where a run saw none)."""
    labels = sorted({label for r in runs for label in r.get("panes", {})})
    return {label: statistics.median(r.get("panes", {}).get(label, 0.0) for r in runs)
            for label in labels}  # fmt: skip


def compare(outs: dict, n: int) -> str:
    """shoal's figures beside Dask's, each framework's drops read from its own plain
    runs of the same pass: what opening a dashboard costs each."""
    def med(out, config, field):
        values = [r[field] for r in out[config] if field in r]
        return statistics.median(values) if values else float("nan")

    def pct(value):
        return "" if value != value else f"{value:.0%}"

    rows = {"tasks/s, no dashboard": lambda o: f"{n / med(o, 'plain', 'seconds'):,.0f}"}
    for config in ("served", "watched"):
        label = "dashboard, no page" if config == "served" else "/status open in Chromium"
        rows[f"drop, {label}"] = lambda o, c=config: (
            f"{1 - med(o, 'plain', 'seconds') / med(o, c, 'seconds'):+.1%}")
        rows[f"paired drop, {label}"] = lambda o, c=config: (
            f"{quartiles(paired_drops(o, c))[1]:+.1%}")
    rows["client+scheduler CPU, /status open"] = lambda o: pct(med(o, "watched", "scheduler_cpu"))
    rows["dashboard process CPU, /status open"] = lambda o: pct(med(o, "watched", "dashboard_cpu"))
    rows["Chromium CPU, /status open"] = lambda o: pct(med(o, "watched", "browser_cpu"))
    rows["page updates/s while updates flow"] = lambda o: f"{med(o, 'watched', 'flowing'):.1f}"
    names = list(outs)
    lines = [f"| {n:,} tasks, medians | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for label, cell in rows.items():
        lines.append(f"| {label} | " + " | ".join(cell(outs[name]) for name in names) + " |")
    lines.append("(Dask's dashboard runs inside its scheduler, in the client's process: its "
                 "CPU is in the client+scheduler column)")
    return "\n".join(lines)


def browser_floor(chromium: str, plots=(1, 3, 5), seconds: float = 10.0,
                  driver: str = "playwright") -> list:
    """``[(plots, fraction of a core)]``: Chromium's CPU for a bare Bokeh page of *n*
    small plots, each changing one bar every 200 ms (5 updates a second, the issue's
    minimum), with nothing else running: what any Bokeh page refreshed that often
    costs the browser on this machine, whatever the dashboard does."""
    import random
    import threading

    import psutil
    from bokeh.application import Application
    from bokeh.application.handlers.function import FunctionHandler
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure
    from bokeh.server.server import Server

    out = []
    for n in plots:
        def make(doc, n=n):
            sources = []
            for _ in range(n):
                source = ColumnDataSource({"right": [1.0]})
                fig = figure(height=200, width=400, tools="", toolbar_location=None)
                fig.quad(left=0, right="right", bottom=0, top=1, source=source)
                doc.add_root(fig)
                sources.append(source)

            def tick():
                for source in sources:
                    source.data = {"right": [random.random()]}

            doc.add_periodic_callback(tick, 200)

        server = Server({"/": Application(FunctionHandler(make))}, port=0, address="127.0.0.1")
        server.start()
        thread = threading.Thread(target=server.io_loop.start, daemon=True)
        thread.start()
        try:
            with _launcher(driver)(chromium) as browser:
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(f"http://127.0.0.1:{server.port}/")
                time.sleep(3.0)  # loaded, drawing
                chrome = _browser_processes(psutil)
                before = _cpu(chrome)
                time.sleep(seconds)
                out.append((n, (_cpu(chrome) - before) / seconds))
        finally:
            server.io_loop.add_callback(server.io_loop.stop)
            thread.join(5)
            server.stop()
    return out


def comma_list(allowed: tuple, what: str):
    """An argparse ``type`` for a comma-separated list of names from *allowed*; an
    unknown one is an error that names it (*what*: "framework", "scheduler")."""
    def parse(text: str) -> tuple:
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what}(s) {', '.join(unknown) or repr(text)}: "
                f"a comma-separated list of {', '.join(allowed)}")
        return names

    return parse


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.dashboard_overhead",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=WORKERS,
                   help="worker processes (one thread each) per cluster")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--pin", action="store_true",
                   help="each role on CPUs of its own: the client and scheduler's process, each "
                        "worker, the dashboards and the browser (see benchmarks/pinning.py)")
    p.add_argument("--floor", action="store_true",
                   help="only measure what bare Bokeh pages of 1, 3 and 5 plots refreshed "
                        "5 times a second cost Chromium here (see browser_floor)")
    p.add_argument("--driver", choices=("playwright", "cdp"), default=None,
                   help="how Chromium is driven: playwright (default where installed) or cdp "
                        "(its DevTools protocol over tornado; see benchmarks/cdp.py)")
    p.add_argument("--frameworks", type=comma_list(FRAMEWORKS, "framework"), default=FRAMEWORKS,
                   help="comma-separated, run in turn: shoal,dask (default) or one of them")
    args = p.parse_args(argv)
    if args.driver is None:
        args.driver = "playwright" if importlib.util.find_spec("playwright") else "cdp"
    if args.floor:
        print("| bare Bokeh page, plots refreshed 5x/s | Chromium CPU (one core) |\n|---|---|")
        for n, cpu in browser_floor(args.chromium, driver=args.driver):
            print(f"| {n} | {cpu:.0%} |")
        return 0
    outs = {}
    for framework in args.frameworks:
        if framework == "dask" and importlib.util.find_spec("distributed") is None:
            print("Dask's arm skipped: dask.distributed is not installed "
                  "(pip install -e '.[bench]')\n", flush=True)  # fmt: skip
            continue
        outs[framework] = measure(args.repeat, args.tasks, args.chromium, args.driver,
                                  args.workers, args.pin, framework)  # fmt: skip
        print(report(outs[framework], args.tasks) + "\n", flush=True)
    if len(outs) > 1:
        print(compare(outs, args.tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
