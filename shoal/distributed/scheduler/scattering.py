"""``scatter``: values a client sends, put on workers and recorded as in memory (a mixin
of :class:`~shoal.distributed.scheduler.server.Scheduler`).

The values come by request, not on the client's stream, and go on to the workers by
request too (``update_data``), while releases and ``free-keys`` of the same keys travel
on the streams.  A request may overtake a stream message sent before it, so each of the
two hops waits for a marker (``shoal.distributed.batched``: ``BatchedSend.mark`` and
``StreamMarks``):

- the client puts a marker on its stream just before the request and the request
  carries its number: nothing happens before every message sent earlier has been
  handled (the release of an older Future of a key scattered again would otherwise
  arrive after the scatter and forget a key the client holds a fresh Future of);
- each target worker gets a marker on the scheduler's stream to it, and its
  ``update_data`` waits for that one (an older ``free-keys`` of the key would
  otherwise delete the new value on arrival);
- the worker's reply carries a marker of *its* stream, and the new copies are recorded
  once that one is reached (the ``release-worker-data`` answering that ``free-keys``
  would otherwise drop the copy just recorded).

The placement is the least loaded running worker per value, largest values first;
``broadcast`` puts a copy on each target.
"""

from __future__ import annotations

import asyncio
import time

from shoal.distributed.comm import CommClosedError
from shoal.distributed.scheduler import messages as m

__all__ = ["MARK_TIMEOUT", "ScattersData"]

#: Seconds a request carrying a stream marker (``scatter``) waits for its sender's stream
#: to deliver that marker before it fails.
MARK_TIMEOUT = 30.0


class ScattersData:
    """The scheduler's ``scatter`` request and the stream markers that order it."""

    async def scatter(self, comm=None, data=None, nbytes=None, workers=None, broadcast=False,
                      client="", types=None, timeout=10, stream_mark=None):  # fmt: skip
        """Put ``data`` on workers and record it as in memory, wanted by ``client``.

        ``stream_mark``: the marker the client put on its stream just before this request
        (``BatchedSend.mark``): nothing happens before every message it sent earlier (the
        release of an older Future of a key scattered again) has been handled, or a late
        release would forget a key the client holds a fresh Future of.  Likewise each
        worker's ``update_data`` waits for the ``free-keys`` sent to it before (a marker
        on the worker's stream), or it would drop the new value on arrival."""
        if stream_mark:
            await self._after_client_mark(client, stream_mark)
        data, nbytes = dict(data or {}), dict(nbytes or {})
        deadline = time.monotonic() + float(timeout)
        while not self.state.running:  # (none, or every one paused or leaving)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no running worker within {timeout} s to scatter to")
            async with self._worker_joined:
                try:
                    await asyncio.wait_for(self._worker_joined.wait(),
                                           min(0.1, deadline - time.monotonic()))  # fmt: skip
                except asyncio.TimeoutError:
                    pass
        if workers:
            unknown = [w for w in workers if w not in self.state.workers]
            if unknown:
                raise ValueError(f"scatter: unknown workers {unknown}")
            # the running ones among them (a paused or leaving one only when all are)
            targets = [w for w in workers if w in self.state.running] or list(workers)
        else:
            targets = list(self.state.running)
        plan: dict = {}  # worker -> {key: payload}
        if broadcast:
            plan = {w: dict(data) for w in targets}
        else:
            load = {w: self.state.workers[w].nbytes for w in targets}
            for key in sorted(data, key=lambda k: -int(nbytes.get(k, 0))):
                w = min(targets, key=load.__getitem__)
                load[w] += int(nbytes.get(key, 0))
                plan.setdefault(w, {})[key] = data[key]
        replies = await asyncio.gather(*(
            self.pool(w).update_data(data=d, report=False, stream_mark=self._mark_worker_stream(w))
            for w, d in plan.items()))  # fmt: skip
        for w, reply in zip(plan, replies):  # what each worker sent before its reply comes first
            await self._after_worker_mark(w, reply)
        who_has: dict = {}
        for w, d in plan.items():
            for key in d:
                who_has.setdefault(key, []).append(w)
        self.handle(m.UpdateData(who_has, nbytes, client, dict(types or {})))
        return list(data)

    async def _after_client_mark(self, client: str, mark) -> None:
        """Wait until the stream of ``client`` has delivered (and this scheduler handled)
        everything it carried before marker ``mark``."""
        stream = self.client_streams.get(client)
        if stream is None:
            raise CommClosedError(f"the stream of client {client} is gone: its request cannot be "
                                  "ordered after what it sent there")  # fmt: skip
        await stream.peer_marks.wait(mark, MARK_TIMEOUT)

    async def _after_worker_mark(self, address: str, reply) -> None:
        """Wait until the stream of worker ``address`` has delivered (and this scheduler
        handled) what it sent before its ``update_data`` reply: the release-worker-data
        answering an older free-keys of a key scattered again would otherwise arrive after
        the new copy is recorded and drop it (``LostScatteredData``)."""
        mark = reply.get("stream_mark") if isinstance(reply, dict) else None
        stream = self.worker_streams.get(address)
        if mark and stream is not None:
            await stream.peer_marks.wait(mark, MARK_TIMEOUT)

    def _mark_worker_stream(self, address: str) -> int | None:
        """A marker on the stream to worker ``address``: its request waits until what was
        sent there before (``free-keys``) is handled.  None when there is no stream."""
        stream = self.worker_streams.get(address)
        if stream is None:
            return None
        try:
            return stream.mark()
        except CommClosedError:
            return None
