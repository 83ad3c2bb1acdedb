"""The dashboard served for real: every route over HTTP, prefix mode, websocket
sessions, port fallback, start/stop on a running loop (no browser)."""

import asyncio
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from shoal.core.keys import key_str

pytest.importorskip("bokeh", reason="pip install bokeh (the test extra has it)")
pytest.importorskip("tornado", reason="pip install tornado (the test extra has it)")

from shoal.dashboard import DashboardServer, DashboardState, start_server  # noqa: E402
from shoal.dashboard.pages import PAGES  # noqa: E402
from shoal.dashboard.panes import PANES  # noqa: E402
from shoal.events import (  # noqa: E402
    ComputationFinished,
    GraphSubmitted,
    SystemMetrics,
    TaskTransition,
    WorkerAdded,
    WorkerMetrics,
)

T0 = time.time()
W = "tcp://127.0.0.1:4001"
BOKEH_ROUTES = [*PAGES, *(f"/individual-{name}" for name in PANES)]


def task(key, prefix, finish="memory", start=T0, worker=W):
    return TaskTransition("r", key, prefix, "processing", finish, worker, 1,
                          (("compute", start, start + 0.1),), 8, "int",
                          "ValueError: bad" if finish == "erred" else "")  # fmt: skip


def busy_state(**kwargs):
    s = DashboardState(**kwargs)
    s.ingest(SystemMetrics(time.time(), cpu=2.0, memory=10))
    s.ingest(WorkerAdded(W, 2, 10_000, "alice", T0))
    s.ingest(GraphSubmitted("r", "scheduler", 3, {"inc": 2, "sum": 1}, ("sum-1",), T0))
    s.ingest(task("inc-1", "inc"))
    s.ingest(task("inc-2", "inc", "erred"))
    s.ingest(task(("sum", 1), "sum"))
    tree = {"identifier": "root", "count": 4, "children": [{"identifier": "f;m.py;1", "count": 4}]}
    s.ingest(WorkerMetrics(W, T0, 100, 200, 50, 10_000, 25.0, 1, 0, (T0, tree, {"inc": tree})))
    return s


def get(url, follow=True):
    """``(status, headers, body)``; redirects followed unless *follow* is False."""
    if not follow:
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        try:
            conn.request("GET", parts.path)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode()
        finally:
            conn.close()
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def assert_closed(port):
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_server_that_starts_after_its_caller_gave_up_stops(monkeypatch):
    server = DashboardServer(busy_state(), port=0)
    start = server.start

    def slow_start():
        time.sleep(0.5)
        return start()

    monkeypatch.setattr(server, "start", slow_start)
    with pytest.raises(TimeoutError, match="did not start within 0.1 s"):
        server.start_in_thread(timeout=0.1)
    server._thread.join(10)
    assert not server._thread.is_alive()  # it started, then stopped: nothing serves
    assert_closed(server.port)


@pytest.fixture
def served():
    state = busy_state()
    server = DashboardServer(state, port=0).start_in_thread()
    yield state, server
    server.stop()
    assert not any(t.name == "shoal-dashboard" for t in threading.enumerate())
    assert_closed(server.port)


def assert_bokeh_page(body, title=None):
    assert "Bokeh.embed.embed_items" in body or "embed_items" in body
    # BokehJS from relative URLs, so the page works under any proxy prefix
    assert re.search(r'src="static/js/bokeh\.min\.js\?v=', body)
    if title:
        assert f"<title>shoal: {title}</title>" in body


@pytest.mark.parametrize("route", BOKEH_ROUTES)
def test_every_bokeh_route_serves_a_document(served, route):
    _, server = served
    status, headers, body = get(server.address + route)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert_bokeh_page(body)


