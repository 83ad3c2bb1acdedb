"""Plugins from a Client: ``register_plugin``, ``unregister_worker_plugin``, ``upload_file``.

:class:`PluginControl` holds these methods of :class:`~.core.Client` (a mixin: they
need only the client's ``sync`` and its ``scheduler`` rpc).

``register_plugin`` is Dask's one entry point for every kind: a
:class:`~shoal.distributed.scheduler.plugins.SchedulerPlugin` goes to the
scheduler (op ``register_scheduler_plugin``), a
:class:`~shoal.distributed.plugins.WorkerPlugin` (or any object with ``setup``,
``teardown`` or ``transition``) to the scheduler's register of worker plugins,
which sends it to every worker now and later (see
:mod:`shoal.distributed.scheduler.worker_plugins`).  Nanny plugins are not
implemented and say so.

Errors: a worker whose plugin ``setup`` (or ``teardown``, or the import of an
uploaded file) raised answers with the packed exception; the first such is
raised here as its own type (``RemoteTraceback`` cause: the worker's traceback),
with a note naming the plugin, the worker and how many others failed too.  The
plugin stays registered, as in Dask: a later worker still gets it, and
registering a fixed version under the same name replaces it.
"""

from __future__ import annotations

import os

from shoal.distributed.client.futures import rebuild_packed
from shoal.distributed.plugins import UPLOAD_SUFFIXES, UploadFile, is_worker_plugin, plugin_name
from shoal.distributed.protocol import Pickled
from shoal.local.remote_errors import RemoteTraceback

__all__ = ["PluginControl", "raise_worker_errors"]


