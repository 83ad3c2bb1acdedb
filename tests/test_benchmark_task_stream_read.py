"""``benchmarks.task_stream_read`` runs end to end (small sizes); speed is never asserted."""

import re

import pytest

from tests.conftest import run_benchmark


@pytest.mark.timeout(60)
def test_task_stream_read_reports_each_request():
    proc = run_benchmark("task_stream_read", "--tasks", "2000", "--repeat", "1", timeout=50)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = re.findall(r"^\| ([^|]+) \| ([\d.]+) \| (\d+) \| ([\d,]+) \| ([\d.]+) \|$", proc.stdout,
                      re.MULTILINE)  # fmt: skip
    assert [(name, int(tasks.replace(",", ""))) for name, _, _, tasks, _ in rows] == [
        ("no bounds (a report's)", 2000), ("count=1000", 1000),
        ("start/stop: the middle half", 1001)]  # fmt: skip