def test_full_pages_have_relative_navigation(served):
    _, server = served
    _, _, body = get(server.address + "/status")
    assert_bokeh_page(body, "Status")
    for link in ("status", "workers", "tasks", "system", "profile", "graph",
                 "info/main/workers.html"):  # fmt: skip
        assert f'href="{link}"' in body
    _, _, alone = get(server.address + "/individual-progress")
    assert "shoal-nav" not in alone


def test_root_redirects_relatively(served):
    _, server = served
    status, headers, _ = get(server.address + "/", follow=False)
    assert status == 302 and headers["Location"] == "status"
    status, _, body = get(server.address + "/")
    assert status == 200 and "embed_items" in body


def test_health_and_json_listings(served):
    _, server = served
    assert get(server.address + "/health")[::2] == (200, "ok")
    status, headers, body = get(server.address + "/panes.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    panes = json.loads(body)
    assert panes["Task Stream"] == "/individual-task-stream"
    assert panes["Workers Memory"] == "/individual-workers-memory"
    assert sorted(panes.values()) == sorted(f"/individual-{n}" for n in PANES)
    plots = json.loads(get(server.address + "/individual-plots.json")[2])
    assert plots == {f"Individual {n.replace('-', ' ').title()}": f"/individual-{n}"
                     for n in PANES}  # fmt: skip
    assert plots["Individual Task Stream"] == "/individual-task-stream"
    for route in plots.values():  # every listed pane is served
        assert get(server.address + route)[0] == 200


def test_a_bad_websocket_opening_is_refused_without_a_traceback(served, caplog, monkeypatch):
    """No token, a malformed one, a foreign subprotocol: the socket closes; nothing is
    logged as an uncaught error (this process's errors show in the user's notebook)."""
    import logging
    import socket
    from urllib.parse import urlsplit

    from shoal.dashboard import clientfaults

    monkeypatch.setattr(clientfaults, "refusals", clientfaults.Throttle(period=0))  # each line
    _, server = served
    where = urlsplit(server.address)
    caplog.set_level(logging.INFO)
    for protocols in ("bokeh, !!!notatoken", "bokeh, a", "bokeh, abcde.fgh", "bokeh", "other, x"):
        with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
            sock.sendall((f"GET /status/ws HTTP/1.1\r\nHost: {where.netloc}\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                          f"Sec-WebSocket-Protocol: {protocols}\r\n\r\n").encode())  # fmt: skip
            received = b""
            while chunk := sock.recv(4096):  # until the server closes it, or says it will
                received += chunk
                head, _, frames = received.partition(b"\r\n\r\n")
                if frames[:1] == b"\x88":  # a websocket close frame
                    break
        assert received.startswith(b"HTTP/1.1 101") or received.startswith(b"HTTP/1.1 4"), received
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    refused = [r for r in caplog.records if "refused a websocket opening" in r.getMessage()]
    assert len(refused) >= 3 and all(r.levelno == logging.INFO for r in refused)


def test_refusals_are_logged_as_short_lines_now_and_then(served, caplog, monkeypatch):
    """Any web page can make a browser knock on the dashboard in a loop: a line per
    refusal, each repeating a 10 kB Host header, filled the user's notebook (the
    dashboard's stderr); a foreign Origin logged an error per websocket."""
    import logging
    from urllib.parse import urlsplit

    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    from shoal.dashboard import clientfaults

    throttle = clientfaults.Throttle(period=60)
    monkeypatch.setattr(clientfaults, "refusals", throttle)
    _, server = served
    monkeypatch.setattr(_installed_filter(), "throttle", throttle)
    port = urlsplit(server.address).port
    caplog.set_level(logging.INFO)
    for _ in range(20):
        assert _status_with_host(port, "evil-" + "x" * 10_000 + ".example")[0] == 403

    async def foreign_origins():
        for _ in range(20):
            with pytest.raises(HTTPClientError, match="403"):
                await websocket_connect(HTTPRequest(f"ws://127.0.0.1:{port}/status/ws",
                                                    headers={"Origin": "http://evil.example"}))

    asyncio.run(foreign_origins())
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("shoal", "bokeh"))]
    hosts = [m for m in lines if "refused a request for Host" in m]
    origins = [m for m in lines if "refused a websocket from Origin" in m]
    assert len(hosts) == 1 and len(hosts[0]) < 300, hosts
    assert origins == ["refused a websocket from Origin 'http://evil.example'"], lines
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    throttle.period = 0  # the next line counts those kept quiet
    assert _status_with_host(port, "evil.example")[0] == 403
    last = [r.getMessage() for r in caplog.records if r.name == "shoal.dashboard"][-1]
    assert last.endswith("(not this machine) (and 19 more since the last such line)"), last


def test_a_malformed_websocket_message_is_one_line_not_a_traceback(served, caplog, monkeypatch):
    """Frames Bokeh cannot read or handle, from a client with a session token (any
    local page gets one): one line each, no traceback; the page's connection closes
    and the dashboard goes on.  A traceback through shoal's own code is kept whole."""
    import logging
    import sys
    from urllib.parse import urlsplit

    from tornado.httpclient import AsyncHTTPClient
    from tornado.websocket import websocket_connect

    from shoal.dashboard import clientfaults

    _, server = served
    monkeypatch.setattr(_installed_filter(), "throttle", clientfaults.Throttle(period=0))
    where = f"127.0.0.1:{urlsplit(server.address).port}"
    caplog.set_level(logging.INFO)
    frames = ([{"msgid": "1", "msgtype": "NOPE"}, {}, {}],
              [{"msgid": "2", "msgtype": "PATCH-DOC"}, {}, {"events": [{}]}],
              [{"msgid": "3", "msgtype": "PATCH-DOC"}, {}, {"events": "x"}])  # fmt: skip

    async def send_all():
        for message in frames:
            body = (await AsyncHTTPClient().fetch(f"http://{where}/status")).body
            token = re.search(rb'"token":\s*"([^"]+)"', body).group(1).decode()
            conn = await websocket_connect(f"ws://{where}/status/ws",
                                           subprotocols=["bokeh", token])  # fmt: skip
            try:
                await conn.read_message()  # ACK
                for part in message:
                    await conn.write_message(json.dumps(part))
                await asyncio.sleep(0.3)
            finally:
                conn.close()

    from bokeh.io import doc as bokeh_doc

    depth = len(bokeh_doc._PATCHED_CURDOCS)
    asyncio.run(send_all())
    # Bokeh's current-document stack is as it was: a PATCH-DOC that raised inside its
    # patch_curdoc left its document there, and curdoc() raised once it was gone
    assert len(bokeh_doc._PATCHED_CURDOCS) == depth
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    refused = [r.getMessage() for r in caplog.records if "refused a websocket message" in r.getMessage()]
    assert len(refused) == 3 and all(len(m) < 200 for m in refused), refused
    assert get(server.address + "/health")[0] == 200
    # an exception raised through shoal's code keeps its traceback (a bug of ours)
    try:
        clientfaults.Throttle(clock=None).allow("x")  # raises in shoal's code
    except TypeError:
        ours = logging.LogRecord("bokeh.server.views.ws", logging.ERROR, __file__, 1,
                                 "Handler or its work threw an exception: %r", ("x",), sys.exc_info())  # fmt: skip
    assert _installed_filter().filter(ours) and ours.exc_info is not None


def _installed_filter():
    """The filter a started dashboard put on Bokeh's websocket loggers."""
    import logging

    from shoal.dashboard.clientfaults import BOKEH_LOGGERS, ClientFaults

    found = {id(f): f for name in BOKEH_LOGGERS for f in logging.getLogger(name).filters
             if isinstance(f, ClientFaults)}  # fmt: skip
    assert len(found) == 1, "a started dashboard installs one filter on each logger"
    return next(iter(found.values()))


def test_health_metrics_and_listings_answer_head(served):
    """Uptime checks and load balancers probe with HEAD: the answer GET gives, no body."""
    import http.client
    from urllib.parse import urlsplit

    _, server = served
    where = urlsplit(server.address)
    for path, kind in (("/health", "text/plain"), ("/metrics", "text/plain"),
                       ("/panes.json", "application/json")):  # fmt: skip
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
        try:
            conn.request("HEAD", path)
            response = conn.getresponse()
            assert response.status == 200, (path, response.status)
            assert response.getheader("Content-Type").startswith(kind)
            assert response.read() == b""
        finally:
            conn.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                     r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)?\})? (\S+)$')


