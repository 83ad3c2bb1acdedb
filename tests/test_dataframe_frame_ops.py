"""assign in order, operators across different divisions, map_partitions scalars as a
Series, and the methods of ``framemethods.py`` -- against pandas on the whole data."""

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

import shoal.dataframe as sd


def _pdf():
    rng = np.random.default_rng(7)
    idx = list(range(0, 12)) + list(range(30, 42))  # a gap: partitions there are empty
    pdf = pd.DataFrame({"a": rng.integers(0, 5, 24), "b": rng.normal(size=24),
                        "c": rng.choice(list("xyz"), 24)}, index=idx)
    pdf.loc[[3, 33], "b"] = np.nan
    return pdf


PDF = _pdf()
SPLITS = [
    [0, 41],
    [0, 5, 20, 41],             # the middle one spans the gap
    [0, 3, 12, 15, 25, 30, 41],  # two empty partitions
]


def frame(pdf, divisions):
    return sd.from_pandas(pdf, npartitions=1).repartition(divisions=divisions)


def test_empty_partitions_exist():
    df = frame(PDF, SPLITS[2])
    assert [len(df.partitions[i].compute()) for i in range(df.npartitions)] == [3, 9, 0, 0, 0, 12]


# -- 1. assign in order -----------------------------------------------------------------

@pytest.mark.parametrize("divisions", SPLITS)
def test_assign_callables_see_earlier_keywords(divisions):
    df = frame(PDF, divisions)
    out = df.assign(y=lambda d: d.a * 2, k=5, z=lambda d: d.y + d.k, a=lambda d: d.z - 1)
    exp = PDF.assign(y=lambda d: d.a * 2, k=5, z=lambda d: d.y + d.k, a=lambda d: d.z - 1)
    tm.assert_frame_equal(out.compute(), exp)
    assert list(out._meta.columns) == list(exp.columns)
    assert out.divisions == df.divisions


# -- 2. operators across different divisions ----------------------------------------------

@pytest.mark.parametrize("left, right", [(0, 1), (1, 2), (2, 0)])
def test_series_ops_align_on_union_of_divisions(left, right):
    a, b = frame(PDF, SPLITS[left]), frame(PDF.assign(b=PDF.b * 3), SPLITS[right])
    pb = PDF.b * 3
    tm.assert_series_equal((a.b + b.b).compute(), PDF.b + pb)
    tm.assert_series_equal((a.b == b.b).compute(), PDF.b == pb)
    tm.assert_series_equal(a.b.add(b.b, fill_value=0).compute(), PDF.b.add(pb, fill_value=0))
    tm.assert_series_equal(np.add(a.a, b.a).compute(), np.add(PDF.a, PDF.a))
    out = a.b - b.b
    assert out.divisions == tuple(sorted(set(SPLITS[left]) | set(SPLITS[right])))


def test_frame_ops_partly_overlapping_labels():
    p1, p2 = PDF[["a", "b"]], PDF[["a", "b"]].iloc[4:18] * 2
    df1, df2 = frame(p1, SPLITS[1]), sd.from_pandas(p2, npartitions=2)
    assert df1.npartitions != df2.npartitions
    tm.assert_frame_equal((df1 + df2).compute(), p1 + p2)
    tm.assert_frame_equal(df1.gt(df2).compute(), p1.gt(p2))
    with pytest.raises(ValueError, match="identically-labeled"):  # as pandas
        (df1 > df2).compute()


def test_same_count_different_divisions_realigned():
    s1 = frame(PDF.b, [0, 5, 41])
    s2 = frame(PDF.b * 2, [0, 33, 41])  # same npartitions, other boundaries
    tm.assert_series_equal((s1 + s2).compute(), PDF.b * 3)
    tm.assert_series_equal(s1.where(s2 > 0).compute(), PDF.b.where(PDF.b * 2 > 0))


def test_alignment_matches_dask():
    dd = pytest.importorskip("dask.dataframe")
    a, b = sd.from_pandas(PDF, npartitions=3), sd.from_pandas(PDF * 1, npartitions=2)
    da, db = dd.from_pandas(PDF, npartitions=3), dd.from_pandas(PDF * 1, npartitions=2)
    tm.assert_series_equal((a.a * b.b).compute(), (da.a * db.b).compute())


