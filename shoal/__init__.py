"""shoal: parallel computing for Python, made for Jupyter.

The public surface is curated here and pinned by ``tests/test_exports.py``::

    delayed, compute, persist, visualize      build and run task graphs
    optimize, get                             Dask's spellings: collections ready to
                                              compute; the synchronous scheduler
    annotate, get_annotations                 retries, priority, workers... for the
                                              tasks made in a block (a cluster's)
    config                                    settings (YAML + SHOAL_* env + set())
    tokenize                                  deterministic keys for values

Importing shoal imports no numpy, pandas, bokeh or tornado; collections
(``shoal.dataframe``, ``shoal.bag``, ``shoal.array``), ``shoal.diagnostics`` and
``shoal.distributed`` are separate imports.
"""

from shoal import config
from shoal.annotating import annotate, get_annotations
from shoal.base import compute, is_dask_collection, persist
from shoal.base import scheduler_get as _scheduler_get
from shoal.core.tokenize import tokenize
from shoal.delayed import Delayed, delayed
from shoal.optimization import optimize

__version__ = "0.1.0"

#: ``shoal.get(graph, keys)``: the synchronous scheduler (``dask.get``); the threaded
#: and process-pool ones are ``shoal.threaded.get`` and ``shoal.multiprocessing.get``
get = _scheduler_get("sync")
get.__name__ = get.__qualname__ = "get"

__all__ = [
    "Delayed",
    "annotate",
    "compute",
    "config",
    "delayed",
    "get",
    "get_annotations",
    "is_dask_collection",
    "optimize",
    "persist",
    "tokenize",
    "visualize",
]


#: submodules that ``shoal.<name>`` imports on first use, as ``dask.datasets`` or
#: ``dask.threaded`` work after a bare ``import dask`` (importing shoal stays light)
_LAZY_SUBMODULES = frozenset({"callbacks", "datasets", "local", "multiprocessing", "sizeof",
                              "threaded"})


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"shoal.{name}")
    raise AttributeError(f"module 'shoal' has no attribute {name!r}")


def __dir__():  # (tab completion offers them before their first use, as dask's dir does)
    return sorted({*globals(), *_LAZY_SUBMODULES})


def visualize(*args, **kwargs):
    """Draw the task graph of collections with graphviz (see ``shoal.dot``)."""
    from shoal.dot import visualize as _visualize

    return _visualize(*args, **kwargs)
