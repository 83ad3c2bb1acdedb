"""The statistical profiler: samples of the threads running tasks.

Used by distributed workers (``worker/server.py``: one per worker, its trees go
with heartbeats) and by a local ``Dashboard()`` for the sync and threads
schedulers (``shoal.sampling``: the local batches register their thread while
one is open; the dashboard's monitor publishes the trees).  The diagram below is
the worker's; a local batch registers once (``task_started``, ``task_finished``) and
names each task it runs in the registration (``slot.key = key``): the prefix is found
only for the keys sampled (registering each task, with its ``key_split``, cost a
10,000-task sync compute about a tenth of its time).

::

    pool thread, in _run                sampler thread, every `interval`           event loop
    --------------------                --------------------------------           ----------
    task_started(tid, key) --+
                             +-> slots {tid: thread state, boundary frame, key}
    task_finished(tid) ------+        |
                                      v
                       sample(): innermost frame of each slot, f_back up to the
                       boundary -> descriptors -> add_stack() into
                           recent {prefix: tree}   --take_recent()-->  heartbeat
                           cycle  {prefix: tree}   --every `cycle`-->  history
                                                   (time, tree, {prefix: tree})  --get_profile()

Only threads that registered with :meth:`Sampler.task_started` are sampled,
and a stack stops at the frame that registered (the worker's ``_run``), so
trees hold the task's frames only.  Trees are plain data
(:mod:`shoal.diagnostics.calltree`), bounded by ``max_nodes`` per
accumulator, and the history by ``history`` entries; a cycle without samples
leaves no entry.

Why not ``sys._current_frames()``: the Python 3.11 deadlock
-----------------------------------------------------------

Dask's profiler calls ``sys._current_frames()`` and is switched off on 3.11
(dask/distributed#8916) after dask/distributed#8616.  The cause, from
python/cpython#106883 and python/cpython#116969 (colesbury: "a lock ordering
deadlock with HEAD_LOCK(&_PyRuntime) and the GIL"): ``_PyThread_CurrentFrames``
holds the runtime's thread-list lock ``HEAD_LOCK`` (plain, not re-entrant)
while it makes a frame object for every thread.  3.11 creates frame objects
lazily, so this allocates, and up to 3.11 allocating a GC-tracked object may
run a collection on the spot, which runs finalizers with ``HEAD_LOCK`` held:

- a ``threading.local`` freed by it takes ``HEAD_LOCK`` again and the thread
  waits for itself, holding the GIL, so every thread stops (gdb on the
  control test's hang, 3.11.7: ``_PyThread_CurrentFrames`` ->
  ``_PyFrame_MakeAndSetFrameObject`` -> ``_PyObject_GC_NewVar`` ->
  ``gc_collect_generations`` -> ``delete_garbage`` -> ``local_dealloc`` ->
  ``local_clear`` -> ``PyThread_acquire_lock``);
- a ``__del__``, weakref callback or ``gc.callbacks`` entry may drop the GIL at
  the eval breaker while a thread holding the GIL waits for ``HEAD_LOCK``
  (starting or ending a thread, making a ``threading.local``): lock-order
  deadlock (#116969).

Affected: 3.11 only.  Up to 3.10 frames were always objects, so nothing
GC-tracked was allocated under the lock (#106883: never seen on 3.8); 3.12
runs the collector only from the eval breaker, never inside an allocation
(gh-97922, python/cpython#97920).  A 3.11 backport that switches the GC off
inside ``_PyThread_CurrentFrames`` was proposed (python/cpython#117332); we
treat every 3.11.x as affected.

What this module does instead:

1. It never takes ``HEAD_LOCK``.  A task thread registers its own thread state
   (``PyThreadState_Get()``, called in that thread) and the sampler reads that
   thread's innermost frame with the public C function
   ``PyThreadState_GetFrame(tstate)`` (3.9+) through ``ctypes.pythonapi``, which
   calls with the GIL held.  That function takes no lock and skips frames
   still being set up (checked in the 3.11.7 binary: ``_PyThread_CurrentFrames``
   and ``local_clear`` call ``PyThread_acquire_lock``, ``PyThreadState_GetFrame``
   does not), so a collection it may start has nothing to deadlock on, and
   threads that run no task (event loop, comms) are never touched.
2. The GC is off while a sample is taken (only if it was on; restored right
   after), which is the fix proposed for 3.11 in #117332: materialising another
   thread's frame object holds a raw pointer to that thread's interpreter frame
   while it allocates, and a collection there could run Python code that
   releases the GIL and lets the owner pop that frame.  With no collection,
   nothing in those C calls runs Python code or releases the GIL.
   (Caveat: code in another thread that calls ``gc.disable()`` in the same few
   microseconds may see the GC re-enabled.)
3. The thread-state pointer stays valid: a registered thread cannot return
   from ``_run`` (let alone exit) before ``task_finished``, which waits for the
   sampler's lock, held for the whole sample.
4. Without ctypes, on other interpreters or on a free-threaded build, it falls
   back to ``sys._current_frames()`` under point 2, the same workaround from
   the outside.

Samples are taken at ``interval`` (10 ms by default).  The sampler holds the
GIL about 0.4% of the time then, and a CPU-bound task is not measurably slower
(``benchmarks/profile_overhead.py``).  A CPU-bound task thread hands the GIL
over only every switch interval (5 ms), so the real rate is somewhat lower
than the nominal one.

Tasks much shorter than that switch interval are under-counted: a thread running
them gives the GIL up mostly when it blocks or writes between two tasks (telling
the event loop a task is done), after ``task_finished``, and that is when the
sampler gets it.  Measured on 2 cores, 2 s of 1 ms tasks drew 7 samples where one
2 s task drew 131.  The profile says where a prefix's time goes, not how prefixes
compare; the task stream and the compute-time-per-key pane, which add up each
task's own duration, do.  Dask's sampler works the same way.

The thread is not a daemon (a daemon reading other threads' frames while the
interpreter finalises could crash it); one never stopped is stopped when the
interpreter starts to exit, before it waits for the threads that are left.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
import weakref
from collections import deque

from shoal import config
from shoal.core.keys import key_split
from shoal.diagnostics.calltree import add_stack, cap, describe, merge, node

__all__ = ["FOLDED", "Sampler", "profile_enabled"]

logger = logging.getLogger(__name__)

_HERE = __file__
#: Code objects whose descriptors are cached (then the cache starts again).
_DESCRIPTIONS = 4096


def profile_enabled() -> bool:
    """``distributed.worker.profile.enabled`` (True until the key exists)."""
    key = "distributed.worker.profile.enabled"
    return config.flag(config.get(key, True), "enabled", key)


def _seconds(value, key: str, default: str) -> float:
    """Seconds between samples (or cycles), from *value* or the setting *key*."""
    return config.period(config.get(key, default) if value is None else value,
                         key.rsplit(".", 1)[-1], key)  # fmt: skip


#: Samplers running now, stopped when the interpreter starts to exit (see the docstring).
_running: weakref.WeakSet = weakref.WeakSet()


def _stop_all() -> None:
    for sampler in list(_running):
        sampler._stop.set()


if hasattr(threading, "_register_atexit"):  # (3.9+: called before non-daemon threads are joined)
    threading._register_atexit(_stop_all)


class _Api:
    """``PyThreadState_Get`` / ``PyThreadState_GetFrame`` through ctypes, or None."""

    def __init__(self, get_state, get_frame):
        self.get_state, self.get_frame = get_state, get_frame

    @classmethod
    def load(cls):
        if sys.implementation.name != "cpython":
            return None
        if not getattr(sys, "_is_gil_enabled", lambda: True)():
            return None  # free-threaded: no GIL keeps the other thread still
        try:
            import ctypes
        except ImportError:
            return None
        try:  # own prototypes: never change ctypes.pythonapi's shared function objects
            get_state = ctypes.PYFUNCTYPE(ctypes.c_void_p)(("PyThreadState_Get", ctypes.pythonapi))
            get_frame = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p)(
                ("PyThreadState_GetFrame", ctypes.pythonapi))
        except (AttributeError, OSError):
            return None
        return cls(get_state, get_frame)

    def frame(self, tstate):
        try:
            return self.get_frame(tstate)  # a new reference, which ctypes takes over
        except ValueError:  # NULL: no Python frame
            return None


_api_loaded = False
_api = None


def _load_api():
    global _api_loaded, _api
    if not _api_loaded:
        _api, _api_loaded = _Api.load(), True
    return _api


class _Slot:
    """A thread's registration: what :meth:`Sampler.task_started` returns.  ``key``
    is the task it runs now; a batch of tasks registers once and names each task
    here (one attribute write), and the prefix is found only for the keys sampled.
    ``before``: the registration it replaced (an outer task's), for
    :meth:`Sampler.task_finished`."""

    __slots__ = ("thread_id", "tstate", "boundary", "key", "before", "_key", "_prefix")

    def __init__(self, thread_id, tstate, boundary, key, before):
        self.thread_id, self.tstate, self.boundary, self.key = thread_id, tstate, boundary, key
        self.before, self._key, self._prefix = before, None, ""

    def prefix(self, key) -> str:
        """*key*'s prefix (the last one asked for is kept: a long task is sampled often)."""
        if key is not self._key:
            self._key, self._prefix = key, key_split(key)
        return self._prefix


class _Acc:
    """Per-prefix trees being filled, with a bound on their total nodes."""

    __slots__ = ("trees", "nodes", "count", "since", "max_nodes")

    def __init__(self, max_nodes: int, since: float):
        self.trees: dict = {}
        self.nodes = self.count = 0
        self.since, self.max_nodes = since, max_nodes

    def add(self, prefix: str, stack) -> None:
        tree = self.trees.get(prefix)
        if tree is None:
            tree = self.trees[prefix] = node()
            self.nodes += 1
        self.nodes += add_stack(tree, stack, room=max(self.max_nodes - self.nodes, 0))
        self.count += 1


#: The frame that stands for the middle of a stack deeper than ``max_depth`` (one for
#: every depth, so the trees of such stacks merge).
FOLDED = ("...;(frames folded);0", "... (frames folded)", "(frames folded)", 0)


class Sampler:
    """Sample the stacks of threads running tasks; keep call trees per prefix and over time.

    ``interval`` and ``cycle`` (seconds or strings like ``"10ms"``) default to
    ``distributed.worker.profile.interval`` / ``.cycle``.  ``history`` bounds
    the cycles kept, ``max_depth`` the frames per stack (the outermost third and
    the innermost are kept, the middle folded: see ``_describe``; 96, under the
    100 rows a dashboard's flame graph draws) and ``max_nodes`` the nodes of the
    trees filled between two cycles (or two :meth:`take_recent` calls).  The thread
    is not a daemon: :meth:`stop` (or leaving the ``with`` block) ends and joins it;
    it also ends on its own once the main thread has finished.
    """

    def __init__(self, interval=None, cycle=None, history: int = 1000, max_depth: int = 96,
                 max_nodes: int = 1000, clock=time.time):  # fmt: skip
        self.interval = _seconds(interval, "distributed.worker.profile.interval", "10ms")
        self.cycle = _seconds(cycle, "distributed.worker.profile.cycle", "1000ms")
        self.history: deque = deque(maxlen=history)
        self.max_depth, self.max_nodes, self.clock = max_depth, max_nodes, clock
        self.samples = 0  # stacks counted so far
        self.busy = 0.0  # seconds spent in sample()
        self._api = _load_api()
        self._lock = threading.Lock()
        self._slots: dict = {}
        now = clock()
        self._recent = _Acc(max_nodes, now)
        self._cycle = _Acc(max_nodes, now)
        self._descriptions: dict = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> Sampler:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="shoal-profile", daemon=False)
            self._thread.start()
            _running.add(self)
        return self

    def stop(self, timeout: float | None = 10) -> None:
        """End the thread, wait for it, and file the current cycle in the history."""
        self._stop.set()
        _running.discard(self)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.rotate()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _loop(self) -> None:
        main = threading.main_thread()
        next_cycle = time.monotonic() + self.cycle
        while not self._stop.wait(self.interval):
            if not main.is_alive():
                break  # interpreter shutting down and nobody called stop()
            try:
                self.sample()
            except Exception:  # a sample is best effort; never kill the thread for one
                self._failures += 1
                if self._failures == 1:
                    logger.exception("profile sample failed (further failures not logged)")
            now = time.monotonic()
            if now >= next_cycle:
                self.rotate()
                next_cycle = now + self.cycle

    # --- registration (called on the task's own thread) -----------------------------

    def task_started(self, thread_id: int, key, boundary=None) -> _Slot:
        """Sample this thread from now on, as running ``key``; returns its
        registration, whose ``key`` the caller may set to each next task it runs (a
        local batch registers once), and whose ``before`` (the registration it
        replaced, or None) goes to :meth:`task_finished`: a task that runs a
        computation of its own in its thread (a local compute inside a task) is
        sampled again once that one is done.

        Call it on the thread that runs the task (it registers that thread's
        state).  Frames from ``boundary`` (default: the caller's frame) outwards
        are left out of the stacks.
        """
        if boundary is None:
            boundary = sys._getframe(1)
        tstate = None
        if self._api is not None:
            if thread_id != threading.get_ident():
                raise ValueError("task_started() must be called on the thread that runs the task")
            tstate = self._api.get_state()
        with self._lock:
            slot = self._slots[thread_id] = _Slot(thread_id, tstate, boundary, key,
                                                  self._slots.get(thread_id))  # fmt: skip
        return slot

    def task_finished(self, thread_id: int, before=None) -> None:
        """Stop sampling this thread, or go back to *before* (the ``before`` of what
        :meth:`task_started` returned: the outer task's registration)."""
        with self._lock:  # waits for a sample in progress: the thread state stays valid
            if before is None:
                self._slots.pop(thread_id, None)
            else:
                self._slots[thread_id] = before

    # --- sampling -------------------------------------------------------------------

    def sample(self) -> int:
        """Take one sample of every registered thread now; returns the stacks counted."""
        begin = time.perf_counter()
        with self._lock:
            if not self._slots:
                return 0
            enabled = gc.isenabled()
            if enabled:
                gc.disable()  # no collection while other threads' frames are read
            try:
                raw = self._read()
            finally:
                if enabled:
                    gc.enable()
            counted = 0
            for slot, key, codes in raw:
                if key is None:  # a batch's own code, between its tasks
                    continue
                stack = self._describe(codes)
                if stack:
                    prefix = slot.prefix(key)
                    self._recent.add(prefix, stack)
                    self._cycle.add(prefix, stack)
                    counted += 1
            self.samples += counted
        self.busy += time.perf_counter() - begin
        return counted

    def _read(self) -> list:
        """``[(slot, its key then, [code, ...] innermost first)]`` for the registered threads."""
        out = []
        for slot, frame in self._frames():
            key = slot.key  # (read with the frame: the thread may name its next task meanwhile)
            codes = []
            boundary = slot.boundary
            while frame is not None and frame is not boundary:
                codes.append(frame.f_code)
                frame = frame.f_back
            if frame is not None:  # else the boundary is not on the stack (yet / any more)
                out.append((slot, key, codes))
        return out

    def stacks(self, keys=None) -> dict:
        """``{key: [(filename, line number, function), ...] outermost first}`` of the
        registered threads running a task now (of ``keys`` only, unless None), read as
        :meth:`sample` reads them (no ``HEAD_LOCK``, no collection meanwhile)."""
        with self._lock:
            enabled = gc.isenabled()
            if enabled:
                gc.disable()
            try:
                out = {}
                for slot, frame in self._frames():
                    key, rows = slot.key, []
                    while frame is not None and frame is not slot.boundary:
                        rows.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
                        frame = frame.f_back
                    if frame is not None and key is not None and (keys is None or key in keys):
                        out[key] = rows[::-1]
            finally:
                if enabled:
                    gc.enable()
        return out

    def _frames(self) -> list:
        """``[(slot, its thread's innermost frame)]`` but this thread's; the lock held."""
        me = threading.get_ident()
        if self._api is not None:
            return [(s, self._api.frame(s.tstate)) for s in self._slots.values() if s.thread_id != me]
        current = sys._current_frames()
        return [(s, current.get(s.thread_id)) for s in self._slots.values() if s.thread_id != me]

    def _describe(self, codes: list) -> list:
        """Descriptors, outermost first, without this module's own frames.  A stack
        deeper than ``max_depth`` keeps its outermost third and its innermost frames,
        the middle folded into one :data:`FOLDED` frame: the innermost are where the
        time goes (a deep recursion's work happens at its bottom)."""
        while codes and codes[0].co_filename == _HERE:
            del codes[0]  # the thread is inside task_started / task_finished
        codes.reverse()
        if len(codes) > self.max_depth:
            outer = self.max_depth // 3
            inner = self.max_depth - outer - 1
            codes[outer:len(codes) - inner] = [None]
        cache = self._descriptions
        if len(cache) > _DESCRIPTIONS:
            cache.clear()  # (its keys keep code objects alive: generated code makes many)
        out = []
        for code in codes:
            if code is None:
                out.append(FOLDED)
                continue
            desc = cache.get(code)
            if desc is None:
                name = getattr(code, "co_qualname", code.co_name)
                desc = cache[code] = describe(name, code.co_filename, code.co_firstlineno)
            out.append(desc)
        return out

    # --- results --------------------------------------------------------------------

    def rotate(self, now: float | None = None):
        """File the trees of the current cycle in the history; returns the entry (or None)."""
        now = self.clock() if now is None else now
        with self._lock:
            acc, self._cycle = self._cycle, _Acc(self.max_nodes, now)
        if not acc.count:
            return None
        entry = (now, merge(*acc.trees.values()), acc.trees)
        self.history.append(entry)
        return entry

    def take_recent(self) -> tuple:
        """``(time, tree, {prefix: tree})`` of the samples since the last call, or ``()``.

        Made for the heartbeat: plain data, empty when nothing ran.
        """
        now = self.clock()
        with self._lock:
            if not self._recent.count:
                self._recent.since = now
                return ()
            acc, self._recent = self._recent, _Acc(self.max_nodes, now)
        return (now, merge(*acc.trees.values()), acc.trees)

    def _entries(self, start, stop) -> list:
        with self._lock:
            entries = list(self.history)
            if stop is None and self._cycle.count:  # the cycle in progress, copied
                trees = {p: merge(t) for p, t in self._cycle.trees.items()}
                entries.append((self.clock(), merge(*trees.values()), trees))
        return [e for e in entries
                if (start is None or e[0] >= start) and (stop is None or e[0] <= stop)]  # fmt: skip

    def get_profile(self, start=None, stop=None, key=None, max_nodes: int | None = None) -> dict:
        """One tree merged over the cycles that ended within [start, stop].

        ``key`` selects one task prefix (a key or a prefix); without ``stop`` the
        cycle in progress is included.  ``max_nodes`` caps the result.
        """
        entries = self._entries(start, stop)
        if key is None:
            tree = merge(*(e[1] for e in entries))
        else:
            prefix = key if any(key in e[2] for e in entries) else key_split(key)
            tree = merge(*(e[2].get(prefix) for e in entries))
        return cap(tree, max_nodes) if max_nodes else tree

    def get_profile_metadata(self, start=None, stop=None) -> dict:
        """Samples per cycle, for an activity-over-time chart.

        ``{"counts": [(time, n), ...], "keys": {prefix: [(time, n), ...]}}``.
        """
        entries = self._entries(start, stop)
        keys: dict = {}
        for t, _, trees in entries:
            for prefix, tree in trees.items():
                keys.setdefault(prefix, []).append((t, tree["count"]))
        return {"counts": [(t, tree["count"]) for t, tree, _ in entries], "keys": keys}

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"<Sampler {state} interval={self.interval * 1000:g}ms "
                f"threads={len(self._slots)} samples={self.samples}>")  # fmt: skip
