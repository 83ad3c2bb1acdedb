"""Pickling what a client sends: task run_specs and scattered values, fast.

A ``map`` of 10,000 calls sends 10,000 run_specs, each its own payload (the
scheduler forwards each one to a different worker).  ``cloudpickle`` costs tens
of microseconds per call (its reducer hook runs in Python for every object) and
pickles a function defined in ``__main__`` *by value*, again for every task.
So each payload is pickled in the cheapest way that is still correct::

    1. plain pickle, protocol 5           the common case: importable functions, plain data
       accepted unless the stream names ``__main__`` (a reference the worker could not
       resolve) or modules were registered with cloudpickle.register_pickle_by_value
    2. for a Task whose function must travel by value: the function is cloudpickled
       ONCE per message (cached in the ``blobs`` dict its caller passes for one
       ``update-graph``: a cache kept across messages sent a notebook function with
       the globals it had when first submitted, and kept its closure alive) and the
       task is rebuilt on the worker by
       ``_rebuild_task(key, _load_func(blob), args, kwargs)``; ``_load_func`` unpickles
       each distinct blob under 64 KiB once per worker process (a small cache; a
       bigger one carries data and is not kept), so 10,000 tasks of one lambda
       cost one cloudpickle on each side
    3. cloudpickle, protocol 5            everything else

The result is a :class:`~shoal.distributed.protocol.Serialized` with the same
header and frame layout as ``protocol.serialize`` (large buffers out of band,
zero copy), so receivers unpickle it with ``protocol.deserialize`` unchanged.
"""

from __future__ import annotations

import pickle

import cloudpickle

from shoal.core.spec import Task
from shoal.distributed.protocol import Serialized
from shoal.distributed.protocol.serialize import pickle_frames

__all__ = ["dumps_payload", "dumps_task"]

_MAIN = b"__main__"
_FUNCS: dict = {}  # blob -> function (worker side)
_CACHE_SIZE = 256
_CACHE_BLOB_BYTES = 64 * 1024  # a bigger blob carries data (a closure over an array): not kept


def _by_value_modules() -> bool:
    registry = getattr(getattr(cloudpickle, "cloudpickle", None), "_PICKLE_BY_VALUE_MODULES", None)
    return bool(registry)


_HEADERS: dict = {}  # type -> header (shared: nobody changes a header)


def _header(obj) -> dict:
    cls = type(obj)
    header = _HEADERS.get(cls)
    if header is None:
        header = {"serializer": "pickle", "type": f"{cls.__module__}.{cls.__qualname__}"}
        if len(_HEADERS) < _CACHE_SIZE:
            _HEADERS[cls] = header
    return header


def _plain(obj, allowed_main: int = 0) -> list | None:
    """Frames from plain pickle, or None when it fails or would be wrong remotely."""
    if _by_value_modules():
        return None
    try:
        frames = pickle_frames(obj, pickle.dumps)
    except Exception:  # not picklable by reference: a lambda, a local class, ...
        return None
    if frames[0].count(_MAIN) > allowed_main:
        return None
    return frames


def dumps_payload(obj) -> Serialized:
    """Pickle any value (a scattered value, a foreign node, a function)."""
    frames = _plain(obj)
    if frames is None:
        frames = pickle_frames(obj, cloudpickle.dumps)
    return Serialized(_header(obj), frames)


def dumps_task(node, blobs: dict | None = None) -> Serialized:
    """Pickle one graph node (a ``Task``, ``Data``, ``Alias``, ``Fused`` or Dask's).

    *blobs*: function -> ``(cloudpickled bytes, count of __main__)`` shared by the
    nodes of one message; None pickles a by-value function afresh."""
    blobs = {} if blobs is None else blobs
    frames = None
    if type(node) is Task:
        try:
            known = blobs.get(node.func)  # a function seen travelling by value before
        except TypeError:
            known = None
        if known is not None:
            frames = _plain(_BlobTask(node, known[0]), allowed_main=known[1])
    if frames is None:
        frames = _plain(node)
    if frames is None and type(node) is Task:
        frames = _task_with_blob(node, blobs)
    if frames is None:
        frames = pickle_frames(node, cloudpickle.dumps)
    return Serialized(_header(node), frames)


def _task_with_blob(task: Task, blobs: dict) -> list | None:
    known = _func_blob(task.func, blobs)
    if known is None:
        return None
    return _plain(_BlobTask(task, known[0]), allowed_main=known[1])


def _func_blob(func, blobs: dict) -> tuple | None:
    """``(cloudpickled func, times it mentions __main__)``, cached in *blobs*."""
    try:
        known = blobs.get(func)
    except TypeError:  # an unhashable callable object
        return None
    if known is None:
        try:
            blob = cloudpickle.dumps(func, protocol=5)
        except Exception:
            return None  # let the whole-task cloudpickle raise the precise error
        known = blobs[func] = (blob, blob.count(_MAIN))
    return known


class _BlobTask:
    """Pickles as ``Task(key, <function from blob>, *args, **kwargs)``."""

    __slots__ = ("task", "blob")

    def __init__(self, task: Task, blob: bytes):
        self.task, self.blob = task, blob

    def __reduce__(self):
        t = self.task
        return (_rebuild_task, (t.key, _FuncBlob(self.blob), t.args, t.kwargs))


class _FuncBlob:
    __slots__ = ("blob",)

    def __init__(self, blob: bytes):
        self.blob = blob

    def __reduce__(self):
        return (_load_func, (self.blob,))


def _load_func(blob: bytes):
    """The function pickled in ``blob``; each distinct small blob is unpickled once (a
    large one each time: kept, 256 of them held a long-lived worker's memory for good)."""
    func = _FUNCS.get(blob)
    if func is None:
        func = pickle.loads(blob)
        if len(blob) > _CACHE_BLOB_BYTES:
            return func
        if len(_FUNCS) >= _CACHE_SIZE:
            _FUNCS.clear()
        _FUNCS[blob] = func
    return func


def _rebuild_task(key, func, args, kwargs):
    return Task(key, func, *args, **kwargs)
