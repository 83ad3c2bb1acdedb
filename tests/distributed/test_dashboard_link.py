"""The dashboard process: spawned by a scheduler, a LocalCluster or ``Dashboard()``.

Links are pure functions (template, environment, JupyterHub); the processes are
real: each test checks the dashboard answers over HTTP, and the leak check of
this directory makes sure no dashboard process outlives its owner.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import urllib.request

import pytest

pytest.importorskip("bokeh")
pytest.importorskip("tornado")
pytest.importorskip("msgpack")
psutil = pytest.importorskip("psutil")

from shoal import config  # noqa: E402
from shoal.diagnostics.dashboard import (  # noqa: E402
    DashboardProcess, DashboardStartError, format_dashboard_link, parse_dashboard_address,
)  # fmt: skip
from shoal.distributed.client import Client  # noqa: E402
from shoal.distributed.deploy import LocalCluster  # noqa: E402
from shoal.distributed.eventstream import BusServer  # noqa: E402
from shoal.bus import Bus
from shoal.testing.aio import run  # noqa: E402
from shoal.testing.cluster import gen_cluster  # noqa: E402


async def http_get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    """(status, body) of a GET, on the running loop (no thread)."""
    rest = url.split("://", 1)[1]
    location, _, path = rest.partition("/")
    host, _, port = location.rpartition(":")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    writer.write(f"GET /{path} HTTP/1.0\r\nHost: {location}\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), timeout)
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def base(link: str) -> str:
    return link[: -len("/status")]


# --- links (pure) -------------------------------------------------------------------


def test_parse_dashboard_address():
    assert parse_dashboard_address(":8787") == ("127.0.0.1", 8787)
    assert parse_dashboard_address("localhost") == ("localhost", 8787)
    assert parse_dashboard_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_dashboard_address(":0") == ("127.0.0.1", 0)
    assert parse_dashboard_address(None) is None
    with pytest.raises(ValueError, match="port must be a number"):
        parse_dashboard_address("host:http")
    for bad in (":70000", 70000, ":-1", -5, "[::1]:65536"):
        with pytest.raises(ValueError, match="port must be 0 .* to 65535"):
            parse_dashboard_address(bad)
    assert parse_dashboard_address(":65535") == ("127.0.0.1", 65535)
    # an IPv6 host alone, or bracketed with a port; anything else about brackets is named
    assert parse_dashboard_address("::1") == parse_dashboard_address("[::1]") == ("::1", 8787)
    assert parse_dashboard_address("::1:8787") == ("::1:8787", 8787)  # (an address itself)
    import numpy as np

    assert parse_dashboard_address(np.int64(8790)) == ("127.0.0.1", 8790)
    assert parse_dashboard_address("http://[::1]:9000/") == ("::1", 9000)
    for bad in ("[", "[::1", "[]:80", "[::1]x"):  # ("[" was taken for 127.0.0.1:8787)
        with pytest.raises(ValueError, match=r"an IPv6 host is written '\[host\]:port'"):
            parse_dashboard_address(bad)
    with pytest.raises(ValueError, match="with a port is written in brackets"):
        parse_dashboard_address("localhost::8787")
    for bad in (8787.5, b":0", [":0"]):  # (8787.5 was taken for a host named '8787.5')
        with pytest.raises(TypeError, match="expected 'host:port', ':port' or a port number"):
            parse_dashboard_address(bad)


def test_a_bad_dashboard_host_fails_clearly_and_leaves_nothing_behind():
    import threading

    before = set(threading.enumerate())
    with pytest.raises(ValueError, match="dashboard host 'no-such-host.invalid' is not an address"):
        LocalCluster(n_workers=1, processes=False, dashboard_address="no-such-host.invalid:0")
    assert set(threading.enumerate()) <= before
    assert psutil.Process().children() == []


def test_link_template_environment_and_jupyterhub(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    assert format_dashboard_link("127.0.0.1", 8787) == "http://127.0.0.1:8787/status"
    assert format_dashboard_link("127.0.0.1", 8787, prefix="dash/") == "http://127.0.0.1:8787/dash/status"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    assert format_dashboard_link("127.0.0.1", 8790) == "/user/alice/proxy/8790/status"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice")  # (set by hand: no "/")
    assert format_dashboard_link("127.0.0.1", 8790) == "/user/alice/proxy/8790/status"
    with config.set({"distributed.dashboard.link": "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status"}):
        assert format_dashboard_link("127.0.0.1", 8790) == "/user/alice/proxy/8790/status"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    monkeypatch.setenv("MY_PROXY", "https://hub.example")
    with config.set({"distributed.dashboard.link": "$MY_PROXY/proxy/{port}/{USER_ID}/status"}):
        link = format_dashboard_link("127.0.0.1", 8790)  # an explicit template wins over the hub default
    assert link == "https://hub.example/proxy/8790/{USER_ID}/status"  # unknown fields stay as they are
    with config.set({"distributed.dashboard.link": "{scheme}://{host}:{port}/status"}):
        link = format_dashboard_link("127.0.0.1", 8790)  # Dask's default, set: a hub without the proxy
    assert link == "http://127.0.0.1:8790/status"
    with config.set({"distributed.dashboard.link": ""}):  # (SHOAL_..._LINK= : as unset)
        assert format_dashboard_link("127.0.0.1", 8790) == "/user/alice/proxy/8790/status"
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX")
    assert format_dashboard_link("0.0.0.0", 1) == f"http://{socket.gethostname()}:1/status"


# --- the scheduler's dashboard ------------------------------------------------------


@gen_cluster(nworkers=1, scheduler_options={"dashboard_address": ":0"})
async def test_scheduler_spawns_a_dashboard_that_answers(s, a):
    link = await s.dashboard_started()
    port = s.dashboard.port
    assert link == f"http://127.0.0.1:{port}/status" and port > 0
    status, body = await http_get(base(link) + "/health")
    assert status == 200 and body.strip() == b"ok"
    status, _ = await http_get(link)
    assert status == 200
    async with Client(s.address, asynchronous=True) as c:  # built from the scheduler's identity
        assert c.dashboard_link == link
        assert link in c._repr_html_()
    proc = s.dashboard.proc
    # it runs below the cluster's priority (distributed.dashboard.niceness, +10)
    expected = min(psutil.Process().nice() + config.get("distributed.dashboard.niceness"), 19)
    assert psutil.Process(proc.pid).nice() == expected
    await s.close()
    assert proc.poll() is not None and s.dashboard is None


async def _kill_until_gone(scheduler, dashboard):
    """SIGKILL *dashboard*'s process; wait until its scheduler goes on without one."""
    import signal

    dashboard.proc.send_signal(signal.SIGKILL)
    for _ in range(500):
        if scheduler.dashboard is None:
            break
        await asyncio.sleep(0.02)
    assert scheduler.dashboard is None and scheduler.dashboard_link is None
    assert dashboard.proc.returncode == -signal.SIGKILL  # reaped


