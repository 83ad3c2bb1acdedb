"""The tutorial notebooks run top to bottom and show the tutorial's answers.

Each notebook is executed with nbclient in a fresh kernel of this interpreter
(a kernelspec written to a temporary JUPYTER_PATH, so no other "python3" kernel
can be picked up), from a temporary working directory; ``SHOAL_DATA`` points
the notebooks at the repository's ``data/`` folder, which they fill themselves
when it is missing (``shoal.datasets.flights``).  Cells are found by their
tags.  After the last cell every process the kernel started is recorded, and
all of them must be gone once the kernel shuts down.

Git keeps the notebooks without outputs: ``test_notebook_is_stripped`` checks
the working tree and the staged copy (``scripts/strip_notebooks.py`` strips).
"""

import ast
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01-delayed", "02-schedulers", "03-distributed", "04-dataframe", "05-letters"]
KERNEL = "shoal-notebook-tests"
CELL_TIMEOUT = 180
WEEKDAY_MEANS = [14.78, 10.63, 11.80, 16.15, 14.70, 7.65, 11.59]
ORIGIN_COUNTS = ("117596", "109416", "101509")


# -- stripped outputs -----------------------------------------------------------------

def _problems(nb: dict) -> list:
    """Why *nb* (parsed JSON) is not stripped; [] when it is."""
    found = []
    if "widgets" in nb.get("metadata", {}):
        found.append("notebook metadata holds widget state")
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i} has execution_count {cell['execution_count']}")
        if "execution" in cell.get("metadata", {}):
            found.append(f"cell {i} has execution timing metadata")
    return found


def _git(*args):
    if shutil.which("git") is None:
        return None
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True)
    return proc.stdout if proc.returncode == 0 else None


def _on_disk():
    return sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def _in_git():
    out = _git("ls-files", "--", "notebooks/*.ipynb")
    return sorted(pathlib.PurePosixPath(p).name for p in out.decode().split()) if out else []


def test_every_notebook_is_here():
    assert [f"{n}.ipynb" for n in NAMES] == [n for n in _on_disk() if n[:2].isdigit()]


@pytest.mark.parametrize("name", sorted(set(_on_disk()) | set(_in_git())))
def test_notebook_is_stripped(name):
    path = NOTEBOOKS / name
    if path.exists():
        assert _problems(json.loads(path.read_text(encoding="utf-8"))) == [], (
            f"{name}: run `python scripts/strip_notebooks.py` before committing")
    staged = _git("show", f":notebooks/{name}")  # the copy git would commit
    if staged is not None:
        assert _problems(json.loads(staged)) == [], (
            f"{name} (staged in git): run `python scripts/strip_notebooks.py` and `git add` it")


def test_strip_script_agrees(tmp_path):
    # the script strips a notebook with outputs and then --check passes on it
    nb = json.loads((NOTEBOOKS / "01-delayed.ipynb").read_text(encoding="utf-8"))
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]
    code["execution_count"] = 3
    nb["metadata"]["widgets"] = {"state": {}}
    target = tmp_path / "x.ipynb"
    target.write_text(json.dumps(nb), encoding="utf-8")
    script = [sys.executable, str(ROOT / "scripts" / "strip_notebooks.py")]
    assert subprocess.run([*script, "--check", str(target)], capture_output=True).returncode == 1
    assert subprocess.run([*script, str(target)], capture_output=True).returncode == 0
    assert _problems(json.loads(target.read_text(encoding="utf-8"))) == []
    assert subprocess.run([*script, "--check", str(target)], capture_output=True).returncode == 0


# -- execution ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernelspec for this interpreter on a private JUPYTER_PATH, and the kernel's env."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("psutil")
    spec_dir = tmp_path_factory.mktemp("jupyter") / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "shoal notebook tests", "language": "python",
    }))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", os.pathsep.join(
        [str(spec_dir.parent.parent), *filter(None, [os.environ.get("JUPYTER_PATH")])]))
    mp.setenv("SHOAL_DATA", str(ROOT / "data"))
    mp.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's frozen-modules note on stderr
    mp.setenv("JUPYTER_PLATFORM_DIRS", "1")
    yield
    mp.undo()


def _text(cell) -> str:
    """Printed text (streams joined as written), then each result's text and HTML."""
    streams, data = [], []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            streams.append(out["text"])
        elif out["output_type"] in ("execute_result", "display_data"):
            data += [out["data"][m] for m in ("text/plain", "text/html") if m in out["data"]]
    return "\n".join(["".join(streams), *data])


class Ran:
    """An executed notebook: the text of a tagged cell, stderr of all cells."""

    def __init__(self, nb):
        self.nb = nb

    def __getitem__(self, tag) -> str:
        cells = [c for c in self.nb.cells if tag in c.get("metadata", {}).get("tags", [])]
        assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
        return _text(cells[0])

    def plain(self, tag) -> str:
        """The text/plain repr of the cell's result."""
        self[tag]  # exactly one such cell
        cell = next(c for c in self.nb.cells if tag in c.get("metadata", {}).get("tags", []))
        results = [o for o in cell.outputs if o["output_type"] == "execute_result"]
        assert results, f"the cell tagged {tag!r} shows no result"
        return results[-1]["data"]["text/plain"]

    def value(self, tag):
        """The cell's result, read back from its repr (NumPy scalars as plain numbers)."""
        return ast.literal_eval(re.sub(r"np\.\w+\((.*)\)$", r"\1", self.plain(tag)))

    def stderr(self) -> str:
        return "".join(o["text"] for c in self.nb.cells for o in c.get("outputs", [])
                       if o["output_type"] == "stream" and o["name"] == "stderr")


