"""Client methods that look inside the running cluster, in Dask's spelling:
``processing``, ``nbytes``, ``call_stack``, ``set_metadata`` / ``get_metadata`` and
``dump_cluster_state``.

:class:`Introspects` holds them for :class:`~.core.Client` (through
:class:`~.control.ClusterControl`; it needs the client's ``sync`` and ``scheduler``
rpc).  Each is one request to the scheduler (``scheduler/introspection.py``),
which asks the workers where it must (``worker/introspection.py``: the stacks of
running tasks, each worker's state).

``dump_cluster_state`` writes the file on this side by default (the scheduler
sends the state), or on the scheduler's with ``write_from_scheduler=True``; only
local paths are written (no fsspec URLs).  The file is
:mod:`shoal.distributed.clusterdump`'s, read back with its ``read_state``.
"""

from __future__ import annotations

from shoal.distributed import clusterdump
from shoal.distributed.client.waiting import futures_of

__all__ = ["Introspects"]

_NO_DEFAULT = object()


class Introspects:
    """``Client`` introspection methods; see the module docstring."""

    def processing(self, workers=None, asynchronous=None):
        """``{worker address: [keys of the tasks it is running]}`` (of ``workers`` only:
        addresses or names)."""
        return self.sync(self.scheduler.processing, workers=_addresses(workers, "processing"),
                         asynchronous=asynchronous)  # fmt: skip

    def nbytes(self, keys=None, summary=True, asynchronous=None):
        """The bytes of each result in memory (of ``keys`` only), ``{key: bytes}``;
        with ``summary`` (the default) summed per key prefix, ``{"inc": 84}``."""
        if keys is not None:
            if isinstance(keys, (str, tuple)) or not hasattr(keys, "__iter__"):
                raise TypeError(f"nbytes: keys must be a list of keys, got {keys!r}")
            keys = [getattr(k, "key", k) for k in keys]
        return self.sync(self.scheduler.nbytes, keys=keys, summary=bool(summary),
                         asynchronous=asynchronous)  # fmt: skip

    def call_stack(self, futures=None, keys=None, asynchronous=None):
        """``{worker: {key: [traceback lines]}}`` of the tasks running now: those of
        ``futures`` (futures or collections) and ``keys``, or all of them."""
        if keys is not None and (isinstance(keys, str) or not hasattr(keys, "__iter__")):
            raise TypeError(f"call_stack: keys must be a list of keys, got {keys!r}")
        wanted = list(keys or ())
        if futures is not None:
            wanted += list({f.key: None for f in futures_of(futures)})
        return self.sync(self.scheduler.call_stack, keys=wanted or None, asynchronous=asynchronous)

    def set_metadata(self, key, value, asynchronous=None):
        """Keep ``value`` (small msgpack-able data) on the scheduler under ``key``; a
        list ``["a", "b"]`` sets ``metadata["a"]["b"]``, making the levels it needs."""
        return self.sync(self.scheduler.set_metadata, keys=_path(key, "set_metadata"),
                         value=value, asynchronous=asynchronous)  # fmt: skip

    def get_metadata(self, key, default=_NO_DEFAULT, asynchronous=None):
        """The value :meth:`set_metadata` kept under ``key`` (a key or a list path);
        ``default`` when there is none, else ``KeyError``."""
        given = default is not _NO_DEFAULT
        return self.sync(self.scheduler.get_metadata, keys=_path(key, "get_metadata"),
                         default=default if given else None, has_default=given,
                         asynchronous=asynchronous)  # fmt: skip

    def dump_cluster_state(self, filename="dask-cluster-dump", write_from_scheduler=None,
                           exclude=clusterdump.DEFAULT_EXCLUDE, format="msgpack",
                           asynchronous=None):  # fmt: skip
        """Write the scheduler's and every worker's state, with their versions, to
        ``filename`` + ``.msgpack.gz`` (gzipped msgpack) or ``.yaml``, for debugging;
        returns the path.  ``exclude``: field names left out (default: ``run_spec``)."""
        path = clusterdump.dump_path(filename, format)
        if "://" in path:
            raise ValueError(f"dump_cluster_state: filename must be a local path, got {filename!r}")
        if isinstance(exclude, str) or not all(isinstance(e, str) for e in exclude):
            raise TypeError(f"dump_cluster_state: exclude must be a list of names, got {exclude!r}")
        return self.sync(self._dump_cluster_state, path, bool(write_from_scheduler),
                         list(exclude), format, asynchronous=asynchronous)  # fmt: skip

    def benchmark_hardware(self) -> dict:
        """Bandwidths of the workers' memory, disk and network (bytes per second per
        size label, averaged over the workers), as Dask's: see :mod:`~shoal.distributed.hardware`."""
        from shoal.distributed.hardware import benchmark_hardware

        return benchmark_hardware(self)

    async def _dump_cluster_state(self, path, on_scheduler, exclude, format):
        if on_scheduler:
            return await self.scheduler.dump_cluster_state_to_url(url=path, exclude=exclude,
                                                                  format=format)  # fmt: skip
        state = await self.scheduler.get_cluster_state(exclude=exclude)
        return clusterdump.write_state(state, path, format)


def _addresses(workers, what: str):
    if workers is None:
        return None
    if not isinstance(workers, (list, tuple, set)):  # one address or name (Dask's)
        return [workers]
    return list(workers)


def _path(key, what: str) -> list:
    if isinstance(key, list):
        if not key:
            raise ValueError(f"{what}: key must not be an empty list")
        return key
    return [key]
