"""Bad arguments to the diagnostics are named in the error, before any work is done."""

from __future__ import annotations

import pytest

from shoal.distributed import performance_report, progress


def inc(x):
    return x + 1


@pytest.mark.parametrize("call, message", [
    (lambda c: c.get_task_stream(count="abc"), r"count='abc': expected a number of tasks"),
    (lambda c: c.get_task_stream(start=[1]), r"start=\[1\]: expected seconds since the epoch"),
    (lambda c: c.get_task_stream(stop={}), r"stop=\{\}: expected seconds"),
    (lambda c: c.get_task_stream(start="soon"), r"start='soon': not a duration"),
    (lambda c: c.profile(start=True), r"start=True: expected seconds"),
    (lambda c: c.profile(workers=5), r"workers=5: expected a worker's address or a list"),
    (lambda c: c.profile(workers=["tcp://a:1", 2]), r"workers=.*: 2 is not a worker's address"),
])  # fmt: skip
def test_task_stream_and_profile_name_the_bad_argument(c, call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call(c)


def test_progress_names_a_bad_interval_or_width(c):
    f = c.submit(inc, 1)
    assert f.result() == 2
    with pytest.raises(ValueError, match=r"interval='bogus': expected a positive, finite duration"):
        progress(f, interval="bogus", notebook=False)
    for bad in (float("inf"), float("nan"), -1, 0):  # (inf never redrew: the call hung)
        with pytest.raises(ValueError, match=r"interval=.*: expected a positive, finite duration"):
            progress(f, interval=bad, notebook=False)
    with pytest.raises(TypeError, match=r"out=5: expected a text stream"):
        progress(f, out=5, notebook=False)  # (was an AttributeError at the first redraw)
    with pytest.raises(ValueError, match=r"width='x': expected a number of characters"):
        progress(f, width="x", notebook=False)


def test_progress_of_nothing_draws_a_full_bar_and_of_an_unpersisted_collection_says_so(c):
    """As Dask's: ``progress([])`` (a list that came out empty) draws a finished bar;
    something that holds no futures is an error; Dask's ``scheduler=`` is taken."""
    import io

    from shoal import delayed

    for args in [(), ([],), ({}, [()]), ({"a": []},)]:
        out = io.StringIO()
        assert progress(*args, out=out, notebook=False, scheduler=c.scheduler_address) is None
        assert out.getvalue() == "\r[" + "#" * 40 + "] | 100% Completed |  0.0s\n", args
    for args in [(delayed(inc)(1),), (5,), ([[], 5],)]:
        with pytest.raises(ValueError, match="no futures found in the arguments"):
            progress(*args, notebook=False)
    with pytest.raises(ValueError, match=r"group_by='spans': .* \(shoal has no spans\)"):
        progress(c.submit(inc, 1), group_by="spans", notebook=False)


def test_performance_report_names_a_missing_filename_before_the_block_runs(c):
    ran = []
    with pytest.raises(TypeError, match=r"filename=None: expected the path"):
        with performance_report(filename=None):
            ran.append(c.submit(inc, 1).result())
    assert ran == []  # (not after the computation it was to report on)
