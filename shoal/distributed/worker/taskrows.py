"""A worker's task-stream rows: what it tells a watched scheduler of the tasks it finished.

::

    scheduler --{"op": "report-task-rows", "on": True}--> TaskRowReporter.on
    Worker.handle(): a TaskFinishedMsg going out, while on
        --> TaskRowReporter.add(): its row kept, the message marked "reported"
    BatchedSend, just before each write (on_write)
        --> TaskRowReporter.attach(batch): the rows since the last write packed into
            one {"op": "task-rows", "data": bytes, "n": rows} put *first* in the batch
    scheduler: the packed rows go to its dashboard as they are (publish.py), before
               the reports in the same batch; a report marked "reported" adds no row there

Why the worker makes the rows: a dashboard needs each task's timings, thread, size
and type (the task stream, memory by key).  Made by the scheduler, that row cost its
event loop about 1.4 us a task of the ~5 us a watching dashboard cost it (reading a
dozen values, transposing them, packing them), and the scheduler's loop is what
limits a cluster of short tasks.  The worker holds those values already, its loop
has time to spare, and one ``bytes`` object per write costs the scheduler next to
nothing to pass on.  The scheduler still decides every state: the rows only say
``processing -> memory``, which its own step of that report would have said, and
it takes out the row of a report it does not accept (``publish.TaskPublisher.unreported``).
If packing fails, the reports lose their mark and the scheduler makes their rows.
"""

from __future__ import annotations

import logging

from shoal.distributed.taskcolumns import pack_task_rows

__all__ = ["ROWS_OP", "SWITCH_OP", "TaskRowReporter"]

logger = logging.getLogger(__name__)

#: The scheduler's message that turns reporting on or off (``{"on": bool}``).
SWITCH_OP = "report-task-rows"
#: The worker's message that carries packed rows (``{"data": bytes, "n": int}``).
ROWS_OP = "task-rows"


class TaskRowReporter:
    """Rows of the tasks a worker reports finished, while its scheduler asks for them."""

    __slots__ = ("address", "on", "_rows")

    def __init__(self, address: str):
        self.address = address
        self.on = False
        self._rows: list = []

    def switch(self, on) -> None:
        self.on = bool(on)

    def add(self, msg: dict, ts) -> None:
        """Keep the row of the task-finished message *msg* (of task *ts*, which knows
        its graph and prefix) and mark *msg* as reported in the rows.  The scheduler
        makes the row itself of a task sent before it was watched (it does not know
        its graph) and of one that did not run here (no startstops: a result fetched
        from a peer that the scheduler then asked this worker to compute)."""
        ss = msg["startstops"]
        if not ts.graph or not ss:
            return
        nbytes = msg["nbytes"] or 0
        row = (ts.graph, msg["key"], ts.prefix, "processing", "memory", self.address,
               msg["thread"] or 0, len(ss), nbytes if nbytes > 0 else 0, msg["type"] or "", "")
        if len(ss) == 1:  # nearly always: one compute triple
            one = ss[0]
            self._rows.append((*row, one["action"], one["start"], one["stop"]))
        else:
            flat = (v for s in ss for v in (s["action"], s["start"], s["stop"]))
            self._rows.append(row + tuple(flat))
        msg["reported"] = True

    def attach(self, batch: list) -> None:
        """``BatchedSend.on_write``: the rows since the last write, packed, in front of
        the batch (the reports they describe are in it, after them)."""
        if self._rows:
            rows, self._rows = self._rows, []
            try:
                packed = pack_task_rows(rows)
            except Exception:  # the scheduler then makes those rows itself
                logger.exception("worker %s: packing %d task rows failed", self.address, len(rows))
                for msg in batch:
                    if msg.get("op") == "task-finished":
                        msg.pop("reported", None)
                return
            batch.insert(0, {"op": ROWS_OP, "data": packed.data, "n": packed.n})