def parse_prometheus(text):
    """Strict parse of the text format: ``{name: [(labels, value)]}`` and types."""
    samples, types = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter"), line
            types[name] = kind
            continue
        m = _SAMPLE.match(line)
        assert m, f"not an exposition line: {line!r}"
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        assert name in types, f"sample before its TYPE: {line!r}"
        samples.setdefault(name, []).append((labels, value))
    return samples, types


def test_metrics_parse(served):
    _, server = served
    status, headers, body = get(server.address + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    samples, types = parse_prometheus(body)
    assert ('{state="memory"}', 2.0) in samples["shoal_tasks"]
    assert ('{state="erred"}', 1.0) in samples["shoal_tasks"]
    assert ('{state="queued"}', 0.0) in samples["shoal_tasks"]  # (no gap in a dashboard's line)
    assert ('{state="forgotten"}', 0.0) in samples["shoal_tasks"]
    assert samples["shoal_workers"] == [("", 1.0)]
    assert samples["shoal_threads"] == [("", 2.0)]
    assert ('{type="managed"}', 100.0) in samples["shoal_memory_bytes"]
    assert samples["shoal_task_records_total"] == [("", 3.0)]
    assert types["shoal_compute_seconds_total"] == "counter"
    assert samples["shoal_erred_tasks_total"] == [("", 1.0)]
    assert samples["shoal_worker_paused"] == [(f'{{worker="{W}"}}', 0.0)]
    assert samples["shoal_resyncs_total"] == [("", 0.0)]


def test_metric_labels_are_escaped_as_the_text_format_allows():
    r"""Only ``\\``, ``\"`` and ``\n`` are escapes in a label value; a lone surrogate (a
    key made from a file name's undecodable bytes) was written as ``\udcff``, which a
    scraper reads as something else or refuses."""
    import re

    from shoal.dashboard.http import _label

    escapes = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
    for value in ['a\\b"c\nd', "data_\udcff.csv", "x<y>#{}"]:
        text = _label(value)
        assert re.fullmatch(r'(?:[^\\"\n]|\\[\\"n])*', text), text  # only the three escapes
        assert text.encode("utf-8")  # (a lone surrogate does not encode)
        decoded = re.sub(r'\\[\\"n]', lambda m: escapes[m.group()], text)
        assert decoded == value.replace("\udcff", "\ufffd"), (value, text)


def test_a_paused_worker_is_red_and_counted(served):
    """A worker resumes only some way below the pause threshold: its memory alone can
    look like spilling while it runs no task.  Its heartbeat says it is paused."""
    from shoal.dashboard.http import prometheus_text
    from shoal.dashboard.panes.memory import memory_bars
    from shoal.dashboard.panes.style import memory_thresholds

    state, _ = served
    state.ingest(WorkerMetrics(W, T0 + 1, 100, 200, 50, 10_000, 25.0, 0, 0, (), True))
    (info,) = state.workers()
    assert info["paused"] is True
    assert set(memory_bars([info], memory_thresholds())[0]["color"]) <= {"red", "grey"}
    assert f'shoal_worker_paused{{worker="{W}"}} 1' in prometheus_text(state)
    state.ingest(WorkerMetrics(W, T0 + 2, 100, 200, 50, 10_000, 25.0, 0, 0))  # resumed
    assert state.workers()[0]["paused"] is False


def test_info_pages(served):
    state, server = served
    status, headers, _ = get(server.address + "/info", follow=False)
    assert status == 302 and headers["Location"] == "info/main/workers.html"
    status, _, body = get(server.address + "/info")
    assert status == 200 and "alice" in body and "../worker/tcp%3A%2F%2F127.0.0.1%3A4001" in body
    # the Bokeh pages' navigation bar, every page of it (it had Status, Workers, Info)
    for label, link in (("Tasks", "tasks"), ("System", "system"), ("Profile", "profile"),
                        ("Graph", "graph"), ("Info", "info/main/workers.html")):  # fmt: skip
        assert f'href="../../{link}"' in body and f">{label}</a>" in body
    assert "<nav class='shoal-nav'>" in body and 'workers.html" class=active>Info' in body
    worker = urllib.parse.quote(W, safe="")
    status, _, body = get(f"{server.address}/info/worker/{worker}.html")
    assert status == 200 and "alice" in body and "Recent metrics" in body
    assert "<td>cpu</td><td>25 %</td>" in body and "<td>occupancy</td><td>0.0 ms</td>" in body
    # times as a date and time, not seconds since 1970, their zone named
    when = time.localtime(T0)
    assert time.strftime("%Y-%m-%d %H:%M:%S %Z", when) in body and str(T0) not in body
    twice = urllib.parse.quote(worker)  # what Bokeh's OpenURL (encodeURI) makes of the link
    assert "alice" in get(f"{server.address}/info/worker/{twice}.html")[2]
    assert get(server.address + "/info/worker/nobody.html")[0] == 404
    status, _, body = get(server.address + "/info/task/inc-2.html")
    assert status == 200 and "ValueError: bad" in body and "not available" in body
    key = urllib.parse.quote("('sum', 1)")
    status, _, body = get(f"{server.address}/info/task/{key}.html")
    assert status == 200 and "memory" in body
    for unknown in ("no-such-key", urllib.parse.quote("('nope', 3)"), "%ZZ",
                    urllib.parse.quote("('a', [1])"), urllib.parse.quote("('a', {})")):
        status, _, body = get(f"{server.address}/info/task/{unknown}.html")
        assert status == 404 and "No such task" in body, unknown
    # every kind of key a scheduler takes has its page, whichever reading its text has
    for key in (42, 3.5, b"raw", "('x', 1)", "7"):
        state.ingest(task(key, "odd"))
    for key in (42, 3.5, b"raw", "('x', 1)", "7"):
        text = urllib.parse.quote(key_str(key), safe="")
        status, _, body = get(f"{server.address}/info/task/{text}.html")
        assert status == 200 and "odd" in body, key


def test_pages_with_a_lone_surrogate_are_served(served):
    state, server = served
    state.ingest(TaskTransition("r", "odd-1", "odd\udc80", "processing", "erred", W, 1,
                                (("compute", T0, T0 + 0.1),), 0, "", "E: bad \udc80 bytes"))
    state.ingest(ComputationFinished("r", "error", T0 + 1, "E: bad \udc80 bytes"))
    for path in ("/info/main/workers.html", "/metrics", "/info/task/odd-1.html"):
        status, _, body = get(server.address + path)
        assert status == 200, path
    assert "bad \\udc80 bytes" in body  # written as its escape


def test_key_candidates_read_a_page_text_both_ways():
    from shoal.dashboard.http import key_candidates

    assert key_candidates("('x', 1)") == [("x", 1), "('x', 1)"]
    assert key_candidates("42") == [42, "42"] and key_candidates("b'r'") == [b"r", "b'r'"]
    assert key_candidates("inc-1") == ["inc-1"] and key_candidates("('a', [1])") == ["('a', [1])"]
    assert key_candidates("True") == ["True"] and key_candidates("'q'") == ["q", "'q'"]


def test_info_source_story_and_identity():
    class Source:
        async def identity(self):
            return {"type": "Scheduler", "address": "tcp://sched:1"}

        async def story(self, key):
            if key == "inc-2":  # what a scheduler sends: a transition and a note
                return [[key, "waiting", "processing", [[["x", 1], "memory"]], "stim-3", 1.5e9],
                        [key, "stale", "from tcp://w:1", "stim-4", 1.5e9 + 0.25]]  # fmt: skip
            return [(key, "waiting", "processing", "stim-1"), (key, "processing", "memory", "s2")]

    class Broken:
        def story(self, key):
            raise RuntimeError("scheduler gone")

    class Keeps:
        def __init__(self, story):
            self._story = story

        async def story(self, key):
            return self._story

    state = busy_state()
    state.info_source = Source()
    with DashboardServer(state, port=0) as server:
        body = get(server.address + "/info/task/inc-1.html")[2]
        assert "stim-1" in body and "processing" in body
        body = get(server.address + "/info/task/inc-2.html")[2]
        assert "<th>recommendations</th>" in body and "(&#x27;x&#x27;, 1): memory" in body
        assert "stale" in body and "from tcp://w:1" in body and "stim-4" in body
        assert time.strftime("%H:%M:%S", time.localtime(1.5e9 + 0.25)) + ".250" in body
        assert "tcp://sched:1" in get(server.address + "/info/main/workers.html")[2]
        state.info_source = Broken()
        status, _, body = get(server.address + "/info/task/inc-1.html")
        assert status == 200 and "RuntimeError: scheduler gone" in body
        # a key the dashboard does not follow, while the scheduler cannot be asked: not a
        # 404 (the scheduler may know it), the page says why there is no story
        status, _, body = get(server.address + "/info/task/unknown-9.html")
        assert status == 200 and "RuntimeError: scheduler gone" in body
        state.info_source = Keeps(None)  # a local scheduler keeps no story
        body = get(server.address + "/info/task/inc-1.html")[2]
        assert "keeps no story of its tasks (a local scheduler)" in body and "<th>stimulus</th>" not in body
        state.info_source = Keeps([])
        body = get(server.address + "/info/task/inc-1.html")[2]
        assert "The scheduler has no story of this key." in body


def test_prefix_mode():
    state = busy_state()
    with DashboardServer(state, port=0, prefix="proxy/8787/") as server:
        assert server.address.endswith("/proxy/8787")
        base = f"http://127.0.0.1:{server.port}"
        status, headers, _ = get(base + "/proxy/8787/", follow=False)
        assert status == 302 and headers["Location"] == "status"
        status, headers, _ = get(base + "/proxy/8787", follow=False)
        assert headers["Location"] == "8787/status"  # resolves to /proxy/8787/status
        status, _, body = get(base + "/proxy/8787/status")
        assert status == 200
        assert_bokeh_page(body, "Status")
        static = re.search(r'src="(static/js/bokeh\.min\.js[^"]*)"', body).group(1)
        assert get(urllib.parse.urljoin(base + "/proxy/8787/status", static))[0] == 200
        for route in ("/health", "/metrics", "/panes.json", "/individual-plots.json",
                      "/individual-task-stream", "/info/main/workers.html"):  # fmt: skip
            assert get(base + "/proxy/8787" + route)[0] == 200, route
        assert get(base + "/status")[0] == 404


@pytest.mark.parametrize("prefix", ["", "/proxy/8787"])
def test_websocket_session_gets_live_updates(prefix, caplog):
    from bokeh.client import pull_session

    state = busy_state()
    with DashboardServer(state, port=0, prefix=prefix) as server:
        session = pull_session(url=server.address + "/individual-progress")
        try:
            assert session.document.roots
            server_side = _on_loop(server, lambda: [
                s for s in server._server.get_sessions("/individual-progress")
                if s.id == session.id])  # fmt: skip
            assert len(server_side) == 1
        finally:
            session.close()

        def labels():
            (s,) = server._server.get_sessions("/individual-progress")[:1]
            (src,) = [m for m in s.document.roots[0].references()
                      if type(m).__name__ == "ColumnDataSource" and "text" in m.data]
            return list(src.data["text"])

        assert _on_loop(server, labels) == [
            "inc: 2 / 2", "sum: 1 / 1",
            "3 tasks: 1 erred, 2 in memory"]
        state.ingest(GraphSubmitted("r2", "scheduler", 1, {"mul": 1}, (), T0))
        deadline = time.monotonic() + 10
        while "mul: 0 / 1" not in _on_loop(server, labels):  # the 100 ms refresh picks it up
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert "failed to update" not in caplog.text


def test_an_update_of_several_panes_is_one_message():
    """/status changes the task stream, the progress bars and the memory bars in one
    update; the browser gets them as one PATCH-DOC (``server._Connection``), not one
    message per changed model as Bokeh sends by default.  Counted where the server
    writes its messages to the websocket."""
    from bokeh.client import pull_session

    state = busy_state()
    with DashboardServer(state, port=0) as server:
        session = pull_session(url=server.address + "/status")
        sent = []  # events per PATCH-DOC message written

        def wrap():
            (connection,) = server._server._tornado._clients
            send = connection._socket.send_message

            async def counting(message):
                if message.msgtype == "PATCH-DOC":
                    sent.append(len(message.content["events"]))
                await send(message)

            connection._socket.send_message = counting

        try:
            _on_loop(server, wrap)
            deadline = time.monotonic() + 20
            for i in range(2, 200):
                # new results (stream, progress) and new memory figures (memory bars)
                state.ingest(task(f"inc-{i + 10}", "inc", start=T0 + i))
                state.ingest(WorkerMetrics(W, T0 + i, 100 * i, 200 * i, 0, 10_000, 25.0, 1, 0, None))
                if any(n >= 3 for n in sent):
                    break
                assert time.monotonic() < deadline, sent
                time.sleep(0.15)
        finally:
            session.close()
    assert max(sent) >= 3, sent


def _on_loop(server, fn):
    """Run *fn* on the server's loop (Bokeh documents belong to that thread)."""
    done, out = threading.Event(), []

    def call():
        try:
            out.append(fn())
        finally:
            done.set()

    server._loop.add_callback(call)
    assert done.wait(10)
    return out[0]


def _status_with_host(port, host):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", "/status", headers={"Host": host})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def test_only_this_machines_names_are_served_on_loopback(served, monkeypatch):
    _, server = served
    port = server.port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST",
                 f"{socket.gethostname()}:{port}", f"app.localhost:{port}", f"localhost.:{port}",
                 f"192.168.1.5:{port}", "10.0.0.7:9999"):  # addresses: nothing to rebind
        assert _status_with_host(port, host)[0] == 200, host
    # DNS rebinding: a page of another name pointed at 127.0.0.1 reads nothing, also
    # through a port forward (ssh -L 9999:localhost:port passes its own port on)
    for host in (f"evil.example:{port}", "evil.example:9999", "evil.example"):
        status, body = _status_with_host(port, host)
        assert status == 403 and "is not this machine" in body, host
    from shoal.dashboard.server import host_checker

    assert host_checker("127.0.0.1", ["dash.example.org"])("dash.example.org:443")
    assert host_checker("127.0.0.1", ["*.example.org"])("jupyter.example.org:8443")
    assert not host_checker("127.0.0.1", ["*.example.org"])("example.com")
    assert not host_checker("127.0.0.1", [], environ={})("evil.example")
    assert host_checker("127.0.0.1", ["*"]) is None  # anything goes, as asked
    assert host_checker("0.0.0.0", []) is None  # served on other interfaces: names vary
    assert host_checker("127.0.0.1", [], environ={"JUPYTERHUB_SERVICE_PREFIX": "/u/"}) is None
    from shoal import config

    with config.set({"distributed.dashboard.allow-websocket-origin": ["tunnel.example"]}):
        with DashboardServer(DashboardState(), port=0) as other:  # the names the config adds
            assert _status_with_host(other.port, f"tunnel.example:{other.port}")[0] == 200
            assert _status_with_host(other.port, f"evil.example:{other.port}")[0] == 403


