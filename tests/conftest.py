"""Shared test helpers.

Tests that need a component fail in CI (``CI=true``) when it is missing and
skip locally with a message saying how to install it:

- ``require_program(name, how)`` for system programs (graphviz's ``dot``,
  Chromium, Node);
- ``pytest.importorskip`` for Python packages: under ``CI=true`` it is wrapped
  below so that a missing package (all of them are in the test extra) fails.
"""

import os
import shutil

import pytest

if os.environ.get("CI") == "true":
    _importorskip = pytest.importorskip

    def _import_or_fail(modname, *args, **kwargs):
        try:
            return _importorskip(modname, *args, **kwargs)
        except pytest.skip.Exception as exc:
            pytest.fail(f"CI: required test package missing ({exc}); it belongs in the test extra")

    pytest.importorskip = _import_or_fail


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
