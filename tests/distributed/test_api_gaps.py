"""Dask API that shoal's distributed runtime lacked: ``LocalCluster.get_client``,
``Client.get_scheduler_logs`` / ``get_worker_logs``, ``Worker.get_current_task``,
``Client.get_executor`` and the ``UploadDirectory`` / ``Environ`` plugins.

The in-process cluster (``c`` / ``servers``) checks the semantics; one real
``LocalCluster`` with a worker process checks what must cross processes: each
process keeps its own log records, the plugins act in the worker's process and
come back after a restart.  Functions for that process are defined inside the
test, so that they travel by value.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import uuid

import pytest

from shoal.distributed import Client, Environ, LocalCluster, UploadDirectory, get_worker
from shoal.distributed import logbuffer


def _inc(x):
    return x + 1


def _log_warning(logger_name, text):
    logging.getLogger(logger_name).warning(text)


# --- LocalCluster.get_client -------------------------------------------------------------


def test_local_cluster_get_client_reuses_the_current_client():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:  # fmt: skip
        client = cluster.get_client()
        try:
            assert client.cluster is cluster
            assert cluster.get_client() is client
            assert client.submit(_inc, 1).result(timeout=10) == 2
        finally:
            client.close()
        other = cluster.get_client()  # the current one is closed: a new one
        try:
            assert other is not client and other.status == "running"
        finally:
            other.close()
    with pytest.raises(RuntimeError, match="is closed"):
        cluster.get_client()


# --- logs ----------------------------------------------------------------------------------


def test_scheduler_logs_newest_first_and_bounded_by_n(c):
    marker = f"gaps-{uuid.uuid4().hex}"
    c.run_on_scheduler(_log_warning, "shoal.distributed.scheduler.x", marker + "-1")
    c.run_on_scheduler(_log_warning, "shoal.distributed.scheduler", marker + "-2")
    logs = c.get_scheduler_logs()
    assert logs[0][0] == "WARNING" and logs[0][1].endswith(marker + "-2")
    assert logs[1][1].endswith(marker + "-1")
    assert c.get_scheduler_logs(n=1) == logs[:1]
    with pytest.raises(ValueError, match="n must be >= 0"):
        c.get_scheduler_logs(n=-1)
    with pytest.raises(TypeError, match="n must be an int"):
        c.get_scheduler_logs(n="3")


def test_log_buffers_leave_unconfigured_warnings_on_stderr():
    import subprocess
    import sys

    code = ("import logging; from shoal.distributed import logbuffer; logbuffer.install(); "
            "logging.getLogger('shoal.distributed.scheduler.x').warning('still-printed'); "
            "logging.getLogger('shoal.distributed.worker').info('not-printed'); "
            "assert logbuffer.recent('scheduler', 1)[0][0] == 'WARNING'")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == ["still-printed"]


def test_worker_logs_per_worker_and_filtered(c, servers):
    _, workers = servers
    marker = f"gaps-{uuid.uuid4().hex}"
    c.run(_log_warning, "shoal.distributed.worker", marker)
    logs = c.get_worker_logs(n=5)
    assert set(logs) == {w.address for w in workers}
    for records in logs.values():
        assert ("WARNING", records[0][1]) == records[0] and marker in records[0][1]
        assert len(records) <= 5
    one = c.get_worker_logs(workers=workers[0].address)
    assert list(one) == [workers[0].address]
    with pytest.raises(TypeError, match="workers must be"):
        c.get_worker_logs(workers=[1])
    assert all(records == [] for records in c.get_worker_logs(n=0).values())
    with pytest.raises(ValueError, match="has no nanny"):  # (in-process workers)
        c.get_worker_logs(nanny=True)


# --- get_current_task ------------------------------------------------------------------------


def test_get_current_task_is_the_running_key(c, servers):
    def key_here():
        return get_worker().get_current_task()

    assert c.submit(key_here, key="gaps-key-1").result(timeout=10) == "gaps-key-1"
    with pytest.raises(ValueError, match="runs no task"):
        servers[1][0].get_current_task()


# --- get_executor ------------------------------------------------------------------------------


def test_executor_submit_map_and_defaults(c, servers):
    target = servers[1][1].address
    with c.get_executor(workers=[target], pure=False) as ex:
        fut = ex.submit(_inc, 1)
        assert isinstance(fut, cf.Future) and fut.result(timeout=10) == 2
        assert ex.submit(lambda: get_worker().address).result(timeout=10) == target
        assert list(ex.map(_inc, range(4), timeout=10)) == [1, 2, 3, 4]
        bad = ex.submit(_inc, "a")
        done, _ = cf.wait([bad], timeout=10)
        assert done == {bad} and isinstance(bad.exception(), TypeError)
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(_inc, 1)
    with pytest.raises(TypeError, match=r"unsupported arguments \['key'\]"):
        c.get_executor(key="x")


def test_executor_shutdown_without_wait_cancels(c):
    import time

    ex = c.get_executor(pure=False)
    fut = ex.submit(time.sleep, 0.3)
    ex.shutdown(wait=False)
    cf.wait([fut], timeout=10)
    assert fut.cancelled()


def test_executor_future_cancelled_by_the_user_wakes_wait_and_as_completed(c):
    import time

    with c.get_executor(pure=False) as ex:
        fut = ex.submit(time.sleep, 0.5)
        assert fut.cancel()
        done, _ = cf.wait([fut], timeout=3)
        assert done == {fut} and fut.cancelled()
        assert list(cf.as_completed([fut], timeout=3)) == [fut]


# --- plugins, logs and restart with a worker process ----------------------------------


def _make_package(root, name):
    pkg = root / name
    (pkg / "tests").mkdir(parents=True)
    (pkg / "__init__.py").write_text("VALUE = 42\n")
    (pkg / "tests" / "test_it.py").write_text("")
    (pkg / "stale.pyc").write_bytes(b"")
    return pkg


def test_plugins_and_logs_in_a_worker_process(tmp_path):
    name = f"gaps_pkg_{uuid.uuid4().hex[:8]}"
    pkg = _make_package(tmp_path, name)
    upload = UploadDirectory(pkg, update_path=True)
    assert upload.name == f"upload-directory-{name}"

    def package_files():
        import os
        import sys

        base = [p for p in sys.path if p.endswith(name)][0]
        found = sorted(os.path.relpath(os.path.join(r, f), base)
                       for r, _, fs in os.walk(base) for f in fs)  # fmt: skip
        return found, os.environ.get("SHOAL_GAPS_VAR")

    def log_in_worker(text):
        import logging

        logging.getLogger("shoal.distributed.worker").warning(text)

    marker = f"gaps-{uuid.uuid4().hex}"
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:  # fmt: skip
        client.register_plugin(Environ({"SHOAL_GAPS_VAR": 7}))
        client.register_plugin(upload)
        (files, var), = client.run(package_files).values()
        assert files == ["__init__.py"] and var == "7"
        client.run(log_in_worker, marker)
        (records,) = client.get_worker_logs(n=3).values()
        assert marker in records[0][1]
        assert all(marker not in text for _, text in logbuffer.recent("worker"))
        (nanny_records,) = client.get_worker_logs(nanny=True).values()
        assert isinstance(nanny_records, list)
        client.restart()
        (files, var), = client.run(package_files).values()
        assert files == ["__init__.py"] and var == "7"


def test_upload_directory_skip_words_apply_inside_the_directory_only(tmp_path):
    import io
    import zipfile

    pkg = _make_package(tmp_path / "docs", "pkg")  # (a "docs" folder above it)
    names = zipfile.ZipFile(io.BytesIO(UploadDirectory(pkg).data)).namelist()
    assert names == ["pkg/__init__.py"]


def test_plugin_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        UploadDirectory(tmp_path / "missing")
    with pytest.raises(TypeError, match="path must be"):
        UploadDirectory(3)
    with pytest.raises(TypeError, match="environ must be"):
        Environ([("A", "1")])
    assert Environ({"A": 1}).environ == {"A": "1"} and Environ().environ == {}
    assert os.path.basename(tmp_path) in UploadDirectory(tmp_path, restart=True).name
