"""The synchronous Client against real in-process servers (tcp, one event loop thread).

The scheduler and workers run on the shared loop thread of
``shoal.distributed._loop``, the same thread the sync client uses, so these
tests drive exactly what a notebook user's ``Client(address)`` does.
"""

from __future__ import annotations

import asyncio
import gc
import html
import os
import threading
import time
import traceback
from operator import add

import pytest

from shoal.core.keys import key_split
from shoal.distributed._loop import get_runner
from shoal.distributed.client import (
    FIRST_COMPLETED, Client, Future, FutureCancelledError, as_completed, default_client,
    fire_and_forget, wait,
)  # fmt: skip
from shoal.testing.cluster import on_loop, sync_cluster, wait_until


def inc(x):
    return x + 1


def slow_inc(x, delay=0.05):
    time.sleep(delay)
    return x + 1


def fail(x):
    raise ValueError(f"bad input {x}")  # the user's failing line


def add_kw(x, y=0):
    return x + y


def identity(*args, **kwargs):
    return args, kwargs


# --- submit, result, keys -------------------------------------------------------------------


def test_submit_result(c):
    f = c.submit(inc, 1)
    assert isinstance(f, Future) and key_split(f.key) == "inc"
    assert f.result(timeout=10) == 2
    assert f.done() and f.status == "finished" and f.type == "int"
    assert "finished" in repr(f) and "int" in repr(f)


def test_pure_calls_share_a_key_impure_ones_do_not(c):
    assert c.submit(inc, 1).key == c.submit(inc, 1).key
    assert c.submit(inc, 1, pure=False).key != c.submit(inc, 1, pure=False).key
    f = c.submit(inc, 1, key="my-key")
    assert f.key == "my-key" and f.result() == 2


def test_tuple_keys_travel_as_tuples(c, servers):
    f = c.submit(inc, 41, key=("answer", 0))
    assert f.result() == 42
    assert on_loop(lambda: ("answer", 0) in servers[0].state.tasks)
    assert c.who_has([f]) == {("answer", 0): [w for w in c.who_has([f])[("answer", 0)]]}


def test_futures_as_arguments(c):
    x = c.submit(inc, 1)
    y = c.submit(add, x, 10)
    z = c.submit(identity, [x, {"y": y}], k=(y,))
    assert y.result() == 12
    assert z.result() == (([2, {"y": 12}],), {"k": (12,)})


def test_map(c):
    fs = c.map(inc, range(20))
    assert c.gather(fs) == list(range(1, 21))
    assert len({f.key for f in fs}) == 20
    assert c.gather(c.map(add, [1, 2], [10, 20])) == [11, 22]
    assert c.gather(c.map(identity, [1], k=5)) == [((1,), {"k": 5})]
    named = c.map(inc, [1, 2], key="step")
    assert all(f.key.startswith("step-") for f in named)
    assert [f.key for f in c.map(inc, [1, 2], key=["a", "b"])] == ["a", "b"]
    x = c.submit(inc, 100)
    assert c.gather(c.map(add_kw, [1, 2], y=x)) == [102, 103]


def test_map_rejects_strings_and_non_callables(c):
    with pytest.raises(TypeError, match="iterable 0 is a str"):
        c.map(inc, "abc")
    with pytest.raises(TypeError, match="must be callable"):
        c.submit(42)


# --- gather ---------------------------------------------------------------------------------


def test_gather_keeps_the_shape(c):
    a, b = c.submit(inc, 1), c.submit(inc, 2)
    assert c.gather(a) == 2
    assert c.gather([a, [b, 7]]) == [2, [3, 7]]
    assert c.gather({"x": a, "y": (b, "z")}) == {"x": 2, "y": (3, "z")}
    assert c.gather({a}) == {2}
    assert c.gather([]) == []


def test_gather_errors_raise_or_skip(c):
    good, bad = c.submit(inc, 1), c.submit(fail, 1)
    with pytest.raises(ValueError, match="bad input 1"):
        c.gather([good, bad])
    assert c.gather([good, bad, good], errors="skip") == [2, 2]
    with pytest.raises(ValueError, match="errors="):
        c.gather([good], errors="ignore")


