"""Worker plugins and ``Client.upload_file`` (shoal/distributed/plugins.py and its
scheduler, worker and client parts).

In-process clusters (the ``c`` / ``servers`` fixtures) check the hooks exactly:
setup, transition records, teardown on unregister and on worker close, errors
naming the worker, idempotent and replacing registration, upload and reupload.
One real ``LocalCluster`` (worker processes with nannies) checks that plugins
and uploaded files reach workers added by ``scale`` and workers restarted by
``client.restart()``.  Plugin classes for worker processes are defined inside
functions, so that they travel by value (the test module is not importable there).
"""

from __future__ import annotations

import os
import sys
import uuid

import pytest

from shoal.distributed import Client, LocalCluster, WorkerPlugin
from shoal.distributed.plugins import UploadFile, plugin_name
from shoal.distributed.scheduler.plugins import SchedulerPlugin

TORN: list = []  # (worker address, plugin name) of in-process teardowns


class Recorder(WorkerPlugin):
    """Records setup, transitions and teardown on the worker object (in-process)."""

    name = "recorder"

    def setup(self, worker):
        self.address = worker.address
        self.seen = []
        worker.recorder_setups = getattr(worker, "recorder_setups", 0) + 1

    def transition(self, key, start, finish, **kwargs):
        self.seen.append((key, start, finish))

    def teardown(self, worker):
        TORN.append((worker.address, self.name))


class FailsSetup(WorkerPlugin):
    name = "fails"

    def setup(self, worker):
        raise ZeroDivisionError(f"broken setup on {worker.address}")


def _plugin_seen(name, dask_worker=None):
    plugin = dask_worker.plugins.get(name)
    return None if plugin is None else list(plugin.seen)


def test_setup_transitions_and_teardown_on_unregister(c, servers):
    s, workers = servers
    TORN.clear()
    replies = c.register_plugin(Recorder())
    assert replies == {w.address: {"status": "OK"} for w in workers}
    assert all(w.recorder_setups == 1 for w in workers)
    assert "recorder" in s.worker_plugins
    fut = c.submit(lambda x: x + 1, 1, key="plug-inc", workers=[workers[0].address])
    assert fut.result() == 2
    seen = c.run(_plugin_seen, "recorder")
    ours = seen[workers[0].address]
    assert [(k, a, b) for k, a, b in ours if k == "plug-inc"][:4] == [
        ("plug-inc", "released", "waiting"), ("plug-inc", "waiting", "ready"),
        ("plug-inc", "ready", "executing"), ("plug-inc", "executing", "memory"),
    ]  # fmt: skip
    assert seen[workers[1].address] == []
    assert workers[0].state.on_transition is not None
    assert c.unregister_worker_plugin("recorder") == {w.address: {"status": "OK"} for w in workers}
    assert sorted(TORN) == sorted((w.address, "recorder") for w in workers)
    assert all(not w.plugins and w.state.on_transition is None for w in workers)
    assert "recorder" not in s.worker_plugins
    with pytest.raises(ValueError, match="no worker plugin named 'recorder'"):
        c.unregister_worker_plugin("recorder")


def test_teardown_when_worker_closes_and_replacement(c, servers):
    s, workers = servers
    TORN.clear()
    c.register_plugin(Recorder())
    c.register_plugin(Recorder())  # same name: the old one torn down, the new set up
    assert sorted(TORN) == sorted((w.address, "recorder") for w in workers)
    assert all(w.recorder_setups == 2 for w in workers)
    # idempotent: nothing happens when the name is taken
    assert c.register_plugin(Recorder(), idempotent=True) == {}
    assert all(w.recorder_setups == 2 for w in workers)
    TORN.clear()
    c.retire_workers([workers[1].address])
    assert TORN == [(workers[1].address, "recorder")]
    assert workers[0].plugins and not workers[1].plugins


def test_setup_error_is_raised_naming_the_worker(c, servers):
    s, workers = servers
    with pytest.raises(ZeroDivisionError, match="broken setup") as info:
        c.register_plugin(FailsSetup())
    note = "\n".join(info.value.__notes__)
    assert "worker plugin 'fails'" in note and "plugin-setup" in note
    assert any(w.address in note for w in workers)
    # the workers keep running
    assert c.submit(lambda: 42, pure=False).result() == 42
    assert all(w.status == "running" for w in workers)
    c.unregister_worker_plugin("fails")


