"""The task stream: one rectangle per startstop, one row per worker thread.

::

    state.tasks (Buffer of TaskTransition with startstops)
        --since(cursor)--> task_rectangles(records, rows) --> source.stream(rollover=n)

Only the records appended since the pane's cursor are shaped and sent, so an
update costs O(new tasks) whatever the history.  The rectangles are shaped by
:mod:`shoal.diagnostics.rectangles` (as a report's are): within one update, tiny
back-to-back tasks of a row are drawn as one rectangle whose tooltip counts them,
so ten thousand 5-microsecond tasks are a few dozen rectangles rather than ten
thousand sub-pixel ones, which is what the browser and the dashboard spend
their time on.  Compute rectangles take the prefix's colour (black when the task
erred); transfers are red, disk reads/writes orange and deserialisation grey,
all at alpha 0.4.  When new work starts more than
``clear_interval`` seconds after the last rectangle ended, the old rectangles are
dropped and the rows numbered again from the threads that work after it (so rows
of workers long gone neither stay nor push new ones down), so an idle gap never
squeezes the new work into a sliver; a page opened
later, whose first update is the recent history, shows it from its last idle gap on
(:func:`last_gap`).

The axes' ranges are fitted in the page as the rectangles arrive
(:data:`_FOLLOW_JS`, run by the source's ``streaming`` signal, before the frame is
drawn), not left to a ``DataRange1d``: BokehJS fits a data range while it
paints, and a range that moved asks for another paint, so every update of the
stream was painted twice.  As a data range does, the view stops following the
work once the reader pans or zooms (a range changed other than by the fit) and
follows it again on Reset, or when new work starts after an idle gap (the
source's data replaced).  All of it in the page: ranges set by the server
raced the reader's pan (a fit on its way undid the pan), and Reset showed the
page's first view until the server's answer came.
"""

from __future__ import annotations

import time

from bokeh.events import Reset
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, Range1d, TapTool

from shoal.dashboard.panes._base import Pane, empty, make_figure
from shoal.diagnostics.rectangles import COLUMNS, MERGE_BELOW, task_rectangles
from shoal.events import iter_startstops

__all__ = ["TaskStream", "last_gap"]

#: A tapped rectangle opens the profile of its prefix in a new tab.  The prefix goes
#: through encodeURIComponent: Bokeh's OpenURL runs encodeURI over the whole link,
#: which leaves "&", "+" and "#" as they are (a prefix "a&b" showed the profile of "a").
#: The selection goes again: it dimmed every other rectangle, and as the stream rolled
#: over its index marked other tasks.
_OPEN_PROFILE = """
const i = source.selected.indices[0];
if (i != null) {
  window.open("profile?prefix=" + encodeURIComponent(source.data.prefix[i]), "_blank");
  source.selected.indices = [];
}
"""

#: Fits the view to the rectangles (a pad of 1% of the time span, at least 1 ms, on
#: either side; half a row above and below) unless the reader moved it.  ``what``:
#: "streamed" (new rectangles), "replaced" (new work after an idle gap: follow again),
#: "moved" (a range changed: unless to the view this code fitted last, by a tool:
#: stop following, from a drag's first step on), "reset" (follow again).  (BokehJS
#: runs a callback after its signal, once its code is compiled: the view fitted is
#: compared, not a flag set while fitting.)
_FOLLOW_JS = """
const view = [x_range.start, x_range.end, y_range.start, y_range.end];
if (what === "moved") {
  const fit = x_range.shoal_fit;
  if (fit === undefined || view.some((v, i) => v !== fit[i])) x_range.shoal_free = true;
  return;
}
if (what !== "streamed") x_range.shoal_free = false;
if (x_range.shoal_free) return;
const d = source.data, n = d.left.length;
if (n === 0) return;
let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
for (let i = 0; i < n; i++) {
  if (d.left[i] < x0) x0 = d.left[i];
  if (d.right[i] > x1) x1 = d.right[i];
  if (d.bottom[i] < y0) y0 = d.bottom[i];
  if (d.top[i] > y1) y1 = d.top[i];
}
const pad = Math.max((x1 - x0) * 0.01, 1);
x_range.shoal_fit = [x0 - pad, x1 + pad, y0 - 0.5, y1 + 0.5];
x_range.setv({start: x0 - pad, end: x1 + pad});
y_range.setv({start: y0 - 0.5, end: y1 + 0.5});
"""

def _last_end(record) -> float:
    """When *record*'s last action ended (s): a task with any part after an idle gap
    (its compute, after a transfer before the gap) ends after the gap began."""
    return max((end for _, _, end in iter_startstops(record.startstops)), default=0.0)


def last_gap(left: list, right: list, last_stop, clear_interval_s: float):
    """Where the work after the last idle gap starts (ms), or None: the earliest start
    of rectangles (*left*, *right*, ms) that came more than *clear_interval_s* after
    all earlier work ended, the rectangles drawn before (ending at *last_stop*, None
    for none) included.  Within one update too: a page opened after a pause gets the
    work before it and after it in its first update."""
    gap = clear_interval_s * 1000
    reach, cut = last_stop, None
    for i in sorted(range(len(left)), key=left.__getitem__):
        if reach is not None and left[i] - reach > gap:
            cut = left[i]
        reach = right[i] if reach is None else max(reach, right[i])
    return cut


