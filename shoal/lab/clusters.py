"""Clusters started from the sidebar: LocalClusters living in the Jupyter server.

::

    GET    shoal/clusters          [model, ...]
    POST   shoal/clusters          {"workers"?: n, "threads_per_worker"?: m} -> model
    GET    shoal/clusters/<id>     model
    PATCH  shoal/clusters/<id>     {"workers": n} | {"adapt": {"minimum": a, "maximum": b}} -> model
    DELETE shoal/clusters/<id>     204

    model = {id, name, scheduler_address, dashboard_link, url (what to embed),
             workers, threads, memory, adapt}

Each cluster is ``LocalCluster(asynchronous=True)`` on the server's own event
loop: its scheduler is a few coroutines there, its workers are processes
(nannies), its dashboard a process of its own, so the server does no drawing.
They all close with the server (``ShoalLab.stop_extension``).  A kernel
connects with the code the sidebar inserts, ``Client("tcp://...")``.
"""

from __future__ import annotations

import asyncio
import json
import math

from jupyter_server.base.handlers import APIHandler
from tornado import web

from shoal.lab.registry import embeddable

__all__ = ["ClusterManager", "ClusterHandler"]


class ClusterManager:
    def __init__(self, base_url: str = "/", defaults: dict | None = None, proxied: bool = True):
        self.base_url, self.proxied = base_url, proxied
        self.defaults = dict(defaults or {})
        self.clusters: dict = {}  # id -> LocalCluster
        self._adapt: dict = {}  # id -> {"minimum", "maximum"}
        self._count = 0

    def model(self, cid: str) -> dict:
        cluster = self.clusters[cid]
        n = len(cluster.workers)
        try:
            link = cluster.dashboard_link
        except ValueError:  # (a bad distributed.dashboard.link: the cluster is listed anyway)
            link = None
        return {
            "id": cid, "name": cluster.name, "scheduler_address": cluster.scheduler_address,
            "dashboard_link": link, "url": embeddable(link, self.base_url, self.proxied) if link else None,
            "workers": n, "threads": n * cluster.threads_per_worker,
            "memory": n * cluster.memory_limit if cluster.memory_limit else None,
            "adapt": self._adapt.get(cid),
        }  # fmt: skip

    def list(self) -> list:
        return [self.model(cid) for cid in self.clusters]

    async def start(self, workers=None, threads_per_worker=None) -> dict:
        from shoal.distributed import LocalCluster

        kwargs = dict(self.defaults)
        if workers is not None:
            kwargs["n_workers"] = int(workers)
        if threads_per_worker is not None:
            kwargs["threads_per_worker"] = int(threads_per_worker)
        self._count += 1
        cid = f"cluster-{self._count}"
        kwargs.setdefault("name", f"Cluster {self._count}")
        kwargs.setdefault("protocol", "tcp")  # kernels connect from other processes: never inproc
        cluster = await LocalCluster(asynchronous=True, **kwargs)
        self.clusters[cid] = cluster
        return self.model(cid)

    async def scale(self, cid: str, workers=None, adapt=None) -> dict:
        cluster = self.clusters[cid]
        if adapt is not None:
            low, high = int(adapt.get("minimum", 0)), adapt.get("maximum")
            high = math.inf if high is None else int(high)
            cluster.adapt(minimum=low, maximum=high)
            self._adapt[cid] = {"minimum": low, "maximum": None if high == math.inf else high}
        elif workers is not None:
            if self._adapt.pop(cid, None) is not None:
                cluster.adapt(minimum=int(workers), maximum=int(workers))  # stops following load
            await cluster.scale(int(workers))
        return self.model(cid)

    async def close(self, cid: str) -> None:
        cluster = self.clusters.pop(cid)
        self._adapt.pop(cid, None)
        await cluster.close()

    async def close_all(self) -> None:
        await asyncio.gather(*(self.close(cid) for cid in list(self.clusters)), return_exceptions=True)


class ClusterHandler(APIHandler):
    def initialize(self, manager: ClusterManager):
        self.manager = manager

    def _known(self, cid):
        if cid not in self.manager.clusters:
            raise web.HTTPError(404, f"no cluster {cid!r}")

    @web.authenticated
    def get(self, cid=None):
        if cid is None:
            return self.finish(json.dumps({"clusters": self.manager.list()}))
        self._known(cid)
        self.finish(json.dumps(self.manager.model(cid)))

    @web.authenticated
    async def post(self, cid=None):
        body = self.get_json_body() or {}
        try:
            model = await self.manager.start(body.get("workers"), body.get("threads_per_worker"))
        except (TypeError, ValueError) as exc:
            raise web.HTTPError(400, str(exc)) from exc
        except ImportError as exc:  # (a server without the distributed extra: it says which)
            raise web.HTTPError(503, f"cannot start a cluster here: {exc}") from exc
        self.set_status(201)
        self.finish(json.dumps(model))

    @web.authenticated
    async def patch(self, cid=None):
        self._known(cid)
        body = self.get_json_body() or {}
        try:
            model = await self.manager.scale(cid, body.get("workers"), body.get("adapt"))
        except (TypeError, ValueError, AttributeError) as exc:
            raise web.HTTPError(400, str(exc)) from exc
        self.finish(json.dumps(model))

    @web.authenticated
    async def delete(self, cid=None):
        self._known(cid)
        await self.manager.close(cid)
        self.set_status(204)
        self.finish()
