"""Bokeh pages: which panes each route shows, how they are laid out and refreshed.

::

    route -> Application(FunctionHandler(make_doc)) -> per browser session:
        make_doc(doc): panes = [Pane(state, ...)]; doc.add_root(layout);
                       doc.add_periodic_callback(update all panes, interval)

Every session builds its own panes (Bokeh models belong to one document) over
the one shared :class:`~shoal.dashboard.state.DashboardState`; a pane's
``update()`` is a no-op while nothing new was ingested, so idle sessions cost
a few attribute reads per tick.  ``/status`` refreshes every
:data:`STATUS_INTERVAL` ms (about 6-7 updates a second under load: what the eye follows,
at less browser time than 10 a second); the full
pages carry a navigation bar of *relative* links, so they work at any URL
prefix (Jupyter's ``/proxy/8787/``); ``/individual-*`` pages show one pane and
no bar, for iframes.
"""

from __future__ import annotations

from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.core.templates import get_env
from bokeh.core.properties import Bool
from bokeh.layouts import column, row
from bokeh.model import DataModel
from bokeh.models import CustomJS, InlineStyleSheet, TabPanel, Tabs

from shoal.dashboard import theme
from shoal.dashboard.panes import PANES, individual_route
from shoal.dashboard.panes.graph import Graph
from shoal.dashboard.panes.memory import ClusterMemory, WorkersMemory
from shoal.dashboard.panes.profile import Profile
from shoal.dashboard.panes.stream import TaskStream
from shoal.dashboard.panes.system import System
from shoal.dashboard.panes.tasks import Progress
from shoal.dashboard.panes.workers import Cpu, NProcessing, Occupancy, WorkerTable

__all__ = ["NAV", "NAV_CSS", "PAGES", "PageShown", "STATUS_INTERVAL", "applications",
           "individual_plots", "pane_routes"]

STATUS_INTERVAL = 130  # ms between refreshes of /status

# navigation bar: (label, relative link); "info" is a plain HTML page
NAV = (("Status", "status"), ("Workers", "workers"), ("Tasks", "tasks"), ("System", "system"),
       ("Profile", "profile"), ("Graph", "graph"), ("Info", "info/main/workers.html"))  # fmt: skip

# Why every page patches BokehJS's ``ClientConnection.connect``: a page reconnects by
# itself when its dashboard process died and the scheduler started a new one on the
# same port, but BokehJS keeps one message receiver per connection, not per socket.
# A process killed in the middle of a message (a header sent, not its content) left
# it half full, and it then read every message of the new server one fragment out of
# step ("No msgid in header", "First message was not an ACK", close code 1002, which
# a browser refuses): the page stayed stuck, in about one restart of three.  Each
# socket now starts with a receiver of its own.  And a change the page makes while
# its new socket still connects (a range that follows new data) is not sent: the
# browser threw "Still in CONNECTING state" from BokehJS's send, an uncaught error in
# the page (a CI run); the new session's document follows anyway.  Nor is one made
# once the socket is gone (a lab pane hidden as its dashboard closed: BokehJS logged
# "not connected so cannot send" in the console).
# the navigation bar's look, on the Bokeh pages and the /info pages alike
NAV_CSS = """\
  body { font-family: system-ui, sans-serif; }
  .shoal-nav { height: 34px; display: flex; align-items: center; gap: 4px;
               background: #2b3a42; padding: 0 8px; overflow-x: auto; }
  .shoal-nav a, .shoal-nav span { flex: none; }
  .shoal-nav a { color: #eee; text-decoration: none; padding: 6px 10px; font-size: 14px; }
  .shoal-nav a.active { background: #4a6170; border-radius: 4px; }
  .shoal-nav .brand { color: #fff; font-weight: bold; margin-right: 12px; }
  .shoal-main { height: calc(100% - 34px); }
  @media (max-width: 520px) {  /* a side panel: every link fits (the bar scrolls, if it must) */
    .shoal-nav { gap: 0; padding: 0 4px; }
    .shoal-nav a { padding: 6px 4px; font-size: 13px; }
    .shoal-nav .brand { display: none; }
  }
"""

#: Below this width /status's two columns stack, each pane at its least height, and the
#: page scrolls; above it the page fills the window (the panes share its height).
NARROW_CSS = "@media (max-width: 799px) { :host { height: auto !important; } }"

