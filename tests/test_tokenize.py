"""Tests for shoal.core.tokenize and shoal.core.dispatch."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
try:
    import shoal  # noqa: F401
except ImportError:  # running from a checkout without an install
    sys.path.insert(0, str(ROOT))

from shoal.core.dispatch import Dispatch
from shoal.core.tokenize import normalize_token, tokenize


def run_python(code: str, hashseed: str = "0") -> str:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=str(ROOT),
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


# ------------------------------------------------------------ basics --------


def test_token_shape():
    tok = tokenize(1, "a", b=2)
    assert isinstance(tok, str) and len(tok) == 32
    int(tok, 16)


@pytest.mark.parametrize(
    "obj",
    [
        1, -7, 2**100, 1.5, float("nan"), float("inf"), -0.0, 1 + 2j, "abc", "",
        "\ud800", b"xyz", True, None, ..., NotImplemented, slice(1, None, 2), range(3, 9),
        decimal.Decimal("1.10"), datetime.datetime(2024, 1, 2, 3, 4, 5),
        datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc), datetime.date(2024, 1, 2),
        datetime.time(1, 2), datetime.timedelta(days=1, seconds=3), pathlib.PurePosixPath("a/b"),
        [1, [2, (3, "x")]], (1, (2, [3])), {"a": 1, "b": [2, {"c": 3}]}, {1, 2, 3},
        frozenset({"x", "y"}), bytearray(b"ab"), {"x": {1.5, 2.5}}, len, int, os.path.join,
    ],
)
def test_equal_inputs_give_equal_tokens(obj):
    import copy

    assert tokenize(obj) == tokenize(obj)
    try:
        clone = copy.deepcopy(obj)
    except TypeError:
        clone = obj
    assert tokenize(clone) == tokenize(obj)


def test_types_are_distinguished():
    values = [
        1, 1.0, "1", b"1", True, 1 + 0j, [1], (1,), {1}, frozenset({1}), {1: None},
        None, "None", ..., "Ellipsis", decimal.Decimal(1), range(1), slice(1),
        (1, 2), ((1, 2),), [[1, 2]], ([1, 2],), 0, False, -0.0, 0.0,
    ]
    tokens = [tokenize(v) for v in values]
    assert len(set(tokens)) == len(values)


def test_args_and_kwargs_are_distinguished():
    assert tokenize(1, 2) != tokenize((1, 2))
    assert tokenize(1, 2) != tokenize(2, 1)
    assert tokenize(1, a=2) != tokenize(1, {"a": 2})
    assert tokenize(a=1) != tokenize(a=2)
    assert tokenize(a=1, b=2) == tokenize(b=2, a=1)
    assert tokenize() != tokenize(None)


def test_dict_order_is_irrelevant_but_values_matter():
    d1 = {"a": 1, "b": 2, 3: "c", (4, 5): [6]}
    d2 = {(4, 5): [6], 3: "c", "b": 2, "a": 1}
    assert tokenize(d1) == tokenize(d2)
    assert tokenize(d1) != tokenize({**d1, "a": 10})
    assert tokenize({"a": 1}) != tokenize({"a": 1.0})
    assert tokenize({"a": 1}) != tokenize([("a", 1)])


def test_sets_ignore_order():
    words = [f"w{i}" for i in range(50)]
    assert tokenize(set(words)) == tokenize(set(reversed(words)))
    assert tokenize(frozenset(words)) == tokenize(frozenset(reversed(words)))
    assert tokenize(set(words)) != tokenize(set(words[:-1]))
    assert tokenize({1, "1", 1.5}) == tokenize({1.5, "1", 1})


def test_container_subclasses_keep_their_type():
    from collections import OrderedDict, defaultdict, namedtuple

    Point = namedtuple("Point", "x y")
    assert tokenize(Point(1, 2)) != tokenize((1, 2))
    assert tokenize(Point(1, 2)) == tokenize(Point(1, 2))
    assert tokenize(defaultdict(list, a=1)) != tokenize({"a": 1})
    assert tokenize(defaultdict(list, a=1)) != tokenize(defaultdict(set, a=1))
    assert tokenize(OrderedDict(a=1)) == tokenize(OrderedDict(a=1))


def test_enums():
    class Color(enum.Enum):
        RED = 1
        GREEN = 2

    class Level(enum.IntEnum):
        LOW = 1

    assert tokenize(Color.RED) == tokenize(Color.RED)
    assert tokenize(Color.RED) != tokenize(Color.GREEN)
    assert tokenize(Level.LOW) != tokenize(1)


def test_huge_integers():
    assert tokenize(10**5000) != tokenize(10**5000 + 1)
    assert tokenize([10**5000, "a"]) == tokenize([10**5000, "a"])


# -------------------------------------------------------- recursion --------


def test_recursive_list_and_dict_terminate():
    a = [1, 2]
    a.append(a)
    b = [1, 2]
    b.append(b)
    assert tokenize(a) == tokenize(b)
    assert tokenize(a) != tokenize([1, 2, [1, 2]])

    d = {"x": 1}
    d["self"] = d
    assert tokenize(d) == tokenize(d)

    t = ([],)
    t[0].append(t)
    assert tokenize(t) == tokenize(t)


def test_shared_references_are_not_cycles():
    inner = [1, 2]
    assert tokenize([inner, inner]) == tokenize([[1, 2], [1, 2]])


def test_recursive_dataclass_and_function():
    @dataclasses.dataclass
    class Node:
        value: int
        children: list

    n = Node(1, [])
    n.children.append(n)
    assert tokenize(n) == tokenize(n)

    def fact(k):
        return 1 if k <= 1 else k * fact(k - 1)

    assert tokenize(fact) == tokenize(fact)


# -------------------------------------------------------- functions --------


def top_level_function(x):
    return x + 1


def other_top_level_function(x):
    return x + 1


def test_named_functions_are_tokenized_by_name():
    assert tokenize(top_level_function) == tokenize(top_level_function)
    assert tokenize(top_level_function) != tokenize(other_top_level_function)
    assert tokenize(len) != tokenize(sum)
    assert tokenize(os.path.join) == tokenize(os.path.join)


def test_lambdas_by_code():
    f1 = lambda x: x + 1  # noqa: E731
    f2 = lambda x: x + 1  # noqa: E731
    f3 = lambda x: x + 2  # noqa: E731
    f4 = lambda y: y * 1  # noqa: E731
    assert tokenize(f1) == tokenize(f2)
    assert tokenize(f1) != tokenize(f3)
    assert tokenize(f1) != tokenize(f4)


def test_closures_and_defaults():
    def make_adder(n):
        return lambda x: x + n

    def make_default(n):
        def f(x, y=n):
            return x + y

        return f

    assert tokenize(make_adder(1)) == tokenize(make_adder(1))
    assert tokenize(make_adder(1)) != tokenize(make_adder(2))
    assert tokenize(make_adder([1, 2])) != tokenize(make_adder([1, 3]))
    assert tokenize(make_default(1)) == tokenize(make_default(1))
    assert tokenize(make_default(1)) != tokenize(make_default(2))


def test_nested_code_constants_matter():
    def outer1():
        return lambda: 1

    def outer2():
        return lambda: 2

    # Same name, different nested code objects.
    outer2.__code__ = outer2.__code__.replace(co_name="outer1")
    assert tokenize(outer1) != tokenize(outer2)


def test_partial_method_and_builtin_method():
    p = functools.partial(top_level_function, 1)
    assert tokenize(p) == tokenize(functools.partial(top_level_function, 1))
    assert tokenize(p) != tokenize(functools.partial(top_level_function, 2))
    assert tokenize(p) != tokenize(functools.partial(top_level_function, x=1))

    @dataclasses.dataclass
    class Box:
        n: int

        def get(self):
            return self.n

    assert tokenize(Box(1).get) == tokenize(Box(1).get)
    assert tokenize(Box(1).get) != tokenize(Box(2).get)
    assert tokenize([1].append) != tokenize([2].append)
    assert tokenize([1].append) != tokenize([1].extend)


def test_toolz_curry():
    toolz = pytest.importorskip("toolz")
    c1 = toolz.curry(top_level_function)
    assert tokenize(c1) == tokenize(toolz.curry(top_level_function))
    assert tokenize(toolz.curry(max, 1)) != tokenize(toolz.curry(max, 2))


# -------------------------------------------------------------- objects ----


@dataclasses.dataclass
class Point:
    x: int
    y: object = None


class Plain:
    def __init__(self, a):
        self.a = a


def test_dataclasses_by_fields():
    assert tokenize(Point(1, [2])) == tokenize(Point(1, [2]))
    assert tokenize(Point(1, [2])) != tokenize(Point(1, [3]))
    assert tokenize(Point(1)) != tokenize((1, None))


def test_plain_objects_via_pickle():
    assert tokenize(Plain(1)) == tokenize(Plain(1))
    assert tokenize(Plain(1)) != tokenize(Plain(2))


def test_dask_tokenize_protocol_is_honoured():
    class Thing:
        def __init__(self, name):
            self.name = name
            self.lock = threading.Lock()  # unpicklable: the protocol must win

        def __dask_tokenize__(self):
            return ("thing", self.name)

    class Both(Thing):
        def __shoal_tokenize__(self):
            return ("shoal", self.name)

    assert tokenize(Thing("a")) == tokenize(Thing("a"))
    assert tokenize(Thing("a")) != tokenize(Thing("b"))
    assert tokenize(Both("a")) == tokenize(Both("a"))
    assert tokenize(Both("a")) != tokenize(Thing("a"))
    # __shoal_tokenize__ is checked first.
    assert normalize_token(Both("a"))[1] == ("shoal", "a")


class Unpicklable:
    def __init__(self):
        self.lock = threading.Lock()


def test_unpicklable_gets_random_token_by_default():
    obj = Unpicklable()
    assert tokenize(obj) != tokenize(obj)


def test_ensure_deterministic_raises():
    try:
        from shoal import config
    except ImportError:
        pytest.skip("shoal.config is not available yet")
    if not hasattr(config, "set"):
        pytest.skip("shoal.config.set is not available yet")
    with config.set({"tokenize.ensure-deterministic": True}):
        with pytest.raises(RuntimeError, match="Unpicklable"):
            tokenize(Unpicklable())
        assert tokenize(Plain(1)) == tokenize(Plain(1))
    obj = Unpicklable()
    assert tokenize(obj) != tokenize(obj)


# ------------------------------------------------------------- numpy -------


def test_numpy_arrays():
    np = pytest.importorskip("numpy")
    x = np.arange(12, dtype="i8").reshape(3, 4)
    assert tokenize(x) == tokenize(x.copy())
    assert tokenize(x) != tokenize(x.astype("i4"))
    assert tokenize(x) != tokenize(x.reshape(4, 3))
    assert tokenize(x) != tokenize(x + 1)
    assert tokenize(x) != tokenize(x.tolist())
    # Non-contiguous views hash their logical contents.
    assert tokenize(x.T) == tokenize(np.ascontiguousarray(x.T))
    assert tokenize(x[:, ::2]) == tokenize(x[:, ::2].copy())
    assert tokenize(np.asfortranarray(x)) == tokenize(x)
    assert tokenize(np.zeros((0, 3))) != tokenize(np.zeros((3, 0)))
    assert tokenize(np.array(5)) != tokenize(np.array([5]))


def test_numpy_special_dtypes_scalars_and_ufuncs():
    np = pytest.importorskip("numpy")
    dates = np.array(["2020-01-01", "2021-01-01"], dtype="M8[D]")
    assert tokenize(dates) == tokenize(dates.copy())
    assert tokenize(dates) != tokenize(dates.astype("M8[s]"))
    objs = np.array([1, "a", None], dtype=object)
    assert tokenize(objs) == tokenize(objs.copy())
    assert tokenize(objs) != tokenize(np.array([1, "b", None], dtype=object))
    strs = np.array(["a", "bc"])
    assert tokenize(strs) == tokenize(np.array(["a", "bc"]))
    rec = np.zeros(3, dtype=[("a", "i4"), ("b", "f8")])
    assert tokenize(rec) == tokenize(rec.copy())
    masked = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    assert tokenize(masked) != tokenize(np.ma.masked_array([1, 2, 3], mask=[0, 0, 0]))
    assert tokenize(np.float64(1)) != tokenize(1.0)
    assert tokenize(np.float64(1)) != tokenize(np.float32(1))
    assert tokenize(np.int64(1)) == tokenize(np.int64(1))
    assert tokenize(np.dtype("f8")) != tokenize(np.dtype("f4"))
    assert tokenize(np.add) == tokenize(np.add)
    assert tokenize(np.add) != tokenize(np.multiply)
    assert tokenize(np.sum) != tokenize(np.mean)


# ------------------------------------------------------------- pandas ------


def test_pandas_objects():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "a": [1, 2, 3],
            "b": ["x", "y", "z"],
            "c": pd.to_datetime(["2020", "2021", "2022"]),
            "d": pd.array([1, None, 3], dtype="Int64"),
            "e": pd.Categorical(["u", "v", "u"]),
        }
    )
    assert tokenize(df) == tokenize(df.copy())
    assert tokenize(df) != tokenize(df.assign(a=[1, 2, 4]))
    assert tokenize(df) != tokenize(df.rename(columns={"a": "A"}))
    assert tokenize(df) != tokenize(df.set_axis([5, 6, 7]))
    assert tokenize(df) != tokenize(df.astype({"a": "f8"}))

    s = df["a"]
    assert tokenize(s) == tokenize(s.copy())
    assert tokenize(s) != tokenize(s.rename("z"))
    assert tokenize(s) != tokenize(s.to_numpy())

    idx = pd.Index(["a", "b"], name="n")
    assert tokenize(idx) == tokenize(pd.Index(["a", "b"], name="n"))
    assert tokenize(idx) != tokenize(idx.rename("m"))
    assert tokenize(pd.RangeIndex(5)) != tokenize(pd.RangeIndex(6))
    mi = pd.MultiIndex.from_product([[1, 2], ["a", "b"]])
    assert tokenize(mi) == tokenize(pd.MultiIndex.from_product([[1, 2], ["a", "b"]]))
    assert tokenize(mi) != tokenize(pd.MultiIndex.from_product([[1, 3], ["a", "b"]]))

    cat = pd.Categorical(["a", "b"], categories=["a", "b", "c"])
    assert tokenize(cat) != tokenize(pd.Categorical(["a", "b"]))
    assert tokenize(cat.dtype) == tokenize(pd.CategoricalDtype(["a", "b", "c"]))
    assert tokenize(pd.Timestamp("2020-01-01")) != tokenize(pd.Timestamp("2020-01-02"))
    assert tokenize(pd.Timestamp("2020", tz="UTC")) != tokenize(pd.Timestamp("2020"))
    assert tokenize(pd.Timedelta("1s")) != tokenize(pd.Timedelta("2s"))
    assert tokenize(pd.NaT) == tokenize(pd.NaT)


# ----------------------------------------------- determinism across processes


DETERMINISM_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import pandas as pd
    from shoal.core.tokenize import tokenize

    def make_adder(n):
        return lambda x: x + n

    objects = {
        "str-dict": {"alpha": 1, "beta": [2.5, "x"], "gamma": {"nested": None}},
        "str-set": {"apple", "banana", "cherry", "date", "elderberry"},
        "lambda": lambda x, y=3: (x * y, "const", {"k"}),
        "closure": make_adder(5),
        "array": np.arange(20, dtype="f8").reshape(4, 5).T,
        "frame": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=["r", "s"]),
        "mixed": (1, 1.0, "1", b"1", None, frozenset({"p", "q"})),
    }
    print(json.dumps({k: tokenize(v) for k, v in objects.items()}))
    """
)


