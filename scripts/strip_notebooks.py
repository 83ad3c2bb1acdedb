#!/usr/bin/env python3
"""Strip outputs from notebooks before they go into git.

    python scripts/strip_notebooks.py              # every notebooks/*.ipynb, in place
    python scripts/strip_notebooks.py A.ipynb ...  # just these
    python scripts/strip_notebooks.py --check      # exit 1 (and name them) if any need it

Removes code cells' outputs, execution counts and timing metadata, and the
notebook's saved widget state; everything else (sources, tags, cell ids,
kernelspec) is kept.  Files are written as Jupyter writes them (one-space
indent, trailing newline), and only when something changed.  Plain JSON, no
dependencies.
"""

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def strip(nb: dict) -> dict:
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=pathlib.Path,
                        help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook has outputs")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        before = json.dumps(nb, sort_keys=True)
        strip(nb)
        if json.dumps(nb, sort_keys=True) == before:
            continue
        dirty.append(path)
        if not args.check:
            path.write_text(dumps(nb), encoding="utf-8")
    verb = "needs stripping" if args.check else "stripped"
    for path in dirty:
        print(f"{path}: {verb}")
    return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main())
