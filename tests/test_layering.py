"""The layer rules of docs/architecture.md, checked on the source.

Every ``import`` statement in the package (module level or inside functions)
is read with ``ast``; an import of a higher layer fails the test.  Higher
implementations are reached only through registries of import paths.
"""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = ROOT / "shoal"

# module prefix -> layer; longest prefix wins
LAYERS = {
    "shoal.config": 0,
    "shoal.config_values": 0,  # (config's value readers: standard library only)
    "shoal.annotating": 0,  # (shoal.annotate's state, read by core.annotations: stdlib only)
    "shoal.spawn": 1,  # how shoal starts its own Python children
    "shoal.core": 0,
    "shoal.sizeof": 0,
    "shoal": 1,  # shoal/__init__, events, base, delayed, visualize
    "shoal.local": 2,
    "shoal.diagnostics": 2,
    "shoal.dataframe": 2,
    "shoal.bag": 2,
    "shoal.array": 2,
    "shoal.datasets": 2,
    "shoal.testing": 2,
    "shoal.distributed": 3,
    "shoal.testing.cluster": 3,  # in-process clusters for tests
    "shoal.dashboard": 4,
    "shoal.cli": 5,
    "shoal.lab": 5,  # the Jupyter server extension
}
# L2 siblings that must not know each other
FORBIDDEN = {
    "shoal.diagnostics": ("shoal.local", "shoal.dataframe", "shoal.bag", "shoal.array"),
    "shoal.dataframe": ("shoal.local",),
    "shoal.bag": ("shoal.local",),
    "shoal.array": ("shoal.local",),
}
THIRD_PARTY_L0 = {"yaml", "cloudpickle", "toolz"}


def layer_of(module: str) -> int:
    best, depth = None, -1
    for prefix, layer in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
            best, depth = layer, prefix.count(".")
    return best


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: pathlib.Path):
    """Yield ``(module, line, lazy)`` for every import; lazy = inside a function."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        lazy = id(node) not in top
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, lazy
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != "shoal":  # "from shoal import x": x is checked below
                yield node.module, node.lineno, lazy
            for alias in node.names:
                if node.module.startswith("shoal"):
                    yield f"{node.module}.{alias.name}", node.lineno, lazy


def test_no_upward_imports():
    problems = []
    for path in sorted(PKG.rglob("*.py")):
        mod = module_name(path)
        mine = layer_of(mod)
        for target, line, lazy in imports(path):
            if not target.startswith("shoal"):
                # L0 may reach optional libraries only lazily (register_lazy handlers)
                allowed = sys.stdlib_module_names | THIRD_PARTY_L0
                if mine == 0 and not lazy and target.split(".")[0] not in allowed:
                    problems.append(f"{mod}:{line} (L0) imports third-party {target}")
                continue
            theirs = layer_of(target)
            if theirs is None:
                continue  # e.g. "from shoal import config" resolves to the package
            if theirs > mine:
                problems.append(f"{mod}:{line} (L{mine}) imports {target} (L{theirs})")
            for prefix, banned in FORBIDDEN.items():
                if mod.startswith(prefix) and target.startswith(banned):
                    problems.append(f"{mod}:{line} imports sibling {target}")
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_every_module_has_a_layer():
    missing = [module_name(p) for p in PKG.rglob("*.py") if layer_of(module_name(p)) is None]
    assert not missing


def test_import_shoal_stays_light():
    code = (
        "import sys, shoal; shoal.delayed(sum)([1]); "
        "heavy = [m for m in ('numpy', 'pandas', 'bokeh', 'tornado', 'shoal.distributed', "
        "'shoal.local', 'shoal.diagnostics', 'asyncio', 'graphviz') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
