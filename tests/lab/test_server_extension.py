"""The lab extension's server side: registry, pane lists, the proxy, clusters.

The Jupyter server runs in-process (pytest-jupyter's ``jp_serverapp``, with its
own config/data/runtime dirs); requests go through ``jp_fetch`` with the
server's token.  The tests are plain functions that run each request on the
fixture's event loop (``call``), so pytest-jupyter's async-test hooks are not
needed outside this module.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

pytest.importorskip("jupyter_server", reason="pip install 'shoal[jupyter]'")
pytest.importorskip("jupyter_server_proxy", reason="pip install 'jupyter-server-proxy>=4.1.1'")
pytest.importorskip("pytest_jupyter", reason="pip install 'pytest-jupyter[server]'")

from pytest_jupyter.jupyter_server import *  # noqa: E402,F403 (fixtures, for this module only)
from tornado import web, websocket  # noqa: E402
from tornado.httpclient import HTTPClientError  # noqa: E402

from shoal.lab import registry  # noqa: E402

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"shoal.lab": True}},
            "ShoalLab": {"cluster_kwargs": {"processes": False, "dashboard_address": ":0"}}}  # fmt: skip


@pytest.fixture
def call(jp_asyncio_loop):
    """Run a coroutine (a ``jp_fetch``) on the server's loop; its result."""
    return jp_asyncio_loop.run_until_complete


def get_json(call, jp_fetch, *parts, **kwargs):
    return json.loads(call(jp_fetch(*parts, **kwargs)).body)


