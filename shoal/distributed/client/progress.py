"""``progress``: bars for futures (or persisted collections) on a distributed cluster.

::

    progress(*futures) --futures_of--> FutureStates --group_by (prefix)--> _Tracker
        on the client's loop: one waiter per state; a state that is done adjusts
        its group's counts (finished / error / cancelled), O(1) per change;
        progress_watch (the tasks they need), then a progress_poll per redraw
    terminal:  a coroutine on the loop redraws a text bar on stdout every `interval`
               until every state is done; progress() blocks for it (an asynchronous
               client gets the awaitable)
    notebook:  ipywidgets bars, one per group (multi=True), returned at once; a
               task on the loop (_follow) redraws them every `interval` until done;
               the widget holds the futures until then (see ProgressWidget)

As in Dask, the bars count every task the futures need, not only the futures:
a persisted aggregation is one future over many tasks.  The futures' own states
(which the scheduler's reports change: key-in-memory, task-erred,
cancelled-keys) say when each is done and how it failed; the tasks they need
come from the scheduler, which lists them once and then, at each redraw, says
which of them are done since (:mod:`shoal.distributed.scheduler.progress`: a
lookup per task not yet done, nothing per transition).  Tasks already done
count as done (``complete=False`` leaves them out).  As in Dask, the notebook
form shows when it is the cell's value (or passed to ``display``).
"""

from __future__ import annotations

import asyncio
import html
import logging
import sys
import threading
import time

from shoal import config
from shoal.core.keys import key_split
from shoal.diagnostics.colors import PALETTE, PrefixColors
from shoal.diagnostics.notebook import FinishedBars, in_kernel
from shoal.diagnostics.progress import exception_line, format_bar, format_time
from shoal.distributed.client.control import fire_and_forget
from shoal.distributed.client.waiting import futures_of
from shoal.distributed.taskcolumns import key_from_wire

__all__ = ["MultiProgressWidget", "ProgressWidget", "progress"]

logger = logging.getLogger(__name__)

_ENDS = ("finished", "error", "cancelled")