def test_a_dashboard_process_that_dies_is_started_again_on_its_port(monkeypatch, caplog, tmp_path):
    """Killed (its memory, a crash): the scheduler says so and starts it again on the same
    port, so the link and the open pages still work; past RESTARTS it goes on without
    one, and its link is None.  Nothing dead stays behind (reaped, record removed)."""
    import signal

    from shoal.distributed.scheduler import dashboarding
    from shoal.lab import registry

    monkeypatch.setattr(dashboarding, "WATCH_INTERVAL", 0.05)
    monkeypatch.setattr(dashboarding, "RESTARTS", 1)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))

    @gen_cluster(nworkers=1, scheduler_options={"dashboard_address": ":0"})
    async def main(s, a):
        link = await s.dashboard_started()
        first = s.dashboard
        assert [r["pid"] for r in registry.read_records()] == [first.proc.pid]
        with caplog.at_level(logging.WARNING, logger="shoal.distributed.scheduler.dashboarding"):
            first.proc.send_signal(signal.SIGKILL)
            for _ in range(500):
                if s.dashboard is not first and s.dashboard is not None and s.dashboard.url:
                    break
                await asyncio.sleep(0.02)
            second = s.dashboard
            assert second is not first and second.port == first.port and s.dashboard_link == link
            assert (await http_get(base(link) + "/health"))[0] == 200
            assert first.proc.returncode == -signal.SIGKILL  # reaped
            assert [r["pid"] for r in registry.read_records()] == [second.proc.pid]
            assert "exited with code -9; starting it again" in caplog.text

            await _kill_until_gone(s, second)  # once more: past RESTARTS
            assert registry.read_records() == []
            assert "runs without a dashboard: its process exited (code -9), 2 times" in caplog.text
        async with Client(s.address, asynchronous=True) as c:  # the cluster is unharmed
            assert await c.submit(sum, [1, 2]) == 3

    main()


def test_a_dashboard_killed_again_before_it_served_is_started_again(monkeypatch, caplog):
    """A restarted dashboard process that died before it served counted as a start
    that failed: the scheduler went on without a dashboard after one restart of three."""
    import signal

    from shoal.distributed.scheduler import dashboarding

    monkeypatch.setattr(dashboarding, "WATCH_INTERVAL", 0.05)

    @gen_cluster(nworkers=1, scheduler_options={"dashboard_address": ":0"})
    async def main(s, a):
        link = await s.dashboard_started()
        first = s.dashboard
        first.proc.send_signal(signal.SIGKILL)
        for _ in range(500):
            if s.dashboard is not first and s.dashboard.proc is not None:
                break
            await asyncio.sleep(0.01)
        second = s.dashboard
        assert second is not first and not second.url  # (not serving yet: bokeh imports)
        second.proc.send_signal(signal.SIGKILL)
        for _ in range(1000):
            if s.dashboard not in (first, second) and s.dashboard is not None and s.dashboard.url:
                break
            await asyncio.sleep(0.02)
        assert s.dashboard not in (first, second, None) and s.dashboard_link == link
        assert (await http_get(base(link) + "/health"))[0] == 200
        assert s._dashboard_restarts == 2 and s._early is None

    with caplog.at_level(logging.WARNING, logger="shoal.distributed.scheduler.dashboarding"):
        main()
    assert "did not start again" in caplog.text and "without a dashboard" not in caplog.text


