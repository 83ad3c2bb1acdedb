"""Running functions on the cluster itself: ``Client.run`` on workers.

``run`` is a broadcast through the scheduler (op ``run`` on each worker, or
on its nanny).  With ``on_error="raise"`` one request serves all workers and
the first error propagates with its own type; ``"return"`` and ``"ignore"``
ask each worker separately so one failure does not hide the other answers.
"""

from __future__ import annotations

import asyncio

from shoal.distributed.protocol import Pickled

__all__ = ["run_on_workers"]


async def run_on_workers(scheduler, function, args, kwargs, workers, nanny, on_error) -> dict:
    """``{worker address: result}`` of ``function(*args, **kwargs)`` on ``workers`` (all: None)."""
    msg = {"op": "run", "function": Pickled(function), "args": Pickled(tuple(args)),
           "kwargs": Pickled(dict(kwargs))}  # fmt: skip
    if on_error == "raise":
        return await scheduler.broadcast(msg=msg, workers=workers, nanny=nanny)
    if workers is None:
        workers = list((await scheduler.nthreads()).keys())

    async def one(worker):
        try:
            return await scheduler.broadcast(msg=msg, workers=[worker], nanny=nanny)
        except Exception as exc:  # noqa: BLE001 - on_error decides what to do with it
            return {worker: exc}

    out: dict = {}
    for part in await asyncio.gather(*(one(w) for w in workers)):
        for worker, result in part.items():
            if not (on_error == "ignore" and isinstance(result, Exception)):
                out[worker] = result
    return out
