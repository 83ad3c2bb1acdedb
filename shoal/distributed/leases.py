"""``Semaphore`` and ``MultiLock``, in Dask's spelling: named leases and sets of
locks kept by the scheduler (``scheduler/leases.py``), for any client and any task.

::

    Semaphore("db", max_leases=2).acquire()  --rpc semaphore_acquire-->  a lease id
    MultiLock(["a", "b"]).acquire()          --rpc multi_lock_acquire->  all or none

A ``Semaphore`` hands out at most ``max_leases`` leases at a time.  Each lease has
an id made here, kept by the object that acquired it (``release`` gives back its
oldest one, as Dask's does); releasing more often than acquired is a
``RuntimeError`` raised here.  Objects of one name, in any process, share the
leases; a Semaphore pickles as its name and ``max_leases`` (an unpickled copy holds
no lease), and every request carries ``max_leases``, so that the scheduler refuses
one that disagrees with the semaphore of that name (``ValueError``).

A ``MultiLock`` takes all the locks it names (or ``num_locks`` of them) in one step
on the scheduler, or none: two MultiLocks naming overlapping locks in different
orders are served in the order they asked and never deadlock.  Its names are not
those of ``Lock``.  As in Dask, ``locked()`` says whether this object holds its
locks, and releasing one that does not is a ``ValueError``.

Waits are those of ``coordination.py``: asked without waiting first, so a task's
thread secedes only while it really waits; served first come, first served.  A
lease or MultiLock whose client goes away (a worker killed with the task holding
it) is released by the scheduler within about a second; see its side for why.
"""

from __future__ import annotations

import uuid
from collections import deque

from shoal.distributed.coordination import _Held, _Primitive, _timeout

__all__ = ["MultiLock", "Semaphore"]


class Semaphore(_Held, _Primitive):
    """At most ``max_leases`` holders at a time: ``acquire`` / ``release``, or ``with``."""

    _prefix = "semaphore"

    def __init__(self, max_leases=1, name=None, scheduler_rpc=None, loop=None, register=True,
                 client=None):  # fmt: skip
        if not isinstance(max_leases, int) or isinstance(max_leases, bool) or max_leases < 1:
            raise ValueError(f"Semaphore: max_leases must be an int >= 1, got {max_leases!r}")
        if scheduler_rpc is not None or loop is not None:
            raise TypeError("Semaphore: scheduler_rpc and loop are not used by shoal; pass "
                            "client= (else the task's or the default client is used)")  # fmt: skip
        super().__init__(name, client)
        self.max_leases = max_leases
        self._leases: deque = deque()  # the ids of the leases this object holds, oldest first
        if register and self._found_client() and not self.client.asynchronous:
            self.register()  # (else at its first request)

    def __reduce__(self):
        return type(self), (self.max_leases, self.name, None, None, False)

    def _found_client(self) -> bool:
        try:
            return self.client is not None
        except ValueError:  # (no client yet: one is looked for again at first use)
            return False

    def register(self):
        """Make the semaphore on the scheduler now (else at the first request); a
        ``ValueError`` if one of this name has another ``max_leases``."""
        return self._call("semaphore_register", max_leases=self.max_leases)

    def __await__(self):
        async def registered():
            await self.register()
            return self

        return registered().__await__()

    def acquire(self, timeout=None):
        """True once a lease is held; False if none came within ``timeout`` seconds."""
        timeout = _timeout(timeout, "Semaphore.acquire")
        lease_id = uuid.uuid4().hex

        def finish(granted):
            if granted:
                self._leases.append(lease_id)
            return bool(granted)

        return self._wait("semaphore_acquire", finish, timeout, max_leases=self.max_leases,
                          lease_id=lease_id, client=self.client.id)  # fmt: skip

    def release(self):
        """Give back this object's oldest lease.  True; False when the scheduler had already
        released it (its client was gone); ``RuntimeError`` when it holds none."""
        if not self._leases:
            raise RuntimeError(f"Semaphore {self.name!r}: released more often than acquired "
                               "(this object holds no lease)")  # fmt: skip
        return self._call("semaphore_release", lease_id=self._leases.popleft())

    def get_value(self):
        """How many leases are held now, by anyone."""
        return self._call("semaphore_value", max_leases=self.max_leases)

    def close(self):
        """Forget the semaphore on the scheduler, leases and all."""
        self._leases.clear()
        return self._call("semaphore_close")

    def __repr__(self) -> str:
        return f"<Semaphore: {self.name}, max_leases={self.max_leases}>"


class MultiLock(_Held, _Primitive):
    """Several named locks taken together: all of ``names`` (or ``num_locks`` of them)
    or none."""

    _prefix = "multilock"

    def __init__(self, names=None, client=None):
        names = [] if names is None else names
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise TypeError(f"MultiLock: names must be a list of str, got {names!r}")
        super().__init__(None, client)
        self.names = list(names)
        self.id = uuid.uuid4().hex
        self._locked = False

    def __reduce__(self):
        return type(self), (self.names,)

    def acquire(self, blocking=True, timeout=None, num_locks=None):
        """True once the locks are held; False if not within ``timeout`` seconds (or at once
        when not ``blocking``).  ``num_locks``: how many of ``names`` suffice (all)."""
        if not blocking:
            if timeout is not None:
                raise ValueError("MultiLock.acquire: a timeout needs blocking=True")
            timeout = 0
        timeout = _timeout(timeout, "MultiLock.acquire")
        wanted = len(set(self.names))
        if num_locks is not None and (not isinstance(num_locks, int) or not 0 < num_locks <= wanted):
            raise ValueError(f"MultiLock.acquire: num_locks must be an int from 1 to {wanted} "
                             f"(the number of names), got {num_locks!r}")  # fmt: skip
        if self._locked:
            raise RuntimeError(f"MultiLock {self.names!r}: this object holds its locks already")
        self.id = uuid.uuid4().hex  # (each acquire its own: an abandoned one may still be leaving)

        def finish(granted):
            self._locked = bool(granted)
            return self._locked

        return self._wait("multi_lock_acquire", finish, timeout, locks=self.names, id=self.id,
                          num_locks=num_locks, client=self.client.id)  # fmt: skip

    def release(self):
        """Release the locks this object holds (``ValueError`` when it holds none)."""
        if not self._locked:
            raise ValueError(f"MultiLock {self.names!r}: not acquired by this object")
        self._locked = False
        return self._call("multi_lock_release", id=self.id)

    def locked(self) -> bool:
        """Whether this object holds its locks."""
        return self._locked

    def __repr__(self) -> str:
        return f"<MultiLock: {self.names}>"