class TaskStream(Pane):
    """Rectangles of task execution per worker thread; see the module docstring."""

    name, title, interval = "task-stream", "Task Stream", 100

    def __init__(self, state, n_rectangles: int = 1000, clear_interval: float = 10.0,
                 height=None, merge_below: float = MERGE_BELOW, **options):  # fmt: skip
        super().__init__(state, **options)
        self.n_rectangles, self.clear_interval = n_rectangles, clear_interval
        self.merge_below = merge_below
        self.rows: dict = {}
        self.last_stop = None
        # start with the most recent history: about one record per rectangle
        self.cursor = max(0, state.tasks.count - n_rectangles)
        self.source = ColumnDataSource(empty(COLUMNS))
        now = time.time() * 1000  # (before any work: the last ten seconds, not 1970)
        fig = make_figure(self.title, height=height, x_axis_type="datetime",
                          x_range=Range1d(now - 10_000, now), y_range=Range1d(-0.5, 0.5),
                          tools="xpan,xwheel_zoom,box_zoom,reset,save")  # fmt: skip
        glyph = fig.quad(left="left", right="right", bottom="bottom", top="top",
                         source=self.source, fill_color="color", fill_alpha="alpha",
                         line_color=None)  # fmt: skip
        fig.yaxis.visible = False
        fig.ygrid.visible = False
        fig.add_tools(HoverTool(renderers=[glyph], point_policy="follow_mouse", tooltips=[
            ("task", "@name"), ("key", "@key"), ("duration", "@duration{0.000} s"),
            ("tasks drawn here", "@tasks"), ("worker", "@worker")]))  # fmt: skip
        fig.add_tools(TapTool(renderers=[glyph], callback=CustomJS(args={"source": self.source},
                                                                   code=_OPEN_PROFILE)))
        follow = {"source": self.source, "x_range": fig.x_range, "y_range": fig.y_range}
        self.source.js_on_change("streaming", CustomJS(args=dict(follow, what="streamed"),
                                                       code=_FOLLOW_JS))  # fmt: skip
        self.source.js_on_change("data", CustomJS(args=dict(follow, what="replaced"), code=_FOLLOW_JS))
        moved = CustomJS(args=dict(follow, what="moved"), code=_FOLLOW_JS)
        for axis in (fig.x_range, fig.y_range):
            axis.js_on_change("start", moved)
            axis.js_on_change("end", moved)
        fig.js_on_event(Reset, CustomJS(args=dict(follow, what="reset"), code=_FOLLOW_JS))
        self.root = fig

    def opening(self) -> None:
        """Fit the view to the history the page opens with (it went in with the
        document: no ``streaming`` signal in the page fits it), as :data:`_FOLLOW_JS`
        fits later rectangles.  The view stayed on the ten seconds before the page
        opened: a page opened after the work showed none of it until Reset."""
        d = self.source.data
        if not d["left"]:
            return
        x0, x1 = min(d["left"]), max(d["right"])
        pad = max((x1 - x0) * 0.01, 1)
        self.root.x_range.update(start=x0 - pad, end=x1 + pad)
        self.root.y_range.update(start=min(d["bottom"]) - 0.5, end=max(d["top"]) + 0.5)

    def resume(self) -> None:
        """Back in sight: what finished meanwhile beyond the last ``n_rectangles``
        records is left out, as for a page opened now (the whole backlog shaped and
        sent was a megabyte a frame for 8,000 tasks, most of it rolled over at once)."""
        recent = max(0, self.state.tasks.count - self.n_rectangles)
        if recent > self.cursor:
            self.cursor, self.rows, self.last_stop = recent, {}, None
            self.source.data = empty(COLUMNS)  # (the page follows the new work: _FOLLOW_JS)

    def refresh(self) -> None:
        self.cursor, records = self.state.tasks.since(self.cursor)
        if not records:
            return
        data = task_rectangles(records, self.rows, self.merge_below, self.state.colors)
        if not data["left"]:
            return
        cut = last_gap(data["left"], data["right"], self.last_stop, self.clear_interval)
        if cut is not None:  # an idle gap: what came before it goes, and the rows start over
            self.rows = {}  # (only the threads that work from now on: workers come and go)
            after = [r for r in records if _last_end(r) * 1000 >= cut]
            data = task_rectangles(after, self.rows, self.merge_below, self.state.colors)
            # of a task with a part before the gap (a transfer), the part after it
            keep = [i for i, left in enumerate(data["left"]) if left >= cut]
            data = {name: [column[i] for i in keep] for name, column in data.items()}
            self.source.data = empty(COLUMNS)  # (the page follows the new work: _FOLLOW_JS)
            if not keep:
                return
        stop = max(data["right"])
        self.last_stop = stop if self.last_stop is None else max(self.last_stop, stop)
        if len(data["left"]) > self.n_rectangles:  # (the rollover would drop the rest at once)
            data = {name: column[-self.n_rectangles:] for name, column in data.items()}
        self.source.stream(self.themed(data), rollover=self.n_rectangles)
