"""What clients get wrong, logged as short lines and at most once in a while.

::

    a refusal (foreign Host, foreign websocket Origin, a bad opening)
        --> Throttle.allow(kind) --> one line per kind per PERIOD s, "(and N more since
                                     the last such line)" after
    Bokeh's websocket loggers: a message a client sent that Bokeh could not read or
    handle (a traceback, the whole message in it)
        --> ClientFaults filter --> one short line, throttled; kept whole when the
            traceback passes through shoal's own code (a pane's callback: our bug)

The dashboard's log goes to the user's notebook (its process's stderr).  Any web
page can make a browser knock on ``127.0.0.1:8787`` in a loop: with a line per
refusal, each repeating the chosen ``Host`` header (up to 64 kB), fifty requests
wrote 3 MB into the notebook; a malformed websocket frame (which needs a session
token any local client can get) wrote a traceback each.  What the client sent is
shown cut to :data:`SHOWN` characters.
"""

from __future__ import annotations

import logging
import os
import time

__all__ = ["PERIOD", "SHOWN", "ClientFaults", "Throttle", "install", "log_refusal", "more", "short"]

#: Seconds between two lines of one kind of refusal.
PERIOD = 10.0
#: Characters of a client's text (a Host header, an Origin, a message) shown.
SHOWN = 120

#: Bokeh's loggers that report what a websocket client sent wrong.
BOKEH_LOGGERS = ("bokeh.server.views.ws", "bokeh.server.protocol_handler")

_SHOAL = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the package's directory


def more(quiet: int) -> str:
    """What follows a line when *quiet* were kept quiet since the last of its kind."""
    return f" (and {quiet} more since the last such line)" if quiet else ""


def short(text) -> str:
    """*text* as ``repr`` cut to :data:`SHOWN` characters."""
    text = repr(text)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


class Throttle:
    """At most one log line per kind every *period* seconds (*clock*: monotonic)."""

    def __init__(self, period: float = PERIOD, clock=time.monotonic):
        self.period, self.clock = period, clock
        self._last: dict = {}  # kind -> [time of its last line, refusals since]

    def allow(self, kind: str):
        """None to stay quiet; else how many were kept quiet since the last line."""
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last[0] < self.period:
            last[1] += 1
            return None
        quiet = last[1] if last is not None else 0
        self._last[kind] = [now, 0]
        return quiet


#: The process's throttle: refusals logged by shoal (:func:`log_refusal`) and Bokeh's
#: reports (:class:`ClientFaults`), each kind on its own.
refusals = Throttle()


def log_refusal(logger: logging.Logger, kind: str, line: str, level=logging.WARNING) -> None:
    """Log *line* on *logger* unless a line of its *kind* went within the period."""
    quiet = refusals.allow(kind)
    if quiet is not None:
        logger.log(level, "%s%s", line, more(quiet))


def _ours(tb) -> bool:
    """Whether the traceback *tb* passes through shoal's own code."""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(_SHOAL + os.sep):
            return True
        tb = tb.tb_next
    return False


class ClientFaults(logging.Filter):
    """Turns Bokeh's reports of what a websocket client got wrong into short,
    throttled lines (see the module docstring)."""

    def __init__(self, throttle: Throttle | None = None):
        super().__init__()
        self.throttle = throttle or refusals

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if text.startswith("Refusing websocket connection from Origin"):
            origin = record.args[0] if record.args else "?"
            return self._line(record, "origin", f"refused a websocket from Origin {short(origin)}")
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            if _ours(record.exc_info[2]):
                return True  # a bug of ours: the traceback is wanted
            what = f"{type(exc).__name__}: {exc}"
            return self._line(record, "message", f"refused a websocket message ({short(what)[1:-1]})")
        if text.startswith("Bokeh Server "):  # "... error: ..., closing connection"
            return self._line(record, "closing", "closed a websocket after a message it could "
                                                 "not take")  # fmt: skip
        return True

    def _line(self, record: logging.LogRecord, kind: str, line: str) -> bool:
        quiet = self.throttle.allow(kind)
        if quiet is None:
            return False
        record.msg = line + more(quiet)
        record.args, record.exc_info, record.exc_text = (), None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_installed: ClientFaults | None = None


def install() -> ClientFaults:
    """Put one :class:`ClientFaults` on Bokeh's websocket loggers (once a process)."""
    global _installed
    if _installed is None:
        _installed = ClientFaults()
        for name in BOKEH_LOGGERS:
            logging.getLogger(name).addFilter(_installed)
    return _installed
