"""shoal.dataframe core: every operation compared with pandas on the whole data.

Frames are split with ``from_pandas`` into several partition counts (1, a few,
more than the rows some filters leave, so that partitions become empty), with
NaN values and int/float/bool/str/datetime/category columns.  Results are
compared with ``pandas.testing`` and their dtypes checked against the
collection's metadata.
"""

import operator

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

import shoal
import shoal.dataframe as dd
from shoal.base import collections_to_graph
from shoal.dataframe.core import Scalar

NPARTS = [1, 3, 7]


def make_pdf(n=30):
    rng = np.random.default_rng(0)
    pdf = pd.DataFrame({
        "i": rng.integers(-5, 10, n),
        "f": rng.normal(size=n).round(3),
        "b": rng.integers(0, 2, n).astype(bool),
        "s": rng.choice(["apple", "Banana", " cherry ", "date"], n),
        "t": pd.date_range("2021-03-01", periods=n, freq="7h"),
        "c": pd.Categorical(rng.choice(["x", "y", "z"], n)),
    })
    pdf.loc[pdf.index % 7 == 3, "f"] = np.nan
    pdf.loc[pdf.index % 11 == 5, "s"] = None
    return pdf


def compute(x, **kwargs):
    return x.compute(scheduler="sync", **kwargs)


def assert_eq(a, b, check_meta=True, **kwargs):
    """Compute a shoal result (if it is one) and compare it with pandas' *b*."""
    if isinstance(a, (dd.DataFrame, dd.Series)):
        meta = a._meta
        a = compute(a)
        if check_meta:
            if isinstance(meta, pd.DataFrame):
                tm.assert_index_equal(meta.columns, a.columns)
                tm.assert_series_equal(meta.dtypes, a.dtypes)
            else:
                assert meta.dtype == a.dtype, (meta.dtype, a.dtype)
                assert meta.name == a.name
    elif isinstance(a, Scalar):
        dtype = a.dtype
        a = compute(a)
        if check_meta and hasattr(a, "dtype"):
            assert dtype == a.dtype, (dtype, a.dtype)
    if isinstance(b, pd.DataFrame):
        tm.assert_frame_equal(a, b, **kwargs)
    elif isinstance(b, pd.Series):
        tm.assert_series_equal(a, b, **kwargs)
    elif isinstance(b, pd.Index):
        tm.assert_index_equal(a, b, **kwargs)
    elif isinstance(b, float) and np.isnan(b):
        assert np.isnan(a)
    else:
        assert type(a) is type(b), (type(a), type(b))
        if isinstance(b, (float, np.floating)):
            assert a == pytest.approx(b, rel=1e-9)
        else:
            assert a == b


@pytest.fixture(params=NPARTS)
def frames(request):
    pdf = make_pdf()
    return pdf, dd.from_pandas(pdf, npartitions=request.param)


# -- construction -------------------------------------------------------------------------

def test_from_pandas_partitions_and_divisions():
    pdf = make_pdf(10)
    df = dd.from_pandas(pdf, npartitions=4)
    assert df.npartitions == 4
    assert df.divisions == (0, 2, 5, 7, 9)
    assert [len(compute(df.to_delayed()[0])), len(compute(df.partitions[3]))] == [2, 3]
    assert dd.from_pandas(pdf, npartitions=50).npartitions == 10
    assert dd.from_pandas(pdf, chunksize=3).npartitions == 4
    assert_eq(dd.from_pandas(pdf, chunksize=3), pdf)
    assert_eq(dd.from_pandas(pdf.i, npartitions=3), pdf.i)
    empty = dd.from_pandas(pdf.iloc[:0], npartitions=3)
    assert empty.npartitions == 1
    assert_eq(empty, pdf.iloc[:0])


def test_from_pandas_keeps_equal_index_values_together():
    pdf = pd.DataFrame({"x": range(8)}, index=[0, 1, 1, 1, 1, 2, 3, 3])
    df = dd.from_pandas(pdf, npartitions=4)
    parts = [compute(df.partitions[i]) for i in range(df.npartitions)]
    for p, q in zip(parts, parts[1:]):
        assert p.index.max() < q.index.min()
    assert df.divisions[0] == 0 and df.divisions[-1] == 3
    assert_eq(df, pdf)


