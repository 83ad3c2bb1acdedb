"""The in-process bus that carries event records (:mod:`shoal.events`) to observers.

::

    engine / scheduler --publish(record)--> Bus --callback--> Buffer (bounded deque)
                                                           \\-> other subscribers
    ProgressBar, Profiler, dashboard panes  <--since(cursor)-- Buffer

Observers subscribe to a :class:`Bus`; they never see a scheduler's internal
state.  Three rules keep observers from hurting the engine:

1. *Pay only for what is watched*: ``bus.wants(kind)`` is a set lookup that the
   engine checks before even building a record; with no subscriber for a kind, no
   record of it is made.
2. *A subscriber that raises is removed and logged*; the publisher carries on.
3. *Subscribers are called in the publisher's thread*, so they must be quick.
   The standard subscriber is a :class:`Buffer`: an ``append`` onto a bounded
   deque with a monotonic index.  Readers poll ``since(cursor)`` from their own
   thread; a reader that falls behind loses the oldest records, never slows the
   scheduler.

A publisher that holds records between its own publications (a local run's rows)
registers with :meth:`Bus.hold`; a reader calls :meth:`Bus.flush` before it reads,
so nothing it holds waits longer than the reader's own interval.

A bus also keeps ``runs``: the ``GraphSubmitted`` of each computation in progress
whose publisher registers it there (the local runner does, from its start to
its end), so that a reader who subscribes while one runs (a local ``Dashboard()``
opened meanwhile) can start from it instead of meeting task records of a run it
was never told of.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque

__all__ = ["Buffer", "Bus", "default_bus"]


class Bus:
    """Publish records to subscribers; see the module docstring for the rules."""

    def __init__(self, name: str = "bus"):
        self.name = name
        self._subs: dict = {}  # token -> (callback, kinds or None, kinds excluded)
        self._tokens = itertools.count()
        self._lock = threading.Lock()
        self._wanted: frozenset = frozenset()
        self._all = False
        self._all_but: list = []
        self._answers: dict = {}
        #: run_id -> GraphSubmitted of the computations in progress (see the module docstring)
        self.runs: dict = {}
        self._holders: dict = {}  # token -> flush() of a publisher holding records

    def subscribe(self, callback, kinds=None, exclude=()) -> int:
        """Call ``callback(record)`` for records whose ``kind`` is in *kinds*
        (all kinds but those in *exclude* when None); returns a token for
        :meth:`unsubscribe`."""
        with self._lock:
            token = next(self._tokens)
            if kinds is not None:
                kinds = frozenset(kinds) - frozenset(exclude)
            self._subs[token] = (callback, kinds, frozenset(exclude))
            self._recompute()
        return token

    def unsubscribe(self, token) -> None:
        with self._lock:
            self._subs.pop(token, None)
            self._recompute()

    def _recompute(self):
        kinds, all_but, everything = set(), [], False
        for _, ks, exclude in self._subs.values():
            if ks is not None:
                kinds |= ks
            elif exclude:
                all_but.append(exclude)  # what each "all kinds but" subscriber leaves out
            else:
                everything = True
        self._all, self._all_but, self._wanted = everything, all_but, frozenset(kinds)
        self._answers = {}  # kind -> wants(kind), filled as asked; last, so no stale answer lands in it

    def wants(self, kind: str) -> bool:
        """True when some subscriber would receive records of *kind*."""
        answers = self._answers
        answer = answers.get(kind)
        if answer is None:
            answer = answers[kind] = (self._all or kind in self._wanted or any(
                kind not in exclude for exclude in self._all_but))  # fmt: skip
        return answer

    @property
    def active(self) -> bool:
        return bool(self._subs)

    def hold(self, flush) -> int:
        """Register a publisher that holds records between its own publications (a
        local run's rows): :meth:`flush` calls ``flush()``, which publishes them.
        Returns a token for :meth:`release`."""
        with self._lock:
            token = next(self._tokens)
            self._holders[token] = flush
        return token

    def release(self, token) -> None:
        with self._lock:
            self._holders.pop(token, None)

    def flush(self) -> None:
        """Have every holding publisher publish what it holds, in this thread: a
        reader calls it before it reads (the event stream, each interval), so
        nothing waits on a publisher longer than that.  A ``flush`` that raises is
        released and logged, as a subscriber that raises is removed."""
        for token, flush in list(self._holders.items()):
            try:
                flush()
            except Exception:
                import logging  # only on this error path

                logging.getLogger(__name__).exception(
                    "a publisher's flush %r raised and was released from %s", flush, self.name
                )
                self.release(token)

    def publish(self, record, kind: str | None = None) -> None:
        """Give *record* to its subscribers, as a record of ``kind`` (default ``record.kind``)."""
        kind = kind or record.kind
        for token, (callback, kinds, exclude) in list(self._subs.items()):
            if kind not in kinds if kinds is not None else kind in exclude:
                continue
            try:
                callback(record)
            except Exception:
                import logging  # only on this error path: keeps `import shoal` light

                logging.getLogger(__name__).exception(
                    "event subscriber %r raised and was removed from %s", callback, self.name
                )
                self.unsubscribe(token)


class Buffer:
    """A bounded, append-only record log with a monotonic cursor.

    The bound is in records: a record with a ``weight`` (a :class:`~shoal.events.TaskRows`
    batch) counts as that many; the oldest go first, never the newest.

    >>> b = Buffer(maxlen=2)
    >>> for i in range(3): b.append(i)
    >>> b.since(0)
    (3, [1, 2])
    >>> b.since(3)
    (3, [])
    """

    def __init__(self, maxlen: int = 100_000):
        self._items: deque = deque()  # (record, weight)
        self._lock = threading.Lock()
        self.maxlen = maxlen
        self._weight = 0
        self.count = 0  # records ever appended: the next cursor

    def append(self, record) -> None:
        w = getattr(record, "weight", 1)
        with self._lock:
            self._items.append((record, w))
            self.count += 1
            self._weight += w
            self._trim()

    __call__ = append

    def extend(self, records) -> None:
        """:meth:`append` each of *records*, under one lock."""
        items = [(r, getattr(r, "weight", 1)) for r in records]
        if not items:
            return
        with self._lock:
            self._items.extend(items)
            self.count += len(items)
            self._weight += sum(w for _, w in items)
            self._trim()

    def _trim(self) -> None:
        """The oldest records out, past the bound (the caller holds the lock)."""
        items = self._items
        while self._weight > self.maxlen and len(items) > 1:
            self._weight -= items.popleft()[1]

    def since(self, cursor: int) -> tuple[int, list]:
        """Return ``(new_cursor, records appended after cursor)`` still held.

        Costs O(new records), not O(buffer size): readers poll this often.
        """
        with self._lock:
            count = self.count
            new = count - cursor
            if new <= 0:
                return count, []
            if new >= len(self._items):
                return count, [r for r, _ in self._items]
            recent = [r for r, _ in itertools.islice(reversed(self._items), new)]
        recent.reverse()
        return count, recent

    def drain(self) -> tuple[int, list]:
        """``since(cursor)`` for the one reader of this buffer, which then forgets
        what it returns: nothing stays alive (nor for the garbage collector to scan)
        once read."""
        with self._lock:
            records = [r for r, _ in self._items]
            self._items.clear()
            self._weight = 0
            return self.count, records

    def __len__(self) -> int:
        return len(self._items)


default_bus = Bus("local")
"""The process-wide bus the local schedulers publish to."""
