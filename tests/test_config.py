"""Tests for shoal.config."""

from __future__ import annotations

import copy
import datetime
import math
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

import shoal.config as config

PACKAGE_DIR = Path(config.__file__).parent
REPO_ROOT = PACKAGE_DIR.parent
DEFAULTS_YAML = PACKAGE_DIR / "shoal.yaml"
SCHEMA_YAML = PACKAGE_DIR / "shoal-schema.yaml"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Keep the real environment and ~/.config out, and restore the live config."""
    for name in list(os.environ):
        if name.startswith("SHOAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHOAL_ROOT_CONFIG", str(tmp_path / "etc-shoal"))
    saved = copy.deepcopy(config.config)
    yield
    config.config.clear()
    config.config.update(saved)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------
# get
# --------------------------------------------------------------------------


def test_defaults_present():
    assert config.get("visualization.engine") == "graphviz"
    assert config.get("local.processes.batch-size") == "auto"
    assert config.get("optimization.fuse.active") is True
    assert config.get("diagnostics.progress.dt") == 0.1
    assert config.get("scheduler") is None
    assert config.get("tokenize.ensure-deterministic") is False
    assert config.defaults[0]["visualization"]["engine"] == "graphviz"


def test_get_hyphen_underscore_equivalent():
    assert config.get("local.processes.batch_size") == "auto"
    assert config.get("tokenize.ensure_deterministic") is False
    assert config.get("num_workers") is None


def test_get_default_and_override():
    assert config.get("no.such.key", default=3) == 3
    assert config.get("no.such.key", None) is None
    assert config.get("num-workers", override_with=8) == 8
    assert config.get("num-workers", override_with=None) is None


def test_get_missing_key_message_names_key():
    with pytest.raises(KeyError) as info:
        config.get("visualization.nope")
    message = str(info.value)
    assert "'visualization.nope'" in message
    assert "'visualization' has keys" in message
    assert "engine" in message

    with pytest.raises(KeyError, match="top-level keys"):
        config.get("nonexistent")
    with pytest.raises(KeyError, match="'scheduler' holds the value None"):
        config.get("scheduler.sub")


def test_get_with_explicit_config_dict():
    d = {"a": {"b-c": 1}}
    assert config.get("a.b_c", config=d) == 1


# --------------------------------------------------------------------------
# set
# --------------------------------------------------------------------------


def test_set_context_manager_restores_values():
    with config.set({"visualization.engine": "fork"}):
        assert config.get("visualization.engine") == "fork"
    assert config.get("visualization.engine") == "graphviz"


def test_set_context_manager_removes_new_keys():
    before = copy.deepcopy(config.config)
    with config.set({"brand.new.key": 1, "local.processes.extra": 2}):
        assert config.get("brand.new.key") == 1
        assert config.get("local.processes.extra") == 2
    assert "brand" not in config.config
    assert "extra" not in config.config["local"]["processes"]
    assert config.config == before


def test_set_kwargs_use_double_underscore():
    with config.set(scheduler="sync", visualization__engine="forkserver"):
        assert config.get("scheduler") == "sync"
        assert config.get("visualization.engine") == "forkserver"
    assert config.get("scheduler") is None


def test_set_underscore_keys_stored_with_hyphens():
    with config.set({"local.processes.batch_size": 4, "new_section": {"inner_key": 1}}):
        assert config.config["local"]["processes"]["batch-size"] == 4
        assert "batch_size" not in config.config["local"]["processes"]
        assert config.config["new-section"] == {"inner-key": 1}
        assert config.get("new_section.inner_key") == 1
    assert config.get("local.processes.batch-size") == "auto"


def test_set_replaces_non_mapping_with_section_and_restores():
    with config.set({"scheduler.name": "x"}):
        assert config.get("scheduler") == {"name": "x"}
    assert config.get("scheduler") is None


def test_set_mapping_value_replaces_section():
    with config.set({"local.threads": {"batch-size": 2}}):
        assert config.get("local.threads") == {"batch-size": 2}
    assert config.get("local.threads") == {"batch-size": "auto", "blas-threads": "auto"}


def test_nested_set():
    with config.set(scheduler="threads"):
        with config.set(scheduler="sync", num_workers=2):
            assert config.get("scheduler") == "sync"
            assert config.get("num-workers") == 2
        assert config.get("scheduler") == "threads"
        assert config.get("num-workers") is None
    assert config.get("scheduler") is None


def test_same_key_twice_in_one_set_restores_original():
    with config.set({"a.b": 1}, a__b=2):
        assert config.get("a.b") == 2
    assert "a" not in config.config


def test_overlapping_sets_exiting_out_of_order():
    # Two threads may leave their context managers in either order.
    first = config.set({"shared.a": 1})
    second = config.set({"shared.b": 2})
    first.__exit__(None, None, None)
    assert config.get("shared") == {"b": 2}
    second.__exit__(None, None, None)
    # the section may stay behind, but empty: no value leaks
    assert config.config.get("shared", {}) == {}


def test_set_restores_after_exception():
    with pytest.raises(RuntimeError):
        with config.set(scheduler="sync"):
            raise RuntimeError
    assert config.get("scheduler") is None


def test_global_set_persists():
    config.set(scheduler="processes")
    assert config.get("scheduler") == "processes"


def test_set_on_explicit_dict():
    d = {"x": 1}
    with config.set({"x": 2, "y.z": 3}, config=d):
        assert d == {"x": 2, "y": {"z": 3}}
    assert d == {"x": 1}


def test_set_shares_live_objects():
    def scheduler(graph, keys):
        return None

    with config.set(scheduler=scheduler):
        assert config.get("scheduler") is scheduler


def test_set_thread_safety_smoke():
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # force frequent thread switches
    try:
        _thread_safety_body()
    finally:
        sys.setswitchinterval(old_interval)


def _thread_safety_body():
    before = copy.deepcopy(config.config)
    errors = []
    barrier = threading.Barrier(8)

    def worker(i):
        try:
            barrier.wait()
            for j in range(200):
                with config.set({f"threadtest.t{i}.v": j}):
                    assert config.get(f"threadtest.t{i}.v") == j
                config.set({f"global-thread.t{i}": j})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert config.get("global-thread") == {f"t{i}": 199 for i in range(8)}
    del config.config["global-thread"]
    leftover = config.config.get("threadtest", {})
    assert all(not v for v in leftover.values()), leftover
    config.config.pop("threadtest", None)
    assert config.config == before


# --------------------------------------------------------------------------
# update / merge / update_defaults
# --------------------------------------------------------------------------


def test_update_priorities():
    old = {"a": 1, "b": {"c": 2, "d": 3}}
    config.update(old, {"a": 10, "b": {"c": 20, "e_f": 5}})
    assert old == {"a": 10, "b": {"c": 20, "d": 3, "e-f": 5}}
    config.update(old, {"a": 99, "z": 1}, priority="old")
    assert old["a"] == 10 and old["z"] == 1
    with pytest.raises(ValueError, match="priority"):
        config.update(old, {}, priority="bogus")


def test_merge_does_not_alias_inputs():
    a = {"x": {"y": 1}}
    merged = config.merge(a, {"x": {"z": 2}})
    assert merged == {"x": {"y": 1, "z": 2}}
    merged["x"]["y"] = 100
    assert a == {"x": {"y": 1}}


def test_update_defaults_keeps_user_values():
    cfg = {"sub": {"a": 1, "b": 2}}
    defaults = [{"sub": {"a": 1, "b": 2}}]
    cfg["sub"]["b"] = 50  # a user's change
    config.update_defaults({"sub": {"a": 10, "b": 20, "new_key": 3}}, config=cfg, defaults=defaults)
    assert cfg == {"sub": {"a": 10, "b": 50, "new-key": 3}}
    assert len(defaults) == 2


def test_update_defaults_survives_refresh():
    defaults = [{"x": 1}]
    cfg = {"x": 1}
    config.update_defaults({"plugin": {"enabled": True}}, config=cfg, defaults=defaults)
    assert cfg["plugin"] == {"enabled": True}
    config.refresh(config=cfg, defaults=defaults, paths=[], env={})
    assert cfg == {"x": 1, "plugin": {"enabled": True}}


# --------------------------------------------------------------------------
# Environment variables and files
# --------------------------------------------------------------------------


def test_collect_env_parsing():
    env = {
        "SHOAL_VISUALIZATION__ENGINE": "fork",
        "SHOAL_NUM_WORKERS": "4",
        "SHOAL_OPTIMIZATION__FUSE__ACTIVE": "False",
        "SHOAL_TOKENIZE__ENSURE_DETERMINISTIC": "true",
        "SHOAL_SCHEDULER": "None",
        "SHOAL_A__B_C": "[1, 2]",
        "SHOAL_RAW": "hello world",
        "SHOAL_FLOATY": "0.5",
        "SHOAL_CONFIG": "/nonexistent/path",
        "SHOAL_ROOT_CONFIG": "/nonexistent/root",
        "OTHER_VAR": "ignored",
    }
    result = config.collect(paths=[], env=env)
    assert result == {
        "visualization": {"engine": "fork"},
        "num-workers": 4,
        "optimization": {"fuse": {"active": False}},
        "tokenize": {"ensure-deterministic": True},
        "scheduler": None,
        "a": {"b-c": [1, 2]},
        "raw": "hello world",
        "floaty": 0.5,
    }



def test_collect_env_reads_yamls_infinity_and_words_in_any_case():
    # the YAML file's spelling (".inf" turns worker-saturation's queuing off) works
    # from the environment too, and so does Python's ("inf" stays a string float() reads)
    got = config.collect(paths=[], env={
        "SHOAL_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": ".inf", "SHOAL_NEG": "-.Inf",
        "SHOAL_NAN": ".NaN", "SHOAL_YES": "TRUE", "SHOAL_NOTHING": "~", "SHOAL_WORD": "Infinity"})
    assert got["distributed"]["scheduler"]["worker-saturation"] == math.inf
    assert got["neg"] == -math.inf and math.isnan(got["nan"])
    assert got["yes"] is True and got["nothing"] is None and got["word"] == "Infinity"

def test_refresh_reads_environment(monkeypatch):
    monkeypatch.setenv("SHOAL_VISUALIZATION__ENGINE", "fork")
    monkeypatch.setenv("SHOAL_NUM_WORKERS", "3")
    config.refresh()
    assert config.get("visualization.engine") == "fork"
    assert config.get("num-workers") == 3
    # other defaults survive
    assert config.get("local.processes.batch-size") == "auto"
    monkeypatch.delenv("SHOAL_VISUALIZATION__ENGINE")
    monkeypatch.delenv("SHOAL_NUM_WORKERS")
    config.refresh()
    assert config.get("visualization.engine") == "graphviz"


def test_refresh_discards_set_values():
    config.set(scheduler="sync")
    config.refresh()
    assert config.get("scheduler") is None


def test_shoal_config_dir_wins_over_defaults(monkeypatch, tmp_path):
    conf = tmp_path / "conf"
    write(conf / "a.yaml", "visualization:\n  engine: forkserver\nnum_workers: 2\n")
    write(conf / "b.yml", "num-workers: 5\n")
    write(conf / "notes.txt", "not: [yaml")
    monkeypatch.setenv("SHOAL_CONFIG", str(conf))
    config.refresh()
    assert config.get("visualization.engine") == "forkserver"
    assert config.get("num-workers") == 5  # b.yml sorts after a.yaml
    assert config.get("local.processes.batch-size") == "auto"


def test_shoal_config_file_and_env_priority(monkeypatch, tmp_path):
    f = write(tmp_path / "one.yaml", "scheduler: threads\nvisualization:\n  engine: cytoscape\n")
    monkeypatch.setenv("SHOAL_CONFIG", str(f))
    monkeypatch.setenv("SHOAL_SCHEDULER", "sync")
    config.refresh()
    assert config.get("visualization.engine") == "cytoscape"
    assert config.get("scheduler") == "sync"  # env beats files


def test_search_path_order(monkeypatch, tmp_path):
    root = tmp_path / "etc-shoal"
    user = tmp_path / "home" / ".config" / "shoal"
    write(root / "r.yaml", "scheduler: from-root\nnum-workers: 1\n")
    write(user / "u.yaml", "scheduler: from-user\n")
    paths = config.config_paths()
    assert paths[0] == str(root)
    assert paths[2] == str(user)
    config.refresh()
    assert config.get("scheduler") == "from-user"
    assert config.get("num-workers") == 1


def test_empty_yaml_file_is_fine(tmp_path):
    write(tmp_path / "empty.yaml", "# nothing here\n")
    assert config.collect(paths=[str(tmp_path)], env={}) == {}


def test_missing_paths_are_skipped(tmp_path):
    assert config.collect(paths=[str(tmp_path / "missing")], env={}) == {}


def test_bad_yaml_error_names_path(tmp_path):
    bad = write(tmp_path / "bad.yaml", "key: [unclosed\n")
    with pytest.raises(ValueError, match=re.escape(str(bad))) as info:
        config.collect(paths=[str(tmp_path)], env={})
    assert "not valid YAML" in str(info.value)


def test_a_yaml_file_not_in_utf8_is_named(tmp_path):
    bad = tmp_path / "latin.yaml"
    bad.write_bytes("# caf\u00e9\nscheduler: threads\n".encode("cp1252"))
    with pytest.raises(ValueError, match=re.escape(str(bad)) + ".* is not UTF-8 text"):
        config.collect(paths=[str(tmp_path)], env={})


def test_non_mapping_yaml_error_names_path(tmp_path):
    bad = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ValueError, match=re.escape(str(bad))) as info:
        config.collect(paths=[str(bad)], env={})
    assert "mapping" in str(info.value)


def test_yaml_is_loaded_safely(tmp_path):
    write(tmp_path / "evil.yaml", "x: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ValueError, match="evil.yaml"):
        config.collect(paths=[str(tmp_path)], env={})


def test_expand_environment_variables(monkeypatch):
    monkeypatch.setenv("SHOAL_TEST_DIR", "/scratch")
    data = {"a": "$SHOAL_TEST_DIR/x", "b": ["${SHOAL_TEST_DIR}", 1], "c": {"d": 2}}
    assert config.expand_environment_variables(data) == {
        "a": "/scratch/x",
        "b": ["/scratch", 1],
        "c": {"d": 2},
    }


# --------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------


def test_serialize_roundtrip():
    data = {"a": {"b-c": [1, 2.5, "x", None, True]}, "s": "ünïcode"}
    text = config.serialize(data)
    assert isinstance(text, str) and text.isascii()
    assert config.deserialize(text) == data


def test_deserialize_error():
    with pytest.raises(ValueError, match="serialized shoal config"):
        config.deserialize("not base64 at all!!")


def test_config_for_child_drops_unserializable_values():
    with config.set(scheduler=lambda *a: None, visualization__engine="fork"):
        env = config.config_for_child()
    assert list(env) == ["SHOAL_INTERNAL_INHERIT_CONFIG"]
    inherited = config.deserialize(env["SHOAL_INTERNAL_INHERIT_CONFIG"])
    assert "scheduler" not in inherited
    assert inherited["visualization"]["engine"] == "fork"


def test_inherit_var_applies_over_env():
    payload = config.serialize({"scheduler": "sync"})
    env = {"SHOAL_SCHEDULER": "threads", "SHOAL_INTERNAL_INHERIT_CONFIG": payload}
    assert config.collect(paths=[], env=env) == {"scheduler": "sync"}


def run_child(code: str, tmp_path: Path, extra_env: dict | None = None) -> str:
    """Run ``code`` in a fresh interpreter that can import shoal; return stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    env.update(extra_env or {})
    env["HOME"] = str(tmp_path / "home")
    env["SHOAL_ROOT_CONFIG"] = str(tmp_path / "etc-shoal")
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_child_process_inherits_config(tmp_path):
    with config.set({"visualization.engine": "forkserver", "custom.value": 42}):
        child_env = config.config_for_child()
    code = (
        "import shoal.config as c; "
        "print(c.get('visualization.engine'), c.get('custom.value'), "
        "c.get('local.processes.batch-size'))"
    )
    out = run_child(code, tmp_path, child_env)
    assert out.split() == ["forkserver", "42", "auto"]


