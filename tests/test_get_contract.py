"""The ``get`` contract (shoal.testing.conformance), bound once per local scheduler."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from shoal.base import get_scheduler
from shoal.local import processes, sync, threads
from shoal.testing import GetContract
from shoal.testing.conformance import ContractError, fail_custom


class TestSync(GetContract):
    get = staticmethod(sync.get)


class TestThreads(GetContract):
    get = staticmethod(threads.get)


class TestProcesses(GetContract):
    @staticmethod
    def get(graph, keys, **kwargs):
        kwargs.setdefault("num_workers", 2)
        return processes.get(graph, keys, **kwargs)


class TestThreadPoolExecutor(GetContract):
    @classmethod
    def setup_class(cls):
        cls.executor = ThreadPoolExecutor(2)
        cls.get = staticmethod(get_scheduler(cls.executor))

    @classmethod
    def teardown_class(cls):
        cls.executor.shutdown(wait=True)


def _fail_to_rebuild():
    fail_custom("cannot rebuild this result")


class FailsToUnpickle:
    """Pickles in the worker; fails when the parent unpickles it."""

    def __reduce__(self):
        return (_fail_to_rebuild, ())


class TestProcessPoolExecutor(GetContract):
    @classmethod
    def setup_class(cls):
        # spawn: forking a process that runs threads is unsafe (and warned about), and
        # a forkserver would outlive the test
        cls.executor = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
        cls.get = staticmethod(get_scheduler(cls.executor))

    @classmethod
    def teardown_class(cls):
        cls.executor.shutdown(wait=True)

    def test_result_that_fails_to_unpickle_names_its_key(self):
        with pytest.raises(ContractError) as info:
            self.compute({("bad", 0): (FailsToUnpickle,)}, ("bad", 0))
        assert any("('bad', 0)" in n and "unpickling" in n for n in info.value.__notes__)
        assert self.compute({"ok": (sum, [1, 2])}, "ok") == 3


@pytest.mark.parametrize("get, label", [("shoal.get", "sync"), ("shoal.threaded.get", "threads"),
                                        ("shoal.multiprocessing.get", "processes")])
def test_a_get_function_given_scheduler_says_it_runs_its_own(get, label):
    """``shoal.get(graph, key, scheduler="threads")`` failed with "run() got multiple values
    for keyword argument 'scheduler'" (Dask's ignores it and runs its sync scheduler)."""
    import shoal.multiprocessing  # noqa: F401
    import shoal.threaded  # noqa: F401
    from shoal.core.loading import load_object

    fn = load_object(get.rsplit(".", 1)[0] + ":" + get.rsplit(".", 1)[1])
    with pytest.raises(TypeError, match=rf"scheduler='threads': this get function always "
                                        rf"runs the {label} scheduler"):  # fmt: skip
        fn({"a": 1}, "a", scheduler="threads")
    assert fn({"a": (sum, [1, 2])}, "a") == 3
