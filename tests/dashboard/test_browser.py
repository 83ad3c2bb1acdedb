"""The live dashboard in a real browser (Chromium through Playwright).

::

    LocalCluster(n_workers=2, dashboard_address=":0") + Client        (module fixture)
        client.map(time.sleep, [0.02] * 3000) -> events -> its dashboard process
                                                        -> a second one, --prefix /proxy/8787
    Chromium --HTTP/websocket--> /status, every /individual-* pane,
                                 /proxy/8787/status (prefix), a stripping proxy in front
    page.evaluate(SNAPSHOT_JS): Bokeh.documents[-1] -> ColumnDataSources -> numbers

The checks read Bokeh's document state in the page rather than pixels: the
sources are recognised by their columns (the task stream's has ``duration``
and ``key``; the progress rows' per-segment counts; the memory bars'
``nbytes``, ``limit`` and ``info``, the cluster's bar being the one whose only
worker is ``"cluster"``).  Every page is also saved as a PNG (see
``conftest.artifacts``), and any console error or uncaught exception in a page
fails its test (``conftest.pytest_runtest_call``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("bokeh", reason="pip install bokeh (the test extra has it)")
pytest.importorskip("tornado", reason="pip install tornado (the test extra has it)")
pytest.importorskip("playwright", reason="pip install playwright (the test extra has it)")

N_TASKS, SLEEP = 3000, 0.02  # ~30 s of work on two one-thread workers: always still running
ROLLOVER = 1000  # /status keeps this many task-stream rectangles (pages.status_doc)

# Numbers from the page's Bokeh document (the last one: a page holds one).
SNAPSHOT_JS = """() => {
  const docs = (window.Bokeh && Bokeh.documents) || [];
  const doc = docs[docs.length - 1];
  const out = {roots: 0, idle: false, stream: null, progress: null, memory: null, cluster: null,
               now: Date.now()};
  if (doc === undefined) return out;
  out.roots = doc.roots().length;
  out.idle = doc.is_idle;
  for (const m of doc.all_models) {
    if (m.type !== "ColumnDataSource") continue;
    const d = m.data, cols = Object.keys(d);
    const has = (...names) => names.every((c) => cols.includes(c));
    if (has("duration", "key", "left", "right")) {
      let last = 0;
      for (const r of d.right) last = Math.max(last, r);
      out.stream = {n: d.left.length, last: last};
    } else if (has("prefix", "released", "memory", "erred", "processing", "total")) {
      let done = 0, processing = 0;
      const prefixes = [];
      Array.from(d.prefix).forEach((p, i) => {
        if (p === "") return;  // the summary line
        prefixes.push(p);
        done += d.released[i] + d.memory[i] + d.erred[i];
        processing += d.processing[i];
      });
      out.progress = {prefixes: prefixes, done: done, processing: processing};
    } else if (has("nbytes", "limit", "info", "worker")) {
      const workers = [...new Set(d.worker)];
      let bytes = 0;
      for (const b of d.nbytes) bytes += b;
      const entry = {workers: workers, links: [...new Set(d.info)], segments: d.worker.length,
                     bytes: bytes};
      if (workers.length === 1 && workers[0] === "cluster") out.cluster = entry;
      else out.memory = entry;
    }
  }
  return out;
}"""

# The root views are drawn, with a size (a pane that failed to lay out has none).
RENDERED_JS = """() => {
  const docs = (window.Bokeh && Bokeh.documents) || [];
  const doc = docs[docs.length - 1];
  if (doc === undefined || !doc.is_idle || doc.roots().length === 0) return false;
  return doc.roots().every((root) => {
    const view = Bokeh.index.get(root);
    if (view == null) return false;
    const box = view.el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  });
}"""


# --- fixtures -------------------------------------------------------------------------


PREFIX = "/proxy/8787"


@pytest.fixture(scope="module")
def cluster(leak_check):
    """Two one-thread worker processes, the scheduler's dashboard process, and a
    second dashboard process on the same scheduler serving under ``PREFIX`` (for
    proxies that keep the prefix, e.g. ``/proxy/absolute/8787``), spawned here so
    that its start overlaps the first tests: ``(cluster, client, prefixed)``."""
    from shoal.diagnostics.dashboard import DashboardProcess
    from shoal.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as lc, \
            Client(lc) as client:  # fmt: skip
        prefixed = DashboardProcess(lc.scheduler_address, port=0, prefix=PREFIX).spawn()
        try:
            client.wait_for_workers(2, timeout=30)
            assert lc.dashboard_link, "LocalCluster(dashboard_address=':0') started no dashboard"
            yield lc, client, prefixed
        finally:
            prefixed.close()


@pytest.fixture
def base(cluster) -> str:
    """The dashboard's root URL (no trailing slash)."""
    link = cluster[0].dashboard_link
    assert link.endswith("/status"), link
    return link[: -len("/status")]


