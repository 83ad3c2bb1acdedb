"""Task transitions on the wire as columns: the ``task-columns`` entry, plain or packed.

::

    TaskRows (columns) --task_entry()--> {"kind": "task-columns", "columns": compacted}
    flat rows --pack_task_rows()--> PackedTaskRows (that entry, msgpack: a worker's rows)
    entry / packed --task_objects() / unpack_task_rows()--> TaskTransition, TasksProcessing,
                                                            TasksQueued

The event stream (``eventstream.py``) sends a scheduler's ``TaskRows`` as an entry and
a worker's ``PackedTaskRows`` as the bytes they are; its reader turns both back into
records.  The worker (``worker/taskrows.py``) packs its rows here, and the scheduler
(``scheduler/publish.py``) takes a stale report's row out of them here.  Pure data
transforms (msgpack and the event records), no I/O, so the state machine may use them.

A column of one value repeated travels as ``{"same": value, "n": count}`` (the run
id, the prefix, the states, the type of a map's rows): msgpack packs half the bytes
in half the time, and the reader unpacks them in half the time too.
"""

from __future__ import annotations

import msgpack

from shoal.distributed.protocol.serialize import UNICODE_ERRORS
from shoal.events import (TASK_FIELDS, PackedTaskRows, TaskRows, TasksProcessing, TasksQueued,
                          TaskTransition, row_of)  # fmt: skip

__all__ = ["compact", "expanded", "key_from_wire", "pack_entry", "pack_task_rows",
           "story_from_wire", "story_to_wire", "task_entry", "task_objects", "unpack_task_rows",
           "unpacked_entry", "without_keys"]  # fmt: skip

_KEY_AT, _STARTSTOPS_AT = TASK_FIELDS.index("key"), TASK_FIELDS.index("startstops")


def key_from_wire(value):
    """A key that travelled as a list, as the tuple it was (a key is never a list)."""
    return tuple(key_from_wire(v) for v in value) if type(value) is list else value


def story_to_wire(entry) -> list:
    """A scheduler's story entry as it travels: a transition ``(key, start, finish,
    {key: state}, stimulus_id, time)`` with its recommendations as ``[key, state]``
    pairs (a key may be a tuple, which no msgpack map takes); a note as it is.

    >>> story_from_wire(story_to_wire((("x", 1), "a", "b", {("x", 2): "c"}, "s", 1.0)))
    (('x', 1), 'a', 'b', {('x', 2): 'c'}, 's', 1.0)
    """
    if len(entry) == 6:
        return [*entry[:3], list(entry[3].items()), *entry[4:]]
    return list(entry)


def story_from_wire(entry) -> tuple:
    """:func:`story_to_wire`'s list (tuples came as lists) as the tuple it was."""
    key = key_from_wire(entry[0])
    if len(entry) == 6:
        recs = {key_from_wire(k): state for k, state in entry[3]}
        return (key, entry[1], entry[2], recs, *entry[4:])
    return (key, *entry[1:])


def task_entry(rows: TaskRows) -> dict:
    """The ``task-columns`` entry of *rows*."""
    return {"kind": "task-columns", "columns": compact(rows.columns)}


#: Columns of keys: never one value repeated, though keys may compare equal (1, 1.0, True)
_KEY_COLUMNS = frozenset({"key", "forgotten"})


def compact(columns: dict) -> dict:
    """*columns* with each column of one value repeated as ``{"same": value, "n": count}``."""
    out = {}
    for name, column in columns.items():
        n = len(column)  # (a column whose ends differ, a key's, is not counted through)
        same = (n > 1 and name not in _KEY_COLUMNS and column[-1] == column[0]
                and column.count(column[0]) == n)  # fmt: skip
        out[name] = {"same": column[0], "n": n} if same else column
    return out


