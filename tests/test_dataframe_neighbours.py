"""shift, diff, ffill, bfill, rolling and map_overlap: rows of the partitions beside each
one, compared with pandas on the whole frame, for partitions of every size (one row,
empty ones among them)."""

from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
import shoal.dataframe as sd  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def pdf():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"x": rng.integers(0, 10, 24), "y": rng.random(24)},
                         index=pd.date_range("2024-01-01", periods=24, freq="h"))  # fmt: skip
    frame.loc[frame.index[3:11], "y"] = np.nan  # a run of NaN across partitions
    frame.loc[frame.index[-2:], "y"] = np.nan
    return frame


def frames(pdf):
    """The same rows in 1, 3, 5 and 24 partitions, and with empty partitions among them."""
    for n in (1, 3, 5, 24):
        yield f"{n} partitions", sd.from_pandas(pdf, npartitions=n), pdf
    marked = pdf.assign(keep=(pdf.index.hour < 6) | (pdf.index.hour > 14))
    with_empty = sd.from_pandas(marked, npartitions=8)
    with_empty = with_empty[with_empty.keep][["x", "y"]]
    assert 0 in [len(part.compute()) for part in with_empty.to_delayed()]
    yield "empty partitions", with_empty, pdf[marked.keep]


def same(got, expected):
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got.compute(), expected)
        assert list(got._meta.dtypes) == list(expected.dtypes)
    else:
        pd.testing.assert_series_equal(got.compute(), expected)
        assert got._meta.dtype == expected.dtype


CASES = {
    "shift": lambda f: f.shift(1),
    "shift 5": lambda f: f.shift(5),
    "shift -3": lambda f: f.shift(-3),
    "shift 0": lambda f: f.shift(0),
    "series shift": lambda f: f.x.shift(2),
    "shift freq": lambda f: f.shift(2, freq="h"),
    "diff": lambda f: f.diff(),
    "diff 3": lambda f: f.x.diff(3),
    "diff -2": lambda f: f.diff(-2),
    "ffill": lambda f: f.ffill(),
    "bfill": lambda f: f.y.bfill(),
    "rolling 3 mean": lambda f: f.rolling(3).mean(),
    "rolling 4 sum min_periods": lambda f: f.y.rolling(4, min_periods=1).sum(),
    "rolling 5 centred": lambda f: f.x.rolling(5, center=True).max(),
    "rolling 1": lambda f: f.rolling(1).count(),
    "rolling 2h": lambda f: f.rolling("2h").sum(),
    "rolling 5h std": lambda f: f.x.rolling("5h").std(),
    "rolling apply": lambda f: f.x.rolling(3).apply(lambda a: a[-1] - a[0], raw=True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_pandas_over_every_partitioning(pdf, case):
    op = CASES[case]
    for label, frame, expected in frames(pdf):
        try:
            same(op(frame), op(expected))
        except AssertionError as exc:
            raise AssertionError(f"{case}, {label}: {exc}") from None


def test_map_overlap_gives_the_neighbours_rows(pdf):
    df = sd.from_pandas(pdf, npartitions=6)
    running = df.x.map_overlap(lambda s: s.rolling(4).sum(), 3, 0)
    pd.testing.assert_series_equal(running.compute(), pdf.x.rolling(4).sum())
    ahead = df.x.map_overlap(lambda s: s.shift(-2), 0, 2, meta=("x", "f8"))
    pd.testing.assert_series_equal(ahead.compute(), pdf.x.shift(-2))
    by_time = df.map_overlap(lambda d: d.rolling("3h").mean(), "2h", 0)
    pd.testing.assert_frame_equal(by_time.compute(), pdf.rolling("3h").mean())
    assert by_time.divisions == df.divisions


def test_clear_errors():
    df = sd.from_pandas(pd.DataFrame({"x": range(6)}), npartitions=2)
    with pytest.raises(ValueError, match="a time span needs a DatetimeIndex"):
        df.map_overlap(lambda d: d, "1h", 0)
    with pytest.raises(ValueError, match="before must be >= 0"):
        df.map_overlap(lambda d: d, -1, 0)
    with pytest.raises(ValueError, match="rolling: window must be"):
        df.rolling("soon")
    with pytest.raises(TypeError, match="shift: periods must be an int"):
        df.shift(1.5)
    with pytest.raises(NotImplementedError, match="ffill.limit"):
        df.ffill(limit=2)
    with pytest.raises(ValueError, match="fillna needs a value .*ffill, bfill"):
        df.fillna(method="ffill")


def test_the_chain_holds_only_the_rows_it_needs(pdf):
    """A carry is the rows a partition needs, however many partitions back they come from."""
    from shoal.dataframe.neighbours import _head, _tail

    a, b = pdf.iloc[:2], pdf.iloc[2:3]
    assert list(_tail(None, a, 5).index) == list(a.index)
    assert list(_tail(a, b, 2).index) == list(pdf.index[1:3])
    assert list(_head(b, a, 2).index) == list(pdf.index[:2])
    assert list(_tail(a, b, pd.Timedelta("1h")).index) == list(pdf.index[1:3])
    assert _tail(a, pdf.iloc[:0], 1).index.tolist() == [pdf.index[1]]


def test_windows_that_leave_the_row_out_reach_one_row_further():
    pdf = pd.DataFrame({"x": np.arange(10.0)})
    df = sd.from_pandas(pdf, npartitions=4)
    for closed in ("both", "left", "right", "neither"):
        got = df.x.rolling(3, closed=closed).sum().compute()
        pd.testing.assert_series_equal(got, pdf.x.rolling(3, closed=closed).sum())


def test_shift_by_a_frequency_moves_the_divisions_too(pdf):
    df = sd.from_pandas(pdf, npartitions=4)
    moved = df.shift(1, freq="D")
    assert moved.divisions == tuple(pd.Index(df.divisions).shift(1, "D"))
    pd.testing.assert_frame_equal(moved.loc["2024-01-02"].compute(), pdf.shift(1, freq="D").loc["2024-01-02"])


def test_fills_along_rows_and_what_rolling_refuses():
    pdf = pd.DataFrame({"a": [1.0, np.nan], "b": [np.nan, np.nan]})
    df = sd.from_pandas(pdf, npartitions=1)
    pd.testing.assert_frame_equal(df.ffill(axis=1).compute(), pdf.ffill(axis=1))
    pd.testing.assert_frame_equal(df.bfill(axis=1).compute(), pdf.bfill(axis=1))
    with pytest.raises(NotImplementedError, match="rolling.axis=1"):
        df.rolling(2, axis=1)