# --- errors ------------------------------------------------------------------------------


def test_remote_exception_has_its_type_traceback_and_key(c):
    f = c.submit(fail, 3)
    with pytest.raises(ValueError) as info:
        f.result()
    err = info.value
    assert type(err) is ValueError and str(err) == "bad input 3"
    assert "the user's failing line" in str(err.__cause__)
    assert any(f.key in note for note in err.__notes__)
    assert f.status == "error" and f.done()
    assert isinstance(f.exception(), ValueError)
    assert "the user's failing line" in "".join(traceback.format_tb(f.traceback()))
    assert "error" in repr(f)


class TwoArgs(Exception):
    """Its ``__init__`` takes other arguments than its ``args``: pickle cannot make it again."""

    def __init__(self, a, b):
        super().__init__(a)
        self.b = b


def raise_two_args():
    raise TwoArgs("a", "bee")


def test_an_exception_whose_init_differs_from_its_args_keeps_its_type(c):
    with pytest.raises(TwoArgs) as info:  # (it came back as a RemoteTaskError)
        c.submit(raise_two_args).result()
    assert info.value.args == ("a",) and info.value.b == "bee"


def test_gather_and_scatter_take_iterators(c):
    futures = [c.submit(inc, 1), c.submit(inc, 2)]
    got = c.gather(iter(futures))
    assert not isinstance(got, list) and list(got) == [2, 3]  # one by one, as Dask's
    scattered = c.scatter(iter([10, 20]))
    assert isinstance(scattered, list) and c.gather(scattered) == [10, 20]


def test_dependents_of_an_erred_task_err_too(c):
    bad = c.submit(fail, 1)
    after = c.submit(inc, bad)
    with pytest.raises(ValueError, match="bad input 1"):
        after.result()
    assert after.status == "error"


def test_retries_and_retry(c, tmp_path):
    marker = str(tmp_path / "ran")
    flaky = c.submit(fail_first_time, marker, 5, retries=1)
    assert flaky.result() == 5

    marker2 = str(tmp_path / "ran2")
    f = c.submit(fail_first_time, marker2, 7)
    with pytest.raises(RuntimeError, match="first time"):
        f.result()
    f.retry()
    assert f.result(timeout=10) == 7


def fail_first_time(path, value):
    if not os.path.exists(path):
        open(path, "w").close()
        raise RuntimeError("fails the first time")
    return value


# --- lifetime of futures -----------------------------------------------------------------------


def test_results_are_released_when_futures_are_garbage_collected(c, servers):
    s = servers[0]
    f = c.submit(inc, 1)
    key = f.key
    f.result()
    g = Future(key, c)  # a second reference to the same key
    del f
    gc.collect()
    time.sleep(0.05)
    assert on_loop(lambda: key in s.state.tasks), "one Future still holds it"
    assert g.result() == 2
    del g
    gc.collect()
    wait_until(lambda: key not in s.state.tasks)
    assert key not in c.futures


def test_many_futures_released_in_one_message(c, servers):
    fs = c.map(inc, range(100))
    wait(fs)
    keys = [f.key for f in fs]
    del fs
    gc.collect()
    wait_until(lambda: not any(k in servers[0].state.tasks for k in keys))


def _fail(x):
    raise ValueError(f"fail {x}")


def test_released_errors_leave_the_workers(c, servers):
    """Workers kept every erred task, error and traceback after its futures went."""
    fs = c.map(_fail, range(50), pure=False)
    assert c.gather(fs, errors="skip") == []
    keys = [f.key for f in fs]
    del fs
    gc.collect()
    workers = servers[1]
    wait_until(lambda: not any(k in w.state.tasks for w in workers for k in keys))
    wait_until(lambda: not any(k in servers[0].state.tasks for k in keys))


def test_resubmitting_a_released_key_computes_it_again(c):
    f = c.submit(inc, 1)
    assert f.result() == 2
    del f
    gc.collect()
    assert c.submit(inc, 1).result() == 2


