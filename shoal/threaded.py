"""``shoal.threaded.get``: the threaded scheduler under Dask's module name
(``dask.threaded.get``).  It is ``shoal.local.threads.get``, found through the
scheduler registry when first called: this module stays as light as ``import shoal``.
"""

from shoal.base import scheduler_get

__all__ = ["get"]

get = scheduler_get("threads")
get.__name__ = get.__qualname__ = "get"
