"""shoal's live dashboard: event records in, Bokeh pages out.

::

    scheduler --records--> (feed) --> DashboardState.ingest --> bounded views
                                                                   |
    browser / JupyterLab <-- DashboardServer (Bokeh + Tornado) <-- panes: update()

The dashboard runs in its own process, fed by a stream of
:mod:`shoal.events` records, so drawing never takes a scheduler's time.
:class:`DashboardState` (no Bokeh needed) folds records into bounded views;
:func:`start_server` serves them: ``/status``, ``/workers``, ``/tasks``,
``/profile``, ``/graph``, ``/system``, ``/info``, one ``/individual-<pane>``
page per pane, ``panes.json`` / ``individual-plots.json``, ``/health`` and
``/metrics``.  Bokeh and Tornado are imported only when the server is used.
"""

from shoal.dashboard.state import DashboardState, Limits

__all__ = ["DashboardServer", "DashboardState", "Limits", "start_server"]


def __getattr__(name):
    if name in ("DashboardServer", "start_server"):
        from shoal.dashboard import server

        return getattr(server, name)
    raise AttributeError(f"module 'shoal.dashboard' has no attribute {name!r}")