def test_from_pandas_unsorted_and_errors():
    pdf = pd.DataFrame({"x": range(5)}, index=[3, 1, 4, 0, 2])
    assert_eq(dd.from_pandas(pdf, npartitions=2), pdf.sort_index())
    unsorted = dd.from_pandas(pdf, npartitions=2, sort=False)
    assert not unsorted.known_divisions
    assert_eq(unsorted, pdf)
    with pytest.raises(TypeError, match="pandas"):
        dd.from_pandas([1, 2], npartitions=1)
    with pytest.raises(ValueError, match="exactly one"):
        dd.from_pandas(pdf)


# -- selection and filters ----------------------------------------------------------------

def test_column_selection(frames):
    pdf, df = frames
    assert_eq(df["i"], pdf["i"])
    assert_eq(df.f, pdf.f)
    assert_eq(df[["s", "i"]], pdf[["s", "i"]])
    assert_eq(df[pd.Index(["t", "c"])], pdf[["t", "c"]])
    assert list(df.columns) == list(pdf.columns)
    assert "i" in dir(df) and "i" in df
    tm.assert_series_equal(df.dtypes, pdf.dtypes)


def test_unknown_columns_raise_listing_the_columns():
    df = dd.from_pandas(make_pdf(), npartitions=2)
    with pytest.raises(KeyError, match=r"'nope'.*the columns are \['i', 'f'"):
        df["nope"]
    with pytest.raises(KeyError, match="nope"):
        df[["i", "nope"]]
    with pytest.raises(AttributeError, match="nope"):
        df.nope


@pytest.mark.parametrize("npartitions", [1, 4, 12])
def test_boolean_filters(npartitions):
    pdf = make_pdf()
    df = dd.from_pandas(pdf, npartitions=npartitions)
    assert_eq(df[~df.b], pdf[~pdf.b])
    assert_eq(df[(df.i > 1) & (df.f < 0.5)], pdf[(pdf.i > 1) & (pdf.f < 0.5)])
    assert_eq(df[(df.i > 8) | df.s.isna()], pdf[(pdf.i > 8) | pdf.s.isna()])
    assert_eq(df.f[df.i > 8], pdf.f[pdf.i > 8])
    # partitions that become empty
    few = df[df.i == 9]
    assert_eq(few, pdf[pdf.i == 9])
    assert_eq(df[df.i > 100], pdf[pdf.i > 100])
    assert_eq(few.f + 1, pdf[pdf.i == 9].f + 1)


# -- operators ------------------------------------------------------------------------------

BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
          operator.mod, operator.pow, operator.lt, operator.le, operator.eq, operator.ne,
          operator.gt, operator.ge]


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.__name__)
def test_binary_operators(frames, op):
    pdf, df = frames
    # divisors without zeros and non-negative powers: an int // 0 turns the
    # column into floats, which no schema can foresee (pandas does the same)
    pos, ppos = df.i.abs() + 1, pdf.i.abs() + 1
    assert_eq(op(df.f, pos), op(pdf.f, ppos))
    assert_eq(op(df.i, pos), op(pdf.i, ppos))
    assert_eq(op(df.i, 3), op(pdf.i, 3))
    assert_eq(op(2, df.f), op(2, pdf.f))
    assert_eq(op(2, pos), op(2, ppos))
    assert_eq(op(df[["i", "f"]], 2), op(pdf[["i", "f"]], 2))
    num, pnum = df[["i", "f"]].abs() + 1, pdf[["i", "f"]].abs() + 1
    assert_eq(op(num, num), op(pnum, pnum))


@pytest.mark.parametrize("op", [operator.and_, operator.or_, operator.xor])
def test_logical_operators(frames, op):
    pdf, df = frames
    assert_eq(op(df.b, df.i > 2), op(pdf.b, pdf.i > 2))
    assert_eq(op(df.b, True), op(pdf.b, True))
    assert_eq(op(False, df.b), op(False, pdf.b))
    assert_eq(~df.b, ~pdf.b)


def test_unary_and_ufuncs(frames):
    pdf, df = frames
    assert_eq(-df.f, -pdf.f)
    assert_eq(+df.i, +pdf.i)
    assert_eq(abs(df.i), abs(pdf.i))
    assert_eq(df.i.abs(), pdf.i.abs())
    assert_eq(np.sqrt(df.i.abs()), np.sqrt(pdf.i.abs()))
    assert_eq(np.float64(2.5) * df.i, np.float64(2.5) * pdf.i)
    assert_eq(np.maximum(df.i, df.f), np.maximum(pdf.i, pdf.f))