def test_cancel(c, servers):
    release = new_event("cancel")
    f = c.submit(wait_for_event, "cancel", pure=False)
    f.cancel()
    assert f.cancelled() and f.status == "cancelled"
    with pytest.raises(FutureCancelledError, match="cancelled"):
        f.result()
    release.set()
    wait_until(lambda: f.key not in servers[0].state.tasks)
    assert c.submit(inc, 5).result() == 6


EVENTS: dict = {}  # the workers run in this process: tasks find their event by name


def new_event(name):
    EVENTS[name] = threading.Event()
    return EVENTS[name]


def wait_for_event(name):
    EVENTS[name].wait(10)
    return 1


def test_add_done_callback(c):
    seen = []
    done = threading.Event()

    def callback(future):
        seen.append((future.status, threading.current_thread().name))
        done.set()

    f = c.submit(slow_inc, 1)
    f.add_done_callback(callback)
    assert done.wait(10)
    assert seen[0][0] == "finished" and seen[0][1].startswith("shoal-client-callback")
    # a callback on a future that is already done runs too
    done.clear()
    f.add_done_callback(callback)
    assert done.wait(10)


def test_fire_and_forget(c, tmp_path):
    path = str(tmp_path / "side-effect")
    f = c.submit(write_file, path, delay=0.2, pure=False)
    fire_and_forget(f)
    del f
    gc.collect()
    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def write_file(path, delay=0.0):
    time.sleep(delay)
    with open(path, "w") as f:
        f.write("done")
    return path


# --- waiting on many --------------------------------------------------------------------------


def test_wait(c):
    fs = c.map(slow_inc, range(4))
    done, not_done = wait(fs, timeout=10)
    assert done == set(fs) and not not_done
    release = new_event("wait")
    blocker = c.submit(wait_for_event, "wait", pure=False)
    quick = c.submit(inc, 10)
    done, not_done = wait([blocker, quick], return_when=FIRST_COMPLETED, timeout=10)
    assert quick in done and blocker in not_done
    with pytest.raises(TimeoutError):
        wait([blocker], timeout=0.1)
    release.set()
    assert blocker.result(timeout=10) == 1


def test_as_completed(c):
    fs = c.map(slow_inc, [3, 0, 1], delay=0.02)
    seen = list(as_completed(fs))
    assert set(seen) == set(fs) and len(seen) == 3

    ac = as_completed(c.map(inc, range(5)), with_results=True)
    assert ac.count() == 5
    results = sorted(r for _, r in ac)
    assert results == [1, 2, 3, 4, 5] and ac.count() == 0

    ac = as_completed([c.submit(inc, 1)])
    added = False
    out = []
    for f in ac:
        out.append(f.result())
        if not added:
            ac.add(c.submit(inc, 2))
            added = True
    assert sorted(out) == [2, 3]


def test_as_completed_errors_and_batches(c):
    with pytest.raises(ValueError, match="bad input 0"):
        for _ in as_completed([c.submit(fail, 0)], with_results=True):
            pass
    pairs = list(as_completed([c.submit(fail, 1)], with_results=True, raise_errors=False))
    assert isinstance(pairs[0][1], ValueError)

    fs = c.map(inc, range(20))
    wait(fs)
    batches = list(as_completed(fs).batches())
    assert sum(map(len, batches)) == 20 and len(batches) < 20


# --- data movement and information -------------------------------------------------------------


def test_scatter(c, servers):
    workers = servers[1]
    [x, y] = c.scatter([1, 2])
    assert x.status == "finished" and c.gather([x, y]) == [1, 2]
    assert c.submit(add, x, y).result() == 3
    d = c.scatter({"a": 10, "b": 20})
    assert set(d) == {"a", "b"} and d["a"].key == "a" and d["b"].result() == 20
    single = c.scatter(123)
    assert single.result() == 123
    assert c.scatter([1])[0].key == x.key, "equal values, equal keys"
    target = workers[1].address
    placed = c.scatter([99], workers=[target])[0]
    assert c.who_has([placed])[placed.key] == [target]
    everywhere = c.scatter([7], broadcast=True)[0]
    assert sorted(c.who_has([everywhere])[everywhere.key]) == sorted(w.address for w in workers)


