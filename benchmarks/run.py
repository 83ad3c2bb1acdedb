"""Run the benchmarks: ``python -m benchmarks.run [options]``.

::

    --quick            3 repeats and small sizes: a smoke test, not figures to quote
    --repeat N         repeats per case (default 5; slow cases cap it, see workloads)
    --only NAME        run only these workloads (comma-separated or repeated):
                       many-objects, sum-of-incs, tree-reduction,
                       graph-construction, import (core suite; see SUITES for the others)
    --suite NAME       core (default), bag, dataframe, array, distributed
    --json PATH        write the figures and every raw sample as JSON
    --markdown PATH    write the table between the results markers of PATH
                       (docs/benchmarks.md), keeping the text around them

Each repeat runs every case with both libraries, one after the other (the order
alternates between repeats), so noise on the machine hits both alike.  Results
must be equal between the libraries; a mismatch stops the run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time

from benchmarks.workloads import REPO, Case, Unavailable, load_libs, make_cases, warm_up

SUITES = {
    "core": ("many-objects", "sum-of-incs", "tree-reduction", "graph-construction", "import"),
    "bag": ("bag-letters", "bag-json"),
    "dataframe": ("flights", "flights-memory"),
    "array": ("array-mean", "array-sum-transpose", "array-matmul"),
    "distributed": ("map-gather", "delayed-graph", "round-trip", "tree-reduction", "transfer",
                    "client-start"),
}
WORKLOADS = tuple(dict.fromkeys(w for names in SUITES.values() for w in names))


def markers(suite: str) -> tuple[str, str]:
    """The markdown markers around one suite's results block."""
    if suite == "core":
        return "<!-- results:start -->", "<!-- results:end -->"
    return f"<!-- results-{suite}:start -->", f"<!-- results-{suite}:end -->"


def suite_cases(suite: str, quick: bool) -> list:
    if suite == "core":
        return make_cases(quick=quick)
    if suite == "bag":
        from benchmarks.bag_workloads import make_bag_cases

        return make_bag_cases(quick)
    if suite == "dataframe":
        from benchmarks.dataframe_workloads import make_dataframe_cases

        return make_dataframe_cases(quick)
    if suite == "distributed":
        from benchmarks.distributed_workloads import make_distributed_cases

        return make_distributed_cases(quick)
    from benchmarks.array_workloads import make_array_cases

    return make_array_cases(quick)
