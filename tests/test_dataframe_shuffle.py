"""Shuffles, merges, set_index, sort_values, drop_duplicates and .loc, checked against pandas."""

import pytest

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")

import shoal  # noqa: E402
import shoal.dataframe as dd  # noqa: E402
from shoal.core.graph import cull  # noqa: E402
from shoal.dataframe import shuffle as sh  # noqa: E402

merge = getattr(dd, "merge", sh.merge)
tm = pd.testing


def rows(frame):
    """Rows sorted by every column, index dropped: order-free comparison."""
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def assert_rows_equal(got, expected):
    tm.assert_frame_equal(rows(got), rows(expected), check_dtype=False)


def needed_tasks(coll):
    """Keys of the graph that computing *coll* actually needs."""
    return cull(coll.__shoal_graph__(), coll.__dask_keys__())


@pytest.fixture(scope="module")
def pdf():
    rng = np.random.default_rng(42)
    n = 240
    out = pd.DataFrame({
        "i": rng.integers(0, 30, n),
        "f": rng.integers(0, 30, n).astype("float64"),
        "s": rng.choice([f"k{j:02d}" for j in range(25)], n),
        "v": rng.permutation(n).astype("float64"),
    }, index=pd.RangeIndex(100, 100 + n))
    out.loc[out.index[::13], "f"] = np.nan
    return out


@pytest.fixture(scope="module")
def ddf(pdf):
    return dd.from_pandas(pdf, npartitions=6)


@pytest.fixture(scope="module")
def right():
    rng = np.random.default_rng(7)
    n = 80
    out = pd.DataFrame({
        "i": rng.integers(10, 45, n),
        "f": np.r_[np.nan, rng.integers(10, 45, n - 1)].astype("float64"),
        "s": rng.choice([f"k{j:02d}" for j in range(10, 40)], n),
        "w": np.arange(n),
    })
    return out


# -- the shuffle itself -------------------------------------------------------------------

@pytest.mark.parametrize("on", ["i", "s", "f", ["i", "s"]])
def test_shuffle_keeps_rows_and_groups_keys(pdf, ddf, on):
    filtered = ddf[ddf.v > 150]  # some partitions keep few or no rows
    expected = pdf[pdf.v > 150]
    out = sh.shuffle(filtered, on, npartitions_out=4)
    assert out.npartitions == 4 and not out.known_divisions
    parts = [out.get_partition(j).compute() for j in range(4)]
    assert_rows_equal(pd.concat(parts), expected)
    seen = {}
    for j, part in enumerate(parts):
        keys = part[on].astype(str).agg("|".join, axis=1) if isinstance(on, list) else part[on].astype(str)
        for key in set(keys):
            assert seen.setdefault(key, j) == j, f"key {key} in partitions {seen[key]} and {j}"


def test_the_dataframe_method_is_dasks_spelling(pdf, ddf):
    """``df.shuffle(on)`` as in Dask (it was only ``shoal.dataframe.shuffle.shuffle``)."""
    out = ddf.shuffle("s", npartitions=3, shuffle_method="tasks", ignore_index=True)
    assert out.npartitions == 3
    assert_rows_equal(out.compute(), pdf)
    parts = [set(out.get_partition(j).compute()["s"]) for j in range(3)]
    assert all(a.isdisjoint(b) for i, a in enumerate(parts) for b in parts[i + 1:])
    assert ddf.shuffle(on_index=True).npartitions == ddf.npartitions
    assert ddf.shuffle("s", True).npartitions == ddf.npartitions  # (Dask's order: ignore_index)
    for wrong in ({}, {"on": "s", "on_index": True}):
        with pytest.raises(TypeError, match="give the column"):
            ddf.shuffle(**wrong)


def test_shuffle_layers_and_empty_partitions(pdf):
    empty = pdf.iloc[:0]
    df = dd.from_pandas(pdf, npartitions=3)
    assert_rows_equal(sh.shuffle(df[df.v < 0], "i", 5).compute(), empty)
    out = sh.shuffle(df, "s", 5)
    sizes = {name.rsplit("-", 1)[0]: len(layer) for name, layer in out._layers.items()
             if name.startswith("shuffle")}
    assert sizes == {"shuffle-split": 3, "shuffle-getitem": 15, "shuffle": 5}
    assert len(out._layers[out._name]) == 5