def test_information(c, servers):
    s, workers = servers
    info = c.scheduler_info()
    assert info["address"] == s.address and set(info["workers"]) == {w.address for w in workers}
    # Dask's keys, which notebooks read
    assert info["n_workers"] == len(workers) and info["total_threads"] == len(workers)
    assert info["services"] == {} and info["type"] == "Scheduler"  # (no dashboard here)
    for w in workers:
        entry = info["workers"][w.address]
        assert entry["type"] == "Worker" and entry["host"] == "127.0.0.1"
        assert entry["status"] == "running" and entry["local_directory"] == w.local_directory
        assert entry["metrics"]["managed_bytes"] >= 0 and "disk" in entry["metrics"]["spilled_bytes"]
    from shoal.distributed.scheduler.server import _host_of

    assert _host_of("inproc://127.0.0.1/1234/5") == "127.0.0.1" == _host_of("tcp://127.0.0.1:1")
    assert _host_of("tls://[::1]:8786") == "::1"
    first = c.scheduler_info(n_workers=1)
    assert len(first["workers"]) == 1 and first["n_workers"] == len(workers)
    assert c.nthreads() == {w.address: 1 for w in workers} == c.ncores()
    f = c.submit(inc, 1)
    f.result()
    holders = c.who_has([f])[f.key]
    assert len(holders) == 1 and f.key in c.has_what()[holders[0]]
    text = repr(c)
    assert text.startswith(f"<Client: '{s.address}' processes=2 threads=2, memory=")
    html = c._repr_html_()
    assert s.address in html and "Workers" in html
    assert c.dashboard_link is None


def test_run_and_run_on_scheduler(c, servers):
    s, workers = servers
    assert c.run(add, 1, 2) == {w.address: 3 for w in workers}
    one = workers[0].address
    assert c.run(add, 1, 2, workers=[one]) == {one: 3}
    assert c.run_on_scheduler(add, 2, 3) == 5
    with pytest.raises(ValueError, match="bad input 9"):
        c.run(fail, 9)
    out = c.run(fail, 8, on_error="return")
    assert all(isinstance(v, ValueError) for v in out.values())
    assert c.run(fail, 8, on_error="ignore") == {}


_RAN: list = []


def _slow_append(tag):
    time.sleep(0.3)
    _RAN.append(tag)


def test_run_without_waiting_returns_at_once_and_logs_a_failure(c, servers, caplog):
    _RAN.clear()
    assert c.run(_slow_append, "a", wait=False) is None
    assert _RAN == []  # back before the function got to its end
    wait_until(lambda: len(_RAN) == len(servers[1]), timeout=10)
    assert _RAN == ["a"] * len(servers[1])
    with caplog.at_level("WARNING", logger="shoal.distributed.client.control"):
        assert c.run(fail, 7, wait=False) is None
        wait_until(lambda: "bad input 7" in caplog.text, timeout=10)
    assert "Client.run(wait=False) failed" in caplog.text


def _raise_surrogate(x):
    raise ValueError("bad \udc80 bytes")


def test_a_lone_surrogate_in_a_key_or_an_error_neither_hangs_nor_breaks_the_worker(c):
    with pytest.raises(ValueError, match="bad \udc80 bytes"):
        c.submit(_raise_surrogate, 1, key="surrogate-error").result(timeout=10)
    assert c.submit(inc, 1, key="surrogate-\udc80-key").result(timeout=10) == 2
    assert c.submit(inc, 2).result(timeout=10) == 3  # the workers still work


def test_story_of_a_key_or_future(c):
    f = c.submit(inc, 1, key=("story-inc", 0))
    assert f.result() == 2
    story = c.story(f)
    assert [(e[1], e[2]) for e in story] == [
        ("released", "waiting"), ("waiting", "processing"), ("processing", "memory")]
    now = time.time()
    for key, start, finish, recs, stimulus_id, when in story:  # typed, as logged
        assert key == ("story-inc", 0) and isinstance(recs, dict)
        assert isinstance(stimulus_id, str) and now - 60 < when <= now
    assert story[0][3] == {("story-inc", 0): "processing"}  # waiting recommends processing
    assert c.story(("story-inc", 0)) == story  # a tuple key, as it is
    assert c.story("no-such-key") == []


