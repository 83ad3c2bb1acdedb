"""Pane shaping functions with exact values, and the panes' Bokeh documents (no server)."""

import pytest

pytest.importorskip("bokeh", reason="pip install bokeh (the test extra has it)")

from bokeh.core.validation.check import check_integrity  # noqa: E402
from bokeh.document import Document  # noqa: E402

from shoal.dashboard import pages  # noqa: E402
from shoal.dashboard.panes import PANES  # noqa: E402
from shoal.dashboard.panes.graph import graph_layout, layers, node_style  # noqa: E402
from shoal.dashboard.panes.memory import (  # noqa: E402
    cluster_totals,
    memory_bars,
    memory_look,
    memory_title,
    prefix_bytes_bars,
    worker_link,
)
from shoal.dashboard.panes.profile import activity_bars, icicle, subtree  # noqa: E402
from shoal.dashboard.panes.stream import TaskStream, last_gap  # noqa: E402
from shoal.diagnostics.rectangles import task_rectangles  # noqa: E402
from shoal.dashboard.panes.style import (  # noqa: E402
    PALETTE,
    format_bytes,
    memory_color,
    memory_thresholds,
    prefix_color,
)
from shoal.dashboard.panes.system import system_columns  # noqa: E402
from shoal.dashboard.panes.tasks import (  # noqa: E402
    compute_time_bars,
    exception_columns,
    task_link,
    progress_rows,
    progress_summary,
    SUMMARY_Y,
)
from shoal.dashboard.panes.workers import cpu_axis_end, worker_bars, worker_table  # noqa: E402
from shoal.dashboard.profiles import normalize_tree, profile_items  # noqa: E402
from shoal.dashboard.state import DashboardState  # noqa: E402
from shoal.events import (GraphSubmitted, SystemMetrics, TaskTransition, WorkerAdded,  # noqa: E402
                          WorkerMetrics)  # fmt: skip

T0 = 1_700_000_000.0
TH = {"target": 0.6, "spill": 0.7, "pause": 0.8, "terminate": 0.95}


def rec(key, prefix, finish="memory", worker="w", thread=1, startstops=(("compute", T0, T0 + 1),)):
    return TaskTransition("r", key, prefix, "processing", finish, worker, thread, startstops)


def test_prefix_colours_are_stable_and_shared():
    assert prefix_color("inc") == prefix_color("inc") in PALETTE
    assert len({prefix_color(f"p{i}") for i in range(200)}) == len(PALETTE)
    # a key from a file name's undecodable bytes (lone surrogates) has a colour too:
    # it raised, and the task stream and progress panes stopped updating
    odd = b"r\xe9sum\xe9".decode("utf-8", "surrogateescape")
    assert prefix_color(odd) == prefix_color(odd) in PALETTE
    data = task_rectangles([rec(f"{odd}-1", odd, startstops=(("compute", T0, T0 + 1),))], {})
    assert data["name"] == [odd]


def test_palette_colours_stand_out_from_the_empty_bar_and_from_each_other():
    """A progress bar's done part is its prefix's colour at alpha 0.35 over the white bar:
    pastels (#dbdb8d, 1.13 to 1 against white so blended) could not be told from the
    empty part.  Blended so, every colour keeps WCAG contrast 1.25 with white; unblended, 2
    with black (labels); and no two are nearer than 20 in RGB."""
    import itertools
    import math

    def rgb(colour):
        return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]

    def luminance(channels):
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
                   for c in (v / 255 for v in channels)]  # fmt: skip
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    def contrast(a, b):
        high, low = sorted((luminance(a), luminance(b)), reverse=True)
        return (high + 0.05) / (low + 0.05)

    white, black = [255] * 3, [0] * 3
    done = {c: [0.35 * v + 0.65 * 255 for v in rgb(c)] for c in PALETTE}  # (_STYLE: 0.35)
    assert len(set(PALETTE)) == 24
    pale = {c: round(contrast(d, white), 3) for c, d in done.items() if contrast(d, white) < 1.25}
    assert not pale, pale
    assert all(contrast(rgb(c), black) >= 2.0 for c in PALETTE)
    near = [(a, b) for a, b in itertools.combinations(PALETTE, 2) if math.dist(rgb(a), rgb(b)) < 20]
    assert not near, near


def test_prefixes_shown_together_get_colours_apart():
    """The tutorial's groupby has two phases whose names hash to one colour: the
    dashboard gives the second the next free colour, in every pane, and takes colours
    back only from prefixes no longer shown once the palette is used up."""
    from shoal.diagnostics.colors import PrefixColors

    chunk, combine = "groupby-mean-chunk", "groupby-mean-combine"
    assert prefix_color(chunk) == prefix_color(combine)  # (what made them one pink)
    s = DashboardState()
    s.ingest(GraphSubmitted("r", "threads", 2, {chunk: 1, combine: 1}, (), T0))
    s.ingest(rec(f"{chunk}-1", chunk))
    s.ingest(rec(f"{combine}-1", combine))
    bars = {p: c for p, c in zip(*(progress_rows(s.progress(), colors=s.colors)[k]
                                   for k in ("prefix", "color"))) if p}  # fmt: skip
    stream = task_rectangles(s.tasks.since(0)[1], {}, colors=s.colors)
    assert bars[chunk] == prefix_color(chunk) != bars[combine] in PALETTE
    assert dict(zip(stream["name"], stream["color"])) == bars  # the same in each pane
    assert compute_time_bars(s.compute_time(), s.colors)["color"] == [bars[chunk], bars[combine]]

    palette, shown = ["red", "green"], {"a", "b"}
    colors = PrefixColors(palette, in_use=lambda: shown)
    a, b = colors("a"), colors("b")
    assert {a, b} == set(palette) and a == prefix_color("a", palette)
    assert colors("c") == prefix_color("c", palette)  # all shown: it shares its own
    shown = {"a"}  # "b" and "c" left the view: the next prefix takes a freed colour
    assert colors("d") == b and colors("a") == a


def test_prefix_colours_stay_cheap_when_every_key_names_its_own_prefix():
    """Once the palette is used up, the prefixes out of view are forgotten at most each
    time the remembered ones doubled: a session naming every key uniquely asked the
    state for the prefixes in use at every new one (quadratic, on the server's loop)."""
    from shoal.diagnostics.colors import PrefixColors

    asked = []

    def in_use():
        asked.append(1)
        return {f"p{i}" for i in range(5000)}  # (all still shown: nothing to free)

    colors = PrefixColors(in_use=in_use)
    assert len({colors(f"p{i}") for i in range(5000)}) == len(PALETTE)
    assert len(asked) <= 10  # 24, 48, 96, ... 3072: about log2(5000 / 24)


