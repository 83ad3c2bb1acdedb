"""The ``shoal`` command line: argument handling (pure) and real scheduler/worker processes.

The process tests run ``python -m shoal.cli`` (the same ``main`` as the
``shoal`` console script), talk to the scheduler over rpc, then send SIGTERM
and expect a clean exit (status 0) with nothing left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

psutil = pytest.importorskip("psutil")

from shoal.cli import (
    CLIError, build_parser, main, parse_resources, read_scheduler_file, scheduler_address_from_args,
    security_from_args, worker_plan,
)  # fmt: skip
from shoal.distributed.rpc import rpc
from shoal.testing.aio import run

GiB = 2**30


def parse(*argv):
    return build_parser().parse_args(list(argv))


# --- parsing (pure) ----------------------------------------------------------------------


def test_scheduler_defaults():
    args = parse("scheduler")
    assert (args.host, args.port, args.protocol, args.scheduler_file) == (None, 8786, None, None)
    assert args.func.__name__ == "cmd_scheduler"
    assert (args.dashboard_address, args.dashboard) == (":8787", True)  # as `dask scheduler`
    assert parse("scheduler", "--no-dashboard").dashboard is False


def test_worker_defaults_and_flags():
    args = parse("worker", "tcp://h:1")
    assert (args.address, args.nworkers, args.nthreads, args.memory_limit, args.nanny) == (
        "tcp://h:1", 1, None, "auto", True)  # fmt: skip
    args = parse("worker", "h:1", "--nworkers", "auto", "--no-nanny", "--nthreads", "3", "--name", "w")
    assert (args.nworkers, args.nanny, args.nthreads, args.name) == ("auto", False, 3, "w")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["scheduler", "--port", "99999"], "--port: port 99999 is outside 0-65535"),
        (["scheduler", "--port", "http"], "--port: not a port number: 'http'"),
        (["worker", "x:1", "--nthreads", "0"], "--nthreads: must be at least 1, got 0"),
        (["worker", "x:1", "--nworkers", "many"], "--nworkers: not an integer: 'many'"),
        (["worker", "x:1", "--nanny", "--no-nanny"], "not allowed with argument"),
        (["scheduler", "--protocol", "udp"], "invalid choice: 'udp'"),
        (["scheduler", "--dashboard-address", ":99999"],
         "--dashboard-address: dashboard address ':99999': the port must be 0"),
        (["scheduler", "--dashboard-address", "abc:def"], "the port must be a number"),
        (["scheduler", "--dashboard-address", "no-such-host.invalid:0"],
         "--dashboard-address: dashboard host 'no-such-host.invalid' is not an address of this"),
        (["scheduler", "--dashboard-address", "203.0.113.7:8787"],
         "--dashboard-address: dashboard host '203.0.113.7' is not an address of this machine"),
        ([], "required: COMMAND"),
    ],
)
def test_bad_flags_name_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_worker_plan_splits_cores_and_memory():
    plans = worker_plan(parse("worker", "x:1", "--nworkers", "2"), cores=4, total_memory=8 * GiB)
    assert [(p["nthreads"], p["memory_limit"], p["name"]) for p in plans] == [(2, 4 * GiB, None)] * 2
    assert all(p["port"] == 0 and p["worker_port"] == 0 for p in plans)  # nanny: both ports free
    plans = worker_plan(parse("worker", "x:1", "--nworkers", "2", "--name", "w", "--memory-limit", "1GiB",
                              "--no-nanny", "--resources", "GPU=2,FOO=0.5"), cores=4, total_memory=8 * GiB)
    assert [p["name"] for p in plans] == ["w-0", "w-1"]
    assert {p["memory_limit"] for p in plans} == {GiB}
    assert plans[0]["resources"] == {"GPU": 2.0, "FOO": 0.5} and "worker_port" not in plans[0]
    (plan,) = worker_plan(parse("worker", "x:1", "--memory-limit", "0.25", "--port", "4000", "--name", "solo"),
                          cores=4, total_memory=8 * GiB, cgroup_limit=4 * GiB)
    assert (plan["memory_limit"], plan["worker_port"], plan["name"]) == (GiB, 4000, "solo")
    (plan,) = worker_plan(parse("worker", "x:1", "--memory-limit", "0"), cores=4, total_memory=8 * GiB)
    assert plan["memory_limit"] == 0
    plans = worker_plan(parse("worker", "x:1", "--nworkers", "auto"), cores=8, total_memory=8 * GiB)
    assert [p["nthreads"] for p in plans] == [2, 2, 2, 2]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--nworkers", "2", "--port", "4000"], "--port 4000 with --nworkers 2"),
        (["--nworkers", "2", "--nanny-port", "4000"], "--nanny-port 4000 with --nworkers 2"),
        (["--memory-limit", "lots"], "--memory-limit: Could not parse a byte size from 'lots'"),
        (["--resources", "GPU"], "--resources: expected NAME=NUMBER items, got 'GPU'"),
    ],
)
def test_worker_plan_errors(argv, message):
    with pytest.raises(CLIError, match=message):
        worker_plan(parse("worker", "x:1", *argv), cores=2, total_memory=GiB)


def test_parse_resources():
    assert parse_resources(None) == {}
    assert parse_resources("A=1 B=2.5") == {"A": 1.0, "B": 2.5}
    with pytest.raises(CLIError, match="'=3'"):
        parse_resources("=3")


def test_tls_flags(tmp_path):
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "cert.pem", "key.pem"))
    for f in (ca, cert, key):
        f.write_text("x")
    assert security_from_args(parse("scheduler"), "scheduler") is None
    sec = security_from_args(parse("worker", "--tls-ca-file", str(ca), "--tls-cert", str(cert),
                                   "--tls-key", str(key)), "worker")  # fmt: skip
    assert (sec.tls_ca_file, sec.tls_worker_cert, sec.tls_worker_key) == (str(ca), str(cert), str(key))
    assert sec.require_encryption and sec.tls_scheduler_cert is None
    with pytest.raises(CLIError, match=f"--tls-key: no such file: {tmp_path}/nope.pem"):
        security_from_args(parse("scheduler", "--tls-ca-file", str(ca), "--tls-cert", str(cert),
                                 "--tls-key", str(tmp_path / "nope.pem")), "scheduler")  # fmt: skip
    with pytest.raises(CLIError, match="TLS needs --tls-ca-file too"):
        security_from_args(parse("scheduler", "--tls-cert", str(cert)), "scheduler")
    with pytest.raises(CLIError, match="--protocol tls needs"):
        security_from_args(parse("scheduler", "--protocol", "tls"), "scheduler")
    with pytest.raises(CLIError, match="--protocol tcp conflicts"):
        security_from_args(parse("scheduler", "--protocol", "tcp", "--tls-ca-file", str(ca),
                                 "--tls-cert", str(cert)), "scheduler")  # fmt: skip


def test_scheduler_address_from_args(tmp_path):
    sec = object()
    assert scheduler_address_from_args(parse("worker", "10.0.0.5:8786"), None) == "tcp://10.0.0.5:8786"
    assert scheduler_address_from_args(parse("worker", "10.0.0.5:8786"), sec) == "tls://10.0.0.5:8786"
    assert scheduler_address_from_args(parse("worker", "tls://h:1"), sec) == "tls://h:1"
    with pytest.raises(CLIError, match="need a tls:// scheduler address"):
        scheduler_address_from_args(parse("worker", "tcp://h:1"), sec)
    with pytest.raises(CLIError, match="is tls://: give --tls-ca-file"):
        scheduler_address_from_args(parse("worker", "tls://h:1"), None)
    with pytest.raises(CLIError, match="ADDRESS .* or --scheduler-file"):
        scheduler_address_from_args(parse("worker"), None)
    path = tmp_path / "s.json"
    with pytest.raises(CLIError, match="not both"):
        scheduler_address_from_args(parse("worker", "h:1", "--scheduler-file", str(path)), None)
    path.write_text(json.dumps({"address": "tcp://127.0.0.1:5"}))
    assert scheduler_address_from_args(parse("worker", "--scheduler-file", str(path)), None) == "tcp://127.0.0.1:5"


def test_scheduler_file_that_never_appears_names_the_file(tmp_path):
    with pytest.raises(CLIError, match=f"--scheduler-file: scheduler file {tmp_path}/none.json "
                                       "did not appear"):
        read_scheduler_file(str(tmp_path / "none.json"), timeout=0.2, poll=0.05)


def test_a_client_given_a_scheduler_file_waits_for_it(tmp_path):
    """As Dask's: the client may start before the scheduler has written its file."""
    import threading

    from shoal.distributed import Client
    from shoal.testing.cluster import sync_cluster

    path = tmp_path / "scheduler.json"
    with sync_cluster(nworkers=1) as (s, _):
        timer = threading.Timer(0.5, lambda: path.write_text(json.dumps({"address": s.address})))
        timer.start()
        try:
            with Client(scheduler_file=str(path), timeout=10) as client:
                assert client.submit(lambda: 3).result(timeout=10) == 3
        finally:
            timer.join()
    with pytest.raises(TimeoutError, match="none.json did not appear"):
        Client(scheduler_file=str(tmp_path / "none.json"), timeout=0.3)


