"""Fixtures for the lab extension: a real JupyterLab, and Chromium to drive it.

::

    leak_check (module)      child processes before == after (lab, kernels, clusters)
      |-- jupyter_lab (module)  `python -m jupyter lab` on a free port, with its own
      |                         config/data/runtime dirs, shoal.lab enabled and this
      |                         checkout's prebuilt extension (shoal/lab/labextension)
      |-- browser (module)      the system's Chromium under Playwright (fails under CI=true
      |                         when missing, skips locally)
      `-- page (test)           its console errors and uncaught exceptions fail the test

The lab finds the extension through ``JUPYTER_PATH`` (a ``labextensions/shoal-lab``
link to the built output in the checkout), so the test checks the committed
build, installed or not.  Screenshots go to ``$SHOAL_TEST_ARTIFACTS/lab/``
(default ``test-artifacts/lab/``).
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO, artifacts_dir, child_pids, launch_chromium

BUILT = REPO / "shoal" / "lab" / "labextension"
@pytest.fixture(scope="session")
def artifacts() -> pathlib.Path:
    return artifacts_dir("lab")


@pytest.fixture(scope="module")
def leak_check():
    pytest.importorskip("psutil", reason="pip install psutil (the test extra has it)")
    before = child_pids()
    yield
    deadline = time.monotonic() + 15
    while (child_pids() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = child_pids() - before
    if left:
        pytest.fail(f"leaked child processes {sorted(left)}", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, url: str, token: str, root: pathlib.Path, runtime: pathlib.Path):
        self.url, self.token, self.root, self.runtime = url, token, root, runtime

    def api(self, path: str, method: str = "GET", body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory, leak_check):
    pytest.importorskip("jupyterlab", reason="pip install jupyterlab (the jupyter extra has it)")
    pytest.importorskip("jupyter_server_proxy", reason="pip install 'jupyter-server-proxy>=4.1.1'")
    if not (BUILT / "package.json").exists():
        pytest.fail(f"the built extension is missing from {BUILT}: cd labextension && npm run build")
    home = tmp_path_factory.mktemp("lab")
    dirs = {name: home / name for name in ("root", "config", "data", "runtime", "share", "ipython")}
    for path in dirs.values():
        path.mkdir()
    (dirs["share"] / "labextensions").mkdir()
    (dirs["share"] / "labextensions" / "shoal-lab").symlink_to(BUILT)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_DATA_DIR=str(dirs["data"]),
               JUPYTER_RUNTIME_DIR=str(dirs["runtime"]), JUPYTER_PATH=str(dirs["share"]),
               IPYTHONDIR=str(dirs["ipython"]), PYTHONPATH=str(REPO), JUPYTER_PLATFORM_DIRS="0")
    env.pop("JUPYTERHUB_SERVICE_PREFIX", None)
    config = {"ServerApp": {"jpserver_extensions": {"shoal.lab": True}},
              "ShoalLab": {"cluster_kwargs": {"processes": False, "dashboard_address": ":0"}}}
    (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps(config))
    # JupyterLab's debugger asks a notebook's kernel for its state as the notebook comes to
    # the front, and logs a console error when the notebook closes before the answer: not
    # ours, and the tests fail on console errors (a closed notebook is a step they take)
    (dirs["config"] / "labconfig").mkdir()
    (dirs["config"] / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/debugger-extension": True}}))
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.root_dir={dirs['root']}", f"--IdentityProvider.token={token}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly"]  # fmt: skip
    if os.geteuid() == 0:  # containers
        cmd.append("--allow-root")
    log = open(home / "lab.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=dirs["root"])
    lab = Lab(f"http://127.0.0.1:{port}", token, dirs["root"], dirs["runtime"])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                lab.api("/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start:\n{(home / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.2)
        yield lab
    finally:
        proc.send_signal(signal.SIGTERM)  # shuts kernels (and their clusters) down first
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(leak_check):
    with launch_chromium() as browser:
        yield browser


class PageLog:
    """Console messages and uncaught errors of a page and of the frames in it."""

    def __init__(self, page):
        self.errors: list = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e.name}: {e.message}"))

    def _console(self, message) -> None:
        if message.type == "error":
            where = (message.location or {}).get("url", "")
            self.errors.append(f"console.error: {message.text} ({where})")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.log = PageLog(page)
    try:
        yield page
    finally:
        context.close()
    if page.log.errors:
        pytest.fail("JavaScript errors in JupyterLab:\n" + "\n".join(page.log.errors), pytrace=False)