class _Tracker:
    """Counts per group of the tasks' outcomes; used on the client's loop only.

    The futures' own states say when each of them is done (and how it failed);
    the tasks they need come from the scheduler (:meth:`start_watch`, then
    :meth:`refresh` every interval).  The run ends when every future is done and
    a last poll has counted the tasks that finished with them."""

    def __init__(self, states, group_by="prefix", complete=True):
        if group_by == "prefix":
            group_by = key_split
        elif not callable(group_by):
            spans = " (shoal has no spans)" if group_by == "spans" else ""
            raise ValueError(f"group_by={group_by!r}: expected 'prefix' or a function of the "
                             f"key{spans}")  # fmt: skip
        self.group_by, self.complete = group_by, complete
        self.states = [s for s in {id(s): s for s in states}.values() if complete or not s.done()]
        self.group: dict = {}  # key -> its group
        self.counts: dict = {}  # group -> {"total", "finished", "error", "cancelled"}
        self._add(s.key for s in self.states)
        self.outcome: dict = {}  # key -> its status when last seen done
        self.first_error = None  # the exception of the first future seen erred
        self.done = 0
        self.futures_done: set = set()  # keys of the futures seen done
        self._states_done: set = set()  # id() of each future state seen done (two clients'
        #                                 futures may share a key)
        self.start = time.time()
        self.end = None
        self.attached = False
        self.token = None  # the scheduler's watch of the tasks the futures need

    def _add(self, keys) -> None:
        for key in keys:
            if key not in self.group:
                group = self.group[key] = str(self.group_by(key))
                c = self.counts.setdefault(group, dict.fromkeys(("total", *_ENDS), 0))
                c["total"] += 1

    @property
    def total(self) -> int:
        return len(self.group)

    async def start_watch(self, scheduler) -> None:
        """Ask the scheduler for the tasks the futures need (older schedulers: none)."""
        keys = [s.key for s in self.states if s.status != "cancelled"]  # (the scheduler let
        if not keys:                                                     # those go)
            return
        try:
            reply = await scheduler.progress_watch(keys=keys)
        except Exception as exc:  # noqa: BLE001 - the bars still follow the futures
            logger.debug("progress: no task counts from the scheduler: %r", exc)
            return
        done = {key_from_wire(key): result for key, result in reply["done"]}
        if not self.complete:  # (tasks done already are left out, as futures are)
            self._add(key for key in map(key_from_wire, reply["keys"]) if key not in done)
        else:
            self._add(map(key_from_wire, reply["keys"]))
            for key, result in done.items():
                self._mark(key, result)
        self.token = reply["token"]

    async def refresh(self, scheduler) -> None:
        """Count what the scheduler says is done since; end once the futures are."""
        last = len(self._states_done) >= len(self.states)  # (before the poll: it counts them all)
        if self.token is not None:
            try:
                for key, result in await scheduler.progress_poll(token=self.token, final=last):
                    key = key_from_wire(key)
                    if key not in self.futures_done:  # (a future's own ending says more)
                        self._mark(key, result)
            except Exception as exc:  # noqa: BLE001 - the futures still end the run
                logger.debug("progress: polling the scheduler failed: %r", exc)
                self.token = None
        if last and self.end is None:
            self.end = time.time()
            await self.stop_watch(scheduler)

    async def stop_watch(self, scheduler) -> None:
        """Let the scheduler drop the watch now (a bar interrupted or abandoned)."""
        token, self.token = self.token, None
        if token is not None:
            try:
                await scheduler.progress_stop(token=token)
            except Exception:  # noqa: BLE001 - it expires on its own
                pass

    def attach(self) -> None:
        self.attached = True
        for s in self.states:
            s.add_waiter(self._on_done)  # called at once for states already done

    def detach(self) -> None:
        if self.attached:
            self.attached = False
            for s in self.states:
                s.remove_waiter(self._on_done)

    def _on_done(self, state) -> None:
        if state.status not in _ENDS:
            return
        self.futures_done.add(state.key)
        self._states_done.add(id(state))
        self._mark(state.key, state.status)
        if state.status == "error" and self.first_error is None:
            self.first_error = state.exception

    def _mark(self, key, new: str) -> None:
        """``key`` is done with outcome ``new``."""
        old = self.outcome.get(key)
        group = self.group.get(key)
        if old == new or group is None:
            return
        counts = self.counts[group]
        if old is None:
            self.done += 1
        else:
            counts[old] -= 1
        counts[new] += 1
        self.outcome[key] = new

    @property
    def finished(self) -> bool:
        return self.end is not None

    @property
    def failed(self) -> bool:
        return any(c["error"] or c["cancelled"] for c in self.counts.values())

    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def outcome_text(self) -> str:
        """What went wrong, once done: ``"1 of 5 erred (ValueError: b)"``, the
        cancelled too; "" when everything finished."""
        total = self.total
        parts = []
        erred = sum(c["error"] for c in self.counts.values())
        if erred:
            parts.append(f"{erred} of {total} erred")
            if self.first_error is not None:
                parts[0] += f" ({exception_line(self.first_error)})"
        cancelled = sum(c["cancelled"] for c in self.counts.values())
        if cancelled:
            parts.append(f"{cancelled} of {total} cancelled")
        return ", ".join(parts)

    def elapsed(self) -> float:
        return (self.end or time.time()) - self.start


# --- terminal ---------------------------------------------------------------------------


async def _follow(tracker: _Tracker, scheduler, interval: float, draw, stopped=None) -> None:
    """Watch, then refresh *tracker* and ``draw()`` every *interval* until the run ends
    (or ``stopped()``); the watch goes however this ends."""
    await tracker.start_watch(scheduler)
    tracker.attach()
    try:
        while True:
            await tracker.refresh(scheduler)
            if tracker.finished or (stopped is not None and stopped()):
                return
            draw()
            await asyncio.sleep(interval)
    finally:
        tracker.detach()
        _stop_later(tracker, scheduler)


class _Line:
    """The terminal line a text bar draws on, from the loop's thread, until the caller
    ends it (interrupted: a newline, and no more drawing after it)."""

    def __init__(self, out):
        self.out, self.lock, self.ended = out, threading.Lock(), False

    def write(self, text: str) -> None:
        with self.lock:
            if not self.ended:
                self.out.write(text)
                self.out.flush()

    def end(self) -> None:
        with self.lock:
            if not self.ended:
                self.ended = True
                self.out.write("\n")
                self.out.flush()


async def _text_progress(tracker: _Tracker, scheduler, line: _Line, width: int,
                         interval: float) -> None:  # fmt: skip
    def draw():
        line.write("\r" + format_bar(tracker.fraction(), width, tracker.elapsed()))

    try:
        await _follow(tracker, scheduler, interval, draw)
    except BaseException:  # (cancelled: an asynchronous client's bar, a Ctrl-C)
        line.end()
        raise
    line.write("\r" + format_bar(tracker.fraction(), width, tracker.elapsed(),
                                 tracker.outcome_text()) + "\n")  # fmt: skip