def test_hash_agrees_across_dtypes():
    ints = pd.DataFrame({"k": np.arange(50)})
    floats = pd.DataFrame({"k": np.arange(50, dtype="float64")})
    nullable = pd.DataFrame({"k": pd.array(np.arange(50), dtype="Int64")})
    key = [("col", "k")]
    targets = [sh._hash_targets(x, 7, key) for x in (ints, floats, nullable)]
    np.testing.assert_array_equal(targets[0], targets[1])
    np.testing.assert_array_equal(targets[0], targets[2])
    cats = pd.DataFrame({"k": pd.Categorical(["x", None, "y"])})
    strs = pd.DataFrame({"k": pd.Series(["x", None, "y"], dtype=object)})
    np.testing.assert_array_equal(sh._hash_targets(cats, 7, key), sh._hash_targets(strs, 7, key))


# -- merge and join ---------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["inner", "left", "right", "outer"])
@pytest.mark.parametrize("kind", ["pandas", "one-partition", "shuffle"])
def test_merge_on(pdf, ddf, right, how, kind):
    other = {"pandas": right, "one-partition": dd.from_pandas(right, npartitions=1),
             "shuffle": dd.from_pandas(right, npartitions=4)}[kind]
    out = merge(ddf, other, on="i", how=how)
    broadcast = kind != "shuffle" and how in ("inner", "left")
    assert any("shuffle" in name for name in out._layers) != broadcast
    assert out.npartitions == 6
    assert_rows_equal(out.compute(), pd.merge(pdf, right, on="i", how=how))


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer"])
def test_merge_left_right_on_with_nan_and_strings(pdf, ddf, right, how):
    dr = dd.from_pandas(right.rename(columns={"f": "g", "s": "t"}), npartitions=3)
    expected = pd.merge(pdf, right.rename(columns={"f": "g", "s": "t"}), left_on=["f", "s"],
                        right_on=["g", "t"], how=how)
    assert_rows_equal(merge(ddf, dr, left_on=["f", "s"], right_on=["g", "t"], how=how).compute(),
                      expected)
    # int keys meet float keys
    expected = pd.merge(pdf, right, left_on="i", right_on="f", how=how)
    got = ddf.merge(dd.from_pandas(right, npartitions=3), left_on="i", right_on="f", how=how)
    assert_rows_equal(got.compute(), expected)


@pytest.mark.parametrize("how", ["inner", "left", "outer"])
def test_merge_index_keys(pdf, ddf, right, how):
    r = right.set_index("i")
    dr = dd.from_pandas(r, npartitions=3)
    exp = pd.merge(pdf, r, left_on="i", right_index=True, how=how)
    assert_rows_equal(merge(ddf, dr, left_on="i", right_index=True, how=how).compute(), exp)
    small = pdf.set_index("i")
    exp = pd.merge(small, right, left_index=True, right_on="i", how=how)
    got = merge(dd.from_pandas(small, npartitions=4), dd.from_pandas(right, npartitions=2),
                left_index=True, right_on="i", how=how)
    assert_rows_equal(got.compute(), exp)
    exp = pd.merge(small, r, left_index=True, right_index=True, how=how, suffixes=("_l", "_r"))
    got = merge(dd.from_pandas(small, npartitions=4), dr, left_index=True, right_index=True,
                how=how, suffixes=("_l", "_r"))
    tm.assert_frame_equal(got.compute().sort_values(list(exp.columns)).sort_index(kind="stable"),
                          exp.sort_values(list(exp.columns)).sort_index(kind="stable"),
                          check_dtype=False)


def test_merge_options_and_shared_shuffle(pdf, ddf, right):
    dr = dd.from_pandas(right, npartitions=4)
    out = merge(ddf, dr, on="s", how="inner", npartitions=3)
    assert out.npartitions == 3
    assert_rows_equal(out.compute(), pd.merge(pdf, right, on="s"))
    out = merge(ddf, dd.from_pandas(right, npartitions=1), on="s", broadcast=False)
    assert any("shuffle" in name for name in out._layers)
    assert_rows_equal(out.compute(), pd.merge(pdf, right, on="s"))
    self_merge = merge(ddf, ddf, on="i")
    assert sum(name.startswith("shuffle-split") for name in self_merge._layers) == 1
    assert_rows_equal(self_merge.compute(), pd.merge(pdf, pdf, on="i"))
    # a named Series joins like a one-column frame
    z = pd.Series(np.arange(30.0), name="z")
    assert_rows_equal(ddf.join(z, on="i").compute(), pdf.join(z, on="i"))


