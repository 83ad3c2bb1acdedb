"""Dashboard panes, one module per family, each split in two halves:

- pure shaping functions (state snapshot in, column dicts out), tested without
  Bokeh documents or a browser;
- :class:`~shoal.dashboard.panes._base.Pane` subclasses holding the Bokeh
  source, root model and ``update()``.

``PANES`` lists every pane that has an ``/individual-<name>`` page, in the order
the lab extension shows them.  :mod:`shoal.dashboard.panes.style` holds the
shared colours (per-prefix palette, memory thresholds) and number formats.
"""

from __future__ import annotations

from shoal.dashboard.panes.graph import Graph
from shoal.dashboard.panes.memory import ClusterMemory, MemoryByKey, WorkersMemory
from shoal.dashboard.panes.profile import Profile
from shoal.dashboard.panes.stream import TaskStream
from shoal.dashboard.panes.system import System
from shoal.dashboard.panes.tasks import ComputeTime, Exceptions, Progress
from shoal.dashboard.panes.workers import Cpu, NProcessing, Occupancy, WorkerTable

__all__ = ["PANES", "individual_route"]

PANES = {
    cls.name: cls
    for cls in (TaskStream, Progress, WorkersMemory, ClusterMemory, NProcessing, Occupancy, Cpu,
                WorkerTable, Profile, Graph, Exceptions, MemoryByKey, ComputeTime, System)
}  # fmt: skip


def individual_route(name: str) -> str:
    return f"/individual-{name}"
