"""The distributed client: submit work to a shoal cluster and hold its results.

::

    Client            connect (or start a LocalCluster); submit / map / gather /
                      scatter / compute / persist / get / run / restart / close
    Future            a remote result; one FutureState per key, released when the
                      last Future of a key is garbage-collected
    wait, as_completed, fire_and_forget, futures_of     waiting on many futures

Modules: :mod:`.core` (the Client: an async core, sync facades on the shared
loop thread of :mod:`shoal.distributed._loop`), :mod:`.connection` (the
scheduler stream and rpc), :mod:`.table` (states, reference counts, releases),
:mod:`.futures`, :mod:`.waiting`, :mod:`.results` (gather, scatter),
:mod:`.graphs` (user input -> update-graph messages), :mod:`.compute`
(collections, get), :mod:`.control` (run), :mod:`.naming` (keys),
:mod:`.serialize` (fast run_spec pickling), :mod:`.display` (repr and HTML),
:mod:`.diagnostics` (task stream, profile, performance_report) and
:mod:`.progress` (progress bars), imported on first use.
"""

from shoal.distributed.client.core import Client, default_client, default_client_get
from shoal.distributed.client.futures import Future, FutureCancelledError
from shoal.distributed.client.waiting import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    as_completed,
    fire_and_forget,
    futures_of,
    wait,
)

__all__ = [
    "ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_EXCEPTION", "Client", "Future",
    "FutureCancelledError", "as_completed", "default_client", "default_client_get",
    "fire_and_forget", "futures_of", "wait",
]  # fmt: skip