def test_operators_with_scalars(frames):
    pdf, df = frames
    assert_eq(df.i - df.i.mean(), pdf.i - pdf.i.mean())
    assert_eq(df.f / df.f.max(), pdf.f / pdf.f.max())
    assert_eq(df.i.sum() - df.i, pdf.i.sum() - pdf.i)
    total = df.i.sum() + df.f.count() * 2
    assert isinstance(total, Scalar)
    assert_eq(total, pdf.i.sum() + pdf.f.count() * 2)
    assert_eq(1 - df.i.max(), 1 - pdf.i.max())
    assert_eq(df.i.max() > 3, pdf.i.max() > 3)
    assert_eq(df[df.i > df.i.mean()], pdf[pdf.i > pdf.i.mean()])
    with pytest.raises(TypeError, match="truth value"):
        bool(df.i.sum())
    with pytest.raises(ValueError, match="ambiguous"):
        bool(df.i)


def test_frame_minus_its_reductions(frames):
    pdf, df = frames
    num, pnum = df[["i", "f"]], pdf[["i", "f"]]
    assert_eq(num - num.mean(), pnum - pnum.mean())
    assert_eq((num - num.min()) / (num.max() - num.min()), (pnum - pnum.min()) / (pnum.max() - pnum.min()))


def test_named_arithmetic_methods(frames):
    pdf, df = frames
    assert_eq(df.f.add(df.i, fill_value=0), pdf.f.add(pdf.i, fill_value=0))
    assert_eq(df.f.radd(1), pdf.f.radd(1))
    assert_eq(df.i.rsub(1), pdf.i.rsub(1))
    assert_eq(df.i.div(2), pdf.i.div(2))
    assert_eq(df[["i", "f"]].mul(2), pdf[["i", "f"]].mul(2))
    assert_eq(df.i.lt(3), pdf.i.lt(3))


def test_different_npartitions_align_on_known_divisions_else_raise():
    """As Dask: frames of known divisions are moved onto the union of them; without
    divisions, frames split differently are first hash-partitioned on their index."""
    pdf = make_pdf()
    a = dd.from_pandas(pdf, npartitions=2)
    b = dd.from_pandas(pdf, npartitions=3)
    pd.testing.assert_series_equal((a.i + b.i).compute(), pdf.i + pdf.i)
    pd.testing.assert_frame_equal(a[b.i > 0].compute(), pdf[pdf.i > 0])
    pd.testing.assert_series_equal((a.i + b.clear_divisions().i).compute().sort_index(), pdf.i * 2)
    pd.testing.assert_frame_equal(a[b.clear_divisions().i > 0].compute().sort_index(), pdf[pdf.i > 0])


# -- elementwise methods -------------------------------------------------------------------

def test_assign_and_setitem(frames):
    pdf, df = frames
    got = df.assign(x=df.i * 2, y=1, z=lambda d: d.f + d.i, m=df.f.mean(), w="const")
    want = pdf.assign(x=pdf.i * 2, y=1, z=lambda d: d.f + d.i, m=pdf.f.mean(), w="const")
    assert_eq(got, want)
    df2, pdf2 = df.copy(), pdf.copy()
    df2["x"] = df2.i + 1
    pdf2["x"] = pdf2.i + 1
    df2["i"] = 0
    pdf2["i"] = 0
    df2[1] = df2.f
    pdf2[1] = pdf2.f
    assert_eq(df2, pdf2)
    assert "x" not in df.columns  # the copy changed, not the original
    del df2["x"]
    assert "x" not in df2.columns


def test_astype(frames):
    pdf, df = frames
    assert_eq(df.i.astype("float32"), pdf.i.astype("float32"))
    assert_eq(df.astype({"i": "f8", "b": "i8"}), pdf.astype({"i": "f8", "b": "i8"}))
    assert_eq(df.i.astype(str), pdf.i.astype(str))
    # categories learned per partition are unified when concatenating
    assert_eq(df.s.astype("category"), pdf.s.astype("category"), check_meta=False)
    assert_eq(df.astype({"s": "category"}), pdf.astype({"s": "category"}), check_meta=False)