def test_child_process_without_inheritance_gets_defaults(tmp_path):
    out = run_child("import shoal.config as c; print(c.get('visualization.engine'))", tmp_path)
    assert out.split() == ["graphviz"]


def test_import_is_light(tmp_path):
    code = (
        "import sys, shoal.config; "
        "heavy = {'numpy', 'pandas', 'bokeh', 'tornado', 'asyncio'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    assert run_child(code, tmp_path).strip() == "[]"


# --------------------------------------------------------------------------
# Defaults file and schema
# --------------------------------------------------------------------------


def _keys(tree: dict, prefix: str = "") -> set:
    found = set()
    for key, value in tree.items():
        path = f"{prefix}{key}"
        found.add(path)
        if isinstance(value, dict):
            found |= _keys(value, path + ".")
    return found


def _schema_keys(node: dict, prefix: str = "") -> set:
    found = set()
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        found.add(path)
        found |= _schema_keys(sub, path + ".")
    return found


def _schema_nodes(node: dict, prefix: str = ""):
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path, sub
        yield from _schema_nodes(sub, path + ".")


def test_schema_documents_every_default_key():
    defaults = yaml.safe_load(DEFAULTS_YAML.read_text())
    schema = yaml.safe_load(SCHEMA_YAML.read_text())
    default_keys, schema_keys = _keys(defaults), _schema_keys(schema)
    undocumented = sorted(default_keys - schema_keys)
    stale = sorted(schema_keys - default_keys)
    assert not undocumented, f"keys in shoal.yaml missing from shoal-schema.yaml: {undocumented}"
    assert not stale, f"keys in shoal-schema.yaml missing from shoal.yaml: {stale}"


def test_schema_entries_have_type_and_description():
    schema = yaml.safe_load(SCHEMA_YAML.read_text())
    lacking = [
        path
        for path, node in _schema_nodes(schema)
        if not str(node.get("description", "")).strip() or "type" not in node
    ]
    assert not lacking, f"schema entries without a type or description: {lacking}"


_TYPES = {
    "null": type(None),
    "boolean": bool,
    "string": str,
    "object": dict,
    "array": list,
    "integer": int,
    "number": (int, float),
}


def _matches(value, type_name: str) -> bool:
    if type_name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[type_name])


