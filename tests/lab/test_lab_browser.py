"""The lab extension in a real JupyterLab, driven by Chromium (see conftest.py).

The walk a user takes, with nothing typed but notebook code::

    open a notebook -> run `client = Client(n_workers=1)` -> the shoal sidebar lists
    the panes by itself -> View > Launch shoal dashboard layout -> task stream,
    progress and workers memory open beside the notebook -> a computation ->
    the task-stream iframe (through Jupyter's proxy) holds task rectangles
    -> reload: the panes come back.
"""

from __future__ import annotations

import json
import re
import time

import pytest

pytest.importorskip("bokeh", reason="pip install bokeh (the test extra has it)")

pytestmark = pytest.mark.timeout(240)

NOTEBOOK = "shoal-lab.ipynb"
CELLS = [
    "from shoal.distributed import Client\n"
    "client = Client(n_workers=1, threads_per_worker=2, dashboard_address=':0')\n"
    "client.dashboard_link",
    "import time, shoal\n"
    "def slow(i):\n"
    "    time.sleep(0.05)\n"
    "    return i\n"
    "sum(shoal.compute(*[shoal.delayed(slow)(i) for i in range(60)]))",
]
LAYOUT = ["Task Stream", "Progress", "Workers Memory"]

# Task-stream rectangles in the iframe's Bokeh document (as tests/dashboard does).
STREAM_JS = """() => {
  const docs = (window.Bokeh && Bokeh.documents) || [];
  const doc = docs[docs.length - 1];
  if (doc === undefined) return -1;
  for (const m of doc.all_models) {
    if (m.type !== "ColumnDataSource") continue;
    const cols = Object.keys(m.data);
    if (["duration", "key", "left", "right"].every((c) => cols.includes(c))) return m.data.left.length;
  }
  return -1;
}"""


def _write_notebook(lab) -> None:
    cells = [{"cell_type": "code", "source": src, "metadata": {}, "outputs": [], "execution_count": None}
             for src in CELLS]  # fmt: skip
    notebook = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    (lab.root / NOTEBOOK).write_text(json.dumps(notebook))


RUN_CELL_JS = """async (index) => {
  const panel = Array.from(jupyterapp.shell.widgets("main")).find((w) => w.sessionContext && w.content);
  await panel.sessionContext.ready;
  panel.content.activeCellIndex = index;
  await jupyterapp.commands.execute("notebook:run-cell");
}"""


def _run_cell(page, index: int) -> str:
    """Run cell ``index`` of the notebook in front (as its Run button does); its output."""
    page.evaluate(RUN_CELL_JS, index)
    output = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output").first
    output.wait_for(timeout=90_000)
    return output.inner_text().strip()


