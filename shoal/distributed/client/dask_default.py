"""While a shoal Client is the default, Dask's own ``compute`` and ``persist`` go to it.

A Dask user who swaps ``from dask.distributed import Client`` for shoal's keeps
writing ``df.x.mean().compute()``.  Dask picks its scheduler from its config
(``scheduler``), so a running default client writes itself there, as
dask.distributed's Client does, and takes it back as the last default client stops::

    first default client registers   -> dask loaded?   yes: set Dask's config now
                                                       no:  set it once ``dask.base`` is
                                                            imported (a finder on sys.meta_path)
    last default client unregisters  -> Dask's config values put back, where still ours

What goes into Dask's config is :data:`SCHEDULER`, one object that asks
:func:`~shoal.distributed.client.current.default_client` at each call: the client
that is the default *then* (``as_current`` blocks included) computes.  It has a
``persist`` too, which ``dask.persist`` prefers to a plain ``get``: Dask's collections
persist onto futures, as on dask.distributed.

Dask's dataframes shuffle on disk unless a dask.distributed client runs; a shoal
cluster's workers share no disk, so ``dataframe.shuffle.method`` becomes ``"tasks"``
while a shoal client is the default, unless the user chose one.  And
``compute(scheduler="distributed")`` names the default client too: Dask looks that
name up in ``dask.base.named_schedulers`` before it asks dask.distributed's Client.

shoal never imports Dask: Dask's modules are taken from ``sys.modules`` once the
user (or a library) imported them.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading

__all__ = ["SCHEDULER", "client_registered", "clients_gone"]


class DefaultClientScheduler:
    """Dask's ``scheduler`` while a shoal client is the default: the default client's
    ``get`` and ``persist``, looked up at each call."""

    def __call__(self, dsk, keys, **kwargs):
        return _client("compute").get(dsk, keys, **kwargs)

    def persist(self, collections, **kwargs):
        return _client("persist").persist(collections, **kwargs)

    def __repr__(self) -> str:
        return "<the default shoal Client>"


def _client(verb: str):
    from shoal.distributed.client.current import default_client  # (current imports this module)

    client = default_client()
    if client.asynchronous:
        raise RuntimeError(f"Dask's {verb} was called with an asynchronous shoal Client as the "
                           f"default: use `await client.{verb}(...)` instead")  # fmt: skip
    return client


SCHEDULER = DefaultClientScheduler()


class _ByName(DefaultClientScheduler):
    """Dask's "distributed" while a shoal client is the default: a dask.distributed
    Client of this process, where one runs, keeps its name (its config says
    ``scheduler="dask.distributed"``); else the default shoal client."""

    def __call__(self, dsk, keys, **kwargs):
        theirs = _dask_distributed_client()
        return (theirs or _client("compute")).get(dsk, keys, **kwargs)

    def persist(self, collections, **kwargs):
        theirs = _dask_distributed_client()
        return (theirs or _client("persist")).persist(collections, **kwargs)


def _dask_distributed_client():
    module = sys.modules.get("distributed.client")  # (imported by the user, if at all)
    try:
        return module.Client.current(allow_global=True) if module is not None else None
    except ValueError:  # (none running)
        return None


BY_NAME = _ByName()

_lock = threading.Lock()
_active = False
_saved: dict = {}  # Dask config key -> (value before, value we set)
_NAMES = ("distributed", "dask.distributed")  # compute(scheduler="distributed")
_named: list = []  # those of _NAMES added to Dask's table of named schedulers


def _wanted(settings) -> dict:
    """The Dask config values a default shoal client sets."""
    wanted = {"scheduler": SCHEDULER}
    if settings.get("dataframe.shuffle.method", None) is None:
        wanted["dataframe.shuffle.method"] = "tasks"
    return wanted


def _apply(settings, base) -> None:
    """Set Dask's config (module ``dask.config``), keeping what it held, and name the
    default client "distributed" in ``dask.base``'s table of schedulers (Dask asks
    dask.distributed's own Client for that name, and there is none)."""
    for key, value in _wanted(settings).items():
        _saved[key] = (settings.get(key, None), value)
        settings.set({key: value})
    table = getattr(base, "named_schedulers", None)
    if isinstance(table, dict):
        _named.extend(name for name in _NAMES if table.setdefault(name, BY_NAME) is BY_NAME)


def _restore(settings, base) -> None:
    for key, (before, ours) in _saved.items():
        if settings.get(key, None) is ours:  # (the user changed it since: theirs stays)
            settings.set({key: before})
    _saved.clear()
    table = getattr(base, "named_schedulers", None)
    for name in _named if isinstance(table, dict) else ():
        if table.get(name) is BY_NAME:
            del table[name]
    _named.clear()


def client_registered() -> None:
    """A client became a default: Dask's config points at the default client."""
    global _active
    with _lock:
        if _active:
            return
        _active = True
        base = sys.modules.get("dask.base")  # (imported after dask.config)
        if base is not None:
            _apply(sys.modules["dask.config"], base)
        elif _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)


def clients_gone() -> None:
    """No default client is left: Dask's config is as before (where still ours)."""
    global _active
    with _lock:
        if not _active:
            return
        _active = False
        if _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
        if _saved or _named:
            _restore(sys.modules["dask.config"], sys.modules.get("dask.base"))


def _imported(base) -> None:
    with _lock:
        if _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
        if _active and not _saved:
            _apply(sys.modules["dask.config"], base)


class _AfterDaskBase(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``dask.base`` (which imports ``dask.config``) is being
    imported, lets the other finders find it and runs :func:`_imported` once its module
    has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "dask.base":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Then(spec.loader)
                return spec
        return None


class _Then(importlib.abc.Loader):
    """A loader that runs another, then tells this module."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        _imported(module)

    def __getattr__(self, name):  # get_source, get_filename...: the real loader's
        return getattr(self.loader, name)


_FINDER = _AfterDaskBase()
