"""``Client.scatter``: local values sent to the cluster as Futures (a mixin of
:class:`~shoal.distributed.client.core.Client`).

The Futures are made first (one reference per key, so a Future of the same key
dropped meanwhile releases nothing), then the values go by request to the scheduler,
which places them on workers.  That request travels beside the client's stream, on
which the releases of dropped Futures go: a release made *before* the scatter (an
older Future of the same content-hashed key) could reach the scheduler after it and
forget a key the new Future stands for.  So ``_mark_stream`` sends the releases due,
then a marker (``shoal.distributed.batched``), and the request carries the marker's
number: the scheduler handles what came before it first (``scheduler/scattering.py``).
``get_dataset`` orders its request the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

from shoal.distributed.client import results
from shoal.distributed.comm import CommClosedError

__all__ = ["ScatterControl"]


class ScatterControl:
    """``scatter`` and the stream marker that orders a request after the releases."""

    def scatter(self, data, workers=None, broadcast=False, direct=None, hash=True, timeout=None,
                asynchronous=None):  # fmt: skip
        """Move local data to the cluster; Futures in the shape of ``data``.

        A list, tuple, set or iterator gives one Future per item (keys from the values'
        tokens, or random with ``hash=False``); a dict keeps its keys; anything
        else is one value.  ``workers`` limits where the data goes;
        ``broadcast`` puts a copy on each of them.
        """
        self._check_running("scatter")
        if isinstance(data, Iterator):
            data = list(data)  # (one Future per item, as for a list)
        order, msg = results.scatter_request(self, data, workers, broadcast, hash, timeout)
        return self.sync(self._scatter, data, order, msg, asynchronous=asynchronous)

    async def _scatter(self, data, order, msg):
        futures, _ = self._new_futures(order)
        mark = self._mark_stream()
        await self.scheduler.scatter(**msg, stream_mark=mark)
        for key, f in futures.items():
            if not f._state.done():
                f._state.finish(msg["types"][key])
        return results.scatter_results(data, order, futures)

    def _mark_stream(self) -> int | None:
        """On the loop, before a request that must not overtake this client's stream: send
        the releases due (those of keys just used again are dropped by ``take_releases``),
        then a marker, written at once; the request carries its number and the scheduler
        handles everything sent before it first (``shoal.distributed.batched``).  A release
        already on its way for a key that is scattered again would otherwise arrive after
        the scatter and forget the key under the new Future.  None: no stream."""
        stream = self._conn.stream if self._conn is not None else None
        if stream is None:
            return None
        if self._keys.releases:
            self._flush_releases(before=self._first_unsent())
        try:
            return stream.mark()
        except CommClosedError:
            return None
