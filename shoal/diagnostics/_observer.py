"""The lifetime every diagnostic shares: a context manager, or register/unregister.

``with Tool(): ...`` observes the computations inside the block;
``Tool().register()`` observes every computation until ``unregister()``.
Subclasses implement ``_start`` (subscribe to the bus, start their thread) and
``_stop`` (unsubscribe, join the thread); both must be safe to call twice.

The two ways nest: a tool stops when the last of its uses ends, so a registered
dashboard that a cell also uses in a ``with`` block (or a ``with`` inside another
on the same tool) is still there after the block.
"""

from __future__ import annotations

__all__ = ["Observer"]


class Observer:
    """Context manager and register/unregister around ``_start`` / ``_stop``."""

    _started = False
    _registered = False  # register() until unregister()
    _blocks = 0  # with blocks open
    #: True while a with block's end stops it (a tool may do or say more then: a last
    #: sample, how to keep it open across cells)
    _block_ending = False

    def __enter__(self):
        self._start()  # (first: a start that fails opened no block)
        self._blocks += 1
        return self

    def __exit__(self, *exc):
        self._blocks = max(0, self._blocks - 1)
        self._block_ending = True
        try:
            self._stop_when_unused()
        finally:
            self._block_ending = False

    def register(self) -> None:
        """Observe every computation until :meth:`unregister`."""
        self._start()
        self._registered = True

    def unregister(self) -> None:
        self._registered = False
        self._stop_when_unused()

    def close(self) -> None:
        """End it now, however it was opened (registered, inside ``with`` blocks)."""
        self._registered, self._blocks = False, 0
        self._stop()

    def _stop_when_unused(self) -> None:
        if not self._blocks and not self._registered:
            self._stop()
