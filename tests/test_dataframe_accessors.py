"""``.dt``, ``.str`` and ``.cat`` on shoal Series, compared with pandas."""

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

import shoal.dataframe as dd


def make_pdf(n=25):
    rng = np.random.default_rng(2)
    times = pd.Series(pd.date_range("2023-12-30 22:15:07", periods=n, freq="17h"))
    times[4] = pd.NaT
    words = pd.Series(rng.choice([" Apple ", "banana", "Cherry-pie", "date_2", "ELDER", "fig 10"], n))
    words[[3, 11]] = None
    return pd.DataFrame({"t": times, "s": words, "i": np.arange(n)})


@pytest.fixture(params=[1, 3, 8])
def frames(request):
    pdf = make_pdf()
    return pdf, dd.from_pandas(pdf, npartitions=request.param)


def assert_eq(got, want, check_meta=True):
    meta = got._meta
    value = got.compute(scheduler="sync")
    if isinstance(want, pd.DataFrame):
        tm.assert_frame_equal(value, want)
        if check_meta:
            tm.assert_series_equal(meta.dtypes, want.dtypes)
    else:
        tm.assert_series_equal(value, want)
        if check_meta:
            assert meta.dtype == want.dtype, (meta.dtype, want.dtype)


DT_PROPERTIES = ["dayofweek", "day_of_week", "weekday", "hour", "minute", "second", "day",
                 "month", "year", "quarter", "date", "time", "dayofyear", "day_of_year",
                 "is_month_start", "is_month_end", "is_quarter_start", "is_year_end",
                 "is_leap_year", "days_in_month", "microsecond"]


DEPRECATED = {"dayofweek", "weekday", "dayofyear"} if pd.__version__ >= "3" else set()


def _property(dt, name):
    if name in DEPRECATED:  # pandas 3 warns; shoal repeats the warning where it is written
        with pytest.warns((FutureWarning, DeprecationWarning), match="day_of"):
            return getattr(dt, name)
    return getattr(dt, name)


@pytest.mark.parametrize("name", DT_PROPERTIES)
def test_dt_properties(frames, name):
    pdf, df = frames
    # a NaT turns integer fields into floats in its partition only: the schema
    # (from NaT-free stand-ins) says int32, the computed values match pandas
    assert_eq(_property(df.t.dt, name), _property(pdf.t.dt, name), check_meta=False)
    clean, pclean = df.t.fillna(pd.Timestamp("2024-02-29")), pdf.t.fillna(pd.Timestamp("2024-02-29"))
    assert_eq(_property(clean.dt, name), _property(pclean.dt, name))


@pytest.mark.parametrize("call", [
    lambda dt: dt.floor("h"), lambda dt: dt.ceil("D"), lambda dt: dt.round("15min"),
    lambda dt: dt.strftime("%Y/%m/%d %H"), lambda dt: dt.normalize(),
    lambda dt: dt.tz_localize("UTC"), lambda dt: dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo"),
    lambda dt: dt.day_name(), lambda dt: dt.month_name(), lambda dt: dt.to_period("M"),
    lambda dt: dt.isocalendar(),
])
def test_dt_methods(frames, call):
    pdf, df = frames
    assert_eq(call(df.t.dt), call(pdf.t.dt))


def test_dt_timezone_and_timedelta(frames):
    pdf, df = frames
    local = df.t.dt.tz_localize("Europe/Paris", nonexistent="shift_forward")
    plocal = pdf.t.dt.tz_localize("Europe/Paris", nonexistent="shift_forward")
    assert_eq(local.dt.hour, plocal.dt.hour, check_meta=False)  # NaT: floats
    assert str(local.dt.tz) == "Europe/Paris"
    assert df.t.dt.unit == pdf.t.dt.unit
    delta, pdelta = df.t - df.t.min(), pdf.t - pdf.t.min()
    assert_eq(delta.dt.days, pdelta.dt.days, check_meta=False)
    assert_eq(delta.dt.total_seconds(), pdelta.dt.total_seconds())


def test_dt_in_filters_and_groupable_keys(frames):
    pdf, df = frames
    assert_eq(df[df.t.dt.day_of_week >= 5], pdf[pdf.t.dt.day_of_week >= 5])
    assert_eq(df.assign(h=df.t.dt.hour), pdf.assign(h=pdf.t.dt.hour), check_meta=False)


def test_deprecated_names_warn_where_written():
    if not DEPRECATED:
        pytest.skip("pandas < 3 does not deprecate dayofweek")
    df = dd.from_pandas(make_pdf(), npartitions=2)
    with pytest.warns((FutureWarning, DeprecationWarning)) as record:
        lazy = df.t.dt.dayofweek
    assert record[0].filename == __file__
    assert lazy._name.startswith("dt-day_of_week-")  # the tasks use the new name
    tm.assert_series_equal(lazy.compute(scheduler="sync"), make_pdf().t.dt.day_of_week)


