"""Published datasets from a Client: ``publish_dataset``, ``get_dataset``,
``unpublish_dataset``, ``list_datasets`` and the mapping ``client.datasets``.

:class:`DatasetControl` holds these methods of :class:`~.core.Client` (a mixin:
they need only the client's ``sync``, ``scheduler`` rpc and ``id``).

::

    publish_dataset(df, name="x")  -> items [name, pickle of df, keys of its futures]
                                      --rpc publish_put--> Scheduler.datasets
    get_dataset("x")               --rpc publish_get--> the pickle, unpickled here with
                                      this client current: its Futures are this client's

A dataset is anything picklable: Futures, collections persisted on futures, or
plain values.  The scheduler keeps its futures' tasks alive until it is
unpublished, whichever client published it and whether or not that client is
still connected, so another client can fetch and gather it later.  Names are
str.  As in Dask, publishing an existing name raises unless ``override=True``,
and unpublishing an unknown name does nothing (``del client.datasets[name]``,
a mapping, raises ``KeyError`` for one).
"""

from __future__ import annotations

from collections.abc import MutableMapping

import cloudpickle

from shoal.distributed.client import current
from shoal.distributed.client.waiting import futures_of

__all__ = ["DatasetControl", "Datasets"]

_NO_DEFAULT = object()


def _check_name(name, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what}: a dataset name must be a non-empty str, got {name!r}")
    return name


def publish_items(args: tuple, name, kwargs: dict) -> dict:
    """``{name: value}`` from ``publish_dataset``'s arguments, in Dask's spelling: one
    positional value (several: their tuple) with ``name=``, or ``name=value`` pairs."""
    kwargs = dict(kwargs)
    if args:
        if name is None:
            raise TypeError("publish_dataset: positional data needs a name: publish_dataset("
                            "value, name='x') or publish_dataset(x=value)")  # fmt: skip
        kwargs[_check_name(name, "publish_dataset")] = args[0] if len(args) == 1 else args
    elif name is not None:
        raise TypeError(f"publish_dataset(name={name!r}): no data given: "
                        f"publish_dataset(value, name={name!r})")  # fmt: skip
    if not kwargs:
        raise TypeError("publish_dataset: nothing to publish")
    for key in kwargs:
        _check_name(key, "publish_dataset")
    return kwargs


def _live_keys(value, name: str) -> list:
    keys = []
    for future in futures_of(value):
        if future.status == "cancelled" or future._released:
            raise ValueError(f"publish_dataset: dataset {name!r} holds the Future of "
                             f"{future.key!r}, which was cancelled or released")  # fmt: skip
        keys.append(future.key)
    return list(dict.fromkeys(keys))


class DatasetControl:
    """``Client`` methods about published datasets; see the module docstring."""

    def publish_dataset(self, *args, name=None, override=False, asynchronous=None, **kwargs):
        """Publish data under a name on the scheduler, for this and other clients; its
        futures stay alive until it is unpublished.  ``publish_dataset(df, name="x")``
        or ``publish_dataset(x=df, y=other)``; an existing name raises ``KeyError``
        unless ``override=True``."""
        if not isinstance(override, bool):
            raise TypeError(f"publish_dataset: override must be True or False, got {override!r}")
        datasets = publish_items(args, name, kwargs)
        items = [[n, cloudpickle.dumps(v), _live_keys(v, n)] for n, v in datasets.items()]
        return self.sync(self._publish, items, override, datasets, asynchronous=asynchronous)

    async def _publish(self, items: list, override: bool, keep: dict) -> None:
        # (keep: the published Futures stay referenced here until the scheduler holds them)
        await self.scheduler.publish_put(items=items, override=override)

    def get_dataset(self, name, default=_NO_DEFAULT, asynchronous=None):
        """The dataset published as ``name``, its Futures bound to this client;
        ``default`` (if given) when there is none, else ``KeyError``."""
        _check_name(name, "get_dataset")
        return self.sync(self._get_dataset, name, default, asynchronous=asynchronous)

    async def _get_dataset(self, name: str, default=_NO_DEFAULT):
        # (a marker on the stream: a release sent before this request is handled before it)
        (found,) = await self.scheduler.publish_get(names=[name], client=self.id,
                                                    stream_mark=self._mark_stream())  # fmt: skip
        if found is None:
            if default is _NO_DEFAULT:
                raise KeyError(f"Dataset {name!r} not found (client.list_datasets() names "
                               "the published ones)")  # fmt: skip
            return default
        with current.as_current(self):  # (unpickled Futures take the current client)
            return cloudpickle.loads(found["data"])

    def unpublish_dataset(self, name, asynchronous=None):
        """Remove the dataset ``name`` (its futures are released unless held otherwise);
        nothing happens for an unknown name, as in Dask."""
        _check_name(name, "unpublish_dataset")
        return self.sync(self.scheduler.publish_delete, name=name, asynchronous=asynchronous)

    def list_datasets(self, asynchronous=None):
        """The names of the published datasets, sorted."""
        return self.sync(self._list_datasets, asynchronous=asynchronous)

    async def _list_datasets(self) -> list:
        return list(await self.scheduler.publish_list())

    @property
    def datasets(self) -> Datasets:
        """The published datasets as a mapping: ``client.datasets["x"] = df``,
        ``client.datasets["x"]``, ``del``, ``in``, ``len`` and iteration."""
        return Datasets(self)


class Datasets(MutableMapping):
    """The published datasets of a (synchronous) client's scheduler, as a mapping."""

    def __init__(self, client) -> None:
        self._client = client

    def __getitem__(self, name):
        return self._client.get_dataset(name)

    def __setitem__(self, name, value) -> None:
        self._client.publish_dataset(value, name=name)  # (as Dask's: no override)

    def __delitem__(self, name) -> None:
        if name not in self:
            raise KeyError(f"Dataset {name!r} not found")
        self._client.unpublish_dataset(name)

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def _names(self) -> list:
        if self._client.asynchronous:
            raise TypeError("client.datasets: an asynchronous client's datasets are read with "
                            "`await client.list_datasets()` / `get_dataset(name)`")  # fmt: skip
        return self._client.list_datasets()

    def __repr__(self) -> str:
        return f"<Datasets of {self._client!r}>"