@pytest.fixture
def compute(cluster):
    """``compute()`` starts a few thousand short sleeps; cancelled at teardown."""
    client, started = cluster[1], []

    def start(n: int = N_TASKS, seconds: float = SLEEP):
        futures = client.map(time.sleep, [seconds] * n, pure=False)
        started.extend(futures)
        return futures

    yield start
    if started:
        client.cancel(started)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=20) as r:
        assert r.status == 200, (url, r.status)
        return json.loads(r.read())


def snapshot(page) -> dict:
    return page.evaluate(SNAPSHOT_JS)


def wait_for(page, predicate, what: str, timeout: float = 20.0) -> dict:
    """Poll the page's snapshot until ``predicate(snapshot)``; the snapshot."""
    deadline = time.monotonic() + timeout
    while True:
        snap = snapshot(page)
        try:
            if predicate(snap):
                return snap
        except (TypeError, KeyError):  # a pane not there yet
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; last snapshot: {snap}")
        page.wait_for_timeout(100)


def open_page(page, url: str) -> None:
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, (url, response and response.status)
    page.wait_for_function(RENDERED_JS, timeout=20_000)


# --- /status ----------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_status_grows_while_computing(page, cluster, base, compute, artifacts):
    client = cluster[1]
    open_page(page, f"{base}/status")
    assert page.title() == "shoal: Status"
    names = sorted(str(w.get("name", a)) for a, w in client.scheduler_info()["workers"].items())
    before = wait_for(page, lambda s: len(s["memory"]["workers"]) == 2 and s["cluster"],
                      "a memory bar per worker")  # fmt: skip

    compute()
    first = wait_for(page, lambda s: s["stream"]["n"] > before["stream"]["n"] and
                     s["progress"]["done"] > 0, "the first task rectangles")  # fmt: skip
    second = wait_for(page, lambda s: s["stream"]["last"] > first["stream"]["last"] + 500 and
                      s["progress"]["done"] > first["progress"]["done"],
                      "half a second more of task rectangles")  # fmt: skip
    page.screenshot(path=str(artifacts / "status.png"))

    # the task stream grows (until its rollover, after which its newest edge moves on)
    if first["stream"]["n"] < ROLLOVER:
        assert second["stream"]["n"] > first["stream"]["n"], (first, second)
    assert second["stream"]["n"] <= ROLLOVER
    assert second["stream"]["last"] > first["stream"]["last"]
    assert second["now"] - second["stream"]["last"] < 5_000, "the task stream lags behind"
    # the progress bars fill
    assert "sleep" in second["progress"]["prefixes"], second["progress"]
    assert second["progress"]["done"] > first["progress"]["done"] > 0
    # one memory bar per worker (and one for the cluster), each worker's link its own
    memory = second["memory"]
    assert sorted(map(str, memory["workers"])) == names, (memory, names)
    assert len(memory["links"]) == 2 and all(link.startswith("info/worker/")
                                             for link in memory["links"])  # fmt: skip
    assert memory["bytes"] > 0 and second["cluster"]["segments"] >= 1


def test_local_dashboard_status_shows_a_threads_compute_and_this_process(page, artifacts):
    """``Dashboard()`` for the local schedulers: the task stream and progress grow
    while a threads compute runs, and the memory panes show this process."""
    from shoal.delayed import delayed
    from shoal.diagnostics import Dashboard

    results, stop = [], threading.Event()

    def work(pool):  # one compute after another until the checks are done
        while not stop.is_set():
            parts = [delayed(time.sleep)(0.01, dask_key_name=f"nap-{len(results)}-{i}")
                     for i in range(40)]  # fmt: skip
            results.append(delayed(len)(parts).compute(scheduler="threads", pool=pool))

    # a pool of the test's own (the shared one would outlive the module's leak check)
    with Dashboard(":0", show=False) as dash, ThreadPoolExecutor(2) as pool:
        open_page(page, dash.link)
        assert page.title() == "shoal: Status"
        thread = threading.Thread(target=work, args=(pool,))
        thread.start()
        try:
            first = wait_for(page, lambda s: s["stream"]["n"] > 0 and s["progress"]["done"] > 0,
                             "the first task rectangles of a threads compute")  # fmt: skip
            second = wait_for(page, lambda s: s["stream"]["last"] > first["stream"]["last"] + 500
                              and s["memory"]["bytes"] > 0,
                              "half a second more, and this process's memory")  # fmt: skip
            page.screenshot(path=str(artifacts / "local-status.png"))
        finally:
            stop.set()
            thread.join()
            page.goto("about:blank")  # before the dashboard goes: no reconnect attempts
    assert results and set(results) == {40}
    assert "nap" in second["progress"]["prefixes"], second["progress"]
    assert [str(w) for w in second["memory"]["workers"]] == ["this process"]
    assert second["memory"]["bytes"] >= 20 * 2**20  # a Python process with numpy and bokeh


# --- every pane on its own --------------------------------------------------------------


