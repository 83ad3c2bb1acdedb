"""The processes scheduler under failure: the crash matrix, and the pool's promises.

Crash matrix (after loky's): a task can fail at five stages on its way through
the pool, in four ways each; every case names its exact outcome, then a plain
follow-up compute must work on a pool that has replaced any dead worker.

::

    stage            where        error        SystemExit   os._exit(3)          segfault
    pickle-task      parent       CrashError   SystemExit   parent exits 3 (*)   parent SIGSEGV (*)
    unpickle-task    worker       CrashError   SystemExit   WorkerProcessDied    WorkerProcessDied
    run              worker       CrashError   SystemExit   WorkerProcessDied    WorkerProcessDied
    pickle-result    worker       CrashError   SystemExit   WorkerProcessDied    WorkerProcessDied
    unpickle-result  parent       CrashError   SystemExit   parent exits 3 (*)   parent SIGSEGV (*)

(*) A hard exit or a segfault in the parent kills the user's own process: no
scheduler can turn that into an exception.  Those cases run the compute in a
subprocess and assert that it died with exactly that exit code or signal,
promptly, and that its worker processes did not outlive it.

Every case has a hard time limit: a hang is a failure.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import subprocess
import sys
import time
from operator import add

import pytest

import shoal
from shoal.core.keys import key_str
from shoal.local import processes
from shoal.local.pool import WorkerProcessDied, get_pool

pytestmark = pytest.mark.timeout(30)

N = 2
KEY = ("crash", 1)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def get(graph, keys, **kwargs):
    return processes.get(graph, keys, num_workers=N, **kwargs)


def pool():
    return get_pool(N)


def pid_alive(pid: int) -> bool:
    """True while *pid* exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:  # no /proc: fall back to signal 0
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def wait_gone(pids, timeout=5.0) -> list:
    """Wait until none of *pids* is alive; return those still alive."""
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if pid_alive(p)]
    return alive


def warm_pool() -> list:
    """Make sure the shared pool runs N workers; return their pids."""
    assert get({"warm": (add, 1, 1)}, "warm") == 2
    assert len(pool().workers) == N
    return pool().pids


def check_follow_up(dead=()):
    """A plain compute works, on a full pool of live workers, none of them dead ones."""
    assert get({"x": 1, "y": (add, "x", 41)}, "y") == 42
    pids = pool().pids
    assert len(pids) == N and all(pid_alive(p) for p in pids)
    for pid in dead:
        assert pid not in pids
        assert wait_gone([pid]) == []


# --- the failures, at each stage ---


class CrashError(Exception):
    """The Python error of the matrix."""


def fail(kind):
    if kind == "error":
        raise CrashError(f"crash-matrix failure ({kind})")
    if kind == "exit":
        raise SystemExit(7)
    if kind == "hard-exit":
        os._exit(3)
    if kind == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    raise AssertionError(kind)


def _rebuild(kind):
    fail(kind)


class FailsToPickle:
    """Fails in whatever process pickles it."""

    def __init__(self, kind):
        self.kind = kind

    def __reduce__(self):
        fail(self.kind)


class FailsToUnpickle:
    """Pickles fine; fails in whatever process unpickles it."""

    def __init__(self, kind):
        self.kind = kind

    def __reduce__(self):
        return (_rebuild, (self.kind,))


def identity(x):
    return x


def crash_graph(stage, kind) -> dict:
    return {
        "pickle-task": {KEY: (identity, FailsToPickle(kind))},
        "unpickle-task": {KEY: (identity, FailsToUnpickle(kind))},
        "run": {KEY: (fail, kind)},
        "pickle-result": {KEY: (FailsToPickle, kind)},
        "unpickle-result": {KEY: (FailsToUnpickle, kind)},
    }[stage]


STAGE_NOTE = {
    "pickle-task": "while pickling the task",
    "unpickle-task": "while unpickling the task",
    "run": "while running the task",
    "pickle-result": "while pickling the task's result",
    "unpickle-result": "while unpickling the task's result",
}
STAGES = list(STAGE_NOTE)
WORKER_STAGES = ["unpickle-task", "run", "pickle-result"]
PARENT_STAGES = ["pickle-task", "unpickle-result"]


