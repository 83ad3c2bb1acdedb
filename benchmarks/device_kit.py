"""The dashboard's cost on a lent many-core machine, in two prepared calls.

Issue 6's throughput target is about a *saturated* scheduler, which a 2-core
machine cannot show: there the browser and the dashboard share the cluster's two
cores.  Some sessions are lent a 16-core machine for a few minutes (the
"device": one command at a time over a copy of the working tree, at most 64 MiB
carried with it, nothing fetched there).  Its Python 3.12 has numpy, pandas,
psutil, msgpack, cloudpickle, toolz, PyYAML, Jinja2, sortedcontainers, pillow,
contourpy and narwhals, but neither bokeh nor tornado, and there is no Node and
no Chromium.  This module packs what it lacks here, and runs the measurements
there.  Only the standard library is imported before the wheels are installed.

The Chromium build (``benchmarks.headless_shell``) is 67 MB brotli-compressed,
more than one call carries beside the tree, so the kit comes in two halves, one
per call.  The machine keeps ``/tmp`` while it is warm (30 s after a call), so
the second call must follow the first at once::

    python -m benchmarks.device_kit prepare       # here: .devkit/a and .devkit/b
    # device call 1 (carry [".devkit/a"], timeout_s 300):
    python3 -m benchmarks.device_kit step1
    # device call 2 (carry [".devkit/b"], timeout_s 590), within 30 s:
    python3 -m benchmarks.device_kit step2

``step1`` installs the wheels into ``/tmp/shoal-kit/site``, keeps the first
half of Chromium, and runs ``benchmarks.listener_share`` with 8 workers (what a
listener costs the scheduler's event loop per task).  ``step2`` joins the halves,
unpacks Chromium with Python's ``brotli`` (a carried wheel) and runs
``benchmarks.dashboard_overhead`` on a saturated scheduler (8 workers), then
pinned, then with 2 workers, while the call's time allows.  Each benchmark's
output goes to ``$OUT`` as it runs, so a call cut at its limit still returns
what finished.  ``--kit``, ``--python-version`` and ``--quick`` rehearse the
whole round trip here, in a virtual environment holding only the device's
packages (``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ["main", "prepare", "step1", "step2"]

ROOT = pathlib.Path(__file__).resolve().parent.parent
KIT = pathlib.Path("/tmp/shoal-kit")
# What the device's Python lacks, at the versions installed here (pure Python or abi3).
WHEELS = ("bokeh", "tornado", "xyzservices", "tblib", "zict")
BROTLI = "brotli"  # to unpack Chromium there: Python's standard library has no brotli
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")  # fmt: skip
HALF = "chromium.br.part"
QUICK = {"--repeat": "2", "--workers": "2", "--tasks": "2000"}  # --quick: a rehearsal here

STEP1 = [["benchmarks.listener_share", "--workers", "8", "--repeat", "10"]]
STEP2 = [  # shoal's arm alone: Dask is not carried, and its arm would double the time
    ["--frameworks", "shoal", "--repeat", "25", "--workers", "8"],  # issue 6's figure
    ["--frameworks", "shoal", "--pin", "--repeat", "25", "--workers", "8"],
    ["--frameworks", "shoal", "--repeat", "15", "--workers", "2"],  # headroom
]


def prepare(dest: pathlib.Path, python_version: str = "3.12") -> None:
    """Fill *dest*/a (wheels, small files, first half) and *dest*/b (second half)."""
    from benchmarks import headless_shell

    a, b = dest / "a", dest / "b"
    for half in (a, b):
        shutil.rmtree(half, ignore_errors=True)
        half.mkdir(parents=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "--python-version", python_version,
                    "--implementation", "cp", *platforms, "--platform", "any",
                    "-d", str(a / "wheels"), *pins, BROTLI],
                   check=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        bin_dir = headless_shell.fetch(pathlib.Path(tmp))
        for br in bin_dir.glob("*.tar.br"):
            shutil.copy(br, a / br.name)
        data = (bin_dir / "chromium.br").read_bytes()
    middle = len(data) // 2
    (a / f"{HALF}1").write_bytes(data[:middle])
    (b / f"{HALF}2").write_bytes(data[middle:])
    for half in (a, b):
        size = sum(f.stat().st_size for f in half.rglob("*") if f.is_file())
        print(f"{half}: {size / 2**20:.1f} MiB")


def _out() -> pathlib.Path:
    out = pathlib.Path(os.environ.get("OUT") or ROOT / ".devkit" / "out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _env(kit: pathlib.Path) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(kit / "site"), str(ROOT),
                                                      os.environ.get("PYTHONPATH")]))  # fmt: skip
    return env


def _quick(args: list) -> list:
    """*args* sized down to a rehearsal that a 2-core machine runs in seconds."""
    args = list(args)
    for option, value in QUICK.items():
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    return args


def _run(args: list, kit: pathlib.Path, log: pathlib.Path, timeout: float) -> int:
    """Run ``python -m *args*`` with the kit's packages, its output into *log*, which is
    echoed line by line: the call's ``output_tail`` shows the end of it, ``$OUT`` all
    of it, so a run stopped at its limit still leaves what it printed.  The output goes
    to the file itself, not through a pipe, which a process that outlived the run
    (in a session of its own) would hold open."""
    print(f"$ python -m {' '.join(args)}  (at most {timeout:.0f} s)", flush=True)
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=_env(kit), stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    finished = threading.Event()

    def echo():
        with open(log, errors="replace") as r:  # (a stray byte must not end the echo)
            while True:
                done = finished.is_set()  # before reading: all is in the file once set
                line = r.readline()
                if line:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                elif done:
                    return
                else:
                    time.sleep(0.05)

    echoing = threading.Thread(target=echo, daemon=True)
    echoing.start()
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        proc.wait()
        rc = 124
        with open(log, "a") as f:
            f.write(f"stopped at its limit ({timeout:.0f} s)\n")
    finished.set()
    echoing.join(10)
    return rc


def _kill_tree(pid: int) -> None:
    """SIGKILL process *pid* and every process it started, also those in sessions of
    their own (shoal's workers and dashboard processes: see ``_worker_main``), which
    its process group does not hold, and would go on measuring beside the next run
    (without psutil: the group only)."""
    try:
        import psutil

        family = psutil.Process(pid).children(recursive=True)
    except Exception:  # noqa: BLE001 - no psutil, or gone: its group is what is left
        family = []
    try:
        os.killpg(pid, signal.SIGKILL)  # (the group too: a child started meanwhile)
    except ProcessLookupError:
        pass
    for child in family:
        try:
            child.kill()
        except Exception:  # noqa: BLE001 - gone already
            pass


def step1(kit: pathlib.Path, source: pathlib.Path, budget: float, quick: bool = False) -> int:
    """Install the wheels, keep the first half, measure the listener's share."""
    start = time.monotonic()
    shutil.rmtree(kit, ignore_errors=True)
    kit.mkdir(parents=True)
    wheels = sorted(str(w) for w in (source / "wheels").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    "--no-compile", "--no-cache-dir", "--target", str(kit / "site"), *wheels],
                   check=True)  # fmt: skip
    for f in source.iterdir():
        if f.is_file():
            shutil.copy(f, kit / f.name)
    out = _out()
    probe = ("import os, sys, bokeh, tornado, shoal.distributed; "
             "print(sys.version.split()[0], 'cores', os.cpu_count(), "
             "'bokeh', bokeh.__version__, 'tornado', tornado.version)")  # fmt: skip
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=_env(kit), check=True)
    rc = 0
    for args in STEP1:
        left = budget - (time.monotonic() - start)
        rc |= _run(_quick(args) if quick else args, kit, out / "listener_share.txt", left - 5)
    return rc


