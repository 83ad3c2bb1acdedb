"""A bounded log whose older entries are kept pickled, in chunks.

The scheduler and each worker keep the last 100,000 transitions and events
(``transition-log-length``) so that ``story(key)`` can tell what happened to a
key.  Kept as Python objects, those entries cost more than their memory: each
is one to three objects scattered among the short-lived objects of the message
traffic, the garbage collector's full passes walk the tracked ones, and the
allocator's pools stay pinned by the few survivors among them.  Successive
10,000-task runs on one cluster got 15-25% slower in the scheduler and the
workers once their logs were full.

:class:`PackedLog` keeps the newest entries (up to ``chunk``) as objects and
every older chunk as one ``bytes`` object of pickled entries (about 75 bytes
an entry, and no Python object per entry).  Appending costs a list append, and
once per chunk a ``pickle.dumps`` of it (0.3 us per tuple entry, 2 us per
event); reading (``story``, iteration) unpickles, which only debugging does.
The bound is exact, as with ``deque(maxlen=...)``: the oldest chunk remembers
how many of its entries have fallen out.  An entry that cannot be pickled
keeps its chunk as objects; nothing is lost.

Written from one thread (the event loop's); a reader in another thread works on
a snapshot of the chunks taken when it starts (at worst an entry at the edges
is seen twice or not at all).
"""

from __future__ import annotations

import pickle
from collections import deque

__all__ = ["PackedLog"]


class PackedLog:
    """``deque(maxlen=maxlen)``'s ``append``, ``len``, iteration and ``clear``,
    with all but the newest ``chunk`` entries pickled."""

    __slots__ = ("maxlen", "chunk", "_open", "_packed", "_packed_len", "_dropped")

    def __init__(self, maxlen: int, chunk: int = 1000):
        if maxlen < 0:
            raise ValueError(f"maxlen must be >= 0, got {maxlen}")
        self.maxlen = maxlen
        self.chunk = max(1, min(chunk, maxlen))
        self._open: list = []
        self._packed: deque = deque()  # (bytes or list, number of entries)
        self._packed_len = 0  # entries in _packed, the dropped ones included
        self._dropped = 0  # entries at the start of the oldest chunk no longer kept

    def append(self, entry) -> None:
        if not self.maxlen:
            return
        self._open.append(entry)
        if len(self._open) >= self.chunk:
            entries, self._open = self._open, []
            try:
                blob = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # an entry pickle cannot take: keep the objects
                blob = entries
            self._packed.append((blob, len(entries)))
            self._packed_len += len(entries)
        if len(self) > self.maxlen:  # one over: the oldest entry goes (chunk <= maxlen)
            self._dropped += 1
            if self._dropped == self._packed[0][1]:
                self._packed_len -= self._packed.popleft()[1]
                self._dropped = 0

    def __len__(self) -> int:
        return self._packed_len - self._dropped + len(self._open)

    def __iter__(self):
        packed, dropped, recent = list(self._packed), self._dropped, list(self._open)
        for i, (blob, _) in enumerate(packed):
            entries = pickle.loads(blob) if type(blob) is bytes else blob
            yield from entries[dropped:] if i == 0 else entries
        yield from recent

    def __bool__(self) -> bool:
        return len(self) > 0

    def clear(self) -> None:
        self._open, self._packed = [], deque()
        self._packed_len = self._dropped = 0

    def __repr__(self) -> str:
        return f"<PackedLog {len(self)}/{self.maxlen} entries, {len(self._packed)} packed chunks>"
