"""shoal.distributed.scheduler.progress: the watches behind progress() bars, on
SchedTask records as the state machine leaves them (no server)."""

import pytest

from shoal.distributed.scheduler import progress as P
from shoal.distributed.scheduler.records import SchedTask

pytestmark = pytest.mark.timeout(30)


def _tasks(**deps):
    """{key: SchedTask} with ``deps`` (key -> keys it needs), all released, never run."""
    tasks = {k: SchedTask(k, None) for k in deps}
    for key, needs in deps.items():
        tasks[key].dependencies = {tasks[d] for d in needs}
    return tasks


def test_a_watch_covers_every_task_the_keys_need_and_says_each_done_once():
    tasks = _tasks(**{"a-1": [], "a-2": [], "b-1": ["a-1", "a-2"], "c-1": ["b-1"], "other": []})
    tasks["a-1"].state, tasks["a-1"].nbytes = "memory", 8  # done before the watch
    seconds = iter(range(10**6))  # a second between polls: none comes too soon
    watches = P.ProgressWatches(tasks, clock=lambda: float(next(seconds)))
    got = watches.start(["c-1"])
    assert sorted(got["keys"]) == ["a-1", "a-2", "b-1", "c-1"]  # not "other"
    assert got["done"] == [["a-1", "finished"]]
    token = got["token"]
    assert watches.poll(token) == []
    tasks["a-2"].state, tasks["a-2"].nbytes = "processing", -1
    assert watches.poll(token) == []  # running is not done
    tasks["a-2"].state, tasks["a-2"].nbytes = "released", 16  # ran, its dependent has it
    tasks["b-1"].state = "erred"
    assert sorted(watches.poll(token)) == [["a-2", "finished"], ["b-1", "error"]]
    assert watches.poll(token) == []  # once each
    del tasks["c-1"]  # forgotten before it ran (its client let it go): cancelled
    assert watches.poll(token) == [["c-1", "cancelled"]]
    assert len(watches) == 0  # nothing left to watch: dropped
    assert watches.poll(token) == []


def test_polls_take_at_most_their_share_of_the_schedulers_time(monkeypatch):
    now = [0.0]
    tasks = _tasks(**{f"t-{i}": [] for i in range(1000)})
    watches = P.ProgressWatches(tasks, clock=lambda: now[0])
    token = watches.start(list(tasks))["token"]
    ticks = iter(range(10**6))  # each perf_counter() call 1 ms later: a scan takes 1 ms
    monkeypatch.setattr(P.time, "perf_counter", lambda: next(ticks) / 1000)
    assert watches.poll(token) == []  # scanned: nothing done; the next scan in 0.1 s
    for i in range(10):
        tasks[f"t-{i}"].state = "erred"
    now[0] = 0.05
    assert watches.poll(token) == []  # too soon: not scanned
    assert len(watches.poll(token, final=True)) == 10  # the last poll always scans
    for i in range(10, 20):
        tasks[f"t-{i}"].state = "erred"
    now[0] = 0.2
    assert len(watches.poll(token)) == 10


def test_a_task_forgotten_after_it_ran_finished():
    tasks = _tasks(**{"r": [], "s": []})
    watches = P.ProgressWatches(tasks)
    token = watches.start(["r", "s"])["token"]
    tasks["r"].state, tasks["r"].nbytes = "forgotten", 8  # ran, then let go
    del tasks["r"]
    tasks["s"] = SchedTask("s", None)  # a new task of the same key: the watched one went
    assert sorted(watches.poll(token, final=True)) == [["r", "finished"], ["s", "cancelled"]]
    assert watches.missing(["s"]) == [] and watches.missing(["s", "r"]) == ["r"]


def test_unknown_keys_count_done_and_a_tuple_key_is_a_key():
    tasks = _tasks(**{"x": []})
    tasks[("t", 0)] = SchedTask(("t", 0), None)
    got = P.ProgressWatches(tasks).start(["gone", ("t", 0)])
    assert sorted(map(str, got["keys"])) == ["('t', 0)", "gone"]
    assert got["done"] == [["gone", "finished"]]


def test_watches_expire_when_nobody_polls_and_are_bounded(monkeypatch):
    now = [0.0]
    tasks = _tasks(**{"a": []})
    watches = P.ProgressWatches(tasks, clock=lambda: now[0])
    old = watches.start(["a"])["token"]
    now[0] = P.IDLE_EXPIRY - 1
    kept = watches.start(["a"])["token"]
    assert len(watches) == 2
    now[0] = P.IDLE_EXPIRY + 1  # the first was never polled since its start
    watches.poll(kept)
    assert len(watches) == 1
    tasks["a"].state = "erred"
    assert watches.poll(old) == [] and watches.poll(kept, final=True) == [["a", "error"]]
    monkeypatch.setattr(P, "MAX_WATCHES", 3)
    tasks["a"].state = "released"
    tokens = [watches.start(["a"])["token"] for _ in range(5)]
    assert sorted(watches._watches) == tokens[2:]  # the oldest made room
    watches.stop(tokens[-1])
    assert sorted(watches._watches) == tokens[2:4]
