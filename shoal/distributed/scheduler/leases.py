"""The scheduler's side of ``Semaphore`` and ``MultiLock``
(:mod:`shoal.distributed.leases`): leases counted by name, and sets of locks taken
all at once.

::

    semaphores   name -> Semaphore: max_leases, leases {lease id: client id}
    multilocks   lock name -> deque of MultiLock ids, the holder first, then the waiters
                 id -> (its lock names, how many it needs, its client id)

    semaphore_acquire   waits, in line (first come, first served), until fewer than
                        max_leases leases are out; the lease is the caller's lease id
    multi_lock_acquire  joins the line of every lock it names at once; held when it
                        heads ``num_locks`` of them

A ``MultiLock`` request takes its place in all its lines in one step of the
loop, so every line orders the requests by arrival: two requests that share
locks are ordered the same way in all of them, and a cycle of requests each
waiting for the next (a deadlock) cannot form, whatever order they name their
locks in.  A request granted leaves the lines it does not head (it needs no
more), and one that times out or whose caller is gone leaves all of them.
Names of ``MultiLock`` are their own: ``Lock("x")`` is another lock (as in Dask).

Leases of departed clients.  Dask's clients refresh their leases, and the
scheduler expires a lease not refreshed for ``lease-timeout`` seconds.  Here the
scheduler already knows which clients are connected: a client's stream is open
while it lives (a task's client lives in its worker process), and a shoal client
never comes back under the same id.  So a lease, or a MultiLock, is released as
soon as its client's stream is gone (checked every second, ``_expire_departed``):
a killed worker frees what its tasks held within about a second, without any
refresh traffic and without guessing a timeout.  A lease whose reply cannot be
delivered (its caller gone while granted) is given back at once (``_deliver``).

The waits, replies and wake-ups are those of ``coordination.py`` (this is a mixin
of its ``Coordinates``, using ``_coord``, ``_wait_turn``, ``_deliver`` and
``_check_leases``).
"""

from __future__ import annotations

from collections import deque

__all__ = ["Leases"]

_WAKE = ("multilock", None)  # (one wake-up for every MultiLock wait: any release may serve one)


class Semaphore:
    __slots__ = ("max_leases", "leases")

    def __init__(self, max_leases: int) -> None:
        self.max_leases = max_leases
        self.leases: dict = {}  # lease id -> client id


class MultiLocks:
    """Lines of MultiLock ids by lock name; pure bookkeeping, no waiting."""

    def __init__(self) -> None:
        self.lines: dict = {}  # lock name -> deque of ids, the holder first
        self.requests: dict = {}  # id -> (names, num_locks, client id)

    def enter(self, id, names, num_locks, client) -> None:
        if id in self.requests:
            raise ValueError(f"MultiLock id {id!r} already holds or waits for its locks")
        self.requests[id] = (list(dict.fromkeys(names)), num_locks, client)
        for name in self.requests[id][0]:
            self.lines.setdefault(name, deque()).append(id)

    def heads(self, id) -> list:
        """The locks *id* holds (heads the line of)."""
        return [name for name in self.requests[id][0] if self.lines[name][0] == id]

    def ready(self, id) -> bool:
        return id in self.requests and len(self.heads(id)) >= self.requests[id][1]

    def keep(self, id) -> None:
        """Granted: *id* keeps the first ``num_locks`` locks it heads and leaves the rest."""
        names, num_locks, client = self.requests[id]
        kept = self.heads(id)[:num_locks]
        self._leave(id, [name for name in names if name not in kept])
        self.requests[id] = (kept, num_locks, client)

    def leave(self, id) -> bool:
        """*id* gives up every lock it holds or waits for; False if it had none."""
        request = self.requests.pop(id, None)
        if request is None:
            return False
        self._leave(id, request[0])
        return True

    def _leave(self, id, names) -> None:
        for name in names:
            line = self.lines[name]
            line.remove(id)
            if not line:
                del self.lines[name]

    def of_clients_gone(self, connected) -> list:
        return [id for id, (_, _, client) in self.requests.items()
                if client is not None and client not in connected]  # fmt: skip