def step2(kit: pathlib.Path, source: pathlib.Path, budget: float, quick: bool = False) -> int:
    """Join and unpack Chromium, then run the dashboard benchmarks while time allows."""
    start = time.monotonic()
    if not (kit / f"{HALF}1").exists():
        raise SystemExit(f"{kit} lacks the first half: run step1 on this machine first "
                         "(the machine keeps /tmp only while warm, 30 s after a call)")  # fmt: skip
    sys.path.insert(0, str(kit / "site"))
    import brotli

    from benchmarks import headless_shell

    bin_dir = kit / "bin"
    bin_dir.mkdir(exist_ok=True)
    with open(bin_dir / "chromium.br", "wb") as whole:
        for part in (kit / f"{HALF}1", source / f"{HALF}2"):
            whole.write(part.read_bytes())
    for br in kit.glob("*.tar.br"):
        shutil.copy(br, bin_dir / br.name)

    def inflate(pairs):
        for src, dst in pairs:
            pathlib.Path(dst).write_bytes(brotli.decompress(pathlib.Path(src).read_bytes()))

    wrapper = headless_shell.install(bin_dir, kit / "chrome", inflate)
    done = headless_shell.version(wrapper)
    print(f"{wrapper}: {done.stdout.strip() or done.stderr.strip()}", flush=True)
    if done.returncode:
        return done.returncode
    out, rc = _out(), 0
    for i, extra in enumerate(STEP2, 1):
        left = budget - (time.monotonic() - start)
        if left < 90:
            print(f"skipped (too little time left): {' '.join(extra)}", flush=True)
            continue
        args = ["benchmarks.dashboard_overhead", "--driver", "cdp", "--chromium", str(wrapper),
                *extra]  # fmt: skip
        args = _quick(args) if quick else args
        rc |= _run(args, kit, out / f"dashboard_overhead_{i}.txt", left - 5)
    return rc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.device_kit",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("step", choices=["prepare", "step1", "step2"])
    p.add_argument("--dest", type=pathlib.Path, default=ROOT / ".devkit",
                   help="prepare: where the halves go; step1/step2: where they are carried")
    p.add_argument("--kit", type=pathlib.Path, default=KIT,
                   help="where the steps install and unpack (kept between the two calls)")
    p.add_argument("--python-version", default="3.12", help="prepare: the device's Python")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds this step may take (step1 280, step2 570)")
    p.add_argument("--quick", action="store_true",
                   help="a rehearsal: every benchmark sized down to seconds")
    args = p.parse_args(argv)
    if args.step == "prepare":
        prepare(args.dest, args.python_version)
        return 0
    if args.step == "step1":
        return step1(args.kit, args.dest / "a", args.budget or 280, args.quick)
    return step2(args.kit, args.dest / "b", args.budget or 570, args.quick)


if __name__ == "__main__":
    sys.exit(main())