def test_tokens_are_deterministic_across_processes_and_hash_seeds():
    pytest.importorskip("numpy")
    pytest.importorskip("pandas")
    namespace = {"__name__": "__main__"}
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        # dont_inherit: keep this module's __future__ flags out of the code objects
        exec(compile(DETERMINISM_SCRIPT, "<script>", "exec", dont_inherit=True), namespace)
    here = json.loads(buf.getvalue())
    seed0 = json.loads(run_python(DETERMINISM_SCRIPT, "0"))
    seed123 = json.loads(run_python(DETERMINISM_SCRIPT, "123"))
    assert seed0 == seed123 == here
    assert len(set(here.values())) == len(here)


def test_import_does_not_pull_in_numpy_or_pandas():
    out = run_python(
        "import shoal.core.tokenize as t, sys\n"
        "t.tokenize(1, 'a', [1.5], {'k': (2,)}, {3}, lambda x: x)\n"
        "print('numpy' in sys.modules, 'pandas' in sys.modules)"
    )
    assert out.split() == ["False", "False"]


# ---------------------------------------------------------------- speed ----


def test_small_tuples_are_fast():
    args = (1, "abc", 2.5, ("x", 3))
    tokenize(*args)
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        tokenize(*args)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 50e-6, f"{per_call * 1e6:.1f} us per tokenize call"


