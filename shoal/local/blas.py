"""One BLAS thread per core while a threaded compute keeps every core busy.

NumPy's BLAS (OpenBLAS, MKL, BLIS) runs a large product on its own threads, one
per core.  Inside the threads scheduler, whose pool already has a thread per
core, each task thread's product would start that many more: on 2 cores, two
task threads each running a 2-thread GEMM is 4 threads on 2 cores, and
OpenBLAS's threads spin while they wait for one another.  A 4,000^2 blocked
matmul takes ~1.63 s that way and ~1.49 s with one BLAS thread per task thread
(the time of NumPy's own 2-thread product of the whole arrays).

So while at least one threaded compute of two or more tasks runs on two or more
threads, the BLAS libraries loaded in the process are held at ``cores //
workers`` threads (at least 1; ``local.threads.blas-threads``, null turns it
off).  Computes may overlap (several user threads): the first one to start sets
the limit and the last one to finish restores what was there before, so the
user's own setting comes back.  A limit the user already set lower is kept.
The process pool's workers start with the same limit in their environment
(:func:`child_environ`; distributed workers: ``nanny.PRE_SPAWN_ENVIRON``).

`threadpoolctl <https://github.com/joblib/threadpoolctl>`_ finds and drives the
libraries; without it, or before NumPy is imported, nothing is changed.  Its
scan of the loaded libraries (~0.3 ms) is redone only when ``sys.modules`` grew.
threadpoolctl lets one Python thread at a time set OpenBLAS's (process-wide)
limit: the first that sets it, while it lives.  In a notebook that is the
kernel's main thread; a compute started from another thread meanwhile runs
without the limit (as it would have before), never with a wrong one.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

from shoal import config

__all__ = ["child_environ", "limited", "target_threads"]

_lock = threading.Lock()
_active = 0  # computes inside limited() now
_restore: list = []  # (library, threads before) while a limit is set
_controller = None
_modules_seen = -1
_CONFIG = object()  # target_threads: read the config key


def target_threads(nworkers: int, value=_CONFIG) -> int | None:
    """BLAS threads per task thread for a pool of *nworkers* (*value*: the config
    key's value, read when not given), or None for "leave BLAS alone"."""
    if value is _CONFIG:
        value = config.get("local.threads.blas-threads", "auto")
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        return None
    if value == "auto":
        if nworkers < 2:
            return None
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, (cores or 1) // nworkers)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"local.threads.blas-threads must be 'auto', a positive integer or null, got {value!r}"
        )
    return value


def _blas_libraries():
    global _controller, _modules_seen
    if len(sys.modules) != _modules_seen:
        try:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController().select(user_api="blas")
        except Exception:  # not installed, or a library it cannot read: leave BLAS alone
            _controller = None
        _modules_seen = len(sys.modules)
    return _controller


@contextlib.contextmanager
def limited(nworkers: int, ntasks: int):
    """Hold BLAS at :func:`target_threads` threads while the block runs (see above)."""
    global _active, _restore
    target = target_threads(nworkers) if ntasks >= 2 and "numpy" in sys.modules else None
    if target is None:
        yield
        return
    with _lock:
        if _active == 0:
            _restore = _limit(target)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                for lib, threads in _restore:
                    lib.set_num_threads(threads)
                _restore = []


def _limit(target: int) -> list:
    """Lower every BLAS library above *target*; return (library, threads before) pairs."""
    libs = _blas_libraries()
    changed = []
    for lib in libs.lib_controllers if libs is not None else ():
        threads = lib.num_threads
        if threads > target:
            lib.set_num_threads(target)
            changed.append((lib, threads))
    return changed


#: the variables BLAS and OpenMP runtimes read their thread count from at start
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def child_environ(nworkers: int) -> dict:
    """Environment entries for one of *nworkers* worker processes: the same
    limit, set once at start (the pool is reused), unless the user's own
    environment already names a thread count."""
    target = target_threads(nworkers)
    if target is None:
        return {}
    return {name: str(target) for name in THREAD_VARIABLES if name not in os.environ}