def test_unknown_divisions():
    a = sd.from_pandas(PDF, npartitions=3).clear_divisions()
    b = sd.from_pandas(PDF, npartitions=2)
    # split differently (known or not): hash-partitioned on the index first
    tm.assert_series_equal((a.a + b.a).compute().sort_index(), PDF.a * 2)
    tm.assert_frame_equal((a + b.clear_divisions()).compute().sort_index(), PDF + PDF)
    # derived from one frame (the same name: the same partitioning): partition by partition
    c = sd.from_pandas(PDF, npartitions=3).clear_divisions()
    tm.assert_series_equal((a.a + c.a).compute(), PDF.a * 2)


# -- 3. map_partitions with a scalar per partition and a Series meta -------------------------

@pytest.mark.parametrize("divisions", SPLITS)
def test_map_partitions_scalar_series_meta(divisions):
    df = frame(PDF, divisions)
    out = df.map_partitions(len, meta=("s", "i8"))
    res = out.compute()
    assert isinstance(res, pd.Series) and res.name == "s"
    assert res.tolist() == [len(df.partitions[i].compute()) for i in range(df.npartitions)]
    assert int(out.sum().compute()) == len(PDF)
    # a function returning a Series per partition is untouched, divisions kept
    kept = df.map_partitions(lambda d: d.a + 1, meta=("a", "i8"))
    tm.assert_series_equal(kept.compute(), PDF.a + 1)
    assert kept.divisions == df.divisions


def test_map_partitions_scalar_matches_dask():
    dd = pytest.importorskip("dask.dataframe")
    pdf = pd.DataFrame({"a": range(12)})
    got = sd.from_pandas(pdf, npartitions=3).map_partitions(lambda d: d.a.sum(), meta=("s", "i8"))
    exp = dd.from_pandas(pdf, npartitions=3).map_partitions(lambda d: d.a.sum(), meta=("s", "i8"))
    tm.assert_series_equal(got.compute(), exp.compute())


# -- 4. methods --------------------------------------------------------------------------

@pytest.mark.parametrize("left, right", [(0, 0), (1, 2), (2, 1)])
def test_series_corr_cov(left, right):
    other = PDF.b * -2 + np.sin(np.arange(24))
    s, o = frame(PDF.b, SPLITS[left]), frame(other, SPLITS[right])
    assert abs(s.corr(o).compute() - PDF.b.corr(other)) < 1e-12
    assert abs(s.cov(o).compute() - PDF.b.cov(other)) < 1e-12
    assert abs(s.cov(o, ddof=0).compute() - PDF.b.cov(other, ddof=0)) < 1e-12
    assert abs(frame(PDF.a, SPLITS[left]).cov(s).compute() - PDF.a.cov(PDF.b)) < 1e-12
    assert np.isnan(s.corr(o, min_periods=100).compute())
    assert abs(s.corr(other).compute() - PDF.b.corr(other)) < 1e-12  # a pandas other


def test_series_corr_partial_overlap_and_errors():
    other = (PDF.b ** 2).iloc[2:15]
    s, o = frame(PDF.b, SPLITS[2]), sd.from_pandas(other, npartitions=2)
    assert abs(s.corr(o).compute() - PDF.b.corr(other)) < 1e-12
    with pytest.raises(NotImplementedError):
        s.corr(o, method="spearman")
    with pytest.raises(TypeError):
        s.corr([1, 2])


@pytest.mark.parametrize("divisions", SPLITS)
def test_nbytes_case_when(divisions):
    df = frame(PDF, divisions)
    nb = df.b.nbytes
    assert not isinstance(nb, int) and nb.compute() == PDF.b.nbytes
    got = df.a.case_when([(df.a > 2, -1), (lambda s: s < 1, df.b), (df.b.isna(), 100)])
    exp = PDF.a.case_when([(PDF.a > 2, -1), (lambda s: s < 1, PDF.b), (PDF.b.isna(), 100)])
    tm.assert_series_equal(got.compute(), exp)
    with pytest.raises(NotImplementedError):
        df.a.case_when([(PDF.a > 2, 0)])


