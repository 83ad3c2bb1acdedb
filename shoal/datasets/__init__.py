"""Sample datasets for the tutorials and benchmarks, generated on demand.

``flights`` writes the NYC flights of 2013 in the airline on-time layout the
dataframe chapter reads (``data/nycflights/*.csv``) plus JSON-lines extracts
for the bag chapter (``data/flightjson/*.json``); ``flights_path`` says where
the CSVs live.  From a shell: ``python -m shoal.datasets flights``.  ``timeseries()``
is a random time-indexed DataFrame, made in its tasks (as Dask's ``dask.datasets``).

Importing this package is cheap: pandas and numpy are imported only when data
is actually generated.  The function ``flights`` shadows the submodule of the
same name as an attribute; reach the module itself with
``importlib.import_module("shoal.datasets.flights")``.
"""

from shoal.datasets.flights import flights, flights_path
from shoal.datasets.timeseries import timeseries

__all__ = ["flights", "flights_path", "timeseries"]
