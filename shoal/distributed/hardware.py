"""``Client.benchmark_hardware()``: the bandwidths of the workers' memory, disk and
network, in Dask's shape: ``{"memory": {size: bytes/s}, "disk": {...}, "network":
{...}}``, each size a label such as ``"1 MiB"``, each value averaged over the workers.

Memory and disk are measured on each worker at once (``Client.run``): copying a
buffer of each size, and writing then reading back a file of each size in the
worker's local directory, over at least ``duration`` seconds per size.  Network is
measured between pairs of workers: a buffer made on one is moved to the next
(a task restricted to it that depends on it), timed from the client, so it also
counts one task's scheduling; with a single worker there is no network entry.
Sizes stay small (up to 8 MiB): this is a sanity check, not a stress test.
"""

from __future__ import annotations

import os
import tempfile
import time

from shoal.distributed.client.waiting import wait

__all__ = ["SIZES", "benchmark_hardware"]

SIZES = {"1 kiB": 2**10, "100 kiB": 100 * 2**10, "1 MiB": 2**20, "8 MiB": 8 * 2**20}


def _memory(duration: float) -> dict:
    out = {}
    for label, size in SIZES.items():
        data, moved, start = bytearray(size), 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < duration:
            bytes(data)
            moved += size
        out[label] = moved / elapsed
    return out


def _disk(duration: float, directory=None) -> dict:
    out = {}
    with tempfile.TemporaryDirectory(dir=directory) as d:
        path = os.path.join(d, "benchmark")
        for label, size in SIZES.items():
            data, moved, start = os.urandom(size), 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < duration:
                with open(path, "wb") as f:
                    f.write(data)
                    f.flush()
                with open(path, "rb") as f:
                    f.read()
                moved += 2 * size
            out[label] = moved / elapsed
    return out


def _on_worker(duration: float, dask_worker=None) -> dict:
    directory = getattr(dask_worker, "local_directory", None)
    return {"memory": _memory(duration), "disk": _disk(duration, directory)}


def _buffer(size: int) -> bytes:
    return bytes(size)


def _length(data) -> int:
    return len(data)


def _mean(results: list) -> dict:
    return {label: sum(r[label] for r in results) / len(results) for label in SIZES}


def benchmark_hardware(client, duration: float = 0.05) -> dict:
    """See the module docstring (``client``: a synchronous Client)."""
    per_worker = list(client.run(_on_worker, duration).values())
    if not per_worker:
        raise RuntimeError("benchmark_hardware: the cluster has no workers")
    out = {"memory": _mean([r["memory"] for r in per_worker]),
           "disk": _mean([r["disk"] for r in per_worker]), "network": {}}  # fmt: skip
    workers = sorted(client.nthreads())
    pairs = list(zip(workers, workers[1:] + workers[:1])) if len(workers) > 1 else []
    for label, size in SIZES.items():
        rates = []
        for source, target in pairs:
            data = client.submit(_buffer, size, workers=[source], pure=False)
            wait([data])
            start = time.perf_counter()
            assert client.submit(_length, data, workers=[target], pure=False).result() == size
            rates.append(size / (time.perf_counter() - start))
            del data
        if rates:
            out["network"][label] = sum(rates) / len(rates)
    return out