def send_json(call, jp_fetch, method, *parts, body=None):
    return get_json(call, jp_fetch, "shoal", "clusters", *parts, method=method, body=json.dumps(body))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def dashboard_pid():
    """A process that a record may name as its dashboard: its arguments say
    ``shoal.dashboard`` (the registry checks that a record's process id was not given
    to another program since)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             "shoal.dashboard"])  # fmt: skip
    yield proc.pid
    proc.kill()
    proc.wait()


def write_record(folder, name, **record):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"dashboard-{name}.json")
    with open(path, "w") as f:
        json.dump({"host": "127.0.0.1", "prefix": "", **record}, f)
    return path


# --- pure parts --------------------------------------------------------------------------


@pytest.mark.parametrize("url, embed, upstream", [
    ("http://127.0.0.1:8787/status", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
    ("http://localhost:8790", "shoal/proxy/8790/", "http://127.0.0.1:8790/"),
    ("http://127.0.0.1:8787/dash/status", "shoal/proxy/8787/dash/", "http://127.0.0.1:8787/dash/"),
    ("/user/me/proxy/8787/status", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),  # JupyterHub link
    ("proxy/8787/status", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
    ("http://localhost:8888/user/me/proxy/8787/", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
    ("shoal/proxy/8787/", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
    ("http://cluster.example.org:8787/status", "http://cluster.example.org:8787/",
     "http://cluster.example.org:8787/"),
    # as the browser shows them behind a hub or Binder: this server's proxy, by its public name
    ("https://hub.example.org/user/me/proxy/8787/status", "shoal/proxy/8787/",
     "http://127.0.0.1:8787/"),
    ("http://hub.example.org:18889/user/me/shoal/proxy/8787/workers", "shoal/proxy/8787/",
     "http://127.0.0.1:8787/"),
    # typed without a scheme, or a page or pane's link rather than the status page
    ("localhost:8787", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
    ("  127.0.0.1:8787/status ", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
    ("cluster.example.org:8787/status", "http://cluster.example.org:8787/",
     "http://cluster.example.org:8787/"),
    ("http://127.0.0.1:8787/individual-task-stream", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
    # any loopback address, as shoal.core.hosts says (127.0.0.2 was left unproxied)
    ("http://127.0.0.2:8787/status", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
    ("http://127.0.0.1:8787/dash/info/main/workers.html", "shoal/proxy/8787/dash/",
     "http://127.0.0.1:8787/dash/"),
    ("/user/me/proxy/8787/individual-progress", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
    ("http://cluster.example.org:8787/tasks", "http://cluster.example.org:8787/",
     "http://cluster.example.org:8787/"),
    # an HTTPS dashboard (distributed.dashboard.tls): direct, the proxy speaks plain HTTP
    ("https://127.0.0.1:8787/status", "https://127.0.0.1:8787/", "https://127.0.0.1:8787/"),
])  # fmt: skip
def test_embeddable_and_upstream(url, embed, upstream):
    host = "hub.example.org:18889" if ":18889/" in url else "hub.example.org"  # the browser's
    assert registry.embeddable(url, "/user/me/", server_host=host) == embed
    assert registry.upstream(url, "/user/me/", server_host=host) == upstream


@pytest.mark.parametrize("url, server_host, embed, upstream", [
    # another server's proxy path is that server's (a plain lab: base_url "/")
    ("http://gpu-box.lan:8888/proxy/8787/status", "localhost:8888",
     "http://gpu-box.lan:8888/proxy/8787/", "http://gpu-box.lan:8888/proxy/8787/"),
    ("http://gpu-box.lan:8888/proxy/8787/status", "gpu-box.lan:8889",
     "http://gpu-box.lan:8888/proxy/8787/", "http://gpu-box.lan:8888/proxy/8787/"),
    ("http://gpu-box.lan:8888/proxy/8787/status", None,
     "http://gpu-box.lan:8888/proxy/8787/", "http://gpu-box.lan:8888/proxy/8787/"),
    # ... and this server's, under the name the browser reached it by
    ("http://gpu-box.lan:8888/proxy/8787/status", "gpu-box.lan:8888", "shoal/proxy/8787/",
     "http://127.0.0.1:8787/"),
    ("https://hub.example.org/proxy/8787/status", "hub.example.org:443", "shoal/proxy/8787/",
     "http://127.0.0.1:8787/"),
    ("http://localhost:8888/proxy/8787/", "somewhere:1", "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
    ("[::1]:8787/status", None, "shoal/proxy/8787/", "http://127.0.0.1:8787/"),
])  # fmt: skip
def test_a_proxy_path_is_this_servers_only_under_its_own_name(url, server_host, embed, upstream):
    assert registry.embeddable(url, "/", server_host=server_host) == embed
    assert registry.upstream(url, "/", server_host=server_host) == upstream


def test_without_the_proxy_dashboards_are_embedded_directly():
    assert registry.embeddable("proxy/8787/status", "/", proxied=False) == "http://127.0.0.1:8787/"
    record = {"pid": 1, "port": 8787, "prefix": "/dash", "kernel": None}
    assert registry.describe(record, {}, proxied=False)["url"] == "http://127.0.0.1:8787/dash/"
    assert registry.describe(record, {})["url"] == "shoal/proxy/8787/dash/"
    https = dict(record, link="https://127.0.0.1:8787/dash/status")
    assert registry.describe(https, {})["url"] == "https://127.0.0.1:8787/dash/"
    named = dict(record, link="https://10.0.0.5:8787/dash/status")  # (the name its certificate has)
    assert registry.describe(named, {})["url"] == "https://10.0.0.5:8787/dash/"


def test_kernel_id_from_connection_file(tmp_path):
    kernels = {"abc-1": str(tmp_path / "kernel-abc-1.json"), "def-2": None}
    assert registry.kernel_id(str(tmp_path / "kernel-abc-1.json"), kernels) == "abc-1"
    assert registry.kernel_id("/elsewhere/kernel-def-2.json", kernels) == "def-2"  # by its name
    assert registry.kernel_id("/elsewhere/kernel-zzz.json", kernels) is None
    assert registry.kernel_id(None, kernels) is None


def test_read_records_prunes_dead_and_skips_junk(tmp_path, dashboard_pid):
    live = write_record(tmp_path, "live", pid=dashboard_pid, port=8787, started=2)
    older = write_record(tmp_path, "older", pid=dashboard_pid, port=8788, started=1)
    dead = write_record(tmp_path, "dead", pid=dead_pid(), port=8789)
    reused = write_record(tmp_path, "reused", pid=os.getpid(), port=8790)  # another program now
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "other.txt").write_text("ignored")
    assert [r["port"] for r in registry.read_records(str(tmp_path))] == [8788, 8787]
    assert os.path.exists(live) and os.path.exists(older) and not os.path.exists(dead)
    assert not os.path.exists(reused)
    assert not registry.alive(1)  # (init: never a dashboard, a user's own or not)
    # a kernel thread (no arguments, like a process in the moment it starts) is none either
    # (process 2 is the kernel's kthreadd, unless this runs in a process namespace)
    stat = pathlib.Path("/proc/2/stat")
    if stat.exists() and int(stat.read_text().rpartition(") ")[2].split()[6]) & 0x00200000:
        assert not registry.alive(2)
    assert registry.read_records(str(tmp_path / "missing")) == []


def test_a_record_written_before_jupyter_ever_ran_keeps_jupyters_folder_private(tmp_path, monkeypatch):
    """The runtime folder, made as a parent of the registry's by a dashboard started
    before Jupyter's first run on the account, got the umask's 0755; Jupyter then wrote
    its servers' tokens into it, readable by every user of the machine."""
    import stat

    from shoal.diagnostics.announce import announce, withdraw

    runtime = tmp_path / "share" / "jupyter" / "runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    umask = os.umask(0o022)
    try:
        path = announce(os.getpid(), {"port": 8787})
    finally:
        os.umask(umask)

    def mode(p):
        return stat.S_IMODE(os.stat(p).st_mode)

    assert path == str(runtime / "shoal-dashboards" / f"dashboard-{os.getpid()}.json")
    assert (mode(runtime), mode(runtime / "shoal-dashboards"), mode(path)) == (0o700, 0o700, 0o600)
    with open(path) as f:
        assert json.load(f) == {"pid": os.getpid(), "port": 8787}
    withdraw(path)
    assert not os.path.exists(path)


