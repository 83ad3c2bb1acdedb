"""Browser fixtures for the dashboard: real Chromium driven by Playwright.

::

    leak_check (module)  threads + child processes before == after the module
      |-- browser (module)  Debian's Chromium, headless, launched by Playwright
      |     `-- context (module)  one context: BokehJS is fetched and compiled once
      |           `-- page (test)  a fresh page; its console errors and uncaught
      |                            exceptions are collected, and any of them FAILS the test
      `-- (the test module's cluster / dashboard fixtures depend on it too)

Playwright's own browser download is not used: the system's ``chromium`` is
(``make sysdeps``); missing, the tests fail under ``CI=true`` and skip
locally, like every other system program (see ``tests/conftest.py``).
Screenshots go to ``$SHOAL_TEST_ARTIFACTS`` (default ``test-artifacts/`` at
the repository root), in ``dashboard/``.
"""

from __future__ import annotations

import pathlib
import threading
import time

import pytest

from tests.conftest import artifacts_dir, child_pids, launch_chromium

@pytest.fixture(scope="session")
def artifacts() -> pathlib.Path:
    """The folder screenshots are saved in (created)."""
    return artifacts_dir("dashboard")


# --- leaks ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def leak_check():
    """Fail the module when a thread or child process it started outlives it
    (browser, Playwright driver, cluster, dashboard processes)."""
    pytest.importorskip("psutil", reason="pip install psutil (the test extra has it)")
    threads0, children0 = set(threading.enumerate()), child_pids()
    yield
    deadline = time.monotonic() + 10
    while True:
        threads = {t for t in threading.enumerate() if t.is_alive()} - threads0
        children = child_pids() - children0
        if not (threads or children) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if threads or children:
        pytest.fail(f"leaked threads {sorted(t.name for t in threads)}, child processes "
                    f"{sorted(children)}", pytrace=False)  # fmt: skip


# --- browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(leak_check):
    """A headless Chromium (the system's) under Playwright's sync API."""
    with launch_chromium() as browser:
        yield browser


class PageLog:
    """What a page said: console messages (type, text, location) and uncaught errors."""

    def __init__(self):
        self.console: list = []
        self.page_errors: list = []
        self.pages: list = []  # the pages watched

    def on_console(self, message) -> None:
        loc = message.location or {}
        where = f"{loc.get('url', '')}:{loc.get('lineNumber', '')}"
        self.console.append((message.type, message.text, where))

    def on_page_error(self, error) -> None:
        self.page_errors.append(f"{error.name}: {error.message}\n{error.stack or ''}")

    def errors(self) -> list:
        return [f"console.error: {text} ({where})" for kind, text, where in self.console
                if kind == "error"] + [f"page error: {e}" for e in self.page_errors]  # fmt: skip

    def warnings(self) -> list:
        return [text for kind, text, _ in self.console if kind == "warning"]


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture(scope="module")
def context(browser):
    """One browser context per module: its HTTP cache keeps BokehJS between pages."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        ctx.close()


def watch(page, log: PageLog):
    """Record *page*'s console messages and uncaught errors in *log* (once); pages a
    test opens itself are watched by passing them here."""
    if not any(p is page for p in log.pages):
        log.pages.append(page)
        page.on("console", log.on_console)
        page.on("pageerror", log.on_page_error)
    return page


@pytest.fixture
def page(context, page_log):
    """A fresh page whose JavaScript errors fail the test (see ``pytest_runtest_call``)."""
    page = watch(context.new_page(), page_log)
    try:
        yield page
    finally:
        for p in page_log.pages:
            if not p.is_closed():
                p.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body: any console error or uncaught exception on a watched
    page fails the test (a failure of the test, not an error of a fixture)."""
    result = yield
    log = item.funcargs.get("page_log") if hasattr(item, "funcargs") else None
    if log is None:
        return result
    for page in log.pages:
        if not page.is_closed():
            page.wait_for_timeout(50)  # let Playwright deliver the events still queued
            break
    errors = log.errors()
    if errors:
        pytest.fail("JavaScript errors in the dashboard:\n" + "\n".join(errors), pytrace=False)
    return result
