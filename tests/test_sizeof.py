"""``shoal.sizeof``: roughly right sizes, quickly (pandas frames against their deep
memory usage)."""

import pytest

from shoal.sizeof import sizeof

pd = pytest.importorskip("pandas")


def test_text_stored_as_python_objects_is_counted_not_just_its_pointers():
    """The flights tutorial reads ``TailNum`` as ``object``: counted at 8 bytes a row it
    was an eighth of its size in the memory panes, the reports and spilling."""
    text = pd.Series([f"N{i:05d}XX" for i in range(50_000)], dtype=object)
    frame = pd.DataFrame({"tail": text, "n": range(50_000),
                          "s": text.astype("string[python]")})  # fmt: skip
    for value in (text, frame, frame.set_index("tail"), text.to_frame()):
        deep = value.memory_usage(deep=True)
        deep = int(getattr(deep, "sum", lambda: deep)())
        assert abs(sizeof(value) - deep) <= 0.1 * deep, type(value)
    assert sizeof(text) > 6 * text.memory_usage(deep=False)  # (what it said before)


def test_frames_of_numbers_and_arrow_text_are_their_buffers():
    numbers = pd.DataFrame({"x": range(1000), "y": [0.5] * 1000})
    assert sizeof(numbers) == int(numbers.memory_usage(deep=False, index=True).sum())
    arrow = pd.Series([f"k{i}" for i in range(1000)], dtype="str")
    if getattr(arrow.dtype, "storage", None) == "pyarrow":  # (its buffers are its size)
        assert sizeof(arrow) == int(arrow.memory_usage(deep=False, index=True))
    assert sizeof(pd.DataFrame({"o": pd.Series([], dtype=object)})) > 0


def test_arrays_pandas_shows_as_objects_are_not_counted_as_objects():
    """Categorical, period and interval columns and a MultiIndex say ``kind`` "O" but hold
    arrays: sampling them as Python objects said 55 times a categorical's size, and
    turning them into objects took a second a million rows."""
    import numpy as np

    n = 100_000
    for value in (pd.Series(pd.Categorical(np.arange(n) % 3)),
                  pd.Series(pd.period_range("2000", periods=n, freq="D")),
                  pd.Series(pd.interval_range(0, n)),
                  pd.DataFrame({"v": range(n)}, index=pd.MultiIndex.from_arrays(
                      [np.arange(n), np.arange(n)])),
                  pd.DataFrame([["a", "b"]] * 10, columns=["x", "x"])):  # fmt: skip
        deep = value.memory_usage(deep=True)
        deep = int(getattr(deep, "sum", lambda: deep)())
        assert abs(sizeof(value) - deep) <= 0.1 * deep + 200, value.dtypes if hasattr(
            value, "columns") else value.dtype  # fmt: skip


class _Raises:
    def __sizeof__(self):
        raise ValueError("cannot say")


class _Negative:
    def __sizeof__(self):
        return -7


class _Enormous:
    def __sizeof__(self):
        return 10**30


class _Buffer:
    def __init__(self, nbytes):
        self.nbytes = nbytes


class _Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text")

    __repr__ = __str__


class _RaisesUnprintable:
    def __sizeof__(self):
        raise _Unprintable()


def test_a_size_that_cannot_be_had_is_a_guess_and_a_huge_one_is_capped(caplog, monkeypatch):
    """``__sizeof__`` and ``nbytes`` are user code: a failure or a negative size counts as
    UNKNOWN_SIZE (one warning per type), a size past MAX_SIZE as MAX_SIZE, so a worker's
    accounting and its messages (64-bit sizes) never fail on a result."""
    from shoal import sizeof as module
    from shoal.sizeof import MAX_SIZE, UNKNOWN_SIZE

    monkeypatch.setattr(module, "_warned", set())  # (the warnings of earlier runs forgotten)
    with caplog.at_level("WARNING", logger="shoal.sizeof"):
        assert sizeof(_Raises()) == sizeof(_Raises()) == UNKNOWN_SIZE
        assert sizeof(_Negative()) == sizeof(_Buffer(-100_000)) == UNKNOWN_SIZE
        assert sizeof(_RaisesUnprintable()) == UNKNOWN_SIZE  # (its error's text raises too)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 4 and "test_sizeof._Raises could not be measured" in warned[0], warned
    assert "(_Unprintable)" in warned[3], warned
    assert sizeof(_Enormous()) == sizeof(_Buffer(10**30)) == MAX_SIZE
    assert sizeof([_Buffer(2**62)] * 5) == MAX_SIZE  # (five of them: past 2**64 unclamped)
    # a container holding what cannot be measured is one guess, not one per item
    assert sizeof([_Raises()] * 100_000) == sizeof({"a": _Negative()}) == UNKNOWN_SIZE
    assert sizeof(_Buffer(1000)) == 1100
