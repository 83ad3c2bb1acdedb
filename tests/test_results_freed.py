"""A result the user lets go of is freed at once, not when the garbage collector runs.

Every check here runs with Python's garbage collector switched off: an object
kept alive only by a reference cycle (a nested function that calls itself and
closes over the results, a log that holds the event that carried a value)
then stays alive, and the counts below see it.  Values are :class:`Counted`
objects, which count their living copies (made, unpickled, dropped).
"""

from __future__ import annotations

import gc
import threading

import pytest

from shoal.testing.cluster import sync_cluster, wait_until

pytestmark = pytest.mark.timeout(60)

_lock = threading.Lock()


class Counted:
    """A value that counts its living instances (pickled copies too)."""

    alive = 0

    def __init__(self, n: int = 1000):
        self.blob = bytes(n)
        self._count(+1)

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._count(+1)

    def __del__(self):
        self._count(-1)

    @staticmethod
    def _count(delta: int) -> None:
        with _lock:
            Counted.alive += delta


class Frame(bytearray):
    """A payload frame that counts its living instances."""

    alive = 0

    def __init__(self, *args):
        super().__init__(*args)
        Frame.alive += 1

    def __del__(self):
        Frame.alive -= 1


def make(i):
    return Counted(1000 + i)


@pytest.fixture
def no_gc():
    gc.collect()
    before = Counted.alive
    gc.disable()
    try:
        yield before
    finally:
        gc.enable()
        gc.collect()


def test_message_frames_are_freed_with_the_message(no_gc):
    from shoal.distributed.protocol.serialize import Pickled, Serialized, dumps, loads

    frames = dumps({"op": "x", "keys": ("a", 1), "value": Serialized({"type": "t"}, [Frame(10)]),
                    "more": Pickled(Counted())})  # fmt: skip
    assert Frame.alive == 1 and Counted.alive == no_gc  # the Pickled one was dropped
    msg = loads(frames)
    assert msg["keys"] == ("a", 1) and isinstance(msg["value"].frames[0], Frame)
    more = msg["more"].deserialize()
    assert isinstance(more, Counted) and Counted.alive == no_gc + 1
    del frames, msg, more
    assert Frame.alive == 0
    assert Counted.alive == no_gc


def test_local_compute_results_are_freed(no_gc):
    import shoal
    from shoal import delayed

    for scheduler in ("sync", "threads", "processes"):
        (value,) = shoal.compute([delayed(make)(i) for i in range(3)], scheduler=scheduler)
        assert [v.blob[:1] for v in value] == [b"\0"] * 3
        assert Counted.alive == no_gc + 3
        del value
        assert Counted.alive == no_gc, scheduler


def shoal_cycles(function) -> list:
    """The functions of shoal's that *function* left in reference cycles (names)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        function()
        gc.collect()
        return sorted({o.__qualname__ for o in gc.garbage if type(o) is type(make)
                       and (o.__module__ or "").startswith("shoal")})  # fmt: skip
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_array_keys_and_folded_reductions_leave_no_cycles(no_gc):
    np = pytest.importorskip("numpy")
    import shoal.array as sa

    def work():
        x = sa.from_array(np.arange(36.0).reshape(6, 6), chunks=3)
        assert x.__dask_keys__() == [[(x.name, 0, 0), (x.name, 0, 1)],
                                     [(x.name, 1, 0), (x.name, 1, 1)]]  # fmt: skip
        assert float((x + x.T).sum().compute(scheduler="sync")) == 2 * 630.0

    assert shoal_cycles(work) == []


def test_distributed_results_are_freed_once_released(no_gc):
    from shoal import delayed
    from shoal.distributed import Client

    with sync_cluster(nworkers=2) as (s, workers), Client(s.address) as c:
        futures = c.map(make, range(20))
        values = c.gather(futures)
        assert sorted(len(v.blob) for v in values) == list(range(1000, 1020))
        single = c.submit(make, 99).result()
        computed = c.compute(delayed(make)(7)).result()
        assert len(single.blob) == 1099 and len(computed.blob) == 1007
        assert Counted.alive >= no_gc + 22  # this client's copies (and the workers')
        del futures, values, single, computed
        wait_until(lambda: Counted.alive == no_gc, timeout=10)
        # the worker state machines keep their stimulus logs, without the values
        logged = [ev for w in workers for ev in w.state.stimuli()
                  if type(ev).__name__ in ("ExecuteSuccess", "ComputeTask")]  # fmt: skip
        assert len(logged) >= 44
        assert all(getattr(ev, "value", None) is None and getattr(ev, "run_spec", None) is None
                   for ev in logged)  # fmt: skip


def test_scheduler_keeps_no_run_spec_or_request_after_it_is_done(no_gc):
    """A graph's run_specs (the task's pickled function and inputs) leave the scheduler
    with their tasks, and a request's payload with its answer: the request loop used to
    keep the last request it read until the next one came."""
    from shoal.distributed import Client
    from shoal.distributed.protocol.serialize import Serialized

    def big_payloads():
        return [o for o in gc.get_objects() if type(o) is Serialized and o.nbytes > 1_000_000]

    with sync_cluster(nworkers=1) as (s, workers), Client(s.address) as c:
        blob = bytes(3_000_000)
        future = c.submit(len, blob, pure=False)
        assert future.result() == 3_000_000
        assert c.run_on_scheduler(len, bytes(2_000_000)) == 2_000_000  # a request's payload
        del future
        wait_until(lambda: not s.state.tasks, timeout=10)
        assert big_payloads() == []  # the run_spec with the 3 MB input, the request's 2 MB
