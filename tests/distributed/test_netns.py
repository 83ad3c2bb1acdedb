"""A scheduler and a worker on different hosts: network namespaces joined by veth.

The worker runs in its own network namespace (its own interfaces, routes and
ports: as good as another machine for the network layer) and reaches the
scheduler only over the veth link, at a non-loopback address.  The test needs
root and ``ip`` (iproute2), as in CI; elsewhere it skips saying so (and fails
under ``CI=true``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.timeout(90)


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@pytest.fixture
def worker_namespace(ip_program):
    if os.geteuid() != 0:
        msg = "network namespaces need root (CI runs as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    tag = f"{os.getpid() % 100000}"
    ns, host_if, ns_if = f"shoal-w{tag}", f"shs{tag}", f"shw{tag}"
    octet = 1 + os.getpid() % 250
    host_ip, ns_ip = f"10.{octet}.77.1", f"10.{octet}.77.2"
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{host_ip}/24", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/24", "dev", ns_if)
        _ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, host_ip, ns_ip
    finally:
        _ip("link", "del", host_if, check=False)
        _ip("netns", "del", ns, check=False)


def _free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_worker_on_another_host_computes_and_transfers(worker_namespace, tmp_path):
    from shoal.distributed import Client

    ns, host_ip, ns_ip = worker_namespace
    port = _free_port(host_ip)
    address = f"tcp://{host_ip}:{port}"
    cli = [sys.executable, "-m", "shoal.cli"]
    log = open(tmp_path / "processes.log", "w")  # noqa: SIM115 - closed in finally
    out = {"stdout": log, "stderr": subprocess.STDOUT}
    scheduler = subprocess.Popen([*cli, "scheduler", "--host", host_ip, "--port", str(port)], **out)
    remote = local = None
    try:
        remote = subprocess.Popen(["ip", "netns", "exec", ns, *cli, "worker", address,
                                   "--host", ns_ip, "--nthreads", "1", "--no-nanny",
                                   "--name", "remote"], **out)
        local = subprocess.Popen([*cli, "worker", address, "--host", host_ip, "--nthreads", "1",
                                  "--no-nanny", "--name", "local"], **out)
        with Client(address, timeout=30) as client:
            deadline = time.monotonic() + 30
            while len(client.scheduler_info()["workers"]) < 2:
                assert time.monotonic() < deadline, "workers did not join"
                time.sleep(0.1)
            workers = client.scheduler_info()["workers"]
            by_name = {info["name"]: addr for addr, info in workers.items()}
            assert by_name["remote"].startswith(f"tcp://{ns_ip}:")
            assert by_name["local"].startswith(f"tcp://{host_ip}:")
            # data made on the remote host, consumed on this one: a worker-to-worker transfer
            x = client.submit(lambda: list(range(1000)), workers=[by_name["remote"]], pure=False)
            y = client.submit(sum, x, workers=[by_name["local"]])
            assert y.result() == sum(range(1000))
            assert by_name["remote"] in client.who_has(x)[x.key]  # made there (and copied)
            assert client.who_has(y)[y.key] == [by_name["local"]]
    except BaseException:
        log.flush()
        print((tmp_path / "processes.log").read_text())  # shown with the failure
        raise
    finally:
        for proc in (local, remote, scheduler):
            if proc is not None:
                _stop(proc)
        log.close()
