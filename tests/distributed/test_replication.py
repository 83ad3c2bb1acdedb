"""``Client.replicate``, ``rebalance`` and ``restart_workers``: the pure planners, then
real clusters (in-process workers; worker processes with nannies for the restart).

Each cluster test checks where the data is (the scheduler's ``who_has`` and the
workers' own stores agree), that the values are unchanged, and that nothing is lost.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from shoal.distributed import Client
from shoal.distributed.scheduler.messages import WorkerStatusChange
from shoal.distributed.scheduler.replication import (DropReplicas, copies_wanted, excess_replicas,
                                                     rebalance_moves)
from shoal.testing.cluster import gen_cluster, on_loop, sync_cluster

pytestmark = pytest.mark.timeout(60)


# --- planning (pure) ------------------------------------------------------------------------


def test_copies_wanted_fills_the_least_loaded_targets_and_branches():
    holders = {"x": {"a"}, "y": {"a", "b"}}
    load = {"a": 100, "b": 0, "c": 0, "d": 50}
    plan = copies_wanted(holders, ["a", "b", "c", "d"], 4, load, {"x": 10, "y": 10}, 2)
    # x: one holder, branching 2 -> two copies this round, on the emptiest (b, c)
    assert {t: sorted(keys) for t, keys in plan.items()} == {"b": ["x"], "c": ["x", "y"],
                                                             "d": ["y"]}  # fmt: skip
    assert plan["c"]["y"] == ["a", "b"]
    assert copies_wanted({"x": {"a", "b"}}, ["a", "b"], 2, load, {"x": 1}) == {}


def test_excess_replicas_keeps_n_and_never_the_last_copy():
    load = {"a": 30, "b": 20, "c": 10}
    plan = excess_replicas({"x": {"a", "b", "c"}}, ["a", "b", "c"], 1, load)
    assert plan == {"a": ["x"], "b": ["x"]}  # the most loaded give theirs up
    # only copies among the targets count; a copy elsewhere stays
    assert excess_replicas({"x": {"a", "b", "c"}}, ["a", "b"], 1, load) == {"a": ["x"]}
    assert excess_replicas({"x": {"a"}}, ["a"], 0, load) == {}


def test_rebalance_moves_even_out_the_load_without_overshooting():
    holdings = {"a": {f"k{i}": 10 for i in range(6)}, "b": {}, "c": {}}
    moves = rebalance_moves(holdings, {"a": 60, "b": 0, "c": 0})
    after = {"a": 60, "b": 0, "c": 0}
    for key, sender, recipient in moves:
        assert key in holdings[sender]
        after[sender] -= 10
        after[recipient] += 10
    assert after == {"a": 20, "b": 20, "c": 20} and len(moves) == 4
    # one big key: moving it would only swap the imbalance
    assert rebalance_moves({"a": {"big": 100}, "b": {}}, {"a": 100, "b": 0}) == []
    # unmanaged load counts; a key the recipient holds already does not move there
    assert rebalance_moves({"a": {"x": 10}, "b": {"x": 10}}, {"a": 50, "b": 10}) == []
    assert rebalance_moves({"a": {"x": 5}}, {"a": 5}) == []


def test_rebalance_moves_reduce_the_spread_at_every_step():
    rng = np.random.default_rng(0)
    holdings = {w: {f"{w}-{i}": int(rng.integers(1, 50)) for i in range(int(rng.integers(0, 20)))}
                for w in "abcde"}  # fmt: skip
    load = {w: sum(h.values()) for w, h in holdings.items()}
    spread = np.var(list(load.values()))
    for key, sender, recipient in rebalance_moves(holdings, load):
        size = holdings[sender].pop(key)
        holdings[recipient][key] = size
        load[sender] -= size
        load[recipient] += size
        assert np.var(list(load.values())) < spread
        spread = np.var(list(load.values()))
    assert max(load.values()) - min(load.values()) <= 2 * 49


def test_rebalance_moves_a_key_at_most_once():
    # the moves run at once: a key planned b -> a and then a -> c had c fetch it from a,
    # which did not hold it yet (a 30 s wait, and a copy left on a that who_has lacked)
    holdings = {"a": {"a0": 6}, "b": {"b0": 8, "b1": 10, "b2": 1}, "c": {"c0": 3}}
    moves = rebalance_moves(holdings, {w: sum(h.values()) for w, h in holdings.items()})
    assert moves and len({key for key, _, _ in moves}) == len(moves), moves
    for key, sender, recipient in moves:  # every sender holds its key before any move
        assert key in holdings[sender]


# --- on a cluster -----------------------------------------------------------------------------


@pytest.fixture
def three():
    with sync_cluster(3) as (s, workers), Client(s.address) as c:
        yield s, workers, c


def _holding(workers, key) -> set:
    return {w.address for w in workers if key in w.data}


def _wait(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_replicate_copies_to_every_worker_then_down_to_n(three):
    s, workers, c = three
    first = workers[0].address
    x, y = c.scatter([np.arange(1000), "text"], workers=[first])
    assert c.replicate([x, y]) is None
    everyone = {w.address for w in workers}
    assert {k: set(v) for k, v in c.who_has([x, y]).items()} == {x.key: everyone, y.key: everyone}
    assert _holding(workers, x.key) == everyone
    np.testing.assert_array_equal(workers[2].data[x.key], np.arange(1000))

    c.replicate(x, n=1)
    _wait(lambda: len(_holding(workers, x.key)) == 1, what="the extra copies to go")
    assert set(c.who_has([x])[x.key]) == _holding(workers, x.key)
    np.testing.assert_array_equal(x.result(), np.arange(1000))


def test_replicate_onto_named_workers_survives_losing_one_and_release_frees_all(three):
    s, workers, c = three
    a, b, spare = workers
    x = c.scatter(np.ones(500), workers=[a.address])
    c.replicate([x], n=2, workers=[a.address, b.address])
    assert set(c.who_has([x])[x.key]) == {a.address, b.address}
    assert x.key not in spare.data

    from shoal.distributed._loop import get_runner

    get_runner().sync(a.close)  # scattered data cannot be recomputed: b's copy must serve
    _wait(lambda: a.address not in s.state.workers, what="the scheduler to drop a")
    assert c.who_has([x])[x.key] == [b.address]
    np.testing.assert_array_equal(c.gather(x), np.ones(500))

    key = x.key
    del x
    _wait(lambda: not _holding(workers[1:], key), what="every copy to be freed")
    assert key not in s.state.tasks


def _slow_inc(x):
    time.sleep(0.3)
    return x + 1


def test_replicate_and_rebalance_wait_for_pending_futures(three):
    # as Dask's: a future still computing is waited for, not "not in memory"
    s, workers, c = three
    x = c.submit(_slow_inc, 1)
    c.replicate([x])
    assert len(c.who_has([x])[x.key]) == 3 and x.result() == 2
    y = c.submit(_slow_inc, 2)
    assert c.rebalance([y]) is None and y.result() == 3


def test_replicate_and_rebalance_take_worker_names(three):
    s, workers, c = three
    a, b, spare = workers
    x = c.scatter(np.ones(100), workers=[a.address])
    c.replicate([x], workers=[a.name, b.name])  # names, as restart_workers and restrictions
    assert set(c.who_has([x])[x.key]) == {a.address, b.address}
    assert c.rebalance([x], workers=[b.name, spare.name]) is None


@gen_cluster(nworkers=2)
async def test_a_copy_is_not_dropped_for_one_on_a_retiring_worker(s, a, b):
    # rebalance moving x to b while b retires: dropping a's copy left b to leave with
    # the only one (scattered data lost)
    async with Client(s.address, asynchronous=True) as c:
        [x] = await c.scatter([np.ones(10)], workers=[a.address])
        await c.replicate([x])
        s.handle(WorkerStatusChange(b.address, "closing_gracefully"))
        s.handle(DropReplicas(a.address, [x.key]))
        assert set(await c.who_has([x])) and a.address in (await c.who_has([x]))[x.key]
        assert x.key in a.data
        s.handle(WorkerStatusChange(b.address, "running", retire_cancelled=True))
        s.handle(DropReplicas(a.address, [x.key]))  # b stays: a's copy may go
        assert (await c.who_has([x]))[x.key] == [b.address]


def test_replicate_errors_name_the_argument(three):
    s, workers, c = three
    x = c.scatter(1)
    with pytest.raises(ValueError, match="unknown workers.*tcp://127.0.0.1:1"):
        c.replicate([x], workers=["tcp://127.0.0.1:1"])
    with pytest.raises(ValueError, match="n must be a positive int"):
        c.replicate([x], n=0)
    with pytest.raises(ValueError, match="branching_factor"):
        c.replicate([x], branching_factor=0)
    with pytest.raises(TypeError, match="replicate: futures must be futures"):
        c.replicate("not-a-future")


def test_rebalance_evens_out_managed_memory_and_loses_nothing(three):
    s, workers, c = three
    arrays = [np.full(10_000, i, dtype="i8") for i in range(6)]
    futures = c.scatter(arrays, workers=[workers[0].address])
    assert len(workers[0].data) == 6
    assert c.rebalance() is None
    held = {w.address: len(w.data) for w in workers}
    assert sorted(held.values()) == [2, 2, 2], held
    who_has = c.who_has(futures)
    assert all(len(v) == 1 for v in who_has.values())  # moved, not copied
    assert {a: len(v) for a, v in c.has_what().items()} == held
    for got, expected in zip(c.gather(futures), arrays):
        np.testing.assert_array_equal(got, expected)
    on_loop(s.state.validate_state)


def test_rebalance_moves_only_the_futures_given_among_the_workers_given(three):
    s, workers, c = three
    a, b, spare = workers
    mine = c.scatter([np.zeros(5000) + i for i in range(4)], workers=[a.address])
    other = c.scatter(np.zeros(20_000), workers=[a.address])
    c.rebalance(mine, workers=[a.address, b.address])
    assert c.who_has([other])[other.key] == [a.address]
    assert not spare.data
    # a held 4 x 40 kB of mine + 160 kB of `other` (which stays): even means all mine to b
    assert set(a.data) == {other.key} and set(b.data) == {f.key for f in mine}
    with pytest.raises(ValueError, match="rebalance: unknown workers.*tcp://127.0.0.1:1"):
        c.rebalance(workers=["tcp://127.0.0.1:1"])


def test_restart_workers_errors_name_the_worker(three):
    s, workers, c = three
    with pytest.raises(ValueError, match="unknown workers.*tcp://127.0.0.1:1"):
        c.restart_workers(["tcp://127.0.0.1:1"])
    with pytest.raises(ValueError, match=f"have none.*{workers[0].address}"):
        c.restart_workers([workers[0].address])
    with pytest.raises(ValueError, match="at least one worker"):
        c.restart_workers([])


def _pid():
    return os.getpid()


def test_restart_workers_restarts_only_those_named():
    with Client(n_workers=2, threads_per_worker=1, dashboard_address=":0") as c:
        before = c.run(_pid)
        first, second = sorted(before)
        x = c.submit(np.arange, 10)
        assert c.restart_workers([first], timeout=30) == {first: "OK"}
        after = c.run(_pid)
        assert len(after) == 2 and after[second] == before[second]
        assert before[first] not in after.values()
        np.testing.assert_array_equal(x.result(timeout=30), np.arange(10))  # recomputed if lost
        name = c.scheduler_info()["workers"][second]["name"]
        twice = c.restart_workers([second, name], timeout=30)  # one worker, named twice
        assert twice == {second: "OK", name: "OK"} and len(c.run(_pid)) == 2
