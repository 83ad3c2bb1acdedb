"""compute/persist plumbing and the scheduler choice order."""

import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

import shoal
from shoal import config, delayed
from shoal.base import get_scheduler, named_schedulers, register_client_lookup, _client_lookups


def which_thread(_=None):
    return threading.current_thread().name


def test_names_and_aliases_resolve():
    import shoal.local.processes
    import shoal.local.sync
    import shoal.local.threads

    expect = {
        "sync": shoal.local.sync.get, "synchronous": shoal.local.sync.get,
        "single-threaded": shoal.local.sync.get, "threads": shoal.local.threads.get,
        "threading": shoal.local.threads.get, "processes": shoal.local.processes.get,
        "multiprocessing": shoal.local.processes.get,
    }
    for name, get in expect.items():
        assert get_scheduler(name) is get
    assert set(expect) <= set(named_schedulers)


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Unknown scheduler 'thread'.*Did you mean 'threads'"):
        delayed(which_thread)().compute(scheduler="thread")


def test_choice_order():
    x = delayed(which_thread)()
    main = threading.current_thread().name
    assert x.compute() .startswith("shoal-threads")  # collection default: threads
    with config.set(scheduler="sync"):
        assert x.compute() == main  # config beats the collection default
        assert x.compute(scheduler="threads").startswith("shoal-threads")  # argument beats config
    assert x.compute().startswith("shoal-threads")  # context manager restored


def test_config_set_globally():
    x = delayed(which_thread)()
    try:
        config.set(scheduler="sync")
        assert x.compute() == threading.current_thread().name
    finally:
        config.set(scheduler=None)
    assert x.compute().startswith("shoal-threads")


def test_default_client_hook_comes_after_config():
    calls = []

    def fake_client_get(graph, keys, **kwargs):
        calls.append(keys)
        return shoal.local.sync.get(graph, keys, **kwargs)

    import shoal.local.sync

    before = list(_client_lookups)  # (shoal.distributed's own, when imported: kept)
    _client_lookups.clear()
    register_client_lookup(lambda: fake_client_get)
    try:
        assert delayed(sum)([1, 2]).compute() == 3
        assert len(calls) == 1
        with config.set(scheduler="threads"):
            delayed(sum)([1, 2]).compute()
        assert len(calls) == 1
    finally:
        _client_lookups[:] = before


def test_thread_pool_executor_as_scheduler():
    with ThreadPoolExecutor(2, thread_name_prefix="mypool") as pool:
        x = delayed(which_thread)()
        assert x.compute(scheduler=pool).startswith("mypool")


def test_process_pool_executor_as_scheduler():
    with ProcessPoolExecutor(2) as pool:
        xs = [delayed(lambda i: i * i)(i) for i in range(20)]
        assert shoal.compute(*xs, scheduler=pool) == tuple(i * i for i in range(20))


def test_get_function_and_object_with_get_as_scheduler():
    seen = []

    def my_get(graph, keys, **kwargs):
        seen.append(len(graph))
        return shoal.local.sync.get(graph, keys, **kwargs)

    class FakeClient:
        def get(self, graph, keys, **kwargs):
            seen.append("client")
            return shoal.local.sync.get(graph, keys, **kwargs)

    import shoal.local.sync

    assert delayed(sum)([1, 2]).compute(scheduler=my_get) == 3
    assert delayed(sum)([1, 2]).compute(scheduler=FakeClient()) == 3
    assert seen == [1, "client"]


def test_bad_scheduler_type():
    with pytest.raises(TypeError, match="scheduler= must be"):
        delayed(sum)([1]).compute(scheduler=42)


def test_num_workers_reaches_the_pool():
    names = shoal.compute(*[delayed(which_thread)(i) for i in range(8)],
                          scheduler="threads", num_workers=1)
    assert len(set(names)) == 1


def test_get_accepts_dask_graph_objects():
    import shoal.local.sync

    x = delayed(sum)([1, 2, 3])
    assert shoal.local.sync.get(x, x.key) == 6  # an object with __dask_graph__
    with pytest.raises(TypeError, match="expected a task graph"):
        shoal.local.sync.get(42, "x")


def test_unknown_scheduler_keyword_is_named():
    with pytest.raises(TypeError, match="unexpected keyword argument.*'colour'.*threads scheduler"):
        delayed(sum)([1]).compute(scheduler="threads", colour="red")
    # Dask's own options are accepted (chunksize means our batch size)
    assert delayed(sum)([1]).compute(scheduler="processes", chunksize=4) == 1


@pytest.mark.timeout(30)
def test_nested_compute_on_a_user_thread_pool_does_not_deadlock():
    # a task computing on the very pool it runs on would wait for itself
    def inner(i):
        return delayed(abs)(-i).compute()

    pool = ThreadPoolExecutor(1)
    try:
        with config.set(scheduler=pool):
            assert shoal.compute(*[delayed(inner)(i) for i in range(3)]) == (0, 1, 2)
    finally:
        pool.shutdown(wait=False)  # a regression must fail the test, not hang the run


@pytest.mark.timeout(60)
def test_a_compute_from_a_thread_a_task_waits_for_does_not_deadlock():
    """A task that starts a thread which computes, and waits for it: the thread's compute
    went to the shared pool, whose only thread was that waiting task (Dask gives each
    calling thread a pool of its own; so does shoal now, for the compute)."""
    def inner():
        out = []
        helper = threading.Thread(target=lambda: out.append(
            delayed(abs)(-42).compute(scheduler="threads", num_workers=1)))
        helper.start()
        helper.join(20)
        assert not helper.is_alive(), "the helper thread's compute never ran"
        return out[0]

    assert delayed(inner)().compute(scheduler="threads", num_workers=1) == 42
    # and many user threads at once, each with its own graph
    results = [None] * 6

    def user(i):
        results[i] = shoal.compute(*[delayed(abs)(-j * i) for j in range(20)], scheduler="threads")

    threads = [threading.Thread(target=user, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [tuple(j * i for j in range(20)) for i in range(6)]