def test_a_first_dashboard_killed_before_it_served_is_started_again(monkeypatch, caplog):
    """The first process killed before it served (the OOM killer as a cluster starts) was
    taken for a start that failed: the cluster went on without a dashboard for good, and
    the log sent the user to a stderr that had nothing."""
    import signal

    from shoal.distributed.scheduler import dashboarding

    monkeypatch.setattr(dashboarding, "WATCH_INTERVAL", 0.05)
    spawn, spawned = DashboardProcess.spawn, []

    def spawn_and_kill_the_first(self):
        spawn(self)
        if not spawned:
            self.proc.send_signal(signal.SIGKILL)  # (long before it can serve: bokeh imports)
        spawned.append(self)
        return self

    monkeypatch.setattr(DashboardProcess, "spawn", spawn_and_kill_the_first)

    @gen_cluster(nworkers=1, scheduler_options={"dashboard_address": ":0"})
    async def main(s, a):
        link = await s.dashboard_started()  # (it answers once the new one serves)
        assert link is not None and link == s.dashboard_link and s.dashboard.url
        first, second = spawned
        assert s.dashboard is second and second.port == first.port
        assert first.proc.returncode == -signal.SIGKILL
        assert (await http_get(base(s.dashboard_link) + "/health"))[0] == 200
        assert s._dashboard_restarts == 1

    with caplog.at_level(logging.WARNING, logger="shoal.distributed.scheduler.dashboarding"):
        main()
    assert "was killed (SIGKILL) before serving" in caplog.text
    assert f"--port {spawned[0].port} " in caplog.text  # (the port it had, not the ":0" asked)
    assert "without a dashboard" not in caplog.text and "stderr" not in caplog.text


def test_a_first_dashboard_that_does_not_start_in_time_is_not_started_again(caplog):
    """A start that timed out (its process SIGTERMed by this side) was taken for a kill
    from elsewhere, and three more slow processes were spawned before giving up."""
    spawned = []
    spawn = DashboardProcess.spawn

    def counting(self):
        spawned.append(self)
        return spawn(self)

    @gen_cluster(nworkers=1, scheduler_options={"dashboard_address": ":0"})
    async def main(s, a):
        assert await s.dashboard_started() is None and s.dashboard is None

    with pytest.MonkeyPatch.context() as mp, config.set(
            {"distributed.dashboard.startup-timeout": "0.05s"}):  # (far less than its imports)
        mp.setattr(DashboardProcess, "spawn", counting)
        with caplog.at_level(logging.WARNING, logger="shoal.distributed.scheduler.dashboarding"):
            main()
    assert len(spawned) == 1 and "did not start within" in caplog.text
    assert "starting it again" not in caplog.text


def test_a_dashboard_that_served_a_while_starts_its_restart_count_over(monkeypatch, caplog):
    """Four deaths spread over a day (a dropped connection now and then) ended the
    dashboard for good: the count of restarts never went down."""
    import signal

    from shoal.distributed.scheduler import dashboarding

    monkeypatch.setattr(dashboarding, "WATCH_INTERVAL", 0.05)
    monkeypatch.setattr(dashboarding, "RESTARTS", 1)
    monkeypatch.setattr(dashboarding, "RESTARTS_FORGOTTEN", 0.0)  # (each one served "a while")

    @gen_cluster(nworkers=1, scheduler_options={"dashboard_address": ":0"})
    async def main(s, a):
        link = await s.dashboard_started()
        for _ in range(3):  # past RESTARTS=1 twice over
            dead = s.dashboard
            dead.proc.send_signal(signal.SIGKILL)
            for _ in range(1000):
                if s.dashboard not in (dead, None) and s.dashboard.url:
                    break
                await asyncio.sleep(0.02)
            assert s.dashboard not in (dead, None) and s.dashboard_link == link
        assert s._dashboard_restarts == 1

    with caplog.at_level(logging.WARNING, logger="shoal.distributed.scheduler.dashboarding"):
        main()
    assert caplog.text.count("starting it again") == 3 and "without a dashboard" not in caplog.text


def test_a_stopped_dashboard_process_ends_on_sigterm(caplog):
    """A dashboard process stopped (SIGSTOP, a debugger) waited out the close's timeout
    and was killed ("ignored SIGTERM"): it is woken to take the SIGTERM."""
    import signal

    async def main():
        server = await BusServer(Bus("test")).start()
        dashboard = DashboardProcess(server.address, "127.0.0.1", 0).spawn()
        try:
            await dashboard.started()
            dashboard.proc.send_signal(signal.SIGSTOP)
            with caplog.at_level(logging.WARNING, logger="shoal.diagnostics.dashboard"):
                code = await dashboard.aclose(timeout=20)
        finally:
            await dashboard.aclose()
            await server.close()
        return code

    assert run(main(), 90) == 0  # (its clean exit on SIGTERM; SIGKILL's is -9)
    assert "killing it" not in caplog.text


def _inc(x):
    return x + 1