class Leases:
    """Handlers of ``Semaphore`` and ``MultiLock``; see the module docstring."""

    def lease_handlers(self) -> dict:
        return {
            "semaphore_register": self.semaphore_register, "semaphore_acquire": self.semaphore_acquire,
            "semaphore_release": self.semaphore_release, "semaphore_value": self.semaphore_value,
            "semaphore_close": self.semaphore_close,
            "multi_lock_acquire": self.multi_lock_acquire, "multi_lock_release": self.multi_lock_release,
        }  # fmt: skip

    # --- Semaphore ----------------------------------------------------------------------

    def semaphore_register(self, comm=None, name=None, max_leases=1) -> None:
        self._semaphore(name, max_leases)

    def _semaphore(self, name, max_leases) -> Semaphore:
        if not isinstance(max_leases, int) or isinstance(max_leases, bool) or max_leases < 1:
            raise ValueError(f"Semaphore {name!r}: max_leases must be an int >= 1, got {max_leases!r}")
        semaphore = self._coord.semaphores.get(name)
        if semaphore is None:
            semaphore = self._coord.semaphores[name] = Semaphore(max_leases)
        elif semaphore.max_leases != max_leases:
            raise ValueError(f"Semaphore {name!r}: max_leases={max_leases} differs from the "
                             f"max_leases={semaphore.max_leases} it was made with")  # fmt: skip
        return semaphore

    async def semaphore_acquire(self, comm=None, name=None, max_leases=1, lease_id=None,
                                client=None, timeout=None):  # fmt: skip
        semaphore = self._semaphore(name, max_leases)
        if lease_id in semaphore.leases:  # (asked again: already granted)
            return True
        wake, semaphores = ("semaphore", name), self._coord.semaphores

        def ready():  # (or closed meanwhile: its leases are never given back, the wait ends)
            return len(semaphore.leases) < max_leases or semaphores.get(name) is not semaphore

        if not await self._wait_turn(comm, wake, wake, ready, timeout, client):
            return False
        if semaphores.get(name) is not semaphore:
            raise RuntimeError(f"Semaphore {name!r} was closed while this acquire waited")
        semaphore.leases[lease_id] = client
        self._check_leases()
        return await self._deliver(comm, True, lambda: self._free_lease(name, lease_id))

    def _free_lease(self, name, lease_id) -> bool:
        semaphore = self._coord.semaphores.get(name)
        if semaphore is None or semaphore.leases.pop(lease_id, None) is None:
            return False
        self._coord.changes.notify(("semaphore", name))
        return True

    def semaphore_release(self, comm=None, name=None, lease_id=None) -> bool:
        """True; False for a lease already given back (its client was gone a while)."""
        return self._free_lease(name, lease_id)

    def semaphore_value(self, comm=None, name=None, max_leases=1) -> int:
        return len(self._semaphore(name, max_leases).leases)

    def semaphore_close(self, comm=None, name=None) -> None:
        """Forget the semaphore and its leases (their holders are not told, as in Dask)."""
        if self._coord.semaphores.pop(name, None) is not None:
            self._coord.changes.notify(("semaphore", name))

    # --- MultiLock ----------------------------------------------------------------------

    @property
    def _multilocks(self) -> MultiLocks:
        if self._coord.multilocks is None:
            self._coord.multilocks = MultiLocks()
        return self._coord.multilocks

    async def multi_lock_acquire(self, comm=None, locks=(), id=None, num_locks=None, client=None,
                                 timeout=None, name=None):  # fmt: skip
        multi = self._multilocks
        num_locks = len(set(locks)) if num_locks is None else num_locks
        multi.enter(id, locks, num_locks, client)
        if not await self._wait_for(comm, _WAKE, lambda: multi.ready(id), timeout, client):
            self.multi_lock_release(id=id)
            return False
        multi.keep(id)
        self._coord.changes.notify(_WAKE)  # (the lines it left)
        self._check_leases()
        return await self._deliver(comm, True, lambda: self.multi_lock_release(id=id))

    def multi_lock_release(self, comm=None, id=None, name=None) -> bool:
        released = self._multilocks.leave(id)
        self._coord.changes.notify(_WAKE)
        return released

    # --- departed clients ---------------------------------------------------------------

    def _expire_departed(self) -> None:
        """Give back the leases and MultiLocks of clients whose stream is gone."""
        connected = self.client_streams
        for name, semaphore in list(self._coord.semaphores.items()):
            for lease_id, client in list(semaphore.leases.items()):
                if client is not None and client not in connected:
                    self._free_lease(name, lease_id)
        if self._coord.multilocks is not None:
            for id in self._coord.multilocks.of_clients_gone(connected):
                self.multi_lock_release(id=id)
