"""A scheduler's computations: each update-graph's wanted keys, until ComputationFinished.

::

    update-graph      --> _start_computation(graph, client, wanted tasks)
                            computations[graph] = _Computation(pending = wanted keys)
                            _awaited[key] = {graphs waiting on it}
    a key in memory, erred or forgotten (SchedulerState._transition), or its client
    stopped wanting it ("cancelled")
                      --> _computation_progress(): off the pending sets it was in
    a graph with nothing pending --> ComputationFinished(graph, status, time, exception)
                                     published ("finished", "error" or "cancelled")
    graph_times[graph] = [submitted, finished]: the newest GRAPH_TIMES graphs' times

A mixin of :class:`~.state.SchedulerState` (it uses the state's ``computations``,
``_awaited``, ``clock`` and ``_publish``), kept apart because it is one concern beside
the transitions: what a computation's reader (a dashboard, a plugin) is told when
the keys a client asked for are all settled.  ``SchedulerState.validate_state`` checks
that every awaited key is pending in each graph it names.
"""

from __future__ import annotations

from shoal.distributed.scheduler.records import _Computation
from shoal.events import ComputationFinished

__all__ = ["GRAPH_TIMES", "TracksComputations"]

#: Graphs whose submission and finish times are kept (``SchedulerState.graph_times``).
GRAPH_TIMES = 10_000


class TracksComputations:
    """ComputationFinished for each update-graph (see the module docstring)."""

    def _start_computation(self, graph: str, client: str, tasks, stimulus_id: str) -> None:
        comp = self.computations[graph] = _Computation(client)
        times = self.graph_times
        times[graph] = [self.clock(), None]
        if len(times) > GRAPH_TIMES:
            del times[next(iter(times))]
        for ts in tasks:
            comp.pending.add(ts.key)
            self._awaited.setdefault(ts.key, set()).add(graph)
        for ts in tasks:
            if ts.state in ("memory", "erred"):
                self._computation_progress(ts, ts.state, stimulus_id)
        if not tasks:
            self._finish_computation(graph, stimulus_id)

    def _computation_progress(self, ts, outcome: str, stimulus_id: str, client=None) -> None:
        """``ts`` is in memory, erred or forgotten, or ``client`` stopped wanting
        it ("cancelled"): publish ComputationFinished for the graphs it completes."""
        graphs = self._awaited.get(ts.key, set())
        for graph in list(graphs):
            comp = self.computations[graph]
            if client is not None and comp.client != client:
                continue
            comp.pending.discard(ts.key)
            graphs.discard(graph)
            if outcome == "erred" and comp.status != "error":
                comp.status, comp.exception = "error", ts.exception_blame.exception_text
            elif outcome in ("forgotten", "cancelled") and comp.status == "finished":
                comp.status = "cancelled"
            if not comp.pending:
                self._finish_computation(graph, stimulus_id)
        if not graphs:
            self._awaited.pop(ts.key, None)

    def _finish_computation(self, graph: str, stimulus_id: str) -> None:
        comp = self.computations.pop(graph)
        record = ComputationFinished(graph, comp.status, self.clock(), comp.exception)
        times = self.graph_times.get(graph)
        if times is not None:
            times[1] = record.time
        self._publish(record, stimulus_id)