def test_missing_values(frames):
    pdf, df = frames
    assert_eq(df.isna(), pdf.isna())
    assert_eq(df.notna(), pdf.notna())
    assert_eq(df.f.isnull(), pdf.f.isnull())
    assert_eq(df.f.fillna(0), pdf.f.fillna(0))
    assert_eq(df.f.fillna(df.f.mean()), pdf.f.fillna(pdf.f.mean()))
    assert_eq(df.fillna({"f": -1, "s": "?"}), pdf.fillna({"f": -1, "s": "?"}))
    assert_eq(df.dropna(), pdf.dropna())
    assert_eq(df.dropna(subset=["f"]), pdf.dropna(subset=["f"]))
    assert_eq(df[["f", "s"]].dropna(how="all"), pdf[["f", "s"]].dropna(how="all"))
    assert_eq(df.f.dropna(), pdf.f.dropna())


def test_where_mask_between_isin(frames):
    pdf, df = frames
    assert_eq(df.f.where(df.i > 0), pdf.f.where(pdf.i > 0))
    assert_eq(df.f.where(df.i > 0, -1.0), pdf.f.where(pdf.i > 0, -1.0))
    assert_eq(df.i.mask(df.b, df.i * 10), pdf.i.mask(pdf.b, pdf.i * 10))
    assert_eq(df[["i", "f"]].where(df[["i", "f"]] > 0, 0), pdf[["i", "f"]].where(pdf[["i", "f"]] > 0, 0))
    assert_eq(df.i.between(0, 5), pdf.i.between(0, 5))
    assert_eq(df.i.between(0, 5, inclusive="left"), pdf.i.between(0, 5, inclusive="left"))
    assert_eq(df.i.between(df.i.min() + 1, 5), pdf.i.between(pdf.i.min() + 1, 5))
    assert_eq(df.s.isin(["apple", "date"]), pdf.s.isin(["apple", "date"]))
    assert_eq(df.i.isin({1, 2, 3}), pdf.i.isin({1, 2, 3}))
    assert_eq(df[["i", "s"]].isin([1, "date"]), pdf[["i", "s"]].isin([1, "date"]))


def test_round_clip_rename_drop(frames):
    pdf, df = frames
    assert_eq(df.f.round(1), pdf.f.round(1))
    assert_eq(df[["i", "f"]].round(), pdf[["i", "f"]].round())
    assert_eq(df.i.clip(0, 5), pdf.i.clip(0, 5))
    assert_eq(df.f.clip(lower=df.f.mean()), pdf.f.clip(lower=pdf.f.mean()))
    assert_eq(df.rename(columns={"i": "ints"}), pdf.rename(columns={"i": "ints"}))
    assert_eq(df.rename(columns=str.upper), pdf.rename(columns=str.upper))
    assert_eq(df.i.rename("other"), pdf.i.rename("other"))
    assert_eq(df.drop(columns=["s", "t"]), pdf.drop(columns=["s", "t"]))
    assert_eq(df.drop("s", axis=1), pdf.drop("s", axis=1))
    with pytest.raises(NotImplementedError, match="columns"):
        df.drop(3)
    with pytest.raises(KeyError):
        df.drop(columns="nope")


def test_map_apply_to_frame(frames):
    pdf, df = frames
    mapping = {i: f"v{i}" for i in range(-5, 8)}
    assert_eq(df.i.map(mapping), pdf.i.map(mapping))
    assert_eq(df.i.map(lambda x: x * 2), pdf.i.map(lambda x: x * 2))
    # NaN rows make the lengths floats: data-dependent, so the schema says int64
    assert_eq(df.s.map(len, na_action="ignore"), pdf.s.map(len, na_action="ignore"), check_meta=False)
    assert_eq(df.i.apply(lambda x: x + 0.5), pdf.i.apply(lambda x: x + 0.5))
    assert_eq(df.i.apply(np.square, meta=("i", "i8")), pdf.i.apply(np.square))
    assert_eq(df.i.apply(lambda x, k: x * k, args=(3,)), pdf.i.apply(lambda x, k: x * k, args=(3,)))
    rowwise = df.apply(lambda r: r.i * 2 + r.f, axis=1, meta=(None, "f8"))
    assert_eq(rowwise, pdf.apply(lambda r: r.i * 2 + r.f, axis=1))
    assert_eq(df.apply(lambda r: r.i * 2, axis=1), pdf.apply(lambda r: r.i * 2, axis=1))
    with pytest.raises(NotImplementedError, match="axis=1"):
        df.apply(lambda c: c.sum())
    assert_eq(df.i.to_frame(), pdf.i.to_frame())
    assert_eq(df.i.to_frame("x"), pdf.i.to_frame("x"))


