"""Workers leaving on purpose keep nothing to themselves: ``retire_workers`` and the
scale-down of clusters (``deploy/local.py``, ``Adaptive``).

::

    evacuate(addresses)
      1. each leaving worker -> "closing_gracefully" (WorkerStatusChange): no new task
         goes there, its tasks not started yet are placed elsewhere
      2. the results only leaving workers hold -> copies on the workers that stay
         (acquire-replicas: the staying worker fetches them from the leaving one, as it
         fetches a task's inputs, and reports add-keys)
      3. wait until each has another holder (or is no longer wanted), up to a timeout
    retire_workers(...) = evacuate, then terminate (through the nanny, if any)

Before, a scale-down or ``retire_workers`` closed the workers at once: their
results were recomputed, and scattered data, which cannot be, was lost.  A leaving
worker's running tasks are not waited for: they run elsewhere once it is gone.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

from shoal.distributed.scheduler import messages as m

__all__ = ["RetiresWorkers", "copies_to_make"]

logger = logging.getLogger(__name__)

#: Seconds ``evacuate`` waits for the copies by default.
EVACUATE_TIMEOUT = 60.0

_ids = itertools.count()


def copies_to_make(leaving, staying) -> dict:
    """``{staying worker: {key: [holders]}}``: each result held only by *leaving* workers,
    given to the staying worker holding least (counting what it is given here)."""
    leaving = set(leaving)
    load = {ws: ws.nbytes for ws in staying}
    plan: dict = {}
    if not load:
        return plan
    for ws in leaving:
        for ts in ws.has_what:
            if not ts.who_has <= leaving or any(ts.key in keys for keys in plan.values()):
                continue
            target = min(load, key=lambda w: (load[w], w.address))
            plan.setdefault(target, {})[ts.key] = sorted(w.address for w in ts.who_has)
            load[target] += max(ts.nbytes, 0)
    return plan


class RetiresWorkers:
    """``retire_workers`` and ``evacuate`` (a mixin of :class:`~.server.Scheduler`, using
    its ``state``, ``handle``, ``worker_streams``, ``pool`` and ``_goodbyes``)."""

    async def evacuate(self, addresses, timeout=EVACUATE_TIMEOUT) -> list:
        """Stop placing tasks on the workers at *addresses* and copy the results only they
        hold to the others; the keys still held by them alone after *timeout* seconds."""
        state = self.state
        leaving = [state.workers[a] for a in addresses if a in state.workers]
        sid = f"retire-{next(_ids)}"
        self.handle(*(m.WorkerStatusChange(ws.address, "closing_gracefully", stimulus_id=sid)
                      for ws in leaving))  # fmt: skip
        staying = [ws for ws in state.running.values() if ws not in leaving]
        for target, who_has in copies_to_make(leaving, staying).items():
            stream = self.worker_streams.get(target.address)
            if stream is None:
                continue
            nbytes = {key: state.tasks[key].nbytes for key in who_has}
            stream.send({"op": "acquire-replicas", "who_has": who_has, "nbytes": nbytes,
                         "stimulus_id": sid})  # fmt: skip
        deadline = time.monotonic() + float(timeout)
        while True:
            alone = _held_only_by(state, leaving)
            if not alone or time.monotonic() > deadline or not staying:
                break
            await asyncio.sleep(0.02)
        if alone:
            logger.warning("%d results held only by the workers leaving (%s) could not be "
                           "copied to others%s", len(alone),
                           ", ".join(ws.address for ws in leaving),
                           "" if staying else ": no other worker runs")  # fmt: skip
        return alone

    async def retire_workers(self, comm=None, workers=None, n=None, close=True,
                             timeout=EVACUATE_TIMEOUT):  # fmt: skip
        """Close ``workers`` (or the ``n`` holding the least data) gracefully: their results
        are copied to the workers that stay first."""
        states = self.state.workers
        if workers is None:
            order = sorted(states.values(), key=lambda ws: (ws.nbytes, len(ws.processing)))
            workers = [ws.address for ws in order[: int(n or 0)]]
        workers = [w for w in workers if w in states]
        await self.evacuate(workers, timeout)
        if not close:
            return workers
        for address in workers:
            ws = states.get(address)
            if ws is None:
                continue
            self._goodbyes.add(address)
            try:  # "close" would only end the rpc conversation
                await self.pool(ws.nanny or address).terminate()
            except OSError:  # already gone: its stream closing tells the state
                pass
        deadline = time.monotonic() + float(timeout)  # until they are gone, as Dask's returns
        while any(w in states for w in workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return workers


def _held_only_by(state, leaving) -> list:
    gone = set(leaving)
    return list({ts.key: None for ws in leaving for ts in ws.has_what if ts.who_has <= gone})