@pytest.mark.parametrize("divisions", SPLITS)
def test_frame_mode(divisions):
    pdf = PDF.assign(d=[1.5, np.nan] * 12)
    df = frame(pdf, divisions)
    tm.assert_frame_equal(df.mode().compute(), pdf.mode())
    tm.assert_frame_equal(df.mode(dropna=False).compute(), pdf.mode(dropna=False))
    tm.assert_frame_equal(df[["a", "c"]].mode().compute(), pdf[["a", "c"]].mode())


def test_pivot_table_method():
    pdf = PDF.assign(c=PDF.c.astype("category"))
    df = frame(pdf, SPLITS[2])
    got = df.pivot_table(index="a", columns="c", values="b", aggfunc="sum").compute()
    tm.assert_frame_equal(got, sd.pivot_table(df, index="a", columns="c", values="b",
                                              aggfunc="sum").compute())
    exp = pdf.pivot_table(index="a", columns="c", values="b", aggfunc="sum", observed=False)
    tm.assert_frame_equal(got.sort_index(), exp.sort_index(), check_names=False, check_dtype=False)


@pytest.mark.parametrize("divisions", SPLITS)
def test_iteration(divisions):
    df = frame(PDF, divisions)
    got, exp = list(df.itertuples()), list(PDF.itertuples())  # (NaN != NaN: compare as frames)
    assert type(got[0]).__name__ == "Pandas" and got[0]._fields == exp[0]._fields
    tm.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(exp))
    plain = list(df.itertuples(index=False, name=None))
    assert type(plain[0]) is tuple and len(plain[0]) == 3
    tm.assert_frame_equal(pd.DataFrame(plain), pd.DataFrame(list(PDF.itertuples(False, None))))
    rows = list(df.iterrows())
    assert [k for k, _ in rows] == list(PDF.index)
    for (_, got), (_, exp) in zip(rows, PDF.iterrows()):
        tm.assert_series_equal(got, exp)
    items = list(df.items())
    assert [k for k, _ in items] == list(PDF.columns)
    for (_, got), (_, exp) in zip(items, PDF.items()):
        tm.assert_series_equal(got.compute(), exp)


def test_iteration_computes_one_partition_at_a_time():
    def boom(d):
        if len(d) and d.index[0] >= 30:
            raise RuntimeError("the last partition was computed")
        return d

    df = frame(PDF, SPLITS[1]).map_partitions(boom, meta=PDF)
    it = df.iterrows()
    assert next(it)[0] == 0  # only the first partition was needed
    with pytest.raises(RuntimeError):
        list(it)


def test_pop():
    df = frame(PDF, SPLITS[1])
    pdf = PDF.copy()
    got, exp = df.pop("b"), pdf.pop("b")
    tm.assert_series_equal(got.compute(), exp)
    tm.assert_frame_equal(df.compute(), pdf)
    assert list(df.columns) == ["a", "c"]
    with pytest.raises(KeyError):
        df.pop("b")


@pytest.mark.parametrize("divisions", SPLITS)
def test_prefix_suffix_rename_axis(divisions):
    df = frame(PDF, divisions)
    tm.assert_frame_equal(df.add_prefix("p_").compute(), PDF.add_prefix("p_"))
    tm.assert_frame_equal(df.add_suffix("_s").compute(), PDF.add_suffix("_s"))
    assert df.add_prefix("p_").divisions == df.divisions
    out = df.a.add_prefix("r")
    tm.assert_series_equal(out.compute(), PDF.a.add_prefix("r"))
    assert not out.known_divisions
    tm.assert_frame_equal(df.add_suffix("_i", axis="index").compute(), PDF.add_suffix("_i", axis="index"))
    tm.assert_frame_equal(df.rename_axis("idx").compute(), PDF.rename_axis("idx"))
    tm.assert_frame_equal(df.rename_axis(columns="cols").compute(), PDF.rename_axis(columns="cols"))
    assert df.rename_axis("idx")._meta.index.name == "idx"
    tm.assert_series_equal(df.b.rename_axis("k").compute(), PDF.b.rename_axis("k"))