def test_merge_pandas_left_and_default_on(pdf, ddf, right):
    exp = pd.merge(right, pdf[["i", "v"]], how="right")
    assert_rows_equal(merge(right, ddf[["i", "v"]], how="right").compute(), exp)
    assert isinstance(merge(right, right, on="i"), pd.DataFrame)


def test_merge_errors(ddf, right):
    with pytest.raises(NotImplementedError, match="cross"):
        merge(ddf, right, how="cross")
    with pytest.raises(KeyError):
        merge(ddf, right, on="missing")


@pytest.mark.parametrize("how", ["left", "inner", "outer", "right"])
@pytest.mark.parametrize("nparts", [1, 3])
def test_join(pdf, ddf, right, how, nparts):
    r = right.drop_duplicates("i").set_index("i")[["w", "s"]]
    dr = dd.from_pandas(r, npartitions=nparts)
    exp = pdf.join(r, on="i", how=how, suffixes=("", "_r"))
    assert_rows_equal(ddf.join(dr, on="i", how=how, rsuffix="_r").compute(), exp)
    exp = pdf.set_index("i").join(r, how=how, suffixes=("_l", ""))
    got = dd.from_pandas(pdf.set_index("i"), npartitions=4).join(dr, how=how, lsuffix="_l")
    assert_rows_equal(got.compute().reset_index(), exp.reset_index())
    if nparts == 1 and how in ("left", "inner"):  # broadcast keeps the left index and divisions
        assert got.divisions == dd.from_pandas(pdf.set_index("i"), npartitions=4).divisions
        result = got.compute()
        assert result.index.is_monotonic_increasing
        tm.assert_index_equal(result.index, exp.index.sort_values())


# -- set_index ------------------------------------------------------------------------------------

def check_divisions(out):
    assert out.known_divisions
    divs = out.divisions
    assert list(divs) == sorted(divs) and len(set(divs[:-1])) == len(divs) - 1
    for j in range(out.npartitions):
        idx = out.get_partition(j).compute().index.dropna()
        if len(idx):
            assert divs[j] <= idx.min()
            assert idx.max() <= divs[j + 1] and (j == out.npartitions - 1 or idx.max() < divs[j + 1])


@pytest.mark.parametrize("column", ["v", "i", "s", "f"])
def test_set_index(pdf, ddf, column):
    out = ddf.set_index(column)
    check_divisions(out)
    exp = pdf.set_index(column).sort_index(kind="stable")
    got = out.compute()
    tm.assert_frame_equal(got, exp)
    assert out.divisions[0] == exp.index.min() and out.divisions[-1] == exp.index.max()


def test_set_index_options(pdf, ddf):
    out = ddf.set_index("v", npartitions=3)
    assert out.npartitions == 3
    tm.assert_frame_equal(out.compute(), pdf.set_index("v").sort_index())
    out = ddf.set_index("v", divisions=[0, 50, 100, 239])
    assert out.divisions == (0, 50, 100, 239)
    check_divisions(out)
    tm.assert_frame_equal(out.compute(), pdf.set_index("v").sort_index())
    out = ddf.set_index("v", drop=False)
    tm.assert_frame_equal(out.compute(), pdf.set_index("v", drop=False).sort_index())
    # sorted=True: no shuffle, divisions from each partition's min and max
    srt = dd.from_pandas(pdf.sort_values("v").reset_index(drop=True), npartitions=5)
    out = srt.set_index("v", sorted=True)
    assert not any("shuffle" in name for name in out._layers)
    assert out.divisions == (0.0, 48.0, 96.0, 144.0, 192.0, 239.0)
    tm.assert_frame_equal(out.compute(), pdf.sort_values("v").set_index("v"))
    with pytest.raises(ValueError, match="sorted"):
        ddf.set_index("v", sorted=True)
    with pytest.raises(ValueError, match="sorted"):
        ddf.set_index("v", divisions=[5, 1, 9])
    # sorted, but a value spans a partition boundary: falls back to a real shuffle
    rep = dd.from_pandas(pd.DataFrame({"k": [1, 2, 2, 2, 3, 4], "x": range(6)}), npartitions=3)
    out = rep.set_index("k", sorted=True)
    check_divisions(out)
    tm.assert_frame_equal(out.compute(), rep.compute().set_index("k"))


