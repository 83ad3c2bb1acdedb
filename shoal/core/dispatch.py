"""Single dispatch on an argument's type, with lazily imported handlers.

``Dispatch`` is a tiny alternative to :func:`functools.singledispatch` that is
tuned for the hot paths in shoal (tokenizing, sizing, concatenating, ...):

* Handlers are registered for a type (or a tuple of types).  When called, the
  first class in ``type(arg).__mro__`` that has a handler wins.
* Results are memoised per concrete type, so after the first call for a type a
  lookup is a single dictionary access.  Any registration clears the memo.
* ``register_lazy("numpy", func)`` defers the registration of a whole family of
  handlers until an object from that top-level package actually shows up.
  ``func`` is run (once) the first time a class whose ``__module__`` starts
  with ``numpy`` appears anywhere in the MRO being resolved; it is expected to
  import the library and call ``register``.  This keeps heavy optional
  libraries out of ``sys.modules`` until the user brings them in.
"""

from __future__ import annotations

import threading

__all__ = ["Dispatch"]


class Dispatch:
    """Dispatch a call on the type of its first argument."""

    def __init__(self, name: str | None = None):
        self.__name__ = name or "dispatch"
        self._handlers: dict[type, object] = {}
        self._lazy: dict[str, object] = {}
        self._memo: dict[type, object] = {}
        # Held while resolving a memo miss, so that no thread can see a type
        # before the lazy loader of its package has finished registering.
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<Dispatch {self.__name__!r}: {len(self._handlers)} handlers>"

    def register(self, type_or_types, func=None):
        """Register ``func`` for a type or tuple of types.

        Without ``func`` this returns a decorator.
        """

        def add(f):
            types = type_or_types if isinstance(type_or_types, tuple) else (type_or_types,)
            for t in types:
                if not isinstance(t, type):
                    raise TypeError(f"{self.__name__}: can only register types, got {t!r}")
            with self._lock:
                self._handlers.update(dict.fromkeys(types, f))
                self._memo.clear()
            return f

        return add if func is None else add(func)

    def register_lazy(self, toplevel: str, func=None):
        """Run ``func()`` the first time a type from package ``toplevel`` is seen.

        Without ``func`` this returns a decorator.
        """

        def add(f):
            with self._lock:
                self._lazy[toplevel] = f
                self._memo.clear()
            return f

        return add if func is None else add(func)

    def dispatch(self, cls: type):
        """Return the handler for ``cls`` (raises ``TypeError`` if none)."""
        try:
            return self._memo[cls]
        except KeyError:
            pass
        with self._lock:
            handler = self._resolve(cls)
            self._memo[cls] = handler
        return handler

    def _resolve(self, cls: type):
        for klass in cls.__mro__:
            if self._lazy:
                module = getattr(klass, "__module__", None)
                toplevel = module.partition(".")[0] if isinstance(module, str) else ""
                loader = self._lazy.pop(toplevel, None)
                if loader is not None:
                    loader()
                    # The loader registered new handlers: start again.
                    return self._resolve(cls)
            handler = self._handlers.get(klass)
            if handler is not None:
                return handler
        raise TypeError(
            f"{self.__name__}: no handler registered for type "
            f"{cls.__module__}.{cls.__qualname__}"
        )

    def __call__(self, arg, *args, **kwargs):
        cls = type(arg)
        try:
            handler = self._memo[cls]
        except KeyError:
            handler = self.dispatch(cls)
        return handler(arg, *args, **kwargs)