def test_thread_safety():
    data = [{"a": [i, {i}], "b": (i, str(i))} for i in range(200)]
    expected = [tokenize(d) for d in data]
    results = {}

    def work(k):
        results[k] = [tokenize(d) for d in data]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results.values())


# ------------------------------------------------------------- dispatch ----


def test_dispatch_follows_mro():
    d = Dispatch("describe")

    class A:
        pass

    class B(A):
        pass

    class C(B):
        pass

    d.register(A, lambda x: "A")

    @d.register(B)
    def _(x):
        return "B"

    assert d(A()) == "A"
    assert d(B()) == "B"
    assert d(C()) == "B"
    assert d.dispatch(C) is d.dispatch(B)

    # Registering later invalidates cached lookups.
    d.register(C, lambda x: "C")
    assert d(C()) == "C"


def test_dispatch_tuple_registration_and_extra_args():
    d = Dispatch("add")
    d.register((int, float), lambda x, y=0, *, z=0: x + y + z)
    assert d(1, 2, z=3) == 6
    assert d(1.5) == 1.5
    with pytest.raises(TypeError, match="str"):
        d("nope")


def test_dispatch_error_names_type():
    d = Dispatch("sizer")

    class Mystery:
        pass

    with pytest.raises(TypeError, match=r"sizer.*Mystery"):
        d(Mystery())


