"""shoal.dataframe: read_fwf, read_orc/to_orc, read_sql*/to_sql, read_hdf/to_hdf on real files."""

import importlib.util
import sqlite3

import pytest

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import shoal.dataframe as dd  # noqa: E402
from shoal.dataframe.io.fwf import infer_colspecs  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def _frame(n=120):
    return pd.DataFrame({"id": np.arange(n),
                         "name": [f"n{i % 13}" * (1 + i % 3) for i in range(n)],
                         "value": np.round(np.linspace(0, 1, n), 4)})


# -- read_fwf -----------------------------------------------------------------------

def test_read_fwf_blocks_share_one_layout(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(_frame(300).to_string(index=False))
    ddf = dd.read_fwf(str(path), blocksize=2000)
    assert ddf.npartitions > 2
    out = ddf.compute()
    pd.testing.assert_frame_equal(out.reset_index(drop=True), pd.read_fwf(path))
    assert list(ddf.columns) == ["id", "name", "value"]


def test_read_fwf_glob_widths_and_names(tmp_path):
    frames = []
    for i in range(2):
        df = _frame(40).assign(id=lambda d, i=i: d.id + 100 * i)
        lines = [f"{r.id:>4}{r.name:<10}{r.value:>8}" for r in df.itertuples()]
        (tmp_path / f"p{i}.txt").write_text("\n".join(lines) + "\n")
        frames.append(df)
    kw = {"widths": [4, 10, 8], "names": ["id", "name", "value"], "header": None}
    out = dd.read_fwf(str(tmp_path / "p*.txt"), blocksize=500, **kw).compute()
    expected = pd.concat([pd.read_fwf(tmp_path / f"p{i}.txt", **kw) for i in range(2)])
    pd.testing.assert_frame_equal(out.reset_index(drop=True), expected.reset_index(drop=True))


def test_infer_colspecs_is_pandas_rule():
    lines = ["a   bb  c", " aa  b  cc", "", "x  # comment"]
    assert infer_colspecs(lines, comment="#") == [(0, 3), (4, 6), (8, 10)]


def test_read_fwf_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing"):
        dd.read_fwf(str(tmp_path / "nothing*.txt"))


# -- read_orc / to_orc --------------------------------------------------------------

def test_orc_round_trip_index_and_columns(tmp_path):
    df = _frame(50).set_index(pd.Index(np.arange(50) * 2, name="ix"))
    written = dd.from_pandas(df, npartitions=3).to_orc(str(tmp_path / "orc"))
    assert len(written) == 3
    whole = pd.concat([pd.read_orc(p) for p in written], ignore_index=True)
    got = dd.read_orc(str(tmp_path / "orc"))
    assert got.npartitions == 3
    pd.testing.assert_frame_equal(got.compute().reset_index(drop=True), whole)
    pd.testing.assert_frame_equal(dd.read_orc(str(tmp_path / "orc"), index="ix").compute(), df)
    only = dd.read_orc(str(tmp_path / "orc"), columns=["value"], index="ix").compute()
    pd.testing.assert_frame_equal(only, df[["value"]])
    dask_dd = pytest.importorskip("dask.dataframe")
    pd.testing.assert_frame_equal(
        only, dask_dd.read_orc(str(tmp_path / "orc"), columns=["value", "ix"],
                               index="ix").compute(), check_dtype=False)


def test_orc_split_stripes_and_no_index(tmp_path):
    import pyarrow as pa
    from pyarrow import orc

    big = pd.DataFrame({"x": np.arange(40_000), "y": np.arange(40_000) * 0.5})
    path = tmp_path / "big.orc"
    orc.write_table(pa.Table.from_pandas(big, preserve_index=False), str(path),
                    stripe_size=64 * 1024)
    nstripes = orc.ORCFile(str(path)).nstripes
    assert nstripes > 3
    got = dd.read_orc(str(path), split_stripes=2)
    assert got.npartitions == -(-nstripes // 2)
    pd.testing.assert_frame_equal(got.compute().reset_index(drop=True), big)
    assert dd.read_orc(str(path), split_stripes=False).npartitions == 1
    out = dd.from_pandas(big.head(10), npartitions=2).to_orc(str(tmp_path / "o"),
                                                              write_index=False)
    assert list(pd.read_orc(out[0]).columns) == ["x", "y"]
    with pytest.raises(ValueError, match="columns"):
        dd.read_orc(str(path), columns=["nope"])


# -- SQL ----------------------------------------------------------------------------

@pytest.fixture
def db(tmp_path):
    df = _frame(100)
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as con:
        df.to_sql("my table", con, index=False)
    return "sqlite:///" + str(path), df.set_index("id")


def test_read_sql_table_ranges(db):
    uri, expected = db
    ddf = dd.read_sql_table("my table", uri, "id", npartitions=4)
    assert ddf.npartitions == 4 and ddf.divisions[0] == 0 and ddf.divisions[-1] == 99
    pd.testing.assert_frame_equal(ddf.compute(), expected)
    parts = [ddf.get_partition(i).compute() for i in range(4)]
    assert sum(map(len, parts)) == 100  # every row in exactly one range
    some = dd.read_sql_table("my table", uri, "id", columns=["value"], limits=(10, 50),
                             npartitions=3)
    pd.testing.assert_frame_equal(some.compute(), expected.loc[10:50, ["value"]])
    given = dd.read_sql_table("my table", uri, "id", divisions=[0, 5, 60, 99])
    assert given.divisions == (0, 5, 60, 99)
    pd.testing.assert_frame_equal(given.compute(), expected)
    assert dd.read_sql_table("my table", uri, "id").npartitions == 1  # (256 MiB chunks)


def test_read_sql_query_and_read_sql(db):
    uri, expected = db
    sql = 'SELECT id, value FROM "my table" WHERE value > 0.5'
    got = dd.read_sql_query(sql, uri, "id", npartitions=2).compute()
    pd.testing.assert_frame_equal(got, expected.loc[expected.value > 0.5, ["value"]])
    pd.testing.assert_frame_equal(dd.read_sql(sql, uri, "id").compute(), got)
    pd.testing.assert_frame_equal(dd.read_sql("my table", uri, "id").compute(), expected)
    meta = expected.iloc[:0]
    pd.testing.assert_frame_equal(
        dd.read_sql_table("my table", uri, "id", meta=meta, head_rows=0,
                          npartitions=2).compute(), expected)


def test_to_sql_sequential_and_parallel(db, tmp_path):
    uri, expected = db
    ddf = dd.from_pandas(expected, npartitions=3)
    out_uri = "sqlite:///" + str(tmp_path / "out.db")
    assert ddf.to_sql("out", out_uri) is None
    with pytest.raises(ValueError, match="exists"):
        ddf.to_sql("out", out_uri)
    dd.to_sql(ddf, "out", out_uri, if_exists="append", parallel=True)
    with sqlite3.connect(tmp_path / "out.db") as con:
        back = pd.read_sql('SELECT * FROM "out"', con, index_col="id")
    pd.testing.assert_frame_equal(back.iloc[:100], expected)  # the ordered first write
    pd.testing.assert_frame_equal(back.sort_index(), pd.concat([expected] * 2).sort_index())
    ddf.to_sql("out", out_uri, if_exists="replace", index=False)
    pd.testing.assert_frame_equal(dd.read_sql_table("out", out_uri, "value").compute(),
                                  expected.set_index("value"))


def test_sql_bad_input_is_named(db, tmp_path):
    uri, _ = db
    with pytest.raises(ValueError, match="in-memory"):
        dd.read_sql_table("my table", "sqlite://", "id")
    with pytest.raises(TypeError, match="URI string"):
        dd.read_sql_table("my table", sqlite3.connect(":memory:"), "id")
    with pytest.raises(FileNotFoundError, match="no sqlite database"):
        dd.read_sql_table("t", "sqlite:///" + str(tmp_path / "none.db"), "id")
    if importlib.util.find_spec("sqlalchemy") is None:
        with pytest.raises(ImportError, match="sqlalchemy"):
            dd.read_sql_table("t", "postgresql://host/db", "id")
    with pytest.raises(ValueError, match="if_exists"):
        dd.from_pandas(_frame(4), npartitions=1).to_sql("x", uri, if_exists="nope")
    with pytest.raises(Exception, match="no such table"):  # quoted, never run as SQL
        dd.read_sql_table('my table"; DROP TABLE "my table"; --', uri, "id")
    assert len(dd.read_sql_table("my table", uri, "id").compute()) == 100


def test_read_sql_percent_path_and_colon_text(tmp_path):
    folder = tmp_path / "50%25 off #1?"
    folder.mkdir()
    df = pd.DataFrame({"id": np.arange(10), "s": ["a:n", "b:lo"] + list("cdefghij")})
    with sqlite3.connect(folder / "t.db") as con:
        df.to_sql("t", con, index=False)
    uri = "sqlite:///" + str(folder / "t.db")
    pd.testing.assert_frame_equal(
        dd.read_sql_table("t", uri, "id", npartitions=2).compute(), df.set_index("id"))
    got = dd.read_sql_query("SELECT * FROM t WHERE s = 'a:n' OR s = 'b:lo'", uri, "id",
                            npartitions=1).compute()
    pd.testing.assert_frame_equal(got, df.set_index("id").iloc[:2])


def test_read_sql_query_params_order_and_read_sql_newline(db):
    uri, expected = db
    named = dd.read_sql_query('SELECT * FROM "my table" WHERE id > :m ORDER BY id DESC',
                              uri, "id", npartitions=3, params={"m": 40}).compute()
    pd.testing.assert_frame_equal(named, expected.loc[41:])  # sorted in each range
    assert named.index.is_monotonic_increasing
    qmark = dd.read_sql_query('SELECT * FROM "my table" WHERE id > ? AND id < ?', uri, "id",
                              npartitions=2, params=(10, 20)).compute()
    pd.testing.assert_frame_equal(qmark, expected.loc[11:19])
    text = 'select\n  *\nfrom "my table"'
    pd.testing.assert_frame_equal(dd.read_sql(text, uri, "id").compute(), expected)


def test_read_sql_date_text_index_keeps_end_rows(tmp_path):
    path = tmp_path / "d.db"
    with sqlite3.connect(path) as con:  # (stored as 'YYYY-MM-DD', no time part)
        con.execute("CREATE TABLE t (d DATE, v INTEGER)")
        con.executemany("INSERT INTO t VALUES (?, ?)",
                        [(f"2020-01-{i:02d}", i) for i in range(1, 11)] + [(None, 0)])
    got = dd.read_sql_table("t", "sqlite:///" + str(path), "d", npartitions=3,
                            parse_dates=["d"]).compute()
    with sqlite3.connect(path) as con:
        expected = pd.read_sql("SELECT * FROM t WHERE d IS NOT NULL", con, index_col="d",
                               parse_dates=["d"])
    pd.testing.assert_frame_equal(got, expected)


# -- HDF ----------------------------------------------------------------------------

@pytest.mark.skipif(importlib.util.find_spec("tables") is not None, reason="tables installed")
def test_hdf_names_pytables_when_missing(tmp_path):
    with pytest.raises(ImportError, match="tables"):
        dd.read_hdf(str(tmp_path / "x.h5"), "/data")
    with pytest.raises(ImportError, match="tables"):
        dd.from_pandas(_frame(4), npartitions=1).to_hdf(str(tmp_path / "x.h5"), "/data")


def test_exports():
    for name in ("read_fwf", "read_orc", "read_sql", "read_sql_query", "read_sql_table",
                 "read_hdf", "to_orc", "to_sql", "to_hdf"):
        assert name in dd.__all__ and callable(getattr(dd, name)), name
    for name in ("to_orc", "to_sql", "to_hdf"):
        assert callable(getattr(dd.DataFrame, name)), name