@pytest.mark.timeout(120)
def test_individual_panes_render(page, base, compute, artifacts):
    panes = get_json(f"{base}/panes.json")
    dask_names = get_json(f"{base}/individual-plots.json")
    assert panes and sorted(panes.values()) == sorted(dask_names.values()), (panes, dask_names)
    assert {"Task Stream", "Progress", "Workers Memory"} <= set(panes), panes
    compute()
    problems = []
    for title, route in panes.items():
        assert route.startswith("/individual-"), route
        try:
            open_page(page, base + route)
            snap = snapshot(page)
            assert snap["roots"] >= 1, snap
            if title == "Task Stream":
                wait_for(page, lambda s: s["stream"]["n"] > 0, "task rectangles", timeout=10)
            elif title == "Progress":
                wait_for(page, lambda s: s["progress"]["done"] > 0, "progress", timeout=10)
            elif title == "Workers Memory":
                wait_for(page, lambda s: len(s["memory"]["workers"]) == 2, "2 memory bars", 10)
        except Exception as exc:  # every pane is tried; all failures are reported together
            problems.append(f"{title} ({route}): {type(exc).__name__}: {exc}")
        finally:
            page.screenshot(path=str(artifacts / f"{route.strip('/')}.png"))
    assert not problems, "\n".join(problems)


def test_nav_bar_pages_render(page, base, compute, artifacts):
    """Every page the navigation bar of /status links to (Bokeh pages and /info)."""
    open_page(page, f"{base}/status")
    links = page.eval_on_selector_all("nav a", "as => as.map(a => a.getAttribute('href'))")
    assert {"workers", "tasks", "system", "profile", "graph"} <= set(links), links
    compute()
    problems = []
    for link in links:
        try:
            response = page.goto(f"{base}/{link}", wait_until="load")
            assert response is not None and response.ok, response and response.status
            if link.startswith("info/"):  # plain HTML
                assert page.locator("h1").inner_text() == "Cluster"  # (and not "Workers" twice)
                assert page.locator("h2").first.inner_text() == "Workers"
                assert page.locator("table").count() >= 1
            else:
                page.wait_for_function(RENDERED_JS)
        except Exception as exc:
            problems.append(f"{link}: {type(exc).__name__}: {exc}")
        finally:
            page.screenshot(path=str(artifacts / f"page-{link.split('/')[0]}.png"))
    assert not problems, "\n".join(problems)


# The colours a dark page shows: the page's, a plot's, a table cell's (in its shadow DOM).
DARK_JS = """() => {
  const deep = (root, selector) => {  // the first match, through shadow roots
    const found = root.querySelector(selector);
    if (found) return found;
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) { const inner = deep(el.shadowRoot, selector); if (inner) return inner; }
    }
    return null;
  };
  const cell = deep(document, ".slick-cell");
  return {page: getComputedStyle(document.body).backgroundColor,
          cell: cell && getComputedStyle(cell).backgroundColor,
          cellText: cell && getComputedStyle(cell).color};
}"""


def test_workers_page_in_the_dark_theme(page, base, artifacts):
    """``?theme=dark`` (what the lab's panes ask for under a dark theme): a dark page,
    a dark table whose text is light, and links that keep the theme."""
    open_page(page, f"{base}/workers?theme=dark")
    page.wait_for_function(f"() => ({DARK_JS})().cell !== null", timeout=20_000)
    page.wait_for_timeout(300)
    colours = page.evaluate(DARK_JS)
    page.screenshot(path=str(artifacts / "workers-dark.png"))
    assert colours["page"] == "rgb(17, 17, 17)", colours
    assert colours["cell"] in ("rgb(27, 27, 27)", "rgb(32, 32, 32)"), colours
    assert colours["cellText"] == "rgb(222, 222, 222)", colours
    links = page.eval_on_selector_all("nav a", "as => as.map(a => a.getAttribute('href'))")
    assert "status?theme=dark" in links, links


def test_status_fits_a_narrow_side_panel(page, base, compute, artifacts):
    """At a JupyterLab side panel's width, /status stacks its two columns and the page
    scrolls down, never sideways; the navigation bar keeps its background under every
    link (white links on white had hidden the last ones)."""
    page.set_viewport_size({"width": 420, "height": 800})
    try:
        open_page(page, f"{base}/status")
        compute()
        page.wait_for_timeout(500)
        width, height = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        assert width <= 420 and height > 800, (width, height)
        nav = page.evaluate("""() => { const n = document.querySelector('nav.shoal-nav');
            const r = n.getBoundingClientRect();
            return [r.right, n.scrollWidth, ...[...n.querySelectorAll('a')].map(a =>
                a.offsetLeft + a.offsetWidth)]; }""")
        right, scroll, *ends = nav
        assert right <= 420 and max(ends) <= scroll, nav  # (each link inside the dark bar)
        assert max(ends) <= 420, nav  # (every link in sight: "Info" was cut to "In")
        boxes = page.evaluate(PLOT_BOXES_JS)
        assert len(boxes) >= 5 and not _overlapping(boxes), boxes  # (the tabs' plot was under
        page.screenshot(path=str(artifacts / "status-420px.png"), full_page=True)  # the stream)
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})


