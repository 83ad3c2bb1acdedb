"""The pane contract, in Bokeh terms.

A pane owns a ``ColumnDataSource`` (``self.source``), a root model
(``self.root``) and ``update()``, which a Bokeh periodic callback calls on the
document's thread.  ``update()`` does nothing when the state's ``generation``
did not move; otherwise it calls ``refresh()``, which shapes a snapshot with the
pure functions of the family module and pushes the result with
:meth:`Pane.push` (whole-column replacement, skipped when equal) -- or,
for the task stream, ``source.stream`` of the new rows only.

A browser repaints a plot's whole canvas for any change to it, which is most of
what an open page costs (``docs/benchmarks.md``).  A pane whose picture moves
less than a pixel per tick (memory bars growing by kilobytes against a limit of
gigabytes) therefore asks :meth:`Pane.same_look` first: it compares what the
picture shows (widths rounded to a thousandth, texts) with what was last drawn,
and skips the tick unless the look changed or :data:`SETTLE` seconds passed;
a skipped update is sent once SETTLE has passed even when nothing new arrives,
so tooltips and exact figures are never more than that late.
"""

from __future__ import annotations

import logging
import time

from bokeh.models import AdaptiveTicker, ColumnDataSource, CustomJSTickFormatter
from bokeh.plotting import figure

from shoal.diagnostics.report import clock_axis

log = logging.getLogger("shoal.dashboard")

SETTLE = 1.0  # seconds: the most a change that the picture does not show waits
#: The data columns that hold colours (``Pane.themed``).
DATA_COLOR_COLUMNS = ("color", "line")
#: A pane whose updates fail logs its traceback once per this many seconds (with how many
#: failed since), for all its sessions together: each open page updates it 2-8 times a
#: second, and the dashboard's log, its parent's cell output, would fill with the same one.
FAILURE_LOG_INTERVAL = 60.0
_failures: dict = {}  # pane name -> [failures since the last log line, when that was]


class Pane:
    """Base of every pane: see the module docstring."""

    name = ""  # registry name; the individual page is /individual-<name>
    title = ""
    interval = 500  # ms between update() calls when shown alone

    def __init__(self, state, **options):
        self.state = state
        self.options = options
        self._generation = -1
        self._pushed: dict = {}
        self._look = None
        self._look_time = 0.0
        self._skipped = False  # same_look skipped an update not sent since
        #: colour -> colour for the data columns of a dark page (``theme.apply``)
        self.data_colors: dict | None = None

    def update(self) -> None:
        generation = self.state.generation
        if generation == self._generation and not self._overdue():
            return
        self._generation = generation
        try:
            self.refresh()
        except Exception:  # a pane must never kill its session's callbacks
            record = _failures.setdefault(self.name, [0, -FAILURE_LOG_INTERVAL])
            record[0] += 1
            now = time.monotonic()
            if now - record[1] >= FAILURE_LOG_INTERVAL:
                log.exception("dashboard pane %s failed to update (%d times in all its pages "
                              "since the last such report)", self.name, record[0])  # fmt: skip
                record[:] = [0, now]

    def refresh(self) -> None:  # pragma: no cover - every pane overrides it
        raise NotImplementedError

    def opening(self) -> None:
        """The page's first refresh is done and its document is about to go to the
        browser: a pane whose view the page fits as data arrives (the task stream)
        fits it to what that first refresh put in."""

    def resume(self) -> None:
        """The page is in sight again after a while out of it (``pages.SHOWN_JS``): the
        next :meth:`update` brings the pane up to date.  A pane that sends only what
        is new (the task stream) starts over from the recent history here."""

    def same_look(self, look) -> bool:
        """True when *look* (a hashable summary of what the picture shows) is what
        was drawn last, less than :data:`SETTLE` seconds ago: skip this update.
        Otherwise it becomes the drawn look and the caller pushes."""
        now = time.monotonic()
        if look == self._look and now - self._look_time < SETTLE:
            self._skipped = True
            return True
        self._look, self._look_time, self._skipped = look, now, False
        return False

    def _overdue(self) -> bool:
        """A skipped update is due (SETTLE passed), even if nothing new came since."""
        return self._skipped and time.monotonic() - self._look_time >= SETTLE

    def push(self, source: ColumnDataSource, data: dict) -> bool:
        """Replace *source*'s columns with *data* unless they are equal to what
        was pushed last; returns whether anything was sent."""
        if self._pushed.get(id(source)) == data:
            return False
        self._pushed[id(source)] = data
        source.data = self.themed(data)
        return True

    def themed(self, data: dict) -> dict:
        """*data* with its colour columns in the page's theme (as it is on a light page:
        the panes' state colours, black for erred, white for released, are light-page ones)."""
        colors = self.data_colors
        if not colors:
            return data
        out = dict(data)
        for column in DATA_COLOR_COLUMNS:
            if column in out:
                out[column] = [colors.get(c, c) if isinstance(c, str) else c for c in out[column]]
        return out