def test_bad_input():
    with pytest.raises(ValueError, match="must end with"):
        UploadFile("notes.txt", b"")
    with pytest.raises(ValueError, match="bare file name"):
        UploadFile("a/b.py", b"")
    assert plugin_name(Recorder()) == "recorder"
    assert plugin_name(FailsSetup.__new__(WorkerPlugin)).startswith("WorkerPlugin-")


def test_client_bad_input(c, tmp_path):
    with pytest.raises(TypeError, match="plugin must be a WorkerPlugin"):
        c.register_plugin(42)
    with pytest.raises(TypeError, match="name must be"):
        c.register_plugin(Recorder(), name="")
    with pytest.raises(NotImplementedError, match="nanny"):
        c.register_worker_plugin(Recorder(), nanny=True)
    with pytest.raises(ValueError, match="filename"):
        c.upload_file(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError, match="no file"):
        c.upload_file(tmp_path / "missing.py")


def test_register_worker_plugin_alias_and_scheduler_plugin(c, servers):
    s, workers = servers

    class Sched(SchedulerPlugin):
        name = "sched-plug"

    assert c.register_worker_plugin(Recorder(), name="aliased")
    assert all("aliased" in w.plugins for w in workers)
    c.unregister_worker_plugin("aliased")
    assert c.register_plugin(Sched()) == "sched-plug"
    assert "sched-plug" in s.plugins
    assert c.register_plugin(Sched(), idempotent=True) == "sched-plug"


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_upload_file_in_process(c, servers, tmp_path, monkeypatch):
    s, workers = servers
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # (a stale .pyc must not win)
    mod = f"shoal_upload_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{mod}.py"
    try:
        _write(path, "def value():\n    return 1\n")
        assert c.upload_file(path) == {w.address: {"status": "OK"} for w in workers}

        def use():
            import importlib

            return importlib.import_module(mod).value()

        assert c.submit(use, pure=False).result() == 1
        assert any(os.listdir(os.path.join(w.local_directory, "__pycache__")) for w in workers)
        assert all(os.path.exists(os.path.join(w.local_directory, f"{mod}.py")) for w in workers)
        _write(path, "def value():\n    return 2\n")  # same size, same second
        c.upload_file(path)
        assert c.submit(use, pure=False).result() == 2
        _write(path, "raise ImportError('helper cannot load')\n")
        with pytest.raises(ImportError, match="helper cannot load") as info:
            c.upload_file(path)
        assert any(w.address in "\n".join(info.value.__notes__) for w in workers)
        assert c.submit(lambda: 3, pure=False).result() == 3
    finally:
        sys.modules.pop(mod, None)


def _process_plugin():
    class CountSetups(WorkerPlugin):
        name = "count-setups"

        def setup(self, worker):
            worker.count_setups = getattr(worker, "count_setups", 0) + 1
            self.seen = []

        def transition(self, key, start, finish, **kwargs):
            self.seen.append((key, finish))

    return CountSetups()


def test_local_cluster_scale_restart_and_upload(tmp_path):
    mod = f"shoal_helper_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{mod}.py"
    _write(path, "def value():\n    return 'first'\n")

    def use():
        import importlib

        return importlib.import_module(mod).value()

    def state(dask_worker=None):
        plugin = dask_worker.plugins.get("count-setups")
        return (getattr(dask_worker, "count_setups", 0), plugin is not None and
                any(finish == "memory" for _, finish in plugin.seen))  # fmt: skip

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:  # fmt: skip
        client.wait_for_workers(2)
        pids = client.run(os.getpid)
        assert os.getpid() not in pids.values()  # (worker processes)
        assert set(client.register_plugin(_process_plugin())) == set(client.nthreads())
        client.upload_file(path)
        first = list(client.nthreads())
        assert client.gather(client.map(lambda i: use(), range(4), workers=first)) == ["first"] * 4
        assert any(done for _, done in client.run(state).values())
        # a worker added later gets both
        cluster.scale(3)
        client.wait_for_workers(3, timeout=30)
        (new,) = set(client.nthreads()) - set(first)
        assert client.run(state, workers=[new])[new][0] == 1
        assert client.submit(use, workers=[new], pure=False).result() == "first"
        # uploaded again, changed: every worker reloads it
        _write(path, "def value():\n    return 'second'\n")
        client.upload_file(path)
        everyone = list(client.nthreads())
        assert client.gather([client.submit(use, workers=[w], pure=False) for w in everyone]) == [
            "second"] * 3  # fmt: skip
        # restarted by their nannies: set up again in the new processes
        client.restart()
        client.wait_for_workers(3, timeout=30)
        assert {v[0] for v in client.run(state).values()} == {1}
        assert not set(client.run(os.getpid).values()) & set(pids.values())  # new processes
        after = list(client.nthreads())
        assert client.gather([client.submit(use, workers=[w], pure=False) for w in after]) == [
            "second"] * 3  # fmt: skip
        client.unregister_worker_plugin("count-setups")
        assert set(client.run(state).values()) == {(1, False)}


