"""The task stream: one rectangle per startstop, one row per worker thread.

::

    state.tasks (Buffer of TaskTransition with startstops)
        --since(cursor)--> task_rectangles(records, rows) --> source.stream(rollover=n)

Only the records appended since the pane's cursor are shaped and sent, so an
update costs O(new tasks) whatever the history.  Tiny tasks are drawn together:
within one update, back-to-back rectangles of a row of the same prefix, each
shorter than ``merge_below`` (2 ms; about a pixel at the usual zoom) and less
than that apart, become one rectangle whose tooltip counts its tasks.  Ten
thousand 5-microsecond tasks are then a few dozen rectangles rather than ten
thousand sub-pixel ones, which is what the browser and the dashboard spend
their time on.  Times are wall-clock
milliseconds (a Bokeh datetime axis).  Compute rectangles take the prefix's
colour (black when the task erred); transfers are red, disk reads/writes orange
and deserialisation grey, all at alpha 0.4.  When new work starts more than
``clear_interval`` seconds after the last rectangle ended, the old rectangles are
dropped and the rows numbered again from the threads that work after it (so rows
of workers long gone neither stay nor push new ones down), so an idle gap never
squeezes the new work into a sliver; a page opened
later, whose first update is the recent history, shows it from its last idle gap on
(:func:`last_gap`).

The axes' ranges are set here, in the same update as the rectangles
(:func:`task_extent`), not left to a ``DataRange1d``: BokehJS fits a data range
while it paints, and a range that moved asks for another paint, so every update
of the stream was painted twice.  As a data range does, the view stops following
the data once the reader pans or zooms (the page changes the ranges: any change
not made here) and follows it again on Reset, or when new work starts after an
idle gap.
"""

from __future__ import annotations

from bokeh.events import Reset
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, Range1d, TapTool

from shoal.core.keys import key_str
from shoal.dashboard.panes._base import Pane, empty, make_figure
from shoal.dashboard.panes.style import action_style
from shoal.events import iter_startstops

__all__ = ["COLUMNS", "TaskStream", "last_gap", "task_extent", "task_rectangles"]

#: A tapped rectangle opens the profile of its prefix in a new tab.  The prefix goes
#: through encodeURIComponent: Bokeh's OpenURL runs encodeURI over the whole link,
#: which leaves "&", "+" and "#" as they are (a prefix "a&b" showed the profile of "a").
_OPEN_PROFILE = """
const i = source.selected.indices[0];
if (i != null) {
  window.open("profile?prefix=" + encodeURIComponent(source.data.prefix[i]), "_blank");
}
"""

COLUMNS = ("left", "right", "bottom", "top", "color", "alpha", "name", "prefix", "key", "duration",
           "worker", "tasks")  # fmt: skip

MERGE_BELOW = 0.002  # seconds: shorter rectangles this close together are drawn as one


def task_rectangles(records, rows: dict, merge_below: float = 0.0, colors=None) -> dict:
    """Columns of rectangles for *records*; *rows* maps ``(worker, thread)`` to a
    row number and grows as new threads appear (owned by the caller).  With
    ``merge_below`` (seconds), back-to-back rectangles of a row with the same
    prefix, action and colour, each shorter than that and less than that apart, become
    one (prefixes may share a colour: never one rectangle for two of them).  *colors*:
    a prefix's colour (:func:`~shoal.diagnostics.colors.action_style`'s)."""
    out = empty(COLUMNS)
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
                    and 0 <= begin * 1000 - out["right"][i] < merge_below * 1000):  # fmt: skip
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


def task_extent(data: dict, pad: float = 0.01):
    """The view of rectangles *data* (``left`` / ``right`` in ms, ``bottom`` / ``top``
    rows): ``(x0, x1, y0, y1)`` with *pad* of the time span (at least 1 ms) on either
    side and half a row above and below; None when there are none.

    >>> task_extent({"left": [1000.0, 1500.0], "right": [1200.0, 2000.0],
    ...              "bottom": [-0.4, 0.6], "top": [0.4, 1.6]})
    (990.0, 2010.0, -0.9, 2.1)
    """
    if not data["left"]:
        return None
    x0, x1 = min(data["left"]), max(data["right"])
    margin = max((x1 - x0) * pad, 1.0)
    return x0 - margin, x1 + margin, min(data["bottom"]) - 0.5, max(data["top"]) + 0.5


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
        self.follow = True  # the ranges follow the data (until the reader pans or zooms)
        self._fitting = False  # fit() is setting the ranges
        fig = make_figure(self.title, height=height, x_axis_type="datetime", x_range=Range1d(0, 1),
                          y_range=Range1d(-0.5, 0.5), tools="xpan,xwheel_zoom,box_zoom,reset,save")
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
        for axis in (fig.x_range, fig.y_range):
            axis.on_change("start", self._moved)
            axis.on_change("end", self._moved)
        fig.on_event(Reset, self._reset)
        self.root = fig

    def _moved(self, attr, old, new) -> None:
        if not self._fitting:  # the reader moved the view (or Reset put it back)
            self.follow = False

    def _reset(self, event) -> None:
        self.follow = True
        self.fit()

    def fit(self) -> None:
        """Set the axes to the rectangles drawn, while following them."""
        box = task_extent(self.source.data) if self.follow else None
        if box is None:
            return
        x_range, y_range = self.root.x_range, self.root.y_range
        self._fitting = True
        try:
            if (x_range.start, x_range.end) != box[:2]:
                x_range.update(start=box[0], end=box[1])
            if (y_range.start, y_range.end) != box[2:]:
                y_range.update(start=box[2], end=box[3])
        finally:
            self._fitting = False

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
            self.source.data = empty(COLUMNS)
            self.follow = True  # new work: show it
            if not keep:
                return
        stop = max(data["right"])
        self.last_stop = stop if self.last_stop is None else max(self.last_stop, stop)
        self.source.stream(data, rollover=self.n_rectangles)
        self.fit()