def test_register_lazy_runs_once_on_first_use():
    d = Dispatch("lazy")
    calls = []
    Fake = type("Fake", (), {"__module__": "fakepkg.sub.module"})
    Other = type("Other", (), {"__module__": "otherpkg"})

    @d.register_lazy("fakepkg")
    def load():
        calls.append(1)
        d.register(Fake, lambda x: "fake")

    d.register(object, lambda x: "object")
    assert d(1) == "object"
    assert d(Other()) == "object"
    assert calls == []
    assert d(Fake()) == "fake"
    assert d(Fake()) == "fake"
    assert calls == [1]

    # A subclass defined elsewhere triggers the loader of its base's package.
    d2 = Dispatch("lazy2")
    d2.register_lazy("fakepkg", lambda: d2.register(Fake, lambda x: "fake2"))
    Sub = type("Sub", (Fake,), {"__module__": "user"})
    assert d2(Sub()) == "fake2"


def test_register_rejects_non_types():
    d = Dispatch("strict")
    with pytest.raises(TypeError, match="can only register types"):
        d.register("int", lambda x: x)


def test_lazy_loader_blocks_concurrent_first_use():
    d = Dispatch("slow-lazy")
    d.register(object, lambda x: "object")
    Fake = type("Fake", (), {"__module__": "slowpkg"})
    started = threading.Event()

    def load():
        started.set()
        time.sleep(0.2)
        d.register(Fake, lambda x: "fake")

    d.register_lazy("slowpkg", load)
    results = []
    first = threading.Thread(target=lambda: results.append(d(Fake())))
    first.start()
    started.wait(5)
    results.append(d(Fake()))  # must wait for the loader, not fall back to object
    first.join()
    assert results == ["fake", "fake"]


