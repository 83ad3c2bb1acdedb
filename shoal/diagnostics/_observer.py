"""The lifetime every diagnostic shares: a context manager, or register/unregister.

``with Tool(): ...`` observes the computations inside the block;
``Tool().register()`` observes every computation until ``unregister()``.
Subclasses implement ``_start`` (subscribe to the bus, start their thread) and
``_stop`` (unsubscribe, join the thread); both must be safe to call twice.
"""

from __future__ import annotations

__all__ = ["Observer"]


class Observer:
    """Context manager and register/unregister around ``_start`` / ``_stop``."""

    _started = False

    def __enter__(self):
        self._start()
        return self

    def __exit__(self, *exc):
        self._stop()

    def register(self) -> None:
        """Observe every computation until :meth:`unregister`."""
        self._start()

    def unregister(self) -> None:
        self._stop()


