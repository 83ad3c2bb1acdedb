"""shoal in JupyterLab: the dashboard's panes beside the notebook.

Two halves that speak HTTP/JSON only::

    browser (labextension/, TypeScript)             Jupyter server (this package)
    -----------------------------------             -----------------------------
    sidebar: URL box, pane list, clusters  --GET-->  shoal/dashboards?kernel=<id>  registry files
    follows the active notebook's kernel   --GET-->  shoal/panes?url=...           panes.json
    iframe panels (task stream, ...)       <-HTTP/ws- shoal/proxy/<port>/...       the dashboard
    New / Scale / Shut down / Insert client -REST->  shoal/clusters[/<id>]         LocalClusters

The dashboard is a Bokeh server in its own process; every dashboard process
writes a record into Jupyter's runtime dir while it runs (see
:mod:`shoal.lab.registry`), naming the kernel that started it, so the sidebar
finds a notebook's dashboard without anyone copying a link.  Panes are embedded
through this server's proxy, so only Jupyter's port needs to be reachable
(Binder, JupyterHub).  The front end is prebuilt into ``labextension/`` here
and installed with the wheel under ``share/jupyter/labextensions/shoal-lab``:
``pip install`` needs no Node.

This is the top layer (L5): nothing in shoal imports it.
"""

from __future__ import annotations

import os

__all__ = ["LABEXTENSION", "_jupyter_labextension_paths", "_jupyter_server_extension_points"]

#: The prebuilt front end (``jupyter labextension develop`` links it; wheels copy it).
LABEXTENSION = os.path.join(os.path.dirname(__file__), "labextension")


def _jupyter_labextension_paths():
    return [{"src": LABEXTENSION, "dest": "shoal-lab"}]


def _jupyter_server_extension_points():
    from shoal.lab.app import ShoalLab

    return [{"module": "shoal.lab", "app": ShoalLab}]
