"""The task stream's records on the wire: which rows a request gets, and their dicts.

::

    scheduler: TaskStreamLog's batches (a worker's packed rows, its own TaskRows)
        --finished_rows()--> each batch's finished rows and when each finished
        --pick()--> the rows a request's window and count select, per batch
        --> {"batches": [[packed entry, row indices or None], ...],
             "tracebacks": [[key, text], ...]}
    client: that reply --task_dicts()--> Dask's task stream entries, oldest first

A scheduler that holds 100,000 finished tasks answered ``get_task_stream()`` by
building a record object and a dict per task on its event loop (about 1.5 s) and
packing the dicts (0.3 s, 22 MB): scheduling paused meanwhile.  It now reads only
what the selection needs (the start and finish states and the times: msgpack
unpacks a batch in C, and a batch whose every row has one compute step gives its
ends as one slice) and sends the batches as they were packed, each with the
indices of the rows it picked (``None``: all of them); the dicts are made on the
client, in the caller's thread.  A request without ``start`` or ``stop`` (a
report's, a ``with get_task_stream()`` block's, ``count`` alone) reads no worker's
batch at all: those hold finished tasks only, so their counts are known.  A
scheduler's own rows (an erred task, a task that ran before its worker made rows)
are packed when asked, as a worker's are.

A row counts when it went from ``processing`` to ``memory`` or ``erred``; it
finished at the end of its last ``startstops`` step, else (no timings: a task
whose worker died) when its batch was published.  Pure: no I/O, no event loop.
"""

from __future__ import annotations

import itertools
import logging

from shoal.distributed.taskcolumns import expanded, key_from_wire, unpacked_entry

__all__ = ["ENDS", "finished_rows", "pick", "task_dicts"]

logger = logging.getLogger(__name__)

#: A task's last state in the stream: it finished, well or not.
ENDS = frozenset({"memory", "erred"})


def finished_rows(columns: dict, published: float) -> tuple[list, list]:
    """``(indices, ends)``: the rows of *columns* (a ``task-columns`` entry's, expanded)
    that went from ``processing`` to an end, and when each finished."""
    counts, values = columns.get("startstops") or [], columns.get("startstops-values") or []
    n = len(counts)
    if counts.count(1) == n:  # nearly always: one compute step a row, its end every third value
        ends = values[2::3]
    else:
        ends, at = [], 0
        for c in counts:
            at += 3 * c
            ends.append(values[at - 1] if c else published)
    starts, finishes = columns.get("start") or [], columns.get("finish") or []
    if starts.count("processing") == n and all(f in ENDS for f in set(finishes)):
        return list(range(n)), ends  # a worker's rows: all finished
    rows = [i for i, (s, f) in enumerate(zip(starts, finishes)) if s == "processing" and f in ENDS]
    return rows, [ends[i] for i in rows]


def pick(batches, start=None, stop=None, count=None) -> list:
    """``[(batch, indices), ...]`` oldest first: the rows that finished in [start, stop],
    as Dask's task stream selects them: with ``start`` alone, the first ``count``
    since then, else the last ``count`` (before ``stop``); ``count`` is ignored when
    both bounds are given.  *batches*: ``(batch, published, rows)`` oldest first,
    ``rows(timed)`` giving :func:`finished_rows` of that batch (called only for the
    batches walked; without bounds, ``timed`` false, the ends may be ``None`` and the
    indices any sequence: a worker's batch is all finished rows, counted unread);
    ``published``: when it was published, after all its rows finished, so a batch
    published before ``start`` holds none after it."""
    want = None if count is None or (start is not None and stop is not None) else int(count)
    if want is not None and want <= 0:
        return []
    lo = float("-inf") if start is None else float(start)
    hi = float("inf") if stop is None else float(stop)
    first = start is not None and want is not None  # the first `want` since start
    timed = start is not None or stop is not None
    picked, found = [], 0
    for batch, published, rows in batches if first else reversed(batches):
        if published < lo:
            if first:
                continue
            break
        indices, ends = rows(timed)
        if timed:
            indices = [i for i, end in zip(indices, ends) if lo <= end <= hi]
        if indices:
            picked.append((batch, indices))
            found += len(indices)
        if want is not None and found >= want:
            break
    if not first:
        picked.reverse()
    extra = 0 if want is None else found - want
    if extra > 0:  # cut the rows past `want`: the newest when counting from start, else the oldest
        at = -1 if first else 0
        while len(picked[at][1]) <= extra:
            extra -= len(picked.pop(at)[1])
        if extra:
            batch, indices = picked[at]
            picked[at] = (batch, indices[:-extra] if first else indices[extra:])
    return picked


def task_dicts(reply: dict) -> list:
    """The task stream entries of a scheduler's reply (see the module docstring), in
    the shape of Dask's: key, prefix, status, worker, thread, startstops (a list of
    dicts), nbytes, type, metadata, and for an erred task the exception, its text and
    the traceback's text."""
    tracebacks = {key_from_wire(k): text for k, text in reply.get("tracebacks") or ()}
    out = []
    for data, indices in reply.get("batches") or ():
        try:
            c = expanded(unpacked_entry(data)["columns"])
        except Exception:  # (a worker's batch the scheduler passed on without reading it)
            logger.exception("task stream: left out a batch that could not be read")
            continue
        counts, values = c["startstops"], c["startstops-values"]
        at = list(itertools.accumulate(counts, lambda a, n: a + 3 * n, initial=0))
        keys, prefixes, finishes = c["key"], c["prefix"], c["finish"]
        workers, threads, nbytes, types, errors = (c["worker"], c["thread"], c["nbytes"], c["type"],
                                                   c["exception"])  # fmt: skip
        for i in range(len(keys)) if indices is None else indices:
            key = keys[i]
            if type(key) is list:
                key = key_from_wire(key)
            steps = [{"action": values[j], "start": values[j + 1], "stop": values[j + 2]}
                     for j in range(at[i], at[i + 1], 3)]  # fmt: skip
            entry = {
                "key": key, "prefix": prefixes[i], "status": "OK", "worker": workers[i],
                "thread": threads[i], "startstops": steps, "nbytes": nbytes[i], "type": types[i],
                "typename": types[i], "metadata": {},
            }  # fmt: skip
            if finishes[i] == "erred":  # (as Dask's: an error's fields on an erred task only)
                entry.update(status="error", exception=errors[i], exception_text=errors[i],
                             traceback_text=tracebacks.get(key) or "")  # fmt: skip
            out.append(entry)
    return out