def test_death_timeout_must_be_positive_and_defaults_to_waiting_for_good(capsys):
    import math

    from shoal.cli import _waits

    for bad in ("0", "-3", "soon"):
        with pytest.raises(SystemExit):
            parse("worker", "tcp://127.0.0.1:1", "--death-timeout", bad)
        assert "--death-timeout" in capsys.readouterr().err
    assert _waits(parse("worker", "tcp://127.0.0.1:1")) == math.inf
    assert _waits(parse("worker", "tcp://127.0.0.1:1", "--death-timeout", "2.5")) == 2.5


def test_cli_errors_go_through_argparse(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["worker", "x:1", "--tls-ca-file", str(tmp_path / "missing.pem"), "--tls-cert", "c"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: shoal worker" in err and f"--tls-ca-file: no such file: {tmp_path}/missing.pem" in err


def test_a_wrong_dashboard_https_setting_exits_2_naming_it(tmp_path, capsys):
    from shoal import config

    missing = tmp_path / "cert.pem"
    with config.set({"distributed.dashboard.tls.cert": str(missing)}):
        with pytest.raises(SystemExit) as info:
            main(["scheduler", "--port", "0"])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "usage: shoal scheduler" in err
        assert f"distributed.dashboard.tls.cert: no such file: '{missing}'" in err


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cores"] >= 1 and info["memory"] > 0
    assert info["packages"]["cloudpickle"]
    assert isinstance(info["config_paths"], list)


def test_info_text(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for word in ("shoal", "python", "cores", "memory", "config", "packages"):
        assert word in out


def test_help_warns_about_remote_code(capsys):
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    assert "arbitrary Python" in capsys.readouterr().out


# --- real processes -------------------------------------------------------------------------


def shoal(*argv, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shoal.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)  # fmt: skip


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout=20) -> tuple[int, str]:
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"{proc.args} did not exit after {sig!r}:\n{out}")
    return proc.returncode, out


def wait_for_file(path, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            code, out = stop(proc)
            raise AssertionError(f"no scheduler file (exit {code}):\n{out}")
        time.sleep(0.02)
    with open(path) as f:
        return json.load(f)["address"]


def identity(address, security=None):
    async def ask():
        async with rpc(address, security=security) as r:
            return await r.identity()

    return run(ask(), 20)


def wait_for_workers(address, n, timeout=30, security=None):
    deadline = time.monotonic() + timeout
    while True:
        workers = identity(address, security)["workers"]
        if len(workers) == n:
            return workers
        assert time.monotonic() < deadline, f"{len(workers)} workers, expected {n}"
        time.sleep(0.05)


@pytest.fixture
def scheduler(tmp_path):
    path = tmp_path / "scheduler.json"
    proc = shoal("scheduler", "--port", "0", "--scheduler-file", str(path))
    try:
        yield wait_for_file(path, proc), path, proc
    finally:
        if proc.poll() is None:
            stop(proc)


def test_scheduler_and_nanny_workers(scheduler):
    address, path, sched = scheduler
    assert address.startswith("tcp://127.0.0.1:")
    worker = shoal("worker", "--scheduler-file", str(path), "--nworkers", "2", "--nthreads", "1",
                   "--name", "w", "--memory-limit", "1GiB")  # fmt: skip
    try:
        workers = wait_for_workers(address, 2)
        assert sorted(w["name"] for w in workers.values()) == ["w-0", "w-1"]
        assert all(w["nanny"].startswith("tcp://127.0.0.1:") and w["nthreads"] == 1 for w in workers.values())
        pids = [p.pid for p in psutil.Process(worker.pid).children()]
        assert len(pids) == 2  # one process per worker, under the CLI's nannies
    finally:
        code, out = stop(worker)
    assert code == 0, out
    assert "received SIGTERM" in out
    assert all(not psutil.pid_exists(p) for p in pids)
    assert wait_for_workers(address, 0) == {}
    code, out = stop(sched)
    assert code == 0, out
    assert not path.exists()  # the scheduler removes its file


def test_worker_without_nanny_exits_when_the_scheduler_goes(scheduler):
    address, _, sched = scheduler
    worker = shoal("worker", address, "--no-nanny", "--nthreads", "1")
    try:
        (info,) = wait_for_workers(address, 1).values()
        assert info["nanny"] == ""
        assert psutil.Process(worker.pid).children() == []
        code, out = stop(sched, signal.SIGINT)  # Ctrl-C
        assert code == 0, out
        code, out = stop(worker, sig=None)  # it leaves by itself
    finally:
        if worker.poll() is None:
            stop(worker)
    assert code == 0, out
    assert "every worker closed" in out


def test_nanny_worker_exits_when_the_scheduler_goes(scheduler):
    address, _, sched = scheduler
    worker = shoal("worker", address, "--nthreads", "1")
    try:
        wait_for_workers(address, 1)
        (child,) = psutil.Process(worker.pid).children()
        assert stop(sched)[0] == 0
        code, out = stop(worker, sig=None)  # no respawn against a dead scheduler
    finally:
        if worker.poll() is None:
            stop(worker)
    assert code == 0, out
    assert not psutil.pid_exists(child.pid)
    assert "restarting" not in out


def test_worker_process_dies_with_its_nanny(scheduler):
    address, _, _ = scheduler
    worker = shoal("worker", address, "--nthreads", "1")
    try:
        (info,) = wait_for_workers(address, 1).values()
        (child,) = psutil.Process(worker.pid).children()
        worker.kill()  # SIGKILL: the nanny cannot clean up
        worker.communicate(timeout=10)
        deadline = time.monotonic() + 15
        while psutil.pid_exists(child.pid) and child.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the worker outlived its nanny"
            time.sleep(0.05)
        assert wait_for_workers(address, 0) == {}
    finally:
        if worker.poll() is None:
            stop(worker)


def test_public_host_without_tls_warns(tmp_path):
    path = tmp_path / "s.json"
    sched = shoal("scheduler", "--host", "0.0.0.0", "--port", "0", "--scheduler-file", str(path))
    try:
        wait_for_file(path, sched)
    finally:
        code, out = stop(sched)
    assert code == 0, out
    assert "anyone who can connect to this port can run arbitrary code" in out


def test_bad_flag_exits_2_naming_it(tmp_path):
    proc = shoal("scheduler", "--tls-cert", str(tmp_path / "cert.pem"))
    code, out = stop(proc, sig=None)
    assert code == 2
    assert f"--tls-cert: no such file: {tmp_path}/cert.pem" in out


def test_port_in_use_is_a_clear_error(scheduler):
    address, _, _ = scheduler
    port = address.rsplit(":", 1)[1]
    proc = shoal("scheduler", "--port", port)
    code, out = stop(proc, sig=None)
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out


def test_tls_scheduler_and_worker(tmp_path):
    pytest.importorskip("cryptography")
    from shoal.distributed.security import Security

    sec = Security.temporary()
    try:
        tls = ["--tls-ca-file", sec.tls_ca_file, "--tls-cert", sec.tls_scheduler_cert, "--tls-key",
               sec.tls_scheduler_key]  # fmt: skip
        path = tmp_path / "s.json"
        sched = shoal("scheduler", "--port", "0", "--scheduler-file", str(path), *tls)
        worker = None
        try:
            address = wait_for_file(path, sched)
            assert address.startswith("tls://127.0.0.1:")
            worker = shoal("worker", "--scheduler-file", str(path), "--nthreads", "1", *tls)
            (info,) = wait_for_workers(address, 1, security=sec).values()
            assert info["nanny"].startswith("tls://")
            with pytest.raises(Exception):  # a plain tcp:// peer is refused
                identity(address.replace("tls://", "tcp://"))
            # its dashboard (by default, as `dask scheduler`'s) follows it with its certificate
            deadline = time.monotonic() + 30
            while not (where := identity(address, sec)["dashboard"]):
                assert time.monotonic() < deadline, "no dashboard"
                time.sleep(0.1)
            url = f"http://127.0.0.1:{where['port']}/health"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
        finally:
            if worker is not None:
                assert stop(worker)[0] == 0
            assert stop(sched)[0] == 0
    finally:
        sec.close()


def test_a_worker_waits_for_its_scheduler_and_leaves_on_a_signal_meanwhile(tmp_path):
    """Without --death-timeout a worker waits for its scheduler (it gave up after the 10 s
    connect timeout, 1 s here), joins it when it comes, and a SIGTERM while it waits ends
    it at once (it was ignored until the wait ended)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SHOAL_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    waiting = shoal("worker", f"tcp://127.0.0.1:{port}", "--local-directory", str(tmp_path),
                    env=env)  # fmt: skip
    joining = shoal("worker", f"tcp://127.0.0.1:{port}", "--no-nanny", env=env)
    sched = None
    try:
        time.sleep(3)
        assert waiting.poll() is None and joining.poll() is None  # still waiting
        start = time.monotonic()
        code, out = stop(waiting)
        assert code == 0 and time.monotonic() - start < 10, out
        assert os.listdir(tmp_path) == []  # its scratch directory went with it
        sched = shoal("scheduler", "--port", str(port), "--no-dashboard")
        wait_for_workers(f"tcp://127.0.0.1:{port}", 1)
    finally:
        for proc in (joining, sched):
            if proc is not None and proc.poll() is None:
                stop(proc)


def test_a_starting_scheduler_replaces_a_stale_scheduler_file(tmp_path):
    """A file left by a scheduler that died names a dead address: the CLI scheduler
    replaces it (a Client's ``write_scheduler_file`` would refuse: it may be in use)."""
    from shoal.distributed.schedulerfile import write_scheduler_file

    path = tmp_path / "scheduler.json"
    path.write_text(json.dumps({"type": "Scheduler", "address": "tcp://127.0.0.1:9"}))
    with pytest.raises(FileExistsError, match="names another scheduler"):
        write_scheduler_file(str(path), {"address": "tcp://127.0.0.1:10"})
    proc = shoal("scheduler", "--port", "0", "--scheduler-file", str(path))
    try:
        deadline = time.monotonic() + 20
        while json.loads(path.read_text() or "{}").get("address") == "tcp://127.0.0.1:9":
            assert proc.poll() is None and time.monotonic() < deadline, stop(proc)
            time.sleep(0.02)
        assert identity(json.loads(path.read_text())["address"])["type"] == "Scheduler"
    finally:
        stop(proc)
    assert not path.exists()
