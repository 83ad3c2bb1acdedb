"""The system's Chromium under Playwright, as the browser tests and benchmarks drive it.

Playwright's own browser download is not used (it cannot be fetched everywhere
shoal is tested): :func:`chromium` launches the Chromium at *executable* headless
with :data:`CHROMIUM_ARGS` (no sandbox, no GPU, no background traffic), so every
test and benchmark sees the same browser.  Playwright is imported on first use.
"""

from __future__ import annotations

import contextlib

__all__ = ["CHROMIUM_ARGS", "chromium"]

CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync")  # fmt: skip


@contextlib.contextmanager
def chromium(executable: str):
    """A launched Playwright ``Browser`` (sync API); closed, with Playwright, on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS),
                                     headless=True)  # fmt: skip
        try:
            yield browser
        finally:
            browser.close()