def test_a_workers_story_of_a_tuple_key_that_came_as_a_list(c, servers):
    f = c.submit(inc, 1, key=("story-inc", 1))
    assert f.result() == 2
    (worker,) = [w for w in servers[1] if w.address in c.who_has([f])[f.key]]
    told = on_loop(lambda: worker.story(keys=[["story-inc", 1]]))  # (msgpack's form: unhashable)
    assert told and all("story-inc" in entry[0] for entry in told)


def _address_of(dask_worker, suffix=""):
    return dask_worker.address + suffix


def _scheduler_workers(dask_scheduler):
    return sorted(dask_scheduler.state.workers)


async def _async_address(dask_worker):
    return dask_worker.address


def test_run_hands_the_node_to_functions_that_ask(c, servers):
    s, workers = servers
    assert c.run(_address_of) == {w.address: w.address for w in workers}
    assert c.run(_address_of, suffix="!") == {w.address: w.address + "!" for w in workers}
    assert c.run(_async_address) == {w.address: w.address for w in workers}
    assert c.run_on_scheduler(_scheduler_workers) == sorted(w.address for w in workers)
    assert c.run(len, "abc") == {w.address: 3 for w in workers}  # a builtin: nothing handed


def test_worker_restrictions(c, servers):
    target = servers[1][1].address
    f = c.submit(inc, 1, workers=[target])
    assert f.result() == 2 and c.who_has([f])[f.key] == [target]


# --- default client, context manager, closing ------------------------------------------------


def test_default_client_and_close(servers):
    client = Client(servers[0].address)
    try:
        assert default_client() is client
        submitted = client.submit(inc, 1)  # held: once dropped, the key may be released
        f = Future(submitted.key)
        assert f.client is client and f.result() == 2
    finally:
        client.close()
    assert client.status == "closed"
    with pytest.raises(ValueError, match="No running Client"):
        default_client()
    with pytest.raises(RuntimeError, match="not running"):
        client.submit(inc, 1)
    client.close()  # twice is fine


def test_closing_cancels_pending_futures(servers):
    release = new_event("closing")
    with Client(servers[0].address) as client:
        f = client.submit(wait_for_event, "closing", pure=False)
    assert f.status == "cancelled"
    release.set()


def test_set_as_default_false(c, servers):
    with Client(servers[0].address, set_as_default=False) as other:
        assert default_client() is c
        assert other.submit(inc, 1).result() == 2


def test_as_current_makes_a_client_the_default_in_its_block_only(c, servers, tmp_path):
    """Dask's ``with client.as_current():``: ``compute``, ``performance_report`` and
    ``get_task_stream`` of another client than the newest (a report of the first
    of two clients recorded none of its tasks), in this thread only."""
    import threading

    from shoal import delayed
    from shoal.distributed import get_task_stream, performance_report

    with sync_cluster(nworkers=1) as (other, _), Client(other.address) as newest:
        assert default_client() is newest
        with c.as_current() as same:
            assert same is c and default_client() is c
            seen = []
            thread = threading.Thread(target=lambda: seen.append(default_client()))
            thread.start()
            thread.join(10)
            assert seen == [newest]  # another thread keeps its default
            with performance_report(filename=str(tmp_path / "r.html")), get_task_stream() as ts:
                assert delayed(inc)(41).compute() == 42  # on c's scheduler, not newest's
                c.gather(c.map(inc, range(5)))
            assert len(ts.data) == 6
        assert default_client() is newest
        closed = Client(other.address, set_as_default=False)
        closed.close()
        with closed.as_current():  # the block's client even closed: it says so when used
            assert default_client() is closed
            with pytest.raises(RuntimeError, match="not running"):
                delayed(inc)(1).compute()
    summary = html.unescape((tmp_path / "r.html").read_text())  # (in the document's JSON)
    assert "<td>Tasks</td><td>6</td>" in summary  # the summary's count: c's tasks


def test_two_clients_share_a_key(c, servers):
    with Client(servers[0].address) as other:
        a = c.submit(inc, 5)
        b = other.submit(inc, 5)
        assert a.key == b.key and a.result() == b.result() == 6
        with pytest.raises(ValueError, match="belongs to another client"):
            c.submit(inc, b)


