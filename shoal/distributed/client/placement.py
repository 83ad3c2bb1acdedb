"""Where results live, from a Client: ``replicate``, ``rebalance``, ``restart_workers``.

:class:`PlacementControl` holds these methods of :class:`~.core.Client` (a mixin: they
need only the client's ``sync`` and its ``scheduler`` rpc).  The work is the
scheduler's (:mod:`shoal.distributed.scheduler.replication`): it asks workers to
fetch copies from each other, records each new holder, and drops a copy only
once another one is recorded, so the client sends keys and checks its arguments.

Errors name what is wrong: a future that is not a future, a worker that is unknown
(or has no nanny, for ``restart_workers``), a key not in memory.
"""

from __future__ import annotations

from shoal import config
from shoal.distributed.client.waiting import futures_of

__all__ = ["PlacementControl"]


def _keys_of(futures, what: str) -> list:
    found = futures_of(futures)
    if not found and futures not in (None, [], ()):
        raise TypeError(f"{what}: futures must be futures (or collections of them), "
                        f"got {type(futures).__name__}")  # fmt: skip
    return list(dict.fromkeys(f.key for f in found))


def _addresses(workers, what: str):
    if workers is None:
        return None
    if isinstance(workers, str):
        return [workers]
    workers = list(workers)
    bad = [w for w in workers if not isinstance(w, str)]
    if bad:
        raise TypeError(f"{what}: workers must be addresses (str), got {bad}")
    return workers


class PlacementControl:
    """``Client`` methods that place copies of results; see the module docstring."""

    def replicate(self, futures, n=None, workers=None, branching_factor=2, asynchronous=None):
        """Copy the results of ``futures`` onto ``n`` workers (default: every one of
        ``workers``, or of the cluster); copies beyond ``n`` among them are dropped.
        ``who_has`` then lists ``n`` holders of each; returns None (as Dask's)."""
        keys = _keys_of(futures, "replicate")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"replicate: n must be a positive int or None, got {n!r}")
        if isinstance(branching_factor, bool) or not isinstance(branching_factor, int) \
                or branching_factor < 1:  # fmt: skip
            raise ValueError(f"replicate: branching_factor must be a positive int, "
                             f"got {branching_factor!r}")  # fmt: skip
        workers = _addresses(workers, "replicate")
        return self.sync(self._replicate, keys, n, workers, branching_factor,
                         asynchronous=asynchronous)  # fmt: skip

    async def _replicate(self, keys, n, workers, branching_factor):
        if keys:
            await self.scheduler.replicate(keys=keys, n=n, workers=workers,
                                           branching_factor=branching_factor)  # fmt: skip

    def rebalance(self, futures=None, workers=None, asynchronous=None):
        """Move results (of ``futures``, or all) between ``workers`` (or all) so each holds
        about the mean of their managed memory; a copy leaves a worker only once its new
        holder has it.  Returns None (as Dask's)."""
        keys = None if futures is None else _keys_of(futures, "rebalance")
        workers = _addresses(workers, "rebalance")
        return self.sync(self._rebalance, keys, workers, asynchronous=asynchronous)

    async def _rebalance(self, keys, workers):
        if keys is None or keys:
            await self.scheduler.rebalance(keys=keys, workers=workers)

    def restart_workers(self, workers, timeout=None, raise_for_error=True, asynchronous=None):
        """Restart ``workers`` (addresses or names) through their nannies; returns
        ``{worker: "OK" | "timed out"}`` once each one's new process has joined.  With
        ``raise_for_error`` a worker not back within ``timeout`` seconds (default
        ``distributed.comm.timeouts.connect`` x 4) is a ``TimeoutError``."""
        workers = _addresses(workers, "restart_workers")
        if not workers:
            raise ValueError("restart_workers: workers must name at least one worker")
        if timeout is None:
            timeout = 4 * config.parse_timedelta(config.get("distributed.comm.timeouts.connect"))
        else:
            timeout = config.parse_timedelta(timeout)
        return self.sync(self._restart_workers, workers, timeout, raise_for_error,
                         asynchronous=asynchronous)  # fmt: skip

    async def _restart_workers(self, workers, timeout, raise_for_error):
        out = await self.scheduler.restart_workers(workers=workers, timeout=timeout)
        late = [w for w, status in out.items() if status != "OK"]
        if late and raise_for_error:
            raise TimeoutError(f"restart_workers: {late} did not come back within {timeout} s")
        return out