def test_module_level_constants_used_by_lambdas():
    src = "offset = {}\nf = lambda x: x + offset\n"
    ns1, ns2, ns3 = {"__name__": "__main__"}, {"__name__": "__main__"}, {"__name__": "__main__"}
    exec(src.format(1), ns1)
    exec(src.format(2), ns2)
    exec(src.format(1), ns3)
    assert tokenize(ns1["f"]) != tokenize(ns2["f"])
    assert tokenize(ns1["f"]) == tokenize(ns3["f"])


def test_future_flags_do_not_change_function_tokens():
    plain = compile("f = lambda x: x + 1", "<a>", "exec", dont_inherit=True)
    future = compile(
        "from __future__ import annotations\nf = lambda x: x + 1", "<b>", "exec", dont_inherit=True
    )
    ns1, ns2 = {}, {}
    exec(plain, ns1)
    exec(future, ns2)
    assert tokenize(ns1["f"]) == tokenize(ns2["f"])


def test_str_subclass_with_custom_str():
    class Weird(str):
        def __str__(self):
            return "something else"

    assert tokenize(Weird("a")) == tokenize(Weird("a"))
    assert tokenize(Weird("a")) != tokenize(Weird("b"))
    assert tokenize(Weird("a")) != tokenize("a")


def test_key_split_gives_dasks_prefixes():
    """The prefixes Dask's dashboard shows for the same keys (its progress bars and
    task stream group by them): keys of Dask's dataframe and array graphs, tuple keys
    written as text, private functions, bare tokens, odd keys."""
    from shoal.core.keys import key_split

    cases = {"_mean_chunk-0f3c9a11aa": "mean_chunk", ("_mean_agg-0f3c9a11aa", 0): "mean_agg",
             "('sum-aggregate-0f3c9a11', 0, 1)": "sum-aggregate", "('x', 1)": "x",
             "6e1f5a2b9c0d4e3f6e1f5a2b9c0d4e3f": "data", "<function foo at 0x7f>-abc": "function",
             "finalize-hlgfinalizecompute-0f3c9a11aa": "finalize-hlgfinalizecompute",
             "x-defacedbeef": "x-defacedbeef", "x-defacedb": "x", "x-defacedbeef-0": "x-defacedbeef",
             "sum-chunk-0f3c9a11aa": "sum-chunk", 42: "Other", 4.5: "Other", None: "Other",
             b"inc-6e1f5a2b9c": "inc", "getitem-2-0f3c": "getitem", "-foo-abc12345": "Other"}  # fmt: skip
    for key, prefix in cases.items():
        assert key_split(key) == prefix, key
    dask_utils = pytest.importorskip("dask.utils")  # the oracle, where installed
    for key in cases:
        assert key_split(key) == dask_utils.key_split(key), key


def test_key_split_caches_by_name_so_new_tasks_add_nothing():
    from shoal.core import keys
    from shoal.core.tokenize import tokenize

    cases = {"inc-6e1f5a2b9c": "inc", ("sum-aggregate-0f3c9a11", 2): "sum-aggregate", "x": "x",
             "a-b-c": "a-b-c", "read-csv-0": "read-csv", "<lambda>-0123abcd": "lambda",
             "<>-abcdef12": "Other", "-": "Other", "": "Other", "x-y-deadbeef-z": "x-y",
             "split-deadbeefcafe-0": "split-deadbeefcafe", (): "Other", 5: "Other"}  # fmt: skip
    for key, prefix in cases.items():
        assert keys.key_split(key) == prefix, key
        assert keys.key_split(key) == prefix, key  # the same from the cache
    before = len(keys._prefix_cache)
    assert {keys.key_split(f"newname-{tokenize(i)}") for i in range(5_000)} == {"newname"}
    assert len(keys._prefix_cache) <= before + 1  # one entry for the name, none per key