def test_default_values_match_schema_types():
    schema = yaml.safe_load(SCHEMA_YAML.read_text())
    wrong = []
    for path, node in _schema_nodes(schema):
        value = config.get(path, config=config.defaults[0])
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if not any(_matches(value, t) for t in types):
            wrong.append(f"{path}={value!r} is not {types}")
        if "enum" in node and value not in node["enum"]:
            wrong.append(f"{path}={value!r} not in {node['enum']}")
    assert not wrong, wrong


def test_every_default_key_has_a_comment():
    lines = DEFAULTS_YAML.read_text().splitlines()
    missing = []
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z0-9_-]+):", line)
        if not match:
            continue
        indent = match.group(1)
        previous = lines[i - 1] if i else ""
        commented_above = previous.startswith(indent + "#")
        if "#" not in line and not commented_above:
            missing.append(match.group(2))
    assert not missing, f"keys in shoal.yaml without a comment: {missing}"


def test_default_keys_are_hyphenated():
    offenders = sorted(k for k in _keys(config.defaults[0]) if "_" in k)
    assert not offenders


# --------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("128 MiB", 128 * 2**20),
        ("5GB", 5 * 10**9),
        ("1.5 kB", 1500),
        ("2KiB", 2048),
        ("100", 100),
        ("1e6", 10**6),
        ("MB", 10**6),
        ("3 B", 3),
        ("1 TiB", 2**40),
        (42, 42),
        (1.5e3, 1500),
    ],
)
def test_parse_bytes(text, expected):
    assert config.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "five MB", "5 XB", "5 5", "-3 MB"])