def _stop_later(tracker: _Tracker, scheduler) -> None:
    """An interrupted or abandoned bar's watch goes at once, in a task of its own (the
    bar's own task may be being cancelled)."""
    if tracker.token is not None:
        fire_and_forget(tracker.stop_watch(scheduler), "stopping a progress watch")


# --- notebook ---------------------------------------------------------------------------


class ProgressWidget:
    """One ipywidgets bar for all the futures; see :func:`progress`.

    It holds the futures until their run ends, then lets them go: in a notebook
    ``progress(client.map(f, xs))`` or ``progress(x.persist())`` keeps no future
    of its own, and without the widget's the client would release the keys at
    once (the scheduler then drops the work, and the bar would wait for futures
    that never end).  Where it was displayed, the finished run replaces it with
    :meth:`finished_bars`, plain output a saved notebook keeps (a widget is "model
    not found" there: see :mod:`shoal.diagnostics.notebook`)."""

    multi = False

    def __init__(self, tracker: _Tracker, client, interval: float, futures=()):
        import ipywidgets

        self.tracker, self.client, self.interval = tracker, client, interval
        self._futures = list(futures)  # until the run ends (see above)
        self._w = ipywidgets
        self.title = ipywidgets.HTML()
        self.rows = self._make_rows()
        self.widget = ipywidgets.VBox([self.title, *self.rows.values()])
        self._handles: list = []  # where it was displayed
        self._final = None  # its finished_bars(), once the run ended
        self.update()
        client._call_on_loop(self._attach)

    def _make_rows(self) -> dict:
        return {"": self._row("", PALETTE[0])}

    def _row(self, label: str, color: str):
        w = self._w
        bar = w.FloatProgress(min=0.0, max=1.0, value=0.0, style={"bar_color": color},
                              layout=w.Layout(width="60%"))  # fmt: skip
        return w.HBox([w.HTML(f"<code>{html.escape(label)}</code>", layout=w.Layout(width="20%")), bar,
                       w.HTML()])  # fmt: skip

    def _attach(self) -> None:  # on the loop
        self._task = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:  # on the loop: redraw every interval until done
        try:
            await _follow(self.tracker, self.client.scheduler, self.interval, self.update,
                          stopped=lambda: self.client.status != "running")  # fmt: skip
        finally:
            self._futures = []
        self.update()
        if self.tracker.finished:
            self._final = final = self.finished_bars()
            for handle in list(self._handles):  # (a display now updates itself: see there)
                handle.update(final)
            self._close_widgets()

    def _close_widgets(self) -> None:
        """Close the ended bar's widgets: ipywidgets keeps every widget (and its comm) until
        closed, their layouts and styles too: 15 for a one-row bar, kept for the kernel's
        whole life.  The plain bars stay; the closed widgets keep their values."""
        parts = [self.widget, self.title, *(w for row in self.rows.values() for w in (row, *row.children))]
        for w in parts:
            for each in (getattr(w, "layout", None), getattr(w, "style", None), w):
                if each is not None:
                    each.close()

    @staticmethod
    def _set(row, done: int, total: int, failed: bool, ended: bool) -> None:
        """A bar's value and text; once full or once the run *ended*, green, or red when
        it *failed* or ended short (tasks a failed run never ran)."""
        _, bar, text = row.children
        bar.value = done / total if total else 1.0
        text.value = f"{done} / {total}"
        if done >= total or ended:
            bar.style.bar_color = None  # (a colour of its own would hide the style's)
            bar.bar_style = "danger" if failed or done < total else "success"

    def _title_parts(self) -> tuple:
        """``("Failed", "1 of 5 erred (...) | 1.2s")``: the title's head and its text."""
        t = self.tracker
        took = format_time(t.elapsed()).strip()
        if not t.finished:
            return "Computing", took
        if t.failed:
            return "Failed", f"{t.outcome_text()} | {took}"
        return "Finished", took

    def _title(self) -> None:
        head, text = self._title_parts()
        self.title.value = f"<b>{head}:</b> {html.escape(text)}"

    def finished_bars(self) -> FinishedBars:
        """The bars as drawn now, as plain output (HTML, and the terminal's text bar)."""
        t = self.tracker
        rows = [(name, row.children[1].value, row.children[1].bar_style == "danger",
                 row.children[2].value) for name, row in self.rows.items()]  # fmt: skip
        text = format_bar(t.fraction(), 40, t.elapsed(), t.outcome_text())
        return FinishedBars(rows, text, self._title_parts())

    def update(self) -> None:
        t = self.tracker
        self._title()
        self._set(self.rows[""], t.done, t.total, t.failed, t.finished)

    def _ipython_display_(self, **kwargs):
        from IPython.display import display

        if self._final is not None:  # ended (its widgets closed): the plain bars at once
            display(self._final, display_id=True)
            return
        handle = display(self.widget, display_id=True)
        if handle is not None:
            self._handles.append(handle)
            if self._final is not None:  # the run ended meanwhile, maybe before the append
                handle.update(self._final)

    def __repr__(self) -> str:
        t = self.tracker
        return f"<{type(self).__name__}: {t.done} / {t.total} done>"


