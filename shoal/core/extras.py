"""The optional packages behind each of shoal's extras, checked where a package of
shoal starts, so that a plain ``pip install shoal`` says what to install.

``import shoal`` needs only the base dependencies (the local schedulers, ``delayed``
and bags run on them).  ``shoal.array``, ``shoal.dataframe`` and ``shoal.distributed``
(the local ``Dashboard`` reads the event stream through it) call :func:`require`
first: a missing package is a ``ModuleNotFoundError`` that names the extra, before
a bare "No module named 'msgpack'" from deep inside.  ``find_spec`` looks for the
package without importing it.
"""

from __future__ import annotations

from importlib.util import find_spec

__all__ = ["require"]


def require(extra: str, *modules: str, what: str) -> None:
    """Raise ``ModuleNotFoundError`` naming ``shoal[extra]`` if any of ``modules`` is not
    installed (``what``: the part of shoal that needs them)."""
    missing = [name for name in modules if find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(
            f"{what} needs {', '.join(missing)}, not installed here: pip install 'shoal[{extra}]'",
            name=missing[0])  # fmt: skip