def test_parse_bytes_errors_name_the_input(text):
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        config.parse_bytes(text)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("500ms", 0.5),
        ("5 minutes", 300.0),
        ("1.5h", 5400.0),
        ("2 s", 2.0),
        ("10us", 1e-5),
        ("1 day", 86400.0),
        ("3", 3.0),
        (3, 3.0),
        (0.25, 0.25),
        (datetime.timedelta(minutes=2), 120.0),
    ],
)
def test_parse_timedelta(value, expected):
    result = config.parse_timedelta(value)
    assert isinstance(result, float)
    assert result == pytest.approx(expected)


def test_parse_timedelta_default_unit():
    assert config.parse_timedelta(3, default="ms") == pytest.approx(0.003)
    assert config.parse_timedelta("3", default="minutes") == 180.0
    assert config.parse_timedelta("2s", default="ms") == 2.0
    assert config.parse_timedelta(None) is None
    with pytest.raises(ValueError, match="no unit"):
        config.parse_timedelta("3", default=None)


@pytest.mark.parametrize("text", ["", "soon", "5 fortnights", "1 2 s"])
def test_parse_timedelta_errors_name_the_input(text):
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        config.parse_timedelta(text)


def test_public_name_set_does_not_shadow_builtin_inside_module():
    assert config.set is config._ConfigSet
    # functions that need a real Python set keep working
    assert config.expand_environment_variables({1, 2}) == {1, 2}


