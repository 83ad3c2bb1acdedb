"""Chromium driven over its DevTools protocol, for machines without Playwright.

``benchmarks.dashboard_overhead`` needs five things of a browser: open a page of a
given size, go to a URL, evaluate a JavaScript function, wait until one returns
true, and hear about console errors and uncaught exceptions.  Playwright does all
that but ships its own Node.js (a 40 MB wheel): on a machine where only the
benchmark's own files can travel (a lent 16-core box, say) this module does the
same five with the Python already there plus tornado's websocket client, which
the dashboard needs anyway.

:func:`launch` starts *executable* with ``--remote-debugging-port=0`` and the same
:data:`shoal.testing.browser.CHROMIUM_ARGS` the tests use, reads the port from the
line Chromium prints, and yields a :class:`Browser` whose :meth:`~Browser.new_page`
returns a :class:`Page` with Playwright's spelling of the five (``goto``,
``evaluate``, ``wait_for_function``, ``on("console" | "pageerror")``), so that the
benchmark's code is the same under either driver.  The websocket lives on an
asyncio loop in a daemon thread; each call sends one command and waits for the
reply with its id.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re
import subprocess
import tempfile
import threading
import time
import types
import urllib.request

from shoal.testing.browser import CHROMIUM_ARGS

__all__ = ["Browser", "Page", "launch"]

_LISTENING = re.compile(rb"DevTools listening on ws://[^:]+:(\d+)/")


class Page:
    """One tab, with Playwright's names for what the benchmark does with it."""

    def __init__(self, ws_url: str, loop: asyncio.AbstractEventLoop, timeout: float = 30.0):
        self._loop = loop
        self._timeout = timeout
        self._next_id = 0
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._handlers: dict[str, list] = {"console": [], "pageerror": []}
        self._ws = asyncio.run_coroutine_threadsafe(self._connect(ws_url), loop).result(timeout)
        self._call("Runtime.enable")
        self._call("Page.enable")

    async def _connect(self, url: str):
        from tornado.websocket import websocket_connect

        ws = await websocket_connect(url, max_message_size=256 * 2**20)
        asyncio.ensure_future(self._read(ws))
        return ws

    async def _read(self, ws) -> None:
        while (text := await ws.read_message()) is not None:
            message = json.loads(text)
            if "id" in message:
                future = self._pending.pop(message["id"], None)
                if future is not None:
                    future.set_result(message)
            else:
                self._dispatch(message.get("method"), message.get("params", {}))
        for future in self._pending.values():  # the browser went away
            future.set_exception(ConnectionError("Chromium closed the DevTools connection"))

    def _dispatch(self, method: str | None, params: dict) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            message = types.SimpleNamespace(type=params.get("type"), text=text)
            for callback in self._handlers["console"]:
                callback(message)
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            for callback in self._handlers["pageerror"]:
                callback(text)

    def _call(self, method: str, **params):
        self._next_id += 1
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._pending[self._next_id] = future
        payload = json.dumps({"id": self._next_id, "method": method, "params": params})
        self._loop.call_soon_threadsafe(self._ws.write_message, payload)
        reply = future.result(self._timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def close(self) -> None:
        """Close the DevTools connection (the tab stays until the browser ends)."""
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(self._timeout)

    async def _close(self) -> None:
        self._ws.close()

    def on(self, event: str, callback) -> None:
        """*event*: ``"console"`` (a message with ``.type`` and ``.text``) or
        ``"pageerror"`` (the exception's description)."""
        if event not in self._handlers:
            raise ValueError(f"unknown page event {event!r}; known: {sorted(self._handlers)}")
        self._handlers[event].append(callback)

    def goto(self, url: str) -> None:
        """Navigate and wait for the document to finish loading."""
        result = self._call("Page.navigate", url=url)
        if result.get("errorText"):
            raise RuntimeError(f"could not open {url}: {result['errorText']}")
        self.wait_for_function("() => document.readyState === 'complete'")

    def evaluate(self, function: str):
        """The JSON value of calling the JavaScript *function* (its source) in the page."""
        result = self._call("Runtime.evaluate", expression=f"({function})()",
                            returnByValue=True, awaitPromise=True)  # fmt: skip
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description")
                               or details.get("text", "JavaScript error"))  # fmt: skip
        return result["result"].get("value")

    def wait_for_function(self, function: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self._timeout if timeout is None else timeout)
        while not self.evaluate(function):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited in vain for {function}")
            time.sleep(0.05)


class Browser:
    """A running Chromium: ``new_page(viewport=...)`` opens a tab of that size."""

    def __init__(self, port: int, loop: asyncio.AbstractEventLoop):
        self._port = port
        self._loop = loop
        self._used_first = False
        self.pages: list[Page] = []

    def _targets(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"http://127.0.0.1:{self._port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def new_page(self, viewport: dict | None = None) -> Page:
        pages = [t for t in self._targets("/json/list") if t["type"] == "page"]
        if self._used_first or not pages:  # the tab Chromium opened at start, then new ones
            target = self._targets("/json/new?about:blank", method="PUT")
        else:
            target = pages[0]
        self._used_first = True
        page = Page(target["webSocketDebuggerUrl"], self._loop)
        self.pages.append(page)
        if viewport:
            page._call("Emulation.setDeviceMetricsOverride", width=viewport["width"],
                       height=viewport["height"], deviceScaleFactor=1, mobile=False)  # fmt: skip
        return page


@contextlib.contextmanager
def launch(executable: str, startup_timeout: float = 30.0):
    """A started Chromium (a child of this process) as a :class:`Browser`; ended on exit."""
    with tempfile.TemporaryDirectory(prefix="shoal-cdp-") as profile:
        proc = subprocess.Popen([executable, *CHROMIUM_ARGS, "--remote-debugging-port=0",
                                 f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        port = concurrent.futures.Future()

        def drain() -> None:  # find the port, then keep the pipe from filling up
            for line in proc.stderr:
                if not port.done() and (m := _LISTENING.search(line)):
                    port.set_result(int(m.group(1)))
            if not port.done():
                port.set_exception(RuntimeError(f"{executable} exited before listening "
                                                f"(exit status {proc.wait()})"))  # fmt: skip

        drainer = threading.Thread(target=drain, name="chromium-stderr", daemon=True)
        drainer.start()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="cdp-loop", daemon=True)
        thread.start()
        browser = None
        try:
            browser = Browser(port.result(startup_timeout), loop)
            yield browser
        finally:
            for page in browser.pages if browser else ():
                with contextlib.suppress(Exception):
                    page.close()
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            drainer.join(5)
            proc.stderr.close()
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()