class MultiProgressWidget(ProgressWidget):
    """One ipywidgets bar per group (task prefix by default); see :func:`progress`."""

    multi = True

    def _make_rows(self) -> dict:
        self._colors = PrefixColors()  # (its groups told apart: colors.py)
        return {g: self._row(g, self._colors(g)) for g in self.tracker.counts}

    def update(self) -> None:
        t = self.tracker
        self._title()
        if len(self.rows) < len(t.counts):  # groups of the tasks the futures need, once known
            for group in t.counts:
                if group not in self.rows:
                    self.rows[group] = self._row(group, self._colors(group))
            self.widget.children = (self.title, *self.rows.values())
        for group, counts in t.counts.items():
            done = counts["finished"] + counts["error"] + counts["cancelled"]
            self._set(self.rows[group], done, counts["total"],
                      bool(counts["error"] or counts["cancelled"]), t.finished)  # fmt: skip


# --- the entry point --------------------------------------------------------------------


def progress(*futures, notebook=None, multi=True, complete=True, group_by="prefix",
             interval="100ms", width=40, out=None, scheduler=None, loop=None):  # fmt: skip
    """Show the progress of futures (or persisted collections, or containers of them).

    In a Jupyter kernel (``notebook=None`` detects it): ipywidgets bars, one per
    task prefix with ``multi=True``, returned at once while the work goes on.
    Elsewhere: a text bar on ``out`` (stdout, as Dask's and the local ``ProgressBar``),
    and the call blocks until every future is done (with an asynchronous client,
    await the result).
    ``complete=False`` leaves out futures done already; ``group_by`` is
    ``"prefix"`` or a function of the key.  Nothing to follow (no arguments, or
    empty containers) draws a full bar, as Dask's does; a collection that was never
    persisted is an error (it has no futures to follow).  ``scheduler`` and ``loop``
    are taken for Dask's sake and not needed: the bar follows the futures' own client.
    """
    try:  # (inf never redrew, nan waited at random, 0 or less redrew without pause)
        seconds = config.period(interval, "interval")
    except ValueError as exc:
        raise ValueError(f"progress: {exc} ('100ms', or seconds)") from None
    try:
        width = int(width)
    except (TypeError, ValueError):
        raise ValueError(f"progress: width={width!r}: expected a number of characters") from None
    out = sys.stdout if out is None else out
    if not callable(getattr(out, "write", None)):
        raise TypeError(f"progress: out={out!r}: expected a text stream (with write), "
                        "as sys.stdout")
    fs = futures_of(futures)
    if not fs:
        if not _only_empty(futures):
            raise ValueError("progress: no futures found in the arguments; pass futures or "
                             "persisted collections (x = client.persist(x))")  # fmt: skip
        out.write("\r" + format_bar(1.0, width, 0.0) + "\n")
        out.flush()
        return None
    client = fs[0].client
    tracker = _Tracker([f._state for f in fs], group_by, complete)
    if notebook is None:
        notebook = in_kernel()
    if notebook:
        try:
            return (MultiProgressWidget if multi else ProgressWidget)(tracker, client, seconds, fs)
        except ImportError:  # no ipywidgets: the text bar
            pass
    line = _Line(out)
    try:
        return client.sync(_text_progress, tracker, client.scheduler, line, width, seconds)
    except BaseException:  # (Ctrl-C) the bar's line ends: a traceback starts on its own line,
        line.end()         # and the bar, still drawing until its task is cancelled, is not
        raise              # drawn over it


def _only_empty(value) -> bool:
    """Whether *value* is nothing but (nested) empty lists, tuples, sets and dicts."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple, set, frozenset)):
        return False
    return all(_only_empty(item) for item in value)