def test_every_key_the_code_reads_is_documented():
    """config.get("...") and config.checked(reader, "...") anywhere in the package must
    name a documented default."""
    import pathlib
    import re

    import shoal.config as cfg

    root = pathlib.Path(cfg.__file__).parent
    used = set()
    for path in root.rglob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r'config\.get\(\s*"([a-z0-9_.\-]+)"', text))
        used |= set(re.findall(r'checked\(\s*config\.\w+,\s*"([a-z0-9_.\-]+)"\s*[,)]', text))
        used |= {f"distributed.scheduler.{key}"  # (scheduler/state.py's setting() helper)
                 for key in re.findall(r'setting\(config\.\w+, "([a-z\-]+)"', text)}  # fmt: skip
    assert used, "the scan found no config.get calls"
    assert "distributed.comm.timeouts.connect" in used and "distributed.scheduler.bandwidth" in used
    missing = []
    for key in sorted(used):
        try:
            cfg.get(key, config=cfg.merge(*cfg.defaults))
        except KeyError:
            missing.append(key)
    assert not missing, f"keys read by the code but absent from shoal.yaml: {missing}"


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), (1, True), (0, False), ("yes", True), ("Off", False),
    ("false", False), (" TRUE ", True), ("no", False), ("on", True)])  # fmt: skip
