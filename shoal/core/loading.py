"""``"package.module:name"`` -> the object: how shoal names what it loads late.

The named schedulers (``base``), the local dashboard's event server
(``diagnostics.dashboard``) and a worker process's start-up (``distributed._worker_main``)
name objects they import only when first used, so that a layer never imports one
it must not know (docs/architecture.md, layers) and ``import shoal`` stays light.
"""

from __future__ import annotations

import importlib

__all__ = ["load_object"]


def load_object(path: str):
    """The object that *path* (``"package.module:name"``) names.

    >>> load_object("os.path:join") is __import__("os").path.join
    True
    >>> load_object("os.path")
    Traceback (most recent call last):
    ValueError: 'os.path' does not name an object: expected 'package.module:name'
    """
    module, colon, name = path.partition(":")
    if not (module and colon and name):
        raise ValueError(f"{path!r} does not name an object: expected 'package.module:name'")
    return getattr(importlib.import_module(module), name)
