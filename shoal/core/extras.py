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

import re
from importlib import metadata
from importlib.util import find_spec

__all__ = ["MINIMUM_VERSIONS", "outdated", "require"]

#: Packages whose older releases import but do not work with shoal (pyproject's floors
#: for them; a test holds the two equal): bokeh before 3.9 has no "file.html.jinja" page
#: template, and every dashboard page answered HTTP 500.
MINIMUM_VERSIONS = {"bokeh": "3.9"}


def require(extra: str, *modules: str, what: str) -> None:
    """Raise ``ModuleNotFoundError`` naming ``shoal[extra]`` if any of ``modules`` is not
    installed, ``ImportError`` if one is older than :data:`MINIMUM_VERSIONS` says
    (``what``: the part of shoal that needs them)."""
    missing = [name for name in modules if find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(
            f"{what} needs {', '.join(missing)}, not installed here: pip install 'shoal[{extra}]'",
            name=missing[0])  # fmt: skip
    old = outdated(*modules)
    if old:
        raise ImportError(f"{what} needs a newer {', '.join(old)}: "
                          f"pip install --upgrade 'shoal[{extra}]'")  # fmt: skip


def outdated(*modules: str) -> list:
    """``"bokeh 3.8.0 (3.9 or newer)"`` for each of *modules* installed in a release older
    than :data:`MINIMUM_VERSIONS` says (a module not installed is not outdated).

    >>> outdated("json")
    []
    """
    out = []
    for name in modules:
        floor = MINIMUM_VERSIONS.get(name)
        if floor is None:
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if _release(installed) < _release(floor):
            out.append(f"{name} {installed} ({floor} or newer)")
    return out


def _release(version: str) -> tuple:
    """The leading numbers of a version: ``"3.9.0rc1"`` -> ``(3, 9, 0)``."""
    return tuple(int(n) for n in re.findall(r"\d+", re.match(r"[\d.]*", version).group()))
