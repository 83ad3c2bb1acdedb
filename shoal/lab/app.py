"""The Jupyter server extension: registers the handlers, owns the cluster manager.

Enabled by ``jupyter-config/jupyter_server_config.d/shoal-lab.json`` (installed
into ``etc/jupyter/``), configured as ``c.ShoalLab.cluster_kwargs = {...}``.
"""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Dict

from shoal.lab.clusters import ClusterManager
from shoal.lab.handlers import PROXY_AVAILABLE, handlers

__all__ = ["ShoalLab"]


class ShoalLab(ExtensionApp):
    name = "shoal.lab"
    load_other_extensions = True

    cluster_kwargs = Dict(
        help="Keyword arguments for the LocalClusters the sidebar starts (n_workers, "
        "threads_per_worker, memory_limit, dashboard_address, ...).",
    ).tag(config=True)

    def initialize_settings(self):
        if not PROXY_AVAILABLE:
            self.log.warning("shoal.lab: jupyter-server-proxy is not installed, so dashboards are "
                             "embedded from their own port, which only works where the browser can "
                             "reach it (not on Binder/JupyterHub): pip install 'shoal[jupyter]'")  # fmt: skip
        self.manager = ClusterManager(self.serverapp.base_url, self.cluster_kwargs, PROXY_AVAILABLE)

    def initialize_handlers(self):
        # ExtensionApp prepends the base URL itself
        self.handlers.extend(handlers("/", self.manager))

    async def stop_extension(self):
        await self.manager.close_all()
