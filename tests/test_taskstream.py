"""The task stream's selection and its dicts (shoal.distributed.taskstream), and what
the scheduler's log sends for a request: pure, no cluster."""

from __future__ import annotations

import logging

from shoal.bus import Bus
from shoal.distributed.scheduler.diagnostics import TaskStreamLog
from shoal.distributed.taskcolumns import expanded, pack_task_rows
from shoal.distributed.taskstream import finished_rows, pick, task_dicts
from shoal.events import TaskRows, TaskTransition, row_of


def done(key, end, steps=1, finish="memory"):
    """A finished task whose last step ends at *end* (a step a second long)."""
    ss = tuple(("transfer" if i else "compute", end - i - 1.0, end - i) for i in range(steps))[::-1]
    return TaskTransition("g", key, "x", "processing", finish, worker="w", thread=7, startstops=ss,
                          nbytes=8, type="int")  # fmt: skip


def test_finished_rows_reads_ends_and_leaves_out_the_other_transitions():
    rows = [row_of(done("a", 5.0)), row_of(TaskTransition("g", "b", "x", "waiting", "processing")),
            row_of(done("c", 9.0, steps=2)), row_of(done("d", 0, steps=0, finish="erred"))]
    columns = expanded(TaskRows.from_rows(rows).columns)
    assert finished_rows(columns, published=42.0) == ([0, 2, 3], [5.0, 9.0, 42.0])
    one_step = expanded(TaskRows.from_rows([row_of(done("a", 5.0)), row_of(done("b", 6.0))]).columns)
    assert finished_rows(one_step, 7.0) == ([0, 1], [5.0, 6.0])


def batches_of(*ends_per_batch):
    """``pick``'s input: batches of tasks finished at the given ends, each published a
    second after its last task."""
    out = []
    for b, ends in enumerate(ends_per_batch):
        def rows(timed, ends=ends):
            return list(range(len(ends))), list(ends)
        out.append((f"b{b}", max(ends) + 1, rows))
    return out


def test_pick_counts_across_batches_from_either_end():
    batches = batches_of([1, 2, 3], [4, 5], [6, 7, 8])
    assert pick(batches) == [("b0", [0, 1, 2]), ("b1", [0, 1]), ("b2", [0, 1, 2])]
    assert pick(batches, count=4) == [("b1", [1]), ("b2", [0, 1, 2])]  # the last four
    assert pick(batches, count=6) == [("b0", [2]), ("b1", [0, 1]), ("b2", [0, 1, 2])]
    assert pick(batches, start=2, count=4) == [("b0", [1, 2]), ("b1", [0, 1])]  # the first four
    assert pick(batches, start=2, count=2) == [("b0", [1, 2])]  # a whole batch, no empty cut
    assert pick(batches, start=2, count=3) == [("b0", [1, 2]), ("b1", [0])]
    assert pick(batches, start=4.5, stop=7) == [("b1", [1]), ("b2", [0, 1])]
    assert pick(batches, start=4.5, stop=7, count=1) == [("b1", [1]), ("b2", [0, 1])]  # ignored
    assert pick(batches, stop=5, count=3) == [("b0", [2]), ("b1", [0, 1])]
    assert pick(batches, count=0) == [] and pick(batches, start=100) == []
    assert pick(batches, count=100) == pick(batches)


def test_pick_reads_no_batch_published_before_start():
    read = []

    def rows(name):
        def read_it(timed):
            read.append(name)
            return [0], [10.0]
        return read_it

    batches = [("old", 5.0, rows("old")), ("new", 20.0, rows("new"))]
    assert pick(batches, start=11) == []
    assert read == ["new"]  # the old batch's tasks all finished before it was published


def test_the_log_passes_a_workers_batch_on_unread_without_bounds_and_reads_it_with_them():
    bus = Bus("test")
    log = TaskStreamLog(bus, maxlen=100, clock=iter(range(20, 100)).__next__)
    packed = pack_task_rows([row_of(done("a", 11.0)), row_of(done(("b", 1), 12.0))])
    bus.publish(packed)
    bus.publish(TaskRows.from_rows([row_of(TaskTransition("g", "c", "x", "waiting", "processing")),
                                    row_of(done("e", 0, steps=0, finish="erred"))]))  # fmt: skip
    reply = log.collect()
    assert reply["batches"][0] == [packed.data, None]  # the bytes as the worker sent them
    assert reply["batches"][1][1] == [1]  # of the scheduler's rows, the erred one only
    data = task_dicts(reply)
    assert [d["key"] for d in data] == ["a", ("b", 1), "e"]
    assert data[1]["startstops"] == [{"action": "compute", "start": 11.0, "stop": 12.0}]
    assert data[2]["status"] == "error" and data[0]["status"] == "OK"
    assert data[0]["worker"] == "w" and data[0]["thread"] == 7 and data[0]["typename"] == "int"
    assert log.collect(start=11.5) == {"batches": [[packed.data, [1]], [reply["batches"][1][0], [1]]],
                                       "tracebacks": []}  # fmt: skip
    log.close()


def test_a_traceback_comes_with_its_erred_task_from_the_schedulers_tasks():
    class Task:
        traceback_text = '  File "job.py", line 3, in f\n    raise ValueError\n'

    bus = Bus("test")
    log = TaskStreamLog(bus, maxlen=100, tasks={("e", 0): Task()})
    bus.publish(TaskRows.from_rows([row_of(done(("e", 0), 3.0, finish="erred")),
                                    row_of(done("f", 4.0))]))  # fmt: skip
    data = task_dicts(log.collect())
    assert data[0]["traceback_text"] == Task.traceback_text and data[0]["exception"] == ""
    assert "traceback_text" not in data[1] and "exception" not in data[1]  # as Dask's: erred only
    log.close()


def test_the_client_leaves_out_a_batch_it_cannot_read(caplog):
    good = pack_task_rows([row_of(done("a", 1.0))])
    with caplog.at_level(logging.ERROR, logger="shoal.distributed.taskstream"):
        data = task_dicts({"batches": [[b"not msgpack", None], [good.data, None]], "tracebacks": []})
    assert [d["key"] for d in data] == ["a"]
    assert "could not be read" in caplog.text


def test_keys_that_compare_equal_stay_apart_and_odd_values_pack():
    import numpy as np

    from shoal.distributed.taskcolumns import compact, pack_entry, task_entry, unpacked_entry

    rows = [row_of(done(1, 5.0)), row_of(done(1.0, 6.0)), row_of(done(True, 7.0))]
    assert compact({"key": [1, 1.0, True]}) == {"key": [1, 1.0, True]}  # not one value three times
    bus = Bus("test")
    log = TaskStreamLog(bus, maxlen=10, clock=lambda: 100.0)
    bus.publish(TaskRows.from_rows(rows))
    assert [(d["key"], type(d["key"])) for d in task_dicts(log.collect())] == [
        (1, int), (1.0, float), (True, bool)]
    log.close()
    odd = TaskRows.from_rows([row_of(done("a", 5.0))])
    odd.columns["nbytes"] = [np.int64(8)]  # (a size from a numpy scalar)
    assert unpacked_entry(pack_entry(task_entry(odd), lenient=True))["columns"]["nbytes"] == [8]
    log = TaskStreamLog(bus, maxlen=10)
    bus.publish(odd)  # (the scheduler's own rows, as the log sends them)
    assert [d["nbytes"] for d in task_dicts(log.collect())] == [8]
    log.close()
