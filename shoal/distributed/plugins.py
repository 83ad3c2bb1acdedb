"""Worker plugins: user code that every worker of a cluster runs, now and later.

::

    Client.register_plugin(p) --register_worker_plugin--> Scheduler.worker_plugins[name] (kept pickled)
                                                             |  plugin_add to every worker now
                                                             '  and in each later worker's
                                                                registration reply (scale,
                                                                nanny restart)
    Worker.plugins[name] = p; p.setup(worker)   ... p.transition(key, start, finish) per task
                                                    state change ... p.teardown(worker)

:class:`WorkerPlugin` is the base class (every hook optional; the names and
arguments are Dask's, so Dask plugins port unchanged).  The scheduler never
unpickles a worker plugin: it forwards the bytes, so a plugin may use modules
only the workers have.  Each worker unpickles its own copy.

:class:`UploadFile` is the built-in plugin behind ``Client.upload_file``: it
carries a ``.py``, ``.egg`` or ``.zip`` file's bytes, writes them into the
worker's ``local_directory`` (put first on ``sys.path``) and, with ``load``,
imports the module again (``importlib.reload`` when it was imported before), so a
helper module edited in a notebook and uploaded again takes effect.  The stale
bytecode of a previous upload is removed first: a file rewritten within the same
second with the same size would otherwise load the old code from ``__pycache__``.

Nanny plugins (Dask's ``NannyPlugin``) are not implemented: ``register_plugin``
says so.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import uuid
import zipfile

__all__ = ["UPLOAD_SUFFIXES", "UploadFile", "WorkerPlugin", "is_worker_plugin", "plugin_name"]

#: the file kinds ``Client.upload_file`` sends
UPLOAD_SUFFIXES = (".py", ".egg", ".zip")


class WorkerPlugin:
    """Subclass and override the hooks you need; every hook is optional.

    ``setup`` and ``teardown`` may be ``async def``; they run on the worker's event
    loop, as does ``transition`` (keep it cheap: it runs on every task state change).
    Set ``name`` (a class or instance attribute) to give the plugin a fixed name:
    registering a plugin under a name already used replaces the older one
    (unless ``idempotent``, when the newer is dropped)."""

    name: str | None = None
    idempotent: bool = False

    def setup(self, worker) -> None:
        """Called on each worker when the plugin reaches it (now, or when it joins)."""

    def teardown(self, worker) -> None:
        """Called when the plugin is unregistered or replaced, or its worker closes."""

    def transition(self, key, start: str, finish: str, **kwargs) -> None:
        """A task of this worker went from state ``start`` to ``finish``."""


def is_worker_plugin(plugin) -> bool:
    """A :class:`WorkerPlugin`, or an object that quacks like one (has ``setup``,
    ``teardown`` or ``transition``) and is no scheduler plugin."""
    if isinstance(plugin, WorkerPlugin):
        return True
    from shoal.distributed.scheduler.plugins import SchedulerPlugin

    if isinstance(plugin, (type, SchedulerPlugin)):
        return False
    return any(callable(getattr(plugin, hook, None)) for hook in ("setup", "teardown", "transition"))


def plugin_name(plugin) -> str:
    """The plugin's ``name`` if it has one, else its type's name and a fresh uuid (so two
    unnamed plugins never replace each other)."""
    name = getattr(plugin, "name", None)
    if name is not None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"plugin.name must be a non-empty str, got {name!r}")
        return name
    return f"{type(plugin).__name__}-{uuid.uuid4()}"


def overrides(plugin, hook: str) -> bool:
    """Whether ``plugin`` has its own ``hook`` (not :class:`WorkerPlugin`'s empty one)."""
    mine = getattr(type(plugin), hook, None)
    if mine is None:
        return callable(getattr(plugin, hook, None))  # (set on the instance)
    return mine is not getattr(WorkerPlugin, hook, None)


class UploadFile(WorkerPlugin):
    """Write ``data`` as ``filename`` into each worker's local directory and import it
    (``load``); see the module docstring.  ``Client.upload_file`` makes these."""

    def __init__(self, filename: str, data: bytes, load: bool = True):
        base = os.path.basename(filename)
        if not base or base != filename:
            raise ValueError(f"UploadFile: filename must be a bare file name, got {filename!r}")
        if not base.endswith(UPLOAD_SUFFIXES):
            raise ValueError(f"UploadFile: filename {filename!r} must end with one of "
                             f"{', '.join(UPLOAD_SUFFIXES)}")  # fmt: skip
        self.filename, self.data, self.load = base, bytes(data), bool(load)
        self.name = f"upload-file-{base}"

    def setup(self, worker) -> None:
        directory = worker.local_directory
        if not directory:
            raise RuntimeError(f"worker {worker.address} has no local directory to upload into")
        path = os.path.join(directory, self.filename)
        partial = f"{path}.{uuid.uuid4().hex}.part"
        with open(partial, "wb") as f:  # (a reader never sees half a file)
            f.write(self.data)
        os.replace(partial, path)
        _first_on_path(directory)
        if self.filename.endswith(".py"):
            names = [self.filename[:-3]]
            stale = importlib.util.cache_from_source(path)
            if os.path.exists(stale):
                os.remove(stale)
        else:
            _first_on_path(path)
            sys.path_importer_cache.pop(path, None)  # (a zipimporter of the old archive)
            with zipfile.ZipFile(path) as archive:
                names = _top_level_names(archive.namelist())
        importlib.invalidate_caches()
        if self.load:
            for name in names:
                module = sys.modules.get(name)
                if module is not None:
                    _forget_submodules(name)
                    importlib.reload(module)
                else:
                    importlib.import_module(name)

    def teardown(self, worker) -> None:
        if not self.filename.endswith(".py") and worker.local_directory:
            _off_path(os.path.join(worker.local_directory, self.filename))
        if worker.status in ("closing", "closed") and worker.local_directory:
            _off_path(worker.local_directory)  # (its directory is removed with it)

    def __repr__(self) -> str:
        return f"<UploadFile {self.filename!r} {len(self.data)} bytes load={self.load}>"


def _first_on_path(entry: str) -> None:
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)


def _off_path(entry: str) -> None:
    while entry in sys.path:
        sys.path.remove(entry)
    sys.path_importer_cache.pop(entry, None)


def _top_level_names(members: list) -> list:
    """Modules and packages at the root of an archive: ``mod.py``, ``pkg/__init__.py``."""
    names = []
    for member in members:
        parts = member.split("/")
        if len(parts) == 1 and member.endswith(".py"):
            names.append(member[:-3])
        elif len(parts) == 2 and parts[1] == "__init__.py" and parts[0].isidentifier():
            names.append(parts[0])
    return sorted(set(n for n in names if n.isidentifier()))


def _forget_submodules(name: str) -> None:
    """Drop a package's submodules, so that reloading the package imports them anew."""
    for other in [m for m in sys.modules if m.startswith(name + ".")]:
        del sys.modules[other]