def test_taken_port_moves_to_the_next(caplog):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    taken = blocker.getsockname()[1]
    try:
        with caplog.at_level("INFO", logger="shoal.dashboard"):
            server = DashboardServer(DashboardState(), port=taken).start_in_thread()
        try:
            assert server.port != taken
            assert get(server.address + "/health")[2] == "ok"
            assert f"(port {taken} was taken)" in caplog.text
            assert f":{server.port}/status" in caplog.text
        finally:
            server.stop()
    finally:
        blocker.close()


def test_start_server_on_a_running_loop():
    from tornado.httpclient import AsyncHTTPClient

    async def main():
        server = start_server(busy_state(), port=0)  # a running loop: served on it
        assert server._thread is None
        client = AsyncHTTPClient()
        try:
            for route in ("/health", "/status", "/individual-workers", "/metrics"):
                response = await client.fetch(server.address + route)
                assert response.code == 200
        finally:
            client.close()
        await server.stop()
        return server.port

    port = asyncio.run(main())
    assert_closed(port)


def test_start_server_without_a_loop_uses_a_thread():
    server = start_server(DashboardState(), port=0)
    try:
        assert server._thread is not None and server._thread.is_alive()
        assert get(server.link)[0] == 200
    finally:
        server.stop()
    assert_closed(server.port)