def test_works_inside_a_running_event_loop(servers):
    """A Jupyter cell: blocking client calls from a thread whose loop is running."""

    async def cell():
        with Client(servers[0].address) as client:
            return client.submit(inc, 1).result(), client.gather(client.map(inc, [1, 2]))

    assert asyncio.run(cell()) == (2, [2, 3])


def test_connecting_to_nothing_fails_clearly():
    from shoal import config

    with config.set({"distributed.comm.timeouts.connect": "200ms"}):
        with pytest.raises(OSError):
            Client("tcp://127.0.0.1:1", timeout=0.2)
    assert not get_runner().is_running


def test_client_address_argument_types():
    with pytest.raises(TypeError, match="address string or a cluster"):
        Client(42)
    with pytest.raises(TypeError, match="LocalCluster options"):
        Client("tcp://127.0.0.1:1", n_workers=2)


def test_result_timeout(c):
    new_event("timeout")
    f = c.submit(wait_for_event, "timeout", pure=False)
    with pytest.raises(TimeoutError, match=r"timed out after 0.1 s"):
        f.result(timeout=0.1)
    with pytest.raises(TimeoutError, match=r"timed out after 0.1 s"):
        wait([f], timeout=0.1)
    EVENTS["timeout"].set()
    assert f.result(timeout=10) == 1


def test_future_of_a_key_another_client_computed(c, servers):
    with Client(servers[0].address, set_as_default=False) as other:
        theirs = other.submit(inc, 41)
        assert theirs.result() == 42
        mine = Future(theirs.key, c)  # "client-desires-keys": the scheduler reports it to c
        assert mine.result(timeout=10) == 42


def test_futures_pickle_by_key(c):
    import pickle

    f = c.submit(inc, 1)
    g = pickle.loads(pickle.dumps(f))
    assert g.key == f.key and g.client is c and g.result() == 2


def test_resources():
    with sync_cluster(worker_options={"resources": {"GPU": 1}}) as (s, workers):
        with Client(s.address) as client:
            f = client.submit(inc, 1, resources={"GPU": 1})
            assert f.result(timeout=10) == 2


def test_scheduler_going_away_cancels_pending_futures():
    with sync_cluster(nworkers=1) as (s, workers):
        client = Client(s.address)
        try:
            new_event("gone")
            f = client.submit(wait_for_event, "gone", pure=False)
            get_runner().sync(s.close)
            deadline = time.monotonic() + 10
            while f.status != "cancelled":
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert client.status == "disconnected"
            with pytest.raises(FutureCancelledError, match="scheduler"):
                f.result()
            with pytest.raises(RuntimeError, match="not running"):
                client.submit(inc, 1)
        finally:
            EVENTS["gone"].set()
            client.close()
        assert client.status == "closed"


def test_inproc_cluster():
    with sync_cluster(protocol="inproc") as (s, workers):
        assert s.address.startswith("inproc://")
        with Client(s.address) as client:
            assert client.gather(client.map(inc, range(5))) == [1, 2, 3, 4, 5]
            assert client.gather(client.scatter([1, 2])) == [1, 2]


