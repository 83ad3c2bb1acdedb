"""from_delayed, concat(axis=1), get_dummies, categorize / cat.as_known, pivot_table and
repartition(divisions=...): results equal pandas' on the whole data."""

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

import shoal
import shoal.dataframe as dd


def _data(n=24):
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "i": rng.integers(0, 5, n),
        "a": np.arange(n),
        "b": pd.Categorical(rng.choice(list("xyz"), n), categories=list("xyzw")),
        "c": rng.random(n),
        "s": rng.choice(["p", "q", "r"], n),
    }, index=np.arange(n) * 2)


def _frames(pdf):
    """Several partitionings, one with empty partitions."""
    out = [dd.from_pandas(pdf, npartitions=1), dd.from_pandas(pdf, npartitions=4)]
    parts = [pdf.iloc[:5], pdf.iloc[5:5], pdf.iloc[5:17], pdf.iloc[17:17], pdf.iloc[17:]]
    out.append(dd.from_delayed([shoal.delayed(p) for p in parts], meta=pdf.iloc[:0]))
    return out


# -- from_delayed ------------------------------------------------------------------------

def test_from_delayed_matches_pandas_and_infers_meta_from_first():
    pdf = _data()
    parts = [pdf.iloc[:7], pdf.iloc[7:7], pdf.iloc[7:]]
    calls = []

    def load(p):
        calls.append(len(p))
        return p

    f = dd.from_delayed([shoal.delayed(load)(p) for p in parts])
    assert calls == [7]  # the first computed, once, for meta (as Dask)
    assert f.npartitions == 3 and not f.known_divisions
    assert f.dtypes.to_dict() == pdf.dtypes.to_dict()
    tm.assert_frame_equal(f.compute(), pdf)
    s = dd.from_delayed([shoal.delayed(p["c"]) for p in parts], meta=("c", "f8"))
    assert isinstance(s, dd.Series)
    tm.assert_series_equal(s.compute(), pdf["c"])


def test_from_delayed_divisions_and_meta_without_computing():
    pdf = _data()
    calls = []

    def load(p):
        calls.append(1)
        return p

    parts = [pdf.iloc[:10], pdf.iloc[10:]]
    f = dd.from_delayed([shoal.delayed(load)(p) for p in parts], meta=pdf.iloc[:0],
                        divisions=[pdf.index[0], pdf.index[10], pdf.index[-1]])
    assert calls == []
    assert f.known_divisions and f.divisions[1] == pdf.index[10]
    tm.assert_frame_equal(f.loc[pdf.index[12]:].compute(), pdf.loc[pdf.index[12]:])
    with pytest.raises(ValueError, match=r"divisions must have len\(dfs\) \+ 1 = 3"):
        dd.from_delayed([shoal.delayed(p) for p in parts], meta=pdf, divisions=[0, 1])


def test_from_delayed_verify_meta_names_partition():
    pdf = _data()
    good, renamed = pdf.iloc[:5], pdf.iloc[5:].rename(columns={"c": "z"})
    f = dd.from_delayed([shoal.delayed(good), shoal.delayed(renamed)], meta=pdf.iloc[:0])
    with pytest.raises(ValueError, match=r"partition 1 does not match meta(.|\n)*'z': found"):
        f.compute()
    texty = pdf.iloc[5:].astype({"a": str})
    with pytest.raises(ValueError, match=r"partition 1 (.|\n)*'a': found"):
        dd.from_delayed([shoal.delayed(good), shoal.delayed(texty)], meta=pdf.iloc[:0]).compute()
    # ints becoming floats are accepted (as Dask's check); verify_meta=False skips the check
    floats = pdf.iloc[5:].astype({"a": "f8"})
    dd.from_delayed([shoal.delayed(good), shoal.delayed(floats)], meta=pdf.iloc[:0]).compute()
    out = dd.from_delayed([shoal.delayed(good), shoal.delayed(renamed)], meta=pdf.iloc[:0],
                          verify_meta=False).compute()
    assert "z" in out.columns