def test_meta_inference_failure_asks_for_meta():
    df = dd.from_pandas(make_pdf(), npartitions=2)

    def bad(x):
        raise RuntimeError("no sample for you")

    with pytest.raises(ValueError, match="meta="):
        df.i.apply(bad)
    with pytest.raises(ValueError, match="meta="):
        df.map_partitions(bad)
    out = df.i.apply(lambda x: x, meta=("i", "i8"))  # with meta= nothing is inferred
    assert out.dtype == np.int64


# -- map_partitions ---------------------------------------------------------------------------

def test_map_partitions_meta_forms(frames):
    pdf, df = frames
    out = df.map_partitions(lambda p: p.i * 2.0, meta=("i", "f8"))
    assert isinstance(out, dd.Series) and out.dtype == np.float64 and out.name == "i"
    assert_eq(out, pdf.i * 2.0)
    out = df.map_partitions(lambda p: p[["i"]], meta={"i": "i8"})
    assert isinstance(out, dd.DataFrame)
    assert_eq(out, pdf[["i"]])
    out = df.map_partitions(lambda p: p[["i", "f"]], meta=pdf[["i", "f"]].iloc[:0])
    assert_eq(out, pdf[["i", "f"]])
    out = dd.map_partitions(lambda p: p.assign(z=p.i + 1), df)
    assert_eq(out, pdf.assign(z=pdf.i + 1))
    # a scalar per partition makes a Series of them
    lengths = compute(df.map_partitions(len))
    assert lengths.sum() == len(pdf) and len(lengths) == df.npartitions


def test_map_partitions_extra_arguments(frames):
    pdf, df = frames

    def combine(part, other, scale, shift=0):
        return part.i * scale + other + shift

    got = df.map_partitions(combine, df.f, df.f.max(), shift=df.i.min())
    assert_eq(got, pdf.i * pdf.f.max() + pdf.f + pdf.i.min())
    value = shoal.delayed(lambda: 10)()
    got = df.map_partitions(lambda p, v: p.i + v, value, meta=("i", "i8"))
    assert_eq(got, pdf.i + 10)
    with pytest.raises(ValueError, match="meta="):
        df.map_partitions(lambda p, v: p.i + v, value)
    got = df.map_partitions(lambda p, k=1: p.i * k, k=3, token="triple")
    assert got._name.startswith("triple-")
    assert_eq(got, pdf.i * 3)


def test_partitions_and_to_delayed():
    pdf = make_pdf()
    df = dd.from_pandas(pdf, npartitions=4)
    starts = [0] + list(df.divisions[1:-1])
    assert_eq(df.partitions[1], pdf.loc[starts[1]:starts[2] - 1])
    assert df.partitions[1].divisions == df.divisions[1:3]
    assert_eq(df.partitions[1:3], pdf.loc[starts[1]:starts[3] - 1])
    assert df.partitions[[0, 3]].npartitions == 2
    assert_eq(df.get_partition(-1), pdf.loc[starts[3]:])
    parts = df.to_delayed()
    assert len(parts) == 4
    tm.assert_frame_equal(pd.concat(shoal.compute(*parts, scheduler="sync")), pdf)
    assert compute(df.i.sum().to_delayed()) == pdf.i.sum()
    graph, _ = collections_to_graph([df.i.partitions[2]])
    assert not any(k[1] != 2 for k in graph if isinstance(k, tuple) and k[0].startswith("from-pandas"))


def test_persist(frames):
    pdf, df = frames
    expr = df[df.i > 0].assign(x=lambda d: d.i * 2)
    persisted = expr.persist(scheduler="sync")
    nodes = list(persisted.__shoal_graph__().values())
    assert len(nodes) == persisted.npartitions
    assert all(type(n).__name__ == "Data" for n in nodes)
    assert_eq(persisted, pdf[pdf.i > 0].assign(x=lambda d: d.i * 2))
    total = df.i.sum().persist(scheduler="sync")
    assert type(next(iter(total.__shoal_graph__().values()))).__name__ == "Data"
    assert compute(total) == pdf.i.sum()


def test_visualize(tmp_path, dot_program):
    df = dd.from_pandas(make_pdf(), npartitions=3)
    (df.i + 1).sum().visualize(filename=str(tmp_path / "g.png"))
    assert (tmp_path / "g.png").stat().st_size > 0
    df.visualize(filename=str(tmp_path / "g.dot"))
    assert "from-pandas" in (tmp_path / "g.dot").read_text()