def test_a_restarted_dashboard_gets_what_ran_while_it_was_down(monkeypatch):
    """The records published from a dashboard process's death until the next one
    subscribed were lost: a run in between never showed in its task stream."""
    import signal

    from shoal.distributed.scheduler import dashboarding

    monkeypatch.setattr(dashboarding, "WATCH_INTERVAL", 0.05)

    @gen_cluster(nworkers=1, scheduler_options={"dashboard_address": ":0"})
    async def main(s, a):
        link = await s.dashboard_started()
        first = s.dashboard
        async with Client(s.address, asynchronous=True) as c:
            first.proc.send_signal(signal.SIGKILL)
            for _ in range(500):  # its stream ended: held from now
                if s._early is not None:
                    break
                await asyncio.sleep(0.01)
            assert s._early is not None
            await c.gather(c.map(_inc, range(20), key=[f"gap-{i}" for i in range(20)]))
            for _ in range(1000):
                if s.dashboard is not first and s.dashboard is not None and s.dashboard.url:
                    break
                await asyncio.sleep(0.02)
            assert s._early is None  # (taken by the new process)
            for _ in range(100):
                status, body = await http_get(base(link) + "/metrics")
                if b'shoal_compute_seconds_total{prefix="gap"}' in body:
                    break
                await asyncio.sleep(0.05)
            assert status == 200 and b'shoal_compute_seconds_total{prefix="gap"}' in body

    main()


def test_a_bad_link_template_is_named_and_the_dashboard_is_still_watched(caplog):
    """A malformed ``distributed.dashboard.link`` raised from deep in str.format, made the
    Client's and the cluster's HTML repr raise, and ended the scheduler's task before it
    started the watch that restarts a dying dashboard process."""
    from shoal.diagnostics.links import format_dashboard_link

    bad = "{scheme}://{host}:{port/status"
    for template in (bad, "{}/status", 123):
        with config.set({"distributed.dashboard.link": template}):
            with pytest.raises(ValueError, match=r"distributed.dashboard.link=.*(not a link "
                                                 r"template|expected a link template)"):
                format_dashboard_link("127.0.0.1", 8787)
    with config.set({"distributed.dashboard.link": bad}):

        @gen_cluster(nworkers=1, scheduler_options={"dashboard_address": ":0"})
        async def main(s, a):
            with caplog.at_level(logging.WARNING, logger="shoal.distributed.scheduler.dashboarding"):
                with pytest.raises(ValueError, match="distributed.dashboard.link"):
                    await s.dashboard_started()
                for _ in range(250):
                    if s._dashboard_watch is not None:
                        break
                    await asyncio.sleep(0.02)
            assert s._dashboard_watch is not None and not s._dashboard_watch.done()
            assert "its link: distributed.dashboard.link=" in caplog.text
            async with Client(s.address, asynchronous=True) as c:
                html = c._repr_html_()
                assert "not a link template" in html and s.address in html

        main()

    # the local Dashboard serves too, and says what is wrong where it shows its link
    from shoal.diagnostics import Dashboard

    with config.set({"distributed.dashboard.link": bad}):
        with Dashboard(address=":0", show=False) as dash:
            assert "serving on port" in repr(dash) and "not a link template" in repr(dash)
            assert "not a link template" in dash._repr_html_()


def test_a_dashboard_that_cannot_be_started_again_leaves_no_dead_link(monkeypatch, caplog):
    """What killed it (no file descriptors or memory left) can stop the new one's spawn
    too: the scheduler says so and its link goes, instead of pointing at a dead one."""
    from shoal.diagnostics.dashboard import DashboardProcess
    from shoal.distributed.scheduler import dashboarding

    monkeypatch.setattr(dashboarding, "WATCH_INTERVAL", 0.05)

    @gen_cluster(nworkers=1, scheduler_options={"dashboard_address": ":0"})
    async def main(s, a):
        await s.dashboard_started()
        first = s.dashboard

        def no_files(self):
            raise OSError(24, "Too many open files")

        monkeypatch.setattr(DashboardProcess, "spawn", no_files)
        with caplog.at_level(logging.WARNING, logger="shoal.distributed.scheduler.dashboarding"):
            await _kill_until_gone(s, first)
        assert "runs without a dashboard: [Errno 24] Too many open files" in caplog.text
        assert s._dashboard_watch.done() and s._dashboard_watch.exception() is None

    main()


def test_a_zombie_is_not_alive_for_the_registry():
    import subprocess
    import sys

    from shoal.lab import registry

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)",
                              "shoal.dashboard"])  # (its arguments say what it is)
    try:
        assert registry.alive(child.pid)  # (also in the moment its arguments are still empty)
        child.kill()
        for _ in range(500):  # killed, not reaped yet: a zombie
            if psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE:
                break
            time.sleep(0.01)
        assert not registry.alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not registry.alive(child.pid)


def test_taken_port_gives_the_next_free_one_with_a_warning(caplog):
    async def main():
        from shoal.distributed.scheduler.server import Scheduler

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            async with Scheduler(dashboard_address=f"127.0.0.1:{port}") as s:
                link = await s.dashboard_started()
                assert s.dashboard.port > port
                assert link == f"http://127.0.0.1:{s.dashboard.port}/status"
                status, _ = await http_get(base(link) + "/health")
                assert status == 200
                args = s.dashboard.proc.args  # (its command line names the port it serves)
                assert args[args.index("--port") + 1] == str(s.dashboard.port)
        return port

    with caplog.at_level(logging.WARNING, logger="shoal.diagnostics.dashboard"):
        port = run(main(), 40)
    assert f"port {port} is taken" in caplog.text


