"""Public test helpers for code that builds on shoal.

``shoal.testing.conformance`` holds :class:`GetContract`, a pytest suite for the
scheduler contract ``get(graph, keys, **kwargs)`` that any scheduler (shoal's,
Dask's, a third party's) can run by binding its ``get`` once::

    from shoal.testing import GetContract

    class TestMyScheduler(GetContract):
        get = staticmethod(my_scheduler.get)

The suite needs pytest; it is imported on first use so that importing
``shoal.testing`` alone does not.
"""

from __future__ import annotations

__all__ = ["GetContract"]


def __getattr__(name):
    if name == "GetContract":
        from shoal.testing.conformance import GetContract

        return GetContract
    raise AttributeError(f"module 'shoal.testing' has no attribute {name!r}")