# -- head, tail, repartition ------------------------------------------------------------------

class RecordingGet:
    def __init__(self):
        self.keys = set()

    def __call__(self, graph, keys, **kwargs):
        self.keys.update(graph)
        return shoal.base.get_scheduler("sync")(graph, keys, **kwargs)


def _boom(part, first_ok):
    if not first_ok(part):
        raise RuntimeError("this partition must not be computed")
    return part


def test_head_reads_only_the_first_partitions():
    pdf = make_pdf()
    df = dd.from_pandas(pdf, npartitions=5)
    guarded = df.map_partitions(_boom, lambda p: p.index[0] == 0, meta=df._meta)
    tm.assert_frame_equal(guarded.head(3), pdf.head(3))
    get = RecordingGet()
    lazy = (df.i + 1).head(4, compute=False)
    tm.assert_series_equal(lazy.compute(scheduler=get), pdf.i.head(4) + 1)
    touched = {k[1] for k in get.keys if isinstance(k, tuple) and len(k) == 2 and k[0] != lazy._name}
    assert touched == {0}
    assert len(lazy.__shoal_graph__()) == 4  # data, getitem, +1, head
    get = RecordingGet()
    two = df.head(8, npartitions=2, compute=False)
    tm.assert_frame_equal(two.compute(scheduler=get), pdf.head(8))
    assert {k[1] for k in get.keys if k[0].startswith("from-pandas")} == {0, 1}


def test_head_warns_when_short_and_searches_all_with_minus_one():
    pdf = make_pdf()
    df = dd.from_pandas(pdf, npartitions=6)
    with pytest.warns(UserWarning, match="npartitions"):
        short = df.head(10)
    assert len(short) == 5
    tm.assert_frame_equal(df.head(10, npartitions=-1), pdf.head(10))
    filtered = df[df.i > 7]
    tm.assert_frame_equal(filtered.head(3, npartitions=-1), pdf[pdf.i > 7].head(3))


def test_tail():
    pdf = make_pdf()
    df = dd.from_pandas(pdf, npartitions=4)
    tm.assert_frame_equal(df.tail(3), pdf.tail(3))
    tm.assert_series_equal(df.i.tail(12, npartitions=-1), pdf.i.tail(12))
    tm.assert_frame_equal(df[df.i > 7].tail(2, npartitions=-1), pdf[pdf.i > 7].tail(2))


@pytest.mark.parametrize("before,after", [(7, 2), (7, 3), (3, 7), (2, 5), (4, 4), (5, 1)])
def test_repartition(before, after):
    pdf = make_pdf()
    df = dd.from_pandas(pdf, npartitions=before)
    out = df.repartition(after)
    assert out.npartitions == after
    assert_eq(out, pdf)
    if after <= before:
        assert out.known_divisions and out.divisions[0] == 0 and out.divisions[-1] == 29
    assert_eq(out.i + df.repartition(after).f, pdf.i + pdf.f)


# -- display --------------------------------------------------------------------------------

def _never(part):
    raise RuntimeError("repr must not compute")


def test_repr_shows_structure_without_computing():
    pdf = make_pdf()
    df = dd.from_pandas(pdf, npartitions=3).map_partitions(_never, meta=pdf)
    text = repr(df)
    assert "npartitions=3" in text
    for col, dtype in pdf.dtypes.items():
        assert col in text and str(dtype) in text
    assert "0" in text and "29" in text  # known divisions
    html = df._repr_html_()
    assert "<table" in html and "npartitions=3" in html and "datetime64" in html
    s = df.f
    assert "Name: f, dtype: float64" in repr(s) and "npartitions=3" in repr(s)
    assert "<table" in s._repr_html_()
    unknown = df.clear_divisions()
    assert "npartitions=3" in repr(unknown)
    assert repr(df.i.sum()).startswith("shoal.Scalar<sum-") and "dtype=int64" in repr(df.i.sum())
    assert repr(df.f.mean()).endswith("dtype=float64>")


def test_repr_with_duplicate_column_names():
    pdf = pd.DataFrame([[1, 2.0]], columns=["a", "a"])
    df = dd.from_pandas(pdf, npartitions=1)
    text = repr(df)
    assert "int64" in text and "float64" in text
    assert "<table" in df._repr_html_()


# -- schedulers and categoricals ------------------------------------------------------------

