"""``benchmarks.local_dashboard``: a local ``Dashboard()`` open, with and without a page,
against no dashboard and Dask's own local scheduler.  One short real run (its own
Dashboard process, the system's Chromium, Dask's threaded scheduler) and the table
checked on figures made up to give known answers."""

from __future__ import annotations

import pytest

from benchmarks import local_dashboard
from tests.conftest import require_program

pytestmark = pytest.mark.timeout(240)


def rows_of(text: str) -> dict:
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ")}  # fmt: skip


def test_the_table_reads_each_configurations_drop_from_the_runs_without_a_dashboard():
    def runs(seconds, **fields):
        return [{"seconds": s, "dashboard_cpu": 0.25, **fields} for s in seconds]

    out = {"scheduler": "sync", "task_us": 0.0, "errors": [], "plain": runs([1.0, 1.0, 1.0]),
           "served": runs([1.25, 1.25, 1.25]),
           "watched": runs([2.0, 1.0, 2.0], browser_cpu=0.1, flowing=6.0, lag=0.2,
                           panes={"Progress": 6.0}),
           "dask": runs([4.0, 4.0, 4.0])}  # fmt: skip
    text = local_dashboard.report(out, 100_000)
    rows = rows_of(text)
    labels = local_dashboard.CONFIGS
    assert rows[labels["plain"]][:3] == ["10.0", "", ""]  # us per task; no drop of its own
    assert rows[labels["served"]][:3] == ["12.5", "+20.0%", "+20.0% (+20% .. +20%)"]
    assert rows[labels["watched"]][:2] == ["20.0", "+50.0%"]
    assert rows[labels["watched"]][3:] == ["25%", "10%"]
    assert rows[labels["dask"]][1] == "+75.0%" and rows[labels["dask"]][3:] == ["", ""]
    assert "100,000 tasks (inc)" in text and "last update 0.20 s after the run's end" in text


def test_a_short_run_measures_every_configuration(capsys):
    pytest.importorskip("bokeh", reason="pip install bokeh (the diagnostics extra has it)")
    pytest.importorskip("dask", reason="pip install -e '.[bench]' (Dask is the oracle)")
    chromium = require_program("chromium", "apt-get install -y chromium (or `make sysdeps`)")
    assert local_dashboard.main(["--repeat", "1", "--tasks", "2000", "--schedulers", "threads",
                                 "--task-us", "200", "--driver", "cdp",
                                 "--chromium", chromium]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "threads scheduler: 2,000 tasks of 200 us" in out, out
    rows = rows_of(out)
    for label in local_dashboard.CONFIGS.values():
        assert float(rows[label][0]) > 0, out  # us per task
    watched = rows[local_dashboard.CONFIGS["watched"]]
    assert float(watched[3].rstrip("%")) > 0 and float(watched[4].rstrip("%")) > 0, out  # CPU
    assert "JavaScript errors: 0" in out, out


def test_an_unknown_scheduler_is_named(capsys):
    with pytest.raises(SystemExit):
        local_dashboard.main(["--schedulers", "sync,distributed"])
    assert "unknown scheduler(s) distributed" in capsys.readouterr().err
