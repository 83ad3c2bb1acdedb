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
from shoal.distributed.client.diagnostics import worker_addresses
from shoal.distributed.client.waiting import futures_of, wait_states

__all__ = ["PlacementControl"]


def _futures_of(futures, what: str) -> list:
    found = futures_of(futures)
    if not found and futures not in (None, [], ()):
        raise TypeError(f"{what}: futures must be futures (or collections of them), "
                        f"got {type(futures).__name__}")  # fmt: skip
    return list({f.key: f for f in found}.values())  # one per key


async def _keys_when_done(futures) -> list:
    """The keys of *futures* once each is done (Dask's replicate and rebalance wait
    for pending ones too)."""
    await wait_states([f._state for f in futures])
    return [f.key for f in futures]


class PlacementControl:
    """``Client`` methods that place copies of results; see the module docstring."""

    def replicate(self, futures, n=None, workers=None, branching_factor=2, asynchronous=None):
        """Copy the results of ``futures`` onto ``n`` workers (default: every one of
        ``workers``, or of the cluster); copies beyond ``n`` among them are dropped.
        ``who_has`` then lists ``n`` holders of each; returns None (as Dask's)."""
        futures = _futures_of(futures, "replicate")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"replicate: n must be a positive int or None, got {n!r}")
        if isinstance(branching_factor, bool) or not isinstance(branching_factor, int) \
                or branching_factor < 1:  # fmt: skip
            raise ValueError(f"replicate: branching_factor must be a positive int, "
                             f"got {branching_factor!r}")  # fmt: skip
        workers = worker_addresses(workers)
        return self.sync(self._replicate, futures, n, workers, branching_factor,
                         asynchronous=asynchronous)  # fmt: skip

    async def _replicate(self, futures, n, workers, branching_factor):
        if futures:
            keys = await _keys_when_done(futures)
            await self.scheduler.replicate(keys=keys, n=n, workers=workers,
                                           branching_factor=branching_factor)  # fmt: skip

    def rebalance(self, futures=None, workers=None, asynchronous=None):
        """Move results (of ``futures``, or all) between ``workers`` (or all) so each holds
        about the mean of their managed memory; a copy leaves a worker only once its new
        holder has it.  Returns None (as Dask's)."""
        futures = None if futures is None else _futures_of(futures, "rebalance")
        workers = worker_addresses(workers)
        return self.sync(self._rebalance, futures, workers, asynchronous=asynchronous)

    async def _rebalance(self, futures, workers):
        keys = None if futures is None else await _keys_when_done(futures)
        if keys is None or keys:
            await self.scheduler.rebalance(keys=keys, workers=workers)

    def restart_workers(self, workers, timeout=None, raise_for_error=True, asynchronous=None):
        """Restart ``workers`` (addresses or names) through their nannies; returns
        ``{worker: "OK" | "timed out" | "failed: ..."}`` once each one's new process has
        joined.  With ``raise_for_error`` a worker not back within ``timeout`` seconds
        (default ``distributed.comm.timeouts.connect`` x 4) is a ``TimeoutError``, a
        nanny that failed a ``RuntimeError``."""
        workers = worker_addresses(workers)
        if not workers:
            raise ValueError("restart_workers: workers must name at least one worker")
        if timeout is None:
            timeout = 4 * config.checked(config.duration, "distributed.comm.timeouts.connect")
        else:
            timeout = config.parse_timedelta(timeout)
        return self.sync(self._restart_workers, workers, timeout, raise_for_error,
                         asynchronous=asynchronous)  # fmt: skip

    async def _restart_workers(self, workers, timeout, raise_for_error):
        out = await self.scheduler.restart_workers(workers=workers, timeout=timeout)
        failed = {w: status for w, status in out.items() if status.startswith("failed")}
        if failed and raise_for_error:
            raise RuntimeError(f"restart_workers: the nannies of {failed} could not restart them")
        late = [w for w, status in out.items() if status == "timed out"]
        if late and raise_for_error:
            raise TimeoutError(f"restart_workers: {late} did not come back within {timeout} s")
        return out