#: The boxes [top, bottom, left, right] of every plot on the page (Bokeh's canvases,
#: inside its shadow roots).
PLOT_BOXES_JS = """() => {
  const boxes = [];
  const walk = (node) => {
    for (const el of node.children || []) {
      if (el.classList && el.classList.contains("bk-Canvas")) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.height > 0) boxes.push([r.top, r.bottom, r.left, r.right]);
      }
      if (el.shadowRoot) walk(el.shadowRoot);
      walk(el);
    }
  };
  walk(document.body);
  return boxes;
}"""


def _overlapping(boxes) -> list:
    boxes = sorted(set(map(tuple, boxes)))  # (the tabs' plots share one box)
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a[0] < b[1] - 1 and b[0] < a[1] - 1 and a[2] < b[3] - 1 and b[2] < a[3] - 1]


def test_status_fills_a_large_window(page, base, compute, artifacts):
    """At 1920 x 1080 the panes of /status had fixed heights and the bottom third of the
    window stayed blank; they now share its height, and the page does not scroll."""
    page.set_viewport_size({"width": 1920, "height": 1080})
    try:
        open_page(page, f"{base}/status")
        compute()
        page.wait_for_timeout(500)
        boxes = page.evaluate(PLOT_BOXES_JS)
        assert len(boxes) >= 5 and not _overlapping(boxes), boxes
        assert max(bottom for _, bottom, _, _ in boxes) > 1080 - 40, boxes
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= 1080, height
        page.screenshot(path=str(artifacts / "status-1920px.png"))
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})


# --- behind a path prefix (Jupyter's proxy) -----------------------------------------------


def check_live_status(page, url: str, compute, shot) -> None:
    open_page(page, url)
    compute(n=1000)
    first = wait_for(page, lambda s: s["stream"]["n"] > 0, "task rectangles through the prefix")
    wait_for(page, lambda s: s["stream"]["last"] > first["stream"]["last"],
             "the task stream to move on through the prefix")  # fmt: skip
    page.screenshot(path=shot)


def test_status_under_prefix(page, cluster, compute, artifacts):
    port = cluster[2].wait_started(30)
    prefix = f"http://127.0.0.1:{port}{PREFIX}"
    check_live_status(page, f"{prefix}/", compute, str(artifacts / "prefix-status.png"))
    assert page.url == f"{prefix}/status"  # the root redirects relative to the prefix
    page.get_by_role("link", name="Workers", exact=True).click()
    page.wait_for_url(f"{prefix}/workers")
    page.wait_for_function(RENDERED_JS)
    assert get_json(f"{prefix}/panes.json")


@pytest.mark.timeout(90)
def test_status_over_https(context, browser, page_log, cluster, compute, artifacts):
    """With ``distributed.dashboard.tls`` set the dashboard serves HTTPS (its
    websocket too, ``wss``); plain HTTP on that port gets no page."""
    pytest.importorskip("cryptography", reason="pip install cryptography (for Security.temporary)")
    from shoal import config
    from shoal.diagnostics.dashboard import DashboardProcess
    from shoal.distributed.security import Security

    from tests.dashboard.conftest import watch

    sec = Security.temporary()
    tls = {"cert": sec.tls_scheduler_cert, "key": sec.tls_scheduler_key}
    with config.set({"distributed.dashboard.tls": tls}):
        dash = DashboardProcess(cluster[0].scheduler_address, port=0).spawn()
    secure = browser.new_context(viewport={"width": 1280, "height": 720}, ignore_https_errors=True)
    try:
        port = dash.wait_started(30)
        assert dash.link == f"https://127.0.0.1:{port}/status"
        assert dash.url == dash.link  # what the process itself said
        check_live_status(watch(secure.new_page(), page_log), dash.link, compute,
                          str(artifacts / "https-status.png"))  # fmt: skip
        with pytest.raises(OSError):  # (the TLS server resets a plain request)
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
    finally:
        secure.close()
        dash.close()
        sec.close()


