"""Where results live, on request: ``replicate``, ``rebalance`` and ``restart_workers``
(a mixin of :class:`~shoal.distributed.scheduler.server.Scheduler`).

Copies travel the way a task's inputs do: the scheduler sends ``acquire-replicas``
(``{key: [holders]}``) to the worker that should get a copy; that worker fetches it
from a holder (``worker/handlers.py``) and reports ``add-keys``, which the state
records as a new replica (``who_has``).  Dropping a copy is the reverse, in this
order: the state forgets the replica first (:class:`DropReplicas`; the last one of a
key is never dropped), so no task is placed there counting on it, then the worker
is told ``remove-replicas``; a worker whose task still reads the key keeps it and
says ``add-keys`` again.

::

    replicate(keys, n, workers)                rebalance(keys, workers)
      rounds of: copies_wanted() -> asked        rebalance_moves() -> [(key, from, to)]
        wait until add-keys recorded             copies to each "to"; wait until recorded
      then excess_replicas() dropped             then the "from" copies dropped

So data is never lost: a sender's copy goes only after the state counts the
receiver's.  A copy that never arrives (the target died, the fetch failed) leaves
the sender's in place.  Each round of ``replicate`` at most multiplies a key's
holders by ``1 + branching_factor``, so one worker is not asked by all the others
at once.  The planning functions are pure (addresses and byte counts in, a plan out).

``restart_workers`` asks each named worker's nanny for a new process and waits until
the nanny's new worker has joined; a worker without a nanny, or an unknown one, is
an error naming it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from shoal.distributed.scheduler.replicas import DropReplicas
from shoal.distributed.taskcolumns import key_from_wire

__all__ = ["DropReplicas", "MovesData", "copies_wanted", "excess_replicas", "rebalance_moves"]

#: Seconds a move or a copy may take before the scheduler gives up on it.
COPY_TIMEOUT = 30.0
#: the type of an actor's handle (``shoal/distributed/actor.py``): its object cannot move
ACTOR_TYPE = "shoal.distributed.actor.Actor"

_ids = itertools.count()


# --- planning (pure) ----------------------------------------------------------------------


def copies_wanted(holders: dict, targets: list, n: int, load: dict, nbytes: dict,
                  branching_factor: int = 2) -> dict:  # fmt: skip
    """One round of ``replicate``: ``{target: {key: [holders]}}`` so that each key of
    *holders* (``{key: set of addresses}``) gets nearer ``n`` holders among *targets*,
    each new copy on the least loaded target (*load*: ``{address: bytes}``, updated
    here with *nbytes* of each key); a key gains at most ``branching_factor`` copies
    per holder it has."""
    load, plan = dict(load), {}
    for key, have in holders.items():
        missing = n - len(set(have) & set(targets))
        room = [t for t in targets if t not in have]
        for _ in range(max(min(missing, len(have) * max(branching_factor, 1)), 0)):
            if not room:
                break
            target = min(room, key=lambda t: (load.get(t, 0), t))
            room.remove(target)
            plan.setdefault(target, {})[key] = sorted(have)
            load[target] = load.get(target, 0) + nbytes.get(key, 0)
    return plan


def excess_replicas(holders: dict, targets: list, n: int, load: dict) -> dict:
    """``{address: [keys]}``: the copies beyond ``n`` among *targets*, taken from the most
    loaded holders first; a key always keeps one copy."""
    plan = {}
    for key, have in holders.items():
        among = sorted(set(have) & set(targets), key=lambda a: (-load.get(a, 0), a))
        extra = min(len(among) - n, len(have) - 1)
        for address in among[:max(extra, 0)]:
            plan.setdefault(address, []).append(key)
    return plan


def rebalance_moves(holdings: dict, load: dict) -> list:
    """``[(key, sender, recipient)]`` that even out *load* (``{address: bytes}``, every
    worker taking part) by moving keys of *holdings* (``{address: {key: nbytes}}``, the
    movable ones) from workers above the mean to workers below it.

    Each step takes the most loaded sender that can give and the least loaded
    recipient, and moves the key that brings the two nearest each other; a move
    happens only when it shrinks their difference (``0 < nbytes < difference``), so
    the spread falls at every step and the loop ends."""
    load = {a: load.get(a, 0) for a in load}
    if len(load) < 2:
        return []
    mean = sum(load.values()) / len(load)
    held = {a: dict(holdings.get(a, {})) for a in load}
    moves = []
    while True:
        move = _best_move(held, load, mean)
        if move is None:
            return moves
        key, sender, recipient, size = move
        moves.append((key, sender, recipient))
        # size 0: the key moves no more (the moves run at once) and comes back to neither
        held[sender][key] = held[recipient][key] = 0
        load[sender] -= size
        load[recipient] += size


def _best_move(held: dict, load: dict, mean: float):
    recipients = sorted((a for a in load if load[a] < mean), key=lambda a: (load[a], a))
    for sender in sorted((a for a in load if load[a] > mean), key=lambda a: (-load[a], a)):
        for recipient in recipients:
            gap = load[sender] - load[recipient]
            fits = [(abs(gap - 2 * size), repr(k), k, size) for k, size in held[sender].items()
                    if 0 < size < gap and k not in held[recipient]]  # fmt: skip
            if fits:
                _, _, key, size = min(fits)
                return key, sender, recipient, size
    return None


# --- the scheduler's side -----------------------------------------------------------------


class MovesData:
    """``replicate``, ``rebalance``, ``restart_workers``; see the module docstring."""

    def replication_handlers(self) -> dict:
        return {"replicate": self.replicate, "rebalance": self.rebalance,
                "restart_workers": self.restart_workers}  # fmt: skip

    def _memory_tasks(self, keys, what: str) -> list:
        tasks = self.state.tasks
        keys = [key_from_wire(k) for k in keys]
        missing = [k for k in keys if k not in tasks or tasks[k].state != "memory"]
        if missing:
            raise ValueError(f"{what}: keys {missing} are not in memory on the cluster")
        return [tasks[k] for k in keys]

    def _taking_part(self, workers, what: str) -> list:
        if workers is None:
            return list(self.state.running)
        by_name = {ws.name: a for a, ws in self.state.workers.items()}  # names, as restrictions
        workers = [w if w in self.state.workers else by_name.get(w, w) for w in workers]
        unknown = [w for w in workers if w not in self.state.workers]
        if unknown:
            raise ValueError(f"{what}: unknown workers {unknown}")
        return [w for w in dict.fromkeys(workers) if w in self.state.running]

    async def replicate(self, comm=None, keys=(), n=None, workers=None, branching_factor=2,
                        timeout=COPY_TIMEOUT):  # fmt: skip
        """Give each key ``n`` holders among ``workers`` (all running ones by default;
        ``n=None``: every one of them), copying or dropping copies."""
        tasks = [ts for ts in self._memory_tasks(keys, "replicate") if ts.type != ACTOR_TYPE]
        targets = self._taking_part(workers, "replicate")
        n = len(targets) if n is None else n
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"replicate: n must be a positive int, got {n!r}")
        deadline = time.monotonic() + float(timeout)
        sizes = {ts.key: max(ts.nbytes, 0) for ts in tasks}
        while time.monotonic() < deadline:
            targets = [t for t in targets if t in self.state.running]  # (one may have left)
            plan = copies_wanted(self._holders(tasks), targets, min(n, len(targets)), self._load(),
                                 sizes, int(branching_factor))  # fmt: skip
            if not plan or not await self._copy(plan, deadline, f"replicate-{next(_ids)}"):
                break
        drops = excess_replicas(self._holders(tasks), targets, min(n, len(targets)), self._load())
        sid = f"replicate-{next(_ids)}"
        self.handle(*(DropReplicas(a, keys, stimulus_id=sid) for a, keys in drops.items()))
        return "OK"

    async def rebalance(self, comm=None, keys=None, workers=None, timeout=COPY_TIMEOUT):
        """Move keys (all in memory, or ``keys``) from the workers holding more than the
        mean of ``workers`` (all running ones by default) to those holding less."""
        taking = self._taking_part(workers, "rebalance")
        states = [self.state.workers[a] for a in taking]
        wanted = None if keys is None else {ts.key for ts in self._memory_tasks(keys, "rebalance")}
        holdings = {ws.address: {ts.key: max(ts.nbytes, 0) for ts in ws.has_what
                                 if ts.state == "memory" and ts.type != ACTOR_TYPE
                                 and (wanted is None or ts.key in wanted)}
                    for ws in states}  # fmt: skip
        moves = rebalance_moves(holdings, {ws.address: ws.nbytes for ws in states})
        plan: dict = {}
        for key, sender, recipient in moves:
            plan.setdefault(recipient, {})[key] = [sender]
        sid = f"rebalance-{next(_ids)}"
        arrived = await self._copy(plan, time.monotonic() + float(timeout), sid)
        drops: dict = {}
        for key, sender, recipient in moves:
            if (key, recipient) in arrived:
                drops.setdefault(sender, []).append(key)
        self.handle(*(DropReplicas(a, keys, stimulus_id=sid) for a, keys in drops.items()))
        return {"moved": sum(len(k) for k in drops.values())}

    def _holders(self, tasks) -> dict:
        return {ts.key: {ws.address for ws in ts.who_has} for ts in tasks if ts.state == "memory"}

    def _load(self) -> dict:
        return {a: ws.nbytes for a, ws in self.state.workers.items()}

    async def _copy(self, plan: dict, deadline: float, sid: str) -> set:
        """Ask for the copies of *plan* (``{target: {key: [holders]}}``); wait until the
        state records them (or they can no longer come): the ``(key, target)`` recorded."""
        state, asked = self.state, set()
        for target, who_has in plan.items():
            stream = self.worker_streams.get(target)
            if stream is None:
                continue
            nbytes = {key: state.tasks[key].nbytes for key in who_has if key in state.tasks}
            stream.send({"op": "acquire-replicas", "who_has": who_has, "nbytes": nbytes,
                         "stimulus_id": sid})  # fmt: skip
            asked.update((key, target) for key in who_has)
        while asked and time.monotonic() < deadline:
            if all(_settled(state, key, target) for key, target in asked):
                break
            await asyncio.sleep(0.01)
        return {(k, t) for k, t in asked if _recorded(state, k, t)}

    async def restart_workers(self, comm=None, workers=(), timeout=30):
        """Restart ``workers`` (addresses or names) through their nannies; ``{worker:
        "OK" | "timed out"}`` once each nanny's new worker has joined."""
        states = self.state.workers
        by_name = {ws.name: a for a, ws in states.items()}
        unknown = [w for w in workers if w not in states and w not in by_name]
        if unknown:
            raise ValueError(f"restart_workers: unknown workers {unknown}")
        addresses = [w if w in states else by_name[w] for w in workers]
        without = [a for a in addresses if not states[a].nanny]
        if without:
            raise ValueError(f"restart_workers needs nannies; these workers have none: {without}")
        unique = list(dict.fromkeys(addresses))  # (one worker named twice: one restart)
        self._goodbyes.update(unique)
        results = await asyncio.gather(*(self._restart_one(a, states[a].nanny, float(timeout))
                                         for a in unique))  # fmt: skip
        for a, result in zip(unique, results):
            if result != "OK":  # (the old worker may stay: its crash later is no goodbye)
                self._goodbyes.discard(a)
        status = dict(zip(unique, results))
        return {w: status[a] for w, a in zip(workers, addresses)}

    async def _restart_one(self, address: str, nanny: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self.pool(nanny).restart(timeout=timeout), timeout)
        except asyncio.TimeoutError:
            return "timed out"
        except Exception as exc:  # noqa: BLE001 - the nanny failed: said per worker
            return f"failed: {type(exc).__name__}: {exc}"
        while not any(ws.nanny == nanny and a != address for a, ws in self.state.workers.items()):
            if time.monotonic() > deadline:
                return "timed out"
            await asyncio.sleep(0.02)
        return "OK"


def _recorded(state, key, target) -> bool:
    ts, ws = state.tasks.get(key), state.workers.get(target)
    return ts is not None and ws is not None and ws in ts.who_has


def _settled(state, key, target) -> bool:
    """Has the copy of *key* on *target* arrived, or can it no longer come?"""
    ts = state.tasks.get(key)
    return (_recorded(state, key, target) or ts is None or ts.state != "memory"
            or target not in state.running)  # fmt: skip
