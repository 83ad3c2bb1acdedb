"""shoal.array with real storage: h5py sources and targets, store into NumPy."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import shoal.array as da

h5py = pytest.importorskip("h5py")


@pytest.fixture
def data():
    return np.random.default_rng(1).normal(size=(23, 31))


def test_from_hdf5_dataset_reads_lazily_per_block(tmp_path, data):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["x"] = data
    with h5py.File(path, "r") as f:
        dset = f["x"]
        x = da.from_array(dset, chunks=(10, 8))
        assert x.shape == data.shape and x.dtype == data.dtype and x.numblocks == (3, 4)
        graph = x.__shoal_graph__()
        # the dataset is in the graph once; every block slices it inside its task
        sources = [k for k, node in graph.items() if getattr(node, "value", None) is dset]
        assert len(sources) == 1
        assert all(sources[0] in graph[k].dependencies for k in graph if k != sources[0])
        assert_array_equal(x.compute(), data)
        assert_allclose(x.mean(axis=0).compute(), data.mean(axis=0))
        assert_allclose((x[3:19:2, ::-3] ** 2).sum().compute(), (data[3:19:2, ::-3] ** 2).sum())
        assert_array_equal(da.from_array(dset, chunks=(10, 8), lock=True).compute(scheduler="sync"), data)
        # same dataset, same chunks -> same name
        assert da.from_array(dset, chunks=(10, 8)).name == x.name


def test_store_into_hdf5_and_to_hdf5(tmp_path, data):
    path = tmp_path / "out.h5"
    x = da.from_array(data, chunks=(7, 11))
    with h5py.File(path, "w") as f:
        target = f.create_dataset("y", shape=data.shape, dtype=data.dtype)
        assert da.store(x * 2 + 1, target) is None
        assert_allclose(target[...], data * 2 + 1)
    (x - 3).to_hdf5(str(path), "/z")
    with h5py.File(path, "r") as f:
        assert_allclose(f["z"][...], data - 3)
        assert f["z"].chunks == (7, 11)
        # read back through from_array, reduce, and compare
        back = da.from_array(f["z"], chunks=5)
        assert_allclose(back.std(axis=1).compute(), (data - 3).std(axis=1))


def test_store_into_numpy_targets(data):
    x = da.from_array(data, chunks=(6, 10))
    out = np.zeros_like(data)
    da.store(x, out, scheduler="threads")
    assert_array_equal(out, data)
    # several sources, a region, and compute=False
    a, b = np.zeros((23, 31)), np.full((40, 40), -1.0)
    d = da.store([x + 1, x * 0], [a, b], regions=[None, (slice(5, 28), slice(2, 33))], compute=False)
    assert (a == 0).all()
    d.compute()
    assert_array_equal(a, data + 1)
    assert (b[5:28, 2:33] == 0).all() and b[0, 0] == -1 and b[39, 39] == -1
    x.store(out * 0 + 0)  # the method form


def test_store_errors(data):
    x = da.from_array(data, chunks=10)
    with pytest.raises(ValueError, match="shape"):
        da.store(x, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="targets"):
        da.store([x, x], [np.zeros_like(data)])


def test_reopened_dataset_gets_the_same_name(tmp_path, data):
    path = tmp_path / "same.h5"
    with h5py.File(path, "w") as f:
        f["x"] = data
        f["y"] = data
    with h5py.File(path, "r") as f:
        assert da.from_array(f["x"], chunks=5).name == da.from_array(f["x"], chunks=5).name
        assert da.from_array(f["x"], chunks=5).name != da.from_array(f["y"], chunks=5).name


@pytest.mark.parametrize("chunks", [(3, 1), (1, 2), (3, 4)])
def test_store_into_a_region_that_names_fewer_dimensions(chunks):
    """``regions=(slice(1, 4),)`` for a 2-d source: the other dimension is whole, as in
    NumPy's ``target[1:4] = x`` (each block's target lost that dimension, and broadcasting
    wrote every column as the last one)."""
    x = np.arange(12).reshape(3, 4)
    target = np.zeros((5, 4), dtype=int)
    da.store(da.from_array(x, chunks=chunks), target, regions=(slice(1, 4),))
    assert_array_equal(target[1:4], x)
    assert not target[0].any() and not target[4].any()
