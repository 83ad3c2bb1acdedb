"""Plain HTTP routes beside the Bokeh pages: redirects, health, metrics, JSON, /info.

::

    /                       -> redirect to status (relative Location: works under any prefix)
    /health                 "ok"
    /metrics                Prometheus text exposition (prometheus_text(state))
    /panes.json             {pane title: "/individual-<name>"}
    /individual-plots.json  {"Individual Task Stream": "/individual-task-stream", ...} (Dask's form)
    /info                   -> info/main/workers.html
    /info/main/workers.html workers (and removed ones), computations, scheduler identity
    /info/worker/<addr>.html one worker: metrics, memory history
    /info/task/<key>.html   one key: what the dashboard saw, and its story from info_source

Pages are small server-rendered HTML with relative links; values are escaped.
``info_source`` (optional, set on the state by the feed) is any object with
``story(key)`` and ``identity()``, plain or ``async``; its answers are shown as
they come, and a failure or a timeout (5 s for a story, 2 s for the identity) is
shown as text, never a 500.
"""

from __future__ import annotations

import ast
import asyncio
import html
import inspect
import json
import re
import time
from urllib.parse import quote, unquote

from tornado.web import RequestHandler

from shoal.core.keys import key_str
from shoal.dashboard import theme
from shoal.dashboard.pages import NAV, NAV_CSS, individual_plots, pane_routes
from shoal.core.units import format_clock
from shoal.dashboard.panes.style import format_bytes, format_seconds
from shoal.distributed.taskcolumns import story_from_wire
from shoal.events import iter_startstops

__all__ = ["prometheus_text", "routes"]


class _Base(RequestHandler):
    def initialize(self, state):
        self.state = state

    def html_page(self, title: str, body: str, depth: int) -> None:
        """A page under /info, *depth* folders below the root, with the Bokeh pages'
        navigation bar ("Info" active), in the theme its link asks for (``theme.py``:
        its links, the bar's and the body's, keep asking for it)."""
        look = theme.page_theme(self.request.query_arguments)
        up = "../" * depth
        nav = "".join(f'<a href="{up}{link}"{" class=active" if label == "Info" else ""}>'
                      f"{label}</a>" for label, link in NAV)  # fmt: skip
        page = (f"<nav class='shoal-nav'><span class='brand'>shoal</span>{nav}</nav><main><h1>"
                f"{html.escape(title)}</h1>{body}</main>")  # fmt: skip
        if look == "dark":
            page = _RELATIVE_LINK.sub(_dark_link, page)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(_utf8(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>shoal: "
            f"{html.escape(title)}</title><style>{NAV_CSS} body{{margin:0}} "
            f"main{{margin:1em;overflow-x:auto}} "
            f"table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:2px 8px;"
            f"text-align:left}}{theme.info_css(look)}</style></head><body>{page}</body></html>"))


#: A link to another page of this dashboard (relative: no scheme, no leading slash).
_RELATIVE_LINK = re.compile(r'href=(["\'])(?![a-zA-Z][a-zA-Z0-9+.-]*:|/|#)([^"\']*)\1')


def _dark_link(match) -> str:
    quote_, link = match.group(1), match.group(2)
    joiner = "&amp;" if "?" in link else "?"
    return f"href={quote_}{link}{joiner}theme=dark{quote_}"


def _utf8(text: str) -> bytes:
    """*text* as UTF-8, a lone surrogate (an error message made of undecodable bytes,
    which the protocol carries as it is) written as its escape instead of a 500."""
    return text.encode("utf-8", "backslashreplace")


def _relative_redirect(handler: RequestHandler, target: str) -> None:
    """Redirect to *target* inside the requested path ("/a" or "/a/" -> "/a/target"),
    with a relative Location, so it works behind a proxy that strips a prefix."""
    path = handler.request.path
    last = path.rstrip("/").rsplit("/", 1)[-1] if not path.endswith("/") else ""
    handler.redirect(f"{last}/{target}" if last else target)


class RootHandler(_Base):
    def get(self):
        _relative_redirect(self, "status")


class InfoRoot(_Base):
    def get(self):
        _relative_redirect(self, "main/workers.html")


