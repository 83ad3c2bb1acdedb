"""``progress``: bars for futures (or persisted collections) on a distributed cluster.

::

    progress(*futures) --futures_of--> FutureStates --group_by (prefix)--> _Tracker
        on the client's loop: one waiter per state; a state that is done adjusts
        its group's counts (finished / error / cancelled), O(1) per change
    terminal:  a coroutine on the loop redraws a text bar on stderr every `interval`
               until every state is done; progress() blocks for it (an asynchronous
               client gets the awaitable)
    notebook:  ipywidgets bars, one per group (multi=True), returned at once; a
               call_later chain on the loop redraws them every `interval` until done

The bars follow the client's own future states, which the scheduler's reports
change (key-in-memory, task-erred, cancelled-keys): no request is made and the
scheduler does no extra work.  So a bar counts the futures it was given --
for a persisted collection, its output partitions -- not the intermediate
tasks they depend on.  Tasks already done count as done (``complete=False``
leaves them out).  As in Dask, the notebook form shows when it is the cell's
value (or passed to ``display``).
"""

from __future__ import annotations

import asyncio
import sys
import time

from shoal import config
from shoal.core.keys import key_split
from shoal.diagnostics.progress import _in_kernel, format_bar, format_time
from shoal.distributed.client.waiting import futures_of

__all__ = ["MultiProgressWidget", "ProgressWidget", "progress"]

_ENDS = ("finished", "error", "cancelled")


class _Tracker:
    """Counts per group of the states' outcomes; used on the client's loop only."""

    def __init__(self, states, group_by="prefix", complete=True):
        if group_by == "prefix":
            group_by = key_split
        elif not callable(group_by):
            raise ValueError(f"group_by={group_by!r}: expected 'prefix' or a function of the key")
        self.states = [s for s in {id(s): s for s in states}.values() if complete or not s.done()]
        self.group = {s.key: str(group_by(s.key)) for s in self.states}
        self.counts: dict = {}  # group -> {"total", "finished", "error", "cancelled"}
        for s in self.states:
            c = self.counts.setdefault(self.group[s.key], dict.fromkeys(("total", *_ENDS), 0))
            c["total"] += 1
        self.outcome: dict = {}  # key -> its status when last seen done
        self.first_error = None  # the exception of the first future seen erred
        self.done = 0
        self.start = time.time()
        self.end = None
        self.attached = False

    def attach(self) -> None:
        self.attached = True
        for s in self.states:
            s.add_waiter(self._on_done)  # called at once for states already done
        self._check_end()

    def detach(self) -> None:
        if self.attached:
            self.attached = False
            for s in self.states:
                s.remove_waiter(self._on_done)

    def _on_done(self, state) -> None:
        key, new = state.key, state.status
        old = self.outcome.get(key)
        if old == new or new not in _ENDS:
            return
        counts = self.counts[self.group[key]]
        if old is None:
            self.done += 1
        else:
            counts[old] -= 1
        counts[new] += 1
        self.outcome[key] = new
        if new == "error" and self.first_error is None:
            self.first_error = state.exception
        self._check_end()

    def _check_end(self) -> None:
        if self.end is None and self.done >= len(self.states):
            self.end = time.time()

    @property
    def finished(self) -> bool:
        return self.end is not None

    @property
    def failed(self) -> bool:
        return any(c["error"] or c["cancelled"] for c in self.counts.values())

    def fraction(self) -> float:
        return self.done / len(self.states) if self.states else 1.0

    def outcome_text(self) -> str:
        """What went wrong, once done: ``"1 of 5 erred (ValueError: b)"``, the
        cancelled too; "" when everything finished."""
        total = len(self.states)
        parts = []
        erred = sum(c["error"] for c in self.counts.values())
        if erred:
            parts.append(f"{erred} of {total} erred")
            if self.first_error is not None:
                parts[0] += f" ({_exception_line(self.first_error)})"
        cancelled = sum(c["cancelled"] for c in self.counts.values())
        if cancelled:
            parts.append(f"{cancelled} of {total} cancelled")
        return ", ".join(parts)

    def elapsed(self) -> float:
        return (self.end or time.time()) - self.start


# --- terminal ---------------------------------------------------------------------------


async def _text_progress(tracker: _Tracker, out, width: int, interval: float) -> None:
    tracker.attach()
    try:
        while not tracker.finished:
            out.write("\r" + format_bar(tracker.fraction(), width, tracker.elapsed()))
            out.flush()
            await asyncio.sleep(interval)
        out.write("\r" + format_bar(tracker.fraction(), width, tracker.elapsed(),
                                    tracker.outcome_text()) + "\n")  # fmt: skip
        out.flush()
    finally:
        tracker.detach()


