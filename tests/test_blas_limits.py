"""BLAS thread limits while the threads scheduler runs (shoal/local/blas.py)."""

import threading

import pytest

np = pytest.importorskip("numpy")
threadpoolctl = pytest.importorskip("threadpoolctl")

import shoal
from shoal.local.threads import get as threads_get
from shoal.local.sync import get as sync_get
from shoal.local import blas

pytestmark = pytest.mark.timeout(60)


def blas_threads(*_):
    """What the loaded BLAS libraries use now (from inside a task, too)."""
    return sorted({lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"})


@pytest.fixture
def two_blas_threads():
    """Start every test from a known BLAS setting of 2 (the CI machine has 2 cores)."""
    if not blas_threads():
        pytest.skip("no BLAS library found by threadpoolctl")
    # threadpoolctl >= 3.6 lets only the first (living) thread that set OpenBLAS's
    # limit change it; another test's thread may be that one: hand it to this one
    clear = getattr(threadpoolctl.OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != [2]:
            pytest.skip("BLAS cannot run 2 threads on this machine")
        yield


def graph_reading_blas(n=4):
    g = {("probe", i): (blas_threads, i) for i in range(n)}
    return g, list(g)


def test_target_threads_values(monkeypatch):
    monkeypatch.setattr(blas.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert blas.target_threads(1, "auto") is None  # one pool thread: BLAS keeps every core
    assert blas.target_threads(2, "auto") == 4
    assert blas.target_threads(8, "auto") == 1
    assert blas.target_threads(32, "auto") == 1  # never below one
    assert blas.target_threads(4, 3) == 3
    assert blas.target_threads(4, "null") is None
    with shoal.config.set({"local.threads.blas-threads": None}):
        assert blas.target_threads(4) is None
    for bad in (0, -1, "many", 1.5, True):
        with pytest.raises(ValueError, match="local.threads.blas-threads"):
            blas.target_threads(4, bad)


def test_threaded_compute_holds_blas_at_one_thread_per_core(two_blas_threads):
    g, keys = graph_reading_blas()
    inside = threads_get(g, keys, num_workers=4)  # >= cores: 1 each
    assert inside == [[1]] * 4
    assert blas_threads() == [2]  # restored


def test_limit_is_config_and_skips_single_task_and_single_thread(two_blas_threads):
    g, keys = graph_reading_blas()
    with shoal.config.set({"local.threads.blas-threads": None}):
        assert threads_get(g, keys, num_workers=4) == [[2]] * 4
    with shoal.config.set({"local.threads.blas-threads": 2}):
        assert threads_get(g, keys, num_workers=4) == [[2]] * 4
    assert threads_get(g, keys, num_workers=1) == [[2]] * 4
    assert threads_get({"one": (blas_threads, 0)}, "one", num_workers=4) == [2]
    assert sync_get(g, keys) == [[2]] * 4


def test_a_lower_user_setting_is_kept(two_blas_threads):
    g, keys = graph_reading_blas()
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        with shoal.config.set({"local.threads.blas-threads": 2}):
            assert threads_get(g, keys, num_workers=4) == [[1]] * 4
        assert blas_threads() == [1]
    assert blas_threads() == [2]


def test_overlapping_computes_restore_once_the_last_finishes(two_blas_threads):
    """A second compute starts (from another thread) while the first runs and
    ends first: it must not lift the limit under the first one, and the first
    restores the original when it ends.  (threadpoolctl lets only the thread that
    first set OpenBLAS's limit change it: the main thread, here.)"""
    release = threading.Event()
    first_started = threading.Event()
    seen = {}

    def wait_then_read(_):
        first_started.set()
        assert release.wait(20)
        return blas_threads()

    def second_compute():
        try:
            assert first_started.wait(20)
            g, keys = graph_reading_blas()
            seen["second"] = threads_get(g, keys, num_workers=3)
            seen["after second"] = blas_threads()  # the first still runs: still limited
        finally:
            release.set()

    t = threading.Thread(target=second_compute)
    t.start()
    slow = {("slow", i): (wait_then_read, i) for i in range(2)}
    try:
        first = threads_get(slow, list(slow), num_workers=2)
    finally:
        release.set()
        t.join(20)
    assert seen == {"second": [[1]] * 4, "after second": [1]}
    assert first == [[1]] * 2
    assert blas_threads() == [2]


def test_an_error_in_a_task_restores_the_limit(two_blas_threads):
    def boom(_):
        raise ZeroDivisionError("task failed")

    g = {("b", i): (boom, i) for i in range(3)}
    with pytest.raises(ZeroDivisionError, match="task failed"):
        threads_get(g, list(g), num_workers=4)
    assert blas_threads() == [2]


def test_blocked_matmul_still_matches_numpy_under_the_limit():
    import shoal.array as sa

    rng = np.random.default_rng(1)
    a, b = rng.random((300, 200)), rng.random((200, 250))
    got = (sa.from_array(a, chunks=100) @ sa.from_array(b, chunks=100)).compute(scheduler="threads")
    np.testing.assert_allclose(got, a @ b)


def test_process_pool_workers_start_with_the_limit(monkeypatch):
    from shoal.local.pool import ProcessPool
    from shoal.local.processes import ProcessBackend
    from shoal.local.runner import run

    for name in blas.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    expected = blas.target_threads(2)
    assert blas.child_environ(2) == {name: str(expected) for name in blas.THREAD_VARIABLES}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own setting wins
    assert "OMP_NUM_THREADS" not in blas.child_environ(2)
    monkeypatch.delenv("OMP_NUM_THREADS")
    with shoal.config.set({"local.threads.blas-threads": None}):
        assert blas.child_environ(2) == {}

    pool = ProcessPool(2)  # a private pool, started under this environment
    try:
        g, keys = graph_reading_blas()
        seen = run(ProcessBackend(pool), g, keys, label="processes")
    finally:
        pool.close()
    assert seen == [[expected]] * 4