def test_set_index_repeated_values_and_empty_partitions(pdf):
    df = pd.DataFrame({"k": [3] * 50 + [1] * 50 + [2] * 20, "x": np.arange(120)})
    d = dd.from_pandas(df, npartitions=6)
    d = d[d.x >= 40]  # the first partitions are empty now
    out = d.set_index("k", npartitions=6)
    check_divisions(out)
    assert out.npartitions <= 3
    tm.assert_frame_equal(out.compute(), df[df.x >= 40].set_index("k").sort_index(kind="stable"))
    one = dd.from_pandas(pd.DataFrame({"k": [5] * 10, "x": range(10)}), npartitions=3)
    assert one.set_index("k").divisions == (5, 5)


# -- loc ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def indexed(pdf):
    p = pdf.set_index("v").sort_index()
    return p, dd.from_pandas(p, npartitions=8)


def test_loc_label_slice_list(indexed):
    p, d = indexed
    divs = d.divisions
    assert d.npartitions == 8
    out = d.loc[100.0]
    tm.assert_frame_equal(out.compute(), p.loc[[100.0]])
    assert out.npartitions == 1
    # only the selected partitions' data is needed
    assert len([k for k in needed_tasks(out) if k[0] == d._name]) == 1
    out = d.loc[divs[2] + 1: divs[4] - 1]
    tm.assert_frame_equal(out.compute(), p.loc[divs[2] + 1: divs[4] - 1])
    assert out.npartitions == 2
    assert len([k for k in needed_tasks(out) if k[0] == d._name]) == 2
    tm.assert_frame_equal(d.loc[:50.5].compute(), p.loc[:50.5])
    tm.assert_frame_equal(d.loc[200.5:].compute(), p.loc[200.5:])
    labels = [230.0, 3.0, 117.0, 4.0]
    out = d.loc[labels]  # (pandas' order: the list's, gathered into one partition)
    tm.assert_frame_equal(out.compute(), p.loc[labels])
    assert out.npartitions == 1
    out = d.loc[sorted(labels)]
    tm.assert_frame_equal(out.compute(), p.loc[sorted(labels)])
    assert out.npartitions == 3
    assert d.loc[1000.0].compute().empty and d.loc[1000.0].compute().columns.tolist() == p.columns.tolist()
    # a label equal to a division is looked for on both sides of it (nothing is lost)
    tm.assert_frame_equal(d.loc[divs[3]].compute(), p.loc[[divs[3]]])
    tm.assert_frame_equal(d.loc[divs[3]:divs[5]].compute(), p.loc[divs[3]:divs[5]])
    tm.assert_frame_equal(d.loc[divs[-1]].compute(), p.loc[[divs[-1]]])


def test_loc_columns_series_and_masks(indexed, ddf, pdf):
    p, d = indexed
    tm.assert_series_equal(d.loc[10.0:20.0, "s"].compute(), p.loc[10.0:20.0, "s"])
    tm.assert_frame_equal(d.loc[:, ["s", "i"]].compute(), p.loc[:, ["s", "i"]])
    tm.assert_frame_equal(d.loc[[5.0, 6.0], ["i"]].compute(), p.loc[[5.0, 6.0], ["i"]])
    s = d.s
    tm.assert_series_equal(s.loc[30.0:40.0].compute(), p.s.loc[30.0:40.0])
    tm.assert_series_equal(s.loc[7.0].compute(), p.s.loc[[7.0]])
    tm.assert_frame_equal(d.loc[d.i > 20].compute(), p.loc[p.i > 20])
    tm.assert_frame_equal(d.loc[lambda x: x.i > 20, ["s"]].compute(), p.loc[p.i > 20, ["s"]])
    # unknown divisions: every partition is searched
    unknown = dd.from_pandas(pdf.set_index("s"), npartitions=4, sort=False)
    assert not unknown.known_divisions
    got = unknown.loc["k03"].compute()
    tm.assert_frame_equal(got, pdf.set_index("s").loc[["k03"]])
    with pytest.raises(KeyError):
        d.loc[:, "missing"]