class StrippingProxy:
    """A stand-in for jupyter-server-proxy: ``/proxy/<port>/<path>`` is forwarded to
    ``http://127.0.0.1:<port>/<path>`` (prefix stripped), websockets included; on a
    loop thread of its own."""

    def __init__(self):
        self.port = None
        self._loop = self._server = self._thread = None
        self._sockets: set = set()

    def app(self):
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest
        from tornado.web import Application, RequestHandler
        from tornado.websocket import WebSocketHandler, websocket_connect

        proxy = self

        class Handler(WebSocketHandler):
            async def get(self, port, path):
                if self.request.headers.get("Upgrade", "").lower() == "websocket":
                    return await super().get(port, path)
                query = f"?{self.request.query}" if self.request.query else ""
                response = await AsyncHTTPClient().fetch(
                    f"http://127.0.0.1:{port}/{path}{query}", follow_redirects=False,
                    raise_error=False)  # fmt: skip
                self.set_status(response.code, response.reason)
                for name, value in response.headers.get_all():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.add_header(name, value)
                if response.body and response.code != 304:
                    self.write(response.body)

            def select_subprotocol(self, subprotocols):
                self.subprotocols = list(subprotocols)
                return subprotocols[0] if subprotocols else None

            async def open(self, port, path):
                query = f"?{self.request.query}" if self.request.query else ""
                proxy._sockets.add(self)
                self.upstream = await websocket_connect(
                    HTTPRequest(f"ws://127.0.0.1:{port}/{path}{query}"),
                    subprotocols=getattr(self, "subprotocols", None),
                    on_message_callback=self.from_upstream)  # fmt: skip

            def from_upstream(self, message):
                if message is None:
                    self.close()
                elif self.ws_connection is not None:
                    self.write_message(message, binary=isinstance(message, bytes))

            def on_message(self, message):
                self.upstream.write_message(message, binary=isinstance(message, bytes))

            def on_close(self):
                proxy._sockets.discard(self)
                if getattr(self, "upstream", None) is not None:
                    self.upstream.close()

        class Favicon(RequestHandler):  # Jupyter serves its own
            def get(self):
                self.set_status(204)

        return Application([(r"/favicon\.ico", Favicon), (r"/proxy/(\d+)/(.*)", Handler)])

    def start(self):
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets

        ready = threading.Event()

        async def main():
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            sockets = bind_sockets(0, "127.0.0.1")
            self.port = sockets[0].getsockname()[1]
            self._server = HTTPServer(self.app())
            self._server.add_sockets(sockets)
            ready.set()
            await self._stop.wait()
            self._server.stop()
            for ws in list(self._sockets):
                ws.close()
            await asyncio.sleep(0.1)
            await self._server.close_all_connections()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), name="test-proxy")
        self._thread.start()
        assert ready.wait(10), "the proxy did not start"
        return self

    def stop(self):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def proxy():
    p = StrippingProxy().start()
    try:
        yield p
    finally:
        p.stop()


def test_status_through_stripping_proxy(page, base, proxy, compute, artifacts):
    port = base.rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{proxy.port}/proxy/{port}"
    check_live_status(page, f"{url}/", compute, str(artifacts / "proxy-status.png"))
    assert page.url == f"{url}/status"
    page.get_by_role("link", name="Tasks", exact=True).click()
    page.wait_for_url(f"{url}/tasks")
    page.wait_for_function(RENDERED_JS)


# Capture a page's connection and count the messages it handles from a new socket.
CONNECTION_JS = """() => {
  const {ClientConnection} = Bokeh.require("client/connection");
  const proto = ClientConnection.prototype;
  const on_message = proto._on_message, steady = proto._steady_state_handler;
  window.__handled = 0;
  proto._on_message = function (e) { window.__conn = this; return on_message.call(this, e); };
  proto._steady_state_handler = function (m) {  // (a message of a socket opened since)
    if (this.socket !== window.__old) window.__handled += 1;
    return steady.call(this, m);
  };
  return proto.connect.shoal_fresh_receiver === true;
}"""


# What a page says when it sends while its socket is closing: the close this test makes
# (as a server's death does) may come between BokehJS's sends; not the page's fault.
CLOSING_SENDS = ("WebSocket is already in CLOSING or CLOSED state.", "not connected so cannot send")


def test_a_page_whose_server_died_mid_message_reconnects_and_goes_on(page, page_log, base, compute):
    """A dashboard process killed between a message's header and its content left
    BokehJS's receiver half full, and the page that reconnected to the next process
    misread all it sent and stayed stuck (see pages.py, above ``_TEMPLATE``).  Here
    the half message is put in the receiver and the socket closed, as that death
    leaves them; every page, an individual pane's too, reconnects and goes on."""
    compute(1000)
    for path in ("/status", "/individual-task-stream"):
        open_page(page, base + path)
        has_fix = page.evaluate(CONNECTION_JS)
        page.wait_for_function("() => window.__conn !== undefined", timeout=20_000)
        page.evaluate("""() => {
          const c = window.__conn;
          c._receiver.consume(JSON.stringify({msgid: "half", msgtype: "PATCH-DOC", num_buffers: 0}));
          window.__handled = 0;
          window.__old = c.socket;
          c.socket.close();
        }""")  # fmt: skip
        page.wait_for_function("() => window.__handled >= 3 && window.__conn.socket !== null "
                               "&& window.__conn.socket.readyState === 1", timeout=20_000)  # fmt: skip
        assert has_fix is True, path  # (the patch in every page's template)
        # a change the page makes while its new socket connects is not sent (it threw
        # "Still in CONNECTING state", an uncaught error, in a CI run of this test)
        assert page.evaluate("""() => {
          const {ClientConnection} = Bokeh.require("client/connection");
          const connecting = {socket: {readyState: WebSocket.CONNECTING}};
          const message = {send() { throw new Error("sent while connecting"); }};
          ClientConnection.prototype.send.call(connecting, message);
          // nor one made once its server went (a pane in the lab whose dashboard just
          // closed, hidden by the sidebar: BokehJS logged "not connected so cannot send")
          ClientConnection.prototype.send.call({socket: null}, message);
          return true;
        }""")  # fmt: skip
    page_log.console[:] = [entry for entry in page_log.console
                           if not any(text in entry[1] for text in CLOSING_SENDS)]  # fmt: skip


# --- the guard itself -------------------------------------------------------------------