def test_a_switch_reads_yamls_words(value, expected):
    assert config.flag(value, "enabled", "a.enabled") is expected


@pytest.mark.parametrize("value", ["maybe", 2, None, 0.5, ""])
def test_a_switch_refuses_anything_else_naming_the_setting(value):
    with pytest.raises(ValueError, match=r"enabled=.*: expected true or false \(a.enabled\)"):
        config.flag(value, "enabled", "a.enabled")


def test_counts_and_periods_name_the_setting():
    assert config.count("12", "n") == 12 and config.count(-5, "nice", minimum=-20) == -5
    assert config.count(1e6, "n") == 1_000_000  # (YAML's 1.0e+6, a SHOAL_* 1e6)
    for bad in ("abc", None, 0, -1, True, 2.5, float("inf")):
        with pytest.raises(ValueError, match=r"buffer-length=.*: expected a whole number of at "
                                             r"least 1 \(k.buffer-length\)"):  # fmt: skip
            config.count(bad, "buffer-length", "k.buffer-length")
    assert config.period(0, "minimum", zero=True) == 0.0 and config.period("1s", "m", zero=True) == 1
    for bad in (-1, "abc", float("nan")):
        with pytest.raises(ValueError, match=r"minimum=.*expected a finite duration of 0 or more"):
            config.period(bad, "minimum", zero=True)


