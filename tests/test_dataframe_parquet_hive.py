"""Hive-partitioned Parquet (``to_parquet(partition_on=...)``, read_parquet of
``col=value`` folders): escaping, rewrites into an existing directory, and
directories shared with pandas/pyarrow; values checked against pandas."""

import decimal
import os

import pytest

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import shoal.dataframe as sd  # noqa: E402

tm = pd.testing
SYNC = {"scheduler": "sync"}


def _sorted(df, by="v"):
    return df.sort_values(by).reset_index(drop=True)


@pytest.mark.timeout(60)
def test_partition_values_escaped_like_pyarrow(tmp_path):
    pdf = pd.DataFrame({"k": ["a b", "x/y", "p=q", "50%", "é", "plain"], "v": range(6)})
    mine, theirs = str(tmp_path / "shoal"), str(tmp_path / "pandas")
    sd.from_pandas(pdf, npartitions=2).to_parquet(mine, partition_on=["k"])
    pdf.to_parquet(theirs, partition_cols=["k"])
    for path in (mine, theirs):  # each read by shoal, and by pandas
        for got in (sd.read_parquet(path).compute(**SYNC), pd.read_parquet(path)):
            got = _sorted(got)
            assert got["k"].astype(str).tolist() == pdf["k"].tolist()
            assert got["v"].tolist() == pdf["v"].tolist()


@pytest.mark.timeout(60)
def test_rewrite_into_hive_directory(tmp_path):
    out = str(tmp_path / "hive")
    old = pd.DataFrame({"k": [1, 1, 2, 2], "v": range(4)})
    new = pd.DataFrame({"k": [1, 3], "v": [10, 11]})
    sd.from_pandas(old, npartitions=2).to_parquet(out, partition_on=["k"])
    with pytest.raises(FileExistsError, match="overwrite=True"):  # (old rows would mix in)
        sd.from_pandas(new, npartitions=1).to_parquet(out, partition_on=["k"])
    sd.from_pandas(new, npartitions=1).to_parquet(out, partition_on=["k"], overwrite=True)
    assert sorted(os.listdir(out)) == ["k=1", "k=3"]
    got = _sorted(sd.read_parquet(out).compute(**SYNC))
    assert got["v"].tolist() == [10, 11] and got["k"].tolist() == [1, 3]
    sd.from_pandas(old, npartitions=2).to_parquet(out, partition_on=["k"], append=True)
    got = _sorted(sd.read_parquet(out).compute(**SYNC))
    expect = _sorted(pd.concat([new, old]))
    assert got["v"].tolist() == expect["v"].tolist()
    assert got["k"].tolist() == expect["k"].tolist()


@pytest.mark.timeout(60)
def test_partition_values_beyond_int32_read_as_strings(tmp_path):
    out = str(tmp_path / "big")
    pdf = pd.DataFrame({"k": [1, 3_000_000_000], "v": [0, 1]})
    pdf.to_parquet(out, partition_cols=["k"])
    got = _sorted(sd.read_parquet(out).compute(**SYNC))
    expect = _sorted(pd.read_parquet(out))
    assert got["k"].tolist() == expect["k"].tolist() == ["1", "3000000000"]


@pytest.mark.timeout(60)
def test_metadata_file_lists_hive_parts(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = str(tmp_path / "meta")
    pdf = pd.DataFrame({"k": [1, 2, 2], "v": range(3)})
    sd.from_pandas(pdf, npartitions=2).to_parquet(out, partition_on=["k"],
                                                  write_metadata_file=True)
    md = pq.read_metadata(os.path.join(out, "_metadata"))
    files = sorted(os.path.join(d, f) for d in os.listdir(out) if d.startswith("k=")
                   for f in os.listdir(os.path.join(out, d)))
    assert md.num_rows == 3 and md.num_row_groups == len(files) >= 2
    assert sorted(md.row_group(i).column(0).file_path for i in range(len(files))) == files


@pytest.mark.timeout(60)
def test_decimal_parts_of_differing_scale(tmp_path):
    out = str(tmp_path / "dec")
    vals = [decimal.Decimal(s) for s in ("1.5", "2.5", "12.25", "100.125")]
    pdf = pd.DataFrame({"dec": vals})
    sd.from_pandas(pdf, npartitions=2).to_parquet(out)  # (decimal128(2,1) and (6,3))
    got = sd.read_parquet(out).compute(**SYNC)
    assert got["dec"].tolist() == vals
