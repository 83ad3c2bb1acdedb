"""Client methods about the cluster as a whole: ``Client.current``, ``get_versions``,
``write_scheduler_file``, ``log_event`` and ``get_events``.

:class:`InfoControl` holds them for :class:`~.core.Client` (a mixin: it needs the
client's ``sync``, ``scheduler`` rpc, ``run`` / ``run_on_scheduler`` and
``scheduler_info``).

- ``Client.current()``: the client of a ``with client.as_current():`` block, else the
  default client (:mod:`.current`), as Dask's classmethod.
- ``get_versions``: each process reports its own (:mod:`shoal.distributed.versions`):
  the scheduler by ``run_on_scheduler``, the workers by ``run``; ``check=True``
  raises ``ValueError`` naming the packages that differ and where.
- ``write_scheduler_file``: the scheduler's identity as JSON, which
  ``Client(scheduler_file=...)`` and workers read.  As in Dask, a client that has a
  scheduler file (it was made from one, or wrote one) refuses to write another; a
  file at the path that names another scheduler is not overwritten.
- ``get_scheduler_logs`` / ``get_worker_logs`` (:mod:`.logs`) and ``get_executor``
  (:mod:`.executor`) come from the mixins this class is made of.
- ``log_event`` / ``get_events``: the scheduler's event log
  (:mod:`shoal.distributed.eventlog`); events come back as ``(timestamp, msg)``.
- ``subscribe_topic`` / ``forward_logging`` and their undoing come from
  :mod:`.topics`.
"""

from __future__ import annotations

import asyncio
import os

from shoal.distributed import versions as V
from shoal.distributed.client import current
from shoal.distributed.client.executor import MakesExecutors
from shoal.distributed.client.logs import ReadsLogs
from shoal.distributed.client.topics import ListensToTopics
from shoal.distributed.eventlog import check_event, events_from_wire
from shoal.distributed.protocol import Pickled, Serialized, deserialize

__all__ = ["InfoControl"]


class InfoControl(ReadsLogs, MakesExecutors, ListensToTopics):  # (logs.py; executor.py; topics.py)
    """``Client`` methods about the cluster as a whole; see the module docstring."""

    @classmethod
    def current(cls, allow_global=True):
        """The client of the ``as_current`` block; outside one, the default client when
        ``allow_global``, else ``ValueError``."""
        return current.current_client(allow_global)

    def get_versions(self, check=False, packages=None, asynchronous=None):
        """``{"scheduler": ..., "workers": {address: ...}, "client": ...}``, each
        ``{"host": {...}, "packages": {name: version}}``; ``packages``: more names to
        report (and compare).  ``check=True``: ``ValueError`` on mismatched versions."""
        if packages is None:
            packages = []
        if isinstance(packages, str) or not all(isinstance(p, str) for p in packages):
            raise TypeError(f"get_versions: packages must be a list of names, got {packages!r}")
        return self.sync(self._get_versions, bool(check), list(packages), asynchronous=asynchronous)

    async def _get_versions(self, check: bool, packages: list) -> dict:
        scheduler = self.scheduler.run_function(
            function=Pickled(V.versions), args=Pickled((packages,)), kwargs=Pickled({}))
        workers = self._run(V.versions, (packages,), {}, None, False, "raise")
        scheduler, workers = await asyncio.gather(scheduler, workers)
        if isinstance(scheduler, Serialized):
            scheduler = deserialize(scheduler)
        result = {"scheduler": scheduler, "workers": dict(workers), "client": V.versions(packages)}
        found = V.mismatches(result, packages)
        if check and found:
            raise ValueError(V.mismatch_message(found))
        return result

    def write_scheduler_file(self, scheduler_file):
        """Write this client's scheduler's identity (its ``address`` first of all) to the
        JSON file ``scheduler_file``, for ``Client(scheduler_file=...)`` elsewhere."""
        from shoal.distributed.schedulerfile import write_scheduler_file

        if not isinstance(scheduler_file, (str, os.PathLike)):
            raise TypeError(f"write_scheduler_file: scheduler_file must be a path, "
                            f"got {scheduler_file!r}")  # fmt: skip
        if getattr(self, "scheduler_file", None):
            raise ValueError(f"write_scheduler_file: this client's scheduler file is already "
                             f"set ({self.scheduler_file!r})")  # fmt: skip
        info = dict(self.scheduler_info())
        write_scheduler_file(os.fspath(scheduler_file), info)
        self.scheduler_file = os.fspath(scheduler_file)

    def log_event(self, topic, msg, asynchronous=None):
        """Log ``msg`` (msgpack-serializable plain data) under ``topic`` (a str, or a
        list of them) on the scheduler, stamped with its time."""
        topics = check_event(topic, msg)
        return self.sync(self.scheduler.log_event, topic=topics, msg=msg, asynchronous=asynchronous)

    def get_events(self, topic=None, asynchronous=None):
        """The events of ``topic`` as a tuple of ``(timestamp, msg)``, oldest first; with
        no topic, a dict of every topic's."""
        if topic is not None and not isinstance(topic, str):
            raise TypeError(f"get_events: topic must be a str or None, got {topic!r}")
        return self.sync(self._get_events, topic, asynchronous=asynchronous)

    async def _get_events(self, topic):
        return events_from_wire(await self.scheduler.events(topic=topic))
