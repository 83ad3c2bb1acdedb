"""``shoal.bag``: parallel lists of Python objects (``import shoal.bag as db``).

::

    b = db.read_text("data/*.json").map(json.loads)          # a Bag of dicts
    b.filter(lambda r: not r["Cancelled"]).pluck("DepDelay")   # still lazy
    b.pluck("name").frequencies().topk(10, key=lambda kv: kv[1]).compute()

A :class:`Bag` is split into partitions (Python lists); elementwise methods run
once per partition, reductions (``count``, ``sum``, ``frequencies``, ``foldby``
...) as trees that return an :class:`Item` or a one-partition Bag, and
``groupby`` is a hash shuffle.  Bags compute with the process scheduler by
default, as in Dask; ``compute(scheduler="threads" | "sync")`` picks another.

Modules: ``core`` (the collections and the partitionwise builder),
``create`` (``from_sequence``, ``range``, ``from_delayed``, ``concat``, ``repartition``),
``reductions`` (trees, groupby), ``chunk`` (the per-partition kernels),
``io`` (``read_text``, ``to_textfiles``, ``to_dataframe``), ``strings``
(``Bag.str``).
"""

from shoal.bag.chunk import stable_hash
from shoal.bag.core import Bag, Item, map, map_partitions, zip
from shoal.bag.create import concat, from_delayed, from_sequence, range
from shoal.bag.io import read_text, to_textfiles
from shoal.bag.urls import from_url
from shoal.base import compute

__all__ = [
    "Bag",
    "Item",
    "compute",
    "concat",
    "from_delayed",
    "from_sequence",
    "from_url",
    "map",
    "map_partitions",
    "range",
    "read_text",
    "stable_hash",
    "to_textfiles",
    "zip",
]
