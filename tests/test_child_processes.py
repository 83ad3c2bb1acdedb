"""shoal's child processes (pool workers, nanny workers) import what their parent would.

Each test runs a small program in a fresh interpreter from a folder holding a
``random.py`` that fails at import (a notebook folder with its own ``random.py``):
``python -m`` children put that folder first on ``sys.path`` and died at import,
though the parent never saw it.  Real processes, no mocks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)

SHADOW = "raise ImportError('USER FILE random.py')\n"

COMPUTE = """
import os, sys, random
import shoal
from shoal import delayed

def f(x):
    return x + 1

def run(what):
    try:
        print(what())
    except Exception as exc:
        print("ERR", type(exc).__name__, exc)
    print("@@@", flush=True)

def procs():
    return shoal.compute(delayed(f)(1), scheduler="processes")

def dist():
    from shoal.distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as c, Client(c) as cl:
        return cl.submit(f, 1).result()
"""


def run_program(body: str, cwd, flag: str = "-I") -> list:
    """Run COMPUTE + *body* with ``python FLAG -c`` in *cwd*; what each ``run`` printed."""
    code = COMPUTE + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, flag, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=50)  # fmt: skip
    return [part.strip() for part in proc.stdout.split("@@@")[:-1]]


@pytest.fixture
def notebook_folder(tmp_path):
    (tmp_path / "random.py").write_text(SHADOW)
    return tmp_path


def test_a_folder_of_the_users_shadows_nothing_in_the_children(notebook_folder):
    assert run_program("run(procs)\nrun(dist)\n", notebook_folder) == ["(2,)", "2"]


def test_a_worker_that_cannot_start_says_why(notebook_folder):
    # the parent has its random; children that start with this folder on their path do not
    body = f"""
    sys.path.insert(0, {str(notebook_folder)!r})
    os.environ["PYTHONPATH"] = {str(notebook_folder)!r}
    run(procs)
    run(procs)
    run(dist)
    """
    procs1, procs2, dist = run_program(body, "/", flag="-s")
    for text in (procs1, procs2):  # (the second: a new worker, failing the same way)
        assert text.startswith("ERR WorkerStartFailed"), text
        assert "could not start" in text and "USER FILE random.py" in text, text
        assert "next compute can run" not in text
    assert "1 of 1 workers failed to start" in dist and "USER FILE random.py" in dist, dist


def test_a_deleted_working_directory(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    body = f"""
    os.chdir({str(gone)!r})
    os.rmdir({str(gone)!r})
    run(procs)
    run(dist)
    """
    assert run_program(body, tmp_path) == ["(2,)", "2"]


def test_sys_path_entries_that_are_not_strings(tmp_path):
    # imports skip them; the processes scheduler put None on the command line (TypeError)
    # and the nanny a Path in its JSON spec (the worker failed to start)
    body = """
    import pathlib
    sys.path += [pathlib.Path("/nowhere"), None]
    run(procs)
    run(dist)
    """
    assert run_program(body, tmp_path) == ["(2,)", "2"]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
@pytest.mark.parametrize("executable", ["", "/nonexistent/python"])
def test_a_child_that_cannot_be_started_leaves_no_descriptors(monkeypatch, executable):
    import asyncio

    from shoal.distributed._worker_main import WorkerProcess
    from shoal.local.pool import ProcessPool

    before = _open_fds()
    monkeypatch.setattr(sys, "executable", executable)
    for _ in range(3):
        with pytest.raises(Exception) as info:
            ProcessPool(1).start()
        with pytest.raises(Exception):
            asyncio.run(WorkerProcess({}, dict(os.environ)).start(5))
    monkeypatch.undo()
    assert _open_fds() == before
    if not executable:  # (not Popen's "Permission denied: ''")
        assert info.type is RuntimeError and "sys.executable is empty" in str(info.value)


def inheritable_descriptors() -> list:
    """The descriptors above stderr a process this one starts would inherit."""
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if int(name) > 2 and os.get_inheritable(int(name)):
                out.append(int(name))
        except OSError:  # (the listing's own descriptor, closed by now)
            pass
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_task_starts_processes_that_hold_none_of_the_workers_pipes():
    """A process a task starts with ``close_fds=False`` (or a daemon a task forks) kept a pool
    worker's task and result pipes open: once that worker died, its pool saw no EOF."""
    import shoal
    from shoal import delayed
    from shoal.distributed import Client, LocalCluster

    assert shoal.compute(delayed(inheritable_descriptors)(), scheduler="processes") == ([],)
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:  # fmt: skip
        assert client.submit(inheritable_descriptors).result() == []