@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes"])
def test_pipeline_on_every_scheduler(scheduler):
    pdf = make_pdf()
    df = dd.from_pandas(pdf, npartitions=4)
    expr = df[df.f.notna()].assign(g=lambda d: d.i * d.f)
    res_df, res_mean, res_counts = shoal.compute(expr, expr.g.mean(), expr.s.str.strip().value_counts(),
                                                 scheduler=scheduler)
    want = pdf[pdf.f.notna()].assign(g=lambda d: d.i * d.f)
    tm.assert_frame_equal(res_df, want)
    assert res_mean == pytest.approx(want.g.mean())
    tm.assert_series_equal(res_counts, want.s.str.strip().value_counts())
    assert df.map_partitions(lambda p: p.i + 1).compute(scheduler=scheduler).equals(pdf.i + 1)


def test_categorical_columns(frames):
    pdf, df = frames
    assert_eq(df.c, pdf.c)
    assert_eq(df[df.c == "x"], pdf[pdf.c == "x"])
    assert_eq(df.c.cat.codes, pdf.c.cat.codes)
    tm.assert_index_equal(df.c.cat.categories, pdf.c.cat.categories)


def test_index_and_reset_index(frames):
    pdf, df = frames
    assert_eq(df.index, pdf.index, check_meta=False, exact=False)
    assert_eq(df[df.i > 2].index, pdf[pdf.i > 2].index, exact=False)
    assert_eq(df.reset_index(drop=True).i.sum(), pdf.i.sum())
    assert len(df.select_dtypes("number").columns) == 2


# --- .loc and categories a hunt found silently wrong ------------------------------------


def test_loc_over_an_index_with_nan_labels_finds_the_rows():
    """from_pandas took NaN (sorted last) as the last division, and .loc found no
    partition at all: 0 rows; after set_index a slice bound missing from the partition
    holding the NaN rows raised a bare KeyError."""
    pdf = pd.DataFrame({"b": [1, 2, 3, 4, 5]}, index=[1.0, np.nan, 3.0, 2.0, 4.0])
    for n in (1, 2, 3):
        ddf = dd.from_pandas(pdf, npartitions=n)
        expected = pdf.sort_index()
        tm.assert_frame_equal(ddf.loc[2:3].compute(), expected.loc[2:3])
        assert len(ddf.loc[2].compute()) == 1 and len(ddf.loc[[2.0, 3.0]].compute()) == 2
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan, 3.0, 4.0, 5.0], "b": range(6)})
    indexed = dd.from_pandas(frame, npartitions=2).set_index("a")
    got = indexed.loc[2:4].compute()
    assert got.index.tolist() == [2.0, 3.0, 4.0] and got.b.tolist() == [1, 3, 4]


def test_loc_slices_of_unsorted_partitions_take_dates_as_pandas_does():
    """The fallback for a partition with unsorted labels compared "2020-03" as the first
    instant of March: 30 rows of 60."""
    days = pd.date_range("2020-01-01", "2020-04-30", freq="D")
    pdf = pd.DataFrame({"x": range(len(days))}, index=days).sample(frac=1, random_state=0)
    ddf = dd.from_pandas(pdf, npartitions=3, sort=False)
    got = ddf.loc["2020-02":"2020-03"].compute().sort_index()
    tm.assert_frame_equal(got, pdf.sort_index().loc["2020-02":"2020-03"])
    with pytest.raises(TypeError, match=r"\.loc: the bounds 5, 7 cannot be compared"):
        dd.from_pandas(pdf, npartitions=3).loc[5:7]  # (as pandas: it gave no rows, silently)


def test_category_codes_need_known_categories():
    """Each partition numbered its own categories: ["a", "b", "c", "d"] in two
    partitions had codes [0, 1, 0, 1]."""
    s = dd.from_pandas(pd.Series(list("abcd")), npartitions=2).astype("category")
    with pytest.raises(NotImplementedError, match="cat.codes with unknown categories"):
        s.cat.codes
    known = s.astype(pd.CategoricalDtype(list("abcd")))
    assert known.cat.codes.compute().tolist() == [0, 1, 2, 3]
    for edited in (s.cat.add_categories(["z"]), s.cat.as_ordered()):  # (still unknown)
        assert not edited.cat.known
        with pytest.raises(NotImplementedError, match="cat.codes with unknown categories"):
            edited.cat.codes
    assert s.cat.set_categories(list("abcd")).cat.codes.compute().tolist() == [0, 1, 2, 3]
