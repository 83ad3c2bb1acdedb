"""What a plain ``pip install shoal`` does without the extras: the parts that need an
extra say which (``shoal.core.extras.require``), and the extras list what those checks
ask for."""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

from shoal.core.extras import require

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_require_names_the_missing_packages_and_the_extra():
    require("array", "sys", "json", what="shoal.nothing")  # all present: nothing happens
    with pytest.raises(ModuleNotFoundError) as info:
        require("array", "json", "shoal_absent_one", "shoal_absent_two", what="shoal.thing")
    assert str(info.value) == ("shoal.thing needs shoal_absent_one, shoal_absent_two, not installed "
                               "here: pip install 'shoal[array]'")  # fmt: skip
    assert info.value.name == "shoal_absent_one"


def _extras() -> dict:
    """extra -> the distribution names it installs, ``shoal[a,b]`` expanded."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def names(extra):
        out = set()
        for requirement in declared[extra]:
            inner = re.fullmatch(r"shoal\[(.*)\]", requirement)
            if inner:
                for other in inner.group(1).split(","):
                    out |= names(other.strip())
            else:
                out.add(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower())
        return out

    return {extra: names(extra) for extra in declared}


def test_every_require_call_asks_only_for_what_its_extra_installs():
    extras = _extras()
    calls = []
    for path in (ROOT / "shoal").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("require", "_require"):
                extra, *modules = [a.value for a in node.args]
                calls.append((path.relative_to(ROOT), extra, modules))
                assert set(modules) <= extras[extra], (path, extra, set(modules) - extras[extra])
    places = {str(path) for path, _, _ in calls}
    assert {"shoal/array/__init__.py", "shoal/dataframe/__init__.py", "shoal/distributed/__init__.py",
            "shoal/diagnostics/dashboard.py"} <= places  # fmt: skip


def test_the_lab_extra_brings_what_its_sidebar_starts():
    extras = _extras()
    assert extras["distributed"] | extras["diagnostics"] <= extras["jupyter"]
    assert {"zict", "tblib", "sortedcontainers"}.isdisjoint(extras["complete"])  # (never imported)


def test_shoal_info_needs_no_extra():
    """``shoal info``, the command that says what is installed, ran into msgpack (through
    the nanny) where the distributed extra was missing."""
    code = ("import sys, shoal.cli as cli; info = cli.collect_info(); "
            "print(info['cores'] >= 1, info['memory'] > 0, "
            "sorted(m for m in ('shoal.distributed', 'msgpack', 'tornado') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, check=True).stdout  # fmt: skip
    assert out.split() == ["True", "True", "[]"]
