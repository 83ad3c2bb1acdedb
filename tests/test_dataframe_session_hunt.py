"""Found in an analysis session on shoal.dataframe, each checked against pandas:
``repartition(freq=)`` (time-series partitions by day / week), ``quantile(numeric_only=)``
and ``to_csv(header_first_partition_only=)``."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shoal.dataframe as dd


@pytest.fixture
def ts():
    idx = pd.date_range("2024-01-01 03:10", periods=800, freq="17min", name="ts")
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=800), "n": np.arange(800)}, index=idx)


@pytest.mark.parametrize("freq", ["1D", "6h", "90min", "W", "ME"])
def test_repartition_freq_cuts_at_the_rule_points(ts, freq):
    ddf = dd.from_pandas(ts, npartitions=7)
    out = ddf.repartition(freq=freq)
    pd.testing.assert_frame_equal(out.compute(scheduler="sync"), ts)
    points = pd.date_range(ts.index[0].normalize(), ts.index[-1], freq=freq)
    inner = [t for t in points if ts.index[0] < t < ts.index[-1]]
    assert list(out.divisions) == [ts.index[0], *inner, ts.index[-1]]
    for i in range(out.npartitions):  # every partition holds the rows of its own span
        part = out.get_partition(i).compute(scheduler="sync")
        lo, hi = out.divisions[i], out.divisions[i + 1]
        exp = ts[(ts.index >= lo) & ((ts.index < hi) | (i == out.npartitions - 1))]
        pd.testing.assert_frame_equal(part, exp)


def test_repartition_freq_then_resample_and_tz(ts):
    ddf = dd.from_pandas(ts, npartitions=5).repartition(freq="1D")
    pd.testing.assert_series_equal(ddf.x.resample("1D").sum().compute(scheduler="sync"),
                                   ts.x.resample("1D").sum(), check_freq=False)
    tz = ts.tz_localize("America/New_York")
    out = dd.from_pandas(tz, npartitions=3).repartition(freq="D")
    assert out.divisions[1] == pd.Timestamp("2024-01-02", tz="America/New_York")
    pd.testing.assert_frame_equal(out.compute(scheduler="sync"), tz)


def test_repartition_freq_refusals(ts):
    with pytest.raises(TypeError, match="DatetimeIndex"):
        dd.from_pandas(ts.reset_index(), npartitions=2).repartition(freq="1D")
    with pytest.raises(ValueError, match="not a frequency"):
        dd.from_pandas(ts, npartitions=2).repartition(freq="bogus")
    with pytest.raises(ValueError, match="only one of"):
        dd.from_pandas(ts, npartitions=2).repartition(npartitions=3, freq="1D")


@pytest.mark.parametrize("q", [0.3, [0.1, 0.5, 0.9]])
def test_quantile_numeric_only(q):
    pdf = pd.DataFrame({"a": np.arange(40.0), "s": list("ab") * 20, "b": np.arange(40) % 7,
                        "t": pd.date_range("2024", periods=40)})
    ddf = dd.from_pandas(pdf, npartitions=3)
    got = ddf.quantile(q, numeric_only=True).compute(scheduler="sync")
    exp = pdf.quantile(q, numeric_only=True)
    if isinstance(exp, pd.Series):
        pd.testing.assert_series_equal(got, exp)
    else:
        pd.testing.assert_frame_equal(got, exp)


def test_to_csv_header_first_partition_only(tmp_path):
    pdf = pd.DataFrame({"a": np.arange(12), "b": list("xyz") * 4})
    ddf = dd.from_pandas(pdf, npartitions=3)
    paths = ddf.to_csv(str(tmp_path / "p-*.csv"), index=False, header_first_partition_only=True)
    texts = [Path(p).read_text() for p in paths]
    assert texts[0].startswith("a,b\n")
    assert not any(t.startswith("a,b") for t in texts[1:])
    first = pd.read_csv(paths[0])
    rest = [pd.read_csv(p, header=None, names=["a", "b"]) for p in paths[1:]]
    pd.testing.assert_frame_equal(pd.concat([first, *rest], ignore_index=True), pdf,
                                  check_dtype=False)
    # the default keeps a header in every file; one file has one header anyway
    paths = ddf.to_csv(str(tmp_path / "q-*.csv"), index=False)
    assert all(Path(p).read_text().startswith("a,b\n") for p in paths)
    ddf.to_csv(str(tmp_path / "one.csv"), single_file=True, index=False,
               header_first_partition_only=True)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one.csv"), pdf, check_dtype=False)
