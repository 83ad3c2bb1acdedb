"""The dd namespace: exports, concat, writer methods."""

import pandas as pd
import pytest

import shoal.dataframe as dd


def test_public_names():
    for name in ["DataFrame", "Series", "Scalar", "from_pandas", "map_partitions", "concat",
                 "merge", "read_csv", "read_parquet", "read_json", "to_csv", "to_parquet",
                 "to_json", "compute"]:
        assert name in dd.__all__ and hasattr(dd, name), name


def test_concat_frames_and_pandas():
    a = pd.DataFrame({"x": [1, 2, 3]})
    b = pd.DataFrame({"x": [4, 5], "y": ["p", "q"]}, index=[10, 11])
    got = dd.concat([dd.from_pandas(a, npartitions=2), b])
    assert got.npartitions == 3
    assert got.known_divisions and got.divisions == (0, 1, 10, 11)
    pd.testing.assert_frame_equal(got.compute(), pd.concat([a, b]))
    # overlapping indexes: divisions become unknown, rows all kept in order
    again = dd.concat([dd.from_pandas(a, npartitions=1), dd.from_pandas(a, npartitions=2)])
    assert not again.known_divisions
    pd.testing.assert_frame_equal(again.compute(), pd.concat([a, a]))
    with pytest.raises(ValueError, match="at least one"):
        dd.concat([])


def test_writer_methods_round_trip(tmp_path):
    pdf = pd.DataFrame({"a": range(10), "b": list("abcdefghij")})
    df = dd.from_pandas(pdf, npartitions=3)
    paths = df.to_csv(str(tmp_path / "out-*.csv"), index=False)
    assert len(paths) == 3
    back = dd.read_csv(str(tmp_path / "out-*.csv")).compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(back, pdf, check_dtype=False)
    df.to_parquet(str(tmp_path / "pq"))
    pd.testing.assert_frame_equal(dd.read_parquet(str(tmp_path / "pq")).compute(), pdf)
    df.to_json(str(tmp_path / "js-*.json"))
    back = dd.read_json(str(tmp_path / "js-*.json")).compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(back, pdf, check_dtype=False)
