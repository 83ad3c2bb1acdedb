"""``benchmarks.dashboard_overhead`` beside Dask: the same clusters, page and
workload on ``dask.distributed``, and the table that sets the two side by side.

The Dask arm runs for real (Dask's LocalCluster, its Bokeh dashboard, /status in
the system's Chromium over the DevTools protocol); the tables are checked on
figures made up to give known answers.
"""

from __future__ import annotations

import pytest

from benchmarks import dashboard_overhead
from tests.conftest import require_program

pytestmark = pytest.mark.timeout(240)


def runs(seconds, **fields):
    return [{"seconds": s, "loop_us": 50.0, "scheduler_cpu": 1.0, **fields} for s in seconds]


def made_up(framework, plain, served, watched, **watched_fields):
    return {"workers": 2, "errors": [], "framework": framework, "plain": runs(plain),
            "served": runs(served), "watched": runs(watched, **watched_fields)}  # fmt: skip


def test_compare_sets_each_frameworks_drops_from_its_own_plain_runs():
    outs = {"shoal": made_up("shoal", [1.0, 1.0, 1.0], [1.0, 1.0, 1.02], [1.05, 1.05, 1.05],
                             browser_cpu=0.2, flowing=7.5),
            "dask": made_up("dask", [4.0, 4.0, 4.0], [4.4, 4.4, 4.4], [5.0, 5.0, 5.0],
                            browser_cpu=0.3, flowing=8.0)}  # fmt: skip
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in dashboard_overhead.compare(outs, 1000).splitlines()
            if line.startswith("| ")}  # fmt: skip
    assert rows["1,000 tasks, medians"] == ["shoal", "dask"]
    assert rows["tasks/s, no dashboard"] == ["1,000", "250"]
    assert rows["drop, dashboard, no page"] == ["+0.0%", "+9.1%"]
    assert rows["drop, /status open in Chromium"] == ["+4.8%", "+20.0%"]
    assert rows["paired drop, /status open in Chromium"] == ["+4.8%", "+20.0%"]
    assert rows["Chromium CPU, /status open"] == ["20%", "30%"]
    assert rows["dashboard process CPU, /status open"] == ["", ""]  # none measured
    assert rows["page updates/s while updates flow"] == ["7.5", "8.0"]


def test_each_panes_updates_are_counted_over_the_span_updates_flow():
    """The page's rate alone could hide a pane below 5 a second: each pane's share of
    the page's updates (patches less than 20 ms apart count as one), at its rate."""
    patches = [{"t": t, "panes": panes, "streamed": "Task Stream" in panes} for t, panes in (
        (0, ["Task Stream", "Progress"]), (10, ["Task Stream"]), (200, ["Task Stream"]),
        (400, ["Task Stream", "Bytes stored per worker"]), (600, ["Progress"]),
        (1000, ["Task Stream"]))]  # fmt: skip
    rates = dashboard_overhead._rates(patches, 0, 2000)
    assert rates["flowing"] == 4.0 and rates["ticks"] == 2.5  # 5 updates, 1 s apart first-last
    assert rates["panes"] == {"Bytes stored per worker": 0.8, "Progress": 1.6, "Task Stream": 3.2}
    runs = [{"panes": {"Progress": 6.0, "Task Stream": 12.0}}, {"panes": {"Task Stream": 10.0}},
            {"panes": {"Progress": 5.0, "Task Stream": 11.0}}]  # fmt: skip
    assert dashboard_overhead.pane_rates(runs) == {"Progress": 5.0, "Task Stream": 11.0}
    out = made_up("shoal", [1.0], [1.0], [1.0], flowing=6.0, ticks=5.0, streams=4.0, patches=6.0,
                  panes={"Progress": 6.0})  # fmt: skip
    assert "| pane: Progress (while updates flow) | 6.0 | |" in dashboard_overhead.report(out, 10)


def test_dasks_table_is_labelled_as_dasks_and_not_judged_by_shoals_target():
    out = made_up("dask", [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    text = dashboard_overhead.report(out, 1000)
    assert text.startswith("dashboard overhead (dask): 1,000 tasks")
    watched = next(line for line in text.splitlines() if line.startswith("| Dask, dashboard, /status"))
    assert "+50.0%" in watched and "MISSED" not in watched and "(ok)" not in watched
    assert "MISSED" not in text
    shoal = dashboard_overhead.report({**out, "framework": "shoal"}, 1000)
    assert "| dashboard process, /status open in Chromium | 500 | +50.0% (MISSED)" in shoal


def test_frameworks_option_names_the_unknown_one(capsys):
    with pytest.raises(SystemExit) as exc:
        dashboard_overhead.main(["--frameworks", "shoal,spark"])
    assert exc.value.code == 2
    assert "unknown framework(s) spark: a comma-separated list of shoal, dask" in \
        capsys.readouterr().err  # fmt: skip


def test_the_dask_arm_measures_dasks_own_dashboard_page(capsys):
    pytest.importorskip("distributed", reason="pip install -e '.[bench]' (Dask is the oracle)")
    pytest.importorskip("bokeh", reason="pip install bokeh (the diagnostics extra has it)")
    chromium = require_program("chromium", "apt-get install -y chromium (or `make sysdeps`)")
    assert dashboard_overhead.main(["--repeat", "1", "--tasks", "400", "--frameworks", "dask",
                                    "--driver", "cdp", "--chromium", chromium]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "dashboard overhead (dask): 400 tasks" in out and "(shoal)" not in out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out.splitlines() if line.startswith("| ")}  # fmt: skip
    for label in dashboard_overhead.DASK_CONFIGS.values():
        assert float(rows[label][0].replace(",", "")) > 0, out  # tasks/s
    # the hook found Dask's task-stream source and saw its page update
    assert float(rows["task-stream ColumnsStreamed patches"][0]) > 0, out
    assert float(rows["PATCH-DOC messages"][0]) > 0, out
    assert any(label.startswith("pane: ") and float(rate[0]) > 0 for label, rate in rows.items())
    assert float(rows[dashboard_overhead.DASK_CONFIGS["watched"]][7].rstrip("%")) > 0  # Chromium
