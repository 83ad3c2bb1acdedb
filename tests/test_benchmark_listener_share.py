"""``benchmarks.listener_share`` runs end to end (small sizes); speed is never asserted."""

import re

import pytest

pytest.importorskip("bokeh")

from tests.conftest import run_benchmark  # noqa: E402


@pytest.mark.timeout(120)
def test_listener_share_reports_both_clusters_and_the_paired_difference():
    proc = run_benchmark("listener_share", "--repeat", "2", "--tasks", "300", timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"event-loop CPU per task, 300 tasks, 2 repeats \(medians\): plain ([\d.]+) us, "
        r"served ([\d.]+) us; paired difference ([+-][\d.]+) us \(([+-][\d.]+)%; "
        r"quartiles ([+-][\d.]+) \.\. ([+-][\d.]+)\)", line)  # fmt: skip
    assert match, line
    plain, served = float(match[1]), float(match[2])
    assert plain > 0 and served > 0  # both clusters ran and their loop used CPU


def test_report_pairs_each_repeat_with_its_own_plain_run():
    from benchmarks.listener_share import report

    out = {"plain": [10.0, 20.0, 30.0], "served": [11.0, 23.0, 31.0]}
    assert report(out, 100) == (
        "event-loop CPU per task, 100 tasks, 3 repeats (medians): plain 20.0 us, served 23.0 us; "
        "paired difference +1.00 us (+5.0%; quartiles +1.00 .. +3.00)")