def test_task_rectangles():
    rows = {}
    data = task_rectangles([
        rec("inc-1", "inc", thread=1),
        rec("inc-2", "inc", "erred", thread=2),
        rec("sum-1", "sum", thread=1, startstops=(("transfer", T0, T0 + 0.5),
                                                  {"action": "compute", "start": T0 + 0.5,
                                                   "stop": T0 + 2})),
    ], rows)  # fmt: skip
    assert rows == {("w", 1): 0, ("w", 2): 1}
    assert data["left"] == [T0 * 1000, T0 * 1000, T0 * 1000, (T0 + 0.5) * 1000]
    assert data["right"] == [(T0 + 1) * 1000, (T0 + 1) * 1000, (T0 + 0.5) * 1000, (T0 + 2) * 1000]
    assert data["bottom"] == [-0.4, 0.6, -0.4, -0.4]
    assert data["color"] == [prefix_color("inc"), "black", "red", prefix_color("sum")]
    assert data["alpha"] == [1.0, 1.0, 0.4, 1.0]
    assert data["name"] == ["inc", "inc", "transfer-sum", "sum"]
    assert data["duration"] == [1.0, 1.0, 0.5, 1.5]
    assert data["key"] == ["inc-1", "inc-2", "sum-1", "sum-1"]


def test_tiny_back_to_back_tasks_are_drawn_as_one_rectangle():
    def tiny(i, prefix="inc", thread=1, gap=0.0001, took=0.00001, finish="memory"):
        start = T0 + i * (took + gap)
        return rec(f"{prefix}-{i}", prefix, finish, thread=thread,
                   startstops=(("compute", start, start + took),))  # fmt: skip

    records = [tiny(i) for i in range(100)]
    records += [tiny(100, "sum")]  # another colour: a new rectangle
    records += [tiny(i, thread=2) for i in range(3)]  # another row
    records += [rec("long", "inc", startstops=(("compute", T0 + 1, T0 + 2),))]  # too long to merge
    records += [tiny(i) for i in range(20_000, 20_002)]  # after a gap of 2 s
    records += [tiny(20_002, finish="erred")]  # black, not the prefix colour
    records += [tiny(i, thread=3, gap=0.0019) for i in range(3)]  # sparse: a nearly idle thread
    data = task_rectangles(records, {}, merge_below=0.002)
    assert data["tasks"] == [100, 1, 3, 1, 2, 1, 1, 1, 1]
    assert data["key"][:3] == ["inc-0", "sum-100", "inc-0"] and data["name"][:2] == ["inc", "sum"]
    assert data["left"][0] == T0 * 1000
    assert data["right"][0] == pytest.approx((T0 + 99 * 0.00011 + 0.00001) * 1000)
    assert data["duration"][0] == pytest.approx(100 * 0.00001, rel=0.01)  # compute time, not the span
    assert data["bottom"][:3] == [-0.4, -0.4, 0.6]
    # without merging: one rectangle per task
    assert len(task_rectangles(records, {})["left"]) == len(records)


def test_prefixes_that_share_a_colour_are_never_drawn_as_one_rectangle():
    """24 colours for any number of prefixes: "inc" and "dec" get the same one, and
    their tiny tasks back to back were one rectangle labelled "inc"."""
    assert prefix_color("inc") == prefix_color("dec")  # (the palette's clash this covers)
    records = []
    for i in range(6):
        start = T0 + i * 0.0001
        records.append(rec(f"{'inc' if i < 3 else 'dec'}-{i}", "inc" if i < 3 else "dec",
                           startstops=(("compute", start, start + 0.00001),)))  # fmt: skip
    data = task_rectangles(records, {}, merge_below=0.002)
    assert data["name"] == ["inc", "dec"] and data["tasks"] == [3, 3]


def test_the_work_after_the_last_idle_gap():
    assert last_gap([5_000], [6_000], None, 5) is None  # nothing before
    assert last_gap([5_000], [6_000], 1_000, 5) is None  # 4 s after: no gap
    assert last_gap([7_000], [8_000], 1_000, 5) == 7_000  # 6 s after
    # within one update (a page opened later): the last gap counts, work that
    # overlaps the gap (a long task) closes it
    assert last_gap([0, 500, 20_000, 40_000, 40_100], [400, 900, 21_000, 41_000, 40_200],
                    None, 5) == 40_000  # fmt: skip
    assert last_gap([0, 500, 20_000], [400, 30_000, 21_000], None, 5) is None


def test_progress_rows_and_summary():
    progress = {
        "inc": {"memory": 2, "erred": 1, "processing": 1, "queued": 0, "waiting": 0, "released": 0, "total": 4},
        "sum": {"memory": 0, "erred": 0, "processing": 0, "queued": 2, "waiting": 2, "released": 0,
                "total": 4},
    }
    rows = progress_rows(progress)
    assert rows["prefix"] == ["inc", "sum", ""]  # the summary line last, above the bars
    assert rows["y"] == [0, -1, SUMMARY_Y]
    assert rows["bottom"][:2] == [-0.4, -1.4] and rows["top"][:2] == [0.4, -0.6]
    assert rows["bottom"][2] == rows["top"][2] == SUMMARY_Y  # no bar, no hover area
    assert rows["frame_alpha"] == [1.0, 1.0, 0.0]
    # released | in memory | erred | processing, left to right; waiting unfilled
    assert [rows[f"{s}_left"][0] for s in ("released", "memory", "erred", "processing")] == [
        0.0, 0.0, 0.5, 0.75]
    assert [rows[f"{s}_right"][0] for s in ("released", "memory", "erred", "processing")] == [
        0.0, 0.5, 0.75, 1.0]
    assert all(rows[f"{s}_right"][1] == 0.0 for s in ("released", "memory", "erred", "processing"))
    # queued (hatched) after processing: half of sum's bar; the rest waiting
    assert (rows["queued_left"][1], rows["queued_right"][1]) == (0.0, 0.5)
    assert rows["queued_left"][0] == rows["queued_right"][0] == 1.0  # none queued
    assert rows["memory"] == [2, 0, 2] and rows["erred"] == [1, 0, 1] and rows["total"] == [4, 4, 8]
    assert rows["waiting"] == [0, 2, 2] and rows["queued"] == [0, 2, 2]
    assert rows["color"][:2] == [prefix_color("inc"), prefix_color("sum")]
    assert rows["text"] == ["inc: 3 / 4", "sum: 0 / 4", progress_summary(
        {"total": 8, "waiting": 2, "queued": 2, "processing": 1, "memory": 2, "erred": 1,
         "released": 0})]  # fmt: skip
    # erred first (a narrow page cuts the line at the right), zeros left out
    assert rows["text"][2] == "8 tasks: 1 erred, 2 in memory, 1 processing, 2 queued, 2 waiting"
    assert progress_rows({})["text"] == [progress_summary(dict.fromkeys(
        ("total", "waiting", "processing", "memory", "erred", "released"), 0))] == ["0 tasks"]