# --- notebook ---------------------------------------------------------------------------


class ProgressWidget:
    """One ipywidgets bar for all the futures; see :func:`progress`."""

    multi = False

    def __init__(self, tracker: _Tracker, client, interval: float):
        import ipywidgets

        self.tracker, self.client, self.interval = tracker, client, interval
        self._w = ipywidgets
        self.title = ipywidgets.HTML()
        self.rows = self._make_rows()
        self.widget = ipywidgets.VBox([self.title, *self.rows.values()])
        self.update()
        client._call_on_loop(self._attach)

    def _make_rows(self) -> dict:
        return {"": self._row("", "#1f77b4")}

    def _row(self, label: str, color: str):
        w = self._w
        bar = w.FloatProgress(min=0.0, max=1.0, value=0.0, style={"bar_color": color},
                              layout=w.Layout(width="60%"))  # fmt: skip
        return w.HBox([w.HTML(f"<code>{_escape(label)}</code>", layout=w.Layout(width="20%")), bar,
                       w.HTML()])  # fmt: skip

    def _attach(self) -> None:  # on the loop
        self.tracker.attach()
        self._tick()

    def _tick(self) -> None:  # on the loop
        self.update()
        if self.tracker.finished or self.client.status != "running":
            self.tracker.detach()
            return
        self.client.loop.call_later(self.interval, self._tick)

    @staticmethod
    def _set(row, done: int, total: int, failed: bool) -> None:
        _, bar, text = row.children
        bar.value = done / total if total else 1.0
        text.value = f"{done} / {total}"
        if done >= total:
            if failed:
                bar.style.bar_color = None  # (a colour of its own would hide the style's red)
            bar.bar_style = "danger" if failed else "success"

    def _title(self) -> None:
        t = self.tracker
        took = format_time(t.elapsed()).strip()
        if not t.finished:
            self.title.value = f"<b>Computing:</b> {took}"
        elif t.failed:
            self.title.value = f"<b>Failed:</b> {_escape(t.outcome_text())} | {took}"
        else:
            self.title.value = f"<b>Finished:</b> {took}"

    def update(self) -> None:
        t = self.tracker
        self._title()
        self._set(self.rows[""], t.done, len(t.states), t.failed)

    def _ipython_display_(self, **kwargs):
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        t = self.tracker
        return f"<{type(self).__name__}: {t.done} / {len(t.states)} done>"


class MultiProgressWidget(ProgressWidget):
    """One ipywidgets bar per group (task prefix by default); see :func:`progress`."""

    multi = True

    def _make_rows(self) -> dict:
        from shoal.diagnostics.report import prefix_color

        return {g: self._row(g, prefix_color(g)) for g in self.tracker.counts}

    def update(self) -> None:
        t = self.tracker
        self._title()
        for group, counts in t.counts.items():
            done = counts["finished"] + counts["error"] + counts["cancelled"]
            self._set(self.rows[group], done, counts["total"], bool(counts["error"] or counts["cancelled"]))


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _exception_line(exc, limit: int = 100) -> str:
    text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the entry point --------------------------------------------------------------------


def progress(*futures, notebook=None, multi=True, complete=True, group_by="prefix",
             interval="100ms", width=40, out=None):  # fmt: skip
    """Show the progress of futures (or persisted collections, or containers of them).

    In a Jupyter kernel (``notebook=None`` detects it): ipywidgets bars, one per
    task prefix with ``multi=True``, returned at once while the work goes on.
    Elsewhere: a text bar on ``out`` (stderr), and the call blocks until every
    future is done (with an asynchronous client, await the result).
    ``complete=False`` leaves out futures done already; ``group_by`` is
    ``"prefix"`` or a function of the key.
    """
    fs = futures_of(futures)
    if not fs:
        raise ValueError("progress: no futures found in the arguments; pass futures or "
                         "persisted collections (x = client.persist(x))")  # fmt: skip
    client = fs[0].client
    seconds = float(config.parse_timedelta(interval))
    tracker = _Tracker([f._state for f in fs], group_by, complete)
    if notebook is None:
        notebook = _in_kernel()
    if notebook:
        try:
            return (MultiProgressWidget if multi else ProgressWidget)(tracker, client, seconds)
        except ImportError:  # no ipywidgets: the text bar
            pass
    return client.sync(_text_progress, tracker, out if out is not None else sys.stderr, int(width),
                       seconds)  # fmt: skip