class PluginControl:
    """``Client`` methods about plugins; see the module docstring."""

    def register_plugin(self, plugin, name=None, idempotent=None, asynchronous=None):
        """Register ``plugin`` on the scheduler (a ``SchedulerPlugin``) or on every worker,
        present and future (a ``WorkerPlugin``), under ``name`` (default: the plugin's
        ``name`` attribute, else its type's name and a uuid).  ``idempotent`` (default:
        the plugin's ``idempotent`` attribute, else False): do nothing when a plugin of
        that name is registered already; otherwise the older one is replaced.
        Returns ``{worker: {"status": "OK"}}`` for a worker plugin."""
        from shoal.distributed.scheduler.plugins import SchedulerPlugin

        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"register_plugin: name must be a non-empty str, got {name!r}")
        if idempotent is None:
            idempotent = getattr(plugin, "idempotent", False)
        if not isinstance(idempotent, bool):
            raise TypeError(f"register_plugin: idempotent must be a bool, got {idempotent!r}")
        if type(plugin).__name__ == "NannyPlugin" or getattr(plugin, "_shoal_nanny_plugin", False):
            raise NotImplementedError("register_plugin: nanny plugins are not supported by shoal; "
                                      "use a WorkerPlugin")  # fmt: skip
        if isinstance(plugin, SchedulerPlugin):
            return self.sync(self._register_scheduler_plugin, plugin, name or plugin_name(plugin),
                             idempotent, asynchronous=asynchronous)  # fmt: skip
        if not is_worker_plugin(plugin):
            raise TypeError(f"register_plugin: plugin must be a WorkerPlugin or a SchedulerPlugin, "
                            f"got {type(plugin).__name__}")  # fmt: skip
        return self.sync(self._register_worker_plugin, plugin, name or plugin_name(plugin),
                         idempotent, asynchronous=asynchronous)  # fmt: skip

    def register_worker_plugin(self, plugin=None, name=None, nanny=None, idempotent=None,
                               asynchronous=None):  # fmt: skip
        """Dask's older name of :meth:`register_plugin` for worker plugins (``nanny=True``
        is not supported)."""
        if plugin is None:
            raise TypeError("register_worker_plugin: plugin is missing")
        if nanny:
            raise NotImplementedError("register_worker_plugin(nanny=True): nanny plugins are "
                                      "not supported by shoal")  # fmt: skip
        return self.register_plugin(plugin, name=name, idempotent=idempotent,
                                    asynchronous=asynchronous)  # fmt: skip

    def unregister_worker_plugin(self, name, nanny=None, asynchronous=None):
        """Forget the worker plugin ``name``: every worker calls its ``teardown``; later
        workers no longer get it.  An unknown name is a ``ValueError``."""
        if nanny:
            raise NotImplementedError("unregister_worker_plugin(nanny=True): nanny plugins are "
                                      "not supported by shoal")  # fmt: skip
        if not isinstance(name, str):
            raise TypeError(f"unregister_worker_plugin: name must be a str, got {name!r}")
        return self.sync(self._unregister_worker_plugin, name, asynchronous=asynchronous)

    def upload_file(self, filename, load=True, asynchronous=None):
        """Send the ``.py``, ``.egg`` or ``.zip`` file ``filename`` to every worker, now and
        later: it lands in the worker's local directory, which is first on ``sys.path``;
        with ``load`` the module (an archive's top-level modules) is imported, or reloaded
        when it was imported before.  ``{worker: {"status": "OK"}}``; a failed import
        raises its error naming the worker."""
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"upload_file: filename must be a path, got {type(filename).__name__}")
        path = os.fspath(filename)
        base = os.path.basename(path)
        if not base.endswith(UPLOAD_SUFFIXES):
            raise ValueError(f"upload_file: filename {path!r} must end with one of "
                             f"{', '.join(UPLOAD_SUFFIXES)}")  # fmt: skip
        if not os.path.isfile(path):
            raise FileNotFoundError(f"upload_file: no file {path!r}")
        with open(path, "rb") as f:
            plugin = UploadFile(base, f.read(), load=load)
        return self.sync(self._register_worker_plugin, plugin, plugin.name, False,
                         asynchronous=asynchronous)  # fmt: skip

    async def _register_worker_plugin(self, plugin, name: str, idempotent: bool) -> dict:
        replies = await self.scheduler.register_worker_plugin(
            plugin=Pickled(plugin), name=name, idempotent=idempotent)
        raise_worker_errors(replies, f"worker plugin {name!r}")
        return replies

    async def _unregister_worker_plugin(self, name: str) -> dict:
        replies = await self.scheduler.unregister_worker_plugin(name=name)
        raise_worker_errors(replies, f"teardown of worker plugin {name!r}")
        return replies

    async def _register_scheduler_plugin(self, plugin, name: str, idempotent: bool):
        if idempotent:
            here = await self.scheduler.run_function(
                function=Pickled(_has_scheduler_plugin), args=Pickled((name,)), kwargs=Pickled({}))
            if _loaded(here):
                return name
        return await self.scheduler.register_scheduler_plugin(plugin=Pickled(plugin), name=name)


def _has_scheduler_plugin(name, dask_scheduler=None) -> bool:
    return name in dask_scheduler.plugins


def _loaded(value):
    from shoal.distributed.protocol import Serialized, deserialize

    return deserialize(value) if isinstance(value, Serialized) else value


def raise_worker_errors(replies: dict, what: str) -> None:
    """Raise the first worker error among ``replies`` (``{worker: reply}``), noting which
    worker (and how many others) it came from."""
    failed = [(w, r) for w, r in replies.items()
              if isinstance(r, dict) and r.get("status") == "error"]  # fmt: skip
    if not failed:
        return
    worker, reply = failed[0]
    exc, tb, stage = rebuild_packed(reply["exception"])
    exc.__cause__ = RemoteTraceback(tb)
    others = f" (and on {len(failed) - 1} other worker(s): {[w for w, _ in failed[1:]]})" if len(
        failed) > 1 else ""  # fmt: skip
    exc.add_note(f"shoal: {what} failed ({stage}) on worker {worker}{others}")
    raise exc
