"""Deploying shoal: clusters made of a scheduler and workers.

``LocalCluster`` starts a scheduler in this process and workers beside it (one
process each, under a :class:`~shoal.distributed.nanny.Nanny`, or in-process);
``cluster.adapt()`` scales it with the load (:mod:`.adaptive`).  The command
line (``shoal scheduler`` / ``shoal worker``, :mod:`shoal.cli`) builds the same
pieces across machines.
"""

from shoal.distributed.deploy.adaptive import Adaptive
from shoal.distributed.deploy.local import LocalCluster

__all__ = ["Adaptive", "LocalCluster"]
