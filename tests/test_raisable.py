"""shoal.local.remote_errors.raisable: the copy of a kept exception a client raises."""

import pytest

from shoal.local.remote_errors import RemoteTaskError, raisable

pytestmark = pytest.mark.timeout(30)


class Field(Exception):
    def __init__(self, what):  # formats its message: running it again would do it twice
        super().__init__(f"bad field {what}")


class Coded(Exception):
    def __init__(self, *, code):
        super().__init__(f"code {code}")
        self.code = code


class MyOSError(OSError):
    pass


@pytest.fixture(params=["plain", "tblib"])
def reduce_patched(request):
    """Also with tblib's pickling support installed (importing dask.distributed, the
    tests' oracle, installs it for every exception class: copy.copy then differed)."""
    if request.param == "tblib":
        tblib = pytest.importorskip("tblib.pickling_support")
        tblib.install()
    return request.param


@pytest.mark.parametrize("exc", [
    Field("x"), Coded(code=3), RemoteTaskError("Custom", "msg"), KeyError("k"),
    FileNotFoundError(2, "nope", "f.txt"), MyOSError(2, "nope", "g.txt"),
    SyntaxError("bad", ("f.py", 3, 4, "x = ", 3, 5)), SystemExit(3), StopIteration(7),
], ids=lambda e: type(e).__name__)  # fmt: skip
def test_a_copy_that_says_the_same(exc, reduce_patched):
    fresh = raisable(exc)
    assert fresh is not exc and type(fresh) is type(exc)
    assert str(fresh) == str(exc) and fresh.args == exc.args
    for name in ("code", "filename", "lineno", "value", "errno"):
        assert getattr(fresh, name, None) == getattr(exc, name, None), name


def test_notes_cause_and_context_are_carried_and_the_kept_one_stays_as_it_was(reduce_patched):
    cause = ValueError("root")
    exc = RuntimeError("top")
    exc.__cause__ = cause
    exc.add_note("shoal: raised by the task computing key x")
    fresh = raisable(exc)
    assert fresh.__cause__ is cause and fresh.__notes__ == exc.__notes__
    fresh.add_note("the caller's own note")
    assert exc.__notes__ == ["shoal: raised by the task computing key x"]
    try:
        raise fresh
    except RuntimeError:
        pass
    assert exc.__traceback__ is None  # the frames it went through hang on the copy only


def test_an_exception_that_cannot_be_copied_is_raised_itself():
    class Odd(Exception):
        def __new__(cls, *args):
            if args != ("made",):
                raise TypeError("only made one way")
            return super().__new__(cls, *args)

    odd = Odd("made")
    odd.args = ("changed since",)
    assert raisable(odd) is odd
