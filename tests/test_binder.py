"""The Binder set-up points at files that exist and at the proxied dashboard link."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def test_workspace_opens_an_existing_notebook_beside_the_shoal_sidebar():
    workspace = json.loads((BINDER / "jupyterlab-workspace.json").read_text())
    data = workspace["data"]
    notebooks = [v["data"]["path"] for k, v in data.items() if k.startswith("notebook:")]
    assert notebooks and all((ROOT / p).is_file() for p in notebooks)
    assert data["layout-restorer:data"]["left"]["current"] == "shoal-sidebar"


def test_start_script_sets_the_proxied_link_that_shoal_formats():
    out = subprocess.run([str(BINDER / "start"), "env"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    template = env["SHOAL_DISTRIBUTED__DASHBOARD__LINK"]
    check = subprocess.run(
        [sys.executable, "-c", "from shoal.diagnostics.dashboard import format_dashboard_link as f;"
         "print(f('127.0.0.1', 8787))"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "SHOAL_DISTRIBUTED__DASHBOARD__LINK": template,
             "JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"},
    )  # fmt: skip
    assert check.stdout.strip() == "/user/ada/shoal/proxy/8787/status"


def test_requirements_install_shoal_with_every_extra():
    assert "-e .[complete]" in (BINDER / "requirements.txt").read_text()
    assert os.access(BINDER / "postBuild", os.X_OK) and os.access(BINDER / "start", os.X_OK)
