"""Published datasets on the scheduler: a mixin of
:class:`~shoal.distributed.scheduler.server.Scheduler`.

::

    datasets   name -> (data: bytes, the client's pickle of it; keys: its futures' keys)

    publish_put(items, override)   every name checked first (one already published
                                   without override -> KeyError naming it, nothing
                                   changed); then each dataset's keys are desired by
                                   the pseudo-client "published-<name>"; an
                                   overridden dataset's old keys are released after
    publish_get(names, client)     [{"data", "keys"} or None per name]; the keys are
                                   desired by the getter's client at once, and a while
                                   by the coordination hand-over (see below)
    publish_delete(name)           keys released; the pseudo-client goes
    publish_list()                 the names, sorted

A published dataset keeps its futures' tasks alive whatever happens to the client
that published it, as Dask's does: the want-count is held by a pseudo-client of
the scheduler's state on the dataset's behalf, until it is unpublished.  The data
stays the bytes the client pickled (this process never unpickles user objects);
the getter unpickles it as its own Futures.

The keys travel on the publishing client's stream (its ``update-graph``), the
request on another comm: a key not known yet is waited for, ``KEY_ARRIVAL``
seconds at most.  The getter's client may still send the release of an older
Future of a key it gets back: the hand-over of :mod:`.coordination` (``_reply``)
holds each key for its ``GRACE`` seconds, so that release cannot drop it.  A release
the client sent *before* ``publish_get`` is handled before it whatever the delay:
the request carries a marker of the client's stream and waits for it
(``shoal.distributed.batched``); the grace covers an older Future dropped while the
request is on its way (its release is made after the marker).
"""

from __future__ import annotations

import asyncio
import time

from shoal.distributed.scheduler import messages as m
from shoal.distributed.scheduler.coordination import KEY_ARRIVAL
from shoal.distributed.taskcolumns import key_from_wire

__all__ = ["KeepsDatasets", "holder_of"]


def holder_of(name: str) -> str:
    """The pseudo-client that holds the keys of the dataset ``name``."""
    return f"published-{name}"


class KeepsDatasets:
    """Published datasets on the scheduler; see the module docstring."""

    def dataset_handlers(self) -> dict:
        """The rpc handlers (and the empty register: called from ``__init__``)."""
        self.datasets: dict = {}  # name -> {"data": bytes, "keys": [key, ...]}
        return {"publish_put": self.publish_put, "publish_get": self.publish_get,
                "publish_delete": self.publish_delete,
                "publish_list": self.publish_list}  # fmt: skip

    async def publish_put(self, comm=None, items=(), override=False) -> None:
        items = [(name, data, [key_from_wire(k) for k in keys]) for name, data, keys in items]
        for name, _, _ in items:
            if not isinstance(name, str):
                raise TypeError(f"publish_dataset: a dataset name must be a str, got {name!r}")
            if name in self.datasets and not override:
                raise KeyError(f"Dataset {name!r} already exists; publish it with override=True "
                               "to replace it, or unpublish_dataset it first")  # fmt: skip
        await self._keys_known([k for _, _, keys in items for k in keys])
        for name, data, keys in items:
            old = self.datasets.get(name)
            self.datasets[name] = {"data": data, "keys": keys}
            self._hold_keys(keys, holder_of(name))
            if old is not None:
                self._drop_keys([k for k in old["keys"] if k not in set(keys)], holder_of(name))

    async def publish_get(self, comm=None, names=(), client=None, stream_mark=None) -> list:
        if stream_mark and client in self.client_streams:  # (see the module docstring)
            await self._after_client_mark(client, stream_mark)
        out = []
        for name in names:
            dataset = self.datasets.get(name)
            if dataset is not None:
                for key in dataset["keys"]:
                    self._reply(("future", key), client)  # (coordination.py: the hand-over)
            out.append(dataset)
        return out

    def publish_delete(self, comm=None, name=None) -> None:
        dataset = self.datasets.pop(name, None)
        if dataset is not None:
            self._drop_keys(dataset["keys"], holder_of(name), gone=True)

    def publish_list(self, comm=None) -> list:
        return sorted(self.datasets)

    # --- helpers ------------------------------------------------------------------------

    async def _keys_known(self, keys: list) -> None:
        deadline = time.monotonic() + KEY_ARRIVAL
        while True:
            missing = [k for k in keys if k not in self.state.tasks]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise ValueError(f"publish_dataset: unknown key(s) {missing[:5]!r}: their Futures "
                                 "were released or never submitted")  # fmt: skip
            await asyncio.sleep(0.01)

    def _hold_keys(self, keys: list, holder: str) -> None:
        if keys:
            self.handle(m.ClientDesiresKeys(keys, holder, stimulus_id=f"{holder}-{time.time()}"))

    def _drop_keys(self, keys: list, holder: str, gone: bool = False) -> None:
        """*holder* releases ``keys``; with ``gone`` (or holding nothing) it is removed."""
        sid = f"{holder}-{time.time()}"
        if keys:
            self.handle(m.ClientReleasesKeys(keys, holder, stimulus_id=sid))
        pseudo = self.state.clients.get(holder)
        if pseudo is not None and (gone or not pseudo.wants_what):
            self.handle(m.RemoveClient(holder, stimulus_id=sid))
