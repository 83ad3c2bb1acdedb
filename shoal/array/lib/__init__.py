"""``shoal.array.lib``: NumPy's ``numpy.lib`` helpers, blocked (as ``dask.array.lib``).

Only ``stride_tricks`` (``sliding_window_view``) lives here; the package exists so
that the spelling ``da.lib.stride_tricks.sliding_window_view`` works as in Dask.
"""

from shoal.array.lib import stride_tricks

__all__ = ["stride_tricks"]
