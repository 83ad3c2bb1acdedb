"""How shoal starts its own Python processes: pool workers, nanny workers, the dashboard.

::

    parent: python_command("shoal.local._worker", args, report_fd)
      -> python [the parent's flags] -c BOOT  N path_1 .. path_N  REPORT_FD  MODULE  args
    child (BOOT, before it imports anything):
      drop the '' that -c put first (the working directory)
      sys.path = its own entries the parent also has, in its order, then the parent's others
      run MODULE as __main__; an exception that ends it is also written to REPORT_FD

Why not ``python -m MODULE``: ``-m`` puts the working directory first on ``sys.path``,
so a folder holding a ``random.py``, ``token.py`` or ``email.py`` shadowed the
standard library in every child, which died at import, while the parent (a script
run from elsewhere, ``python -I``, a kernel) never saw that file.  Here the standard
library and site-packages come first, as they did when the parent started, and the
parent's other entries (its script's folder, a source folder a notebook added) follow,
so shoal and the user's modules are found.  The child module then applies the
parent's exact ``sys.path`` (pool ``init`` message, nanny worker spec) before it
unpickles user code.  Entries only the child's environment adds (``PYTHONPATH`` of a
parent run with ``-E``/``-I``) are dropped.  ``-I``/``-E``/``-P`` are not passed on:
``-E`` would ignore the ``PYTHONHASHSEED`` that makes workers agree on ``hash()``.

A deleted working directory: :func:`working_directory` is None, children start in
the temporary directory, and relative ``sys.path`` entries (``''``: the deleted folder,
which imports nothing in the parent either) are not sent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

__all__ = ["BOOT", "python_command", "read_report", "search_path", "start_directory",
           "working_directory"]  # fmt: skip

#: The child's first code (it runs with nothing imported but ``sys``).
BOOT = """\
import sys
if not getattr(sys.flags, "safe_path", False):
    del sys.path[0]
n = int(sys.argv[1])
parent, report = sys.argv[2:2 + n], int(sys.argv[2 + n])
del sys.argv[1:3 + n]
sys.path[:] = [p for p in sys.path if p in parent] + [p for p in parent if p not in sys.path]
import os, runpy
if report >= 0:
    os.set_inheritable(report, False)
try:
    runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
except BaseException as exc:
    if report >= 0 and not isinstance(exc, SystemExit):
        import traceback
        os.write(report, "".join(traceback.format_exception(exc))[-8000:].encode(errors="replace"))
    raise
"""

#: Characters of a child's last error that messages quote.
REPORT_TAIL = 2000


def working_directory() -> str | None:
    """This process's working directory; None when it was deleted."""
    try:
        return os.getcwd()
    except FileNotFoundError:
        return None


def start_directory(cwd: str | None) -> str:
    """Where a child starts: *cwd*, or the temporary directory when it is gone."""
    return cwd or tempfile.gettempdir()


def search_path(cwd: str | None) -> list:
    """This process's ``sys.path`` as a child receives it (*cwd*: see
    :func:`working_directory`; without one, relative entries mean nothing).  Strings only:
    imports skip other entries (a Path, None), which no command line or JSON spec takes."""
    return [p for p in sys.path if isinstance(p, str) and (cwd is not None or os.path.isabs(p))]


def _flags() -> list:
    flags = [f for f in subprocess._args_from_interpreter_flags() if f not in ("-I", "-E", "-P")]
    if sys.flags.no_user_site and "-s" not in flags:
        flags.append("-s")  # (-I implies it)
    return flags


def python_command(module: str, args=(), report_fd: int = -1, path=None) -> list:
    """The command line that runs *module* with *args* in a child (see the module
    docstring); *path*: the parent's ``sys.path`` (default: :func:`search_path`)."""
    if not sys.executable:  # (an embedded interpreter: Popen said "Permission denied: ''")
        raise RuntimeError("shoal cannot start a Python child process (for process workers or "
                           "the dashboard): sys.executable is empty in this interpreter")
    path = search_path(working_directory()) if path is None else list(path)
    return [sys.executable, *_flags(), "-c", BOOT, str(len(path)), *path, str(report_fd),
            module, *map(str, args)]  # fmt: skip


def read_report(fd: int) -> str:
    """The tail of what a child wrote to its report pipe (read end *fd*, closed here)
    before it ended: its last error, or ``''``.  Never blocks: the child is gone, so
    what it wrote is there (a process it forked may still hold the write end)."""
    chunks = []
    try:
        os.set_blocking(fd, False)
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace").strip()[-REPORT_TAIL:]