#: BokehJS 3.9.1 and 3.9.2 redraw a table only when its number of rows changes
#: (bokeh/bokeh#15328: its view's indices are compared, and equal ones say nothing).
#: A table whose source's data is replaced tells its view itself, which redraws the
#: grid keeping the reader's scroll position and sort (a new source would rebuild it).
_REDRAW_JS = "view.change.emit()"


def live_table(source: ColumnDataSource, columns, **options):
    """A ``DataTable`` of *source* that shows each new ``source.data`` (see :data:`_REDRAW_JS`).
    Its rows are not selectable: a selection is a row's position, which the next data
    may give to another worker, and the redraw scrolls back to a selected row."""
    from bokeh.models import CustomJS, DataTable

    options.setdefault("selectable", False)
    options.setdefault("reorderable", False)  # (BokehJS wants jquery-ui for it: a console warning)
    table = DataTable(source=source, columns=columns, **options)
    source.js_on_change("data", CustomJS(args={"view": table.view}, code=_REDRAW_JS))
    return table


def empty(columns) -> dict:
    return {c: [] for c in columns}


#: A byte tick's label in its own binary unit, exact to three decimals ("1.5 GiB",
#: "768 MiB"): :func:`bytes_axis`'s ticks fall on powers of two, which those write exactly.
BYTES_JS = """
if (!Number.isFinite(tick) || tick === 0) return "0";
const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
let value = Math.abs(tick), unit = 0;
while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
return `${tick < 0 ? "-" : ""}${Number(value.toFixed(3))} ${units[unit]}`;
"""


def bytes_axis(axis) -> None:
    """An axis of bytes: ticks a power of two apart (512 MiB, 2 GiB, 4 GiB...), labelled
    in binary units (:data:`BYTES_JS`).  Bokeh's decimal steps written in binary units
    read "4.7, 9.3, 14.0 GiB", and steps of 1, 2 or 5 binary units labelled as whole
    ones read "1000 MiB, 1 GiB, 2 GiB, 2 GiB" (1500 and 2500 MiB rounded)."""
    axis.ticker = AdaptiveTicker(base=2, mantissas=[1], min_interval=1, num_minor_ticks=0)
    axis.formatter = CustomJSTickFormatter(code=BYTES_JS)


def make_figure(title: str = "", height=None, **kwargs):
    """A figure filling its container (or the page width at a fixed *height*),
    a quiet toolbar and no logo."""
    kwargs.setdefault("tools", "pan,wheel_zoom,box_zoom,reset,save")
    kwargs.setdefault("toolbar_location", "above")
    if height:
        kwargs.update(height=height, sizing_mode="stretch_width")
    else:
        kwargs.setdefault("sizing_mode", "stretch_both")
    fig = figure(title=title, **kwargs)
    fig.toolbar.logo = None
    fig.min_border_right = 20
    if kwargs.get("x_axis_type") == "datetime":
        clock_axis(fig)
    return fig
