"""The client's table of keys: one FutureState per key, reference counts, releases.

::

    states: key -> FutureState(refs=n)       (``Client.futures`` is this dict)
    ref / new_states       refs += 1, a fresh state when the key has none
    unref                  refs -= 1; at 0 the key leaves ``states`` and joins ``releases``
    take_releases()        the keys to tell the scheduler about ("client-releases-keys")
    apply(op, msg)         a report from the scheduler changes the key's state

Reference counts change in any thread (``Future.__del__`` runs wherever the
garbage collector does), so they are guarded by one re-entrant lock (a
collection may run *inside* a locked section and drop another Future).
States themselves change only in :meth:`apply` and the client's own actions,
on the client's event loop.  Nothing here does I/O: the client sends what
:meth:`take_releases` returns.
"""

from __future__ import annotations

import itertools
import logging
import threading

from shoal.distributed.client.futures import FutureState, unpack_error

__all__ = ["KeyTable"]

logger = logging.getLogger(__name__)


class KeyTable:
    """FutureStates by key, with reference counts and pending releases."""

    def __init__(self):
        self.states: dict = {}
        self.lock = threading.RLock()
        self.releases: list = []  # (seq, key, the state it had) waiting to be sent
        self._seq = itertools.count()
        self.handlers: dict = {}  # op -> fn(msg), for reports not about keys ("event")

    def next_seq(self) -> int:
        """A number ordering stream messages and releases as the user's code made them."""
        with self.lock:
            return next(self._seq)

    # --- references (any thread) ---------------------------------------------------------

    def ref(self, key) -> tuple:
        """``(state, created)`` with one more reference to ``key``."""
        with self.lock:
            state = self.states.get(key)
            created = state is None
            if created:
                state = self.states[key] = FutureState(key)
            state.refs += 1
            return state, created

    def new_states(self, keys) -> tuple:
        """``({key: state}, [keys that had none])``, one more reference per distinct key."""
        out, created = {}, []
        with self.lock:
            states = self.states
            for key in keys:
                if key in out:
                    continue
                state = states.get(key)
                if state is None:
                    state = states[key] = FutureState(key)
                    created.append(key)
                state.refs += 1
                out[key] = state
        return out, created

    def unref(self, key, state) -> bool:
        """One reference less; True when ``key`` was queued for release (its last one)."""
        with self.lock:
            state.refs -= 1
            if state.refs > 0 or self.states.get(key) is not state:
                return False  # still used, or a state already dropped (cancel, restart)
            del self.states[key]
            self.releases.append((next(self._seq), key, state))
            return True

    def take_releases(self, before: int | None = None) -> list:
        """The keys to release now: those dropped before message ``before`` was made.

        A key used again since its last Future died keeps its result, unless
        that result was an error or a cancellation: then it is released, and
        the update-graph sent after the release computes it afresh.
        """
        with self.lock:
            if before is None:
                pending, self.releases = self.releases, []
            else:
                pending = [r for r in self.releases if r[0] < before]
                self.releases = [r for r in self.releases if r[0] >= before]
            states = self.states
            return [k for _, k, old in pending
                    if k not in states or old.status in ("error", "cancelled")]  # fmt: skip

    def pop(self, keys) -> list:
        """Forget ``keys`` (cancelled); return their states."""
        with self.lock:
            return [s for s in (self.states.pop(k, None) for k in keys) if s is not None]

    def clear(self) -> list:
        with self.lock:
            states = list(self.states.values())
            self.states.clear()
            self.releases.clear()
            return states

    # --- the scheduler's reports (on the loop) ---------------------------------------------

    def apply(self, op: str, msg: dict) -> None:
        """Change states after a scheduler report; unknown ops are ignored."""
        get = self.states.get
        if op == "key-in-memory":
            state = get(msg["key"])
            if state is not None:
                state.finish(msg.get("type"))
        elif op == "task-erred":
            key = msg["key"]
            state = get(key)
            if state is not None:
                state.set_error(*unpack_error(msg.get("exception"), msg.get("traceback"), key))
        elif op == "cancelled-keys":
            for key in msg.get("keys", ()):
                state = get(key)
                if state is not None:
                    state.cancel(msg.get("reason") or "cancelled by the scheduler")
        elif op == "lost-data":
            state = get(msg["key"])
            if state is not None:
                state.lose()
        elif op == "task-retried":
            state = get(msg["key"])
            if state is not None:
                state.reset()
        elif op in self.handlers:
            self.handlers[op](msg)
        else:
            logger.debug("ignoring op %r from the scheduler", op)

    def cancel_pending(self, reason: str) -> None:
        for state in list(self.states.values()):
            if not state.done():
                state.cancel(reason)