def run_notebook(name, workdir) -> Ran:
    import nbformat
    import psutil
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(workdir)}})
    with client.setup_kernel():
        kernel = psutil.Process(client.km.provisioner.process.pid)
        assert pathlib.Path(kernel.cmdline()[0]).resolve() == pathlib.Path(sys.executable).resolve()
        client.reset_execution_trackers()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        started = kernel.children(recursive=True)
    # every process the notebook left running (a process pool, say) ends with its kernel
    _, alive = psutil.wait_procs(started, timeout=20)
    assert not alive, f"{name} left processes behind: {[p.cmdline() for p in alive]}"
    ran = Ran(nb)
    assert not re.search(r"\w+Warning\b", ran.stderr()), ran.stderr()
    assert "flights:" not in ran.stderr()  # (the data's messages: stdout, no red box)
    return ran


def _floats(text):
    return [float(x) for x in re.findall(r"-?\d+\.\d+", text)]


@pytest.mark.timeout(300)
def test_01_delayed(kernel_env, tmp_path):
    ran = run_notebook("01-delayed", tmp_path)
    assert "5" in ran["serial"]
    assert ran.plain("lazy").startswith("Delayed('add-")
    assert ran.value("compute") == 5
    speedup = float(re.search(r"speedup:\s+([\d.]+)x", ran["speedup"]).group(1))
    assert speedup > 2, ran["speedup"]  # 8 sleeping tasks on 8 threads
    assert "result 36" in ran["speedup"]
    assert ran.value("compute-both") == (36, 8)


@pytest.mark.timeout(300)
def test_02_schedulers(kernel_env, tmp_path):
    ran = run_notebook("02-schedulers", tmp_path)
    assert "2013-01.csv" in ran["prepare"] and "2013-12.csv" in ran["prepare"]
    lines = ran["scheduler-loop"].strip().splitlines()
    assert [line.split(",")[0].strip() for line in lines] == ["threads", "processes", "sync"]
    for line in lines:
        assert re.fullmatch(r"\s*\w+, \d+\.\d{4} s; result, 15\.11 minutes", line), line
    assert "Dashboard" in ran["client"] and "/status" in ran["client"]
    assert "Wall time" in ran["distributed-time"]  # %time's report
    assert ran.value("distributed-time") == pytest.approx(15.10795435, abs=1e-7)
    assert ran.value("len") == 336_776
    assert ran.value("not-cancelled") == 328_521
    assert all(n in ran["counts"] for n in ORIGIN_COUNTS)
    assert "15.107954" in ran["mean-delay"]
    weekday = _floats(ran.plain("weekday"))
    assert [round(v, 2) for v in weekday] == WEEKDAY_MEANS


@pytest.mark.timeout(300)
def test_03_distributed(kernel_env, tmp_path):
    ran = run_notebook("03-distributed", tmp_path)
    assert "Dashboard" in ran["client"]
    link = ran.value("dashboard-link")
    assert link.startswith("http") and link.endswith("/status")
    assert link in ran["client"]
    assert ran.value("delayed") == 3
    assert ran.value("submit") == 3
    assert ran.value("map-gather") == [1, 2, 3, 4, 5, 6, 7, 8]
    assert ran.value("map-reuse") == 72
    assert sorted(ran.value("as-completed")) == [0.1, 0.2, 0.4, 0.6]
    printed = [line.split() for line in ran["exercise-solution"].strip().splitlines()]
    assert sorted(int(v) for v, _ in printed) == list(range(1, 11))  # in finishing order
    assert printed[-1][1] == "55"
    assert ran.value("close") == "closed"


@pytest.mark.timeout(300)
def test_04_dataframe(kernel_env, tmp_path):
    ran = run_notebook("04-dataframe", tmp_path)
    assert "npartitions=12" in ran["structure"]
    assert ran.value("len") == 336_776
    assert ran.value("max-delay") == 1301.0
    assert all(n in ran["counts"] for n in ORIGIN_COUNTS)
    assert "15.107954" in ran["means"]
    assert "15.10795435 minutes, from EWR" in ran["largest-delay"]
    assert "UA" in ran["carriers"] and "58665" in ran["carriers"]
    assert "worst month: 7" in ran["by-month"]
    assert "Dashboard: http" in ran["dashboard"]
    assert "CAE" in ran["worst-routes"]


@pytest.mark.timeout(300)
def test_05_letters(kernel_env, tmp_path):
    ran = run_notebook("05-letters", tmp_path)
    assert ran["make-files"].startswith("8 files")
    assert "processes (second run)" in ran["processes"]
    speedups = re.findall(r"(processes|distributed) speedup:\s+(\d+\.\d+)x", ran["speedup"])
    assert [kind for kind, _ in speedups] == ["processes", "distributed"]
    assert all(float(x) > 0 for _, x in speedups)
    assert "Dashboard" in ran["client"]
