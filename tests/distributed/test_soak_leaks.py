"""The long notebook session: what one kernel keeps across many cells.

A kernel stays open for hours; a cell re-run must see the kernel's current state,
and what a cell let go of must not stay alive in the client.
"""

from __future__ import annotations

import gc
import time
import weakref

import pytest

pytestmark = pytest.mark.timeout(60)


def _main_function(source: str, name: str, **globals_):
    """A function defined in a notebook (``__main__``): it travels by value, globals included."""
    namespace = {"__name__": "__main__", **globals_}
    exec(source, namespace)
    func = namespace[name]
    func.__module__ = "__main__"
    return func, namespace


def test_resubmitted_notebook_function_sees_changed_globals(c):
    add, namespace = _main_function("def add(x):\n    return x + offset\n", "add", offset=1)
    assert c.submit(add, 10).result(timeout=10) == 11
    namespace["offset"] = 100  # the user changed a global and re-ran the cell
    assert c.submit(add, 20).result(timeout=10) == 120
    assert c.map(add, [1, 2]) and [f.result(timeout=10) for f in c.map(add, [3, 4])] == [103, 104]


def test_released_lambda_and_its_closure_are_not_kept(c):
    class Big:  # stands for a large array a lambda closed over
        pass

    def make(value):
        return lambda: value is not None  # a notebook lambda: travels by value

    big = Big()
    func = make(big)
    fut = c.submit(func)
    assert fut.result(timeout=10) is True
    ref = weakref.ref(big)
    del fut, func, big
    gc.collect()
    assert ref() is None, "the client kept a submitted lambda (and its closure) alive"


def test_worker_does_not_keep_functions_carrying_data(c):
    class BigPayload:  # travels by value with the lambda that closes over it
        def __init__(self, n):
            self.data = bytes(n)

    def make(value):
        return lambda: len(value.data)

    futs = [c.submit(make(BigPayload(200_000 + i))) for i in range(3)]
    assert [f.result(timeout=10) for f in futs] == [200_000, 200_001, 200_002]
    del futs
    # (other tasks take the threads' and the profiler's last references to these)
    assert sum(f.result(timeout=10) for f in c.map(abs, range(-10, 0), pure=False)) == 55
    deadline = time.monotonic() + 5  # (the workers forget the tasks a moment later)
    while True:
        gc.collect()
        kept = [o for o in gc.get_objects() if type(o).__name__ == "BigPayload"]
        if not kept or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not kept, f"{len(kept)} released closures still held by the workers' function cache"


def test_ended_notebook_progress_bars_close_their_widgets(c):
    """ipywidgets keeps every widget until it is closed: each ``progress()`` of a long
    session left its bars' widgets (and comms) in the kernel for good."""
    pytest.importorskip("ipywidgets")
    from ipywidgets.widgets.widget import _instances

    from shoal.distributed import progress

    before = len(_instances)
    for i in range(3):
        bar = progress(c.map(abs, [-1, -2], pure=False), notebook=True, multi=i % 2 == 0, interval="20ms")
        deadline = time.monotonic() + 10
        while not (bar._task.done() if hasattr(bar, "_task") else False) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert bar._final is not None and "Finished" in bar.widget.children[0].value
    assert len(_instances) == before


def test_ended_local_progress_bar_closes_its_widgets():
    """The local schedulers' ``ProgressBar`` in a notebook: one bar a compute, each
    one's widgets kept by ipywidgets for good unless closed."""
    pytest.importorskip("ipywidgets")
    from ipywidgets.widgets.widget import _instances

    from shoal.diagnostics.progress import _WidgetView

    class Handle:
        def update(self, obj):
            self.final = obj

    handles = []

    def display(obj, display_id=None):
        handles.append(Handle())
        return handles[-1]

    before = len(_instances)
    for _ in range(3):
        view = _WidgetView(display=display)
        view.draw(0.5, 0.1)
        view.draw(1.0, 0.2, final=True)
        assert view.bar.value == 1.0 and view.bar.bar_style == "success"
    assert [h.final.rows[0][1] for h in handles] == [1.0, 1.0, 1.0]
    assert len(_instances) == before