def test_javascript_errors_are_caught(page, page_log):
    """The page fixture sees console errors and uncaught exceptions (then forgets
    these two, which are on purpose, so that this test passes)."""
    page.set_content("<html><body>x</body></html>")
    page.evaluate("console.error('on purpose')")
    page.evaluate("setTimeout(() => { throw new Error('thrown on purpose') }, 0)")
    page.wait_for_timeout(100)
    errors = page_log.errors()
    assert any("on purpose" in e for e in errors if e.startswith("console.error"))
    assert any("thrown on purpose" in e for e in errors if e.startswith("page error"))
    page_log.console.clear()
    page_log.page_errors.clear()


@pytest.mark.timeout(90)
def test_the_workers_table_follows_its_numbers(page, base, compute, artifacts):
    """The table's cells change with the numbers while its rows stay the same (BokehJS
    3.9.1-3.9.2 redraw a DataTable only when its row count changes: panes.live_table)."""
    open_page(page, base + "/individual-workers")

    def shown_tasks():  # the "tasks" cell of the table's Total row, as drawn
        for row in page.locator(".slick-row").all_inner_texts():
            cells = [c.strip() for c in row.split("\n") if c.strip()]
            if cells and cells[0] == "Total" and len(cells) > 8 and cells[8].isdigit():
                return int(cells[8])
        return None

    def read_until(done, seconds):  # (the value read, not a new read: a row being
        deadline = time.monotonic() + seconds  # redrawn reads as nothing for an instant)
        value = shown_tasks()
        while not done(value) and time.monotonic() < deadline:
            page.wait_for_timeout(100)
            value = shown_tasks()
        return value

    first = read_until(lambda v: v is not None, 20)
    assert first is not None, page.locator(".slick-row").all_inner_texts()
    futures = compute()
    busy = read_until(lambda v: v is not None and v != first, 30)
    page.screenshot(path=str(artifacts / "individual-workers-busy.png"))
    assert busy != first, f"the table still shows {first} tasks while {len(futures)} run"


# The rows' first cells (the names), top to bottom.  (Not the row's innerText split at
# whitespace: a row not laid out yet gives its cells' text run together, "Total2".)
ROWS_JS = """(rows) => rows
  .sort((a, b) => parseInt(a.style.top || 0) - parseInt(b.style.top || 0))
  .map((r) => r.querySelector(".slick-cell").textContent.trim())"""


@pytest.mark.timeout(90)
def test_the_workers_table_keeps_its_sort_and_scroll_while_it_updates(page, base, compute):
    """Each update used to give the table a new source, which rebuilt it: the reader's
    sort and scroll position were gone within a second (reading a table of more workers
    than fit was impossible)."""
    page.set_viewport_size({"width": 1280, "height": 80})  # (fewer rows fit than there are)
    open_page(page, base + "/individual-workers")
    rows = page.locator(".slick-row")  # (in the table's shadow root: a locator reaches it)
    deadline = time.monotonic() + 20
    while rows.count() < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    header = page.locator(".slick-header-column", has_text="name").first
    before = rows.evaluate_all(ROWS_JS)  # "Total" first, then the workers
    header.click()  # ascending by name: "Total" last
    sorted_rows = rows.evaluate_all(ROWS_JS)
    assert sorted_rows == sorted(before) != before, (before, sorted_rows)
    rows.first.locator(".slick-cell").first.dispatch_event("click")  # (a selected row used
    # to pull the scroll back to it at each update)
    viewport = page.locator(".slick-viewport").first
    viewport.evaluate("(e) => { e.scrollTop = e.scrollHeight; }")
    bottom = viewport.evaluate("(e) => e.scrollTop")
    assert bottom > 0
    compute(n=200)
    updates = page.evaluate("""() => new Promise((done) => {
      const doc = Bokeh.documents[Bokeh.documents.length - 1];
      const source = [...doc.all_models].find((m) => m.type === "ColumnDataSource"
                                               && "nthreads" in m.data);
      let n = 0;
      source.properties.data.change.connect(() => { if (++n === 3) done(n); });
      setTimeout(() => done(n), 15000);
    })""")
    assert updates == 3, "the table got no updates while tasks ran"
    assert rows.evaluate_all(ROWS_JS) == sorted_rows  # its sort...
    assert viewport.evaluate("(e) => e.scrollTop") == bottom  # ...and where it was read


def test_a_tapped_task_opens_the_profile_of_its_own_prefix(page, base):
    """The task stream's tap callback, run by Chromium: a prefix with "&", "+", "#" or
    "%" reaches the profile page whole (Bokeh's OpenURL cut "a&b" to "a")."""
    from bokeh.models import CustomJS, TapTool

    from shoal.dashboard.panes.stream import TaskStream
    from shoal.dashboard.state import DashboardState

    pane = TaskStream(DashboardState())
    (tap,) = pane.root.select(type=TapTool)
    assert isinstance(tap.callback, CustomJS)
    page.goto(base + "/health")
    opened = page.evaluate(
        """([code, prefix]) => {
             const urls = [];
             window.open = (url) => { urls.push(url); };
             const tapped = {selected: {indices: [0]}, data: {prefix: [prefix]}};
             new Function("source", code)(tapped);
             new Function("source", code)({selected: {indices: []}, data: {prefix: [prefix]}});
             return [...urls, tapped.selected.indices.length];
           }""", [tap.callback.code, "a&b+c#d 50%"])  # fmt: skip
    assert opened == ["profile?prefix=a%26b%2Bc%23d%2050%25", 0]  # (and the selection cleared)
    open_page(page, base + "/" + opened[0])
    selected = page.evaluate("""() => {
        for (const d of Bokeh.documents) for (const m of d.all_models)
          if (m.constructor.__name__ === "Select") return m.value;
        return null; }""")
    assert selected == "a&b+c#d 50%"