def test_progress_keeps_the_busy_prefixes_and_sums_up_the_rest_past_its_bars():
    def row(done, waiting):
        return {"memory": done, "erred": 0, "processing": 0, "queued": 0, "waiting": waiting, "released": 0,
                "total": done + waiting}  # fmt: skip

    progress = {f"p{i}": row(1, 1 if i in (3, 150) else 0) for i in range(200)}
    rows = progress_rows(progress, max_rows=10)
    bars = rows["prefix"][:-1]
    assert len(bars) == 10 and bars[-1] == "191 other prefixes"
    assert bars[:-1] == ["p3", "p150", *[f"p{i}" for i in range(193, 200)]]  # busy, then newest
    assert rows["text"][-2] == "191 other prefixes: 191 / 191" and rows["color"][-2] == "#999999"
    assert rows["text"][-1] == "202 tasks: 200 in memory, 2 waiting"  # the sum is still of all
    assert progress_rows(dict(list(progress.items())[:10]), max_rows=10)["prefix"][:-1] == [
        f"p{i}" for i in range(10)]  # (no more than fit: all of them)


def test_exception_and_compute_time_columns():
    rows = [{"key": "a-1", "prefix": "a", "exception": "E1", "workers": ["w1", "w2"], "count": 2},
            {"key": "b-1", "prefix": "b", "exception": "E2", "workers": [], "count": 1}]
    assert exception_columns(rows) == {"key": ["b-1", "a-1"], "prefix": ["b", "a"],
                                       "exception": ["E2", "E1"], "workers": ["", "w1, w2"],
                                       "count": [1, 2],
                                       "info": ["info/task/b-1.html", "info/task/a-1.html"]}  # fmt: skip
    assert task_link("('x-1', 0)") == "info/task/%28%27x-1%27%2C%200%29.html"  # (one segment)
    data = compute_time_bars({"a": (1.0, 4), "b": (3.0, 1)})
    assert data["prefix"] == ["b", "a"]
    assert data["right"] == [3.0, 1.0]
    assert data["mean"] == [3.0, 0.25]
    assert data["text"] == ["b: 3.00 s", "a: 1.00 s"]


def test_memory_colours_follow_the_thresholds():
    assert memory_color(500, 1000, TH) == "#1f77b4"
    assert memory_color(600, 1000, TH) == "orange"
    assert memory_color(800, 1000, TH) == "red"
    assert memory_color(10**9, 0, TH) == "#1f77b4"  # no limit
    # paused: red until it resumes, which it does only some way below the pause threshold
    assert memory_color(600, 1000, TH, paused=True) == "red"
    assert memory_color(0, 0, TH, paused=True) == "red"
    off = dict(TH, target=None, spill=None)
    assert memory_color(750, 1000, off) == "#1f77b4"
    # over its limit is red whatever is switched off (it was orange, or blue)
    no_stops = dict(TH, pause=None, terminate=None)
    assert memory_color(999, 1000, no_stops) == "orange"
    assert memory_color(1420, 1000, no_stops) == "red"
    assert memory_color(1000, 1000, dict.fromkeys(TH)) == "red"
    assert memory_thresholds(lambda k, d=None: {"distributed.worker.memory.spill": False}.get(
        k, 0.5))["spill"] is None  # fmt: skip
    assert memory_thresholds()["terminate"] == 0.95


def workers():
    return [
        {"address": "tcp://a:1", "name": "a", "managed": 300, "unmanaged": 100, "spilled": 50,
         "memory_limit": 1000, "nthreads": 2, "cpu": 50.0, "processing": 1, "occupancy": 0.5,
         "executing": 1, "ready": 0},
        {"address": "tcp://b:1", "name": "b", "managed": 0, "unmanaged": 900, "spilled": 0,
         "memory_limit": 1000, "nthreads": 1, "cpu": 100.0, "processing": 5, "occupancy": 2.5,
         "executing": 1, "ready": 4},
    ]  # fmt: skip


def test_memory_bars():
    bars, limits = memory_bars(workers(), TH)
    assert bars["segment"] == ["managed", "unmanaged", "spilled", "unmanaged"]
    assert bars["left"] == [0, 300, 400, 0]
    assert bars["right"] == [300, 400, 450, 900]
    assert bars["color"] == ["#1f77b4", "#1f77b4", "grey", "red"]
    assert bars["alpha"] == [1.0, 0.6, 0.6, 0.6]
    assert bars["info"][0] == worker_link("tcp://a:1") == "info/worker/tcp%3A%2F%2Fa%3A1.html"
    assert limits == {"x": [1000, 1000], "bottom": [-0.45, -1.45], "top": [0.45, -0.55]}
    total = cluster_totals(workers())
    assert (total["managed"], total["unmanaged"], total["spilled"], total["memory_limit"]) == (
        300, 1000, 50, 2000)
    assert memory_title(total) == "Bytes stored: 1.27 kiB + 50 B spilled to disk"
    assert prefix_bytes_bars({"a": 10, "b": 20})["prefix"] == ["b", "a"]
    paused = workers()
    paused[0]["paused"] = True  # (400 of 1000: blue by its memory alone)
    assert memory_bars(paused, TH)[0]["color"] == ["red", "red", "grey", "red"]
    assert memory_look(paused, 1000, TH)[0][0] == "red"


def test_the_cluster_bar_is_coloured_as_its_fullest_worker():
    """Summed usage over summed limits diluted a paused (red) worker with the others'
    room: the cluster's bar stayed blue."""
    from shoal.dashboard.panes.memory import ClusterMemory

    state = DashboardState()
    for name, held in (("a", 100), ("b", 920)):
        state.ingest(WorkerAdded(f"tcp://{name}:1", 1, 1000, name, 0.0))
        state.ingest(WorkerMetrics(f"tcp://{name}:1", 1.0, managed=held, memory_limit=1000,
                                   paused=name == "b"))  # fmt: skip
    pane = ClusterMemory(state)
    pane.refresh()
    assert set(pane.source.data["color"]) == {"red"}
    state.ingest(WorkerMetrics("tcp://b:1", 2.0, managed=650, memory_limit=1000))
    pane.refresh()
    assert set(pane.source.data["color"]) == {memory_color(650, 1000, pane.thresholds)} == {
        "orange"}


