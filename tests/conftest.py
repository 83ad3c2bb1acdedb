"""Shared test helpers.

Tests that need a component fail in CI (``CI=true``) when it is missing and
skip locally with a message saying how to install it:

- ``require_program(name, how)`` for system programs (graphviz's ``dot``,
  Chromium, Node);
- ``pytest.importorskip`` for Python packages: under ``CI=true`` it is wrapped
  below so that a missing package (all of them are in the test extra) fails.

The browser suites (``tests/dashboard``, ``tests/lab``) share :func:`launch_chromium`,
:func:`artifacts_dir` and :func:`child_pids`; the benchmarks' tests :func:`run_benchmark`.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

if os.environ.get("CI") == "true":
    _importorskip = pytest.importorskip

    def _import_or_fail(modname, *args, **kwargs):
        try:
            return _importorskip(modname, *args, **kwargs)
        except pytest.skip.Exception as exc:
            pytest.fail(f"CI: required test package missing ({exc}); it belongs in the test extra")

    pytest.importorskip = _import_or_fail


def run_benchmark(module: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """``python -m benchmarks.<module> args`` from the repository (its output captured)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)  # fmt: skip


def require_program(name: str, how: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    msg = f"{name!r} is not installed; install it with: {how}"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture
def dot_program():
    pytest.importorskip("graphviz", reason="pip install graphviz (the test extra has it)")
    return require_program("dot", "apt-get install -y graphviz (or `make sysdeps`)")


@pytest.fixture
def ip_program():
    return require_program("ip", "apt-get install -y iproute2")


@pytest.fixture(scope="session")
def flights_csv_dir(tmp_path_factory) -> pathlib.Path:
    """The tutorial's flights data at scale 1 (``shoal.datasets.flights``), written once
    per session for the tests that read it (``tests/test_datasets.py`` tests the writing);
    its JSON-lines files are in the sibling ``flightjson``.  Tests only read it."""
    from shoal.datasets import flights

    return flights(dest=tmp_path_factory.mktemp("flights-data"), scale=1, progress=False)


# --- shared by the browser suites -------------------------------------------------------

REPO = pathlib.Path(__file__).resolve().parents[1]


def launch_chromium():
    """``shoal.testing.browser.chromium`` on the system's Chromium, or fail/skip as
    :func:`require_program` does (Playwright missing: as ``importorskip`` does)."""
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra has it)")
    executable = require_program("chromium", "apt-get install -y chromium (or `make sysdeps`)")
    from shoal.testing.browser import chromium

    return chromium(executable)


def artifacts_dir(name: str) -> pathlib.Path:
    """``$SHOAL_TEST_ARTIFACTS/<name>`` (default ``test-artifacts/<name>``), created."""
    root = pathlib.Path(os.environ.get("SHOAL_TEST_ARTIFACTS") or REPO / "test-artifacts")
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def child_pids() -> set:
    """Pids of this process's children, grandchildren included."""
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}
