"""More ready-made worker plugins, spelled as Dask's: :class:`UploadDirectory`,
:class:`Environ` and :class:`PipInstall`.

Dask makes both nanny plugins: the nanny unpacks the directory or sets the
environment, then restarts its worker process so that the new process starts
with them.  shoal has no nanny plugins, so both are worker plugins (see
:mod:`shoal.distributed.plugins`) that act inside the worker process itself,
now and in every worker that joins or restarts later (the scheduler hands its
plugins to each registering worker):

- ``UploadDirectory(path)`` zips the directory here (skipping files whose path in
  it has a part in ``skip_words``, or for which a ``skip`` predicate is true) and unpacks
  it into each worker's ``local_directory``; ``update_path`` puts the unpacked
  directory first on ``sys.path``.  ``restart_workers`` (Dask's old name
  ``restart`` too) cannot restart from inside the worker: instead, modules already
  imported from an earlier upload of that directory are forgotten, so that the
  next import reads the new files.
- ``Environ(environ)`` sets ``os.environ`` in each worker process (values as str).
  Code that read a variable before (at import, say) keeps what it read: unlike
  Dask's, the process is not started anew.
- ``PipInstall(packages, pip_options)`` runs ``python -m pip install`` with the
  worker's own interpreter (:mod:`.pipinstall`).
"""

from __future__ import annotations

import io
import os
import sys
import zipfile

from shoal.distributed.pipinstall import PipInstall
from shoal.distributed.plugins import WorkerPlugin

__all__ = ["Environ", "PipInstall", "UploadDirectory"]

#: path parts ``UploadDirectory`` leaves out by default (Dask's)
SKIP_WORDS = (".git", ".github", ".pytest_cache", "tests", "docs")


def _is_bytecode(filename: str) -> bool:
    return os.path.splitext(filename)[1] == ".pyc"


class UploadDirectory(WorkerPlugin):
    """Copy a local directory into every worker's local directory; see the module
    docstring for what differs from Dask's."""

    def __init__(self, path, restart_workers=False, update_path=False, skip_words=SKIP_WORDS,
                 skip=(_is_bytecode,), mode="workers", *, restart=None):  # fmt: skip
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"UploadDirectory: path must be a directory path, got {path!r}")
        path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if not os.path.isdir(path):
            raise ValueError(f"UploadDirectory: path {path!r} is not a directory")
        if mode != "workers":
            raise NotImplementedError(f"UploadDirectory: mode={mode!r}: shoal uploads to the "
                                      "workers only (mode='workers')")  # fmt: skip
        self.path = os.path.basename(path)
        self.restart_workers = bool(restart_workers if restart is None else restart)
        self.update_path = bool(update_path)
        self.name = f"upload-directory-{self.path}"
        self.data = zip_directory(path, tuple(skip_words), tuple(skip))

    def setup(self, worker) -> None:
        directory = worker.local_directory
        if not directory:
            raise RuntimeError(f"worker {worker.address} has no local directory to upload into")
        with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
            archive.extractall(directory)
        target = os.path.join(directory, self.path)
        if self.restart_workers:
            _forget_modules_under(target)
        if self.update_path and target not in sys.path:
            sys.path.insert(0, target)

    def __repr__(self) -> str:
        return f"<UploadDirectory {self.path!r} {len(self.data)} bytes>"


def zip_directory(path: str, skip_words: tuple, skip: tuple) -> bytes:
    """The files under ``path`` zipped, named from ``path``'s own name down."""
    parent = os.path.dirname(path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, _dirs, files in os.walk(path):
            for file in files:
                filename = os.path.join(root, file)
                if any(predicate(filename) for predicate in skip):
                    continue
                parts = os.path.relpath(filename, path).split(os.sep)  # (not the folders above)
                if any(word in parts for word in skip_words):
                    continue
                archive.write(filename, os.path.relpath(filename, parent))
    return buffer.getvalue()


def _forget_modules_under(directory: str) -> None:
    """Drop the imported modules whose file lies under ``directory``."""
    prefix = os.path.join(os.path.realpath(directory), "")
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if filename and os.path.realpath(filename).startswith(prefix):
            del sys.modules[name]


class Environ(WorkerPlugin):
    """Set environment variables in every worker process (see the module docstring)."""

    def __init__(self, environ: dict | None = None):
        if environ is None:
            environ = {}
        if not isinstance(environ, dict) or not all(isinstance(k, str) for k in environ):
            raise TypeError(f"Environ: environ must be a dict with str keys, got {environ!r}")
        self.environ = {k: str(v) for k, v in environ.items()}

    def setup(self, worker) -> None:
        os.environ.update(self.environ)

    def __repr__(self) -> str:
        return f"<Environ {sorted(self.environ)}>"
