"""A traceback *object* made again from another process's traceback *text*.

A worker sends its exception's traceback as the text
``traceback.format_exception`` wrote (see :mod:`shoal.local.remote_errors`):
frames cannot travel.  ``Future.traceback()`` gives, as Dask's does, a real
traceback object, so that ``traceback.format_tb`` / ``print_tb`` /
``extract_tb`` show the worker's frames.  :func:`traceback_from_text` makes one:

    text  --parse_frames-->  [(filename, lineno, function), ...]   (the last exception's)
          --stand-in frames-->  TracebackType chain, oldest call first

A stand-in frame is the frame of a tiny function whose code object carries the
worker's file name and function name (``code.replace``); each traceback entry
carries the worker's line number and no instruction offset, so that nothing
reads a position in the stand-in's own code.  The source lines come, as for
any traceback, from the file when it exists here.  Lines the text folded
(``[Previous line repeated N more times]``) are not repeated.
"""

from __future__ import annotations

import re
import sys
import types

__all__ = ["parse_frames", "traceback_from_text"]

_FRAME = re.compile(r'^  File "(?P<file>.+)", line (?P<line>\d+), in (?P<name>.+)$')
_HEADER = "Traceback (most recent call last):"


def parse_frames(text: str) -> list:
    """``[(filename, lineno, function), ...]`` of the last traceback in ``text`` (the
    raised exception's: ``format_exception`` writes its causes and contexts first)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == _HEADER]
    frames = []
    for line in lines[starts[-1] + 1 if starts else 0:]:
        found = _FRAME.match(line)
        if found:
            frames.append((found["file"], int(found["line"]), found["name"]))
        elif line and not line.startswith(" "):  # the exception's own line: the end
            break
    return frames


def traceback_from_text(text):
    """A traceback object of the frames in ``text``; None for no text or no frames."""
    if not isinstance(text, str):
        return None
    tb = None
    for filename, lineno, name in reversed(parse_frames(text)):
        tb = types.TracebackType(tb, _stand_in_frame(filename, name), -1, lineno)
    return tb


def _frame_here():
    return sys._getframe()


def _stand_in_frame(filename: str, name: str):
    """A frame whose code names ``filename`` and the function ``name``."""
    code = _frame_here.__code__.replace(co_filename=filename, co_name=name, co_qualname=name)
    return types.FunctionType(code, {"sys": sys, "__name__": "<remote>"})()
