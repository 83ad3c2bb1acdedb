"""``benchmarks.cdp``: Chromium over its DevTools protocol, without Playwright.

Real Chromium (the system's, as every browser test uses; missing, these fail
under ``CI=true`` and skip locally), real pages, and the dashboard benchmark run
end to end under this driver.
"""

from __future__ import annotations

import threading
import time
import urllib.parse

import pytest

from tests.conftest import child_pids, require_program

pytestmark = pytest.mark.timeout(120)

PAGE = """<!doctype html><title>cdp</title><p id=p>start</p><script>
console.log("hello", 42);
setTimeout(() => { window.ready = true; console.error("something failed"); }, 300);
setTimeout(() => { throw new Error("boom from a timer"); }, 350);
</script>"""


def data_url(html: str) -> str:
    return "data:text/html," + urllib.parse.quote(html)


@pytest.fixture
def chromium_path():
    pytest.importorskip("tornado", reason="pip install tornado (the distributed extra has it)")
    return require_program("chromium", "apt-get install -y chromium (or `make sysdeps`)")


@pytest.fixture
def no_leaks():
    pytest.importorskip("psutil", reason="pip install psutil (the test extra has it)")
    before = child_pids()
    yield
    deadline = time.monotonic() + 10
    while child_pids() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not child_pids() - before, "Chromium processes outlived launch()"
    assert not [t for t in threading.enumerate() if t.name == "cdp-loop"]


def test_page_evaluates_waits_and_reports_errors(chromium_path, no_leaks):
    from benchmarks.cdp import launch

    with launch(chromium_path) as browser:
        page = browser.new_page(viewport={"width": 640, "height": 480})
        console, errors = [], []
        page.on("console", lambda m: console.append((m.type, m.text)))
        page.on("pageerror", errors.append)
        page.goto(data_url(PAGE))
        assert page.evaluate("() => document.getElementById('p').textContent") == "start"
        assert page.evaluate("() => ({w: window.innerWidth, h: window.innerHeight})") == \
            {"w": 640, "h": 480}  # fmt: skip
        assert page.evaluate("() => [1, 'two', {three: 3.5}, null]") == [1, "two", {"three": 3.5}, None]
        assert page.evaluate("async () => { await new Promise(r => setTimeout(r, 10)); return 7; }") == 7
        page.wait_for_function("() => window.ready === true", timeout=10)
        deadline = time.monotonic() + 10
        while not errors and time.monotonic() < deadline:
            time.sleep(0.02)
    assert ("log", "hello 42") in console
    assert ("error", "something failed") in console
    assert len(errors) == 1 and "boom from a timer" in errors[0]


def test_errors_are_raised_with_what_went_wrong(chromium_path, no_leaks):
    from benchmarks.cdp import launch

    with launch(chromium_path) as browser:
        page = browser.new_page()
        page.goto(data_url("<p>x</p>"))
        with pytest.raises(RuntimeError, match="no such thing"):
            page.evaluate("() => { throw new Error('no such thing'); }")
        with pytest.raises(TimeoutError, match="window.never"):
            page.wait_for_function("() => window.never", timeout=0.3)
        with pytest.raises(ValueError, match="unknown page event 'dialog'"):
            page.on("dialog", print)
        with pytest.raises(RuntimeError, match="could not open http://127.0.0.1:9/"):
            page.goto("http://127.0.0.1:9/")
        second = browser.new_page()  # a tab of its own
        second.goto(data_url("<title>two</title>"))
        assert second.evaluate("() => document.title") == "two"
        assert page.evaluate("() => document.title") != "two"  # the first tab is untouched


def test_a_browser_that_never_listens_is_an_error(no_leaks):
    from benchmarks.cdp import launch

    with pytest.raises(RuntimeError, match="exited before listening"):
        with launch(require_program("false", "coreutils")):
            pass


def test_dashboard_overhead_runs_under_the_cdp_driver(chromium_path, capsys):
    pytest.importorskip("bokeh", reason="pip install bokeh (the diagnostics extra has it)")
    from benchmarks import dashboard_overhead

    assert dashboard_overhead.main(["--repeat", "1", "--tasks", "4000", "--driver", "cdp",
                                    "--frameworks", "shoal",
                                    "--chromium", chromium_path]) == 0  # fmt: skip
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    for label in dashboard_overhead.CONFIGS.values():
        assert label in rows, out
    patches = [c.strip() for c in rows["PATCH-DOC messages"].split("|")]
    assert float(patches[2]) > 0, out  # the hook installed over CDP saw the page update
    assert "| JavaScript errors (total) | 0 | 0: ok |" in out
