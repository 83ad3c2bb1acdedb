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
        hold to running workers; the keys still held only by retiring workers after
        *timeout* seconds (or at once, when no worker runs to take them).

        Every retiring worker counts as leaving, also those of another retirement under way
        (a copy to one of them would leave with it), and the copies are asked for again
        while they do not arrive (a target that died or paused meanwhile)."""
        state = self.state
        leaving = [state.workers[a] for a in addresses if a in state.workers]
        sid = f"retire-{next(_ids)}"
        self.handle(*(m.WorkerStatusChange(ws.address, "closing_gracefully", stimulus_id=sid)
                      for ws in leaving))  # fmt: skip
        deadline = time.monotonic() + float(timeout)
        asked: dict = {}  # key -> (target, when asked)
        while True:
            alone = _held_only_by(leaving)
            staying = list(state.running.values())
            if not alone or not staying or time.monotonic() > deadline:
                break
            retiring = [ws for ws in state.workers.values() if ws.status == "closing_gracefully"]
            now, wanted = time.monotonic(), set(alone)
            for target, who_has in copies_to_make(retiring, staying).items():
                who_has = {k: v for k, v in who_has.items() if k in wanted and not _asked(
                    asked.get(k), state, now)}  # fmt: skip
                stream = self.worker_streams.get(target.address)
                if not who_has or stream is None:
                    continue
                nbytes = {key: state.tasks[key].nbytes for key in who_has}
                stream.send({"op": "acquire-replicas", "who_has": who_has, "nbytes": nbytes,
                             "stimulus_id": sid})  # fmt: skip
                asked.update((key, (target, now)) for key in who_has)
            await asyncio.sleep(0.02)
        if alone:
            logger.warning("%d results held only by the workers leaving (%s) could not be "
                           "copied to others%s", len(alone),
                           ", ".join(ws.address for ws in leaving),
                           "" if state.running else ": no other worker runs")  # fmt: skip
        return alone

    async def retire_workers(self, comm=None, workers=None, n=None, close=True,
                             timeout=EVACUATE_TIMEOUT):  # fmt: skip
        """Close ``workers`` (or the ``n`` holding the least data) gracefully: their results
        are copied to the workers that stay first.  A worker whose results could not be
        copied anywhere is kept, running again, and left out of the answer (as Dask's)."""
        states = self.state.workers
        if workers is None:
            order = sorted(states.values(), key=lambda ws: (ws.nbytes, len(ws.processing)))
            workers = [ws.address for ws in order[: int(n or 0)]]
        workers = [w for w in workers if w in states]
        alone = set(await self.evacuate(workers, timeout))
        kept = [w for w in workers if w in states
                and any(ts.key in alone for ts in states[w].has_what)]  # fmt: skip
        if kept:
            logger.warning("not retiring %s: what only they hold has nowhere to go", kept)
            self.handle(*(m.WorkerStatusChange(w, "running", retire_cancelled=True) for w in kept))
        workers = [w for w in workers if w not in kept]
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


#: Seconds before a copy asked of a worker that is still running is asked for again.
ASK_AGAIN = 5.0


def _asked(previous, state, now) -> bool:
    """Is a copy already on its way (asked of a running worker, not long ago)?"""
    if previous is None:
        return False
    target, when = previous
    return state.running.get(target.address) is target and now - when < ASK_AGAIN


def _held_only_by(leaving) -> list:
    """The keys of *leaving* workers that no running or paused worker holds."""
    return list({ts.key: None for ws in leaving for ts in ws.has_what
                 if all(w.status == "closing_gracefully" for w in ts.who_has)})