def expanded(columns: dict) -> dict:
    """The columns of a ``task-columns`` entry as lists again (see :func:`compact`)."""
    return {name: [c["same"]] * c["n"] if type(c) is dict else c for name, c in columns.items()}


def pack_task_rows(rows: list) -> PackedTaskRows:
    """Flat rows (:func:`~shoal.events.row_of`) as one packed ``task-columns`` entry:
    what a worker sends of the tasks it finished, and what the scheduler passes on
    without unpacking it (a reader's ``eventstream.decode_batch`` unpacks it)."""
    return PackedTaskRows(pack_entry(task_entry(TaskRows.from_rows(rows))), len(rows))


def pack_entry(entry: dict, lenient: bool = False) -> bytes:
    """A ``task-columns`` entry as msgpack bytes.  A value msgpack has no type for raises
    TypeError (a worker then leaves its row to the scheduler), or with *lenient* is
    packed as a plain int (a numpy integer for a size), else as its text."""
    default = _plain if lenient else None
    try:
        return msgpack.packb(entry, default=default)
    except UnicodeEncodeError:  # a lone surrogate (see protocol.serialize): the slower way
        return msgpack.packb(entry, default=default, unicode_errors=UNICODE_ERRORS)


def _plain(value):
    return int(value) if hasattr(value, "__index__") else str(value)


def unpacked_entry(data) -> dict:
    """The ``task-columns`` entry packed in *data*; ``ValueError`` if it is none."""
    entry = msgpack.unpackb(data, unicode_errors=UNICODE_ERRORS)
    if type(entry) is not dict or entry.get("kind") != "task-columns":
        raise ValueError(f"not a packed task-columns entry: {type(entry).__name__}")
    return entry


def unpack_task_rows(packed: PackedTaskRows) -> TaskRows:
    """The :class:`~shoal.events.TaskRows` of *packed* (columns as lists, keys as on the wire)."""
    return TaskRows(expanded(unpacked_entry(packed.data)["columns"]))


def without_keys(packed: PackedTaskRows, keys) -> PackedTaskRows | None:
    """*packed* less the rows of *keys* (None when no row is left): the scheduler's
    rare path for a report it did not take, whose row its worker had sent."""
    records = task_objects(unpacked_entry(packed.data)["columns"])
    rows = [row_of(r) for r in records if r.key not in keys]
    return pack_task_rows(rows) if rows else None


def task_objects(columns: dict) -> list:
    """``TaskTransition`` s from a ``task-columns`` entry's columns (compacted or not),
    then its ``TasksProcessing`` counts and its ``TasksQueued`` gauges."""
    columns = expanded(columns)
    values, at = columns.get("startstops-values") or [], 0
    out = []
    for row in zip(*(columns[f] for f in TASK_FIELDS)):
        key, n = row[_KEY_AT], row[_STARTSTOPS_AT]
        record = TaskTransition(*row)
        if type(key) is list:
            record.key = key_from_wire(key)
        if n == 1:  # nearly every task: one compute triple
            record.startstops = ((values[at], values[at + 1], values[at + 2]),)
            at += 3
        elif n:
            record.startstops = tuple(tuple(values[i:i + 3]) for i in range(at, at + 3 * n, 3))
            at += 3 * n
        else:
            record.startstops = ()
        out.append(record)
    gone = columns.get("forgotten")
    if gone:  # keys alone, each after the rows written before it (TaskRows)
        merged, i = [], 0
        for at, key in zip(columns.get("forgotten-at") or (), gone):
            merged += out[i:at]
            i = max(i, at)
            merged.append(TaskTransition(None, key_from_wire(key), "", "", "forgotten"))
        out = merged + out[i:]
    for run_id, prefix, worker, n in columns.get("processing-counts") or ():
        out.append(TasksProcessing(run_id, prefix, worker, n))  # (keys new to the reader)
    for run_id, prefix, n in columns.get("queued-counts") or ():
        out.append(TasksQueued(run_id, prefix, n))
    return out
