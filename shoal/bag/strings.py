"""``Bag.str``: Python's string methods mapped over the elements of a bag.

``b.str.lower()`` is ``b.map(operator.methodcaller("lower"))``: every ``str``
method is available under its own name and takes the same arguments.  The one
addition is ``match(pattern)``, which *filters* the elements with
``fnmatch.fnmatch`` (shell-style wildcards), as in Dask.
"""

from __future__ import annotations

import fnmatch
import functools
import operator

__all__ = ["StringAccessor"]


class StringAccessor:
    """String methods of the elements of a bag (see the module docstring)."""

    def __init__(self, bag):
        self._bag = bag

    def __dir__(self):
        return sorted(set(dir(type(self))) | {m for m in dir(str) if not m.startswith("_")})

    def __getattr__(self, name):
        if name.startswith("_") or not hasattr(str, name):
            raise AttributeError(f"'str' has no method {name!r} to map over a bag")
        method = getattr(str, name)

        def mapped(*args, **kwargs):
            return self._bag.map(operator.methodcaller(name, *args, **kwargs))

        mapped.__name__ = name
        mapped.__doc__ = method.__doc__
        return mapped

    def match(self, pattern):
        """The elements matching the shell-style *pattern* (``fnmatch``)."""
        return self._bag.filter(functools.partial(fnmatch.fnmatch, pat=pattern))
