"""Shared test helpers.

``require(component, how)``: tests that need a system component (graphviz's
``dot``, Chromium, Node) fail in CI (``CI=true``) when it is missing and skip
locally with a message saying how to install it.
"""

import os
import shutil

import pytest


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