def test_an_environment_switch_reads_as_in_yaml(monkeypatch):
    monkeypatch.setenv("SHOAL_DISTRIBUTED__WORKER__PROFILE__ENABLED", "off")
    assert config.collect_env()["distributed"]["worker"]["profile"]["enabled"] is False


def test_bad_dashboard_and_profiler_settings_name_their_key():
    """Bad values were a bare int()/float() traceback, a silent spin (an events interval
    of 0), or a switch "false" that counted as on."""
    from shoal.diagnostics.dashboard import Dashboard
    from shoal.diagnostics.progress import ProgressBar
    from shoal.diagnostics.sampler import profile_enabled
    from shoal.distributed.eventstream import stream_events
    from shoal.distributed.scheduler.diagnostics import TaskStreamLog
    from shoal.bus import Bus

    with config.set({"distributed.worker.profile.enabled": "false"}):
        assert profile_enabled() is False
    with config.set({"distributed.worker.profile.enabled": "sometimes"}):
        with pytest.raises(ValueError, match=r"\(distributed.worker.profile.enabled\)"):
            profile_enabled()
    with config.set({"diagnostics.dashboard.enabled": "no"}):
        with Dashboard() as dash:  # switched off: no process, no link
            assert dash.link is None
    with config.set({"diagnostics.progress.minimum": "abc"}):
        with pytest.raises(ValueError, match=r"\(diagnostics.progress.minimum\)"):
            ProgressBar()
    assert ProgressBar(minimum="1s").minimum == 1.0
    with config.set({"distributed.scheduler.task-stream-length": 0}):
        with pytest.raises(ValueError, match=r"\(distributed.scheduler.task-stream-length\)"):
            TaskStreamLog(Bus())
    for key, value in (("distributed.dashboard.events.interval", 0),
                       ("distributed.dashboard.events.buffer-length", "abc")):  # fmt: skip
        with config.set({key: value}):
            with pytest.raises(ValueError, match=rf"\({key}\)"):
                import asyncio

                asyncio.run(stream_events(None, Bus(), source="test"))


def test_set_takes_dotted_keyword_names_as_dask():
    """``config.set(**{"a.b": 5})`` stored a top-level key named "a.b"; get("a.b") kept the
    old value."""
    from shoal import config

    before = config.get("distributed.scheduler.allowed-failures")
    with config.set(**{"distributed.scheduler.allowed-failures": before + 2}):
        assert config.get("distributed.scheduler.allowed-failures") == before + 2
        assert "distributed.scheduler.allowed-failures" not in config.config
    with config.set(distributed__scheduler__allowed_failures=before + 3):
        assert config.get("distributed.scheduler.allowed-failures") == before + 3
    assert config.get("distributed.scheduler.allowed-failures") == before