_TEMPLATE = """\
{% extends "file.html.jinja" %}
{% block preamble %}{% if nav or theme_css %}
<style>
{% if nav %}""" + NAV_CSS + """{% endif %}{{ theme_css }}\
</style>
{% endif %}{% endblock %}
{% block postamble %}
<script>
(function () {  // a fresh receiver per socket, no send before it opens: see pages.py
  const {ClientConnection} = Bokeh.require("client/connection");
  const connect = ClientConnection.prototype.connect;
  if (connect.shoal_fresh_receiver) return;
  ClientConnection.prototype.connect = function () {
    if (this._receiver) this._receiver = new this._receiver.constructor();
    return connect.call(this);
  };
  ClientConnection.prototype.connect.shoal_fresh_receiver = true;
  const send = ClientConnection.prototype.send;
  ClientConnection.prototype.send = function (message) {
    if (this.socket == null || this.socket.readyState !== WebSocket.OPEN) return;
    return send.call(this, message);
  };
})();
</script>
{% endblock %}
{% block contents %}
{% if nav %}
<nav class="shoal-nav"><span class="brand">shoal</span>
{% for label, link in nav %}
<a href="{{ link }}{{ nav_query }}"{% if link == active %} class="active"{% endif %}>{{ label }}</a>
{% endfor %}</nav>
<div class="shoal-main">{{ super() }}</div>
{% else %}{{ super() }}{% endif %}
{% endblock %}
"""

_page_template = None


def page_template():
    global _page_template
    if _page_template is None:
        _page_template = get_env().from_string(_TEMPLATE)
    return _page_template


class PageShown(DataModel):
    """Whether the reader can see the page (:data:`SHOWN_JS` keeps it true or false)."""

    shown = Bool(True)


# Keeps a page's ``PageShown`` true while the reader can see it: the tab shown
# (the Page Visibility API) and the page on screen.  A page in a hidden tab, in a
# JupyterLab panel behind another (its iframe undisplayed) or in an iframe scrolled
# out of a notebook's view has nothing on screen (no intersection with the
# viewport).  Its session then stops refreshing its panes: the browser applies
# no update nobody sees (a hidden tab's page applied them all, each one script
# time, and a tab the browser froze got them all at once when it woke: a backlog
# replayed), and the next refresh once shown brings every pane up to date.
SHOWN_JS = """
let on_screen = true;
const update = () => {
  const shown = on_screen && document.visibilityState !== "hidden";
  if (page.shown !== shown) page.shown = shown;
};
document.addEventListener("visibilitychange", update);
if (typeof IntersectionObserver === "function") {
  new IntersectionObserver((entries) => {
    on_screen = entries[entries.length - 1].isIntersecting;
    update();
  }).observe(document.documentElement);
}
update();
"""


def _finish(doc, panes, layout, interval: int, title: str, active=None, shown=None) -> None:
    """Add *layout* to *doc* and refresh *panes* every *interval* ms while the reader can
    see the page (:data:`SHOWN_JS`), those for which ``shown(pane)`` is true when given
    (a pane in a hidden tab of the page waits until it is shown)."""
    doc.title = f"shoal: {title}"
    doc.template = page_template()  # (every page: its reconnection fix; pages: the nav bar)
    look = theme.page_theme(_arguments(doc))
    theme.apply(doc, layout, look, panes)
    doc.template_variables.update(theme_css=theme.page_css(look))
    if active is not None:  # (a dark page's links keep it dark)
        doc.template_variables.update(nav=NAV, active=active,
                                      nav_query="?theme=dark" if look == "dark" else "")
    page = PageShown()
    layout.tags = [*layout.tags, page]  # (in the document, so the page's changes reach here)
    doc.add_root(layout)
    doc.js_on_event("document_ready", CustomJS(args={"page": page}, code=SHOWN_JS))

    away = [False]  # the page was out of sight at a tick

    def tick():
        if not page.shown:
            away[0] = True
            return
        if away[0]:
            away[0] = False
            for pane in panes:
                pane.resume()
        for pane in panes:
            if shown is None or shown(pane):
                pane.update()

    tick()
    for pane in panes:
        pane.opening()
    doc.add_periodic_callback(tick, interval)