def test_futures_dropped_after_their_dependents_were_submitted(c):
    """A tree built layer by layer: each layer's futures die right after the next
    layer is submitted; the releases must reach the scheduler after those submits."""
    layer = [c.submit(slow_inc, i, 0.005) for i in range(64)]
    while len(layer) > 1:
        layer = [c.submit(add, layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    assert layer[0].result(timeout=30) == sum(range(1, 65))


def _bad(x):
    raise RuntimeError(f"nope {x}")


def _interrupts(kind):
    raise KeyboardInterrupt("from a task") if kind == "ki" else SystemExit(3)


def test_a_task_raising_keyboardinterrupt_or_systemexit_leaves_the_client_working(c):
    """asyncio lets these two out of run_forever: raised on the client's loop, they
    stopped its thread, and every later call failed with 'Event loop is closed'."""
    with pytest.raises(KeyboardInterrupt, match="from a task"):
        c.submit(_interrupts, "ki", pure=False).result(timeout=10)
    with pytest.raises(SystemExit):
        c.submit(_interrupts, "se", pure=False).result(timeout=10)
    assert c.submit(inc, 1).result(timeout=10) == 2


class _TwoArgs(Exception):  # travels back as a RemoteTaskError (its __init__ takes two)
    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


def _bad_two(x):
    raise _TwoArgs(x, x)


def test_an_erred_future_whose_result_raised_is_released(c, servers):
    """Raising the kept exception itself hung the frames it passed through on it, the
    future among them: the client never released the key, the scheduler kept the task."""
    import gc

    scheduler = servers[0]
    for i in range(3):
        f = c.submit(_bad, i, key=f"bad-{i}")
        with pytest.raises(RuntimeError, match=f"nope {i}") as info:
            f.result()
        assert f.exception() is not info.value and type(f.exception()) is RuntimeError
        with pytest.raises(RuntimeError, match=f"nope {i}"):
            c.gather([f])
        del f, info
        g = c.submit(_bad_two, i, key=f"bad-two-{i}")
        with pytest.raises(Exception, match=f"{i}/{i}"):
            g.result()
        del g
    gc.collect()
    wait_until(lambda: not any(k.startswith("bad-") for k in scheduler.state.tasks), timeout=10)


def test_keys_that_cannot_name_a_task_on_the_cluster_are_refused_at_once(c, servers):
    """A key a message cannot carry (``1j``) was dropped with its whole graph, and its
    future waited for good; a NaN key (unequal to itself once read on the other side)
    waited for good too, or failed with a bare KeyError, or was "lost again and again"."""
    nan = float("nan")
    with pytest.raises(TypeError, match=r"submit: the key 1j is of type complex"):
        c.submit(abs, 1, key=1j)
    with pytest.raises(ValueError, match=r"the graph: the key \('x', nan\) holds a NaN"):
        c.get({("x", nan): 1}, ("x", nan))
    with pytest.raises(ValueError, match=r"the graph: the key nan holds a NaN"):
        c.get({nan: 1, "b": (abs, nan)}, "b")
    with pytest.raises(ValueError, match=r"scatter: the key nan holds a NaN"):
        c.scatter({nan: 1})
    with pytest.raises(TypeError, match=r"is an integer past 64 bits"):
        c.get({2**70: 1}, 2**70)
    # what does travel: ints, floats, bytes, None, numpy numbers, tuples of them
    np = pytest.importorskip("numpy")
    graph = {1: 1, 2.5: 2, b"k": 3, None: 4, ("t", np.int64(3)): 5, "sum": (sum, [1, 2.5])}
    assert c.get(graph, ["sum", b"k", None, ("t", 3)]) == [3, 3, 4, 5]
    # and subclasses of str and tuple (a NumPy string, a named tuple), as before
    from collections import namedtuple

    Part = namedtuple("Part", "name index")
    assert c.submit(inc, 1, key=np.str_("np-key")).result() == 2
    assert c.get({Part("p", 0): 5}, Part("p", 0)) == 5


_RELEASE = threading.Event()  # (test_timeouts_may_be_strings_as_dasks)


def _wait_released(timeout):
    return _RELEASE.wait(timeout)


def test_timeouts_may_be_strings_as_dasks(c):
    """"200ms" raised TypeError ('<=' between str and int) in result, wait, as_completed."""
    from shoal.distributed import as_completed, wait

    slow = c.submit(_wait_released, 30, pure=False)  # (in-process workers: set below)
    for call in (lambda: slow.result(timeout="200ms"), lambda: slow.exception(timeout="0.2s"),
                 lambda: wait([slow], timeout="200ms"),
                 lambda: next(iter(as_completed([slow], timeout="200ms"))),
                 lambda: c.wait_for_workers(50, timeout="200ms")):  # fmt: skip
        with pytest.raises(TimeoutError):
            call()
    assert c.gather(c.scatter(1, timeout="5s")) == 1
    _RELEASE.set()  # (the task's thread ends now rather than after a sleep)
    c.cancel(slow)
