"""The installed package ships the prebuilt extension: Jupyter lists it enabled and OK."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


def _jupyter(*args) -> str:
    jupyter = os.path.join(os.path.dirname(sys.executable), "jupyter")
    if not os.path.exists(jupyter):
        pytest.fail(f"jupyter is not installed next to {sys.executable}; install the test extra")
    done = subprocess.run([jupyter, *args], capture_output=True, text=True, timeout=120)
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # drop colours


@pytest.mark.timeout(180)
def test_labextension_is_enabled_and_ok():
    out = _jupyter("labextension", "list")
    assert re.search(r"shoal-lab v\S+ enabled OK", out), out


@pytest.mark.timeout(180)
def test_server_extension_is_enabled_and_ok():
    out = _jupyter("server", "extension", "list")
    assert re.search(r"shoal\.lab\s+enabled", out) and re.search(r"shoal\.lab\s+OK", out), out