# --- discovery ---------------------------------------------------------------------------


def test_extension_is_enabled_and_lists_nothing(call, jp_fetch, jp_serverapp):
    assert "shoal.lab" in jp_serverapp.extension_manager.extensions
    assert get_json(call, jp_fetch, "shoal", "dashboards") == {"dashboards": []}


def test_dashboards_by_kernel(call, jp_fetch, jp_serverapp, dashboard_pid):
    kid = get_json(call, jp_fetch, "api", "kernels", method="POST", body=json.dumps({"name": "echo"}))["id"]
    connection_file = jp_serverapp.kernel_manager.get_kernel(kid).connection_file
    from shoal.diagnostics.announce import registry_dir

    folder = registry_dir()
    assert folder.startswith(str(jp_serverapp.runtime_dir))
    write_record(folder, "mine", pid=dashboard_pid, port=8801, kernel=connection_file, started=1,
                 link="http://127.0.0.1:8801/status", scheduler="tcp://127.0.0.1:1")  # fmt: skip
    write_record(folder, "other", pid=dashboard_pid, port=8802, kernel=None, started=2)
    gone = write_record(folder, "gone", pid=dead_pid(), port=8803, kernel=connection_file)

    everything = get_json(call, jp_fetch, "shoal", "dashboards")["dashboards"]
    assert [d["port"] for d in everything] == [8801, 8802]
    assert not os.path.exists(gone)
    mine = get_json(call, jp_fetch, "shoal", "dashboards", params={"kernel": kid})["dashboards"]
    assert len(mine) == 1
    assert mine[0]["kernel"] == kid and mine[0]["url"] == "shoal/proxy/8801/"
    assert mine[0]["link"] == "http://127.0.0.1:8801/status"
    assert get_json(call, jp_fetch, "shoal", "dashboards", params={"kernel": "nope"}) == {"dashboards": []}


def test_requests_need_jupyters_authentication(call, jp_fetch):
    for path in (("shoal", "dashboards"), ("shoal", "clusters"), ("shoal", "proxy", "1", "status")):
        with pytest.raises(HTTPClientError) as info:
            call(jp_fetch(*path, headers={"Authorization": ""}, follow_redirects=False))
        assert info.value.code in (302, 403), path


# --- panes and the proxy -----------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard():
    """A real local dashboard process (no cluster needed)."""
    pytest.importorskip("bokeh", reason="pip install bokeh (the test extra has it)")
    from shoal.diagnostics import Dashboard

    dash = Dashboard(address="127.0.0.1:0", show=False)
    dash.register()
    try:
        yield dash
    finally:
        dash.close()


