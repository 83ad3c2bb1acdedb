"""The public surface is deliberate: adding or removing a name is a decision."""

import shoal
import shoal.core.graph
import shoal.events


def test_top_level_surface():
    assert sorted(shoal.__all__) == [
        "Delayed", "annotate", "compute", "config", "delayed", "get", "get_annotations",
        "is_dask_collection", "optimize", "persist", "tokenize", "visualize",
    ]
    for name in shoal.__all__:
        assert hasattr(shoal, name), name


def test_config_surface():
    for name in ["get", "set", "refresh", "collect", "update_defaults", "serialize", "deserialize"]:
        assert callable(getattr(shoal.config, name)), name


def test_diagnostics_surface():
    import shoal.diagnostics

    for name in ["ProgressBar", "Profiler", "ResourceProfiler"]:
        assert hasattr(shoal.diagnostics, name), name


def test_event_vocabulary():
    kinds = {c.kind for c in (shoal.events.GraphSubmitted, shoal.events.TaskTransition,
                              shoal.events.ComputationFinished, shoal.events.WorkerAdded,
                              shoal.events.WorkerRemoved, shoal.events.WorkerMetrics)}
    assert kinds == {"graph-submitted", "task", "computation-finished", "worker-added",
                     "worker-removed", "worker-metrics"}


def test_graph_errors_are_exported():
    for name in ["CycleError", "MissingDependencyError", "UnknownKeyError"]:
        assert name in shoal.core.graph.__all__


def test_submodules_reached_from_a_bare_import_as_in_dask():
    """``import dask; dask.datasets.timeseries()`` works (the tutorials write it); so do
    ``shoal.datasets``, ``shoal.threaded``... each imported on first use only."""
    import subprocess
    import sys

    code = ("import sys, shoal\n"
            "assert 'shoal.datasets' not in sys.modules\n"
            "print(shoal.datasets.timeseries.__name__, shoal.threaded.get.__module__,\n"
            "      shoal.multiprocessing.get.__module__, shoal.callbacks.Callback.__name__)\n"
            "try:\n"
            "    shoal.nothing_here\n"
            "except AttributeError as exc:\n"
            "    print(exc)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.splitlines()  # fmt: skip
    assert out == ["timeseries shoal.base shoal.base Callback",  # (the gets resolve lazily)
                   "module 'shoal' has no attribute 'nothing_here'"]


def test_distributed_names_its_errors_as_dask_does():
    import concurrent.futures

    import shoal.distributed as sd

    assert sd.CancelledError is concurrent.futures.CancelledError
    assert issubclass(sd.FutureCancelledError, sd.CancelledError)
    assert sd.TimeoutError is TimeoutError


def test_lazy_submodules_are_listed_by_dir_before_their_first_use():
    import subprocess
    import sys

    code = ("import sys, shoal\n"
            "names = dir(shoal)\n"
            "assert 'shoal.datasets' not in sys.modules\n"
            "print(all(n in names for n in ('datasets', 'threaded', 'annotate', 'delayed')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()  # fmt: skip
    assert out == ["True"]
