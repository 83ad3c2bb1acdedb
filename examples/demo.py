"""The main job, in a terminal: one delayed graph on every local scheduler.

Builds a small pipeline (load -> clean -> summarise partitions -> combine),
computes it with sync, threads and processes, and prints each scheduler's time
and result, like the tutorial's scheduler comparison.
"""

import time

import shoal
from shoal import delayed


def load(i):
    """Pretend to read partition i: some CPU work producing numbers."""
    return [((i * 7919 + j * 104729) % 1000) / 10 for j in range(200_000)]


def clean(values):
    return [v for v in values if v < 95]


def summarise(values):
    return (sum(values), len(values))


def combine(parts):
    total = sum(s for s, _ in parts)
    count = sum(n for _, n in parts)
    return round(total / count, 6)


def build(npartitions=8):
    parts = [delayed(summarise)(delayed(clean)(delayed(load)(i))) for i in range(npartitions)]
    return delayed(combine)(parts)


def main():
    result = build()
    print(f"shoal {shoal.__version__}: mean of 8 cleaned partitions, {len(result.dask)} tasks")
    for scheduler in ["sync", "threads", "processes"]:
        start = time.time()
        value = result.compute(scheduler=scheduler)
        print(f"{scheduler:>10}: {time.time() - start:6.3f} s  result = {value}")


if __name__ == "__main__":
    main()
