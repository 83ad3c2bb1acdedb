"""``shoal.multiprocessing.get``: the process-pool scheduler under Dask's module name
(``dask.multiprocessing.get``).  It is ``shoal.local.processes.get``, found through
the scheduler registry when first called: this module stays as light as ``import shoal``.
"""

from shoal.base import scheduler_get

__all__ = ["get"]

get = scheduler_get("processes")
get.__name__ = get.__qualname__ = "get"
