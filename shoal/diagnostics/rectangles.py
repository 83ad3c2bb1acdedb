"""Task-stream rectangles (pure): what the live task stream and a report both draw.

::

    records (.worker, .thread, .prefix, .finish, .key, .startstops)
        --task_rectangles(records, rows, merge_below, colors)--> columns of rectangles

One rectangle per startstop, one row per ``(worker, thread)``; x in wall-clock
milliseconds (a Bokeh datetime axis).  Tiny tasks are drawn together: back-to-back
rectangles of a row of the same prefix and action, each shorter than ``merge_below``
(:data:`MERGE_BELOW`, 2 ms: about a pixel at the usual zoom) and less than a quarter
of that apart, become one rectangle whose ``tasks`` counts them (and ``duration``
their compute time).  (Tasks further apart stay apart: a 5-microsecond task every
1.9 ms, a thread nearly idle, was one solid bar across a report.)  A hundred thousand
5-microsecond tasks are then a few thousand rectangles, not a hundred thousand
sub-pixel ones (a report of them was 19 MB of rectangles nobody could see).

The live pane passes the dashboard's task records; a report passes the task
stream's dicts through :func:`from_dicts`.
"""

from __future__ import annotations

from typing import NamedTuple

from shoal.core.keys import key_split, key_str
from shoal.diagnostics.colors import action_style
from shoal.events import iter_startstops

__all__ = ["COLUMNS", "MERGE_BELOW", "Task", "from_dicts", "task_rectangles"]

COLUMNS = ("left", "right", "bottom", "top", "color", "alpha", "name", "prefix", "key", "duration",
           "worker", "tasks")  # fmt: skip

MERGE_BELOW = 0.002  # seconds: shorter rectangles this close together are drawn as one


class Task(NamedTuple):
    """A task record as :func:`task_rectangles` reads it."""

    worker: str
    thread: int
    prefix: str
    finish: str  # "erred" draws it black
    key: object
    startstops: tuple


def from_dicts(records) -> list:
    """The task stream's dicts (``get_task_stream``'s, Dask's) as :class:`Task` s."""
    return [Task(str(r.get("worker", "")), int(r.get("thread") or 0),
                 str(r.get("prefix") or key_split(r.get("key"))),
                 "erred" if r.get("status") == "error" else "memory", r.get("key"),
                 r.get("startstops") or ()) for r in records]  # fmt: skip


def task_rectangles(records, rows: dict, merge_below: float = 0.0, colors=None) -> dict:
    """Columns of rectangles for *records*; *rows* maps ``(worker, thread)`` to a
    row number and grows as new threads appear (owned by the caller).  With
    ``merge_below`` (seconds), back-to-back rectangles of a row with the same
    prefix, action and colour, each shorter than that and less than a quarter of that
    apart, become
    one (prefixes may share a colour: never one rectangle for two of them).  *colors*:
    a prefix's colour (:func:`~shoal.diagnostics.colors.action_style`'s)."""
    out: dict = {c: [] for c in COLUMNS}
    last: dict = {}  # row -> index of its latest rectangle in out, while it may grow
    for r in records:
        where = (r.worker, r.thread)
        row = rows.get(where)
        if row is None:
            row = rows[where] = len(rows)
        erred = r.finish == "erred"
        for action, begin, end in iter_startstops(r.startstops):
            color, alpha = action_style(action, r.prefix, erred, colors=colors)
            name = r.prefix if action == "compute" else f"{action}-{r.prefix}"
            i = last.get(row)
            if (i is not None and end - begin < merge_below and out["name"][i] == name
                    and out["color"][i] == color and out["alpha"][i] == alpha
                    and 0 <= begin * 1000 - out["right"][i] < merge_below * 250):  # fmt: skip
                out["right"][i] = end * 1000
                out["duration"][i] += end - begin
                out["tasks"][i] += 1
                continue
            last[row] = len(out["left"]) if end - begin < merge_below else None
            out["left"].append(begin * 1000)
            out["right"].append(end * 1000)
            out["bottom"].append(row - 0.4)
            out["top"].append(row + 0.4)
            out["color"].append(color)
            out["alpha"].append(alpha)
            out["name"].append(name)
            out["prefix"].append(r.prefix)
            out["key"].append(key_str(r.key))
            out["duration"].append(end - begin)
            out["worker"].append(f"{r.worker} thread {r.thread}")
            out["tasks"].append(1)
    return out
