"""shoal's benchmark suite: the same workloads run with shoal and with Dask.

Run it with ``python -m benchmarks.run`` (see ``benchmarks/README.md``).
"""