def _wait(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        time.sleep(0.25)


def _stream_frame(page):
    """The task-stream pane's iframe, once it shows a page through the proxy."""
    iframe = page.locator("#shoal-pane-individual-task-stream iframe")
    if not iframe.count():
        return None
    frame = iframe.element_handle().content_frame()
    if frame is None or not re.search(r"/shoal/proxy/\d+/individual-task-stream(\?theme=dark)?$",
                                      frame.url):  # fmt: skip
        return None
    return frame


# The colour behind a page's panes (the dark theme's is JupyterLab's own #111111).
BACKGROUND_JS = "() => getComputedStyle(document.body).backgroundColor"


def _change_theme(page, name: str) -> None:
    page.evaluate("(name) => jupyterapp.commands.execute('apputils:change-theme', {theme: name})",
                  name)  # fmt: skip
    _wait(lambda: page.evaluate("() => document.body.dataset.jpThemeName") == name,
          f"the lab's {name} theme")


def test_notebook_client_to_panes(jupyter_lab, page, artifacts):
    try:
        _walk(jupyter_lab, page, artifacts)
    except BaseException:
        page.screenshot(path=str(artifacts / "failure.png"))
        raise
    finally:  # shut the kernel (and its cluster) down before the lab goes
        for kernel in jupyter_lab.api("/api/kernels"):
            jupyter_lab.api(f"/api/kernels/{kernel['id']}", "DELETE")


def _walk(lab, page, artifacts):
    _write_notebook(lab)
    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()

    link = _run_cell(page, 0).strip("'")
    assert re.match(r"http://127\.0\.0\.1:\d+/status$", link), link

    # the sidebar finds the kernel's dashboard by itself: no URL typed
    page.locator(".jp-SideBar [data-id='shoal-sidebar']").click()
    sidebar = page.locator("#shoal-sidebar")
    sidebar.locator(".shoal-Sidebar-pane", has_text="Task Stream").wait_for()
    names = sidebar.locator(".shoal-Sidebar-pane").all_inner_texts()
    assert set(LAYOUT) <= set(names), names
    assert sidebar.locator("input").input_value() == link
    page.screenshot(path=str(artifacts / "sidebar.png"))

    # a pane dragged from the sidebar into the main area opens where it is dropped
    item = sidebar.locator(".shoal-Sidebar-pane", has_text="CPU").bounding_box()
    page.mouse.move(item["x"] + 20, item["y"] + 5)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(item["x"] + 20 + step * 30, item["y"] + 5 + step * 15)
    page.mouse.move(900, 500)
    page.mouse.up()
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel", has_text="CPU").wait_for()

    # View > Launch shoal dashboard layout
    page.locator(".lm-MenuBar-itemLabel", has_text="View").click()
    page.locator(".lm-Menu-itemLabel", has_text="Launch shoal dashboard layout").click()
    for title in LAYOUT:
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel", has_text=title).wait_for()
    frame = _wait(lambda: _stream_frame(page), "the task-stream iframe")
    frame.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=30_000)

    assert _run_cell(page, 1) == "1770"
    n = _wait(lambda: max(_stream_frame(page).evaluate(STREAM_JS), 0), "task rectangles in the iframe")
    assert n >= 1
    page.wait_for_timeout(500)  # let the canvas paint for the screenshot
    page.screenshot(path=str(artifacts / "layout.png"))

    # the lab turns dark: the panes follow (a dark plot behind the rectangles), and back
    _change_theme(page, "JupyterLab Dark")
    frame = _wait(lambda: (f := _stream_frame(page)) and f.url.endswith("?theme=dark") and f,
                  "the task-stream pane in the dark theme")  # fmt: skip
    _wait(lambda: frame.evaluate(STREAM_JS) >= 1, "task rectangles in the dark pane")
    assert frame.evaluate(BACKGROUND_JS) == "rgb(17, 17, 17)"
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "layout-dark.png"))
    _change_theme(page, "JupyterLab Light")
    frame = _wait(lambda: (f := _stream_frame(page)) and not f.url.endswith("?theme=dark") and f,
                  "the task-stream pane in the light theme again")  # fmt: skip
    _wait(lambda: frame.evaluate(STREAM_JS) >= 1, "task rectangles in the light pane")

    # a reload brings the panes back
    page.reload()
    for title in LAYOUT:
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel", has_text=title).wait_for()
    frame = _wait(lambda: _stream_frame(page), "the task-stream iframe after a reload")
    _wait(lambda: frame.evaluate(STREAM_JS) >= 1, "task rectangles after a reload")
    page.locator(".shoal-Sidebar-status", has_text="this notebook's kernel").wait_for()
    page.screenshot(path=str(artifacts / "restored.png"))

    # another notebook, whose kernel has no dashboard: the panes stay, said to be another's,
    # and the layout command asks for a Client in this one instead of opening another's
    (lab.root / "other.ipynb").write_text(json.dumps({**json.loads((lab.root / NOTEBOOK).read_text()),
                                                      "cells": []}))  # fmt: skip
    page.evaluate("() => jupyterapp.commands.execute('docmanager:open', {path: 'other.ipynb'})")
    status = page.locator(".shoal-Sidebar-status")
    status.filter(has_text="another notebook's kernel").wait_for(timeout=30_000)
    assert page.locator("#shoal-sidebar .shoal-Sidebar-pane", has_text="Progress").count() == 1
    page.locator(".lm-MenuBar-itemLabel", has_text="View").click()
    page.locator(".lm-Menu-itemLabel", has_text="Launch shoal dashboard layout").click()
    page.locator(".jp-Notification-Status").click()  # the notification centre lists it
    page.get_by_text("This notebook's kernel has no shoal dashboard yet").first.wait_for()
    page.screenshot(path=str(artifacts / "other-notebook.png"))
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel", has_text=NOTEBOOK).click()
    status.filter(has_text="this notebook's kernel").wait_for(timeout=30_000)
    page.evaluate("""() => { for (const w of Array.from(jupyterapp.shell.widgets('main'))) {
                               if (w.title.label === 'other.ipynb') w.dispose(); } }""")
    page.locator(".lm-TabBar-tabLabel", has_text="other.ipynb").wait_for(state="detached")

    # the notebook closed, its kernel (and its Client) may still run: the panes stay, no
    # longer said to be "this notebook's"
    page.evaluate("""() => { for (const w of Array.from(jupyterapp.shell.widgets('main'))) {
                               if (w.sessionContext) w.dispose(); } }""")
    status.filter(has_text="a notebook no longer open").wait_for(timeout=30_000)
    assert page.locator("#shoal-sidebar .shoal-Sidebar-pane", has_text="Progress").count() == 1
    assert not page.log.errors, page.log.errors


