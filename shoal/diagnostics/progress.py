"""A progress bar for local computations, drawn from the event bus.

Event flow::

    scheduler thread                          render thread (ours, daemon)
    ----------------                          ----------------------------
    GraphSubmitted(ntasks) --+
    TaskTransition(finish) --+--> Buffer --since(cursor) every dt--> _Session --> view
    ComputationFinished   ---+                                      (counts)   (text bar
                                                                               or widget)

The bar subscribes one :class:`~shoal.bus.Buffer` to the bus, so the engine
pays one deque append per record and nothing else.  Our own thread wakes every
``dt`` seconds, reads what arrived, and redraws.  ``ComputationFinished`` is the
exception: the engine's thread reads and draws at once, so the finished bar is
drawn before ``compute()`` returns (a line that came later broke into what the
caller printed next, and in a notebook it belonged to no cell any more).

A *session* is what one bar shows.  It opens at the first ``GraphSubmitted``
seen while no run is open; runs submitted while it is open (a nested compute,
or computes from several threads) join it and add their ``ntasks`` to the
total.  It closes when every run it holds has sent ``ComputationFinished``: the
bar is drawn one last time -- at 100% when all runs finished, at the fraction
reached when one failed -- and ends with a newline.  Sequential computes inside
one ``with ProgressBar():`` therefore draw one bar each, like Dask.

Tasks of runs that started before the bar was active are ignored (their total
is unknown).  Records the buffer dropped (a reader far behind) are counted as
finished tasks: only task records are numerous enough to be dropped.

In a Jupyter kernel (and when no ``out`` is given) the bar is an ipywidgets
``FloatProgress`` with a label; without ipywidgets it falls back to text.
"""

from __future__ import annotations

import sys
import threading
import time

from shoal.core.errortext import exception_text
from shoal import config
from shoal.diagnostics._observer import Observer
from shoal.diagnostics.notebook import FinishedBars, in_kernel
from shoal.bus import Buffer, default_bus

__all__ = ["ProgressBar", "exception_line", "format_bar", "format_time"]

KINDS = ("graph-submitted", "task", "computation-finished")