STR_CALLS = [
    ("lower", (), {}), ("upper", (), {}), ("title", (), {}), ("strip", (), {}),
    ("lstrip", (), {}), ("rstrip", (" e",), {}), ("len", (), {}), ("contains", ("an",), {}),
    ("contains", ("^[a-c]",), {"regex": True}), ("contains", ("APPLE",), {"case": False}),
    ("contains", ("a",), {"na": False}), ("contains", ("-",), {"regex": False}),
    ("startswith", ("b",), {}), ("endswith", (("e", "0"),), {}), ("replace", ("a", "A"), {}),
    ("replace", (r"\d+", "#"), {"regex": True}), ("slice", (1, 4), {}), ("slice", (None, None, 2), {}),
    ("split", (), {}), ("split", ("a",), {"n": 1}), ("get", (0,), {}), ("zfill", (8,), {}),
    ("pad", (9,), {"side": "both", "fillchar": "*"}), ("center", (12,), {}), ("count", ("a",), {}),
    ("find", ("a",), {}), ("rfind", ("a",), {}), ("match", ("[a-d]",), {}), ("fullmatch", (r"\w+",), {}),
    ("extract", (r"([a-z])([a-z])",), {}), ("extract", (r"([a-z]+)",), {"expand": False}),
    ("isdigit", (), {}), ("isalpha", (), {}), ("isupper", (), {}), ("repeat", (2,), {}),
    ("removeprefix", ("ba",), {}), ("swapcase", (), {}), ("capitalize", (), {}), ("cat", (), {"others": ["x"] * 0}),
]


@pytest.mark.parametrize("name,args,kwargs", [c for c in STR_CALLS if c[0] != "cat"],
                         ids=[f"{c[0]}{i}" for i, c in enumerate(STR_CALLS) if c[0] != "cat"])
def test_str_methods(frames, name, args, kwargs):
    pdf, df = frames
    got = getattr(df.s.str, name)(*args, **kwargs)
    want = getattr(pdf.s.str, name)(*args, **kwargs)
    # with missing values pandas makes some results float/object, data-dependently
    assert_eq(got, want, check_meta=name not in ("len", "count", "find", "rfind"))


def test_str_indexing_and_split_expand(frames):
    pdf, df = frames
    assert_eq(df.s.str[0], pdf.s.str[0])
    assert_eq(df.s.str[1:3], pdf.s.str[1:3])
    assert_eq(df.s.str.split(" ", n=1, expand=True), pdf.s.str.split(" ", n=1, expand=True))
    with pytest.raises(NotImplementedError, match="n="):
        df.s.str.split(" ", expand=True)
    with pytest.raises(NotImplementedError, match="others"):
        df.s.str.cat(sep=",")
    with pytest.raises(NotImplementedError, match="get_dummies"):
        df.s.str.get_dummies()


def test_str_with_collection_arguments(frames):
    pdf, df = frames
    assert_eq(df.s.str.cat(df.s.str.upper(), sep="|"), pdf.s.str.cat(pdf.s.str.upper(), sep="|"))
    assert_eq(df[df.s.str.contains("a", na=False)], pdf[pdf.s.str.contains("a", na=False)])
    assert_eq(df.s.str.len() + df.i, pdf.s.str.len() + pdf.i, check_meta=False)


def test_str_on_categorical_and_object(frames):
    pdf, df = frames
    assert_eq(df.s.astype("category").str.upper(), pdf.s.astype("category").str.upper())
    obj, pobj = df.s.astype(object), pdf.s.astype(object)
    assert_eq(obj.str.lower(), pobj.str.lower())


def test_accessor_errors():
    df = dd.from_pandas(make_pdf(), npartitions=2)
    with pytest.raises(AttributeError, match="datetimelike"):
        df.i.dt
    with pytest.raises(AttributeError, match="string"):
        df.i.str
    with pytest.raises(AttributeError, match=r"did you mean lower.*valid names include"):
        df.s.str.lowr
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        df.t.dt.nope
    assert "hour" in dir(df.t.dt) and "contains" in dir(df.s.str)
    with pytest.raises(AttributeError):
        df.s.str.foo = 1
    with pytest.raises(NotImplementedError, match="frequency"):
        df.t.dt.freq


def test_accessor_results_are_lazy(frames):
    pdf, df = frames
    hour = df.t.dt.hour
    assert isinstance(hour, dd.Series) and hour.npartitions == df.npartitions
    assert hour.divisions == df.divisions
    assert hour._name.startswith("dt-hour-")
    assert df.s.str.upper()._name.startswith("str-upper-")
    assert df.t.dt.hour._name == hour._name  # deterministic names


def test_cat_accessor():
    pdf = make_pdf()
    pdf["c"] = pdf.s.astype("category")
    df = dd.from_pandas(pdf, npartitions=3)
    assert_eq(df.c.cat.codes, pdf.c.cat.codes)
    tm.assert_index_equal(df.c.cat.categories, pdf.c.cat.categories)
    assert df.c.cat.ordered is False and df.c.cat.known
    assert_eq(df.c.cat.add_categories(["zzz"]), pdf.c.cat.add_categories(["zzz"]))
    assert_eq(df.c.cat.as_ordered(), pdf.c.cat.as_ordered())
    assert not df.s.astype("category").cat.known
    with pytest.raises(NotImplementedError, match="used"):
        df.c.cat.remove_unused_categories()