def test_loc_datetime_strings():
    p = pd.DataFrame({"x": np.arange(120)}, index=pd.date_range("2020-01-01", periods=120, freq="D"))
    d = dd.from_pandas(p, npartitions=6)
    out = d.loc["2020-02"]
    tm.assert_frame_equal(out.compute(), p.loc["2020-02"])
    assert out.npartitions < 6
    tm.assert_frame_equal(d.loc["2020-01-15":"2020-03-01"].compute(), p.loc["2020-01-15":"2020-03-01"])


# -- sort_values and drop_duplicates ------------------------------------------------------------------

@pytest.mark.parametrize("by,ascending,na", [
    ("v", True, "last"), ("v", False, "last"), ("f", True, "last"), ("f", False, "first"),
    ("s", True, "last"), (["i", "s"], True, "last"), (["s", "v"], [False, True], "last"),
])
def test_sort_values(pdf, ddf, by, ascending, na):
    out = ddf.sort_values(by, ascending=ascending, na_position=na)
    exp = pdf.sort_values(by, ascending=ascending, na_position=na, kind="stable")
    tm.assert_frame_equal(out.compute(), exp)
    tm.assert_frame_equal(ddf.sort_values(by, ascending=ascending, na_position=na, npartitions=2)
                          .compute(), exp)


@pytest.mark.parametrize("keep", ["first", "last"])
def test_drop_duplicates(pdf, keep):
    d = dd.from_pandas(pdf, npartitions=12)
    tm.assert_frame_equal(d.drop_duplicates(subset=["i"], keep=keep, split_every=3).compute(),
                          pdf.drop_duplicates(subset=["i"], keep=keep))
    tm.assert_frame_equal(d.drop_duplicates(subset="s", keep=keep).compute(),
                          pdf.drop_duplicates(subset="s", keep=keep))
    tm.assert_frame_equal(d[["i", "s"]].drop_duplicates(keep=keep).compute(),
                          pdf[["i", "s"]].drop_duplicates(keep=keep))
    tm.assert_series_equal(d.s.drop_duplicates(keep=keep).compute(), pdf.s.drop_duplicates(keep=keep))
    tm.assert_series_equal(d.f.drop_duplicates(keep=keep, split_every=2).compute(),
                           pdf.f.drop_duplicates(keep=keep))
    assert d.drop_duplicates().divisions == (d.divisions[0], d.divisions[-1])
    out = d.drop_duplicates(subset=["i"], keep=keep, split_out=3)
    assert out.npartitions == 3
    tm.assert_frame_equal(out.compute().sort_index(), pdf.drop_duplicates(subset=["i"], keep=keep))


def test_drop_duplicates_keep_false_and_ignore_index(pdf, ddf):
    exp = pdf.drop_duplicates(subset=["i", "s"], keep=False)
    tm.assert_frame_equal(ddf.drop_duplicates(subset=["i", "s"], keep=False).compute().sort_index(), exp)
    tm.assert_series_equal(ddf.s.drop_duplicates(keep=False).compute().sort_index(),
                           pdf.s.drop_duplicates(keep=False))
    tm.assert_frame_equal(ddf.drop_duplicates(subset="i", ignore_index=True).compute(),
                          pdf.drop_duplicates(subset="i", ignore_index=True))
    with pytest.raises(KeyError):
        ddf.drop_duplicates(subset=["missing"])


# -- every scheduler ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes"])
def test_schedulers(pdf, ddf, right, scheduler):
    with shoal.config.set(scheduler=scheduler):
        m = merge(ddf, dd.from_pandas(right, npartitions=3), on="s", how="outer")
        si = ddf.set_index("s")
        srt = ddf.sort_values("v")
        dup = ddf.drop_duplicates(subset="i")
        got = shoal.compute(m, si, srt, dup, si.loc["k05":"k09"])
    assert_rows_equal(got[0], pd.merge(pdf, right, on="s", how="outer"))
    tm.assert_frame_equal(got[1], pdf.set_index("s").sort_index(kind="stable"))
    tm.assert_frame_equal(got[2], pdf.sort_values("v"))
    tm.assert_frame_equal(got[3], pdf.drop_duplicates(subset="i"))
    tm.assert_frame_equal(got[4], pdf.set_index("s").sort_index(kind="stable").loc["k05":"k09"])
