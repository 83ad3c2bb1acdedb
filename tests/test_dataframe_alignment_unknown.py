"""Combining frames of unknown divisions: pandas aligns on the index, so must we.

Two frames with the same partition count are paired partition by partition only
when they share a *partitioning* (``shoal/dataframe/partitioning.py``): derived
row-wise from one source.  Otherwise (a groupby transform, a shuffle, a sample of
another frame, a repartition by size, another read) equal labels are first
brought together; results are compared with pandas after ``sort_index``.
"""

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

import shoal.dataframe as dd

pytestmark = pytest.mark.timeout(60)


def _pdf(n=100):
    return pd.DataFrame({"g": list("abcab") * (n // 5), "x": np.arange(float(n)),
                         "y": np.arange(n) % 7})


def _read_csv(tmp_path, pdf, nfiles=4):
    """A frame of unknown divisions, as read_csv gives (one partition per file)."""
    step = len(pdf) // nfiles
    for i in range(nfiles):
        pdf.iloc[i * step:(i + 1) * step].to_csv(tmp_path / f"p{i}.csv", index=False)
    return dd.read_csv(str(tmp_path / "p*.csv"))


def _sorted(x):
    return x.compute().sort_index()


def _shuffle_tasks(collection):
    return [k for k in collection.__shoal_graph__() if "shuffle" in str(k[0] if isinstance(k, tuple) else k)]


@pytest.fixture
def frames():
    """*t*: as many partitions as *df*, unknown divisions, but rows moved by group."""
    pdf = _pdf()
    df = dd.from_pandas(pdf, npartitions=4)
    pt = pdf.x * 10 - pdf.y
    t = (df.shuffle(on="g").x * 10 - df.shuffle(on="g").y)
    assert t.npartitions == df.npartitions and not t.known_divisions
    return pdf, df, pt, t


@pytest.mark.parametrize("unknown", [False, True])
def test_assign_groupby_transform(unknown):
    pdf = _pdf()
    df = dd.from_pandas(pdf, npartitions=4)
    df = df.clear_divisions() if unknown else df
    want = pdf.assign(m=pdf.groupby("g").x.transform("mean"))
    tm.assert_frame_equal(_sorted(df.assign(m=df.groupby("g").x.transform("mean"))), want)
    moved = df.shuffle(on="y")  # (the transform of a frame split otherwise)
    tm.assert_frame_equal(_sorted(df.assign(m=moved.groupby("g").x.transform("mean"))), want)


def test_assign(frames):
    pdf, df, pt, t = frames
    tm.assert_frame_equal(_sorted(df.assign(m=t)), pdf.assign(m=pt))
    tm.assert_frame_equal(_sorted(df.clear_divisions().assign(m=t)), pdf.assign(m=pt))


def test_setitem_groupby_transform(frames):
    pdf, df, pt, t = frames
    df["m"] = t
    pdf["m"] = pt
    tm.assert_frame_equal(_sorted(df), pdf)


def test_binary_operators_and_where(frames):
    pdf, df, pt, t = frames
    tm.assert_series_equal(_sorted(df.x + t), pdf.x + pt)
    tm.assert_series_equal(_sorted(t - df.x), pt - pdf.x)
    tm.assert_series_equal(_sorted(df.x.where(t > 400)), pdf.x.where(pt > 400))
    tm.assert_series_equal(_sorted(df.x.mask(t > 400, t)), pdf.x.mask(pt > 400, pt))
    tm.assert_frame_equal(_sorted(df[t > 400]), pdf[pt > 400])
    tm.assert_series_equal(_sorted(df.x.combine_first(t)), pdf.x.combine_first(pt))


def test_concat_axis1(frames):
    pdf, df, pt, t = frames
    got = dd.concat([df, t.rename("m")], axis=1)
    tm.assert_frame_equal(_sorted(got), pd.concat([pdf, pt.rename("m")], axis=1))
    got = dd.concat([df.clear_divisions(), t.rename("m")], axis=1)
    tm.assert_frame_equal(_sorted(got), pd.concat([pdf, pt.rename("m")], axis=1))


def test_other_row_moving_operations():
    pdf = _pdf()
    df = dd.from_pandas(pdf, npartitions=4).clear_divisions()
    moved = df.shuffle(on="g")
    tm.assert_series_equal(_sorted(df.x - moved.y), pdf.x - pdf.y)
    sized = df.repartition(partition_size="1kB")  # (split into a different count)
    tm.assert_frame_equal(_sorted(df.assign(z=sized.y * 2)), pdf.assign(z=pdf.y * 2))
    small = dd.from_pandas(pdf.iloc[::-1], npartitions=4, sort=False)  # other rows per partition
    tm.assert_frame_equal(_sorted(df.assign(z=small.x)), pdf.assign(z=pdf.x))
    part = df.x.sample(frac=0.5, random_state=3)  # a subset of every partition: kept in place
    tm.assert_series_equal(_sorted(df.x + part), pdf.x + part.compute().reindex(pdf.index))


def test_duplicated_labels_meet_as_in_pandas():
    pdf = pd.DataFrame({"x": np.arange(12.0)}, index=[0, 1, 2, 3] * 3)
    df = dd.from_pandas(pdf, npartitions=3, sort=False)
    other = pd.Series(np.arange(4.0) * 10, index=[3, 2, 1, 0], name="x")
    got = df.x + dd.from_pandas(other, npartitions=3, sort=False)
    want = pdf.x + other
    tm.assert_series_equal(got.compute().sort_index(kind="stable").sort_values(),
                           want.sort_index(kind="stable").sort_values())


def test_cheap_path_stays_partition_wise(tmp_path):
    pdf = _pdf()
    df = _read_csv(tmp_path, pdf)
    assert not df.known_divisions
    cheap = [df.x + 1, df.x.cumsum(), df.x.shift(1), df.x.rolling(3).mean(), df[df.y > 2].x,
             df.dropna().x, df.map_partitions(lambda p: p.x * 2), (df.x + 2).persist(),
             df.groupby("g").cumcount()]
    for col in cheap:
        out = df.assign(z=col)
        assert not _shuffle_tasks(out)
    out = df.assign(z=df.x + 1)
    assert len(out.__shoal_graph__()) == len(df.__shoal_graph__()) + 3 * df.npartitions
    # (read_csv numbers the rows of every file from 0: the labels repeat across partitions)
    tm.assert_frame_equal(out.compute().reset_index(drop=True), pdf.assign(z=pdf.x + 1))
    # a frame split otherwise is moved, both sides on their index, before pairing
    moved = df.assign(z=df.shuffle(on="g").x)
    assert len({k[0] for k in _shuffle_tasks(moved) if "-split-" in k[0]}) == 3  # (g, then both)


def test_index_of_another_partitioning_is_refused(frames):
    pdf, df, pt, t = frames
    with pytest.raises(ValueError, match="shoal Index with frames split differently"):
        df.x.clear_divisions() + t.index


def test_series_rename_of_the_index_starts_a_new_partitioning():
    # new labels (i + 1) sit in the partitions of the old ones: pairing the renamed
    # Series with its source partition by partition missed the labels at the cuts
    pdf = _pdf(15)
    df = dd.from_pandas(pdf, npartitions=3)
    want = pdf.x.rename(lambda i: i + 1) - pdf.x
    for src in (df.x, df.x.clear_divisions()):
        tm.assert_series_equal(_sorted(src.rename(lambda i: i + 1) - src), want)
    got = df.x.clear_divisions().rename(lambda i: i + 1, sorted_index=True) - df.x.clear_divisions()
    tm.assert_series_equal(_sorted(got), want)


def test_labels_repeated_in_both_frames_are_refused_not_crossed(tmp_path):
    """read_csv numbers each partition's rows from 0: two frames read apart (other
    tokens) share no partitioning, and their repeated labels would meet as a cartesian
    product; refused with the way out, which pairs them as they are."""
    pdf = pd.DataFrame({"x": np.arange(3000.0), "y": np.arange(3000) % 100})
    pdf.to_csv(tmp_path / "d.csv", index=False)
    df = dd.read_csv(str(tmp_path / "d.csv"), blocksize=20000)
    b = dd.read_csv(str(tmp_path / "d.csv"), blocksize=20000, usecols=["y"])
    assert df.npartitions > 1
    for combine in (lambda: df.x + b[b.y > 50].y, lambda: df.assign(z=b.y),
                    lambda: df.assign(z=df.shuffle(on="y").x)):
        with pytest.raises(ValueError, match="align_dataframes=False"):
            combine().compute()
    paired = dd.map_partitions(lambda a, c: a.x + c.y, df, b, align_dataframes=False)
    np.testing.assert_array_equal(paired.compute().to_numpy(), (pdf.x + pdf.y).to_numpy())
    with pytest.raises(ValueError, match="different numbers of partitions"):
        dd.map_partitions(lambda a, c: a.x + c.y, df, b.repartition(npartitions=1),
                          align_dataframes=False)