HEADERS = ("workload", "scheduler", "shoal", "dask", "shoal/dask", "runs", "target")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="3 repeats, small sizes (smoke test)")
    p.add_argument("--repeat", type=int, default=None, help="repeats per case (default 5, 3 with --quick)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help=f"workloads to run, comma-separated: {', '.join(WORKLOADS)}")
    p.add_argument("--suite", default="core", choices=sorted(SUITES),
                   help="which workloads: core (delayed + schedulers + import), bag, dataframe, array, "
                        "distributed (shoal.distributed vs dask.distributed clients)")
    p.add_argument("--json", metavar="PATH", help="write results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the table into this markdown file")
    args = p.parse_args(argv)
    only = {n.strip() for item in args.only for n in item.split(",") if n.strip()}
    unknown = only - set(SUITES[args.suite])
    if unknown:
        p.error(f"unknown workload(s) {', '.join(sorted(unknown))} for --suite {args.suite}; "
                f"choose from {', '.join(SUITES[args.suite])}")
    args.only = only
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


# -- running -------------------------------------------------------------------
def run_cases(cases: list[Case], libs, repeat: int, log=print) -> dict:
    """``{case index: {lib name: {variant: [Sample]} or Unavailable}}``."""
    results = {i: {lib.name: {} for lib in libs} for i in range(len(cases))}
    for r in range(repeat):
        order = libs if r % 2 == 0 else libs[::-1]
        t0 = time.perf_counter()
        for i, case in enumerate(cases):
            if case.max_repeat is not None and r >= case.max_repeat:
                continue
            seen = {}
            for lib in order:
                store = results[i][lib.name]
                if isinstance(store, Unavailable):
                    continue
                try:
                    out = case.measure(lib)
                except Unavailable as exc:
                    results[i][lib.name] = exc
                    continue
                for variant, samples in out.items():
                    store.setdefault(variant, []).extend(samples)
                seen[lib.name] = [s.result for v in sorted(out) for s in out[v]]
            check(case, seen)
        log(f"  repeat {r + 1}/{repeat} done in {time.perf_counter() - t0:.1f} s")
    return results


def check(case: Case, seen: dict) -> None:
    """Every result equals the expected one, and both libraries agree."""
    for name, values in seen.items():
        for v in values:
            if case.expected is not None:
                assert v == case.expected, f"{case.title} {case.scheduler}: {name} returned a wrong result"
    if len(seen) == 2:
        a, b = seen.values()
        first_a = [v for v in a if v is not None]
        first_b = [v for v in b if v is not None]
        if first_a and first_b:
            assert first_a[0] == first_b[0], f"{case.title} {case.scheduler}: shoal and dask disagree"


# -- reporting -------------------------------------------------------------------
def fmt_value(seconds: float, unit: str) -> str:
    if unit == "us/task":
        return f"{seconds * 1e6:.1f} us/task"
    if unit == "ms":
        return f"{seconds * 1e3:.1f} ms"
    if unit == "tasks/s":  # seconds per task, shown with its inverse
        return f"{seconds * 1e6:.0f} us/task ({1 / seconds:,.0f} tasks/s)"
    if unit == "MB":
        return f"{seconds:.0f} MB"
    if unit == "x":
        return f"{seconds:.2f}x"
    return f"{seconds:.4f} s" if seconds < 1 else f"{seconds:.2f} s"


def build_rows(cases: list[Case], results: dict) -> list[dict]:
    rows = []
    for i, case in enumerate(cases):
        per_lib = results[i]
        for variant in case.variants:
            vals = {}
            runs = {}
            for name in ("shoal", "dask"):
                samples = per_lib.get(name)
                if isinstance(samples, Unavailable) or not samples or variant not in samples:
                    vals[name] = None
                    runs[name] = 0
                else:
                    vals[name] = case.value(samples, variant)
                    runs[name] = len(samples[variant])
            ratio = vals["shoal"] / vals["dask"] if vals["shoal"] is not None and vals["dask"] else None
            target = case.targets.get(variant)
            status = None
            if target is not None and ratio is not None:
                status = "met" if ratio <= target else "missed"
            rows.append({
                "workload": case.workload,
                "title": case.title,
                "scheduler": case.label(variant),
                "unit": case.unit,
                "shoal": vals["shoal"],
                "dask": vals["dask"],
                "ratio": ratio,
                "runs": runs,
                "target": target,
                "status": status,
                "errors": {name: str(per_lib[name]) for name in ("shoal", "dask")
                           if isinstance(per_lib[name], Unavailable)},
                "samples": {
                    name: ({v: [s.seconds for s in ss] for v, ss in per_lib[name].items()}
                           if isinstance(per_lib[name], dict) else str(per_lib[name]))
                    for name in ("shoal", "dask")
                },
            })
    return rows


def cells(row: dict) -> list[str]:
    def val(name):
        v = row[name]
        if v is None:
            return "failed" if row["errors"].get(name) else "n/a"
        return fmt_value(v, row["unit"])

    ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.3f}"
    runs = row["runs"]
    runs_cell = str(runs["shoal"]) if runs["shoal"] == runs["dask"] else f"{runs['shoal']}/{runs['dask']}"
    if row["target"] is None:
        target = "-"
    else:
        target = f"<= {row['target']:.2f}: {row['status'] or 'n/a'}"
    return [row["title"], row["scheduler"], val("shoal"), val("dask"), ratio, runs_cell, target]


def text_table(rows: list[dict]) -> str:
    body = [cells(r) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(HEADERS)]
    right = {2, 3, 4, 5}

    def line(cols):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths)))

    out = [line(HEADERS), line(["-" * w for w in widths])]
    out += [line(b) for b in body]
    return "\n".join(out)