class Health(_Base):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write("ok")

    head = get  # uptime checks and load balancers probe with HEAD (tornado sends no body)


class Metrics(_Base):
    def get(self):
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.write(_utf8(prometheus_text(self.state)))

    head = get


class Json(_Base):
    def initialize(self, state, make):
        self.state, self.make = state, make

    def get(self):
        self.set_header("Content-Type", "application/json")
        self.set_header("Access-Control-Allow-Origin", "*")  # the lab extension reads it
        self.write(json.dumps(self.make()))

    head = get


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _e(value) -> str:
    return html.escape(str(value))


async def _ask(source, method, *args, timeout=5.0):
    """Call ``source.method(*args)`` (sync or async); ``(ok, value or error text)``."""
    fn = getattr(source, method, None) if source is not None else None
    if fn is None:
        return False, "not available (the dashboard has no connection to a scheduler)"
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, timeout)
        return True, result
    except Exception as exc:  # shown on the page, never a 500
        return False, f"{type(exc).__name__}: {exc}"


class WorkersPage(_Base):
    async def get(self):
        workers = self.state.workers()
        rows = [(f'<a href="../worker/{quote(w["address"], safe="")}.html">{_e(w["address"])}</a>',
                 _e(w["name"]), w["nthreads"], f"{w['cpu']:.0f} %",
                 _e(format_bytes(w["managed"] + w["unmanaged"])),
                 _e(format_bytes(w["memory_limit"])), _e(format_bytes(w["spilled"])),
                 w["processing"])
                for w in sorted(workers, key=lambda w: w["address"])]  # fmt: skip
        body = "<h2>Workers</h2>" + _table(
            ("address", "name", "threads", "CPU", "memory", "limit", "spilled", "tasks"), rows)
        removed = self.state.removed_workers()
        if removed:
            body += "<h2>Removed workers</h2>" + _table(("address", "reason", "time"), [
                (_e(r["address"]), _e(r["reason"]), _e(time.ctime(r["time"]))) for r in removed])
        comps = self.state.computations()
        body += "<h2>Computations</h2>" + _table(
            ("run", "scheduler", "tasks", "status", "duration", "error"),
            [(_e(c["run_id"]), _e(c["scheduler"]), c["ntasks"], _e(c["status"]),
              _e(format_seconds((c["stop"] or time.time()) - c["start"])), _e(c["exception"]))
             for c in reversed(comps)])  # fmt: skip
        ok, ident = await _ask(self.state.info_source, "identity", timeout=2.0)
        if ok:
            text = json.dumps(ident, indent=1, default=str)
            body += f"<h2>Scheduler</h2><pre>{_e(text)}</pre>"
        self.html_page("Cluster", body, depth=2)  # (its first part: "Workers")


class WorkerPage(_Base):
    def get(self, address):
        workers = {w["address"]: w for w in self.state.workers()}
        if address not in workers and "%" in address:
            # Bokeh's OpenURL runs encodeURI over the already-escaped link
            address = unquote(address)
        w = workers.get(address)
        if w is None:
            self.set_status(404)
            self.html_page(f"Worker {address}", "<p>No such worker (it may have left).</p>", 2)
            return
        rows = [(_e(k), _e(_worker_field(k, v))) for k, v in w.items()]
        series = self.state.worker_series().get(address, [])[-20:]
        history = _table(("time", "managed", "unmanaged", "spilled", "CPU %"), [
            (_e(format_clock(t)), _e(format_bytes(m)),
             _e(format_bytes(u)), _e(format_bytes(s)), f"{c:.0f}")
            for t, m, u, s, c in reversed(series)])  # fmt: skip
        self.html_page(f"Worker {address}", _table(("field", "value"), rows) +
                       "<h2>Recent metrics</h2>" + history, depth=2)  # fmt: skip


def _worker_field(name: str, value) -> str:
    """A worker's field as text: bytes readable, CPU in %, occupancy in seconds, times
    as local date and time (as the workers table shows them)."""
    if name in ("managed", "unmanaged", "spilled", "memory_limit"):
        return format_bytes(value)
    if name == "cpu":
        return f"{value:.0f} %"
    if name == "occupancy":
        return format_seconds(value)
    if name in ("added", "time") and isinstance(value, (int, float)) and value > 0:
        return format_clock(value, "%Y-%m-%d %H:%M:%S")
    return str(value)