def test_from_delayed_bad_input():
    with pytest.raises(TypeError, match=r"dfs\[1\] is a int"):
        dd.from_delayed([shoal.delayed(pd.DataFrame({"x": [1]})), 1])
    with pytest.raises(TypeError, match="at least one"):
        dd.from_delayed([])
    with pytest.raises(NotImplementedError, match="sorted"):
        dd.from_delayed([shoal.delayed(pd.DataFrame({"x": [1]}))], divisions="sorted")


def test_from_delayed_matches_dask():
    dask = pytest.importorskip("dask")
    ddd = pytest.importorskip("dask.dataframe")
    pdf = _data()[["i", "a", "c"]]
    parts = [pdf.iloc[:9], pdf.iloc[9:]]
    ours = dd.from_delayed([shoal.delayed(p) for p in parts])
    theirs = ddd.from_delayed([dask.delayed(p) for p in parts])
    assert ours.dtypes.to_dict() == theirs.dtypes.to_dict()
    assert ours.npartitions == theirs.npartitions
    tm.assert_frame_equal(ours.compute(), theirs.compute())


# -- repartition(divisions=...) -------------------------------------------------------------

@pytest.mark.parametrize("nparts", [1, 3, 5])
@pytest.mark.parametrize("divisions", [[0, 10, 46], [0, 1, 2, 3, 46], [0, 20, 46, 46], [0, 46]])
def test_repartition_divisions(nparts, divisions):
    pdf = _data()
    f = dd.from_pandas(pdf, npartitions=nparts)
    r = f.repartition(divisions=divisions)
    assert r.divisions == tuple(divisions)
    tm.assert_frame_equal(r.compute(), pdf)
    for j in range(r.npartitions):
        part = r.partitions[j].compute()
        lo, hi = divisions[j], divisions[j + 1]
        last = j == r.npartitions - 1
        expected = pdf[(pdf.index >= lo) & ((pdf.index <= hi) if last else (pdf.index < hi))]
        tm.assert_frame_equal(part, expected)


def test_repartition_divisions_with_empty_partitions_and_force():
    pdf = _data()
    f = dd.from_delayed([shoal.delayed(p) for p in [pdf.iloc[:6], pdf.iloc[6:6], pdf.iloc[6:]]],
                        meta=pdf.iloc[:0], divisions=[0, 12, 12, 46])
    r = f.repartition(divisions=[0, 5, 30, 46])
    assert [len(r.partitions[j].compute()) for j in range(3)] == [3, 12, 9]
    tm.assert_frame_equal(r.compute(), pdf)
    wide = f.repartition(divisions=[-10, 20, 100], force=True)
    assert wide.divisions == (-10, 20, 100)
    tm.assert_frame_equal(wide.compute(), pdf)
    tm.assert_series_equal(f.c.repartition(divisions=[0, 7, 46]).compute(), pdf.c)


def test_repartition_divisions_errors():
    f = dd.from_pandas(_data(), npartitions=3)
    with pytest.raises(ValueError, match="first boundary 1 must equal"):
        f.repartition(divisions=[1, 10, 46])
    with pytest.raises(ValueError, match="last boundary 40 must equal"):
        f.repartition(divisions=[0, 10, 40])
    with pytest.raises(ValueError, match="first boundary 1 must enclose"):
        f.repartition(divisions=[1, 10, 46], force=True)
    with pytest.raises(ValueError, match="must be sorted"):
        f.repartition(divisions=[0, 30, 10, 46])
    with pytest.raises(ValueError, match="must be unique"):
        f.repartition(divisions=[0, 10, 10, 46])
    with pytest.raises(ValueError, match="known divisions on the input"):
        f.clear_divisions().repartition(divisions=[0, 46])
    with pytest.raises(ValueError, match="exactly one of npartitions= or divisions="):
        f.repartition(npartitions=2, divisions=[0, 46])
    assert f.repartition(2).npartitions == 2 and f.repartition(npartitions=6).npartitions == 6


