"""``shoal.distributed.print`` / ``warn``: a task's output shown by the clients, once
per process (and not at all where the worker wrote to this process's own stdout or
stderr); and the scheduler forgetting a departed client's topic subscriptions.

Most tests use the in-process cluster of conftest.py (``c``: the task runs in the
client's process, so its forwarded output is not shown a second time); one starts a
cluster in another process, whose workers' output must come back through the
scheduler, and one a LocalCluster of worker processes writing to this one's stdout.

A client applies the events of its stream in order, so "everything logged before
has been handled" is awaited by logging one more event on a topic the client
subscribes to (:func:`flushed`).
"""

from __future__ import annotations

import io
import sys
import time
import warnings

import pytest

import shoal.distributed as sd
from shoal.distributed import Client, LocalCluster

pytestmark = pytest.mark.timeout(60)


def eventually(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def flushed(*clients) -> None:
    """Wait until each client has handled every event logged before this call."""
    seen = {client.id: [] for client in clients}
    for client in clients:
        client.subscribe_topic("flush", seen[client.id].append)
    clients[0].log_event("flush", "now")
    eventually(lambda: all(seen.values()))
    for client in clients:
        client.unsubscribe_topic("flush")


class Output:
    """What ``capsys`` captured, accumulated across reads."""

    def __init__(self, capsys):
        self.capsys, self.out, self.err = capsys, "", ""

    def read(self) -> Output:
        captured = self.capsys.readouterr()
        self.out, self.err = self.out + captured.out, self.err + captured.err
        return self


# --- from a task ------------------------------------------------------------------------


CLUSTER_ELSEWHERE = """
import sys
from shoal.distributed import LocalCluster
with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c:
    print(c.scheduler_address, flush=True)
    sys.stdin.read()  # (until the test closes it)
"""


def make_task():
    """The task (a local function: it travels by value, to workers that cannot import
    this test module)."""
    def task(x):
        sd.print("line", x, sep="-", end="!\n")
        sd.print("to stderr", file=sys.stderr)
        sd.warn("careful", RuntimeWarning)
        return x

    return task


def test_output_of_a_worker_writing_elsewhere_shows_once_in_two_clients_process(capsys):
    """A worker whose own stdout is not this process's (a cluster started elsewhere):
    its task's output comes back through the scheduler, shown once here."""
    import subprocess

    output = Output(capsys)
    with subprocess.Popen([sys.executable, "-c", CLUSTER_ELSEWHERE], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:  # fmt: skip
        try:
            address = proc.stdout.readline().strip()
            with Client(address) as c, Client(address) as c2:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    assert c.submit(make_task(), 7).result() == 7
                    eventually(lambda: "line-7!" in output.read().out and caught)
                    flushed(c, c2)
                output.read()
        finally:
            proc.stdin.close()
            proc.wait(30)
    assert output.out.count("line-7!\n") == 1
    assert output.err.count("to stderr\n") == 1
    assert [(w.category, str(w.message)) for w in caught] == [(RuntimeWarning, "careful")]


def test_output_of_a_worker_writing_to_this_process_stdout_is_not_repeated(capfd):
    """A LocalCluster's worker processes inherit this process's descriptors, whose output
    a terminal shows, and ipykernel shows in the cell: the line is there once already,
    so the clients do not show it again (it came twice in a notebook)."""
    # (a worker's stdout to a pipe is block-buffered, as in a notebook: the task's line
    # must reach it at once, not when the worker exits, since the client skips it)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, env={"PYTHONUNBUFFERED": ""},
                      dashboard_address=None) as cluster, Client(cluster) as c:  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert c.submit(make_task(), 8).result() == 8
            eventually(lambda: len(c.get_events("print")) == 2)
            flushed(c)
            out, err = capfd.readouterr()
    assert out.count("line-8!\n") == 1 and err.count("to stderr\n") == 1
    assert not caught  # (the worker's own warning went to the same stderr)


def test_output_of_a_worker_writing_to_this_process_fd_shows_in_a_python_redirect():
    """``redirect_stdout`` (pytest's ``capsys``) here: the worker's own line went to the
    descriptor, never to the redirected stream, so the client shows it there."""
    import contextlib
    from shoal.distributed import task_output

    line = {"args": ["worker line"], "file": 1, "id": "elsewhere-9:1", "where": task_output._identity(1)}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        task_output.show_print((0.0, line))
    assert out.getvalue() == "worker line\n"


def test_output_of_an_in_process_task_is_not_shown_twice(c, capsys):
    def task():
        sd.print("in process")
        sd.warn(DeprecationWarning("old"))

    output = Output(capsys)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c.submit(task).result()
        eventually(lambda: len(c.get_events("print")) == 1 and len(c.get_events("warn")) == 1)
        flushed(c)
    assert output.read().out == "in process\n"
    assert [(w.category, str(w.message)) for w in caught] == [(DeprecationWarning, "old")]
    assert c.get_events("print")[0][1]["args"] == ["in process"]


def test_print_in_a_task_to_another_file_is_a_type_error(c):
    def task():
        sd.print("x", file=io.StringIO())

    with pytest.raises(TypeError, match="sys.stdout or sys.stderr"):
        c.submit(task).result()


# --- events logged by hand, and outside a task ----------------------------------------


def test_hand_logged_print_and_warn_events_are_shown_once(c, capsys):
    line = {"args": ["a", "b"], "sep": "+", "end": "?\n", "file": 2, "id": "elsewhere:1"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c.log_event("print", "plain message")
        c.log_event("print", line)
        c.log_event("print", line)  # (the same id again: not shown again)
        c.log_event("warn", {"message": "m", "category": "no.such.Category", "id": "w:1"})
        c.log_event("warn", {"message": "n", "category": "builtins.ResourceWarning"})
        flushed(c)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("plain message\n", "a+b?\n")
    assert [(w.category, str(w.message)) for w in caught] == [
        (UserWarning, "m"), (ResourceWarning, "n")]


def test_outside_a_task_they_are_the_builtins(capsys):
    out = io.StringIO()
    sd.print(1, 2, sep=",", file=out)
    sd.print("shown")
    assert out.getvalue() == "1,2\n" and capsys.readouterr().out == "shown\n"
    with pytest.warns(UserWarning, match="plain") as caught:
        sd.warn("plain")
    assert caught[0].filename == __file__  # (the caller's line, as warnings.warn)


# --- the scheduler's subscriptions ---------------------------------------------------------


def test_a_departed_clients_subscriptions_are_dropped(servers):
    scheduler = servers[0]

    def topics_of(client_id) -> set:
        return {t for t, ids in list(scheduler.topic_subscribers.items()) if client_id in ids}

    with Client(scheduler.address) as c2:
        c2.subscribe_topic("never-logged", print)
        assert topics_of(c2.id) == {"print", "warn", "never-logged"}
        gone = c2.id
    eventually(lambda: not topics_of(gone))
    assert "never-logged" not in scheduler.topic_subscribers
