"""What a notebook user sees: cells run in a real IPython kernel (jupyter_client).

One kernel is shared by the module's tests (starting one takes about a second);
each test reads the outputs of its own cells: streams, errors (with IPython's
rendered traceback), displays.
"""

from __future__ import annotations

import re
import time

import pytest

pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.timeout(60)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _run(kc, code: str, timeout: float = 30.0) -> list:
    """Execute *code*; its outputs as (kind, text) pairs, the traceback's text for an error."""
    msg_id = kc.execute(code)
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except Exception:  # noqa: BLE001 - queue.Empty: keep waiting until the deadline
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append((content["name"], content["text"]))
        elif kind == "error":
            out.append(("error", _ANSI.sub("", "\n".join(content["traceback"]))))
        elif kind in ("display_data", "execute_result"):
            out.append((kind, content["data"].get("text/plain", "")))
        elif kind == "status" and content["execution_state"] == "idle":
            return out
    raise AssertionError(f"cell did not finish in {timeout} s: {code!r}; so far {out}")


@pytest.fixture(scope="module")
def kc():
    from jupyter_client.manager import start_new_kernel

    km, client = start_new_kernel(kernel_name="python3")
    try:
        outputs = _run(client, "from shoal.distributed import Client\n"
                               "client = Client(processes=False, n_workers=1, threads_per_worker=1,"
                               " dashboard_address=None)")  # fmt: skip
        assert not [o for o in outputs if o[0] == "error"], outputs
        yield client
        _run(client, "client.close()")
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def test_task_error_traceback_is_short(kc):
    """A task's error shows the user's cell, the worker's traceback, and the shoal note
    once; not the frames it passed on the client's event loop thread."""
    outputs = _run(kc, "def bad(x):\n    raise ValueError('boom %s' % x)\n"
                       "client.submit(bad, 1).result()")  # fmt: skip
    (text,) = [t for kind, t in outputs if kind == "error"]
    assert "ValueError: boom 1" in text and "Traceback on the worker" in text
    assert "concurrent/futures" not in text and "in guarded" not in text, text
    assert "futures.py" in text  # (Future.result, the call the user made: as Dask's)
    assert text.count("shoal: raised while running the task") == 1, text


@pytest.mark.parametrize("scheduler", ["threads", "sync"])
def test_local_task_error_traceback_skips_the_engine(kc, scheduler):
    """A local scheduler's task error shows the user's call, shoal's compute, then the
    task's own frame: not the engine's nine frames (runner, batch, spec) between them."""
    outputs = _run(kc, "import shoal\ndef bad2(x):\n    return 1 / x\n"
                       f"shoal.delayed(bad2)(0).compute(scheduler={scheduler!r})")  # fmt: skip
    (text,) = [t for kind, t in outputs if kind == "error"]
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # (IPython's colours)
    assert "ZeroDivisionError" in text and "bad2" in text and "1 / x" in text, text
    for noise in ("runner.py", "batch.py", "spec.py", "threads.py", "sync.py"):
        assert noise not in text, (noise, text)
    assert text.count("shoal: raised by the task computing key") == 1, text
