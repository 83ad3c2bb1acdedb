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
carries the worker's line number and the offset 0 of an instruction whose
position is that line with no columns (an offset of -1 sends IPython's
``executing`` into an endless loop).  The source lines come, as for any traceback, from the file when it
exists here.  Lines the text folded (``[Previous line repeated N more times]``)
are not repeated.
"""

from __future__ import annotations

import re
import types

__all__ = ["parse_frames", "traceback_from_text"]

_FRAME = re.compile(r'^  File "(?P<file>.+)", line (?P<line>\d+), in (?P<name>.+)$')
_HEADER = "Traceback (most recent call last):"
_GROUP_HEADER = "+ Exception Group " + _HEADER
_SEPARATORS = ("The above exception was the direct cause of the following exception:",
               "During handling of the above exception, another exception occurred:")


def parse_frames(text: str) -> list:
    """``[(filename, lineno, function), ...]`` of the last traceback in ``text`` (the
    raised exception's: ``format_exception`` writes its causes and contexts first)."""
    lines = text.splitlines()
    start, group = 0, False
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    for i, line in enumerate(lines):  # a chain's traceback begins the text or follows a
        # separator; a header in an exception's message (a child's traceback) does neither
        if line.strip() in (_HEADER, _GROUP_HEADER) and (
                i == first or i >= 2 and lines[i - 2] in _SEPARATORS):
            start, group = i + 1, line.strip() == _GROUP_HEADER
    frames = []
    for line in lines[start:]:
        if group and line.startswith("  | "):  # (an exception group's own frames)
            line = line[4:]
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
        tb = types.TracebackType(tb, _stand_in_frame(filename, name, lineno), 0, lineno)
    return tb


def _stand_in():
    yield


def _stand_in_frame(filename: str, name: str, lineno: int):
    """A frame whose code names ``filename``, the function ``name`` and, for each of its
    instructions, the line ``lineno`` and no columns: an unstarted generator's frame,
    so that it has no caller (``f_back`` None, keeping nothing of ours alive), its code
    never runs and its ``f_lineno`` is the worker's (IPython reads that)."""
    code = _stand_in.__code__
    units = len(code.co_code) // 2  # (line table: 0xE8|n-1, 0 = n units, same line, no columns)
    table = b"".join(bytes((0xE8 | (min(8, units - i) - 1), 0)) for i in range(0, units, 8))
    code = code.replace(co_filename=filename, co_name=name, co_qualname=name,
                        co_firstlineno=lineno, co_linetable=table)  # fmt: skip
    return types.FunctionType(code, {"__name__": "<remote>"})().gi_frame