# The task stream page's plot: its paints and its document's streamed updates counted,
# and where its x range and newest rectangle are (ms).
STREAM_VIEW_JS = """() => {
  const doc = Bokeh.documents[Bokeh.documents.length - 1];
  const plot = doc.roots()[0], view = Bokeh.index.get(plot);
  if (window.__counts === undefined) {
    window.__counts = {paints: 0, streams: 0};
    const paint = view.paint.bind(view);
    view.paint = () => { window.__counts.paints += 1; return paint(); };
    const apply = doc.apply_json_patch.bind(doc);
    doc.apply_json_patch = (patch, buffers) => {
      if ((patch.events || []).some((e) => e.kind === "ColumnsStreamed")) window.__counts.streams += 1;
      return apply(patch, buffers);
    };
  }
  const source = plot.renderers[0].data_source;
  const box = view.frame.bbox, at = view.el.getBoundingClientRect();
  return {...window.__counts, start: plot.x_range.start, end: plot.x_range.end,
          last: Math.max(...source.data.right), first: Math.min(...source.data.left),
          x: at.left + box.left + box.width / 2, y: at.top + box.top + box.height / 2};
}"""


@pytest.mark.timeout(90)
def test_the_task_stream_paints_once_per_update_and_follows_until_panned(page, base, compute):
    """BokehJS fits a ``DataRange1d`` while it paints and paints again when the range
    moved: the task stream, whose range moves with every update, was painted twice per
    update (the browser's main cost of an open page).  Its ranges now come with the
    rectangles; they follow the work until the reader pans, and again after Reset."""
    compute()
    open_page(page, f"{base}/individual-task-stream")
    wait_for(page, lambda s: s["stream"]["n"] > 0, "the first task rectangles")
    start = page.evaluate(STREAM_VIEW_JS)
    page.wait_for_timeout(3000)
    now = page.evaluate(STREAM_VIEW_JS)
    streams, paints = now["streams"] - start["streams"], now["paints"] - start["paints"]
    assert streams >= 5, now
    assert paints <= streams + 2, f"{paints} paints for {streams} updates"
    assert now["start"] <= now["first"] and now["last"] <= now["end"], now  # it follows

    page.mouse.move(now["x"], now["y"])  # the reader drags the view to earlier work
    page.mouse.down()
    page.mouse.move(now["x"] + 200, now["y"], steps=5)
    page.mouse.up()
    panned = page.evaluate(STREAM_VIEW_JS)
    assert panned["end"] < now["end"], (now, panned)
    page.wait_for_timeout(1500)
    later = page.evaluate(STREAM_VIEW_JS)
    assert later["last"] > panned["last"], "no new rectangles"
    assert (later["start"], later["end"]) == (panned["start"], panned["end"])  # stays put

    page.locator(".bk-tool-icon-reset").first.click()  # Reset: it follows again
    page.wait_for_function(f"() => ({STREAM_VIEW_JS})().end >= ({STREAM_VIEW_JS})().last"
                           f" && ({STREAM_VIEW_JS})().end > {later['end']}", timeout=10_000)


@pytest.mark.parametrize("zone, labels", [
    ("UTC", ["16:30:05.250125", "16:30:05.25", "16:30:05", "16:30", "2026-07-01", "2026-07-01",
             "07-01 07:00 | 13:00 | 19:00 | 07-02 01:00"]),  # (hours across days: which day)
    ("America/New_York", ["12:30:05.250125", "12:30:05.25", "12:30:05", "12:30", "2026-07-01",
                          "2026-07-01", "03:00 | 09:00 | 15:00 | 21:00"]),  # (one day: no date)
    ("Asia/Kolkata", ["22:00:05.250125", "22:00:05.25", "22:00:05", "22:00", "2026-07-01",
                      "2026-07-01", "07-01 12:30 | 18:30 | 07-02 00:30 | 06:30"]),
])  # fmt: skip
def test_time_axes_label_clock_times_in_the_readers_time_zone(browser, zone, labels):
    """The live panes', reports' and visualize()'s time axes, as Chromium formats them in
    the reader's time zone; Bokeh's DatetimeTickFormatter wrote UTC."""
    from shoal.diagnostics.report import LOCAL_CLOCK_JS

    tick = 1_782_923_405_250.125  # 2026-07-01 16:30:05.250125 UTC
    midnight = 1_782_864_000_000  # 2026-07-01 00:00 UTC: a day's tick (the evening before in NY)
    context = browser.new_context(timezone_id=zone)
    try:
        page = context.new_page()
        shown = page.evaluate("""([code, tick, midnight]) => {
            const label = new Function("tick", "index", "ticks", code);
            const hours = [0, 1, 2, 3].map((i) => midnight + (7 + 6 * i) * 3_600_000);
            return [...[0.5, 10, 5_000, 600_000, 2 * 86_400_000].map(
                      (step) => label(tick, 0, [tick, tick + step])),
                    label(midnight, 0, [midnight, midnight + 86_400_000]),
                    hours.map((t, i) => label(t, i, hours)).join(" | ")];
        }""", [LOCAL_CLOCK_JS, tick, midnight])  # fmt: skip
    finally:
        context.close()
    assert shown == labels


