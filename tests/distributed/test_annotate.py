"""``shoal.annotate``: annotations attach to the tasks made in the block (shoal's own
collections and Delayed objects), and a cluster acts on them wherever the compute is
called; a submit inside the block is annotated too.  Real cluster, no mocks."""

from __future__ import annotations

import os

import pandas as pd
import pytest

import shoal
import shoal.array as da
import shoal.bag as db
import shoal.dataframe as dd
from shoal import delayed
from shoal.distributed import wait

pytestmark = pytest.mark.timeout(60)


def fails_twice(path):
    """Fails on its first two runs (counted in the file *path*), then returns their count."""
    n = 0
    if os.path.exists(path):
        with open(path) as f:
            n = int(f.read())
    with open(path, "w") as f:
        f.write(str(n + 1))
    if n < 2:
        raise RuntimeError(f"run {n}")
    return n


def holders(client, collection) -> set:
    wait(collection)
    return {w for ws in client.who_has(collection).values() for w in ws}


def test_retries_of_a_delayed_made_in_the_block_apply_to_a_compute_outside(c, tmp_path):
    with shoal.annotate(retries=2):
        d = delayed(fails_twice)(str(tmp_path / "a"))
    assert d.compute() == 2  # (the default client's get: the annotations travel along)
    e = delayed(fails_twice)(str(tmp_path / "b"))  # made outside: no retries
    with pytest.raises(RuntimeError, match="run 0"):
        c.compute(e).result()
    with shoal.annotate(retries=2):
        f = delayed(fails_twice)(str(tmp_path / "c"))
    assert c.compute(f).result() == 2


def test_workers_of_collections_made_in_the_block(c, servers):
    first, second = (w.address for w in servers[1])
    with shoal.annotate(workers=[second]):
        x = da.ones(100, chunks=10) + 1
        b = db.from_sequence(range(20), npartitions=4).map(lambda i: i * 2)
    with shoal.annotate(workers=first):
        s = dd.from_pandas(pd.DataFrame({"a": range(40)}), npartitions=4).a * 2
    x, b, s = c.persist([x, b, s])
    assert holders(c, x) == {second} and holders(c, b) == {second}
    assert holders(c, s) == {first}
    assert float(x.sum().compute()) == 200.0 and sum(b.compute()) == 380
    assert s.sum().compute() == 2 * sum(range(40))


def test_a_submit_in_the_block_and_nesting(c, servers):
    first, second = (w.address for w in servers[1])
    with shoal.annotate(workers=[first], priority=1):
        with shoal.annotate(workers=[second]):
            assert shoal.get_annotations() == {"workers": [second], "priority": 1}
            f = c.submit(sum, [1, 2])
        assert shoal.get_annotations() == {"workers": [first], "priority": 1}
    assert shoal.get_annotations() == {}
    assert f.result() == 3 and c.who_has(f)[f.key] == [second]


def test_local_schedulers_ignore_them_and_results_are_unchanged():
    with shoal.annotate(retries=3, workers=["nowhere"], mine="kept"):
        x = da.arange(10, chunks=5) * 2
        d = delayed(sum)([1, 2])
    assert int(x.sum().compute(scheduler="sync")) == 90
    assert d.compute(scheduler="sync") == 3
    layer = x._layers[x.name]
    assert layer.annotations == {"retries": 3, "workers": ["nowhere"], "mine": "kept"}


@pytest.mark.parametrize("name, value", [("retries", "x"), ("retries", -1), ("priority", "high"),
                                         ("workers", 5), ("allow_other_workers", "yes"),
                                         ("resources", ["GPU"])])
def test_bad_values_are_named(name, value):
    with pytest.raises(TypeError, match=f"annotate: {name}="):
        with shoal.annotate(**{name: value}):
            pass
    assert shoal.get_annotations() == {}


def test_a_delayed_unpickled_or_copied_in_another_block_keeps_its_own_annotations():
    import copy
    import pickle

    from shoal.base import collections_to_graph

    def annotations_of(d):
        out: dict = {}
        collections_to_graph([d], out)
        return out

    with shoal.annotate(retries=2):
        d = delayed(sum)([1, 2])
    e = delayed(sum)([3])  # made outside any block
    with shoal.annotate(priority=5):
        restored = [pickle.loads(pickle.dumps(d)), copy.copy(d), pickle.loads(pickle.dumps(e))]
    assert annotations_of(restored[0]) == annotations_of(restored[1]) == {"retries": {d.key: 2}}
    assert annotations_of(restored[2]) == {}
    assert restored[0].compute(scheduler="sync") == 3


def test_partitions_and_head_of_a_frame_made_in_the_block_keep_its_annotations():
    from shoal.base import collections_to_graph

    with shoal.annotate(retries=2):
        df = dd.from_pandas(pd.DataFrame({"a": range(8)}), npartitions=4) + 1
    for part in (df.partitions[1], df.head(2, compute=False)):
        out: dict = {}
        collections_to_graph([part], out)
        made = {k for k in out["retries"] if k[0] != part._name}  # (the frame's tasks kept)
        assert made and all(out["retries"][k] == 2 for k in made)
    assert df.partitions[1].compute(scheduler="sync").a.tolist() == [3, 4]