def markdown_table(rows: list[dict]) -> str:
    out = ["| " + " | ".join(HEADERS) + " |",
           "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---"]) + "|"]
    for r in rows:
        c = cells(r)
        if r["status"] == "missed":
            c[-1] = f"**{c[-1]}**"
        out.append("| " + " | ".join(c) + " |")
    return "\n".join(out)


def machine() -> dict:
    import dask

    import shoal

    # what `nproc` says, without its OMP_NUM_THREADS override (Dask's distributed sets
    # OMP_NUM_THREADS=1 in this process, which made `nproc` print 1 here)
    try:
        nproc = str(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        nproc = str(os.cpu_count())
    return {
        "nproc": nproc,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "shoal": getattr(shoal, "__version__", "?"),
        "dask": dask.__version__,
    }


def revision() -> str:
    """The commit measured, with a note when the working tree has changes."""
    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "shoal")
    except OSError:
        return "unknown"
    if not head:
        return "unknown"
    return f"{head} (with uncommitted changes to shoal/)" if dirty else head


def command_line() -> str:
    return shlex.join(["python", "-m", "benchmarks.run", *sys.argv[1:]])


def results_block(rows, meta, args, elapsed) -> str:
    m = meta["machine"]
    start, end = markers(args.suite)
    lines = [
        start,
        f"Command: `{meta['command']}` (from the repository root, with the project's "
        f"virtual environment's python)",
        "",
        f"Date: {meta['date']}.  Machine: `nproc` = {m['nproc']}, Python {m['python']}, "
        f"{m['platform']}.  shoal {m['shoal']} at commit {meta['revision']}, dask {m['dask']}.  "
        f"{args.repeat} repeats{' (--quick sizes)' if args.quick else ''}, "
        f"medians shown; the whole run took {elapsed / 60:.1f} min.",
        "",
        markdown_table(rows),
    ]
    failures = [(r["title"], name, err) for r in rows for name, err in r["errors"].items()]
    if failures:
        lines.append("")
        for title, name, err in failures:
            last = err.strip().splitlines()[-1] if err.strip() else "unavailable"
            lines.append(f"- {title}: {name} failed: `{last.strip()}`")
    lines.append(end)
    return "\n".join(lines)


INTRO = """# Benchmarks

shoal against Dask on the same workloads, in one run, interleaved (see
`benchmarks/README.md` for what each workload measures).  Ratios are shoal / Dask:
below 1 means shoal is faster.  Regenerate the table with:

    python -m benchmarks.run --markdown docs/benchmarks.md

"""


def write_markdown(path: str, block: str, suite: str = "core") -> None:
    start, end = markers(suite)
    text = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
    if start in text and end in text and text.index(start) < text.index(end):
        before = text[: text.index(start)]
        after = text[text.index(end) + len(end):]
        text = before + block + after
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else INTRO) + block + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv=None) -> int:
    args = parse_args(argv)
    cases = [c for c in suite_cases(args.suite, args.quick) if not args.only or c.workload in args.only]
    libs = load_libs()
    print(f"shoal vs dask: {len(cases)} cases, {args.repeat} repeats"
          f"{' (quick)' if args.quick else ''}", flush=True)
    t0 = time.perf_counter()
    warm_up(libs)
    results = run_cases(cases, libs, args.repeat, log=lambda s: print(s, flush=True))
    elapsed = time.perf_counter() - t0
    rows = build_rows(cases, results)
    print()
    print(text_table(rows))
    print(f"\nshoal/dask below 1: shoal is faster.  Total {elapsed:.1f} s.")
    for r in rows:
        for name, err in r["errors"].items():
            print(f"failed: {r['title']} [{name}]: {err}")
        if r["status"] == "missed":
            print(f"missed: {r['title']} [{r['scheduler']}] ratio {r['ratio']:.3f} > {r['target']:.2f}")
    meta = {
        "command": command_line(),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "revision": revision(),
        "repeat": args.repeat,
        "quick": args.quick,
        "elapsed_s": elapsed,
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)
    if args.markdown:
        write_markdown(args.markdown, results_block(rows, meta, args, elapsed), args.suite)
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
