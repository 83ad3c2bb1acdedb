"""Every example in shoal's docstrings runs and shows what it says (``doctest``).

The examples are documentation a user copies: one that drifted from the code would
mislead.  Modules are found by walking the package, so a new one is checked without
being listed here; examples marked ``# doctest: +SKIP`` (a cluster, a browser) are not
run.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import shoal

MODULES = sorted(m.name for m in pkgutil.walk_packages(shoal.__path__, "shoal.")
                 if not m.name.endswith("__main__"))  # fmt: skip


def test_the_package_walk_finds_the_modules():
    assert {"shoal.events", "shoal.local.engine", "shoal.diagnostics.visualize"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert not failed, f"{failed} docstring example(s) of {name} failed (see the output above)"