def test_memory_look_ignores_sub_pixel_growth():
    gib = 2**30
    base = [dict(w, memory_limit=4 * gib, managed=gib, unmanaged=gib // 2) for w in workers()]
    look = memory_look(base, 4 * gib, TH)
    grown = [dict(w, managed=w["managed"] + 280_000) for w in base]  # 10,000 small results
    assert memory_look(grown, 4 * gib, TH) == look
    moved = [dict(w, managed=w["managed"] + gib // 100) for w in base]  # 1% of the axis: visible
    assert memory_look(moved, 4 * gib, TH) != look
    hot = [dict(w, unmanaged=3 * gib) for w in base]  # past the thresholds: another colour
    assert memory_look(hot, 4 * gib, TH)[0][0] != look[0][0]
    assert memory_look(base[:1], 4 * gib, TH) != look  # a worker left


def test_same_look_skips_until_the_settle_time(monkeypatch):
    from shoal.dashboard.panes import _base

    clock = [100.0]
    monkeypatch.setattr(_base.time, "monotonic", lambda: clock[0])
    pane = _base.Pane(DashboardState())
    assert not pane.same_look(("a", 1))  # first draw
    clock[0] += 0.2
    assert pane.same_look(("a", 1))  # nothing visible moved: skip
    assert not pane.same_look(("a", 2))  # it moved: draw
    clock[0] += _base.SETTLE - 0.01
    assert pane.same_look(("a", 2))
    clock[0] += 0.02
    assert not pane.same_look(("a", 2))  # exact figures are at most SETTLE late


def test_a_skipped_memory_update_is_sent_within_settle_without_new_records(monkeypatch):
    """Bytes grow by less than the picture shows, then nothing more arrives: the
    titles' exact figure still arrives once SETTLE has passed."""
    from shoal.dashboard.panes import _base
    from shoal.dashboard.panes.memory import ClusterMemory

    clock = [100.0]
    monkeypatch.setattr(_base.time, "monotonic", lambda: clock[0])
    state = DashboardState()
    state.ingest(WorkerAdded("tcp://a:1", 1, 2**32, "a", 0.0))
    state.ingest(WorkerMetrics("tcp://a:1", 1.0, 2**30, 0, 0, 2**32, 1.0, 0, 0, None))
    pane = ClusterMemory(state)
    pane.update()
    assert pane.root.title.text.startswith("Bytes stored on the cluster: 1.00 GiB")
    clock[0] += 0.1
    state.ingest(WorkerMetrics("tcp://a:1", 2.0, 2**30 + 300_000, 0, 0, 2**32, 1.0, 0, 0, None))
    pane.update()  # under a thousandth of the axis: skipped
    assert pane.source.data["nbytes"] == [2**30]
    clock[0] += 0.5
    pane.update()  # nothing new, not yet due
    assert pane.source.data["nbytes"] == [2**30]
    clock[0] += _base.SETTLE
    pane.update()  # nothing new, but the skipped figure is due
    assert pane.source.data["nbytes"] == [2**30 + 300_000]
    pane.update()
    assert not pane._overdue()


def test_worker_bars_and_table():
    data = worker_bars(workers(), "processing")
    assert data["right"] == [1, 5] and data["color"] == ["red", "green"]
    assert worker_bars(workers(), "occupancy")["text"] == ["500.0 ms", "2.50 s"]
    assert worker_bars(workers(), "cpu")["text"] == ["50 %", "100 %"]
    table = worker_table(workers())
    assert table["name"] == ["Total", "a", "b"]
    assert table["nthreads"] == [3, 2, 1]
    assert table["memory"] == ["1.27 kiB", "400 B", "900 B"]
    assert table["memory_pct"] == [65.0, 40.0, 90.0]
    assert table["processing"] == [6, 1, 5]
    assert table["info"] == ["", worker_link("tcp://a:1"), worker_link("tcp://b:1")]
    assert worker_table([])["name"] == []
    # bars grow from zero (no "-1 tasks" while idle), and a count has whole ticks
    nprocessing, cpu = PANES["nprocessing"](DashboardState()), PANES["cpu"](DashboardState())
    assert nprocessing.root.x_range.start == 0 and cpu.root.x_range.start == 0
    assert nprocessing.root.xaxis[0].ticker.min_interval == 1
    # the axis set with the bars (a data range made the browser paint twice): past the longest
    nprocessing.fit_x(workers(), worker_bars(workers(), "processing"))
    assert (nprocessing.root.x_range.start, nprocessing.root.x_range.end) == (0, 5.25)
    nprocessing.fit_x([], worker_bars([], "processing"))
    assert nprocessing.root.x_range.end == 1.0  # (idle: one task's room)
    occupancy = PANES["occupancy"](DashboardState())  # seconds: small loads are not slivers
    occupancy.fit_x(workers(), worker_bars([dict(w, occupancy=0.04) for w in workers()], "occupancy"))
    assert occupancy.root.x_range.end == 0.1
    assert cpu.root.xaxis[0].ticker.min_interval != 1
    # CPU bars on a scale of what the workers' threads can use, not stretched to the busiest
    assert cpu_axis_end(workers()) == 200.0 and cpu_axis_end([]) == 100.0
    assert cpu_axis_end([{"nthreads": 1, "cpu": 180.0}]) == 180.0
    cpu.state.ingest(WorkerAdded("tcp://w:1", 4))
    cpu.refresh()
    assert (cpu.root.x_range.start, cpu.root.x_range.end) == (0, 400.0)


def test_the_workers_page_table_shrinks_to_its_rows_and_gives_the_address_room():
    """/workers' table kept 320 px for two workers (a gap above the plots), and its
    equal columns cut the address to "tcp://127.0.0.1:4…"."""
    s = DashboardState()
    table = PANES["workers"](s, height=320)
    for i in range(2):
        s.ingest(WorkerAdded(f"tcp://127.0.0.1:{4000 + i}", 1))
    table.refresh()
    assert table.root.height == 25 * 4 + 10  # header, total and two workers
    for i in range(2, 30):
        s.ingest(WorkerAdded(f"tcp://127.0.0.1:{4000 + i}", 1))
    table.refresh()
    assert table.root.height == 320  # at most its given height: then it scrolls
    widths = {c.field: c.width for c in table.root.columns}
    assert widths["address"] == max(widths.values()) > widths["nthreads"]
    assert PANES["workers"](s).root.sizing_mode == "stretch_both"  # (alone: the whole page)


def test_many_workers_are_drawn_as_histograms():
    """Past HISTOGRAM_FROM workers a bar each is a pixel or two high: the per-worker
    panes count workers per level instead, as Dask's do."""
    from shoal.dashboard.panes.memory import memory_histogram
    from shoal.dashboard.panes.style import HISTOGRAM_FROM
    from shoal.dashboard.panes.workers import worker_histogram

    bars, limits = memory_histogram(workers(), TH, 1000)
    assert bars["top"] == [1, 1] and bars["bottom"] == [0, 0]  # one worker at 400 B, one at 900
    assert (bars["left"], bars["right"]) == ([400.0, 900.0], [450.0, 950.0])
    assert bars["color"] == ["#1f77b4", "red"] and bars["worker"] == ["1 worker", "1 worker"]
    assert bars["info"] == ["workers", "workers"] and limits["x"] == []
    load = worker_histogram(workers() * 3, "processing", 5)
    assert sum(load["top"]) == 6 and load["color"] == ["red", "green"]  # idle, saturated
    assert load["worker"] == ["3 workers", "3 workers"]
    assert (load["left"], load["right"], load["text"]) == ([1, 5], [2, 6], ["1", "5"])
    many = [dict(workers()[0], processing=p) for p in range(45)]  # whole bins of 3 tasks
    assert worker_histogram(many, "processing", 44)["text"][:2] == ["0 to 2", "3 to 5"]
    state = DashboardState()
    for i in range(HISTOGRAM_FROM + 1):
        state.ingest(WorkerAdded(f"tcp://w:{i}", 1, 1000, str(i), T0))
        state.ingest(WorkerMetrics(f"tcp://w:{i}", T0 + 1, 10 * i, 0, 0, 1000, 1.0, 0, 0, None))
    for name in ("workers-memory", "nprocessing", "occupancy", "cpu"):
        pane = PANES[name](state)
        pane.update()
        data = pane.source.data
        assert sum(data["top"]) == HISTOGRAM_FROM + 1 and len(data["top"]) <= 20, name
        assert pane.root.yaxis[0].visible and pane.root.y_range.start == 0, name
    cluster = PANES["cluster-memory"](state)  # (one bar, however many workers)
    cluster.update()
    assert cluster.source.data["worker"] == ["cluster"]


def test_icicle_layout_and_zoom():
    tree = normalize_tree({"identifier": "root", "count": 4, "children": [
        {"identifier": "f;a.py;1", "name": "f", "filename": "a.py", "count": 3,
         "children": [{"identifier": "g;a.py;5", "name": "g", "count": 1}]},
        {"identifier": "h;b.py;1", "name": "h", "count": 1}]})  # fmt: skip
    data, paths = icicle(tree)
    assert data["name"] == ["root", "f", "g", "h"]
    assert data["left"] == [0.0, 0.0, 0.0, 0.75]
    assert data["right"] == [1.0, 0.75, 0.25, 1.0]
    assert data["bottom"] == [-1, -2, -3, -2]
    assert data["percent"] == [100.0, 75.0, 25.0, 25.0]
    assert paths[2] == ("f;a.py;1", "g;a.py;5")
    assert subtree(tree, paths[1])["name"] == "f"
    assert subtree(tree, ("nope",)) is tree
    assert icicle(tree, min_fraction=0.3)[0]["name"] == ["root", "f"]
    # labels fit their rectangles (a canvas label is not clipped): cut, or none at all
    assert data["label"] == data["name"]  # short names fit
    wide = normalize_tree({"identifier": "root", "count": 100, "children": [
        {"identifier": f"f{i};m.py;{i}", "name": f"function_with_a_long_name_{i} (m.py:{i})",
         "count": n} for i, n in enumerate((90, 9, 1))]})  # fmt: skip
    cut = icicle(wide)[0]
    labels = dict(zip(cut["name"], cut["label"]))
    assert labels["function_with_a_long_name_0 (m.py:0)"] == "function_with_a_long_name_0 (m.py:0)"
    assert labels["function_with_a_long_name_1 (m.py:1)"] == "function_with_a_…"  # 9%: 17 characters
    assert labels["function_with_a_long_name_2 (m.py:2)"] == ""  # 1%: no room
    for name, label in labels.items():
        assert len(label) <= max(len(name), 1) and name.startswith(label.rstrip("…"))


def test_sampler_heartbeat_profile_form():
    tree = {"identifier": "root", "count": 3, "children": {}}
    items = profile_items((T0, tree, {"inc": dict(tree, count=2), "sum": dict(tree, count=1)}))
    assert [(p, t["count"]) for p, t in items] == [("inc", 2), ("sum", 1)]
    assert [(p, t["count"]) for p, t in profile_items((T0, tree, {}))] == [("", 3)]


def test_activity_bars():
    activity = [(T0 + 0.2, 3, "inc"), (T0 + 0.7, 2, "sum"), (T0 + 1.1, 5, "inc")]
    data = activity_bars(activity)
    assert data["count"] == [5, 5]
    assert data["x"] == [(T0 + 0.5) * 1000, (T0 + 1.5) * 1000]
    assert activity_bars(activity, prefix="sum")["count"] == [2]


def test_graph_layout():
    nodes = [("a-1", "a", "memory"), ("a-2", "a", "processing"), ("a-3", "a", "waiting"),
             ("b-1", "b", "erred")]
    dots, segments = graph_layout(nodes, rows=2)  # no edges: one layer, a blank between
    assert dots["x"] == [0, 0, 1, 2]  # prefixes (a-3, blank; b-1: the column wraps)
    assert dots["y"] == [0, -1, 0, 0]
    dots, _ = graph_layout(nodes)  # one column: the 4 dots and the blank row, 5 rows
    assert dots["x"] == [0, 0, 0, 0] and dots["y"] == [0, -1, -2, -4]
    assert dots["color"] == [prefix_color("a"), prefix_color("a"), "#dddddd", "black"]
    assert dots["alpha"] == [1.0, 0.35, 1.0, 1.0]
    assert segments == {"x0": [], "y0": [], "x1": [], "y1": []}
    assert node_style("x", "released") == ("white", 1.0, "#999999")


def test_graph_layout_puts_each_key_right_of_its_dependencies():
    # a diamond: a -> (b, c) -> d, and a lone e; listed out of order
    nodes = [("d", "sum", "waiting"), ("b", "inc", "waiting"), ("a", "load", "memory"),
             ("c", "inc", "waiting"), ("e", "other", "waiting")]
    edges = [(2, 1), (2, 3), (1, 0), (3, 0)]
    assert layers(5, edges) == [2, 1, 0, 1, 0]
    dots, segments = graph_layout(nodes, edges, rows=40)
    x = dict(zip(dots["key"], dots["x"]))
    assert x["a"] < x["b"] == x["c"] < x["d"] and x["e"] == x["a"]  # one column per layer
    pos = {k: (x[k], y) for k, y in zip(dots["key"], dots["y"])}
    got = set(zip(segments["x0"], segments["y0"], segments["x1"], segments["y1"]))
    assert got == {(*pos[nodes[i][0]], *pos[nodes[j][0]]) for i, j in edges}
    # a tree's inner keys, submitted in reverse, are placed next to their inputs
    leaves = [(f"l{i}", "leaf", "memory") for i in range(8)]
    inner = [(f"a{k}", "add", "waiting") for k in (3, 2, 1, 0)]
    tree_edges = [(2 * k + c, 8 + (3 - k)) for k in range(4) for c in (0, 1)]
    dots, _ = graph_layout(leaves + inner, tree_edges)
    y = dict(zip(dots["key"], dots["y"]))
    assert [y[f"a{k}"] for k in range(4)] == [-2, -3, -4, -5]  # in order, centred on 8 rows
    # an edge between two layers passes by no dot of another group (a column per
    # group drew a read -> split edge through an unrelated random_sample between them)
    nodes = ([(f"read-{i}", "read", "memory") for i in range(3)]
             + [(f"rand-{i}", "rand", "memory") for i in range(4)]
             + [(f"split-{i}", "split", "waiting") for i in range(3)])  # fmt: skip
    dots, segments = graph_layout(nodes, [(i, 7 + i) for i in range(3)])
    at = set(zip(dots["x"], dots["y"]))
    for x0, y0, x1, y1 in zip(*(segments[c] for c in ("x0", "y0", "x1", "y1"))):
        assert x1 - x0 == 2  # (neighbouring layers: nothing drawn in between)
        assert not {(x, y) for x, y in at if x0 < x < x1}
    # a long chain needs no recursion and stays linear
    chain = [(i, i + 1) for i in range(4_999)]
    assert layers(5_000, chain)[-1] == 4_999


def test_system_columns_and_formats():
    assert system_columns([{"time": T0, "cpu": 5.0, "memory": 10}]) == {
        "time": [T0 * 1000], "cpu": [5.0], "memory": [10], "num_fds": [0]}
    assert format_bytes(2**20) == "1.00 MiB"


def busy_state():
    s = DashboardState()
    s.ingest(SystemMetrics(T0, cpu=3.0, memory=100))
    s.ingest(WorkerAdded("tcp://a:1", 2, 1000, "a", T0))
    s.ingest(GraphSubmitted("r", "threads", 3, {"inc": 2, "sum": 1}, (), T0))
    s.ingest(rec("inc-1", "inc", worker="tcp://a:1"))
    s.ingest(rec("inc-2", "inc", "erred", worker="tcp://a:1"))
    tree = {"identifier": "root", "count": 2, "children": [{"identifier": "f;a.py;1", "count": 2}]}
    s.ingest(WorkerMetrics("tcp://a:1", T0, 10, 20, 0, 1000, 50.0, 1, 0, (("inc", tree),)))
    return s


@pytest.fixture
def no_pane_errors(caplog):
    """Panes log (rather than raise) what goes wrong in update(): fail on any of it."""
    with caplog.at_level("WARNING", logger="shoal.dashboard"):
        yield
    assert not caplog.records, caplog.text


@pytest.mark.parametrize("route", sorted(pages.PAGES))
def test_pages_build_valid_documents(route, no_pane_errors):
    doc = Document()
    pages.PAGES[route](busy_state(), doc)
    assert doc.roots
    issues = check_integrity(doc.models)
    assert not issues.error and not issues.warning, issues
    assert doc.callbacks.session_callbacks  # the periodic refresh


def test_status_refreshes_only_the_active_tab(no_pane_errors):
    from bokeh.models import Tabs

    doc = Document()
    pages.status_doc(busy_state(), doc)
    [tabs] = [m for m in doc.models if isinstance(m, Tabs)]
    [callback] = doc.callbacks.session_callbacks

    def filled(i):  # has the pane in tab i pushed any data?
        sources = [r.data_source for r in tabs.tabs[i].child.renderers]
        return any(len(next(iter(src.data.values()), [])) for src in sources)

    assert tabs.active == 0 and filled(0) and not filled(1) and not filled(2)
    tabs.active = 2  # the user picks "Occupancy": it fills at the next tick
    callback.callback()
    assert filled(2) and not filled(1)


@pytest.mark.parametrize("name", sorted(PANES))
def test_every_pane_fills_its_source(name, no_pane_errors):
    doc = Document()
    pages.individual_doc(busy_state(), name, doc)
    issues = check_integrity(doc.models)
    assert not issues.error and not issues.warning, issues
    pane_sources = [m for m in doc.models if type(m).__name__ == "ColumnDataSource"]
    assert any(len(next(iter(m.data.values()), [])) for m in pane_sources), name


def test_task_stream_pulls_only_new_records_with_rollover():
    s = DashboardState()
    pane = TaskStream(s, n_rectangles=3, clear_interval=5)
    for i in range(2):
        s.ingest(rec(f"x-{i}", "x"))
    pane.update()
    assert len(pane.source.data["left"]) == 2 and pane.cursor == 2
    pane.update()  # nothing new
    assert len(pane.source.data["left"]) == 2
    for i in range(2, 5):
        s.ingest(rec(f"x-{i}", "x"))
    pane.update()
    assert pane.source.data["key"] == ["x-2", "x-3", "x-4"]
    s.ingest(rec("late", "x", startstops=(("compute", T0 + 60, T0 + 61),)))
    pane.update()  # after an idle gap the old rectangles go
    assert pane.source.data["key"] == ["late"]
    late = TaskStream(s, n_rectangles=2)  # a new page starts from recent history...
    late.update()
    assert late.source.data["key"] == ["late"]  # ...after its last idle gap (as the open one)
    s.ingest(rec("later", "x", startstops=(("compute", T0 + 62, T0 + 63),)))
    late.update()
    assert late.source.data["key"] == ["late", "later"]


@pytest.mark.parametrize("route", ["/status", "/tasks", "task-stream"])
def test_a_page_opened_after_the_work_shows_it(route, no_pane_errors):
    """The history a page opens with goes in with its document, where no ``streaming``
    signal fits the view to it: the view stayed on the ten seconds before the page
    opened, and the work (long before) showed only after Reset."""
    from bokeh.models import Range1d

    doc = Document()
    if route.startswith("/"):  # (its tasks ran at T0: long ago)
        pages.PAGES[route](busy_state(), doc)
    else:
        pages.individual_doc(busy_state(), route, doc)
    [stream] = [m for m in doc.models
                if type(m).__name__ == "ColumnDataSource" and "duration" in m.data]  # fmt: skip
    x_ranges = [m for m in doc.models if isinstance(m, Range1d) and m.start > 1e12]  # (ms: time)
    assert len(x_ranges) == 1
    (x,) = x_ranges
    left, right = min(stream.data["left"]), max(stream.data["right"])
    assert x.start < left and right < x.end and x.end - x.start < 2 * (right - left) + 10


def test_the_task_stream_sends_no_more_than_it_keeps_and_resumes_from_recent_history():
    """A page back in sight after a while out of it got every task finished meanwhile
    in its first update (a megabyte for 8,000 tasks), most of it rolled over at once."""
    s = DashboardState()
    pane = TaskStream(s, n_rectangles=3, clear_interval=5)
    s.ingest(rec("x-0", "x"))
    pane.update()
    for i in range(1, 9):  # back-to-back one-second tasks: no idle gap, no merging
        s.ingest(rec(f"x-{i}", "x", startstops=(("compute", T0 + i, T0 + i + 1),)))
    from bokeh.document import Document
    from bokeh.document.events import ColumnsStreamedEvent

    doc, sent = Document(), []  # (how many rectangles each update sends the page)
    doc.add_root(pane.root)
    doc.on_change(lambda e: sent.append(len(e.data["key"])) if isinstance(e, ColumnsStreamedEvent)
                  else None)  # fmt: skip
    pane.update()
    assert sent == [3] and pane.source.data["key"] == ["x-6", "x-7", "x-8"]

    for i in range(9, 20):  # out of sight meanwhile
        s.ingest(rec(f"x-{i}", "x", startstops=(("compute", T0 + i, T0 + i + 1),)))
    pane.resume()
    assert pane.cursor == s.tasks.count - 3 and pane.source.data["key"] == []
    pane.update()
    assert sent == [3, 3] and pane.source.data["key"] == ["x-17", "x-18", "x-19"]
    pane.resume()  # nothing missed: nothing dropped
    assert pane.source.data["key"] == ["x-17", "x-18", "x-19"]


def test_the_task_streams_rows_start_over_after_an_idle_gap():
    """One row per worker thread: workers that come and go (an adaptive cluster) took
    a new row each for good; after an idle gap the rows are those of the threads
    that work from then on, numbered from the top again."""
    s = DashboardState()
    pane = TaskStream(s, clear_interval=5)
    for i in range(4):  # four workers' threads, one task each
        s.ingest(rec(f"x-{i}", "x", worker=f"tcp://w{i}:1", thread=1))
    pane.update()
    assert len(pane.rows) == 4 and sorted(pane.source.data["bottom"]) == [-0.4, 0.6, 1.6, 2.6]
    s.ingest(rec("before", "x", worker="tcp://w0:1", thread=1,
                 startstops=(("compute", T0 + 1, T0 + 2),)))  # fmt: skip
    for i, worker in enumerate(("tcp://w9:1", "tcp://w3:1")):  # after a gap: two workers
        s.ingest(rec(f"y-{i}", "y", worker=worker, thread=1,
                     startstops=(("compute", T0 + 60, T0 + 61),)))  # fmt: skip
    pane.update()  # (the records before and after the gap in one update)
    assert pane.source.data["key"] == ["y-0", "y-1"]
    assert pane.rows == {("tcp://w9:1", 1): 0, ("tcp://w3:1", 1): 1}
    assert pane.source.data["bottom"] == [-0.4, 0.6]
    # a task whose input came before a gap and which ran after it: its compute stays
    s.ingest(rec("z-0", "z", startstops=(("transfer", T0 + 62, T0 + 63),
                                         ("compute", T0 + 90, T0 + 91))))  # fmt: skip
    pane.update()
    assert pane.source.data["key"] == ["z-0"] and pane.source.data["name"] == ["z"]


def test_a_prefix_with_only_queued_tasks_keeps_its_bar_among_many():
    """Past ``MAX_ROWS`` prefixes the idle ones share a bar; one whose tasks are all
    queued (held back by the scheduler) has work to do and keeps its own."""
    row = {"memory": 1, "erred": 0, "processing": 0, "queued": 0, "waiting": 0, "released": 0,
           "total": 1}  # fmt: skip
    progress = {"roots": {**row, "memory": 0, "queued": 1000, "total": 1000}}
    progress.update({f"p{i}": dict(row) for i in range(30)})
    rows = progress_rows(progress)
    assert "roots" in rows["prefix"] and "12 other prefixes" in rows["prefix"]  # 31 - 19 shown


def test_json_listings():
    assert pages.pane_routes()["Task Stream"] == "/individual-task-stream"
    plots = pages.individual_plots()
    assert plots["Individual Task Stream"] == "/individual-task-stream"
    assert plots["Individual Compute Time Per Key"] == "/individual-compute-time-per-key"
    assert len(plots) == len(PANES) == 14


def test_time_axes_show_clock_times():
    """A datetime axis reads "03:14:16.500" in the reader's time zone, not Bokeh's "500ms"
    beside a date line, in UTC (the labels themselves: test_browser.py); labels that
    would touch are left out (in a 300 px pane they ran into each other)."""
    from bokeh.models import CustomJSTickFormatter, NoOverlap

    from shoal.dashboard.panes._base import make_figure
    from shoal.diagnostics.report import LOCAL_CLOCK_JS

    def local_clock(fig):
        formatter, policy = fig.xaxis[0].formatter, fig.xaxis[0].major_label_policy
        return (isinstance(formatter, CustomJSTickFormatter) and formatter.code == LOCAL_CLOCK_JS
                and isinstance(policy, NoOverlap))

    assert local_clock(make_figure("t", x_axis_type="datetime"))
    assert local_clock(PANES["task-stream"](DashboardState()).root)
    for name in ("system", "profile"):  # every datetime axis of these panes
        doc = Document()
        pages.individual_doc(busy_state(), name, doc)
        axes = [f for f in doc.models if hasattr(f, "xaxis") and f.xaxis
                and type(f.xaxis[0]).__name__ == "DatetimeAxis"]
        assert axes and all(map(local_clock, axes)), name
    # the same in a performance report and in visualize()'s plots (they read "500ms")
    from shoal.diagnostics.profile import CacheData, ResourceData, TaskData
    from shoal.diagnostics.report import task_stream_figure
    from shoal.diagnostics.visualize import cache_figure, resource_figure, task_figure

    record = {"key": "a-1", "prefix": "a", "startstops": [("compute", T0, T0 + 1)]}
    for fig in (task_stream_figure([record]), task_figure([TaskData("a-1", "a", T0, T0 + 1, 0)]),
                resource_figure([ResourceData(T0, 1.0, 2.0)]),
                cache_figure([CacheData("a-1", "a", 1, T0, T0 + 1)])):  # fmt: skip
        assert local_clock(fig), fig.title.text


def test_profile_pane_zooms_within_a_zoom_counts_the_frame_and_selects_whole_buckets():
    """A click on a frame inside a zoomed view zooms further (not back to the whole
    tree); the title counts the frame shown, which stays a row high; a selected
    activity bar covers its whole second, not the 0.9 of it drawn."""
    from shoal.dashboard.panes.profile import Profile
    from shoal.dashboard.state import DashboardState
    from shoal.events import WorkerMetrics

    tree = {"name": "root", "count": 10, "children": [
        {"name": "a", "count": 10, "children": [
            {"name": "b", "count": 9, "children": [{"name": "c", "count": 6}]}]}]}  # fmt: skip
    state = DashboardState()
    for t in (100.02, 100.5, 100.97):  # three cycles, one one-second bar
        state.ingest(WorkerMetrics("tcp://w:1", t, profile=(("x", tree),)))
    pane = Profile(state)
    pane.refresh()
    assert pane.figure.title.text == "Profile: all task threads (30 samples)"

    def click(name):
        i = pane.source.data["name"].index(name)
        pane._on_tap("indices", [], [i])

    click("a")
    assert pane.zoom == ("a",) and pane.figure.title.text == "Profile: a (30 samples)"
    click("b")
    assert pane.zoom == ("a", "b") and pane.figure.title.text == "Profile: b (27 samples)"
    click("c")
    assert pane.zoom == ("a", "b", "c") and pane.figure.title.text == "Profile: c (18 samples)"
    assert pane.figure.y_range.start == -10  # a leaf is one row of ten, not a plot-high block
    pane._on_reset()
    assert pane.zoom == () and pane.window is None

    (bar,) = range(len(pane.activity.data["x"]))
    pane._on_select("indices", [], [bar])
    assert pane.window == (100.0, 101.0)
    assert pane.figure.title.text == ("Profile: all task threads (30 samples, in the period "
                                      "selected below)")  # all three  # fmt: skip


def test_another_prefix_is_profiled_whole_and_an_empty_view_says_why():
    """The period chosen on one prefix's bars stayed on the next prefix (hidden; its
    bars at the same positions looked selected), and an empty view said no sample
    was ever taken."""
    from shoal.dashboard.panes.profile import NO_SAMPLES, Profile
    from shoal.dashboard.state import DashboardState
    from shoal.events import WorkerMetrics

    tree = {"name": "root", "count": 5, "children": [{"name": "a", "count": 5}]}
    state = DashboardState()
    state.ingest(WorkerMetrics("tcp://w:1", 100.5, profile=(("f", tree),)))
    state.ingest(WorkerMetrics("tcp://w:1", 110.5, profile=(("g", tree),)))
    pane = Profile(state)
    pane.refresh()
    pane.select.value = "f"
    pane.activity.selected.indices = [0]  # f's one bar: second 100
    assert pane.window == (100.0, 101.0)
    pane.select.value = "g"
    assert pane.window is None and pane.activity.selected.indices == []
    assert pane.figure.title.text == "Profile: task prefix g (5 samples)"
    pane.window = (100.0, 101.0)  # a period without g's samples
    pane.refresh()
    assert pane.figure.title.text == ("Profile: task prefix g (0 samples, in the period selected "
                                      "below)") != NO_SAMPLES  # fmt: skip


def test_a_reports_task_stream_draws_tiny_tasks_together():
    """A report drew a rectangle per task: 100,000 tiny tasks were 19 MB of sub-pixel
    rectangles.  It shapes them as the live task stream does (rectangles.py)."""
    from shoal.diagnostics.report import task_stream_figure

    tiny = [{"key": f"inc-{i}", "prefix": "inc", "status": "OK", "worker": "tcp://w:1", "thread": 7,
             "startstops": ({"action": "compute", "start": T0 + i * 1e-5,
                             "stop": T0 + i * 1e-5 + 5e-6},)} for i in range(1000)]  # fmt: skip
    slow = {"key": "slow-1", "prefix": "slow", "status": "error", "worker": "tcp://w:2",
            "thread": 1, "startstops": ({"action": "compute", "start": T0, "stop": T0 + 1},)}
    fig = task_stream_figure([*tiny, slow])
    (source,) = [m for m in fig.references() if getattr(m, "name", None) == "task-stream"]
    data = source.data
    assert len(data["left"]) == 2 and sorted(data["tasks"]) == [1, 1000]
    i = data["tasks"].index(1000)
    assert (data["left"][i], data["right"][i]) == (T0 * 1000, pytest.approx((T0 + 0.009995) * 1000))
    assert data["key"][i] == "inc-0" and data["worker"][i] == "tcp://w:1 thread 7"
    assert data["color"][data["tasks"].index(1)] == "black"  # (the erred one)


def test_per_prefix_bar_panes_say_why_they_are_empty():
    """An empty frame said nothing: the title now says there is nothing yet, and goes back
    to the heading alone once there are bars."""
    s = DashboardState()
    panes = {name: PANES[name](s) for name in ("memory-by-key", "compute-time-per-key")}
    for pane in panes.values():
        pane.refresh()
    assert panes["memory-by-key"].root.title.text == (
        "Bytes in memory per task prefix (no result is held)")  # fmt: skip
    assert panes["compute-time-per-key"].root.title.text == (
        "Compute time per task prefix (no task has finished yet)")  # fmt: skip
    s.ingest(rec("inc-1", "inc", worker="tcp://a:1"))
    for pane in panes.values():
        pane.refresh()
        assert pane.root.title.text == pane.heading and pane.source.data["prefix"] == ["inc"]


def test_a_failing_pane_logs_its_traceback_once_a_minute_for_all_its_pages(caplog, monkeypatch):
    """Each open page updates its panes several times a second: a pane that fails on some
    state logged the same traceback each time, per page."""
    from shoal.dashboard.panes import _base

    class Broken(_base.Pane):
        name = "broken-for-this-test"

        def refresh(self):
            raise ZeroDivisionError("a bug in a pane")

    state = DashboardState()
    pages_open = [Broken(state), Broken(state)]  # (two pages showing it)
    clock = [1000.0]
    monkeypatch.setattr(_base.time, "monotonic", lambda: clock[0])
    with caplog.at_level("ERROR", logger="shoal.dashboard"):
        for _ in range(5):
            state.generation += 1
            for pane in pages_open:
                pane.update()  # (never raises: the page's callbacks go on)
        clock[0] += _base.FAILURE_LOG_INTERVAL
        state.generation += 1
        pages_open[0].update()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "dashboard pane broken-for-this-test failed to update (1 times in all its pages since "
        "the last such report)",
        "dashboard pane broken-for-this-test failed to update (10 times in all its pages since "
        "the last such report)"], lines  # fmt: skip
    assert "ZeroDivisionError: a bug in a pane" in caplog.text