def format_time(seconds: float) -> str:
    """Elapsed time for the bar, e.g. ``" 1.2s"``, ``"2min 5.0s"``, ``"1hr 3min"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:4.1f}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}min {sec:.1f}s"
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}hr {minutes}min"


def format_bar(fraction: float, width: int, elapsed: float, failed: str = "") -> str:
    """One line of the text bar: ``[####    ] |  50% Completed |  1.2s``; a final
    line that says what failed in place of "Completed" when *failed* says so
    (``[########] | 1 of 8 erred (ValueError: b) |  1.2s``)."""
    fraction = min(1.0, max(0.0, fraction))
    filled = int(width * fraction)
    bar = "#" * filled + " " * (width - filled)
    middle = failed or f"{int(100 * fraction):3d}% Completed"
    return f"[{bar}] | {middle} | {format_time(elapsed)}"


def exception_line(exc, limit: int = 100) -> str:
    """An error on one line, at most *limit* characters: ``"ValueError: bad 5"``."""
    text = exception_text(exc) if isinstance(exc, BaseException) else str(exc)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Session:
    """Counts for one bar: runs open, tasks expected and done."""

    def __init__(self, start: float):
        self.start = start
        self.open: set = set()
        self.runs: set = set()
        self.total = 0
        self.done = 0
        self.failed = ""  # what went wrong, once a run did not finish
        self.end = None

    def fraction(self) -> float:
        if self.end is not None and not self.failed:
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0


class _TextView:
    def __init__(self, out, width: int):
        self.out, self.width = out, width

    def draw(self, fraction, elapsed, final=False, failed=""):
        line = format_bar(fraction, self.width, elapsed, failed if final else "")
        self.out.write("\r" + line + ("\n" if final else ""))
        self.out.flush()


class _WidgetView:
    """An ipywidgets bar while the computation runs, created and displayed on the first
    draw; at its end the output becomes a plain bar a saved notebook keeps
    (:class:`~shoal.diagnostics.notebook.FinishedBars`)."""

    def __init__(self, display=None):
        import ipywidgets  # noqa: F401 - fail here, at choose time, when missing

        self._display = display
        self.bar = self._handle = None

    def draw(self, fraction, elapsed, final=False, failed=""):
        middle = failed if final and failed else f"{int(100 * fraction)}% Completed"
        label = f"{middle} | {format_time(elapsed).strip()}"
        if self.bar is None:
            import ipywidgets

            self.bar = ipywidgets.FloatProgress(min=0.0, max=1.0, value=fraction)
            self.label = ipywidgets.HTML(label)
            display = self._display
            if display is None:
                from IPython.display import display
            self._box = ipywidgets.HBox([self.bar, self.label])
            self._handle = display(self._box, display_id=True)
        self.bar.value = fraction
        self.label.value = label
        if final:
            self.bar.bar_style = "danger" if failed else "success"
            if self._handle is not None:
                self._handle.update(FinishedBars([("", fraction, bool(failed), label)],
                                                 format_bar(fraction, 40, elapsed, failed)))  # fmt: skip
                for w in (self._box, self.bar, self.label):  # ipywidgets keeps each one until
                    for each in (w.layout, getattr(w, "style", None), w):  # closed: 8 a compute
                        if each is not None:
                            each.close()


class ProgressBar(Observer):
    """Show the progress of computations on the local schedulers.

    >>> with ProgressBar():             # doctest: +SKIP
    ...     threads.get(graph, keys)
    [########################################] | 100% Completed |  1.2s

    ``minimum``: seconds a computation must run before anything is drawn;
    ``width``: characters of the text bar; ``dt``: seconds between redraws;
    ``out``: a text stream (default ``sys.stdout``, or a widget in Jupyter).
    Use it as a context manager, or for every compute with :meth:`register`
    until :meth:`unregister`.  ``last_duration`` holds the seconds the last
    finished session took.
    """

    def __init__(self, minimum=None, width=40, dt=None, out=None, bus=None):
        self.minimum = config.checked(config.period, "diagnostics.progress.minimum", minimum,
                                      zero=True)  # fmt: skip
        self.dt = config.checked(config.period, "diagnostics.progress.dt", dt)
        self.width = int(width)
        self.out = out
        self.bus = default_bus if bus is None else bus
        self.last_duration = 0.0
        self._thread = None
        self._tokens = ()
        self._lock = threading.Lock()

    # -- lifetime (context manager / register: see _observer.py) -------------

    def _start(self) -> None:
        if self._thread is not None:
            return
        self._buffer = Buffer()
        self._cursor = 0
        self._session = None
        self._view = None
        self._stopping = threading.Event()
        self._tokens = (self.bus.subscribe(self._buffer, KINDS[:2]),
                        self.bus.subscribe(self._finished, KINDS[2:]))  # fmt: skip
        self._thread = threading.Thread(target=self._loop, name="shoal-progress", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        if self._thread is None:
            return
        for token in self._tokens:
            self.bus.unsubscribe(token)
        self._stopping.set()
        self._thread.join()
        self._thread = None
        self._poll()  # draw what the thread had not seen yet, in this thread
        s = self._session
        if s is not None and self._view is not None:  # stopped mid-compute: end the line
            self._draw(s.fraction(), time.time() - s.start, final=True, failed=s.failed)
        self._session = self._view = None

    # -- rendering --------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.wait(self.dt):
            self._poll()

    def _finished(self, rec) -> None:  # in the engine's thread, as its run ends
        self._buffer.append(rec)
        self._poll()

    def _poll(self) -> None:
        with self._lock:
            cursor, records = self._buffer.since(self._cursor)
            dropped = cursor - self._cursor - len(records)
            self._cursor = cursor
            if dropped > 0 and self._session is not None:
                self._session.done += dropped
            for rec in records:
                self._consume(rec)
            s = self._session
            if s is not None:
                elapsed = time.time() - s.start
                if elapsed >= self.minimum:
                    self._draw(s.fraction(), elapsed)

    def _consume(self, rec) -> None:
        s = self._session
        kind = rec.kind
        if kind == "graph-submitted":
            if s is None:
                s = self._session = _Session(rec.time)
            s.open.add(rec.run_id)
            s.runs.add(rec.run_id)
            s.total += rec.ntasks
        elif s is None or rec.run_id not in s.runs:
            return
        elif kind == "task":
            if rec.finish in ("memory", "erred"):
                s.done += 1
        elif rec.run_id in s.open:  # computation-finished
            s.open.discard(rec.run_id)
            if rec.status == "cancelled" and not s.failed:
                s.failed = "cancelled"
            elif rec.status != "finished" and not s.failed:
                s.failed = (f"failed ({exception_line(rec.exception)})" if rec.exception
                            else "failed")  # fmt: skip
            if not s.open:
                s.end = rec.time
                self._close(s)

    def _close(self, s: _Session) -> None:
        elapsed = s.end - s.start
        self.last_duration = elapsed
        if elapsed >= self.minimum:
            self._draw(s.fraction(), elapsed, final=True, failed=s.failed)
        self._session = None
        self._view = None

    def _draw(self, fraction, elapsed, final=False, failed="") -> None:
        if self._view is None:
            self._view = self._make_view()
        self._view.draw(fraction, elapsed, final=final, failed=failed)

    def _make_view(self):
        if self.out is None and in_kernel():
            try:
                return _WidgetView()
            except ImportError:
                pass
        return _TextView(self.out if self.out is not None else sys.stdout, self.width)