def test_jupyterhub_proxies_only_this_machines_dashboards(monkeypatch):
    """Jupyter's proxy reaches ports of the machine it runs on: a scheduler elsewhere
    keeps its own link, as with Dask's."""
    from shoal.diagnostics.links import _on_this_machine

    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    assert format_dashboard_link("127.0.0.1", 8787) == "/user/alice/proxy/8787/status"
    assert format_dashboard_link("0.0.0.0", 8787) == "/user/alice/proxy/8787/status"
    assert format_dashboard_link("203.0.113.5", 8787) == "http://203.0.113.5:8787/status"
    assert format_dashboard_link("scheduler.example.org", 8787) == (
        "http://scheduler.example.org:8787/status")  # (a name: no DNS asked)
    assert _on_this_machine("::1") and _on_this_machine("localhost") and _on_this_machine("::")
    assert not _on_this_machine("203.0.113.5") and not _on_this_machine("2001:db8::1")
    # an address of this machine that is not loopback: the proxy, which forwards to
    # localhost, would not reach a dashboard bound to it
    lan = next((a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
                if not a[4][0].startswith("127.")), None)  # fmt: skip
    if lan is not None:
        assert format_dashboard_link(lan, 8787) == f"http://{lan}:8787/status"


def test_jupyterhub_link(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")

    async def main():
        from shoal.distributed.scheduler.server import Scheduler

        async with Scheduler(dashboard_address=":0") as s:
            link = await s.dashboard_started()
            assert link == f"/user/alice/proxy/{s.dashboard.port}/status"
            assert s.identity()["dashboard"]["port"] == s.dashboard.port

    run(main(), 40)


def test_local_cluster_serves_status_and_links_it():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        link = cluster.dashboard_link
        assert link and link.startswith("http://127.0.0.1:") and link.endswith("/status")
        assert link in cluster._repr_html_()
        status, body = get(link)
        assert status == 200 and body
        with Client(cluster) as client:
            assert client.dashboard_link == link
            assert link in client._repr_html_()
            port = client.scheduler_info()["services"]["dashboard"]  # Dask's way to the port
            assert link == f"http://127.0.0.1:{port}/status"
            assert client.submit(sum, [1, 2]).result() == 3
        proc = cluster.scheduler.dashboard.proc
    assert proc.poll() is not None
    assert cluster.dashboard_link is None


def test_dashboard_of_a_tls_cluster():
    pytest.importorskip("cryptography")
    with LocalCluster(n_workers=1, processes=False, security=True, dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        status, body = get(base(cluster.dashboard_link) + "/health")
        assert status == 200 and body.strip() == b"ok"


def test_tls_clusters_clients_and_dashboards_as_dasks():
    """``Client(security=True)`` starts a TLS cluster and connects to it; ``Client(cluster)``
    takes the cluster's certificates; an in-process TLS cluster has a dashboard too."""
    pytest.importorskip("cryptography")
    from shoal.distributed.security import Security

    with Client(n_workers=1, threads_per_worker=1, processes=False, security=True,
                dashboard_address=":0") as client:  # fmt: skip
        assert client.scheduler_address.startswith("tls://")
        assert client.submit(sum, [1, 2]).result() == 3
        assert get(base(client.dashboard_link) + "/health")[0] == 200
    with LocalCluster(n_workers=1, processes=False, security=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            assert client.security is cluster.security and client.submit(sum, [2]).result() == 2
    with pytest.raises(ValueError, match=r"security=True\): temporary certificates are for a "
                                         r"cluster this Client starts"):  # fmt: skip
        Client("tls://127.0.0.1:1", security=True)
    with LocalCluster(n_workers=1, processes=False, protocol="inproc", dashboard_address=":0",
                      security=Security.temporary()) as cluster:  # fmt: skip
        assert cluster.scheduler_address.startswith("inproc://")
        assert cluster.scheduler._dashboard_source.startswith("tls://127.0.0.1:")
        assert get(base(cluster.dashboard_link) + "/health")[0] == 200
        cluster.security.close()


def test_a_scheduler_with_only_its_own_certificate_has_a_dashboard():
    """What ``shoal scheduler --tls-ca-file --tls-cert --tls-key`` builds: the dashboard
    process, the scheduler's own child, follows it with the scheduler's certificate."""
    pytest.importorskip("cryptography")
    from shoal.distributed.scheduler.server import Scheduler
    from shoal.distributed.security import Security

    made = Security.temporary()
    own = Security(tls_ca_file=made.tls_ca_file, tls_scheduler_cert=made.tls_scheduler_cert,
                   tls_scheduler_key=made.tls_scheduler_key)  # fmt: skip

    async def main():
        async with Scheduler(protocol="tls", security=own, dashboard_address=":0") as s:
            link = await s.dashboard_started()
            assert link is not None
            assert (await http_get(base(link) + "/health"))[0] == 200

    try:
        run(main(), 40)
    finally:
        made.close()


def test_a_dashboard_stays_on_loopback_unless_told_and_says_when_it_is_not(caplog):
    """A scheduler listening on every interface keeps its dashboard (plain HTTP, no
    login) on loopback; one told to serve elsewhere does, with a warning."""
    from shoal.distributed.scheduler.server import Scheduler

    async def main():
        async with Scheduler(host="0.0.0.0", dashboard_address=":0") as s:
            await s.dashboard_started()
            assert s.dashboard.host == "127.0.0.1"
        assert "without a login" not in caplog.text
        async with Scheduler(dashboard_address="0.0.0.0:0") as s:
            link = await s.dashboard_started()
            assert s.dashboard.host == "0.0.0.0" and link is not None
            assert (await http_get(f"http://127.0.0.1:{s.dashboard.port}/health"))[0] == 200

    with caplog.at_level(logging.WARNING, logger="shoal.diagnostics.dashboard"):
        run(main(), 40)
    assert "the dashboard listens on 0.0.0.0 port" in caplog.text
    assert "plain HTTP without a login" in caplog.text


def https_get(url: str, ca_file: str, cert=None) -> tuple[int, bytes]:
    import ssl

    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False  # (the temporary certificates name no host)
    if cert is not None:
        context.load_cert_chain(*cert)
    with urllib.request.urlopen(url, timeout=10, context=context) as r:
        return r.status, r.read()


def test_an_https_dashboard_links_https_and_a_ca_file_asks_browsers_for_a_certificate(
        monkeypatch, caplog):  # fmt: skip
    """``distributed.dashboard.tls``: HTTPS, its link (the Client's too, read from the
    scheduler), no JupyterHub proxy link (that proxy speaks plain HTTP), and with
    ``ca-file`` a client certificate required (no warning then on 0.0.0.0)."""
    pytest.importorskip("cryptography")
    import ssl

    from shoal.distributed.scheduler.server import Scheduler
    from shoal.distributed.security import Security

    sec = Security.temporary()
    tls = {"cert": sec.tls_scheduler_cert, "key": sec.tls_scheduler_key}
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")

    async def main():
        with config.set({"distributed.dashboard.tls": tls}):
            async with Scheduler(dashboard_address="0.0.0.0:0") as s:
                link = await s.dashboard_started()
                assert link == f"https://{socket.gethostname()}:{s.dashboard.port}/status"
                async with Client(s.address, asynchronous=True) as c:
                    assert c.dashboard_link == f"https://127.0.0.1:{s.dashboard.port}/status"
                url = f"https://127.0.0.1:{s.dashboard.port}/health"
                assert await asyncio.to_thread(https_get, url, sec.tls_ca_file) == (200, b"ok")
            assert "HTTPS without a login" in caplog.text
            caplog.clear()
        with config.set({"distributed.dashboard.tls": dict(tls, **{"ca-file": sec.tls_ca_file})}):
            async with Scheduler(dashboard_address="0.0.0.0:0") as s:
                await s.dashboard_started()
                url = f"https://127.0.0.1:{s.dashboard.port}/health"
                with pytest.raises((ssl.SSLError, OSError)):  # no certificate: refused
                    await asyncio.to_thread(https_get, url, sec.tls_ca_file)
                mine = (sec.tls_client_cert, sec.tls_client_key)
                assert await asyncio.to_thread(https_get, url, sec.tls_ca_file, mine) == (200, b"ok")
            assert "without a login" not in caplog.text

    try:
        with caplog.at_level(logging.WARNING, logger="shoal.diagnostics.dashboard"):
            run(main(), 60)
    finally:
        sec.close()


def test_dasks_dashboard_tls_setting_serves_https_too():
    """A Dask user's ``distributed.scheduler.dashboard.tls`` (shoal's own key unset)
    is read as shoal's: it served plain HTTP, silently."""
    pytest.importorskip("cryptography")
    from shoal.diagnostics.https import TLS_SETTINGS, _settings
    from shoal.distributed.scheduler.server import Scheduler
    from shoal.distributed.security import Security

    sec = Security.temporary()
    tls = {"cert": sec.tls_scheduler_cert, "key": sec.tls_scheduler_key, "ca-file": None}
    assert TLS_SETTINGS[1] == "distributed.scheduler.dashboard.tls"

    async def main():
        with config.set({"distributed.scheduler.dashboard.tls": tls}):
            assert _settings() == ("distributed.scheduler.dashboard.tls", tls)
            async with Scheduler(dashboard_address=":0") as s:
                link = await s.dashboard_started()
                assert link == f"https://127.0.0.1:{s.dashboard.port}/status"
                url = f"https://127.0.0.1:{s.dashboard.port}/health"
                assert await asyncio.to_thread(https_get, url, sec.tls_ca_file) == (200, b"ok")
            ours = {"cert": "/elsewhere.pem"}  # both set: shoal's own key wins
            with config.set({"distributed.dashboard.tls": ours}):
                assert _settings() == ("distributed.dashboard.tls", ours)

    try:
        run(main(), 60)
    finally:
        sec.close()


def _encrypted_pair(folder):
    """A self-signed certificate and its private key, encrypted with a password."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dashboard")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))  # fmt: skip
    return cert_path, key_path


def test_wrong_https_settings_are_named_and_leave_nothing_running(tmp_path):
    pytest.importorskip("cryptography")
    from shoal.diagnostics.https import https_context

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    encrypted_cert, encrypted_key = _encrypted_pair(tmp_path)
    cases = [
        ({"cert": str(tmp_path / "missing.pem")},
         "distributed.dashboard.tls.cert: no such file: '.*missing.pem'"),
        ({"key": str(garbage)}, "tls.key is set but distributed.dashboard.tls.cert is not"),
        ({"cert": str(garbage)}, "cannot load a certificate and its private key from '.*garbage"),
        ({"cert": str(encrypted_cert), "key": str(encrypted_key)},
         "tls.key: the private key in '.*key.pem' is encrypted"),
        ({"cert": 5}, r"tls.cert: expected a file path, not 5"),
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"tls: expected the settings cert, key and ca-file"):
        with config.set({"distributed.dashboard.tls": True}):
            https_context()
    for tls, message in cases:
        with config.set({"distributed.dashboard.tls": tls}):
            with pytest.raises(ValueError, match=message):
                https_context()
    import threading

    threads, children = set(threading.enumerate()), psutil.Process().children()
    with config.set({"distributed.dashboard.tls": cases[0][0]}):
        with pytest.raises(ValueError, match="tls.cert: no such file"):  # as a bad host
            LocalCluster(n_workers=1, processes=False, dashboard_address=":0")
        with pytest.raises(ValueError, match="no such file"):
            DashboardProcess("tcp://127.0.0.1:1", port=0).spawn()
        with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
            assert cluster.dashboard_link is None  # (no dashboard asked: no HTTPS to check)
    assert set(threading.enumerate()) <= threads
    assert psutil.Process().children() == children


def test_no_dashboard_when_disabled():
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        assert cluster.dashboard_link is None
        assert cluster.scheduler.identity()["dashboard"] is None


# --- the process on its own --------------------------------------------------------


def test_dashboard_process_exits_when_its_source_goes():
    async def main():
        server = await BusServer(Bus("test")).start()
        proc = DashboardProcess(server.address, port=0).spawn()
        port = await proc.started()
        status, _ = await http_get(f"http://127.0.0.1:{port}/health")
        assert status == 200
        await server.close()  # says goodbye: the process exits without being signalled
        for _ in range(500):
            if proc.proc.poll() is not None:
                break
            await asyncio.sleep(0.02)
        assert proc.proc.poll() == 0
        await proc.aclose()

    run(main(), 40)


def test_dashboard_process_exits_when_its_parent_is_killed():
    """A kernel killed outright says no goodbye; its dashboard child must not keep the
    port (the source here lives on: only the parent's end can stop it)."""
    import subprocess
    import sys
    import textwrap

    async def main():
        server = await BusServer(Bus("test")).start()
        code = textwrap.dedent(f"""
            import time
            from shoal.diagnostics.dashboard import DashboardProcess
            proc = DashboardProcess({server.address!r}, port=0).spawn()
            proc.wait_started(timeout=30)
            print(proc.proc.pid, proc.port, flush=True)
            time.sleep(120)
        """)
        parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            line = await asyncio.get_running_loop().run_in_executor(None, parent.stdout.readline)
            pid, port = map(int, line.split())
            assert (await http_get(f"http://127.0.0.1:{port}/health"))[0] == 200
            assert psutil.pid_exists(pid)
            parent.kill()
            parent.wait()
            for _ in range(500):
                if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
                await asyncio.sleep(0.02)
            else:
                psutil.Process(pid).kill()
                raise AssertionError("the dashboard outlived its parent by 10 s")
            with socket.socket() as s:  # its port is free again (as a server binds it)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
                s.listen()
        finally:
            parent.kill()
            parent.stdout.close()
            parent.wait()
            await server.close()

    run(main(), 60)


@pytest.mark.parametrize("port, message", [
    ("99999", "dashboard address 99999: the port must be 0 (any free one) to 65535, not 99999"),
    ("-5", "dashboard address -5: the port must be 0 (any free one) to 65535, not -5"),
    ("http", "not a port number: 'http'"),
    ("localhost:9000", "not a port number: 'localhost:9000'"),
    ("", "not a port number: ''"),
])
def test_dashboard_process_names_a_bad_port(port, message, capsys):
    from shoal.dashboard.__main__ import _parser

    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["--scheduler", "tcp://127.0.0.1:1", "--port", port])
    assert exc.value.code == 2 and f"--port: {message}" in capsys.readouterr().err


def test_dashboard_process_without_a_source_fails_clearly():
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    with config.set({"distributed.comm.timeouts.connect": "500ms"}):
        proc = DashboardProcess(address, port=0).spawn()
        with pytest.raises(DashboardStartError, match="exited with code 1") as exc:
            proc.wait_started(timeout=30)
    assert proc.proc.poll() == 1
    assert f"before serving: cannot follow the events of {address}: " in str(exc.value)


def test_a_dashboard_process_that_fails_to_import_says_why(tmp_path, monkeypatch):
    """Its uncaught error comes back through the report pipe into the parent's error
    (it was only on the child's stderr: a terminal the user may never see)."""
    (tmp_path / "msgpack").mkdir()  # (the child's first import of a third party)
    (tmp_path / "msgpack" / "__init__.py").write_text("raise ImportError('BROKEN MSGPACK 42')\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # (a child keeps what its parent has of its
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # own path, in its own order)
    proc = DashboardProcess("tcp://127.0.0.1:1", port=0).spawn()
    with pytest.raises(DashboardStartError, match="exited with code 1") as exc:
        proc.wait_started(timeout=30)
    assert "ImportError: BROKEN MSGPACK 42" in str(exc.value)
    assert proc._fd is None and proc._report is None  # (both pipes closed)


def test_dashboard_process_keeps_what_browsers_do_out_of_its_parents_output():
    """The child's stderr is its parent's: in a notebook, the running cell's output.
    A page that is not there (404) and a warning of Bokeh's (what a page left open
    says when it reconnects to the next dashboard on its port) print nothing there;
    an error still does."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import asyncio, urllib.error, urllib.request
        from shoal.distributed.eventstream import BusServer
        from shoal.diagnostics.dashboard import DashboardProcess
        from shoal.bus import Bus

        async def main():
            server = await BusServer(Bus("test")).start()
            proc = DashboardProcess(server.address, port=0).spawn()
            port = await proc.started()
            def fetch(path):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
                except urllib.error.HTTPError as exc:
                    return exc.code
                return 200
            loop = asyncio.get_running_loop()
            codes = [await loop.run_in_executor(None, fetch, p)
                     for p in ("/individual-nope", "/nope/panes.json", "/health")]
            print(codes, flush=True)
            await proc.aclose()
            await server.close()

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "[404, 404, 200]"
    assert "404" not in out.stderr and "tornado.access" not in out.stderr, out.stderr

    # the same configuration, applied in a process of its own
    probe = textwrap.dedent("""
        import logging, warnings
        from bokeh.util.warnings import BokehUserWarning
        from shoal.dashboard.__main__ import _configure_logging
        _configure_logging("warning")
        warnings.warn("reference already known 'p1013'", BokehUserWarning)
        logging.getLogger("tornado.access").warning("404 GET /individual-nope")
        logging.getLogger("bokeh.server.views.ws").warning("connection closed")
        logging.getLogger("tornado.application").error("Uncaught exception")
        logging.getLogger("shoal.dashboard").error("cannot follow the events")
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.strip().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "tornado.application ERROR Uncaught exception",
        "shoal.dashboard ERROR cannot follow the events",
    ], out.stderr
    verbose = probe.replace('_configure_logging("warning")', '_configure_logging("info")')
    out = subprocess.run([sys.executable, "-c", verbose], capture_output=True, text=True, timeout=60)
    assert "reference already known" in out.stderr and "404 GET" in out.stderr


def test_a_dashboard_starts_from_a_process_with_a_thousand_files_open():
    """Its start-up pipe then gets a descriptor past 1023, which ``select.select`` refuses
    ("filedescriptor out of range"): a busy scheduler could not start, or restart, one."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1200
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"this machine allows {hard} open files; the test needs {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]

    async def main():
        server = await BusServer(Bus("test")).start()
        proc = DashboardProcess(server.address, port=0).spawn()
        try:
            assert proc._fd > 1023
            port = await proc.started()
            assert (await http_get(f"http://127.0.0.1:{port}/health"))[0] == 200
        finally:
            await proc.aclose()
            await server.close()

    try:
        run(main(), 40)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_dashboard_told_to_stop_while_it_stops_prints_nothing(capfd):
    """Its parent's SIGTERM often comes while the source's goodbye already ends it; one
    that came while asyncio closed the loop printed "Exception ignored when trying to
    write to the signal wakeup fd" (in a notebook: the cell's output)."""
    import signal

    async def main():
        server = await BusServer(Bus("test")).start()
        proc = DashboardProcess(server.address, port=0).spawn()
        await proc.started()
        closing = asyncio.ensure_future(server.close())  # goodbye: it exits by itself
        while proc.proc.poll() is None:  # ... and is told to, again and again meanwhile
            try:
                proc.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.002)
        await closing
        await proc.aclose()
        return proc.proc.returncode

    assert run(main(), 40) in (0, -signal.SIGTERM)  # (a late one may end it: quietly)
    err = capfd.readouterr().err
    assert "wakeup fd" not in err and "Traceback" not in err, err


def test_a_bracketed_ipv6_loopback_is_loopback_everywhere():
    """The comm layer, the dashboard's Host check and its links read ``[::1]`` alike
    (the comm layer and the Host check had said no: one of three spellings)."""
    from shoal.core.hosts import is_loopback, url_host
    from shoal.dashboard.server import host_checker
    from shoal.distributed.comm import is_loopback as comm_is_loopback

    assert comm_is_loopback is is_loopback
    for host in ("[::1]", "::1", "127.0.0.2", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "", "10.1.2.3", "example.org", "[fe80::1]"):
        assert not is_loopback(host), host
    check = host_checker("[::1]", [], environ={})
    assert check is not None and check("localhost:8787") and not check("evil.example:8787")
    assert url_host("[::1]") == url_host("::1") == "[::1]"