def test_dashboard_process_tunes_its_garbage_collector():
    """The dashboard process freezes what start-up made and collects young objects
    in larger batches (``__main__._tune_gc``); checked in a child process, since it
    changes the whole interpreter."""
    import subprocess
    import sys

    code = ("import gc; from shoal.dashboard.__main__ import GC_YOUNG, _tune_gc; "
            "before = gc.get_freeze_count(); _tune_gc(); "
            "print(gc.get_threshold()[0] == GC_YOUNG, gc.get_freeze_count() > before + 10_000)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "True"], out.stderr


def test_info_pages_name_the_zone_of_their_times(monkeypatch):
    """The plots' axes are in the reader's time zone; an /info page's times are in the
    dashboard's machine's, and say which."""
    from shoal.core.units import format_clock as clock_text

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert clock_text(1_782_923_405.25) == "12:30:05 EDT"  # 16:30:05.250 UTC
        assert clock_text(1_782_923_405.25, "%H:%M:%S.{ms}") == "12:30:05.250 EDT"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_socket_that_closes_under_the_keep_alive_closes_quietly(caplog):
    """Bokeh's keep-alive pings every socket; one that is closing answers
    ``WebSocketClosedError`` and the keep-alive drops its session, then tornado calls
    the handler's ``on_close``, which asked that session again: an AssertionError's
    traceback in the user's notebook for a tab closed at that moment."""
    from bokeh.client import pull_session

    with DashboardServer(busy_state(), port=0) as server:
        session = pull_session(url=server.address + "/individual-progress")
        try:
            def close_then_ping():  # (the order a tab closed during a keep-alive gives)
                app = server._server._tornado
                [connection] = list(app._clients)
                connection._socket.close()
                app._keep_alive()
                return connection

            connection = _on_loop(server, close_then_ping)
            deadline = time.monotonic() + 10
            while _on_loop(server, lambda: connection in server._server._tornado._clients
                           or connection._socket.ws_connection is not None):  # fmt: skip
                assert time.monotonic() < deadline, "the socket did not close"
                time.sleep(0.05)
        finally:
            session.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