def test_repartition_divisions_matches_dask():
    ddd = pytest.importorskip("dask.dataframe")
    pdf = _data()[["i", "a", "c"]]
    theirs = ddd.from_pandas(pdf, npartitions=3).repartition(divisions=[0, 9, 31, 46])
    ours = dd.from_pandas(pdf, npartitions=3).repartition(divisions=[0, 9, 31, 46])
    assert ours.divisions == theirs.divisions
    for j in range(3):
        tm.assert_frame_equal(ours.partitions[j].compute(), theirs.partitions[j].compute())


# -- concat(axis=1) ---------------------------------------------------------------------------

@pytest.mark.parametrize("na, nb", [(1, 1), (3, 3), (4, 2), (1, 5)])
def test_concat_axis1_known_divisions(na, nb):
    pdf = _data()
    left, right = pdf[["a", "c"]], pd.DataFrame({"d": np.arange(9) * 1.5}, index=np.arange(9) * 5)
    a, b = dd.from_pandas(left, npartitions=na), dd.from_pandas(right, npartitions=nb)
    out = dd.concat([a, b], axis=1)
    assert out.known_divisions
    # (pandas leaves the union of two different indexes unsorted; by divisions it is sorted)
    expected = pd.concat([left, right], axis=1).sort_index()
    tm.assert_frame_equal(out.compute(), expected, check_dtype=False)
    inner = dd.concat([a, b["d"]], axis=1, join="inner").compute()
    tm.assert_frame_equal(inner, pd.concat([left, right["d"]], axis=1, join="inner"))
    same = dd.concat([a["a"], a["c"].rename("c2"), pdf["i"]], axis=1)
    tm.assert_frame_equal(same.compute(), pd.concat([left["a"], left["c"].rename("c2"), pdf["i"]], axis=1))


def test_concat_axis1_unknown_divisions():
    pdf = _data()
    a = dd.from_pandas(pdf[["a"]], npartitions=3).clear_divisions()
    b = dd.from_pandas(pdf[["c"]], npartitions=3).clear_divisions()
    # split differently (the same count proves nothing): equal labels meet first
    tm.assert_frame_equal(dd.concat([a, b], axis=1).compute().sort_index(), pdf[["a", "c"]])
    tm.assert_frame_equal(dd.concat([a, b], axis=1, ignore_unknown_divisions=True).compute()
                          .sort_index(), pdf[["a", "c"]])
    tm.assert_frame_equal(dd.concat([dd.from_pandas(pdf[["a"]], npartitions=3), b], axis=1)
                          .compute().sort_index(), pdf[["a", "c"]])
    tm.assert_frame_equal(dd.concat([a, b.repartition(2)], axis=1).compute().sort_index(),
                          pdf[["a", "c"]])
    same = dd.concat([a, (a.a * 2).rename("d")], axis=1)  # one partitioning: side by side
    assert "shuffle" not in str(list(same.__shoal_graph__()))
    tm.assert_frame_equal(same.compute(), pdf[["a"]].assign(d=pdf.a * 2))
    with pytest.raises(TypeError, match=r"dfs\[1\] is a int"):
        dd.concat([a, 1], axis=1)
    with pytest.raises(ValueError, match="no axis 2"):
        dd.concat([a, b], axis=2)


def test_concat_axis1_matches_dask():
    ddd = pytest.importorskip("dask.dataframe")
    pdf = _data()[["a", "c"]]
    other = pd.DataFrame({"d": np.arange(5)}, index=[4, 9, 10, 11, 30])
    ours = dd.concat([dd.from_pandas(pdf, npartitions=3), dd.from_pandas(other, npartitions=2)], axis=1)
    theirs = ddd.concat([ddd.from_pandas(pdf, npartitions=3), ddd.from_pandas(other, npartitions=2)],
                        axis=1)
    assert ours.dtypes.to_dict() == theirs.dtypes.to_dict()
    # (Dask leaves the labels of a partition in pandas' unsorted union; shoal sorts them)
    tm.assert_frame_equal(ours.compute(), theirs.compute().sort_index())