def status_doc(state, doc) -> None:
    cluster, workers = ClusterMemory(state, height=110), WorkersMemory(state)
    nprocessing, cpu, occupancy = NProcessing(state), Cpu(state), Occupancy(state)
    stream, progress = TaskStream(state, n_rectangles=1000, clear_interval=5.0), Progress(state)
    for pane, least in ((workers, 220), (nprocessing, 220), (cpu, 220), (occupancy, 220),
                        (stream, 300), (progress, 300)):
        pane.root.min_height = least
    tabs = Tabs(tabs=[TabPanel(child=nprocessing.root, title="Processing"),
                      TabPanel(child=cpu.root, title="CPU"),
                      TabPanel(child=occupancy.root, title="Occupancy")],
                sizing_mode="stretch_both", min_height=250)  # fmt: skip
    narrow = InlineStyleSheet(css=NARROW_CSS)
    left = column(cluster.root, workers.root, tabs, sizing_mode="stretch_both",
                  styles={"flex": "1 1 380px"}, stylesheets=[narrow])
    right = column(stream.root, progress.root, sizing_mode="stretch_both",
                   styles={"flex": "1 1 380px"}, stylesheets=[narrow])
    layout = row(left, right, sizing_mode="stretch_both", styles={"flex-wrap": "wrap"},
                 stylesheets=[narrow])
    panes = [cluster, workers, nprocessing, cpu, occupancy, stream, progress]
    tabbed = [nprocessing, cpu, occupancy]  # in tab order; only the active tab refreshes

    def shown(pane) -> bool:
        return pane not in tabbed or tabbed.index(pane) == tabs.active

    _finish(doc, panes, layout, STATUS_INTERVAL, "Status", active="status", shown=shown)


def workers_doc(state, doc) -> None:
    table, memory, cpu = (WorkerTable(state, height=320), WorkersMemory(state, height=260),
                          Cpu(state, height=260))  # fmt: skip
    for pane in (memory, cpu):  # (side by side, or one above the other in a narrow panel)
        pane.root.styles = {**pane.root.styles, "flex": "1 1 380px"}
    plots = row(memory.root, cpu.root, sizing_mode="stretch_width", styles={"flex-wrap": "wrap"})
    layout = column(table.root, plots, sizing_mode="stretch_width")
    _finish(doc, [table, memory, cpu], layout, 500, "Workers", active="workers")


def tasks_doc(state, doc) -> None:
    stream = TaskStream(state, n_rectangles=state.limits.task_stream, clear_interval=60.0)
    _finish(doc, [stream], stream.root, 1000, "Tasks", active="tasks")


def profile_doc(state, doc) -> None:
    prefix = (_arguments(doc).get("prefix") or [b""])[0]
    pane = Profile(state, prefix=prefix.decode(errors="replace") if prefix else None)
    _finish(doc, [pane], pane.root, 1000, "Profile", active="profile")


def graph_doc(state, doc) -> None:
    pane = Graph(state)
    _finish(doc, [pane], pane.root, 200, "Graph", active="graph")


def system_doc(state, doc) -> None:
    pane = System(state)
    _finish(doc, [pane], pane.root, 500, "System", active="system")


def individual_doc(state, name, doc) -> None:
    cls = PANES[name]
    options = {"n_rectangles": 1000, "clear_interval": 10.0} if cls is TaskStream else {}
    if cls is Profile:
        prefix = (_arguments(doc).get("prefix") or [b""])[0]
        options["prefix"] = prefix.decode(errors="replace") or None
    pane = cls(state, **options)
    _finish(doc, [pane], pane.root, pane.interval, pane.title)


PAGES = {"/status": status_doc, "/workers": workers_doc, "/tasks": tasks_doc,
         "/profile": profile_doc, "/graph": graph_doc, "/system": system_doc}  # fmt: skip


def applications(state) -> dict:
    """``{route: Application}`` for every Bokeh page, bound to *state*."""
    apps = {}
    for route, make in PAGES.items():
        apps[route] = Application(FunctionHandler(_bind(make, state)))
    for name in PANES:
        make = _bind(individual_doc, state, name)
        apps[individual_route(name)] = Application(FunctionHandler(make))
    return apps


def _arguments(doc) -> dict:
    """The page request's query arguments (none for a document made outside a server)."""
    context = doc.session_context
    request = getattr(context, "request", None) if context is not None else None
    return getattr(request, "arguments", None) or {}


def _bind(make, *args):
    def modify_doc(doc):
        make(*args, doc)

    return modify_doc


def pane_routes() -> dict:
    """``panes.json``: pane title -> route (one ``/individual-*`` page each)."""
    return {cls.title: individual_route(name) for name, cls in PANES.items()}


def individual_plots() -> dict:
    """``individual-plots.json`` in Dask's spelling: ``"Individual Task Stream"`` -> route."""
    out = {}
    for name in PANES:
        route = individual_route(name)
        out[route.strip("/").replace("-", " ").title()] = route
    return out
