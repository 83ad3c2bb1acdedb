"""Diagnostics from the client: task stream, profiles and the performance report.

::

    Client.get_task_stream(start, stop, count) --rpc get_task_stream--> scheduler's TaskStreamLog
    Client.profile(key, start, stop, workers)  --rpc get_profile------> scheduler --profile--> workers
    with get_task_stream() as ts: ...          ts.data: the tasks that finished inside the block
        enter: the scheduler's task-stream cursor; exit: the tasks it received since
    with performance_report("report.html"): ...
        enter: the task-stream cursor, the time and the calling code
        exit:  task stream since the cursor + merged profile since the time, cluster info
               --shoal.diagnostics.report.report_html--> one self-contained HTML file

The rpc calls run on the client's loop; the task stream's dicts are made from the
scheduler's packed rows (:func:`~shoal.distributed.taskstream.task_dicts`), figures
built and files written in the caller's thread (a sync client's loop thread is
shared, so it never does file I/O here).  Times (``start`` / ``stop``) are wall-clock seconds on the
scheduler's clock (which the workers' timings are put on), a ``datetime``, or a
string such as ``"30s"``: that long ago, by the scheduler's clock, as are the
times the blocks take (``Client._scheduler_now``: a client whose clock is off
still gets the block's profile and the report's duration).  A scheduler that
serves a dashboard keeps task records from its start; one without keeps them only
after the first request (see :mod:`shoal.distributed.scheduler.diagnostics`), so
there the first ``get_task_stream()`` without a context manager sees nothing
earlier.
"""

from __future__ import annotations

import datetime
import gzip
import inspect
import os
import sys
import time

from shoal import config
from shoal.core.keys import key_split
from shoal.distributed.taskstream import task_dicts

__all__ = ["get_task_stream", "performance_report", "profile", "task_stream", "worker_addresses"]

MAX_CODE = 20_000  # characters of calling code kept in a report


