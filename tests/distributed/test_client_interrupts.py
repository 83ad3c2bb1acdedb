"""Closing and cancelling while another thread waits, as a notebook user meets it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from shoal.distributed import Client, LocalCluster

pytestmark = pytest.mark.timeout(30)


def test_close_called_while_another_thread_is_closing_the_client_does_not_raise():
    """A second ``close()`` (``__exit__``, a watchdog thread, ``shutdown()`` elsewhere)
    that came while the first was still closing found the runner gone and raised
    ``AttributeError: 'NoneType' object has no attribute 'release'``."""
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        c = Client(cluster)
        original = c._close_comms

        async def slow_close_comms():
            await asyncio.sleep(0.5)
            await original()

        c._close_comms = slow_close_comms
        errors = []

        def close():
            try:
                c.close()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        first = threading.Thread(target=close)
        first.start()
        deadline = time.monotonic() + 5
        while c.status != "closing" and time.monotonic() < deadline:
            time.sleep(0.005)
        assert c.status == "closing"
        c.close()  # while the first close is still at work: it waits for that one
        assert c.status == "closed"
        first.join(10)
        assert not first.is_alive() and errors == []
        assert c.status == "closed"


def test_a_ctrl_c_that_lands_while_a_future_is_dropped_is_not_lost(c, monkeypatch):
    """Dropping many futures (``del futures``, a rebound variable in a loop) runs their
    ``__del__``, where Python ignores an exception: a Ctrl-C landing there was printed as
    "Exception ignored in ... __del__" and lost; the cell ran on as if never interrupted."""
    future = c.submit(abs, -1, pure=False)
    assert future.result(timeout=5) == 1
    real = type(c)._unref
    calls = []

    def interrupted(self, key, state):
        calls.append(key)
        raise KeyboardInterrupt  # the signal's handler, run at a call in _unref

    monkeypatch.setattr(type(c), "_unref", interrupted)
    with pytest.raises(KeyboardInterrupt):
        del future
        for _ in range(1000):  # (the interrupt comes at the next check)
            time.sleep(0.001)
    monkeypatch.setattr(type(c), "_unref", real)
    assert len(calls) == 1
    assert c.submit(abs, -2, pure=False).result(timeout=5) == 2


def test_a_ctrl_c_lost_in_a_future_del_does_not_stop_the_next_notebook_cell(c, monkeypatch):
    """The Ctrl-C raised again 50 ms later must not land in the next cell (Run All)
    once the cell it came in has ended."""
    import sys
    import types

    shell = types.SimpleNamespace(execution_count=7)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    future = c.submit(abs, -1, pure=False)
    assert future.result(timeout=5) == 1

    def interrupted(self, key, state):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(c), "_unref", interrupted)
    del future  # (its Ctrl-C swallowed by Python in __del__) ...
    shell.execution_count += 1  # ... and the cell ended: the next one runs
    monkeypatch.undo()
    time.sleep(0.3)  # (a KeyboardInterrupt here fails the test)
    assert c.submit(abs, -2, pure=False).result(timeout=5) == 2
