"""benchmarks.device_kit: the rehearsal sizes and the runner that a call's limit cuts.

The whole round trip (prepare here, step1 and step2 in a virtual environment of
the device's packages) needs the package registries and minutes; it is rehearsed
by hand (docs/benchmarks.md).  These tests hold the parts that decide whether a
lent machine's few minutes give figures back."""

import textwrap
import time

import pytest

from benchmarks import device_kit
from shoal.lab.registry import alive

pytestmark = pytest.mark.timeout(60)


def test_quick_sizes_every_benchmark_down():
    args = ["benchmarks.dashboard_overhead", "--pin", "--repeat", "25", "--workers", "8"]
    assert device_kit._quick(args) == ["benchmarks.dashboard_overhead", "--pin", "--repeat", "2",
                                       "--workers", "2", "--tasks", "2000"]  # fmt: skip
    assert args[3] == "25"  # the plan itself is untouched
    for args in device_kit.STEP1 + [["x", *extra] for extra in device_kit.STEP2]:
        quick = device_kit._quick(args)
        assert quick[quick.index("--repeat") + 1] == "2" and "--tasks" in quick


def test_run_keeps_the_output_and_stops_the_whole_group_at_its_limit(tmp_path, monkeypatch):
    """A benchmark past its limit is killed with the processes it started (its
    clusters, its browser), and what it printed before stays in the log."""
    pkg = tmp_path / "slowbench"
    pkg.mkdir()
    pkg.joinpath("__init__.py").write_text("")
    pkg.joinpath("__main__.py").write_text(textwrap.dedent(f"""
        import subprocess, sys, time
        # a session of its own, as shoal's workers and dashboards have: not in the group
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 start_new_session=True)
        open({str(tmp_path / "child.pid")!r}, "w").write(str(child.pid))
        print("first figure", flush=True)
        time.sleep(60)
    """))
    monkeypatch.setattr(device_kit, "ROOT", tmp_path)
    log = tmp_path / "log.txt"
    start = time.monotonic()
    rc = device_kit._run(["slowbench"], tmp_path / "kit", log, timeout=3)
    assert rc == 124
    assert time.monotonic() - start < 15  # (not the child's 60 s: its pipe was not left open)
    text = log.read_text()
    assert text.startswith("first figure\n") and "stopped at its limit (3 s)" in text
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the benchmark's own child outlived the limit"


def test_run_gives_the_exit_status(tmp_path):
    log = tmp_path / "log.txt"
    assert device_kit._run(["json.tool", "--help"], tmp_path, log, timeout=30) == 0
    assert "usage" in log.read_text()
    assert device_kit._run(["json.tool", "no-such-file"], tmp_path, log, timeout=30) not in (0, 124)



def test_run_echoes_everything_even_past_a_byte_that_is_not_utf8(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "oddbench"
    pkg.mkdir()
    pkg.joinpath("__init__.py").write_text("")
    pkg.joinpath("__main__.py").write_text(
        "import sys\nsys.stdout.buffer.write(b'first\\nbad \\xff byte\\n')\nprint('last figure')\n")
    monkeypatch.setattr(device_kit, "ROOT", tmp_path)
    assert device_kit._run(["oddbench"], tmp_path / "kit", tmp_path / "log.txt", timeout=30) == 0
    out = capsys.readouterr().out
    assert "first\n" in out and "bad \ufffd byte\n" in out and out.endswith("last figure\n")
