"""Defects found while using shoal.bag / shoal.delayed as a Dask user would."""

import pytest

import shoal.bag as db

pytestmark = pytest.mark.timeout(60)


def test_map_partitions_returning_a_scalar_gives_one_element_partitions():
    data = list(range(10))
    b = db.from_sequence(data, npartitions=3)
    sizes = b.map_partitions(len).compute(scheduler="sync")
    assert sum(sizes) == len(data) and len(sizes) == 3
    assert b.map_partitions(sum).sum().compute(scheduler="sync") == sum(data)
    # iterables are still spread out, generators included
    assert b.map_partitions(lambda p: (x * 2 for x in p)).compute(scheduler="sync") == [
        x * 2 for x in data
    ]


def test_map_partitions_generator_raising_typeerror_is_not_swallowed():
    def gen(part):
        yield from part
        raise TypeError("raised by the user")

    with pytest.raises(TypeError, match="raised by the user"):
        db.from_sequence([1, 2], npartitions=1).map_partitions(gen).compute(scheduler="sync")


def test_join_accepts_keys_that_are_not_callable():
    people = [{"k": 1, "name": "a"}, {"k": 2, "name": "b"}, {"k": 3, "name": "c"}]
    other = [{"k": 1, "v": "x"}, {"k": 2, "v": "y"}, {"k": 2, "v": "z"}]
    b = db.from_sequence(people, npartitions=2)
    got = b.join(other, "k").map(lambda p: (p[0]["v"], p[1]["name"])).compute(scheduler="sync")
    expected = [(o["v"], p["name"]) for p in people for o in other if o["k"] == p["k"]]
    assert sorted(got) == sorted(expected)
    pairs = db.from_sequence([(1, "a"), (2, "b")], npartitions=2)
    got = pairs.join([("x", 1), ("y", 2)], 0, 1).compute(scheduler="sync")
    assert sorted(got) == [(("x", 1), (1, "a")), (("y", 2), (2, "b"))]


def test_to_textfiles_name_function_must_return_str(tmp_path):
    b = db.from_sequence(["a", "b"], npartitions=2)
    with pytest.raises(TypeError, match="name_function must return a str.*int"):
        b.to_textfiles(str(tmp_path / "*.txt"), name_function=lambda i: i)
    paths = b.to_textfiles(str(tmp_path / "*.txt"), name_function=lambda i: f"p{i}")
    assert [p.rsplit("/", 1)[1] for p in paths] == ["p0.txt", "p1.txt"]


def test_reduction_to_bag_generator_raising_typeerror_is_not_swallowed():
    def agg(parts):
        yield sum(parts)
        raise TypeError("aggregate failed")

    b = db.from_sequence([1, 2, 3], npartitions=2)
    with pytest.raises(TypeError, match="aggregate failed"):
        b.reduction(sum, agg, out_type=db.Bag).compute(scheduler="sync")


def test_delayed_pure_setting_gives_equal_calls_one_key():
    import shoal
    from shoal import delayed

    def inc(x):
        return x + 1

    with shoal.config.set(delayed_pure=True):
        assert delayed(inc)(1).key == delayed(inc)(1).key
        assert delayed("a b").split().key == delayed("a b").split().key
        assert delayed(inc)(1, pure=False).key != delayed(inc)(1, pure=False).key
        assert shoal.compute(delayed(inc)(1), delayed(inc)(1)) == (2, 2)
    with shoal.config.set(delayed_pure=False):
        assert delayed(inc)(1).key != delayed(inc)(1).key
    assert delayed(inc)(1).key != delayed(inc)(1).key


def test_fold_initial_starts_each_partition_as_in_dask():
    from operator import add

    b = db.from_sequence(range(23), npartitions=4)
    assert b.fold(add, initial=10).compute() == sum(range(23)) + 10 * b.npartitions  # Dask: 293
    assert b.fold(add, initial=0).compute() == sum(range(23))
    assert db.from_sequence([], npartitions=1).fold(add, initial=5).compute() == 5
    assert b.fold(lambda acc, x: acc | {x}, set.union, initial=set()).compute() == set(range(23))
