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
every older chunk as one ``bytes`` object (about 90 bytes an entry, and no
Python object per entry): ``marshal`` for plain data (tuples of strings,
numbers and dicts: 0.14 us an entry; the scheduler and the workers log such
tuples), ``pickle`` for the rest, the objects themselves for an entry neither
takes (nothing is lost).  Appending costs a list append and a length check, and once
per chunk the packing; reading (``story``, iteration) unpacks, which only
debugging does.  What ``len`` and iteration show is exactly what
``deque(maxlen=...)`` would hold; up to two chunks more are kept until a whole
chunk can go.

Written from one thread (the event loop's); a reader in another thread works on
a snapshot of the chunks taken when it starts (at worst an entry at the edges
is seen twice or not at all).
"""

from __future__ import annotations

import marshal
import pickle
from collections import deque

__all__ = ["PackedLog"]


class PackedLog:
    """``deque(maxlen=maxlen)``'s ``append``, ``len``, iteration and ``clear``,
    with all but the newest ``chunk`` entries packed."""

    __slots__ = ("maxlen", "chunk", "_open", "_packed", "_packed_len")

    def __init__(self, maxlen: int, chunk: int = 1000):
        if maxlen < 0:
            raise ValueError(f"maxlen must be >= 0, got {maxlen}")
        self.maxlen = maxlen
        self.chunk = max(1, min(chunk, maxlen))
        self._open: list = []
        self._packed: deque = deque()  # (loads, blob, number of entries), oldest first
        self._packed_len = 0  # entries in _packed

    def append(self, entry) -> None:
        # The hot path (a few per task): one list append and one length check.  The
        # log may hold up to two chunks more than maxlen; len() and iteration skip the
        # oldest of them, and whole chunks are dropped once no longer needed.
        if self.maxlen:
            self._open.append(entry)
            if len(self._open) >= self.chunk:
                self._pack()

    def _pack(self) -> None:
        entries, self._open = self._open, []
        self._packed.append((*_pack(entries), len(entries)))
        self._packed_len += len(entries)
        while self._packed_len - self._packed[0][2] >= self.maxlen:
            self._packed_len -= self._packed.popleft()[2]

    def __len__(self) -> int:
        return min(self._packed_len + len(self._open), self.maxlen)

    def __iter__(self):
        packed, recent = list(self._packed), list(self._open)
        skip = sum(n for *_, n in packed) + len(recent) - self.maxlen
        for loads, blob, n in packed:
            if skip >= n:
                skip -= n
                continue
            entries = loads(blob)
            yield from entries[skip:] if skip > 0 else entries
            skip = 0
        yield from recent[skip:] if skip > 0 else recent

    def __bool__(self) -> bool:
        return len(self) > 0

    def clear(self) -> None:
        self._open, self._packed, self._packed_len = [], deque(), 0

    def __repr__(self) -> str:
        return f"<PackedLog {len(self)}/{self.maxlen} entries, {len(self._packed)} packed chunks>"


def _pack(entries: list) -> tuple:
    """``(loads, blob)``: marshal for plain data (twice as fast as pickle), pickle for
    the rest, the objects themselves for what neither takes."""
    try:
        return marshal.loads, marshal.dumps(entries)
    except ValueError:  # an object marshal does not know (an event, a NumPy integer)
        pass
    try:
        return pickle.loads, pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an entry pickle cannot take either: keep the objects
        return list, entries