def test_panes_through_the_proxy(call, jp_fetch, dashboard):
    port = dashboard.process.port
    answer = get_json(call, jp_fetch, "shoal", "panes", params={"url": dashboard.link})
    assert answer["url"] == f"shoal/proxy/{port}/"
    assert answer["panes"]["Task Stream"] == "/individual-task-stream"
    assert {"Progress", "Workers Memory"} <= set(answer["panes"])

    proxied = get_json(call, jp_fetch, "shoal", "proxy", str(port), "panes.json")
    assert proxied == answer["panes"]
    page = call(jp_fetch("shoal", "proxy", str(port), "individual-task-stream"))
    html = page.body.decode()
    assert page.code == 200 and "static/" in html and 'src="/static' not in html  # relative URLs


def test_panes_of_an_https_dashboard_on_this_machine(call, jp_fetch):
    """``distributed.dashboard.tls``: embedded by its own link (the proxy speaks plain
    HTTP), its pane list read though its certificate names no host."""
    pytest.importorskip("bokeh", reason="pip install bokeh (the test extra has it)")
    pytest.importorskip("cryptography", reason="pip install cryptography (for Security.temporary)")
    from shoal import config
    from shoal.diagnostics import Dashboard
    from shoal.distributed.security import Security

    sec = Security.temporary()
    tls = {"cert": sec.tls_scheduler_cert, "key": sec.tls_scheduler_key}
    try:
        with config.set({"distributed.dashboard.tls": tls}), Dashboard(":0", show=False) as dash:
            assert dash.link.startswith("https://127.0.0.1:")
            answer = get_json(call, jp_fetch, "shoal", "panes", params={"url": dash.link})
            assert answer["url"] == dash.link.removesuffix("status")
            assert answer["panes"]["Task Stream"] == "/individual-task-stream"
    finally:
        sec.close()


def test_panes_of_a_dashboard_that_does_not_answer(call, jp_fetch):
    answer = get_json(call, jp_fetch, "shoal", "panes", params={"url": "http://127.0.0.1:1/status"})
    assert answer == {"url": "shoal/proxy/1/", "panes": None}
    with pytest.raises(HTTPClientError) as info:
        call(jp_fetch("shoal", "panes"))
    assert info.value.code == 400


class _Echo(websocket.WebSocketHandler):
    def check_origin(self, origin):  # as strict as Bokeh's allowlist: its own origin only
        return origin == f"http://127.0.0.1:{self.application.settings['port']}"

    def on_message(self, message):
        self.write_message(f"{message} to {self.request.host}")


class _Host(web.RequestHandler):
    def get(self):
        self.write(self.request.host)


class _Credentials(web.RequestHandler):
    def get(self):
        self.write({name: self.request.headers.get(name) for name in
                    ("Cookie", "Authorization", "X-XSRFToken", "X-Other")})  # fmt: skip


def test_the_proxy_keeps_the_users_jupyter_credentials(call, jp_fetch):
    """Whatever listens on a proxied port (on a shared machine, another user's process
    that took a dashboard's port) got the Jupyter user's cookie and token."""
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    sock = bind_sockets(0, "127.0.0.1")
    port = sock[0].getsockname()[1]

    async def fetch():
        server = HTTPServer(web.Application([(r"/creds", _Credentials)]))
        server.add_sockets(sock)
        try:
            page = await jp_fetch("shoal", "proxy", str(port), "creds", headers={
                "Cookie": "username-127-0-0-1=secret", "X-XSRFToken": "xsrf", "X-Other": "kept"})
            return json.loads(page.body)
        finally:
            server.stop()

    assert call(fetch()) == {"Cookie": None, "Authorization": None, "X-XSRFToken": None,
                             "X-Other": "kept"}  # fmt: skip