@pytest.mark.parametrize("stage", STAGES)
def test_python_error(stage):
    warm_pool()
    start = time.monotonic()
    with pytest.raises(CrashError) as info:
        get(crash_graph(stage, "error"), KEY)
    assert time.monotonic() - start < 10
    err = info.value
    assert type(err) is CrashError and str(err) == "crash-matrix failure (error)"
    notes = [n for n in getattr(err, "__notes__", ()) if key_str(KEY) in n]
    assert notes and STAGE_NOTE[stage] in notes[0]
    if stage == "run":  # the worker's text starts at the task's own code, as Dask's
        frames = err.__cause__.tb.split("Traceback (most recent call last):")[-1]
        assert frames.lstrip().startswith('File "') and "in fail" in frames.splitlines()[1]
        assert "batch.py" not in frames and "spec.py" not in frames, frames
    check_follow_up()


@pytest.mark.parametrize("stage", STAGES)
def test_system_exit(stage):
    warm_pool()
    with pytest.raises(SystemExit) as info:
        get(crash_graph(stage, "exit"), KEY)
    assert type(info.value) is SystemExit and info.value.code == 7
    assert any(key_str(KEY) in n for n in getattr(info.value, "__notes__", ()))
    check_follow_up()


@pytest.mark.parametrize(
    "kind, text, code",
    [("hard-exit", "with exit code 3", 3), ("segfault", "SIGSEGV", -signal.SIGSEGV)],
)
@pytest.mark.parametrize("stage", WORKER_STAGES)
def test_worker_dies(stage, kind, text, code):
    before = warm_pool()
    start = time.monotonic()
    with pytest.raises(WorkerProcessDied) as info:
        get(crash_graph(stage, kind), KEY)
    assert time.monotonic() - start < 10
    err = info.value
    assert text in str(err) and key_str(KEY) in str(err)
    assert err.returncode == code and err.keys == [KEY] and err.pid in before
    # only the dead worker was replaced; the other one still serves
    assert [p for p in before if p != err.pid] == [p for p in pool().pids if p in before]
    check_follow_up(dead=[err.pid])


PARENT_SCRIPT = """
import os, sys
sys.path[:0] = [{here!r}, {root!r}]
from test_process_pool import crash_graph, get, pool, KEY
get({{"warm": (sum, [1, 2])}}, "warm")
print("workers", *pool().pids, flush=True)
get(crash_graph({stage!r}, {kind!r}), KEY)
print("survived", flush=True)
"""


@pytest.mark.parametrize("kind, code", [("hard-exit", 3), ("segfault", -signal.SIGSEGV)])
@pytest.mark.parametrize("stage", PARENT_STAGES)
def test_parent_side_crash_kills_the_parent(stage, kind, code):
    # A hard exit or a segfault while pickling the task or unpickling the result
    # happens in the user's own process; it can only die, which we check from outside.
    script = PARENT_SCRIPT.format(here=HERE, root=ROOT, stage=stage, kind=kind)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert proc.returncode == code, proc.stderr
    assert "survived" not in proc.stdout
    workers = [int(p) for p in proc.stdout.split("workers", 1)[1].split()]
    assert len(workers) == N
    assert wait_gone(workers) == []  # the orphaned workers exit on their own


BUSY_PARENT_SCRIPT = """
import os, sys, time
sys.path[:0] = [{here!r}, {root!r}]
from test_process_pool import get, pool

def spin(seconds):  # a task that runs on long after its parent is gone
    end = time.time() + seconds
    while time.time() < end:
        pass

get({{"warm": (sum, [1, 2])}}, "warm")
print("workers", *pool().pids, flush=True)
get({{"a": (spin, 120), "b": (spin, 120)}}, ["a", "b"])
"""