# -- categorize, as_known, get_dummies -------------------------------------------------------------

def test_categorize_and_as_known():
    pdf = _data()
    for f in _frames(pdf):
        c = f.categorize()
        assert c.dtypes["s"] == pd.CategoricalDtype(["p", "q", "r"])
        assert c.dtypes["b"] == pdf.dtypes["b"]  # (known already: kept)
        tm.assert_frame_equal(c.compute(), pdf.astype({"s": "category"}))
        tm.assert_frame_equal(f.categorize(columns=["i"]).compute(), pdf.astype({"i": "category"}))
        u = f.s.astype("category")
        assert not u.cat.known
        k = u.cat.as_known()
        assert k.cat.known and list(k.cat.categories) == ["p", "q", "r"]
        tm.assert_series_equal(k.compute(), pdf.s.astype("category"))
        assert not k.cat.as_unknown().cat.known
    with pytest.raises(KeyError, match=r"categorize\(columns=...\): no columns \['nope'\]"):
        dd.from_pandas(pdf, npartitions=2).categorize(columns=["nope"])
    from shoal.dataframe.reshape import as_known

    with pytest.raises(TypeError, match="needs a categorical Series"):
        as_known(dd.from_pandas(pdf, npartitions=2).a)


def test_categorize_index():
    pdf = _data().set_index("s")
    f = dd.from_pandas(pdf, npartitions=3, sort=False)
    out = f.categorize(columns=[])
    assert isinstance(out._meta.index.dtype, pd.CategoricalDtype)
    got = out.compute()
    tm.assert_frame_equal(got, pdf.set_axis(pdf.index.astype("category")))


def test_get_dummies_matches_pandas():
    pdf = _data()
    for f in _frames(pdf):
        known = f[["a", "b", "c"]]
        tm.assert_frame_equal(dd.get_dummies(known).compute(), pd.get_dummies(pdf[["a", "b", "c"]]))
        cat = f.categorize()
        expected = pd.get_dummies(pdf.astype({"s": "category"}), prefix=["B", "S"], dtype=int,
                                  drop_first=True)
        got = dd.get_dummies(cat, prefix=["B", "S"], dtype=int, drop_first=True)
        assert got.dtypes.to_dict() == expected.dtypes.to_dict()
        tm.assert_frame_equal(got.compute(), expected)
        tm.assert_frame_equal(dd.get_dummies(f.b).compute(), pd.get_dummies(pdf.b))
        tm.assert_frame_equal(dd.get_dummies(cat, columns=["s"]).compute(),
                              pd.get_dummies(pdf.astype({"s": "category"}), columns=["s"]))
    tm.assert_frame_equal(dd.get_dummies(pdf[["b"]]), pd.get_dummies(pdf[["b"]]))


def test_get_dummies_refuses_unknown_and_text():
    f = dd.from_pandas(_data(), npartitions=3)
    with pytest.raises(NotImplementedError, match=r"columns \['s'\] have dtypes .*categorize"):
        dd.get_dummies(f)
    with pytest.raises(NotImplementedError, match=r"columns \['a'\] have dtypes"):
        dd.get_dummies(f, columns=["a", "b"])
    with pytest.raises(NotImplementedError, match=r"unknown categories: use column.cat.as_known"):
        dd.get_dummies(f.s.astype("category"))
    with pytest.raises(KeyError, match=r"no columns \['zz'\]"):
        dd.get_dummies(f, columns=["zz"])
    with pytest.raises(TypeError, match="data=..."):
        dd.get_dummies([1, 2])


