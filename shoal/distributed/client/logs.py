"""``Client.get_scheduler_logs`` and ``Client.get_worker_logs``: the recent log records
of the cluster's processes.

Each process keeps its own bounded buffers (:mod:`shoal.distributed.logbuffer`);
these methods read them where they are, through the ordinary ``run`` machinery:
``run_function`` on the scheduler, ``broadcast`` to the workers (or to their
nannies, ``nanny=True``).  No server needs an op of its own for it.  Records come
back as ``(levelname, message)``, newest first, the last ``n`` of them (all: None).

:class:`ReadsLogs` is a mixin of :class:`~.core.Client` (through
:class:`~.info.InfoControl`): it needs the client's ``sync``, ``scheduler`` rpc
and ``_run``.
"""

from __future__ import annotations

from shoal.distributed.client.diagnostics import worker_addresses
from shoal.distributed.logbuffer import check_count, recent
from shoal.distributed.protocol import Pickled, Serialized, deserialize

__all__ = ["ReadsLogs"]


class ReadsLogs:
    """``Client`` methods reading the processes' recent log records."""

    def get_scheduler_logs(self, n=None):
        """The scheduler process's last ``n`` log records (all: None), newest first."""
        return self.sync(self._scheduler_logs, check_count(n))

    async def _scheduler_logs(self, n):
        out = await self.scheduler.run_function(
            function=Pickled(recent), args=Pickled(("scheduler", n)), kwargs=Pickled({}))
        return deserialize(out) if isinstance(out, Serialized) else out

    def get_worker_logs(self, n=None, workers=None, nanny=False):
        """``{worker address: records}``: each worker process's last ``n`` log records
        (all: None), newest first; ``workers``: only these; ``nanny``: their nannies'."""
        n = check_count(n)
        workers = worker_addresses(workers)
        role = "nanny" if nanny else "worker"
        return self.sync(self._run, recent, (role, n), {}, workers, bool(nanny), "raise")
