"""The ``get`` contract (shoal.testing.conformance), bound once per local scheduler."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from shoal.base import get_scheduler
from shoal.local import processes, sync, threads
from shoal.testing import GetContract


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


class TestProcessPoolExecutor(GetContract):
    @classmethod
    def setup_class(cls):
        # forkserver: forking a process that runs threads is unsafe (and warned about)
        cls.executor = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver"))
        cls.get = staticmethod(get_scheduler(cls.executor))

    @classmethod
    def teardown_class(cls):
        cls.executor.shutdown(wait=True)