def test_get_dummies_matches_dask():
    ddd = pytest.importorskip("dask.dataframe")
    pdf = _data()[["a", "b"]]
    ours = dd.get_dummies(dd.from_pandas(pdf, npartitions=3))
    theirs = ddd.get_dummies(ddd.from_pandas(pdf, npartitions=3))
    assert ours.dtypes.to_dict() == theirs.dtypes.to_dict()
    tm.assert_frame_equal(ours.compute(), theirs.compute())


# -- pivot_table ----------------------------------------------------------------------------------

def _pandas_pivot(pdf, values, aggfunc):
    out = pdf.pivot_table(index="i", columns="b", values=values, aggfunc=aggfunc, observed=False,
                          dropna=False)
    return out  # (pandas' dtypes: a sum or count of ints stays int)


@pytest.mark.parametrize("aggfunc", ["mean", "sum", "count", "first", "last"])
def test_pivot_table_matches_pandas(aggfunc):
    pdf = _data()
    pdf.loc[pdf.index[3], "c"] = np.nan
    for f in _frames(pdf):
        got = dd.pivot_table(f, index="i", columns="b", values="c", aggfunc=aggfunc)
        assert got.npartitions == 1 and list(got.columns) == list("xyzw")
        assert (got.dtypes == ("int64" if aggfunc == "count" else "float64")).all()
        result = got.compute()
        tm.assert_frame_equal(result, _pandas_pivot(pdf, "c", aggfunc))
        tm.assert_index_equal(result.columns, got._meta.columns)
        many = dd.pivot_table(f, index="i", columns="b", values=["a", "c"], aggfunc=aggfunc)
        tm.assert_frame_equal(many.compute(), _pandas_pivot(pdf, ["a", "c"], aggfunc))


def test_pivot_table_split_every_tree():
    pdf = _data(60)
    f = dd.from_pandas(pdf, npartitions=20)
    got = dd.pivot_table(f, index="i", columns="b", values="c", aggfunc="mean")
    tm.assert_frame_equal(got.compute(), _pandas_pivot(pdf, "c", "mean"))


def test_pivot_table_errors():
    f = dd.from_pandas(_data(), npartitions=3)
    with pytest.raises(ValueError, match="columns='s' must be a categorical column"):
        dd.pivot_table(f, index="i", columns="s", values="c")
    with pytest.raises(ValueError, match="columns='s' has unknown categories"):
        dd.pivot_table(f.assign(s=f.s.astype("category")), index="i", columns="s", values="c")
    with pytest.raises(ValueError, match="aggfunc must be one of"):
        dd.pivot_table(f, index="i", columns="b", values="c", aggfunc="max")
    with pytest.raises(ValueError, match="index must be the name of one existing column"):
        dd.pivot_table(f, index=["i"], columns="b", values="c")
    with pytest.raises(ValueError, match="values must be an existing column.*zz"):
        dd.pivot_table(f, index="i", columns="b", values="zz")


def test_pivot_table_matches_dask():
    ddd = pytest.importorskip("dask.dataframe")
    pdf = _data()[["i", "b", "c"]]
    for aggfunc in ["mean", "sum", "first"]:
        ours = dd.pivot_table(dd.from_pandas(pdf, npartitions=3), index="i", columns="b",
                              values="c", aggfunc=aggfunc)
        theirs = ddd.pivot_table(ddd.from_pandas(pdf, npartitions=3), index="i", columns="b",
                                 values="c", aggfunc=aggfunc)
        assert ours.dtypes.tolist() == theirs.dtypes.tolist()
        tm.assert_frame_equal(ours.compute(), theirs.compute(), check_column_type=False)


# -- review fixes ------------------------------------------------------------------------


