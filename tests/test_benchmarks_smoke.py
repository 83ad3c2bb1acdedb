"""The benchmark suite runs end to end (small sizes).  Speed is never asserted here."""

import pytest

pytest.importorskip("dask")

from tests.conftest import run_benchmark  # noqa: E402


def test_benchmarks_quick_smoke(tmp_path):
    out_json = tmp_path / "bench.json"
    out_md = tmp_path / "bench.md"
    proc = run_benchmark("run", "--quick", "--repeat", "1", "--only",
                         "sum-of-incs,graph-construction", "--json", str(out_json),
                         "--markdown", str(out_md), timeout=50)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("workload"))
    assert "shoal/dask" in lines[header] and "target" in lines[header]
    table = lines[header + 2:]
    assert any(line.startswith("sum-of-incs") and "processes, warm" in line for line in table)
    assert any(line.startswith("graph-construction") for line in table)
    md = out_md.read_text()
    assert "<!-- results:start -->" in md and "<!-- results:end -->" in md
    assert "| sum-of-incs" in md
    assert out_json.stat().st_size > 0


def test_markdown_keeps_text_outside_markers(tmp_path):
    from benchmarks.run import markers, write_markdown  # the repo root is on sys.path

    START, END = markers("core")

    path = tmp_path / "doc.md"
    path.write_text(f"intro\n\n{START}\nold table\n{END}\n\nreading\n")
    write_markdown(str(path), f"{START}\nnew table\n{END}")
    text = path.read_text()
    assert text == f"intro\n\n{START}\nnew table\n{END}\n\nreading\n"


def test_distributed_suite_quick_smoke(tmp_path):
    """``--suite distributed``: both clients start, run map + gather, close; shoal must not fail."""
    pytest.importorskip("distributed")
    out_md = tmp_path / "bench.md"
    proc = run_benchmark("run", "--suite", "distributed", "--quick", "--repeat", "1",
                         "--only", "map-gather,client-start", "--markdown", str(out_md),
                         timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("workload"))
    table = lines[header + 2:lines.index("", header)]
    assert any(line.startswith("client.map(inc, range(1,000))") for line in table)
    assert sum("fresh process" in line for line in table) == 5
    # a shoal (or Dask) failure shows as "failed" cells and "failed: ..." lines
    failures = [line for line in lines if line.startswith("failed:") or " failed " in line]
    assert not failures, "\n".join(failures) + "\n" + proc.stderr[-3000:]
    assert not [line for line in table if ": n/a" in line]  # every target row has both figures
    md = out_md.read_text()
    assert "<!-- results-distributed:start -->" in md and "<!-- results-distributed:end -->" in md
    assert "| client.map(inc" in md
