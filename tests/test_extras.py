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


def test_a_package_too_old_to_work_is_named_with_the_release_needed(monkeypatch):
    """Bokeh before 3.9 imports but has no "file.html.jinja" page template: every
    dashboard page answered HTTP 500 while pyproject asked for 3.4 or newer."""
    from importlib import metadata

    from shoal.core import extras
    from shoal.diagnostics.dashboard import bokeh_missing

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    floors = {re.split(r"[<>=]", r, maxsplit=1)[0]: r.split(">=")[1]
              for deps in declared.values() for r in deps if ">=" in r}
    assert {name: floors[name] for name in extras.MINIMUM_VERSIONS} == extras.MINIMUM_VERSIONS
    assert extras.outdated("bokeh") == [] and bokeh_missing() is None  # (this environment's)

    real = metadata.version
    monkeypatch.setattr(extras.metadata, "version",
                        lambda name: "3.8.2" if name == "bokeh" else real(name))
    assert extras.outdated("bokeh", "json") == ["bokeh 3.8.2 (3.9 or newer)"]
    with pytest.raises(ImportError) as info:
        require("diagnostics", "bokeh", "msgpack", what="the dashboard")
    assert str(info.value) == ("the dashboard needs a newer bokeh 3.8.2 (3.9 or newer): "
                               "pip install --upgrade 'shoal[diagnostics]'")  # fmt: skip
    assert bokeh_missing() == str(info.value)  # (a scheduler spawns no dashboard, and says so)
    monkeypatch.setattr(extras.metadata, "version",
                        lambda name: "3.10.0rc1" if name == "bokeh" else real(name))
    assert extras.outdated("bokeh") == []  # (3.10 is newer than 3.9: numbers, not text)
