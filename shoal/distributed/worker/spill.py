"""The worker's data mapping: values in memory, least recently used ones on disk.

:class:`SpillBuffer` is the ``data`` mapping a worker gives its
:class:`~shoal.distributed.worker.state.WorkerState`.  It looks like a dict;
where a value lives is its own business.  Layout::

    SpillBuffer  (MutableMapping key -> value)
    |-- fast         key -> value         in memory        sum of sizes: managed
    |-- slow         key -> _SpillFile    on disk          sum of sizes: spilled_bytes
    |                                                      sum of file sizes: spilled_disk_bytes
    |-- nbytes       key -> sizeof(value) when it was set (fast and slow keys)
    |-- last_access  key -> clock() of the last set or get (fast and slow keys)
    `-- unspillable  fast keys whose value failed to pickle (never tried again)

    directory/                            made by the first spill, removed by close()
        1.spill  2.spill  ...             one file per spilled key, named by a
                                          counter (never by the key itself)

A spill file holds the header and frames of
:func:`~shoal.distributed.protocol.serialize.serialize` behind their lengths::

    n | len_0 ... len_n-1 | header (JSON) | pickle stream | buffer | ... | buffer
    `-- little-endian uint64 --'  `--------------- n parts ----------------'

Big NumPy buffers go from the array's memory to the file and back into a
``bytearray`` the array is rebuilt on, without an extra copy.

How keys move:

- ``buf[key] = value`` puts the value in *fast* (a spilled copy is deleted);
- :meth:`SpillBuffer.evict` moves least-recently-used fast keys to *slow*
  (order from :func:`~shoal.distributed.worker.memory.spill_order`);
- ``buf[key]`` of a slow key reads it back into *fast* and deletes the file
  (an access like any other).

Failures never lose a value: one that does not pickle stays in memory, is
logged once and is skipped by later evictions; a disk error (``ENOSPC``, the
directory removed) or reaching ``max_spill`` keeps the value in memory, logs
and ends that eviction.  After such a refusal, evictions do nothing until a
spill file is freed or :data:`RETRY_AFTER` seconds have passed: the memory
monitor asks ten times a second, and each try pickled the value again (half a
core on an idle worker).  A value is held to ``max_spill`` by its measured
size before it is pickled.

Threads: the event loop is the only writer, but task threads read inputs
while an eviction runs.  Every change of the containers happens under one
lock, and a key is added to *slow* before it leaves *fast*, so a reader
never finds a key missing.  Pickling and writing happen outside the lock.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass

from shoal import config
from shoal.sizeof import sizeof as default_sizeof

from ..protocol.serialize import Serialized, deserialize, nbytes, serialize
from .memory import spill_order

__all__ = ["SpillBuffer"]

logger = logging.getLogger(__name__)

_U64 = struct.Struct("<Q")
#: Seconds an eviction waits after the disk or ``max_spill`` refused, unless a file is freed.
RETRY_AFTER = 5.0


@dataclass(frozen=True, slots=True)
class _SpillFile:
    path: str
    size: int  # bytes on disk


class _Stop(Exception):
    """Ends an eviction: the disk refused or max_spill was reached (already logged)."""


class SpillBuffer(MutableMapping):
    """Key -> value in memory, spilling least-recently-used values to ``directory``.

    ``sizeof`` measures values when they are set; ``clock`` stamps accesses;
    ``max_spill`` caps the bytes on disk (``None``/``False``: no cap; bytes or
    a size string such as ``"10 GiB"``).  ``target`` (as ``max_spill``; ``None``: none) is
    kept on every insert and read-back: past it the least recently used values
    go to disk at once, as in Dask's buffer.  The worker's memory monitor, which
    runs every ``monitor-interval``, came too late: results made faster than
    that piled up in memory until the nanny killed the worker.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        sizeof: Callable[[object], int] = default_sizeof,
        clock: Callable[[], float] = time.monotonic,
        max_spill: int | str | None = None,
        target: int | str | None = None,
    ) -> None:
        self.directory = os.fspath(directory)
        self.target = None if target in (None, False) else config.parse_bytes(target)
        self.sizeof = sizeof
        self.clock = clock
        self.max_spill = None if max_spill in (None, False) else config.parse_bytes(max_spill)
        self.nbytes: dict[Hashable, int] = {}
        self.last_access: dict[Hashable, float] = {}
        self._fast: dict = {}
        self._slow: dict[Hashable, _SpillFile] = {}
        self._unspillable: set = set()
        self._managed = self._spilled = self._disk = 0
        self._lock = threading.RLock()
        self._names = itertools.count(1)
        self._made_directory: bool | None = None  # None: not tried yet
        self._last_refusal: str | None = None
        self._refused_at: float | None = None  # monotonic time of the last refusal

    # --- views and counters ---

    @property
    def fast(self):
        """Keys held in memory (a live view)."""
        return self._fast.keys()

    @property
    def slow(self):
        """Keys spilled to disk (a live view)."""
        return self._slow.keys()

    @property
    def managed(self) -> int:
        """Bytes of the values held in memory (as measured by ``sizeof``)."""
        return self._managed

    @property
    def spilled_bytes(self) -> int:
        """In-memory size of the spilled values (what unspilling them would cost)."""
        return self._spilled

    @property
    def spilled_disk_bytes(self) -> int:
        """Bytes of the spill files."""
        return self._disk

    # --- mapping ---

    def __setitem__(self, key, value) -> None:
        size = self.sizeof(value)
        with self._lock:
            self._discard(key)
            self._fast[key] = value
            self.nbytes[key] = size
            self._managed += size
            self.last_access[key] = self.clock()
        self._keep_target()

    def __getitem__(self, key):
        with self._lock:
            if key in self._fast:
                value = self._fast[key] = self._fast.pop(key)  # to the end: _fast is in LRU order
                return self._touch(key, value)
            if key not in self._slow:
                raise KeyError(key)
            value = self._touch(key, self._unspill(key))
        self._keep_target(exclude=(key,))  # (the value read back is about to be used)
        return value

    def _touch(self, key, value):
        self.last_access[key] = self.clock()
        return value

    def _keep_target(self, exclude=()) -> None:
        """Spill least-recently-used values until the managed bytes are back at ``target``.

        Runs at every insert, so it walks ``_fast`` (kept in LRU order) from its oldest
        end instead of sorting every key as :meth:`evict` does (9 ms an insert at 20,000).
        """
        if self.target is None or self._managed <= self.target:
            return
        if self._refused_at is not None and time.monotonic() - self._refused_at < RETRY_AFTER:
            return  # refused a moment ago, and no file was freed since
        with self._lock:
            amount, freed, keys = self._managed - self.target, 0, []
            for key in self._fast:
                if freed >= amount:
                    break
                if key not in self._unspillable and key not in exclude:
                    keys.append(key)
                    freed += self.nbytes[key]
        try:
            for key in keys:
                self._spill(key)
        except _Stop:
            pass
        except Exception as exc:  # an insert never fails for its spill: the value is kept
            logger.warning("spilling to %s failed, keeping values in memory: %s: %s",
                           self.directory, type(exc).__name__, exc)  # fmt: skip

    def pop(self, key, *default):
        """Remove ``key`` and return its value.  A spilled value is read from its file but
        not brought back in memory: no other value is spilled to make room for it (the
        worker pops every key it releases; MutableMapping.pop unspilled each one)."""
        with self._lock:
            if key in self._fast:
                value = self._fast[key]
            elif key in self._slow:
                value = deserialize(_read_frames(self._slow[key].path))
            elif default:
                return default[0]
            else:
                raise KeyError(key)
            self._discard(key)
        return value

    def __delitem__(self, key) -> None:
        with self._lock:
            if key not in self.nbytes:
                raise KeyError(key)
            self._discard(key)

    def __contains__(self, key) -> bool:
        return key in self.nbytes  # never unspills

    def __len__(self) -> int:
        return len(self.nbytes)

    def __iter__(self) -> Iterator:
        with self._lock:
            return iter(list(self.nbytes))

    def __repr__(self) -> str:
        return (
            f"<SpillBuffer {self.directory!r}: {len(self._fast)} in memory ({self._managed} B), "
            f"{len(self._slow)} spilled ({self._spilled} B, {self._disk} B on disk)>"
        )

    def _discard(self, key) -> None:
        """Forget ``key`` wherever it is (no error if absent); call under the lock."""
        size = self.nbytes.pop(key, 0)
        self.last_access.pop(key, None)
        self._unspillable.discard(key)
        if key in self._fast:
            del self._fast[key]
            self._managed -= size
        elif key in self._slow:
            self._forget_file(key, size)

    def _forget_file(self, key, size: int) -> None:
        spilled = self._slow.pop(key)
        self._spilled -= size
        self._disk -= spilled.size
        self._last_refusal = self._refused_at = None  # room on disk again: try, report anew
        _unlink(spilled.path)

    # --- unspill ---

    def _unspill(self, key):
        """Read a spilled value back into memory; call under the lock."""
        spilled = self._slow[key]
        value = deserialize(_read_frames(spilled.path))
        size = self.nbytes[key]
        self._fast[key] = value  # in fast before it leaves slow
        self._managed += size
        self._forget_file(key, size)
        return value

    # --- evict ---

    def evict(self, amount: int, *, exclude: Iterable = ()) -> int:
        """Spill least-recently-used in-memory values until ``amount`` bytes are freed.

        ``exclude`` are keys that must stay in memory (inputs of running
        tasks).  Returns the bytes freed (``sizeof`` sizes), which is less
        than ``amount`` when too little can be spilled.
        """
        if self._refused_at is not None and time.monotonic() - self._refused_at < RETRY_AFTER:
            return 0  # refused a moment ago, and no file was freed since
        exclude = set(exclude)
        freed = 0
        try:
            while freed < amount:
                with self._lock:
                    sizes = {k: self.nbytes[k] for k in self._fast}
                    skip = exclude | self._unspillable
                    keys = spill_order(sizes, self.last_access, amount - freed, exclude=skip)
                if not keys:
                    break
                for key in keys:
                    freed += self._spill(key)
        except _Stop:
            pass
        return freed

    def _spill(self, key) -> int:
        """Move one key to disk; bytes freed (0 if it stays in memory)."""
        with self._lock:
            if key not in self._fast:
                return 0  # deleted meanwhile
            value = self._fast[key]
            if self.max_spill is not None and self._disk + self.nbytes[key] > self.max_spill:
                self._refuse(f"max_spill {self.max_spill} B reached ({self._disk} B on disk)")
        ser = self._serialize(key, value)
        if ser is None:
            return 0
        spilled = self._write(ser)
        with self._lock:
            if self._fast.get(key, _MISSING) is not value:  # replaced or deleted meanwhile
                _unlink(spilled.path)
                return 0
            size = self.nbytes[key]
            self._slow[key] = spilled  # in slow before it leaves fast
            del self._fast[key]
            self._managed -= size
            self._spilled += size
            self._disk += spilled.size
            return size

    def _serialize(self, key, value) -> Serialized | None:
        try:
            return serialize(value)
        except Exception as exc:  # pickle raises anything: TypeError, PicklingError, ...
            logger.warning(
                "cannot spill %r, keeping it in memory: %s: %s", key, type(exc).__name__, exc
            )
            with self._lock:
                if key in self._fast:
                    self._unspillable.add(key)
            return None

    def _write(self, ser: Serialized) -> _SpillFile:
        """Write a spill file; raise :class:`_Stop` (logged) if the disk refuses."""
        header = json.dumps(ser.header).encode()
        frames = [header, *ser.frames]
        size = _U64.size * (1 + len(frames)) + sum(nbytes(f) for f in frames)
        if self.max_spill is not None and self._disk + size > self.max_spill:
            self._refuse(f"max_spill {self.max_spill} B reached ({self._disk} B on disk)")
        path = os.path.join(self.directory, f"{next(self._names)}.spill")
        try:
            self._make_directory()
            _write_frames(path, frames)
        except OSError as exc:
            _unlink(path)
            self._refuse(f"disk error: {type(exc).__name__}: {exc.strerror or exc}")
        self._last_refusal = None
        return _SpillFile(path, size)

    def _refuse(self, why: str):
        self._refused_at = time.monotonic()
        if why != self._last_refusal:  # log each new reason once, not every monitor tick
            logger.warning("not spilling to %s, keeping values in memory: %s", self.directory, why)
            self._last_refusal = why
        raise _Stop(why)

    def _make_directory(self) -> None:
        """Create the directory on the first spill only (a removed one is a disk error)."""
        with self._lock:  # (two first spills at once: the later saw the other's directory
            if self._made_directory is None:  # and noted it as not made here, left by close())
                existed = os.path.isdir(self.directory)
                os.makedirs(self.directory, exist_ok=True)
                self._made_directory = not existed

    # --- close ---

    def close(self) -> None:
        """Drop every value, delete the spill files and the directory (if made here)."""
        with self._lock:
            for key in list(self.nbytes):
                self._discard(key)
            if self._made_directory:
                try:
                    os.rmdir(self.directory)
                except FileNotFoundError:
                    pass
                except OSError as exc:  # someone else's files in it
                    logger.warning("spill directory %s not removed: %s", self.directory, exc)
            self._made_directory = None


_MISSING = object()


def _write_frames(path: str, frames: list) -> None:
    """``n | lengths | frames``; buffers are written straight from their memory."""
    with open(path, "xb") as f:
        f.write(_U64.pack(len(frames)))
        f.write(b"".join(_U64.pack(nbytes(frame)) for frame in frames))
        for frame in frames:
            f.write(frame)


def _read_frames(path: str) -> Serialized:
    """Inverse of :func:`_write_frames`; buffers come back as writable bytearrays."""
    with open(path, "rb") as f:
        (count,) = _U64.unpack(_read_exactly(f, _U64.size))
        lengths = struct.unpack(f"<{count}Q", _read_exactly(f, _U64.size * count))
        header = json.loads(_read_exactly(f, lengths[0]))
        frames = [_read_exactly(f, n) for n in lengths[1:]]
    return Serialized(header, frames)


def _read_exactly(f, n: int) -> bytearray:
    buf = bytearray(n)
    if f.readinto(buf) != n:
        raise OSError(f"spill file {f.name} is truncated")
    return buf


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("cannot delete spill file %s: %s", path, exc)