@pytest.mark.timeout(60)
def test_workers_busy_when_their_parent_is_killed_exit_at_once(tmp_path):
    """A Jupyter kernel killed or restarted while a ``processes`` compute runs: its
    workers, each in a session of its own, ran their tasks to the end as orphans."""
    script = BUSY_PARENT_SCRIPT.format(here=HERE, root=ROOT)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)  # fmt: skip
    try:
        workers = [int(p) for p in parent.stdout.readline().split()[1:]]
        assert len(workers) == N
        busy = time.monotonic() + 20
        while not all(_cpu_seconds(p) > 0.3 for p in workers):  # both spinning
            assert time.monotonic() < busy, "the tasks did not start"
            time.sleep(0.1)
        parent.kill()
        parent.wait(10)
        assert wait_gone(workers, timeout=5.0) == []
    finally:
        parent.kill()
        parent.stdout.close()
        parent.wait(10)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process *pid* so far (Linux's /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- more ways to crash ---


def crash_with(big, kind):
    assert len(big) == 1 << 20
    fail(kind)


def slow_len(big, seconds):
    time.sleep(seconds)
    return len(big)


@pytest.mark.parametrize("kind", ["hard-exit", "segfault"])
def test_crash_with_a_megabyte_in_flight(kind):
    warm_pool()
    big = os.urandom(1 << 20)
    g = {
        "big": big,
        "other": (slow_len, "big", 30),  # busy elsewhere: terminated, never awaited
        KEY: (crash_with, "big", kind),
    }
    start = time.monotonic()
    with pytest.raises(WorkerProcessDied) as info:
        get(g, ["other", KEY])
    assert time.monotonic() - start < 10
    assert KEY in info.value.keys
    check_follow_up(dead=[info.value.pid])
    assert get({"big": big, "n": (len, "big")}, "n") == 1 << 20


def test_a_worker_killed_while_idle_is_replaced_quietly():
    before = warm_pool()
    os.kill(before[0], signal.SIGKILL)
    assert wait_gone([before[0]]) == []  # dead (a zombie until the pool reaps it)
    big = os.urandom(1 << 20)  # a megabyte sent towards the dead worker's pipe
    assert get({"big": big, "n": (len, "big")}, "n") == 1 << 20
    check_follow_up(dead=[before[0]])
    assert before[1] in pool().pids


def write_pid_and_sleep(path, seconds):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return seconds


def fail_after_file(path):
    deadline = time.monotonic() + 10
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    raise CrashError("failed while a sibling was busy")


def test_busy_workers_are_replaced_after_a_task_error(tmp_path):
    before = warm_pool()
    marker = str(tmp_path / "slow-pid")
    g = {"slow": (write_pid_and_sleep, marker, 30), "bad": (fail_after_file, marker)}
    start = time.monotonic()
    with pytest.raises(CrashError, match="sibling"):
        get(g, ["slow", "bad"])
    assert time.monotonic() - start < 10
    with open(marker) as f:
        busy_pid = int(f.read())
    assert busy_pid in before
    assert wait_gone([busy_pid]) == []  # terminated, not left sleeping for nobody
    check_follow_up(dead=[busy_pid])


# --- what travels, and how ---


def test_lambdas_and_closures():
    offset = 10

    def add_offset(x):
        return x + offset

    g = {"a": 1, "b": (lambda x: x * 2, "a"), "c": (add_offset, "b")}
    assert get(g, ["b", "c"]) == [2, 12]


MAIN_SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
with open({log!r}, "a") as f:  # runs each time this module is executed
    f.write(f"{{os.getpid()}}\\n")

from shoal.local import processes

FACTOR = 3

def triple(x):  # defined in __main__: must travel by value
    return x * FACTOR

class Point:
    def __init__(self, x):
        self.x = x

def make_point(x):
    return Point(x)

out = processes.get({{"a": 2, "b": (triple, "a"), "p": (make_point, "b")}}, ["b", "p"],
                    num_workers=2)
print("result", out[0], type(out[1]).__name__, out[1].x, "pid", os.getpid(), flush=True)
"""


def test_main_module_functions_travel_by_value(tmp_path):
    log = str(tmp_path / "executions")
    script = tmp_path / "no_main_guard.py"
    script.write_text(MAIN_SCRIPT.format(root=ROOT, log=log))
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=30, cwd=str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    assert "result 6 Point 6" in proc.stdout
    with open(log) as f:
        assert f.read().split() == [proc.stdout.split("pid")[1].strip()]  # workers never ran it


def test_the_pool_is_reused_across_computes():
    first = warm_pool()
    assert get({("x", i): (add, i, 1) for i in range(20)}, [("x", i) for i in range(20)]) == list(
        range(1, 21)
    )
    assert pool().pids == first


def read_config(key):
    return shoal.config.get(key, None)


def test_config_reaches_the_workers():
    warm_pool()
    g = {"value": (read_config, "test-process-pool.answer")}
    assert get(g, "value") is None
    with shoal.config.set({"test-process-pool.answer": 42}):
        assert get(g, "value") == 42
        with shoal.config.set({"test-process-pool.answer": "changed"}):
            assert get(g, "value") == "changed"
        assert get(g, "value") == 42
    assert get(g, "value") is None


def test_only_needed_inputs_are_shipped(monkeypatch):
    shipped = []
    real = processes._dumps_batch

    def recording(keys, nodes, inputs):
        blob = real(keys, nodes, inputs)
        shipped.append((list(keys), sorted(inputs), len(blob)))
        return blob

    monkeypatch.setattr(processes, "_dumps_batch", recording)
    big_a, big_b = os.urandom(1 << 20), os.urandom(1 << 20)
    g = {
        "a": big_a,
        "b": big_b,
        "len-a": (len, "a"),
        "len-b": (len, "b"),
        "total": (add, "len-a", "len-b"),
    }
    assert get(g, "total", batch_size=1, fuse=False) == 2 << 20
    by_key = {keys[0]: (inputs, size) for keys, inputs, size in shipped}
    assert by_key["len-a"][0] == ["a"] and by_key["len-b"][0] == ["b"]
    assert by_key["total"] == (["len-a", "len-b"], by_key["total"][1])
    assert by_key["len-a"][1] < 1.5 * (1 << 20)  # one megabyte went, not two
    assert by_key["total"][1] < 10_000  # two ints, no megabytes


def test_unpicklable_result_fails_only_its_key_message():
    # a result that cannot travel becomes an error naming the key, not a hang
    g = {"gen": (lambda: (i for i in range(3)),)}
    with pytest.raises(TypeError) as info:
        get(g, "gen")
    assert "generator" in str(info.value)
    assert any("gen" in n and "pickling the task's result" in n for n in info.value.__notes__)
    check_follow_up()


def test_exception_that_cannot_travel_keeps_its_text():
    from shoal.local.remote_errors import RemoteTaskError

    g = {"bad": (raise_unpicklable_error,)}
    with pytest.raises(RemoteTaskError) as info:
        get(g, "bad")
    assert info.value.type_name == "UnpicklableError"
    assert "cannot travel" in str(info.value)
    check_follow_up()


class UnpicklableError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.lock = __import__("threading").Lock()  # locks do not pickle


def raise_unpicklable_error():
    raise UnpicklableError("this error cannot travel")


def test_worker_messages_are_plain_pickles():
    # outcomes are unpickled by the parent with the standard pickle module
    outcomes = pickle.loads(pickle.dumps([(KEY, True, pickle.dumps(1), 0.0, 0.0, 1)]))
    assert processes.ProcessBackend._decode(outcomes)[0][2] == 1


def test_config_values_json_cannot_carry_do_not_break_the_pool():
    # e.g. config.set(scheduler=<a get function>) or an Executor in the config:
    # they are left out of what the workers receive, the rest still arrives
    warm_pool()
    g = {"value": (read_config, "test-process-pool.answer")}
    with shoal.config.set({"scheduler": processes.get, "test-process-pool.answer": 7,
                           "test-process-pool.obj": object()}):
        assert get(g, "value") == 7
        assert shoal.delayed(read_config)("test-process-pool.answer").compute() == 7


def _import_and_call(module, x):
    import importlib

    return importlib.import_module(module).f(x)


def _read(name):
    with open(name) as f:
        return f.read()


def test_sys_path_and_cwd_changes_reach_running_workers(tmp_path, monkeypatch):
    # a notebook adds its source folder (or changes directory) after the pool
    # started: the workers must follow before they run the next batch
    warm_pool()
    (tmp_path / "late_module_for_pool.py").write_text("def f(x):\n    return x * 10\n")
    (tmp_path / "data.txt").write_text("hello")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert get({"x": (_import_and_call, "late_module_for_pool", 2)}, "x") == 20
    assert get({"x": (_read, "data.txt")}, "x") == "hello"


def _rebuild_without_init(cls, args):
    exc = cls.__new__(cls)
    exc.args = args
    return exc


def test_system_exit_keeps_its_code_under_foreign_pickling_hooks():
    """tblib (which dask.distributed installs on import) rebuilds exceptions without
    running ``__init__``; SystemExit.code must survive that."""
    import copyreg

    from shoal.local.remote_errors import pack_exception, unpack_exception

    saved = copyreg.dispatch_table.get(SystemExit)
    copyreg.pickle(SystemExit, lambda e: (_rebuild_without_init, (type(e), e.args)))
    try:
        exc = unpack_exception(pack_exception(SystemExit(7), "run"), "k")
    finally:
        if saved is None:
            copyreg.dispatch_table.pop(SystemExit, None)
        else:
            copyreg.dispatch_table[SystemExit] = saved
    assert type(exc) is SystemExit and exc.code == 7


def test_a_nan_key_is_refused_before_it_reaches_a_worker_process():
    """Unpickled in the worker, the NaN of a dependency's key was another NaN, unequal to
    the task's: a bare KeyError from the worker (sync and threads keep one object)."""
    nan = float("nan")
    with pytest.raises(ValueError, match="processes: the key nan holds a NaN"):
        get({nan: 1, "b": (abs, nan)}, "b")
    from shoal.local.threads import get as threads_get

    assert threads_get({nan: 1, "b": (abs, nan)}, "b") == 1
    assert get({1j: -3}, 1j) == -3  # (pickled, any other key is the same key there)


def _nested_pid(x):
    from shoal.delayed import delayed as _delayed

    return _delayed(os.getpid)().compute(), os.getpid()  # (scheduler: the live config's)


def _worker_flag_and_env():
    from shoal.local import _worker

    return _worker.IN_WORKER, dict(os.environ)


class _ComputesOnGetitem:
    def __getitem__(self, i):
        from shoal.delayed import delayed as _delayed

        return _delayed(abs)(-i).compute(scheduler="processes")


@pytest.mark.timeout(120)
def test_computes_started_inside_a_processes_run_neither_multiply_pools_nor_wait_for_good():
    """A task's compute in a pool worker started a pool of processes in every worker
    (config.set(scheduler="processes") reaches them); a getitem run inline by the driver
    whose __getitem__ computes waited for the pool's lock that its own run held."""
    from shoal import config
    from shoal.delayed import delayed

    with config.set(scheduler="processes"):
        inner, outer = delayed(_nested_pid)(1).compute(num_workers=N)
    assert inner == outer  # (on threads in the same worker process)
    lazy = delayed(_ComputesOnGetitem())
    assert shoal.compute(lazy[1], lazy[2], scheduler="processes", num_workers=N) == (1, 2)
    # a worker knows it is one, and a program its task launches does not inherit that
    flag, env = delayed(_worker_flag_and_env)().compute(scheduler="processes", num_workers=N)
    assert flag is True and not any(k.startswith("SHOAL_INTERNAL_POOL") for k in env)


class _Slotted(Exception):
    __slots__ = ("code",)

    def __init__(self, code, extra):
        super().__init__(f"code {code}")
        self.code = code


class _OddNew(Exception):
    def __new__(cls, a, b):
        return super().__new__(cls, a)

    def __init__(self, a, b):
        super().__init__(a)
        self.b = b


class _NoErrno(OSError):
    def __init__(self, what):
        super().__init__(2, what)


def test_exceptions_that_pickle_cannot_make_again_keep_their_type_and_attributes():
    """Their class is called with their args on unpickling, which their __init__ (or
    __new__) refuses: they are made again from their args and attributes instead."""
    from shoal.local.remote_errors import pack_exception, unpack_exception

    for exc, check in [(_Slotted(3, "x"), lambda e: e.code == 3),
                       (_OddNew("n", 8), lambda e: e.b == 8 and e.args == ("n",)),
                       (_NoErrno("gone"), lambda e: e.errno == 2 and e.strerror == "gone")]:
        back = unpack_exception(pack_exception(exc, "run"), "k")
        assert type(back) is type(exc) and check(back), (exc, back.__dict__)