def test_unknown_categories_stay_unknown_through_inferred_schemas():
    """An unknown categorical's stand-in values never pass as its categories: after any
    function whose schema is inferred, it is still unknown, and get_dummies refuses it
    (it made columns of the stand-ins while the data made others)."""
    parts = [pd.DataFrame({"x": [1, 2], "c": pd.Categorical(list("pq"))}),
             pd.DataFrame({"x": [3], "c": pd.Categorical(["s"])})]  # fmt: skip
    f = dd.from_delayed([shoal.delayed(p) for p in parts], meta={"x": "i8", "c": "category"})
    for g in (f.assign(y=1), f.map_partitions(lambda d: d), f.rename(columns={"x": "z"}),
              f[f.x > 0], f.fillna(0)):
        assert list(g._meta.c.cat.categories) == [], g._meta.c.dtype
        with pytest.raises(NotImplementedError, match=r"\['c'\] have unknown categories"):
            dd.get_dummies(g, columns=["c"])
    assert list(f.c[f.x > 0]._meta.cat.categories) == []
    known = f.categorize(columns=["c"])
    assert list(dd.get_dummies(known, columns=["c"]).compute().columns) == ["x", "c_p", "c_q", "c_s"]


def test_pivot_table_orders_values_keeps_index_categories_and_refuses_text():
    pdf = pd.DataFrame({"i": pd.Categorical(list("aabb"), categories=list("abz")),
                        "b": pd.Categorical(list("xyxy")), "v": [1.0, 2, 3, 4],
                        "f": [5.0, 6, 7, 8], "s": list("pqrs")})  # fmt: skip
    f = dd.from_pandas(pdf, npartitions=2)
    got = dd.pivot_table(f, index="i", columns="b", values=["v", "f"], aggfunc="sum")
    want = pdf.pivot_table(index="i", columns="b", values=["v", "f"], aggfunc="sum",
                           observed=False).astype("float64")  # fmt: skip
    result = got.compute()
    assert list(result.columns) == list(want.columns) == [("f", "x"), ("f", "y"), ("v", "x"),
                                                          ("v", "y")]  # fmt: skip
    assert list(result.index) == ["a", "b", "z"]  # every category of the index, as Dask's
    tm.assert_frame_equal(result.loc[["a", "b"]], want.loc[["a", "b"]], check_names=False,
                          check_index_type=False, check_column_type=False)  # fmt: skip
    with pytest.raises(ValueError, match=r"values must be numeric columns.*\['s'\]"):
        dd.pivot_table(f, index="i", columns="b", values="s", aggfunc="first")


def test_from_delayed_checks_unnamed_series_duplicate_columns_and_divisions():
    series = [shoal.delayed(pd.Series)([1.0, 2.0]), shoal.delayed(pd.Series)([3.0])]
    s = dd.from_delayed(series)  # unnamed (NaN name is not "another name")
    assert s.compute().tolist() == [1.0, 2.0, 3.0]
    twice = pd.DataFrame([[1, "t"]], columns=["a", "a"])
    meta = pd.DataFrame({"a": pd.Series([], dtype="i8"), "b": pd.Series([], dtype="i8")})
    meta.columns = ["a", "a"]
    f = dd.from_delayed([shoal.delayed(twice)], meta=meta)
    with pytest.raises(ValueError, match="partition 0 does not match meta"):
        f.compute()
    parts = [shoal.delayed(p) for p in (pd.DataFrame({"x": [1]}), pd.DataFrame({"x": [2]}))]
    with pytest.raises(ValueError, match="mix None with values"):
        dd.from_delayed(parts, meta={"x": "i8"}, divisions=[0, None, 9])
    with pytest.raises(ValueError, match="must be sorted"):
        dd.from_delayed(parts, meta={"x": "i8"}, divisions=[5, 0, 9])


def test_repartition_takes_divisions_positionally_as_dask_and_survives_a_reload():
    import importlib

    import shoal.dataframe.realign as realign

    f = dd.from_pandas(pd.DataFrame({"x": range(4)}), npartitions=2)
    assert f.repartition([0, 2, 3]).divisions == (0, 2, 3)
    importlib.reload(realign)  # (its repartition wraps core's once, not itself)
    assert f.repartition(npartitions=1).npartitions == 1
    assert f.repartition(divisions=[0, 1, 3]).compute().x.tolist() == [0, 1, 2, 3]