def test_clusters_and_url_box_from_the_sidebar(jupyter_lab, page, artifacts):
    """+ New starts a LocalCluster in the server; its panes show; Client inserts the
    connection code; Scale and Shut down work; a URL typed in the box is followed."""
    try:
        _clusters(jupyter_lab, page, artifacts)
    except BaseException:
        page.screenshot(path=str(artifacts / "clusters-failure.png"))
        raise
    finally:
        for kernel in jupyter_lab.api("/api/kernels"):
            jupyter_lab.api(f"/api/kernels/{kernel['id']}", "DELETE")
        for cluster in jupyter_lab.api("/shoal/clusters")["clusters"]:
            jupyter_lab.api(f"/shoal/clusters/{cluster['id']}", "DELETE")


def _clusters(lab, page, artifacts):
    own = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
           "source": CELLS[0].replace("client", "own")}
    notebook = {"cells": [own], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    (lab.root / "clusters.ipynb").write_text(json.dumps(notebook))
    page.goto(f"{lab.url}/lab/tree/clusters.ipynb?reset&token={lab.token}")  # (a fresh workspace)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    if not page.locator("#shoal-sidebar").is_visible():
        page.locator(".jp-SideBar [data-id='shoal-sidebar']").click()
    sidebar = page.locator("#shoal-sidebar")
    status = sidebar.locator(".shoal-Sidebar-status")
    # the notebook's own Client first: the sidebar comes back to it after the cluster goes
    assert _run_cell(page, 0).startswith("'http://127.0.0.1:")
    status.filter(has_text="this notebook's kernel").wait_for(timeout=60_000)

    sidebar.locator(".shoal-ClusterList-new").click()
    item = sidebar.locator(".shoal-ClusterList-item")
    item.wait_for(timeout=60_000)
    status.filter(has_text="a cluster started here").wait_for()
    sidebar.locator(".shoal-Sidebar-pane", has_text="Task Stream").click()
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel", has_text="Task Stream").wait_for()
    # from the keyboard: each pane is a button in the tab order, Enter opens it
    progress = sidebar.locator(".shoal-Sidebar-pane", has_text="Progress")
    assert (progress.get_attribute("tabindex"), progress.get_attribute("role")) == ("0", "button")
    progress.focus()
    page.keyboard.press("Enter")
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel", has_text="Progress").wait_for()
    _check_hover_contrast(page, sidebar, artifacts)

    item.locator("button[data-action='client']").click()
    cell = page.locator(".jp-Notebook .jp-Cell").last
    address = lab.api("/shoal/clusters")["clusters"][0]["scheduler_address"]
    _wait(lambda: address in cell.inner_text(), "the inserted Client cell")
    index = page.locator(".jp-Notebook .jp-Cell").count() - 1
    assert "Client" in _run_cell(page, index)

    item.locator("button[data-action='scale']").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input").fill("2")
    dialog.locator(".jp-mod-accept").click()
    _wait(lambda: lab.api("/shoal/clusters")["clusters"][0]["workers"] == 2, "two workers")
    item.locator(".shoal-ClusterList-info", has_text="2 workers").wait_for()
    page.screenshot(path=str(artifacts / "clusters.png"))

    # a URL typed in the box: the cluster's own link, as a user would paste it
    link = lab.api("/shoal/clusters")["clusters"][0]["dashboard_link"]
    box = sidebar.locator(".shoal-Sidebar-url input")
    box.fill(link)
    box.press("Enter")
    sidebar.locator(".shoal-Sidebar-status", has_text="the URL above").wait_for()
    assert sidebar.locator(".shoal-Sidebar-pane", has_text="Progress").count() == 1

    # picked again (from the keyboard), then shut down: the sidebar does not stay on the
    # dead cluster, it comes back to the notebook's own dashboard
    item.locator(".shoal-ClusterList-name").focus()
    page.keyboard.press("Enter")
    status.filter(has_text="a cluster started here").wait_for()
    item.locator("button[data-action='shutdown']").click()
    sidebar.locator(".shoal-ClusterList-empty").wait_for()
    assert lab.api("/shoal/clusters") == {"clusters": []}
    status.filter(has_text="this notebook's kernel").wait_for(timeout=30_000)
    own = lab.api("/shoal/dashboards")["dashboards"]
    assert sidebar.locator("input").input_value() in [d["link"] for d in own], own
    assert not page.log.errors, page.log.errors
    # the panes closed before the kernel is shut down: a page still loading from a server
    # that goes logs BokehJS's "Failed to load Bokeh session" (not this test's concern)
    page.evaluate("""() => { for (const w of Array.from(jupyterapp.shell.widgets('main'))) {
                               if (w.id.startsWith('shoal-pane-')) w.dispose(); } }""")


def _contrast(foreground: str, background: str) -> float:
    """WCAG contrast of two CSS colours ("rgb(...)" / "rgba(...)"; the foreground's
    alpha blended over the background)."""
    def parse(css):
        parts = [float(x) for x in re.findall(r"[\d.]+", css)]
        return parts[:3], (parts[3] if len(parts) > 3 else 1.0)

    (fg, alpha), (bg, _) = parse(foreground), parse(background)
    fg = [alpha * f + (1 - alpha) * b for f, b in zip(fg, bg)]

    def luminance(rgb):
        c = [v / 255 for v in rgb]
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    high, low = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


HOVER_STYLE_JS = """(el) => { const s = getComputedStyle(el); return [s.color, s.backgroundColor]; }"""


def _check_hover_contrast(page, sidebar, artifacts):
    """A hovered pane's name stays readable in the light and the dark theme (under the
    dark theme's light text a light-blue hover made it vanish: 1.4 to 1)."""
    item = sidebar.locator(".shoal-Sidebar-pane", has_text="Workers Memory")
    try:
        for theme in ("JupyterLab Light", "JupyterLab Dark"):
            page.evaluate("(theme) => jupyterapp.commands.execute('apputils:change-theme', "
                          "{theme})", theme)  # fmt: skip
            page.wait_for_function("(theme) => document.body.dataset.jpThemeName === theme "
                                   "&& !document.body.dataset.jpThemeLoading", arg=theme)  # fmt: skip
            page.wait_for_timeout(300)  # (the theme's stylesheet applied)
            item.hover()
            color, background = item.evaluate(HOVER_STYLE_JS)
            assert _contrast(color, background) >= 4.5, (theme, color, background)
            page.screenshot(path=str(artifacts / f"sidebar-hover-{theme.split()[-1].lower()}.png"))
    finally:
        page.evaluate("() => jupyterapp.commands.execute('apputils:change-theme', "
                      "{theme: 'JupyterLab Light'})")  # fmt: skip
        page.wait_for_function("() => document.body.dataset.jpThemeName === 'JupyterLab Light'")