def test_plugin_registered_while_a_worker_joins_reaches_it(c, servers):
    """The registration reply was made before the plugin came: it follows at once."""
    import time

    from shoal.testing.cluster import on_loop

    s, workers = servers
    c.register_plugin(Recorder())
    w = workers[0]
    reply = {"worker-plugins": {"gone": object()}}  # (as if 'recorder' came later, 'gone' left)
    w.plugins["gone"] = Recorder()
    on_loop(s.worker_plugins_missed, w.address, reply)
    deadline = time.monotonic() + 5
    while (w.recorder_setups < 2 or "gone" in w.plugins) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.recorder_setups == 2 and "gone" not in w.plugins
    assert workers[1].recorder_setups == 1
    c.unregister_worker_plugin("recorder")


EVENTS: list = []  # (plugin version, what) of SlowSetup, in-process


class SlowSetup(WorkerPlugin):
    """An async setup that takes a while (a connection opened, say)."""

    name = "slow"

    def __init__(self, version):
        self.version = version

    async def setup(self, worker):
        import asyncio

        EVENTS.append((self.version, "setup-start"))
        await asyncio.sleep(0.5)
        EVENTS.append((self.version, "setup-end"))

    def teardown(self, worker):
        EVENTS.append((self.version, "teardown"))


def test_a_plugin_change_waits_for_a_setup_in_progress(c, servers):
    """A teardown or a replacement that came while an async setup still awaited ran
    before it ended, and what the setup opened afterwards was never closed."""
    import asyncio

    from shoal.distributed._loop import get_runner

    s, workers = servers
    w = workers[0]
    EVENTS.clear()

    async def race(change):
        setup = asyncio.ensure_future(w.plugin_add(plugin=SlowSetup(1), name="slow"))
        await asyncio.sleep(0.1)  # (the setup awaits)
        await change()
        await setup

    get_runner().sync(race, lambda: w.plugin_remove(name="slow"))
    assert EVENTS == [(1, "setup-start"), (1, "setup-end"), (1, "teardown")]
    EVENTS.clear()
    get_runner().sync(race, lambda: w.plugin_add(plugin=SlowSetup(2), name="slow"))
    assert EVENTS == [(1, "setup-start"), (1, "setup-end"), (1, "teardown"),
                      (2, "setup-start"), (2, "setup-end")]  # fmt: skip
    assert w.plugins["slow"].version == 2
    get_runner().sync(lambda: w.plugin_remove(name="slow"))

    bad = get_runner().sync(lambda: w.plugin_add(plugin=None, name="x"))
    assert bad["status"] == "error" and "not a worker plugin: NoneType" in bad["exception"][2]
    assert "x" not in w.plugins


class NeverTornDown(WorkerPlugin):
    name = "never"

    async def teardown(self, worker):
        import asyncio

        await asyncio.Event().wait()  # (a connection that never answers, say)


def test_a_teardown_that_never_returns_does_not_keep_the_cluster_from_closing(monkeypatch):
    import time

    from shoal.distributed.worker import plugins as worker_plugins
    from shoal.testing.cluster import sync_cluster

    monkeypatch.setattr(worker_plugins, "CLOSE_TEARDOWN", 0.3)
    start = time.monotonic()
    with sync_cluster(1, 1) as (s, _), Client(s.address, set_as_default=False) as client:
        client.register_plugin(NeverTornDown())
    assert time.monotonic() - start < 15
