"""Keys: the names of the values in a task graph.

A key is a ``str`` or a tuple whose first element is a ``str`` name followed by
indices, e.g. ``("read-csv-1f2e", 3)``.  Other hashables (``int``, ``bytes``,
``float``) are accepted as graph keys for Dask compatibility.  Inside a legacy
task's arguments a ``str``, ``tuple``, ``int`` or ``float`` that is a key of its
graph is a reference to it, as in Dask (``{5: (inc, "a"), "b": (inc, 5)}``: ``b``
is ``inc`` of key 5's value); ``bytes`` and a ``bool`` never are.  So a literal
``1`` turns into a dependency only in a graph that has a key ``1``.

Keys that go to another process (the process pool, the cluster) must name the same
task there: :func:`check_portable_keys` refuses a NaN (unequal to itself) and types a
message cannot carry, naming the key, before anything is sent.

``key_split`` gives a key's *prefix*: the human part of its name that groups tasks
in progress bars and the dashboard (``"inc-8f1e..."`` -> ``"inc"``,
``("sum-aggregate-ab12", 0)`` -> ``"sum-aggregate"``).
"""

from __future__ import annotations

import numbers
import re

__all__ = ["check_portable_keys", "is_key_like", "key_split", "key_str", "validate_key"]

_KEY_TYPES = (str, bytes, int, float, tuple)


def is_key_like(x) -> bool:
    """True for values that may stand for a key inside task arguments.

    >>> is_key_like("x"), is_key_like(("x", 0)), is_key_like(1), is_key_like(True)
    (True, True, True, False)
    """
    return type(x) in _REFERABLE


_REFERABLE = frozenset({str, tuple, int, float})  # exact types: a bool is no key


def validate_key(key) -> None:
    """Raise ``TypeError`` naming *key* when it cannot be a graph key.

    >>> validate_key(("x", 1))
    >>> validate_key(["x"])
    Traceback (most recent call last):
    ...
    TypeError: unexpected key type list (key ['x']): keys are str or tuples like ('name', 0)
    """
    t = type(key)
    if t is tuple:
        for part in key:
            validate_key(part)
        return
    if not isinstance(key, _KEY_TYPES):
        raise TypeError(
            f"unexpected key type {t.__name__} (key {key!r}): "
            "keys are str or tuples like ('name', 0)"
        )


def check_portable_keys(keys, where: str, wire: bool = True) -> None:
    """Raise naming the first of *keys* that cannot go to another process and still name
    the same task there: a NaN anywhere in it (unequal to itself: read in another process
    it named no task, and a task waited for good or failed with a bare KeyError), and with
    *wire* (the cluster's messages, not the process pool's pickles) a key other than str,
    bytes, bool, None, a 64-bit integer, a float or tuples of those (``1j`` was dropped
    with its whole graph, and its futures waited for good).

    >>> check_portable_keys(["x", ("x", 1), 2.5, None], "submit")
    >>> check_portable_keys([("x", float("nan"))], "submit")
    Traceback (most recent call last):
    ...
    ValueError: submit: the key ('x', nan) holds a NaN, which is not equal to itself: in another process it would name no task
    >>> check_portable_keys([1j], "processes", wire=False)
    """
    for key in keys:
        t = type(key)  # (the common keys, names and tuples of names and indices, at once)
        if t is str or t is tuple and all(type(p) is str or type(p) is int and -2**63 <= p < 2**64
                                          for p in key):  # fmt: skip
            continue
        problem = _portable_problem(key, wire)
        if problem is not None:
            error = ValueError if "NaN" in problem else TypeError
            raise error(f"{where}: the key {key!r} {problem}")


def _portable_problem(key, wire: bool):
    if isinstance(key, (str, bytes, bool)) or key is None:
        return None
    if isinstance(key, tuple):
        for part in key:
            problem = _portable_problem(part, wire)
            if problem is not None:
                return problem
        return None
    if isinstance(key, numbers.Integral):
        return None if not wire or -2**63 <= int(key) < 2**64 else "is an integer past 64 bits"
    if isinstance(key, numbers.Number) and key != key:
        return ("holds a NaN, which is not equal to itself: in another process it would name "
                "no task")
    if isinstance(key, numbers.Real) or not wire:
        return None
    return (f"is of type {type(key).__name__}: keys sent to the cluster are str, bytes, int, "
            "float or tuples of them")


def _is_token(word: str) -> bool:
    """A word that ends a name: anything but letters (``6e1f5a2b``, ``0``, ``x1``) or
    eight hex letters (a short token that happens to have no digit)."""
    return not word.isalpha() or (len(word) == 8 and _HEX_LETTERS.match(word) is not None)


_HEX_LETTERS = re.compile(r"[a-f]{8}$")
_DATA = re.compile(r"[0-9a-f]{32}$")  # a bare token: scattered or stored data
_prefix_cache: dict = {}  # name (or a key without a token) -> its split; see key_split
_CACHE_LIMIT = 100_000


def key_split(key) -> str:
    """The prefix of a key: its name without tokens and indices, as Dask's progress
    bars and dashboard group tasks (the same prefix for the same key).

    >>> key_split("inc-6e1f5a2b9c")
    'inc'
    >>> key_split(("sum-aggregate-0f3c9a11", 2))
    'sum-aggregate'
    >>> key_split("_mean_chunk-0f3c9a11"), key_split("<lambda>-0f3c9a11")
    ('mean_chunk', 'lambda')
    >>> key_split("0f3c9a110f3c9a110f3c9a110f3c9a11"), key_split(42)
    ('data', 'Other')

    The first word is kept whatever it is; one that does not start with a letter
    loses its quotes, brackets and underscores (a tuple key written as text, a
    private function's name).  The words after it are kept up to the first token
    (:func:`_is_token`).  A 32-hex name is ``data``; ``<name ...>`` gives ``name``;
    a key that is no text, or leaves nothing, is ``Other``.

    Keys are nearly all ``name-token``, a new token per task and few names, so
    the split is cached by the part before the last ``-`` when what follows is a
    token: a cache by whole key would miss on every new task and fill up with
    keys long gone.
    """
    if type(key) is tuple:
        key = key[0] if key else ""
    if type(key) is bytes:
        key = key.decode(errors="replace")
    if type(key) is not str:
        return "Other"
    head, dash, tail = key.rpartition("-")
    name = head if dash and _is_token(tail) else key
    prefix = _prefix_cache.get(name)
    if prefix is None:
        prefix = _split(name)
        if len(_prefix_cache) < _CACHE_LIMIT:
            _prefix_cache[name] = prefix
    return prefix


def _split(name: str) -> str:
    """*name*'s prefix (see :func:`key_split`)."""
    words = name.split("-")
    first = words[0]
    if not first:  # ("-x": no name at all)
        return "Other"
    if not first[:1].isalpha():
        first = first.split(",")[0].strip("_'()\"")
    kept = [first]
    for word in words[1:]:
        if _is_token(word):
            break
        kept.append(word)
    prefix = "-".join(kept)
    if _DATA.match(prefix):
        return "data"
    if prefix[:1] == "<":
        inner = prefix.strip("<>").split()
        prefix = inner[0].split(".")[-1] if inner else ""
    return prefix or "Other"


def key_str(key) -> str:
    """A readable, stable text form of a key (for logs and graph pictures).

    >>> key_str(("x", 1, 2))
    "('x', 1, 2)"
    """
    return key if type(key) is str else repr(key)