def test_byte_axes_tick_at_round_binary_steps_labelled_exactly(browser, tmp_path):
    """BokehJS's own ticker and formatter of a byte axis: decimal steps in binary units
    read "4.7, 9.3 GiB", and binary 1-2-5 steps labelled in whole units read "1000 MiB,
    1 GiB, 2 GiB, 2 GiB" (1500 and 2500 MiB rounded)."""
    from bokeh.embed import file_html
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    from shoal.dashboard.panes._base import bytes_axis

    fig = figure(width=600, height=200)
    fig.line([0, 1], [0, 1])
    bytes_axis(fig.xaxis)
    fig.xaxis[0].name = "bytes"
    html = tmp_path / "axis.html"
    html.write_text(file_html(fig, INLINE, "bytes"))
    page = browser.new_page()
    try:
        page.goto(html.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        GiB, MiB = 2**30, 2**20
        labels = page.evaluate("""(ends) => ends.map((end) => {
            const axis = Bokeh.documents[0].get_model_by_name("bytes");
            return axis.formatter.doFormat(axis.ticker.get_ticks(0, end, null, null).major, axis)
                .join(" | "); })""", [2.5 * GiB, 1.5 * GiB, 23.59 * GiB, 700 * MiB, 300])  # fmt: skip
    finally:
        page.close()
    assert labels == [
        "0 | 512 MiB | 1 GiB | 1.5 GiB | 2 GiB | 2.5 GiB",
        "0 | 256 MiB | 512 MiB | 768 MiB | 1 GiB | 1.25 GiB | 1.5 GiB",
        "0 | 4 GiB | 8 GiB | 12 GiB | 16 GiB | 20 GiB",
        "0 | 128 MiB | 256 MiB | 384 MiB | 512 MiB | 640 MiB",
        "0 | 64 B | 128 B | 192 B | 256 B",
    ]


def test_the_table_pages_log_no_warnings(page, page_log, base):
    """BokehJS warned on every page with a table that reordering its columns needs
    jquery-ui (the tables asked for it by Bokeh's default)."""
    for pane in ("workers", "exceptions"):
        open_page(page, f"{base}/individual-{pane}")
        page.wait_for_timeout(300)
    assert page_log.warnings() == []


@pytest.mark.timeout(90)
def test_a_page_out_of_sight_stops_refreshing_and_catches_up_when_shown(page, base, compute):
    """A page in an iframe that is not displayed (a JupyterLab panel behind another)
    gets no update: nobody sees it, and its browser would apply each one; shown
    again, its next refresh brings it up to date (the task stream from recent work)."""
    page.set_content(f'<iframe id="pane" src="{base}/status" '
                     'style="width:1000px;height:800px"></iframe>')  # fmt: skip
    frame = page.frame_locator("#pane")  # (waits for the frame)
    frame.locator(".bk-Figure, .bk-Row, .bk-Column").first.wait_for(timeout=20_000)
    pane = next(f for f in page.frames if f.url.startswith(base))
    pane.wait_for_function(RENDERED_JS, timeout=20_000)

    def done() -> int:
        progress = pane.evaluate(SNAPSHOT_JS)["progress"]
        return progress["done"] if progress else 0

    futures = compute()
    deadline = time.monotonic() + 20
    while done() == 0:
        assert time.monotonic() < deadline, "no progress shown"
        page.wait_for_timeout(100)

    page.evaluate("document.getElementById('pane').style.display = 'none'")
    page.wait_for_timeout(1000)  # (an update on its way when it was hidden may arrive)
    hidden = done()
    finished_then = sum(f.done() for f in futures)
    page.wait_for_timeout(2000)
    assert sum(f.done() for f in futures) > finished_then + 20, "the work did not go on"
    assert done() == hidden, "a page out of sight kept refreshing"

    page.evaluate("document.getElementById('pane').style.display = 'block'")
    finished_now = sum(f.done() for f in futures)
    deadline = time.monotonic() + 10
    while done() < finished_now:  # (counting what the page had before this test's tasks too)
        assert time.monotonic() < deadline, (done(), finished_now)
        page.wait_for_timeout(100)
    stream = pane.evaluate(SNAPSHOT_JS)["stream"]  # (the task stream resumed from recent work)
    assert 0 < stream["n"] <= ROLLOVER and time.time() * 1000 - stream["last"] < 5_000, stream