def key_candidates(text: str) -> list:
    """The keys a page's text may name, most literal first: ``"('x', 1)"`` is the tuple
    or that string, ``"42"`` the int or the string, ``"b'x'"`` bytes; any text is
    itself.  Only hashable keys of the kinds a scheduler takes (str, int, float,
    bytes, tuples of those): ``"('a', [1])"`` is text alone, never an error."""
    out = []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        value = text
    if value != text and _is_key(value):
        out.append(value)
    out.append(text)
    return out


def _is_key(value) -> bool:
    if isinstance(value, tuple):
        return all(_is_key(v) for v in value)
    return isinstance(value, (str, int, float, bytes)) and not isinstance(value, bool)


class TaskPage(_Base):
    async def get(self, text):
        records = self.state.tasks.since(0)[1]
        candidates = key_candidates(text)
        known = [k for k in candidates if self.state.key_info(k) is not None
                 or any(r.key == k for r in records)]  # fmt: skip
        key = (known or candidates)[0]
        ok, story = await _ask(self.state.info_source, "story", key)
        if ok and not story and not known:  # the scheduler may know it by its other reading
            for other in candidates[1:]:
                ok2, story2 = await _ask(self.state.info_source, "story", other)
                if ok2 and story2:
                    key, story = other, story2
                    break
        info = self.state.key_info(key)
        now = [(_e(k), _e(v)) for k, v in info.items()] if info else []
        body = "<h2>Now</h2>" + (_table(("field", "value"), now) if info
                                 else "<p>Not followed by the dashboard now.</p>")  # fmt: skip
        mine = [r for r in records if r.key == key][-50:]
        body += "<h2>Task stream records</h2>" + _table(
            ("from", "to", "worker", "startstops", "exception"),
            [(_e(r.start), _e(r.finish), _e(r.worker), _e(", ".join(
                f"{a} {format_seconds(e - b)}" for a, b, e in iter_startstops(r.startstops))),
              _e(r.exception)) for r in mine])  # fmt: skip
        told = ok or self.state.info_source is None  # (no scheduler to ask: nobody else knows)
        if told and not (info or mine or (ok and story)):  # nobody knows it: a 404
            self.set_status(404)
            self.html_page(f"Task {key_str(key)}", "<p>No such task: the dashboard does not "
                           "follow it and the scheduler has no story of it.</p>", depth=2)
            return
        body += "<h2>Story (scheduler)</h2>"
        if ok and story is None:
            body += ("<p>This scheduler keeps no story of its tasks (a local scheduler): "
                     "the records above are all there is.</p>")  # fmt: skip
        elif ok and not story:
            body += "<p>The scheduler has no story of this key.</p>"
        elif ok:
            rows = [[_e(c) for c in _story_cells(e)] for e in story]
            width = max(map(len, rows), default=1)
            head = _STORY_HEAD if width == len(_STORY_HEAD) else ("",) * width
            body += _table(head, rows)
        else:
            body += f"<p>{_e(story)}</p>"
        self.html_page(f"Task {key_str(key)}", body, depth=2)


_STORY_HEAD = ("key", "from / what", "to / detail", "recommendations", "stimulus", "time")


def _story_cells(entry) -> list:
    """The cells of one story entry: a scheduler's transition
    ``[key, start, finish, [[key, state], ...], stimulus_id, time]`` or note
    ``[key, what, detail, stimulus_id, time]`` under :data:`_STORY_HEAD`; anything
    else cell by cell, as it came."""
    if isinstance(entry, dict):
        return list(entry.values())
    if not isinstance(entry, (list, tuple)):
        return [entry]
    if len(entry) in (5, 6) and isinstance(entry[-1], (int, float)):
        entry = story_from_wire(entry)
        recs = entry[3] if len(entry) == 6 else {}
        recs = ", ".join(f"{key_str(k)}: {v}" for k, v in recs.items())
        when = format_clock(entry[-1], "%H:%M:%S.{ms}")
        return [key_str(entry[0]), entry[1], entry[2], recs, entry[-2], when]
    return list(entry)


