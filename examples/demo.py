"""The main job, in a terminal: the flights tutorial's scheduler comparison.

Prepares the data once (``python -m shoal.datasets flights``: the real 2013
flights from EWR, JFK and LGA, one CSV per month), builds the tutorial's
``largest_delay`` query, and computes it on each local scheduler, printing each
one's time and the result like the tutorial did.
"""

import os
import sys
import time

import shoal.dataframe as dd
from shoal.datasets import flights


def main(dest="data"):
    path = flights(dest=dest, progress=True)
    df = dd.read_csv(
        os.path.join(path, "*.csv"),
        parse_dates={"Date": [0, 1, 2]},
        dtype={"TailNum": object, "CRSElapsedTime": float, "Cancelled": bool},
    )
    largest_delay = df[~df.Cancelled].groupby("Origin").DepDelay.mean().max()
    print(f"{len(df.columns)} columns in {df.npartitions} partitions from {path}")
    print(f"largest_delay = {largest_delay!r}")
    for sch in ["threading", "processes", "sync"]:
        t0 = time.time()
        r = largest_delay.compute(scheduler=sch)
        t1 = time.time()
        print(f"{sch:>10}, {t1 - t0:0.4f} s; result, {r:0.2f} minutes")


if __name__ == "__main__":
    main(*sys.argv[1:])
