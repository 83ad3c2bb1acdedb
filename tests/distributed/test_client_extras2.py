"""Four pieces of Dask's Client API: ``Future.traceback()`` as a traceback object,
``subscribe_topic`` / ``unsubscribe_topic``, ``forward_logging`` /
``unforward_logging`` and the ``PipInstall`` worker plugin.

Each test gets an in-process cluster (a scheduler and two workers) and a
synchronous client: the ``c`` fixture of conftest.py.  In-process workers share the
client's process, so a forwarded log record is told from the original by its
``worker`` attribute.  ``PipInstall`` installs a wheel built here into a
``--target`` folder under ``tmp_path`` (``--no-index``): the venv is untouched.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
import threading
import time
import traceback
import types
import zipfile

import pytest

from shoal.distributed import PipInstall, get_worker
from shoal.local.remote_frames import parse_frames, traceback_from_text

pytestmark = pytest.mark.timeout(60)


def eventually(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.01)


# --- Future.traceback() -------------------------------------------------------------------


def user_function_that_fails(x):
    raise ValueError(f"bad {x}")  # the failing line


def test_traceback_is_an_object_with_the_worker_frames(c):
    f = c.submit(user_function_that_fails, 1)
    tb = f.traceback()
    assert isinstance(tb, types.TracebackType)
    last = traceback.extract_tb(tb)[-1]
    assert last.name == "user_function_that_fails" and last.filename == __file__
    assert last.line == 'raise ValueError(f"bad {x}")  # the failing line'
    out = io.StringIO()
    traceback.print_tb(tb, file=out)
    assert "in user_function_that_fails" in out.getvalue()
    assert "the failing line" in "".join(traceback.format_tb(tb))
    assert "the failing line" in str(f.exception().__cause__)  # the text stays there
    assert c.submit(abs, -1).traceback() is None


def test_traceback_from_text_keeps_the_raised_exceptions_frames():
    def inner():
        raise KeyError("k")

    def outer():
        try:
            inner()
        except KeyError as exc:
            raise RuntimeError("wrapped") from exc

    try:
        outer()
    except RuntimeError as exc:
        text = "".join(traceback.format_exception(exc))
        want = [(f.filename, f.lineno, f.name) for f in traceback.extract_tb(exc.__traceback__)]
    assert "inner" in text  # (the cause comes first in the text) ...
    rebuilt = traceback_from_text(text)  # ... but only the raised one's frames are kept
    assert [(f.filename, f.lineno, f.name) for f in traceback.extract_tb(rebuilt)] == want
    assert parse_frames("ValueError: no frames") == [] and traceback_from_text(None) is None


def raise_with_a_childs_traceback_in_the_message():
    raise RuntimeError('child failed:\nTraceback (most recent call last):\n'
                       '  File "/child.py", line 3, in child_main\nZeroDivisionError: x')


def raise_a_group():
    raise ExceptionGroup("eg", [ValueError(1)])


def test_traceback_frames_of_messages_holding_tracebacks_and_of_groups(c):
    tb = c.submit(raise_with_a_childs_traceback_in_the_message).traceback()
    assert [f.name for f in traceback.extract_tb(tb)] == ["raise_with_a_childs_traceback_in_the_message"]
    tb = c.submit(raise_a_group).traceback()
    assert [f.name for f in traceback.extract_tb(tb)] == ["raise_a_group"]


def test_traceback_keeps_nothing_alive_and_suits_ipython_and_pdb(c):
    import gc
    import pdb
    import weakref

    f = c.submit(user_function_that_fails, 2)
    tb = f.traceback()
    assert tb.tb_frame.f_back is None and tb.tb_frame.f_lineno == tb.tb_lineno
    ref = weakref.ref(f)
    del f
    gc.collect()
    assert ref() is None  # (the stand-in frames once held Future._traceback's frame)
    text = "".join(traceback.format_tb(tb))
    assert "the failing line" in text and "^^^" not in text
    ultratb = pytest.importorskip("IPython.core.ultratb")
    exc = ValueError("bad 2")
    for formatter in (ultratb.VerboseTB(), ultratb.FormattedTB()):  # (-1 offsets: endless loop)
        shown = re.sub("\x1b\\[[0-9;]*m", "", formatter.text(type(exc), exc, tb))
        assert 'raise ValueError(f"bad {x}")' in shown
    missing = traceback_from_text('Traceback (most recent call last):\n'
                                  '  File "<dynamic-code>", line 6, in gone\nValueError: x\n')
    assert "gone" in ultratb.VerboseTB().text(type(exc), exc, missing)  # (no source: f_lineno)
    out = io.StringIO()
    debugger = pdb.Pdb(stdin=io.StringIO("where\nq\n"), stdout=out)
    debugger.reset()
    debugger.interaction(None, tb)
    assert "user_function_that_fails()" in out.getvalue()


# --- subscribe_topic ------------------------------------------------------------------------


def log_from_task(topic):
    get_worker().log_event(topic, {"from": "task"})
    return 1


def log_on_scheduler(topic, dask_scheduler=None):
    dask_scheduler.log_event(topic=topic, msg="from scheduler")


def test_subscribe_topic_gets_events_from_clients_tasks_and_the_scheduler(c):
    c.log_event("sub-a", "before")  # (logged before subscribing: not delivered)
    got = []
    c.subscribe_topic("sub-a", got.append)
    c.log_event("sub-a", {"n": 1})
    assert c.submit(log_from_task, "sub-a").result() == 1
    c.run_on_scheduler(log_on_scheduler, "sub-a")
    eventually(lambda: len(got) == 3)
    assert all(isinstance(e, tuple) and isinstance(e[0], float) for e in got)
    msgs = [msg for _, msg in got]
    assert {"n": 1} in msgs and "from scheduler" in msgs
    (task_msg,) = [m for m in msgs if isinstance(m, dict) and m.get("from") == "task"]
    assert task_msg["worker"] in c.scheduler_info()["workers"]
    c.unsubscribe_topic("sub-a")
    c.log_event("sub-a", "after")
    c.log_event("sub-a-sync", "flush")  # (a round trip: "after" was sent, if ever)
    assert len(got) == 3 and len(c.get_events("sub-a")) == 5


def test_coroutine_handlers_and_failing_handlers(c, caplog):
    got = []

    async def handler(event):
        await asyncio.sleep(0)
        got.append(event[1])

    def failing(event):
        raise ZeroDivisionError("handler broke")

    c.subscribe_topic("sub-async", handler)
    c.subscribe_topic("sub-fail", failing)
    with caplog.at_level(logging.ERROR, logger="shoal.distributed.client.topics"):
        c.log_event("sub-fail", 1)
        c.log_event("sub-async", 2)
        eventually(lambda: got == [2])
        eventually(lambda: "handler broke" in caplog.text)
    c.log_event("sub-async", 3)  # the stream goes on after a failing handler
    eventually(lambda: got == [2, 3])
    c.unsubscribe_topic("sub-async")
    c.unsubscribe_topic("sub-fail")


def test_subscribe_topic_bad_arguments(c):
    with pytest.raises(TypeError, match="topic"):
        c.subscribe_topic(3, print)
    with pytest.raises(TypeError, match="handler"):
        c.subscribe_topic("x", "not callable")
    with pytest.raises(ValueError, match="never-subscribed"):
        c.unsubscribe_topic("never-subscribed")


def log_on_scheduler_positionally(topic, dask_scheduler=None):
    dask_scheduler.log_event(topic, "positional")  # (Dask's signature: log_event(topic, msg))


def test_scheduler_log_event_takes_topic_and_msg_positionally(c):
    got = []
    c.subscribe_topic("sub-pos", got.append)
    c.run_on_scheduler(log_on_scheduler_positionally, "sub-pos")
    eventually(lambda: len(got) == 1)
    assert got[0][1] == "positional" and c.get_events("positional") == ()
    c.unsubscribe_topic("sub-pos")


# --- forward_logging ------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        if hasattr(record, "worker"):  # a forwarded one (in-process: see the module docstring)
            self.records.append(record)


def log_in_task(name, text):
    log = logging.getLogger(name)
    log.info("info %s %s", text, threading.Lock())  # (args that cannot be pickled)
    log.debug("debug %s", text)
    return 1


def test_forward_logging_reemits_worker_records_in_the_client(c):
    name = "shoal-test-forwarding"
    log = logging.getLogger(name)
    log.setLevel(logging.DEBUG)
    collect = Collect()
    log.addHandler(collect)
    try:
        c.forward_logging(name, level=logging.INFO)
        assert c.submit(log_in_task, name, "one").result() == 1
        eventually(lambda: len(collect.records) == 1)
        (record,) = collect.records
        assert record.getMessage().startswith("info one <unlocked _thread.lock")
        assert record.levelname == "INFO" and record.name == name
        assert record.worker in c.scheduler_info()["workers"]
        c.unforward_logging(name)
        assert c.submit(log_in_task, name, "two").result() == 1
        c.log_event("forward-flush", 0)
        assert [r.getMessage()[:8] for r in collect.records] == ["info one"]
        assert not any(h for h in log.handlers if type(h).__name__ == "ForwardingHandler")
    finally:
        log.removeHandler(collect)
        log.setLevel(logging.NOTSET)


def test_forward_logging_bad_arguments(c):
    with pytest.raises(TypeError, match="logger_name"):
        c.forward_logging(3)
    with pytest.raises(TypeError, match="level"):
        c.forward_logging("x", level=[1])
    with pytest.raises(TypeError, match="got 'nonsense'"):  # (not getLevelName's "Level NONSENSE")
        c.forward_logging("x", level="nonsense")


# --- PipInstall ------------------------------------------------------------------------------


def make_wheel(folder, module: str, body: str) -> str:
    """A pure-Python wheel of one module (no build tools needed)."""
    info = f"{module}-0.1.dist-info"
    path = folder / f"{module}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{module}.py", body)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: shoal-tests\n"
                                    "Root-Is-Purelib: true\nTag: py3-none-any\n")  # fmt: skip
        z.writestr(f"{info}/RECORD", f"{module}.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n"
                                     f"{info}/RECORD,,\n")  # fmt: skip
    return str(path)


def read_installed(target, module):
    with open(f"{target}/{module}.py") as f:
        return f.read()


def test_pip_install_on_every_worker(c, tmp_path):
    wheel = make_wheel(tmp_path, "shoal_tiny_pkg", "VALUE = 42\n")
    target = tmp_path / "site"
    options = ["--no-index", "--no-build-isolation", "--target", str(target)]
    replies = c.register_plugin(PipInstall([wheel], pip_options=options))
    assert set(replies) == set(c.scheduler_info()["workers"])
    assert all(r == {"status": "OK"} for r in replies.values())
    assert set(c.run(read_installed, str(target), "shoal_tiny_pkg").values()) == {"VALUE = 42\n"}
    assert "shoal_tiny_pkg" not in sys.modules


def test_pip_install_failure_names_the_packages_and_quotes_pip(c, tmp_path):
    plugin = PipInstall(["shoal-no-such-package-xyz"],
                        pip_options=["--no-index", "--target", str(tmp_path / "t")])  # fmt: skip
    with pytest.raises(RuntimeError) as info:
        c.register_plugin(plugin)
    text = str(info.value)
    assert "['shoal-no-such-package-xyz']" in text and "exit code" in text
    assert "No matching distribution found for shoal-no-such-package-xyz" in text
    c.unregister_worker_plugin(plugin.name)


def test_pip_install_bad_arguments():
    with pytest.raises(TypeError, match="packages"):
        PipInstall("numpy")
    with pytest.raises(TypeError, match="pip_options"):
        PipInstall(["numpy"], pip_options="--upgrade")
    with pytest.raises(NotImplementedError, match="restart"):
        PipInstall(["numpy"], restart_workers=True)


def test_pip_install_without_a_usable_lock_file(tmp_path, monkeypatch, caplog):
    import tempfile

    wheel = make_wheel(tmp_path, "shoal_tiny_unlocked", "VALUE = 7\n")
    target = tmp_path / "site"
    plugin = PipInstall([wheel], pip_options=["--no-index", "--target", str(target)])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))  # (e.g. another user's)
    with caplog.at_level(logging.WARNING, logger="shoal.distributed.pipinstall"):
        plugin._install()
    assert read_installed(target, "shoal_tiny_unlocked") == "VALUE = 7\n"
    assert "pip runs unlocked" in caplog.text