# --- Prometheus ----------------------------------------------------------------------


_SURROGATE = re.compile("[\ud800-\udfff]")


def _label(value) -> str:
    """A label value, escaped as the text format allows (``\\``, ``\"``, ``\n``); a lone
    surrogate (a file name's undecodable bytes in a key) becomes U+FFFD, since an
    escape of it is not one of those three and fails a scrape."""
    text = _SURROGATE.sub("\ufffd", str(value))
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


#: every state ``shoal_tasks`` reports, with no task in it too (as Dask's gauge does)
_TASK_STATES = ("new", "released", "waiting", "queued", "no-worker", "processing", "memory",
                "erred", "forgotten")  # fmt: skip


def prometheus_text(state) -> str:
    """The state as Prometheus text exposition format 0.0.4 (namespace ``shoal``)."""
    lines = []

    def metric(name, kind, help_text, samples):
        lines.append(f"# HELP shoal_{name} {help_text}")
        lines.append(f"# TYPE shoal_{name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"shoal_{name}{{{text}}} {value}" if text else f"shoal_{name} {value}")

    counts = dict.fromkeys(_TASK_STATES, 0)  # (a state with no task reads 0: no gap)
    counts.update(state.task_counts())
    metric("tasks", "gauge", "Tasks of the kept computations, by state (new: not started).",
           [({"state": s}, n) for s, n in sorted(counts.items())])
    workers = state.workers()
    metric("workers", "gauge", "Workers connected.", [({}, len(workers))])
    metric("threads", "gauge", "Worker threads.", [({}, sum(w["nthreads"] for w in workers))])
    total = {f: sum(w[f] for w in workers) for f in ("managed", "unmanaged", "spilled")}
    metric("memory_bytes", "gauge", "Cluster memory by type.",
           [({"type": t}, v) for t, v in total.items()])
    metric("memory_limit_bytes", "gauge", "Sum of the workers' memory limits.",
           [({}, sum(w["memory_limit"] for w in workers))])
    metric("worker_memory_bytes", "gauge", "Worker memory by type.",
           [({"worker": w["address"], "type": t}, w[t]) for w in workers for t in total])
    metric("worker_processing_tasks", "gauge", "Tasks assigned to each worker.",
           [({"worker": w["address"]}, w["processing"]) for w in workers])
    metric("worker_cpu_percent", "gauge", "CPU use of each worker process.",
           [({"worker": w["address"]}, w["cpu"]) for w in workers])
    metric("worker_paused", "gauge", "1 while a worker is paused (its memory is too high).",
           [({"worker": w["address"]}, int(bool(w.get("paused")))) for w in workers])
    metric("task_records_total", "counter", "Task records with timings received.",
           [({}, state.tasks.count)])
    metric("resyncs_total", "counter", "Times the dashboard fell behind (or reconnected) and "
           "started over from a fresh snapshot.", [({}, state.resyncs)])
    metric("compute_seconds_total", "counter", "Compute time by task prefix.",
           [({"prefix": p}, s) for p, (s, _) in sorted(state.compute_time().items())])
    metric("erred_tasks_total", "counter", "Tasks that raised.", [({}, state.erred)])
    status = {}
    for c in state.computations():
        status[c["status"]] = status.get(c["status"], 0) + 1
    metric("computations", "gauge", "Kept computations by status.",
           [({"status": s}, n) for s, n in sorted(status.items())])
    return "\n".join(lines) + "\n"


def routes(state) -> list:
    """Tornado ``(pattern, handler, kwargs)`` for the plain HTTP routes."""
    s = {"state": state}
    return [
        (r"/?", RootHandler, s),
        (r"/health", Health, s),
        (r"/metrics", Metrics, s),
        (r"/panes\.json", Json, {"state": state, "make": pane_routes}),
        (r"/individual-plots\.json", Json, {"state": state, "make": individual_plots}),
        (r"/info/?", InfoRoot, s),
        (r"/info/main/workers\.html", WorkersPage, s),
        (r"/info/worker/(.+)\.html", WorkerPage, s),
        (r"/info/task/(.+)\.html", TaskPage, s),
    ]