def when(value, name: str = "time", now=time.time):
    """Wall-clock seconds from a number, a ``datetime`` or a duration string ("10s" before
    ``now()``); *name* (the argument's) is in the error for anything else."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return now() - config.parse_timedelta(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}={value!r}: not a duration ({exc})") from None
    raise TypeError(f"{name}={value!r}: expected seconds since the epoch, a datetime or a "
                    f"duration string ('10s': that long ago), not {type(value).__name__}")


def _count(count):
    """``count`` as an int (None stays None), naming it when it is not one."""
    if count is None:
        return None
    try:
        return int(count)
    except (TypeError, ValueError):
        raise TypeError(f"count={count!r}: expected a number of tasks") from None


def worker_addresses(workers):
    """``workers`` as a list of addresses (None stays None), naming it when it is not one."""
    if workers is None:
        return None
    if isinstance(workers, str):
        return [workers]
    try:
        listed = list(workers)
    except TypeError:
        raise TypeError(f"workers={workers!r}: expected a worker's address or a list of them") from None
    bad = [w for w in listed if not isinstance(w, str)]
    if bad:
        raise TypeError(f"workers={workers!r}: {bad[0]!r} is not a worker's address (workers "
                        "must be an address or a list of them)")  # fmt: skip
    return listed


def _is_async(client, asynchronous) -> bool:
    return client.asynchronous if asynchronous is None else bool(asynchronous)


def _blocking(client, what: str):
    """``client``, for a ``with`` block: an asynchronous client has none (it would block
    the loop its own requests need)."""
    if client.asynchronous:
        raise RuntimeError(f"{what}: {client!r} is asynchronous: use `async with {what}(...)`")
    return client


# --- task stream -------------------------------------------------------------------------


async def _open_window(client) -> tuple:
    """A block's start: the scheduler's task-stream cursor and its count of the tasks
    it recorded (read together), and this moment on its clock sampled again (this
    machine's clock may have been stepped since the client registered: a laptop that
    slept, NTP catching up)."""
    sent = time.time()
    there = await client.scheduler.clock()
    client._conn.clock.sample(sent, there, time.time())
    cursor, finished = await client.scheduler.task_stream_cursor(finished=True)
    return cursor, finished, client._scheduler_now()


def task_stream(client, start=None, stop=None, count=None, plot=False, filename="task-stream.html",
                asynchronous=None, resources=None):  # fmt: skip
    """What ``Client.get_task_stream`` returns (an awaitable for an asynchronous client)."""
    if plot == "save":  # (checked before the request)
        from shoal.diagnostics.report import check_filename, check_mode

        check_filename(filename)
        if resources is not None:
            from bokeh.resources import Resources

            if not isinstance(resources, Resources):
                check_mode(resources)
    now = client._scheduler_now
    msg = {"start": when(start, "start", now), "stop": when(stop, "stop", now), "count": _count(count)}
    if _is_async(client, asynchronous):
        async def go():
            got = await client.sync(client.scheduler.get_task_stream, asynchronous=True, **msg)
            return _stream_result(got, plot, filename, resources)

        return go()
    got = client.sync(client.scheduler.get_task_stream, asynchronous=False, **msg)
    return _stream_result(got, plot, filename, resources)


def _stream_result(reply, plot, filename, resources=None):
    data = task_dicts(reply)
    if not plot:
        return data
    return data, _stream_figure(data, plot, filename, resources)


def _stream_figure(data, plot, filename, resources=None):
    """The task stream's figure, written to *filename* too with ``plot="save"`` (a file
    that cannot be written: kept in a temporary file the error names)."""
    from shoal.diagnostics.report import save_html, task_stream_figure

    fig = task_stream_figure(data)
    if plot == "save":
        save_html(fig, filename, "shoal task stream", resources)
    return fig


class get_task_stream:  # noqa: N801 - Dask's spelling
    """Collect the tasks that finish inside a ``with`` block.

    >>> with get_task_stream() as ts:      # doctest: +SKIP
    ...     x.compute()
    >>> ts.data                            # doctest: +SKIP
    [{'key': ..., 'worker': ..., 'thread': ..., 'startstops': [{'action': 'compute', ...}], ...}]

    ``plot=True`` also makes ``ts.figure`` (a Bokeh figure); ``plot="save"``
    writes it to ``filename`` too.  Works with ``async with`` for an
    asynchronous client.
    """

    def __init__(self, client=None, plot=False, filename="task-stream.html"):
        if plot == "save":  # (named now, not after the work)
            from shoal.diagnostics.report import check_filename

            check_filename(filename)
        self._client = client
        self.plot, self.filename = plot, filename
        self.data: list = []
        self.figure = None
        self.start = None
        self.cursor = None  # the scheduler's: what it receives after it is inside the block

    def _get_client(self):
        from shoal.distributed.client.current import default_client

        self.client = default_client(self._client)
        return self.client

    def __enter__(self):
        c = _blocking(self._get_client(), "get_task_stream")
        self.cursor, _, self.start = c.sync(_open_window, c)  # (records are kept from now on)
        return self

    def __exit__(self, *exc):
        self._collect(self.client.sync(self.client.scheduler.get_task_stream, since=self.cursor),
                      exc[1])  # fmt: skip

    async def __aenter__(self):  # (a synchronous client's requests run on its own loop)
        c = self._get_client()
        self.cursor, _, self.start = await c.sync(_open_window, c, asynchronous=True)
        return self

    async def __aexit__(self, *exc):
        c = self.client
        got = await c.sync(c.scheduler.get_task_stream, since=self.cursor, asynchronous=True)
        self._collect(got, exc[1])

    def _collect(self, reply, raised=None) -> None:
        data = task_dicts(reply)
        self.data.extend(data)  # (first: a file that cannot be written loses none of it)
        if self.plot:
            try:
                self.figure = _stream_figure(data, self.plot, self.filename)
            except OSError as exc:
                _raise_unless_raised(exc, raised)


# --- profiles ----------------------------------------------------------------------------


def profile(client, key=None, start=None, stop=None, workers=None, merge_workers=True, plot=False,
            filename=None, server=False, scheduler=False, asynchronous=None):  # fmt: skip
    """What ``Client.profile`` returns (an awaitable for an asynchronous client)."""
    if server or scheduler:
        raise ValueError(
            f"Client.profile({'server' if server else 'scheduler'}=True): shoal samples only the "
            "threads that run tasks, not the workers' or the scheduler's event loops")
    workers = worker_addresses(workers)
    if key is not None and not isinstance(key, str):
        key = key_split(key)  # a tuple key: its prefix (the samplers keep trees per prefix)
    now = client._scheduler_now
    msg = {"start": when(start, "start", now), "stop": when(stop, "stop", now), "key": key,
           "merge_workers": bool(merge_workers), "workers": workers}  # fmt: skip
    if filename is None and plot == "save":
        filename = "dask-profile.html"  # (Dask's name: a notebook that looks for it finds it)
    if filename:  # (named before the request; "" is no file, as in Dask)
        from shoal.diagnostics.report import check_filename

        check_filename(filename)
    if _is_async(client, asynchronous):
        async def go():
            tree = await client.sync(client.scheduler.get_profile, asynchronous=True, **msg)
            return _profile_result(tree, filename, plot, merge_workers)

        return go()
    tree = client.sync(client.scheduler.get_profile, asynchronous=False, **msg)
    return _profile_result(tree, filename, plot, merge_workers)


def _profile_result(tree, filename, plot, merged=True):
    """The tree, or ``(tree, figure)`` when asked to plot or to write a file (as Dask's);
    unmerged trees (``{worker: tree}``) are plotted merged.  Each node gets Dask's
    ``description`` too (:func:`describe_nodes`)."""
    import linecache

    from shoal.diagnostics.calltree import describe_nodes, merge

    for one in [tree] if merged else tree.values():
        describe_nodes(one, linecache.getline)
    if not plot and not filename:
        return tree
    from shoal.diagnostics.report import profile_figure, save_html

    fig = profile_figure(tree if merged else merge(*tree.values()))
    if filename:
        save_html(fig, filename, "shoal profile")
    return tree, fig


# --- the performance report --------------------------------------------------------------


class performance_report:  # noqa: N801 - Dask's spelling
    """Write one HTML file about the computations run inside a ``with`` block.

    >>> with performance_report(filename="report.html"):     # doctest: +SKIP
    ...     x.persist()
    ...     y.compute()

    The file has a summary (duration, tasks and compute time per prefix,
    transfers, erred tasks, the cluster, the calling code), the task stream,
    the workers' profile and the tasks per prefix.  BokehJS is inlined
    (``mode="inline"``), so the file opens offline and can be mailed as it is;
    ``mode="cdn"`` makes a small file that loads BokehJS from the web (``None``:
    inline; Bokeh's other modes too).  The file is written as Dask writes it,
    through ``fsspec.open`` where fsspec is installed: any URL (``s3://...``,
    with ``storage_options``), missing folders made, compressed by its suffix
    (``report.html.gz``); without fsspec, a local path the same way.  A file
    that cannot be written raises after the report was saved to a temporary
    file the error names.  Uses the default client; ``async with`` for an
    asynchronous one.
    """

    def __init__(self, filename="dask-report.html", stacklevel=1, mode=None, storage_options=None):
        from shoal.diagnostics.report import check_filename, check_mode

        mode = check_mode(mode)
        check_filename(filename)  # (named now, not after the work)
        if isinstance(stacklevel, bool) or not isinstance(stacklevel, int):
            raise TypeError(f"stacklevel={stacklevel!r}: expected a number of frames (1: the "
                            "code with the `with` block)")  # fmt: skip
        self.storage_options = dict(storage_options or {})
        if _fsspec() is None and (self.storage_options or "://" in os.fspath(filename)):
            raise ImportError(f"performance_report(filename={filename!r}, storage_options=...) "
                              "writes through fsspec: pip install fsspec")  # fmt: skip
        # as Dask's: 0 or less would show shoal's own code, not the caller's
        self.filename, self.stacklevel, self.mode = filename, max(stacklevel, 1), mode
        self.start = None
        self.code = ""

    def _begin(self):
        from shoal.distributed.client.current import default_client

        self.client = default_client()
        try:  # the code of the caller, as Dask's report shows it
            frame = sys._getframe(self.stacklevel + 1)
            self.code = inspect.getsource(frame)[:MAX_CODE]
        except Exception:  # noqa: BLE001 - no source (an interactive prompt, a zipapp)
            self.code = ""
        return self.client

    def __enter__(self):
        c = _blocking(self._begin(), "performance_report")
        self.cursor, self.finished, self.start = c.sync(_open_window, c)  # (as get_task_stream's)
        return self

    def __exit__(self, *exc):
        stop = self.client._scheduler_now()
        c = self.client
        got = c.sync(c.scheduler.get_task_stream, since=self.cursor)
        tree = c.profile(start=self.start)
        self._write(task_dicts(got), tree, c.scheduler_info(), stop,
                    got["finished"] - self.finished, exc[1])  # fmt: skip

    async def __aenter__(self):  # (a synchronous client's requests run on its own loop)
        c = self._begin()
        self.cursor, self.finished, self.start = await c.sync(_open_window, c, asynchronous=True)
        return self

    async def __aexit__(self, *exc):
        stop = self.client._scheduler_now()
        c = self.client
        got = await c.sync(c.scheduler.get_task_stream, since=self.cursor, asynchronous=True)
        tree = await c.profile(start=self.start, asynchronous=True)
        self._write(task_dicts(got), tree, await c.scheduler_info(asynchronous=True), stop,
                    got["finished"] - self.finished, exc[1])  # fmt: skip

    def _write(self, data, tree, identity, stop, finished: int = 0, raised=None) -> None:
        """Write the report; where it cannot be written, it is kept in a temporary file
        the error names, and a block that raised keeps its own exception (with that
        error as a note: ``except KeyError`` around the block still catches it)."""
        import shoal
        from shoal.diagnostics.report import report_html, summarize, write_page
        from shoal.core.units import format_bytes
        from shoal.distributed.client.display import summarize as cluster_summary

        summary = summarize(data, self.start, stop)
        summary["finished"] = finished  # (more than the log held? the summary says so)
        cluster = cluster_summary(identity)
        info = {"Scheduler": self.client.scheduler_address or "", "Workers": cluster["workers"],
                "Threads": cluster["threads"], "Memory": format_bytes(cluster["memory"]),
                "shoal version": shoal.__version__}  # fmt: skip
        page = report_html(data, tree, summary, info, self.code, mode=self.mode)
        try:
            write_page(page, self.filename, "the performance report",
                       lambda name: _open_for_writing(name, self.storage_options))  # fmt: skip
        except OSError as exc:
            _raise_unless_raised(exc, raised)


def _raise_unless_raised(error: OSError, raised) -> None:
    """A block's file that could not be written (*error*, naming where its page went):
    raised, unless the block itself *raised*, which then keeps its own exception with
    *error* as a note (``except KeyError`` around the block still catches it)."""
    if raised is None:
        raise error
    if hasattr(raised, "add_note"):  # (Python 3.11)
        raised.add_note(str(error))
    else:  # pragma: no cover - Python 3.10
        import warnings

        warnings.warn(str(error), RuntimeWarning, stacklevel=3)


def _fsspec():
    try:
        import fsspec
    except ImportError:
        return None
    return fsspec


def _open_for_writing(filename, storage_options: dict):
    """A text file to write, as Dask's: ``fsspec.open`` (any URL, the folders made,
    ``.gz`` and the like compressed by their suffix), else a local file the same way."""
    fsspec = _fsspec()
    if fsspec is not None:
        return fsspec.open(filename, "w", compression="infer", encoding="utf-8", **storage_options)
    path = os.fspath(filename)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith(".gz"):
        return gzip.open(path, "wt", encoding="utf-8")
    return open(path, "w", encoding="utf-8")