def test_websocket_is_proxied_with_the_dashboards_origin(call, jp_fetch, jp_ws_fetch, jp_http_port):
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    sock = bind_sockets(0, "127.0.0.1")
    port = sock[0].getsockname()[1]
    app = web.Application([(r"/ws", _Echo), (r"/host", _Host)], port=port)

    async def echo():
        server = HTTPServer(app)
        server.add_sockets(sock)
        try:
            # the browser's origin is Jupyter's (here localhost:<jupyter port>), not the dashboard's
            ws = await jp_ws_fetch("shoal", "proxy", str(port), "ws",
                                   headers={"Origin": f"http://localhost:{jp_http_port}"})  # fmt: skip
            await ws.write_message("hello")
            reply = await ws.read_message()
            ws.close()
            # and the dashboard's own host, which its DNS-rebinding check accepts
            page = await jp_fetch("shoal", "proxy", str(port), "host")
            return reply, page.body.decode()
        finally:
            server.stop()

    assert call(echo()) == (f"hello to 127.0.0.1:{port}", f"127.0.0.1:{port}")


def test_a_websocket_to_a_dashboard_that_went_is_closed_with_one_line(call, jp_ws_fetch, caplog):
    """A pane's socket to a port where nothing listens any more (its kernel restarted) is
    closed, with one line in Jupyter's log, not an "Uncaught exception" traceback."""
    port = _closed_port()

    async def connect():
        ws = await jp_ws_fetch("shoal", "proxy", str(port), "ws")
        try:
            return await ws.read_message(), ws.close_code  # None: closed
        finally:
            ws.close()

    with caplog.at_level("INFO"):
        message, code = call(connect())
    assert (message, code) == (None, 1011)
    assert f"no dashboard answers on port {port}" in caplog.text
    assert "Uncaught exception" not in caplog.text, caplog.text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- clusters ----------------------------------------------------------------------------


def test_cluster_lifecycle(call, jp_fetch, jp_serverapp):
    pytest.importorskip("bokeh", reason="pip install bokeh (the test extra has it)")
    assert get_json(call, jp_fetch, "shoal", "clusters") == {"clusters": []}
    model = send_json(call, jp_fetch, "POST", body={"workers": 1})
    cid = model["id"]
    assert model["workers"] == 1 and model["scheduler_address"].startswith("tcp://127.0.0.1:")
    assert model["url"].startswith("shoal/proxy/") and model["dashboard_link"]
    port = model["url"].split("/")[2]
    panes = get_json(call, jp_fetch, "shoal", "panes", params={"url": model["url"]})["panes"]
    assert "Task Stream" in panes
    listed = get_json(call, jp_fetch, "shoal", "dashboards")["dashboards"]
    assert [d["port"] for d in listed] == [int(port)] and listed[0]["kernel"] is None

    assert send_json(call, jp_fetch, "PATCH", cid, body={"workers": 2})["workers"] == 2
    model = send_json(call, jp_fetch, "PATCH", cid, body={"adapt": {"minimum": 1, "maximum": 3}})
    assert model["adapt"] == {"minimum": 1, "maximum": 3}
    with pytest.raises(HTTPClientError) as info:
        send_json(call, jp_fetch, "PATCH", cid, body={"workers": "many"})
    assert info.value.code == 400
    assert get_json(call, jp_fetch, "shoal", "clusters", cid)["id"] == cid

    assert call(jp_fetch("shoal", "clusters", cid, method="DELETE")).code == 204
    assert get_json(call, jp_fetch, "shoal", "clusters") == {"clusters": []}
    assert get_json(call, jp_fetch, "shoal", "dashboards") == {"dashboards": []}
    for method in ("GET", "DELETE"):
        with pytest.raises(HTTPClientError) as info:
            call(jp_fetch("shoal", "clusters", cid, method=method))
        assert info.value.code == 404


def test_clusters_close_with_the_server(call, jp_fetch, jp_serverapp):
    pytest.importorskip("bokeh", reason="pip install bokeh (the test extra has it)")
    send_json(call, jp_fetch, "POST", body={"workers": 1})
    app = jp_serverapp.extension_manager.extension_apps["shoal.lab"]
    (cluster,) = next(iter(app)).manager.clusters.values()
    dashboard = cluster.scheduler.dashboard
    call(jp_serverapp.extension_manager.stop_all_extensions())
    assert next(iter(app)).manager.clusters == {} and cluster.status == "closed"
    assert dashboard.proc.poll() is not None
